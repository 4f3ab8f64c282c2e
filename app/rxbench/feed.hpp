// feed: the TCP traffic feed and timing harness shared by rxbench's rxinto-ring
// paths (app/rxbench/ring.cpp) and test/bench/bench_tcp, and the small bench
// helpers they share with test/bench/bench_rx.
//
// Traffic: pre-built frames of N client -> server IPv4/TCP connections
// (handshakes first, then data round-robin, optionally with adjacent pairs
// swapped, valid checksums), written by a generator on the main lcore into
// mbufs of a pool larger than the caches (the payload pattern was written once
// when the pool was made, so the copy reads cold memory, as after a NIC's DMA)
// and enqueued on a ring that net_ring presents as a port. The generator fills
// the ring while the worker is stopped; the worker lcore then drains it
// (rxinto's receive loop -> reassembler::process_burst -> recv_into of every
// readable connection into one 64 KiB buffer, or peek/consume), timed with the
// TSC. See test/bench/bench_tcp.cpp for the whole description.
//
// Allocation counting: the counters live here (per thread); the replacement
// operator new / delete that feed them are in alloc_hooks.hpp, which exactly
// one translation unit of an executable (its main file) includes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rte_mempool.h>

#include "rxinto/base/result.hpp"
#include "rxinto/capture/rx_loop.hpp"

namespace rxbench::feed {

// ---------------------------------------------------------------------------
// Allocation counting (per thread). alloc_hooks.hpp calls count_new() and
// count_delete(); without it (bench_rx) the counts stay 0.

void count_new() noexcept;
void count_delete() noexcept;
/// operator new calls of the calling thread so far.
std::uint64_t thread_news() noexcept;
/// operator delete calls (of a non-null pointer) of the calling thread so far.
std::uint64_t thread_deletes() noexcept;

// ---------------------------------------------------------------------------
// Small helpers

std::string u64s(std::uint64_t v);
/// %.6g
std::string fmt6g(double v);

struct Stats {
    double median = 0, min = 0, max = 0;
};

/// Median, min and max of f over the samples.
template <class S, class F>
Stats stats_of(const std::vector<S>& v, F f) {
    std::vector<double> x;
    x.reserve(v.size());
    for (const auto& s : v) x.push_back(f(s));
    if (x.empty()) return {};
    std::sort(x.begin(), x.end());
    const std::size_t n = x.size();
    return {n % 2 == 1 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2.0, x.front(), x.back()};
}

/// Counts failed checks, printing each as "<prog>: CHECK FAILED: <what>".
struct Checker {
    explicit Checker(std::string program) : prog(std::move(program)) {}
    std::string prog;
    int failures = 0;
    std::string last;  ///< the last failure
    void fail(const std::string& what);
};

/// An unsigned integer in lo..hi, the whole of text.
rxinto::Result<std::uint64_t> parse_uint(std::string_view opt, const char* text, std::uint64_t lo,
                                         std::uint64_t hi);
/// A comma-separated list of such integers.
rxinto::Result<std::vector<std::uint32_t>> parse_list(std::string_view opt, const char* text,
                                                      std::uint64_t lo, std::uint64_t hi);
/// A number of seconds in 0.01..3600.
rxinto::Result<double> parse_seconds(std::string_view opt, const char* text);

/// parse_uint into out.
template <class T>
rxinto::Status set_uint(T& out, std::string_view opt, const char* text, std::uint64_t lo,
                        std::uint64_t hi) {
    auto r = parse_uint(opt, text, lo, hi);
    if (!r) return r.error();
    out = static_cast<T>(r.value());
    return {};
}
/// parse_list into out.
rxinto::Status set_list(std::vector<std::uint32_t>& out, std::string_view opt, const char* text,
                        std::uint64_t lo, std::uint64_t hi);
/// parse_seconds into out.
rxinto::Status set_seconds(double& out, std::string_view opt, const char* text);

/// A command-line flag: its name and the bool it sets to `value`.
struct Flag {
    std::string_view name;
    bool* target;
    bool value = true;
};

/// The command-line walk of rxbench and bench_tcp: a flag sets its bool; any
/// other argument is an option whose value is the next argument, handed to
/// on_value(name, value) -> Status (which rejects the names it does not know);
/// an option without a value: "<name>: unknown option or missing value".
template <class OnValue>
rxinto::Status walk_args(int argc, char** argv, std::initializer_list<Flag> flags, OnValue&& on_value) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto f = std::find_if(flags.begin(), flags.end(), [&](const Flag& x) { return x.name == a; });
        if (f != flags.end()) {
            *f->target = f->value;
            continue;
        }
        if (i + 1 >= argc) return rxinto::make_error(a, ": unknown option or missing value");
        const char* v = argv[++i];
        if (auto st = on_value(a, v); !st) return st;
    }
    return {};
}

/// The options rxbench and bench_tcp share, with the fields they set.
struct CommonArgs {
    unsigned& runs;                ///< --runs N (1..1000)
    bool& runs_given;
    double& seconds;               ///< --seconds S
    std::uint32_t& pool_mbufs;     ///< --pool-mbufs N (65535..4194303)
    bool& pool_given;
    std::uint64_t& quick_packets;  ///< --quick-packets N (1..100 000 000)
};
/// True if `a` is one of CommonArgs' options, its value parsed (a bad one: the
/// error in st).
bool common_option(std::string_view a, const char* v, const CommonArgs& c, rxinto::Status& st);

/// Bad usage: "<prog>: <error>" and "Try '<prog> --help'." on stderr; returns 2.
int usage_error(const std::string& prog, const rxinto::Error& e);
/// The end of a bench: "<prog>: N check(s) failed" (returns 1) or, with quick,
/// "<prog>: --quick: all counts checked" (returns rc) on stderr.
int checks_exit(const Checker& chk, bool quick, int rc);

struct FreeDeleter {
    void operator()(std::byte* p) const noexcept { std::free(p); }
};
using Buffer = std::unique_ptr<std::byte, FreeDeleter>;
/// 4 KiB-aligned, rounded up to whole pages; null on failure.
Buffer alloc_buffer(std::size_t bytes);

/// The receiver's buffer: one preallocated 64 KiB region, filled round and round.
constexpr std::size_t app_buf_size = 64 * 1024;

// ---------------------------------------------------------------------------
// EAL on lcores 0-1 (main: control + generator; next: the measured worker)

/// rte_eal_init with -l 0-1 -m <memory_mb> --no-pci --log-level=warning, then
/// --in-memory (huge) or --no-huge --no-shconf --file-prefix=<prefix> (DPDK
/// 22.11 refuses --in-memory with --no-huge; --no-shconf writes no shared files,
/// only an empty runtime directory), then --no-telemetry. Returns the runtime
/// directory.
rxinto::Result<std::string> eal_start(const std::string& prog, std::uint32_t memory_mb, bool huge,
                                      const std::string& prefix);
/// Waits for the lcores, cleans the EAL up and, with remove_dir, removes the
/// (empty) runtime directory if it is the prefix's own.
void eal_stop(const std::string& runtime_dir, const std::string& prefix, bool remove_dir);
/// The worker lcore: the one after the main lcore (>= RTE_MAX_LCORE: none).
unsigned worker_lcore();

/// EAL -m for the generator pool and a flow table of max_flows, at most cap_mb.
std::uint32_t memory_needed_mb(std::uint32_t pool_mbufs, std::uint32_t max_flows,
                               std::uint32_t cap_mb);

// ---------------------------------------------------------------------------
// Frames

constexpr std::uint32_t eth_len = 14;
constexpr std::uint32_t ip_len = 20;
constexpr std::uint32_t tcp_data_hdr = 32;  // 20 + NOP NOP timestamps
constexpr std::uint32_t tcp_syn_hdr = 40;   // 20 + MSS, SACK-permitted, timestamps, NOP, wscale
constexpr std::uint32_t data_hdr = eth_len + ip_len + tcp_data_hdr;  // payload offset: 66
constexpr std::uint32_t max_payload = 1448;

/// The payload pattern (same at every stream offset of every segment; the
/// first 8 bytes of each segment are replaced by its tag).
struct Pattern {
    std::uint8_t bytes[max_payload];
    Pattern();
};
extern const Pattern g_pattern;

/// Writes Ethernet + IPv4 + TCP headers of flow's client (from_client) or the
/// server at p (payload, if any, follows at p + returned length and must sum to
/// payload_sum); returns the header length.
std::uint32_t write_headers(std::uint8_t* p, bool from_client, std::uint32_t flow, std::uint8_t flags,
                            std::uint32_t seq, std::uint32_t ack, bool syn_opts,
                            std::uint32_t payload_len, std::uint32_t payload_sum,
                            std::uint16_t ip_id, std::uint32_t tsval);

// ---------------------------------------------------------------------------
// The worker

/// rxinto's worker_main with TSC stamps and this thread's operator new/delete
/// counts around it.
struct TimedWorker {
    rxinto::capture::Worker* worker = nullptr;
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    std::uint64_t news = 0;
    std::uint64_t deletes = 0;
};
/// lcore function; arg: a TimedWorker.
int timed_worker_main(void* arg);

// ---------------------------------------------------------------------------
// Results

struct Sample {
    std::uint64_t cycles = 0;
    std::uint64_t packets = 0;   ///< all packets the worker received (data + ACKs)
    std::uint64_t segments = 0;  ///< data segments
    std::uint64_t payload = 0;   ///< payload bytes generated
    std::uint64_t delivered = 0; ///< bytes recv_into delivered
    std::uint64_t news = 0;
    std::uint64_t deletes = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t cyc_process = 0, cyc_drain = 0, cyc_flush = 0;
    std::uint64_t fills = 0;
    std::uint64_t gen_cycles = 0;  ///< generator (main lcore) filling the ring
    std::uint64_t polls = 0, empty_polls = 0;
};

struct CaseResult {
    std::uint32_t flows = 0;
    std::uint32_t seg = 0;
    unsigned reorder_pct = 0;
    bool verify_ck = true;
    std::vector<Sample> samples;
};

struct CopyResult {
    std::uint32_t seg = 0;
    std::vector<Sample> samples;  // packets = copies, delivered = bytes
};

// ---------------------------------------------------------------------------
// The bench

struct BenchOptions {
    unsigned runs = 5;
    double seconds = 0.5;
    bool quick = false;
    bool verify = false;  ///< CRC32C per flow of every byte delivered
    bool stages = false;  ///< TSC stamps around process_burst / drain / flush
    bool sink_prefetch = false;
    std::uint16_t burst = 32;
    std::uint32_t pool_mbufs = 262143;
    std::uint64_t quick_packets = 20000;
};

/// The bench: one ring port, one generator pool, one worker; a reassembler per
/// flow count. Messages go out with chk.prog as their prefix.
class Bench {
public:
    Bench(const BenchOptions& o, unsigned wl, Checker& chk);
    Bench(const Bench&) = delete;
    Bench& operator=(const Bench&) = delete;
    ~Bench();

    rxinto::Status open();
    void close();

    /// Creates the reassembler for `flows` connections (or the largest that fits)
    /// and runs every handshake through the worker. Returns the flow count used.
    rxinto::Result<std::uint32_t> start_flows(std::uint32_t flows);
    /// One case, --runs times (plus a warm-up outside --quick).
    CaseResult run_case(std::uint32_t flows, std::uint32_t seg, unsigned reorder_pct, bool verify_ck);
    /// Ends the flows: reassembler gone, every mbuf back.
    void end_flows(std::uint32_t flows);
    /// The floor of the same pipeline: rx + one memcpy of each payload + free,
    /// no reassembly (one flow, in order), timed as the cases are.
    CaseResult run_copy_case(std::uint32_t seg);

    void set_memory_mb(std::uint32_t m);
    [[nodiscard]] const std::vector<std::string>& notes() const;
    [[nodiscard]] rte_mempool* gen_pool() const;
    /// peek/consume instead of recv_into (rxbench's rxinto-ring-zerocopy).
    void set_zerocopy(bool z);

    class Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// memcpy baseline (worker lcore): seg bytes from a cold source walked buffer by
// buffer (2176 bytes apart, as mbufs of a pool), into the same 64 KiB
// destination the sink uses, round and round (split at its end, as recv_into).

struct CopyBuffers {
    Buffer src;
    Buffer dst;
    std::size_t src_len = 0;
    explicit operator bool() const noexcept { return src && dst; }
};
/// mib MiB of source (every page touched, the bytes non-zero) and the
/// app_buf_size destination (zeroed); either null on failure.
CopyBuffers make_copy_buffers(std::size_t mib);

/// One memcpy run on the worker lcore: copies of seg bytes until run_cycles
/// have passed (checked every 1024 copies).
struct CopyJob {
    const std::byte* src = nullptr;
    std::size_t src_len = 0;
    std::byte* dst = nullptr;
    std::size_t seg = 0;
    std::size_t stride = 0;  ///< copy_fixed_main: source step (0: hot, always the same source)
    std::uint64_t run_cycles = 0;
    std::uint64_t copies = 0;
    std::uint64_t cycles = 0;
};
/// lcore function (arg: a CopyJob): the source walked 2176 bytes (a default
/// mbuf data room) apart, into the app_buf_size destination round and round
/// (split at its end, as recv_into).
int copy_main(void* arg);
/// lcore function (arg: a CopyJob): the source walked `stride` bytes apart,
/// always into the start of the destination (bench_rx's memcpy cases).
int copy_fixed_main(void* arg);

struct CopyRun {
    std::uint64_t copies = 0;
    std::uint64_t cycles = 0;
};
/// `runs` runs of `seconds` each on lcore wl, appended to out; false when one
/// could not be launched (the runs before it are in out).
bool copy_runs(const CopyBuffers& b, std::uint32_t seg, unsigned runs, double seconds, unsigned wl,
               std::vector<CopyRun>& out);

}  // namespace rxbench::feed
