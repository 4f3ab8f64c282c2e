#!/usr/bin/env python3
"""Python reading TCP payload: the kernel's socket.recv(65536) and socket.recv_into(buf) over
loopback (the sender in another process), next to rxinto's Stream.recv_into(buf) fed through a
net_ring port the way rxbench feeds rxinto (pre-built frames of a generator, written into mbufs of
a pool of its own, enqueued on the ring the port reads; see app/rxbench/feed.hpp).

For each path: Gbit/s of payload (wall clock), and CPU seconds per GB over every process involved
(kernel paths: the receiver and the sender; rxinto: this one process, generator included, as
rxbench counts it), with the receiver's share beside it. Medians over --runs; the ratios in the
last lines compare paths measured in this same run. Measured, never asserted.

    PYTHONPATH=build/python python3 test/bench/bench_python.py [--gb 1] [--runs 3] [--buf 1048576]
        [--json out.json] [--paths socket-recv,socket-recv_into,rxinto-recv_into]
"""
import argparse
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time

SENDER = r"""
import socket, sys
port, total, chunk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
data = memoryview(b"\x5a" * chunk)
left = total
while left:
    n = min(left, chunk)
    s.sendall(data[:n])
    left -= n
s.close()
"""


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_socket(total, buf_size, into):
    """Receives `total` bytes over loopback TCP from a sender process; returns a sample dict."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    cpu_child0 = child_cpu()
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(port), str(total), str(1 << 20)])
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
    sender.wait()
    cpu_sender = child_cpu() - cpu_child0
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
    ap.add_argument("--seg", type=int, default=1448, help="rxinto: payload bytes per frame")
    ap.add_argument("--fill", type=int, default=16384, help="rxinto: frames per generator fill")
    ap.add_argument("--memory", type=int, default=1024, help="rxinto: EAL memory, MiB")
    ap.add_argument("--paths", default="socket-recv,socket-recv_into,rxinto-recv_into")
    ap.add_argument("--json", help="write the results here")
    o = ap.parse_args()
    total = int(o.gb * 1e9)
    paths = o.paths.split(",")
    results = {}
    if "rxinto-recv_into" in paths:
        import rxinto
        import _rxinto_ringfeed as ringfeed
        info = rxinto.init_eal(memory=o.memory, log_level="warning")
        print(f"rxinto: EAL up, hugepages {info['hugepages']}", file=sys.stderr)
    for p in paths:
        samples = []
        for r in range(o.runs):
            if p == "socket-recv":
                s = run_socket(total, o.buf, into=False)
            elif p == "socket-recv_into":
                s = run_socket(total, o.buf, into=True)
            elif p == "rxinto-recv_into":
                s = run_rxinto(total, o.buf, ringfeed, rxinto, o.seg, o.fill)
            else:
                sys.exit(f"unknown path {p}")
            samples.append(s)
            print(f"{p:18s} run {r + 1}: {s['bytes'] * 8 / s['wall_s'] / 1e9:7.2f} Gbit/s, "
                  f"{s['cpu_s'] / (s['bytes'] / 1e9):6.3f} CPU s/GB (receiver {s['recv_cpu_s'] / (s['bytes'] / 1e9):.3f})",
                  file=sys.stderr, flush=True)
        results[p] = summary(samples)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}"
    print(f"\nPython reading {o.gb:g} GB of TCP payload, buffer {o.buf} B, medians of {o.runs} runs ({machine})")
    print(f"{'path':18s} {'Gbit/s':>8s} {'CPU s/GB':>9s} {'recv CPU s/GB':>14s} {'GB per CPU s':>13s}")
    for p, r in results.items():
        print(f"{p:18s} {r['gbit_s']:8.2f} {r['cpu_s_per_gb']:9.3f} {r['recv_cpu_s_per_gb']:14.3f} {r['gb_per_cpu_s']:13.2f}")
    if "rxinto-recv_into" in results and "socket-recv_into" in results:
        ratio = results["rxinto-recv_into"]["gb_per_cpu_s"] / results["socket-recv_into"]["gb_per_cpu_s"]
        print(f"\nrxinto recv_into vs socket.recv_into, throughput per CPU second: {ratio:.2f}x (target >= 3x: "
              f"{'met' if ratio >= 3 else 'NOT met'})")
        results["ratio_rxinto_vs_socket_recv_into_per_cpu_s"] = ratio
    if "socket-recv" in results and "socket-recv_into" in results:
        ratio = results["socket-recv_into"]["gb_per_cpu_s"] / results["socket-recv"]["gb_per_cpu_s"]
        print(f"socket.recv_into vs socket.recv(65536), per CPU second: {ratio:.2f}x")
    if o.json:
        with open(o.json, "w") as f:
            json.dump({"machine": machine, "gb": o.gb, "buf": o.buf, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
