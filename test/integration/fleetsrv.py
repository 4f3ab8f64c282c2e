"""The servers of the fleet tests and benchmark, started on loopback by the caller:
a 3-node nats-server cluster with JetStream (Cluster), a PostgreSQL cluster made
with initdb (Postgres), and a minimal NATS text-protocol client for checks (Nats).
Standard library only."""
import glob
import json
import os
import shutil
import socket
import subprocess
import time

NATS_SERVER = shutil.which("nats-server")
_PG = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PG_BIN = _PG[-1] if _PG else None


def available():
    """'' when nats-server and PostgreSQL are installed, else what is missing."""
    if NATS_SERVER is None:
        return "nats-server is not installed"
    if PG_BIN is None or not os.path.exists(os.path.join(PG_BIN, "initdb")):
        return "PostgreSQL (initdb) is not installed"
    return ""


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# ---------------------------------------------------------------------------
# a minimal NATS client for the checks (the text protocol: CONNECT, SUB, PUB)

class Nats:
    def __init__(self, port, timeout=3):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self._line()  # INFO
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
                       b"PING\r\n")
        while self._line() != b"PONG":
            pass
        self.sid = 0

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise ConnectionError("closed")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def request(self, subject, payload=b""):
        self.sid += 1
        inbox = f"_INBOX.fleettest.{self.sid}"
        self.s.sendall(f"SUB {inbox} {self.sid}\r\nPUB {subject} {inbox} {len(payload)}\r\n".encode() +
                       payload + b"\r\n")
        while True:
            line = self._line()
            if line == b"PING":
                self.s.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                return self._take(int(line.split()[-1]))
            elif line.startswith(b"HMSG "):
                parts = line.split()
                data = self._take(int(parts[-1]))
                hl = int(parts[-2])
                if b" 503" in data[:hl]:
                    return b'{"error":{"code":503,"description":"no responders"}}'
                return data[hl:]
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())

    def js(self, subject, body=None):
        return json.loads(self.request(subject, json.dumps(body).encode() if body is not None else b""))

    def close(self):
        self.s.close()


def js_api(ports, subject, body=None):
    """A JetStream API request through the first server that answers."""
    last = None
    for p in ports:
        try:
            n = Nats(p)
            try:
                return n.js(subject, body)
            finally:
                n.close()
        except (OSError, ConnectionError, RuntimeError, ValueError) as e:
            last = e
    raise ConnectionError(f"no server answered: {last}")


# ---------------------------------------------------------------------------
# servers

class Cluster:
    """Three nats-server processes with JetStream, clustered on 127.0.0.1."""

    def __init__(self, tmp):
        self.tmp = tmp
        ports = free_ports(6)
        self.client = ports[:3]
        self.route = ports[3:]
        self.procs = [None, None, None]
        self.urls = ",".join(f"nats://127.0.0.1:{p}" for p in self.client)
        name = f"rxfleet{os.getpid()}"
        for i in range(3):
            routes = ", ".join(f'"nats-route://127.0.0.1:{self.route[j]}"' for j in range(3) if j != i)
            store = os.path.join(tmp, f"js{i}")
            with open(os.path.join(tmp, f"n{i}.conf"), "w") as f:
                f.write(f'server_name: "{name}_n{i}"\nlisten: "127.0.0.1:{self.client[i]}"\n'
                        f'jetstream {{ store_dir: "{store}", max_memory_store: 64MB, max_file_store: 2GB }}\n'
                        f'cluster {{ name: "{name}", listen: "127.0.0.1:{self.route[i]}", routes: [{routes}] }}\n')

    def start(self, i):
        log = open(os.path.join(self.tmp, f"n{i}.log"), "a")
        self.procs[i] = subprocess.Popen([NATS_SERVER, "-c", os.path.join(self.tmp, f"n{i}.conf")],
                                         stdout=log, stderr=subprocess.STDOUT)

    def kill(self, i):
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        self.procs[i] = None

    def start_all(self):
        for i in range(3):
            if self.procs[i] is None:
                self.start(i)

    def stop_all(self):
        for i in range(3):
            self.kill(i)

    def wait_ready(self, timeout=90, current=True):
        """JetStream answers through every running server (a meta leader exists) and, once
        the stream exists, it has a leader and (with current) every replica is current."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            ok = True
            for i, p in enumerate(self.procs):
                if p is None:
                    continue
                try:
                    r = Nats(self.client[i]).js("$JS.API.INFO")
                    if "error" in r:
                        ok = False
                        continue
                    s = Nats(self.client[i]).js("$JS.API.STREAM.INFO.RXINTO")
                    if "error" not in s:
                        cl = s.get("cluster", {})
                        if not cl.get("leader") or (current and any(not r.get("current")
                                                                    for r in cl.get("replicas", []))):
                            ok = False
                except (OSError, ConnectionError, RuntimeError, ValueError):
                    ok = False
            if ok:
                return True
            time.sleep(0.25)
        return False

    def stream_info(self, subjects_filter=None):
        body = {"subjects_filter": subjects_filter} if subjects_filter else None
        return js_api([p for i, p in enumerate(self.client) if self.procs[i] is not None],
                      "$JS.API.STREAM.INFO.RXINTO", body)


class Postgres:
    """A PostgreSQL cluster of its own: initdb in a temporary directory, Unix socket only."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pg")
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_ports(1)[0]
        self.conninfo = f"host={self.dir} port={self.port} user=postgres dbname=postgres"
        r = self.as_postgres([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                              "--no-sync"])
        if r.returncode != 0:
            raise RuntimeError("initdb: " + r.stderr)

    def as_postgres(self, argv, timeout=60):
        return subprocess.run(["runuser", "-u", "postgres", "--"] + argv, capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        r = self.as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "-l",
                              os.path.join(self.dir, "log"), "-o",
                              f"-p {self.port} -k {self.dir} -c listen_addresses='' -c fsync=off", "start"])
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start: " + r.stdout + r.stderr)

    def stop(self, mode="fast"):
        self.as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "-m", mode, "stop"])

    def sql(self, query, db="postgres", user="postgres"):
        r = subprocess.run([os.path.join(PG_BIN, "psql"), "-h", self.dir, "-p", str(self.port), "-U", user,
                            "-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", query],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr}")
        return r.stdout.strip()


