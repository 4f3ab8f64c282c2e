#!/usr/bin/env python3
"""Integration tests of issue 12 (hardening): what a careless operator or a hostile
input does to the rxinto program.

  non_utf8_paths     a capture path and a --streams-dir that are not UTF-8: the
                     --stats-json and index.jsonl are still valid UTF-8 JSON
  output_paths       an unwritable --stats-json / -w / --streams-dir ends the run
                     before the ports start, exit 2, one clear line (also on a
                     read-only mount, in a private mount namespace)

Usage: test_hardening.py BUILD_DIR SOURCE_DIR [--only NAME]
Standard library only. Exits 0 when every case passes, 1 otherwise.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402  (the shared pieces, beside this script)
from rxtest import check  # noqa: E402

BUILD, SOURCE, ONLY = rxtest.args()
RXINTO = rxtest.app(BUILD, "rxinto")
GEN = rxtest.app(BUILD, "rxinto-gen")
EAL_COMMON = ["--in-memory", "--no-progress"]
case = rxtest.case_decorator(ONLY, timed=True)


def gen(path, *opts):
    """A generated capture at path (str or bytes); the truth directory beside it when asked."""
    g = subprocess.run([GEN, "--out", path] + list(opts), capture_output=True)
    check(g.returncode == 0, f"rxinto-gen {opts}: exit 0 ({g.stderr[-300:]!r})")
    return g.returncode == 0


def strict_json(raw, what):
    """The JSON document in raw bytes, decoded as strict UTF-8 (None, and a failed check,
    when it is not)."""
    try:
        return json.loads(raw.decode("utf-8", errors="strict"))
    except (UnicodeDecodeError, ValueError) as e:
        check(False, f"{what}: not valid UTF-8 JSON: {e}")
        return None


@case("non_utf8_paths")
def non_utf8_paths():
    with tempfile.TemporaryDirectory(prefix="rxhard-") as tmp:
        t = os.fsencode(tmp)
        cap = t + b"/cap-\xe9t\xe9-\xff.pcap"            # Latin-1 bytes, and 0xff
        streams = t + b"/str\xe9ams-\xc3"                  # a cut UTF-8 sequence
        stats = t + b"/stats.json"
        if not gen(cap, "--flows", "3", "--seed", "21"):
            return
        p = subprocess.run([os.fsencode(RXINTO), b"--pcap", cap, b"--streams-dir", streams,
                            b"--stats-json", stats] + [a.encode() for a in EAL_COMMON],
                           capture_output=True, timeout=120)
        check(p.returncode == 0, f"non_utf8_paths: exit 0 ({p.stderr[-500:]!r})")
        if p.returncode != 0:
            return
        with open(stats, "rb") as f:
            js = strict_json(f.read(), "--stats-json")
        if js is not None:
            paths = [c["path"] for c in js.get("captures", [])]
            want = tmp + "/cap-\ufffdt\ufffd-\ufffd.pcap"
            check(paths == [want], f"non_utf8_paths: capture path as {want!r}, got {paths!r}")
            check(js["rx_packets"] > 0, "non_utf8_paths: packets received")
        with open(streams + b"/index.jsonl", "rb") as f:
            lines = f.read().splitlines()
        check(len(lines) == 6, f"non_utf8_paths: 6 index lines, got {len(lines)}")
        for i, line in enumerate(lines):
            strict_json(line, f"index.jsonl line {i}")
        # The text summary keeps the bytes as they are (it is for people, not parsers).
        check(cap in p.stdout, "non_utf8_paths: the text summary names the capture byte for byte")


def quick_fail(argv, what, expect_in):
    """rxinto with argv must exit 2 at once, before the EAL starts (no port line, no EAL
    message), with one line on stderr that contains expect_in."""
    t0 = time.time()
    p = subprocess.run([RXINTO] + EAL_COMMON + argv, capture_output=True, text=True, timeout=60)
    took = time.time() - t0
    check(p.returncode == 2, f"{what}: exit 2, got {p.returncode} ({p.stderr[-400:]})")
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(len(lines) == 1, f"{what}: one line on stderr, got {lines}")
    check(expect_in in p.stderr, f"{what}: stderr names {expect_in!r}: {p.stderr!r}")
    check("EAL" not in p.stderr and "port 0" not in p.stderr,
          f"{what}: stopped before the EAL and the ports started: {p.stderr!r}")
    # A 60 s live run (net_null) that fails its check does not receive first; the bound
    # is loose on purpose (a timing check, not a benchmark).
    check(took < 30, f"{what}: ended after {took:.1f} s, not after the run")


@case("output_paths")
def output_paths():
    with tempfile.TemporaryDirectory(prefix="rxhard-") as tmp:
        live = ["--vdev", "net_null0,size=64", "--duration", "60"]
        quick_fail(live + ["--stats-json", f"{tmp}/missing/s.json"], "stats-json in a missing dir",
                   f"{tmp}/missing")
        quick_fail(live + ["--stats-json", tmp], "stats-json is a directory", "is a directory")
        quick_fail(live + ["-w", f"{tmp}/no/such/cap.pcapng"], "-w in a missing dir", "-w")
        with open(f"{tmp}/file", "w") as f:
            f.write("x")
        quick_fail(live + ["--streams-dir", f"{tmp}/file"], "--streams-dir is a file",
                   "not a directory")
        quick_fail(live + ["--streams-dir", f"{tmp}/a/b"], "--streams-dir two levels down",
                   f"{tmp}/a")

        # A read-only file system, mounted in a private mount namespace (root only; the
        # mount disappears with the namespace). Root passes permission bits, so this is
        # the case where only a real attempt to create a file tells.
        ro = os.path.join(tmp, "ro")
        os.mkdir(ro)
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            print("skip read-only mount: needs root and unshare")
            return
        for opt, what in ((["--stats-json", f"{ro}/s.json"], "--stats-json"),
                          (["-w", f"{ro}/cap.pcapng"], "-w"),
                          (["--streams-dir", f"{ro}/streams"], "--streams-dir")):
            script = ('mount -t tmpfs -o ro,size=1m rxhard "$0" || exit 99; exec "$@"')
            t0 = time.time()
            p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                                ro, RXINTO] + EAL_COMMON + live + opt,
                               capture_output=True, text=True, timeout=60)
            if p.returncode == 99:
                print(f"skip read-only mount: {p.stderr.strip()}")
                return
            check(p.returncode == 2, f"read-only {what}: exit 2, got {p.returncode} ({p.stderr[-300:]})")
            check("Read-only file system" in p.stderr and what in p.stderr,
                  f"read-only {what}: says why: {p.stderr!r}")
            check(time.time() - t0 < 30, f"read-only {what}: ended at once")
        check(os.listdir(ro) == [], "the read-only mount was private to the test")

        # What can be written is accepted, and the check leaves nothing behind.
        out = os.path.join(tmp, "ok")
        os.mkdir(out)
        p, js = rxtest.run_rxinto(RXINTO, ["--pcap", "generated", "--streams-dir", f"{out}/streams",
                                           "-w", f"{out}/cap.pcapng"] + EAL_COMMON)
        check(p.returncode == 0 and js is not None, f"writable outputs: exit 0 ({p.stderr[-300:]})")
        check(sorted(os.listdir(out)) == ["cap.pcapng", "streams"],
              f"writable outputs: only the outputs in {out}: {os.listdir(out)}")


sys.exit(rxtest.summary("hardening"))
