// bench_export: what fleet export costs the worker lcore.
//
// With --export, a worker's share of the export is what it sends its output
// thread anyway for stream output (capture/stream_feed): an open message when
// a connection starts and an end message when it goes (two 128-byte ring
// enqueues per connection; the stream bytes themselves are consumed on the
// worker, as without export). The records are made on the output thread
// (stream_store's observer, capture/fleet_export) and published by the export
// thread, both on the other CPU.
//
// This bench feeds the same short connections (a capture from rxinto-gen:
// handshake, a little data each way, FIN) through one tcp::reassembler on a
// worker lcore, once as rxinto does without export or stream output (the
// readable bytes consumed where they are, gaps skipped) and once with the
// stream feed of --export, an output thread and an exporter behind it, and
// prints the segment rate of each and their ratio. Without --nats the
// exporter has no server: it builds every record and counts it dropped, which
// costs the worker exactly what a live server would.
//
// Timed: process_burst + the listener + flush, per burst of 32, in TSC
// cycles; not timed: copying the capture's frames into mbufs (as a NIC's DMA
// would). The capture is replayed --passes times per run (a new SYN after the
// FIN is a new connection), with packet times moved forward each pass.
//
//   bench_export --pcap FILE [--passes 10] [--runs 3] [--nats URLS]
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "fleet_export.hpp"
#include "rxinto/capture/output.hpp"
#include "rxinto/capture/stream_feed.hpp"
#include "rxinto/capture/stream_store.hpp"
#include "rxinto/export/exporter.hpp"
#include "rxinto/tcp/reassembler.hpp"
#include "stream_msg.hpp"

namespace {

using namespace rxinto;

struct frame {
    std::uint64_t ts_ns;
    std::vector<std::uint8_t> bytes;
};

/// Export off: rxinto without stream output (TcpSink::drain): whatever became
/// readable is consumed where it is, gaps are skipped.
void consume_readable(tcp::reassembler& r) noexcept {
    for (const tcp::event& e : r.events()) {
        if (e.conn == nullptr || e.kind != tcp::event_kind::readable) continue;
        for (flow::direction d : flow::both_directions) {
            tcp::stream& s = e.conn->in(d);
            for (;;) {
                const std::uint64_t n = s.readable();
                if (n != 0) s.consume(n);
                if (s.skip_gap() == 0 && n == 0) break;
            }
        }
    }
}

std::vector<frame> read_pcap(const char* path) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    std::vector<frame> out;
    if (p == nullptr) {
        std::fprintf(stderr, "bench_export: %s: %s\n", path, err);
        return out;
    }
    pcap_pkthdr* h = nullptr;
    const u_char* d = nullptr;
    while (pcap_next_ex(p, &h, &d) == 1)
        out.push_back({std::uint64_t(h->ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(h->ts.tv_usec),
                       std::vector<std::uint8_t>(d, d + h->caplen)});
    pcap_close(p);
    return out;
}

struct result {
    double mpps = 0;
    double ns_per_conn = 0;  ///< timed worker time per connection
    std::uint64_t segments = 0, conns = 0, messages = 0, ring_full = 0;
};

/// feed: null for export off.
result run_once(const std::vector<frame>& frames, int passes, rte_mempool* pool, capture::stream_feed* feed,
                int seq) {
    tcp::tcp_config cfg;
    cfg.max_flows = 1U << 17;
    cfg.max_segments = 1U << 16;
    cfg.checksum = tcp::checksum_mode::ignore;
    auto re = tcp::reassembler::create(cfg, "bx" + std::to_string(seq), 0, pool, 0);
    if (!re) {
        std::fprintf(stderr, "bench_export: %s\n", re.error().message.c_str());
        return {};
    }
    auto& r = *re.value();
    if (feed != nullptr) r.set_listener(feed);
    const std::uint64_t msgs0 = feed != nullptr ? feed->counters().messages.get() : 0;
    const std::uint64_t full0 = feed != nullptr ? feed->counters().ring_full.get() : 0;
    std::vector<rte_mbuf*> mb(32768);
    std::uint64_t cycles = 0, segs = 0;
    const std::uint64_t span = frames.empty() ? 0 : frames.back().ts_ns - frames.front().ts_ns + 3'600'000'000'000ULL;
    std::uint64_t last_expire = 0;
    for (int pass = 0; pass < passes; ++pass) {
        for (std::size_t at = 0; at < frames.size();) {
            const std::size_t n = std::min<std::size_t>(mb.size(), frames.size() - at);
            if (rte_pktmbuf_alloc_bulk(pool, mb.data(), static_cast<unsigned>(n)) != 0) {
                std::fprintf(stderr, "bench_export: mempool empty\n");
                return {};
            }
            for (std::size_t i = 0; i < n; ++i) {  // not timed: the NIC's DMA
                const auto& f = frames[at + i].bytes;
                std::memcpy(rte_pktmbuf_append(mb[i], static_cast<std::uint16_t>(f.size())), f.data(), f.size());
            }
            const std::uint64_t t0 = rte_rdtsc();
            for (std::size_t i = 0; i < n; i += 32) {
                const auto k = static_cast<std::uint16_t>(std::min<std::size_t>(32, n - i));
                const std::uint64_t now = frames[at + i].ts_ns + span * static_cast<std::uint64_t>(pass);
                r.process_burst(mb.data() + i, k, tcp::port_link{}, now);
                if (feed == nullptr) consume_readable(r);
                if (now > last_expire + 1'000'000'000ULL) {
                    last_expire = now;
                    r.expire(now, 1U << 20);
                }
                r.flush();
            }
            cycles += rte_rdtsc() - t0;
            segs += n;
            at += n;
        }
        const std::uint64_t t0 = rte_rdtsc();
        r.expire(UINT64_MAX / 2, 1U << 20);  // every connection of the pass ends
        r.flush();
        cycles += rte_rdtsc() - t0;
    }
    r.finish();
    result res;
    res.segments = segs;
    res.mpps = static_cast<double>(segs) / (static_cast<double>(cycles) / static_cast<double>(rte_get_tsc_hz())) / 1e6;
    res.conns = r.counters().get(static_cast<std::size_t>(tcp::tcp_counter::flows_created));
    if (feed != nullptr) {
        res.messages = feed->counters().messages.get() - msgs0;
        res.ring_full = feed->counters().ring_full.get() - full0;
    }
    const double ns_per_cycle = 1e9 / static_cast<double>(rte_get_tsc_hz());
    if (res.conns != 0) res.ns_per_conn = static_cast<double>(cycles) * ns_per_cycle / static_cast<double>(res.conns);
    return res;
}

}  // namespace

int main(int argc, char** argv) {
    std::string pcap, nats;
    int passes = 10, runs = 3;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--pcap" && i + 1 < argc) pcap = argv[++i];
        else if (a == "--nats" && i + 1 < argc) nats = argv[++i];
        else if (a == "--passes" && i + 1 < argc) passes = std::max(1, std::atoi(argv[++i]));
        else if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
        else {
            std::fprintf(stderr, "usage: bench_export --pcap FILE [--passes N] [--runs N] [--nats URLS]\n");
            return 2;
        }
    }
    if (pcap.empty()) {
        std::fprintf(stderr, "usage: bench_export --pcap FILE [--passes N] [--runs N] [--nats URLS]\n");
        return 2;
    }
    const std::vector<frame> frames = read_pcap(pcap.c_str());
    if (frames.empty()) return 1;
    const std::string prefix = "--file-prefix=bench_export_" + std::to_string(::getpid());
    const char* eal[] = {"bench_export", "--no-huge", "-m", "2048", prefix.c_str(), "-l", "0-1",
                         "--log-level", "error", "--no-pci"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        std::fprintf(stderr, "bench_export: EAL init failed\n");
        return 1;
    }
    rte_mempool* pool = rte_pktmbuf_pool_create("bench_export", 65535, 256, 0, 2176, 0);
    if (pool == nullptr) return 1;
    std::vector<std::string> notes;
    fleet::exporter_options o;
    o.urls = nats.empty() ? "nats://127.0.0.1:9" : nats;  // port 9 (discard): nothing answers
    o.node = "bench";
    o.require_server = !nats.empty();
    o.connect_timeout_s = 0.5;
    o.wait_s = 30;
    auto ex = fleet::exporter::create(o, notes);
    if (!ex) {
        std::fprintf(stderr, "bench_export: %s\n", ex.error().message.c_str());
        return 1;
    }
    std::unique_ptr<fleet::exporter> exp = std::move(ex.value());
    if (!exp->start()) return 1;
    for (const auto& n : notes) std::fprintf(stderr, "bench_export: %s\n", n.c_str());
    // rxinto's --export without --streams-dir: a store without a directory,
    // its observer making the records, the output thread draining the ring.
    capture::stream_store_options so;
    so.data_messages = false;
    auto st = capture::stream_store::open(so);
    if (!st) {
        std::fprintf(stderr, "bench_export: %s\n", st.error().message.c_str());
        return 1;
    }
    std::unique_ptr<capture::stream_store> store = std::move(st.value());
    capture::fleet_export observer(exp.get());
    store->set_observer(&observer);
    rte_ring* ring = rte_ring_create_elem("bench_export_s", sizeof(capture::stream_msg), capture::stream_feed::ring_size,
                                          SOCKET_ID_ANY,
                                          RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (ring == nullptr) return 1;
    std::vector<capture::output_source> sources(1);
    sources[0].streams = ring;
    auto out = capture::output_thread::start(sources, store.get());
    if (!out) {
        std::fprintf(stderr, "bench_export: %s\n", out.error().message.c_str());
        return 1;
    }
    capture::stream_feed feed(ring, false, false, nullptr);
    // The timed work runs on a worker lcore (lcore 1), as rxinto's workers do;
    // the output and export threads are control threads on the main lcore's CPU.
    struct job {
        const std::vector<frame>* frames;
        int passes;
        rte_mempool* pool;
        capture::stream_feed* feed;
        int seq;
        result out;
    };
    const auto on_worker = [&](capture::stream_feed* f, int seq) {
        job j{&frames, passes, pool, f, seq, {}};
        const unsigned lcore = rte_get_next_lcore(-1, 1, 0);
        if (lcore >= RTE_MAX_LCORE) return run_once(frames, passes, pool, f, seq);
        rte_eal_remote_launch(
            [](void* a) -> int {
                auto* jb = static_cast<job*>(a);
                jb->out = run_once(*jb->frames, jb->passes, jb->pool, jb->feed, jb->seq);
                return 0;
            },
            &j, lcore);
        rte_eal_wait_lcore(lcore);
        return j.out;
    };
    std::vector<double> off, on;
    result last_on{}, last_off{};
    for (int i = 0; i < runs; ++i) {
        last_off = on_worker(nullptr, 2 * i);
        off.push_back(last_off.mpps);
        last_on = on_worker(&feed, 2 * i + 1);
        on.push_back(last_on.mpps);
        std::fprintf(stderr,
                     "bench_export: run %d: off %.3f Mpps (%.0f ns per connection), on %.3f Mpps (%.0f ns per"
                     " connection; %llu messages, %llu dropped on a full ring)\n",
                     i, off.back(), last_off.ns_per_conn, on.back(), last_on.ns_per_conn,
                     static_cast<unsigned long long>(last_on.messages),
                     static_cast<unsigned long long>(last_on.ring_full));
    }
    (*out)->stop();
    exp->stop();
    const auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    const double m_off = median(off), m_on = median(on);
    const fleet::export_counts c = exp->counts();
    std::printf("{\"frames_per_pass\": %zu, \"passes\": %d, \"runs\": %d, \"connections_per_run\": %llu,"
                " \"segments_per_run\": %llu, \"mpps_off\": %.4f, \"mpps_on\": %.4f, \"ratio_on_off\": %.4f,"
                " \"ns_per_connection_off\": %.1f, \"ns_per_connection_on\": %.1f,"
                " \"messages_last_run\": %llu, \"ring_full_last_run\": %llu,"
                " \"exported\": %llu, \"acked\": %llu, \"dropped\": %llu}\n",
                frames.size(), passes, runs, static_cast<unsigned long long>(last_on.conns),
                static_cast<unsigned long long>(last_on.segments), m_off, m_on, m_on / m_off, last_off.ns_per_conn,
                last_on.ns_per_conn, static_cast<unsigned long long>(last_on.messages),
                static_cast<unsigned long long>(last_on.ring_full),
                static_cast<unsigned long long>(c.records.exported), static_cast<unsigned long long>(c.records.acked),
                static_cast<unsigned long long>(c.records.dropped));
    out->reset();
    store.reset();
    exp.reset();  // its ring is EAL memory
    rte_ring_free(ring);
    rte_mempool_free(pool);
    rte_eal_cleanup();
    return 0;
}
