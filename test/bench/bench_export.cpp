// bench_export: what fleet export costs the worker lcore.
//
// The worker's side of export is exporter::submit(): a record serialised into
// preallocated ring slots (rte_ring's zero-copy enqueue). This bench feeds the
// same short connections (a capture from rxinto-gen: handshake, a little data
// each way, FIN) through one tcp::reassembler on the main lcore, with the same
// listener as rxinto's stream output when it only reads (zero-copy consume,
// gaps skipped), once without export and once with two open records and two
// end records submitted per connection, as capture/stream_files.cpp does, and
// prints the segment rate of each and their ratio, and the time spent inside
// the two submits per connection (TSC around each call) next to a
// connection's whole time without export. The export thread runs on
// its own CPU meanwhile (the records are published to --nats, or, without a
// server, built and counted as dropped: the worker's cost is the same).
//
// Timed: process_burst + the listener + drain + flush, per burst of 32, in TSC
// cycles; not timed: copying the capture's frames into mbufs (as a NIC's DMA
// would). The capture is replayed --passes times per run (a new SYN after the
// FIN is a new connection), with packet times moved forward each pass.
//
//   bench_export --pcap FILE [--passes 10] [--runs 3] [--nats URLS] [--no-consumer]
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
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

#include "rxinto/export/exporter.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace {

using namespace rxinto;

struct frame {
    std::uint64_t ts_ns;
    std::vector<std::uint8_t> bytes;
};

/// The listener: rxinto's stream output without files (consume, skip gaps),
/// plus the export call site when `exp` is set.
class bench_listener final : public tcp::listener {
public:
    bench_listener(tcp::reassembler* r, fleet::exporter* exp) : r_(r), exp_(exp) {}
    void on_open(tcp::connection& c) noexcept override {
        if (exp_ == nullptr) return;
        fleet::direction_info d[2];
        for (int i = 0; i < 2; ++i) {
            d[i].dir = c.label(i);
            d[i].midstream = c.dir[i].midstream();
            d[i].packets = c.packets[i];
        }
        submitted += 2;
        const std::uint64_t t0 = rte_rdtsc();
        const bool ok = exp_->submit_open(info(c), d);
        submit_cycles += rte_rdtsc() - t0;
        if (!ok) refused += 2;
    }
    void on_release(tcp::connection& c) noexcept override {
        drain(c);
        if (exp_ == nullptr) return;
        fleet::direction_info d[2];
        for (int i = 0; i < 2; ++i) {
            const tcp::stream& s = c.dir[i];
            d[i].dir = c.label(i);
            d[i].midstream = s.midstream();
            d[i].packets = c.packets[i];
            d[i].end = tcp::to_string(s.ended() == tcp::end_reason::none ? tcp::end_reason::eof : s.ended());
            d[i].bytes = s.delivered();
            d[i].overlap_conflicts = s.overlap_conflicts();
            d[i].file = i == 0 ? "12345-c2s.bin" : "12345-s2c.bin";  // as long as rxinto's names
        }
        submitted += 2;
        const std::uint64_t t0 = rte_rdtsc();
        const bool ok = exp_->submit_end(info(c), d);
        submit_cycles += rte_rdtsc() - t0;
        if (!ok) refused += 2;
    }
    void drain(tcp::connection& c) noexcept {
        for (int d = 0; d < 2; ++d) {
            for (;;) {
                const std::uint64_t n = c.dir[d].readable();
                if (n != 0) r_->consume(c, d, n);
                if (r_->skip_gap(c, d) == 0 && n == 0) break;
            }
        }
    }
    std::uint64_t submitted = 0, refused = 0, submit_cycles = 0;

private:
    static fleet::conn_info info(const tcp::connection& c) noexcept {
        fleet::conn_info i;
        i.conn = c.id;
        i.ip_version = c.key.ip_version;
        i.addr_a = c.key.addr_a.data();
        i.addr_b = c.key.addr_b.data();
        i.port_a = c.key.port_a;
        i.port_b = c.key.port_b;
        i.vlan = std::span<const std::uint16_t>(c.key.vlan.data(), c.key.vlan_count);
        i.first_ns = c.first_ns;
        i.last_ns = c.last_ns;
        return i;
    }
    tcp::reassembler* r_;
    fleet::exporter* exp_;
};

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
    double ns_per_conn = 0;         ///< timed worker time per connection
    double submit_ns_per_conn = 0;  ///< of which in submit_open + submit_end
    std::uint64_t segments = 0, conns = 0, submitted = 0, refused = 0;
};

result run_once(const std::vector<frame>& frames, int passes, rte_mempool* pool, fleet::exporter* exp, int seq) {
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
    bench_listener l(&r, exp);
    r.set_listener(&l);
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
                for (const tcp::event& e : r.events())
                    if (e.conn != nullptr && e.kind != tcp::event_kind::opened) l.drain(*e.conn);
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
    res.submitted = l.submitted;
    res.refused = l.refused;
    const double ns_per_cycle = 1e9 / static_cast<double>(rte_get_tsc_hz());
    if (res.conns != 0) {
        res.ns_per_conn = static_cast<double>(cycles) * ns_per_cycle / static_cast<double>(res.conns);
        res.submit_ns_per_conn = static_cast<double>(l.submit_cycles) * ns_per_cycle / static_cast<double>(res.conns);
    }
    return res;
}

}  // namespace

int main(int argc, char** argv) {
    std::string pcap, nats;
    int passes = 10, runs = 3;
    bool no_consumer = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--pcap" && i + 1 < argc) pcap = argv[++i];
        else if (a == "--nats" && i + 1 < argc) nats = argv[++i];
        else if (a == "--passes" && i + 1 < argc) passes = std::max(1, std::atoi(argv[++i]));
        else if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
        else if (a == "--no-consumer") no_consumer = true;
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
    if (no_consumer) o.ring_bytes = std::uint64_t{1} << 29;
    auto ex = fleet::exporter::create(o, notes);
    if (!ex) {
        std::fprintf(stderr, "bench_export: %s\n", ex.error().message.c_str());
        return 1;
    }
    std::unique_ptr<fleet::exporter> expp = std::move(ex.value());
    auto& exp = *expp;
    // --no-consumer: the export thread does not run while the worker is timed
    // (the ring is sized to hold every record): the enqueue alone, without a
    // consumer on the other CPU touching the ring's cache lines.
    if (!no_consumer && !exp.start()) return 1;
    for (const auto& n : notes) std::fprintf(stderr, "bench_export: %s\n", n.c_str());
    // The timed work runs on a worker lcore (lcore 1), as rxinto's workers do;
    // the export thread is a control thread on the main lcore's CPU.
    struct job {
        const std::vector<frame>* frames;
        int passes;
        rte_mempool* pool;
        fleet::exporter* exp;
        int seq;
        result out;
    };
    const auto on_worker = [&](fleet::exporter* e, int seq) {
        job j{&frames, passes, pool, e, seq, {}};
        const unsigned lcore = rte_get_next_lcore(-1, 1, 0);
        if (lcore >= RTE_MAX_LCORE) return run_once(frames, passes, pool, e, seq);
        rte_eal_remote_launch(
            [](void* a) -> int {
                auto* jb = static_cast<job*>(a);
                jb->out = run_once(*jb->frames, jb->passes, jb->pool, jb->exp, jb->seq);
                return 0;
            },
            &j, lcore);
        rte_eal_wait_lcore(lcore);
        return j.out;
    };
    std::vector<double> off, on, submit_share;
    result last_on{}, last_off{};
    for (int i = 0; i < runs; ++i) {
        last_off = on_worker(nullptr, 2 * i);
        off.push_back(last_off.mpps);
        last_on = on_worker(&exp, 2 * i + 1);
        on.push_back(last_on.mpps);
        submit_share.push_back(last_on.submit_ns_per_conn / last_off.ns_per_conn);
        std::fprintf(stderr,
                     "bench_export: run %d: off %.3f Mpps (%.0f ns per connection), on %.3f Mpps (%.0f ns per"
                     " connection, %.0f of them in submit_open + submit_end)\n",
                     i, off.back(), last_off.ns_per_conn, on.back(), last_on.ns_per_conn,
                     last_on.submit_ns_per_conn);
    }
    exp.stop();
    const auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    const double m_off = median(off), m_on = median(on);
    const fleet::export_counts c = exp.counts();
    std::printf("{\"frames_per_pass\": %zu, \"passes\": %d, \"runs\": %d, \"connections_per_run\": %llu,"
                " \"segments_per_run\": %llu, \"mpps_off\": %.4f, \"mpps_on\": %.4f, \"ratio_on_off\": %.4f,"
                " \"submit_share_of_off\": %.4f, \"submit_ns_per_connection\": %.1f,"
                " \"records_submitted_last_run\": %llu, \"ring_full_last_run\": %llu,"
                " \"exported\": %llu, \"acked\": %llu, \"dropped\": %llu}\n",
                frames.size(), passes, runs, static_cast<unsigned long long>(last_on.conns),
                static_cast<unsigned long long>(last_on.segments), m_off, m_on, m_on / m_off, median(submit_share),
                last_on.submit_ns_per_conn,
                static_cast<unsigned long long>(last_on.submitted), static_cast<unsigned long long>(last_on.refused),
                static_cast<unsigned long long>(c.records.exported), static_cast<unsigned long long>(c.records.acked),
                static_cast<unsigned long long>(c.records.dropped));
    expp.reset();  // its ring is EAL memory
    rte_mempool_free(pool);
    rte_eal_cleanup();
    return 0;
}
