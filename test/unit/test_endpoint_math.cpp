// The endpoint's pure parts, without an EAL: SYN cookies (Linux's scheme),
// SACK block choice (RFC 2018/2883 order), receive-window selection (no
// shrinking, SWS avoidance, scaling), the RFC 6298 estimator, the challenge-ACK
// rate limit, and address parsing.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "rxinto/endpoint/endpoint.hpp"
#include "rxinto/endpoint/tcp_math.hpp"

using namespace rxinto;
using namespace rxinto::endpoint;

namespace {

cookie_tuple tuple4() {
    cookie_tuple t;
    t.peer = {10, 0, 0, 1};
    t.local = {10, 0, 0, 2};
    t.peer_port = 40000;
    t.local_port = 5201;
    t.ip_version = 4;
    return t;
}

}  // namespace

TEST(SipHash, ReferenceVector) {
    // The SipHash-2-4 paper's test vector: key 00..0f, message 00..0e.
    cookie_key k;
    std::uint8_t kb[16];
    for (int i = 0; i < 16; ++i) kb[i] = static_cast<std::uint8_t>(i);
    std::memcpy(&k.k0, kb, 8);
    std::memcpy(&k.k1, kb + 8, 8);
    std::uint8_t msg[15];
    for (int i = 0; i < 15; ++i) msg[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(siphash24(k, msg, 15), 0xa129ca6149be45e5ULL);
}

TEST(SynCookie, RoundTripEveryMssIndex) {
    const cookie_key k{0x1234, 0x5678};
    const auto t = tuple4();
    for (std::uint8_t idx = 0; idx < 4; ++idx) {
        for (std::uint32_t isn : {0U, 1U, 0x7fffffffU, 0xfffffff0U}) {
            const std::uint32_t minute = 1000;
            const std::uint32_t c = syn_cookie_make(k, t, seq32{isn}, minute, idx);
            auto got = syn_cookie_check(k, t, seq32{isn}, c, minute);
            ASSERT_TRUE(got.has_value());
            EXPECT_EQ(*got, idx);
            // Still valid a minute later, not two minutes later.
            EXPECT_TRUE(syn_cookie_check(k, t, seq32{isn}, c, minute + 1).has_value());
            EXPECT_FALSE(syn_cookie_check(k, t, seq32{isn}, c, minute + 2).has_value());
        }
    }
}

TEST(SynCookie, RejectsOtherTupleKeyIsnOrBits) {
    const cookie_key k{1, 2};
    auto t = tuple4();
    const std::uint32_t c = syn_cookie_make(k, t, seq32{777}, 50, 2);
    // A client ISN one off gives the neighbouring MSS index (as in Linux: the
    // data bits are not authenticated apart); far off, nothing valid.
    EXPECT_FALSE(syn_cookie_check(k, t, seq32{777 + 1000}, c, 50).has_value());
    EXPECT_FALSE(syn_cookie_check(cookie_key{1, 3}, t, seq32{777}, c, 50).has_value());
    auto t2 = t;
    t2.peer_port = 40001;
    EXPECT_FALSE(syn_cookie_check(k, t2, seq32{777}, c, 50).has_value());
    // Random guesses are refused: of 4096 forgeries, (almost) none pass.
    int accepted = 0;
    for (std::uint32_t i = 1; i <= 4096; ++i)
        if (syn_cookie_check(k, t, seq32{777}, c + i * 2654435761U, 50)) ++accepted;
    EXPECT_LE(accepted, 2);
}

TEST(SynCookie, MssTable) {
    EXPECT_EQ(cookie_mss_index(1460, 4), 3);
    EXPECT_EQ(cookie_mss_index(1459, 4), 2);
    EXPECT_EQ(cookie_mss_index(100, 4), 0);
    EXPECT_EQ(cookie_mss(cookie_mss_index(1448, 4), 4), 1440);
    EXPECT_EQ(cookie_mss(cookie_mss_index(1440, 6), 6), 1440);
}

TEST(SynCookie, TimestampCarriesOptions) {
    for (bool ws : {false, true}) {
        for (int shift_i : {0, 7, 14}) {
            const auto shift = static_cast<std::uint8_t>(shift_i);
            for (bool sack : {false, true}) {
                const cookie_options o{ws, shift, sack};
                const std::uint32_t now = 0x12345678;
                const std::uint32_t ts = cookie_tsval(now, o);
                EXPECT_TRUE(seq_le(seq32{ts}, seq32{now}));  // never ahead of the clock
                EXPECT_LT(now - ts, 64U);
                const cookie_options back = cookie_ts_decode(ts);
                EXPECT_EQ(back.wscale_ok, ws);
                if (ws) {
                    EXPECT_EQ(back.wscale, shift);
                }
                EXPECT_EQ(back.sack_ok, sack);
            }
        }
    }
}

TEST(Sack, MostRecentFirstThenHighest) {
    const std::uint64_t held[3][2] = {{100, 200}, {300, 400}, {500, 600}};
    range out[4];
    const std::uint64_t recent[] = {350};
    ASSERT_EQ(choose_sack_blocks(held, 3, recent, 1, std::nullopt, 4, out), 3U);
    EXPECT_EQ(out[0], (range{300, 400}));
    EXPECT_EQ(out[1], (range{500, 600}));
    EXPECT_EQ(out[2], (range{100, 200}));
}

TEST(Sack, DsackFirstAndLimit) {
    const std::uint64_t held[5][2] = {{10, 20}, {30, 40}, {50, 60}, {70, 80}, {90, 100}};
    range out[4];
    const std::uint64_t recent[] = {55, 15};
    const std::size_t n = choose_sack_blocks(held, 5, recent, 2, range{0, 5}, 3, out);
    ASSERT_EQ(n, 3U);
    EXPECT_EQ(out[0], (range{0, 5}));    // D-SACK (RFC 2883 §4)
    EXPECT_EQ(out[1], (range{50, 60}));  // the most recent
    EXPECT_EQ(out[2], (range{10, 20}));  // the one before
    EXPECT_EQ(max_sack_blocks(true), 3U);
    EXPECT_EQ(max_sack_blocks(false), 4U);
}

TEST(Sack, NoBlockTwice) {
    const std::uint64_t held[2][2] = {{10, 20}, {30, 40}};
    range out[4];
    const std::uint64_t recent[] = {15, 12, 35};
    ASSERT_EQ(choose_sack_blocks(held, 2, recent, 3, std::nullopt, 4, out), 2U);
    EXPECT_EQ(out[0], (range{10, 20}));
    EXPECT_EQ(out[1], (range{30, 40}));
}

TEST(Window, OpensToBudgetAndNeverShrinks) {
    const std::uint64_t budget = 1 << 20;
    window_choice w = select_window(0, 0, 0, budget, 5, 1448);
    EXPECT_EQ(w.right_edge, budget);
    EXPECT_EQ(w.field, budget >> 5);
    // 600 KB arrive unread: the right edge stays, the window shrinks from the left.
    w = select_window(600000, w.right_edge, 600000, budget, 5, 1448);
    EXPECT_EQ(w.right_edge, budget);
    EXPECT_EQ(w.field, (budget - 600000 + 31) >> 5);
    // Everything unread: zero window.
    w = select_window(budget, budget, budget, budget, 5, 1448);
    EXPECT_EQ(w.field, 0);
    // The application reads 1000 bytes: less than an MSS, no update (SWS).
    w = select_window(budget, budget, budget - 1000, budget, 5, 1448);
    EXPECT_EQ(w.right_edge, budget);
    EXPECT_EQ(w.field, 0);
    // ... 1448 bytes: the right edge moves.
    w = select_window(budget, budget, budget - 1448, budget, 5, 1448);
    EXPECT_GE(w.right_edge, budget + 1448);
    EXPECT_GE(std::uint64_t{w.field} << 5, 1448U);
}

TEST(Window, ScaledRoundsUpNotDown) {
    // A window of 1000 bytes with shift 7 would scale down to 7 (896 bytes):
    // rounded up to 8 (1024) so the right edge does not move left.
    const window_choice w = select_window(5000, 6000, (1 << 20) - 1000, 1 << 20, 7, 1448);
    EXPECT_EQ(w.field, 8);
    EXPECT_GE(w.right_edge, 6000U);
    EXPECT_EQ(wscale_for(65535), 0);
    EXPECT_EQ(wscale_for(65536), 1);
    EXPECT_EQ(wscale_for(1 << 20), 5);
    EXPECT_EQ(wscale_for(1ULL << 40), 14);
}

TEST(Rto, Rfc6298) {
    rto_estimator r;
    EXPECT_EQ(r.rto_ns, 1'000'000'000ULL);
    r.sample(100'000'000ULL);  // 100 ms: SRTT 100, RTTVAR 50, RTO 300
    EXPECT_EQ(r.srtt_ns, 100'000'000ULL);
    EXPECT_EQ(r.rttvar_ns, 50'000'000ULL);
    EXPECT_EQ(r.rto_ns, 300'000'000ULL);
    r.sample(100'000'000ULL);  // RTTVAR 3/4 * 50 = 37.5
    EXPECT_EQ(r.rttvar_ns, 37'500'000ULL);
    EXPECT_EQ(r.rto_ns, 250'000'000ULL);
    rto_estimator tiny;
    tiny.sample(10'000ULL);  // 10 µs: clamped to the minimum
    EXPECT_EQ(tiny.rto_ns, rto_estimator::min_ns);
    for (int i = 0; i < 20; ++i) tiny.back_off();
    EXPECT_EQ(tiny.rto_ns, rto_estimator::max_ns);
}

TEST(ChallengeAck, RateLimited) {
    rate_limit r;
    r.per_second = 3;
    int ok = 0;
    for (int i = 0; i < 10; ++i) ok += r.allow(5'000'000'000ULL) ? 1 : 0;
    EXPECT_EQ(ok, 3);
    EXPECT_TRUE(r.allow(6'000'000'001ULL));
}

TEST(Address, Parse) {
    auto a = parse_address("10.0.0.2/24");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->version, 4);
    EXPECT_EQ(a->prefix, 24);
    EXPECT_EQ(to_string(a.value()), "10.0.0.2/24");
    auto b = parse_address("fd00::2");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->version, 6);
    EXPECT_EQ(b->prefix, 128);
    EXPECT_FALSE(parse_address("10.0.0.2/33").ok());
    EXPECT_FALSE(parse_address("224.0.0.1/32").ok());
    EXPECT_FALSE(parse_address("::/0").ok());
    EXPECT_FALSE(parse_address("host/24").ok());
}
