#!/usr/bin/env python3
"""examples/python against the real thing:

- dump_streams.py writes exactly what the appliance's --streams-dir writes (every file byte for
  byte, every index.jsonl line field for field) for generated captures with loss, reordering,
  duplicates, VLANs, IPv6 and IP fragments;
  and for every public capture of ../shared/pcaps when it is there;
- http_requests.py lists the requests of real HTTP traffic: Python's http.server and a client on
  127.0.0.1 started by the test, captured with tcpdump on the loopback (root and tcpdump needed,
  else skipped).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import http.server

BUILD = os.environ.get("RXINTO_BUILD_DIR", "build")
SOURCE = os.environ.get("RXINTO_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(SOURCE, "examples", "python")
TMP = tempfile.mkdtemp(prefix=f"rxinto-pyex-{os.getpid()}-")


def clean_env():
    """The environment for programs that are not ours (no ASan preload)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def run_example(name, *args):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args), capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"{name} exit {p.returncode}: {p.stderr[-2000:]}")
    return p.stdout


def index_of(d):
    with open(os.path.join(d, "index.jsonl")) as f:
        lines = [json.loads(l) for l in f]
    return sorted(lines, key=lambda e: (e["conn"], e["dir"]))


class DumpStreams(unittest.TestCase):
    def check_capture(self, name, opts):
        pcap = os.path.join(TMP, name + ".pcap")
        subprocess.run([os.path.join(BUILD, "app", "rxinto-gen"), "--out", pcap] + opts, check=True,
                       capture_output=True)
        ours, theirs = os.path.join(TMP, name + ".py"), os.path.join(TMP, name + ".appliance")
        run_example("dump_streams.py", pcap, ours)
        p = subprocess.run([os.path.join(BUILD, "app", "rxinto"), "--pcap", pcap, "--streams-dir", theirs,
                            "--in-memory", "--no-progress"], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        a, b = index_of(ours), index_of(theirs)
        self.assertEqual(len(a), len(b))
        self.assertGreater(len(a), 0)
        for x, y in zip(a, b):
            self.assertEqual(x, y)
            if x["file"] is None:  # no byte: no file, in both (the index lines are equal)
                continue
            with open(os.path.join(ours, x["file"]), "rb") as f1, open(os.path.join(theirs, y["file"]), "rb") as f2:
                self.assertTrue(f1.read() == f2.read(), f"{name}: {x['file']} differs")
        self.assertTrue(any(e["gaps"] for e in a) or "loss" not in opts, "the loss case has gaps")

    def test_impaired_vlan(self):
        self.check_capture("impaired", ["--flows", "12", "--loss", "0.1", "--reorder", "0.2", "--duplicate", "0.1",
                                        "--vlan-tags", "1", "--seed", "61"])

    def test_ipv6_fragments_qinq(self):
        self.check_capture("v6frag", ["--flows", "8", "--ipv6-share", "1", "--vlan-tags", "2", "--fragment", "0.3",
                                      "--loss", "0.05", "--seed", "62"])


class SharedCaptures(unittest.TestCase):
    """The public captures beside the checkout (../shared/pcaps, optional: skipped when absent):
    evasions, overlaps, leading gaps, RST with data, split handshakes, IPv6 fragments, QinQinQ...
    The dumper runs in this process (one EAL, a new Receiver for each capture) and must write
    what the appliance writes, file for file."""

    def test_dumper_equals_appliance(self):
        import gzip
        import importlib.util
        files = os.environ.get("RXINTO_SHARED_PCAPS") or os.path.normpath(
            os.path.join(SOURCE, "..", "shared", "pcaps", "files"))
        if not os.path.isdir(files):
            self.skipTest(f"{files} not present (the shared public captures are optional)")
        spec = importlib.util.spec_from_file_location("dump_streams", os.path.join(EXAMPLES, "dump_streams.py"))
        dump_streams = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(dump_streams)
        names = sorted(os.listdir(files))
        self.assertGreater(len(names), 0)
        for name in names:
            with self.subTest(capture=name):
                pcap = os.path.join(files, name)
                if name.endswith(".gz"):
                    pcap = os.path.join(TMP, name[:-3])
                    with gzip.open(os.path.join(files, name)) as a, open(pcap, "wb") as b:
                        shutil.copyfileobj(a, b)
                ours, theirs = os.path.join(TMP, name + ".py"), os.path.join(TMP, name + ".appliance")
                dump_streams.dump(pcap, ours)
                p = subprocess.run([os.path.join(BUILD, "app", "rxinto"), "--pcap", pcap, "--streams-dir", theirs,
                                    "--in-memory", "--no-progress"], capture_output=True, text=True, timeout=300)
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                a, b = index_of(ours), index_of(theirs)
                self.assertEqual(a, b)
                for x in a:
                    if x["file"] is None:  # no byte: no file, in both
                        continue
                    with open(os.path.join(ours, x["file"]), "rb") as f1, \
                         open(os.path.join(theirs, x["file"]), "rb") as f2:
                        self.assertTrue(f1.read() == f2.read(), f"{name}: {x['file']} differs")
                shutil.rmtree(ours)
                shutil.rmtree(theirs)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"hello " * 300
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                self.rfile.read(size + 2) if size else self.rfile.readline()
                if not size:
                    break
        else:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def capture_http(pcap):
    """Real HTTP/1.1 over 127.0.0.1 (Python's http.server and urllib, a raw socket for chunked and
    pipelined requests), captured by tcpdump on the loopback. Returns (port, tcpdump's drop count)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    td = subprocess.Popen([shutil.which("tcpdump"), "-i", "lo", "-w", pcap, "-U", "--immediate-mode", "-n",
                           f"tcp port {port}"], stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        line = td.stderr.readline()
        if "listening" not in line:
            raise AssertionError(f"tcpdump: {line}")
        base = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(f"{base}/a/b?c=1", timeout=10).read()
        urllib.request.urlopen(urllib.request.Request(f"{base}/upload", data=b"x" * 5000,
                                                      headers={"Host": "example.test"}), timeout=10).read()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /chunk HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                  b"3\r\nabc\r\n0\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
        s.close()
        time.sleep(0.5)
    finally:
        td.send_signal(signal.SIGINT)
        _, err = td.communicate(timeout=30)
        srv.shutdown()
        srv.server_close()
    m = re.search(r"(\d+) packets? dropped by kernel", err)
    return port, int(m.group(1)) if m else 0


class HttpRequests(unittest.TestCase):
    def test_real_http_over_loopback(self):
        if shutil.which("tcpdump") is None or os.geteuid() != 0:
            self.skipTest("needs tcpdump and root to capture on the loopback")
        pcap = os.path.join(TMP, "http.pcap")
        for attempt in range(5):
            port, dropped = capture_http(pcap)
            if dropped == 0:
                break
            # Capture loss on a busy machine: rxinto would (rightly) report a gap; capture again.
            print(f"tcpdump dropped {dropped} packets: capturing again", file=sys.stderr)
        else:
            self.skipTest("tcpdump kept dropping packets on this busy machine")
        out = [json.loads(l) for l in run_example("http_requests.py", pcap).splitlines()]
        out.sort(key=lambda r: r["conn"])  # printed as connections close; ids are in opening order
        got = [(r.get("method"), r.get("target"), r.get("host"), r.get("body_bytes")) for r in out]
        self.assertEqual(got, [("GET", "/a/b?c=1", f"127.0.0.1:{port}", 0),
                               ("POST", "/upload", "example.test", 5000),
                               ("POST", "/chunk", "h", 8),
                               ("GET", "/two", "h", 0)], out)
        self.assertTrue(all(r["server"] == f"127.0.0.1:{port}" for r in out))
        self.assertEqual(out[2]["conn"], out[3]["conn"], "two requests on one connection")


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
