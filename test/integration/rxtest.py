"""Shared pieces of the integration tests (standard library only): the command line,
check() bookkeeping and the summary line, the @case decorator, running rxinto with
--stats-json, and a reader of classic pcap files.

The test scripts are run as `python3 test_X.py BUILD_DIR [SOURCE_DIR] [--only NAME]` and
import this module from their own directory.
"""
import collections
import json
import os
import struct
import subprocess
import sys
import tempfile
import time


def args(default_build=None):
    """(BUILD_DIR, SOURCE_DIR or None, NAME of `--only NAME` or None) from sys.argv.
    Without a BUILD_DIR: default_build, or a usage message and exit 2 when there is none."""
    argv = sys.argv
    if len(argv) < 2:
        if default_build is None:
            sys.exit(f"usage: {os.path.basename(argv[0])} BUILD_DIR [SOURCE_DIR] [--only NAME]")
        return default_build, None, None
    source = argv[2] if len(argv) > 2 else None
    only = argv[4] if len(argv) > 4 and argv[3] == "--only" else None
    return argv[1], source, only


def app(build, name):
    """The path of a program built under BUILD_DIR/app."""
    return os.path.join(build, "app", name)


# ---------------------------------------------------------------------------
# checks

failures = []  # what failed, in order
passes = 0     # checks that held
checks = 0     # checks made


def sanitized(build):
    """The sanitizers build was built with (meson's b_sanitize), "" for none."""
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
            for o in json.load(f):
                if o.get("name") == "b_sanitize":
                    return "" if o.get("value") in (None, "none") else str(o["value"])
    except (OSError, ValueError):
        pass
    return ""


def check(cond, what):
    """Counts a check; a failed one is recorded and printed at once."""
    global passes, checks
    checks += 1
    if cond:
        passes += 1
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)


skips = []     # what could not be tested here, and why


def skip(what):
    """A check that could not run on this machine (a tool, an input or a privilege is
    missing): said at once and in the summary, never a silent pass."""
    skips.append(what)
    print("SKIP:", what, flush=True)


def fail_exception(name, e):
    """A case that raised: a failure, not a crash of the suite."""
    failures.append(f"{name}: exception {e!r}")
    print("FAIL:", name, repr(e), flush=True)


def summary(label="", passed=None, list_failures=True):
    """Prints `LABEL: N checks passed, M failed[, K skipped]` (N = passes unless given)
    and, with list_failures, each failure, then each skip; returns the exit code (1 on any
    failure; 77, meson's SKIP, when nothing was checked but something was skipped; else 0)."""
    prefix = f"{label}: " if label else ""
    skipped = f", {len(skips)} skipped" if skips else ""
    print(f"{prefix}{passes if passed is None else passed} checks passed, {len(failures)} failed{skipped}")
    if list_failures:
        for f in failures:
            print("  failed:", f)
    for s in skips:
        print("  skipped:", s)
    if failures:
        return 1
    # Nothing was checked at all, only skipped: meson's SKIP (77), not a pass.
    return 77 if skips and checks == 0 else 0


def case_decorator(only=None, timed=False):
    """A decorator factory `case(NAME)`: the decorated function runs at once (unless
    --only names another case) under a `--- NAME` line; an exception in it is a failure.
    With timed, the seconds it took are printed after it."""
    def case(name):
        def wrap(fn):
            if only is None or only == name:
                print(f"--- {name}", flush=True)
                t0 = time.time()
                try:
                    fn()
                except Exception as e:  # a broken case is a failure, not a crash of the suite
                    fail_exception(name, e)
                if timed:
                    print(f"    ({time.time() - t0:.1f} s)", flush=True)
            return fn
        return wrap
    return case


# ---------------------------------------------------------------------------
# running rxinto

def read_json(path):
    """The JSON document in path, None when there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def communicate(proc, timeout):
    """(stdout, stderr) of a Popen'ed process once it exits; killed when it has not
    exited within timeout seconds."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def run_rxinto(rxinto, argv, timeout=120, stats_dir=None, **kw):
    """Runs rxinto with --stats-json (given first: after a '--' every word belongs to the
    filter) in a temporary directory (under stats_dir when given). Returns the
    CompletedProcess (text output) and the parsed statistics, None when none were written.
    Other keyword arguments go to subprocess.run (e.g. preexec_fn)."""
    with tempfile.TemporaryDirectory(dir=stats_dir) as d:
        js = os.path.join(d, "stats.json")
        p = subprocess.run([rxinto, "--stats-json", js] + list(argv), capture_output=True,
                           text=True, timeout=timeout, **kw)
        return p, read_json(js)


# ---------------------------------------------------------------------------
# classic pcap

Frame = collections.namedtuple("Frame", "ts_ns caplen origlen data")

PCAP_MAGICS = {  # magic: (byte order, nanosecond timestamps)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\xa1\xb2\x3c\x4d": (">", True),
}


def read_pcap(path_or_bytes, strict=True):
    """(linktype, frames) of a classic pcap file (micro- or nanosecond, either byte order),
    given by path or as bytes. Strict: a truncated record or stray bytes at the end raise
    ValueError; otherwise reading stops at a truncated last record, as libpcap does."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    if data[:4] not in PCAP_MAGICS:
        raise ValueError("not a pcap file")
    e, nano = PCAP_MAGICS[data[:4]]
    linktype = struct.unpack(e + "I", data[20:24])[0]
    frames = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, origlen = struct.unpack(e + "IIII", data[off:off + 16])
        if off + 16 + caplen > len(data):
            if not strict:
                return linktype, frames
            raise ValueError(f"pcap: truncated record at {off}")
        ts = sec * 10**9 + (frac if nano else frac * 1000)
        frames.append(Frame(ts, caplen, origlen, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    if strict and off != len(data):
        raise ValueError(f"pcap: {len(data) - off} stray bytes at the end")
    return linktype, frames
