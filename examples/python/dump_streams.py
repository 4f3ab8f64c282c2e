#!/usr/bin/env python3
"""rxinto --streams-dir, in Python: every TCP stream of a capture to OUT/<conn>-<dir>.bin (the bytes
delivered, gaps removed), and one line per direction in OUT/index.jsonl (DESIGN.md "Stream output").

    PYTHONPATH=build/python python3 examples/python/dump_streams.py CAPTURE OUT [setting=value ...]
"""
import json, os, sys
import rxinto


def dump(pcap, out, **settings):
    os.makedirs(out, exist_ok=True)
    buf, files, gaps = memoryview(bytearray(1 << 20)), {}, {}
    with rxinto.Receiver(pcap=pcap, **settings) as rx, open(os.path.join(out, "index.jsonl"), "w") as index:
        while not rx.done:
            for ev in rx.poll(timeout=0.5):
                c = ev.conn
                for s in c.streams:
                    files.setdefault(s, None)
                    gaps.setdefault(s, [])
                    while (n := s.recv_into(buf)) or s.gap():
                        if n:  # a file from the first byte on (a direction without one has none)
                            files[s] = files[s] or f"{c.id}-{s.label}.bin"
                            with open(os.path.join(out, files[s]), "ab") as f:
                                f.write(buf[:n])
                        elif gaps[s] and sum(gaps[s][-1]) == s.offset:  # one gap, declared in steps
                            gaps[s][-1][1] += s.skip_gap()
                        else:
                            gaps[s].append([s.offset, s.skip_gap()])
                if ev.kind == "closed":
                    for s in c.streams:
                        index.write(json.dumps({
                            "conn": c.id, "dir": s.label, "src": s.src, "sport": s.sport, "dst": s.dst,
                            "dport": s.dport, "vlan": list(c.key.vlan), "file": files.pop(s),
                            "bytes": s.delivered, "gaps": gaps.pop(s), "midstream": s.midstream,
                            "end": s.ended or "eof", "overlap_conflicts": s.overlap_conflicts,
                            "delivered": s.delivered, "lost": []}) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    dump(sys.argv[1], sys.argv[2], **dict(a.split("=", 1) for a in sys.argv[3:]))
