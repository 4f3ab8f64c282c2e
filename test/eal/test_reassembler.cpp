// tcp::reassembler on a real EAL (rte_hash flow table, real mempools): whole
// frames in, byte streams out, checked against the generator's ground truth
// (gen::StreamTruth: every byte sent, and exactly which ranges never reached the
// capture). Also connection life cycle (tuple reuse, mid-stream pickup, RST in
// and out of the window, eviction from a full table, idle timeouts), zero heap
// allocations on the steady-state per-packet path, and every mbuf back in its
// pool at the end of every test.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/gen/pcap_gen.hpp"
#include "rxinto/net/parse.hpp"
#include "rxinto/capture/stream_feed.hpp"
#include "rxinto/tcp/reassembler.hpp"
#include "stream_msg.hpp"  // lib/rxinto/capture (white box)

#include "eal_helpers.hpp"

// ---------------------------------------------------------------------------
// Allocation counting. operator new/delete are replaced for the whole binary;
// malloc/calloc/realloc too, except under ASan (which owns malloc). Only the
// thread that sets t_counting is counted (EAL's own threads may allocate).

namespace {
thread_local bool t_counting = false;
thread_local std::uint64_t t_allocs = 0;
}  // namespace

#if defined(__SANITIZE_ADDRESS__)
#define RXT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RXT_ASAN 1
#endif
#endif
#ifndef RXT_ASAN
#define RXT_ASAN 0
#endif

#if !RXT_ASAN
extern "C" {
void* __libc_malloc(std::size_t) noexcept;
void* __libc_calloc(std::size_t, std::size_t) noexcept;
void* __libc_realloc(void*, std::size_t) noexcept;
void* malloc(std::size_t n) noexcept {
    if (t_counting) ++t_allocs;
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t k) noexcept {
    if (t_counting) ++t_allocs;
    return __libc_calloc(n, k);
}
void* realloc(void* p, std::size_t n) noexcept {
    if (t_counting) ++t_allocs;
    return __libc_realloc(p, n);
}
}
#endif

namespace {
// Without ASan, operator new is counted by the malloc it calls.
void* counted_new_nothrow(std::size_t n) noexcept {
    if (RXT_ASAN && t_counting) ++t_allocs;
    return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

RXT_REPLACE_GLOBAL_NEW(counted_new_nothrow, std::free)

using namespace rxinto;
using namespace rxinto::tcp;
using namespace rxinto::eal_test;

namespace {

constexpr unsigned pool_size = 16383;

rte_mempool* pool() { static rte_mempool* const mp = make_pool("tst_reasm", pool_size); return mp; }

/// A reassembler on pool() whose frames are chained over up to max_segs mbufs.
struct harness : reassembler_harness {
    rng split{12345};
    unsigned max_segs = 1;  ///< chain frames over up to this many mbufs

    explicit harness(const tcp_config& cfg) : reassembler_harness(cfg, "tst_r", pool()) {}

    /// Frames in bursts of up to 32 mbufs; the application drains after each burst.
    void feed(const frames_t& frames, std::uint64_t step_ns = 1000) {
        feed_bursts(frames, 32, step_ns, false,
                    [this](std::span<const std::uint8_t> f) { return frame_to_mbuf(mp, f, max_segs, split); });
    }
    void finish_and_check_pool() { reassembler_harness::finish_and_check_pool(pool_size, false); }
};

/// Sequence number of the first frame of each (src, sport) sender, from the frames.
std::map<std::pair<std::string, std::uint16_t>, std::uint32_t> first_seq_by_sender(
    const std::vector<std::vector<std::uint8_t>>& frames) {
    std::map<std::pair<std::string, std::uint16_t>, std::uint32_t> out;
    for (const auto& f : frames) {
        net::packet_meta m;
        if (net::parse_frame(f.data(), static_cast<std::uint32_t>(f.size()), net::link_type::ethernet, m) !=
            net::parse_status::ok)
            continue;
        char buf[64] = {};
        inet_ntop(m.ip_version == 4 ? AF_INET : AF_INET6, m.src_addr.data(), buf, sizeof buf);
        out.emplace(std::make_pair(std::string(buf), m.src_port), m.seq.value());
    }
    return out;
}

/// expect_truth(), and no overlap conflicts.
void expect_matches(const dir_rec& d, const gen::StreamTruth& t, std::uint64_t from, end_reason end) {
    expect_truth(d, t, from, end);
    EXPECT_EQ(d.conflicts, 0U);
}

class Reassembler : public full_pool_test<pool, pool_size> {};

// ---------------------------------------------------------------------------
// Generated captures against their ground truth.

struct capture_case {
    const char* name;
    gen::GenOptions opt;
    unsigned max_segs;  // chain frames over up to this many mbufs
    bool eager;
};

std::vector<capture_case> capture_cases() {
    std::vector<capture_case> v;
    // The default options with another seed and impairments (the defaults'
    // are reorder 0.05, duplicate 0.02, loss 0).
    auto impaired = [](std::uint64_t seed, double reorder, double duplicate, double loss) {
        gen::GenOptions o = gen::default_options();
        o.seed = seed;
        o.reorder = reorder;
        o.duplicate = duplicate;
        o.loss = loss;
        return o;
    };
    v.push_back({"default", gen::default_options(), 1, true});
    v.push_back({"default, read at release only", gen::default_options(), 1, false});
    {
        const auto o = impaired(2, 0.1, 0.1, 0.05);
        v.push_back({"reorder+duplicate+loss", o, 1, true});
        v.push_back({"reorder+duplicate+loss, chained mbufs", o, 3, true});
    }
    {
        auto o = impaired(3, 0.05, 0.02, 0.03);
        o.ipv6_share = 1.0;
        o.vlan_tags = 2;
        o.mss = 200;
        o.flows = 12;
        v.push_back({"ipv6 QinQ mss 200 loss", o, 2, true});
    }
    {
        auto o = impaired(4, 0.05, 0.05, 0.08);
        o.ipv6_share = 0.0;
        o.vlan_tags = 1;
        o.mss = 536;
        v.push_back({"ipv4 vlan mss 536 loss+dup, read at release", o, 1, false});
    }
    {
        auto o = impaired(5, 0.2, 0.2, 0.05);
        o.mss = 1;
        o.flows = 3;
        o.c2s_bytes = 300;
        o.s2c_bytes = 700;
        v.push_back({"mss 1", o, 1, true});
    }
    {
        auto o = impaired(6, 0.05, 0.02, 0.0);
        o.flows = 64;
        o.c2s_bytes = 500;
        o.s2c_bytes = 3000;
        v.push_back({"64 flows", o, 1, true});
    }
    return v;
}

TEST_F(Reassembler, GeneratedCapturesMatchTheGroundTruth) {
    for (const capture_case& cc : capture_cases()) {
        SCOPED_TRACE(cc.name);
        auto cap = gen::generate(cc.opt);
        ASSERT_TRUE(cap.ok()) << cap.error().message;
        tcp_config cfg;
        cfg.max_flows = 1024;
        cfg.max_segments = 1U << 15;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.max_segs = cc.max_segs;
        h.col.eager = cc.eager;
        h.feed(frames_of(*cap));
        if (HasFatalFailure()) return;
        h.r->finish();
        ASSERT_EQ(h.col.recs.size(), cc.opt.flows);
        for (const gen::StreamTruth& t : cap->streams) {
            SCOPED_TRACE("conn " + std::to_string(t.conn) + (t.c2s ? " c2s" : " s2c"));
            const conn_rec* c = nullptr;
            const dir_rec* d = find_dir(h.col.recs, t, &c);
            ASSERT_NE(d, nullptr);
            EXPECT_TRUE(c->released);
            EXPECT_FALSE(c->midstream);
            expect_matches(*d, t, 0, end_reason::fin);
        }
        EXPECT_EQ(h.r->counters().get(tcp_counter::flows_created), cc.opt.flows);
        EXPECT_EQ(h.r->counters().get(tcp_counter::checksum_bad), 0U);
        EXPECT_EQ(h.r->counters().get(tcp_counter::stream_cap_drops), 0U);
        h.finish_and_check_pool();
    }
}

TEST_F(Reassembler, NoHandshakeStreamsStartAtTheFirstByteSeen) {
    for (double loss : {0.0, 0.05}) {
        SCOPED_TRACE("loss " + std::to_string(loss));
        gen::GenOptions o = gen::default_options();
        o.seed = 7;
        o.handshake = false;
        o.loss = loss;
        auto cap = gen::generate(o);
        ASSERT_TRUE(cap.ok());
        const auto frames = frames_of(*cap);
        // Offset 0 of a stream picked up mid-way is the first byte seen (DESIGN.md):
        // the sequence number of that sender's first frame, whatever it carried.
        const auto first_seq = first_seq_by_sender(frames);
        harness h(tcp_config{});
        ASSERT_NE(h.r, nullptr);
        h.feed(frames);
        h.r->finish();
        ASSERT_EQ(h.col.recs.size(), o.flows);
        for (const gen::StreamTruth& t : cap->streams) {
            SCOPED_TRACE("conn " + std::to_string(t.conn) + (t.c2s ? " c2s" : " s2c"));
            const conn_rec* c = nullptr;
            const dir_rec* d = find_dir(h.col.recs, t, &c);
            ASSERT_NE(d, nullptr);
            EXPECT_TRUE(c->midstream);
            const auto it = first_seq.find({t.src, t.sport});
            ASSERT_NE(it, first_seq.end());
            const std::uint64_t from = it->second - (t.isn + 1U);  // mod 2^32
            ASSERT_LT(from, t.payload.size() + 1);
            expect_matches(*d, t, from, end_reason::fin);
        }
        EXPECT_EQ(h.r->counters().get(tcp_counter::midstream_pickups), o.flows);
        h.finish_and_check_pool();
    }
}

TEST_F(Reassembler, MidstreamPickupOffNeedsASyn) {
    gen::GenOptions o = gen::default_options();
    o.handshake = false;
    auto cap = gen::generate(o);
    ASSERT_TRUE(cap.ok());
    tcp_config cfg;
    cfg.midstream = false;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    h.feed(frames_of(*cap));
    EXPECT_EQ(h.col.recs.size(), 0U);
    EXPECT_EQ(h.r->counters().get(tcp_counter::no_handshake), cap->frames.size());
    h.finish_and_check_pool();
}

// ---------------------------------------------------------------------------
// Hand-built frames for the life-cycle cases.

/// IPv4/TCP frames with valid checksums.
struct endpoint {
    std::array<std::uint8_t, 4> ip;
    std::uint16_t port;
};

std::vector<std::uint8_t> tcp_frame(const endpoint& src, const endpoint& dst, std::uint32_t seq, std::uint32_t ack,
                                    std::uint8_t flags, std::span<const std::uint8_t> payload = {},
                                    std::uint16_t window = 65535) {
    std::vector<std::uint8_t> f(14 + 20 + 20 + payload.size());
    std::uint8_t* p = f.data();
    for (int i = 0; i < 6; ++i) p[i] = 0x02;
    for (int i = 6; i < 12; ++i) p[i] = 0x04;
    p[12] = 0x08;
    p[13] = 0x00;
    std::uint8_t* ip = p + 14;
    const auto tot = static_cast<std::uint16_t>(40 + payload.size());
    ip[0] = 0x45;
    ip[2] = static_cast<std::uint8_t>(tot >> 8);
    ip[3] = static_cast<std::uint8_t>(tot);
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    std::memcpy(ip + 12, src.ip.data(), 4);
    std::memcpy(ip + 16, dst.ip.data(), 4);
    const std::uint16_t ipsum = static_cast<std::uint16_t>(~net::ones_complement_sum(ip, 20));
    ip[10] = static_cast<std::uint8_t>(ipsum >> 8);
    ip[11] = static_cast<std::uint8_t>(ipsum);
    std::uint8_t* t = ip + 20;
    auto put16 = [](std::uint8_t* q, std::uint16_t v) {
        q[0] = static_cast<std::uint8_t>(v >> 8);
        q[1] = static_cast<std::uint8_t>(v);
    };
    auto put32 = [&](std::uint8_t* q, std::uint32_t v) {
        put16(q, static_cast<std::uint16_t>(v >> 16));
        put16(q + 2, static_cast<std::uint16_t>(v));
    };
    put16(t, src.port);
    put16(t + 2, dst.port);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    put16(t + 14, window);
    if (!payload.empty()) std::memcpy(t + 20, payload.data(), payload.size());
    std::uint8_t ph[12] = {};
    std::memcpy(ph, src.ip.data(), 4);
    std::memcpy(ph + 4, dst.ip.data(), 4);
    ph[9] = 6;
    const auto l4 = static_cast<std::uint16_t>(20 + payload.size());
    ph[10] = static_cast<std::uint8_t>(l4 >> 8);
    ph[11] = static_cast<std::uint8_t>(l4);
    const std::uint16_t sum = net::ones_complement_sum(t, l4, net::ones_complement_sum(ph, 12));
    put16(t + 16, static_cast<std::uint16_t>(~sum));
    return f;
}

namespace fl = rxinto::net::tcp_flag;

/// A client/server pair with running sequence numbers.
struct conversation {
    endpoint cli, srv;
    std::uint32_t cseq, sseq;  // next sequence number of each side
    std::vector<std::vector<std::uint8_t>> out;
    conversation(std::uint8_t host, std::uint16_t cport, std::uint32_t isn_c, std::uint32_t isn_s)
        : cli{{10, 1, 0, host}, cport}, srv{{10, 2, 0, 1}, 80}, cseq(isn_c), sseq(isn_s) {}
    void handshake() {
        out.push_back(tcp_frame(cli, srv, cseq++, 0, fl::syn));
        out.push_back(tcp_frame(srv, cli, sseq++, cseq, fl::syn | fl::ack));
        out.push_back(tcp_frame(cli, srv, cseq, sseq, fl::ack));
    }
    void c2s(std::span<const std::uint8_t> data, std::uint8_t extra = 0) {
        out.push_back(tcp_frame(cli, srv, cseq, sseq, static_cast<std::uint8_t>(fl::ack | extra), data));
        cseq += static_cast<std::uint32_t>(data.size());
    }
    void s2c(std::span<const std::uint8_t> data, std::uint8_t extra = 0) {
        out.push_back(tcp_frame(srv, cli, sseq, cseq, static_cast<std::uint8_t>(fl::ack | extra), data));
        sseq += static_cast<std::uint32_t>(data.size());
    }
    void close() {
        out.push_back(tcp_frame(cli, srv, cseq++, sseq, fl::fin | fl::ack));
        out.push_back(tcp_frame(srv, cli, sseq++, cseq, fl::fin | fl::ack));
        out.push_back(tcp_frame(cli, srv, cseq, sseq, fl::ack));
    }
};

std::vector<std::uint8_t> bytes(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
    return v;
}

/// The record of the connection whose client is `cli` (the last one if several).
const conn_rec* rec_of(const std::deque<conn_rec>& recs, const endpoint& cli, std::size_t nth = 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", cli.ip[0], cli.ip[1], cli.ip[2], cli.ip[3]);
    std::size_t k = 0;
    for (const conn_rec& c : recs)
        for (int d = 0; d < 2; ++d)
            if (c.dir[d].src == buf && c.dir[d].sport == cli.port && k++ == nth) return &c;
    return nullptr;
}

int c2s_dir(const conn_rec& c, const endpoint& cli) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", cli.ip[0], cli.ip[1], cli.ip[2], cli.ip[3]);
    return c.dir[0].src == buf && c.dir[0].sport == cli.port ? 0 : 1;
}

TEST_F(Reassembler, TupleReuseAfterFinStartsASecondConnection) {
    const auto a = bytes(3000, 1), b = bytes(2000, 2), x = bytes(1500, 3), y = bytes(500, 4);
    conversation one(1, 40001, 0xFFFFFF00U, 0x12345678U);
    one.handshake();
    one.c2s(std::span(a).first(1448));
    one.c2s(std::span(a).subspan(1448));
    one.s2c(b);
    one.close();
    conversation two(1, 40001, 0x80000000U, 0x0000FFFFU);  // same 4-tuple, new ISNs
    two.handshake();
    two.c2s(x);
    two.s2c(y);
    two.close();
    auto frames = one.out;
    frames.insert(frames.end(), two.out.begin(), two.out.end());
    harness h(tcp_config{});
    ASSERT_NE(h.r, nullptr);
    h.feed(frames);
    h.r->finish();
    ASSERT_EQ(h.col.recs.size(), 2U);
    const conn_rec& c1 = h.col.recs[0];
    const conn_rec& c2 = h.col.recs[1];
    EXPECT_NE(c1.id, c2.id);
    EXPECT_EQ(h.r->counters().get(tcp_counter::flows_reused), 1U);
    const int d1 = c2s_dir(c1, one.cli), d2 = c2s_dir(c2, two.cli);
    EXPECT_EQ(c1.dir[d1].data, a);
    EXPECT_EQ(c1.dir[1 - d1].data, b);
    EXPECT_EQ(c1.dir[d1].end, end_reason::fin);
    EXPECT_EQ(c1.dir[1 - d1].end, end_reason::fin);
    EXPECT_EQ(c2.dir[d2].data, x);
    EXPECT_EQ(c2.dir[1 - d2].data, y);
    EXPECT_EQ(c2.dir[d2].end, end_reason::fin);
    EXPECT_EQ(c1.client_dir, d1);
    EXPECT_EQ(c2.client_dir, d2);
    h.finish_and_check_pool();
}

TEST_F(Reassembler, RetransmittedSynIsNotAReuse) {
    const auto a = bytes(1000, 5);
    conversation c(2, 40002, 0xFFFFFFFFU, 7);
    c.out.push_back(tcp_frame(c.cli, c.srv, c.cseq, 0, fl::syn));  // the SYN, retransmitted below
    c.handshake();
    c.c2s(a);
    harness h(tcp_config{});
    ASSERT_NE(h.r, nullptr);
    h.feed(c.out);
    h.r->finish();
    ASSERT_EQ(h.col.recs.size(), 1U);
    EXPECT_EQ(h.r->counters().get(tcp_counter::flows_reused), 0U);
    const conn_rec& r = h.col.recs[0];
    EXPECT_EQ(r.dir[c2s_dir(r, c.cli)].data, a);
    h.finish_and_check_pool();
}

TEST_F(Reassembler, MidstreamPickupIsMarked) {
    const auto a = bytes(4000, 6);
    conversation c(3, 40003, 1000, 5000);
    // No handshake: data straight away.
    c.cseq += 1;
    c.sseq += 1;
    c.c2s(std::span(a).first(2000));
    c.s2c(std::span(a).first(100));
    c.c2s(std::span(a).subspan(2000));
    c.close();
    harness h(tcp_config{});
    ASSERT_NE(h.r, nullptr);
    h.feed(c.out);
    h.r->finish();
    ASSERT_EQ(h.col.recs.size(), 1U);
    const conn_rec& r = h.col.recs[0];
    EXPECT_TRUE(r.midstream);
    const int d = c2s_dir(r, c.cli);
    EXPECT_EQ(r.dir[d].data, a);
    EXPECT_EQ(r.dir[d].end, end_reason::fin);
    EXPECT_EQ(r.client_dir, -1);  // no SYN: the client is not known
    EXPECT_EQ(h.r->counters().get(tcp_counter::midstream_pickups), 1U);
    h.finish_and_check_pool();
}

TEST_F(Reassembler, RstInsideTheWindowEndsBothDirections) {
    const auto a = bytes(3000, 7), b = bytes(1000, 8);
    for (bool from_server : {false, true}) {
        SCOPED_TRACE(from_server ? "RST from the server" : "RST from the client");
        conversation c(4, 40004, 0xFFFFFFF0U, 0x7FFFFFF0U);
        c.handshake();
        c.c2s(a);
        c.s2c(b);
        if (from_server) c.out.push_back(tcp_frame(c.srv, c.cli, c.sseq, c.cseq, fl::rst | fl::ack));
        else c.out.push_back(tcp_frame(c.cli, c.srv, c.cseq, 0, fl::rst));
        // Data after the RST (past the end of the stream) is dropped.
        c.c2s(bytes(500, 9));
        harness h(tcp_config{});
        ASSERT_NE(h.r, nullptr);
        h.feed(c.out);
        const conn_rec& r = h.col.recs.at(0);
        const int d = c2s_dir(r, c.cli);
        EXPECT_EQ(r.dir[d].end, end_reason::rst);
        EXPECT_EQ(r.dir[1 - d].end, end_reason::rst);
        EXPECT_EQ(r.dir[d].data, a);
        EXPECT_EQ(r.dir[1 - d].data, b);
        EXPECT_EQ(h.r->counters().get(tcp_counter::rst_ignored), 0U);
        EXPECT_EQ(h.r->counters().get(tcp_counter::data_after_fin), 1U);
        h.finish_and_check_pool();
    }
}

TEST_F(Reassembler, RstOutsideTheWindowIsIgnored) {
    const auto a = bytes(3000, 10), more = bytes(1000, 11);
    conversation c(5, 40005, 0x00000010U, 0xFFFF0000U);
    c.handshake();
    c.c2s(a);
    c.out.push_back(tcp_frame(c.cli, c.srv, c.cseq + 0x40000000U, 0, fl::rst));  // blind, far away
    c.out.push_back(tcp_frame(c.srv, c.cli, c.sseq - 0x20000000U, 0, fl::rst));
    c.c2s(more);
    c.close();
    harness h(tcp_config{});
    ASSERT_NE(h.r, nullptr);
    h.feed(c.out);
    h.r->finish();
    const conn_rec& r = h.col.recs.at(0);
    const int d = c2s_dir(r, c.cli);
    auto want = a;
    want.insert(want.end(), more.begin(), more.end());
    EXPECT_EQ(r.dir[d].data, want);
    EXPECT_EQ(r.dir[d].end, end_reason::fin);
    EXPECT_EQ(h.r->counters().get(tcp_counter::rst_ignored), 2U);
    h.finish_and_check_pool();
}

TEST_F(Reassembler, FullFlowTableEvictsAndCounts) {
    tcp_config cfg;
    cfg.max_flows = 8;
    cfg.max_segments = 256;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    std::vector<conversation> convs;
    for (unsigned i = 0; i < 40; ++i) convs.emplace_back(static_cast<std::uint8_t>(10 + i), 41000, i * 1000003U, ~i);
    const auto a = bytes(700, 12);
    for (auto& c : convs) c.handshake();
    for (int round = 0; round < 3; ++round)
        for (auto& c : convs) c.c2s(a);
    // Interleave: every connection keeps coming back while the table is full.
    std::vector<std::vector<std::uint8_t>> mixed;
    for (std::size_t k = 0; k < 6; ++k)
        for (auto& c : convs)
            if (k < c.out.size()) mixed.push_back(c.out[k]);
    h.feed(mixed);
    EXPECT_LE(h.r->active_flows(), 8U);
    const auto& cn = h.r->counters();
    EXPECT_GT(cn.get(tcp_counter::flows_evicted), 0U);
    EXPECT_EQ(cn.get(tcp_counter::flows_created), cn.get(tcp_counter::flows_evicted) + h.r->active_flows());
    std::size_t evicted_seen = 0;
    for (const conn_rec& r : h.col.recs)
        if (r.released && r.dir[0].end == end_reason::evicted) ++evicted_seen;
    EXPECT_EQ(evicted_seen, cn.get(tcp_counter::flows_evicted));
    h.finish_and_check_pool();
}

TEST_F(Reassembler, IdleConnectionsTimeOut) {
    tcp_config cfg;
    cfg.timeout_syn_ns = 2'000'000'000ULL;
    cfg.timeout_established_ns = 10'000'000'000ULL;
    cfg.timeout_closing_ns = 5'000'000'000ULL;
    cfg.timeout_closed_ns = 1'000'000'000ULL;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    const auto a = bytes(2000, 13);
    conversation est(20, 42000, 1, 2), syn_only(21, 42001, 3, 4), closed(22, 42002, 5, 6);
    est.handshake();
    est.c2s(std::span(a).first(500));
    est.cseq += 500;  // a hole: [500, 1000) never seen
    est.c2s(std::span(a).subspan(1000));
    syn_only.out.push_back(tcp_frame(syn_only.cli, syn_only.srv, syn_only.cseq, 0, fl::syn));
    closed.handshake();
    closed.c2s(a);
    closed.close();
    h.now = 0;
    h.feed(est.out, 0);
    h.feed(syn_only.out, 0);
    h.feed(closed.out, 0);
    ASSERT_EQ(h.r->active_flows(), 3U);
    h.r->expire(500'000'000ULL);
    EXPECT_EQ(h.r->active_flows(), 3U);
    h.r->expire(1'500'000'000ULL);  // the closed one
    EXPECT_EQ(h.r->active_flows(), 2U);
    EXPECT_EQ(h.r->counters().get(tcp_counter::flows_closed), 1U);
    h.r->expire(3'000'000'000ULL);  // the half-open one
    EXPECT_EQ(h.r->active_flows(), 1U);
    h.r->expire(11'000'000'000ULL);  // the idle established one
    EXPECT_EQ(h.r->active_flows(), 0U);
    EXPECT_EQ(h.r->counters().get(tcp_counter::flows_timed_out), 2U);
    const conn_rec* e = rec_of(h.col.recs, est.cli);
    ASSERT_NE(e, nullptr);
    const int d = c2s_dir(*e, est.cli);
    EXPECT_EQ(e->dir[d].end, end_reason::timeout);
    std::vector<std::uint8_t> want(a.begin(), a.begin() + 500);
    want.insert(want.end(), a.begin() + 1000, a.end());
    EXPECT_EQ(e->dir[d].data, want);
    EXPECT_EQ(e->dir[d].gaps, (gap_list{{500, 500}}));
    const conn_rec* cl = rec_of(h.col.recs, closed.cli);
    ASSERT_NE(cl, nullptr);
    EXPECT_EQ(cl->dir[c2s_dir(*cl, closed.cli)].end, end_reason::fin);
    EXPECT_EQ(cl->dir[c2s_dir(*cl, closed.cli)].data, a);
    h.finish_and_check_pool();
}

TEST_F(Reassembler, BadChecksumsAndGarbageAreDroppedAndCounted) {
    const auto a = bytes(1000, 14);
    conversation c(30, 43000, 100, 200);
    c.handshake();
    c.c2s(a);
    auto bad = c.out.back();
    bad.back() ^= 0xFF;  // payload byte flipped: TCP checksum wrong
    std::vector<std::vector<std::uint8_t>> frames = {c.out[0], c.out[1], c.out[2], bad, c.out[3]};
    frames.push_back({0x01, 0x02, 0x03});               // runt
    frames.push_back(std::vector<std::uint8_t>(60, 0));  // zero ethertype
    tcp_config cfg;
    cfg.checksum = checksum_mode::verify;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    h.feed(frames);
    h.r->finish();
    EXPECT_EQ(h.r->counters().get(tcp_counter::checksum_bad), 1U);
    const conn_rec& r = h.col.recs.at(0);
    EXPECT_EQ(r.dir[c2s_dir(r, c.cli)].data, a);
    h.finish_and_check_pool();
}

// ---------------------------------------------------------------------------
// Zero heap allocations on the steady-state path: process_burst + recv_into.

/// A listener that reads into one fixed buffer and allocates nothing.
class quiet_reader : public listener {
public:
    reassembler* r = nullptr;
    std::uint64_t bytes = 0, gaps = 0, released = 0;
    std::array<connection*, 64> live{};
    void on_open(connection& c) noexcept override {
        for (auto& p : live)
            if (p == nullptr) {
                p = &c;
                break;
            }
    }
    void on_readable(connection& c) noexcept override { drain(c); }
    void on_release(connection& c) noexcept override {
        drain(c);
        ++released;
        for (auto& p : live)
            if (p == &c) p = nullptr;
    }
    void drain_all() noexcept {
        for (connection* c : live)
            if (c != nullptr) drain(*c);
    }
    void drain(connection& c) noexcept {
        for (flow::direction d : flow::both_directions)
            for (stream& s = c.in(d);;) {
                const recv_result res = s.recv_into(buf_);
                bytes += res.bytes;
                if (res.gap != 0) {
                    gaps += s.skip_gap();
                    continue;
                }
                if (res.bytes == 0) break;
            }
    }

private:
    std::array<std::byte, 65536> buf_{};
};

TEST_F(Reassembler, SteadyStateAllocatesNothing) {
    constexpr unsigned nconn = 16;
    constexpr unsigned rounds = 300;  // data segments per direction per connection
    std::vector<conversation> convs;
    for (unsigned i = 0; i < nconn; ++i)
        convs.emplace_back(static_cast<std::uint8_t>(50 + i), static_cast<std::uint16_t>(44000 + i),
                           0xFFFF0000U + i * 7777U, 0x7FFFFF00U + i);
    for (auto& c : convs) c.handshake();
    std::vector<std::vector<std::uint8_t>> warm;
    for (auto& c : convs) warm.insert(warm.end(), c.out.begin(), c.out.end());
    for (auto& c : convs) c.out.clear();
    // Steady state: data both ways, in order, reordered pairs and duplicates,
    // a lost segment now and then (a gap once ACKed and the grace has run).
    const auto payload = bytes(1448, 15);
    std::vector<std::vector<std::uint8_t>> steady;
    rng r{99};
    for (unsigned k = 0; k < rounds; ++k) {
        for (auto& c : convs) {
            const std::size_t before = c.out.size();
            c.c2s(std::span(payload).first(100 + r.below(1348)));
            c.s2c(std::span(payload).first(1 + r.below(1448)));
            if (r.below(10) == 0) std::swap(c.out[before], c.out[before + 1]);
            if (r.below(10) == 0) c.out.push_back(c.out[before]);
            if (r.below(50) == 0) c.out.erase(c.out.begin() + static_cast<std::ptrdiff_t>(before));
            steady.insert(steady.end(), c.out.begin() + static_cast<std::ptrdiff_t>(before), c.out.end());
        }
    }
    tcp_config cfg;
    cfg.max_flows = 64;
    cfg.max_segments = 4096;
    auto res = reassembler::create(cfg, "tst_alloc", 0, pool(), SOCKET_ID_ANY);
    ASSERT_TRUE(res.ok()) << res.error().message;
    std::unique_ptr<reassembler> re = std::move(*res);
    quiet_reader q;
    q.r = re.get();
    re->set_listener(&q);
    rng split{5};
    std::uint64_t now = 1;
    auto run = [&](const std::vector<std::vector<std::uint8_t>>& frames, bool count) {
        std::array<rte_mbuf*, 32> burst{};
        for (std::size_t i = 0; i < frames.size();) {
            std::uint16_t n = 0;
            while (n < burst.size() && i < frames.size()) {
                burst[n] = frame_to_mbuf(pool(), frames[i++], 2, split);  // rte mempool: not the heap
                if (burst[n] == nullptr) return false;
                ++n;
            }
            t_counting = count;
            re->process_burst(burst.data(), n, port_link{}, now);
            q.drain_all();
            re->flush();
            t_counting = false;
            now += 1000;
        }
        return true;
    };
    ASSERT_TRUE(run(warm, false));
    t_allocs = 0;
    ASSERT_TRUE(run(steady, true));
    const std::uint64_t allocs = t_allocs;
    EXPECT_EQ(allocs, 0U) << (RXT_ASAN ? "operator new calls" : "operator new / malloc calls")
                          << " on the per-packet path over " << steady.size() << " frames";
    EXPECT_GT(q.bytes, 1000000U);
    EXPECT_GT(q.gaps, 0U);
    EXPECT_EQ(re->counters().get(tcp_counter::flows_created), nconn);
    // The counting itself works (so a zero above means something).
    t_allocs = 0;
    t_counting = true;
    auto* probe = new std::uint64_t(1);
    t_counting = false;
    delete probe;
    EXPECT_EQ(t_allocs, 1U);
    re->finish();
    EXPECT_EQ(q.released, nconn);
    re.reset();
    EXPECT_EQ(free_in(pool()), pool_size);
}

// Eviction and stream output on the worker's path allocate nothing either:
// a table of 16 connections for 120 conversations (each new one evicts the
// least recently active), their bytes handed to a stream ring by the feed, the
// ring drained by "the output thread" (here, between bursts, not counted).
TEST_F(Reassembler, EvictionAndStreamOutputAllocateNothing) {
    constexpr unsigned nconn = 120;
    const auto payload = bytes(1000, 3);
    std::vector<std::vector<std::uint8_t>> frames;
    for (unsigned i = 0; i < nconn; ++i) {
        conversation c(static_cast<std::uint8_t>(1 + i % 200), static_cast<std::uint16_t>(20000 + i),
                       0x10000U * i, 0x7000000U + i);
        c.handshake();
        for (int k = 0; k < 4; ++k) {
            c.c2s(std::span(payload).first(100 + 200 * static_cast<std::size_t>(k)));
            c.s2c(payload);
        }
        frames.insert(frames.end(), c.out.begin(), c.out.end());
    }
    tcp_config cfg;
    cfg.max_flows = 16;
    cfg.max_segments = 4096;
    auto res = reassembler::create(cfg, "tst_evict_alloc", 0, pool(), SOCKET_ID_ANY);
    ASSERT_TRUE(res.ok()) << res.error().message;
    std::unique_ptr<reassembler> re = std::move(*res);
    rte_ring* ring = rte_ring_create_elem("tst_evict_ring", sizeof(capture::stream_msg), 4096, SOCKET_ID_ANY,
                                          RING_F_SP_ENQ | RING_F_SC_DEQ);
    ASSERT_NE(ring, nullptr);
    capture::stream_feed feed(ring, true, false, nullptr);
    re->set_listener(&feed);
    std::uint64_t bytes_out = 0, ends = 0;
    auto drain_ring = [&] {  // what the output thread does: take the pieces, free them
        capture::stream_msg m;
        while (rte_ring_sc_dequeue_elem(ring, &m, sizeof m) == 0) {
            if (m.kind == capture::msg_kind::data)
                for (unsigned i = 0; i < m.npieces; ++i) {
                    bytes_out += m.u.data.pieces[i].len;
                    rte_pktmbuf_free(m.u.data.pieces[i].m);
                }
            if (m.kind == capture::msg_kind::end) ++ends;
        }
    };
    rng split{11};
    std::uint64_t now = 1;
    t_allocs = 0;
    std::array<rte_mbuf*, 32> burst{};
    for (std::size_t i = 0; i < frames.size();) {
        std::uint16_t n = 0;
        while (n < burst.size() && i < frames.size()) {
            burst[n] = frame_to_mbuf(pool(), frames[i++], 1, split);
            ASSERT_NE(burst[n], nullptr);
            ++n;
        }
        t_counting = true;
        re->process_burst(burst.data(), n, port_link{}, now);
        re->flush();
        t_counting = false;
        drain_ring();
        now += 1000;
    }
    const std::uint64_t allocs = t_allocs;
    EXPECT_EQ(allocs, 0U) << "allocations on the worker's path with evictions and stream output";
    EXPECT_GE(re->counters().get(tcp_counter::flows_evicted), nconn - cfg.max_flows);
    EXPECT_EQ(feed.counters().ring_full.get(), 0U);
    re->finish();
    drain_ring();
    EXPECT_EQ(ends, nconn);
    EXPECT_EQ(bytes_out, std::uint64_t{nconn} * (100 + 300 + 500 + 700 + 4 * 1000));
    re.reset();
    rte_ring_free(ring);
    EXPECT_EQ(free_in(pool()), pool_size);
}

}  // namespace
