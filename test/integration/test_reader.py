#!/usr/bin/env python3
"""Integration tests of the capture readers: rxinto's own (--pcap FILE) and DPDK's
net_pcap (--vdev net_pcap0,rx_pcap=FILE) on hostile files, streams (--pcap -, pipes),
paths with '=' and ',', link types rxinto does not parse, several offline runs at
once, a taken file prefix, and --memory at its maximum.

A hostile file holds good records, then one that libpcap (or rxinto's stricter
parser) rejects, then a record whose TCP payload is "SMUGGLED": a reader that goes on
after the bad record (net_pcap does, from a misaligned offset) delivers it. No stream
file may ever contain it, and the counts must equal tshark's.

Usage: test_reader.py BUILD_DIR SOURCE_DIR [--only NAME]. Standard library only.
"""
import json
import os
import signal
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402
from rxtest import check  # noqa: E402

BUILD, SOURCE, ONLY = rxtest.args()
RXINTO = rxtest.app(BUILD, "rxinto")
case = rxtest.case_decorator(ONLY)
COMMON = ["--no-progress", "--checksum", "ignore"]


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp_frame(seq, payload, sport=40000, dport=80, flags=0x18):
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


GOOD = [tcp_frame(1000 + 100 * i, b"GOODDATA" * 12 + b"....") for i in range(5)]
SMUGGLED = tcp_frame(1500, b"SMUGGLED" * 12 + b"....")


def pcap(records, snaplen=65535, linktype=1):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for i, r in enumerate(records):
        if isinstance(r, bytes):
            out += struct.pack("<IIII", 1700000000, i, len(r), len(r)) + r
        else:
            out += r[0]  # raw bytes (a hostile header)
    return out


def block(btype, body, trailer=None):
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n if trailer is None else trailer)


def shb():
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype, snaplen=0):
    return block(1, struct.pack("<HHI", linktype, 0, snaplen) + struct.pack("<HH", 0, 0))


def epb(iface, frame, caplen=None, ts=1700000000000000):
    cl = len(frame) if caplen is None else caplen
    return block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, cl, len(frame)) + frame)


def pcapng(blocks):
    return shb() + idb(1) + b"".join(blocks)


HOSTILE = {
    # libpcap rejects a caplen above 262144 after reading the record header; a
    # well-formed record placed where its data would be is what it reads next.
    "pcap_caplen_over_max": pcap(GOOD + [(struct.pack("<IIII", 1, 0, 300000, 300000),), SMUGGLED]),
    "pcapng_caplen_past_block": pcapng([epb(0, g) for g in GOOD] + [epb(0, GOOD[0], caplen=1400), epb(0, SMUGGLED)]),
    "pcapng_no_such_interface": pcapng([epb(0, g) for g in GOOD] + [epb(7, GOOD[0]), epb(0, SMUGGLED)]),
    "pcapng_length_mismatch": pcapng([epb(0, g) for g in GOOD] +
                                     [block(6, struct.pack("<IIIII", 0, 0, 0, 60, 60) + GOOD[0][:60], trailer=4096),
                                      epb(0, SMUGGLED)]),
}

tmp = tempfile.mkdtemp(prefix="rxinto-reader-")


def write(name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def tshark_count(path):
    p = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True)
    return len([l for l in p.stdout.splitlines() if l.strip()])


def streams_have(d, needle):
    if not os.path.isdir(d):
        return False
    for fn in os.listdir(d):
        if fn.endswith(".bin"):
            with open(os.path.join(d, fn), "rb") as f:
                if needle in f.read():
                    return True
    return False


def replay(args, label, stdin=None, timeout=120):
    out = os.path.join(tmp, label.replace(" ", "_") + "-streams")
    shutil.rmtree(out, ignore_errors=True)
    js = os.path.join(tmp, label.replace(" ", "_") + ".json")
    p = subprocess.run([RXINTO, "--stats-json", js] + COMMON + ["--streams-dir", out] + args,
                       capture_output=True, timeout=timeout, stdin=stdin)
    stats = rxtest.read_json(js)
    check(p.returncode == 0, f"{label}: exit 0 (got {p.returncode}: {p.stderr[-500:]!r})")
    if stats is not None:
        acc = stats.get("accounting", {})
        check(acc.get("accounted") == acc.get("rx_packets") == stats["rx_packets"],
              f"{label}: every packet accounted for once {acc}")
    return p, stats, out


try:
    for name, data in HOSTILE.items():
        @case(f"hostile_{name}")
        def _(name=name, data=data):
            path = write(name + (".pcapng" if name.startswith("pcapng") else ".pcap"), data)
            want = tshark_count(path)
            check(want == len(GOOD), f"{name}: tshark reads the {len(GOOD)} good records ({want})")
            for reader, args in (("rxinto", ["--pcap", path]),
                                 ("net_pcap", ["--vdev", f"net_pcap0,rx_pcap={path}"])):
                counts = set()
                for run in range(2):  # the same every time
                    p, st, out = replay(args, f"{name} {reader} {run}")
                    if st is None:
                        check(False, f"{name} {reader}: stats written")
                        continue
                    counts.add(st["rx_packets"])
                    check(st["rx_packets"] == want, f"{name} {reader}: rx_packets {st['rx_packets']} == tshark {want}")
                    check(not streams_have(out, b"SMUGGLED"), f"{name} {reader}: no SMUGGLED byte in any stream file")
                    check(streams_have(out, b"GOODDATA"), f"{name} {reader}: the good records' bytes are there")
                    check(st["stop_reason"] == "end_of_capture", f"{name} {reader}: ends by itself ({st['stop_reason']})")
                    c = st["captures"][0]
                    check(not c["complete"] and c["stop_record"] >= len(GOOD) + 1,
                          f"{name} {reader}: the capture says where it stopped {c}")
                    notes = " ".join(st["notes"])
                    check("byte offset" in notes, f"{name} {reader}: a note names the byte offset ({notes[:300]})")
                check(len(counts) == 1, f"{name} {reader}: deterministic counts {counts}")

    @case("pcap_caplen_over_snaplen_stops_rxinto")
    def _():
        # libpcap cuts such a record to the snaplen and goes on; rxinto's reader
        # does not trust the file past it and says so.
        path = write("oversnap.pcap", pcap(GOOD + [GOOD[0]], snaplen=100))
        p, st, _ = replay(["--pcap", path], "oversnap")
        if st:
            check(st["rx_packets"] == 0 and st["captures"][0]["stop_reason"] == "caplen_over_snaplen",
                  f"caplen over snaplen: stops at record 1 {st['captures'][0]}")

    @case("streams_pipes_and_odd_paths")
    def _():
        gen = rxtest.app(BUILD, "rxinto-gen")
        ref = os.path.join(tmp, "ref.pcap")
        subprocess.run([gen, "--out", ref, "--flows", "5"], check=True, capture_output=True)
        _, base, _ = replay(["--pcap", ref], "mapped")
        if base is None:
            return
        odd = write("a=b,c d.pcap", open(ref, "rb").read())
        _, st, _ = replay(["--pcap", odd], "odd path")
        check(st is not None and st["rx_packets"] == base["rx_packets"],
              f"a path with '=' ',' and a space replays ({st and st['rx_packets']})")
        with open(ref, "rb") as f:
            _, st, _ = replay(["--pcap", "-"], "stdin file", stdin=f)  # a regular file: mapped
        check(st is not None and st["rx_packets"] == base["rx_packets"],
              f"--pcap - < FILE reads standard input ({st and st['rx_packets']})")
        cat = subprocess.Popen(["cat", ref], stdout=subprocess.PIPE)
        _, st, _ = replay(["--pcap", "-"], "stdin pipe", stdin=cat.stdout)
        cat.wait()
        check(st is not None and st["rx_packets"] == base["rx_packets"] and
              st["ports"][0]["driver"].endswith("(stream)"),
              f"cat FILE | rxinto --pcap - streams standard input ({st and (st['rx_packets'], st['ports'][0]['driver'])})")
        # Process substitution: a pipe named /dev/fd/N, written slowly by a child.
        r, w = os.pipe()
        writer = subprocess.Popen(["sh", "-c", f"head -c 3000 {ref}; sleep 0.3; tail -c +3001 {ref}"],
                                  stdout=w)
        os.close(w)
        p = subprocess.run([RXINTO, "--stats-json", os.path.join(tmp, "pipe.json")] + COMMON +
                           ["--pcap", f"/dev/fd/{r}"], capture_output=True, pass_fds=(r,), timeout=60)
        os.close(r)
        writer.wait()
        st = rxtest.read_json(os.path.join(tmp, "pipe.json"))
        check(p.returncode == 0 and st is not None and st["rx_packets"] == base["rx_packets"],
              f"a pipe written in two parts replays whole ({p.returncode} {st and st['rx_packets']})")

    @case("net_pcap_on_a_fifo_is_a_live_port")
    def _():
        # net_pcap reads a FIFO as it comes. Before, rxinto scanned the capture
        # first to count its records, took the FIFO's bytes itself (a FIFO has
        # one reader), and net_pcap's own open then blocked until a signal
        # ended the run with no port.
        gen = rxtest.app(BUILD, "rxinto-gen")
        ref = os.path.join(tmp, "fifo-ref.pcap")
        subprocess.run([gen, "--out", ref, "--flows", "5"], check=True, capture_output=True)
        _, base, _ = replay(["--pcap", ref], "fifo reference")
        fifo = os.path.join(tmp, "live.fifo")
        os.mkfifo(fifo)
        js = os.path.join(tmp, "fifo.json")
        p = subprocess.Popen([RXINTO, "--stats-json", js, "--in-memory"] + COMMON +
                             ["--vdev", f"net_pcap_f,rx_pcap={fifo}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with open(fifo, "wb") as f:  # waits for net_pcap to open it
            f.write(open(ref, "rb").read())
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        st = rxtest.read_json(js)
        check(p.returncode == 0 and st is not None and base is not None and
              st["rx_packets"] == base["rx_packets"],
              f"net_pcap on a FIFO receives the whole capture ({p.returncode}"
              f" {st and st['rx_packets']} of {base and base['rx_packets']}: {err[-300:]!r})")
        check(st is not None and any("not a regular file" in n for n in st["notes"]),
              f"the summary says the FIFO is read as a live port ({st and st['notes']})")

    @case("link_types_rxinto_does_not_parse")
    def _():
        # pcapng: Ethernet on interface 0, 802.11 (105) on interface 1; pcap of user type 147.
        mixed = shb() + idb(1) + idb(105) + b"".join(epb(0, g) for g in GOOD) + epb(1, SMUGGLED) + epb(1, SMUGGLED)
        path = write("mixed.pcapng", mixed)
        _, st, out = replay(["--pcap", path], "mixed link types")
        if st:
            check(st["accounting"].get("unparsed_link_type") == 2,
                  f"mixed: 2 frames of link type 105 counted {st['accounting']}")
            check(st["drops"].get("unparsed_link_type") == 2, "mixed: in the drops too")
            check(not streams_have(out, b"SMUGGLED") and streams_have(out, b"GOODDATA"),
                  "mixed: 802.11 frames never reach a stream, Ethernet ones do")
        user = write("user.pcap", pcap(GOOD, linktype=147))
        _, st, out = replay(["--pcap", user], "user link type")
        if st:
            check(st["accounting"].get("unparsed_link_type") == len(GOOD) and
                  not streams_have(out, b"GOODDATA"),
                  f"user 147: every frame counted as unparsed, no stream {st['accounting']}")
            check("never reach" in " ".join(st["notes"]), f"user 147: the note says so {st['notes']}")

    @case("several_offline_runs_at_once")
    def _():
        gen = rxtest.app(BUILD, "rxinto-gen")
        ref = os.path.join(tmp, "many.pcap")
        subprocess.run([gen, "--out", ref, "--flows", "50", "--c2s-bytes", "20000"], check=True,
                       capture_output=True)
        # No --in-memory: before, every replay shared the prefix "rxinto" and the
        # second one failed with "EAL initialisation failed (Success)".
        procs = [subprocess.Popen([RXINTO, "--pcap", ref, "--no-progress"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(4)]
        rcs = [(p.wait(timeout=120), p.stderr.read().decode()[-300:]) for p in procs]
        check(all(rc == 0 for rc, _ in rcs), f"four replays side by side all exit 0 {rcs}")

    @case("taken_prefix_names_its_holder")
    def _():
        prefix = f"rxreader{os.getpid()}"
        first = subprocess.Popen([RXINTO, "--vdev", "net_null0,size=64", "--file-prefix", prefix,
                                  "--duration", "20", "--no-progress", "--hugepages", "no"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(2.5)
            p = subprocess.run([RXINTO, "--vdev", "net_null1,size=64", "--file-prefix", prefix,
                                "--duration", "1", "--no-progress", "--hugepages", "no"],
                               capture_output=True, text=True, timeout=60)
            check(p.returncode == 1 and f"pid {first.pid}" in p.stderr and "--file-prefix" in p.stderr
                  and "(Success)" not in p.stderr,
                  f"second run on a taken prefix: exit 1 naming pid {first.pid} ({p.returncode}: {p.stderr[-400:]})")
        finally:
            first.terminate()
            rxtest.communicate(first, 30)

    @case("memory_at_its_maximum")
    def _():
        p = subprocess.run([RXINTO, "--memory", "1048576", "--vdev", "net_null0,size=64", "--duration", "1",
                            "--no-progress", "--in-memory"], capture_output=True, text=True, timeout=120)
        check(p.returncode in (0, 1) and p.returncode >= 0,
              f"--memory 1048576: no crash (exit {p.returncode})")
        if p.returncode == 1:
            check("--memory" in p.stderr, f"--memory 1048576: refused with a reason ({p.stderr[-300:]})")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(rxtest.summary("reader"))
