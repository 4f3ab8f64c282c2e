// Helpers shared by the EAL tests (test_stream, test_reassembler,
// test_fragments): test mempools with exact free counts, a seeded generator,
// mbufs (single or chained) built from bytes, and for the reassembler tests a
// listener that drains every stream into records, a harness that feeds frames
// in bursts, and the comparison of a direction with the generator's truth.
// Header-only: every function is inline (or a template).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
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
#include "rxinto/tcp/reassembler.hpp"

// ---------------------------------------------------------------------------
// Global operator new/delete, replaced by a test that watches the heap.

/// Replaces every form of the global operator new and delete; for the one
/// translation unit of a binary that does, at global scope. alloc(n) returns
/// a block or null (the throwing forms then throw std::bad_alloc); release(p)
/// frees a block of alloc's (or null).
#define RXT_REPLACE_GLOBAL_NEW(alloc, release)                                                   \
    namespace {                                                                                  \
    void* rxt_new_or_throw(std::size_t n) {                                                      \
        if (void* p = alloc(n)) return p;                                                        \
        throw std::bad_alloc();                                                                  \
    }                                                                                            \
    }                                                                                            \
    void* operator new(std::size_t n) { return rxt_new_or_throw(n); }                            \
    void* operator new[](std::size_t n) { return rxt_new_or_throw(n); }                          \
    void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return alloc(n); }       \
    void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return alloc(n); }     \
    void operator delete(void* p) noexcept { release(p); }                                       \
    void operator delete[](void* p) noexcept { release(p); }                                     \
    void operator delete(void* p, std::size_t) noexcept { release(p); }                          \
    void operator delete[](void* p, std::size_t) noexcept { release(p); }                        \
    void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }                \
    void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }

namespace rxinto::eal_test {

// ---------------------------------------------------------------------------
// Pools.

/// A packet mbuf pool of n mbufs with cache size 0: the ring holds every free
/// mbuf, so counts are exact.
inline rte_mempool* make_pool(const char* name, unsigned n) {
    return rte_pktmbuf_pool_create(name, n, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
}

/// Free mbufs in a pool, not capped at its size (rte_mempool_avail_count is):
/// an mbuf freed twice makes this larger than the pool. The default mempool
/// ops keep free objects in an rte_ring (pool_data); with no cache that ring
/// count is exact.
inline unsigned free_in(const rte_mempool* mp) {
    return rte_ring_count(static_cast<const rte_ring*>(mp->pool_data));
}

/// A fixture for tests that must leave every mbuf of Pool() in it: the pool
/// is full before each test and again after it.
template <rte_mempool* (*Pool)(), unsigned Size>
class full_pool_test : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(Pool(), nullptr);
        ASSERT_EQ(free_in(Pool()), Size) << "an earlier test leaked mbufs";
    }
    void TearDown() override { EXPECT_EQ(free_in(Pool()), Size) << "mbufs not back in the pool"; }
};

// ---------------------------------------------------------------------------
// Random numbers.

/// splitmix64: the same sequence everywhere (no std::*_distribution).
struct rng {
    std::uint64_t s;
    std::uint64_t next() noexcept {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }
    std::uint64_t range(std::uint64_t lo, std::uint64_t hi) noexcept { return lo + below(hi - lo + 1); }
    bool chance(unsigned pct) noexcept { return below(100) < pct; }
    template <class T>
    void shuffle(std::vector<T>& v) noexcept {
        for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
    }
};

// ---------------------------------------------------------------------------
// Mbufs from bytes.

/// Builds one packet as a chain of mbufs, a segment at a time. Whatever it
/// holds when destroyed (a packet never released) goes back to the pool.
/// Allocates nothing on the heap.
class mbuf_chain {
public:
    explicit mbuf_chain(rte_mempool* mp) noexcept : mp_(mp) {}
    mbuf_chain(const mbuf_chain&) = delete;
    mbuf_chain& operator=(const mbuf_chain&) = delete;
    ~mbuf_chain() {
        if (head_ != nullptr) rte_pktmbuf_free(head_);
    }

    /// Appends a segment of n bytes and returns where they go; null when the
    /// pool is empty or n does not fit an mbuf.
    std::uint8_t* add(std::uint32_t n) noexcept {
        rte_mbuf* m = rte_pktmbuf_alloc(mp_);
        if (m == nullptr) return nullptr;
        auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(n)));
        if (p == nullptr) {
            rte_pktmbuf_free(m);
            return nullptr;
        }
        if (head_ == nullptr) {
            head_ = m;
        } else if (rte_pktmbuf_chain(head_, m) != 0) {
            rte_pktmbuf_free(m);
            return nullptr;
        }
        return p;
    }
    /// The packet, now the caller's.
    rte_mbuf* release() noexcept { return std::exchange(head_, nullptr); }

private:
    rte_mempool* mp_;
    rte_mbuf* head_ = nullptr;
};

/// Copies bytes into one mbuf; null if the pool is empty or they do not fit.
inline rte_mbuf* bytes_to_mbuf(rte_mempool* mp, std::span<const std::uint8_t> f) {
    mbuf_chain c(mp);
    std::uint8_t* p = c.add(static_cast<std::uint32_t>(f.size()));
    if (p == nullptr) return nullptr;
    if (!f.empty()) std::memcpy(p, f.data(), f.size());
    return c.release();
}

/// Copies a frame into 1..max_segs chained mbufs (cut points from r); null if
/// the pool is empty.
inline rte_mbuf* frame_to_mbuf(rte_mempool* mp, std::span<const std::uint8_t> f, unsigned max_segs, rng& r) {
    unsigned nsegs = 1 + static_cast<unsigned>(r.below(max_segs));
    const auto room = static_cast<unsigned>(RTE_MBUF_DEFAULT_DATAROOM);
    nsegs = std::max<unsigned>(nsegs, static_cast<unsigned>((f.size() + room - 1) / room));
    nsegs = std::max<unsigned>(1, std::min<unsigned>(nsegs, static_cast<unsigned>(f.size())));
    mbuf_chain c(mp);
    std::size_t pos = 0;
    for (unsigned i = 0; i < nsegs; ++i) {
        const std::size_t left = f.size() - pos;
        const std::size_t rest = nsegs - 1 - i;
        // Each piece fits one mbuf and leaves at least one byte for each later piece.
        const std::size_t lo = left > rest * room ? left - rest * room : 1;
        const std::size_t hi = std::min<std::size_t>(left - rest, room);
        std::size_t n = rest == 0 ? left : lo + r.below(hi - lo + 1);
        if (n > room) return nullptr;
        std::uint8_t* p = c.add(static_cast<std::uint32_t>(n));
        if (p == nullptr) return nullptr;
        if (n != 0) std::memcpy(p, f.data() + pos, n);
        pos += n;
    }
    return c.release();
}

// ---------------------------------------------------------------------------
// Reassembler tests: streams read into records, frames fed in bursts.

using frames_t = std::vector<std::vector<std::uint8_t>>;
using gap_list = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

/// The frames of a generated capture.
inline frames_t frames_of(const gen::Capture& cap) {
    frames_t v;
    v.reserve(cap.frames.size());
    for (const auto& f : cap.frames) v.push_back(f.bytes);
    return v;
}

/// Adjacent gaps as one.
inline gap_list merged(const gap_list& g) {
    gap_list out;
    for (const auto& x : g) {
        if (!out.empty() && out.back().first + out.back().second == x.first) out.back().second += x.second;
        else out.push_back(x);
    }
    return out;
}

inline std::string gaps_text(const gap_list& g) {
    std::string s;
    for (std::size_t i = 0; i < g.size() && i < 30; ++i)
        s += "[" + std::to_string(g[i].first) + "," + std::to_string(g[i].second) + "]";
    return s.empty() ? "none" : s;
}

/// What the application saw of one direction.
struct dir_rec {
    std::vector<std::uint8_t> data;
    gap_list gaps;
    tcp::end_reason end = tcp::end_reason::none;
    std::string src, dst;
    std::uint16_t sport = 0, dport = 0;
    std::uint64_t conflicts = 0;
};

struct conn_rec {
    std::uint64_t id = 0;
    bool midstream = false;
    bool released = false;
    std::int8_t client_dir = -1;
    dir_rec dir[2];
};

/// Drains every readable stream into records: recv_into into one fixed 64 KiB
/// buffer, gaps recorded (offset, length) and skipped.
class collector : public tcp::listener {
public:
    tcp::reassembler* r = nullptr;
    bool eager = true;  ///< read on every on_readable and after every burst (else at release only)
    std::deque<conn_rec> recs;
    std::vector<tcp::connection*> live;

    void on_open(tcp::connection& c) noexcept override {
        recs.emplace_back();
        conn_rec& rec = recs.back();
        rec.id = c.id();
        rec.midstream = c.midstream();
        for (flow::direction d : flow::both_directions) {
            dir_rec& dr = rec.dir[flow::index_of(d)];
            c.endpoints(d, dr.src, dr.sport, dr.dst, dr.dport);
        }
        c.user.set(&rec);
        live.push_back(&c);
    }
    void on_readable(tcp::connection& c) noexcept override {
        if (eager) drain(c);
    }
    void on_closed(tcp::connection& c) noexcept override {
        if (eager) drain(c);
    }
    void on_release(tcp::connection& c) noexcept override {
        drain(c);
        auto* rec = c.user.get<conn_rec>();
        if (rec == nullptr) {
            ADD_FAILURE() << "connection " << c.id() << " released without its record (no on_open?)";
            return;
        }
        rec->released = true;
        rec->client_dir = c.client() ? static_cast<std::int8_t>(flow::index_of(*c.client())) : std::int8_t{-1};
        rec->midstream = c.midstream();
        for (flow::direction d : flow::both_directions)
            rec->dir[flow::index_of(d)].conflicts = c.in(d).overlap_conflicts();
        live.erase(std::remove(live.begin(), live.end(), &c), live.end());
        c.user.reset();
    }
    void drain_all() {
        for (tcp::connection* c : live) drain(*c);
    }
    void drain(tcp::connection& c) noexcept {
        auto* rec = c.user.get<conn_rec>();
        if (rec == nullptr) {
            ADD_FAILURE() << "connection " << c.id() << " read before on_open";
            return;
        }
        for (flow::direction d : flow::both_directions) {
            dir_rec& out = rec->dir[flow::index_of(d)];
            tcp::stream& s = c.in(d);
            for (;;) {
                const std::uint64_t readable = s.readable();
                const tcp::recv_result res = s.recv_into(buf_);
                if (res.bytes != std::min<std::uint64_t>(readable, buf_.size())) ADD_FAILURE() << "recv_into copied " << res.bytes << " of " << readable << " readable bytes";
                const auto* p = reinterpret_cast<const std::uint8_t*>(buf_.data());
                out.data.insert(out.data.end(), p, p + res.bytes);
                if (res.gap != 0) {
                    out.gaps.emplace_back(s.offset(), res.gap);
                    s.skip_gap();
                    continue;
                }
                if (res.end != tcp::end_reason::none) {
                    out.end = res.end;
                    break;
                }
                if (res.bytes == 0) break;
            }
        }
    }

private:
    std::array<std::byte, 65536> buf_{};
};

/// A reassembler on pool mp with a collector as its listener.
struct reassembler_harness {
    std::unique_ptr<tcp::reassembler> r;
    collector col;
    rte_mempool* mp = nullptr;
    std::uint64_t now = 1'000'000'000ULL;

    /// The reassembler is named name_prefix and a number unique in the process.
    reassembler_harness(const tcp::tcp_config& cfg, const std::string& name_prefix, rte_mempool* p) : mp(p) {
        static unsigned n = 0;
        auto res = tcp::reassembler::create(cfg, name_prefix + std::to_string(n++), 0, mp, SOCKET_ID_ANY);
        if (!res.ok()) {
            ADD_FAILURE() << res.error().message;
            return;
        }
        r = std::move(*res);
        col.r = r.get();
        r->set_listener(&col);
    }
    reassembler_harness(const reassembler_harness&) = delete;
    reassembler_harness& operator=(const reassembler_harness&) = delete;
    // The reassembler calls the listener until it is gone: destroy it first.
    ~reassembler_harness() {
        if (r) r->finish();
        r.reset();
    }

    /// Frames in bursts of up to `burst` mbufs (made by to_mbuf(frame)), the
    /// clock advanced step_ns a frame; after each burst the application reads
    /// (when the collector is eager) and, with `flush`, the reassembler gives
    /// back at once what the reads released.
    template <class ToMbuf>
    void feed_bursts(const frames_t& frames, std::size_t burst, std::uint64_t step_ns, bool flush, ToMbuf to_mbuf) {
        std::vector<rte_mbuf*> b(burst);
        std::size_t i = 0;
        while (i < frames.size()) {
            std::uint16_t n = 0;
            while (n < burst && i < frames.size()) {
                rte_mbuf* m = to_mbuf(frames[i++]);
                ASSERT_NE(m, nullptr) << "test pool exhausted";
                b[n++] = m;
            }
            r->process_burst(b.data(), n, tcp::port_link{}, now);
            now += step_ns * n;
            if (col.eager) col.drain_all();
            if (flush) r->flush();
        }
    }

    /// finish(), then no flow and no segment left, and expected_free mbufs in
    /// the pool once the reassembler is gone; with held_check, already right
    /// after finish().
    void finish_and_check_pool(unsigned expected_free, bool held_check) {
        r->finish();
        EXPECT_EQ(r->active_flows(), 0U);
        EXPECT_EQ(r->segments_in_use(), 0U);
        if (held_check) {
            EXPECT_EQ(free_in(mp), expected_free) << "mbufs held after finish()";
        }
        r.reset();
        EXPECT_EQ(free_in(mp), expected_free) << "mbufs not back in the pool";
    }
    std::uint64_t count(tcp::tcp_counter c) const { return r->counters().get(c); }
    std::uint64_t parse_count(net::parse_status s) const { return r->parse_counters().get(s); }
};

/// The one direction whose endpoints are the truth's (null if none or several);
/// its connection in *conn when asked.
inline const dir_rec* find_dir(const std::deque<conn_rec>& recs, const gen::StreamTruth& t,
                               const conn_rec** conn = nullptr) {
    const dir_rec* found = nullptr;
    for (const conn_rec& c : recs)
        for (const dir_rec& d : c.dir)
            if (d.src == t.src && d.sport == t.sport && d.dst == t.dst && d.dport == t.dport) {
                if (found != nullptr) return nullptr;  // ambiguous
                found = &d;
                if (conn != nullptr) *conn = &c;
            }
    return found;
}

/// Compares one direction with the truth: the payload from `from` on (0 with a
/// handshake; the first byte seen when picked up mid-way), minus the lost
/// ranges; gaps == lost ranges (shifted to offsets from `from`); the end.
inline void expect_truth(const dir_rec& d, const gen::StreamTruth& t, std::uint64_t from = 0,
                         tcp::end_reason end = tcp::end_reason::fin) {
    std::vector<std::uint8_t> want;
    gap_list want_gaps;
    std::uint64_t pos = from;
    for (const auto& [off, len] : t.lost) {
        const std::uint64_t lo = std::max(off, from);
        const std::uint64_t hi = off + len;
        if (hi <= from) continue;
        want.insert(want.end(), t.payload.begin() + static_cast<std::ptrdiff_t>(pos),
                    t.payload.begin() + static_cast<std::ptrdiff_t>(lo));
        want_gaps.emplace_back(lo - from, hi - lo);
        pos = hi;
    }
    want.insert(want.end(), t.payload.begin() + static_cast<std::ptrdiff_t>(std::max(pos, from)), t.payload.end());
    EXPECT_EQ(d.data.size(), want.size());
    EXPECT_TRUE(d.data == want) << "bytes differ";
    EXPECT_EQ(merged(d.gaps), want_gaps) << "got " << gaps_text(d.gaps) << " want " << gaps_text(want_gaps);
    EXPECT_EQ(d.end, end);
}

}  // namespace rxinto::eal_test
