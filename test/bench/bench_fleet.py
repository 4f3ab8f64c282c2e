#!/usr/bin/env python3
"""Fleet export benchmark (not a test: it measures, it does not assert).

1. Records per second from one node to PostgreSQL through a 3-node JetStream
   cluster (R3), all on loopback, servers started and stopped here:
   - end to end: rxinto-index runs; rxinto replays a capture of --flows short
     connections with --export; the clock runs from rxinto's start until every
     row is in PostgreSQL (rxinto's own run time with and without export is
     printed next to it: the replay and EAL start-up are part of the wall time);
   - the indexer alone: a second node's records wait in the stream, then
     `rxinto-index --drain` is timed.
2. What export costs the worker lcore: bench_export (build/test/bench) feeds the
   same short connections through one reassembler with rxinto's stream
   listener, export off and on (two ring messages per connection: open and
   end, both directions each), --passes times a capture of 100 000 connections
   (1 000 000 connections per run), and prints the segment rates and their
   ratio. The export thread runs on the other CPU; without --nats-for-worker it
   has no server (it builds every record and counts it dropped), which is what
   the worker's side costs either way.

Usage: bench_fleet.py BUILD_DIR [--flows N] [--passes N] [--runs N] [--json FILE]
On this project's 2-vCPU VM every figure is noisy (other processes share the
CPUs): compare the ratios printed in the same run.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import fleetsrv  # noqa: E402
from fleetsrv import Cluster, Postgres  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--flows", type=int, default=20000, help="connections per node run (default 20000)")
    ap.add_argument("--passes", type=int, default=10, help="bench_export passes of 100 000 connections")
    ap.add_argument("--runs", type=int, default=3, help="bench_export runs (medians)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    if fleetsrv.available():
        sys.exit(f"bench_fleet: {fleetsrv.available()} (scripts/setup.sh installs it)")
    app = lambda n: os.path.join(a.build, "app", n)  # noqa: E731
    res = {"flows": a.flows}
    tmp = tempfile.mkdtemp(prefix=f"rxinto-bench-fleet-{os.getpid()}-")
    os.chmod(tmp, 0o755)
    cluster = Cluster(tmp)
    pg = None
    try:
        cluster.start_all()
        if not cluster.wait_ready():
            sys.exit("bench_fleet: the cluster did not come up")
        pg = Postgres(tmp)
        pg.start()
        caps = []
        for seed in (51, 52):
            cap = os.path.join(tmp, f"c{seed}.pcap")
            subprocess.run([app("rxinto-gen"), "--out", cap, "--flows", str(a.flows), "--c2s-bytes", "100",
                            "--s2c-bytes", "300", "--seed", str(seed)], check=True, capture_output=True)
            caps.append(cap)
        records = 4 * a.flows  # open + end, both directions

        def rxinto(cap, extra):
            t0 = time.time()
            p = subprocess.run([app("rxinto"), "--pcap", cap, "--in-memory", "--no-progress",
                                "--stats-json", os.path.join(tmp, "st.json")] + extra,
                               capture_output=True, text=True, timeout=600)
            dt = time.time() - t0
            if p.returncode != 0:
                sys.exit(f"bench_fleet: rxinto failed: {p.stderr[-800:]}")
            return dt, json.load(open(os.path.join(tmp, "st.json")))

        base, _ = rxinto(caps[0], [])
        res["rxinto_s_without_export"] = round(base, 3)

        # 1a. End to end, the indexer running.
        ix = subprocess.Popen([app("rxinto-index"), "--nats", cluster.urls, "--db", pg.conninfo, "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # schema and consumer in place
        t0 = time.time()
        dt, st = rxinto(caps[0], ["--export", cluster.urls, "--node", "bench1", "--export-wait", "300"])
        x = st["export"]
        rows = 0
        while time.time() - t0 < 600:
            rows = int(pg.sql("SELECT count(*) FROM rxinto_connections WHERE node = 'bench1'"
                              " AND end_reason IS NOT NULL"))
            if rows >= 2 * a.flows:
                break
            time.sleep(0.05)
        t_all = time.time() - t0
        ix.terminate()
        ix.wait()
        res["end_to_end"] = {
            "records": records, "rxinto_s_with_export": round(dt, 3), "all_rows_in_postgres_s": round(t_all, 3),
            "records_per_s": round(records / t_all), "exported": x["exported"], "acked": x["acked"],
            "dropped": x["dropped"], "rows": rows,
            "records_per_s_after_replay": round(records / max(t_all - base, 1e-3)),
        }

        # 1b. The indexer alone, on a backlog in the stream.
        dt2, st2 = rxinto(caps[1], ["--export", cluster.urls, "--node", "bench2", "--export-wait", "300"])
        res["publish"] = {"records": records, "rxinto_s_with_export": round(dt2, 3),
                          "acked": st2["export"]["acked"],
                          "records_per_s_upper_bound": round(records / max(dt2 - base, 1e-3))}
        t0 = time.time()
        p = subprocess.run([app("rxinto-index"), "--nats", cluster.urls, "--db", pg.conninfo, "--drain", "-q"],
                           capture_output=True, text=True, timeout=600)
        t_ix = time.time() - t0
        n = int(pg.sql("SELECT count(*) FROM rxinto_connections WHERE node = 'bench2'"))
        res["indexer_alone"] = {"records": records, "seconds": round(t_ix, 3), "records_per_s": round(records / t_ix),
                                "rows": n, "exit": p.returncode}
    finally:
        cluster.stop_all()
        if pg is not None:
            pg.stop("immediate")

    # 2. The worker's cost.
    short = os.path.join(tmp, "short.pcap")
    subprocess.run([app("rxinto-gen"), "--out", short, "--flows", "100000", "--c2s-bytes", "100",
                    "--s2c-bytes", "200", "--ipv6-share", "0.2", "--seed", "5"], check=True, capture_output=True)
    p = subprocess.run([os.path.join(a.build, "test", "bench", "bench_export"), "--pcap", short,
                        "--passes", str(a.passes), "--runs", str(a.runs)], capture_output=True, text=True,
                       timeout=3600)
    sys.stderr.write(p.stderr)
    if p.returncode == 0:
        res["worker"] = json.loads(p.stdout.strip().splitlines()[-1])
    shutil.rmtree(tmp, ignore_errors=True)

    e = res["end_to_end"]
    print(f"end to end: {e['records']} records from one node into PostgreSQL through the R3 cluster in "
          f"{e['all_rows_in_postgres_s']} s = {e['records_per_s']} records/s "
          f"(rxinto ran {e['rxinto_s_with_export']} s with export, {res['rxinto_s_without_export']} s without; "
          f"{e['records_per_s_after_replay']} records/s counting from the end of a plain replay)")
    i = res["indexer_alone"]
    print(f"indexer alone: {i['records']} records from the stream into PostgreSQL in {i['seconds']} s = "
          f"{i['records_per_s']} records/s")
    if "worker" in res:
        w = res["worker"]
        print(f"worker: {w['connections_per_run']} short connections per run, {w['segments_per_run']} segments: "
              f"export off {w['mpps_off']:.3f} Mpps, on {w['mpps_on']:.3f} Mpps, ratio {w['ratio_on_off']:.3f} "
              f"(loss {100 * (1 - w['ratio_on_off']):.1f}%); {w['ns_per_connection_off']:.0f} / "
              f"{w['ns_per_connection_on']:.0f} ns per connection; last run: {w['messages_last_run']} open/end "
              f"messages to the output thread, {w['ring_full_last_run']} dropped on a full ring")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


main()
