#!/usr/bin/env python3
"""Replay every public capture in ../shared/pcaps through rxinto and compare its
reassembled TCP streams (--streams-dir) with the tshark and tcpflow reference outputs in
../shared/pcaps/expected, byte for byte where those references can be trusted, and
against rxinto's own policy where they cannot (see POLICY, EXPLAINED below).

Usage: test_shared_pcaps.py BUILD_DIR SOURCE_DIR [--reference-python] [--only FILE]
                                                 [--verbose] [--ref-checksums-off]

  --reference-python  replace rxinto by the small pure-Python reassembler in this file
                      (same policy, same OUT/index.jsonl format). It exists to validate
                      the comparison logic while rxinto's --streams-dir is being written,
                      and as an executable statement of the policy. Not an oracle.
  --only FILE         one capture (file name, or a unique substring of it).
  --verbose           every direction, the reasons of explained ones, and (reference
                      only) link types and checksum / fragment / truncation counts.
  --ref-checksums-off reference only: ignore checksums like tshark (shows which
                      explanations rest on P5).

Exit status: 0 no unexplained failure; 1 some failure; 77 (meson: skipped) when
../shared/pcaps is absent, or while rxinto does not know --streams-dir yet.
Python 3.11 standard library only.

=== rxinto's policy, as far as this test relies on it (the spec of --streams-dir) ===
OUT/index.jsonl: one JSON line per direction of each TCP connection: conn, dir
(c2s/s2c when the client is known from the SYN or SYN-ACK, else a2b/b2a), src, sport,
dst, dport, vlan, file, bytes, gaps ([offset, length] in stream coordinates: offset 0 is
the first byte after the ISN, or the first byte seen for a mid-stream pickup), midstream,
end (fin|rst|timeout|evicted|eof), overlap_conflicts. The file holds the delivered
bytes, gaps removed.
 P1 overlaps: the first copy of a byte rxinto holds wins; differing overlaps are counted
    in overlap_conflicts; retransmissions of delivered bytes are dropped.
 P2 holes: a hole becomes a gap (and the bytes after it are delivered) when the peer's
    ACK covers it, when too much out-of-order data piles up, or when the stream ends
    (FIN, RST, end of capture, timeout) with the hole still open.
 P3 mid-stream pickup: offset 0 = first byte seen, midstream=true.
 P4 snaplen-truncated segments: the captured part is delivered, the missing tail is a gap.
    (net_pcap hands over only the captured bytes, so "truncated" means the IP length
    claims more than the frame holds; zk__tcp__reassembly has such frames with
    frame.len == cap_len, and they are treated the same way.)
 P5 checksums "auto": bad ones are dropped (counted) unless they look like transmit
    offload (the TCP checksum field holds the pseudo-header partial sum, or 0).
 P6 link types raw IP, Linux SLL, 802.3 LLC/SNAP, null/loopback; IPv4 and IPv6 fragments
    are reassembled.
 P7 data in a SYN is delivered; a RST inside the window ends the stream (end="rst").
 P8 bad input (e.g. sequence numbers far outside the receive window) is dropped and
    counted, never delivered.

=== The references and where they cannot be trusted (../shared/pcaps/README.md) ===
tshark 4.0.17 follow,tcp,raw with gap mode "zero": holes proven by the peer's ACK are
written as that many zero bytes (listed in "gaps"); data after a never-ACKed hole, before
the first segment of a pickup, or cut by snaplen is NOT written ("not_emitted",
"stats.truncated_frames"); it keeps the first copy of overlapping bytes except that a
later in-order segment beats queued out-of-order data. tcpflow 1.6.1: every segment at
its offset, holes as zeros, the LAST copy of overlapping bytes wins, no IP fragments or
IPv6 extension headers. Both ignore checksums.

Classification of each tshark direction (CLASS column):
  exact         no not_emitted, no truncated frames, no gaps: rxinto's bytes must equal
                tshark's (sha256) and rxinto must report no gap.
  tshark-gap    tshark wrote ACK-proven holes as zeros: rxinto's bytes with its gaps
                re-inserted as zeros must equal tshark's, and the gaps must be the same.
  tshark-prefix not_emitted / truncated frames: tshark's bytes must be a prefix of rxinto's
                (gaps re-inserted as zeros), the gaps inside that prefix must be tshark's,
                and rxinto must cover the whole sequence space tshark saw (seq_span).
Then, where tshark had no complete opinion (gap/prefix classes) and tcpflow is
trustworthy (no overlap conflict, no IP fragments / extension headers), rxinto's bytes
with gaps as zeros must equal tcpflow's up to tcpflow's length (tcpflow cannot write a
trailing hole), with no delivered byte beyond it.
Files where rxinto's policy predicts something else are listed in EXPLAINED with the
reason and a check of what the policy predicts instead.
"""
import gzip
import hashlib
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

SKIP = 77

# =====================================================================================
# Pure-Python reference reassembler (test tool; --reference-python). Deliberately simple.
# =====================================================================================

OOO_LIMIT = 4 << 20          # P2: out-of-order bytes held behind one hole before skipping it
DEFAULT_WINDOW = 65535       # P8: receive window assumed when none was advertised yet
CHECKSUMS = "auto"           # P5; "off" (reference only, --ref-checksums-off): like tshark


def read_frames(path):
    """Yields (linktype, captured bytes, original length) for pcap and pcapng files."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
        off = 24
        while off + 16 <= len(data):
            _, _, caplen, origlen = struct.unpack(e + "IIII", data[off:off + 16])
            if off + 16 + caplen > len(data):
                break
            yield linktype, data[off + 16:off + 16 + caplen], origlen
            off += 16 + caplen
        return
    if magic == b"\x0a\x0d\x0d\x0a":
        off, e, ifaces = 0, "<", []
        while off + 12 <= len(data):
            if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
                e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                ifaces = []
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12 or off + blen > len(data):
                break
            body = data[off + 8:off + blen - 4]
            if btype == 1:
                ifaces.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6:
                iface, _, _, caplen, origlen = struct.unpack(e + "IIIII", body[:20])
                yield ifaces[iface], body[20:20 + caplen], origlen
            elif btype == 3:
                origlen = struct.unpack(e + "I", body[:4])[0]
                yield ifaces[0], body[4:4 + min(origlen, len(body) - 4)], origlen
            off += blen
        return
    raise ValueError(f"{path}: not a pcap/pcapng file")


def csum_add(data, s=0):
    if len(data) % 2:
        data += b"\0"
    s += sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def l2_to_l3(linktype, b):
    """(ethertype, l3 bytes, vlan list) or None. Ethernet (+802.1Q/QinQ, 802.3 LLC/SNAP),
    raw IP, Linux SLL/SLL2, BSD null/loopback."""
    vlan = []
    if linktype == 1:
        if len(b) < 14:
            return None
        et, off = struct.unpack("!H", b[12:14])[0], 14
        while et in (0x8100, 0x88A8, 0x9100) and len(b) >= off + 4:
            vlan.append(struct.unpack("!H", b[off:off + 2])[0] & 0x0FFF)
            et, off = struct.unpack("!H", b[off + 2:off + 4])[0], off + 4
        if et <= 1500:  # 802.3 length field: LLC, IP only through SNAP
            llc = b[off:off + 8]
            if len(llc) < 8 or llc[:3] != b"\xaa\xaa\x03":
                return None
            b = b[:off + et]  # the length field bounds the frame (padding)
            et, off = struct.unpack("!H", llc[6:8])[0], off + 8
        return et, b[off:], vlan
    if linktype in (101, 12, 14):  # raw IP: version from the first nibble
        return (0x0800 if b and b[0] >> 4 == 4 else 0x86DD), b, vlan
    if linktype == 228:
        return 0x0800, b, vlan
    if linktype == 229:
        return 0x86DD, b, vlan
    if linktype == 113:  # Linux cooked v1: 16-byte header, protocol last
        return struct.unpack("!H", b[14:16])[0], b[16:], vlan
    if linktype == 276:  # Linux cooked v2: 20-byte header, protocol first
        return struct.unpack("!H", b[0:2])[0], b[20:], vlan
    if linktype in (0, 108):  # null / loopback: 4-byte address family (either order)
        fam = struct.unpack("<I" if linktype == 0 else "!I", b[:4])[0]
        if linktype == 0 and fam > 0xFFFF:
            fam = struct.unpack("!I", b[:4])[0]
        return (0x0800 if fam == 2 else 0x86DD), b[4:], vlan
    return None


class Packet:
    __slots__ = ("src", "dst", "sport", "dport", "seq", "ack", "flags", "win", "wscale",
                 "payload", "missing", "vlan", "csum")


def parse_tcp(src, dst, seg, wire_len, vlan, pseudo, proto_len):
    """seg: captured TCP bytes; wire_len: TCP length per the IP header."""
    if len(seg) < 20:
        return None
    p = Packet()
    p.src, p.dst, p.vlan = src, dst, vlan
    p.sport, p.dport, p.seq, p.ack, offres, p.flags, p.win, ck = struct.unpack("!HHIIBBHH", seg[:18])
    hl = (offres >> 4) * 4
    if hl < 20 or hl > len(seg):
        return None
    p.wscale = None
    if p.flags & 0x02:
        o = 20
        while o < hl:
            kind = seg[o]
            if kind == 0:
                break
            if kind == 1:
                o += 1
                continue
            if o + 1 >= hl or seg[o + 1] < 2:
                break
            if kind == 3 and seg[o + 1] == 3:
                p.wscale = min(seg[o + 2], 14)
            o += seg[o + 1]
    p.payload = seg[hl:wire_len]
    p.missing = max(0, wire_len - len(seg))  # P4: cut by snaplen
    # P5: verify when the whole segment is there; "offload": partial pseudo sum, or 0.
    if p.missing:
        p.csum = "unverified"
    else:
        ph = csum_add(pseudo + struct.pack("!HH", 6, proto_len))
        if csum_add(seg[:wire_len], ph) == 0xFFFF:
            p.csum = "ok"
        elif ck in (0, ph):
            p.csum = "offload"
        else:
            p.csum = "bad"
    return p


class Parser:
    """Frames → TCP packets; IPv4/IPv6 fragment reassembly; counters."""

    def __init__(self):
        self.frags = {}
        self.counts = {"bad_ip_csum": 0, "bad_tcp_csum": 0, "offload_tcp_csum": 0,
                       "not_ip": 0, "fragments": 0, "truncated": 0, "linktypes": set()}

    def frame(self, linktype, b):
        self.counts["linktypes"].add(linktype)
        l3 = l2_to_l3(linktype, b)
        if l3 is None:
            self.counts["not_ip"] += 1
            return None
        et, ip, vlan = l3
        if et == 0x0800 and len(ip) >= 20 and ip[0] >> 4 == 4:
            ihl = (ip[0] & 15) * 4
            tot = struct.unpack("!H", ip[2:4])[0]
            if csum_add(ip[:ihl]) != 0xFFFF and CHECKSUMS != "off":
                self.counts["bad_ip_csum"] += 1
                return None
            ip = ip[:tot]  # Ethernet padding
            proto, src, dst = ip[9], ip[12:16], ip[16:20]
            fo = struct.unpack("!H", ip[6:8])[0]
            body, wire = ip[ihl:], tot - ihl
            if fo & 0x3FFF:
                self.counts["fragments"] += 1
                key = (4, src, dst, ip[4:6], proto)
                r = self.defrag(key, (fo & 0x1FFF) * 8, body, bool(fo & 0x2000))
                if r is None:
                    return None
                body, wire = r, len(r)
            if proto != 6:
                return None
            return self.tcp(src, dst, body, wire, vlan, src + dst)
        if et == 0x86DD and len(ip) >= 40 and ip[0] >> 4 == 6:
            plen, nxt = struct.unpack("!HB", ip[4:7])
            src, dst = ip[8:24], ip[24:40]
            body, wire, frag = ip[40:40 + plen], plen, None
            while nxt in (0, 43, 60, 44, 51):
                if len(body) < 8:
                    return None
                if nxt == 44:
                    fo = struct.unpack("!H", body[2:4])[0]
                    frag = (fo & 0xFFF8, bool(fo & 1), body[4:8])
                    hlen = 8
                elif nxt == 51:
                    hlen = (body[1] + 2) * 4
                else:
                    hlen = (body[1] + 1) * 8
                nxt, body, wire = body[0], body[hlen:], wire - hlen
                if frag and (frag[0] or frag[1]):  # a real fragment (not atomic)
                    self.counts["fragments"] += 1
                    r = self.defrag((6, src, dst, frag[2]), frag[0], body, frag[1], nxt)
                    if r is None:
                        return None
                    body, nxt = r
                    wire = len(body)
                    frag = None
            if nxt != 6:
                return None
            return self.tcp(src, dst, body, wire, vlan, src + dst)
        self.counts["not_ip"] += 1
        return None

    def defrag(self, key, off, data, more, nxt=None):
        e = self.frags.setdefault(key, {"parts": {}, "end": None, "nxt": None})
        e["parts"].setdefault(off, data)  # first copy wins
        if off == 0 and nxt is not None:
            e["nxt"] = nxt
        if not more:
            e["end"] = off + len(data)
        if e["end"] is None:
            return None
        buf, pos = bytearray(), 0
        for o in sorted(e["parts"]):
            if o > pos:
                return None
            buf += e["parts"][o][pos - o:]
            pos = max(pos, o + len(e["parts"][o]))
        if pos < e["end"]:
            return None
        del self.frags[key]
        out = bytes(buf[:e["end"]])
        return out if key[0] == 4 else (out, e["nxt"])

    def tcp(self, src, dst, body, wire, vlan, pseudo):
        p = parse_tcp(str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)),
                      body, wire, vlan, pseudo, wire)
        if p is None:
            return None
        if p.missing:
            self.counts["truncated"] += 1
        if p.csum == "bad":
            self.counts["bad_tcp_csum"] += 1
            if CHECKSUMS != "off":
                return None
        if p.csum == "offload":
            self.counts["offload_tcp_csum"] += 1
        return p


def soff(seq, base):
    """Signed 32-bit distance seq - base."""
    d = (seq - base) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


class Stream:
    def __init__(self, src, sport, dst, dport, vlan):
        self.src, self.sport, self.dst, self.dport, self.vlan = src, sport, dst, dport, vlan
        self.base = None          # sequence number of offset 0
        self.midstream = False
        self.buf = bytearray()    # stream coordinates [0, nxt): delivered bytes, gaps as 0
        self.held = []            # sorted [offset, bytes] of out-of-order data
        self.gaps = []
        self.conflicts = 0
        self.end = None
        self.fin_off = None
        self.win = None           # last window this side advertised (scaled)
        self.wscale = None
        self.seen_end = 0         # end of the sequence space seen (snaplen-cut tails included)

    @property
    def nxt(self):
        return len(self.buf)

    def _gap_to(self, off):
        if off > self.nxt:
            self.gaps.append([self.nxt, off - self.nxt])
            self.buf += bytes(off - self.nxt)

    def _drain(self):
        while self.held and self.held[0][0] <= self.nxt:
            o, d = self.held.pop(0)
            if o + len(d) > self.nxt:
                self.buf += d[self.nxt - o:]

    def _not_gap(self, a, b):
        """Subranges of [a, b) outside the gaps."""
        for g, n in self.gaps:
            if g >= b or g + n <= a:
                continue
            if g > a:
                yield a, g
            a = max(a, g + n)
        if a < b:
            yield a, b

    def data(self, off, d, missing):
        end = off + len(d)
        self.seen_end = max(self.seen_end, end + missing)
        conflict = False
        if off < self.nxt:  # P1: already delivered: compare, drop
            for a, b in self._not_gap(max(off, 0), min(end, self.nxt)):
                if self.buf[a:b] != d[a - off:b - off]:
                    conflict = True
            d, off = d[max(0, self.nxt - off):], max(off, self.nxt)
        pieces, pos = [], off
        for o, h in self.held:  # P1: the first copy held wins
            he = o + len(h)
            if he <= pos or o >= end:
                continue
            if o > pos:
                pieces.append([pos, d[pos - off:o - off]])
            a, b = max(o, pos), min(he, end)
            if h[a - o:b - o] != d[a - off:b - off]:
                conflict = True
            pos = max(pos, he)
        if pos < end:
            pieces.append([pos, d[pos - off:]])
        self.conflicts += conflict
        self.held += [pc for pc in pieces if pc[1]]
        self.held.sort(key=lambda x: x[0])
        self._drain()
        if missing and self.nxt == end:  # P4: the cut tail is a gap (up to data held)
            self._gap_to(min([end + missing] + [o for o, _ in self.held[:1]]))
            self._drain()
        if sum(len(h[1]) for h in self.held) > OOO_LIMIT:
            self._gap_to(self.held[0][0])
            self._drain()

    def acked(self, off):  # P2: the peer's ACK covers a hole
        while off > self.nxt:
            stop = self.held[0][0] if self.held else off
            self._gap_to(min(stop, off))
            self._drain()

    def finish(self, how):
        if self.end:
            return
        while self.held:
            self._gap_to(self.held[0][0])
            self._drain()
        self._gap_to(max(self.fin_off or 0, self.seen_end))
        self.end = how

    def delivered(self):
        return b"".join(bytes(self.buf[a:b]) for a, b in self._not_gap(0, self.nxt))


def reassemble(pcap, outdir):
    parser = Parser()
    conns = {}   # endpoint pair (+vlan) → conn dict
    order = []
    for linktype, frame, origlen in read_frames(pcap):
        p = parser.frame(linktype, frame)
        if p is None:
            continue
        a, b = (p.src, p.sport), (p.dst, p.dport)
        key = (min(a, b), max(a, b), tuple(p.vlan))
        c = conns.get(key)
        if c is not None and c["closed"]:
            # after a RST, data is a new mid-stream pickup; after FINs only a new SYN is
            if not (p.flags & 0x02) and not (p.payload and c["closed"] == "rst"):
                continue
            c = None
        if c is None:
            c = {"id": len(order), "streams": {}, "client": None, "closed": False,
                 "first": a}
            conns[key] = c
            order.append(c)
            for s_, d_ in ((a, b), (b, a)):
                c["streams"][s_] = Stream(s_[0], s_[1], d_[0], d_[1], list(p.vlan))
        me, peer = c["streams"][a], c["streams"][b]
        syn, ackf, rst, fin = p.flags & 2, p.flags & 16, p.flags & 4, p.flags & 1
        if syn:
            if c["client"] is None:
                c["client"] = b if ackf else a
            if me.base is None or (not me.nxt and not me.held):
                me.base, me.midstream = (p.seq + 1) & 0xFFFFFFFF, False
            me.wscale = p.wscale
            if ackf and peer.base is None:
                peer.base = p.ack
        if me.base is None and (p.payload or fin):
            me.base, me.midstream = p.seq, True
        scale = (me.wscale or 0) if (me.wscale is not None and peer.wscale is not None) else 0
        me.win = p.win << (0 if syn else scale)
        if rst:  # P7: RST inside the window ends the connection
            ok = False
            if me.base is not None:
                o = soff(p.seq, me.base)
                ok = me.nxt - 1 <= o <= me.nxt + max(peer.win or DEFAULT_WINDOW, 1)
            elif ackf and peer.base is not None:
                ok = 0 <= soff(p.ack, peer.base) <= peer.nxt + 1
            if not ok:
                continue
            if p.payload and me.base is not None:
                me.data(soff(p.seq, me.base), p.payload, p.missing)
            for s in c["streams"].values():
                s.finish("rst")
            c["closed"] = "rst"
            continue
        if me.base is not None and (p.payload or p.missing):
            o = soff(p.seq + (1 if syn else 0), me.base)
            limit = max(peer.win if peer.win is not None else DEFAULT_WINDOW, DEFAULT_WINDOW)
            if o + len(p.payload) > me.nxt + limit + 1 and o > me.nxt:
                pass  # P8: far outside the receive window: dropped
            elif o + len(p.payload) + p.missing > 0:
                if o < 0:
                    p.payload, o = p.payload[-o:], 0
                me.data(o, p.payload, p.missing)
        if fin and me.base is not None:
            me.fin_off = soff(p.seq + (1 if syn else 0), me.base) + len(p.payload) + p.missing
        if ackf and peer.base is not None:
            ao = soff(p.ack, peer.base)
            if peer.fin_off is not None and ao > peer.fin_off:
                ao = peer.fin_off
            if 0 < ao <= peer.nxt + (1 << 30):
                peer.acked(ao)
        if fin and me.fin_off is not None and me.nxt >= me.fin_off:
            me.finish("fin")
        if all(s.end for s in c["streams"].values()):
            c["closed"] = "fin"
    lines = []
    for c in order:
        client = c["client"]
        for s in c["streams"].values():
            s.finish("fin" if s.fin_off is not None else "eof")
            ep = (s.src, s.sport)
            if client is not None:
                d = "c2s" if ep == client else "s2c"
            else:
                d = "a2b" if ep == c["first"] else "b2a"
            fn = f"c{c['id']:05d}_{d}.bin"
            out = s.delivered()
            with open(os.path.join(outdir, fn), "wb") as f:
                f.write(out)
            lines.append({"conn": c["id"], "dir": d, "src": s.src, "sport": s.sport,
                          "dst": s.dst, "dport": s.dport, "vlan": s.vlan, "file": fn,
                          "bytes": len(out), "gaps": s.gaps,
                          "midstream": bool(s.midstream or client is None),
                          "end": s.end, "overlap_conflicts": s.conflicts})
    with open(os.path.join(outdir, "index.jsonl"), "w") as f:
        for ln in lines:
            f.write(json.dumps(ln) + "\n")
    counts = dict(parser.counts)
    counts["linktypes"] = sorted(counts["linktypes"])
    return counts


# =====================================================================================
# Policy expectations and explained disagreements
# =====================================================================================
# Keys of the per-direction dicts: "src:sport>dst:dport" (addresses as Python's ipaddress
# prints them). A direction spec may hold:
#   data: "tshark" (default: compare by CLASS) | "tshark[:N]" (prefix) | "none"
#         (nothing delivered) | {"bytes": n, "sha256": h}
#   exact: [n, sha256]: rxinto's delivered bytes exactly, on top of data (e.g. with
#         data "tshark" when tshark's output is only a prefix of the answer)
#   gaps: [[off, len], ...] expected rxinto gaps (merged), when not implied by data
#         (checked whenever data is given, "tshark" included)
#   end, dir, midstream: exact values; conflicts: minimum overlap_conflicts (0 → exactly 0)
#   or_pickup: bytes after the first N (tshark[N:]) may appear in a later mid-stream
#   connection of the same endpoints, or not at all.

# Checks that are NOT disagreements with tshark: the policy fields of the index.
POLICY_CHECKS = {
    "sv__eve-overlap-payload-01__tcp-overlap.pcap": {
        # 'GOOD' (frame 5) then 'EVIL' at the same sequence numbers (frame 6): the first copy
        # is already delivered, the retransmission is dropped and counted as a conflict.
        "1.1.1.1:12345>2.2.2.2:8080": {"conflicts": 1, "end": "eof"}},
    "sv__eve-overlap-payload-04-partial-overlap__tcp-overlap2.pcap": {
        # 'GOOD' at seq 2, then 'XXX' at seq 3: first copy wins → 'GOOD', one conflict.
        "1.1.1.1:12345>2.2.2.2:8080": {"conflicts": 1}},
    "sv__bug-6244-tcp-rst-with-data__tcp-rst-with-data.pcap": {
        # P7: the client's RST (in window) carries 13 bytes; they are delivered (tshark
        # agrees) and end the stream.
        "1.1.1.1:12345>2.2.2.2:8080": {"end": "rst"},
        "2.2.2.2:8080>1.1.1.1:12345": {"end": "rst"}},
    "zk__tcp__payload-syn.pcap": {
        # P7: 100 bytes in the SYN are delivered.
        "192.168.0.1:80>192.168.0.2:80": {"end": "fin", "dir": "c2s", "midstream": False}},
    "sv__tcp-fastopen-07__tcp_fastopen_segmentation.pcap": {
        "10.0.0.50:56288>10.0.0.61:80": {"end": "rst"}},
    "sv__tcp-async-01__input.pcap": {
        # one-sided capture starting with the SYN-ACK: the client is known from it.
        "123.125.50.47:143>10.0.1.150:55774": {"dir": "s2c", "conflicts": 0}},
    "sv__bug-4376__syn_retransmit_with_ts.pcap": {
        # the client's frames carry VLAN 3136, the server's are untagged. The flow key
        # includes the VLAN list, so rxinto sees two connections (each matching tshark's
        # bytes); the server one knows the client from its SYN-ACK.
        "10.38.251.146:33372>10.38.251.147:80": {"vlan": [3136], "dir": "c2s"},
        "10.38.251.147:80>10.38.251.146:33372": {"vlan": [], "dir": "s2c"}},
    "ws__tcp-badsegments.pcap": {
        # conflicting overlaps; first-wins gives tshark's bytes here, conflicts counted
        "10.0.0.1:32323>10.0.0.2:80": {"conflicts": 1}},
    "zk__vlan-qinqinq.pcap": {
        "141.142.228.5:59856>192.150.187.43:80": {"vlan": [30, 20, 10]}},  # outermost first
    "zk__tcp__ssh-dups.pcap": {
        # duplicated packets with identical bytes are not conflicts
        "192.168.0.102:53206>192.168.0.112:22": {"conflicts": 0, "end": "fin"},
        "192.168.0.112:22>192.168.0.102:53206": {"conflicts": 0, "end": "fin"}},
}

# Files (or directions) where rxinto's policy predicts something other than tshark's
# output: reason, and what rxinto must produce instead.
EXPLAINED = {
    # --- P2: holes proven only by the peer's ACK, with no data after them -------------
    "zk__tcp__miss_end_data.pcap": {
        "reason": "P2: the server's 2902 data bytes were never captured, but its FIN (seq "
                  "ISN+2903) and the client's ACK of it are: the hole is covered by the "
                  "peer's ACK and the stream ends with it, so rxinto reports it as a gap "
                  "[0, 2902]; tshark writes nothing (no data after the hole).",
        "dirs": {"77.238.160.184:80>192.168.122.230:60648":
                 {"data": "none", "gaps": [[0, 2902]], "end": "fin"}}},
    "sv__tcp-async-01__input.pcap": {
        "reason": "P2: one-sided capture (server->client only, from the SYN-ACK on): the "
                  "server's ACKs prove 484 client bytes that were never captured; rxinto "
                  "reports them as a gap, tshark has no client data at all.",
        "dirs": {"10.0.1.150:55774>123.125.50.47:143":
                 {"data": "none", "gaps": [[0, 484]], "dir": "c2s"}}},
    "ws__dns-ooo.pcap": {
        "reason": "P2: the DNS query (54 bytes) is not in the capture but the server's ACK "
                  "covers it: a gap [0, 54] in the client direction.",
        "dirs": {"10.9.0.2:52615>192.168.2.254:53":
                 {"data": "none", "gaps": [[0, 54]], "dir": "c2s"}}},
    "zk__ipv6-http-atomic-frag.pcap": {
        "reason": "P2 ACK grace, capture order: in the first connection (port 36951) the "
                  "server's ACK of the 15-byte request (frame 6, ack=16) is captured BEFORE "
                  "the request itself (frame 8). The ACK only starts the grace period "
                  "(ack_grace_packets = 32 packets of the connection): the request arrives "
                  "2 packets later, fills the hole, and is delivered with no gap: exactly "
                  "tshark's 15 bytes (an earlier prediction, without the grace, was the gap "
                  "[0, 15] and nothing delivered). The SYN-ACK (frame 3) also precedes the "
                  "SYN (frame 4): the client is still 2001:db8:1::2. The other three "
                  "connections are in order and match tshark.",
        "dirs": {"2001:db8:1::2:36951>2001:db8:1::1:80":
                 {"data": "tshark", "gaps": [],
                  "exact": [15, "2a9a1f5b4f0c19f73830ddc80852107f291cc8b31009dab0c31094713c29229a"],
                  "dir": "c2s", "end": "fin"}}},
    # --- P8: out of window ------------------------------------------------------------
    "sv__firewall__tcp-session-stream-out-of-window__input.pcap": {
        "reason": "P8: the only data segment starts 100000 bytes past the next expected "
                  "byte while the server advertises a 256-byte window: bad input, dropped "
                  "and counted; nothing is delivered and no gap is invented for it. tshark "
                  "counts the 100011 bytes as not emitted, tcpflow writes 100000 zeros. "
                  "KNOWN rxinto BUG while this fails (11 B delivered, gap [0, 100000]): the "
                  "only window check is max_window = 2^30; the receiver-window check being "
                  "added reads connection::window[], which handle_tcp records only from "
                  "non-SYN segments, so the server's 256 from its SYN-ACK (frame 2) is never "
                  "seen and the default 65535 (+ a margin of max(wnd, 65536)) lets an "
                  "offset of 100000 through. A SYN's window must be recorded too (unscaled, "
                  "RFC 7323 §2.2).",
        "dirs": {"192.0.2.10:43210>198.51.100.5:80": {"data": "none", "gaps": []}}},
    "sv__firewall__tcp-session-ipv6-stream-out-of-window__input.pcap": {
        "reason": "P8: IPv6 variant of the out-of-window segment: dropped, nothing delivered.",
        "dirs": {"2001:db8::10:43210>2001:db8:1::5:80": {"data": "none", "gaps": []}}},
    # --- P7: RST ------------------------------------------------------------------------
    "zk__tcp__rst-inject-rae.pcap": {
        "reason": "P7: the server's RST in frame 7 (seq = its next sequence number, i.e. in "
                  "window) ends the connection after the client's first 25 bytes, end=rst. "
                  "The client's 150 bytes in frame 8 come after the end: tshark appends them; "
                  "rxinto either drops them or picks them up as a new mid-stream connection "
                  "of the same endpoints (exactly tshark's last 150 bytes). The earlier "
                  "RST-ACK in frame 2 (seq 0, ack = the client's ISN, not ISN+1) comes while "
                  "the client is in SYN-SENT: its ACK is not acceptable (RFC 9293 §3.10.7.3: "
                  "SEG.ACK =< ISS), so it is dropped. KNOWN rxinto BUG while this fails "
                  "(0 B, end=rst): handle_tcp anchors the server's unanchored stream at the "
                  "RST's seq 0 (a segment with no SYN and no data), stream::in_window then "
                  "accepts it trivially (offset 0), both directions end with end_off 0, the "
                  "SYN-ACK (frame 3) cannot re-anchor (late_syn) and the client's 25 + 150 "
                  "bytes are dropped as data_after_fin.",
        "dirs": {"1.2.0.2:2527>1.2.0.3:6649":
                 {"data": "tshark[:25]", "gaps": [], "end": "rst", "or_pickup": True}}},
    # NOT explained (rxinto bug, compared with tshark and expected to fail until fixed):
    # sv__bug-3286-02-linux-evasion: the server's forged RST-ACK (frame 2, seq 0) and
    # FIN-ACK (frame 3, seq 0) come before its SYN-ACK; the Linux client answers the FIN
    # with a RST (frame 4, seq ISN+1) but stays in SYN-SENT, and the handshake then
    # completes (frame 5 acks the same ISN+1) and 338 + 79 bytes flow. rxinto must deliver
    # both (tshark's bytes).
    # --- client detection ---------------------------------------------------------------
    "sv__tcp-split-handshake-02-5whs__split-handshake-5whs.pcap": {
        "reason": "split 5-way handshake: both sides send a SYN; rxinto takes the client "
                  "from the first SYN (1.1.1.1), tshark makes the second SYN a new stream "
                  "whose client is 2.2.2.2. Same 4 bytes, opposite direction label. "
                  "2.2.2.2 sends no data: nothing delivered and NO gap. KNOWN rxinto BUG while "
                  "2.2.2.2's direction fails with gap [0, 1001]: frame 2 is a bare ACK (seq "
                  "2000, no SYN, no data) from 2.2.2.2 before its SYN; handle_tcp anchors "
                  "2.2.2.2's stream mid-way at 2000 on it (RFC 9293 §3.10.7.3 says such a "
                  "segment in SYN-SENT is dropped), the SYN of frame 3 (seq 3000) cannot "
                  "re-anchor (stream::reanchor refuses to move offset 0 forward even with "
                  "nothing held: late_syn), and 1.1.1.1's SYN-ACK acking 3001 then 'proves' "
                  "1001 missing bytes [2000, 3001) that never existed.",
        "dirs": {"1.1.1.1:12345>2.2.2.2:80": {"dir": "c2s", "end": "rst"},
                 "2.2.2.2:80>1.1.1.1:12345": {"data": "none", "gaps": [], "end": "rst"}}},
    # --- P5: checksums (tshark and tcpflow ignore them) ---------------------------------
    "sv__tcp-rst-unacked-stream-11__TLPW1-tcp-47.32.209.86-10.11.23.101-tcp-80-49470.pcap": {
        "reason": "P5 auto + P2: all 30 frames have a wrong IPv4 header checksum AND a wrong "
                  "TCP checksum (both off by a constant: the addresses were rewritten after "
                  "capture). Checksum mode auto pre-scans a replayed capture: when most "
                  "sampled TCP checksums are wrong (and not offload marks) it verifies none "
                  "for that capture, so the connection is seen like tshark sees it: SYN "
                  "accepted (c2s/s2c labels), c2s exactly tshark's 1454 B. s2c: the client's "
                  "ACKs prove the holes [1576,1288] [5440,1288] [8016,1288] (zeros in "
                  "tshark too) and [15744, 19608); [19608, 22992) and [24280, 25568) were "
                  "never acked, but the client's in-window RST (frame 30, seq = its next "
                  "byte) ends both directions, so they are gaps and the data after them "
                  "(frames 26 and 28) is delivered. tshark stops at the first never-acked "
                  "hole (15744 B written, not_emitted): its output is a prefix of rxinto's "
                  "with gaps as zeros, and the whole sequence span (26856) is covered.",
        "dirs": {"10.11.23.101:49470>47.32.209.86:80":
                 {"data": "tshark", "gaps": [], "dir": "c2s", "end": "rst"},
                 "47.32.209.86:80>10.11.23.101:49470":
                 {"data": "tshark",
                  "gaps": [[1576, 1288], [5440, 1288], [8016, 1288], [15744, 7248],
                           [24280, 1288]],
                  "exact": [14456,
                            "41a4261ff0097574f978393c1edacd2edf7472560234b3d51e5191cef58ef73a"],
                  "dir": "s2c", "end": "rst"}}},
    "zk__tcp__reassembly.pcap": {
        "reason": "P5 (+P2, P4): 10 full-size client segments (frames 9 16 20 31 64 68 79 91 "
                  "97 112) carry TCP checksums that are neither right nor the offload "
                  "partial sum: dropped. The server's ACKs cover them, so they become gaps. "
                  "Frames 7 26 35 39 85 claim more bytes in the IP header than the frame "
                  "holds: the captured part is delivered, the rest is a gap (P4, checksum "
                  "unverifiable). The expected result equals tshark's follow (gaps as zeros) "
                  "of the capture with those 10 frames removed; with them, tshark's output "
                  "also differs from first-wins at 13366 (frame 64, a later in-order copy, "
                  "beats the queued out-of-order frame 28 in tshark). Regression guard: "
                  "frame 26 (offset 10470, 1440 of 1448 B captured) must make only its own "
                  "8-byte tail [11910, 11918) a gap. A watermark that declared every hole "
                  "below 11918 turned the open hole at 4654 (frames 35, 36, 39 arrive later) "
                  "into the gap [4654, 2896] whenever the reader passed it before they came, "
                  "i.e. depending on the burst size (burst 32: 16636 B; 64: 19516 B).",
        "dirs": {"63.193.213.194:2564>128.3.97.175:80": {
            "data": {"bytes": 19516, "sha256":
                     "2c0a0afadec7d0aa4f685d41d0e926a5b693338e0347716d532876cfae549639"},
            "gaps": [[1714, 1456], [6094, 8], [7542, 8], [7562, 1448], [11910, 1456],
                     [13378, 12], [15570, 728], [16310, 708], [17677, 81], [17782, 1343],
                     [19716, 1448], [23443, 20], [24210, 1448], [26790, 1448],
                     [29957, 1448], [31673, 632]],
            "end": "fin"}}},
    "zk__tcp-http-with-padding.pcap": {
        "reason": "P5: every server frame (SYN-ACK and both data segments) has a TCP "
                  "checksum off by the same constant from the offload partial sum (offload "
                  "at the capturing host, then addresses rewritten). Strictly that is not "
                  "offload: the server's frames are dropped and nothing is delivered for "
                  "s2c; a broader offload heuristic that accepts them must then match tshark "
                  "exactly. Either outcome is accepted.",
        "dirs": {"217.207.159.63:27272>167.221.30.181:59406":
                 {"any_of": [{"data": "none"}, {"data": "tshark", "gaps": []}]}}},
}


# =====================================================================================
# Comparison
# =====================================================================================

def norm_ip(s):
    return str(ipaddress.ip_address(s))


def dkey(src, sport, dst, dport):
    return f"{norm_ip(src)}:{int(sport)}>{norm_ip(dst)}:{int(dport)}"


def merge_gaps(gaps):
    out = []
    for off, n in sorted((int(g[0]), int(g[1])) for g in gaps or []):
        if n <= 0:
            continue
        if out and off <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], off + n - out[-1][0])
        else:
            out.append([off, n])
    return out


def fill(data, gaps):
    """Delivered bytes with the gaps re-inserted as zeros (tshark's gap mode "zero")."""
    out, pos = bytearray(), 0
    for off, n in merge_gaps(gaps):
        take = off - len(out)
        if take < 0 or pos + take > len(data):
            raise ValueError(f"gap {off}+{n} inconsistent with {len(data)} delivered bytes")
        out += data[pos:pos + take]
        pos += take
        out += bytes(n)
    out += data[pos:]
    return bytes(out)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def classify(t):
    if t.get("not_emitted") or t.get("stats", {}).get("truncated_frames"):
        return "tshark-prefix"
    if t.get("gaps"):
        return "tshark-gap"
    return "exact"


def check_class(cls, t, tdata, r, rdata):
    """Errors of rxinto's direction r against tshark's t by class."""
    errs = []
    rg = merge_gaps(r.get("gaps"))
    tg = merge_gaps([[g["offset"], g["length"]] for g in t.get("gaps", [])])
    try:
        f = fill(rdata, rg)
    except ValueError as e:
        return [str(e)]
    if cls == "exact":
        if sha(rdata) != sha(tdata):
            errs.append(f"bytes differ from tshark: rxinto {len(rdata)} B {sha(rdata)[:12]}, "
                        f"tshark {len(tdata)} B {sha(tdata)[:12]}{first_diff(rdata, tdata)}")
        if rg:
            errs.append(f"rxinto reports gaps {rg}, tshark none")
    elif cls == "tshark-gap":
        if f != tdata:
            errs.append(f"bytes (gaps as zeros) differ from tshark: {len(f)} vs {len(tdata)} B"
                        f"{first_diff(f, tdata)}")
        if rg != tg:
            errs.append(f"gaps {rg} != tshark {tg}")
    else:
        n = len(tdata)
        span = t.get("stats", {}).get("seq_span", n + (t.get("not_emitted") or 0))
        if f[:n] != tdata:
            errs.append(f"tshark's {n} B are not a prefix of rxinto's{first_diff(f[:n], tdata)}")
        inside = [g for g in rg if g[0] < n]
        if inside != tg:
            errs.append(f"gaps inside tshark's prefix {inside} != tshark {tg}")
        if len(f) != span:
            errs.append(f"rxinto covers {len(f)} B of sequence space, tshark saw {span}")
    return errs


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f" (first difference at {i})"
    return "" if len(a) == len(b) else f" (lengths {len(a)} vs {len(b)})"


def load_rx(outdir):
    p = os.path.join(outdir, "index.jsonl")
    rx = []
    with open(p) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                r["_data"] = b""  # a direction without a byte has no file (file: null)
                if r["file"] is not None:
                    with open(os.path.join(outdir, r["file"]), "rb") as g:
                        r["_data"] = g.read()
                r["_key"] = dkey(r["src"], r["sport"], r["dst"], r["dport"])
                rx.append(r)
    return rx


def load_ref(expdir, tool):
    p = os.path.join(expdir, tool, "index.json")
    if not os.path.exists(p):
        return []
    with open(p) as f:
        idx = json.load(f)
    flows = []
    for t in idx["flows"]:
        fp = os.path.join(expdir, tool, t["file"]) if t.get("file") else None
        t["_data"] = open(fp, "rb").read() if fp and os.path.exists(fp) else b""
        t["_key"] = dkey(t["src_ip"], t["src_port"], t["dst_ip"], t["dst_port"])
        flows.append(t)
    return flows


def has_content_t(t):
    return bool(t["bytes"] or t.get("not_emitted"))


def has_content_r(r):
    return bool(r["bytes"] or r.get("gaps"))


def pair_up(tflows, rx):
    """[(key, tshark flow or None, [rx directions])]: tshark flows in stream order; the rx
    directions of the same endpoints in conn order. Where the counts differ, directions
    without content are left out on both sides (e.g. a split handshake that tshark sees
    as two streams and rxinto as one connection)."""
    keys = list(dict.fromkeys([t["_key"] for t in tflows] + [r["_key"] for r in rx]))
    pairs = []
    for k in keys:
        ts = sorted([t for t in tflows if t["_key"] == k], key=lambda t: t["stream"])
        rs = sorted([r for r in rx if r["_key"] == k], key=lambda r: r["conn"])
        if len(ts) != len(rs):
            ts = [t for t in ts if has_content_t(t)] or ts[:1]
            rs = ((len(ts) == 1 and [r for r in rs if r["bytes"]])
                  or [r for r in rs if has_content_r(r)] or rs[:1])
        if len(ts) == 1 and len(rs) > 1:
            pairs.append((k, ts[0], rs))  # e.g. data after a RST as a second connection
            continue
        for i in range(max(len(ts), len(rs))):
            pairs.append((k, ts[i] if i < len(ts) else None, [rs[i]] if i < len(rs) else []))
    return pairs


def check_spec(spec, t, tdata, rs, tcls):
    """Checks of an EXPLAINED / POLICY_CHECKS spec. Returns (errors, data_checked)."""
    errs = []
    r = rs[0] if rs else None
    rdata = r["_data"] if r else b""
    rg = merge_gaps(r.get("gaps")) if r else []
    if "any_of" in spec:
        alts = [check_spec(s, t, tdata, rs, tcls) for s in spec["any_of"]]
        ok = [a for a in alts if not a[0]]
        return (ok[0] if ok else ([" / ".join("; ".join(e) for e, _ in alts)], True))
    data = spec.get("data")
    checked = False
    if data == "tshark":
        # by CLASS against tshark; the other fields of the spec are checked as well
        checked = True
        if t and r:
            errs += check_class(tcls, t, tdata, r, rdata)
        elif not t:
            errs.append("no tshark stream to compare with")
        # (no rxinto direction: reported below)
    elif data is not None:
        checked = True
        if data == "none":
            if r and (r["bytes"] or rdata):
                errs.append(f"expected nothing delivered, got {len(rdata)} B")
        elif isinstance(data, str) and data.startswith("tshark["):
            n = int(data[len("tshark[:"):-1])
            want = tdata[:n]
            if fill(rdata, rg) != want:
                errs.append(f"expected tshark's first {n} B, got {len(rdata)} B gaps {rg}"
                            f"{first_diff(fill(rdata, rg), want)}")
            if spec.get("or_pickup") is not None:
                for extra in rs[1:]:
                    if not extra.get("midstream") or extra["_data"] != tdata[n:]:
                        errs.append(f"later connection {extra['conn']}: expected a mid-stream "
                                    f"pickup of tshark's last {len(tdata) - n} B")
        elif isinstance(data, dict):
            if len(rdata) != data["bytes"] or sha(rdata) != data["sha256"]:
                errs.append(f"expected {data['bytes']} B {data['sha256'][:12]}, got "
                            f"{len(rdata)} B {sha(rdata)[:12]}")
    if "exact" in spec:  # [bytes, sha256] of rxinto's delivered bytes, on top of `data`
        n, h = spec["exact"]
        if len(rdata) != n or sha(rdata) != h:
            errs.append(f"expected exactly {n} B {h[:12]}, got {len(rdata)} B {sha(rdata)[:12]}")
    if data is not None and "gaps" in spec and rg != merge_gaps(spec["gaps"]):
        errs.append(f"gaps {rg} != expected {merge_gaps(spec['gaps'])}")
    if r is not None:
        for fld in ("end", "dir", "midstream", "vlan"):
            if fld in spec and r.get(fld) != spec[fld]:
                errs.append(f"{fld}={r.get(fld)!r}, expected {spec[fld]!r}")
        if "conflicts" in spec:
            c = r.get("overlap_conflicts", 0)
            if (spec["conflicts"] == 0 and c != 0) or c < spec["conflicts"]:
                errs.append(f"overlap_conflicts={c}, expected "
                            f"{'0' if spec['conflicts'] == 0 else '>= %d' % spec['conflicts']}")
    elif spec and data != "none":
        errs.append("no rxinto direction")
    return errs, checked


TCPFLOW_UNTRUSTED_TAGS = {"overlap", "ip-fragments"}


def compare_file(name, shared, outdir, tags):
    """Returns (rows, summary counts)."""
    expdir = os.path.join(shared, "expected", name)
    tflows = load_ref(expdir, "tshark")
    tcpflow = {t["_key"]: t for t in load_ref(expdir, "tcpflow")}
    rx = load_rx(outdir)
    expl = EXPLAINED.get(name, {})
    pol = POLICY_CHECKS.get(name, {})
    rows = []
    for k, t, rs in pair_up(tflows, rx):
        r = rs[0] if rs else None
        tdata = t["_data"] if t else b""
        rdata = r["_data"] if r else b""
        if not (t and has_content_t(t)) and not (r and has_content_r(r)) and len(rs) <= 1:
            continue  # nothing on either side
        cls = classify(t) if t else "no-tshark"
        spec = expl.get("dirs", {}).get(k)
        errs, notes = [], []
        if spec is not None:
            status = "explained"
            e, checked = check_spec(spec, t, tdata, rs, cls)
            errs += e
            if not checked and t:
                errs += check_class(cls, t, tdata, r or {"gaps": []}, rdata)
        else:
            status = "match"
            if t is None:
                errs.append(f"rxinto delivered {len(rdata)} B with gaps {r.get('gaps')} "
                            f"where tshark has no stream")
            elif r is None:
                errs.append(f"no rxinto direction (tshark: {t['bytes']} B)")
            else:
                errs += check_class(cls, t, tdata, r, rdata)
                if len(rs) > 1:
                    errs.append(f"{len(rs)} rxinto connections for one tshark stream")
        # direction labels and pickup flag against tshark's client detection
        if t is not None and r is not None and not (spec and "dir" in spec):
            if t.get("client_by") in ("syn", "synack") and r.get("dir") != t["direction"]:
                errs.append(f"dir={r.get('dir')!r}, tshark (by {t['client_by']}) says "
                            f"{t['direction']}")
            if t.get("client_by") == "first_packet" and (
                    r.get("dir") not in ("a2b", "b2a") or not r.get("midstream")):
                errs.append(f"no handshake seen: expected a2b/b2a and midstream, got "
                            f"dir={r.get('dir')!r} midstream={r.get('midstream')}")
        if k in pol:
            e, _ = check_spec(pol[k], t, tdata, rs, cls)
            errs += e
        # tcpflow where tshark has no complete opinion and tcpflow can be trusted
        tf = tcpflow.get(k)
        if (r is not None and tf is not None and cls != "exact" and not errs
                and status == "match" and not (set(tags) & TCPFLOW_UNTRUSTED_TAGS)
                and r.get("overlap_conflicts", 0) == 0):
            f = fill(rdata, r.get("gaps"))
            tfd = tf["_data"]
            last = len(f)
            rg = merge_gaps(r.get("gaps"))
            if rg and rg[-1][0] + rg[-1][1] == len(f):
                last = rg[-1][0]
            if f[:len(tfd)] != tfd or last != len(tfd):
                errs.append(f"differs from tcpflow ({len(tfd)} B): rxinto data ends at "
                            f"{last}{first_diff(f[:len(tfd)], tfd)}")
            else:
                notes.append("tcpflow=")
        if errs:
            status = "FAIL"
        rows.append({"key": k, "class": cls, "status": status, "errors": errs,
                     "notes": notes, "tshark": t["bytes"] if t else None,
                     "rx": len(rdata) if r else None,
                     "rx_gaps": merge_gaps(r.get("gaps")) if r else None,
                     "reason": spec.get("why", expl.get("reason")) if spec else None})
    return rows


# =====================================================================================
# Driver
# =====================================================================================

def run_rxinto(rxinto, pcap, outdir):
    cmd = [rxinto, "--pcap", pcap, "--in-memory", "--no-progress", "--streams-dir", outdir]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return "error", p
    return "ok", p


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = argv[1:]
    if len(args) < 2:
        print(__doc__)
        return 2
    build, source = args[0], args[1]
    only = opts[opts.index("--only") + 1] if "--only" in opts else None
    use_ref = "--reference-python" in opts
    if "--ref-checksums-off" in opts:  # diagnostics: what the reference does without P5
        global CHECKSUMS
        CHECKSUMS = "off"
    verbose = "--verbose" in opts
    shared = os.path.normpath(os.path.join(source, "..", "shared", "pcaps"))
    if not os.path.isdir(os.path.join(shared, "files")):
        print(f"SKIP: {shared} not present (the shared public captures are optional)")
        return SKIP
    rxinto = os.path.join(build, "app", "rxinto")
    with open(os.path.join(shared, "manifest.json")) as f:
        manifest = json.load(f)
    tags_of = {}
    for ent in manifest.get("files", []):
        tags_of[ent[0] + "__" + ent[1].replace("/", "__")] = ent[2].split(",")
    names = sorted(os.listdir(os.path.join(shared, "files")))
    if only:
        names = [n for n in names if n == only] or [n for n in names if only in n]
        if len(names) != 1:
            print(f"--only {only}: {len(names)} captures match")
            return 2
    tmp = tempfile.mkdtemp(prefix="rxinto-shared-pcaps-")
    try:
        def one(name):
            src = os.path.join(shared, "files", name)
            work = os.path.join(tmp, name)
            os.makedirs(work)
            pcap = src
            if name.endswith(".gz"):  # rxinto reads plain files: decompress first
                pcap = os.path.join(work, name[:-3])
                with gzip.open(src, "rb") as fi, open(pcap, "wb") as fo:
                    shutil.copyfileobj(fi, fo)
            out = os.path.join(work, "out")
            os.makedirs(out)
            if use_ref:
                counts = reassemble(pcap, out)
                return name, "ok", None, counts
            st, p = run_rxinto(rxinto, pcap, out)
            return name, st, p, None

        workers = 1 if use_ref else max(1, min(4, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(one, names))
        total = {"dirs": 0, "match": 0, "explained": 0, "FAIL": 0}
        fails = []
        print(f"{'capture':<72} {'dirs':>4} {'match':>5} {'expl':>4} {'fail':>4}  classes")
        for name, st, p, counts in results:
            tags = tags_of.get(name, [])
            if st != "ok":
                fails.append((name, f"rxinto exit {p.returncode}: {p.stderr.strip()[-500:]}"))
                print(f"{name[:72]:<72} {'-':>4} {'-':>5} {'-':>4} {'ERR':>4}")
                total["FAIL"] += 1
                continue
            try:
                rows = compare_file(name, shared, os.path.join(tmp, name, "out"), tags)
            except Exception as e:  # malformed output is a failure, not a crash
                fails.append((name, f"cannot compare: {type(e).__name__}: {e}"))
                total["FAIL"] += 1
                continue
            n = {s: sum(1 for r in rows if r["status"] == s) for s in ("match", "explained", "FAIL")}
            for k in n:
                total[k] += n[k]
            total["dirs"] += len(rows)
            classes = ",".join(sorted({r["class"] for r in rows}))
            extra = ""
            if counts:
                extra = (f" [lt {counts['linktypes']} badcsum ip/tcp {counts['bad_ip_csum']}/"
                         f"{counts['bad_tcp_csum']} offload {counts['offload_tcp_csum']}"
                         f" frag {counts['fragments']} trunc {counts['truncated']}]")
            print(f"{name[:72]:<72} {len(rows):>4} {n['match']:>5} {n['explained']:>4} "
                  f"{n['FAIL']:>4}  {classes}{extra if verbose else ''}")
            for r in rows:
                if verbose or r["errors"]:
                    print(f"    {r['status']:<9} {r['class']:<13} {r['key']}: tshark {r['tshark']} B,"
                          f" rxinto {r['rx']} B gaps {r['rx_gaps']} {' '.join(r['notes'])}")
                for e in r["errors"]:
                    print(f"        - {e}")
                    fails.append((name, f"{r['key']}: {e}"))
                if verbose and r["reason"]:
                    print(f"        explained: {r['reason']}")
        print(f"\n{len(results)} captures, {total['dirs']} directions: {total['match']} match the "
              f"references, {total['explained']} explained by rxinto's policy, "
              f"{total['FAIL']} failed" + (" (python reference reassembler)" if use_ref else ""))
        return 1 if fails else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
