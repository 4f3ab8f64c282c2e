#!/usr/bin/env python3
"""Real Linux TCP through an impairing user-space bridge, captured with tcpdump, then
reassembled and checked byte-exact against the known payloads (see realtcp.py).

Usage: test_realtcp.py BUILD_DIR SOURCE_DIR [--self-check] [--keep DIR] [--seed N]

  1. make the capture: 3 namespaces, AF_PACKET bridge with loss 0.02, reorder 0.02,
     duplicate 0.01; 6 connections (3 IPv4 + 3 IPv6), data both ways, clean FINs
  2. tshark follow,tcp,raw cross-check of the capture against the truth
  3. reassemble with BUILD_DIR/app/rxinto --streams-dir (or, with --self-check, with the
     small Python reference reassembler in realtcp.py) and check the streams:
       base  - the capture as made: every stream complete, no gaps, end fin
       loss  - 1% of the TCP data frames removed: exact expected gaps
       qinq  - every frame tagged 0x88a8/100 + 0x8100/200: vlan [100, 200]
     with --self-check also a negative control: the checker must reject corrupted output.

Needs root (network namespaces). Exit status: 0 pass, 1 failure, 77 skip (meson's SKIP):
not root / no netns support, or rxinto without --streams-dir yet.
Standard library only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realtcp  # noqa: E402

SKIP = 77

LOSS, REORDER, DUPLICATE = 0.02, 0.02, 0.01
CONNS = 6                      # alternating IPv4 / IPv6: 3 + 3
MAX_BYTES = 2_000_000
CAPTURE_DROP = 0.01
QINQ = [(0x88A8, 100), (0x8100, 200)]


class Skip(Exception):
    pass


def parse_args(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    opts = {"build": argv[1], "source": argv[2], "self_check": False, "keep": None, "seed": 1}
    rest = argv[3:]
    while rest:
        a = rest.pop(0)
        if a == "--self-check":
            opts["self_check"] = True
        elif a == "--keep":
            opts["keep"] = rest.pop(0)
        elif a == "--seed":
            opts["seed"] = int(rest.pop(0))
        else:
            print(f"unknown argument {a!r}\n{__doc__}", file=sys.stderr)
            sys.exit(2)
    return opts


def preflight():
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces, AF_PACKET, tcpdump)")
    for tool in ("ip", "tcpdump", "ethtool"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} not installed")
    probe = f"{realtcp.NS_PREFIX}{os.getpid()}probe"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip(f"cannot create a network namespace: {p.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


# ----------------------------------------------------------------------------------------
# reassemblers: each returns (ok, message); a Skip means "feature missing"

def reassemble_python(pcap, outdir):
    realtcp.py_reassemble(pcap, outdir)
    return True, "python reference reassembler"


def make_rxinto_reassembler(build):
    exe = os.path.join(build, "app", "rxinto")
    if not os.access(exe, os.X_OK):
        raise Skip(f"{exe} not built")

    def reassemble(pcap, outdir):
        os.makedirs(outdir, exist_ok=True)
        cmd = [exe, "--pcap", os.path.abspath(pcap), "--in-memory", "--no-progress",
               "--streams-dir", os.path.abspath(outdir)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return False, f"rxinto timed out after 60 s: {' '.join(cmd)}"
        if p.returncode != 0:
            return False, (f"rxinto exited {p.returncode}: {' '.join(cmd)}\n"
                           f"{p.stderr.strip()[-1500:]}")
        return True, "rxinto"

    return reassemble


# ----------------------------------------------------------------------------------------

class Run:
    def __init__(self):
        self.passed, self.failed = [], []

    def result(self, name, fails, seconds):
        if fails:
            self.failed.append(name)
            print(f"FAIL {name} ({seconds:.1f} s): {len(fails)} problems", flush=True)
            for f in fails[:25]:
                print(f"  - {f}", flush=True)
            if len(fails) > 25:
                print(f"  ... {len(fails) - 25} more", flush=True)
        else:
            self.passed.append(name)
            print(f"ok   {name} ({seconds:.1f} s)", flush=True)


def check_variant(run, name, pcap, work, truth, reassemble, gaps=None, vlan=None,
                  diagnose=True):
    t = time.monotonic()
    out = os.path.join(work, f"streams-{name}")
    shutil.rmtree(out, ignore_errors=True)
    ok, msg = reassemble(pcap, out)
    if not ok:
        run.result(f"{name}: reassemble", [msg], time.monotonic() - t)
        return
    fails = realtcp.check_streams(out, truth, gaps, vlan)
    if fails and diagnose:
        # was it the capture or the reassembler? the Python reference decides
        ref = os.path.join(work, f"streams-{name}-reference")
        shutil.rmtree(ref, ignore_errors=True)
        realtcp.py_reassemble(pcap, ref)
        rf = realtcp.check_streams(ref, truth, gaps, vlan)
        fails.append("the Python reference reassembler " +
                     ("PASSES on this capture: the difference is the reassembler's"
                      if not rf else f"fails too ({len(rf)} problems): suspect the capture"))
    run.result(f"{name} ({msg})", fails, time.monotonic() - t)


def negative_control(run, work, truth, gaps):
    """The checker must catch: a flipped byte, a missing gap, a wrong dir label, a wrong
    end reason, a missing direction."""
    t = time.monotonic()
    src = os.path.join(work, "streams-base")
    cases = []

    def mutate(tag, fn, expect_gaps=None):
        d = os.path.join(work, f"neg-{tag}")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(src, d)
        with open(os.path.join(d, "index.jsonl")) as f:
            idx = [json.loads(x) for x in f if x.strip()]
        idx = fn(d, idx)
        with open(os.path.join(d, "index.jsonl"), "w") as f:
            for r in idx:
                f.write(json.dumps(r) + "\n")
        got = realtcp.check_streams(d, truth, expect_gaps)
        cases.append((tag, bool(got)))
        shutil.rmtree(d, ignore_errors=True)

    def flip(d, idx):
        big = max(idx, key=lambda r: r["bytes"])
        p = os.path.join(d, big["file"])
        with open(p, "r+b") as f:
            f.seek(big["bytes"] // 2)
            b = f.read(1)
            f.seek(big["bytes"] // 2)
            f.write(bytes([b[0] ^ 0x01]))
        return idx

    def relabel(_d, idx):
        idx[0]["dir"] = "a2b"
        return idx

    def end_rst(_d, idx):
        idx[-1]["end"] = "rst"
        return idx

    def drop_one(_d, idx):
        return idx[1:]

    mutate("flipped-byte", flip)
    mutate("dir-label", relabel)
    mutate("end-reason", end_rst)
    mutate("missing-direction", drop_one)
    # complete streams checked against non-empty expected gaps must fail too
    if any(gaps.values()):
        mutate("unexpected-completeness", lambda _d, i: i, gaps)
    fails = [f"checker accepted corrupted output: {tag}" for tag, caught in cases if not caught]
    run.result(f"checker negative control ({len(cases)} mutations)", fails,
               time.monotonic() - t)


def main(argv):
    o = parse_args(argv)
    preflight()
    reassemble = reassemble_python if o["self_check"] else make_rxinto_reassembler(o["build"])
    work = o["keep"] or tempfile.mkdtemp(prefix="rxinto-realtcp-")
    os.makedirs(work, exist_ok=True)
    run = Run()
    t0 = time.monotonic()
    keep = bool(o["keep"])
    try:
        # 1. the capture (one retry: tcpdump may drop frames on a busy machine)
        summary = None
        for attempt in (1, 2):
            t = time.monotonic()
            try:
                summary = realtcp.make(work, seed=o["seed"], loss=LOSS, reorder=REORDER,
                                       duplicate=DUPLICATE, conns=CONNS, max_bytes=MAX_BYTES,
                                       timeout=60, log=lambda s: print(s, flush=True))
                break
            except (RuntimeError, TimeoutError, OSError) as ex:
                print(f"make attempt {attempt} failed: {ex}", flush=True)
                if attempt == 2:
                    run.result("make capture", [str(ex)], time.monotonic() - t)
                    return 1
        run.result("make capture", [], time.monotonic() - t)
        b = summary["bridge"]
        impaired = sum(v["dropped"] + v["duplicated"] + v["reordered"] for v in b.values())
        if impaired == 0:
            run.result("link impairment happened", ["the bridge impaired no frame"], 0)
        pcap = os.path.join(work, "capture.pcap")
        truth = realtcp.load_truth(work)

        # 2. tshark cross-check
        t = time.monotonic()
        if shutil.which("tshark"):
            run.result("tshark follow,tcp,raw cross-check", realtcp.tshark_check(pcap, truth),
                       time.monotonic() - t)
        else:
            print("note: tshark not installed, cross-check skipped", flush=True)

        # 3. variants
        lossy = os.path.join(work, "lossy.pcap")
        removed = realtcp.drop_frames(pcap, lossy, o["seed"] + 1000, CAPTURE_DROP)
        gaps = realtcp.expected_gaps(lossy, truth)
        ngaps = sum(len(g) for g in gaps.values())
        print(f"loss variant: {len(removed)} data frames removed -> {ngaps} gaps, "
              f"{sum(x[1] for g in gaps.values() for x in g)} bytes", flush=True)
        with open(os.path.join(work, "lossy.gaps.json"), "w") as f:
            json.dump(realtcp.gaps_to_json(gaps), f)
        qinq = os.path.join(work, "qinq.pcap")
        realtcp.add_vlan_tags(pcap, qinq, QINQ)

        try:
            check_variant(run, "base", pcap, work, truth, reassemble)
        except Skip as ex:
            if run.failed:
                print(f"rxinto part skipped ({ex}), but earlier steps failed", flush=True)
                return 1
            raise
        if ngaps == 0:
            run.result("loss variant has gaps", ["no removed frame made a gap"], 0)
        check_variant(run, "loss", lossy, work, truth, reassemble, gaps=gaps)
        check_variant(run, "qinq", qinq, work, truth, reassemble, vlan=[v for _t, v in QINQ])
        if o["self_check"]:
            negative_control(run, work, truth, gaps)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 1
    finally:
        total = time.monotonic() - t0
        if run.failed:
            keep = True
        if keep:
            print(f"work dir kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{len(run.passed)} passed, {len(run.failed)} failed, {total:.1f} s", flush=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    import signal

    def _term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _term)
    try:
        sys.exit(main(sys.argv))
    except Skip as ex:
        print(f"SKIP: {ex}", flush=True)
        sys.exit(SKIP)
