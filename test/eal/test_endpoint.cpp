// The endpoint on hand-made frames, with a real EAL and mempool: every frame it
// sends goes to a net_ring port whose tx ring the test reads back and parses.
// Deterministic (time is passed in), so each behaviour is checked exactly:
// the handshake and its options, ACK coalescing and the delayed ACK, duplicate
// ACKs with SACK blocks (most recent first) and D-SACK, the window closing to
// zero and reopening with a window update, zero-window probes, RST handling
// with challenge ACKs, SYN cookies, PAWS, ARP/ICMP, the send path with its
// retransmission, the passive close, and every mbuf back in its pool.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "eal_helpers.hpp"
#include "rxinto/endpoint/endpoint.hpp"
#include "rxinto/net/parse.hpp"

using namespace rxinto;
using namespace rxinto::eal_test;

namespace {

constexpr std::uint16_t kPort = 5000;
const std::array<std::uint8_t, 6> our_mac{0x02, 0, 0, 0, 0, 0x02};
const std::array<std::uint8_t, 6> peer_mac{0x02, 0, 0, 0, 0, 0x01};
constexpr std::uint64_t ms = 1'000'000;

rte_mempool* pool() {
    static rte_mempool* p = make_pool("rxt_ep_pool", 4095);
    return p;
}

void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
    put16(p, static_cast<std::uint16_t>(v >> 16));
    put16(p + 2, static_cast<std::uint16_t>(v));
}

struct seg_spec {
    std::uint16_t sport = 40000;
    std::uint32_t seq = 0;
    std::uint32_t ack = 0;
    std::uint8_t flags = 0;
    std::uint16_t window = 65535;
    std::vector<std::uint8_t> opts;
    std::vector<std::uint8_t> data;
    std::array<std::uint8_t, 4> src{10, 0, 0, 1};
};

seg_spec mk(std::uint16_t sport, std::uint32_t seq, std::uint32_t ack, std::uint8_t flags) {
    seg_spec s;
    s.sport = sport;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    return s;
}

std::vector<std::uint8_t> ts_opt(std::uint32_t val, std::uint32_t ecr) {
    std::vector<std::uint8_t> o{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0};
    put32(o.data() + 4, val);
    put32(o.data() + 8, ecr);
    return o;
}

/// An Ethernet/IPv4/TCP frame to 10.0.0.2:5000, checksums right.
std::vector<std::uint8_t> tcp_frame(const seg_spec& s) {
    const std::size_t tcp_len = 20 + s.opts.size() + s.data.size();
    std::array<std::uint8_t, 2048> f{};  // (a vector's data() makes GCC see a null)
    std::memcpy(f.data(), our_mac.data(), 6);
    std::memcpy(f.data() + 6, peer_mac.data(), 6);
    put16(f.data() + 12, 0x0800);
    std::uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    put16(ip + 2, static_cast<std::uint16_t>(20 + tcp_len));
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    std::memcpy(ip + 12, s.src.data(), 4);
    const std::uint8_t dst[4] = {10, 0, 0, 2};
    std::memcpy(ip + 16, dst, 4);
    put16(ip + 10, static_cast<std::uint16_t>(~net::ones_complement_sum(ip, 20)));
    std::uint8_t* t = ip + 20;
    put16(t, s.sport);
    put16(t + 2, kPort);
    put32(t + 4, s.seq);
    put32(t + 8, s.ack);
    t[12] = static_cast<std::uint8_t>(((20 + s.opts.size()) / 4) << 4);
    t[13] = s.flags;
    put16(t + 14, s.window);
    if (!s.opts.empty()) std::memcpy(t + 20, s.opts.data(), s.opts.size());
    if (!s.data.empty()) std::memcpy(t + 20 + s.opts.size(), s.data.data(), s.data.size());
    std::uint32_t ps = net::ones_complement_sum(ip + 12, 8) + 6 + static_cast<std::uint32_t>(tcp_len);
    ps = (ps & 0xffff) + (ps >> 16);
    put16(t + 16, static_cast<std::uint16_t>(~net::ones_complement_sum(t, static_cast<std::uint32_t>(tcp_len), ps)));
    return std::vector<std::uint8_t>(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(14 + 20 + tcp_len));
}

struct sent {
    net::packet_meta m;
    std::vector<std::uint8_t> bytes;
    [[nodiscard]] bool has(std::uint8_t f) const { return m.has_flag(f); }
    [[nodiscard]] std::uint32_t ack() const { return m.ack.value(); }
    [[nodiscard]] std::uint32_t seq() const { return m.seq.value(); }
};

class EndpointTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(pool(), nullptr);
        base_free_ = free_in(pool());
        const std::string n = "rxt_ep" + std::to_string(counter_++);
        rx_ring_ = rte_ring_create((n + "_rx").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
        tx_ring_ = rte_ring_create((n + "_tx").c_str(), 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(rx_ring_, nullptr);
        ASSERT_NE(tx_ring_, nullptr);
        const int port = rte_eth_from_rings(n.c_str(), &rx_ring_, 1, &tx_ring_, 1, SOCKET_ID_ANY);
        ASSERT_GE(port, 0);
        port_ = static_cast<std::uint16_t>(port);
        rte_eth_conf conf{};
        ASSERT_EQ(rte_eth_dev_configure(port_, 1, 1, &conf), 0);
        ASSERT_EQ(rte_eth_rx_queue_setup(port_, 0, 64, SOCKET_ID_ANY, nullptr, pool()), 0);
        ASSERT_EQ(rte_eth_tx_queue_setup(port_, 0, 64, SOCKET_ID_ANY, nullptr), 0);
        ASSERT_EQ(rte_eth_dev_start(port_), 0);
    }
    void TearDown() override {
        ep_.reset();
        drain();
        rte_eth_dev_stop(port_);
        rte_eth_dev_close(port_);
        rte_ring_free(rx_ring_);
        rte_ring_free(tx_ring_);
        EXPECT_EQ(free_in(pool()), base_free_) << "mbufs not back in the pool";
    }

    void make(endpoint::endpoint_config cfg = {}) {
        cfg.addresses = {endpoint::parse_address("10.0.0.2/24").value()};
        cfg.listen_ports = {kPort};
        cfg.ports = {{port_, 0, our_mac}};
        cfg.tx_mbufs = 1023;
        cfg.max_connections = 64;
        if (cfg.max_segments == 16384) cfg.max_segments = 1024;
        auto e = endpoint::endpoint::create(cfg, "rxt_e" + std::to_string(counter_++), 0, SOCKET_ID_ANY);
        ASSERT_TRUE(e.ok()) << e.error().message;
        ep_ = std::move(e.value());
    }

    /// Feeds frames as one burst at time now (ms), then lets the
    /// application (read_all) run and flushes; returns what the endpoint sent.
    std::vector<sent> burst(const std::vector<std::vector<std::uint8_t>>& frames, bool read_all = true) {
        std::vector<rte_mbuf*> v;
        for (const auto& f : frames) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool());
            EXPECT_NE(m, nullptr);
            std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size())), f.data(), f.size());
            m->port = port_;
            v.push_back(m);
        }
        if (!v.empty()) ep_->process_burst(v.data(), static_cast<std::uint16_t>(v.size()), now_);
        app(read_all);
        ep_->flush(now_);
        return drain();
    }
    void app(bool read_all) {
        for (const tcp::event& e : ep_->events()) {
            if (e.kind == tcp::event_kind::opened) conn_ = e.conn;
            if (e.kind == tcp::event_kind::closed) closed_ = true;
            if (!read_all) continue;
            tcp::stream& s = e.conn->in(endpoint::endpoint::inbound(*e.conn));
            std::array<std::byte, 65536> buf;
            for (;;) {
                auto r = s.recv_into(buf);
                received_.insert(received_.end(), reinterpret_cast<std::uint8_t*>(buf.data()),
                                 reinterpret_cast<std::uint8_t*>(buf.data()) + r.bytes);
                if (r.bytes == 0) break;
            }
        }
    }
    /// Time passes: timers run.
    std::vector<sent> tick(std::uint64_t dt_ns) {
        now_ += dt_ns;
        return burst({});
    }
    std::vector<sent> drain() {
        std::vector<sent> out;
        void* objs[64];
        unsigned n = 0;
        while ((n = rte_ring_dequeue_burst(tx_ring_, objs, 64, nullptr)) != 0) {
            for (unsigned i = 0; i < n; ++i) {
                auto* m = static_cast<rte_mbuf*>(objs[i]);
                sent s;
                s.bytes.assign(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_mtod(m, std::uint8_t*) + m->data_len);
                (void)net::parse_frame(s.bytes.data(), static_cast<std::uint32_t>(s.bytes.size()),
                                       net::link_type::ethernet, s.m);
                out.push_back(std::move(s));
                rte_pktmbuf_free(m);
            }
        }
        return out;
    }
    std::uint64_t count(endpoint::endpoint_counter c) const { return ep_->counters().get(c); }

    /// A full handshake from port sport with ISN isn; returns our ISN.
    std::uint32_t connect(std::uint16_t sport, std::uint32_t isn, bool ts = true) {
        seg_spec syn = mk(sport, isn, 0, 0x02);
        syn.opts = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2};  // MSS 1460, NOP WS 7, SACK-permitted
        if (ts) {
            const auto t = ts_opt(1000, 0);
            syn.opts.insert(syn.opts.end(), t.begin(), t.end());
        }
        while (syn.opts.size() % 4) syn.opts.push_back(1);
        auto out = burst({tcp_frame(syn)});
        EXPECT_EQ(out.size(), 1U);
        if (out.empty()) return 0;
        const std::uint32_t iss = out[0].seq();
        seg_spec a = mk(sport, isn + 1, iss + 1, 0x10);
        if (ts) a.opts = ts_opt(1001, out[0].m.opts.ts_val);
        burst({tcp_frame(a)});
        return iss;
    }
    std::vector<std::uint8_t> data_frame(std::uint16_t sport, std::uint32_t seq, std::uint32_t ack, std::size_t n,
                                         std::uint8_t fill, std::uint32_t tsval = 2000) {
        seg_spec d = mk(sport, seq, ack, 0x18);
        d.opts = ts_opt(tsval, 0);
        d.data.assign(n, fill);
        return tcp_frame(d);
    }

    std::uint64_t now_ = 1'000'000'000ULL;
    std::unique_ptr<endpoint::endpoint> ep_;
    tcp::connection* conn_ = nullptr;
    bool closed_ = false;
    std::vector<std::uint8_t> received_;
    rte_ring* rx_ring_ = nullptr;
    rte_ring* tx_ring_ = nullptr;
    std::uint16_t port_ = 0;
    unsigned base_free_ = 0;
    static inline int counter_ = 0;
};

TEST_F(EndpointTest, HandshakeOptionsAndRetransmittedSyn) {
    make();
    seg_spec syn = mk(40000, 100, 0, 0x02);
    syn.opts = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2};
    const auto t = ts_opt(777, 0);
    syn.opts.insert(syn.opts.end(), t.begin(), t.end());
    syn.opts.push_back(1);
    syn.opts.push_back(1);
    auto out = burst({tcp_frame(syn)});
    ASSERT_EQ(out.size(), 1U);
    const sent sa = out[0];  // a copy: out is reused below
    EXPECT_TRUE(sa.has(net::tcp_flag::syn) && sa.has(net::tcp_flag::ack));
    EXPECT_EQ(sa.ack(), 101U);
    EXPECT_EQ(sa.m.opts.mss, 1460);  // MTU 1500 - 40
    EXPECT_TRUE(sa.m.opts.has_wscale);
    EXPECT_EQ(sa.m.opts.wscale, 5);  // 1 MiB of receive buffer needs a shift of 5
    EXPECT_TRUE(sa.m.opts.sack_permitted);
    ASSERT_TRUE(sa.m.opts.has_timestamps);
    EXPECT_EQ(sa.m.opts.ts_ecr, 777U);
    EXPECT_EQ(sa.m.window, 65535);  // never scaled in a SYN-ACK
    // The SYN again: the same SYN-ACK, same ISN.
    out = burst({tcp_frame(syn)});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].seq(), sa.seq());
    EXPECT_EQ(count(endpoint::endpoint_counter::syn_retransmits), 1U);
    // The ACK completes it: the opened event.
    seg_spec a = mk(40000, 101, sa.seq() + 1, 0x10);
    a.opts = ts_opt(778, sa.m.opts.ts_val);
    out = burst({tcp_frame(a)});
    EXPECT_TRUE(out.empty());
    ASSERT_NE(conn_, nullptr);
    EXPECT_EQ(ep_->state(*conn_), endpoint::tcp_state::established);
}

TEST_F(EndpointTest, ClosedPortArpAndPing) {
    make();
    seg_spec s = mk(40000, 5, 0, 0x02);
    auto f = tcp_frame(s);
    f[14 + 20 + 3] = 99;  // destination port 5000 -> 5219: nobody listens
    f[14 + 20 + 16] = f[14 + 20 + 17] = 0;
    {
        // fix the checksum for the new port
        std::uint8_t* ip = f.data() + 14;
        std::uint32_t ps = net::ones_complement_sum(ip + 12, 8) + 6 + 20;
        ps = (ps & 0xffff) + (ps >> 16);
        put16(ip + 20 + 16, static_cast<std::uint16_t>(~net::ones_complement_sum(ip + 20, 20, ps)));
    }
    auto out = burst({f});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_TRUE(out[0].has(net::tcp_flag::rst) && out[0].has(net::tcp_flag::ack));
    EXPECT_EQ(out[0].ack(), 6U);
    // ARP who-has 10.0.0.2
    std::vector<std::uint8_t> arp(60, 0);
    std::memset(arp.data(), 0xff, 6);
    std::memcpy(arp.data() + 6, peer_mac.data(), 6);
    put16(arp.data() + 12, 0x0806);
    const std::uint8_t req[] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2};
    std::memcpy(arp.data() + 14, req, sizeof req);
    out = burst({arp});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].bytes[21], 2);  // ARP reply
    EXPECT_EQ(0, std::memcmp(out[0].bytes.data() + 22, our_mac.data(), 6));
    EXPECT_EQ(0, std::memcmp(out[0].bytes.data(), peer_mac.data(), 6));
    // ICMP echo
    std::vector<std::uint8_t> ping(14 + 20 + 16, 0);
    std::memcpy(ping.data(), our_mac.data(), 6);
    std::memcpy(ping.data() + 6, peer_mac.data(), 6);
    put16(ping.data() + 12, 0x0800);
    std::uint8_t* ip = ping.data() + 14;
    ip[0] = 0x45;
    put16(ip + 2, 36);
    ip[8] = 64;
    ip[9] = 1;
    const std::uint8_t addrs[] = {10, 0, 0, 1, 10, 0, 0, 2};
    std::memcpy(ip + 12, addrs, 8);
    put16(ip + 10, static_cast<std::uint16_t>(~net::ones_complement_sum(ip, 20)));
    ip[20] = 8;
    put16(ip + 24, 0x1234);
    put16(ip + 26, 1);
    put16(ip + 22, static_cast<std::uint16_t>(~net::ones_complement_sum(ip + 20, 16)));
    out = burst({ping});
    ASSERT_EQ(out.size(), 1U);
    const std::uint8_t* r = out[0].bytes.data() + 14;
    EXPECT_EQ(r[20], 0);  // echo reply
    EXPECT_EQ(net::ones_complement_sum(r + 20, 16), 0xffff);
    EXPECT_TRUE(net::ipv4_header_checksum_ok(r, 20));
}

TEST_F(EndpointTest, AckEverySecondSegmentDelayedAckForOne) {
    make();
    const std::uint32_t iss = connect(40000, 1000);
    auto out = burst({data_frame(40000, 1001, iss + 1, 1000, 'a'), data_frame(40000, 2001, iss + 1, 1000, 'b')});
    ASSERT_EQ(out.size(), 1U);  // one ACK for the burst
    EXPECT_EQ(out[0].ack(), 3001U);
    out = burst({data_frame(40000, 3001, iss + 1, 500, 'c')});
    EXPECT_TRUE(out.empty());  // a lone segment waits
    out = tick(20 * ms);
    EXPECT_TRUE(out.empty());
    out = tick(25 * ms);  // past 40 ms
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].ack(), 3501U);
    EXPECT_EQ(count(endpoint::endpoint_counter::delayed_acks), 1U);
    EXPECT_EQ(received_.size(), 2500U);
}

TEST_F(EndpointTest, SackBlocksMostRecentFirstAndDsack) {
    make();
    const std::uint32_t iss = connect(40000, 1000);
    const std::uint32_t a = iss + 1;
    // 1001..2001 arrives, 2001..3001 is lost, 3001..4001 and 5001..6001 come.
    auto out = burst({data_frame(40000, 1001, a, 1000, 'a')});
    out = burst({data_frame(40000, 3001, a, 1000, 'c')});
    ASSERT_EQ(out.size(), 1U);  // an immediate duplicate ACK
    EXPECT_EQ(out[0].ack(), 2001U);
    ASSERT_EQ(out[0].m.opts.sack_count, 1);
    EXPECT_EQ(out[0].m.opts.sack[0].left.value(), 3001U);
    EXPECT_EQ(out[0].m.opts.sack[0].right.value(), 4001U);
    out = burst({data_frame(40000, 5001, a, 1000, 'e')});
    ASSERT_EQ(out.size(), 1U);
    ASSERT_EQ(out[0].m.opts.sack_count, 2);
    EXPECT_EQ(out[0].m.opts.sack[0].left.value(), 5001U);  // the most recent first
    EXPECT_EQ(out[0].m.opts.sack[1].left.value(), 3001U);
    // The hole is filled: everything up to 4001 acknowledged at once.
    out = burst({data_frame(40000, 2001, a, 1000, 'b')});
    ASSERT_GE(out.size(), 1U);
    EXPECT_EQ(out.back().ack(), 4001U);
    // A duplicate of acknowledged data: D-SACK (RFC 2883), the range below the ACK.
    out = burst({data_frame(40000, 1001, a, 1000, 'a', 2001)});
    ASSERT_EQ(out.size(), 1U);
    ASSERT_GE(out[0].m.opts.sack_count, 1);
    EXPECT_EQ(out[0].m.opts.sack[0].left.value(), 1001U);
    EXPECT_EQ(out[0].m.opts.sack[0].right.value(), 2001U);
    EXPECT_EQ(received_.size(), 3000U);
}

TEST_F(EndpointTest, WindowClosesToZeroAndReopens) {
    endpoint::endpoint_config cfg;
    cfg.receive_buffer = 16384;  // no scaling: wscale 0
    make(cfg);
    const std::uint32_t iss = connect(40000, 1000);
    const std::uint32_t a = iss + 1;
    std::uint32_t seq = 1001;
    std::vector<sent> out;
    // The application does not read: the window shrinks from the left.
    for (int i = 0; i < 16; ++i) {
        out = burst({data_frame(40000, seq, a, 1000, 'x'), data_frame(40000, seq + 1000, a, 1000, 'y')}, false);
        seq += 2000;
        if (!out.empty() && out.back().m.window == 0) break;
    }
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().m.window, 0);
    const std::uint32_t edge = out.back().ack();
    // A zero-window probe (one byte past the edge): answered, not taken.
    out = burst({data_frame(40000, edge, a, 1, 'p')}, false);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].ack(), edge);
    EXPECT_EQ(out[0].m.window, 0);
    // The application reads everything: a window update.
    tcp::stream& s = conn_->in(endpoint::endpoint::inbound(*conn_));
    const std::uint64_t held = s.readable();
    EXPECT_GT(held, 0U);
    s.consume(held);
    out = tick(1 * ms);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_GT(out[0].m.window, 8000);
    EXPECT_EQ(out[0].ack(), edge);
    EXPECT_GE(count(endpoint::endpoint_counter::window_updates), 1U);
}

TEST_F(EndpointTest, RstInWindowChallengedAtRcvNxtResets) {
    make();
    const std::uint32_t iss = connect(40000, 1000);
    burst({data_frame(40000, 1001, iss + 1, 100, 'a')});
    tick(50 * ms);
    // In the window but not RCV.NXT: a challenge ACK (RFC 5961 §3.2).
    auto out = burst({tcp_frame(mk(40000, 5000, 0, 0x04))});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_TRUE(out[0].has(net::tcp_flag::ack) && !out[0].has(net::tcp_flag::rst));
    EXPECT_EQ(out[0].ack(), 1101U);
    // Far outside: ignored.
    out = burst({tcp_frame(mk(40000, 1101 + 0x40000000U, 0, 0x04))});
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(count(endpoint::endpoint_counter::rst_out_of_window), 1U);
    // A SYN on the open connection: a challenge ACK too (RFC 5961 §4).
    out = burst({tcp_frame(mk(40000, 7777, 0, 0x02))});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].ack(), 1101U);
    // At RCV.NXT: the connection is reset and goes.
    out = burst({tcp_frame(mk(40000, 1101, 0, 0x04))});
    EXPECT_TRUE(closed_);
    EXPECT_EQ(count(endpoint::endpoint_counter::connections_reset), 1U);
    EXPECT_EQ(ep_->connections(), 0U);
    EXPECT_EQ(received_.size(), 100U);
}

TEST_F(EndpointTest, SynCookiesBeyondTheQueue) {
    endpoint::endpoint_config cfg;
    cfg.syn_queue = 1;
    make(cfg);
    seg_spec s1 = mk(41000, 10, 0, 0x02);
    s1.opts = {2, 4, 0x05, 0xb4};
    burst({tcp_frame(s1)});
    seg_spec s2 = mk(41001, 500, 0, 0x02);
    s2.opts = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2};
    const auto t = ts_opt(900, 0);
    s2.opts.insert(s2.opts.end(), t.begin(), t.end());
    s2.opts.push_back(1);
    s2.opts.push_back(1);
    auto out = burst({tcp_frame(s2)});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(count(endpoint::endpoint_counter::syn_cookies_sent), 1U);
    EXPECT_EQ(ep_->connections(), 1U);  // the cookie cost nothing
    EXPECT_EQ(out[0].m.opts.mss, 1460);
    // The ACK of the cookie makes the connection, with its options back from the timestamp.
    const std::uint32_t cookie = out[0].seq();
    seg_spec a = mk(41001, 501, cookie + 1, 0x18);
    a.opts = ts_opt(901, out[0].m.opts.ts_val);
    a.data.assign(10, 'z');
    out = burst({tcp_frame(a)});
    EXPECT_EQ(count(endpoint::endpoint_counter::syn_cookies_ok), 1U);
    ASSERT_NE(conn_, nullptr);
    EXPECT_EQ(received_.size(), 10U);
    // A forged ACK to the port: no connection, a RST.
    out = burst({tcp_frame(mk(41002, 700, 0x12345678, 0x10))});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_TRUE(out[0].has(net::tcp_flag::rst));
    EXPECT_EQ(count(endpoint::endpoint_counter::syn_cookies_bad), 1U);
}

TEST_F(EndpointTest, PawsDropsOldTimestamps) {
    make();
    const std::uint32_t iss = connect(40000, 1000);
    burst({data_frame(40000, 1001, iss + 1, 100, 'a', 5000)});
    auto out = burst({data_frame(40000, 1101, iss + 1, 100, 'b', 4000)});  // older TSval
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].ack(), 1101U);
    EXPECT_EQ(count(endpoint::endpoint_counter::paws_rejected), 1U);
    EXPECT_EQ(received_.size(), 100U);
}

TEST_F(EndpointTest, SendRetransmitAndPassiveClose) {
    make();
    const std::uint32_t iss = connect(40000, 1000);
    ASSERT_NE(conn_, nullptr);
    const std::string hello = "hello from rxinto";
    EXPECT_EQ(ep_->send(*conn_, std::as_bytes(std::span<const char>(hello.data(), hello.size()))),
              endpoint::send_status::ok);
    std::vector<std::byte> big(20 * 1460);
    EXPECT_EQ(ep_->send(*conn_, big), endpoint::send_status::too_large);
    auto out = tick(1 * ms);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].seq(), iss + 1);
    EXPECT_EQ(out[0].m.payload_len, hello.size());
    // Not acknowledged: sent again after the RTO (1 s before any RTT sample).
    out = tick(1100 * ms);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].seq(), iss + 1);
    EXPECT_EQ(count(endpoint::endpoint_counter::retransmits), 1U);
    // The peer acknowledges and closes: we close too, the last ACK releases it.
    seg_spec f = mk(40000, 1001, iss + 1 + static_cast<std::uint32_t>(hello.size()), 0x11);
    f.opts = ts_opt(3000, 0);
    out = burst({tcp_frame(f)});
    EXPECT_EQ(ep_->state(*conn_), endpoint::tcp_state::close_wait);
    EXPECT_TRUE(closed_);
    ep_->close(*conn_);
    out = tick(1 * ms);
    ASSERT_GE(out.size(), 1U);
    EXPECT_TRUE(out.back().has(net::tcp_flag::fin));
    const std::uint32_t fin_seq = out.back().seq();
    seg_spec last = mk(40000, 1002, fin_seq + 1, 0x10);
    last.opts = ts_opt(3001, 0);
    burst({tcp_frame(last)});
    EXPECT_EQ(ep_->connections(), 0U);
    EXPECT_EQ(count(endpoint::endpoint_counter::connections_closed), 1U);
}

TEST_F(EndpointTest, KeepaliveActiveCloseTimeWaitAndReuse) {
    make();
    const std::uint32_t iss = connect(40000, 1000);
    burst({data_frame(40000, 1001, iss + 1, 10, 'a', 2000)});
    tick(50 * ms);
    // A keep-alive (RCV.NXT - 1, no data): answered with an ACK (RFC 9293 §3.8.4).
    seg_spec ka = mk(40000, 1010, iss + 1, 0x10);
    ka.opts = ts_opt(2001, 0);
    auto out = burst({tcp_frame(ka)});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].ack(), 1011U);
    // We close first: FIN-WAIT-1, then the peer's ACK and FIN: TIME-WAIT.
    ep_->close(*conn_);
    out = tick(1 * ms);
    ASSERT_EQ(out.size(), 1U);
    ASSERT_TRUE(out[0].has(net::tcp_flag::fin));
    EXPECT_EQ(ep_->state(*conn_), endpoint::tcp_state::fin_wait_1);
    seg_spec fa = mk(40000, 1011, iss + 2, 0x11);
    fa.opts = ts_opt(2002, 0);
    out = burst({tcp_frame(fa)});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].ack(), 1012U);
    EXPECT_EQ(count(endpoint::endpoint_counter::time_wait_entered), 1U);
    EXPECT_EQ(ep_->connections(), 1U);  // the TIME-WAIT remainder
    // The peer's FIN again: acknowledged again.
    out = burst({tcp_frame(fa)});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].ack(), 1012U);
    // A new SYN with a higher ISN takes the tuple over (as Linux allows).
    conn_ = nullptr;
    seg_spec syn = mk(40000, 500000, 0, 0x02);
    syn.opts = ts_opt(9000, 0);
    out = burst({tcp_frame(syn)});
    ASSERT_EQ(out.size(), 1U);
    EXPECT_TRUE(out[0].has(net::tcp_flag::syn) && out[0].has(net::tcp_flag::ack));
    EXPECT_EQ(out[0].ack(), 500001U);
    EXPECT_EQ(count(endpoint::endpoint_counter::time_wait_reused), 1U);
    // TIME-WAIT is bounded in time: a second connection closed the same way goes after time_wait.
    seg_spec a = mk(40000, 500001, out[0].seq() + 1, 0x10);
    a.opts = ts_opt(9001, out[0].m.opts.ts_val);
    burst({tcp_frame(a)});
    ASSERT_NE(conn_, nullptr);
    ep_->close(*conn_);
    out = tick(1 * ms);
    ASSERT_FALSE(out.empty());
    seg_spec fa2 = mk(40000, 500001, out.back().seq() + 1, 0x11);
    fa2.opts = ts_opt(9002, 0);
    burst({tcp_frame(fa2)});
    EXPECT_EQ(ep_->connections(), 1U);
    EXPECT_EQ(count(endpoint::endpoint_counter::time_wait_entered), 2U);
    tick(61'000 * ms);  // past the default 60 s
    EXPECT_EQ(ep_->connections(), 0U);
}

// Regression: with the segment pool nearly full of out-of-order data, the
// segment that fills a connection's hole was refused (the check assumed it
// could be cut into as many pieces as the stream held segments), so the hole
// never filled and the connection stalled for ever.
TEST_F(EndpointTest, HoleFillerFindsRoomWhenThePoolIsFull) {
    endpoint::endpoint_config cfg;
    cfg.max_segments = 64;
    make(cfg);
    const std::uint32_t iss_a = connect(40000, 1000);
    tcp::connection* a = conn_;
    const std::uint32_t iss_b = connect(40001, 5000);
    ASSERT_NE(a, conn_);
    // A: 10 bytes missing at 1001, then 40 segments of 10 bytes held after it.
    for (std::uint32_t i = 0; i < 40; ++i)
        burst({data_frame(40000, 1011 + 10 * i, iss_a + 1, 10, 'a')}, false);
    // B: the same, 15 segments.
    for (std::uint32_t i = 0; i < 15; ++i)
        burst({data_frame(40001, 5011 + 10 * i, iss_b + 1, 10, 'b')}, false);
    EXPECT_EQ(ep_->segments_in_use(), 55U);
    // A's hole: it fits in one node and must be taken.
    auto out = burst({data_frame(40000, 1001, iss_a + 1, 10, 'a')}, false);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().ack(), 1001U + 10 + 400);
    EXPECT_EQ(count(endpoint::endpoint_counter::data_dropped_no_room), 0U);
    // Out-of-order data is refused once only the reserve is left (an eighth).
    for (std::uint32_t i = 15; i < 30; ++i)
        burst({data_frame(40001, 5011 + 10 * i, iss_b + 1, 10, 'b')}, false);
    EXPECT_GT(count(endpoint::endpoint_counter::data_dropped_no_room), 0U);
    EXPECT_LE(ep_->segments_in_use(), 64U - 64U / 8);
    // ... and B's own hole still gets in.
    out = burst({data_frame(40001, 5001, iss_b + 1, 10, 'b')}, false);
    ASSERT_FALSE(out.empty());
    EXPECT_GE(out.back().ack(), 5001U + 10 + 150);
}

}  // namespace

namespace {

// Hostile input in bulk: random flags, sequence and ACK numbers, windows,
// options (some malformed), payloads and truncations, from a handful of
// tuples so that connections exist to hit; then random garbage. Nothing may
// crash (the sanitizer build runs this too), every mbuf must come back, and
// the connection table must stay within its bounds.
TEST_F(EndpointTest, RandomSegmentsAndGarbage) {
    endpoint::endpoint_config cfg;
    cfg.syn_queue = 4;
    cfg.receive_buffer = 32768;
    make(cfg);
    rng r{12345};
    std::uint32_t iss_seen = 0;
    for (int round = 0; round < 400; ++round) {
        std::vector<std::vector<std::uint8_t>> frames;
        for (int i = 0; i < 32; ++i) {
            seg_spec s = mk(static_cast<std::uint16_t>(40000 + r.below(6)), static_cast<std::uint32_t>(r.next()),
                            static_cast<std::uint32_t>(r.next()), static_cast<std::uint8_t>(r.below(64)));
            if (r.chance(50)) s.seq = 1000 + static_cast<std::uint32_t>(r.below(200000));
            if (r.chance(50)) s.ack = iss_seen + static_cast<std::uint32_t>(r.below(3));
            if (r.chance(30)) s.flags = 0x02;
            if (r.chance(30)) s.flags = 0x10;
            s.window = static_cast<std::uint16_t>(r.below(65536));
            if (r.chance(50)) s.opts = ts_opt(static_cast<std::uint32_t>(r.below(10000)), 0);
            if (r.chance(10)) s.opts = {2, 4, 0, 0, 3, 3, 14, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1};  // SACK, MSS 0
            if (r.chance(5)) s.opts = {8, 1, 1, 1};  // a TS option with a bad length
            s.data.assign(r.below(1400), static_cast<std::uint8_t>(r.next()));
            auto f = tcp_frame(s);
            if (r.chance(5)) f.resize(r.below(f.size()));  // truncated
            if (r.chance(5) && !f.empty()) f[r.below(f.size())] ^= 0x55;  // corrupted (checksums)
            if (r.chance(3)) {
                f.assign(r.range(1, 200), 0);
                for (auto& b : f) b = static_cast<std::uint8_t>(r.next());
            }
            if (f.empty()) f.push_back(0);
            frames.push_back(std::move(f));
        }
        auto out = burst(frames, r.chance(70));
        for (const sent& s : out)
            if (s.has(net::tcp_flag::syn) && s.has(net::tcp_flag::ack)) iss_seen = s.seq() + 1;
        if (r.chance(10)) now_ += r.below(2000) * ms;
        EXPECT_LE(ep_->connections(), 64U);
    }
    EXPECT_GT(count(endpoint::endpoint_counter::tcp_segments), 1000U);
    ep_->finish(now_);
    EXPECT_EQ(ep_->connections(), 0U);
    EXPECT_EQ(ep_->segments_in_use(), 0U);
}

}  // namespace
