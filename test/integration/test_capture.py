#!/usr/bin/env python3
"""Integration tests of the capture features: -w (pcapng through rte_pcapng), -C/-W
rotation and the file ring, -s, SIGHUP, a disk that fills up, capture filters and
several workers with software dispatch.

The pcapng files are read back with a pcapng reader written here (every block checked:
lengths, trailer, enhanced packet blocks) and with libpcap (tcpdump -r), and with tshark
when installed, and compared packet by packet with the input capture. Filter counts are
compared with `tcpdump -r X -w - EXPR` on the same capture.

Usage: test_capture.py BUILD_DIR SOURCE_DIR [--only NAME]
Standard library only. Exit 0 pass, 1 fail, 77 skip (tools or binaries missing).
"""
import calendar
import collections
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402  (the shared pieces, beside this script)
from rxtest import Frame, check, read_pcap  # noqa: E402

BUILD, SOURCE, ONLY = rxtest.args()
RXINTO = rxtest.app(BUILD, "rxinto")
GEN = rxtest.app(BUILD, "rxinto-gen")
TCPDUMP = shutil.which("tcpdump")
TSHARK = shutil.which("tshark")
CAPINFOS = shutil.which("capinfos")
# Every run in its own EAL memory, so tests can run beside each other.
EAL_COMMON = ["--in-memory", "--no-progress"]
case = rxtest.case_decorator(ONLY, timed=True)


# ---------------------------------------------------------------------------
# captures: reading pcap (rxtest.read_pcap) and pcapng, writing pcap

def write_pcap(path, frames, linktype=1):
    """A nanosecond pcap of Frame records."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype))
        for fr in frames:
            f.write(struct.pack("<IIII", fr.ts_ns // 10**9, fr.ts_ns % 10**9, len(fr.data), fr.origlen))
            f.write(fr.data)


class PcapngError(Exception):
    pass


def read_pcapng(path):
    """Every block of a pcapng file, checked: section header first, block lengths multiple
    of 4 and repeated in the trailer, enhanced packet blocks within their block, interface
    ids known. Returns (frames, info) with info = {"idbs": [(linktype, snaplen, tsresol)],
    "isbs": n, "other": [types]}. Raises PcapngError on anything malformed."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 28 or data[:4] != b"\x0a\x0d\x0d\x0a":
        raise PcapngError(f"{path}: no section header block at the start ({len(data)} bytes)")
    frames = []
    info = {"idbs": [], "isbs": 0, "isb": [], "other": []}
    e = "<"
    off = 0
    while off < len(data):
        if off + 12 > len(data):
            raise PcapngError(f"{path}: {len(data) - off} stray bytes at {off}")
        if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
            bom = data[off + 8:off + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                e = ">"
            else:
                raise PcapngError(f"{path}: bad byte-order magic at {off}")
            info["idbs"] = []  # interface ids are per section
        btype, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or blen % 4 != 0 or off + blen > len(data):
            raise PcapngError(f"{path}: block type {btype:#x} at {off}: bad length {blen} "
                              f"(file {len(data)} bytes)")
        trailer = struct.unpack(e + "I", data[off + blen - 4:off + blen])[0]
        if trailer != blen:
            raise PcapngError(f"{path}: block at {off}: trailer length {trailer} != {blen}")
        body = data[off + 8:off + blen - 4]
        if btype == 1:  # interface description
            linktype, _, snaplen = struct.unpack(e + "HHI", body[:8])
            tsresol = 6
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack(e + "HH", body[o:o + 4])
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    tsresol = body[o + 4]
                o += 4 + (olen + 3) // 4 * 4
            info["idbs"].append((linktype, snaplen, tsresol))
        elif btype == 6:  # enhanced packet
            if len(body) < 20:
                raise PcapngError(f"{path}: short enhanced packet block at {off}")
            ifid, tsh, tsl, caplen, origlen = struct.unpack(e + "IIIII", body[:20])
            if 20 + caplen > len(body):
                raise PcapngError(f"{path}: EPB at {off}: caplen {caplen} past its block ({blen})")
            if ifid >= len(info["idbs"]):
                raise PcapngError(f"{path}: EPB at {off}: interface {ifid} not described")
            if caplen > origlen:
                raise PcapngError(f"{path}: EPB at {off}: caplen {caplen} > origlen {origlen}")
            res = info["idbs"][ifid][2]
            ticks = (tsh << 32) | tsl
            if res & 0x80:
                ts = ticks * 10**9 // (2 ** (res & 0x7F))
            else:
                ts = ticks * 10**9 // 10**res if res <= 9 else ticks // 10**(res - 9)
            frames.append(Frame(ts, caplen, origlen, body[20:20 + caplen]))
        elif btype == 5:  # interface statistics
            info["isbs"] += 1
            ifid, tsh, tsl = struct.unpack(e + "III", body[:12])
            isb = {"ifid": ifid, "ts_ticks": (tsh << 32) | tsl}
            o = 12
            while o + 4 <= len(body):
                code, olen = struct.unpack(e + "HH", body[o:o + 4])
                if code == 0:
                    break
                if code in (4, 5) and olen == 8:  # isb_ifrecv, isb_ifdrop
                    isb["ifrecv" if code == 4 else "ifdrop"] = struct.unpack(e + "Q", body[o + 4:o + 12])[0]
                o += 4 + (olen + 3) // 4 * 4
            info["isb"].append(isb)
        elif btype not in (0x0A0D0D0A,):
            info["other"].append(btype)
        off += blen
    return frames, info


def first_epb_ts(path):
    """Timestamp (ns) of the first enhanced packet block, reading only the file's head
    (little-endian files, as rte_pcapng writes them)."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    off, res = 0, 6
    while off + 12 <= len(data):
        btype, blen = struct.unpack("<II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            return None
        if btype == 1:
            o = off + 16
            while o + 4 <= off + blen - 4:
                code, olen = struct.unpack("<HH", data[o:o + 4])
                if code == 0:
                    break
                if code == 9:
                    res = data[o + 4]
                o += 4 + (olen + 3) // 4 * 4
        if btype == 6:
            tsh, tsl = struct.unpack("<II", data[off + 12:off + 20])
            ticks = (tsh << 32) | tsl
            return ticks * 10**9 // 10**res if res <= 9 else ticks // 10**(res - 9)
        off += blen
    return None


def libpcap_read(path, expr=None):
    """Frames of any capture as libpcap reads it (tcpdump -r PATH -w - [EXPR]): returns
    (exit code, stderr, frames or None)."""
    cmd = [TCPDUMP, "-nn", "-r", path, "-w", "-"] + ([expr] if expr else [])
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    frames = None
    if p.returncode == 0:
        try:
            frames = read_pcap(p.stdout)[1]
        except ValueError as ex:
            return 1, f"unreadable tcpdump output: {ex}", None
    return p.returncode, p.stderr.decode(errors="replace"), frames


def libpcap_ok(path):
    """tcpdump reads the whole file without a complaint (big files: no output to parse)."""
    p = subprocess.run([TCPDUMP, "-nn", "-r", path, "-w", "/dev/null"], capture_output=True,
                       text=True, timeout=120)
    err = "\n".join(l for l in p.stderr.splitlines() if not l.startswith("reading from file"))
    return p.returncode == 0 and err.strip() == "", f"rc {p.returncode} {err[-300:]}"


def tshark_count(path):
    p = subprocess.run([TSHARK, "-n", "-r", path, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=120)
    err = "\n".join(l for l in p.stderr.splitlines() if "root" not in l.lower())
    return p.returncode, err.strip(), len(p.stdout.split())


def capinfos_packets(paths):
    p = subprocess.run([CAPINFOS, "-M", "-c"] + paths, capture_output=True, text=True, timeout=120)
    counts = [int(m) for m in re.findall(r"Number of packets:\s+(\d+)", p.stdout)]
    return p.returncode, counts


NAME_RE = re.compile(r"^(?P<prefix>.*)-(?P<ts>\d{8}T\d{6}\.\d{3})-(?P<seq>\d{4,})\.pcapng$")


def capture_files(directory, prefix):
    """Files rxinto wrote for the prefix (base name), as (seq, name_ts, path), by sequence."""
    out = []
    # One worker without rotation writes the -w path itself: file 1 of the
    # series; a SIGHUP then starts -0002, -0003... next to it.
    exact = os.path.join(directory, prefix + ".pcapng")
    if os.path.exists(exact):
        out.append((1, None, exact))
    for fn in os.listdir(directory):
        m = NAME_RE.match(fn)
        if m and m.group("prefix") == prefix:
            out.append((int(m.group("seq")), m.group("ts"), os.path.join(directory, fn)))
    return sorted(out)


def name_ts_ns(s):
    t = time.strptime(s[:15], "%Y%m%dT%H%M%S")
    return calendar.timegm(t) * 10**9 + int(s[16:19]) * 10**6


def gen(path, opts):
    g = subprocess.run([GEN, "--out", path] + opts, capture_output=True, text=True)
    if g.returncode != 0:
        raise RuntimeError(f"rxinto-gen {opts}: {g.returncode} {g.stderr}")
    return read_pcap(path)[1]


def run_rxinto(args, d, timeout=120):
    return rxtest.run_rxinto(RXINTO, args, timeout, stats_dir=d)


def read_files_checked(label, files, tools=True, isb=False):
    """Every file through the own reader and tcpdump (frames must be equal); tshark on the
    first one when installed. Returns the frames of all files in sequence order."""
    allf = []
    for seq, _, path in files:
        try:
            frames, info = read_pcapng(path)
        except PcapngError as ex:
            check(False, f"{label}: {os.path.basename(path)}: {ex}")
            continue
        check(len(info["idbs"]) >= 1 and all(i[0] == 1 for i in info["idbs"]),
              f"{label}: {os.path.basename(path)}: Ethernet interface blocks {info['idbs']}")
        if isb:
            # a closed file ends with the statistics of its port: packets written, dropped
            st = info["isb"]
            check(len(st) == 1 and st[0].get("ifrecv") == len(frames) and st[0].get("ifdrop") == 0,
                  f"{label}: {os.path.basename(path)}: one interface statistics block, "
                  f"ifrecv == {len(frames)} frames, ifdrop 0 ({st})")
        if tools:
            rc, err, lf = libpcap_read(path)
            check(rc == 0 and lf is not None, f"{label}: tcpdump -r {os.path.basename(path)}: {rc} {err[-300:]}")
            if lf is not None:
                check([(f.caplen, f.origlen, f.data) for f in lf] ==
                      [(f.caplen, f.origlen, f.data) for f in frames],
                      f"{label}: {os.path.basename(path)}: libpcap reads the same {len(frames)} frames "
                      f"(got {len(lf)})")
        allf.extend(frames)
    if tools and TSHARK and files:
        rc, err, n = tshark_count(files[0][2])
        want = len(read_pcapng(files[0][2])[0]) if rc == 0 else None
        check(rc == 0 and n == want, f"{label}: tshark -r {os.path.basename(files[0][2])}: rc {rc}, "
                                     f"{n} frames == {want} ({err[-300:]})")
    return allf


def is_subsequence(frames, of):
    """The frames' data appear in `of` in this order (greedy match)."""
    it = iter(f.data for f in of)
    return all(any(g.data == x for x in it) for g in frames)


def base_stats_checks(label, p, stats, n_in):
    check(p.returncode == 0, f"{label}: exit 0 (got {p.returncode}; {p.stderr[-600:]})")
    if stats is None:
        check(False, f"{label}: stats json written")
        return False
    acc = stats.get("accounting", {})
    check(stats["rx_packets"] == n_in, f"{label}: rx_packets {stats['rx_packets']} == input {n_in}")
    check(acc.get("accounted") == acc.get("rx_packets") == stats["rx_packets"],
          f"{label}: every packet accounted for exactly once {acc}")
    return True


# ---------------------------------------------------------------------------
# crafted frames for the filter capture: UDP, ICMP, ARP, a large UDP datagram

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                    bytes(src), bytes(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def eth(ethertype, payload, vlan=None):
    dst, src = b"\x02\0\0\0\0\x02", b"\x02\0\0\0\0\x01"
    if vlan is not None:
        return dst + src + struct.pack("!HHH", 0x8100, vlan, ethertype) + payload
    return dst + src + struct.pack("!H", ethertype) + payload


def udp_frame(src, dst, sport, dport, n, vlan=None):
    pl = bytes((i * 7) & 0xFF for i in range(n))
    u = struct.pack("!HHHH", sport, dport, 8 + len(pl), 0) + pl
    return eth(0x0800, ipv4(src, dst, 17, u), vlan)


def crafted_frames():
    out = []
    out.append(udp_frame([10, 0, 0, 1], [10, 0, 0, 53], 33000, 53, 40))
    out.append(udp_frame([10, 0, 0, 53], [10, 0, 0, 1], 53, 33000, 120))
    out.append(udp_frame([10, 0, 0, 7], [10, 128, 0, 9], 5000, 443, 1300))      # udp port 443, big
    out.append(udp_frame([10, 0, 0, 8], [10, 128, 0, 9], 80, 6000, 200, vlan=12))  # vlan, udp 80
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping" * 8
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    out.append(eth(0x0800, ipv4([10, 0, 0, 1], [10, 128, 0, 1], 1, icmp)))
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02\0\0\0\0\x01", bytes([10, 0, 0, 1]),
                      b"\0" * 6, bytes([10, 0, 0, 2]))
    out.append(eth(0x0806, arp + b"\0" * 18))
    return out


def filter_capture(path, d):
    """Generated conversations without tags, with 802.1Q and with QinQ, IPv4 and IPv6, on
    ports 80, 443 and 5201, interleaved by time, plus crafted UDP/ICMP/ARP frames."""
    start = 1_600_000_000 * 10**9
    parts = []
    for i, opts in enumerate([["--flows", "9", "--ipv6-share", "0.4", "--seed", "21"],
                              ["--flows", "6", "--vlan-tags", "1", "--ipv6-share", "0.5", "--seed", "22",
                               "--reorder", "0.1"],
                              ["--flows", "3", "--vlan-tags", "2", "--ipv6-share", "1", "--seed", "23"]]):
        p = os.path.join(d, f"part{i}.pcap")
        parts.extend((f.ts_ns, i, j, f) for j, f in
                     enumerate(gen(p, opts + ["--start-ns", str(start + i * 1000)])))
    for j, data in enumerate(crafted_frames()):
        parts.append((start + 5000 + j * 100_000, 9, j, Frame(0, len(data), len(data), data)))
    parts.sort(key=lambda t: (t[0], t[1], t[2]))
    frames = [Frame(t[0], f.caplen, f.origlen, f.data) for t, f in ((t, t[3]) for t in parts)]
    write_pcap(path, frames)
    return frames


# ---------------------------------------------------------------------------

def main():
    for b in (RXINTO, GEN):
        if not os.access(b, os.X_OK):
            print(f"skip: {b} not built")
            return 77
    if TCPDUMP is None:
        print("skip: tcpdump not installed")
        return 77

    tmp = tempfile.mkdtemp(prefix="rxinto-capture-")
    try:
        run_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rxtest.summary("capture")


def run_cases(tmp):
    old_start = 1_000_000_000 * 10**9  # 2001: EPB timestamps must be the time of writing

    # 1. -w and -s: the pcapng holds the input frames, in order, byte for byte.
    GEN_CASES = {
        "default": (["--default"], []),
        "ipv4_vlan": (["--flows", "5", "--ipv6-share", "0", "--vlan-tags", "1", "--seed", "4"], []),
        "ipv6_qinq": (["--flows", "6", "--ipv6-share", "1", "--vlan-tags", "2", "--seed", "5"], []),
        "jumbo_snap96": (["--flows", "3", "--mss", "8960", "--s2c-bytes", "60000", "--vlan-tags", "1"],
                         ["-s", "96"]),
        "mixed_snap96": (["--flows", "8", "--reorder", "0.1", "--duplicate", "0.05", "--seed", "9"],
                         ["--snaplen=96"]),
    }
    for name, (gopts, ropts) in GEN_CASES.items():
        @case(f"write_{name}")
        def _(name=name, gopts=gopts, ropts=ropts):
            d = tempfile.mkdtemp(dir=tmp)
            src = os.path.join(d, "in.pcap")
            want = gen(src, gopts + ["--start-ns", str(old_start)])
            out = os.path.join(d, "out")
            os.mkdir(out)
            t0 = time.time_ns()
            p, stats = run_rxinto(["--pcap", src, "-w", os.path.join(out, "cap.pcapng")] + ropts + EAL_COMMON, d)
            t1 = time.time_ns()
            if not base_stats_checks(name, p, stats, len(want)):
                return
            # One worker and no rotation: the file is exactly the -w path, as tcpdump writes it.
            exact = os.path.join(out, "cap.pcapng")
            check(os.listdir(out) == ["cap.pcapng"],
                  f"{name}: exactly the file -w named ({sorted(os.listdir(out))})")
            if not os.path.exists(exact):
                return
            files = [(1, None, exact)]
            got = read_files_checked(name, files, isb=True)
            snap = 96 if ropts else None
            check(len(got) == len(want), f"{name}: {len(got)} frames written == {len(want)} read")
            bad = []
            for i, (g, w) in enumerate(zip(got, want)):
                exp_cap = w.origlen if snap is None else min(w.origlen, snap)
                if g.origlen != w.origlen or g.caplen != exp_cap or g.data != w.data[:exp_cap]:
                    bad.append((i, g.caplen, g.origlen, w.caplen, w.origlen))
            check(not bad, f"{name}: every frame equal to the input, in order (snaplen {snap}); "
                           f"{len(bad)} differ, first {bad[:3]}")
            # A replay keeps each packet's own time, as tcpdump -r -w does.
            ts = [g.ts_ns for g in got]
            # (to the microsecond: DPDK's net_pcap hands record times over in µs)
            check([t // 1000 for t in ts] == [w.ts_ns // 1000 for w in want],
                  f"{name}: EPB timestamps are the capture's own (first {ts[:1]}, input {[w.ts_ns for w in want[:1]]})")
            c = stats["capture"]
            size = os.path.getsize(files[0][2])
            check((c["packets"], c["bytes"], c["files"], c["file_bytes"]) ==
                  (len(want), sum(w.origlen for w in want), 1, size),
                  f"{name}: capture stats {c} == ({len(want)} packets, wire bytes, 1 file, {size} bytes)")
            check(c["write_errors"] == c["ring_full"] == c["open_failures"] == 0,
                  f"{name}: no capture errors {c}")
            check(stats["drops"].get("capture_write_failed") == 0, f"{name}: no capture_write_failed")

    @case("write_into_directory")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        want = gen(src, ["--flows", "2"])
        out = os.path.join(d, "outdir")
        os.mkdir(out)
        p, stats = run_rxinto(["--pcap", src, "-w", out] + EAL_COMMON, d)
        if not base_stats_checks("directory", p, stats, len(want)):
            return
        files = capture_files(out, "rxinto")
        check(len(files) == 1, f"-w DIR: DIR/rxinto-<time>-0001.pcapng ({os.listdir(out)})")
        got = read_files_checked("directory", files, tools=False)
        check([g.data for g in got] == [w.data for w in want], "-w DIR: frames equal")

    @case("write_to_standard_output")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        want = gen(src, ["--flows", "3", "--seed", "12"])
        out = os.path.join(d, "out.pcapng")
        with open(out, "wb") as fo:
            p = subprocess.run([os.path.abspath(RXINTO), "--pcap", src, "-w", "-"] + EAL_COMMON, stdout=fo,
                               stderr=subprocess.PIPE, text=True, cwd=d, timeout=120)
        check(p.returncode == 0, f"-w -: exit 0 ({p.stderr[-300:]})")
        check(not os.path.exists(os.path.join(d, "-")), "-w -: no file named '-'")
        check("capture" in p.stderr and "rx " in p.stderr, "-w -: the summary goes to stderr")
        got = read_files_checked("-w -", [(1, "-", out)], tools=True)
        check([g.data for g in got] == [w.data for w in want], f"-w -: the frames on stdout ({len(got)} of {len(want)})")
        p = subprocess.run([os.path.abspath(RXINTO), "--pcap", src, "-w", "-", "-C", "1"] + EAL_COMMON,
                           capture_output=True, text=True, cwd=d, timeout=60)
        check(p.returncode == 2 and "standard output" in p.stderr, f"-w - -C 1: refused ({p.stderr.strip()[-200:]})")

    # 2. -C: several files, each readable, the input in order across them; -W: the tail.
    big_frames = []
    big_src = os.path.join(tmp, "big.pcap")

    @case("rotate_size")
    def _():
        big_frames.extend(gen(big_src, ["--flows", "12", "--mss", "1448", "--s2c-bytes", "300000",
                                        "--c2s-bytes", "20000", "--seed", "31"]))
        total = os.path.getsize(big_src)
        check(total > 3_500_000, f"rotation input is a few MB ({total})")
        d = tempfile.mkdtemp(dir=tmp)
        p, stats = run_rxinto(["--pcap", big_src, "-w", os.path.join(d, "rot.pcapng"), "-C", "1"]
                              + EAL_COMMON, d)
        if not base_stats_checks("rotate -C 1", p, stats, len(big_frames)):
            return
        files = capture_files(d, "rot")
        seqs = [f[0] for f in files]
        check(len(files) >= 4 and seqs == list(range(1, len(files) + 1)),
              f"rotate -C 1: several files numbered 1..N ({seqs})")
        check(stats["capture"]["files"] == len(files), f"rotate: capture.files {stats['capture']['files']} "
                                                       f"== {len(files)} on disk")
        sizes = [os.path.getsize(f[2]) for f in files]
        # As rxinto's help says: next file after MB million bytes. Allow the statistics
        # block written when a file is closed (<= 128 bytes per port).
        check(all(s <= 1_000_000 + 128 for s in sizes), f"rotate: every file <= 1 MB (+ stats block) {sizes}")
        check(all(s >= 900_000 for s in sizes[:-1]), f"rotate: the files before the last are full {sizes}")
        got = read_files_checked("rotate -C 1", files, isb=True)
        check(len(got) == len(big_frames) and all(g.data == w.data for g, w in zip(got, big_frames)),
              f"rotate: frames across the files == the input in order ({len(got)} vs {len(big_frames)})")
        names = [f[1] for f in files]
        check(names == sorted(names), f"rotate: the times in the names never go back {names}")
        big_frames.append(len(files))  # for the ring case: the number of files of this run

    @case("rotate_ring")
    def _():
        if not big_frames:
            check(False, "ring: needs rotate_size")
            return
        nfiles = big_frames[-1]
        frames = big_frames[:-1]
        d = tempfile.mkdtemp(dir=tmp)
        p, stats = run_rxinto(["--pcap", big_src, "-w", os.path.join(d, "ring.pcapng"), "-C", "1",
                               "-W", "2"] + EAL_COMMON, d)
        if not base_stats_checks("ring -C 1 -W 2", p, stats, len(frames)):
            return
        files = capture_files(d, "ring")
        check(len(os.listdir(d)) == 2 and [f[0] for f in files] == [nfiles - 1, nfiles],
              f"ring: only the 2 newest files remain, {nfiles - 1} and {nfiles} ({os.listdir(d)})")
        check(stats["capture"]["files"] == nfiles, f"ring: capture.files {stats['capture']['files']} == {nfiles}")
        got = read_files_checked("ring", files)
        tail = frames[len(frames) - len(got):] if got else []
        check(0 < len(got) < len(frames) and [g.data for g in got] == [w.data for w in tail],
              f"ring: the {len(got)} frames left are the tail of the input")
        check(stats["capture"]["packets"] == len(frames),
              f"ring: capture.packets counts every written packet {stats['capture']['packets']}")

    # 3. SIGHUP on a live port: a new file per signal, every file whole.
    @case("sighup_rotates")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        js = os.path.join(d, "s.json")
        # net_null delivers ~several Mpps: no TCP, so that the writer is the only work.
        proc = subprocess.Popen([RXINTO, "--vdev", "net_null0,size=64,copy=0", "--no-tcp",
                                 "-w", os.path.join(d, "hup.pcapng"), "--stats-json", js] + EAL_COMMON,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and proc.poll() is None:
                fs = capture_files(d, "hup")
                if fs and os.path.getsize(fs[0][2]) > 4096:
                    break
                time.sleep(0.05)
            for _ in range(2):
                time.sleep(0.4)
                proc.send_signal(signal.SIGHUP)
            time.sleep(0.4)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        check(proc.returncode == 0, f"sighup: exit 0 after SIGINT (got {proc.returncode}; {err[-400:]})")
        files = capture_files(d, "hup")
        check(len(files) >= 3 and [f[0] for f in files] == list(range(1, len(files) + 1)),
              f"sighup: two SIGHUPs make at least 3 files ({[f[0] for f in files]})")
        for _, _, path in files:
            ok, why = libpcap_ok(path)
            check(ok, f"sighup: tcpdump reads {os.path.basename(path)} ({why})")
        if not os.path.exists(js):
            check(False, "sighup: stats json written")
            return
        with open(js) as f:
            st = json.load(f)
        check(st["stop_reason"] == "signal", f"sighup: stop_reason {st['stop_reason']}")
        c = st["capture"]
        check(c["files"] == len(files), f"sighup: capture.files {c['files']} == {len(files)}")
        if CAPINFOS and files:
            rc, counts = capinfos_packets([f[2] for f in files])
            check(rc == 0 and len(counts) == len(files) and sum(counts) == c["packets"],
                  f"sighup: capinfos counts {counts} sum == capture.packets {c['packets']}")
            check(all(n > 0 for n in counts), f"sighup: packets in every file {counts}")
        check(c["packets"] + c["write_errors"] + c["ring_full"] == st["rx_packets"],
              f"sighup: written + write errors + ring full == rx {c} rx {st['rx_packets']}")
        for _, _, path in files:
            os.unlink(path)  # hundreds of MB: not kept until the end

    # -G: the time of a burst is the wall-clock time it is written at, for replays too.
    @case("rotate_seconds_replay_is_wall_clock")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        frames = gen(src, ["--flows", "4", "--seed", "51"])
        # spread the packet times over ~20 s: a replay takes milliseconds of wall clock
        t0 = 1_500_000_000 * 10**9
        frames = [Frame(t0 + i * 20 * 10**9 // len(frames), f.caplen, f.origlen, f.data)
                  for i, f in enumerate(frames)]
        write_pcap(src, frames)
        p, stats = run_rxinto(["--pcap", src, "-w", os.path.join(d, "g.pcapng"), "-G", "1"] + EAL_COMMON, d)
        if not base_stats_checks("-G 1 replay", p, stats, len(frames)):
            return
        files = capture_files(d, "g")
        check(len(files) == 1 and stats["capture"]["files"] == 1,
              f"-G 1 on a replay of 20 s of packet time written in < 1 s: one file ({[f[0] for f in files]})")
        got = read_files_checked("-G 1 replay", files, tools=False)
        check([g.data for g in got] == [f.data for f in frames], "-G 1 replay: every frame, in order")

    @case("rotate_seconds_live_ring")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        t0 = time.time_ns()
        p, st = run_rxinto(["--vdev", "net_null0,size=64,copy=0", "--no-tcp", "--duration", "2.6",
                            "-w", os.path.join(d, "g.pcapng"), "-G", "1", "-W", "2"] + EAL_COMMON, d)
        t1 = time.time_ns()
        check(p.returncode == 0, f"-G 1 live: exit 0 ({p.returncode}: {p.stderr[-300:]})")
        if st is None:
            check(False, "-G 1 live: stats json written")
            return
        files = capture_files(d, "g")
        nf = st["capture"]["files"]
        check(nf >= 3, f"-G 1 -W 2 for 2.6 s: at least 3 files made ({nf})")
        check(len(os.listdir(d)) == 2 and [f[0] for f in files] == [nf - 1, nf],
              f"-G 1 -W 2: the 2 newest files remain ({sorted(os.listdir(d))}, {nf} made)")
        names = [name_ts_ns(f[1]) for f in files]
        check(all(t0 - 10**9 <= t <= t1 for t in names), f"-G 1 live: name times within the run {names}")
        if len(names) == 2:
            gap = names[1] - names[0]
            check(0.95e9 <= gap <= 1.5e9, f"-G 1 live: files start a second apart ({gap / 1e9:.3f} s)")
        for _, _, path in files:
            ok, why = libpcap_ok(path)
            check(ok, f"-G 1 live: tcpdump reads {os.path.basename(path)} ({why})")
            first = first_epb_ts(path)
            check(first is not None and abs(first - name_ts_ns(NAME_RE.match(os.path.basename(path)).group("ts"))) < 50e6,
                  f"-G 1 live: {os.path.basename(path)}: first packet time {first} == the time in its name")
            os.unlink(path)

    # 4. A disk that fills up: writing fails, reception does not; the file stays whole.
    @case("disk_full")
    def _():
        if not big_frames:
            check(False, "disk full: needs rotate_size")
            return
        frames = big_frames[:-1]
        d = tempfile.mkdtemp(dir=tmp)
        mnt = os.path.join(d, "small")
        os.mkdir(mnt)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "rxinto-test", mnt],
                           capture_output=True, text=True)
        if m.returncode != 0:
            rxtest.skip(f"disk_full: cannot mount a tmpfs ({m.returncode}: {m.stderr.strip()})")
            return
        try:
            p, stats = run_rxinto(["--pcap", big_src, "-w", os.path.join(mnt, "full.pcapng")] + EAL_COMMON, d)
            if not base_stats_checks("disk full", p, stats, len(frames)):
                return
            c = stats["capture"]
            check(c["write_errors"] > 0, f"disk full: capture.write_errors > 0 {c}")
            check(stats["drops"].get("capture_write_failed", 0) > 0,
                  f"disk full: drops.capture_write_failed > 0 ({stats['drops'].get('capture_write_failed')})")
            check(c["packets"] + c["write_errors"] + c["ring_full"] == len(frames),
                  f"disk full: written + write errors + ring full == input {len(frames)} ({c})")
            check(stats["drops"].get("capture_write_failed") == c["write_errors"] and
                  stats["drops"].get("capture_ring_full") == c["ring_full"],
                  "disk full: drops.capture_write_failed/capture_ring_full == capture.write_errors/ring_full")
            files = capture_files(mnt, "full")
            check(len(files) >= 1, f"disk full: a file was written ({os.listdir(mnt)})")
            got = read_files_checked("disk full", files)
            check(len(got) == c["packets"], f"disk full: {len(got)} frames in the files == capture.packets")
            # The file fills up, then a failed chunk is cut back off the file; smaller
            # frames later in the input may still fit: a subsequence of the input, in order.
            check(is_subsequence(got, frames), "disk full: the frames written keep the input order")
            check(len(got) > 0 and [g.data for g in got[:len(got) // 2]] == [w.data for w in frames[:len(got) // 2]],
                  "disk full: the first half of what was written is the head of the input")
        finally:
            u = subprocess.run(["umount", mnt], capture_output=True, text=True)
            if u.returncode != 0:
                subprocess.run(["umount", "-l", mnt], capture_output=True)

    # 5. Filters: as many packets as libpcap selects from the same capture, the same ones.
    fsrc = os.path.join(tmp, "filter.pcap")
    fframes = []

    EXPRS = ["tcp", "tcp port 80", "port 443", "ip6", "vlan", "host 10.0.0.1",
             "tcp[tcpflags] & tcp-syn != 0", "greater 1000", "not tcp port 80",
             "vlan and tcp port 443", "udp or icmp or arp"]

    @case("filters")
    def _():
        fframes.extend(filter_capture(fsrc, tmp))
        n = len(fframes)
        d = tempfile.mkdtemp(dir=tmp)
        seen_counts = set()
        for i, expr in enumerate(EXPRS):
            rc, err, sel = libpcap_read(fsrc, expr)
            check(rc == 0 and sel is not None, f"filter '{expr}': tcpdump ({rc} {err[-200:]})")
            if sel is None:
                continue
            seen_counts.add(len(sel))
            prefix = f"f{i}"
            p, stats = run_rxinto(["--pcap", fsrc, "-w", os.path.join(d, prefix + ".pcapng"),
                                   "--filter", expr] + EAL_COMMON, d)
            if not base_stats_checks(f"filter '{expr}'", p, stats, n):
                continue
            got = read_files_checked(f"filter '{expr}'", capture_files(d, prefix), tools=False)
            check(len(got) == len(sel), f"filter '{expr}': {len(got)} packets written == tcpdump's {len(sel)}")
            check([g.data for g in got] == [s.data for s in sel], f"filter '{expr}': the same frames, in order")
            c = stats["capture"]
            check(c["filter_matched"] == len(sel) and c["packets"] == len(sel),
                  f"filter '{expr}': capture.filter_matched/packets {c['filter_matched']}/{c['packets']} == {len(sel)}")
            # without --filter-before-reassembly, reassembly sees every packet: nothing is
            # dropped by the filter (filter_rejected counts drops before reassembly only)
            acc = stats["accounting"]
            check(c["filter_rejected"] == 0 and acc.get("filter_rejected", 0) == 0 and
                  stats["drops"].get("filter") == 0,
                  f"filter '{expr}': no packet dropped by the filter ({c['filter_rejected']}, "
                  f"{acc.get('filter_rejected')}, {stats['drops'].get('filter')})")
            check(stats["tcp"]["flows_created"] == 18,
                  f"filter '{expr}': reassembly sees every connection ({stats['tcp']['flows_created']} of 18)")
        check(len(seen_counts) >= 8 and 0 not in seen_counts and n not in seen_counts,
              f"filters: the expressions select different, non-trivial sets {sorted(seen_counts)} of {n}")

    @case("filter_trailing_words")
    def _():
        if not fframes:
            check(False, "trailing words: needs filters")
            return
        d = tempfile.mkdtemp(dir=tmp)
        _, _, sel = libpcap_read(fsrc, "tcp port 80")
        p, stats = run_rxinto(["--pcap", fsrc, "-w", os.path.join(d, "tw.pcapng")] + EAL_COMMON
                              + ["tcp", "port", "80"], d)
        if not base_stats_checks("trailing words", p, stats, len(fframes)):
            return
        got = read_files_checked("trailing words", capture_files(d, "tw"), tools=False)
        check([g.data for g in got] == [s.data for s in sel],
              f"trailing words 'tcp port 80': {len(got)} frames == tcpdump's {len(sel)}")
        # after '--' words starting with '-' belong to the filter too
        p, stats = run_rxinto(["--pcap", fsrc, "-w", os.path.join(d, "dd.pcapng")] + EAL_COMMON
                              + ["--", "tcp", "port", "80"], d)
        check(p.returncode == 0 and stats and stats["capture"]["packets"] == len(sel),
              f"filter after '--': {stats and stats['capture']['packets']} == {len(sel)} ({p.stderr[-300:]})")
        p, _ = run_rxinto(["--pcap", fsrc, "-w", os.path.join(d, "bad.pcapng"), "--filter",
                           "tcp port"] + EAL_COMMON, d)
        check(p.returncode == 2 and "filter" in p.stderr.lower(),
              f"bad filter expression: exit 2 with a message ({p.returncode}: {p.stderr[-300:]})")

    @case("filter_before_reassembly")
    def _():
        if not fframes:
            check(False, "before reassembly: needs filters")
            return
        n = len(fframes)
        d = tempfile.mkdtemp(dir=tmp)
        for i, expr in enumerate(["tcp port 80", "ip6", "not tcp port 80"]):
            _, _, sel = libpcap_read(fsrc, expr)
            p, stats = run_rxinto(["--pcap", fsrc, "-w", os.path.join(d, f"b{i}.pcapng"), "--filter", expr,
                                   "--filter-before-reassembly"] + EAL_COMMON, d)
            if not base_stats_checks(f"before '{expr}'", p, stats, n):
                continue
            got = read_files_checked(f"before '{expr}'", capture_files(d, f"b{i}"), tools=False)
            check([g.data for g in got] == [s.data for s in sel],
                  f"before '{expr}': {len(got)} frames == tcpdump's {len(sel)}")
            acc, c = stats["accounting"], stats["capture"]
            check(acc.get("filter_rejected") == n - len(sel),
                  f"before '{expr}': accounting.filter_rejected {acc.get('filter_rejected')} == {n} - {len(sel)}")
            check(c["filter_matched"] == len(sel) and c["filter_rejected"] == n - len(sel),
                  f"before '{expr}': capture.filter_matched/rejected {c['filter_matched']}/{c['filter_rejected']}")
            check(stats["drops"].get("filter") == n - len(sel),
                  f"before '{expr}': drops.filter {stats['drops'].get('filter')} == {n - len(sel)}")
            check(acc["accounted"] == acc["rx_packets"] == n, f"before '{expr}': accounted {acc}")

    # 6. Several workers with software dispatch: per-worker files, every packet once.
    @case("workers")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        want = gen(src, ["--flows", "40", "--ipv6-share", "0.5", "--vlan-tags", "1", "--reorder", "0.05",
                         "--duplicate", "0.05", "--s2c-bytes", "20000", "--seed", "41"])
        want_ms = collections.Counter(w.data for w in want)
        for label, opts, nworkers in (("lcores (0-3)@(0-1)", ["--lcores", "(0-3)@(0-1)"], 2),
                                      ("--workers 3", ["--workers", "3"], 3),
                                      ("--workers 2 -C 1", ["--workers", "2", "-C", "1"], 2)):
            prefix = "wk%d" % (len(os.listdir(d)))
            out = os.path.join(d, prefix)
            os.mkdir(out)
            p, stats = run_rxinto(["--pcap", src, "-w", os.path.join(out, "cap.pcapng")] + opts + EAL_COMMON, d)
            if not base_stats_checks(label, p, stats, len(want)):
                continue
            check(len(stats["workers"]) == nworkers, f"{label}: {nworkers} workers ({stats['workers']})")
            dsp = stats.get("dispatch") or {}
            check(dsp.get("packets") == len(want) and dsp.get("ring_full") == 0,
                  f"{label}: the dispatcher passed every packet on ({dsp})")
            check(stats["tcp"]["wrong_worker"] == 0, f"{label}: tcp.wrong_worker {stats['tcp']['wrong_worker']}")
            union = []
            per_worker = {}
            for w in range(nworkers):
                files = capture_files(out, f"cap-w{w}")
                check(len(files) >= 1, f"{label}: files of worker {w} ({sorted(os.listdir(out))})")
                per_worker[w] = read_files_checked(f"{label} w{w}", files, tools=(w == 0))
                union.extend(per_worker[w])
            extra = [f for f in os.listdir(out) if not re.match(r"cap-w\d+-", f)]
            check(not extra, f"{label}: only per-worker files ({extra})")
            check(collections.Counter(g.data for g in union) == want_ms,
                  f"{label}: union of the files == the input as a multiset ({len(union)} vs {len(want)})")
            c = stats["capture"]
            check(c["packets"] == len(want) and c["write_errors"] == 0,
                  f"{label}: capture.packets {c['packets']} == {len(want)}, no write errors")
            check(all(len(v) > 0 for v in per_worker.values()),
                  f"{label}: every worker wrote packets {[len(v) for v in per_worker.values()]}")
            check([len(per_worker[w]) for w in range(nworkers)] ==
                  [wk["packets"] for wk in stats["workers"]],
                  f"{label}: file -wN holds what worker N received {[wk['packets'] for wk in stats['workers']]}")
            # each worker's file keeps the input order (a subsequence of the input)
            for w, frames in per_worker.items():
                check(is_subsequence(frames, want), f"{label}: worker {w}'s frames are in input order")


if __name__ == "__main__":
    sys.exit(main())
