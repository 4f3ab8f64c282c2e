#!/usr/bin/env python3
"""The `rxinto` Python module as a TCP endpoint, against real Linux TCP.

Namespace A (a Linux client, 10.96.0.1) and namespace B joined by a veth pair;
in B a Python process opens rxinto.Receiver(vdev=<net_af_packet on B's veth
end>, address="10.96.0.2/24") (B's kernel has no address there: everything is
rxinto's), calls rx.listen(PORT) and serves each connection: it reads what the
client sends with recv_into() into a preallocated buffer, and when the client's
FIN arrives it answers with conn.send() (the byte count and SHA-256 of what it
read) and conn.close(). The clients in A check the answers; the server checks
that a watched connection's send() is refused, that a too-large send() returns
0, and that every packet buffer is back in the pool after close().

Needs root, ip, ethtool; skipped otherwise. Run by `meson test` (suite python):
    PYTHONPATH=build/python RXINTO_BUILD_DIR=build python3 python/tests/test_endpoint.py -v
Standard library only.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import unittest

PORT = 7000
A_IP, B_IP = "10.96.0.1", "10.96.0.2"
SIZES = [1, 100_000, 3_000_000, 0]  # 0: a client that connects and closes at once

SERVER = r"""
import hashlib, json, sys, time
import rxinto
port, nconn = int(sys.argv[1]), int(sys.argv[2])
buf = bytearray(65536)
view = memoryview(buf)
out = {"served": [], "errors": []}
rx = rxinto.Receiver(vdev="net_af_packet0,iface=b0,qpairs=1,blocksz=65536,framesz=2048,framecnt=4096",
                     address="10.96.0.2/24", in_memory=True, no_huge=True, memory=512, lcores="0")
try:
    rx.listen(port)
    print("listening", flush=True)
    state = {}
    closed = 0
    deadline = time.monotonic() + 120
    while closed < nconn and time.monotonic() < deadline:
        for ev in rx.poll(timeout=0.05):
            c = ev.conn
            if ev.kind == "closed":
                closed += 1
            st = state.setdefault(c.id, {"h": hashlib.sha256(), "n": 0, "replied": False})
            if c.stale or c.released and st["replied"]:
                continue
            inbound = [s for s in c.streams if s.dport == port]
            if len(inbound) != 1:
                out["errors"].append(f"connection {c.id}: no stream to port {port}")
                continue
            s = inbound[0]
            while True:
                n = s.recv_into(view)
                if n == 0:
                    break
                st["h"].update(view[:n])
                st["n"] += n
            if s.ended and not st["replied"] and not c.released:
                if c.state != "CLOSE-WAIT":  # RFC 9293 names
                    out["errors"].append(f"connection {c.id}: state {c.state!r} after the client's FIN")
                # all or nothing: more than the window and the initial cwnd allow is refused
                if c.send(bytes(c.send_room + 1)) != 0:
                    out["errors"].append("a send() larger than send_room was taken")
                reply = json.dumps({"n": st["n"], "sha256": st["h"].hexdigest()}).encode()
                if c.send(reply) != len(reply):
                    out["errors"].append(f"connection {c.id}: send() of {len(reply)} bytes refused")
                c.close()
                st["replied"] = True
                out["served"].append(st["n"])
    out["stats"] = rx.stats()["endpoint"]
finally:
    rx.close()
out["mempool_in_use"] = rx.mempool_in_use
print(json.dumps(out), flush=True)
"""

CLIENT = r"""
import hashlib, json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
res = []
for size in [int(x) for x in sys.argv[3].split(",")]:
    data = hashlib.shake_256(f"py-endpoint:{size}".encode()).digest(size) if size else b""
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    res.append({"size": size, "sha256": hashlib.sha256(data).hexdigest(), "reply": got.decode()})
print(json.dumps(res), flush=True)
"""


def run(cmd, check=True, timeout=30):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()[-400:]}")
    return p


def why_skip():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "ethtool"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@unittest.skipIf(why_skip() is not None, why_skip() or "")
class PythonEndpoint(unittest.TestCase):
    def setUp(self):
        pid = os.getpid()
        self.a, self.b = f"rxpyep{pid}a", f"rxpyep{pid}b"
        self.made = []
        for ns in (self.a, self.b):
            run(["ip", "netns", "add", ns])
            self.made.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "netns", "exec", self.b, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
             "net.ipv6.conf.default.disable_ipv6=1"])
        run(["ip", "-n", self.a, "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", self.b])
        for ns, dev in ((self.a, "a0"), (self.b, "b0")):
            # one frame per segment, as a NIC without TSO/GRO delivers them
            run(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"])
            run(["ip", "-n", ns, "link", "set", "dev", dev, "up"])
        run(["ip", "-n", self.a, "addr", "add", A_IP + "/24", "dev", "a0"])

    def tearDown(self):
        for ns in reversed(self.made):
            run(["ip", "netns", "del", ns], check=False)

    def test_listen_recv_into_send_close(self):
        env = dict(os.environ)
        server = subprocess.Popen(["ip", "netns", "exec", self.b, sys.executable, "-c", SERVER, str(PORT),
                                   str(len(SIZES))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
        try:
            line = server.stdout.readline()
            if "listening" not in line:
                server.kill()
                _, err = server.communicate(timeout=10)
                self.fail(f"the server did not start: {line!r} {err[-1500:]}")
            client = run(["ip", "netns", "exec", self.a, sys.executable, "-c", CLIENT, B_IP, str(PORT),
                          ",".join(str(s) for s in SIZES)], timeout=120)
            out, err = server.communicate(timeout=150)
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate(timeout=10)
        self.assertEqual(server.returncode, 0, err[-2000:])
        res = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(res["errors"], [])
        self.assertEqual(sorted(res["served"]), sorted(SIZES))
        for r in json.loads(client.stdout.strip().splitlines()[-1]):
            reply = json.loads(r["reply"])
            self.assertEqual(reply, {"n": r["size"], "sha256": r["sha256"]}, r)
        st = res["stats"]
        self.assertEqual(st["connections_opened"], len(SIZES))
        self.assertGreater(st["arp_requests"], 0)
        self.assertGreaterEqual(st["send_refused"], len(SIZES))  # the too-large sends, counted
        self.assertEqual(res["mempool_in_use"], 0)


if __name__ == "__main__":
    unittest.main()
