#!/usr/bin/env python3
"""The `rxinto` Python module against the real pipeline: captures written by
rxinto-gen (with its --truth), replayed through DPDK's net_pcap, reassembled,
read through recv_into() with every kind of buffer.

Run by `meson test` (suite python) for the release and the sanitizer trees:
    PYTHONPATH=build/python RXINTO_BUILD_DIR=build python3 python/tests/test_rxinto.py -v
Standard library only; the numpy cases run when python3-numpy is installed.
"""
import gc
import io
import json
import mmap
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import unittest

import rxinto

try:
    import numpy
except ImportError:  # python3-numpy (scripts/setup.sh installs it)
    numpy = None

BUILD = os.environ.get("RXINTO_BUILD_DIR", "build")
GEN = os.path.join(BUILD, "app", "rxinto-gen")
SANITIZED = bool(os.environ.get("RXINTO_SANITIZED"))
TMP = tempfile.mkdtemp(prefix=f"rxinto-py-{os.getpid()}-")


def generate(name, *opts):
    """(pcap path, truth list) of a capture rxinto-gen writes with these options."""
    pcap = os.path.join(TMP, name + ".pcap")
    truth = os.path.join(TMP, name + ".truth")
    if not os.path.exists(pcap):
        subprocess.run([GEN, "--out", pcap, "--truth", truth] + list(opts), check=True,
                       capture_output=True)
    with open(os.path.join(truth, "truth.jsonl")) as f:
        lines = [json.loads(l) for l in f]
    for t in lines:
        with open(os.path.join(truth, t["file"]), "rb") as f:
            t["payload"] = f.read()
    return pcap, lines


def remove_ranges(data, ranges):
    out = bytearray()
    pos = 0
    for off, ln in sorted(ranges):
        out += data[pos:off]
        pos = off + ln
    out += data[pos:]
    return bytes(out)


class Buffers:
    """A destination of `size` bytes of one kind, inside guard bytes where the kind allows it."""
    GUARD = 64
    FILL = 0xA5

    def __init__(self, kind, size):
        self.kind = kind
        self.size = size
        if kind == "bytearray":
            self.backing = bytearray([self.FILL]) * size
            self.view = self.backing
        elif kind == "memoryview-slice":
            self.backing = bytearray([self.FILL]) * (size + 2 * self.GUARD)
            self.view = memoryview(self.backing)[self.GUARD:self.GUARD + size]
        elif kind == "numpy":
            self.backing = numpy.full(size + 2 * self.GUARD, self.FILL, dtype=numpy.uint8)
            self.view = self.backing[self.GUARD:self.GUARD + size]
        elif kind == "mmap":
            self.backing = mmap.mmap(-1, size + 2 * self.GUARD)
            self.backing.write(bytes([self.FILL]) * (size + 2 * self.GUARD))
            self.view = memoryview(self.backing)[self.GUARD:self.GUARD + size]
        else:
            raise ValueError(kind)

    def data(self, n):
        return bytes(memoryview(self.view)[:n]) if self.kind != "numpy" else self.view[:n].tobytes()

    def guards_intact(self):
        if self.kind == "bytearray":
            return True
        raw = bytes(self.backing) if self.kind != "numpy" else self.backing.tobytes()
        g = self.GUARD
        return raw[:g] == bytes([self.FILL]) * g and raw[-g:] == bytes([self.FILL]) * g

    def release(self):
        if self.kind == "mmap":
            self.view.release()
            self.backing.close()


def read_everything(rx, buf, streams, events=None, check=None):
    """Drains every stream the events name (bytes, gaps), until the replay is done."""
    while not rx.done:
        for ev in rx.poll(timeout=0.5):
            if events is not None:
                events.append((ev.kind, ev.conn.id, ev.conn))
            for s in ev.conn.streams:
                drain(s, buf, streams)
            if check is not None:
                check()


def drain(s, buf, streams):
    key = (s.src, s.sport, s.dst, s.dport)
    entry = streams.setdefault(key, {"data": bytearray(), "gaps": [], "label": s.label,
                                     "conn": s.conn.id, "ended": None})
    entry["label"] = s.label
    while True:
        n = s.recv_into(buf.view)
        if n:
            assert 0 < n <= buf.size, (n, buf.size)
            entry["data"] += buf.data(n)
            continue
        g = s.gap()
        if g:
            entry["gaps"].append([s.offset, g])  # stream coordinates, as the truth's lost ranges
            assert s.skip_gap() == g
            continue
        break
    entry["ended"] = s.ended


class Checked(unittest.TestCase):
    """Every test ends with no C++ object of the module left alive (connections, receivers, peek
    buffers): the module's own leak check, exact where LeakSanitizer cannot be (the interpreter
    leaks at exit by design)."""

    def tearDown(self):
        gc.collect()
        self.assertEqual(rxinto._live_objects(), {"conn_states": 0, "receivers": 0, "peek_buffers": 0})


class Base(Checked):
    def assertStreamsMatchTruth(self, streams, truth, label):
        self.assertEqual(len(streams), len(truth), f"{label}: one stream per truth direction")
        ids = {}
        for t in truth:
            key = (t["src"], t["sport"], t["dst"], t["dport"])
            self.assertIn(key, streams, f"{label}: direction {key}")
            got = streams[key]
            want = remove_ranges(t["payload"], t["lost"])
            self.assertEqual(len(got["data"]), len(want), f"{label} conn{t['conn']} {t['dir']}: length")
            self.assertTrue(bytes(got["data"]) == want, f"{label} conn{t['conn']} {t['dir']}: bytes")
            self.assertEqual([list(g) for g in got["gaps"]], [list(x) for x in t["lost"]],
                             f"{label} conn{t['conn']} {t['dir']}: gaps")
            self.assertEqual(got["label"], t["dir"], f"{label}: label")
            self.assertEqual(got["ended"], "fin", f"{label}: end reason")
            ids.setdefault(t["conn"], set()).add(got["conn"])
        for c, v in ids.items():
            self.assertEqual(len(v), 1, f"{label} conn{c}: one id for both directions")


CAPTURES = {
    "plain": ["--flows", "4", "--ipv6-share", "0.5", "--seed", "21"],
    "loss_reorder_dup": ["--flows", "8", "--loss", "0.12", "--reorder", "0.2", "--duplicate", "0.1",
                         "--seed", "22"],
    "vlan_v6_fragments": ["--flows", "6", "--ipv6-share", "1", "--vlan-tags", "2", "--fragment", "0.3",
                          "--loss", "0.05", "--reorder", "0.1", "--seed", "23"],
    "small_mss_wrap": ["--flows", "3", "--mss", "64", "--reorder", "0.1", "--loss", "0.05", "--seed", "24"],
}


class ByteExact(Base):
    """Every byte the truth says was captured, exactly, with the lost ranges as gaps, through
    recv_into with buffers of 1, 7, 4096 and 1 MiB bytes of several kinds."""

    def run_case(self, name, size, kind):
        pcap, truth = generate(name, *CAPTURES[name])
        buf = Buffers(kind, size)
        streams = {}
        events = []
        with rxinto.Receiver(pcap=pcap) as rx:
            read_everything(rx, buf, streams, events, check=lambda: self.assertTrue(buf.guards_intact()))
            self.assertEqual(rx.stats()["outcomes"]["accepted"] + rx.stats()["outcomes"]["fragment"] > 0, True)
        self.assertEqual(rx.mempool_in_use, 0, "every mbuf back in the pool after close()")
        self.assertTrue(buf.guards_intact(), f"{kind}: guard bytes untouched")
        self.assertStreamsMatchTruth(streams, truth, f"{name} {kind} {size}")
        # Events: opened first, closed exactly once, one object per connection.
        by_id = {}
        for kind_, cid, conn in events:
            by_id.setdefault(cid, []).append(kind_)
        for cid, kinds in by_id.items():
            self.assertEqual(kinds[0], "opened", f"conn {cid}: {kinds}")
            self.assertEqual(kinds.count("closed"), 1, f"conn {cid}: {kinds}")
            self.assertEqual(kinds[-1], "closed", f"conn {cid}: {kinds}")
        buf.release()

    def test_buffer_sizes_and_kinds(self):
        kinds = ["bytearray", "memoryview-slice", "mmap"] + (["numpy"] if numpy is not None else [])
        sizes = [1, 7, 4096, 1 << 20]
        i = 0
        for name in CAPTURES:
            for size in sizes:
                if SANITIZED and size == 1 and name != "plain":
                    continue  # one byte at a time is slow under ASan; plain covers it
                kind = kinds[i % len(kinds)]
                i += 1
                with self.subTest(capture=name, size=size, kind=kind):
                    self.run_case(name, size, kind)

    def test_nbytes_smaller_than_the_buffer(self):
        pcap, truth = generate("plain", *CAPTURES["plain"])
        backing = bytearray(b"\x5a") * 1000
        streams = {}
        with rxinto.Receiver(pcap=pcap) as rx:
            while not rx.done:
                for ev in rx.poll(timeout=0.5):
                    for s in ev.conn.streams:
                        e = streams.setdefault((s.src, s.sport, s.dst, s.dport),
                                               {"data": bytearray(), "gaps": [], "label": s.label,
                                                "conn": s.conn.id, "ended": None})
                        while True:
                            n = s.recv_into(backing, 10)
                            self.assertLessEqual(n, 10)
                            self.assertEqual(bytes(backing[10:]), b"\x5a" * 990, "nothing past nbytes")
                            if not n:
                                break
                            e["data"] += backing[:n]
                        e["ended"] = s.ended
        self.assertStreamsMatchTruth(streams, truth, "nbytes=10")


class Contract(Checked):
    def test_contract_snippet_verbatim(self):
        """The issue's contract, as written (pcap="x.pcap" in the working directory)."""
        d = tempfile.mkdtemp(dir=TMP)
        subprocess.run([GEN, "--out", os.path.join(d, "x.pcap"), "--flows", "5", "--loss", "0.1",
                        "--seed", "31"], check=True, capture_output=True)
        old = os.getcwd()
        os.chdir(d)
        try:
            view = memoryview(bytearray(4096))
            seen = []
            with rxinto.Receiver(pcap="x.pcap") as rx:      # any rxinto setting as a keyword
                while not rx.done:                          # True once a replay ended and all closed
                    for ev in rx.poll(timeout=0.1):         # ev.kind: "opened" | "readable" | "closed"
                        for s in ev.conn.streams:           # two streams; s.label: c2s/s2c/a2b/b2a
                            n = s.recv_into(view)           # int; 0 at a gap, at the end, or no data
                            g = s.gap()                     # bytes missing at the read position (0: none)
                            s.skip_gap()                    # steps over that gap
                            s.src, s.sport, s.dst, s.dport, s.ended   # sender's address/port, end reason
                            seen.append((ev.kind, type(n), type(g), s.label, s.ended))
        finally:
            os.chdir(old)
        self.assertTrue(seen)
        self.assertTrue(all(t[1] is int and t[2] is int for t in seen))
        self.assertEqual({t[0] for t in seen}, {"opened", "readable", "closed"})
        self.assertTrue({t[3] for t in seen} <= {"c2s", "s2c", "a2b", "b2a"})
        self.assertTrue({t[4] for t in seen} <= {None, "fin", "rst", "timeout", "evicted", "eof"})
        self.assertEqual(rx.mempool_in_use, 0)


class Bounds(Checked):
    def setUp(self):
        self.pcap, _ = generate("plain", *CAPTURES["plain"])

    def first_stream_with_data(self, rx):
        while not rx.done:
            for ev in rx.poll(timeout=0.5):
                for s in ev.conn.streams:
                    if s.available > 16:
                        return s
        self.fail("no stream with data")

    def test_errors_and_guards(self):
        with rxinto.Receiver(pcap=self.pcap) as rx:
            s = self.first_stream_with_data(rx)
            # nbytes larger than the buffer: ValueError, nothing read.
            before = s.available
            with self.assertRaises(ValueError):
                s.recv_into(bytearray(8), 9)
            with self.assertRaises(ValueError):
                s.recv_into(bytearray(8), -1)
            # Read-only buffers: TypeError, as socket.recv_into.
            for ro in (b"12345678", memoryview(b"12345678"), memoryview(bytearray(8)).toreadonly()):
                with self.assertRaises(TypeError):
                    s.recv_into(ro)
            with self.assertRaises(TypeError):
                s.recv_into("not a buffer")
            with self.assertRaises(TypeError):
                s.recv_into(12)
            if numpy is not None:
                a = numpy.zeros(16, dtype=numpy.uint8)
                a.setflags(write=False)
                with self.assertRaises(TypeError):
                    s.recv_into(a)
                with self.assertRaises(TypeError):
                    s.recv_into(numpy.zeros(32, dtype=numpy.uint8)[::2])  # not contiguous
            self.assertEqual(s.available, before, "a refused call reads nothing")
            # A slice of a larger buffer: never written past, on either side.
            big = bytearray(b"\xee") * 100
            n = s.recv_into(memoryview(big)[40:45])
            self.assertEqual(n, 5)
            self.assertEqual(bytes(big[:40]), b"\xee" * 40)
            self.assertEqual(bytes(big[45:]), b"\xee" * 55)
            # nbytes inside a slice.
            n = s.recv_into(memoryview(big)[60:70], 3)
            self.assertEqual(n, 3)
            self.assertEqual(bytes(big[63:]), b"\xee" * 37)
            # An empty buffer reads nothing.
            self.assertEqual(s.recv_into(bytearray()), 0)
            # numpy: any dtype, bounded by its bytes (nbytes counts bytes, as socket's).
            if numpy is not None:
                arr = numpy.full(6, -1, dtype=numpy.int32)
                n = s.recv_into(arr[1:3])
                self.assertEqual(n, 8)
                self.assertEqual(int(arr[0]), -1)
                self.assertEqual([int(x) for x in arr[3:]], [-1, -1, -1])

    def test_keywords(self):
        with self.assertRaises(rxinto.Error) as e:
            rxinto.Receiver(pcap=self.pcap, max_flowz=10)
        self.assertIn("max_flowz", str(e.exception))
        with self.assertRaises(rxinto.Error) as e:
            rxinto.Receiver(pcap=self.pcap, max_flows=3)
        self.assertIn("max_flows", str(e.exception))
        self.assertIn("8..16777216", str(e.exception))
        with self.assertRaises(rxinto.Error):
            rxinto.Receiver(pcap=self.pcap, checksum="sometimes")
        with self.assertRaises(rxinto.Error):
            rxinto.Receiver(pcap=os.path.join(TMP, "missing.pcap"))
        with self.assertRaises(rxinto.Error):
            rxinto.Receiver(pcap=self.pcap, streams_dir=TMP)  # the appliance's job, said so
        # The endpoint answers its peers: it needs a live port, and a watching
        # Receiver neither listens nor sends (python/tests/test_endpoint.py has the live case).
        with self.assertRaises(rxinto.Error) as e:
            rxinto.Receiver(pcap=self.pcap, address="10.0.0.2/24")
        self.assertIn("live port", str(e.exception))
        with rxinto.Receiver(pcap=self.pcap) as rx:
            with self.assertRaises(rxinto.Error) as e:
                rx.listen(80)
            self.assertIn("address=", str(e.exception))
            conn = None
            while conn is None and not rx.done:
                for ev in rx.poll(timeout=1):
                    conn = conn or ev.conn
            self.assertIsNotNone(conn)
            with self.assertRaises(rxinto.Error) as e:
                conn.send(b"x")
            self.assertIn("watched connection", str(e.exception))
            self.assertEqual(conn.send_room, 0)
            self.assertEqual(conn.state, "")
            with self.assertRaises(rxinto.Error):
                conn.close()
        self.assertIn("max_flows", rxinto.settings())
        self.assertIn("stream_max_bytes", rxinto.settings())
        # The command line's options, the INI keys, flags, and a config file.
        ini = os.path.join(TMP, "k.ini")
        with open(ini, "w") as f:
            f.write("[tcp]\nmax_flows = 5000\noverlap = last\n")
        with rxinto.Receiver(config=ini, pcap=self.pcap, max_flows=1000, checksum="ignore",
                             stream_max_bytes=16 << 20, timeout_closed=2.5, no_midstream=True,
                             ip_reassembly=False, burst=16) as rx:
            n = 0
            while not rx.done:
                n += len(rx.poll(timeout=0.5))
            self.assertGreater(n, 0)
        self.assertIsInstance(rxinto.eal(), dict)
        self.assertTrue(rxinto.eal()["up"])

    def test_one_receiver_at_a_time_and_again_after_close(self):
        rx = rxinto.Receiver(pcap=self.pcap)
        with self.assertRaises(rxinto.Error):
            rxinto.Receiver(pcap=self.pcap)
        rx.close()
        rx.close()  # idempotent
        with self.assertRaises(rxinto.Error):
            rx.poll(0)
        for _ in range(2):  # the EAL stays; ports and pool are made again
            with rxinto.Receiver(pcap=self.pcap) as rx2:
                while not rx2.done:
                    rx2.poll(timeout=0.5)
                self.assertGreater(rx2.stats()["packets"], 0)
            self.assertEqual(rx2.mempool_in_use, 0)


class Lifetimes(Checked):
    def test_stale_connection_raises(self):
        pcap, _ = generate("plain", *CAPTURES["plain"])
        buf = bytearray(65536)
        closed = []
        with rxinto.Receiver(pcap=pcap) as rx:
            while not rx.done:
                evs = rx.poll(timeout=0.5)
                for ev in evs:
                    for s in ev.conn.streams:
                        while s.recv_into(buf) or s.skip_gap():
                            pass
                    if ev.kind == "closed":
                        # Readable until the next poll().
                        s = ev.conn.streams[0]
                        self.assertIsInstance(s.offset, int)
                        self.assertEqual(s.recv_into(buf), 0)
                        self.assertIs(ev.conn.streams[0], s, "one object per stream")
                        closed.append((ev.conn, s))
            self.assertTrue(closed)
            last = rx.poll(timeout=0)
            self.assertEqual(last, [])
            for conn, s in closed:
                with self.assertRaises(rxinto.Error):
                    conn.streams
                with self.assertRaises(rxinto.Error):
                    s.recv_into(buf)
                with self.assertRaises(rxinto.Error):
                    s.gap()
                self.assertTrue(conn.stale)
        for conn, s in closed:
            with self.assertRaises(rxinto.Error):
                s.peek()

    def test_receiver_closed_makes_everything_stale(self):
        pcap, _ = generate("loss_reorder_dup", *CAPTURES["loss_reorder_dup"])
        rx = rxinto.Receiver(pcap=pcap)
        evs = rx.poll(timeout=1)
        self.assertTrue(evs)
        conn = evs[0].conn
        s = conn.streams[0]
        rx.close()
        with self.assertRaises(rxinto.Error):
            s.recv_into(bytearray(10))
        with self.assertRaises(rxinto.Error):
            conn.key
        self.assertEqual(rx.mempool_in_use, 0)
        self.assertTrue(rx.done)


class Peek(Checked):
    def test_views_zero_copy_then_released_by_poll(self):
        # Large enough that the first poll returns before the replay ends (views of live mbufs).
        pcap, truth = generate("peek", "--flows", "2", "--s2c-bytes", "400000", "--seed", "41")
        with rxinto.Receiver(pcap=pcap) as rx:
            s = None
            while s is None and not rx.done:
                for ev in rx.poll(timeout=0.5):
                    for x in ev.conn.streams:
                        if x.available > 3000 and not ev.conn.released:
                            s = x
                            break
                    if s:
                        break
            self.assertIsNotNone(s, "a live stream with data")
            views = s.peek()
            self.assertTrue(views)
            self.assertTrue(all(isinstance(v, memoryview) and v.readonly for v in views))
            peeked = b"".join(bytes(v) for v in views)
            self.assertEqual(len(peeked), sum(len(v) for v in views))
            with self.assertRaises(TypeError):
                s.recv_into(views[0])  # read-only
            # The same bytes come through recv_into.
            buf = bytearray(len(peeked))
            self.assertEqual(s.recv_into(buf), len(peeked))
            self.assertEqual(bytes(buf), peeked)
            # A slice taken from a view outlives the poll: its mbuf stays pinned.
            keep = views[0][:8]
            keep_bytes = bytes(keep)
            rx.poll(timeout=0)
            for v in views:
                with self.assertRaises(ValueError):
                    bytes(v)  # released: never a read of a freed buffer
                with self.assertRaises(ValueError):
                    v[0]
            self.assertEqual(bytes(keep), keep_bytes)
            while not rx.done:
                rx.poll(timeout=0.5)
            self.assertGreaterEqual(rx.mempool_in_use, 1, "the slice's mbuf is pinned")
            # While the view lives, a closed Receiver's pool stays, and a new Receiver says why it cannot start.
            rx.close()
            with self.assertRaises(rxinto.Error) as e:
                rxinto.Receiver(pcap=pcap)
            self.assertIn("peek", str(e.exception))
            self.assertEqual(bytes(keep), keep_bytes)
            del keep
            gc.collect()
            with rxinto.Receiver(pcap=pcap) as rx2:
                while not rx2.done:
                    rx2.poll(timeout=0.5)
            self.assertEqual(rx2.mempool_in_use, 0)

    def test_peek_consume(self):
        pcap, truth = generate("plain", *CAPTURES["plain"])
        streams = {}
        with rxinto.Receiver(pcap=pcap) as rx:
            while not rx.done:
                for ev in rx.poll(timeout=0.5):
                    for s in ev.conn.streams:
                        e = streams.setdefault((s.src, s.sport, s.dst, s.dport), bytearray())
                        while True:
                            vs = s.peek()
                            if not vs:
                                if s.skip_gap():
                                    continue
                                break
                            n = 0
                            for v in vs:
                                e += v
                                n += len(v)
                            self.assertEqual(s.consume(n), n)
        for t in truth:
            self.assertEqual(bytes(streams[(t["src"], t["sport"], t["dst"], t["dport"])]),
                             remove_ranges(t["payload"], t["lost"]))


class IoProtocol(Checked):
    def test_buffered_reader(self):
        pcap, truth = generate("plain", *CAPTURES["plain"])
        got = {}
        with rxinto.Receiver(pcap=pcap) as rx:
            while not rx.done:
                for ev in rx.poll(timeout=0.5):
                    if ev.kind != "closed":
                        continue  # everything is in once closed
                    for s in ev.conn.streams:
                        self.assertIsInstance(s, io.RawIOBase)
                        self.assertTrue(s.readable())
                        r = io.BufferedReader(s, buffer_size=1000)
                        data = r.read()
                        self.assertEqual(r.read(), b"")
                        got[(s.src, s.sport, s.dst, s.dport)] = data
        for t in truth:
            self.assertEqual(got[(t["src"], t["sport"], t["dst"], t["dport"])], t["payload"])

    def test_readinto_states(self):
        pcap, truth = generate("loss_reorder_dup", *CAPTURES["loss_reorder_dup"])
        saw_gap = False
        with rxinto.Receiver(pcap=pcap) as rx:
            while not rx.done:
                for ev in rx.poll(timeout=0.5):
                    for s in ev.conn.streams:
                        b = bytearray(100)
                        while True:
                            try:
                                n = s.readinto(b)
                            except rxinto.GapError as e:
                                saw_gap = True
                                self.assertGreater(e.length, 0)
                                self.assertEqual(e.offset, s.offset)
                                self.assertEqual(s.skip_gap(), e.length)
                                continue
                            if n is None:
                                self.assertFalse(s.finished)
                                break
                            if n == 0:
                                self.assertTrue(s.finished)
                                self.assertEqual(s.read(), b"")
                                break
        self.assertTrue(saw_gap)
        with self.assertRaises(io.UnsupportedOperation):
            rxinto.Stream.fileno(s)


class Allocation(Checked):
    def test_steady_state_recv_into_allocates_nothing(self):
        pcap, _ = generate("alloc", "--flows", "1", "--s2c-bytes", "3000000", "--size-jitter", "0",
                           "--seed", "51")
        buf = bytearray(64)
        view = memoryview(buf)
        with rxinto.Receiver(pcap=pcap) as rx:
            s = None
            while s is None:
                for ev in rx.poll(timeout=0.5):
                    for x in ev.conn.streams:
                        if x.available > 200000:
                            s = x
                self.assertFalse(rx.done)
            recv_into = s.recv_into
            for _ in range(100):  # warm up (caches, small ints)
                recv_into(view)
            gc.collect()
            gc.disable()
            try:
                tracemalloc.start()
                snap0 = tracemalloc.take_snapshot()
                blocks0 = sys.getallocatedblocks()
                for _ in range(1000):
                    recv_into(view)
                blocks1 = sys.getallocatedblocks()
                for _ in range(2000):
                    recv_into(view)
                blocks2 = sys.getallocatedblocks()
                snap1 = tracemalloc.take_snapshot()
                tracemalloc.stop()
            finally:
                gc.enable()
            grown = sum(st.size_diff for st in snap1.compare_to(snap0, "filename") if st.size_diff > 0
                        and "tracemalloc" not in str(st.traceback))
            self.assertLessEqual(abs(blocks2 - blocks1), 2, (blocks0, blocks1, blocks2))
            self.assertLessEqual(blocks1 - blocks0, 4, (blocks0, blocks1))
            self.assertLess(grown, 4096, "no Python memory per read (tracemalloc)")
            self.assertGreater(s.delivered, 3000 * 64 - 1)


class Threads(Checked):
    def test_gil_released_while_polling_and_busy_detected(self):
        ticks = [0]
        stop = [False]
        errors = []

        def spin():
            while not stop[0]:
                ticks[0] += 1

        with rxinto.Receiver(vdev=f"net_null{os.getpid() % 1000},size=64", duration=30) as rx:
            def intruder():
                time.sleep(0.1)
                try:
                    rx.connections()
                except rxinto.Error as e:
                    errors.append(str(e))
            t = threading.Thread(target=spin)
            t2 = threading.Thread(target=intruder)
            t.start()
            t2.start()
            before = ticks[0]
            rx.poll(timeout=0.5)  # net_null: frames, no TCP: no events
            during = ticks[0] - before
            stop[0] = True
            t.join()
            t2.join()
            self.assertFalse(rx.done)
            self.assertGreater(rx.stats()["packets"], 0)
        self.assertGreater(during, 1000, "another thread ran while poll() waited (GIL released)")
        self.assertTrue(errors and "another thread" in errors[0], errors)

    def test_signal_interrupts_a_blocking_poll(self):
        class Interrupted(Exception):
            pass

        def on_alarm(signum, frame):
            raise Interrupted()

        old = signal.signal(signal.SIGALRM, on_alarm)
        try:
            with rxinto.Receiver(vdev=f"net_null{os.getpid() % 1000 + 2},size=64") as rx:
                signal.setitimer(signal.ITIMER_REAL, 0.2)
                t0 = time.monotonic()
                with self.assertRaises(Interrupted):
                    rx.poll()  # no timeout, no TCP: only a signal ends it
                self.assertLess(time.monotonic() - t0, 5)
                self.assertEqual(rx.poll(timeout=0), [])  # still usable
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    def test_duration_ends_a_live_port(self):
        with rxinto.Receiver(vdev=f"net_null{os.getpid() % 1000 + 1},size=64", duration=0.2) as rx:
            t0 = time.monotonic()
            while not rx.done:
                rx.poll(timeout=1)
            self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(rx.mempool_in_use, 0)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
