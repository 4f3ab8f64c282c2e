#!/usr/bin/env python3
"""Integration test of rxinto's DPDK telemetry commands: run rxinto on net_null for a
few seconds and query it through the telemetry socket (<runtime dir>/dpdk_telemetry.v2)
while it receives, by hand and through dpdk-telemetry.py.

Usage: test_telemetry.py BUILD_DIR [SOURCE_DIR]
Standard library only. Exits 0 when every check passes, 1 otherwise, 77 (skip) when
this DPDK has no telemetry.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402  (the shared pieces, beside this script)
from rxtest import check  # noqa: E402

BUILD = rxtest.args()[0]
RXINTO = rxtest.app(BUILD, "rxinto")
PREFIX = f"rxtel{os.getpid()}"
DURATION = 8.0
COMMANDS = ["/rxinto/stats", "/rxinto/ports", "/rxinto/port", "/rxinto/workers", "/rxinto/worker"]


def runtime_dir(prefix):
    """DPDK's runtime directory for a file prefix, as EAL (and dpdk-telemetry.py) derive it."""
    base = os.environ.get("RUNTIME_DIRECTORY")
    if not base:
        base = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(base, "dpdk", prefix)


def hugetlbfs_mounts():
    try:
        with open("/proc/mounts") as f:
            return [l.split()[1] for l in f if l.split()[2:3] == ["hugetlbfs"]]
    except OSError:
        return []


def cleanup_prefix(prefix):
    """Without --in-memory EAL leaves its runtime files and hugepage files behind; the
    hugepage files keep their pages reserved, so remove them."""
    shutil.rmtree(runtime_dir(prefix), ignore_errors=True)
    for m in hugetlbfs_mounts():
        for f in glob.glob(os.path.join(m, prefix + "map_*")):
            try:
                os.unlink(f)
            except OSError:
                pass


def telemetry_in_dpdk():
    """False only when pkg-config positively says libdpdk has no rte_telemetry."""
    try:
        p = subprocess.run(["pkg-config", "--libs", "--static", "libdpdk"], capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return True
    return p.returncode != 0 or "rte_telemetry" in p.stdout


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.greeting = json.loads(self.sock.recv(1024).decode())
        self.max_len = int(self.greeting.get("max_output_len", 16384))

    def query(self, cmd):
        """The value of the reply {cmd-name: value}."""
        self.sock.send(cmd.encode())
        reply = self.sock.recv(self.max_len)
        if not reply:
            raise ConnectionError("telemetry socket closed")
        obj = json.loads(reply.decode())
        name = cmd.split(",", 1)[0]
        if name not in obj:
            raise ValueError(f"reply to {cmd!r} has no key {name!r}: {obj}")
        return obj[name]

    def close(self):
        self.sock.close()


def main():
    if not telemetry_in_dpdk():
        print("skip: this DPDK has no telemetry library")
        return 77
    if not os.access(RXINTO, os.X_OK):
        print(f"FAIL: {RXINTO} missing")
        return 1
    tmp = tempfile.mkdtemp(prefix="rxinto-tel-")
    js = os.path.join(tmp, "stats.json")
    sock_path = os.path.join(runtime_dir(PREFIX), "dpdk_telemetry.v2")
    cleanup_prefix(PREFIX)
    # Not --in-memory: the runtime directory (and the socket in it) must exist.
    proc = subprocess.Popen([RXINTO, "--vdev", "net_null0,size=64,copy=0", "--file-prefix", PREFIX,
                             "--duration", str(DURATION), "--no-progress", "--stats-json", js],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.time()
    try:
        run_checks(proc, sock_path, started)
        out, err = rxtest.communicate(proc, 60)
        check(proc.returncode == 0, f"rxinto exit 0 (got {proc.returncode}; {err[-600:]})")
        check("stopped (duration)" in out, f"rxinto stopped on --duration ({out[:200]})")
        if os.path.exists(js):
            with open(js) as f:
                final = json.load(f)
            check(final["rx_packets"] >= LAST["rx_packets"] > 0,
                  f"final rx_packets {final['rx_packets']} >= last seen by telemetry {LAST['rx_packets']}")
        else:
            check(False, "stats json written")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        cleanup_prefix(PREFIX)
        shutil.rmtree(tmp, ignore_errors=True)
    return rxtest.summary("telemetry")


LAST = {"rx_packets": 0}


def run_checks(proc, sock_path, started):
    # The socket appears during EAL init; the commands answer once the ports are open.
    deadline = started + 30
    while not os.path.exists(sock_path) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not os.path.exists(sock_path):
        check(False, f"telemetry socket {sock_path} appeared (rxinto exit {proc.poll()})")
        return
    c = Client(sock_path)
    check(c.greeting.get("pid") == proc.pid, f"greeting names rxinto's pid: {c.greeting}")
    check(str(c.greeting.get("version", "")).startswith("DPDK"), f"greeting version: {c.greeting}")

    stats = None
    while time.time() < deadline:
        stats = c.query("/rxinto/stats")
        if isinstance(stats, dict) and stats.get("rx_packets", 0) > 0:
            break
        time.sleep(0.05)
    if not isinstance(stats, dict):
        check(False, f"/rxinto/stats answers a dict while running ({stats!r})")
        return
    t_first = time.time() - started
    print(f"first stats after {t_first:.2f}s: rx_packets {stats['rx_packets']}", flush=True)
    time.sleep(0.5)
    stats2 = c.query("/rxinto/stats")
    check(isinstance(stats2, dict) and stats2["rx_packets"] > stats["rx_packets"] > 0,
          f"rx_packets grows: {stats['rx_packets']} -> {stats2 and stats2.get('rx_packets')}")
    check(stats2["rx_bytes"] == 64 * stats2["rx_packets"],
          f"rx_bytes == 64 x rx_packets ({stats2['rx_bytes']}, {stats2['rx_packets']})")
    check(stats2["uptime_ms"] > stats["uptime_ms"], "uptime_ms grows")
    drops = stats2.get("drops")
    check(isinstance(drops, dict) and all(k in drops for k in ("imissed", "rx_nombuf", "ierrors")),
          f"drops dict with imissed/rx_nombuf/ierrors: {drops}")
    try:
        check(float(stats2["mpps"]) > 0 and float(stats2["gbps"]) > 0 and float(stats2["uptime_s"]) > 0,
              f"mpps/gbps/uptime_s decimals: {stats2['mpps']} {stats2['gbps']} {stats2['uptime_s']}")
    except (KeyError, ValueError) as e:
        check(False, f"mpps/gbps/uptime_s: {e!r}")
    pps, bps = stats2.get("rx_pps", 0), stats2.get("rx_bps", 0)
    check(pps > 0 and 0 <= bps - 8 * 64 * pps < 8 * 64,
          f"rx_pps/rx_bps consistent with 64-byte frames: {pps} {bps}")
    check(stats2.get("ports") == 1 and stats2.get("workers", 0) >= 1 and "flows_active" in stats2,
          f"ports/workers/flows_active: {stats2.get('ports')} {stats2.get('workers')}")
    if stats2.get("tcp_enabled"):
        check(isinstance(stats2.get("tcp"), dict) and "segments" in stats2["tcp"],
              f"tcp counters dict: {str(stats2.get('tcp'))[:200]}")
    LAST["rx_packets"] = stats2["rx_packets"]

    ports = c.query("/rxinto/ports")
    check(ports == [0], f"/rxinto/ports == [0]: {ports}")
    p0 = c.query("/rxinto/port,0")
    check(isinstance(p0, dict) and p0.get("driver") == "net_null" and p0.get("port_id") == 0
          and p0.get("rx_packets", 0) > 0 and isinstance(p0.get("drops"), dict)
          and isinstance(p0.get("queue_packets"), list),
          f"/rxinto/port,0: {p0}")
    workers = c.query("/rxinto/workers")
    check(isinstance(workers, list) and len(workers) >= 1 and workers == list(range(len(workers))),
          f"/rxinto/workers: {workers}")
    w0 = c.query("/rxinto/worker,0")
    check(isinstance(w0, dict) and "lcore" in w0 and w0.get("packets", 0) > 0, f"/rxinto/worker,0: {w0}")
    listing = c.query("/")
    check(isinstance(listing, list) and all(cmd in listing for cmd in COMMANDS),
          f"'/' lists the /rxinto commands: {[x for x in (listing or []) if 'rxinto' in x]}")
    helptext = c.query("/help,/rxinto/port")
    check(isinstance(helptext, dict) and "index" in helptext.get("/rxinto/port", ""),
          f"/help,/rxinto/port: {helptext}")

    # Bad parameters: an error answer (null), and rxinto carries on.
    for bad in ("/rxinto/port,1", "/rxinto/port,abc", "/rxinto/port", "/rxinto/port,-1",
                "/rxinto/port,99999999999999999999", "/rxinto/worker,9999", "/rxinto/worker,x",
                "/rxinto/stats,extra", "/rxinto/ports,0", "/rxinto/nosuchcommand"):
        v = c.query(bad)
        check(v is None, f"{bad}: error answer (null), got {v!r}")
    check(proc.poll() is None, "rxinto still running after bad parameters")
    check(isinstance(c.query("/rxinto/stats"), dict), "/rxinto/stats still answers after bad parameters")

    # dpdk-telemetry.py, non-interactively: commands on stdin, JSON on stdout.
    tool = shutil.which("dpdk-telemetry.py") or ("/usr/bin/dpdk-telemetry.py"
                                                  if os.path.exists("/usr/bin/dpdk-telemetry.py") else None)
    if tool is None:
        rxtest.skip("dpdk-telemetry.py not installed: its check did not run")
    else:
        t = subprocess.run([sys.executable, tool, "-f", PREFIX], input="/rxinto/stats\n/rxinto/port,0\n",
                           capture_output=True, text=True, timeout=30)
        replies = []
        for line in t.stdout.splitlines():
            try:
                replies.append(json.loads(line))
            except ValueError:
                pass
        st = [r["/rxinto/stats"] for r in replies if isinstance(r, dict) and "/rxinto/stats" in r]
        check(t.returncode == 0 and "rx_packets" in t.stdout and st and st[0]["rx_packets"] > 0,
              f"dpdk-telemetry.py -f {PREFIX}: rx_packets ({t.returncode}: {t.stdout[:300]} {t.stderr[-300:]})")
        check(any(isinstance(r, dict) and isinstance(r.get("/rxinto/port"), dict) for r in replies),
              "dpdk-telemetry.py: /rxinto/port,0 answered")

    # Through the end of the run: every answer is the live dict or "not running" (the
    # commands outlive the run: DPDK 22.11 cannot unregister them), never a crash.
    second = Client(sock_path)
    answers = {"dict": 0, "not running": 0, "other": []}

    def hammer(client):
        while True:
            try:
                v = client.query("/rxinto/stats")
            except (OSError, ValueError):
                return  # the process is gone
            if isinstance(v, dict):
                answers["dict"] += 1
            elif v == "not running":
                answers["not running"] += 1
            else:
                answers["other"].append(v)
            if proc.poll() is not None:
                return
            time.sleep(0.002)

    threads = [threading.Thread(target=hammer, args=(cl,), daemon=True) for cl in (c, second)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=DURATION + 40)
    check(not answers["other"], f"answers through shutdown are dicts or 'not running': {answers['other'][:3]}")
    check(answers["dict"] > 0, f"answers through shutdown: {answers['dict']} dicts, "
                               f"{answers['not running']} 'not running'")
    print(f"through shutdown: {answers['dict']} live answers, {answers['not running']} 'not running'",
          flush=True)
    c.close()
    second.close()


if __name__ == "__main__":
    sys.exit(main())
