// tcp::reassembler on a real EAL: IP fragments (rte_ip_frag), checksum modes
// and mempool pressure. Whole frames in (one mbuf each), byte streams out,
// compared with the generator's ground truth or with hand-made expectations;
// every mbuf back in its pool at the end of every test.
//
// What rte_ip_frag (DPDK 22.11) does with odd fragment sets, as these tests
// pin it down: it never trims overlaps. A datagram whose fragments add up to
// more than its length (an overlap), or that gets a second first or last
// fragment, is dropped whole (every fragment of it is freed), much like
// RFC 5722 asks for IPv6; a fragment that comes after its datagram was
// completed starts a new datagram that never completes. IPv6 fragments with
// an extension header before the Fragment header are not reassembled (DPDK
// would rebuild a corrupt datagram): the reassembler drops them (parse
// counter ip_fragment).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/gen/pcap_gen.hpp"
#include "rxinto/net/parse.hpp"
#include "rxinto/tcp/reassembler.hpp"

#include "eal_helpers.hpp"

using namespace rxinto;
using namespace rxinto::tcp;
using namespace rxinto::eal_test;

// GCC 12 at -O3 takes std::vector::data() after a sized construction for a
// possible null in the frame builders below (false positives of
// -Wnull-dereference once operator new is the library's).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif


namespace {

constexpr unsigned pool_size = 8191;

rte_mempool* pool() { static rte_mempool* const mp = make_pool("tst_frag", pool_size); return mp; }

/// A reassembler on pool() (or another pool), one mbuf a frame.
struct harness : reassembler_harness {
    explicit harness(const tcp_config& cfg, rte_mempool* p = pool()) : reassembler_harness(cfg, "tst_f", p) {}

    /// Frames in bursts of up to `burst` mbufs; the application reads after each,
    /// and what the reads released goes back to the pool at once.
    void feed(const frames_t& frames, std::size_t burst = 32) {
        feed_bursts(frames, burst, 1000, true,
                    [this](std::span<const std::uint8_t> f) { return bytes_to_mbuf(mp, f); });
    }
    /// finish(): every mbuf must be back in the pool now, not only once the
    /// reassembler is destroyed.
    void finish_and_check_pool(unsigned expected_free) {
        reassembler_harness::finish_and_check_pool(expected_free, true);
    }
};

class Fragments : public full_pool_test<pool, pool_size> {};

// ---------------------------------------------------------------------------
// Generated captures with IP fragments against their ground truth.

struct frag_census {
    unsigned fragments = 0;  ///< frames that parse as ip_fragment
    unsigned datagrams = 0;  ///< fragmented datagrams (their offset-0 fragments)
};

frag_census census(const frames_t& frames) {
    frag_census c;
    for (const auto& f : frames) {
        net::packet_meta m;
        if (net::parse_frame(f.data(), static_cast<std::uint32_t>(f.size()), net::link_type::ethernet, m) !=
            net::parse_status::ip_fragment)
            continue;
        ++c.fragments;
        if (m.frag.offset == 0) ++c.datagrams;
    }
    return c;
}

TEST_F(Fragments, GeneratedCapturesMatchTheGroundTruth) {
    struct fcase {
        const char* name;
        gen::GenOptions opt;
    };
    std::vector<fcase> cases;
    auto base = [](std::uint64_t seed, double v6, unsigned vlan, bool reverse) {
        gen::GenOptions o = gen::default_options();
        o.seed = seed;
        o.flows = 10;
        o.ipv6_share = v6;
        o.vlan_tags = vlan;
        o.fragment = 0.3;
        o.fragment_reverse = reverse;
        return o;
    };
    cases.push_back({"ipv4, in order", base(21, 0.0, 0, false)});
    cases.push_back({"ipv4, reversed, vlan", base(22, 0.0, 1, true)});
    cases.push_back({"ipv6, in order, vlan", base(23, 1.0, 1, false)});
    cases.push_back({"ipv6, reversed", base(24, 1.0, 0, true)});
    {
        auto o = base(25, 0.5, 2, true);
        o.reorder = 0.1;
        o.duplicate = 0.1;
        o.loss = 0.05;
        cases.push_back({"mixed, reversed, QinQ, reorder+duplicate+loss", o});
    }
    {
        auto o = base(26, 0.5, 1, false);
        o.mss = 536;
        o.fragment = 1.0;
        cases.push_back({"mixed, every data segment fragmented, mss 536", o});
    }
    for (const fcase& fc : cases) {
        for (checksum_mode mode : {checksum_mode::verify, checksum_mode::automatic, checksum_mode::ignore}) {
            SCOPED_TRACE(std::string(fc.name) + ", checksum mode " + std::to_string(static_cast<int>(mode)));
            auto cap = gen::generate(fc.opt);
            ASSERT_TRUE(cap.ok()) << cap.error().message;
            const frames_t frames = frames_of(*cap);
            const frag_census fcn = census(frames);
            ASSERT_GT(fcn.datagrams, 0U);
            tcp_config cfg;
            cfg.max_flows = 256;
            cfg.max_segments = 1U << 14;
            cfg.checksum = mode;
            harness h(cfg);
            ASSERT_NE(h.r, nullptr);
            h.feed(frames);
            if (HasFatalFailure()) return;
            h.r->finish();
            ASSERT_EQ(h.col.recs.size(), fc.opt.flows);
            for (const gen::StreamTruth& t : cap->streams) {
                SCOPED_TRACE("conn " + std::to_string(t.conn) + (t.c2s ? " c2s" : " s2c"));
                const dir_rec* d = find_dir(h.col.recs, t);
                ASSERT_NE(d, nullptr);
                expect_truth(*d, t);
            }
            EXPECT_EQ(h.count(tcp_counter::ip_fragments), fcn.fragments);
            EXPECT_EQ(h.count(tcp_counter::ip_reassembled), fcn.datagrams);
            EXPECT_EQ(h.parse_count(net::parse_status::ip_fragment), 0U) << "fragments dropped";
            EXPECT_EQ(h.count(tcp_counter::checksum_bad), 0U);
            EXPECT_EQ(h.count(tcp_counter::ip_checksum_bad), 0U);
            EXPECT_EQ(h.count(tcp_counter::checksum_offloaded), 0U);
            EXPECT_FALSE(h.r->checksum_auto_disabled());
            h.finish_and_check_pool(pool_size);
        }
    }
}

// ---------------------------------------------------------------------------
// Hand-made frames.

void put16(std::uint8_t* q, unsigned v) {
    q[0] = static_cast<std::uint8_t>(v >> 8);
    q[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* q, std::uint32_t v) {
    put16(q, v >> 16);
    put16(q + 2, v & 0xFFFFU);
}
unsigned get16(const std::uint8_t* q) { return (unsigned{q[0]} << 8) | q[1]; }

/// Writes the TCP header at t (20 bytes, no options) and its checksum.
void fill_tcp(std::uint8_t* t, std::uint16_t sport, std::uint16_t dport, std::uint32_t seq, std::uint32_t ack,
              std::uint8_t flags, std::span<const std::uint8_t> payload, std::uint32_t pseudo) {
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    put16(t + 14, 65535);
    if (!payload.empty()) std::memcpy(t + 20, payload.data(), payload.size());
    const auto l4 = static_cast<std::uint32_t>(20 + payload.size());
    put16(t + 16, static_cast<std::uint16_t>(~net::ones_complement_sum(t, l4, pseudo)));
}

struct endpoint {
    std::array<std::uint8_t, 16> ip;  // IPv4: first 4 bytes
    std::uint16_t port;
};

/// Ethernet + IPv4 (DF, identification id) + TCP, valid checksums.
std::vector<std::uint8_t> tcp4(const endpoint& s, const endpoint& d, std::uint32_t seq, std::uint32_t ack,
                               std::uint8_t flags, std::span<const std::uint8_t> payload, std::uint16_t id) {
    std::vector<std::uint8_t> f(14 + 20 + 20 + payload.size());
    std::uint8_t* p = f.data();
    std::memset(p, 0x02, 12);
    put16(p + 12, 0x0800);
    std::uint8_t* ip = p + 14;
    ip[0] = 0x45;
    put16(ip + 2, static_cast<unsigned>(40 + payload.size()));
    put16(ip + 4, id);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    std::memcpy(ip + 12, s.ip.data(), 4);
    std::memcpy(ip + 16, d.ip.data(), 4);
    put16(ip + 10, static_cast<std::uint16_t>(~net::ones_complement_sum(ip, 20)));
    std::uint8_t ph[12] = {};
    std::memcpy(ph, s.ip.data(), 4);
    std::memcpy(ph + 4, d.ip.data(), 4);
    ph[9] = 6;
    put16(ph + 10, static_cast<unsigned>(20 + payload.size()));
    fill_tcp(ip + 20, s.port, d.port, seq, ack, flags, payload, net::ones_complement_sum(ph, 12));
    return f;
}

/// Ethernet + IPv6 + TCP, valid checksum.
std::vector<std::uint8_t> tcp6(const endpoint& s, const endpoint& d, std::uint32_t seq, std::uint32_t ack,
                               std::uint8_t flags, std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> f(14 + 40 + 20 + payload.size());
    std::uint8_t* p = f.data();
    std::memset(p, 0x02, 12);
    put16(p + 12, 0x86DD);
    std::uint8_t* ip = p + 14;
    put32(ip, 0x60000000U);
    put16(ip + 4, static_cast<unsigned>(20 + payload.size()));
    ip[6] = 6;
    ip[7] = 64;
    std::memcpy(ip + 8, s.ip.data(), 16);
    std::memcpy(ip + 24, d.ip.data(), 16);
    std::uint8_t ph[40] = {};
    std::memcpy(ph, s.ip.data(), 16);
    std::memcpy(ph + 16, d.ip.data(), 16);
    put32(ph + 32, static_cast<std::uint32_t>(20 + payload.size()));
    ph[39] = 6;
    fill_tcp(ip + 40, s.port, d.port, seq, ack, flags, payload, net::ones_complement_sum(ph, 40));
    return f;
}

using pieces_t = std::vector<std::pair<std::size_t, std::size_t>>;  // (offset, length) in the IP payload

/// IPv4 fragments of a tcp4() frame: any (offset, length) pieces, overlapping
/// or not; MF on every piece that ends before the datagram does.
frames_t frag4(const std::vector<std::uint8_t>& whole, const pieces_t& pieces) {
    const std::size_t len = whole.size() - 34;
    frames_t out;
    for (const auto& [off, n] : pieces) {
        std::vector<std::uint8_t> f(whole.begin(), whole.begin() + 34);
        f.insert(f.end(), whole.begin() + static_cast<std::ptrdiff_t>(34 + off),
                 whole.begin() + static_cast<std::ptrdiff_t>(34 + off + n));
        std::uint8_t* ip = f.data() + 14;
        put16(ip + 2, static_cast<unsigned>(20 + n));
        put16(ip + 6, static_cast<unsigned>(off / 8) | (off + n < len ? 0x2000U : 0U));
        put16(ip + 10, 0);
        put16(ip + 10, static_cast<std::uint16_t>(~net::ones_complement_sum(ip, 20)));
        if (f.size() < 60) f.resize(60, 0);
        out.push_back(std::move(f));
    }
    return out;
}

/// IPv6 fragments of a tcp6() frame, with a Fragment header (identification
/// id) right after the IPv6 header, or after a Hop-by-Hop header when hbh.
frames_t frag6(const std::vector<std::uint8_t>& whole, const pieces_t& pieces, std::uint32_t id, bool hbh = false) {
    const std::size_t len = whole.size() - 54;
    frames_t out;
    for (const auto& [off, n] : pieces) {
        std::vector<std::uint8_t> f(whole.begin(), whole.begin() + 54);
        std::uint8_t* ip = f.data() + 14;
        put16(ip + 4, static_cast<unsigned>((hbh ? 8 : 0) + 8 + n));
        ip[6] = hbh ? 0 : 44;
        if (hbh) {
            const std::uint8_t h[8] = {44, 0, 1, 4, 0, 0, 0, 0};  // next: Fragment; PadN
            f.insert(f.end(), h, h + 8);
        }
        std::uint8_t fh[8] = {6, 0, 0, 0, 0, 0, 0, 0};
        put16(fh + 2, static_cast<unsigned>(off) | (off + n < len ? 1U : 0U));
        put32(fh + 4, id);
        f.insert(f.end(), fh, fh + 8);
        f.insert(f.end(), whole.begin() + static_cast<std::ptrdiff_t>(54 + off),
                 whole.begin() + static_cast<std::ptrdiff_t>(54 + off + n));
        if (f.size() < 60) f.resize(60, 0);
        out.push_back(std::move(f));
    }
    return out;
}

std::vector<std::uint8_t> bytes(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
    return v;
}

std::vector<std::uint8_t> cat(std::initializer_list<std::span<const std::uint8_t>> parts) {
    std::vector<std::uint8_t> v;
    for (auto p : parts) v.insert(v.end(), p.begin(), p.end());
    return v;
}

namespace fl = rxinto::net::tcp_flag;

/// A client/server pair, IPv4 or IPv6, with running sequence numbers; data
/// segments can be built without being sent (to fragment them).
struct conversation {
    bool v6;
    endpoint cli, srv;
    std::uint32_t cseq = 1000, sseq = 900000;
    std::uint16_t id = 100;
    frames_t out;
    explicit conversation(bool ipv6, std::uint8_t host = 1) : v6(ipv6) {
        cli = {{}, static_cast<std::uint16_t>(40000 + host)};
        srv = {{}, 80};
        if (v6) {
            cli.ip = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, host};
            srv.ip = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1};
        } else {
            cli.ip = {10, 1, 0, host};
            srv.ip = {10, 2, 0, 1};
        }
    }
    std::vector<std::uint8_t> frame(bool c2s, std::uint8_t flags, std::span<const std::uint8_t> data) {
        const endpoint& s = c2s ? cli : srv;
        const endpoint& d = c2s ? srv : cli;
        const std::uint32_t seq = c2s ? cseq : sseq;
        const std::uint32_t ack = c2s ? sseq : cseq;
        return v6 ? tcp6(s, d, seq, ack, flags, data) : tcp4(s, d, seq, ack, flags, data, id++);
    }
    void handshake() {
        out.push_back(frame(true, fl::syn, {}));
        ++cseq;
        out.push_back(frame(false, fl::syn | fl::ack, {}));
        ++sseq;
        out.push_back(frame(true, fl::ack, {}));
    }
    /// The next c2s data segment, not sent; advances the sequence number.
    std::vector<std::uint8_t> c2s_segment(std::span<const std::uint8_t> data) {
        auto f = frame(true, fl::ack, data);
        cseq += static_cast<std::uint32_t>(data.size());
        return f;
    }
    void c2s(std::span<const std::uint8_t> data) { out.push_back(c2s_segment(data)); }
    void close() {
        out.push_back(frame(true, fl::fin | fl::ack, {}));
        ++cseq;
        out.push_back(frame(false, fl::fin | fl::ack, {}));
        ++sseq;
        out.push_back(frame(true, fl::ack, {}));
    }
    void add(const frames_t& fs) { out.insert(out.end(), fs.begin(), fs.end()); }
};

const dir_rec& c2s_of(const harness& h) {
    const conn_rec& c = h.col.recs.at(0);
    return c.dir[0].sport >= 40000 ? c.dir[0] : c.dir[1];
}

// A: 300 bytes whole, B: 200 bytes (TCP segment of 220 bytes) in fragments,
// C: 300 bytes whole.
const std::vector<std::uint8_t> A = bytes(300, 1), B = bytes(200, 2), C = bytes(300, 3);

TEST_F(Fragments, OverlappingIpv4FragmentsDropTheWholeDatagram) {
    struct ocase {
        const char* name;
        pieces_t pieces;
        bool delivered;  // B reassembled and delivered
        unsigned reassembled;
    };
    // The TCP segment of B is 220 bytes: [0, 220) of the IP payload.
    const std::vector<ocase> cases = {
        {"clean split", {{0, 104}, {104, 116}}, true, 1},
        {"clean split, last first", {{104, 116}, {0, 104}}, true, 1},
        {"overlap in the middle", {{0, 80}, {64, 80}, {144, 76}}, false, 0},
        {"overlap, last first", {{144, 76}, {64, 80}, {0, 80}}, false, 0},
        {"first fragment twice", {{0, 104}, {0, 104}, {104, 116}}, false, 0},
        {"last fragment twice", {{104, 116}, {104, 116}, {0, 104}}, false, 0},
        {"middle fragment covered by the others", {{0, 120}, {40, 40}, {120, 100}}, false, 0},
        // The stray piece comes after the datagram completed: it opens a new
        // datagram that never completes (freed at finish()).
        {"stray overlapping piece after completion", {{0, 104}, {104, 116}, {96, 16}}, true, 1},
    };
    for (const ocase& oc : cases) {
        SCOPED_TRACE(oc.name);
        conversation cv(false);
        cv.handshake();
        cv.c2s(A);
        const auto b = cv.c2s_segment(B);
        cv.add(frag4(b, oc.pieces));
        cv.c2s(C);
        tcp_config cfg;
        cfg.checksum = checksum_mode::verify;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.feed(cv.out);
        if (!oc.delivered) {
            // B missing: C waits behind the hole. The sender retransmits B whole.
            EXPECT_EQ(c2s_of(h).data, A);
            cv.out.clear();
            cv.cseq -= static_cast<std::uint32_t>(B.size() + C.size());
            cv.c2s(B);
            cv.cseq += static_cast<std::uint32_t>(C.size());
            h.feed(cv.out);
        }
        cv.out.clear();
        cv.close();
        h.feed(cv.out);
        h.r->finish();
        EXPECT_EQ(c2s_of(h).data, cat({A, B, C}));
        EXPECT_TRUE(c2s_of(h).gaps.empty()) << gaps_text(c2s_of(h).gaps);
        EXPECT_EQ(h.count(tcp_counter::ip_fragments), oc.pieces.size());
        EXPECT_EQ(h.count(tcp_counter::ip_reassembled), oc.reassembled);
        EXPECT_EQ(h.count(tcp_counter::checksum_bad), 0U);
        EXPECT_EQ(h.count(tcp_counter::ip_checksum_bad), 0U);
        h.finish_and_check_pool(pool_size);
    }
}

TEST_F(Fragments, DatagramThatNeverCompletesIsFreedAtFinish) {
    for (bool v6 : {false, true}) {
        SCOPED_TRACE(v6 ? "ipv6" : "ipv4");
        conversation cv(v6);
        cv.handshake();
        cv.c2s(A);
        const auto b = cv.c2s_segment(B);
        const frames_t fr = v6 ? frag6(b, {{0, 104}, {104, 116}}, 0xABCD0001U) : frag4(b, {{0, 104}, {104, 116}});
        cv.out.push_back(fr[0]);  // the last fragment never comes
        cv.c2s(C);
        harness h(tcp_config{});
        ASSERT_NE(h.r, nullptr);
        h.feed(cv.out);
        EXPECT_EQ(free_in(pool()), pool_size - 2) << "the first fragment and C are held";
        h.r->finish();
        // B became a gap when the stream ended.
        EXPECT_EQ(c2s_of(h).data, cat({A, C}));
        EXPECT_EQ(c2s_of(h).gaps, (gap_list{{A.size(), B.size()}}));
        EXPECT_EQ(c2s_of(h).end, end_reason::eof);
        EXPECT_EQ(h.count(tcp_counter::ip_fragments), 1U);
        EXPECT_EQ(h.count(tcp_counter::ip_reassembled), 0U);
        h.finish_and_check_pool(pool_size);
    }
}

TEST_F(Fragments, ManyIncompleteDatagramsAreAllFreedAtFinish) {
    // More incomplete datagrams than one pass of rte_ip_frag's death row takes
    // (RTE_IP_FRAG_DEATH_ROW_MBUF_LEN mbufs).
    constexpr unsigned n = 600;
    frames_t frames;
    for (unsigned i = 0; i < n; ++i) {
        conversation cv(i % 2 == 1, static_cast<std::uint8_t>(1 + i % 200));
        cv.id = static_cast<std::uint16_t>(i);
        const auto b = cv.c2s_segment(B);
        const frames_t fr = cv.v6 ? frag6(b, {{0, 104}, {104, 116}}, i) : frag4(b, {{0, 104}, {104, 116}});
        frames.push_back(fr[0]);
    }
    harness h(tcp_config{});
    ASSERT_NE(h.r, nullptr);
    h.feed(frames);
    EXPECT_EQ(h.count(tcp_counter::ip_fragments), n);
    EXPECT_EQ(free_in(pool()), pool_size - n);
    h.finish_and_check_pool(pool_size);
}

TEST_F(Fragments, LargeBurstOfDroppedFragmentsStaysInsideTheDeathRow) {
    // rte_ip_frag puts dropped fragments on a death row of
    // RTE_IP_FRAG_DEATH_ROW_MBUF_LEN entries without bounds checks, sized for
    // bursts of RTE_IP_FRAG_DEATH_ROW_LEN (32) packets; rx bursts go up to 512.
    // Fragments without data are dropped at once, one death-row entry each.
    constexpr std::size_t n = 512;
    static_assert(n > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN);
    frames_t frames;
    for (std::size_t i = 0; i < n; ++i) {
        conversation cv(false, static_cast<std::uint8_t>(1 + i % 200));
        auto f = cv.frame(true, fl::ack, {});
        // A fragment with no data: total length = header length, MF set.
        f.resize(34);
        std::uint8_t* ip = f.data() + 14;
        put16(ip + 2, 20);
        put16(ip + 6, 0x2000U | static_cast<unsigned>(i % 64));
        put16(ip + 10, 0);
        put16(ip + 10, static_cast<std::uint16_t>(~net::ones_complement_sum(ip, 20)));
        f.resize(60, 0);
        frames.push_back(std::move(f));
    }
    // Also a burst of duplicate first fragments: each pair drops two mbufs.
    for (std::size_t i = 0; i < n; ++i) {
        conversation cv(false, static_cast<std::uint8_t>(1 + (i / 2) % 200));  // pairs: same datagram
        cv.id = static_cast<std::uint16_t>(7000 + i / 2);
        frames.push_back(frag4(cv.c2s_segment(B), {{0, 104}, {104, 116}})[0]);
    }
    tcp_config cfg;
    cfg.frag_max_datagrams = 1024;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    ASSERT_NE(h.r->fragments(), nullptr);
    h.feed(frames, n);
    EXPECT_EQ(h.count(tcp_counter::ip_fragments), 2 * n);
    EXPECT_TRUE(h.r->fragments()->death_row_guard_intact()) << "rte_ip_frag wrote past the end of the death row";
    h.finish_and_check_pool(pool_size);
}

TEST_F(Fragments, Ipv6FragmentAfterAnotherExtensionHeaderIsDropped) {
    conversation cv(true);
    cv.handshake();
    cv.c2s(A);
    const auto b = cv.c2s_segment(B);
    cv.add(frag6(b, {{0, 104}, {104, 116}}, 0x12345678U, true));
    cv.c2s(C);
    harness h(tcp_config{});
    ASSERT_NE(h.r, nullptr);
    h.feed(cv.out);
    EXPECT_EQ(h.count(tcp_counter::ip_fragments), 2U);
    EXPECT_EQ(h.parse_count(net::parse_status::ip_fragment), 2U);
    EXPECT_EQ(h.count(tcp_counter::ip_reassembled), 0U);
    EXPECT_EQ(free_in(pool()), pool_size - 1) << "only C is held";
    h.r->finish();
    EXPECT_EQ(c2s_of(h).data, cat({A, C}));
    EXPECT_EQ(c2s_of(h).gaps, (gap_list{{A.size(), B.size()}}));
    h.finish_and_check_pool(pool_size);
}

TEST_F(Fragments, Ipv6AtomicFragmentIsAWholePacket) {
    for (bool reassembly : {true, false}) {
        SCOPED_TRACE(reassembly ? "ip_reassembly on" : "ip_reassembly off");
        conversation cv(true);
        cv.handshake();
        cv.c2s(A);
        const auto b = cv.c2s_segment(B);
        cv.add(frag6(b, {{0, 220}}, 0x0000BEEFU));  // offset 0, M 0 (RFC 6946)
        cv.c2s(C);
        cv.close();
        tcp_config cfg;
        cfg.checksum = checksum_mode::verify;
        cfg.ip_reassembly = reassembly;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.feed(cv.out);
        h.r->finish();
        EXPECT_EQ(c2s_of(h).data, cat({A, B, C}));
        EXPECT_TRUE(c2s_of(h).gaps.empty());
        EXPECT_EQ(c2s_of(h).end, end_reason::fin);
        EXPECT_EQ(h.count(tcp_counter::ip_fragments), 0U);
        EXPECT_EQ(h.parse_count(net::parse_status::ip_fragment), 0U);
        EXPECT_EQ(h.count(tcp_counter::checksum_bad), 0U);
        h.finish_and_check_pool(pool_size);
    }
}

TEST_F(Fragments, ReassemblyOffDropsFragments) {
    conversation cv(false);
    cv.handshake();
    cv.c2s(A);
    cv.add(frag4(cv.c2s_segment(B), {{0, 104}, {104, 116}}));
    cv.c2s(C);
    cv.close();
    tcp_config cfg;
    cfg.ip_reassembly = false;
    harness h(cfg);
    ASSERT_NE(h.r, nullptr);
    h.feed(cv.out);
    h.r->finish();
    EXPECT_EQ(c2s_of(h).data, cat({A, C}));
    EXPECT_EQ(c2s_of(h).gaps, (gap_list{{A.size(), B.size()}}));
    EXPECT_EQ(h.parse_count(net::parse_status::ip_fragment), 2U);
    h.finish_and_check_pool(pool_size);
}

TEST_F(Fragments, Ipv4FragmentWithABadHeaderChecksum) {
    // Each fragment's header is checked like a whole datagram's: the
    // reassembled header is rebuilt, so it could not tell.
    for (checksum_mode mode : {checksum_mode::verify, checksum_mode::ignore}) {
        SCOPED_TRACE(mode == checksum_mode::verify ? "verify" : "ignore");
        conversation cv(false);
        cv.handshake();
        cv.c2s(A);
        auto fr = frag4(cv.c2s_segment(B), {{0, 104}, {104, 116}});
        fr[1][14 + 8] = 63;  // TTL changed, checksum not updated
        cv.add(fr);
        cv.c2s(C);
        cv.close();
        tcp_config cfg;
        cfg.checksum = mode;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.feed(cv.out);
        h.r->finish();
        if (mode == checksum_mode::verify) {
            EXPECT_EQ(c2s_of(h).data, cat({A, C}));
            EXPECT_EQ(h.count(tcp_counter::ip_checksum_bad), 1U);
            EXPECT_EQ(h.count(tcp_counter::ip_reassembled), 0U);
        } else {
            EXPECT_EQ(c2s_of(h).data, cat({A, B, C}));
            EXPECT_EQ(h.count(tcp_counter::ip_reassembled), 1U);
        }
        h.finish_and_check_pool(pool_size);
    }
}

// ---------------------------------------------------------------------------
// Checksum modes.

/// Sets the TCP checksum field of a whole frame.
void set_tcp_checksum(std::vector<std::uint8_t>& f, std::uint16_t v) {
    net::packet_meta m;
    ASSERT_EQ(net::parse_frame(f.data(), static_cast<std::uint32_t>(f.size()), net::link_type::ethernet, m),
              net::parse_status::ok);
    put16(f.data() + m.l4_offset + 16, v);
}

std::uint16_t pseudo_sum_of(const std::vector<std::uint8_t>& f) {
    net::packet_meta m;
    EXPECT_EQ(net::parse_frame(f.data(), static_cast<std::uint32_t>(f.size()), net::link_type::ethernet, m),
              net::parse_status::ok);
    return net::tcp_pseudo_header_sum(m);
}

std::uint16_t tcp_checksum_of(const std::vector<std::uint8_t>& f) {
    net::packet_meta m;
    EXPECT_EQ(net::parse_frame(f.data(), static_cast<std::uint32_t>(f.size()), net::link_type::ethernet, m),
              net::parse_status::ok);
    return static_cast<std::uint16_t>(get16(f.data() + m.l4_offset + 16));
}

TEST_F(Fragments, CorruptedSegmentByChecksumMode) {
    for (bool v6 : {false, true}) {
        for (checksum_mode mode : {checksum_mode::verify, checksum_mode::ignore, checksum_mode::automatic}) {
            SCOPED_TRACE(std::string(v6 ? "ipv6 " : "ipv4 ") + std::to_string(static_cast<int>(mode)));
            conversation cv(v6);
            cv.handshake();
            cv.c2s(A);
            auto b = cv.c2s_segment(B);
            b[b.size() - 1] ^= 0x5A;  // a payload byte flipped on the way: TCP checksum wrong
            cv.out.push_back(b);
            cv.c2s(C);
            cv.close();
            tcp_config cfg;
            cfg.checksum = mode;
            harness h(cfg);
            ASSERT_NE(h.r, nullptr);
            h.feed(cv.out);
            h.r->finish();
            auto bad = B;
            bad[bad.size() - 1] ^= 0x5A;
            if (mode == checksum_mode::ignore) {
                EXPECT_EQ(c2s_of(h).data, cat({A, bad, C}));
                EXPECT_TRUE(c2s_of(h).gaps.empty());
                EXPECT_EQ(h.count(tcp_counter::checksum_bad), 0U);
            } else {
                EXPECT_EQ(c2s_of(h).data, cat({A, C}));
                EXPECT_EQ(c2s_of(h).gaps, (gap_list{{A.size(), B.size()}}));
                EXPECT_EQ(h.count(tcp_counter::checksum_bad), 1U);
            }
            EXPECT_EQ(c2s_of(h).end, end_reason::fin);
            EXPECT_FALSE(h.r->checksum_auto_disabled());
            h.finish_and_check_pool(pool_size);
        }
    }
}

TEST_F(Fragments, AutoModeAcceptsOffloadMarks) {
    for (bool v6 : {false, true}) {
        for (checksum_mode mode : {checksum_mode::automatic, checksum_mode::verify}) {
            SCOPED_TRACE(std::string(v6 ? "ipv6 " : "ipv4 ") +
                         (mode == checksum_mode::automatic ? "automatic" : "verify"));
            // A capture taken on the sending host: the data segments carry what
            // the sender left for its NIC (the folded pseudo-header sum, or 0).
            conversation cv(v6);
            cv.handshake();
            auto a = cv.c2s_segment(A);
            set_tcp_checksum(a, pseudo_sum_of(a));
            auto b = cv.c2s_segment(B);
            set_tcp_checksum(b, 0);
            cv.out.push_back(a);
            cv.out.push_back(b);
            cv.c2s(C);
            cv.close();
            tcp_config cfg;
            cfg.checksum = mode;
            harness h(cfg);
            ASSERT_NE(h.r, nullptr);
            h.feed(cv.out);
            h.r->finish();
            if (mode == checksum_mode::automatic) {
                EXPECT_EQ(c2s_of(h).data, cat({A, B, C}));
                EXPECT_EQ(h.count(tcp_counter::checksum_offloaded), 2U);
                EXPECT_EQ(h.count(tcp_counter::checksum_bad), 0U);
            } else {
                EXPECT_EQ(c2s_of(h).data, C);
                EXPECT_EQ(c2s_of(h).gaps, (gap_list{{0, A.size() + B.size()}}));
                EXPECT_EQ(h.count(tcp_counter::checksum_offloaded), 0U);
                EXPECT_EQ(h.count(tcp_counter::checksum_bad), 2U);
            }
            EXPECT_FALSE(h.r->checksum_auto_disabled());
            h.finish_and_check_pool(pool_size);
        }
    }
}

TEST_F(Fragments, AutoModeSwitchesOffAfterARunOfBadChecksums) {
    constexpr std::uint32_t run = 4;
    constexpr unsigned nseg = 10;
    conversation cv(false);
    cv.handshake();
    std::vector<std::vector<std::uint8_t>> parts;
    for (unsigned i = 0; i < nseg; ++i) {
        parts.push_back(bytes(100 + i, static_cast<std::uint8_t>(10 + i)));
        auto f = cv.c2s_segment(parts.back());
        // Wrong, and not an offload mark either.
        set_tcp_checksum(f, static_cast<std::uint16_t>(tcp_checksum_of(f) ^ 0x1234));
        cv.out.push_back(std::move(f));
    }
    cv.close();
    // A good segment in the middle of a run starts the run again.
    conversation cv2(false, 2);
    cv2.handshake();
    for (unsigned i = 0; i < run - 1; ++i) {
        auto f = cv2.c2s_segment(parts[i]);
        set_tcp_checksum(f, static_cast<std::uint16_t>(tcp_checksum_of(f) ^ 0x1234));
        cv2.out.push_back(std::move(f));
    }
    cv2.c2s(parts[run - 1]);
    for (unsigned i = run; i < 2 * run - 1; ++i) {
        auto f = cv2.c2s_segment(parts[i]);
        set_tcp_checksum(f, static_cast<std::uint16_t>(tcp_checksum_of(f) ^ 0x1234));
        cv2.out.push_back(std::move(f));
    }
    cv2.close();
    {
        SCOPED_TRACE("a run broken by a good segment");
        tcp_config cfg;
        cfg.checksum_auto_run = run;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.feed(cv2.out, 1);
        EXPECT_FALSE(h.r->checksum_auto_disabled());
        EXPECT_EQ(h.count(tcp_counter::checksum_bad), 2U * (run - 1));
        h.finish_and_check_pool(pool_size);
    }
    {
        SCOPED_TRACE("an unbroken run");
        tcp_config cfg;
        cfg.checksum_auto_run = run;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.feed(cv.out, 1);
        h.r->finish();
        EXPECT_TRUE(h.r->checksum_auto_disabled());
        // The first run - 1 were dropped; from the run-th on everything is taken.
        EXPECT_EQ(h.count(tcp_counter::checksum_bad), run - 1);
        std::vector<std::uint8_t> want;
        std::uint64_t skipped = 0;
        for (unsigned i = 0; i < nseg; ++i) {
            if (i < run - 1) skipped += parts[i].size();
            else want.insert(want.end(), parts[i].begin(), parts[i].end());
        }
        EXPECT_EQ(c2s_of(h).data, want);
        EXPECT_EQ(c2s_of(h).gaps, (gap_list{{0, skipped}}));
        EXPECT_EQ(c2s_of(h).end, end_reason::fin);
        h.finish_and_check_pool(pool_size);
    }
    {
        SCOPED_TRACE("verify mode never switches off");
        tcp_config cfg;
        cfg.checksum = checksum_mode::verify;
        cfg.checksum_auto_run = run;
        harness h(cfg);
        ASSERT_NE(h.r, nullptr);
        h.feed(cv.out, 1);
        EXPECT_FALSE(h.r->checksum_auto_disabled());
        EXPECT_EQ(h.count(tcp_counter::checksum_bad), nseg);
        h.finish_and_check_pool(pool_size);
    }
}

// ---------------------------------------------------------------------------
// Mempool pressure.

TEST_F(Fragments, PoolPressureTurnsAHoleIntoAGap) {
    constexpr unsigned tiny = 63;
    static rte_mempool* small = make_pool("tst_frag_tiny", tiny);
    ASSERT_NE(small, nullptr);
    ASSERT_EQ(free_in(small), tiny);
    constexpr unsigned nseg = 40;
    for (std::uint32_t low_water : {40U, 1U}) {
        SCOPED_TRACE("low water " + std::to_string(low_water));
        conversation cv(false);
        cv.handshake();
        std::vector<std::vector<std::uint8_t>> parts;
        frames_t data;
        for (unsigned i = 0; i < nseg; ++i) {
            parts.push_back(bytes(200, static_cast<std::uint8_t>(i)));
            data.push_back(cv.c2s_segment(parts.back()));
        }
        // Segment 1 is missing: 2.. wait behind the hole, one mbuf each.
        frames_t first = cv.out;
        first.push_back(data[0]);
        for (unsigned i = 2; i < 30; ++i) first.push_back(data[i]);
        tcp_config cfg;
        cfg.mempool_low_water = low_water;
        harness h(cfg, small);
        ASSERT_NE(h.r, nullptr);
        h.feed(first, 1);
        const dir_rec& d = c2s_of(h);
        if (low_water == 40) {
            // Held mbufs pushed the pool below 40 free: the hole became a gap
            // and the reader went past it; nothing is held any more.
            EXPECT_GE(h.count(tcp_counter::cap_gaps), 1U);
            EXPECT_EQ(d.gaps, (gap_list{{200, 200}}));
            EXPECT_EQ(free_in(small), tiny);
        } else {
            EXPECT_EQ(h.count(tcp_counter::cap_gaps), 0U);
            EXPECT_TRUE(d.gaps.empty());
            EXPECT_EQ(free_in(small), tiny - 28);
        }
        // The rest, and the missing segment late (a duplicate once the gap was skipped).
        frames_t rest(data.begin() + 30, data.end());
        rest.push_back(data[1]);
        cv.out.clear();
        cv.close();
        rest.insert(rest.end(), cv.out.begin(), cv.out.end());
        h.feed(rest, 1);
        h.r->finish();
        std::vector<std::uint8_t> want;
        for (unsigned i = 0; i < nseg; ++i)
            if (i != 1 || low_water == 1) want.insert(want.end(), parts[i].begin(), parts[i].end());
        EXPECT_EQ(d.data, want);
        if (low_water == 40) EXPECT_EQ(d.gaps, (gap_list{{200, 200}}));
        else EXPECT_TRUE(d.gaps.empty());
        EXPECT_EQ(d.end, end_reason::fin);
        h.finish_and_check_pool(tiny);
    }
    EXPECT_EQ(free_in(small), tiny);
}

}  // namespace
