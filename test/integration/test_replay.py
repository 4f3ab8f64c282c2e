#!/usr/bin/env python3
"""Integration tests of the rxinto CLI: replay captures through net_pcap and check the
counted packets and bytes exactly against capinfos and against the capture file itself;
exit codes; stop on signal, on duration and at end of capture.

Usage: test_replay.py BUILD_DIR SOURCE_DIR [--only NAME]
Standard library only. Exits 0 when every case passes, 1 otherwise.
"""
import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

BUILD, SOURCE = sys.argv[1], sys.argv[2]
ONLY = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--only" else None
RXINTO = os.path.join(BUILD, "app", "rxinto")
GEN = os.path.join(BUILD, "app", "rxinto-gen")
SHARED = os.path.normpath(os.path.join(SOURCE, "..", "shared", "pcaps"))
# Every run in its own EAL memory, so tests can run beside each other.
EAL_COMMON = ["--in-memory", "--no-progress"]

failures = []
passes = 0


def check(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)


def read_pcap_counts(path, wire=False):
    """Packets and captured (or, with wire=True, original) bytes of a pcap or pcapng file,
    read by hand (stdlib only)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    pkts = nbytes = 0
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        off = 24
        while off + 16 <= len(data):
            _, _, caplen, origlen = struct.unpack(endian + "IIII", data[off:off + 16])
            if off + 16 + caplen > len(data):
                break  # truncated last record: libpcap stops there too
            pkts += 1
            nbytes += origlen if wire else caplen
            off += 16 + caplen
        return pkts, nbytes
    if magic == b"\x0a\x0d\x0d\x0a":
        off = 0
        endian = "<"
        while off + 12 <= len(data):
            btype = struct.unpack("<I", data[off:off + 4])[0]
            if btype == 0x0A0D0D0A:
                bom = data[off + 8:off + 12]
                endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = struct.unpack(endian + "II", data[off:off + 8])
            if blen < 12 or off + blen > len(data):
                break
            if btype == 6:  # enhanced packet block
                caplen, origlen = struct.unpack(endian + "II", data[off + 20:off + 28])
                pkts += 1
                nbytes += origlen if wire else caplen
            elif btype == 3:  # simple packet block: caplen bounded by the block
                pkts += 1
                nbytes += blen - 16
            off += blen
        return pkts, nbytes
    raise ValueError(f"{path}: not a pcap/pcapng file")


def capinfos_counts(path):
    out = subprocess.run(["capinfos", "-M", "-c", "-d", path], capture_output=True, text=True).stdout
    pkts = nbytes = None
    for line in out.splitlines():
        if line.startswith("Number of packets:"):
            pkts = int(line.split(":", 1)[1].split()[0])
        elif line.startswith("Data size:"):
            nbytes = int(line.split(":", 1)[1].split()[0])
    return pkts, nbytes


def run_rxinto(args, timeout=120):
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "stats.json")
        p = subprocess.run([RXINTO] + args + ["--stats-json", js], capture_output=True,
                           text=True, timeout=timeout)
        stats = None
        if os.path.exists(js):
            with open(js) as f:
                stats = json.load(f)
        return p, stats


def case(name):
    def wrap(fn):
        if ONLY is None or ONLY == name:
            print(f"--- {name}", flush=True)
            try:
                fn()
            except Exception as e:  # a broken case is a failure, not a crash of the suite
                failures.append(f"{name}: exception {e!r}")
                print("FAIL:", name, repr(e), flush=True)
        return fn
    return wrap


def replay_exact(path, label, extra=()):
    # capinfos' "Data size" sums the original (wire) lengths; a port delivers the
    # captured bytes. They differ only for frames cut by the capture's snaplen,
    # which rxinto reports beside the counts ("captures" in the stats).
    want = read_pcap_counts(path)
    want_wire = read_pcap_counts(path, wire=True)
    cap = capinfos_counts(path)
    check(cap == want_wire, f"{label}: capinfos {cap} == own reading of wire lengths {want_wire}")
    p, stats = run_rxinto(["--pcap", path] + EAL_COMMON + list(extra))
    check(p.returncode == 0, f"{label}: exit 0 (got {p.returncode}; stderr {p.stderr[-600:]})")
    if stats is None:
        check(False, f"{label}: stats json written")
        return None
    check(stats["rx_packets"] == cap[0],
          f"{label}: rxinto rx_packets {stats['rx_packets']} == capinfos {cap[0]}")
    check((stats["rx_packets"], stats["rx_bytes"]) == want,
          f"{label}: rxinto {(stats['rx_packets'], stats['rx_bytes'])} == captured {want}")
    c = stats["captures"][0] if stats.get("captures") else {}
    check((c.get("packets"), c.get("wire_bytes")) == cap,
          f"{label}: rxinto's capture wire bytes {(c.get('packets'), c.get('wire_bytes'))} == capinfos {cap}")
    check((c.get("truncated_frames") == 0) == (want == cap),
          f"{label}: truncated_frames {c.get('truncated_frames')} iff captured != wire")
    port_drops = {k: stats["drops"].get(k) for k in ("imissed", "rx_nombuf", "ierrors")}
    check(port_drops == {"imissed": 0, "rx_nombuf": 0, "ierrors": 0},
          f"{label}: no port drops {port_drops}")
    check(stats["stop_reason"] == "end_of_capture", f"{label}: stop_reason {stats['stop_reason']}")
    acc = stats.get("accounting")
    check(acc is not None and acc["accounted"] == acc["rx_packets"] == stats["rx_packets"],
          f"{label}: every packet accounted for exactly once {acc}")
    return stats


GEN_CASES = {
    "default": ["--default"],
    "ipv4_only": ["--flows", "5", "--ipv6-share", "0"],
    "ipv6_qinq": ["--flows", "6", "--ipv6-share", "1", "--vlan-tags", "2"],
    "vlan_impaired": ["--flows", "20", "--vlan-tags", "1", "--reorder", "0.2", "--duplicate", "0.1",
                      "--loss", "0.1", "--seed", "7"],
    "many_flows": ["--flows", "300", "--c2s-bytes", "300", "--s2c-bytes", "3000", "--seed", "3"],
    "small_mss_no_handshake": ["--flows", "4", "--mss", "100", "--no-handshake", "--no-fin"],
    "jumbo_mss": ["--flows", "3", "--mss", "8960", "--s2c-bytes", "100000"],
}

tmp = tempfile.mkdtemp(prefix="rxinto-it-")
try:
    for name, opts in GEN_CASES.items():
        @case(f"generated_{name}")
        def _(name=name, opts=opts):
            path = os.path.join(tmp, f"{name}.pcap")
            g = subprocess.run([GEN, "--out", path] + opts, capture_output=True, text=True)
            check(g.returncode == 0, f"rxinto-gen {name}: exit 0 ({g.stderr})")
            replay_exact(path, f"generated {name}")

    @case("generated_single_lcore")
    def _():
        path = os.path.join(tmp, "single.pcap")
        subprocess.run([GEN, "--out", path, "--flows", "10"], check=True, capture_output=True)
        stats = replay_exact(path, "single lcore", ["--lcores", "0"])
        if stats:
            check(len(stats["workers"]) == 1 and stats["workers"][0]["lcore"] == 0,
                  f"single lcore: one worker on lcore 0 {stats['workers']}")

    @case("generated_burst_1")
    def _():
        path = os.path.join(tmp, "burst1.pcap")
        subprocess.run([GEN, "--out", path, "--flows", "3"], check=True, capture_output=True)
        replay_exact(path, "burst 1", ["--burst", "1"])

    @case("default_run_matches_generator")
    def _():
        path = os.path.join(tmp, "default-ref.pcap")
        subprocess.run([GEN, "--out", path, "--default"], check=True, capture_output=True)
        want = read_pcap_counts(path)
        p, stats = run_rxinto(EAL_COMMON)
        check(p.returncode == 0, f"default run: exit 0 ({p.stderr[-600:]})")
        check(stats is not None and (stats["rx_packets"], stats["rx_bytes"]) == want,
              f"default run counts {stats and (stats['rx_packets'], stats['rx_bytes'])} == {want}")
        cfg = os.path.join(SOURCE, "config", "replay.ini")
        p2, stats2 = run_rxinto(["--config", cfg] + EAL_COMMON)
        check(p2.returncode == 0 and stats2 is not None and
              (stats2["rx_packets"], stats2["rx_bytes"]) == want,
              f"config/replay.ini run counts == {want} ({p2.stderr[-400:]})")

    @case("shared_pcaps")
    def _():
        if not os.path.isdir(SHARED):
            print(f"skip: {SHARED} absent")
            return
        for fn in sorted(os.listdir(os.path.join(SHARED, "files"))):
            src = os.path.join(SHARED, "files", fn)
            path = src
            if fn.endswith(".gz"):
                path = os.path.join(tmp, fn[:-3])
                with gzip.open(src, "rb") as fi, open(path, "wb") as fo:
                    shutil.copyfileobj(fi, fo)
            replay_exact(path, f"shared {fn}")

    @case("compressed_capture_is_refused_clearly")
    def _():
        if not os.path.isdir(SHARED):
            return
        gz = [f for f in os.listdir(os.path.join(SHARED, "files")) if f.endswith(".gz")]
        if not gz:
            return
        p, _ = run_rxinto(["--pcap", os.path.join(SHARED, "files", gz[0])] + EAL_COMMON)
        check(p.returncode == 1 and "decompress" in p.stderr,
              f"gz capture: exit 1 and a hint ({p.returncode}: {p.stderr[-300:]})")

    @case("exit_codes")
    def _():
        p, _ = run_rxinto(["--bogus-option"])
        check(p.returncode == 2 and "--bogus-option" in p.stderr, f"unknown option: 2 ({p.stderr})")
        p, _ = run_rxinto(["--config", "/nonexistent/rxinto.ini"])
        check(p.returncode == 2 and "/nonexistent/rxinto.ini" in p.stderr, f"missing config: 2 ({p.stderr})")
        p, _ = run_rxinto(["--burst", "0"])
        check(p.returncode == 2 and "burst" in p.stderr, f"bad burst: 2 ({p.stderr})")
        p, _ = run_rxinto(["--pcap", "/nonexistent.pcap"] + EAL_COMMON)
        check(p.returncode == 1 and "/nonexistent.pcap" in p.stderr, f"missing capture: 1 ({p.stderr})")
        p, _ = run_rxinto(["--vdev", "net_nosuchdriver0"] + EAL_COMMON)
        check(p.returncode == 1 and p.stderr.strip() != "", f"bad vdev: 1 ({p.stderr[-300:]})")
        p = subprocess.run([RXINTO, "--help"], capture_output=True, text=True)
        check(p.returncode == 0 and "--pcap" in p.stdout, "--help: 0 and lists --pcap")
        p, _ = run_rxinto(["--hugepages", "yes", "--memory", "1000000"] + EAL_COMMON)
        check(p.returncode == 1 and "hugepages" in p.stderr and "--no-huge" in p.stderr,
              f"hugepages=yes without enough: 1 with advice ({p.stderr[-300:]})")

    @case("duration_on_net_null")
    def _():
        p, stats = run_rxinto(["--vdev", "net_null0,size=64,copy=0", "--duration", "2.2", "--in-memory"])
        check(p.returncode == 0, f"duration: exit 0 ({p.stderr[-300:]})")
        if stats:
            check(stats["stop_reason"] == "duration", f"duration: stop_reason {stats['stop_reason']}")
            check(stats["rx_packets"] > 0 and stats["rx_bytes"] == 64 * stats["rx_packets"],
                  f"duration: bytes == 64 x packets {stats['rx_packets']} {stats['rx_bytes']}")
        lines = [l for l in p.stderr.splitlines() if "Mpps" in l and "imissed" in l]
        check(len(lines) >= 2, f"duration: a progress line per second ({len(lines)})")

    @case("sigint_stops_cleanly")
    def _():
        with tempfile.TemporaryDirectory() as d:
            js = os.path.join(d, "s.json")
            proc = subprocess.Popen([RXINTO, "--vdev", "net_null0,size=128", "--in-memory",
                                     "--stats-json", js], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 60
            line = ""
            while time.time() < deadline:
                line = proc.stderr.readline()
                if "Mpps" in line or line == "":
                    break
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            check(proc.returncode == 0, f"SIGINT: exit 0 (got {proc.returncode}; {err[-300:]})")
            check("stopped (signal)" in out, f"SIGINT: summary says signal ({out[:200]})")
            if os.path.exists(js):
                with open(js) as f:
                    st = json.load(f)
                check(st["stop_reason"] == "signal" and st["rx_packets"] > 0,
                      f"SIGINT: json {st['stop_reason']} {st['rx_packets']}")
            else:
                check(False, "SIGINT: stats json written")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print(f"integration: {passes} checks passed, {len(failures)} failed")
for f in failures:
    print("  failed:", f)
sys.exit(1 if failures else 0)
