// bench_rx: packets per second per core of rxinto's receive loop, next to the
// cost of one memcpy of the same bytes.
//
// Cases (each --runs times, each run --seconds long; median, min and max):
//   net_null copy=0  the PMD allocates mbufs and sets their length: nothing is
//                    written into the packet; the pure cost of rx_burst + count + free
//   net_null copy=1  the PMD also copies a (hot) dummy frame into each mbuf
//   net_ring         a generator on the main lcore allocates mbufs from its own
//                    pool, sets their length (the stand-in for NIC DMA, nothing is
//                    written into the data) and enqueues bursts into a ring while
//                    the worker receives them through net_ring and frees them back;
//                    the rx core cannot outrun the generator (see "empty polls")
//   net_ring_drain   the same, but the generator fills the ring while the worker
//                    is stopped, and only the worker draining it is timed: the rx
//                    core's own cost per packet with the generator out of the way
//   memcpy cold/hot  one memcpy of the frame into a fixed destination, from a large
//                    source walked buffer by buffer (cold) or from one place (hot)
//
// The receive loop measured is rxinto's own: capture::run_worker() with FreeSink,
// launched on a worker lcore through capture::worker_main, the port set up by
// port::Ports::open() and the loop stopped through the Worker's stop flag (for
// net_ring raised by the worker itself after the last expected packet: see
// StopAfterSink, a counting wrapper around FreeSink). The
// memcpy baseline runs on the same worker lcore. Cycles are TSC cycles taken on
// the worker lcore around the loop.
//
// Every run also checks its counts: net_null bytes == packets * frame size and
// the PMD's own ipackets agree; net_ring the worker counted exactly what was
// generated (packets and bytes) and every mbuf is back in its pool. A mismatch
// makes the exit status 1. --quick (the meson smoke test) is 1 run x 0.2 s per
// case, net_ring with a fixed packet count; it checks the harness, never speed.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "rxinto/base/result.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/port/ports.hpp"

#include "feed.hpp"

namespace {

using rxinto::Error;
using rxinto::make_error;
using rxinto::Result;
using rxinto::Status;
using rxinto::capture::FreeSink;
using rxinto::capture::QueueCounters;
using rxinto::capture::QueueRef;
using rxinto::capture::Worker;
using rxbench::feed::alloc_buffer;
using rxbench::feed::Buffer;
using rxbench::feed::Checker;
using rxbench::feed::fmt6g;
using rxbench::feed::set_seconds;
using rxbench::feed::set_uint;
using rxbench::feed::Stats;
using rxbench::feed::stats_of;
using rxbench::feed::TimedWorker;
using rxbench::feed::timed_worker_main;
using rxbench::feed::u64s;

constexpr std::uint32_t frame_sizes[] = {64, 1500};

// ---------------------------------------------------------------------------
// Options

struct Options {
    unsigned runs = 5;
    double seconds = 1.0;
    bool quick = false;
    bool huge = false;
    bool help = false;
    std::uint16_t burst = 32;
    std::size_t memcpy_mib = 256;
    std::uint64_t quick_packets = 100000;
    std::string json;
    bool do_null = true;
    bool do_ring = true;
    bool do_memcpy = true;
};

constexpr const char* usage_text =
    "usage: bench_rx [options]\n"
    "\n"
    "Mpps per core of rxinto's receive loop (run_worker + FreeSink) on net_null and\n"
    "net_ring, next to the cost of one memcpy of the same bytes (64 and 1500 bytes).\n"
    "Cases: net_null_copy0/1 (size=N,copy=0/1), net_ring (generator streaming on\n"
    "lcore 0), net_ring_drain (ring filled first, only the drain timed), memcpy_cold\n"
    "(source walked through --memcpy-mib MiB), memcpy_hot (same source each time).\n"
    "\n"
    "  --runs N         runs per case (default 5); the table shows median, min, max\n"
    "  --seconds S      length of each run in seconds (default 1.0)\n"
    "  --quick          smoke test: 1 run x 0.2 s per case, net_ring with a fixed\n"
    "                   packet count; checks counts only, never speed\n"
    "  --quick-packets N  packets the generator sends per net_ring run in --quick\n"
    "                   (default 100000)\n"
    "  --burst N        rx burst size, 1..512 (default 32; also the generator's)\n"
    "  --memcpy-mib N   size of the cold memcpy source buffer in MiB (default 256)\n"
    "  --only LIST      comma-separated subset of: net_null,net_ring,memcpy\n"
    "  --huge           run EAL on hugepages (default: --no-huge)\n"
    "  --json FILE      also write the results as a JSON list\n"
    "  -h, --help       this text\n"
    "\n"
    "EAL: -l 0-1 -m 512 --no-pci --log-level=warning --no-telemetry, then --no-huge\n"
    "--no-shconf --file-prefix=bench_rx\n"
    "(DPDK 22.11 refuses --in-memory with --no-huge) or, with --huge, --in-memory;\n"
    "lcore 0 is the control lcore (and the net_ring generator), lcore 1 the measured\n"
    "worker. Exit status: 0 ok, 1 a count check failed or a run could not be set up,\n"
    "2 bad usage.\n";

Result<Options> parse_args(int argc, char** argv) {
    Options o;
    bool seconds_given = false;
    bool runs_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (a == "-h" || a == "--help") {
            o.help = true;
        } else if (a == "--quick") {
            o.quick = true;
        } else if (a == "--huge") {
            o.huge = true;
        } else if (a == "--runs" || a == "--quick-packets" || a == "--burst" ||
                   a == "--memcpy-mib" || a == "--seconds" || a == "--json" || a == "--only") {
            const char* v = value();
            if (v == nullptr) return make_error(a, ": needs a value");
            if (a == "--runs") {
                if (auto st = set_uint(o.runs, a, v, 1, 1000); !st) return st.error();
                runs_given = true;
            } else if (a == "--quick-packets") {
                if (auto st = set_uint(o.quick_packets, a, v, 1, 1'000'000'000); !st) return st.error();
            } else if (a == "--burst") {
                if (auto st = set_uint(o.burst, a, v, 1, rxinto::capture::max_burst); !st)
                    return st.error();
            } else if (a == "--memcpy-mib") {
                if (auto st = set_uint(o.memcpy_mib, a, v, 1, 65536); !st) return st.error();
            } else if (a == "--seconds") {
                if (auto st = set_seconds(o.seconds, a, v); !st) return st.error();
                seconds_given = true;
            } else if (a == "--json") {
                o.json = v;
                if (o.json.empty()) return make_error(a, ": empty file name");
            } else {  // --only
                o.do_null = o.do_ring = o.do_memcpy = false;
                std::string_view list = v;
                while (!list.empty()) {
                    const std::size_t comma = list.find(',');
                    const std::string_view name = list.substr(0, comma);
                    if (name == "net_null") {
                        o.do_null = true;
                    } else if (name == "net_ring") {
                        o.do_ring = true;
                    } else if (name == "memcpy") {
                        o.do_memcpy = true;
                    } else {
                        return make_error("--only: unknown case '", name,
                                          "' (net_null, net_ring, memcpy)");
                    }
                    list = comma == std::string_view::npos ? std::string_view{}
                                                           : list.substr(comma + 1);
                }
            }
        } else {
            return make_error("unknown option '", a, "'");
        }
    }
    if (o.quick) {
        if (!runs_given) o.runs = 1;
        if (!seconds_given) o.seconds = 0.2;
    }
    return o;
}

// ---------------------------------------------------------------------------
// Samples and statistics

struct Sample {
    std::uint64_t packets = 0;  ///< packets received (or copies made)
    std::uint64_t bytes = 0;
    std::uint64_t cycles = 0;   ///< TSC cycles on the measured lcore
    std::uint64_t polls = 0;
    std::uint64_t empty_polls = 0;
    std::uint64_t gen_cycles = 0;  ///< net_ring: TSC cycles the generator ran
    std::uint64_t gen_packets = 0;
};

struct CaseResult {
    std::string name;  ///< JSON "case"
    std::uint32_t frame = 0;
    std::vector<Sample> samples;
    bool is_rx = true;
};

double g_tsc_hz = 1.0;

double seconds_of(std::uint64_t cycles) { return static_cast<double>(cycles) / g_tsc_hz; }
double mpps_of(const Sample& s) {
    return s.cycles == 0 ? 0.0 : static_cast<double>(s.packets) / seconds_of(s.cycles) / 1e6;
}
double cpp_of(const Sample& s) {
    return s.packets == 0 ? 0.0 : static_cast<double>(s.cycles) / static_cast<double>(s.packets);
}
double gbps_of(const Sample& s) {
    return s.cycles == 0 ? 0.0 : static_cast<double>(s.bytes) * 8.0 / seconds_of(s.cycles) / 1e9;
}
double empty_share_of(const Sample& s) {
    return s.polls == 0 ? 0.0
                        : static_cast<double>(s.empty_polls) / static_cast<double>(s.polls);
}
double gen_mpps_of(const Sample& s) {
    return s.gen_cycles == 0
               ? 0.0
               : static_cast<double>(s.gen_packets) / seconds_of(s.gen_cycles) / 1e6;
}

// ---------------------------------------------------------------------------
// The measured worker

/// FreeSink, then: once `target` packets went through, raise the worker's stop
/// flag from the worker lcore itself, so that the worker's TSC span ends with
/// its last packet, however late the (shared, busy) main lcore looks. One add
/// and one compare per burst on top of FreeSink.
class StopAfterSink final : public rxinto::capture::BurstSink {
public:
    StopAfterSink(BurstSink* inner, std::atomic<bool>* stop) : inner_(inner), stop_(stop) {}
    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override {
        inner_->on_burst(q, pkts, n);
        seen_ += n;
        if (seen_ >= target.load(std::memory_order_relaxed))
            stop_->store(true, std::memory_order_relaxed);
    }
    std::atomic<std::uint64_t> target{UINT64_MAX};

private:
    BurstSink* inner_;
    std::atomic<bool>* stop_;
    std::uint64_t seen_ = 0;
};

/// One Worker polling (port_id, queue 0) with a FreeSink, plus its stop flag.
/// With stop_after, the FreeSink is wrapped in a StopAfterSink.
struct RxRun {
    std::atomic<bool> stop{false};
    FreeSink sink;
    StopAfterSink stop_sink{&sink, &stop};
    std::unique_ptr<QueueCounters> qc = std::make_unique<QueueCounters>();
    std::unique_ptr<Worker> worker = std::make_unique<Worker>();
    TimedWorker timed;
    unsigned lcore = 0;
    bool launched = false;

    RxRun(std::uint16_t port_id, std::uint16_t burst, unsigned worker_lcore,
          bool stop_after = false)
        : lcore(worker_lcore) {
        QueueRef q;
        q.port_index = 0;
        q.port_id = port_id;
        q.queue = 0;
        q.counters = qc.get();
        worker->lcore = worker_lcore;
        worker->queues.push_back(q);
        worker->burst = burst;
        if (stop_after) {
            worker->sink = &stop_sink;
        } else {
            worker->sink = &sink;
        }
        worker->stop = &stop;
        timed.worker = worker.get();
    }
    RxRun(const RxRun&) = delete;
    RxRun& operator=(const RxRun&) = delete;
    ~RxRun() { join(); }

    Status launch() {
        if (int rc = rte_eal_remote_launch(timed_worker_main, &timed, lcore); rc != 0)
            return make_error("cannot launch the worker on lcore ", std::to_string(lcore), ": ",
                              std::strerror(-rc));
        launched = true;
        return {};
    }
    void join() noexcept {
        if (!launched) return;
        stop.store(true, std::memory_order_relaxed);
        rte_eal_wait_lcore(lcore);
        launched = false;
    }
    [[nodiscard]] Sample sample() const {
        Sample s;
        s.packets = worker->counters.packets.get();
        s.bytes = worker->counters.bytes.get();
        s.polls = worker->counters.polls.get();
        s.empty_polls = worker->counters.empty_polls.get();
        s.cycles = timed.end - timed.start;
        return s;
    }
};

/// Opens one vdev port (already created) through rxinto's Ports::open.
Result<rxinto::port::Ports> open_port(const std::string& source, std::uint16_t burst) {
    rxinto::config::Settings s;
    rxinto::config::PortSettings p;
    p.kind = rxinto::config::PortKind::vdev;
    p.source = source;
    p.rx_queues = 1;
    s.ports = {p};
    s.run.burst = burst;
    return rxinto::port::Ports::open(s, 1, rte_lcore_count(), {});
}

void sleep_seconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// ---------------------------------------------------------------------------
// Case 1: net_null

Result<CaseResult> bench_null(const Options& o, unsigned wl, std::uint32_t frame, bool copy,
                              unsigned index, Checker& chk) {
    const std::string name = "net_null" + std::to_string(index);
    const std::string devargs =
        "size=" + std::to_string(frame) + ",copy=" + std::string(copy ? "1" : "0");
    if (int rc = rte_vdev_init(name.c_str(), devargs.c_str()); rc != 0)
        return make_error("rte_vdev_init(", name, ", ", devargs, "): ", std::strerror(-rc));
    CaseResult res;
    res.name = copy ? "net_null_copy1" : "net_null_copy0";
    res.frame = frame;
    Status st;
    {
        auto ports = open_port(name + "," + devargs, o.burst);
        if (!ports) {
            rte_vdev_uninit(name.c_str());
            return make_error(name, ": ", ports.error().message);
        }
        const std::uint16_t port_id = ports->ports().at(0).port_id;
        if (!o.quick) {  // one discarded warm-up run: caches, TLB, CPU frequency
            RxRun warm(port_id, o.burst, wl);
            if (st = warm.launch(); st) sleep_seconds(std::min(0.2, o.seconds));
            warm.join();
        }
        for (unsigned r = 0; r < o.runs && st.ok(); ++r) {
            rte_eth_stats_reset(port_id);
            RxRun run(port_id, o.burst, wl);
            if (st = run.launch(); !st) break;
            sleep_seconds(o.seconds);
            run.join();
            const Sample s = run.sample();
            res.samples.push_back(s);

            const std::string tag = res.name + " " + std::to_string(frame) + " B run " +
                                    std::to_string(r + 1) + ": ";
            if (s.packets == 0) chk.fail(tag + "no packet received");
            if (s.bytes != s.packets * frame)
                chk.fail(tag + "bytes " + u64s(s.bytes) + " != packets " + u64s(s.packets) +
                         " x " + std::to_string(frame));
            if (run.qc->packets.get() != s.packets || run.qc->bytes.get() != s.bytes)
                chk.fail(tag + "queue counters disagree with worker counters");
            rte_eth_stats es{};
            if (rte_eth_stats_get(port_id, &es) == 0 && es.ipackets != s.packets)
                chk.fail(tag + "PMD ipackets " + u64s(es.ipackets) + " != worker packets " +
                         u64s(s.packets));
            if (rte_mempool_full(ports->pool()) == 0)
                chk.fail(tag + "rx pool not full after the worker stopped: " +
                         std::to_string(rte_mempool_avail_count(ports->pool())) + " of " +
                         std::to_string(ports->pool()->size));
        }
        ports->close();
    }
    rte_vdev_uninit(name.c_str());
    if (!st) return st.error();
    return res;
}

// ---------------------------------------------------------------------------
// Case 2: net_ring with a generator on the main lcore
//
// stream: the generator enqueues bursts for --seconds while the worker receives;
//         the rx core can go no faster than the generator (see "empty polls").
// drain:  the worker is stopped while the generator fills the ring with
//         `drain_fill` packets; then the worker is launched and stopped as soon as
//         it has counted them all. Only the worker's draining time is measured,
//         fill after fill, for --seconds: the rx core's own cost per packet with a
//         full ring, the generator out of the way.

constexpr unsigned ring_slots = 32768;      ///< ring of 32767 usable slots
constexpr unsigned drain_fill = 32736;      ///< 1023 bursts of 32
constexpr unsigned gen_pool_size = 65535;   ///< ring + caches + bursts, with room to spare

struct GenResult {
    std::uint64_t generated = 0;
    bool stalled = false;
};

/// Allocates, sets the length of and enqueues mbufs: `count` of them (0: no
/// limit), or until the TSC reaches `t_end` (0: no limit). Nothing is written
/// into the packet data: the mbufs stand in for buffers a NIC filled by DMA.
GenResult generate(rte_mempool* gen, rte_ring* ring, std::vector<rte_mbuf*>& b,
                   std::uint32_t frame, std::uint64_t count, std::uint64_t t_end) {
    const auto burst = static_cast<std::uint64_t>(b.size());
    const auto frame16 = static_cast<std::uint16_t>(frame);
    const std::uint64_t stall_limit = 5 * rte_get_tsc_hz();
    GenResult g;
    std::uint64_t last_progress = rte_rdtsc();
    std::uint32_t iter = 0;
    while (true) {
        std::uint64_t want = burst;
        if (count != 0) {
            if (g.generated >= count) break;
            want = std::min(want, count - g.generated);
        }
        if (t_end != 0 && (++iter & 15U) == 0 && rte_rdtsc() >= t_end) break;
        const auto n = static_cast<unsigned>(want);
        if (rte_pktmbuf_alloc_bulk(gen, b.data(), n) != 0) {
            // Pool momentarily empty: the worker still holds them.
            if (rte_rdtsc() - last_progress > stall_limit) {
                g.stalled = true;
                break;
            }
            rte_pause();
            continue;
        }
        for (unsigned i = 0; i < n; ++i) {
            b[i]->data_len = frame16;
            b[i]->pkt_len = frame;
        }
        unsigned done = 0;
        while (done < n) {
            const unsigned k = rte_ring_enqueue_burst(
                ring, reinterpret_cast<void* const*>(b.data() + done), n - done, nullptr);
            done += k;
            if (k != 0) {
                last_progress = rte_rdtsc();
            } else if (rte_rdtsc() - last_progress > stall_limit) {
                break;
            } else {
                rte_pause();
            }
        }
        g.generated += done;
        if (done < n) {  // nobody takes packets any more: give these back
            rte_pktmbuf_free_bulk(b.data() + done, n - done);
            g.stalled = true;
            break;
        }
    }
    return g;
}

/// Waits (up to 5 s) until the worker has counted `n` packets.
void wait_counted(const RxRun& run, std::uint64_t n) {
    const std::uint64_t until = rte_rdtsc() + 5 * rte_get_tsc_hz();
    while (run.worker->counters.packets.get() < n && rte_rdtsc() < until) rte_pause();
}

Result<CaseResult> bench_ring(const Options& o, unsigned wl, std::uint32_t frame, bool drain,
                              Checker& chk) {
    const int socket = static_cast<int>(rte_socket_id());
    rte_ring* ring = rte_ring_create("bench_rx_ring", ring_slots, socket,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (ring == nullptr) return make_error("rte_ring_create: ", rte_strerror(rte_errno));
    rte_mempool* gen = rte_pktmbuf_pool_create("bench_gen", gen_pool_size, 256, 0,
                                               RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (gen == nullptr) {
        rte_ring_free(ring);
        return make_error("gen mempool of ", std::to_string(gen_pool_size),
                          " mbufs: ", rte_strerror(rte_errno));
    }
    auto cleanup_rings = [&]() {
        // Anything a failed run left in the ring goes back before the pool is freed.
        void* obj = nullptr;
        while (rte_ring_dequeue(ring, &obj) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
        rte_mempool_free(gen);
        rte_ring_free(ring);
    };
    const int pid = rte_eth_from_rings("bench_ring", &ring, 1, &ring, 1,
                                       static_cast<unsigned>(socket));
    if (pid < 0) {
        cleanup_rings();
        return make_error("rte_eth_from_rings: ", rte_strerror(rte_errno));
    }
    char devname[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(pid), devname);
    const std::string name = devname;

    CaseResult res;
    res.name = drain ? "net_ring_drain" : "net_ring";
    res.frame = frame;
    Status st;
    {
        auto ports = open_port(name, o.burst);
        if (!ports) {
            rte_vdev_uninit(name.c_str());
            cleanup_rings();
            return make_error(name, ": ", ports.error().message);
        }
        const std::uint16_t port_id = ports->ports().at(0).port_id;
        std::vector<rte_mbuf*> b(o.burst);
        const std::uint64_t run_cycles = static_cast<std::uint64_t>(o.seconds * g_tsc_hz);

        // A discarded warm-up, then the runs.
        const unsigned first = o.quick ? 1 : 0;
        for (unsigned r = first; r <= o.runs && st.ok(); ++r) {
            const bool warm_up = r == 0;
            const std::string tag = res.name + " " + std::to_string(frame) + " B " +
                                    (warm_up ? std::string("warm-up") : "run " + std::to_string(r)) +
                                    ": ";
            rte_eth_stats_reset(port_id);
            Sample s;
            GenResult g;
            const std::uint64_t budget = warm_up ? run_cycles / 5 : run_cycles;
            const std::uint64_t t0 = rte_rdtsc_precise();
            if (!drain) {
                RxRun run(port_id, o.burst, wl, true);
                if (st = run.launch(); !st) break;
                g = generate(gen, ring, b, frame, o.quick ? o.quick_packets : 0,
                             o.quick ? 0 : t0 + budget);
                s.gen_cycles = rte_rdtsc_precise() - t0;
                run.stop_sink.target.store(g.generated, std::memory_order_relaxed);
                wait_counted(run, g.generated);
                run.join();
                const Sample w = run.sample();
                s.packets = w.packets;
                s.bytes = w.bytes;
                s.cycles = w.cycles;
                s.polls = w.polls;
                s.empty_polls = w.empty_polls;
                if (run.qc->packets.get() != w.packets || run.qc->bytes.get() != w.bytes)
                    chk.fail(tag + "queue counters disagree with worker counters");
            } else {
                // Fill, drain, repeat: until --quick-packets (--quick) or the run's time.
                while (!g.stalled && st.ok() &&
                       (o.quick ? g.generated < o.quick_packets
                                : rte_rdtsc() - t0 < budget || g.generated == 0)) {
                    const std::uint64_t fill =
                        o.quick ? std::min<std::uint64_t>(drain_fill,
                                                          o.quick_packets - g.generated)
                                : drain_fill;
                    const std::uint64_t g0 = rte_rdtsc_precise();
                    const GenResult f = generate(gen, ring, b, frame, fill, 0);
                    s.gen_cycles += rte_rdtsc_precise() - g0;
                    g.generated += f.generated;
                    g.stalled = f.stalled;
                    RxRun run(port_id, o.burst, wl, true);
                    run.stop_sink.target.store(f.generated, std::memory_order_relaxed);
                    if (st = run.launch(); !st) break;
                    wait_counted(run, f.generated);
                    run.join();
                    const Sample w = run.sample();
                    if (w.packets != f.generated)
                        chk.fail(tag + "one drain counted " + u64s(w.packets) + " of " +
                                 u64s(f.generated) + " packets");
                    if (run.qc->packets.get() != w.packets || run.qc->bytes.get() != w.bytes)
                        chk.fail(tag + "queue counters disagree with worker counters");
                    s.packets += w.packets;
                    s.bytes += w.bytes;
                    s.cycles += w.cycles;
                    s.polls += w.polls;
                    s.empty_polls += w.empty_polls;
                }
                if (!st) break;
            }
            s.gen_packets = g.generated;

            if (g.stalled) chk.fail(tag + "the generator stalled (ring or pool never drained)");
            if (o.quick && g.generated != o.quick_packets)
                chk.fail(tag + "generated " + u64s(g.generated) + " of " + u64s(o.quick_packets));
            if (s.packets != g.generated)
                chk.fail(tag + "worker counted " + u64s(s.packets) + " packets, generated " +
                         u64s(g.generated));
            if (s.bytes != g.generated * frame)
                chk.fail(tag + "worker counted " + u64s(s.bytes) + " bytes, generated " +
                         u64s(g.generated * frame));
            rte_eth_stats es{};
            if (rte_eth_stats_get(port_id, &es) == 0 && es.ipackets != g.generated)
                chk.fail(tag + "PMD ipackets " + u64s(es.ipackets) + " != generated " +
                         u64s(g.generated));
            if (rte_ring_count(ring) != 0)
                chk.fail(tag + std::to_string(rte_ring_count(ring)) + " mbufs left in the ring");
            if (rte_mempool_full(gen) == 0)
                chk.fail(tag + "gen pool not full at the end: " +
                         std::to_string(rte_mempool_avail_count(gen)) + " of " +
                         std::to_string(gen->size) + " mbufs back");
            if (!warm_up) res.samples.push_back(s);
        }
        ports->close();
    }
    rte_vdev_uninit(name.c_str());
    cleanup_rings();
    if (!st) return st.error();
    return res;
}

// ---------------------------------------------------------------------------
// Case 3: memcpy baseline, on the worker lcore

Result<CaseResult> bench_memcpy(const Options& o, unsigned wl, std::uint32_t frame, bool hot,
                                const Buffer& src, std::size_t src_len, const Buffer& dst,
                                Checker& chk) {
    CaseResult res;
    res.name = hot ? "memcpy_hot" : "memcpy_cold";
    res.frame = frame;
    res.is_rx = false;
    for (unsigned r = 0; r < o.runs; ++r) {
        rxbench::feed::CopyJob j;
        j.src = src.get();
        j.src_len = src_len;
        j.dst = dst.get();
        j.seg = frame;
        // Cold: each copy starts at the next packet buffer (the default mbuf
        // data room, 2176 bytes apart), as the packets of a pool would.
        j.stride = hot ? 0 : RTE_MBUF_DEFAULT_BUF_SIZE;
        j.run_cycles = static_cast<std::uint64_t>(o.seconds * g_tsc_hz);
        if (int rc = rte_eal_remote_launch(rxbench::feed::copy_fixed_main, &j, wl); rc != 0)
            return make_error("cannot launch memcpy on lcore ", std::to_string(wl));
        rte_eal_wait_lcore(wl);
        Sample s;
        s.packets = j.copies;
        s.bytes = j.copies * frame;
        s.cycles = j.cycles;
        if (s.packets == 0) chk.fail(res.name + " " + std::to_string(frame) + " B: no copy made");
        res.samples.push_back(s);
    }
    return res;
}

// ---------------------------------------------------------------------------
// Output

const CaseResult* find_case(const std::vector<CaseResult>& all, std::string_view name,
                            std::uint32_t frame) {
    for (const auto& c : all)
        if (c.name == name && c.frame == frame) return &c;
    return nullptr;
}

void print_table(const std::vector<CaseResult>& all, const Options& o, bool huge) {
    std::printf("\nbench_rx: %u run(s) x %.2f s per case, burst %u, TSC %.3f GHz, %s, "
                "worker lcore measured, generator on the main lcore\n",
                o.runs, o.seconds, static_cast<unsigned>(o.burst), g_tsc_hz / 1e9,
                huge ? "hugepages" : "--no-huge (4 KiB pages)");
    std::printf("\n%-15s %6s %9s %9s %9s %10s %9s %8s  %s\n", "case", "bytes", "Mpps med",
                "Mpps min", "Mpps max", "cyc/pkt", "Gbit/s", "GB/s", "notes");
    std::printf("%-15s %6s %9s %9s %9s %10s %9s %8s  %s\n", "---------------", "------",
                "---------", "---------", "---------", "----------", "---------", "--------",
                "-----");
    for (const auto& c : all) {
        const Stats m = stats_of(c.samples, mpps_of);
        const Stats cy = stats_of(c.samples, cpp_of);
        const Stats g = stats_of(c.samples, gbps_of);
        char notes[160] = "";
        if (c.is_rx) {
            const Stats e = stats_of(c.samples, empty_share_of);
            if (c.name.starts_with("net_ring")) {
                const Stats gm = stats_of(c.samples, gen_mpps_of);
                std::snprintf(notes, sizeof notes, "empty polls %.1f%%, generator %.2f Mpps",
                              e.median * 100.0, gm.median);
            } else {
                std::snprintf(notes, sizeof notes, "empty polls %.1f%%", e.median * 100.0);
            }
        } else {
            std::snprintf(notes, sizeof notes, "cycles per copy");
        }
        std::printf("%-15s %6u %9.2f %9.2f %9.2f %10.1f %9.2f %8.2f  %s\n", c.name.c_str(),
                    c.frame, m.median, m.min, m.max, cy.median, g.median, g.median / 8.0, notes);
    }

    // Ratios: receive-loop cycles per packet against one memcpy of the same bytes.
    bool header = false;
    for (const std::uint32_t f : frame_sizes) {
        const CaseResult* cold = find_case(all, "memcpy_cold", f);
        const CaseResult* hot = find_case(all, "memcpy_hot", f);
        if (cold == nullptr && hot == nullptr) continue;
        const double cold_c = cold != nullptr ? stats_of(cold->samples, cpp_of).median : 0.0;
        const double hot_c = hot != nullptr ? stats_of(hot->samples, cpp_of).median : 0.0;
        for (const auto& c : all) {
            if (!c.is_rx || c.frame != f) continue;
            if (!header) {
                std::printf("\nrx loop cycles/packet vs one memcpy of the same bytes (medians)\n");
                std::printf("%-15s %6s %10s %12s %8s %12s %8s\n", "rx case", "bytes", "rx cyc",
                            "memcpy cold", "ratio", "memcpy hot", "ratio");
                header = true;
            }
            const double rx = stats_of(c.samples, cpp_of).median;
            std::printf("%-15s %6u %10.1f %12.1f %7.2fx %12.1f %7.2fx\n", c.name.c_str(), f, rx,
                        cold_c, cold_c > 0 ? rx / cold_c : 0.0, hot_c,
                        hot_c > 0 ? rx / hot_c : 0.0);
        }
    }
    std::printf("\n");
}

bool write_json(const std::string& path, const std::vector<CaseResult>& all) {
    std::ofstream f(path, std::ios::trunc);
    f << "[\n";
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& c = all[i];
        const Stats m = stats_of(c.samples, mpps_of);
        f << "  {\"case\": \"" << c.name << "\", \"frame_bytes\": " << c.frame
          << ", \"runs\": " << c.samples.size() << ", \"mpps_median\": " << fmt6g(m.median)
          << ", \"mpps_min\": " << fmt6g(m.min) << ", \"mpps_max\": " << fmt6g(m.max)
          << ", \"cycles_per_packet_median\": "
          << fmt6g(stats_of(c.samples, cpp_of).median)
          << ", \"gbps_median\": " << fmt6g(stats_of(c.samples, gbps_of).median) << "}"
          << (i + 1 < all.size() ? ",\n" : "\n");
    }
    f << "]\n";
    f.close();
    return static_cast<bool>(f);
}

// ---------------------------------------------------------------------------

int run_all(const Options& o, bool huge, Checker& chk) {
    const unsigned wl = rxbench::feed::worker_lcore();
    if (wl >= RTE_MAX_LCORE) {
        std::fprintf(stderr, "bench_rx: needs a worker lcore (EAL -l 0-1)\n");
        return 1;
    }
    g_tsc_hz = static_cast<double>(rte_get_tsc_hz());

    std::vector<CaseResult> all;
    auto keep = [&](Result<CaseResult> r) {
        if (!r) {
            chk.fail(r.error().message);
            return;
        }
        all.push_back(std::move(r).value());
        const auto& c = all.back();
        std::fprintf(stderr, "bench_rx: %-15s %5u B  %.2f Mpps (median of %zu)\n",
                     c.name.c_str(), c.frame, stats_of(c.samples, mpps_of).median,
                     c.samples.size());
    };

    unsigned vdev_index = 0;
    if (o.do_null) {
        for (const bool copy : {false, true})
            for (const std::uint32_t f : frame_sizes)
                keep(bench_null(o, wl, f, copy, vdev_index++, chk));
    }
    if (o.do_ring) {
        for (const bool drain : {false, true})
            for (const std::uint32_t f : frame_sizes) keep(bench_ring(o, wl, f, drain, chk));
    }
    if (o.do_memcpy) {
        const std::size_t src_len = o.memcpy_mib * 1024 * 1024;
        Buffer src = alloc_buffer(src_len);
        Buffer dst = alloc_buffer(4096);
        if (!src || !dst) {
            chk.fail("cannot allocate " + std::to_string(o.memcpy_mib) + " MiB for memcpy");
        } else {
            // Fault every page in (and make the bytes non-zero) before timing.
            for (std::size_t i = 0; i < src_len; i += 64)
                src.get()[i] = static_cast<std::byte>(i >> 6);
            std::memset(dst.get(), 0, 4096);
            for (const bool hot : {false, true})
                for (const std::uint32_t f : frame_sizes)
                    keep(bench_memcpy(o, wl, f, hot, src, src_len, dst, chk));
        }
    }

    print_table(all, o, huge);
    if (!o.json.empty() && !write_json(o.json, all)) {
        chk.fail("--json: cannot write '" + o.json + "'");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto opts = parse_args(argc, argv);
    if (!opts) return rxbench::feed::usage_error("bench_rx", opts.error());
    const Options& o = opts.value();
    if (o.help) {
        std::fputs(usage_text, stdout);
        return 0;
    }

    // --no-huge: --no-shconf writes no shared files, so that several runs can
    // share the prefix (only the empty /var/run/dpdk/bench_rx stays).
    auto eal = rxbench::feed::eal_start("bench_rx", 512, o.huge, "bench_rx");
    if (!eal) {
        std::fprintf(stderr, "bench_rx: %s\n", eal.error().message.c_str());
        return 1;
    }

    Checker chk("bench_rx");
    int rc = run_all(o, o.huge, chk);

    rxbench::feed::eal_stop(eal.value(), "bench_rx", false);

    return rxbench::feed::checks_exit(chk, o.quick, rc);
}
