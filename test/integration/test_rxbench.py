#!/usr/bin/env python3
"""Harness test of rxbench: `rxbench --quick --json FILE` must produce, for every path, rows
whose delivered byte counts equal the bytes sent (or a skipped row that says why), and
exit 0. rxinto-af_packet rows (rxinto on a veth next to a Linux TCP receiver) must also
report no capture drops; as root, rxinto-af_packet must not be skipped. Speed is never
checked: the numbers of a --quick run mean nothing.

Usage: test_rxbench.py BUILD_DIR [SOURCE_DIR]
Standard library only. Exits 0 when every check passes, 1 otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxtest  # noqa: E402  (the shared pieces, beside this script)
from rxtest import check  # noqa: E402

BUILD = rxtest.args(default_build="build")[0]
RXBENCH = rxtest.app(BUILD, "rxbench")
PATHS = [
    "kernel-tcp-loopback", "kernel-tcp-veth", "kernel-io_uring", "kernel-udp-recv",
    "kernel-udp-recvmmsg", "rxinto-ring", "rxinto-ring-zerocopy", "rxinto-af_packet",
    "rxinto-af_xdp", "rxinto-endpoint-af_packet", "rxinto-endpoint-af_xdp", "memcpy",
]
FIELDS = ["path", "workload", "segment_bytes", "connections", "gbps", "mpps", "cpu_s_per_gb",
          "cycles_per_segment", "allocs_per_segment", "gbps_min", "gbps_max"]


def main():
    if not os.access(RXBENCH, os.X_OK):
        print(f"FAIL: {RXBENCH} not built")
        return 1
    with tempfile.TemporaryDirectory(prefix="rxbench-test-") as tmp:
        out = os.path.join(tmp, "quick.json")
        svg = os.path.join(tmp, "quick.svg")
        t0 = time.monotonic()
        p = subprocess.run([RXBENCH, "--quick", "--json", out, "--plot", svg],
                           capture_output=True, text=True, timeout=240)
        took = time.monotonic() - t0
        print(f"rxbench --quick: exit {p.returncode} in {took:.1f} s")
        check(p.returncode == 0, f"rxbench --quick exited {p.returncode}:\n{p.stderr[-3000:]}")
        check(took < 60, f"rxbench --quick took {took:.1f} s (should be under a minute)")
        check("path" in p.stdout and "workload" in p.stdout, "no table on stdout")
        try:
            with open(out) as f:
                rows = json.load(f)
        except (OSError, ValueError) as e:
            check(False, f"--json: {e}")
            return 1
        check(isinstance(rows, list) and rows, "--json: not a non-empty list")
        try:
            with open(svg) as f:
                text = f.read()
            check(text.lstrip().startswith("<svg") and "</svg>" in text and "polyline" in text,
                  "--plot: not an SVG with lines")
        except OSError as e:
            check(False, f"--plot: {e}")

    by_path = {}
    for r in rows:
        by_path.setdefault(r.get("path"), []).append(r)
    for path in PATHS:
        got = by_path.get(path, [])
        check(got, f"{path}: no row")
        for r in got:
            name = f"{path} {r.get('workload')} x{r.get('connections')}"
            if "skipped" in r:
                check(isinstance(r["skipped"], str) and r["skipped"].strip(),
                      f"{name}: skipped without a reason")
                continue
            for k in FIELDS:
                check(k in r, f"{name}: no field {k}")
            check(r.get("runs", 0) >= 1, f"{name}: no run")
            check(r.get("sent_bytes", 0) > 0, f"{name}: nothing sent")
            check(r.get("delivered_bytes") == r.get("sent_bytes"),
                  f"{name}: delivered {r.get('delivered_bytes')} of {r.get('sent_bytes')} bytes")
            for s in r.get("samples", []):
                check(s.get("delivered_bytes") == s.get("sent_bytes"),
                      f"{name}: a run delivered {s.get('delivered_bytes')} of {s.get('sent_bytes')}")
            check(r.get("ok") is True, f"{name}: not ok: {r.get('error', '')}")
            if path.startswith("rxinto-"):
                check(r.get("allocs_per_segment") == 0,
                      f"{name}: {r.get('allocs_per_segment')} allocations per segment")
            if path.startswith("rxinto-af_") or path.startswith("rxinto-endpoint-"):
                # A live port (a Linux TCP sender over a veth): --quick is sized so that the
                # PMD cannot drop, and the poller saw the frames (data, ACKs, handshakes).
                check(r.get("capture_drops") == 0, f"{name}: capture drops {r.get('capture_drops')}")
                check(r.get("frames", 0) > 0, f"{name}: no frames counted")
    for r in rows:
        check(r.get("path") in PATHS, f"unknown path {r.get('path')}")
    if os.geteuid() == 0:
        # As root the veth exists, so rxinto-af_packet must have run (af_xdp may be skipped
        # with a reason: its XDP program takes the frames from the kernel's TCP receiver).
        for path in ("rxinto-af_packet", "rxinto-endpoint-af_packet"):
            check(any("skipped" not in r for r in by_path.get(path, [])),
                  f"{path}: skipped although running as root: "
                  + str([r.get("skipped") for r in by_path.get(path, [])]))

    return rxtest.summary(list_failures=False)


if __name__ == "__main__":
    sys.exit(main())
