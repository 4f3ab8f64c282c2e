#!/usr/bin/env python3
"""rxinto as a TCP endpoint, against real Linux TCP in network namespaces.

Usage: test_endpoint.py BUILD_DIR SOURCE_DIR [--only NAME[,NAME]] [--keep DIR]

Namespace A (the Linux client, 10.98.0.1 / fd98::1) and namespace B, where
rxinto owns 10.98.0.2/24 and fd98::2/64 on a veth end through net_af_packet
(B's kernel has no address there: everything is rxinto's), joined by a veth
pair; for the impairment case a third namespace in between runs realtcp.py's
user-space bridge that drops, reorders and duplicates data frames.

  ping      ping and ping -6 answer (ARP, neighbour solicitation, echo)
  files     nc and socat send 1 B, 1 MB and 200 MB (RXINTO_EP_BIG_MB): SHA-256 of
            what rxinto wrote (--streams-dir, index.jsonl dir c2s) equals the file's;
            a closed port is refused with a RST
  many      1000 concurrent connections, each byte-exact
  impaired  2% loss, 2% reorder, 1% duplicates between A and B: byte-exact, and the
            sender's counters (nstat) show recovery by fast retransmit, not timeouts
  slow      an application reading 1 KB per ms (--read-rate): the window closes to
            zero and reopens, nothing is lost, held segments stay within the budget
  tap       net_tap: rxinto and B's kernel share a tap interface; ping and a 1 MB nc
  iperf3    rxinto-perf on the same port: `iperf3 -c ADDR -t 3 -J` (and -P 4 over IPv6)
            exits 0 and its byte counts equal rxinto-perf's
  hostile   a SYN flood from a raw socket (SYN cookies, bounded memory, a legitimate
            nc connects during it); RST and FIN with wrong sequence numbers (challenge
            ACK, ignored), data beyond the window; every one counted

Needs root. Exit status: 0 pass, 1 failure, 77 skip. Standard library only.
"""
import hashlib
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realtcp  # noqa: E402

SKIP = 77
SELF = os.path.abspath(__file__)
PY = sys.executable or "python3"
V4_A, V4_B = "10.98.0.1", "10.98.0.2"
V6_A, V6_B = "fd98::1", "fd98::2"
PORT = 5000


class Skip(Exception):
    pass


def log(*a):
    print(*a, flush=True)


def run(cmd, timeout=30, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return p


def payload(seed, i, n):
    return hashlib.shake_256(f"rxinto-endpoint:{seed}:{i}".encode()).digest(n)


# ----------------------------------------------------------------------------------------
# the lab

class Lab:
    def __init__(self, build, impaired=False, tag=""):
        pid = os.getpid()
        self.a, self.b, self.m = f"rxep{pid}{tag}a", f"rxep{pid}{tag}b", f"rxep{pid}{tag}m"
        self.build = build
        self.impaired = impaired
        self.created, self.procs = [], []
        self.rx = None
        self.rx_err = None
        self.prefix = f"rxep{pid}{tag}"

    def ns(self, ns, *cmd):
        return ["ip", "netns", "exec", ns] + list(cmd)

    def setup(self, bridge_args=()):
        spaces = [self.a, self.b] + ([self.m] if self.impaired else [])
        for ns in spaces:
            run(["ip", "netns", "add", ns])
            self.created.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(self.ns(self.a, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0"))
        for ns in [self.b] + ([self.m] if self.impaired else []):
            # B's kernel has no address on the port: no IPv6 chatter either
            run(self.ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"))
        if self.impaired:
            run(["ip", "-n", self.a, "link", "add", "a0", "type", "veth", "peer", "name", "ma",
                 "netns", self.m])
            run(["ip", "-n", self.b, "link", "add", "b0", "type", "veth", "peer", "name", "mb",
                 "netns", self.m])
            ends = [(self.a, "a0"), (self.b, "b0"), (self.m, "ma"), (self.m, "mb")]
        else:
            run(["ip", "-n", self.a, "link", "add", "a0", "type", "veth", "peer", "name", "b0",
                 "netns", self.b])
            ends = [(self.a, "a0"), (self.b, "b0")]
        for ns, dev in ends:
            # One frame per segment on the wire (what a NIC sees without GRO/TSO).
            run(self.ns(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"))
            run(["ip", "-n", ns, "link", "set", "dev", dev, "up"])
        if self.impaired:
            for dev in ("ma", "mb"):
                run(["ip", "-n", self.m, "link", "set", "dev", dev, "promisc", "on"])
            bridge = self.spawn(self.m, [PY, realtcp.SELF, "bridge", "ma", "mb"] + list(bridge_args))
            realtcp.LineReader(bridge.stdout, "bridge").wait_for("ready", 10)
            self.bridge = bridge
        run(["ip", "-n", self.a, "addr", "add", V4_A + "/24", "dev", "a0"])
        run(["ip", "-n", self.a, "-6", "addr", "add", V6_A + "/64", "dev", "a0", "nodad"])

    def spawn(self, ns, args, **kw):
        p = subprocess.Popen(self.ns(ns, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, preexec_fn=realtcp._pdeathsig, **kw)
        self.procs.append(p)
        return p

    def start_rxinto(self, streams, extra=(), stats=None):
        args = [os.path.join(self.build, "app", "rxinto"),
                "--vdev", "net_af_packet0,iface=b0,qpairs=1,blocksz=65536,framesz=2048,framecnt=4096",
                "--address", V4_B + "/24", "--address", V6_B + "/64", "--listen", str(PORT),
                "--streams-dir", streams, "--file-prefix", self.prefix, "--in-memory",
                "--no-progress", "--lcores", "0-1"] + list(extra)
        if stats:
            args += ["--stats-json", stats]
        self.rx = self.spawn(self.b, args)
        self.rx_out = realtcp.LineReader(self.rx.stdout, "rxinto stdout")
        self.rx_err = realtcp.LineReader(self.rx.stderr, "rxinto")
        self.rx_err.wait_for("listening", 60)

    def stop_rxinto(self):
        if self.rx is None:
            return ""
        self.rx.send_signal(signal.SIGINT)
        try:
            self.rx.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.rx.kill()
            raise RuntimeError("rxinto did not stop on SIGINT")
        out = self.rx_out.text()
        if self.rx.returncode != 0:
            raise RuntimeError(f"rxinto exited {self.rx.returncode}: {self.rx_err.text()[-1500:]}")
        self.rx = None
        return out

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in reversed(self.created):
            run(["ip", "netns", "del", ns], check=False)
        self.created = []

    def mac_b(self):
        out = run(["ip", "-n", self.b, "-j", "link", "show", "b0"]).stdout
        return json.loads(out)[0]["address"]


def index_lines(streams):
    path = os.path.join(streams, "index.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wait_index(streams, n, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        lines = [x for x in index_lines(streams) if x["dir"] == "c2s"]
        if len(lines) >= n:
            return lines
        time.sleep(0.1)
    raise RuntimeError(f"{streams}: {len(index_lines(streams))} index lines, wanted {n} c2s")


def stats_of(path):
    with open(path) as f:
        return json.load(f)["endpoint"]


def nstat(lab, ns):
    out = run(lab.ns(ns, "nstat", "-az", "--json"), check=False).stdout
    try:
        d = json.loads(out)
        return d.get("kernel", d)
    except ValueError:
        return {}


# ----------------------------------------------------------------------------------------
# cases

def case_ping(lab, work):
    for cmd in (["ping", "-c", "3", "-i", "0.2", "-W", "2", V4_B],
                ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", V6_B]):
        p = run(lab.ns(lab.a, *cmd), check=False, timeout=20)
        if p.returncode != 0 or " 0% packet loss" not in p.stdout:
            raise RuntimeError(f"{' '.join(cmd)}: {p.stdout[-300:]} {p.stderr[-300:]}")
    return "ping and ping -6: 3/3 each"


def case_files(lab, work, streams):
    big = int(os.environ.get("RXINTO_EP_BIG_MB", "200")) * 1_000_000
    files = []
    for name, n in (("1b", 1), ("1mb", 1_000_000), ("big", big)):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            left, i = n, 0
            while left > 0:
                chunk = payload(7, f"{name}:{i}", min(left, 1 << 22))
                f.write(chunk)
                left -= len(chunk)
                i += 1
        files.append((name, path, n))
    sent = []
    tools = [("nc", V4_B), ("nc6", V6_B), ("socat", V4_B)]
    for k, (name, path, n) in enumerate(files):
        for tool, addr in tools if name != "big" else [("nc", V4_B)]:
            if tool.startswith("nc"):
                cmd = ["nc", "-N", "-w", "30", addr, str(PORT)]
            else:
                cmd = ["socat", "-u", f"FILE:{path}", f"TCP:{addr}:{PORT}"]
            with open(path, "rb") as f:
                t0 = time.monotonic()
                p = subprocess.run(lab.ns(lab.a, *cmd), stdin=f, capture_output=True, timeout=120)
                dt = time.monotonic() - t0
            if p.returncode != 0:
                raise RuntimeError(f"{tool} {name}: exit {p.returncode}: {p.stderr.decode()[-300:]}")
            sent.append((tool, name, path, n, dt))
    lines = wait_index(streams, len(sent))
    want = {}
    for tool, name, path, n, dt in sent:
        want.setdefault((n, sha_file(path)), []).append((tool, name))
    got = {}
    for x in lines:
        got.setdefault((x["bytes"], sha_file(os.path.join(streams, x["file"]))), []).append(x)
        if x["end"] != "fin" or x["gaps"]:
            raise RuntimeError(f"stream {x}: not a clean fin without gaps")
    for key, who in want.items():
        if len(got.get(key, [])) != len(who):
            raise RuntimeError(f"{who}: {key[0]} bytes with sha {key[1][:12]}: "
                               f"{len(got.get(key, []))} streams match, wanted {len(who)}")
    # a closed port: refused at once (RST)
    p = run(lab.ns(lab.a, "nc", "-z", "-w", "3", V4_B, str(PORT + 1)), check=False)
    if p.returncode == 0:
        raise RuntimeError("a closed port accepted a connection")
    rate = [f"{name} by {tool}: {n / dt / 1e6:.0f} MB/s" for tool, name, path, n, dt in sent if n > 1e6]
    return f"{len(sent)} transfers byte-exact ({', '.join(rate)}); closed port refused"


def client_many(n, size, seed, addr, timeout):
    """Runs in namespace A: n concurrent connections, each sends its payload, then waits
    for the server's FIN."""
    sel = selectors.DefaultSelector()
    socks = {}
    for i in range(n):
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((addr, PORT))
        socks[s] = [i, memoryview(payload(seed, i, size)), False]
        sel.register(s, selectors.EVENT_WRITE)
    done, failed = 0, []
    end = time.monotonic() + timeout
    while socks and time.monotonic() < end:
        for key, ev in sel.select(0.2):
            s = key.fileobj
            st = socks[s]
            try:
                if ev & selectors.EVENT_WRITE:
                    if st[1]:
                        k = s.send(st[1][:65536])
                        st[1] = st[1][k:]
                    if not st[1]:
                        s.shutdown(socket.SHUT_WR)
                        sel.modify(s, selectors.EVENT_READ)
                else:
                    if s.recv(4096) == b"":
                        sel.unregister(s)
                        s.close()
                        del socks[s]
                        done += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as ex:
                failed.append(f"{st[0]}: {ex}")
                sel.unregister(s)
                s.close()
                del socks[s]
    print(json.dumps({"done": done, "failed": failed[:10], "left": len(socks)}), flush=True)
    return 0 if done == n else 1


def case_many(lab, work, streams, n=1000, size=20000):
    before = len([x for x in index_lines(streams) if x["dir"] == "c2s"])
    p = run(lab.ns(lab.a, PY, SELF, "client-many", str(n), str(size), "3", V4_B, "60"),
            check=False, timeout=120)
    res = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    if p.returncode != 0:
        raise RuntimeError(f"client: {res} {p.stderr[-500:]}")
    lines = wait_index(streams, before + n)
    want = {hashlib.sha256(payload(3, i, size)).hexdigest() for i in range(n)}
    got = set()
    for x in lines:
        if x["bytes"] == size:
            got.add(sha_file(os.path.join(streams, x["file"])))
    missing = want - got
    if missing:
        raise RuntimeError(f"{len(missing)} of {n} connections not byte-exact")
    return f"{n} concurrent connections of {size} bytes, all byte-exact"


def client_send(addr, n, seed, timeout):
    s = socket.create_connection((addr, PORT), timeout=timeout)
    data = payload(seed, 0, n)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    info = run(["ss", "-tin", "dst", addr], check=False).stdout
    while s.recv(4096):
        pass
    s.close()
    print(json.dumps({"ss": info}), flush=True)


def case_impaired(build, work, size=4_000_000):
    lab = Lab(build, impaired=True, tag="i")
    streams = os.path.join(work, "streams-impaired")
    try:
        stats_path = os.path.join(work, "bridge-stats.json")
        lab.setup(["--seed", "3", "--loss", "0.02", "--reorder", "0.02", "--duplicate", "0.01",
                   "--stats", stats_path])
        lab.start_rxinto(streams)
        before = nstat(lab, lab.a)
        p = run(lab.ns(lab.a, PY, SELF, "client-send", V4_B, str(size), "11", "60"), check=False,
                timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"client: {p.stdout[-300:]} {p.stderr[-500:]}")
        after = nstat(lab, lab.a)
        lines = wait_index(streams, 1)
        lab.stop_rxinto()
        lab.bridge.send_signal(signal.SIGTERM)
        lab.bridge.wait(timeout=10)
    finally:
        lab.close()
    x = lines[0]
    got = open(os.path.join(streams, x["file"]), "rb").read()
    if got != payload(11, 0, size):
        raise RuntimeError(f"impaired transfer: {len(got)} bytes, not the payload")

    def d(k):
        return after.get(k, 0) - before.get(k, 0)

    retrans, timeouts = d("TcpRetransSegs"), d("TcpExtTCPTimeouts")
    sack_recoveries, fast = d("TcpExtTCPSackRecovery"), d("TcpExtTCPFastRetrans")
    with open(stats_path) as f:
        bridge = json.load(f)
    dropped = sum(v["dropped"] for v in bridge.values())
    if dropped == 0:
        raise RuntimeError(f"the bridge dropped nothing: {bridge}")
    if sack_recoveries == 0 or timeouts > max(2, fast // 4):
        raise RuntimeError(f"recovery by timeouts, not SACK: retrans {retrans}, fast {fast}, "
                           f"sack recoveries {sack_recoveries}, timeouts {timeouts}")
    return (f"{size} bytes byte-exact through 2% loss / 2% reorder / 1% duplicates "
            f"({dropped} frames dropped): sender retransmits {retrans}, fast retransmits {fast}, "
            f"SACK recoveries {sack_recoveries}, RTO timeouts {timeouts}")


# ---- raw frames (hostile input) ----

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp_frame(smac, dmac, src, dst, sport, dport, seq, ack, flags, win=65535, data=b"", opts=b""):
    hl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (hl // 4) << 4,
                      flags, win, 0, 0) + opts + data
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    c = csum(ph + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dmac + smac + b"\x08\x00" + ip + tcp


def parse_tcp(frame):
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 15) * 4
    t = 14 + ihl
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", frame[t:t + 16])
    return {"sport": sport, "dport": dport, "seq": seq, "ack": ack, "flags": flags, "win": win,
            "src": socket.inet_ntoa(frame[26:30]), "dst": socket.inet_ntoa(frame[30:34])}


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def hostile_client(dmac_s, n_syn, seconds):
    """Runs in namespace A: a SYN flood of n_syn SYNs from random sources, then a hand-made
    connection from 10.98.0.77 that receives wrong RSTs and FINs and data beyond the window."""
    dmac = mac_bytes(dmac_s)
    smac = mac_bytes(open("/sys/class/net/a0/address").read().strip())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind(("a0", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    res = {}
    # --- the flood: templates with a changing source and port, as fast as Python goes
    rng = random.Random(5)
    t0 = time.monotonic()
    sent = 0
    base = tcp_frame(smac, dmac, "10.98.0.200", V4_B, 1000, PORT, 0, 0, 0x02,
                     opts=b"\x02\x04\x05\xb4")
    frame = bytearray(base)
    while sent < n_syn and time.monotonic() - t0 < seconds:
        src = rng.getrandbits(16)
        sport = rng.getrandbits(16) | 1024
        isn = rng.getrandbits(32)
        # source 10.98.x.y (not A's address: A's kernel never answers the SYN-ACKs)
        frame[28:30] = struct.pack("!H", src | 0x0100)
        frame[34:36] = struct.pack("!H", sport)
        frame[38:42] = struct.pack("!I", isn)
        frame[24:26] = b"\0\0"
        frame[24:26] = struct.pack("!H", csum(bytes(frame[14:34])))
        frame[50:52] = b"\0\0"
        tcp = bytes(frame[34:])
        ph = bytes(frame[26:34]) + struct.pack("!BBH", 0, 6, len(tcp))
        frame[50:52] = struct.pack("!H", csum(ph + tcp))
        try:
            s.send(frame)
            sent += 1
        except OSError:
            time.sleep(0.0005)
    res["syn_sent"] = sent
    res["flood_seconds"] = round(time.monotonic() - t0, 2)
    # drain what came back
    s.setblocking(False)
    synacks = 0
    try:
        while True:
            f = s.recv(2048)
            t = parse_tcp(f)
            if t and t["flags"] & 0x12 == 0x12:
                synacks += 1
    except BlockingIOError:
        pass
    res["synacks_seen"] = synacks
    s.setblocking(True)
    s.settimeout(2)
    # --- a hand-made connection
    me, sport, isn = "10.98.0.77", 45555, 1000

    def send(seq, ack, flags, data=b""):
        s.send(tcp_frame(smac, dmac, me, V4_B, sport, PORT, seq, ack, flags, data=data))

    def expect(pred, what, timeout=2.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                f = s.recv(4096)
            except socket.timeout:
                break
            t = parse_tcp(f)
            if t and t["dst"] == me and t["dport"] == sport and pred(t):
                return t
        raise RuntimeError(f"no {what}")

    s.send(tcp_frame(smac, dmac, me, V4_B, sport, PORT, isn, 0, 0x02, opts=b"\x02\x04\x05\xb4"))
    sa = expect(lambda t: t["flags"] & 0x12 == 0x12, "SYN-ACK")
    irs = sa["seq"]
    nxt = isn + 1
    send(nxt, irs + 1, 0x10)
    send(nxt, irs + 1, 0x18, b"A" * 100)
    nxt += 100
    expect(lambda t: t["flags"] & 0x10 and t["ack"] == nxt, "ACK of 100 bytes")
    # a RST in the window but not at RCV.NXT: a challenge ACK, the connection stays
    send(nxt + 1000, 0, 0x04)
    ch = expect(lambda t: t["flags"] & 0x10 and not t["flags"] & 0x04 and t["ack"] == nxt,
                "challenge ACK for an in-window RST")
    res["challenge_ack"] = ch["ack"] == nxt
    # a RST far outside the window: ignored
    send(nxt + 0x40000000, 0, 0x04)
    # a FIN far outside the window: answered with an ACK, ignored
    send(nxt + 0x40000000, irs + 1, 0x11)
    expect(lambda t: t["flags"] & 0x10 and t["ack"] == nxt, "ACK for an out-of-window FIN")
    # data far beyond the advertised window: dropped, answered with an ACK
    send(nxt + (64 << 20), irs + 1, 0x18, b"X" * 50)
    expect(lambda t: t["flags"] & 0x10 and t["ack"] == nxt, "ACK for data beyond the window")
    # the connection is alive: more data, then a proper FIN
    send(nxt, irs + 1, 0x18, b"B" * 100)
    nxt += 100
    expect(lambda t: t["flags"] & 0x10 and t["ack"] == nxt, "ACK of the second 100 bytes")
    send(nxt, irs + 1, 0x11)
    nxt += 1
    fin = expect(lambda t: t["flags"] & 0x01, "rxinto's FIN", timeout=3)
    send(nxt, fin["seq"] + 1, 0x10)
    res["hand_made"] = "ok"
    print(json.dumps(res), flush=True)
    return 0


def case_hostile(lab, work, streams, n_syn):
    mac = lab.mac_b()
    before = len(index_lines(streams))
    flood = lab.spawn(lab.a, [PY, SELF, "client-hostile", mac, str(n_syn), "60"])
    # a legitimate connection while the flood runs
    time.sleep(1.0)
    data = payload(21, 0, 300_000)
    with tempfile.NamedTemporaryFile(dir=work, delete=False) as f:
        f.write(data)
    with open(f.name, "rb") as fin:
        p = subprocess.run(lab.ns(lab.a, "nc", "-N", "-w", "20", V4_B, str(PORT)), stdin=fin,
                           capture_output=True, timeout=60)
    legit = p.returncode
    out, err = flood.communicate(timeout=120)
    if flood.returncode != 0:
        raise RuntimeError(f"hostile client: {out[-500:]} {err[-1500:]}")
    res = json.loads(out.strip().splitlines()[-1])
    if legit != 0:
        raise RuntimeError(f"nc during the flood failed ({legit}): {p.stderr.decode()[-300:]}")
    lines = [x for x in index_lines(streams)[before:] if x["dir"] == "c2s"]
    want = hashlib.sha256(data).hexdigest()
    if not any(x["bytes"] == len(data) and sha_file(os.path.join(streams, x["file"])) == want
               for x in lines):
        raise RuntimeError("the legitimate connection during the flood is not byte-exact")
    hand = [x for x in lines if x["src"] == "10.98.0.77"]
    if not hand or hand[0]["bytes"] != 200:
        raise RuntimeError(f"hand-made connection: {hand}")
    return res


def case_iperf3(build, work):
    if shutil.which("iperf3") is None:
        return "skipped: iperf3 not installed"
    lab = Lab(build, tag="p")
    out = []
    try:
        lab.setup()
        perf = lab.spawn(lab.b, [os.path.join(build, "app", "rxinto-perf"),
                                 "--vdev", "net_af_packet0,iface=b0,qpairs=1,blocksz=65536,framesz=2048,framecnt=4096",
                                 "--address", V4_B + "/24", "--address", V6_B + "/64",
                                 "--file-prefix", lab.prefix, "--in-memory", "--lcores", "0-1"])
        p_out = realtcp.LineReader(perf.stdout, "rxinto-perf")
        p_err = realtcp.LineReader(perf.stderr, "rxinto-perf stderr")
        p_out.wait_for("listening", 60)
        results = []
        for args in (["-c", V4_B, "-t", "3", "-J"], ["-c", V6_B, "-t", "2", "-P", "4", "-J"]):
            p = run(lab.ns(lab.a, "iperf3", *args), check=False, timeout=60)
            if p.returncode != 0:
                raise RuntimeError(f"iperf3 {' '.join(args)}: exit {p.returncode}: {p.stdout[-500:]} {p.stderr[-300:]}")
            j = json.loads(p.stdout)
            line = p_out.wait_for(f"test {len(results) + 1}:", 10)
            got = int(re.search(r": (\d+) bytes received", line).group(1))
            sent, recv = j["end"]["sum_sent"]["bytes"], j["end"]["sum_received"]["bytes"]
            if recv != got or sent != got:
                raise RuntimeError(f"iperf3 {' '.join(args)}: sent {sent}, received {recv}, rxinto-perf {got}")
            results.append((args, got, j["end"]["sum_received"]["bits_per_second"],
                            j["end"]["cpu_utilization_percent"]["remote_total"]))
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=30)
        summary = [x for x in p_out.text().splitlines() if "summary" in x]
        if perf.returncode != 0 or not summary:
            raise RuntimeError(f"rxinto-perf exit {perf.returncode}: {p_err.text()[-800:]}")
        for args, got, bps, cpu in results:
            out.append(f"{' '.join(a for a in args if a != '-J')}: {got} bytes = iperf3's, "
                       f"{bps / 1e9:.2f} Gbit/s, server CPU {cpu:.0f}%")
    finally:
        lab.close()
    return "; ".join(out)


def case_tap(build, work):
    """net_tap: the tap's kernel side (with another MAC: the PMD and its kernel interface
    start with the same one) is the Linux peer, in one namespace."""
    pid = os.getpid()
    ns = f"rxep{pid}t"
    streams = os.path.join(work, "streams-tap")
    run(["ip", "netns", "add", ns])
    procs = []
    try:
        run(["ip", "-n", ns, "link", "set", "dev", "lo", "up"])
        rx = subprocess.Popen(["ip", "netns", "exec", ns, os.path.join(build, "app", "rxinto"),
                               "--vdev", f"net_tap0,iface=rxtap{pid % 100000}", "--address", "10.96.0.2/24",
                               "--listen", str(PORT), "--streams-dir", streams, "--file-prefix", f"rxep{pid}t",
                               "--in-memory", "--no-progress", "--lcores", "0-1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=realtcp._pdeathsig)
        procs.append(rx)
        err = realtcp.LineReader(rx.stderr, "rxinto")
        out = realtcp.LineReader(rx.stdout, "rxinto stdout")
        err.wait_for("listening", 60)
        dev = f"rxtap{pid % 100000}"
        run(["ip", "-n", ns, "link", "set", "dev", dev, "address", "02:00:00:00:77:01"])
        run(["ip", "-n", ns, "addr", "add", "10.96.0.1/24", "dev", dev])
        run(["ip", "-n", ns, "link", "set", "dev", dev, "up"])
        p = run(["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.96.0.2"], check=False)
        if p.returncode != 0:
            raise RuntimeError(f"ping over net_tap: {p.stdout[-300:]}")
        data = payload(31, 0, 1_000_000)
        p = subprocess.run(["ip", "netns", "exec", ns, "nc", "-N", "-w", "20", "10.96.0.2", str(PORT)],
                           input=data, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"nc over net_tap: {p.stderr.decode()[-300:]}")
        lines = wait_index(streams, 1)
        rx.send_signal(signal.SIGINT)
        rx.wait(timeout=30)
        out.text()
        got = open(os.path.join(streams, lines[0]["file"]), "rb").read()
        if got != data:
            raise RuntimeError(f"net_tap: {len(got)} bytes, not the payload")
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait(timeout=5)
        run(["ip", "netns", "del", ns], check=False)
    return "ping and 1 MB byte-exact over net_tap"


def client_slow_send(addr, n, seed):
    s = socket.create_connection((addr, PORT), timeout=60)
    s.sendall(payload(seed, 0, n))
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    print(json.dumps({"ok": True}), flush=True)


def case_slow(build, work, size=3_000_000):
    lab = Lab(build, tag="s")
    streams = os.path.join(work, "streams-slow")
    stats = os.path.join(work, "stats-slow.json")
    try:
        lab.setup()
        lab.start_rxinto(streams, extra=["--read-rate", "1000"], stats=stats)
        t0 = time.monotonic()
        p = run(lab.ns(lab.a, PY, SELF, "client-slow", V4_B, str(size), "13"), check=False, timeout=120)
        dt = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"client: {p.stdout[-300:]} {p.stderr[-500:]}")
        lines = wait_index(streams, 1)
        lab.stop_rxinto()
    finally:
        lab.close()
    got = open(os.path.join(streams, lines[0]["file"]), "rb").read()
    if got != payload(13, 0, size):
        raise RuntimeError(f"slow reader: {len(got)} bytes, not the payload")
    ep = stats_of(stats)
    if ep["zero_windows"] == 0 or ep["window_updates"] == 0:
        raise RuntimeError(f"the window never closed or never reopened: {ep}")
    if ep["data_dropped_no_room"] != 0:
        raise RuntimeError(f"data dropped for want of room: {ep['data_dropped_no_room']}")
    return (f"{size} bytes read at 1 KB/ms in {dt:.1f} s, byte-exact: {ep['zero_windows']} zero "
            f"windows, {ep['window_updates']} window updates, {ep['out_of_window']} probes/out of window")


# ----------------------------------------------------------------------------------------

def preflight(build):
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces)")
    for tool in ("ip", "ethtool", "nc", "socat", "ping", "nstat"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} not installed")
    if not os.path.exists(os.path.join(build, "app", "rxinto")):
        raise Skip("no rxinto binary")
    probe = f"rxep{os.getpid()}probe"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip(f"cannot create a network namespace: {p.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def main(argv):
    if len(argv) >= 2 and argv[1].startswith("client-"):
        cmd = argv[1]
        if cmd == "client-many":
            return client_many(int(argv[2]), int(argv[3]), int(argv[4]), argv[5], float(argv[6]))
        if cmd == "client-send":
            client_send(argv[2], int(argv[3]), int(argv[4]), float(argv[5]))
            return 0
        if cmd == "client-slow":
            client_slow_send(argv[2], int(argv[3]), int(argv[4]))
            return 0
        if cmd == "client-hostile":
            return hostile_client(argv[2], int(argv[3]), float(argv[4]))
        return 2
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    build, source = argv[1], argv[2]
    only, keep = None, None
    rest = argv[3:]
    while rest:
        a = rest.pop(0)
        if a == "--only":
            only = set(rest.pop(0).split(","))
        elif a == "--keep":
            keep = rest.pop(0)
        else:
            print(f"unknown argument {a}", file=sys.stderr)
            return 2
    try:
        preflight(build)
    except Skip as ex:
        print(f"SKIP: {ex}")
        return SKIP
    work = keep or tempfile.mkdtemp(prefix="rxinto-endpoint-")
    os.makedirs(work, exist_ok=True)
    failures = []
    want = lambda name: only is None or name in only  # noqa: E731
    n_syn = int(os.environ.get("RXINTO_EP_SYNS", "1000000"))
    try:
        if want("ping") or want("files") or want("many") or want("hostile"):
            lab = Lab(build)
            streams = os.path.join(work, "streams")
            stats = os.path.join(work, "stats.json")
            try:
                lab.setup()
                lab.start_rxinto(streams, stats=stats)
                for name, fn in (("ping", lambda: case_ping(lab, work)),
                                 ("files", lambda: case_files(lab, work, streams)),
                                 ("many", lambda: case_many(lab, work, streams)),
                                 ("hostile", lambda: case_hostile(lab, work, streams, n_syn))):
                    if not want(name):
                        continue
                    t0 = time.monotonic()
                    try:
                        msg = fn()
                        log(f"{name}: ok ({time.monotonic() - t0:.1f} s): {msg}")
                    except Exception as ex:  # noqa: BLE001
                        failures.append(name)
                        log(f"{name}: FAILED: {ex}")
                lab.stop_rxinto()
            finally:
                lab.close()
            ep = stats_of(stats)
            log("endpoint counters: " + ", ".join(f"{k} {v}" for k, v in ep.items()
                                                  if isinstance(v, int) and v))
            if want("hostile") and "hostile" not in failures:
                problems = []
                if ep["syn_cookies_sent"] == 0:
                    problems.append("no SYN cookie sent during the flood")
                if ep["challenge_acks"] == 0:
                    problems.append("no challenge ACK")
                if ep["rst_out_of_window"] == 0 or ep["out_of_window"] == 0:
                    problems.append("out-of-window RST/FIN/data not counted")
                if ep["connections"] > 4096:
                    problems.append(f"{ep['connections']} connections left")
                if problems:
                    failures.append("hostile-counters")
                    log("hostile: FAILED: " + "; ".join(problems))
                else:
                    log(f"hostile: counters ok: syn_received {ep['syn_received']}, cookies sent "
                        f"{ep['syn_cookies_sent']}, syn_queue_full {ep['syn_queue_full']}, "
                        f"challenge ACKs {ep['challenge_acks']}, RSTs ignored {ep['rst_out_of_window']}")
        for name, fn in (("tap", lambda: case_tap(build, work)),
                         ("iperf3", lambda: case_iperf3(build, work)),
                         ("impaired", lambda: case_impaired(build, work)),
                         ("slow", lambda: case_slow(build, work))):
            if not want(name):
                continue
            t0 = time.monotonic()
            try:
                msg = fn()
                log(f"{name}: ok ({time.monotonic() - t0:.1f} s): {msg}")
            except Exception as ex:  # noqa: BLE001
                failures.append(name)
                log(f"{name}: FAILED: {ex}")
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    log(f"endpoint: {'FAILED ' + ', '.join(failures) if failures else 'all cases passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
