#!/usr/bin/env python3
"""Capture-to-pcapng throughput: rxinto (1 and 2 workers) next to tcpdump -w.

A benchmark, not a test: it reports numbers and never judges them. It exits 1
only when it cannot run at all (missing binary, an input it cannot generate).

What it does (as root, about 3-4 minutes with the defaults on a 2-vCPU VM):

  1. mounts a tmpfs (or uses --dir / /dev/shm when mounting is not possible),
  2. writes two inputs into it with rxinto-gen (deterministic pcap files):
       small-64  --mss 64, many flows: small segments plus their ACKs
       bulk-1448 --mss 1448: full-size segments plus their ACKs
  3. for each input, --runs times each (median [min..max]):
       rxinto --pcap IN --no-tcp --in-memory --no-progress --stats-json J
                                                    (1 worker, no -w: the replay's
                                                    own cost, libpcap reading IN)
       rxinto --pcap IN -w TMPFS/out.pcapng --no-tcp --in-memory --no-progress
               --stats-json J                       (1 worker)
       the same with TCP reassembly on (no --no-tcp), and with reassembly on
               plus --streams-dir TMPFS/streams     (1 worker)
       the same with --lcores '(0-3)@(0-1)'          (main, dispatcher and 2
               workers floating over CPUs 0-1; with 2 vCPUs four lcores share
               two CPUs), without and with reassembly (+ --streams-dir)
       tcpdump -r IN -w TMPFS/td.pcap                (libpcap read + write)
       tshark -r IN -w TMPFS/ts.pcapng -F pcapng     (read + pcapng write)
       cp IN TMPFS/copy                              (the I/O floor)
     dpdk-dumpcap is probed against a running rxinto (it is a DPDK secondary
     process and needs the primary to have called rte_pdump_init); dumpcap
     cannot read a file (it captures from interfaces only): skipped.
  4. prints a markdown table (and writes it with --markdown, JSON with --json).

Figures:
  frames written: packets that reached the output file (rxinto: the stats
      JSON's capture.packets; the replay is not paced, so packets rxinto could
      not take are dropped -- rx_nombuf, dispatch ring full -- and shown as
      "dropped"); tcpdump/tshark/cp: every frame of the input.
  Mpps, Gbit/s: frames written and their frame bytes x 8 (no preamble/IFG)
      per second. rxinto: over the stats JSON's duration_s (first to last
      packet of the replay, EAL start-up and file close excluded); the
      others: over the wall time of the process.
  wall s: the whole process, start to exit (rxinto: includes EAL start-up,
      hugepage mapping and closing the files).
  cpu (JSON only): user + system CPU time of the process, from getrusage; not
      in the table, as a KVM guest may under-report it (on the VM of
      docs/benchmarks.md a busy Python loop shows 0.45 CPU s per wall second).
  x tcpdump: this row's Mpps / tcpdump's Mpps, and tcpdump's wall / this
      row's wall, on the same input in the same run.

Usage:
  sudo python3 test/bench/bench_capture.py [--build DIR] [--runs 5] [--json F] [--markdown F]
  sudo python3 test/bench/bench_capture.py --quick   # small inputs, 1 run: harness check
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def log(*a):
    print("bench_capture:", *a, file=sys.stderr, flush=True)


def find_bin(explicit, build, name, needs=()):
    """explicit path, else BUILD/app/NAME, else build/app/NAME of this tree; a
    candidate whose --help lacks one of `needs` (a stale build) is passed over."""
    cands = [explicit] if explicit else [
        os.path.join(build, "app", name) if build else None,
        os.path.join(ROOT, "build", "app", name),
    ]
    for c in cands:
        if not (c and os.path.isfile(c) and os.access(c, os.X_OK)):
            continue
        if needs:
            h = subprocess.run([c, "--help"], capture_output=True, text=True, errors="replace")
            missing = [n for n in needs if n not in h.stdout + h.stderr]
            if missing:
                log("%s: no %s in --help (stale build?), not used" % (c, ", ".join(missing)))
                continue
        return os.path.abspath(c)
    return None


# ---------------------------------------------------------------- tmpfs ---

class Scratch:
    """A tmpfs of its own when we can mount one; else a directory in /dev/shm."""

    def __init__(self, size, explicit):
        self.mounted = False
        self.kind = ""
        if explicit:
            os.makedirs(explicit, exist_ok=True)
            self.path = os.path.abspath(explicit)
            self.kind = "given directory (" + fs_type(self.path) + ")"
            self.owned = False
            return
        self.owned = True
        self.path = tempfile.mkdtemp(prefix="rxinto-bench-capture-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=1777" % size,
                            "tmpfs", self.path], capture_output=True, text=True)
        if r.returncode == 0:
            self.mounted = True
            self.kind = "tmpfs mounted for the run (size=%s)" % size
            return
        os.rmdir(self.path)
        self.path = tempfile.mkdtemp(prefix="rxinto-bench-capture-", dir="/dev/shm")
        self.kind = "/dev/shm (%s; mount failed: %s)" % (fs_type("/dev/shm"),
                                                         r.stderr.strip() or r.returncode)

    def close(self, keep):
        if keep:
            log("kept", self.path)
            return
        if self.mounted:
            subprocess.run(["umount", self.path], check=False)
            os.rmdir(self.path)
        elif self.owned:
            shutil.rmtree(self.path, ignore_errors=True)


def fs_type(path):
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def clear(paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.exists(p):
            os.unlink(p)


def clear_prefix(d, prefix):
    for n in os.listdir(d):
        if n.startswith(prefix):
            p = os.path.join(d, n)
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)


# ---------------------------------------------------------------- runs ----

def timed(cmd, timeout):
    """Run cmd; return (rc, wall s, cpu s, stdout+stderr tail)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace", timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return r.returncode, wall, cpu, r.stdout[-2000:]


def pcap_info(path):
    """frames and frame bytes (orig_len) of a classic pcap, read with the stdlib."""
    import struct
    frames = byts = 0
    with open(path, "rb") as f:
        gh = f.read(24)
        magic = struct.unpack("<I", gh[:4])[0]
        endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        hdr = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            _, _, incl, orig = hdr.unpack(h)
            f.seek(incl, 1)
            frames += 1
            byts += orig
    return frames, byts


class Row:
    def __init__(self, inp, tool, workers, note=""):
        self.input, self.tool, self.workers, self.note = inp, tool, workers, note
        self.samples = []   # dicts: wall, cpu, written, wbytes, span, dropped
        self.skipped = None
        self.errors = []

    def add(self, **s):
        self.samples.append(s)

    @staticmethod
    def _mmm(vals):
        if not vals:
            return None
        return statistics.median(vals), min(vals), max(vals)

    def mpps(self):
        return self._mmm([s["written"] / s["span"] / 1e6 for s in self.samples if s["span"] > 0])

    def gbps(self):
        return self._mmm([s["wbytes"] * 8 / s["span"] / 1e9 for s in self.samples if s["span"] > 0])

    def wall(self):
        return self._mmm([s["wall"] for s in self.samples])

    def cpu(self):
        return self._mmm([s["cpu"] for s in self.samples])

    def dropped(self):
        return self._mmm([s["dropped"] for s in self.samples])

    def written(self):
        return self._mmm([s["written"] for s in self.samples])

    def as_json(self):
        return {"input": self.input, "tool": self.tool, "workers": self.workers,
                "note": self.note, "skipped": self.skipped, "errors": self.errors,
                "samples": self.samples}


def run_rxinto(rx, inp_path, frames, scratch, workers, tcp, streams, write, runs, warmup):
    mode = "no reassembly" if not tcp else ("reassembly + --streams-dir" if streams
                                            else "reassembly, no --streams-dir")
    if not write:
        mode += ", no -w: replay only"
    row = Row(None, "rxinto (" + mode + ")", workers)
    out = os.path.join(scratch, "out.pcapng")
    sdir = os.path.join(scratch, "streams")
    js = os.path.join(scratch, "stats.json")
    cmd = [rx, "--pcap", inp_path] + (["-w", out] if write else []) + [
           "--in-memory", "--no-progress", "--stats-json", js]
    if not tcp:
        cmd.append("--no-tcp")
    if streams:
        cmd += ["--streams-dir", sdir]
    if workers == 2:
        cmd += ["--lcores", "(0-3)@(0-1)"]
    row.cmd = cmd
    for i in range(warmup + runs):
        clear_prefix(scratch, "out")
        clear([sdir, js])
        rc, wall, cpu, tail = timed(cmd, 300)
        if rc != 0 or not os.path.exists(js):
            row.errors.append("exit %d: %s" % (rc, tail.strip().splitlines()[-1:] or ""))
            continue
        with open(js) as f:
            st = json.load(f)
        cap = st.get("capture", {})
        if not write:  # nothing written: count what the worker(s) received
            cap = {"packets": st.get("rx_packets", 0), "bytes": st.get("rx_bytes", 0)}
        drops = st.get("drops", {})
        if i < warmup:
            continue
        row.add(wall=wall, cpu=cpu, span=st.get("duration_s", 0.0),
                rx=st.get("rx_packets", 0), written=cap.get("packets", 0),
                wbytes=cap.get("bytes", 0), file_bytes=cap.get("file_bytes", 0),
                files=cap.get("files", 0),
                dropped=frames - cap.get("packets", 0),
                rx_nombuf=drops.get("rx_nombuf", 0),
                ring_full=drops.get("dispatch_ring_full", 0),
                write_failed=drops.get("capture_write_failed", 0),
                hugepages=st.get("hugepages"),
                mempool=st.get("mempool", {}).get("size"))
    clear_prefix(scratch, "out")
    clear([sdir, js])
    return row


def run_plain(name, cmd, out, frames, fbytes, runs, warmup, workers="-", note=""):
    row = Row(None, name, workers, note)
    row.cmd = cmd
    for i in range(warmup + runs):
        clear([out])
        rc, wall, cpu, tail = timed(cmd, 300)
        if rc != 0:
            row.errors.append("exit %d: %s" % (rc, tail.strip().splitlines()[-1:] or ""))
            continue
        if i < warmup:
            continue
        row.add(wall=wall, cpu=cpu, span=wall, written=frames, wbytes=fbytes,
                dropped=0, file_bytes=os.path.getsize(out) if os.path.exists(out) else 0)
    clear([out])
    return row


def probe_dpdk_dumpcap(rx, scratch):
    """Start rxinto as a DPDK primary (file prefix, hugepages) on a net_null port
    and attach dpdk-dumpcap to it. Returns None if dpdk-dumpcap captured, else
    the reason it is skipped."""
    dd = shutil.which("dpdk-dumpcap")
    if not dd:
        return "dpdk-dumpcap not installed"
    prefix = "rxbc%d" % os.getpid()
    sock = "/var/run/dpdk/%s/mp_socket" % prefix
    p = subprocess.Popen([rx, "--vdev", "net_null0,size=64", "--no-tcp", "--no-progress",
                          "--duration", "6", "--file-prefix", prefix, "--hugepages", "yes"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         errors="replace")
    try:
        t0 = time.time()
        while not os.path.exists(sock) and p.poll() is None and time.time() - t0 < 5:
            time.sleep(0.05)
        time.sleep(0.5)
        if p.poll() is not None:
            return "rxinto did not start as a primary with hugepages: " + \
                (p.stdout.read().strip().splitlines() or ["?"])[-1]
        out = os.path.join(scratch, "dd.pcapng")
        try:
            r = subprocess.run([dd, "--file-prefix", prefix, "-i", "0", "-w", out,
                                "-c", "1000", "-q"], capture_output=True, text=True,
                               errors="replace", timeout=15)
            text = r.stdout + r.stderr
            ok = r.returncode == 0
        except subprocess.TimeoutExpired:
            text, ok = "timed out", False
        clear([out])
    finally:
        if p.poll() is None:
            p.terminate()
        try:
            prim = p.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            prim = p.communicate()[0]
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    if ok:
        return None
    if "mp_pdump" in prim or "mp_pdump" in text:
        return ("rxinto does not initialise pdump (rte_pdump_init): the primary answers "
                "'EAL: Cannot find action: mp_pdump', dpdk-dumpcap: 'Packet dump enable failed'")
    last = [l for l in text.strip().splitlines() if l.strip()]
    return "dpdk-dumpcap failed: " + (last[-1] if last else "?")


# ---------------------------------------------------------------- main ----

def fmt3(t, nd=2):
    if t is None:
        return "-"
    m, lo, hi = t
    return "%.*f [%.*f..%.*f]" % (nd, m, nd, lo, nd, hi)


def machine_note():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("model name"):
                    cpu = l.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.0f GiB" % (int(f.readline().split()[1]) / 1048576)
    except OSError:
        pass

    def ver(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    return {"cpu": cpu, "vcpus": os.cpu_count(), "memory": mem,
            "kernel": platform.release(),
            "tcpdump": ver(["tcpdump", "--version"]),
            "tshark": ver(["tshark", "--version"]),
            "dpdk-dumpcap": ver(["dpdk-dumpcap", "-v"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per row (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    ap.add_argument("--quick", action="store_true",
                    help="small inputs, 1 run, no warm-up: checks the harness only")
    ap.add_argument("--build", help="build directory holding app/rxinto and app/rxinto-gen "
                    "(default: build/ of this tree)")
    ap.add_argument("--rxinto", help="rxinto binary (default BUILD/app/rxinto)")
    ap.add_argument("--gen", help="rxinto-gen binary (default BUILD/app/rxinto-gen)")
    ap.add_argument("--dir", help="use this directory instead of mounting a tmpfs")
    ap.add_argument("--tmpfs-size", default="4g")
    ap.add_argument("--small-flows", type=int, default=5000,
                    help="flows of the small-64 input (default 5000: ~2.6 M frames, ~330 MB)")
    ap.add_argument("--bulk-flows", type=int, default=1500,
                    help="flows of the bulk-1448 input (default 1500: ~0.5 M frames, ~500 MB)")
    ap.add_argument("--no-two-workers", action="store_true")
    ap.add_argument("--json", help="write every sample as JSON here")
    ap.add_argument("--markdown", help="write the table (markdown) here")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.warmup = 1, 0
        a.small_flows, a.bulk_flows = 200, 50

    rx = find_bin(a.rxinto, a.build, "rxinto", ("--write", "--stats-json", "--lcores"))
    gen = find_bin(a.gen, a.build, "rxinto-gen", ("--mss", "--flows"))
    if not rx or not gen:
        log("rxinto / rxinto-gen not found (build them, or --rxinto/--gen)")
        return 1
    tcpdump, tshark = shutil.which("tcpdump"), shutil.which("tshark")
    log("rxinto:", rx, "| rxinto-gen:", gen)

    t_start = time.time()
    load_start = os.getloadavg()
    scratch = Scratch(a.tmpfs_size, a.dir)
    log("scratch:", scratch.path, "-", scratch.kind)
    result = {"machine": machine_note(), "scratch": scratch.kind, "rxinto": rx,
              "runs": a.runs, "warmup": a.warmup, "inputs": [], "rows": [], "skipped": {}}
    rows = []
    try:
        inputs = [
            ("small-64", ["--mss", "64", "--flows", str(a.small_flows), "--ipv6-share", "0.5",
                          "--c2s-bytes", "2000", "--s2c-bytes", "20000"]),
            ("bulk-1448", ["--mss", "1448", "--flows", str(a.bulk_flows), "--ipv6-share", "0.5",
                           "--c2s-bytes", "20000", "--s2c-bytes", "320000"]),
        ]
        for name, gargs in inputs:
            path = os.path.join(scratch.path, name + ".pcap")
            r = subprocess.run([gen, "--out", path] + gargs, capture_output=True, text=True)
            if r.returncode != 0:
                log("rxinto-gen failed:", r.stderr.strip())
                return 1
            frames, fbytes = pcap_info(path)
            result["inputs"].append({"name": name, "gen_args": gargs, "frames": frames,
                                     "frame_bytes": fbytes, "file_bytes": os.path.getsize(path)})
            log("%s: %d frames, %.1f MB of frames, %.1f MB file, avg %.1f B" % (
                name, frames, fbytes / 1e6, os.path.getsize(path) / 1e6, fbytes / frames))

        reason = probe_dpdk_dumpcap(rx, scratch.path)
        result["skipped"]["dpdk-dumpcap"] = reason or "probe captured (measurement not implemented)"
        result["skipped"]["dumpcap"] = ("dumpcap captures from interfaces only and cannot read "
                                        "a file (no -r); tcpdump -r and tshark -r stand in")
        log("dpdk-dumpcap:", result["skipped"]["dpdk-dumpcap"])

        for inp in result["inputs"]:
            path = os.path.join(scratch.path, inp["name"] + ".pcap")
            fr, fb = inp["frames"], inp["frame_bytes"]
            mine = []
            if tcpdump:
                out = os.path.join(scratch.path, "td.pcap")
                mine.append(run_plain("tcpdump -r -w (pcap)", [tcpdump, "-n", "-r", path, "-w", out],
                                      out, fr, fb, a.runs, a.warmup))
            if tshark:
                out = os.path.join(scratch.path, "ts.pcapng")
                mine.append(run_plain("tshark -r -w (pcapng)",
                                      [tshark, "-r", path, "-w", out, "-F", "pcapng"],
                                      out, fr, fb, a.runs, a.warmup))
            out = os.path.join(scratch.path, "copy")
            mine.append(run_plain("cp (I/O floor)", ["cp", path, out], out, fr, fb,
                                  a.runs, a.warmup))
            variants = [(1, False, False, False), (1, False, False, True),
                        (1, True, False, True), (1, True, True, True)]
            if not a.no_two_workers:
                variants += [(2, False, False, True), (2, True, True, True)]
            for w, tcp, streams, write in variants:
                mine.append(run_rxinto(rx, path, fr, scratch.path, w, tcp, streams, write,
                                       a.runs, a.warmup))
            for r in mine:
                r.input = inp["name"]
                log("%-10s %-40s w=%s Mpps %s  wall %s%s" % (
                    r.input, r.tool, r.workers, fmt3(r.mpps()), fmt3(r.wall()),
                    ("  errors: %s" % r.errors) if r.errors else ""))
            rows += mine
    finally:
        scratch.close(a.keep)

    result["rows"] = [dict(r.as_json(), cmd=getattr(r, "cmd", None)) for r in rows]
    result["elapsed_s"] = time.time() - t_start
    result["loadavg_1min"] = [load_start[0], os.getloadavg()[0]]
    md = render(result, rows)
    print(md)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    log("done in %.0f s" % result["elapsed_s"])
    return 0


def render(result, rows):
    inputs = {i["name"]: i for i in result["inputs"]}
    lines = ["| input | frames | avg frame B | tool | workers | frames written (dropped) "
             "| Mpps median [min..max] | Gbit/s | wall s | x tcpdump Mpps | x tcpdump wall |",
             "|---|--:|--:|---|--:|---|--:|--:|--:|--:|--:|"]
    for name in inputs:
        inp = inputs[name]
        base = [r for r in rows if r.input == name and r.tool.startswith("tcpdump")]
        bm = base[0].mpps() if base and base[0].samples else None
        bw = base[0].wall() if base and base[0].samples else None
        for r in (x for x in rows if x.input == name):
            m, g, w, wr, dr = r.mpps(), r.gbps(), r.wall(), r.written(), r.dropped()
            if not r.samples:
                lines.append("| %s | %d | %.0f | %s | %s | failed: %s | | | | | |" % (
                    name, inp["frames"], inp["frame_bytes"] / inp["frames"], r.tool,
                    r.workers, "; ".join(r.errors[:1])))
                continue
            wtxt = "%d" % wr[0] if wr[1] == wr[2] else "%d [%d..%d]" % wr
            if dr and dr[2] > 0:
                wtxt += " (%d dropped, %.0f%%)" % (dr[0], 100.0 * dr[0] / inp["frames"])
            lines.append("| %s | %d | %.0f | %s | %s | %s | %s | %.2f | %.2f | %s | %s |" % (
                name, inp["frames"], inp["frame_bytes"] / inp["frames"], r.tool, r.workers,
                wtxt, fmt3(m), g[0], w[0],
                "%.2f" % (m[0] / bm[0]) if bm else "-",
                "%.2f" % (bw[0] / w[0]) if bw else "-"))
    lines.append("")
    for k, v in result["skipped"].items():
        lines.append("- %s: skipped: %s" % (k, v))
    hp = {s.get("hugepages") for r in rows for s in r.samples if "hugepages" in s}
    la = result.get("loadavg_1min", [0, 0])
    lines.append("- scratch: %s; rxinto hugepages: %s; %d runs after %d warm-up, %.0f s in all; "
                 "1-min load average %.1f at the start, %.1f at the end" % (
                     result["scratch"], "/".join(str(x) for x in sorted(hp, key=str)) or "-",
                     result["runs"], result["warmup"], result.get("elapsed_s", 0), la[0], la[1]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
