// rxbench: rxinto through net_ring (rxinto-ring, rxinto-ring-zerocopy) and the
// memcpy limit, on the feed shared with test/bench/bench_tcp (feed.hpp):
// pre-built frames of N TCP connections (handshakes first, then data
// round-robin, in order, valid checksums), written by a generator on the main
// lcore into mbufs of a pool larger than the caches (the payload pattern was
// written once when the pool was made, so the copy reads cold memory, as after
// a NIC's DMA), enqueued on a ring that net_ring presents as a port. On this
// 2-core VM the generator fills the ring while the worker is stopped; the
// worker lcore then drains it (rxinto's receive loop ->
// reassembler::process_burst -> recv_into of every readable connection into
// one 64 KiB buffer, or peek/consume for zerocopy), timed with the TSC. CPU
// seconds count the generator's fill time (main lcore) and the worker's drain
// time.
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <rte_cycles.h>
#include <rte_lcore.h>

#include "common.hpp"
#include "feed.hpp"

namespace rxbench {
namespace {

using feed::CaseResult;
using feed::Checker;

Sample to_sample(const feed::Sample& r, double hz) {
    Sample s;
    s.secs = static_cast<double>(r.cycles) / hz;
    s.cpu_s = static_cast<double>(r.cycles + r.gen_cycles) / hz;
    s.recv_cycles = static_cast<double>(r.cycles);
    s.sent = r.payload;
    s.delivered = r.delivered;
    s.segments = r.segments;
    s.allocs = r.news + r.deletes;
    s.polls = r.polls;
    s.empty_polls = r.empty_polls;
    return s;
}

}  // namespace

void run_ring_paths(const Options& o, std::vector<Row>& rows) {
    const bool want_ring = wanted(o, "rxinto-ring");
    const bool want_zc = wanted(o, "rxinto-ring-zerocopy");
    const unsigned wl = feed::worker_lcore();
    const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
    Checker chk("rxbench");
    if (wl >= RTE_MAX_LCORE) {
        for (const char* p : {"rxinto-ring", "rxinto-ring-zerocopy", "memcpy"}) {
            Row r;
            r.path = p;
            r.workload = "-";
            r.error = "needs a worker lcore (EAL -l 0-1)";
            rows.push_back(r);
        }
        return;
    }
    feed::BenchOptions bo;
    bo.runs = o.runs;
    bo.seconds = o.seconds;
    bo.quick = o.quick;
    bo.pool_mbufs = o.pool_mbufs;
    bo.quick_packets = o.quick_packets;
    if (want_ring || want_zc) {
        feed::Bench b(bo, wl, chk);
        if (auto st = b.open(); !st) {
            Row r;
            r.path = "rxinto-ring";
            r.workload = "-";
            r.error = st.error().message;
            rows.push_back(r);
        } else {
            for (const std::uint32_t want : o.rxinto_conns) {
                const int f0 = chk.failures;
                auto got = b.start_flows(want);
                if (!got || chk.failures != f0) {
                    Row r;
                    r.path = "rxinto-ring";
                    r.workload = "-";
                    r.conns = want;
                    r.error = got ? chk.last : got.error().message;
                    rows.push_back(r);
                    b.end_flows(want);
                    continue;
                }
                const std::uint32_t flows = got.value();
                for (const std::uint32_t seg : o.sizes)
                    for (const bool zc : {false, true}) {
                        if ((zc && !want_zc) || (!zc && !want_ring)) continue;
                        b.set_zerocopy(zc);
                        const int c0 = chk.failures;
                        CaseResult c = b.run_case(flows, seg, 0, o.checksum_verify);
                        Row r;
                        r.path = zc ? "rxinto-ring-zerocopy" : "rxinto-ring";
                        r.workload = workload_name(seg);
                        r.seg = seg;
                        r.conns = flows;
                        for (const auto& s : c.samples) r.samples.push_back(to_sample(s, tsc_hz));
                        if (chk.failures != c0) r.error = chk.last;
                        if (r.samples.empty() && r.error.empty()) r.error = "no sample";
                        std::fprintf(stderr, "rxbench: %-20s %-10s %6u conns %8.2f Gbit/s%s%s\n",
                                     r.path.c_str(), r.workload.c_str(), flows,
                                     stats_of(r.samples, gbps).median,
                                     r.error.empty() ? "" : "  FAILED: ", r.error.c_str());
                        rows.push_back(std::move(r));
                    }
                const int e0 = chk.failures;
                b.end_flows(flows);
                if (chk.failures != e0 && !rows.empty()) rows.back().error = chk.last;
            }
            for (const auto& n : b.notes()) std::printf("note: %s\n", n.c_str());
        }
    }

    if (!wanted(o, "memcpy")) return;
    const feed::CopyBuffers buffers = feed::make_copy_buffers(o.memcpy_mib);
    if (!buffers) {
        Row r;
        r.path = "memcpy";
        r.workload = "-";
        r.error = "cannot allocate the memcpy source";
        rows.push_back(r);
        return;
    }
    for (const std::uint32_t seg : o.sizes) {
        Row r;
        r.path = "memcpy";
        r.workload = workload_name(seg);
        r.seg = seg;
        r.conns = 0;
        std::vector<feed::CopyRun> runs;
        if (!feed::copy_runs(buffers, seg, o.runs, o.quick ? 0.05 : o.seconds, wl, runs))
            r.error = "cannot launch memcpy";
        for (const feed::CopyRun& j : runs) {
            Sample s;
            s.secs = static_cast<double>(j.cycles) / tsc_hz;
            s.cpu_s = s.secs;
            s.recv_cycles = static_cast<double>(j.cycles);
            s.sent = s.delivered = j.copies * seg;
            s.segments = j.copies;
            r.samples.push_back(s);
        }
        rows.push_back(std::move(r));
    }
}

}  // namespace rxbench
