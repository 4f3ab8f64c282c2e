#!/usr/bin/env python3
"""Offline replay against tcpflow: `rxinto --pcap X --streams-dir D` next to
`tcpflow -r X -o D2` on the same capture, whole-process wall time, medians of
several runs, streams compared byte for byte. Measured, never asserted.

Also measured, to separate rxinto's parts:
  start-up   rxinto --pcap on a capture of a few packets (exec to exit);
  reader     rxinto --pcap X --no-tcp (the file read into mbufs and freed: the
             reader and the receive loop, no reassembly, no files);
  reassembly rxinto --pcap X (TCP reassembly, no stream files).

Captures: --pcap FILE, or made here: a capture of real Linux TCP between
network namespaces (test/integration/realtcp.py make; root), and a large
rxinto-gen capture (--gen).

  python3 test/bench/bench_offline.py --build build [--pcap FILE] [--realtcp-mb 64]
                                      [--gen] [--runs 5] [--json OUT]
Standard library only.
"""
import argparse
import hashlib
import ipaddress
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))


def timed(cmd, **kw):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, **kw)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench_offline: {' '.join(cmd)}: exit {p.returncode}: {p.stderr[-600:]!r}")
    return dt


def median_of(runs, fn):
    times = [fn() for _ in range(runs)]
    return statistics.median(times), min(times), max(times)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


FLOW_RE = re.compile(r"^(.+)\.(\d{5})-(.+)\.(\d{5})(c\d+)?$")


def norm_ip(text):
    if ":" not in text:
        return str(ipaddress.ip_address(".".join(str(int(o)) for o in text.split("."))))
    return str(ipaddress.ip_address(text))


def compare(rx_dir, tf_dir):
    """(equal, different, only_rxinto) over the directions rxinto delivered without gaps."""
    tf = {}
    for fn in os.listdir(tf_dir):
        m = FLOW_RE.match(fn)
        if m and m.group(5) is None:
            try:
                tf[(norm_ip(m.group(1)), int(m.group(2)), norm_ip(m.group(3)), int(m.group(4)))] = fn
            except ValueError:
                pass
    equal = different = missing = 0
    with open(os.path.join(rx_dir, "index.jsonl")) as f:
        for line in f:
            e = json.loads(line)
            if e["gaps"] or e["bytes"] == 0:
                continue
            key = (str(ipaddress.ip_address(e["src"])), e["sport"], str(ipaddress.ip_address(e["dst"])), e["dport"])
            if key not in tf:
                missing += 1
                continue
            if sha(os.path.join(rx_dir, e["file"])) == sha(os.path.join(tf_dir, tf[key])):
                equal += 1
            else:
                different += 1
    return equal, different, missing


def bench_capture(label, pcap, rxinto, runs, tmp):
    size = os.path.getsize(pcap)
    out = {"capture": label, "path": pcap, "bytes": size}
    rx_dir = os.path.join(tmp, "rx")
    tf_dir = os.path.join(tmp, "tf")

    def rx_streams():
        shutil.rmtree(rx_dir, ignore_errors=True)
        return timed([rxinto, "--pcap", pcap, "--streams-dir", rx_dir, "--no-progress"])

    def tf_run():
        shutil.rmtree(tf_dir, ignore_errors=True)
        os.makedirs(tf_dir)
        return timed(["tcpflow", "-r", pcap, "-o", tf_dir])

    parts = {
        "rxinto_streams": rx_streams,
        "tcpflow": tf_run,
        "rxinto_reader": lambda: timed([rxinto, "--pcap", pcap, "--no-tcp", "--no-progress"]),
        "rxinto_reassembly": lambda: timed([rxinto, "--pcap", pcap, "--no-progress"]),
    }
    for name, fn in parts.items():
        med, lo, hi = median_of(runs, fn)
        out[name] = {"median_s": med, "min_s": lo, "max_s": hi, "mb_per_s": size / med / 1e6}
    out["ratio_rxinto_over_tcpflow"] = out["tcpflow"]["median_s"] / out["rxinto_streams"]["median_s"]
    eq, diff, miss = compare(rx_dir, tf_dir)
    out["streams_equal"], out["streams_different"], out["streams_missing_in_tcpflow"] = eq, diff, miss
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--pcap", action="append", default=[])
    ap.add_argument("--realtcp-mb", type=int, default=0, help="make a capture of real TCP of about this size")
    ap.add_argument("--gen", action="store_true", help="also a large rxinto-gen capture")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    rxinto = os.path.join(a.build, "app", "rxinto")
    gen = os.path.join(a.build, "app", "rxinto-gen")
    if shutil.which("tcpflow") is None:
        sys.exit("bench_offline: tcpflow is not installed (apt-get install tcpflow)")
    tmp = tempfile.mkdtemp(prefix="rxinto-bench-offline-")
    results = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "runs": a.runs, "captures": []}
    try:
        caps = [(os.path.basename(p), p) for p in a.pcap]
        if a.realtcp_mb:
            d = os.path.join(tmp, "realtcp")
            per = a.realtcp_mb * 1_000_000 // 16  # 8 connections, both directions
            subprocess.run([sys.executable, os.path.join(SRC, "test", "integration", "realtcp.py"), "make",
                            "--out", d, "--conns", "8", "--bytes", str(per), "--seed", "3",
                            "--loss", "0.01", "--reorder", "0.01", "--timeout", "600"], check=True)
            caps.append(("realtcp", os.path.join(d, "capture.pcap")))
        if a.gen:
            g = os.path.join(tmp, "gen.pcap")
            subprocess.run([gen, "--out", g, "--flows", "64", "--c2s-bytes", "200000", "--s2c-bytes", "800000",
                            "--seed", "5"], check=True, capture_output=True)
            caps.append(("rxinto-gen", g))
        tiny = os.path.join(tmp, "tiny.pcap")
        subprocess.run([gen, "--out", tiny, "--flows", "1", "--c2s-bytes", "100", "--s2c-bytes", "100"],
                       check=True, capture_output=True)
        med, lo, hi = median_of(max(a.runs, 10), lambda: timed([rxinto, "--pcap", tiny, "--no-progress"]))
        results["startup"] = {"median_s": med, "min_s": lo, "max_s": hi}
        print(f"start-up (rxinto --pcap of {os.path.getsize(tiny)} bytes): median {med * 1e3:.1f} ms "
              f"(min {lo * 1e3:.1f}, max {hi * 1e3:.1f})")
        for label, path in caps:
            r = bench_capture(label, path, rxinto, a.runs, tmp)
            results["captures"].append(r)
            print(f"{label}: {r['bytes'] / 1e6:.1f} MB")
            for k in ("rxinto_streams", "tcpflow", "rxinto_reassembly", "rxinto_reader"):
                x = r[k]
                print(f"  {k:18s} median {x['median_s']:.3f} s  {x['mb_per_s']:8.1f} MB/s  "
                      f"(min {x['min_s']:.3f}, max {x['max_s']:.3f})")
            print(f"  rxinto --streams-dir / tcpflow whole-process rate: {r['ratio_rxinto_over_tcpflow']:.2f}x")
            print(f"  streams: {r['streams_equal']} equal, {r['streams_different']} different, "
                  f"{r['streams_missing_in_tcpflow']} not in tcpflow's output (directions without gaps)")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
