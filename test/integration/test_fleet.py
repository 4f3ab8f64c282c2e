#!/usr/bin/env python3
"""The fleet index end to end, with real servers started and stopped here:
a 3-node nats-server cluster with JetStream (three client ports on 127.0.0.1,
a store directory each) and a PostgreSQL cluster made with initdb in a
temporary directory (Unix socket only, its own port).

- Two rxinto nodes replay different generated captures with --export; a third
  exports with only -w; rxinto-index --drain fills PostgreSQL; rxinto-query
  --json returns exactly the union of the nodes' index.jsonl (every field, plus
  node), filters select what they say, --fetch returns byte-exact streams (or
  names the node and file when the bytes were not exported).
- Faults: one NATS node killed during export (nothing lost, no duplicate in the
  stream or the table); all NATS nodes down for a while, then back (records
  spooled within budget and delivered, the receive loop never stalls; without a
  spool they are counted as dropped); PostgreSQL stopped during indexing (the
  indexer waits and retries, nothing acknowledged without a commit, nothing
  duplicated).
- Bad input: an unreachable server, wrong URLs and node names, a server whose
  max_payload cannot hold a record, databases that refuse the schema.

The live runs read a capture through a FIFO (net_pcap rx_pcap=FIFO) that this
script writes, so that it decides when each fault happens relative to the
packets: while the servers are down, the whole rest of the capture must go
through the pipe (a stalled receive loop would block the writer).

Usage: test_fleet.py BUILD_DIR [SOURCE_DIR]; exit 77 (skip) when nats-server or
PostgreSQL is not installed.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402
from rxtest import check  # noqa: E402
from fleetsrv import NATS_SERVER, Cluster, Nats, Postgres, free_ports  # noqa: E402
import fleetsrv  # noqa: E402

BUILD = rxtest.args()[0]
RXINTO = rxtest.app(BUILD, "rxinto")
GEN = rxtest.app(BUILD, "rxinto-gen")
INDEX = rxtest.app(BUILD, "rxinto-index")
QUERY = rxtest.app(BUILD, "rxinto-query")
case = rxtest.case_decorator(only=rxtest.args()[2], timed=True)

if fleetsrv.available():
    print(f"skip: {fleetsrv.available()} (scripts/setup.sh installs it)")
    sys.exit(77)

INDEX_FIELDS = ("conn", "dir", "src", "sport", "dst", "dport", "vlan", "file", "bytes", "gaps",
                "midstream", "end", "overlap_conflicts")


# ---------------------------------------------------------------------------
# rxinto runs

def gen(tmp, name, opts):
    pcap = os.path.join(tmp, name + ".pcap")
    truth = os.path.join(tmp, name + ".truth")
    g = subprocess.run([GEN, "--out", pcap, "--truth", truth] + opts, capture_output=True, text=True)
    check(g.returncode == 0, f"rxinto-gen {name}: exit 0 ({g.stderr})")
    return pcap, [json.loads(l) for l in open(os.path.join(truth, "truth.jsonl"))]


def index_lines(d):
    return [json.loads(l) for l in open(os.path.join(d, "index.jsonl"))]


class LiveRun:
    """rxinto on a FIFO (net_pcap rx_pcap=FIFO): the test writes the capture when it wants."""

    def __init__(self, tmp, name, argv):
        self.fifo = os.path.join(tmp, name + ".fifo")
        os.mkfifo(self.fifo)
        self.stats = os.path.join(tmp, name + ".stats.json")
        self.err = open(os.path.join(tmp, name + ".stderr"), "w+")
        self.proc = subprocess.Popen([RXINTO, "--stats-json", self.stats, "--vdev",
                                      f"net_pcap_{name},rx_pcap={self.fifo}", "--in-memory", "--no-progress"] + argv,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        self.f = None
        self.data = None

    def open(self, pcap):
        self.data = open(pcap, "rb").read()
        self.f = open(self.fifo, "wb")  # waits for rxinto's EAL to open the capture

    def write(self, start, end, timeout=20):
        """Writes records [start, end) (record offsets); False when the pipe did not take them
        within timeout (the receive loop stalled)."""
        done = threading.Event()

        def w():
            self.f.write(self.data[start:end])
            self.f.flush()
            done.set()
        t = threading.Thread(target=w, daemon=True)
        t.start()
        return done.wait(timeout)

    def record_offsets(self):
        """Offsets of every pcap record: the split points of the capture."""
        offs = []
        off = 24
        while off + 16 <= len(self.data):
            offs.append(off)
            off += 16 + int.from_bytes(self.data[off + 8:off + 12], "little")
        return offs

    def connected_port(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.err.seek(0)
            for line in self.err.read().splitlines():
                if "connected to nats://127.0.0.1:" in line:
                    return int(line.split("connected to nats://127.0.0.1:")[1].split(";")[0].split()[0])
            time.sleep(0.1)
        return None

    def finish(self, timeout=120):
        self.f.close()
        time.sleep(1.0)  # the last packets leave the pipe
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.seek(0)
        return rc, rxtest.read_json(self.stats), self.err.read()


def run_replay(argv, timeout=180):
    return rxtest.run_rxinto(RXINTO, ["--in-memory", "--no-progress"] + argv, timeout=timeout)


def indexer(pg, cluster, extra=(), timeout=120):
    return subprocess.run([INDEX, "--nats", cluster.urls, "--db", pg.conninfo, "--drain", "-q"] + list(extra),
                          capture_output=True, text=True, timeout=timeout)


def query(pg, argv, timeout=60):
    return subprocess.run([QUERY, "--db", pg.conninfo] + argv, capture_output=True, timeout=timeout)


def query_json(pg, argv=()):
    r = query(pg, ["--json"] + list(argv))
    check(r.returncode == 0, f"rxinto-query --json {' '.join(argv)}: exit 0 ({r.stderr[-300:]!r})")
    return [json.loads(l) for l in r.stdout.decode().splitlines()]


def check_export_clean(label, stats, directions, streams=False):
    """Every record of the run acknowledged, none dropped."""
    if stats is None:
        check(False, f"{label}: --stats-json written")
        return
    x = stats.get("export", {})
    check(x.get("exported") == 2 * directions,
          f"{label}: {x.get('exported')} records exported == 2 x {directions} directions (open + end)")
    check(x.get("acked") == x.get("exported"), f"{label}: every record acknowledged ({x.get('acked')})")
    check(x.get("dropped") == 0 and stats["drops"].get("export_dropped") == 0,
          f"{label}: nothing dropped ({x.get('drops')})")
    check(x.get("in_spool") == 0, f"{label}: nothing left in the spool")
    if streams:
        c = x["chunks"]
        check(c["exported"] > 0 and c["acked"] == c["exported"] and c["dropped"] == 0,
              f"{label}: every stream chunk acknowledged ({c})")


def compare_union(label, rows, expected):
    """rows (from rxinto-query) == expected: {(node, conn, dir): index.jsonl line}, every field."""
    got = {(r["node"], r["conn"], r["dir"]): r for r in rows}
    check(len(rows) == len(got), f"{label}: no direction twice in the index ({len(rows)} rows)")
    check(set(got) == set(expected),
          f"{label}: the index holds exactly the nodes' directions "
          f"(missing {sorted(set(expected) - set(got))[:5]}, extra {sorted(set(got) - set(expected))[:5]})")
    bad = []
    for k, e in expected.items():
        r = got.get(k)
        if r is None:
            continue
        # Every field the line has (DESIGN.md's and rxinto's own: delivered, lost).
        for f in set(INDEX_FIELDS) | set(e):
            if r.get(f) != e.get(f) or type(r.get(f)) is not type(e.get(f)):
                bad.append((k, f, r.get(f), e.get(f)))
    check(not bad, f"{label}: every index.jsonl field equal, same types ({len(bad)} differ: {bad[:3]})")


# ---------------------------------------------------------------------------

def main():
    tmp = tempfile.mkdtemp(prefix=f"rxinto-fleet-{os.getpid()}-")
    os.chmod(tmp, 0o755)
    cluster = Cluster(tmp)
    pg = None
    expected = {}  # (node, conn, dir) -> index.jsonl line: what the index must hold in the end
    try:
        cluster.start_all()
        ready = cluster.wait_ready()
        check(ready, "3-node JetStream cluster ready")
        if not ready:
            return
        pg = Postgres(tmp)
        pg.start()

        cap_a, truth_a = gen(tmp, "a", ["--flows", "24", "--loss", "0.05", "--reorder", "0.1", "--vlan-tags", "1",
                                        "--seed", "41"])
        cap_b, truth_b = gen(tmp, "b", ["--flows", "20", "--ipv6-share", "1", "--duplicate", "0.1",
                                        "--seed", "42"])

        @case("two nodes export, one index")
        def _():
            out_a = os.path.join(tmp, "out_a")
            p, st = run_replay(["--pcap", cap_a, "--streams-dir", out_a, "--export", cluster.urls,
                                "--node", "nodeA", "--export-streams", "--export-wait", "60"])
            check(p.returncode == 0, f"nodeA: exit 0 ({p.stderr[-600:]})")
            lines_a = index_lines(out_a)
            check(len(lines_a) == len(truth_a), f"nodeA: {len(lines_a)} directions")
            check_export_clean("nodeA", st, len(lines_a), streams=True)
            check("export" in p.stdout and "records exported" in p.stdout, "nodeA: the summary has an export line")
            out_b = os.path.join(tmp, "out_b")
            pcapng_b = os.path.join(tmp, "b.pcapng")
            p, st = run_replay(["--pcap", cap_b, "--streams-dir", out_b, "-w", pcapng_b, "--export", cluster.urls,
                                "--node", "nodeB", "--export-wait", "60"])
            check(p.returncode == 0, f"nodeB: exit 0 ({p.stderr[-600:]})")
            lines_b = index_lines(out_b)
            check_export_clean("nodeB", st, len(lines_b))
            info = cluster.stream_info()
            check(info.get("config", {}).get("num_replicas") == 3, f"stream RXINTO has 3 replicas ({info.get('config')})")
            for e in lines_a:
                expected[("nodeA", e["conn"], e["dir"])] = e
            for e in lines_b:
                expected[("nodeB", e["conn"], e["dir"])] = e

            r = indexer(pg, cluster)
            check(r.returncode == 0, f"rxinto-index --drain: exit 0 ({r.stderr[-600:]})")
            rows = query_json(pg)
            compare_union("two nodes", rows, expected)
            rows_b = [x for x in rows if x["node"] == "nodeB"]
            check(all(x["pcap"] and x["pcap"]["first_file"] == pcapng_b and x["pcap"]["last_file"] == pcapng_b
                      for x in rows_b), "nodeB (-w): every record names the pcapng file")
            check(all(0 < x["packets"] and x["first_ns"] <= x["last_ns"] for x in rows), "packets and times set")
            # Filters.
            check(len(query_json(pg, ["--node", "nodeA"])) == len(lines_a), "--node selects one node")
            gaps = [e for e in lines_a + lines_b if e["gaps"]]
            check(len(query_json(pg, ["--has-gaps"])) == len(gaps) > 0, f"--has-gaps: {len(gaps)} directions")
            e0 = lines_a[0]
            host = query_json(pg, ["--host", e0["src"]])
            check(host and all(e0["src"] in (x["src"], x["dst"]) for x in host)
                  and len(host) == sum(1 for e in lines_a + lines_b if e0["src"] in (e["src"], e["dst"])),
                  f"--host {e0['src']}: {len(host)} directions")
            check(len(query_json(pg, ["--dport", str(e0["dport"]), "--node", "nodeA"]))
                  == sum(1 for e in lines_a if e["dport"] == e0["dport"]), "--dport")
            check(len(query_json(pg, ["--end", "fin"])) == sum(1 for e in lines_a + lines_b if e["end"] == "fin"),
                  "--end fin")
            check(len(query_json(pg, ["--since", "2100-01-01"])) == 0, "--since in the future: nothing")
            t = query(pg, [])
            check(t.returncode == 0 and f"({len(expected)} directions)" in t.stdout.decode(), "table output")
            # --fetch: byte-exact from the chunks (nodeA), named node and file otherwise (nodeB).
            bad = 0
            for e in lines_a:
                out = os.path.join(tmp, "fetched.bin")
                r = query(pg, ["--nats", cluster.urls, "--node", "nodeA", "--conn", str(e["conn"]), "--dir", e["dir"],
                               "--fetch", "--out", out])
                want = open(os.path.join(out_a, e["file"]), "rb").read()
                if r.returncode != 0 or open(out, "rb").read() != want:
                    bad += 1
            check(bad == 0, f"--fetch: {len(lines_a) - bad} of {len(lines_a)} nodeA streams byte-exact")
            e = lines_b[0]
            r = query(pg, ["--nats", cluster.urls, "--node", "nodeB", "--conn", str(e["conn"]), "--dir", e["dir"],
                           "--fetch"])
            check(r.returncode == 1 and b"on node nodeB: " + os.path.join(out_b, e["file"]).encode() in r.stderr,
                  f"--fetch without exported chunks names the node and the file ({r.stderr[-300:]!r})")
            r = query(pg, ["--fetch", "--node", "nodeA"])
            check(r.returncode == 2, "--fetch selecting many directions: exit 2")

        @case("export with only -w")
        def _():
            p, st = run_replay(["--pcap", cap_b, "-w", os.path.join(tmp, "c.pcapng"), "--export", cluster.urls,
                                "--node", "nodeC", "--export-wait", "60"])
            check(p.returncode == 0, f"nodeC: exit 0 ({p.stderr[-600:]})")
            check_export_clean("nodeC", st, len(truth_b))
            r = indexer(pg, cluster)
            check(r.returncode == 0, f"rxinto-index --drain: exit 0 ({r.stderr[-300:]})")
            rows = query_json(pg, ["--node", "nodeC"])
            by_tuple = {(x["src"], x["sport"], x["dst"], x["dport"]): x for x in rows}
            check(len(rows) == len(truth_b) and all((t["src"], t["sport"], t["dst"], t["dport"]) in by_tuple
                                                    for t in truth_b),
                  f"nodeC: {len(rows)} directions indexed, one per truth direction")
            check(all(x["file"] is None and x["pcap"] is not None and x["end"] == "fin" for x in rows),
                  "nodeC: no stream file, pcapng named, ended by FIN")
            byte_ok = all(by_tuple[(t["src"], t["sport"], t["dst"], t["dport"])]["bytes"] == t["bytes"]
                          for t in truth_b if (t["src"], t["sport"], t["dst"], t["dport"]) in by_tuple)
            check(byte_ok, "nodeC: bytes equal the generator's")

        @case("one NATS node killed during export")
        def _():
            cap, truth = gen(tmp, "k", ["--flows", "300", "--c2s-bytes", "300", "--s2c-bytes", "3000", "--seed", "43"])
            out = os.path.join(tmp, "out_k")
            run = LiveRun(tmp, "k", ["--streams-dir", out, "--export", cluster.urls, "--node", "nodeK",
                                     "--export-streams", "--export-wait", "90"])
            run.open(cap)
            offs = run.record_offsets()
            half = offs[len(offs) // 2]
            check(run.write(0, half), "nodeK: first half of the capture taken")
            port = run.connected_port()
            check(port in cluster.client, f"nodeK: connected to a cluster node ({port})")
            time.sleep(0.3)
            victim = cluster.client.index(port) if port in cluster.client else 0
            cluster.kill(victim)
            check(run.write(half, len(run.data)), "nodeK: second half taken with a node down")
            rc, st, err = run.finish()
            check(rc == 0, f"nodeK: exit 0 ({err[-600:]})")
            lines = index_lines(out)
            check(len(lines) == len(truth), f"nodeK: {len(lines)} directions")
            check_export_clean("nodeK", st, len(lines), streams=True)
            check(st is not None and st["export"]["disconnects"] >= 1, "nodeK: the exporter saw its server go")
            subj = cluster.stream_info("rxinto.nodeK.conn").get("state", {}).get("subjects", {})
            check(subj.get("rxinto.nodeK.conn") == 2 * len(lines),
                  f"nodeK: the stream holds each record once ({subj})")
            for e in lines:
                expected[("nodeK", e["conn"], e["dir"])] = e
            cluster.start(victim)
            check(cluster.wait_ready(), "the killed node rejoined")

        @case("all NATS nodes down, then back")
        def _():
            cap, truth = gen(tmp, "o", ["--flows", "1800", "--c2s-bytes", "100", "--s2c-bytes", "300",
                                        "--seed", "44"])
            out = os.path.join(tmp, "out_o")
            spool = os.path.join(tmp, "spool")
            # A small ring (1 MiB, 16384 slots of 64 bytes): it buffers what cannot be sent
            # until it is half full, then the spool takes the rest. A connection's records
            # take 8 slots (open 3, end 5): 1800 connections overflow the half.
            ini = os.path.join(tmp, "smallring.ini")
            with open(ini, "w") as f:
                f.write("[export]\nring_mb = 1\n")
            run = LiveRun(tmp, "o", ["--config", ini, "--streams-dir", out, "--export", cluster.urls, "--node", "nodeO",
                                     "--export-spool", spool, "--export-spool-mb", "64",
                                     "--export-wait", "120"])
            run.open(cap)
            offs = run.record_offsets()
            third = offs[len(offs) // 3]
            check(run.write(0, third), "nodeO: first third taken")
            check(run.connected_port() is not None, "nodeO: connected")
            time.sleep(0.3)
            cluster.stop_all()
            # Every remaining packet must go through while no server answers.
            check(run.write(third, len(run.data)), "nodeO: the rest of the capture taken with every server down"
                                                   " (the receive loop did not stall)")
            # The end records come when rxinto stops (the connections are closed, not yet
            # released): stop it while the cluster is down, bring the cluster back while
            # rxinto waits for its acknowledgements.
            seen = {}

            def back():
                time.sleep(3)
                path = os.path.join(spool, "nodeO.spool")
                seen["spool"] = os.path.getsize(path) if os.path.exists(path) else 0
                cluster.start_all()
            t = threading.Thread(target=back)
            t.start()
            rc, st, err = run.finish()
            t.join()
            check(seen.get("spool", 0) > 0, f"nodeO: records in the spool while the cluster is down ({seen})")
            check(rc == 0, f"nodeO: exit 0 ({err[-600:]})")
            lines = index_lines(out)
            check(len(lines) == len(truth), f"nodeO: {len(lines)} directions")
            check_export_clean("nodeO", st, len(lines))
            check(st is not None and st["export"]["spooled"] > 0, "nodeO: records went through the spool")
            check(os.path.getsize(os.path.join(spool, "nodeO.spool")) == 0, "nodeO: the spool is empty at the end")
            check(cluster.wait_ready(current=False), "cluster back")
            subj = cluster.stream_info("rxinto.nodeO.conn").get("state", {}).get("subjects", {})
            check(subj.get("rxinto.nodeO.conn") == 2 * len(lines), f"nodeO: each record once in the stream ({subj})")
            for e in lines:
                expected[("nodeO", e["conn"], e["dir"])] = e

            # Without a spool, with no server at all: every record counted as dropped, nothing stalls.
            ini = os.path.join(tmp, "nospool.ini")
            with open(ini, "w") as f:
                f.write(f"[export]\nurls = {cluster.urls}\nnode = nodeD\nrequire_server = no\nwait = 1\n"
                        "connect_timeout = 0.5\n")
            cluster.stop_all()
            p, st = run_replay(["--config", ini, "--pcap", cap_b])
            cluster.start_all()
            check(p.returncode == 0, f"nodeD (no server, no spool): exit 0 ({p.stderr[-400:]})")
            x = (st or {}).get("export", {})
            check(x.get("exported") == 2 * len(truth_b) and x.get("acked") == 0 and x.get("dropped") == x.get("exported")
                  and x.get("drops", {}).get("no_spool", 0) + x.get("drops", {}).get("unacked_at_end", 0)
                  == x.get("exported"), f"nodeD: every record counted as dropped ({x})")
            check(st is not None and st["drops"].get("export_dropped") == x.get("dropped"), "drops.export_dropped")
            check(st is not None and st["accounting"]["accounted"] == st["rx_packets"], "nodeD: reception complete")
            check(cluster.wait_ready(current=False), "cluster back again")

        @case("PostgreSQL stopped during indexing")
        def _():
            cap, truth = gen(tmp, "p", ["--flows", "1500", "--c2s-bytes", "100", "--s2c-bytes", "200",
                                        "--seed", "45"])
            out = os.path.join(tmp, "out_p")
            p, st = run_replay(["--pcap", cap, "--streams-dir", out, "--export", cluster.urls, "--node", "nodeP",
                                "--export-wait", "60"])
            check(p.returncode == 0, f"nodeP: exit 0 ({p.stderr[-400:]})")
            lines = index_lines(out)
            check_export_clean("nodeP", st, len(lines))
            for e in lines:
                expected[("nodeP", e["conn"], e["dir"])] = e
            before = int(pg.sql("SELECT count(*) FROM rxinto_connections"))
            ix = subprocess.Popen([INDEX, "--nats", cluster.urls, "--db", pg.conninfo, "--drain", "--batch", "20"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            stopped = False
            deadline = time.time() + 60
            while time.time() < deadline and ix.poll() is None:
                try:
                    n = int(pg.sql("SELECT count(*) FROM rxinto_connections"))
                except RuntimeError:
                    n = before
                if n > before:
                    pg.stop("fast")
                    stopped = True
                    break
                time.sleep(0.02)
            check(stopped, "PostgreSQL stopped while rxinto-index was writing")
            time.sleep(2)
            check(ix.poll() is None, "rxinto-index waits for the database (does not exit)")
            pg.start()
            try:
                out_ix, err_ix = ix.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                ix.kill()
                out_ix, err_ix = ix.communicate()
            check(ix.returncode == 0, f"rxinto-index --drain: exit 0 after the outage ({err_ix[-400:]})")
            check("database unavailable" in err_ix, "rxinto-index said the database was away")
            rows = query_json(pg, ["--node", "nodeP"])
            compare_union("nodeP after the outage", rows,
                          {k: v for k, v in expected.items() if k[0] == "nodeP"})

        @case("the union of every node")
        def _():
            r = indexer(pg, cluster)
            check(r.returncode == 0, f"rxinto-index --drain: exit 0 ({r.stderr[-300:]})")
            rows = [x for x in query_json(pg) if x["node"] not in ("nodeC",)]
            compare_union("every node", rows, expected)
            dup = pg.sql("SELECT count(*) - count(DISTINCT (node, run, conn, d)) FROM rxinto_connections")
            check(dup == "0", f"no duplicate row ({dup})")
            parts = pg.sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'rxinto_connections'::regclass")
            check(int(parts) >= 1, f"partitioned by day ({parts} partitions)")

        @case("bad input")
        def _():
            dead = free_ports(1)[0]
            p, _ = run_replay(["--pcap", cap_b, "--export", f"nats://127.0.0.1:{dead}", "--node", "x"])
            check(p.returncode == 2 and "no NATS server answered" in p.stderr,
                  f"unreachable server: exit 2, said ({p.returncode}, {p.stderr[-300:]})")
            for bad, word in ((f"http://127.0.0.1:{cluster.client[0]}", "nats://"),
                              ("nats://127.0.0.1:99999", "port"), ("nats://", "no host"),
                              ("nats://a b:4222", "unexpected character")):
                p, _ = run_replay(["--pcap", cap_b, "--export", bad])
                check(p.returncode == 2 and word in p.stderr, f"--export {bad!r}: exit 2 ({p.stderr[-200:]})")
            for bad in ("a.b", "x>", "*", "n" * 65):
                p, _ = run_replay(["--pcap", cap_b, "--export", cluster.urls, "--node", bad])
                check(p.returncode == 2 and "--node" in p.stderr, f"--node {bad!r}: exit 2 ({p.stderr[-200:]})")
            p, _ = run_replay(["--pcap", cap_b, "--export-streams"])
            check(p.returncode == 2 and "without urls" in p.stderr, "--export-streams without --export: exit 2")
            p, _ = run_replay(["--pcap", cap_b, "--no-tcp", "--export", cluster.urls])
            check(p.returncode == 2 and "reassembly" in p.stderr, "--export with --no-tcp: exit 2")
            # A server whose max_payload cannot hold a record.
            small = free_ports(1)[0]
            conf = os.path.join(tmp, "small.conf")
            with open(conf, "w") as f:
                f.write(f'listen: "127.0.0.1:{small}"\nmax_payload: 1024\n'
                        f'jetstream {{ store_dir: "{os.path.join(tmp, "small-js")}" }}\n')
            srv = subprocess.Popen([NATS_SERVER, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                ok = False
                for _ in range(50):
                    try:
                        Nats(small).close()
                        ok = True
                        break
                    except OSError:
                        time.sleep(0.1)
                check(ok, "small nats-server up")
                p, _ = run_replay(["--pcap", cap_b, "--export", f"nats://127.0.0.1:{small}", "--node", "x"])
                check(p.returncode == 2 and "max_payload" in p.stderr,
                      f"a record too large for the server: exit 2, said ({p.stderr[-300:]})")
            finally:
                srv.kill()
                srv.wait()
            # rxinto-index: unreachable NATS, unreachable database, wrong URL.
            r = subprocess.run([INDEX, "--nats", f"nats://127.0.0.1:{dead}", "--db", pg.conninfo, "--drain"],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 2 and "no NATS server answered" in r.stderr, f"rxinto-index, no NATS: exit 2 ({r.stderr[-200:]})")
            r = subprocess.run([INDEX, "--nats", "nats:/x", "--db", pg.conninfo], capture_output=True, text=True)
            check(r.returncode == 2 and "nats://" in r.stderr, "rxinto-index, wrong URL: exit 2")
            r = subprocess.run([INDEX, "--nats", cluster.urls, "--db", f"host={pg.dir} port={dead} user=postgres",
                                "--drain"], capture_output=True, text=True, timeout=60)
            check(r.returncode == 2 and "cannot connect to the database" in r.stderr,
                  f"rxinto-index, no database: exit 2 ({r.stderr[-200:]})")
            # Databases that refuse the schema: no CREATE right; a foreign table of that name.
            pg.sql("CREATE DATABASE fleet_ro")
            pg.sql("CREATE ROLE fleet_ro LOGIN")
            r = subprocess.run([INDEX, "--nats", cluster.urls, "--db",
                                f"host={pg.dir} port={pg.port} user=fleet_ro dbname=fleet_ro", "--drain"],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 2 and "refuses the index schema" in r.stderr and "permission denied" in r.stderr,
                  f"rxinto-index, no CREATE right: exit 2 ({r.stderr[-300:]})")
            pg.sql("CREATE DATABASE fleet_other")
            pg.sql("CREATE TABLE rxinto_connections (a integer)", db="fleet_other")
            r = subprocess.run([INDEX, "--nats", cluster.urls, "--db",
                                f"host={pg.dir} port={pg.port} user=postgres dbname=fleet_other", "--drain"],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 2 and "is not the fleet index" in r.stderr,
                  f"rxinto-index, a foreign table: exit 2 ({r.stderr[-300:]})")
            r = query(pg, ["--host", "10.0.0.300"])
            check(r.returncode == 2, "rxinto-query --host with a bad address: exit 2")
    finally:
        cluster.stop_all()
        if pg is not None:
            pg.stop("immediate")
        if os.environ.get("RXINTO_KEEP_TMP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(rxtest.summary("fleet"))
