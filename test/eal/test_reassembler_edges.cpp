// tcp::reassembler behaviours that had no test (issue 12), written against the
// public behaviour only (streams read through a listener, counters, active
// flows) so that they hold across rewrites of the flow table and the streams:
//  * a segment with a malformed TCP option still delivers its data (Linux
//    takes it; dropping it would let a sender hide data from rxinto), and the
//    ignored options are counted;
//  * wrong_worker fires for packets that software dispatch would have sent to
//    another worker, and only for those;
//  * expire(now, budget) releases at most `budget` connections per call, the
//    rest on later calls.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "rxinto/net/parse.hpp"
#include "rxinto/tcp/reassembler.hpp"

#include "eal_helpers.hpp"

using namespace rxinto;
using namespace rxinto::tcp;
using namespace rxinto::eal_test;

namespace {

constexpr unsigned pool_size = 4095;

rte_mempool* pool() {
    static rte_mempool* const mp = make_pool("tst_edges", pool_size);
    return mp;
}

struct harness : reassembler_harness {
    explicit harness(const tcp_config& cfg, unsigned worker = 0)
        : reassembler_harness(cfg, "tst_e", pool()) {
        if (worker != 0) {
            // reassembler_harness makes worker 0; another index needs its own.
            static unsigned n = 0;
            r.reset();
            auto res = reassembler::create(cfg, "tst_ew" + std::to_string(n++), worker, pool(), SOCKET_ID_ANY);
            if (!res.ok()) {
                ADD_FAILURE() << res.error().message;
                return;
            }
            r = std::move(*res);
            col.r = r.get();
            r->set_listener(&col);
        }
    }
    void feed(const frames_t& frames) {
        feed_bursts(frames, 32, 1000, false,
                    [this](std::span<const std::uint8_t> f) { return bytes_to_mbuf(mp, f); });
    }
};

class ReassemblerEdges : public full_pool_test<pool, pool_size> {};

struct endpoint {
    std::array<std::uint8_t, 4> ip;
    std::uint16_t port;
};

void put16(std::uint8_t* q, std::uint32_t v) {
    q[0] = static_cast<std::uint8_t>(v >> 8);
    q[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* q, std::uint32_t v) {
    put16(q, v >> 16);
    put16(q + 2, v & 0xFFFFu);
}

/// An Ethernet/IPv4/TCP frame with valid checksums; `options` are padded with
/// EOL to a multiple of 4 bytes and go into the header as they are (a
/// malformed list too).
std::vector<std::uint8_t> tcp_frame(const endpoint& src, const endpoint& dst, std::uint32_t seq,
                                    std::uint32_t ack, std::uint8_t flags,
                                    std::span<const std::uint8_t> payload = {},
                                    std::vector<std::uint8_t> options = {}) {
    while (options.size() % 4 != 0) options.push_back(0);
    const std::size_t thl = 20 + options.size();
    // Built in a fixed buffer (a vector's data() may be null to GCC's
    // -Wnull-dereference); returned as a vector of exactly the frame's size.
    std::array<std::uint8_t, 2048> buf{};
    const std::size_t len = 14 + 20 + thl + payload.size();
    if (len > buf.size()) return {};
    std::uint8_t* p = buf.data();
    std::memset(p, 0x02, 6);
    std::memset(p + 6, 0x04, 6);
    p[12] = 0x08;
    std::uint8_t* ip = p + 14;
    ip[0] = 0x45;
    put16(ip + 2, static_cast<std::uint32_t>(20 + thl + payload.size()));
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    std::memcpy(ip + 12, src.ip.data(), 4);
    std::memcpy(ip + 16, dst.ip.data(), 4);
    put16(ip + 10, static_cast<std::uint16_t>(~net::ones_complement_sum(ip, 20)));
    std::uint8_t* t = ip + 20;
    put16(t, src.port);
    put16(t + 2, dst.port);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = static_cast<std::uint8_t>((thl / 4) << 4);
    t[13] = flags;
    put16(t + 14, 65535);
    if (!options.empty()) std::memcpy(t + 20, options.data(), options.size());
    if (!payload.empty()) std::memcpy(t + thl, payload.data(), payload.size());
    std::uint8_t ph[12] = {};
    std::memcpy(ph, src.ip.data(), 4);
    std::memcpy(ph + 4, dst.ip.data(), 4);
    ph[9] = 6;
    const auto l4 = static_cast<std::uint32_t>(thl + payload.size());
    put16(ph + 10, l4);
    put16(t + 16, static_cast<std::uint16_t>(~net::ones_complement_sum(t, l4, net::ones_complement_sum(ph, 12))));
    return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len)};
}

namespace fl = rxinto::net::tcp_flag;

std::vector<std::uint8_t> payload_bytes(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 13 + (i >> 7));
    return v;
}

std::string text(const endpoint& e) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", e.ip[0], e.ip[1], e.ip[2], e.ip[3]);
    return buf;
}

/// The direction of the records sent by `src`; null if none.
const dir_rec* sent_by(const std::deque<conn_rec>& recs, const endpoint& src) {
    for (const conn_rec& c : recs)
        for (const dir_rec& d : c.dir)
            if (d.src == text(src) && d.sport == src.port) return &d;
    return nullptr;
}

// ---------------------------------------------------------------------------
// Malformed TCP options: the data is delivered, the options counted.

TEST_F(ReassemblerEdges, DataBehindAMalformedTcpOptionIsDelivered) {
    const endpoint cli{{10, 9, 0, 1}, 41000}, srv{{10, 9, 0, 2}, 80};
    const auto a = payload_bytes(3000, 7);
    const std::span<const std::uint8_t> all(a);
    std::uint32_t cs = 1000, ss = 5000;
    frames_t frames;
    // SYN: MSS, then a length-0 option (Linux stops reading options there and
    // takes the SYN); SYN-ACK and ACK plain.
    frames.push_back(tcp_frame(cli, srv, cs++, 0, fl::syn, {}, {2, 4, 0x05, 0xb4, 0xfe, 0}));
    frames.push_back(tcp_frame(srv, cli, ss++, cs, fl::syn | fl::ack));
    frames.push_back(tcp_frame(cli, srv, cs, ss, fl::ack));
    // Three data segments, each with another bad option in front of its data:
    // a length that runs past the header, a timestamp of the wrong length (a
    // known kind: ignored, not malformed), a kind in the last byte.
    const std::vector<std::vector<std::uint8_t>> bad_options = {
        {1, 1, 8, 40}, {8, 6, 0, 0, 0, 1}, {1, 1, 1, 5}};
    for (std::size_t i = 0; i < 3; ++i) {
        frames.push_back(tcp_frame(cli, srv, cs, ss, fl::ack | fl::psh, all.subspan(i * 1000, 1000),
                                   bad_options[i]));
        cs += 1000;
    }
    frames.push_back(tcp_frame(cli, srv, cs++, ss, fl::fin | fl::ack));
    frames.push_back(tcp_frame(srv, cli, ss++, cs, fl::fin | fl::ack));
    tcp_config cfg;
    cfg.checksum = checksum_mode::verify;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    h.feed(frames);
    h.r->finish();
    ASSERT_EQ(h.col.recs.size(), 1U);
    EXPECT_FALSE(h.col.recs[0].midstream) << "the SYN with the bad option was not taken";
    const dir_rec* d = sent_by(h.col.recs, cli);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->data.size(), a.size());
    EXPECT_TRUE(d->data == a) << "bytes behind a malformed option were lost";
    EXPECT_TRUE(d->gaps.empty()) << gaps_text(d->gaps);
    EXPECT_EQ(d->end, end_reason::fin);
    EXPECT_EQ(h.count(tcp_counter::tcp_options_ignored), 4U);
    EXPECT_EQ(h.r->outcomes().get(packet_outcome::parse_refused), 0U);
    EXPECT_EQ(h.r->outcomes().get(packet_outcome::accepted), frames.size());
    h.finish_and_check_pool(pool_size, false);
}

// ---------------------------------------------------------------------------
// wrong_worker: a reassembler told it is worker k of n counts the TCP packets
// whose connection software dispatch would give to another worker.

TEST_F(ReassemblerEdges, WrongWorkerCountsPacketsOfOtherWorkersFlows) {
    // 24 connections between distinct address pairs (dispatch hashes addresses),
    // 4 frames each, fed to worker 0 and to worker 1 of 2: each connection
    // belongs to exactly one of them, so every frame is wrong on exactly one.
    frames_t frames;
    const auto a = payload_bytes(100, 3);
    for (std::uint8_t i = 0; i < 24; ++i) {
        const endpoint cli{{10, 20, i, 1}, static_cast<std::uint16_t>(42000 + i)};
        const endpoint srv{{10, 30, 0, static_cast<std::uint8_t>(i + 1)}, 443};
        frames.push_back(tcp_frame(cli, srv, 1, 0, fl::syn));
        frames.push_back(tcp_frame(srv, cli, 9, 2, fl::syn | fl::ack));
        frames.push_back(tcp_frame(cli, srv, 2, 10, fl::ack));
        frames.push_back(tcp_frame(cli, srv, 2, 10, fl::ack | fl::psh, a));
    }
    std::uint64_t wrong[2] = {0, 0};
    for (unsigned k = 0; k < 2; ++k) {
        tcp_config cfg;
        cfg.dispatch_workers = 2;
        harness h(cfg, k);
        ASSERT_NE(h.r, nullptr);
        h.feed(frames);
        wrong[k] = h.count(tcp_counter::wrong_worker);
        // Counted, not dropped: the packets are still reassembled.
        EXPECT_EQ(h.r->outcomes().get(packet_outcome::accepted), frames.size());
        EXPECT_EQ(wrong[k] % 4, 0U) << "a connection's frames were split between workers";
        h.finish_and_check_pool(pool_size, false);
    }
    EXPECT_EQ(wrong[0] + wrong[1], frames.size());
    EXPECT_GT(wrong[0], 0U) << "no connection hashed to worker 1: the hash does not spread";
    EXPECT_GT(wrong[1], 0U) << "no connection hashed to worker 0: the hash does not spread";

    // Without software dispatch (or with one worker) nothing is checked.
    for (const std::uint32_t n : {0U, 1U}) {
        tcp_config cfg;
        cfg.dispatch_workers = n;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.feed(frames);
        EXPECT_EQ(h.count(tcp_counter::wrong_worker), 0U) << "dispatch_workers " << n;
        h.finish_and_check_pool(pool_size, false);
    }
}

// ---------------------------------------------------------------------------
// expire(now, budget): at most `budget` connections per call.

TEST_F(ReassemblerEdges, ExpireReleasesAtMostBudgetPerCall) {
    tcp_config cfg;
    cfg.timeout_syn_ns = 1'000'000'000ULL;
    cfg.timeout_established_ns = 1'000'000'000ULL;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    // 10 connections: 6 established with data, 4 half-open (SYN only).
    frames_t frames;
    const auto a = payload_bytes(200, 9);
    for (std::uint8_t i = 0; i < 10; ++i) {
        const endpoint cli{{10, 40, 0, static_cast<std::uint8_t>(i + 1)}, 43000}, srv{{10, 41, 0, 1}, 80};
        frames.push_back(tcp_frame(cli, srv, 100, 0, fl::syn));
        if (i < 6) {
            frames.push_back(tcp_frame(srv, cli, 500, 101, fl::syn | fl::ack));
            frames.push_back(tcp_frame(cli, srv, 101, 501, fl::ack | fl::psh, a));
        }
    }
    h.now = 0;
    h.feed(frames);
    ASSERT_EQ(h.r->active_flows(), 10U);
    const std::uint64_t later = 10'000'000'000ULL;  // every connection is idle past its timeout
    std::uint32_t left = 10;
    unsigned calls = 0;
    while (left > 0 && calls < 10) {
        h.r->expire(later, 3);
        ++calls;
        const std::uint32_t now_active = h.r->active_flows();
        EXPECT_EQ(left - now_active, left >= 3 ? 3U : left) << "call " << calls;
        left = now_active;
    }
    EXPECT_EQ(calls, 4U);  // 3 + 3 + 3 + 1
    EXPECT_EQ(h.count(tcp_counter::flows_timed_out), 10U);
    // Every released connection was read to its end (timeout) before it went.
    std::size_t released = 0;
    for (const conn_rec& c : h.col.recs)
        if (c.released) ++released;
    EXPECT_EQ(released, 10U);
    const dir_rec* d = sent_by(h.col.recs, endpoint{{10, 40, 0, 1}, 43000});
    ASSERT_NE(d, nullptr);
    EXPECT_TRUE(d->data == a);
    EXPECT_EQ(d->end, end_reason::timeout);
    h.finish_and_check_pool(pool_size, false);

    // Budget 0 releases nothing; a call with nothing idle releases nothing.
    harness h2(cfg);
    ASSERT_NE(h2.r, nullptr);
    h2.now = 0;
    h2.feed(frames);
    h2.r->expire(later, 0);
    EXPECT_EQ(h2.r->active_flows(), 10U);
    h2.r->expire(500'000'000ULL, 100);
    EXPECT_EQ(h2.r->active_flows(), 10U);
    h2.r->expire(later, 100);
    EXPECT_EQ(h2.r->active_flows(), 0U);
    h2.finish_and_check_pool(pool_size, false);
}

}  // namespace
