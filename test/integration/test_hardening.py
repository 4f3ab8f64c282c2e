#!/usr/bin/env python3
"""Integration tests of issue 12 (hardening): what a careless operator or a hostile
input does to the rxinto program.

  non_utf8_paths     a capture path and a --streams-dir that are not UTF-8: the
                     --stats-json and index.jsonl are still valid UTF-8 JSON
  output_paths       an unwritable --stats-json / -w / --streams-dir ends the run
                     before the ports start, exit 2, one clear line (also on a
                     read-only mount, in a private mount namespace)
  two_ports          two capture ports of different link types in one run (one worker,
                     then two behind the dispatcher): every stream of both, exact; a
                     pcapng with one interface per port holding exactly its frames
  dispatch_ring_full a live net_null port feeding a dispatcher whose worker is slow
                     (it shares the dispatcher's CPU): ring-full drops counted, and
                     every other packet reaches the worker
  long_filter        a 1000-clause filter: exit 2 at once, one line saying it is too
                     long for rte_bpf (it took 30 s, then printed 16 kB)
  pdump              DPDK's dpdk-pdump and dpdk-dumpcap attach to a live rxinto
                     (a looping net_pcap port) and capture exactly the input's frames

Usage: test_hardening.py BUILD_DIR SOURCE_DIR [--only NAME]
Standard library only. Exits 0 when every case passes, 1 otherwise.
"""
import glob
import json
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


def read_pcapng_frames(path):
    """(interfaces, frames) of a pcapng file: interfaces = [(linktype, name)], frames =
    [(interface id, captured bytes, original length)]; every enhanced packet block.
    Raises ValueError on a malformed file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x0a\x0d\x0d\x0a":
        raise ValueError(f"{path}: not pcapng")
    e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    ifaces, frames, off = [], [], 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or blen % 4 or off + blen > len(data):
            raise ValueError(f"{path}: bad block length {blen} at {off}")
        body = data[off + 8:off + blen - 4]
        if btype == 1:  # interface description: linktype, then options (if_name = 2)
            name, o = "", 8
            while o + 4 <= len(body):
                code, ln = struct.unpack(e + "HH", body[o:o + 4])
                if code == 0:
                    break
                if code == 2:
                    name = body[o + 4:o + 4 + ln].decode(errors="replace")
                o += 4 + (ln + 3) // 4 * 4
            ifaces.append((struct.unpack(e + "H", body[:2])[0], name))
        elif btype == 6:  # enhanced packet
            if_id, _, _, caplen, origlen = struct.unpack(e + "IIIII", body[:20])
            if 20 + caplen > len(body) or if_id >= len(ifaces):
                raise ValueError(f"{path}: bad enhanced packet block at {off}")
            frames.append((if_id, body[20:20 + caplen], origlen))
        off += blen
    if off != len(data):
        raise ValueError(f"{path}: {len(data) - off} stray bytes at the end")
    return ifaces, frames


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
            rxtest.skip("output_paths: the read-only mount needs root and unshare")
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
                rxtest.skip(f"output_paths: cannot mount a read-only tmpfs: {p.stderr.strip()}")
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


def write_pcap(path, linktype, frames):
    """A microsecond pcap of (ts_ns, bytes) frames."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for ts, data in frames:
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9 // 1000, len(data), len(data)))
            f.write(data)


def ethernet_to_sll(frame):
    """The same packet as a Linux cooked capture (LINKTYPE_LINUX_SLL, 113) frame: the
    14-byte Ethernet header becomes a 16-byte SLL header (packet to us, ARPHRD_ETHER,
    the source MAC, the ethertype)."""
    return struct.pack(">HHH8sH", 0, 1, 6, frame[6:12] + b"\0\0", struct.unpack(">H", frame[12:14])[0]) + frame[14:]


def expect_streams(what, streams_dir, truths):
    """Every direction of every truth (a list of truth directories) is in index.jsonl,
    its file holds exactly the payload, no gap, ended by FIN; nothing else is there."""
    index = [json.loads(l) for l in open(os.path.join(streams_dir, "index.jsonl"))]
    by_tuple = {(e["src"], e["sport"], e["dst"], e["dport"]): e for e in index}
    want = 0
    for tdir in truths:
        for t in (json.loads(l) for l in open(os.path.join(tdir, "truth.jsonl"))):
            want += 1
            key = (t["src"], t["sport"], t["dst"], t["dport"])
            e = by_tuple.get(key)
            if e is None:
                check(False, f"{what}: {key} missing from index.jsonl")
                continue
            with open(os.path.join(tdir, t["file"]), "rb") as f:
                payload = f.read()
            got = b""
            if e.get("file"):
                with open(os.path.join(streams_dir, e["file"]), "rb") as f:
                    got = f.read()
            check(got == payload and e["gaps"] == [] and e["end"] == "fin",
                  f"{what}: {key}: {len(got)} of {len(payload)} bytes, gaps {e['gaps']}, end {e['end']}")
    check(len(index) == want, f"{what}: {len(index)} index lines, {want} directions in the truth")


@case("two_ports")
def two_ports():
    with tempfile.TemporaryDirectory(prefix="rxhard-") as tmp:
        # Port 0: Ethernet, IPv4 only; port 1: Linux SLL, IPv6 only (distinct tuples: the
        # generator numbers flows alike in both).
        a, b_eth, b = (os.path.join(tmp, n) for n in ("a.pcap", "b-eth.pcap", "b-sll.pcap"))
        ta, tb = os.path.join(tmp, "truth-a"), os.path.join(tmp, "truth-b")
        if not (gen(a, "--flows", "5", "--ipv6-share", "0", "--seed", "41", "--reorder", "0.1",
                    "--truth", ta) and
                gen(b_eth, "--flows", "4", "--ipv6-share", "1", "--seed", "42", "--duplicate", "0.1",
                    "--truth", tb)):
            return
        fa = rxtest.read_pcap(a)[1]
        fb = [(f.ts_ns, ethernet_to_sll(f.data)) for f in rxtest.read_pcap(b_eth)[1]]
        write_pcap(b, 113, fb)
        for label, extra in (("one worker", []), ("two workers, dispatcher", ["--workers", "3"])):
            what = f"two_ports ({label})"
            out = os.path.join(tmp, "streams-" + str(len(extra)))
            cap = os.path.join(tmp, f"cap-{len(extra)}.pcapng")
            p, js = rxtest.run_rxinto(RXINTO, ["--pcap", a, "--pcap", b, "--streams-dir", out, "-w", cap]
                                      + extra + EAL_COMMON, timeout=180)
            check(p.returncode == 0 and js is not None, f"{what}: exit 0 ({p.stderr[-400:]})")
            if p.returncode != 0 or js is None:
                continue
            check(("dispatch" in js) == bool(extra), f"{what}: dispatcher {'used' if extra else 'not used'}")
            per_port = [pt["rx_packets"] for pt in js["ports"]]
            check(per_port == [len(fa), len(fb)], f"{what}: per port {per_port} == {[len(fa), len(fb)]}")
            check(sorted(c["linktype"] for c in js["captures"]) == [1, 113],
                  f"{what}: captures {[(c['port'], c['linktype']) for c in js['captures']]}")
            acc = js["accounting"]
            check(acc["accounted"] == acc["rx_packets"] == len(fa) + len(fb) and acc["parse_refused"] == 0,
                  f"{what}: every packet of both ports parsed and accounted {acc}")
            check(js["tcp"]["flows_active"] == 0 and js["mempool"]["in_use_at_end"] == 0,
                  f"{what}: nothing left held")
            expect_streams(what, out, [ta, tb])
            # -w with several workers writes one file per worker: read them all.
            files = sorted(glob.glob(cap[:-len(".pcapng")] + "*.pcapng"))
            per_if = {}
            for fn in files:
                ifaces, frames = read_pcapng_frames(fn)
                check(len(ifaces) == 2, f"{what}: {os.path.basename(fn)}: one interface per port {ifaces}")
                for if_id, data, _ in frames:
                    per_if.setdefault(if_id, []).append(data)
            # With one worker each interface holds its port's frames in order; several
            # workers each hold part of them, so compare as multisets.
            for if_id, want in ((0, [f.data for f in fa]), (1, [d for _, d in fb])):
                got = per_if.get(if_id, [])
                same = got == want if len(files) == 1 else sorted(got) == sorted(want)
                check(same, f"{what}: interface {if_id}: {len(got)} frames, the port's {len(want)}"
                            f" {'in order' if len(files) == 1 else ''}")


@case("dispatch_ring_full")
def dispatch_ring_full():
    # Main lcore, dispatcher and worker all on CPU 0: whenever the scheduler runs the
    # dispatcher, the worker waits, and net_null delivers far more than a ring of 4096
    # holds in one time slice. The worker is slow; the receive queue must not stall and
    # the drops must be counted as dispatch_ring_full, nothing else.
    p, js = rxtest.run_rxinto(RXINTO, ["--vdev", "net_null0,size=64", "--lcores", "0@0,1@0,2@0",
                                       "--dispatch", "yes", "--duration", "3"] + EAL_COMMON, timeout=60)
    check(p.returncode == 0 and js is not None, f"dispatch_ring_full: exit 0 ({p.stderr[-400:]})")
    if js is None:
        return
    d, acc = js.get("dispatch", {}), js["accounting"]
    check(d.get("ring_full", 0) > 0, f"dispatch_ring_full: the ring filled {d}")
    check(js["drops"].get("dispatch_ring_full") == d.get("ring_full"),
          f"dispatch_ring_full: in drops {js['drops'].get('dispatch_ring_full')} == {d.get('ring_full')}")
    check(js["rx_packets"] == d.get("packets", -1) + d.get("ring_full", 0),
          f"dispatch_ring_full: received {js['rx_packets']} == handed over {d.get('packets')} + ring full")
    workers = sum(w["packets"] for w in js["workers"])
    check(workers == d.get("packets"), f"dispatch_ring_full: workers got {workers} == handed over {d.get('packets')}")
    check(acc["accounted"] == acc["rx_packets"] == js["rx_packets"] and acc["dispatch_ring_full"] == d.get("ring_full"),
          f"dispatch_ring_full: every packet accounted {acc}")
    check(js["drops"]["imissed"] == 0 and js["drops"]["rx_nombuf"] == 0,
          f"dispatch_ring_full: no other loss at the port {js['drops']['imissed']} {js['drops']['rx_nombuf']}")
    check(js["mempool"]["in_use_at_end"] == 0 and js["stop_reason"] == "duration",
          f"dispatch_ring_full: every mbuf back, stopped by the duration ({js['stop_reason']})")


@case("long_filter")
def long_filter():
    expr = " or ".join(f"tcp port {i}" for i in range(1, 1001))
    quick_fail(["--pcap", "generated", "--filter", expr], "1000-clause filter", "too long for rte_bpf")


# ---------------------------------------------------------------------------
# DPDK's own capture tools against a running rxinto

def runtime_dir(prefix):
    """DPDK's runtime directory of a file prefix (as EAL derives it)."""
    base = os.environ.get("RUNTIME_DIRECTORY") or (
        "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    return os.path.join(base, "dpdk", prefix)


def cleanup_prefix(prefix):
    """A primary without --in-memory leaves its runtime and hugepage files (the pages
    stay reserved): remove this test's own."""
    shutil.rmtree(runtime_dir(prefix), ignore_errors=True)
    with open("/proc/mounts") as f:
        mounts = [l.split()[1] for l in f if l.split()[2:3] == ["hugetlbfs"]]
    for m in mounts:
        for f in glob.glob(os.path.join(m, prefix + "map_*")):
            try:
                os.unlink(f)
            except OSError:
                pass


def check_frames_of_input(what, got, want_frames, min_count):
    """Every captured frame is byte for byte a frame of the input (none cut, none
    altered), there are at least min_count, and every frame of the input was seen (the
    port loops over the file many times while the tool captures)."""
    want = {bytes(f.data) for f in want_frames}
    check(len(got) >= min_count, f"{what}: {len(got)} frames captured, want >= {min_count}")
    strangers = [i for i, (data, origlen) in enumerate(got) if data not in want or origlen != len(data)]
    check(not strangers, f"{what}: {len(strangers)} of {len(got)} frames are not the input's "
                         f"(first at {strangers[:1]})")
    seen = {data for data, _ in got}
    check(seen == want, f"{what}: {len(want - seen)} of {len(want)} input frames never seen")


@case("pdump")
def pdump():
    pdump_bin, dumpcap_bin = shutil.which("dpdk-pdump"), shutil.which("dpdk-dumpcap")
    if pdump_bin is None or dumpcap_bin is None:
        rxtest.skip("pdump: Debian's dpdk package (dpdk-pdump, dpdk-dumpcap) is not installed")
        return
    prefix = f"rxhard{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="rxhard-") as tmp:
        inp = os.path.join(tmp, "in.pcap")
        if not gen(inp, "--flows", "4", "--seed", "31", "--duplicate", "0", "--c2s-bytes", "3000",
                   "--s2c-bytes", "6000"):
            return
        want = rxtest.read_pcap(inp)[1]
        # A live port that loops over the file (net_pcap infinite_rx): the tools attach
        # while it receives. tx_pcap only gives the port a tx queue that rxinto
        # could configure (dpdk-dumpcap needs one, see below); nothing is sent. The
        # primary needs hugepages and its shared runtime (no --in-memory): secondary
        # processes map its memory through the files of its --file-prefix.
        vdev = f"net_pcap0,rx_pcap={inp},tx_pcap={os.path.join(tmp, 'tx.pcap')},infinite_rx=1"
        stats = os.path.join(tmp, "stats.json")
        # --base-virtaddr: a secondary maps the primary's memory at the same addresses.
        # EAL's default hint (4 GiB) lies in AddressSanitizer's shadow gap, so an ASan
        # build of rxinto puts its memory where the (uninstrumented) tools cannot
        # reserve it ("Cannot preallocate VA space for hugepage memory"); 32 TiB is
        # free in both.
        rx = subprocess.Popen([RXINTO, "--vdev", vdev, "--no-tcp", "--duration", "60", "--hugepages", "yes",
                               "--file-prefix", prefix, "--no-progress", "--stats-json", stats,
                               "--eal", "--base-virtaddr=0x200000000000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            mp = os.path.join(runtime_dir(prefix), "mp_socket")
            t0 = time.time()
            while not os.path.exists(mp) and rx.poll() is None and time.time() - t0 < 20:
                time.sleep(0.1)
            time.sleep(1.0)  # the port is up a moment after the channel
            if rx.poll() is not None:
                out, err = rx.communicate()
                if "hugepages" in err.lower():
                    rxtest.skip(f"pdump: no hugepages for a primary ({err.strip()[-200:]})")
                else:
                    check(False, f"pdump: rxinto ended early: {err[-500:]}")
                return

            # dpdk-pdump: rx only, written as pcap through a net_pcap port of its own.
            # A secondary's attach requests time out when the machine is loaded
            # ("Failed to request vdev from primary", then "No Ethernet ports"):
            # that one failure is tried again, twice at most.
            got_pcap = os.path.join(tmp, "pdump.pcap")
            for attempt in range(3):
                pd = subprocess.Popen([pdump_bin, f"--file-prefix={prefix}", "--", "--pdump",
                                       f"device_id=net_pcap0,queue=*,rx-dev={got_pcap}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                time.sleep(2.0)
                pd.send_signal(signal.SIGINT)
                pd_out = rxtest.communicate(pd, 20)[0]
                if "No Ethernet ports" not in pd_out:
                    break
                print(f"    dpdk-pdump could not attach (attempt {attempt + 1}): the primary did not answer in time")
            check(pd.returncode == 0, f"dpdk-pdump: exit 0, got {pd.returncode}: {pd_out[-600:]}")
            if os.path.exists(got_pcap):
                frames = rxtest.read_pcap(got_pcap, strict=False)[1]
                check_frames_of_input("dpdk-pdump", [(f.data, f.origlen) for f in frames], want, 1000)
            else:
                check(False, f"dpdk-pdump wrote nothing: {pd_out[-600:]}")

            # dpdk-dumpcap asks for rx and tx of every queue (RTE_PDUMP_FLAG_RXTX, no
            # option for rx only in 22.11), and DPDK's pdump server in the primary
            # refuses a port with no tx queue ("number of tx queues cannot be 0"):
            # rxinto gives each live port an idle tx queue for it (TxQueues::idle).
            got_ng = os.path.join(tmp, "dumpcap.pcapng")
            for attempt in range(3):
                dc = subprocess.run([dumpcap_bin, f"--file-prefix={prefix}", "-i", "net_pcap0", "-c", "2000",
                                     "-q", "-w", got_ng], capture_output=True, text=True, timeout=30)
                if "No Ethernet ports" not in dc.stderr:
                    break
                print(f"    dpdk-dumpcap could not attach (attempt {attempt + 1}): the primary did not answer in time")
        finally:
            if rx.poll() is None:
                rx.send_signal(signal.SIGINT)
            out, err = rxtest.communicate(rx, 30)
            cleanup_prefix(prefix)
        check("Cannot find action: mp_pdump" not in err,
              f"pdump: rxinto registers DPDK's pdump server (rte_pdump_init): {err[-400:]}")
        check(rx.returncode == 0, f"pdump: rxinto exit 0, got {rx.returncode}: {err[-400:]}")
        check(dc.returncode == 0, f"dpdk-dumpcap: exit 0, got {dc.returncode}: dumpcap: {dc.stderr[-300:]}"
                                  f" rxinto: {err[-400:]}")
        if dc.returncode == 0:
            ifaces, frames = read_pcapng_frames(got_ng)
            # DPDK 22.11's rte_pcapng names an interface by port number ("dpdk:0").
            check(len(ifaces) == 1 and ifaces[0][1] in ("net_pcap0", "dpdk:0"),
                  f"dpdk-dumpcap: one interface, the port's {ifaces}")
            check_frames_of_input("dpdk-dumpcap", [(d, o) for _, d, o in frames], want, 2000)
        js = rxtest.read_json(stats)
        check(js is not None and js["rx_packets"] > 0, "pdump: rxinto received and wrote its statistics")


sys.exit(rxtest.summary("hardening"))
