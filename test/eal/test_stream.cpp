// tcp::stream on a real EAL with real mempools (--no-huge): one direction of a
// connection rebuilt from mbufs, checked the libtins way (STYLE.md): one payload
// replayed in order, reversed, shuffled, duplicated and overlapping, from initial
// sequence numbers around the 2^31 and 2^32 boundaries; gaps at exact offsets;
// recv_into never writing past the caller's span; and a seeded property test
// against a byte-level model.
//
// Hard rule of every test: every mbuf is back in its pool at the end (the pool
// has no per-lcore cache, so its ring count is exact; a double free shows as a
// count above the pool size).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/tcp/stream.hpp"
#include "rxinto/tcp/stream_rx.hpp"  // the worker side

#include "eal_helpers.hpp"

using namespace rxinto;
using namespace rxinto::tcp;
using rxinto::eal_test::free_in;
using rxinto::eal_test::full_pool_test;
using rxinto::eal_test::make_pool;
using rxinto::eal_test::mbuf_chain;
using rxinto::eal_test::rng;

namespace {

constexpr unsigned pool_size = 16383;

rte_mempool* pool() { static rte_mempool* const mp = make_pool("tst_stream", pool_size); return mp; }

/// Free mbufs in the pool, exact and not capped at its size (see eal_helpers.hpp):
/// an mbuf freed twice makes this larger than pool_size.
unsigned pool_free() { return free_in(pool()); }

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
    rng r{seed};
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(r.next());
    return v;
}

/// A packet holding `hdr` header bytes (0xEE) and then `data`, split over up to
/// `nsegs` chained mbufs at seeded points (a cut may fall inside the header or
/// the payload). The payload starts `hdr` bytes into the packet data.
rte_mbuf* make_pkt(std::span<const std::uint8_t> data, std::uint32_t hdr = 0, unsigned nsegs = 1,
                   std::uint64_t split_seed = 0) {
    const auto total = static_cast<std::uint32_t>(hdr + data.size());
    const std::uint32_t room = RTE_MBUF_DEFAULT_DATAROOM;
    nsegs = std::max(nsegs, (total + room - 1) / room);
    nsegs = std::max(1U, std::min(nsegs, total));
    std::vector<std::uint32_t> sizes;
    rng r{split_seed * 0x2545F4914F6CDD1DULL + 7};
    std::uint32_t left = total;
    for (unsigned i = 0; i + 1 < nsegs; ++i) {
        const std::uint32_t rest = nsegs - 1 - i;  // pieces after this one need >= 1 byte each
        const std::uint32_t hi = std::min(left - rest, room);
        const std::uint32_t lo = left - rest * room > left ? 1 : std::max<std::uint32_t>(1, left - rest * room);
        const auto n = static_cast<std::uint32_t>(r.range(lo, std::max(lo, hi)));
        sizes.push_back(n);
        left -= n;
    }
    sizes.push_back(left);
    mbuf_chain c(pool());
    std::uint32_t pos = 0;  // position in the packet (header + payload)
    for (std::uint32_t n : sizes) {
        std::uint8_t* p = c.add(n);
        if (p == nullptr) return nullptr;
        for (std::uint32_t k = 0; k < n; ++k, ++pos) p[k] = pos < hdr ? 0xEE : data[pos - hdr];
    }
    return c.release();
}

/// A worker's shared state for one stream under test.
struct env_box {
    segment_pool segs{65536, SOCKET_ID_ANY};
    mbuf::drop_list drops;
    tcp_counters counters;
    stream_env env;
    explicit env_box(overlap_policy p = overlap_policy::first, stream_limits l = {}) {
        env.pool = &segs;
        env.drops = &drops;
        env.counters = &counters;
        env.policy = p;
        env.limits = l;
    }
    [[nodiscard]] std::uint64_t get(tcp_counter c) const { return counters.get(c); }
};

/// The stream under test: the application's calls (stream) and the worker's
/// (stream_rx) side by side, as one object attached to the env it runs in.
struct tstream : stream {
    explicit tstream(env_box& e) { stream_rx(*this).attach(e.env); }
    stream_rx rx() noexcept { return stream_rx(*this); }
    void anchor(seq32 first, bool midstream) noexcept { rx().anchor(first, midstream); }
    bool reanchor(seq32 first) noexcept { return rx().reanchor(first); }
    void confirm() noexcept { rx().confirm(); }
    void insert(seq32 seq, std::uint32_t len, rte_mbuf* m, std::uint32_t off, stream_env&) noexcept {
        rx().insert(seq, len, m, off);
    }
    void on_fin(seq32 seq, stream_env&) noexcept { rx().on_fin(seq); }
    void on_peer_ack(seq32 seq, stream_env&) noexcept { rx().on_peer_ack(seq); }
    void declare_missing(seq32 seq, std::uint32_t len, stream_env&) noexcept { rx().declare_missing(seq, len); }
    void tick(stream_env&) noexcept { rx().tick(); }
    [[nodiscard]] bool in_window(seq32 seq, std::uint32_t window) noexcept { return rx().in_window(seq, window); }
    void end(end_reason r, stream_env&) noexcept { rx().end(r); }
    void release(stream_env&) noexcept { rx().release(); }
    recv_result recv_into(std::span<std::byte> b, stream_env&) noexcept { return stream::recv_into(b); }
    std::uint64_t skip_gap(stream_env&) noexcept { return stream::skip_gap(); }
    void consume(std::uint64_t n, stream_env&) noexcept { stream::consume(n); }
};

/// Inserts stream bytes [off, off + len) of `bytes` (indexed by stream offset)
/// as one packet, sequence numbers relative to `first` (the seq of offset 0).
void feed(tstream& s, env_box& e, seq32 first, std::span<const std::uint8_t> bytes, std::uint64_t off,
          std::uint32_t len, unsigned nsegs = 1, std::uint32_t hdr = 0, std::uint64_t split_seed = 0) {
    rte_mbuf* m = make_pkt(bytes.subspan(off, len), hdr, nsegs, split_seed);
    ASSERT_NE(m, nullptr) << "test pool exhausted";
    s.insert(first + static_cast<std::uint32_t>(off), len, m, hdr, e.env);
    e.drops.flush();
}

/// The peer's ACK of everything before `seq`, followed by the packets of grace
/// (limits.ack_grace_packets) after which a hole it proves becomes a gap.
void ack(tstream& s, env_box& e, seq32 seq) {
    s.on_peer_ack(seq, e.env);
    for (std::uint32_t i = 0; i <= e.env.limits.ack_grace_packets; ++i) s.tick(e.env);
}

/// Releases the stream, flushes, and checks that every mbuf and segment came back.
void release_all(tstream& s, env_box& e) {
    s.release(e.env);
    e.drops.flush();
    EXPECT_EQ(e.segs.used(), 0U);
    EXPECT_EQ(pool_free(), pool_size);
}

using gap_list = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

struct read_out {
    std::vector<std::uint8_t> data;
    gap_list gaps;
    end_reason end = end_reason::none;
};

constexpr std::size_t guard_len = 64;
constexpr std::byte guard_byte{0xA5};

/// Reads with recv_into until it would block or the stream ends, with buffer
/// sizes from size_of(i). Checks on every call: nothing written past the span
/// (guard region), exactly min(span, readable) bytes copied (so never across a
/// gap), offset() advanced by the bytes copied. Gaps are recorded and skipped.
template <class SizeFn>
void drain_recv(tstream& s, env_box& e, read_out& out, SizeFn size_of) {
    static std::vector<std::byte> buf(65536 + guard_len);
    for (unsigned i = 0;; ++i) {
        const std::size_t n = std::min<std::size_t>(size_of(i), 65536);
        std::fill(buf.begin() + static_cast<std::ptrdiff_t>(n),
                  buf.begin() + static_cast<std::ptrdiff_t>(n + guard_len), guard_byte);
        const std::uint64_t before = s.offset();
        const std::uint64_t readable = s.readable();
        const recv_result r = s.recv_into(std::span<std::byte>(buf.data(), n), e.env);
        for (std::size_t k = n; k < n + guard_len; ++k)
            ASSERT_EQ(buf[k], guard_byte) << "recv_into wrote past its span of " << n << " bytes";
        ASSERT_EQ(r.bytes, std::min<std::uint64_t>(n, readable)) << "span " << n;
        ASSERT_EQ(s.offset(), before + r.bytes);
        const auto* p = reinterpret_cast<const std::uint8_t*>(buf.data());
        out.data.insert(out.data.end(), p, p + r.bytes);
        if (r.gap != 0) {
            ASSERT_EQ(s.readable(), 0U) << "gap reported with bytes still readable before it";
            out.gaps.emplace_back(s.offset(), r.gap);
            ASSERT_EQ(s.skip_gap(e.env), r.gap);
            continue;
        }
        if (r.end != end_reason::none) {
            out.end = r.end;
            break;
        }
        if (r.bytes == 0) {
            if (n == 0) continue;
            ASSERT_TRUE(r.would_block());
            break;
        }
    }
    e.drops.flush();
}

void drain_recv_fixed(tstream& s, env_box& e, read_out& out, std::size_t n) {
    drain_recv(s, e, out, [n](unsigned) { return n; });
}

/// Reads with peek()/consume(): up to max_views views at a time, consuming a
/// seeded part of what was peeked (partial views included).
void drain_peek(tstream& s, env_box& e, read_out& out, std::size_t max_views, rng& r) {
    std::array<std::span<const std::byte>, 16> views{};
    max_views = std::min(max_views, views.size());
    for (;;) {
        const std::size_t n = s.peek(std::span(views.data(), max_views));
        if (n == 0) {
            ASSERT_EQ(s.readable(), 0U) << "peek gave nothing with bytes readable";
            const recv_result p = s.poll();
            if (p.gap != 0) {
                out.gaps.emplace_back(s.offset(), p.gap);
                ASSERT_EQ(s.skip_gap(e.env), p.gap);
                continue;
            }
            out.end = p.end;
            break;
        }
        std::uint64_t total = 0;
        for (std::size_t k = 0; k < n; ++k) {
            ASSERT_FALSE(views[k].empty()) << "empty view";
            total += views[k].size();
        }
        ASSERT_LE(total, s.readable());
        if (n < max_views) {
            ASSERT_EQ(total, s.readable()) << "peek stopped early";
        }
        const std::uint64_t take = r.chance(50) ? total : r.range(1, total);
        std::uint64_t left = take;
        for (std::size_t k = 0; k < n && left != 0; ++k) {
            const std::size_t c = std::min<std::uint64_t>(left, views[k].size());
            const auto* p = reinterpret_cast<const std::uint8_t*>(views[k].data());
            out.data.insert(out.data.end(), p, p + c);
            left -= c;
        }
        const std::uint64_t before = s.offset();
        s.consume(take, e.env);
        ASSERT_EQ(s.offset(), before + take);
    }
    e.drops.flush();
}

/// What a reader must see, from a per-byte model (-1: never captured):
/// the bytes present in order, and the runs of missing bytes below `limit`.
struct expectation {
    std::vector<std::uint8_t> data;
    gap_list gaps;
};

expectation expect_from(const std::vector<int>& model, std::uint64_t limit) {
    expectation x;
    for (std::uint64_t i = 0; i < limit && i < model.size(); ++i) {
        if (model[i] >= 0) {
            x.data.push_back(static_cast<std::uint8_t>(model[i]));
        } else if (!x.gaps.empty() && x.gaps.back().first + x.gaps.back().second == i) {
            ++x.gaps.back().second;
        } else {
            x.gaps.emplace_back(i, 1);
        }
    }
    return x;
}

/// Cuts [0, n) into consecutive pieces of lo..hi bytes.
std::vector<std::pair<std::uint64_t, std::uint32_t>> cut(std::uint64_t n, std::uint32_t lo, std::uint32_t hi,
                                                         rng& r) {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> v;
    for (std::uint64_t off = 0; off < n;) {
        const auto len = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.range(lo, hi), n - off));
        v.emplace_back(off, len);
        off += len;
    }
    return v;
}

std::string gaps_text(const gap_list& g) {
    std::string s;
    for (std::size_t i = 0; i < g.size() && i < 40; ++i)
        s += "[" + std::to_string(g[i].first) + "," + std::to_string(g[i].second) + "]";
    if (g.size() > 40) s += "... (" + std::to_string(g.size()) + " gaps)";
    return s.empty() ? "none" : s;
}

class Stream : public full_pool_test<pool, pool_size> {};

// ---------------------------------------------------------------------------
// Sequence numbers around the wrap (RFC 1982): offsets are relative to ISN + 1.

class StreamWrap : public Stream, public ::testing::WithParamInterface<std::uint32_t> {};

TEST_P(StreamWrap, ShuffledSegmentsHoleAndFinAcrossTheWrap) {
    const seq32 isn{GetParam()};
    const seq32 first = isn + 1;
    const auto payload = random_bytes(10000, GetParam());
    rng r{GetParam() + 1ULL};
    auto segs = cut(payload.size(), 1, 700, r);
    // One segment never captured: its bytes become a gap once the peer ACKs them.
    const std::size_t lost = segs.size() / 2;
    std::vector<int> model(payload.begin(), payload.end());
    for (std::uint32_t k = 0; k < segs[lost].second; ++k) model[segs[lost].first + k] = -1;
    const auto lost_seg = segs[lost];
    segs.erase(segs.begin() + static_cast<std::ptrdiff_t>(lost));
    r.shuffle(segs);

    env_box e;
    tstream s{e};
    s.anchor(first, false);
    for (const auto& [off, len] : segs) feed(s, e, first, payload, off, len);
    EXPECT_EQ(e.get(tcp_counter::out_of_window), 0U);
    ack(s, e, first + static_cast<std::uint32_t>(payload.size()));
    s.on_fin(first + static_cast<std::uint32_t>(payload.size()), e.env);
    read_out out;
    drain_recv_fixed(s, e, out, 1448);
    const expectation x = expect_from(model, payload.size());
    EXPECT_EQ(out.data, x.data);
    ASSERT_EQ(out.gaps.size(), 1U);
    EXPECT_EQ(out.gaps[0], (std::pair<std::uint64_t, std::uint64_t>{lost_seg.first, lost_seg.second}));
    EXPECT_EQ(out.end, end_reason::fin);
    EXPECT_EQ(s.delivered(), payload.size() - lost_seg.second);
    EXPECT_EQ(s.gap_bytes(), lost_seg.second);
    EXPECT_EQ(s.gap_count(), 1U);
    EXPECT_TRUE(s.finished());
    release_all(s, e);
}

INSTANTIATE_TEST_SUITE_P(Isn, StreamWrap,
                         ::testing::Values(0U, 0x7FFFFFFFU, 0xFFFFFFFFU, 0xFFFFFFFFU - 34U, 0x7FFFFFFFU - 4000U,
                                           0xFFFFFFFFU - 9000U));

// ---------------------------------------------------------------------------
// One payload, every delivery order (libtins' stream tests, in spirit).

enum class order { in_order, reversed, shuffled, each_duplicated, duplicated_reversed, all_twice_shuffled };

const char* order_name(order o) {
    switch (o) {
    case order::in_order: return "in_order";
    case order::reversed: return "reversed";
    case order::shuffled: return "shuffled";
    case order::each_duplicated: return "each_duplicated";
    case order::duplicated_reversed: return "duplicated_reversed";
    case order::all_twice_shuffled: return "all_twice_shuffled";
    }
    return "?";
}

TEST_F(Stream, PermutationsDeliverThePayloadExactly) {
    const auto payload = random_bytes(10 * 1024, 42);
    const seq32 first{0xFFFFF000U};  // wraps inside the payload
    for (auto policy : {overlap_policy::first, overlap_policy::last}) {
        for (auto o : {order::in_order, order::reversed, order::shuffled, order::each_duplicated,
                       order::duplicated_reversed, order::all_twice_shuffled}) {
            for (std::uint64_t seed = 1; seed <= (o == order::shuffled || o == order::all_twice_shuffled ? 5U : 1U);
                 ++seed) {
                for (bool read_while_feeding : {false, true}) {
                    SCOPED_TRACE(std::string("policy ") + (policy == overlap_policy::first ? "first" : "last") +
                                 " order " + order_name(o) + " seed " + std::to_string(seed) +
                                 (read_while_feeding ? " reading while feeding" : ""));
                    rng r{seed};
                    const auto segs = cut(payload.size(), 536, 1448, r);
                    std::vector<std::pair<std::uint64_t, std::uint32_t>> plan;
                    switch (o) {
                    case order::in_order: plan = segs; break;
                    case order::reversed: plan.assign(segs.rbegin(), segs.rend()); break;
                    case order::shuffled: plan = segs; r.shuffle(plan); break;
                    case order::each_duplicated:
                        for (const auto& sg : segs) plan.insert(plan.end(), {sg, sg});
                        break;
                    case order::duplicated_reversed:
                        for (auto it = segs.rbegin(); it != segs.rend(); ++it) plan.insert(plan.end(), {*it, *it});
                        break;
                    case order::all_twice_shuffled:
                        plan = segs;
                        plan.insert(plan.end(), segs.begin(), segs.end());
                        r.shuffle(plan);
                        break;
                    }
                    env_box e(policy);
                    tstream s{e};
                    s.anchor(first, false);
                    read_out out;
                    for (const auto& [off, len] : plan) {
                        feed(s, e, first, payload, off, len, 1 + static_cast<unsigned>(r.below(3)),
                             static_cast<std::uint32_t>(r.below(60)), r.next());
                        if (read_while_feeding) drain_recv_fixed(s, e, out, 1000);
                    }
                    s.on_fin(first + static_cast<std::uint32_t>(payload.size()), e.env);
                    drain_recv_fixed(s, e, out, 1448);
                    EXPECT_EQ(out.data, payload);
                    EXPECT_TRUE(out.gaps.empty()) << gaps_text(out.gaps);
                    EXPECT_EQ(out.end, end_reason::fin);
                    EXPECT_EQ(s.overlap_conflicts(), 0U);
                    EXPECT_EQ(e.get(tcp_counter::overlap_conflicts), 0U);
                    if (policy == overlap_policy::first && plan.size() == 2 * segs.size()) {
                        EXPECT_EQ(e.get(tcp_counter::duplicates), segs.size());
                    }
                    release_all(s, e);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Overlaps with different bytes: which copy wins, and conflicts counted exactly.

struct overlap_case {
    const char* name;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> held;  // [from, to) held first, bytes 'a' (+k)
    std::pair<std::uint64_t, std::uint64_t> fresh;               // [from, to) arriving next, bytes 'b'
    unsigned overlapped;                                         // held segments the fresh one overlaps
};

TEST_F(Stream, OverlapCasesFirstAndLastPolicy) {
    const std::vector<overlap_case> cases = {
        {"left overlap", {{100, 200}}, {50, 150}, 1},
        {"right overlap", {{100, 200}}, {150, 250}, 1},
        {"containing", {{100, 200}}, {50, 250}, 1},
        {"contained", {{100, 200}}, {120, 180}, 1},
        {"identical", {{100, 200}}, {100, 200}, 1},
        {"same start, shorter", {{100, 200}}, {100, 150}, 1},
        {"same end, shorter", {{100, 200}}, {150, 200}, 1},
        {"touching, no overlap", {{100, 200}}, {200, 300}, 0},
        {"bridging two", {{100, 200}, {300, 400}}, {150, 350}, 2},
        {"covering two", {{100, 200}, {300, 400}}, {50, 450}, 2},
        {"covering three exactly", {{100, 200}, {200, 300}, {300, 400}}, {100, 400}, 3},
    };
    for (auto policy : {overlap_policy::first, overlap_policy::last}) {
        for (bool conflicting : {true, false}) {
            for (const auto& c : cases) {
                SCOPED_TRACE(std::string(c.name) + (policy == overlap_policy::first ? " / first" : " / last") +
                             (conflicting ? " / different bytes" : " / same bytes"));
                // Stream bytes: the 'true' copy is a pattern; the fresh copy differs
                // everywhere when conflicting.
                std::vector<std::uint8_t> held_bytes(500), fresh_bytes(500);
                for (std::size_t i = 0; i < 500; ++i) {
                    held_bytes[i] = static_cast<std::uint8_t>('a' + i % 13);
                    fresh_bytes[i] = conflicting ? static_cast<std::uint8_t>('A' + i % 17) : held_bytes[i];
                }
                std::vector<int> model(500, -1);
                const seq32 first{0xFFFFFFC0U};
                env_box e(policy);
                tstream s{e};
                s.anchor(first, false);
                for (const auto& [from, to] : c.held) {
                    feed(s, e, first, held_bytes, from, static_cast<std::uint32_t>(to - from), 2, 14, from);
                    for (auto i = from; i < to; ++i) model[i] = held_bytes[i];
                }
                feed(s, e, first, fresh_bytes, c.fresh.first,
                     static_cast<std::uint32_t>(c.fresh.second - c.fresh.first), 3, 20, 99);
                for (auto i = c.fresh.first; i < c.fresh.second; ++i)
                    if (policy == overlap_policy::last || model[i] < 0) model[i] = fresh_bytes[i];
                const unsigned want_conflicts = conflicting ? c.overlapped : 0;
                EXPECT_EQ(s.overlap_conflicts(), want_conflicts);
                EXPECT_EQ(e.get(tcp_counter::overlap_conflicts), want_conflicts);
                // Fill the hole in front (up to the lowest byte held) so that
                // everything becomes readable.
                std::uint64_t lo = c.fresh.first;
                for (const auto& h : c.held) lo = std::min(lo, h.first);
                std::vector<std::uint8_t> z(500, 'z');
                feed(s, e, first, z, 0, static_cast<std::uint32_t>(lo / 2));
                feed(s, e, first, z, lo / 2, static_cast<std::uint32_t>(lo - lo / 2));
                for (std::uint64_t i = 0; i < lo; ++i) model[i] = 'z';
                std::uint64_t top = 0;
                for (std::size_t i = 0; i < model.size(); ++i)
                    if (model[i] >= 0) top = i + 1;
                // Holes between held pieces (e.g. [200,300) in "bridging two"
                // under no overlap) stay holes: end the stream to see them as gaps.
                s.end(end_reason::eof, e.env);
                read_out out;
                drain_recv_fixed(s, e, out, 7);
                const expectation x = expect_from(model, top);
                EXPECT_EQ(out.data, x.data);
                EXPECT_EQ(out.gaps, x.gaps);
                EXPECT_EQ(out.end, end_reason::eof);
                release_all(s, e);
            }
        }
    }
}

TEST_F(Stream, LastPolicyNeverRewritesDeliveredBytes) {
    for (auto policy : {overlap_policy::first, overlap_policy::last}) {
        SCOPED_TRACE(policy == overlap_policy::first ? "first" : "last");
        std::vector<std::uint8_t> a(300, 'a'), b(300, 'b');
        const seq32 first{0x7FFFFFF0U};
        env_box e(policy);
        tstream s{e};
        s.anchor(first, false);
        feed(s, e, first, a, 0, 200);
        read_out out;
        std::array<std::byte, 100> buf{};
        ASSERT_EQ(s.recv_into(buf, e.env).bytes, 100U);  // [0,100) delivered
        feed(s, e, first, b, 50, 100);                    // [50,150): half delivered, half held
        EXPECT_EQ(s.overlap_conflicts(), 1U);             // the held half differs
        s.end(end_reason::eof, e.env);
        drain_recv_fixed(s, e, out, 1448);
        std::vector<std::uint8_t> want(100, 'a');  // bytes [100, 200)
        if (policy == overlap_policy::last) std::fill(want.begin(), want.begin() + 50, 'b');
        EXPECT_EQ(out.data, want);
        EXPECT_EQ(out.end, end_reason::eof);
        release_all(s, e);
    }
}

// ---------------------------------------------------------------------------
// Gaps: declared by the peer's ACK, the end of the stream, or a cap; never filled.

TEST_F(Stream, PeerAckBeyondAHoleGivesAGapAtTheExactOffset) {
    const auto p = random_bytes(4000, 7);
    const seq32 first{0xFFFFFE00U};
    env_box e;
    tstream s{e};
    s.anchor(first, false);
    feed(s, e, first, p, 0, 1000);
    feed(s, e, first, p, 2000, 1000);
    feed(s, e, first, p, 3000, 1000);
    std::array<std::byte, 4096> buf{};
    recv_result r = s.recv_into(buf, e.env);
    EXPECT_EQ(r.bytes, 1000U);
    EXPECT_EQ(r.gap, 0U);  // nobody said the hole is a gap yet: it may still arrive
    EXPECT_TRUE(s.recv_into(buf, e.env).would_block());
    // An ACK inside the hole declares only its front.
    ack(s, e, first + 1500);
    r = s.recv_into(buf, e.env);
    EXPECT_EQ(r.bytes, 0U);
    EXPECT_EQ(r.gap, 500U);
    EXPECT_EQ(s.offset(), 1000U);
    EXPECT_EQ(s.skip_gap(e.env), 500U);
    EXPECT_TRUE(s.recv_into(buf, e.env).would_block());
    // An ACK beyond the hole declares the rest.
    ack(s, e, first + 4000);
    EXPECT_EQ(s.poll().gap, 500U);
    EXPECT_EQ(s.skip_gap(e.env), 500U);
    EXPECT_EQ(s.skip_gap(e.env), 0U);
    r = s.recv_into(buf, e.env);
    EXPECT_EQ(r.bytes, 2000U);
    EXPECT_EQ(std::memcmp(buf.data(), p.data() + 2000, 2000), 0);
    EXPECT_EQ(s.gap_bytes(), 1000U);
    EXPECT_EQ(s.gap_count(), 2U);
    EXPECT_EQ(e.get(tcp_counter::gaps), 2U);
    EXPECT_EQ(e.get(tcp_counter::gap_bytes), 1000U);
    // An old ACK changes nothing.
    ack(s, e, first + 10);
    EXPECT_TRUE(s.poll().would_block());
    release_all(s, e);
}

TEST_F(Stream, AckProvenHoleWaitsForTheGracePeriod) {
    const auto p = random_bytes(4000, 6);
    for (std::uint32_t grace : {0U, 1U, 32U}) {
        SCOPED_TRACE("grace " + std::to_string(grace));
        stream_limits lim;
        lim.ack_grace_packets = grace;
        const seq32 first{0xFFFFFFFFU};
        env_box e(overlap_policy::first, lim);
        tstream s{e};
        s.anchor(first, false);
        feed(s, e, first, p, 0, 1000);
        feed(s, e, first, p, 2000, 1000);
        // The ACK shows up before the data it acknowledges (several capture
        // points or queues): the data comes within the grace period, no gap.
        s.on_peer_ack(first + 3000, e.env);
        for (std::uint32_t i = 0; i + 1 < grace; ++i) s.tick(e.env);
        feed(s, e, first, p, 1000, 1000);
        for (std::uint32_t i = 0; i < 2 * grace + 2; ++i) s.tick(e.env);
        read_out out;
        drain_recv_fixed(s, e, out, 1448);
        EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin(), p.begin() + 3000));
        EXPECT_TRUE(out.gaps.empty()) << gaps_text(out.gaps);
        // Now a hole that stays: a gap once the grace period is over, not before.
        feed(s, e, first, p, 3500, 500);
        s.on_peer_ack(first + 4000, e.env);
        for (std::uint32_t i = 0; i + 1 < grace; ++i) {
            s.tick(e.env);
            EXPECT_TRUE(s.poll().would_block()) << "tick " << i;
        }
        for (std::uint32_t i = 0; i < 2; ++i) s.tick(e.env);
        drain_recv_fixed(s, e, out, 1448);
        EXPECT_EQ(out.gaps, (gap_list{{3000, 500}}));
        EXPECT_EQ(out.data.size(), 3500U);
        release_all(s, e);
    }
}

TEST_F(Stream, EofWithHolesGivesGapsUpToTheHighestByte) {
    const auto p = random_bytes(5000, 8);
    const seq32 first{0};
    env_box e;
    tstream s{e};
    s.anchor(first, false);
    feed(s, e, first, p, 100, 900);    // [0,100) never seen
    feed(s, e, first, p, 1500, 500);   // [1000,1500) never seen
    feed(s, e, first, p, 2500, 1000);  // [2000,2500) never seen; nothing known past 3500
    s.end(end_reason::eof, e.env);
    read_out out;
    drain_recv_fixed(s, e, out, 65536);
    EXPECT_EQ(out.gaps, (gap_list{{0, 100}, {1000, 500}, {2000, 500}}));
    std::vector<std::uint8_t> want(p.begin() + 100, p.begin() + 1000);
    want.insert(want.end(), p.begin() + 1500, p.begin() + 2000);
    want.insert(want.end(), p.begin() + 2500, p.begin() + 3500);
    EXPECT_EQ(out.data, want);
    EXPECT_EQ(out.end, end_reason::eof);
    EXPECT_TRUE(s.finished());
    release_all(s, e);
}

TEST_F(Stream, MaxOooBytesDeclaresTheHoleAGap) {
    const auto p = random_bytes(20000, 9);
    stream_limits lim;
    lim.max_ooo_bytes = 4000;
    const seq32 first{0xFFFFFFFFU};
    env_box e(overlap_policy::first, lim);
    tstream s{e};
    s.anchor(first, false);
    feed(s, e, first, p, 0, 1000);
    for (std::uint64_t off = 2000; off < 6000; off += 1000) feed(s, e, first, p, off, 1000);  // 4000 held past a hole
    EXPECT_EQ(e.get(tcp_counter::cap_gaps), 0U);
    std::array<std::byte, 8192> buf{};
    EXPECT_EQ(s.recv_into(buf, e.env).bytes, 1000U);
    EXPECT_TRUE(s.poll().would_block());
    feed(s, e, first, p, 6000, 1000);  // 5000 held past the hole: over the cap
    EXPECT_EQ(e.get(tcp_counter::cap_gaps), 1U);
    recv_result r = s.recv_into(buf, e.env);
    EXPECT_EQ(r.bytes, 0U);
    EXPECT_EQ(r.gap, 1000U);
    EXPECT_EQ(s.offset(), 1000U);
    EXPECT_EQ(s.skip_gap(e.env), 1000U);
    r = s.recv_into(buf, e.env);
    EXPECT_EQ(r.bytes, 5000U);
    EXPECT_EQ(std::memcmp(buf.data(), p.data() + 2000, 5000), 0);
    // The late copy of the hole is before the read position now: dropped, counted.
    feed(s, e, first, p, 1000, 1000);
    EXPECT_EQ(e.get(tcp_counter::duplicates), 1U);
    EXPECT_TRUE(s.poll().would_block());
    release_all(s, e);
}

TEST_F(Stream, EarlyFinKeepsDataBeforeItAndDropsDataAfterIt) {
    const auto p = random_bytes(6000, 10);
    const seq32 first{0xFFFFF800U};
    for (bool straddle : {false, true}) {
        SCOPED_TRACE(straddle ? "a segment straddles the FIN" : "segments end at the FIN");
        env_box e;
        tstream s{e};
        s.anchor(first, false);
        s.on_fin(first + 4000, e.env);  // reordered: the FIN before the data
        EXPECT_TRUE(s.fin_seen());
        EXPECT_FALSE(s.finished());
        feed(s, e, first, p, 3000, straddle ? 1500U : 1000U);  // straddle: [3000,4500) cut at 4000
        feed(s, e, first, p, 4000, 1000);                      // all after the FIN
        feed(s, e, first, p, 1000, 2000);
        feed(s, e, first, p, 0, 1000);
        EXPECT_EQ(e.get(tcp_counter::data_after_fin), straddle ? 2U : 1U);
        read_out out;
        drain_recv_fixed(s, e, out, 1448);
        EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin(), p.begin() + 4000));
        EXPECT_TRUE(out.gaps.empty()) << gaps_text(out.gaps);
        EXPECT_EQ(out.end, end_reason::fin);
        // A retransmitted FIN further on changes nothing; nor does data after it.
        s.on_fin(first + 5000, e.env);
        feed(s, e, first, p, 4000, 500);
        EXPECT_EQ(s.recv_into(std::span<std::byte>(), e.env).end, end_reason::fin);
        release_all(s, e);
    }
}

TEST_F(Stream, FinWithAHoleBeforeItBecomesAGapAtTheEnd) {
    const auto p = random_bytes(3000, 11);
    const seq32 first{5};
    env_box e;
    tstream s{e};
    s.anchor(first, false);
    feed(s, e, first, p, 0, 1000);
    feed(s, e, first, p, 2000, 500);
    s.on_fin(first + 3000, e.env);  // [1000,2000) and [2500,3000) never seen
    read_out out;
    drain_recv_fixed(s, e, out, 1448);
    EXPECT_EQ(out.data.size(), 1000U);  // the holes are not gaps yet: no ACK, not ended
    EXPECT_EQ(out.end, end_reason::none);
    s.end(end_reason::eof, e.env);  // end of input: a stream with a FIN ends with fin
    drain_recv_fixed(s, e, out, 1448);
    EXPECT_EQ(out.gaps, (gap_list{{1000, 1000}, {2500, 500}}));
    EXPECT_EQ(out.data.size(), 1500U);
    EXPECT_EQ(out.end, end_reason::fin);
    release_all(s, e);
}

TEST_F(Stream, RstEndsTheStreamAndLaterDataIsDropped) {
    const auto p = random_bytes(5000, 12);
    const seq32 first{0x80000000U};
    env_box e;
    tstream s{e};
    s.anchor(first, false);
    feed(s, e, first, p, 0, 1000);
    feed(s, e, first, p, 2000, 1000);
    EXPECT_TRUE(s.in_window(first + 3000, 65535));
    EXPECT_FALSE(s.in_window(first + 3000 + 0x40000000U, 65535));
    s.end(end_reason::rst, e.env);
    s.end(end_reason::timeout, e.env);  // the first reason stands
    feed(s, e, first, p, 3000, 1000);   // after the end: dropped
    EXPECT_EQ(e.get(tcp_counter::data_after_fin), 1U);
    feed(s, e, first, p, 1000, 500);  // inside the stream: still taken
    read_out out;
    drain_recv_fixed(s, e, out, 700);
    std::vector<std::uint8_t> want(p.begin(), p.begin() + 1500);
    want.insert(want.end(), p.begin() + 2000, p.begin() + 3000);
    EXPECT_EQ(out.data, want);
    EXPECT_EQ(out.gaps, (gap_list{{1500, 500}}));
    EXPECT_EQ(out.end, end_reason::rst);
    release_all(s, e);
}

TEST_F(Stream, KeepAliveAndZeroWindowProbeDoNotCorrupt) {
    const auto p = random_bytes(3000, 13);
    const std::vector<std::uint8_t> garbage(3000, 0x00);
    for (auto policy : {overlap_policy::first, overlap_policy::last}) {
        SCOPED_TRACE(policy == overlap_policy::first ? "first" : "last");
        const seq32 first{0xFFFFFFFEU};
        env_box e(policy);
        tstream s{e};
        s.anchor(first, false);
        feed(s, e, first, p, 0, 1000);
        read_out out;
        drain_recv_fixed(s, e, out, 1448);
        ASSERT_EQ(s.offset(), 1000U);
        // Keep-alive: seq = next - 1 with one garbage byte (RFC 9293 §3.8.4).
        for (int i = 0; i < 3; ++i) feed(s, e, first, garbage, 999, 1);
        EXPECT_TRUE(s.poll().would_block());
        EXPECT_EQ(e.get(tcp_counter::duplicates), 3U);
        EXPECT_EQ(s.overlap_conflicts(), 0U);
        // Zero-window probe: the next byte alone (the right byte), then the
        // full segment starting at the same sequence number.
        feed(s, e, first, p, 1000, 1);
        feed(s, e, first, p, 1000, 1);
        feed(s, e, first, p, 1000, 1000);
        EXPECT_EQ(s.overlap_conflicts(), 0U);
        // Keep-alive while the last byte is still unread (first policy only: under
        // "last", a different later copy wins by definition).
        if (policy == overlap_policy::first) {
            feed(s, e, first, garbage, 1999, 1);
            EXPECT_EQ(s.overlap_conflicts(), 1U);
        }
        drain_recv_fixed(s, e, out, 1448);
        EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin(), p.begin() + 2000));
        EXPECT_TRUE(out.gaps.empty());
        release_all(s, e);
    }
}

TEST_F(Stream, OutOfWindowAndEmptySegmentsAreDropped) {
    const auto p = random_bytes(2000, 14);
    const seq32 first{0x12345678U};
    env_box e;
    tstream s{e};
    s.anchor(first, false);
    feed(s, e, first, p, 0, 0);  // no payload
    rte_mbuf* m = make_pkt(std::span(p).first(100));
    s.insert(first + 0x80000000U, 100, m, 0, e.env);  // 2^31 away: not comparable
    m = make_pkt(std::span(p).first(100));
    s.insert(first + 0x40000001U, 100, m, 0, e.env);  // past max_window
    m = make_pkt(std::span(p).first(100));
    s.insert(first - 0x40000100U, 100, m, 0, e.env);  // far behind
    e.drops.flush();
    EXPECT_EQ(e.get(tcp_counter::out_of_window), 3U);
    EXPECT_EQ(s.held_segments(), 0U);
    EXPECT_TRUE(s.poll().would_block());
    release_all(s, e);
}

TEST_F(Stream, MidstreamStartMovesBackToEarlierDataUntilConfirmed) {
    const auto p = random_bytes(2000, 15);
    const seq32 first{0xFFFFFF00U};
    env_box e;
    tstream s{e};
    s.anchor(first + 1000, true);  // picked up at byte 1000: provisional
    feed(s, e, first, p, 1000, 500);
    EXPECT_EQ(s.readable(), 0U) << "nothing is readable before in-order evidence";
    EXPECT_TRUE(s.poll().would_block());
    feed(s, e, first, p, 0, 1000);  // the first segment seen was out of order: the start moves back
    EXPECT_EQ(e.get(tcp_counter::pickup_moved_back), 1U);
    s.on_peer_ack(first + 1500, e.env);  // the peer's ACK: in-order evidence, the start is final
    EXPECT_EQ(s.readable(), 1500U);
    feed(s, e, first, p, 800, 400);  // a retransmission inside the stream: a duplicate
    EXPECT_EQ(e.get(tcp_counter::before_stream_start), 0U);
    read_out out;
    drain_recv_fixed(s, e, out, 1448);
    EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin(), p.begin() + 1500));
    EXPECT_TRUE(out.gaps.empty()) << gaps_text(out.gaps);
    EXPECT_TRUE(s.midstream());
    release_all(s, e);
}

TEST_F(Stream, MidstreamDataBeforeAConfirmedStartIsCounted) {
    const auto p = random_bytes(2000, 15);
    const seq32 first{0xFFFFFF00U};
    env_box e;
    tstream s{e};
    s.anchor(first + 1000, true);  // picked up at byte 1000
    feed(s, e, first, p, 1000, 500);
    s.on_peer_ack(first + 1000, e.env);  // the peer expects byte 1000: the start is right
    feed(s, e, first, p, 0, 1000);   // wholly before the start: not part of the stream
    feed(s, e, first, p, 800, 400);  // straddles it: the part from 1000 is
    EXPECT_EQ(e.get(tcp_counter::before_stream_start), 1U);
    EXPECT_EQ(e.get(tcp_counter::pickup_moved_back), 0U);
    read_out out;
    drain_recv_fixed(s, e, out, 1448);
    EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin() + 1000, p.begin() + 1500));
    release_all(s, e);
}

TEST_F(Stream, MidstreamPeerAckBeforeTheFirstByteMovesTheStartBack) {
    const auto p = random_bytes(2000, 17);
    const seq32 first{0x7FFFFF00U};
    env_box e;
    tstream s{e};
    s.anchor(first + 1000, true);
    feed(s, e, first, p, 1000, 500);
    s.on_peer_ack(first + 600, e.env);  // the peer still waits for byte 600: the stream goes on before
    EXPECT_EQ(e.get(tcp_counter::pickup_moved_back), 1U);
    EXPECT_EQ(s.readable(), 0U);  // [600, 1000) is a hole at the front now
    feed(s, e, first, p, 600, 400);
    read_out out;
    drain_recv_fixed(s, e, out, 999);
    EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin() + 600, p.begin() + 1500));
    release_all(s, e);
}

TEST_F(Stream, MidstreamStartIsConfirmedByTheGraceOrTheEnd) {
    const auto p = random_bytes(2000, 18);
    const seq32 first{0x100U};
    for (bool by_grace : {true, false}) {
        SCOPED_TRACE(by_grace ? "grace" : "end");
        stream_limits lim;
        lim.ack_grace_packets = by_grace ? 3 : stream_limits::no_grace_limit;
        env_box e(overlap_policy::first, lim);
        tstream s{e};
        s.anchor(first + 500, true);  // a one-sided capture: no ACK will come
        feed(s, e, first, p, 500, 500);
        for (int i = 0; i < 3; ++i) s.tick(e.env);
        EXPECT_EQ(s.readable(), by_grace ? 500U : 0U);
        s.end(end_reason::eof, e.env);
        read_out out;
        drain_recv_fixed(s, e, out, 1448);
        EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin() + 500, p.begin() + 1000));
        EXPECT_EQ(out.end, end_reason::eof);
        release_all(s, e);
    }
}

// The fuzz find of ../shared/fuzz-finds/reassembler-readable-mismatch: a frame
// cut by the snaplen whose missing tail lies wholly before the pickup point
// (stream offset < 0). The end of that range was computed unsigned from a
// negative offset and wrapped to ~2^64: the reader was told of a gap of almost
// 2^64 bytes, skipped it, and readable() and recv_into() disagreed from then on.
TEST_F(Stream, MissingRangeBeforeThePickupPointIsNotAGap) {
    const auto p = random_bytes(600, 16);
    const seq32 first{0xFFFFFFF0U};
    env_box e;
    tstream s{e};
    s.anchor(first + 100, true);  // picked up at byte 100
    s.on_peer_ack(first + 100, e.env);  // the start is confirmed
    s.declare_missing(first + 90, 5, e.env);  // a cut tail at [-10, -5): before offset 0
    EXPECT_EQ(s.poll().gap, 0U);
    EXPECT_TRUE(s.poll().would_block());
    feed(s, e, first, p, 100, 300);
    read_out out;
    drain_recv_fixed(s, e, out, 7);
    EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin() + 100, p.begin() + 400));
    EXPECT_TRUE(out.gaps.empty());
    EXPECT_EQ(s.offset(), 300U);
    release_all(s, e);
}

// ---------------------------------------------------------------------------
// recv_into never writes past the span and never copies across a gap.

TEST_F(Stream, RecvIntoBufferSizesWithGuardRegion) {
    const auto p = random_bytes(200000, 16);
    for (std::size_t bs : {std::size_t{1}, std::size_t{7}, std::size_t{1448}, std::size_t{65536}}) {
        SCOPED_TRACE("buffer " + std::to_string(bs));
        const seq32 first{0xFFFF0000U};
        env_box e;
        tstream s{e};
        s.anchor(first, false);
        rng r{bs};
        auto segs = cut(bs == 1 ? 20000 : p.size(), 1, 1448, r);
        std::vector<int> model(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(segs.back().first + segs.back().second));
        // Every 17th segment lost: gaps of every size in between data.
        std::vector<std::pair<std::uint64_t, std::uint32_t>> kept;
        for (std::size_t i = 0; i < segs.size(); ++i) {
            if (i % 17 == 5) {
                for (std::uint32_t k = 0; k < segs[i].second; ++k) model[segs[i].first + k] = -1;
            } else {
                kept.push_back(segs[i]);
            }
        }
        read_out out;
        for (std::size_t i = 0; i < kept.size(); ++i) {
            feed(s, e, first, p, kept[i].first, kept[i].second, 1 + static_cast<unsigned>(i % 3),
                 static_cast<std::uint32_t>(i % 54), i);
            if (i % 40 == 39) drain_recv_fixed(s, e, out, bs);
        }
        ack(s, e, first + static_cast<std::uint32_t>(model.size()));
        s.on_fin(first + static_cast<std::uint32_t>(model.size()), e.env);
        drain_recv_fixed(s, e, out, bs);
        const expectation x = expect_from(model, model.size());
        EXPECT_TRUE(out.data == x.data);
        EXPECT_EQ(out.gaps, x.gaps);
        EXPECT_EQ(out.end, end_reason::fin);
        release_all(s, e);
    }
}

// ---------------------------------------------------------------------------
// peek/consume: the same bytes as recv_into, and views that stay put.

TEST_F(Stream, PeekConsumeGivesTheSameBytesAsRecvInto) {
    const auto p = random_bytes(30000, 17);
    for (std::size_t views : {std::size_t{1}, std::size_t{3}, std::size_t{16}}) {
        SCOPED_TRACE("views " + std::to_string(views));
        read_out via_recv, via_peek;
        for (bool use_peek : {false, true}) {
            const seq32 first{0xFFFFFFF0U};
            env_box e;
            tstream s{e};
            s.anchor(first, false);
            rng r{views};
            auto segs = cut(p.size(), 100, 1448, r);
            segs.erase(segs.begin() + 4);  // one hole
            r.shuffle(segs);
            for (const auto& [off, len] : segs)
                feed(s, e, first, p, off, len, 1 + static_cast<unsigned>(r.below(3)),
                     static_cast<std::uint32_t>(r.below(40)), r.next());
            ack(s, e, first + static_cast<std::uint32_t>(p.size()));
            s.end(end_reason::rst, e.env);
            rng rr{views * 31};
            if (use_peek) drain_peek(s, e, via_peek, views, rr);
            else drain_recv(s, e, via_recv, [&rr](unsigned) { return rr.range(1, 3000); });
            release_all(s, e);
        }
        EXPECT_EQ(via_peek.data, via_recv.data);
        EXPECT_EQ(via_peek.gaps, via_recv.gaps);
        EXPECT_EQ(via_peek.end, end_reason::rst);
        EXPECT_EQ(via_recv.end, end_reason::rst);
        EXPECT_EQ(via_recv.gaps.size(), 1U);
    }
}

TEST_F(Stream, PeekViewsStayValidUntilTheStreamChanges) {
    const auto p = random_bytes(5000, 18);
    const seq32 first{0x7FFFFF00U};
    env_box e;
    tstream s{e};
    s.anchor(first, false);
    feed(s, e, first, p, 0, 1000, 3, 10, 1);  // one segment over three mbufs: three views
    feed(s, e, first, p, 1000, 1000, 1, 54, 2);
    feed(s, e, first, p, 3000, 1000);  // out of order: not visible
    std::array<std::span<const std::byte>, 8> v1{}, v2{};
    const std::size_t n1 = s.peek(v1);
    ASSERT_GE(n1, 2U);  // at least one view per segment, one per mbuf holding payload
    ASSERT_LE(n1, 4U);
    std::vector<std::uint8_t> seen;
    for (std::size_t k = 0; k < n1; ++k)
        for (std::byte b : std::span(v1[k])) seen.push_back(static_cast<std::uint8_t>(b));
    EXPECT_EQ(seen, std::vector<std::uint8_t>(p.begin(), p.begin() + 2000));
    // Calls that do not change the stream leave the views as they were.
    (void)s.poll();
    (void)s.readable();
    (void)s.offset();
    const std::size_t n2 = s.peek(v2);
    ASSERT_EQ(n2, n1);
    for (std::size_t k = 0; k < n1; ++k) {
        EXPECT_EQ(v1[k].data(), v2[k].data());
        EXPECT_EQ(v1[k].size(), v2[k].size());
    }
    // A partial consume moves the views forward inside the same buffers.
    const std::size_t k_consume = v1[0].size() > 10 ? 10 : v1[0].size() + 1;
    std::vector<std::span<const std::byte>> want;
    std::size_t skip = k_consume;
    for (std::size_t k = 0; k < n1; ++k) {
        if (skip >= v1[k].size()) {
            skip -= v1[k].size();
            continue;
        }
        want.push_back(v1[k].subspan(skip));
        skip = 0;
    }
    s.consume(k_consume, e.env);
    e.drops.flush();
    const std::size_t n3 = s.peek(v2);
    ASSERT_EQ(n3, want.size());
    for (std::size_t k = 0; k < n3; ++k) {
        EXPECT_EQ(v2[k].data(), want[k].data());
        EXPECT_EQ(v2[k].size(), want[k].size());
    }
    EXPECT_EQ(std::memcmp(v2[0].data(), p.data() + k_consume, v2[0].size()), 0);
    // consume() never goes past the readable bytes.
    s.consume(1u << 20, e.env);
    EXPECT_EQ(s.offset(), 2000U);
    EXPECT_EQ(s.peek(v2), 0U);
    EXPECT_EQ(s.delivered(), 2000U);
    release_all(s, e);
}

// ---------------------------------------------------------------------------
// Chained mbufs: recv_into, peek and overlap comparison across segment borders.

TEST_F(Stream, ChainedMbufsInRecvPeekAndOverlapComparison) {
    const auto p = random_bytes(6000, 19);
    auto q = random_bytes(6000, 19);
    q.at(1234) = static_cast<std::uint8_t>(q.at(1234) ^ 0x5A);  // one different byte, deep inside a chained copy
    for (auto policy : {overlap_policy::first, overlap_policy::last}) {
        for (unsigned segs_a = 1; segs_a <= 3; ++segs_a) {
            for (unsigned segs_b = 1; segs_b <= 3; ++segs_b) {
                SCOPED_TRACE(std::string(policy == overlap_policy::first ? "first" : "last") + " held in " +
                             std::to_string(segs_a) + " mbufs, copy in " + std::to_string(segs_b));
                const seq32 first{0xFFFFFFFFU - 500U};
                env_box e(policy);
                tstream s{e};
                s.anchor(first, false);
                // Held: [1000, 2000) over segs_a mbufs; same-byte copy [500, 2500) over segs_b.
                feed(s, e, first, p, 1000, 1000, segs_a, 33, segs_a * 7 + segs_b);
                feed(s, e, first, p, 500, 2000, segs_b, 21, segs_b * 5 + segs_a);
                EXPECT_EQ(s.overlap_conflicts(), 0U);
                // A copy that differs in one byte, split at other points.
                feed(s, e, first, q, 1200, 100, segs_b, 5, 3);
                EXPECT_EQ(s.overlap_conflicts(), 1U);
                feed(s, e, first, q, 1235, 100, segs_a, 50, 4);  // overlaps, same bytes
                EXPECT_EQ(s.overlap_conflicts(), 1U);
                feed(s, e, first, p, 0, 500, segs_a, 0, 5);
                s.on_fin(first + 2500, e.env);
                read_out out;
                if (segs_a == 2) {
                    rng r{segs_b};
                    drain_peek(s, e, out, 5, r);
                } else {
                    drain_recv(s, e, out, [segs_b](unsigned i) { return 1 + (i * 131 + segs_b) % 900; });
                }
                auto want = std::vector<std::uint8_t>(p.begin(), p.begin() + 2500);
                if (policy == overlap_policy::last) want[1234] = q[1234];
                EXPECT_EQ(out.data, want);
                EXPECT_EQ(out.end, end_reason::fin);
                release_all(s, e);
            }
        }
    }
}

TEST_F(Stream, SegmentCapDropsAndDeclaresAGapButInOrderDataFlows) {
    const auto p = random_bytes(40000, 20);
    stream_limits lim;
    lim.max_segments = 8;
    const seq32 first{0};
    env_box e(overlap_policy::first, lim);
    tstream s{e};
    s.anchor(first, false);
    // Eight segments held past a hole [0, 1000): the cap is reached.
    for (std::uint64_t off = 1000; off < 9000; off += 1000) feed(s, e, first, p, off, 1000);
    EXPECT_EQ(e.get(tcp_counter::stream_cap_drops), 0U);
    // Out of order past the cap: dropped, and the hole in front declared a gap.
    feed(s, e, first, p, 9000, 1000);
    EXPECT_EQ(e.get(tcp_counter::stream_cap_drops), 1U);
    EXPECT_EQ(e.get(tcp_counter::cap_gaps), 1U);
    // The segment the reader can take at once is accepted over the cap: it is
    // how the stream makes progress.
    feed(s, e, first, p, 0, 1000);
    EXPECT_EQ(e.get(tcp_counter::stream_cap_drops), 1U);
    read_out out;
    drain_recv_fixed(s, e, out, 65536);
    EXPECT_EQ(out.data, std::vector<std::uint8_t>(p.begin(), p.begin() + 9000));
    EXPECT_TRUE(out.gaps.empty()) << gaps_text(out.gaps);
    s.end(end_reason::timeout, e.env);
    drain_recv_fixed(s, e, out, 65536);
    EXPECT_EQ(out.gaps, (gap_list{{9000, 1000}}));
    EXPECT_EQ(out.end, end_reason::timeout);
    release_all(s, e);
}

TEST_F(Stream, SegmentPoolExhaustionDropsAndReturnsEveryMbuf) {
    const auto p = random_bytes(20000, 21);
    for (auto policy : {overlap_policy::first, overlap_policy::last}) {
        const seq32 first{0xFFFFFFF0U};
        env_box e(policy);
        segment_pool tiny(4, SOCKET_ID_ANY);
        e.env.pool = &tiny;
        tstream s{e};
        s.anchor(first, false);
        for (std::uint64_t off = 1000; off < 9000; off += 1000) feed(s, e, first, p, off, 1000);
        feed(s, e, first, p, 500, 3000, 2, 0, 1);  // would need pieces: pool empty
        EXPECT_GT(e.get(tcp_counter::segment_pool_exhausted), 0U);
        EXPECT_EQ(tiny.used(), 4U);
        s.end(end_reason::evicted, e.env);
        read_out out;
        drain_recv_fixed(s, e, out, 1448);
        EXPECT_EQ(out.end, end_reason::evicted);
        s.release(e.env);
        e.drops.flush();
        EXPECT_EQ(tiny.used(), 0U);
        EXPECT_EQ(pool_free(), pool_size);
    }
}

// ---------------------------------------------------------------------------
// Property test: thousands of seeded random cases against a byte-level model.

struct property_case {
    std::uint64_t seed;
    overlap_policy policy;
    bool conflicting;  // re-sent ranges carry different bytes (model decides who wins)
    bool ack_end;      // end with an ACK of everything + FIN (else end(eof))
};

unsigned property_cases() {
    if (const char* v = std::getenv("RXINTO_PROPERTY_CASES"); v != nullptr && *v != '\0')
        return static_cast<unsigned>(std::strtoul(v, nullptr, 10));
#if defined(__SANITIZE_ADDRESS__)
    return 800;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 800;
#else
    return 3000;
#endif
#else
    return 3000;
#endif
}

/// One run of one case. `use_peek` chooses the reader; everything else comes from the seed.
void run_property_case(const property_case& pc, bool use_peek) {
    rng r{pc.seed};
    std::uint64_t len = r.chance(10) ? r.range(1, 64) : r.range(1, 24000);
    const seq32 isn{r.chance(30) ? static_cast<std::uint32_t>(0xFFFFFFFFU - r.below(30000))
                                 : static_cast<std::uint32_t>(r.next())};
    const seq32 first = isn + 1;
    const std::uint32_t max_seg = r.chance(20) ? static_cast<std::uint32_t>(r.range(1, 50))
                                               : static_cast<std::uint32_t>(r.range(100, 1460));
    // Tiny segments: keep the packet count (and the test pool) in bounds.
    if (max_seg < 50 && len > 40ULL * max_seg) len = 40ULL * max_seg + r.below(40);
    const auto payload = random_bytes(len, pc.seed ^ 0xABCDEF);
    auto segs = cut(len, 1, max_seg, r);
    const unsigned drop_pct = r.chance(30) ? 0 : static_cast<unsigned>(r.range(1, 30));
    const unsigned dup_pct = static_cast<unsigned>(r.range(0, 40));

    struct delivery {
        std::uint64_t off;
        std::uint32_t len;
        bool alt;  // carries the alternative bytes
    };
    std::vector<delivery> plan;
    for (const auto& [off, l] : segs) {
        if (r.chance(drop_pct)) continue;  // never captured
        plan.push_back({off, l, false});
        if (r.chance(dup_pct)) plan.push_back({off, l, pc.conflicting && r.chance(50)});
    }
    // Re-sent ranges that cross the original segmentation (a retransmission
    // with a different MSS): same bytes, or different ones when conflicting.
    const auto extra = static_cast<unsigned>(r.below(segs.size() / 4 + 2));
    for (unsigned k = 0; k < extra; ++k) {
        const std::uint64_t a = r.below(len);
        const std::uint64_t b = std::min<std::uint64_t>(len, a + r.range(1, 2 * max_seg));
        plan.push_back({a, static_cast<std::uint32_t>(b - a), pc.conflicting && r.chance(50)});
    }
    // Reordering: a full shuffle, local swaps, or in order.
    const auto how = r.below(3);
    if (how == 0) r.shuffle(plan);
    else if (how == 1)
        for (std::size_t i = 0; i + 1 < plan.size(); ++i)
            if (r.chance(30)) std::swap(plan[i], plan[i + 1 + r.below(std::min<std::size_t>(4, plan.size() - i - 1))]);

    std::vector<std::uint8_t> alt = payload;
    for (auto& b : alt) b = static_cast<std::uint8_t>(b ^ 0x81);

    std::vector<int> model(len, -1);
    std::uint64_t highest = 0;
    // Limits out of the way: this test is about ordering, not caps (those have their own tests).
    stream_limits lim;
    lim.max_segments = 65536;
    env_box e(pc.policy, lim);
    tstream s{e};
    s.anchor(first, false);
    struct release_guard {  // every mbuf goes back, whichever way this returns
        tstream& s;
        env_box& e;
        ~release_guard() {
            s.release(e.env);
            e.drops.flush();
        }
    } guard{s, e};
    read_out out;
    rng rr{pc.seed * 3 + (use_peek ? 1 : 0)};
    const bool read_while_feeding = r.chance(50);
    auto read_some = [&] {
        if (use_peek) drain_peek(s, e, out, 1 + rr.below(16), rr);
        else drain_recv(s, e, out, [&rr](unsigned) {
            return rr.chance(30) ? rr.range(1, 16) : rr.range(1, 70000);
        });
    };
    for (const delivery& d : plan) {
        // The model: bytes before the read position are final; otherwise the
        // policy says whether this copy wins.
        for (std::uint64_t i = d.off; i < d.off + d.len; ++i) {
            if (i < s.offset()) continue;
            if (model[i] < 0 || pc.policy == overlap_policy::last) model[i] = d.alt ? alt[i] : payload[i];
        }
        highest = std::max(highest, d.off + d.len);
        feed(s, e, first, d.alt ? alt : payload, d.off, d.len, 1 + static_cast<unsigned>(r.below(3)),
             static_cast<std::uint32_t>(r.below(70)), r.next());
        if (::testing::Test::HasFatalFailure()) return;
        if (read_while_feeding && r.chance(30)) read_some();
        if (::testing::Test::HasFatalFailure()) return;
    }
    std::uint64_t limit = highest;
    if (pc.ack_end) {
        ack(s, e, first + static_cast<std::uint32_t>(len));
        s.on_fin(first + static_cast<std::uint32_t>(len), e.env);
        limit = len;
    } else {
        s.end(end_reason::eof, e.env);
    }
    read_some();
    if (::testing::Test::HasFatalFailure()) return;
    const expectation x = expect_from(model, limit);
    EXPECT_TRUE(out.data == x.data) << "delivered " << out.data.size() << " bytes, expected " << x.data.size();
    EXPECT_TRUE(out.gaps == x.gaps) << "got " << gaps_text(out.gaps) << " expected " << gaps_text(x.gaps);
    EXPECT_EQ(e.get(tcp_counter::stream_cap_drops) + e.get(tcp_counter::segment_pool_exhausted) +
                  e.get(tcp_counter::cap_gaps),
              0U);
    EXPECT_EQ(out.end, pc.ack_end ? end_reason::fin : end_reason::eof);
    EXPECT_EQ(s.delivered(), x.data.size());
    std::uint64_t gap_total = 0;
    for (const auto& g : x.gaps) gap_total += g.second;
    EXPECT_EQ(s.gap_bytes(), gap_total);
    if (!pc.conflicting) {
        EXPECT_EQ(s.overlap_conflicts(), 0U);
    }
    s.release(e.env);
    e.drops.flush();
    EXPECT_EQ(e.segs.used(), 0U);
    EXPECT_EQ(pool_free(), pool_size);
}

TEST_F(Stream, PropertyRandomSegmentationReorderDuplicateDrop) {
    const unsigned n = property_cases();
    const std::uint64_t base = std::getenv("RXINTO_PROPERTY_SEED") != nullptr
                                   ? std::strtoull(std::getenv("RXINTO_PROPERTY_SEED"), nullptr, 10)
                                   : 1;
    unsigned failed = 0;
    for (unsigned i = 0; i < n && failed < 5; ++i) {
        const std::uint64_t seed = base + i;
        rng r{seed * 0x9E37};
        property_case pc{seed, r.chance(50) ? overlap_policy::first : overlap_policy::last, r.chance(25),
                         r.chance(60)};
        for (bool use_peek : {false, true}) {
            const bool before = HasFailure();
            {
                SCOPED_TRACE("property case seed " + std::to_string(seed) + (use_peek ? " (peek)" : " (recv_into)") +
                             " policy " + (pc.policy == overlap_policy::first ? "first" : "last") +
                             (pc.conflicting ? " conflicting" : "") + (pc.ack_end ? " ack+fin" : " eof") +
                             "; rerun with RXINTO_PROPERTY_SEED=" + std::to_string(seed) +
                             " RXINTO_PROPERTY_CASES=1");
                run_property_case(pc, use_peek);
            }
            if (!before && HasFailure()) {
                ++failed;
                std::fprintf(stderr, "property case failed: seed %llu\n", static_cast<unsigned long long>(seed));
                if (pool_free() != pool_size) return;  // leaked: later cases would fail for the wrong reason
            }
        }
    }
    RecordProperty("cases", static_cast<int>(n));
}

}  // namespace
