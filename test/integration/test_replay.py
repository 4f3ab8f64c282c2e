#!/usr/bin/env python3
"""Integration tests of the rxinto CLI: replay captures through net_pcap and check the
counted packets and bytes exactly against capinfos and against the capture file itself;
exit codes; stop on signal, on duration and at end of capture.

Usage: test_replay.py BUILD_DIR SOURCE_DIR [--only NAME]
Standard library only. Exits 0 when every case passes, 1 otherwise.
"""
import gzip
import os
import shutil
import signal
import struct
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
SHARED = os.path.normpath(os.path.join(SOURCE, "..", "shared", "pcaps"))
# Every run in its own EAL memory, so tests can run beside each other.
EAL_COMMON = ["--in-memory", "--no-progress"]
case = rxtest.case_decorator(ONLY)


def read_pcap_counts(path, wire=False):
    """Packets and captured (or, with wire=True, original) bytes of a pcap or pcapng file,
    read by hand (stdlib only)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    pkts = nbytes = 0
    if magic in rxtest.PCAP_MAGICS:
        frames = rxtest.read_pcap(data, strict=False)[1]  # a truncated last record ends it, as in libpcap
        return len(frames), sum(fr.origlen if wire else fr.caplen for fr in frames)
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
    return rxtest.run_rxinto(RXINTO, args, timeout)


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

    @case("reassembly_without_a_reader_holds_nothing")
    def _():
        # With no --streams-dir the appliance itself is the reader: what becomes
        # readable is consumed at once. Before, in-order data waited for a
        # reader that did not exist until the pool ran dry (rx_nombuf).
        path = os.path.join(tmp, "noreader.pcap")
        subprocess.run([GEN, "--out", path, "--flows", "300", "--c2s-bytes", "20000",
                        "--s2c-bytes", "40000", "--seed", "41"], check=True, capture_output=True)
        stats = replay_exact(path, "no reader, small pool", ["--mbufs", "2047"])
        if stats:
            check(stats["tcp"]["segments"] > 2047, f"no reader: more segments than mbufs ({stats['tcp']['segments']})")

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
            rxtest.skip(f"shared_pcaps: {SHARED} absent")
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
        # Its own gzip'ed capture: the case used to return without a check (and pass)
        # when ../shared/pcaps had no .gz file.
        path = os.path.join(tmp, "gz.pcap")
        subprocess.run([GEN, "--out", path, "--flows", "2"], check=True, capture_output=True)
        with open(path, "rb") as fi, gzip.open(path + ".gz", "wb") as fo:
            shutil.copyfileobj(fi, fo)
        p, _ = run_rxinto(["--pcap", path + ".gz"] + EAL_COMMON)
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
            out, err = rxtest.communicate(proc, 20)
            check(proc.returncode == 0, f"SIGINT: exit 0 (got {proc.returncode}; {err[-300:]})")
            check("stopped (signal)" in out, f"SIGINT: summary says signal ({out[:200]})")
            st = rxtest.read_json(js)
            if st is None:
                check(False, "SIGINT: stats json written")
            else:
                check(st["stop_reason"] == "signal" and st["rx_packets"] > 0,
                      f"SIGINT: json {st['stop_reason']} {st['rx_packets']}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(rxtest.summary("integration"))
