#!/usr/bin/env python3
"""The same iperf3 client against the kernel (iperf3 -s) and against rxinto-perf
(net_af_packet, net_af_xdp), on the same veth between two network namespaces.

Usage: bench_endpoint.py BUILD_DIR [--seconds S] [--runs N] [--streams 1,16] [--json FILE]

Namespace A runs `iperf3 -c 10.97.0.2 -t S -P K -J`; namespace B is the receiver:
  kernel-offloads-off   iperf3 -s with 10.97.0.2 on b0; TSO/GSO off on a0, GRO off on b0
                        (one frame per 1448-byte segment, as the rxinto rows get them)
  kernel-offloads-on    the same with the veth's default offloads (TSO/GSO/GRO on)
  rxinto-endpoint-af_packet, rxinto-endpoint-af_xdp
                        rxinto-perf owning 10.97.0.2 on b0 (B's kernel has no address
                        there), offloads off as in the first row; [endpoint] max_segments
                        8192 (af_packet) / 2048 (af_xdp): the windows together stay near
                        what the port's rx ring absorbs
For each: Gbit/s (iperf3's sum_received), and CPU seconds per GB received:
  recv_proc  the receiving process (iperf3 -s or rxinto-perf: utime + stime);
             the kernel's softirq receive work is not in it (it runs wherever the
             veth delivers, often on the sender's CPU), rxinto's busy polling is
  machine    every CPU of the machine (/proc/stat busy time), sender included:
             the fair total, since the sender is the same in every row
  sender     the iperf3 client process
Median of --runs runs. Needs root, iperf3, ethtool. Measured, never asserted.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import realtcp  # noqa: E402

A_IP, B_IP = "10.97.0.1", "10.97.0.2"
HZ = os.sysconf("SC_CLK_TCK")


def run(cmd, check=True, timeout=120):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()[-400:]}")
    return p


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / HZ


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / HZ  # utime, stime


class Lab:
    def __init__(self):
        pid = os.getpid()
        self.a, self.b = f"rxbe{pid}a", f"rxbe{pid}b"
        self.procs = []

    def ns(self, ns, *cmd):
        return ["ip", "netns", "exec", ns] + list(cmd)

    def setup(self, offloads_on, kernel_address):
        for ns in (self.a, self.b):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "dev", "lo", "up"])
        run(["ip", "-n", self.a, "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", self.b])
        if not kernel_address:
            run(self.ns(self.b, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"))
        if not offloads_on:
            run(self.ns(self.a, "ethtool", "-K", "a0", "tso", "off", "gso", "off", "gro", "off"))
            run(self.ns(self.b, "ethtool", "-K", "b0", "tso", "off", "gso", "off", "gro", "off"))
        run(["ip", "-n", self.a, "addr", "add", A_IP + "/24", "dev", "a0"])
        if kernel_address:
            run(["ip", "-n", self.b, "addr", "add", B_IP + "/24", "dev", "b0"])
        run(["ip", "-n", self.a, "link", "set", "dev", "a0", "up"])
        run(["ip", "-n", self.b, "link", "set", "dev", "b0", "up"])

    def spawn(self, ns, args):
        p = subprocess.Popen(self.ns(ns, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=realtcp._pdeathsig)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in (self.a, self.b):
            run(["ip", "netns", "del", ns], check=False)


def receiver_pid(ns_proc):
    """The pid of the program `ip netns exec` ran (it execs, so the same pid)."""
    return ns_proc.pid


def one_row(build, path, streams, seconds, runs):
    kernel = path.startswith("kernel")
    lab = Lab()
    res = []
    try:
        lab.setup(offloads_on=path == "kernel-offloads-on", kernel_address=kernel)
        if kernel:
            srv = lab.spawn(lab.b, ["iperf3", "-s", "-B", B_IP])
            time.sleep(1.0)
        else:
            vdev = ("net_af_xdp0,iface=b0,start_queue=0,queue_count=1" if path.endswith("af_xdp") else
                    "net_af_packet0,iface=b0,qpairs=1,blocksz=65536,framesz=2048,framecnt=8192")
            # The windows of all connections together stay near what the port's
            # rx ring absorbs (net_af_xdp: 1024 descriptors), as config/endpoint-af_xdp.ini.
            ini = f"/tmp/{lab.b}.ini"
            with open(ini, "w") as f:
                f.write("[endpoint]\nmax_segments = %d\n" % (2048 if path.endswith("af_xdp") else 8192))
            srv = lab.spawn(lab.b, [os.path.join(build, "app", "rxinto-perf"), "--config", ini, "--vdev", vdev,
                                    "--address", B_IP + "/24", "--file-prefix", lab.b, "--in-memory",
                                    "--lcores", "0-1"])
            realtcp.LineReader(srv.stdout, "rxinto-perf").wait_for("listening", 60)
            realtcp.LineReader(srv.stderr, "rxinto-perf stderr")
        for _ in range(runs + 1):  # one warm-up
            m0, r0 = machine_busy(), proc_cpu(receiver_pid(srv))
            p = run(lab.ns(lab.a, "iperf3", "-c", B_IP, "-t", str(seconds), "-P", str(streams), "-J"),
                    check=False, timeout=seconds + 60)
            m1, r1 = machine_busy(), proc_cpu(receiver_pid(srv))
            if p.returncode != 0:
                raise RuntimeError(f"iperf3: {p.stdout[-300:]} {p.stderr[-300:]}")
            j = json.loads(p.stdout)
            e = j["end"]
            gb = e["sum_received"]["bytes"] / 1e9
            dur = e["sum_received"]["seconds"]
            sender = e["cpu_utilization_percent"]["host_total"] / 100 * dur
            res.append({"gbit_s": e["sum_received"]["bits_per_second"] / 1e9,
                        "recv_proc_s_per_gb": (r1 - r0) / gb, "machine_s_per_gb": (m1 - m0) / gb,
                        "sender_s_per_gb": sender / gb, "bytes": e["sum_received"]["bytes"],
                        "retransmits": e["sum_sent"].get("retransmits", 0)})
            time.sleep(0.5)
        srv.send_signal(signal.SIGINT)
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    finally:
        lab.close()
    res = res[1:]
    med = {k: statistics.median(r[k] for r in res) for k in res[0]}
    med["path"], med["streams"], med["runs"] = path, streams, res
    return med


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    build = argv[1]
    seconds, runs, streams_list, out = 3, 3, [1, 16], None
    paths = ["kernel-offloads-off", "kernel-offloads-on", "rxinto-endpoint-af_packet", "rxinto-endpoint-af_xdp"]
    rest = argv[2:]
    while rest:
        a = rest.pop(0)
        if a == "--seconds":
            seconds = int(rest.pop(0))
        elif a == "--runs":
            runs = int(rest.pop(0))
        elif a == "--streams":
            streams_list = [int(x) for x in rest.pop(0).split(",")]
        elif a == "--paths":
            paths = rest.pop(0).split(",")
        elif a == "--json":
            out = rest.pop(0)
        else:
            print(f"unknown argument {a}", file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("needs root")
        return 77
    rows = []
    print(f"{'path':28} {'streams':>7} {'Gbit/s':>8} {'recv_proc s/GB':>15} {'machine s/GB':>13} "
          f"{'sender s/GB':>12} {'retrans':>8}")
    for streams in streams_list:
        for path in paths:
            try:
                r = one_row(build, path, streams, seconds, runs)
            except Exception as ex:  # noqa: BLE001
                print(f"{path:28} {streams:>7}  failed: {ex}")
                continue
            rows.append(r)
            print(f"{path:28} {streams:>7} {r['gbit_s']:8.2f} {r['recv_proc_s_per_gb']:15.3f} "
                  f"{r['machine_s_per_gb']:13.3f} {r['sender_s_per_gb']:12.3f} {r['retransmits']:8.0f}",
                  flush=True)
    if out:
        with open(out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
