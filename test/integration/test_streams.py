#!/usr/bin/env python3
"""Reassembled streams against the generator's ground truth.

For a set of generated captures (reordering, duplication, capture loss, IPv6,
VLAN/QinQ, small and jumbo segments, sequence numbers that wrap), runs
`rxinto --pcap X --streams-dir OUT` and checks every direction of every
connection: the delivered file is the payload with exactly the lost ranges
removed, the reported gaps are exactly the lost ranges, the direction labels,
addresses, ports, VLAN ids and end reasons are right, and nothing is left in
the mempool. Standard library only.

Usage: test_streams.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402  (the shared pieces, beside this script)
from rxtest import check  # noqa: E402

BUILD = rxtest.args()[0]
RXINTO = rxtest.app(BUILD, "rxinto")
ECHO = rxtest.app(BUILD, "rxinto-echo")
GEN = rxtest.app(BUILD, "rxinto-gen")
case = rxtest.case_decorator()

CASES = {
    "default": ["--default"],
    "wrap_v4": ["--flows", "4", "--ipv6-share", "0", "--seed", "11"],
    "reorder_dup": ["--flows", "12", "--reorder", "0.3", "--duplicate", "0.2", "--seed", "2"],
    "loss": ["--flows", "10", "--loss", "0.15", "--seed", "3"],
    "loss_reorder_dup_vlan": ["--flows", "16", "--loss", "0.1", "--reorder", "0.2",
                              "--duplicate", "0.1", "--vlan-tags", "1", "--seed", "4"],
    "qinq_v6": ["--flows", "6", "--ipv6-share", "1", "--vlan-tags", "2", "--seed", "5"],
    "small_mss": ["--flows", "5", "--mss", "64", "--reorder", "0.1", "--seed", "6"],
    "jumbo": ["--flows", "3", "--mss", "8960", "--s2c-bytes", "200000", "--seed", "7"],
    "many_flows": ["--flows", "400", "--c2s-bytes", "200", "--s2c-bytes", "2000", "--seed", "8"],
    "ip_fragments": ["--flows", "12", "--fragment", "0.3", "--fragment-reverse", "--reorder", "0.1",
                     "--duplicate", "0.05", "--loss", "0.05", "--vlan-tags", "1", "--seed", "12"],
}

def remove_ranges(data, ranges):
    out = bytearray()
    pos = 0
    for off, ln in sorted(ranges):
        out += data[pos:off]
        pos = off + ln
    out += data[pos:]
    return bytes(out)


def run_case(name, opts, tmp):
    pcap = os.path.join(tmp, name + ".pcap")
    truth_dir = os.path.join(tmp, name + ".truth")
    out = os.path.join(tmp, name + ".streams")
    g = subprocess.run([GEN, "--out", pcap, "--truth", truth_dir] + opts, capture_output=True, text=True)
    check(g.returncode == 0, f"{name}: rxinto-gen exit 0 ({g.stderr})")
    p, stats = rxtest.run_rxinto(RXINTO, ["--pcap", pcap, "--in-memory", "--no-progress", "--streams-dir", out],
                                 timeout=300)
    check(p.returncode == 0, f"{name}: rxinto exit 0 ({p.stderr[-800:]})")
    if p.returncode != 0:
        return
    check(stats["mempool"]["in_use_at_end"] == 0, f"{name}: every mbuf back in the pool")
    check(stats["tcp"]["flows_active"] == 0, f"{name}: no flow left active")
    acc = stats["accounting"]
    check(acc["accounted"] == acc["rx_packets"] == stats["rx_packets"],
          f"{name}: every packet accounted for exactly once {acc}")
    truth = [json.loads(l) for l in open(os.path.join(truth_dir, "truth.jsonl"))]
    index = [json.loads(l) for l in open(os.path.join(out, "index.jsonl"))]
    check(len(index) == len(truth), f"{name}: {len(index)} index lines == {len(truth)} truth directions")
    by_tuple = {(e["src"], e["sport"], e["dst"], e["dport"]): e for e in index}
    conns = {}
    for t in truth:
        key = (t["src"], t["sport"], t["dst"], t["dport"])
        e = by_tuple.get(key)
        if e is None:
            check(False, f"{name}: direction {key} missing from index.jsonl")
            continue
        label = f"{name} conn{t['conn']} {t['dir']}"
        payload = open(os.path.join(truth_dir, t["file"]), "rb").read()
        want = remove_ranges(payload, [tuple(x) for x in t["lost"]])
        got = open(os.path.join(out, e["file"]), "rb").read() if e["file"] is not None else b""
        check(got == want, f"{label}: delivered bytes == payload minus lost ({len(got)} vs {len(want)})")
        check(e["bytes"] == len(want), f"{label}: bytes {e['bytes']} == {len(want)}")
        check([list(x) for x in e["gaps"]] == [list(x) for x in t["lost"]],
              f"{label}: gaps {e['gaps'][:5]} == lost {t['lost'][:5]}")
        check(e["dir"] == t["dir"], f"{label}: dir {e['dir']}")
        check(e["vlan"] == t["vlan"], f"{label}: vlan {e['vlan']} == {t['vlan']}")
        check(e["end"] == "fin", f"{label}: end {e['end']} == fin")
        check(e["midstream"] is False, f"{label}: not midstream")
        check(e["overlap_conflicts"] == 0, f"{label}: no overlap conflicts")
        conns.setdefault(t["conn"], set()).add(e["conn"])
    for c, ids in conns.items():
        check(len(ids) == 1, f"{name} conn{c}: both directions share one id ({ids})")


def run_echo(tmp):
    """The API example, rxinto-echo, must write the same bytes as the truth says."""
    import hashlib
    pcap = os.path.join(tmp, "echo.pcap")
    truth_dir = os.path.join(tmp, "echo.truth")
    out = os.path.join(tmp, "echo.out")
    subprocess.run([GEN, "--out", pcap, "--truth", truth_dir, "--flows", "8", "--loss", "0.05",
                    "--reorder", "0.1", "--seed", "9"], check=True, capture_output=True)
    p = subprocess.run([ECHO, "--pcap", pcap, "--out", out], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"rxinto-echo: exit 0 ({p.stderr[-500:]})")
    truth = [json.loads(l) for l in open(os.path.join(truth_dir, "truth.jsonl"))]
    want = sorted(hashlib.sha256(remove_ranges(open(os.path.join(truth_dir, t["file"]), "rb").read(),
                                               t["lost"])).hexdigest()
                  for t in truth if t["bytes"] > 0)
    got = sorted(hashlib.sha256(open(os.path.join(out, f), "rb").read()).hexdigest()
                 for f in os.listdir(out)) if os.path.isdir(out) else []
    check(want == got, f"rxinto-echo: {len(got)} stream files match the truth's {len(want)}")


def load_streams(d):
    index = [json.loads(l) for l in open(os.path.join(d, "index.jsonl"))]
    return {(e["src"], e["sport"], e["dst"], e["dport"], tuple(e["vlan"])):
            (open(os.path.join(d, e["file"]), "rb").read() if e["file"] is not None else b"",
             e["gaps"], e["end"], e["dir"],
             e["midstream"], e["overlap_conflicts"]) for e in index}


def run_dispatch(tmp):
    """Two and three workers behind the software dispatcher: every packet
    accounted once, both directions of every connection on the same worker
    (no wrong_worker), streams identical to the single-worker run."""
    for name, opts in (("dispatch_mix", ["--flows", "60", "--reorder", "0.1", "--loss", "0.05",
                                         "--duplicate", "0.05", "--vlan-tags", "1", "--seed", "31"]),
                       ("dispatch_v6", ["--flows", "40", "--ipv6-share", "1", "--vlan-tags", "2",
                                        "--seed", "32"])):
        pcap = os.path.join(tmp, name + ".pcap")
        subprocess.run([GEN, "--out", pcap] + opts, check=True, capture_output=True)
        runs = {}
        for lcores in ("0-1", "(0-3)@(0-1)", "(0-4)@(0-1)"):
            out = os.path.join(tmp, f"{name}.{len(runs)}")
            p, st = rxtest.run_rxinto(RXINTO, ["--pcap", pcap, "--in-memory", "--no-progress", "--lcores", lcores,
                                               "--streams-dir", out], timeout=300)
            check(p.returncode == 0, f"{name} lcores {lcores}: exit 0 ({p.stderr[-500:]})")
            if p.returncode != 0:
                continue
            runs[lcores] = (load_streams(out), st)
        if len(runs) != 3:
            continue
        base, base_st = runs["0-1"]
        for lcores in ("(0-3)@(0-1)", "(0-4)@(0-1)"):
            streams, st = runs[lcores]
            label = f"{name} lcores {lcores}"
            check(st.get("dispatch") is not None, f"{label}: software dispatch used")
            check(st["rx_packets"] == base_st["rx_packets"], f"{label}: same packets")
            check(st["tcp"]["wrong_worker"] == 0, f"{label}: no packet at the wrong worker")
            check(st["drops"].get("dispatch_ring_full", 0) == 0, f"{label}: no ring-full drops")
            check(sum(w["packets"] for w in st["workers"]) == st["rx_packets"],
                  f"{label}: every packet reached exactly one worker")
            check(st["mempool"]["in_use_at_end"] == 0, f"{label}: every mbuf back in the pool")
            acc = st["accounting"]
            check(acc["accounted"] == acc["rx_packets"] == st["rx_packets"],
                  f"{label}: every packet accounted for exactly once {acc}")
            check(streams == base, f"{label}: streams identical to the single-worker run "
                                   f"({len(streams)} vs {len(base)} directions)")


with tempfile.TemporaryDirectory(prefix="rxinto-streams-") as tmp:
    print("--- rxinto-echo", flush=True)
    run_echo(tmp)
    print("--- software dispatch", flush=True)
    run_dispatch(tmp)
    for name, opts in CASES.items():
        case(name)(lambda name=name, opts=opts: run_case(name, opts, tmp))

sys.exit(rxtest.summary("streams", passed=rxtest.checks - len(rxtest.failures), list_failures=False))
