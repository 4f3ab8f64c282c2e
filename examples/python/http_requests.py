#!/usr/bin/env python3
"""Every HTTP/1.x request of a capture, one JSON line each: the connection, the client and server,
the method, target, version, Host and the body's length (Content-Length or chunked), read through
io.BufferedReader on rxinto's streams. A stream with a gap (bytes never captured) is parsed up
to the gap, and the line says so.

    PYTHONPATH=build/python python3 examples/python/http_requests.py CAPTURE [setting=value ...]
"""
import io
import json
import sys

import rxinto

METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE"}


def body_length(r, headers):
    """Reads (and counts) the body that follows the headers."""
    if headers.get("transfer-encoding", "").lower().endswith("chunked"):
        n = 0
        while True:
            size = int(r.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while r.readline().strip():  # trailers, then the empty line
                    pass
                return n
            n += len(r.read(size))
            r.readline()
    length = int(headers.get("content-length", "0"))
    return len(r.read(length)) if length else 0


def requests(stream):
    """Yields the requests of one client->server stream (everything already in: after "closed")."""
    r = io.BufferedReader(stream, buffer_size=65536)
    while True:
        line = r.readline()
        if not line:
            return
        parts = line.split()
        if len(parts) != 3 or parts[0] not in METHODS or not parts[2].startswith(b"HTTP/1."):
            yield {"error": "not an HTTP/1.x request line", "line": line[:80].decode("latin-1")}
            return
        headers = {}
        while (h := r.readline()).strip():
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        req = {"method": parts[0].decode(), "target": parts[1].decode("latin-1"), "version": parts[2].decode(),
               "host": headers.get("host")}
        req["body_bytes"] = body_length(r, headers)
        yield req


def main(pcap, **settings):
    with rxinto.Receiver(pcap=pcap, **settings) as rx:
        while not rx.done:
            for ev in rx.poll(timeout=0.5):
                if ev.kind != "closed":  # read each connection once, when it has everything
                    continue
                c = ev.conn
                s = c.c2s if c.c2s is not None else c.a2b
                where = {"conn": c.id, "client": f"{s.src}:{s.sport}", "server": f"{s.dst}:{s.dport}"}
                try:
                    for req in requests(s):
                        print(json.dumps({**where, **req}), flush=True)
                except rxinto.GapError as e:
                    print(json.dumps({**where, "error": f"gap: {e}"}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], **dict(a.split("=", 1) for a in sys.argv[2:]))
