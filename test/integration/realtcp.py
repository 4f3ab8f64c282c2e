#!/usr/bin/env python3
"""Real Linux TCP traffic, impaired in user space, captured with tcpdump, and the tools to
check reassembled TCP streams byte-exact against the known payloads.

Library and CLI, Python 3.11 standard library only. Root is needed for `make` and
`bridge` (network namespaces, AF_PACKET).

  realtcp.py make --out DIR [--seed N] [--loss P --reorder P --duplicate P]
                  [--conns N] [--bytes N] [--timeout S]
      three network namespaces (client, middle, server) on one L2 segment, a user-space
      AF_PACKET bridge in the middle that drops/duplicates/reorders TCP data frames,
      tcpdump on the server's veth, N parallel connections (IPv4 and IPv6, alternating)
      with seeded payloads in both directions.  Writes DIR/capture.pcap, DIR/truth.jsonl,
      DIR/truth/<i>.c2s.bin and DIR/truth/<i>.s2c.bin.
  realtcp.py drop IN OUT [--seed N] [--p P] [--truth DIR] [--gaps-out FILE]
      remove random TCP data frames; with --truth also write the exact expected gaps.
  realtcp.py vlan IN OUT [--tag TPID:VID ...]   (default 0x88a8:100 0x8100:200)
  realtcp.py reassemble IN DIR          tiny Python reassembler, DESIGN.md "Stream output"
  realtcp.py check STREAMS_DIR TRUTH_DIR [--gaps FILE] [--vlan 100,200]
  realtcp.py follow PCAP TRUTH_DIR      tshark follow,tcp,raw cross-check against the truth
  realtcp.py bridge / serve / client    internal: run inside the namespaces

Stream coordinates everywhere: offset 0 is the first byte after the ISN.
"""
import argparse
import ctypes
import hashlib
import ipaddress
import json
import os
import queue
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

SELF = os.path.abspath(__file__)
PY = sys.executable or "python3"

NS_PREFIX = "rxtcp"
V4_CLIENT, V4_SERVER = "10.77.0.1", "10.77.0.2"
V6_CLIENT, V6_SERVER = "fd77::1", "fd77::2"
SERVER_PORT = 5000
CLIENT_PORT_BASE = 41000

TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


# ----------------------------------------------------------------------------------------
# payloads and the connection plan (shared by make, serve, client and the checker)

def payload(seed, index, direction, n):
    """The known payload of one direction: a pure function of (seed, index, direction, n)."""
    return hashlib.shake_256(f"rxinto-realtcp:{seed}:{index}:{direction}".encode()).digest(n)


def make_plan(seed, conns, max_bytes):
    """Per connection: family and byte counts. Families alternate (ipv4, ipv6, ...); sizes
    rotate through (large, small), (small, large), (medium, medium) so both directions always
    carry data, some small and some large."""
    rng = random.Random(f"plan:{seed}:{conns}:{max_bytes}")
    max_bytes = max(100, int(max_bytes))

    def small():
        return rng.randint(100, min(4000, max_bytes))

    def large():
        return rng.randint(max(100, max_bytes * 3 // 4), max_bytes)

    def medium():
        return rng.randint(max(100, max_bytes // 10), max(100, max_bytes // 2))

    plan = []
    for i in range(conns):
        v6 = i % 2 == 1
        kind = (i // 2) % 3 if conns > 2 else i % 3
        c2s, s2c = [(large, small), (small, large), (medium, medium)][kind]
        plan.append({
            "index": i,
            "family": "ipv6" if v6 else "ipv4",
            "client_ip": V6_CLIENT if v6 else V4_CLIENT,
            "client_port": CLIENT_PORT_BASE + i,
            "server_ip": V6_SERVER if v6 else V4_SERVER,
            "server_port": SERVER_PORT,
            "c2s_bytes": c2s(),
            "s2c_bytes": s2c(),
        })
    return plan


# ----------------------------------------------------------------------------------------
# pcap reading / writing (classic libpcap format, any endianness, us or ns timestamps)

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
               b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}


def read_pcap(path):
    """Returns (global_header_bytes, endian, linktype, [records]); a record is
    (ts_sec, ts_frac, origlen, data)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 24 or raw[:4] not in PCAP_MAGICS:
        raise ValueError(f"{path}: not a classic pcap file (pcapng is not supported here)")
    e = PCAP_MAGICS[raw[:4]]
    linktype = struct.unpack(e + "I", raw[20:24])[0] & 0x0FFFFFFF
    recs = []
    off = 24
    hdr = struct.Struct(e + "IIII")
    while off + 16 <= len(raw):
        ts, frac, caplen, origlen = hdr.unpack_from(raw, off)
        if off + 16 + caplen > len(raw):
            break  # truncated last record (tcpdump killed mid-write): libpcap stops too
        recs.append((ts, frac, origlen, raw[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return raw[:24], e, linktype, recs


def write_pcap(path, ghdr, endian, recs, snaplen=None):
    ghdr = bytearray(ghdr)
    if snaplen is not None:
        struct.pack_into(endian + "I", ghdr, 16, snaplen)
    hdr = struct.Struct(endian + "IIII")
    with open(path, "wb") as f:
        f.write(ghdr)
        for ts, frac, origlen, data in recs:
            f.write(hdr.pack(ts, frac, len(data), origlen))
            f.write(data)


# ----------------------------------------------------------------------------------------
# frame parsing: Ethernet [+ VLAN tags] + IPv4/IPv6 + TCP

class Seg:
    __slots__ = ("vlan", "src", "dst", "sport", "dport", "seq", "ack", "flags", "payload")


def parse_frame(data):
    """A TCP segment from an Ethernet frame, or None. Addresses are ipaddress objects;
    payload is trimmed to the IP length (Ethernet padding removed)."""
    n = len(data)
    if n < 14:
        return None
    off = 12
    etype = struct.unpack_from("!H", data, off)[0]
    off += 2
    vlan = []
    while etype in VLAN_TPIDS:
        if off + 4 > n:
            return None
        tci, etype = struct.unpack_from("!HH", data, off)
        vlan.append(tci & 0x0FFF)
        off += 4
    if etype == 0x0800:
        if off + 20 > n:
            return None
        vihl = data[off]
        if vihl >> 4 != 4:
            return None
        ihl = (vihl & 0x0F) * 4
        total = struct.unpack_from("!H", data, off + 2)[0]
        frag = struct.unpack_from("!H", data, off + 6)[0]
        if data[off + 9] != 6 or (frag & 0x3FFF) or ihl < 20:
            return None
        src = ipaddress.IPv4Address(data[off + 12:off + 16])
        dst = ipaddress.IPv4Address(data[off + 16:off + 20])
        end = min(n, off + total)
        l4 = off + ihl
    elif etype == 0x86DD:
        if off + 40 > n:
            return None
        plen = struct.unpack_from("!H", data, off + 4)[0]
        nh = data[off + 6]
        src = ipaddress.IPv6Address(data[off + 8:off + 24])
        dst = ipaddress.IPv6Address(data[off + 24:off + 40])
        end = min(n, off + 40 + plen)
        l4 = off + 40
        while nh in (0, 43, 60, 44):
            if l4 + 8 > end:
                return None
            if nh == 44:
                fo = struct.unpack_from("!H", data, l4 + 2)[0]
                if fo & 0xFFF9:
                    return None  # a fragment: not reassembled here
                nh = data[l4]
                l4 += 8
            else:
                nh, hl = data[l4], data[l4 + 1]
                l4 += (hl + 1) * 8
        if nh != 6:
            return None
    else:
        return None
    if l4 + 20 > end:
        return None
    sport, dport, seq, ack, doff_flags = struct.unpack_from("!HHIIH", data, l4)
    thl = (doff_flags >> 12) * 4
    if thl < 20 or l4 + thl > end:
        return None
    s = Seg()
    s.vlan, s.src, s.dst, s.sport, s.dport = vlan, src, dst, sport, dport
    s.seq, s.ack, s.flags = seq, ack, doff_flags & 0x1FF
    s.payload = data[l4 + thl:end]
    return s


def tcp_payload_len(frame):
    """Bytes of TCP payload of an Ethernet frame (untagged or tagged), -1 if not TCP.
    Fast path used by the bridge."""
    s = parse_frame(frame)
    return -1 if s is None else len(s.payload)


def norm_ip(a):
    return ipaddress.ip_address(str(a).strip("[]"))


# ----------------------------------------------------------------------------------------
# interval helpers

def merge_intervals(iv):
    out = []
    for a, b in sorted(iv):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1][1] = b
        else:
            out.append([a, b])
    return out


def complement(merged, lo, hi):
    """[offset, length] ranges of [lo, hi) not covered by merged [a, b) intervals."""
    gaps, pos = [], lo
    for a, b in merged:
        a, b = max(a, lo), min(b, hi)
        if b <= a:
            continue
        if a > pos:
            gaps.append([pos, a - pos])
        pos = max(pos, b)
    if pos < hi:
        gaps.append([pos, hi - pos])
    return gaps


def remove_ranges(data, gaps):
    """data with the [offset, length] ranges removed (what a gap-skipping consumer gets)."""
    out, pos = bytearray(), 0
    for off, ln in sorted(gaps):
        out += data[pos:off]
        pos = max(pos, off + ln)
    out += data[pos:]
    return bytes(out)


# ----------------------------------------------------------------------------------------
# truth

def load_truth(truth_dir):
    """Truth records from DIR/truth.jsonl, each with absolute 'c2s_path'/'s2c_path'."""
    recs = []
    with open(os.path.join(truth_dir, "truth.jsonl")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                for d in ("c2s", "s2c"):
                    r[d + "_path"] = os.path.join(truth_dir, r[d + "_file"])
                recs.append(r)
    return recs


def truth_payload(rec, direction):
    p = rec.get(direction + "_path")
    if p and os.path.exists(p):
        with open(p, "rb") as f:
            return f.read()
    return payload(rec["seed"], rec["index"], direction, rec[direction + "_bytes"])


def _truth_key(rec):
    return (norm_ip(rec["client_ip"]), int(rec["client_port"]),
            norm_ip(rec["server_ip"]), int(rec["server_port"]))


def _seg_dir(seg, truth_by_key):
    """(truth record, 'c2s'|'s2c') of a segment, or (None, None)."""
    k = (seg.src, seg.sport, seg.dst, seg.dport)
    r = truth_by_key.get(k)
    if r is not None:
        return r, "c2s"
    r = truth_by_key.get((seg.dst, seg.dport, seg.src, seg.sport))
    if r is not None:
        return r, "s2c"
    return None, None


# ----------------------------------------------------------------------------------------
# Part B: capture loss and the exact expected gaps

def drop_frames(in_pcap, out_pcap, seed, p):
    """Copy in_pcap to out_pcap without a random fraction p of the TCP frames that carry
    payload and have no SYN/FIN/RST (so handshakes and stream ends stay known and the gaps
    are exactly computable). Returns the removed frames as a list of
    (record_index, ts_sec, ts_frac, frame_bytes)."""
    ghdr, e, _lt, recs = read_pcap(in_pcap)
    rng = random.Random(f"drop:{seed}")
    kept, removed = [], []
    for i, rec in enumerate(recs):
        s = parse_frame(rec[3])
        if (s is not None and s.payload and not (s.flags & (TH_SYN | TH_FIN | TH_RST))
                and rng.random() < p):
            removed.append((i, rec[0], rec[1], rec[3]))
            continue
        kept.append(rec)
    write_pcap(out_pcap, ghdr, e, kept)
    return removed


def expected_gaps(pcap, truth):
    """Per (index, direction): the exact [offset, length] ranges of the known stream that no
    frame in pcap carries (union of every remaining segment's [seq-isn-1, +len), so
    duplicates and retransmissions count once). The ISN of c2s comes from the client's SYN,
    that of s2c from the server's SYN-ACK. Directions without gaps map to []."""
    by_key = {_truth_key(r): r for r in truth}
    _g, _e, _lt, recs = read_pcap(pcap)
    isn, ivs = {}, {}
    segs = []
    for rec in recs:
        s = parse_frame(rec[3])
        if s is None:
            continue
        r, d = _seg_dir(s, by_key)
        if r is None:
            continue
        k = (r["index"], d)
        if s.flags & TH_SYN:
            isn.setdefault(k, s.seq)
        if s.payload:
            segs.append((k, s.seq, len(s.payload)))
    for k, seq, ln in segs:
        if k not in isn:
            raise ValueError(f"expected_gaps: no SYN for connection {k[0]} {k[1]}")
        off = (seq - isn[k] - 1) & 0xFFFFFFFF
        if off >= 1 << 31:
            continue
        ivs.setdefault(k, []).append((off, off + ln))
    out = {}
    for r in truth:
        for d in ("c2s", "s2c"):
            k = (r["index"], d)
            out[k] = complement(merge_intervals(ivs.get(k, [])), 0, r[d + "_bytes"])
    return out


def gaps_to_json(gaps):
    return {f"{i}.{d}": g for (i, d), g in gaps.items()}


def gaps_from_json(obj):
    out = {}
    for k, g in obj.items():
        i, d = k.split(".")
        out[(int(i), d)] = [list(x) for x in g]
    return out


# ----------------------------------------------------------------------------------------
# Part C: VLAN / QinQ tags

def add_vlan_tags(in_pcap, out_pcap, tags=((0x88A8, 100), (0x8100, 200))):
    """Insert the tags (outermost first) after the MAC addresses of every Ethernet frame.
    Returns the number of frames rewritten."""
    ghdr, e, lt, recs = read_pcap(in_pcap)
    if lt != 1:
        raise ValueError(f"{in_pcap}: link type {lt}, not Ethernet")
    ins = b"".join(struct.pack("!HH", tpid, vid & 0x0FFF) for tpid, vid in tags)
    out, grow = [], len(ins)
    for ts, frac, origlen, data in recs:
        if len(data) < 14:
            out.append((ts, frac, origlen, data))
            continue
        out.append((ts, frac, origlen + grow, data[:12] + ins + data[12:]))
    snap = struct.unpack(e + "I", ghdr[16:20])[0]
    write_pcap(out_pcap, ghdr, e, out, snaplen=max(snap, 65535) + grow if snap else 0)
    return len(out)


# ----------------------------------------------------------------------------------------
# a tiny reference reassembler (self-check of the capture and of the checker)

class _Dir:
    def __init__(self):
        self.base = None          # seq of offset 0 (ISN + 1), None until known
        self.midstream = False
        self.segs = []            # (seq, payload) in capture order
        self.fin_seq = None       # seq of the FIN flag
        self.rst = False


def py_reassemble(pcap, outdir):
    """Rebuild every TCP stream in pcap into outdir in the DESIGN.md "Stream output" format:
    one file per direction, gaps removed, first copy wins, plus outdir/index.jsonl.
    Returns the index records."""
    _g, _e, _lt, recs = read_pcap(pcap)
    conns = {}   # canonical key -> dict
    order = []
    for rec in recs:
        s = parse_frame(rec[3])
        if s is None:
            continue
        a, b = (s.src, s.sport), (s.dst, s.dport)
        ck = (tuple(s.vlan),) + tuple(sorted([(a[0].packed, a[1]), (b[0].packed, b[1])]))
        c = conns.get(ck)
        if c is None:
            c = {"id": len(order), "vlan": list(s.vlan), "first": a, "client": None, "dirs": {}}
            conns[ck] = c
            order.append(c)
        if (s.flags & (TH_SYN | TH_ACK)) == TH_SYN and c["client"] is None:
            c["client"] = a
        d = c["dirs"].get((a, b))
        if d is None:
            d = c["dirs"][(a, b)] = _Dir()
        if s.flags & TH_SYN:
            if d.base is None:
                d.base = (s.seq + 1) & 0xFFFFFFFF
            continue  # no TFO data here
        if d.base is None:
            d.base, d.midstream = s.seq, True
        if s.flags & TH_RST:
            d.rst = True
        if s.payload:
            d.segs.append((s.seq, s.payload))
        if s.flags & TH_FIN and d.fin_seq is None:
            d.fin_seq = (s.seq + len(s.payload)) & 0xFFFFFFFF
    os.makedirs(outdir, exist_ok=True)
    index = []
    for c in order:
        if c["client"] is not None:
            cl = c["client"]
            peer = next((k[1] for k in c["dirs"] if k[0] == cl), None)
            if peer is None:
                peer = next(k[0] for k in c["dirs"] if k[1] == cl)
            names = [((cl, peer), "c2s"), ((peer, cl), "s2c")]
        else:
            a = c["first"]
            peer = next(k[1] for k in c["dirs"] if k[0] == a)
            names = [((a, peer), "a2b"), ((peer, a), "b2a")]
        for (src, dst), label in names:
            d = c["dirs"].get((src, dst))
            if d is None:
                continue
            data, gaps, conflicts = _assemble(d)
            fname = f"conn{c['id']}.{label}.bin"
            with open(os.path.join(outdir, fname), "wb") as f:
                f.write(data)
            index.append({
                "conn": c["id"], "dir": label,
                "src": str(src[0]), "sport": src[1], "dst": str(dst[0]), "dport": dst[1],
                "vlan": c["vlan"], "file": fname, "bytes": len(data), "gaps": gaps,
                "midstream": d.midstream,
                "end": "rst" if d.rst else ("fin" if d.fin_seq is not None else "eof"),
                "overlap_conflicts": conflicts,
            })
    with open(os.path.join(outdir, "index.jsonl"), "w") as f:
        for r in index:
            f.write(json.dumps(r) + "\n")
    return index


def _assemble(d):
    if d.base is None:
        return b"", [], 0
    pieces = []
    hi = 0
    for seq, pl in d.segs:
        off = (seq - d.base) & 0xFFFFFFFF
        if off >= 1 << 31:
            off -= 1 << 32
        if off < 0:
            pl = pl[-off:]
            off = 0
        if pl:
            pieces.append((off, pl))
            hi = max(hi, off + len(pl))
    end = hi
    if d.fin_seq is not None:
        fo = (d.fin_seq - d.base) & 0xFFFFFFFF
        if fo < 1 << 31:
            end = fo
    buf = bytearray(end)
    cov = bytearray(end)
    conflicts = 0
    for off, pl in pieces:
        if off >= end:
            continue
        pl = pl[:end - off]
        b = off + len(pl)
        if cov.find(1, off, b) < 0:           # nothing there yet: first copy
            buf[off:b] = pl
            cov[off:b] = b"\x01" * len(pl)
        elif cov.find(0, off, b) < 0:         # all there: first copy wins
            if buf[off:b] != pl:
                conflicts += 1
        else:                                 # partly there
            diff = False
            for j in range(len(pl)):
                if cov[off + j]:
                    diff |= buf[off + j] != pl[j]
                else:
                    buf[off + j] = pl[j]
                    cov[off + j] = 1
            conflicts += diff
    gaps, data, pos = [], bytearray(), 0
    while pos < end:
        z = cov.find(0, pos)
        if z < 0:
            data += buf[pos:end]
            break
        data += buf[pos:z]
        o = cov.find(1, z)
        o = end if o < 0 else o
        gaps.append([z, o - z])
        pos = o
    return bytes(data), gaps, conflicts


# ----------------------------------------------------------------------------------------
# Part D: the checker

def check_streams(streams_dir, truth, expected_gaps=None, expect_vlan=None):
    """Compare a DESIGN.md "Stream output" directory with the truth (a list of records or a
    truth directory). expected_gaps: {(index, dir): [[off, len], ...]} or None for "no gaps
    anywhere". expect_vlan: the VLAN list every stream must carry (default []).
    Returns human-readable failures (empty list = pass)."""
    if isinstance(truth, str):
        truth = load_truth(truth)
    expect_vlan = list(expect_vlan or [])
    fails = []
    idx_path = os.path.join(streams_dir, "index.jsonl")
    if not os.path.exists(idx_path):
        return [f"{idx_path}: missing"]
    entries = []
    with open(idx_path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as ex:
                fails.append(f"index.jsonl line {n}: not JSON ({ex})")
    required = ("conn", "dir", "src", "sport", "dst", "dport", "vlan", "file", "bytes", "gaps",
                "midstream", "end", "overlap_conflicts")
    by_tuple = {}
    for e in entries:
        miss = [k for k in required if k not in e]
        if miss:
            fails.append(f"index entry {e}: missing fields {miss}")
            continue
        try:
            k = (norm_ip(e["src"]), int(e["sport"]), norm_ip(e["dst"]), int(e["dport"]))
        except ValueError as ex:
            fails.append(f"index entry {e}: bad address ({ex})")
            continue
        if k in by_tuple:
            fails.append(f"two index entries for {e['src']}:{e['sport']} -> "
                         f"{e['dst']}:{e['dport']}")
        by_tuple[k] = e
    used = set()
    for r in truth:
        ci, cp, si, sp = _truth_key(r)
        name = f"conn {r['index']} ({r['family']} [{ci}]:{cp} -> [{si}]:{sp})"
        conn_ids = set()
        for d, key in (("c2s", (ci, cp, si, sp)), ("s2c", (si, sp, ci, cp))):
            e = by_tuple.get(key)
            if e is None:
                fails.append(f"{name} {d}: no index entry")
                continue
            used.add(key)
            conn_ids.add(json.dumps(e["conn"]))
            want = truth_payload(r, d)
            gaps = [] if expected_gaps is None else \
                [list(g) for g in expected_gaps.get((r["index"], d), [])]
            if e["dir"] != d:
                fails.append(f"{name} {d}: dir is {e['dir']!r}, expected {d!r}")
            if list(e["vlan"]) != expect_vlan:
                fails.append(f"{name} {d}: vlan {e['vlan']}, expected {expect_vlan}")
            if e["midstream"] is not False:
                fails.append(f"{name} {d}: midstream {e['midstream']!r}, expected false")
            ok_ends = ("fin",) if not gaps else ("fin", "eof")
            if e["end"] not in ok_ends:
                fails.append(f"{name} {d}: end {e['end']!r}, expected {' or '.join(ok_ends)}")
            if e["overlap_conflicts"] != 0:
                fails.append(f"{name} {d}: overlap_conflicts {e['overlap_conflicts']}")
            got_gaps = [list(g) for g in e["gaps"]]
            if got_gaps != gaps:
                fails.append(f"{name} {d}: gaps {_short(got_gaps)}, expected {_short(gaps)}")
            exp = remove_ranges(want, gaps) if gaps else want
            got = b""  # a direction without a byte has no file (file: null)
            if e["file"] is not None:
                p = os.path.join(streams_dir, e["file"])
                try:
                    with open(p, "rb") as f:
                        got = f.read()
                except OSError as ex:
                    fails.append(f"{name} {d}: cannot read {p}: {ex}")
                    continue
            if e["bytes"] != len(got):
                fails.append(f"{name} {d}: index says {e['bytes']} bytes, file has {len(got)}")
            if got != exp:
                fails.append(f"{name} {d}: content differs: {_diff(got, exp)}")
        if len(conn_ids) > 1:
            fails.append(f"{name}: the two directions have different conn ids {conn_ids}")
    for k, e in by_tuple.items():
        if k not in used:
            fails.append(f"unexpected stream in index: {e['src']}:{e['sport']} -> "
                         f"{e['dst']}:{e['dport']} ({e['dir']}, {e['bytes']} bytes)")
    return fails


def _short(g, n=6):
    return str(g) if len(g) <= n else f"{g[:n]}... ({len(g)} gaps)"


def _diff(got, exp):
    n = min(len(got), len(exp))
    first = next((i for i in range(n) if got[i] != exp[i]), n)
    # cheap first-difference search on big buffers
    return f"{len(got)} bytes vs {len(exp)} expected, first difference at offset {first}"


# ----------------------------------------------------------------------------------------
# Part E: tshark follow,tcp,raw

def tshark_follow_many(pcap, stream_indexes, timeout=120):
    """Run one tshark pass with a follow,tcp,raw,N tap per stream. Returns
    {N: {"node0": (ip, port), "node1": (ip, port), "data0": bytes, "data1": bytes}}.
    In tshark's raw output, lines without a leading tab are node 0 -> node 1 (node 0 is the
    endpoint seen first, the client here), lines starting with a tab are node 1 -> node 0."""
    cmd = ["tshark", "-n", "-r", pcap, "-q"]
    for n in stream_indexes:
        cmd += ["-z", f"follow,tcp,raw,{n}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"tshark failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    out = {}
    cur = None
    for line in p.stdout.split("\n"):
        if line.startswith("===="):
            cur = None
            continue
        m = re.match(r"Filter: tcp\.stream eq (\d+)", line)
        if m:
            cur = {"node0": None, "node1": None, "data0": [], "data1": []}
            out[int(m.group(1))] = cur
            continue
        if cur is None:
            continue
        m = re.match(r"Node ([01]): (.*):(\d+)$", line)
        if m:
            cur["node" + m.group(1)] = (norm_ip(m.group(2)), int(m.group(3)))
            continue
        if line.startswith("\t"):
            cur["data1"].append(line[1:].strip())
        elif line.strip() and re.fullmatch(r"[0-9a-fA-F]+", line.strip()):
            cur["data0"].append(line.strip())
    for v in out.values():
        v["data0"] = bytes.fromhex("".join(v["data0"]))
        v["data1"] = bytes.fromhex("".join(v["data1"]))
    return out


def tshark_follow(pcap, stream_index):
    """(node0, node1, node0->node1 bytes, node1->node0 bytes) of one tshark tcp.stream."""
    v = tshark_follow_many(pcap, [stream_index])[stream_index]
    return v["node0"], v["node1"], v["data0"], v["data1"]


def tshark_check(pcap, truth):
    """Cross-check every truth connection against tshark's follow output. Returns failures."""
    if isinstance(truth, str):
        truth = load_truth(truth)
    res = tshark_follow_many(pcap, range(len(truth)))
    fails, seen = [], set()
    by_key = {_truth_key(r): r for r in truth}
    for n, v in res.items():
        if v["node0"] is None:
            continue
        k = v["node0"] + v["node1"]
        r = by_key.get(k)
        d0, d1 = "c2s", "s2c"
        if r is None:
            r = by_key.get(v["node1"] + v["node0"])
            d0, d1 = "s2c", "c2s"
        if r is None:
            fails.append(f"tshark stream {n}: {v['node0']} <-> {v['node1']} not in the truth")
            continue
        seen.add(r["index"])
        for d, data in ((d0, v["data0"]), (d1, v["data1"])):
            want = truth_payload(r, d)
            if data != want:
                fails.append(f"tshark stream {n} = conn {r['index']} {d}: {_diff(data, want)}")
    for r in truth:
        if r["index"] not in seen:
            fails.append(f"conn {r['index']}: no tshark stream")
    return fails


# ----------------------------------------------------------------------------------------
# namespaces and processes

def _pdeathsig():
    """preexec_fn: the child gets SIGKILL if this process dies (survives exec of ip/python)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run(cmd, timeout=15, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


class LineReader:
    """Collects a pipe's lines in a thread so we can wait for a line with a timeout."""

    def __init__(self, stream, name):
        self.lines, self.q, self.name = [], queue.Queue(), name
        self.t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.t.start()

    def _run(self, stream):
        for line in iter(stream.readline, ""):
            self.lines.append(line.rstrip("\n"))
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, needle, timeout):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {needle!r} within {timeout}s; "
                                   f"got {self.lines[-5:]}")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name}: exited before {needle!r}; got {self.lines[-8:]}")
            if needle in line:
                return line

    def text(self):
        self.t.join(timeout=5)
        return "\n".join(self.lines)


def stale_namespace_cleanup():
    """Delete rxtcp<pid>* namespaces left by a make whose process no longer exists."""
    p = run(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(NS_PREFIX + r"(\d+)[cms]", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            run(["ip", "netns", "del", name], check=False)


class Lab:
    """Three namespaces, two veth pairs, always torn down by close()."""

    def __init__(self):
        tag = f"{NS_PREFIX}{os.getpid()}"
        self.ns_c, self.ns_m, self.ns_s = tag + "c", tag + "m", tag + "s"
        self.created = []
        self.procs = []

    def ns_cmd(self, ns, *cmd):
        return ["ip", "netns", "exec", ns] + list(cmd)

    def setup(self):
        for ns in (self.ns_c, self.ns_m, self.ns_s):
            run(["ip", "netns", "add", ns])
            self.created.append(ns)
        # no DAD delays on the ends; no IPv6 at all in the bridge namespace (it has no
        # addresses, and its own ND/MLD chatter must not reach the segment)
        for ns in (self.ns_c, self.ns_s):
            for k in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"):
                run(self.ns_cmd(ns, "sysctl", "-qw", k))
        for k in ("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"):
            run(self.ns_cmd(self.ns_m, "sysctl", "-qw", k))
        run(["ip", "-n", self.ns_c, "link", "add", "c0", "type", "veth",
             "peer", "name", "mc", "netns", self.ns_m])
        run(["ip", "-n", self.ns_s, "link", "add", "s0", "type", "veth",
             "peer", "name", "ms", "netns", self.ns_m])
        for ns, dev in ((self.ns_c, "c0"), (self.ns_m, "mc"), (self.ns_m, "ms"), (self.ns_s, "s0")):
            run(["ip", "-n", ns, "link", "set", dev, "mtu", "1500"])
            run(self.ns_cmd(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                            "tx", "off", "rx", "off"))
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
        run(["ip", "-n", self.ns_m, "link", "set", "mc", "promisc", "on"])
        run(["ip", "-n", self.ns_m, "link", "set", "ms", "promisc", "on"])
        for ns, dev, v4, v6 in ((self.ns_c, "c0", V4_CLIENT, V6_CLIENT),
                                (self.ns_s, "s0", V4_SERVER, V6_SERVER)):
            run(["ip", "-n", ns, "addr", "add", v4 + "/24", "dev", dev])
            run(["ip", "-n", ns, "-6", "addr", "add", v6 + "/64", "dev", dev, "nodad"])

    def spawn(self, ns, args, stdin=None):
        p = subprocess.Popen(self.ns_cmd(ns, *args), stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=_pdeathsig)
        self.procs.append(p)
        return p

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


def _term_to_exit(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def make(out, seed=1, loss=0.0, reorder=0.0, duplicate=0.0, conns=6, max_bytes=2_000_000,
         timeout=60.0, log=print):
    """Make DIR/capture.pcap and the truth. Returns a summary dict. Raises on any failure;
    the namespaces and every child process are gone when it returns or raises."""
    if os.geteuid() != 0:
        raise PermissionError("make needs root (network namespaces, AF_PACKET, tcpdump)")
    t0 = time.monotonic()
    deadline = t0 + timeout
    os.makedirs(os.path.join(out, "truth"), exist_ok=True)
    cap = os.path.join(out, "capture.pcap")
    if os.path.exists(cap):
        os.unlink(cap)
    plan = make_plan(seed, conns, max_bytes)
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, _term_to_exit)
    stale_namespace_cleanup()
    lab = Lab()
    summary = {"seed": seed, "loss": loss, "reorder": reorder, "duplicate": duplicate}
    try:
        lab.setup()
        stats_path = os.path.join(out, "bridge-stats.json")
        bridge = lab.spawn(lab.ns_m, [PY, SELF, "bridge", "mc", "ms", "--seed", str(seed),
                                      "--loss", str(loss), "--reorder", str(reorder),
                                      "--duplicate", str(duplicate), "--stats", stats_path])
        b_out = LineReader(bridge.stdout, "bridge")
        b_err = LineReader(bridge.stderr, "bridge stderr")
        b_out.wait_for("ready", 10)
        # -Z root: Debian's tcpdump drops to user tcpdump, who may not write into DIR
        tcpd = lab.spawn(lab.ns_s, ["tcpdump", "-i", "s0", "-w", cap, "-U", "--immediate-mode",
                                    "-s", "0", "-B", "16384", "-n", "-Z", "root", "tcp"])
        t_err = LineReader(tcpd.stderr, "tcpdump")
        LineReader(tcpd.stdout, "tcpdump stdout")
        t_err.wait_for("listening on", 10)
        plan_args = ["--seed", str(seed), "--conns", str(conns), "--bytes", str(max_bytes)]
        server = lab.spawn(lab.ns_s, [PY, SELF, "serve"] + plan_args +
                           ["--timeout", str(max(5.0, deadline - time.monotonic() - 5))])
        s_out = LineReader(server.stdout, "server")
        s_err = LineReader(server.stderr, "server stderr")
        s_out.wait_for("listening", 10)
        client = lab.spawn(lab.ns_c, [PY, SELF, "client"] + plan_args +
                           ["--timeout", str(max(5.0, deadline - time.monotonic() - 6))])
        c_out = LineReader(client.stdout, "client")
        c_err = LineReader(client.stderr, "client stderr")
        for p, name in ((client, "client"), (server, "server")):
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic() - 3))
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"{name} did not finish in time") from None
        c_res = _last_json(c_out.text(), "client", c_err)
        s_res = _last_json(s_out.text(), "server", s_err)
        if client.returncode or not c_res.get("ok"):
            raise RuntimeError(f"client failed (rc {client.returncode}): {c_res} {c_err.text()[-800:]}")
        if server.returncode or not s_res.get("ok"):
            raise RuntimeError(f"server failed (rc {server.returncode}): {s_res} {s_err.text()[-800:]}")
        time.sleep(0.3)  # the last ACKs
        tcpd.send_signal(signal.SIGINT)
        tcpd.wait(timeout=10)
        terr = t_err.text()
        m = re.search(r"(\d+) packets? dropped by kernel", terr)
        summary["tcpdump"] = terr.strip().splitlines()[-3:]
        if m is None or int(m.group(1)) != 0:
            raise RuntimeError(f"tcpdump dropped packets or did not report: {terr.strip()[-400:]}")
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=10)
        if bridge.returncode != 0:
            raise RuntimeError(f"bridge failed ({bridge.returncode}): {b_err.text()[-800:]}")
        with open(stats_path) as f:
            summary["bridge"] = json.load(f)
        if not os.path.exists(cap) or os.path.getsize(cap) <= 24:
            raise RuntimeError(f"{cap}: missing or empty")
    finally:
        lab.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    # the truth
    with open(os.path.join(out, "truth.jsonl"), "w") as f:
        for r in plan:
            rec = dict(r, seed=seed)
            for d in ("c2s", "s2c"):
                data = payload(seed, r["index"], d, r[d + "_bytes"])
                rel = os.path.join("truth", f"{r['index']}.{d}.bin")
                with open(os.path.join(out, rel), "wb") as pf:
                    pf.write(data)
                rec[d + "_file"] = rel
                rec[d + "_sha256"] = hashlib.sha256(data).hexdigest()
            f.write(json.dumps(rec) + "\n")
    # every byte of every stream must be in the capture (else tcpdump lost frames)
    truth = load_truth(out)
    holes = {k: g for k, g in expected_gaps(cap, truth).items() if g}
    if holes:
        raise RuntimeError(f"{cap}: capture is missing stream bytes: {holes}")
    _g, _e, _lt, recs = read_pcap(cap)
    summary["frames"] = len(recs)
    summary["seconds"] = round(time.monotonic() - t0, 2)
    summary["bytes"] = sum(r["c2s_bytes"] + r["s2c_bytes"] for r in plan)
    log(f"make: {len(plan)} connections, {summary['bytes']} payload bytes, {len(recs)} frames, "
        f"{summary['seconds']} s; bridge {summary['bridge']}")
    return summary


def _last_json(text, name, err):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    return {"ok": False, "error": f"{name}: no result line; stderr: {err.text()[-600:]}"}


# ----------------------------------------------------------------------------------------
# the AF_PACKET bridge (runs in the middle namespace)

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
PACKET_IGNORE_OUTGOING = 23
SO_RCVBUFFORCE, SO_SNDBUFFORCE = 33, 32


def run_bridge(if_a, if_b, seed, loss, reorder, duplicate, stats_path, hold_ms=20.0):
    stop = [False]

    def on_term(_s, _f):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    rng = random.Random(f"bridge:{seed}")
    socks = []
    for ifn in (if_a, if_b):
        # protocol 0 at creation: receives nothing until bound to its one interface
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        for opt, val in ((SO_RCVBUFFORCE, 8 << 20), (SO_SNDBUFFORCE, 4 << 20)):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, val)
            except OSError:
                pass
        try:
            s.setsockopt(263, PACKET_IGNORE_OUTGOING, 1)  # SOL_PACKET
        except OSError:
            pass
        s.bind((ifn, ETH_P_ALL))
        socks.append(s)
    # drain anything queued before both were bound
    for s in socks:
        while True:
            try:
                s.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
    names = [f"{if_a}->{if_b}", f"{if_b}->{if_a}"]
    st = {n: {"frames": 0, "data": 0, "dropped": 0, "duplicated": 0, "reordered": 0,
              "send_errors": 0} for n in names}
    held = [None, None]   # per output direction: (frame, time held)

    def send(d, frame):
        out = socks[1 - d]
        for _ in range(200):
            try:
                out.send(frame)
                return
            except (BlockingIOError, InterruptedError):
                time.sleep(0.0005)
            except OSError as ex:
                if ex.errno == 105:  # ENOBUFS
                    time.sleep(0.0005)
                    continue
                break
        st[names[d]]["send_errors"] += 1

    def forward(d, frame):
        c = st[names[d]]
        c["frames"] += 1
        plen = tcp_payload_len(frame)
        if plen <= 0:
            send(d, frame)  # ARP, ND, pure ACKs, SYN/FIN without data: unimpaired
            return
        c["data"] += 1
        if rng.random() < loss:
            c["dropped"] += 1
            return
        copies = 1
        if rng.random() < duplicate:
            c["duplicated"] += 1
            copies = 2
        if held[d] is not None:
            for _ in range(copies):
                send(d, frame)
            send(d, held[d][0])
            held[d] = None
            return
        if rng.random() < reorder:
            c["reordered"] += 1
            held[d] = (frame, time.monotonic())
            if copies == 2:
                send(d, frame)
            return
        for _ in range(copies):
            send(d, frame)

    poller = select.poll()
    fd2d = {}
    for d, s in enumerate(socks):
        poller.register(s.fileno(), select.POLLIN)
        fd2d[s.fileno()] = d
    print("ready", flush=True)
    while not stop[0]:
        try:
            ev = poller.poll(5)
        except InterruptedError:
            continue
        for fd, _e in ev:
            d = fd2d[fd]
            s = socks[d]
            for _ in range(256):
                try:
                    frame, addr = s.recvfrom(65536, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own transmissions (and anything the kernel sends here)
                forward(d, frame)
        now = time.monotonic()
        for d in (0, 1):
            if held[d] is not None and (now - held[d][1]) * 1000 >= hold_ms:
                send(d, held[d][0])
                held[d] = None
    for d in (0, 1):
        if held[d] is not None:
            send(d, held[d][0])
    with open(stats_path, "w") as f:
        json.dump(st, f)
    for s in socks:
        s.close()
    return 0


# ----------------------------------------------------------------------------------------
# traffic: server and client (run inside their namespaces)

def _exchange(sock, send_data, recv_len, timeout):
    """Send everything then FIN (shutdown WR), while receiving until EOF; then close.
    Returns (received bytes, error or None)."""
    sock.settimeout(timeout)
    err = []

    def sender():
        try:
            sock.sendall(send_data)
            sock.shutdown(socket.SHUT_WR)
        except OSError as ex:
            err.append(f"send: {ex}")

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    buf = bytearray()
    try:
        while True:
            chunk = sock.recv(262144)
            if not chunk:
                break
            buf += chunk
            if len(buf) > recv_len + (1 << 20):
                err.append("received too much")
                break
    except OSError as ex:
        err.append(f"recv: {ex}")
    t.join(timeout)
    if t.is_alive():
        err.append("sender stuck")
    sock.close()
    return bytes(buf), (err[0] if err else None)


def run_server(seed, conns, max_bytes, timeout):
    plan = make_plan(seed, conns, max_bytes)
    by_port = {r["client_port"]: r for r in plan}
    lsocks = []
    for fam, ip in ((socket.AF_INET, V4_SERVER), (socket.AF_INET6, V6_SERVER)):
        if not any(r["server_ip"] == ip for r in plan):
            continue
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, SERVER_PORT))
        s.listen(64)
        lsocks.append(s)
    print("listening", flush=True)
    results, threads = {}, []
    deadline = time.monotonic() + timeout

    def handle(conn, peer):
        r = by_port.get(peer[1])
        if r is None:
            conn.close()
            results[f"stray:{peer}"] = "unexpected client port"
            return
        i = r["index"]
        got, err = _exchange(conn, payload(seed, i, "s2c", r["s2c_bytes"]), r["c2s_bytes"],
                             max(1.0, deadline - time.monotonic()))
        want = payload(seed, i, "c2s", r["c2s_bytes"])
        results[i] = err or ("ok" if got == want else f"c2s mismatch: {len(got)} bytes")

    accepted = 0
    while accepted < len(plan) and time.monotonic() < deadline:
        rd, _, _ = select.select(lsocks, [], [], 0.2)
        for ls in rd:
            c, peer = ls.accept()
            accepted += 1
            t = threading.Thread(target=handle, args=(c, peer), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    ok = accepted == len(plan) and all(results.get(r["index"]) == "ok" for r in plan) \
        and len(results) == len(plan)
    print(json.dumps({"ok": ok, "accepted": accepted,
                      "results": {str(k): v for k, v in results.items()}}), flush=True)
    return 0 if ok else 1


def run_client(seed, conns, max_bytes, timeout):
    plan = make_plan(seed, conns, max_bytes)
    results = {}
    deadline = time.monotonic() + timeout

    def one(r):
        i = r["index"]
        fam = socket.AF_INET6 if r["family"] == "ipv6" else socket.AF_INET
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((r["client_ip"], r["client_port"]))
            s.settimeout(max(1.0, deadline - time.monotonic()))
            for attempt in range(50):
                try:
                    s.connect((r["server_ip"], r["server_port"]))
                    break
                except ConnectionRefusedError:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        except OSError as ex:
            results[i] = f"connect: {ex}"
            return
        got, err = _exchange(s, payload(seed, i, "c2s", r["c2s_bytes"]), r["s2c_bytes"],
                             max(1.0, deadline - time.monotonic()))
        want = payload(seed, i, "s2c", r["s2c_bytes"])
        results[i] = err or ("ok" if got == want else f"s2c mismatch: {len(got)} bytes")

    threads = [threading.Thread(target=one, args=(r,), daemon=True) for r in plan]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    ok = all(results.get(r["index"]) == "ok" for r in plan)
    print(json.dumps({"ok": ok, "results": {str(k): v for k, v in results.items()}}), flush=True)
    return 0 if ok else 1


# ----------------------------------------------------------------------------------------
# CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def plan_opts(p):
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--conns", type=int, default=6)
        p.add_argument("--bytes", type=int, default=2_000_000, help="largest payload")

    p = sub.add_parser("make")
    p.add_argument("--out", required=True)
    plan_opts(p)
    for o in ("loss", "reorder", "duplicate"):
        p.add_argument("--" + o, type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("bridge")
    p.add_argument("if_a")
    p.add_argument("if_b")
    p.add_argument("--seed", type=int, default=1)
    for o in ("loss", "reorder", "duplicate"):
        p.add_argument("--" + o, type=float, default=0.0)
    p.add_argument("--stats", required=True)
    for name in ("serve", "client"):
        p = sub.add_parser(name)
        plan_opts(p)
        p.add_argument("--timeout", type=float, default=50.0)
    p = sub.add_parser("drop")
    p.add_argument("inp")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--p", type=float, default=0.01)
    p.add_argument("--truth")
    p.add_argument("--gaps-out")
    p = sub.add_parser("vlan")
    p.add_argument("inp")
    p.add_argument("out")
    p.add_argument("--tag", action="append", help="TPID:VID, outermost first")
    p = sub.add_parser("reassemble")
    p.add_argument("inp")
    p.add_argument("outdir")
    p = sub.add_parser("check")
    p.add_argument("streams_dir")
    p.add_argument("truth_dir")
    p.add_argument("--gaps", help="JSON file from 'drop --gaps-out'")
    p.add_argument("--vlan", default="", help="expected VLAN list, e.g. 100,200")
    p = sub.add_parser("follow")
    p.add_argument("pcap")
    p.add_argument("truth_dir")
    a = ap.parse_args(argv)

    if a.cmd == "make":
        try:
            s = make(a.out, a.seed, a.loss, a.reorder, a.duplicate, a.conns, a.bytes, a.timeout)
        except KeyboardInterrupt:
            print("make: interrupted (namespaces removed)", file=sys.stderr)
            return 130
        print(json.dumps(s))
        return 0
    if a.cmd == "bridge":
        return run_bridge(a.if_a, a.if_b, a.seed, a.loss, a.reorder, a.duplicate, a.stats)
    if a.cmd == "serve":
        return run_server(a.seed, a.conns, a.bytes, a.timeout)
    if a.cmd == "client":
        return run_client(a.seed, a.conns, a.bytes, a.timeout)
    if a.cmd == "drop":
        removed = drop_frames(a.inp, a.out, a.seed, a.p)
        print(f"removed {len(removed)} frames")
        if a.truth:
            g = expected_gaps(a.out, load_truth(a.truth))
            print(f"expected gaps: {sum(len(v) for v in g.values())}, "
                  f"{sum(x[1] for v in g.values() for x in v)} bytes")
            if a.gaps_out:
                with open(a.gaps_out, "w") as f:
                    json.dump(gaps_to_json(g), f)
        return 0
    if a.cmd == "vlan":
        tags = [(int(t.split(":")[0], 0), int(t.split(":")[1], 0)) for t in a.tag] if a.tag \
            else [(0x88A8, 100), (0x8100, 200)]
        print(f"rewrote {add_vlan_tags(a.inp, a.out, tags)} frames")
        return 0
    if a.cmd == "reassemble":
        idx = py_reassemble(a.inp, a.outdir)
        print(f"{len(idx)} streams")
        return 0
    if a.cmd == "check":
        gaps = None
        if a.gaps:
            with open(a.gaps) as f:
                gaps = gaps_from_json(json.load(f))
        vlan = [int(x) for x in a.vlan.split(",") if x]
        fails = check_streams(a.streams_dir, a.truth_dir, gaps, vlan)
        for f in fails:
            print("FAIL:", f)
        print("PASS" if not fails else f"{len(fails)} failures")
        return 1 if fails else 0
    if a.cmd == "follow":
        fails = tshark_check(a.pcap, a.truth_dir)
        for f in fails:
            print("FAIL:", f)
        print("PASS" if not fails else f"{len(fails)} failures")
        return 1 if fails else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
