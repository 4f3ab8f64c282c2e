#!/usr/bin/env python3
"""Python reading TCP payload: the kernel's socket.recv(65536) and socket.recv_into(buf) over
loopback (the sender in another process), next to rxinto's Stream.recv_into(buf) fed through a
net_ring port the way rxbench feeds rxinto (pre-built frames of a generator, written into mbufs of
a pool of its own, enqueued on the ring the port reads; see app/rxbench/feed.hpp).

For each path: Gbit/s of payload (wall clock), and CPU seconds per GB over every process involved
(kernel paths: the receiver and the sender, measured from the sender's first send to its close;
rxinto: this one process, generator included, as rxbench counts it), with the receiver's share
beside it. The kernel paths run once per sender style (--sender-chunks): large writes (the
kernel's best case) and one 1448-byte segment per write (the unit the rxinto feed generates, as
rxbench's kernel sender writes). Medians over --runs; the ratios in the
last lines compare paths measured in this same run. Measured, never asserted.

    PYTHONPATH=build/python python3 test/bench/bench_python.py [--gb 1] [--runs 3] [--buf 1048576]
        [--sender-chunks 1048576,1448] [--json out.json] [--paths socket-recv,socket-recv_into,rxinto-recv_into]
"""
import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

# The sender: its own CPU time (user + system, the loopback's softirq work included) from its
# first send to its close, written to stdout; its interpreter's start-up is not counted.
SENDER = r"""
import socket, sys, time
port, total, chunk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
data = memoryview(b"\x5a" * chunk)
left = total
c0 = time.process_time()
while left:
    n = min(left, chunk)
    s.sendall(data[:n])
    left -= n
s.close()
print(time.process_time() - c0)
"""


def run_socket(total, buf_size, into, chunk):
    """Receives `total` bytes over loopback TCP from a sender process; returns a sample dict."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(port), str(total), str(chunk)],
                              stdout=subprocess.PIPE, text=True)
    conn, _ = ls.accept()
    ls.close()
    got = 0
    t0, c0 = time.perf_counter(), time.process_time()
    if into:
        buf = bytearray(buf_size)
        recv_into = conn.recv_into
        while True:
            n = recv_into(buf)
            if not n:
                break
            got += n
    else:
        recv = conn.recv
        while True:
            d = recv(65536)
            if not d:
                break
            got += len(d)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    out, _ = sender.communicate()
    cpu_sender = float(out.strip())
    if got != total:
        raise RuntimeError(f"received {got} of {total} bytes")
    return {"bytes": got, "wall_s": wall, "cpu_s": cpu + cpu_sender, "recv_cpu_s": cpu}


def run_rxinto(total, buf_size, ringfeed, rxinto, seg, fill):
    """Generator -> ring -> rxinto Receiver -> recv_into(buf), until `total` payload bytes."""
    feed = ringfeed.RingFeed(name="net_ring_pybench", mbufs=2 * fill + 4095, ring_size=2 * fill, flows=1,
                             seg=seg)
    buf = bytearray(buf_size)
    try:
        with rxinto.Receiver(vdev=feed.name, checksum="ignore", burst=32) as rx:
            feed.handshake()
            streams = []
            while not streams:  # the connection's opened event
                for ev in rx.poll(timeout=1):
                    streams = [ev.conn.c2s]
            s = streams[0]
            recv_into = s.recv_into
            poll = rx.poll
            got = 0
            fill_cpu = 0.0
            t0, c0 = time.perf_counter(), time.process_time()
            while feed.payload < total:
                f0 = time.process_time()
                want = min(fill, (total - feed.payload + seg - 1) // seg)
                if feed.fill(want) == 0:
                    raise RuntimeError("the generator could not enqueue (pool or ring full)")
                fill_cpu += time.process_time() - f0
                while feed.pending or s.available:
                    poll(0)
                    while True:
                        n = recv_into(buf)
                        if not n:
                            break
                        got += n
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            feed.finish()
            while not s.finished:
                rx.poll(timeout=1)
                while s.recv_into(buf):
                    pass
            if got != feed.payload or s.delivered != got or s.gap_bytes != 0:
                raise RuntimeError(f"rxinto: delivered {got} of {feed.payload} bytes (gaps {s.gap_bytes})")
    finally:
        feed.close()
    return {"bytes": got, "wall_s": wall, "cpu_s": cpu, "recv_cpu_s": cpu - fill_cpu}


def summary(samples):
    gbps = statistics.median(s["bytes"] * 8 / s["wall_s"] / 1e9 for s in samples)
    cpu_gb = statistics.median(s["cpu_s"] / (s["bytes"] / 1e9) for s in samples)
    recv_gb = statistics.median(s["recv_cpu_s"] / (s["bytes"] / 1e9) for s in samples)
    return {"gbit_s": gbps, "cpu_s_per_gb": cpu_gb, "recv_cpu_s_per_gb": recv_gb,
            "gb_per_cpu_s": 1 / cpu_gb, "runs": samples}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="payload per run, in GB (1e9 bytes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--buf", type=int, default=1 << 20, help="the recv_into buffer, bytes")
    ap.add_argument("--sender-chunks", default="1048576,1448",
                    help="kernel paths, once per value: bytes per sendall() of the sender (1048576: the "
                         "kernel's best case; 1448: one segment per call, the unit the rxinto feed generates, "
                         "as rxbench's kernel sender)")
    ap.add_argument("--seg", type=int, default=1448, help="rxinto: payload bytes per frame")
    ap.add_argument("--fill", type=int, default=16384, help="rxinto: frames per generator fill")
    ap.add_argument("--memory", type=int, default=1024, help="rxinto: EAL memory, MiB")
    ap.add_argument("--paths", default="socket-recv,socket-recv_into,rxinto-recv_into")
    ap.add_argument("--json", help="write the results here")
    o = ap.parse_args()
    total = int(o.gb * 1e9)
    chunks = [int(c) for c in o.sender_chunks.split(",")]
    runs = []  # (row name, function)
    for p in o.paths.split(","):
        if p == "rxinto-recv_into":
            runs.append((p, lambda: run_rxinto(total, o.buf, ringfeed, rxinto, o.seg, o.fill)))
        elif p in ("socket-recv", "socket-recv_into"):
            for c in chunks:
                runs.append((f"{p} (sender {c} B)",
                             lambda into=p.endswith("into"), c=c: run_socket(total, o.buf, into, c)))
        else:
            sys.exit(f"unknown path {p}")
    if "rxinto-recv_into" in o.paths:
        import rxinto
        import _rxinto_ringfeed as ringfeed
        info = rxinto.init_eal(memory=o.memory, log_level="warning")
        print(f"rxinto: EAL up, hugepages {info['hugepages']}", file=sys.stderr)
    results = {}
    for name, fn in runs:
        samples = []
        for r in range(o.runs):
            s = fn()
            samples.append(s)
            print(f"{name:36s} run {r + 1}: {s['bytes'] * 8 / s['wall_s'] / 1e9:7.2f} Gbit/s, "
                  f"{s['cpu_s'] / (s['bytes'] / 1e9):6.3f} CPU s/GB (receiver {s['recv_cpu_s'] / (s['bytes'] / 1e9):.3f})",
                  file=sys.stderr, flush=True)
        results[name] = summary(samples)
    model = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), model)
    except OSError:
        pass
    machine = f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}"
    print(f"\nPython reading {o.gb:g} GB of TCP payload into a {o.buf} B buffer, medians of {o.runs} runs "
          f"({machine}; load average {os.getloadavg()[0]:.1f})")
    print(f"{'path':36s} {'Gbit/s':>8s} {'CPU s/GB':>9s} {'recv CPU s/GB':>14s} {'GB per CPU s':>13s}")
    for p, r in results.items():
        print(f"{p:36s} {r['gbit_s']:8.2f} {r['cpu_s_per_gb']:9.3f} {r['recv_cpu_s_per_gb']:14.3f} "
              f"{r['gb_per_cpu_s']:13.2f}")
    ratios = {}
    if "rxinto-recv_into" in results:
        for c in chunks:
            k = f"socket-recv_into (sender {c} B)"
            if k in results:
                ratio = results["rxinto-recv_into"]["gb_per_cpu_s"] / results[k]["gb_per_cpu_s"]
                ratios[f"rxinto_vs_socket_recv_into_sender_{c}"] = ratio
                print(f"rxinto recv_into vs {k}, throughput per CPU second: {ratio:.2f}x "
                      f"(target >= 3x: {'met' if ratio >= 3 else 'NOT met'})")
    for c in chunks:
        a, b = f"socket-recv_into (sender {c} B)", f"socket-recv (sender {c} B)"
        if a in results and b in results:
            print(f"{a} vs recv(65536), per CPU second: "
                  f"{results[a]['gb_per_cpu_s'] / results[b]['gb_per_cpu_s']:.2f}x")
    if o.json:
        with open(o.json, "w") as f:
            json.dump({"machine": machine, "load_average": os.getloadavg()[0], "gb": o.gb, "buf": o.buf,
                       "results": results, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
