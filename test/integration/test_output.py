#!/usr/bin/env python3
"""Stream and capture output, and what it never does on a worker.

- No system call on the worker lcore over a replay with -w, rotation and
  --streams-dir (strace -f, the worker's thread id from --stats-json): only
  the ones EAL itself makes to start the thread and launch its job.
- --streams-dir is the user's directory and nothing else: a link planted under
  a stream's name (or index.jsonl) is never followed; a directory that is not
  empty is refused (exit 2) unless --streams-dir-overwrite, which removes only
  an earlier run's output.
- The index says what is on disk: with the open-files limit far below the
  number of streams every file is complete; on a full file system `bytes` is
  what each file holds and the rest is listed as `lost`; a SYN-only
  connection makes no file.
- Bytes the capture holds are delivered: a late retransmission of an
  ACK-proven hole fills it in a replay (the gap grace of a file replay lasts as
  long as memory allows; --gap-grace bounds it), and a connection picked up
  mid-stream whose first segment was out of order starts at the earlier data.

Run as root (mounts a small tmpfs). python3 test_output.py BUILD_DIR [SOURCE_DIR] [--only NAME]
"""
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402
from rxtest import check  # noqa: E402

BUILD, SOURCE, ONLY = rxtest.args()
RXINTO = rxtest.app(BUILD, "rxinto")
GEN = rxtest.app(BUILD, "rxinto-gen")
case = rxtest.case_decorator(ONLY, timed=True)
COMMON = ["--no-progress"]


# ---------------------------------------------------------------------------
# hand-made TCP captures

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    """Ethernet + IPv4 + TCP (no options) with valid checksums."""
    s, d = bytes(src), bytes(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                      65535, 0, 0) + payload
    ph = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02" + b"\x08\x00" + ip + tcp


SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08
C, S = (10, 0, 0, 1), (10, 0, 0, 2)


def write_pcap(path, frames, t0=1_700_000_000 * 10**9):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for i, fr in enumerate(frames):
            t = t0 + i * 1000
            f.write(struct.pack("<IIII", t // 10**9, t % 10**9, len(fr), len(fr)) + fr)


def conversation(data_c2s, isn_c=1000, isn_s=5000, handshake=True, order=None, extra_acks=0,
                 fin=True):
    """Frames of one connection: handshake, data c2s in segments (in `order` when
    given, a list of segment indexes), then the server's ACK, `extra_acks` more
    server ACKs, and a FIN exchange."""
    f = []
    if handshake:
        f.append(tcp_frame(C, S, 40000, 80, isn_c, 0, SYN))
        f.append(tcp_frame(S, C, 80, 40000, isn_s, isn_c + 1, SYN | ACK))
        f.append(tcp_frame(C, S, 40000, 80, isn_c + 1, isn_s + 1, ACK))
    segs = []
    off = 0
    for chunk in data_c2s:
        segs.append((off, chunk))
        off += len(chunk)
    for i in (order if order is not None else range(len(segs))):
        o, chunk = segs[i]
        f.append(tcp_frame(C, S, 40000, 80, isn_c + 1 + o, isn_s + 1, ACK | PSH, chunk))
    return f, segs, off


def run(args, d, timeout=120, **kw):
    return rxtest.run_rxinto(RXINTO, args + COMMON, timeout=timeout, stats_dir=d, **kw)


def index_of(d):
    with open(os.path.join(d, "index.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]


def gen(path, opts, truth=None):
    argv = [GEN, "--out", path] + opts + (["--truth", truth] if truth else [])
    g = subprocess.run(argv, capture_output=True, text=True)
    check(g.returncode == 0, f"rxinto-gen {opts}: exit 0 ({g.stderr})")


def truth_bytes(truth_dir):
    """{(src, sport, dst, dport): bytes delivered} from rxinto-gen's truth."""
    out = {}
    for l in open(os.path.join(truth_dir, "truth.jsonl")):
        t = json.loads(l)
        data = open(os.path.join(truth_dir, t["file"]), "rb").read()
        for off, ln in sorted(t["lost"], reverse=True):
            data = data[:off] + data[off + ln:]
        out[(t["src"], t["sport"], t["dst"], t["dport"])] = data
    return out


def file_of(d, e):
    return open(os.path.join(d, e["file"]), "rb").read() if e["file"] is not None else b""


# ---------------------------------------------------------------------------

def main():
    if os.geteuid() != 0:
        print("test_output: needs root (tmpfs mount, strace of a DPDK process)")
        return 77
    tmp = tempfile.mkdtemp(prefix="rxinto-output-")
    try:
        cases(tmp)
        budget_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rxtest.summary("output")


def cases(tmp):
    @case("worker_makes_no_system_call")
    def _():
        if shutil.which("strace") is None:
            check(False, "strace is installed (scripts/setup.sh)")
            return
        if rxtest.sanitized(BUILD):
            # LeakSanitizer refuses to run under ptrace, and the sanitizer
            # runtimes make calls of their own on every thread: the release
            # build answers this question.
            rxtest.skip(f"strace on a {rxtest.sanitized(BUILD)} build")
            return
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        gen(src, ["--flows", "40", "--s2c-bytes", "150000", "--seed", "3", "--reorder", "0.05"])
        trace = os.path.join(d, "trace.txt")
        js = os.path.join(d, "stats.json")
        # One worker lcore (lcores 0-1: main + worker) writing pcapng with
        # rotation and stream files: everything that touches the disk runs
        # on the output thread.
        p = subprocess.run(["strace", "-f", "-qq", "-o", trace, RXINTO, "--pcap", src, "--lcores", "0-1",
                            "-w", os.path.join(d, "cap.pcapng"), "-C", "1", "--streams-dir",
                            os.path.join(d, "st"), "--stats-json", js] + COMMON,
                           capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, f"strace'd run: exit 0 ({p.stderr[-400:]})")
        st = rxtest.read_json(js)
        if st is None:
            check(False, "strace'd run: stats written")
            return
        check(st["capture"]["files"] >= 3, f"-C 1 rotated ({st['capture']['files']} files)")
        check(st["tcp"]["stream_bytes_written"] > 0, "stream bytes written")
        tids = {str(w["tid"]) for w in st["workers"] if w["packets"] > 0}
        check(len(tids) == 1 and "0" not in tids, f"the worker's thread id is reported ({st['workers']})")
        calls = {}
        for line in open(trace):
            parts = line.split(None, 1)
            if len(parts) < 2 or parts[0] not in tids or parts[1].startswith("<..."):
                continue
            name = parts[1].split("(", 1)[0]
            calls[name] = calls.get(name, 0) + 1
        # What EAL does on a worker thread: glibc's thread start (rseq,
        # set_robust_list, rt_sigprocmask), __rte_thread_init (gettid, and
        # access() of /sys for its NUMA node), and rte_eal_remote_launch's
        # handshake (a read of the command and a write of the ack on its
        # pipes, per launch). The file reader (an rx callback) makes none.
        eal = {"rseq", "set_robust_list", "rt_sigprocmask", "gettid", "access", "read", "write"}
        other = {k: v for k, v in calls.items() if k not in eal}
        check(not other, f"the worker makes no system call of its own: {other} (all: {calls})")
        check(calls.get("read", 0) <= 4 and calls.get("write", 0) <= 4,
              f"only EAL's launch handshake reads and writes ({calls})")
        check(sum(calls.values()) <= 16, f"a handful of calls, not one per packet or file ({calls})")

    @case("planted_link_is_not_followed")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        gen(src, ["--flows", "2"])
        victim = os.path.join(d, "victim.txt")
        with open(victim, "w") as f:
            f.write("precious\n")
        out = os.path.join(d, "st")
        os.mkdir(out)
        os.symlink(victim, os.path.join(out, "0-c2s.bin"))
        os.symlink(victim, os.path.join(out, "index.jsonl"))
        p, _ = run(["--pcap", src, "--streams-dir", out], d)
        check(p.returncode == 2, f"a directory with entries is refused: exit 2 ({p.returncode})")
        check("not empty" in p.stderr and "--streams-dir-overwrite" in p.stderr,
              f"it says why and what to do ({p.stderr.strip()[-300:]})")
        p, st = run(["--pcap", src, "--streams-dir", out, "--streams-dir-overwrite"], d)
        check(p.returncode == 0, f"--streams-dir-overwrite: exit 0 ({p.stderr[-300:]})")
        check(open(victim).read() == "precious\n", "the link's target is untouched")
        check(not os.path.islink(os.path.join(out, "0-c2s.bin")) and
              not os.path.islink(os.path.join(out, "index.jsonl")), "the planted links are gone")
        idx = index_of(out)
        check(len(idx) == 4 and all(e["file"] is None or os.path.isfile(os.path.join(out, e["file"]))
                                    for e in idx), f"a complete output instead ({len(idx)} lines)")

    @case("overwrite_removes_only_an_earlier_run")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        many, few = os.path.join(d, "many.pcap"), os.path.join(d, "few.pcap")
        gen(many, ["--flows", "6", "--seed", "5"])
        gen(few, ["--flows", "2", "--seed", "6"])
        out = os.path.join(d, "st")
        p, _ = run(["--pcap", many, "--streams-dir", out], d)
        check(p.returncode == 0, f"first run: exit 0 ({p.stderr[-300:]})")
        first = set(os.listdir(out))
        p, _ = run(["--pcap", few, "--streams-dir", out, "--streams-dir-overwrite"], d)
        check(p.returncode == 0, f"second run: exit 0 ({p.stderr[-300:]})")
        idx = index_of(out)
        named = {e["file"] for e in idx if e["file"] is not None} | {"index.jsonl"}
        check(set(os.listdir(out)) == named,
              f"nothing of the earlier run is left beside the new index ({sorted(set(os.listdir(out)) - named)})")
        check(len(first) > len(named), "the earlier run had more files")
        with open(os.path.join(out, "notes.txt"), "w") as f:
            f.write("mine\n")
        p, _ = run(["--pcap", few, "--streams-dir", out, "--streams-dir-overwrite"], d)
        check(p.returncode == 2 and "notes.txt" in p.stderr,
              f"a file that is not rxinto's output is never removed: exit 2 naming it ({p.returncode}: {p.stderr[-200:]})")
        check(os.path.exists(os.path.join(out, "notes.txt")), "notes.txt is still there")

    @case("open_files_limit")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src, truth = os.path.join(d, "in.pcap"), os.path.join(d, "truth")
        seq = os.path.join(d, "seq.pcap")
        gen(seq, ["--flows", "300", "--c2s-bytes", "3000", "--s2c-bytes", "6000", "--seed", "8",
                  "--ipv6-share", "0"], truth)
        # Every connection open at once: a frame of each in turn (each keeps its order).
        _, frames = rxtest.read_pcap(seq)
        by_conn = {}
        for fr in frames:
            ports = tuple(sorted(struct.unpack("!HH", fr.data[34:38])))
            by_conn.setdefault(ports, []).append(fr.data)
        queues = list(by_conn.values())
        mixed = []
        while any(queues):
            for q in queues:
                if q:
                    mixed.append(q.pop(0))
        write_pcap(src, mixed)
        out = os.path.join(d, "st")

        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))
        p, st = run(["--pcap", src, "--streams-dir", out], d, preexec_fn=low_limit)
        check(p.returncode == 0, f"ulimit -n 96, 600 streams: exit 0 ({p.stderr[-300:]})")
        if st is None:
            return
        want = truth_bytes(truth)
        idx = index_of(out)
        bad = [e for e in idx if file_of(out, e) != want.get((e["src"], e["sport"], e["dst"], e["dport"]))
               or e["bytes"] != len(file_of(out, e)) or e["lost"]]
        check(len(idx) == 600 and not bad, f"every file complete, the index exact ({len(idx)} lines, {len(bad)} bad)")
        check(st["tcp"]["stream_files_reopened"] > 0,
              f"descriptors were closed and reopened under the limit ({st['tcp']['stream_files_reopened']})")
        check(st["tcp"]["stream_bytes_lost"] == 0 and st["tcp"]["stream_write_errors"] == 0, "nothing lost")

    @case("full_file_system")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src, truth = os.path.join(d, "in.pcap"), os.path.join(d, "truth")
        gen(src, ["--flows", "8", "--s2c-bytes", "400000", "--seed", "9"], truth)
        mnt = os.path.join(d, "mnt")
        os.mkdir(mnt)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], capture_output=True, text=True)
        if m.returncode != 0:
            check(False, f"mount a 1 MiB tmpfs ({m.stderr.strip()})")
            return
        try:
            out = os.path.join(mnt, "st")
            p, st = run(["--pcap", src, "--streams-dir", out], d)
            check(p.returncode == 0, f"a full file system: exit 0 ({p.stderr[-300:]})")
            if st is None:
                return
            want = truth_bytes(truth)
            idx = index_of(out)
            on_disk = sum(len(file_of(out, e)) for e in idx)
            lost = sum(ln for e in idx for _, ln in e["lost"])
            check(all(e["bytes"] == len(file_of(out, e)) for e in idx), "`bytes` is what each file holds")
            check(all(e["bytes"] + sum(ln for _, ln in e["lost"]) == e["delivered"] for e in idx),
                  "bytes + lost == delivered, per direction")
            check(sum(e["delivered"] for e in idx) == sum(len(v) for v in want.values()),
                  "delivered == what the capture holds")
            check(lost > 0 and st["tcp"]["stream_bytes_lost"] == lost and st["tcp"]["stream_write_errors"] > 0,
                  f"the loss is counted ({lost} lost, stats {st['tcp']['stream_bytes_lost']}, "
                  f"{st['tcp']['stream_write_errors']} write errors)")
            # What is in a file is the stream with the lost ranges cut out.
            ok = True
            for e in idx:
                data = want[(e["src"], e["sport"], e["dst"], e["dport"])]
                for off, ln in sorted(e["lost"], reverse=True):
                    data = data[:off] + data[off + ln:]
                ok = ok and data == file_of(out, e)
            check(ok, "each file == the stream minus its lost ranges")
            check(on_disk <= 1 << 20, f"nothing beyond the file system ({on_disk} bytes)")
        finally:
            subprocess.run(["umount", mnt], capture_output=True)

    @case("syn_only_connection_has_no_file")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        frames = [tcp_frame(C, S, 40001, 80, 7, 0, SYN), tcp_frame(C, S, 40001, 80, 7, 0, SYN)]
        data, _, _ = conversation([b"hello world"])
        write_pcap(src, frames + data)
        out = os.path.join(d, "st")
        p, st = run(["--pcap", src, "--streams-dir", out], d)
        check(p.returncode == 0, f"exit 0 ({p.stderr[-300:]})")
        idx = index_of(out)
        syn_only = [e for e in idx if 40001 in (e["sport"], e["dport"])]
        check(len(syn_only) == 2 and all(e["file"] is None and e["bytes"] == 0 for e in syn_only),
              f"two index lines, no file ({syn_only})")
        check(sorted(os.listdir(out)) == sorted(["index.jsonl"] + [e["file"] for e in idx if e["file"]]),
              f"no empty files ({sorted(os.listdir(out))})")

    @case("late_retransmission_fills_an_acked_hole")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        chunks = [bytes([65 + i]) * 100 for i in range(3)]
        f, segs, total = conversation(chunks, order=[0, 2])  # segment 1 missing for now
        # The server ACKs everything (the hole was on the wire), then 80 more
        # packets go by (bursts of 32: the reader has moved on by then), then
        # the retransmission of segment 1, then FIN.
        f.append(tcp_frame(S, C, 80, 40000, 5001, 1001 + total, ACK))
        for _ in range(80):
            f.append(tcp_frame(S, C, 80, 40000, 5001, 1001 + total, ACK))
        f.append(tcp_frame(C, S, 40000, 80, 1001 + 100, 5001, ACK | PSH, chunks[1]))
        f.append(tcp_frame(C, S, 40000, 80, 1001 + total, 5001, ACK | FIN))
        f.append(tcp_frame(S, C, 80, 40000, 5001, 1002 + total, ACK | FIN))
        write_pcap(src, f)
        for grace, want, gaps in (("auto", b"".join(chunks), []), ("32", chunks[0] + chunks[2], [[100, 100]])):
            out = os.path.join(d, "st-" + grace)
            p, _ = run(["--pcap", src, "--streams-dir", out, "--gap-grace", grace], d)
            check(p.returncode == 0, f"--gap-grace {grace}: exit 0 ({p.stderr[-300:]})")
            c2s = [e for e in index_of(out) if e["dir"] == "c2s"]
            check(len(c2s) == 1 and file_of(out, c2s[0]) == want and c2s[0]["gaps"] == gaps,
                  f"--gap-grace {grace}: {len(want)} bytes, gaps {gaps} "
                  f"({c2s[0]['bytes'] if c2s else None} bytes, gaps {c2s[0]['gaps'] if c2s else None})")

    @case("midstream_pickup_with_an_out_of_order_first_segment")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        src = os.path.join(d, "in.pcap")
        chunks = [b"a" * 300, b"b" * 300, b"c" * 300]
        f, _, total = conversation(chunks, handshake=False, order=[1, 0, 2])
        f.append(tcp_frame(S, C, 80, 40000, 5001, 1001 + total, ACK))
        write_pcap(src, f)
        out = os.path.join(d, "st")
        p, st = run(["--pcap", src, "--streams-dir", out], d)
        check(p.returncode == 0, f"exit 0 ({p.stderr[-300:]})")
        a2b = [e for e in index_of(out) if e["sport"] == 40000]
        check(len(a2b) == 1 and file_of(out, a2b[0]) == b"".join(chunks) and a2b[0]["midstream"],
              f"the earlier data extends the start back: {len(file_of(out, a2b[0])) if a2b else None} of 900 bytes")
        check(st is not None and st["tcp"]["pickup_moved_back"] == 1, "counted (pickup_moved_back)")


def budget_cases(tmp):
    @case("flow_table_inside_the_memory_budget")
    def _():
        d = tempfile.mkdtemp(dir=tmp)
        live = ["--vdev", "net_null0,size=64", "--duration", "0.3", "--no-huge", "--memory", "256"]
        p, _ = run(live + ["--max-flows", "1048576"], d)
        check(p.returncode == 2 and "needs" in p.stderr and "MiB" in p.stderr and "--max-flows" in p.stderr,
              f"a million flows in 256 MiB: refused with the memory it needs ({p.returncode}: {p.stderr.strip()[-300:]})")
        p, st = run(live + ["--max-flows", "65536"], d)
        check(p.returncode == 0, f"65536 flows in 256 MiB: runs ({p.returncode}: {p.stderr.strip()[-300:]})")


if __name__ == "__main__":
    sys.exit(main())
