// The one place that frees rte_mbufs on the data path.
//
// Packets that are done with (dropped, fully consumed, trimmed away) are added
// to a drop_list and freed with one rte_pktmbuf_free_bulk() per burst (DPDK's
// ip_frag "death row" pattern): the pool's per-lcore cache is touched once per
// burst instead of once per packet. Each add() transfers one reference: a
// segment shared by several stream pieces holds one reference per piece
// (rte_pktmbuf_refcnt_update) and rte_pktmbuf_free_bulk drops one per entry.
//
// Lcore: one drop_list per worker, used only by that worker's lcore.
#pragma once

#include <array>
#include <cstdint>

#include <rte_mbuf.h>

namespace rxinto::mbuf {

class drop_list {
public:
    static constexpr std::uint32_t capacity = 512;

    drop_list() = default;
    drop_list(const drop_list&) = delete;
    drop_list& operator=(const drop_list&) = delete;
    ~drop_list() { flush(); }

    /// Takes one reference of m; frees it at the next flush (or now, if full).
    void add(rte_mbuf* m) noexcept {
        if (n_ == capacity) flush();
        v_[n_++] = m;
    }

    /// Frees every mbuf added since the last flush, in one call.
    void flush() noexcept {
        if (n_ != 0) {
            rte_pktmbuf_free_bulk(v_.data(), n_);
            freed_ += n_;
            n_ = 0;
        }
    }

    [[nodiscard]] std::uint32_t pending() const noexcept { return n_; }
    [[nodiscard]] std::uint64_t freed() const noexcept { return freed_; }

private:
    std::array<rte_mbuf*, capacity> v_{};
    std::uint32_t n_ = 0;
    std::uint64_t freed_ = 0;
};

/// Adds `n` more references to m (one per extra holder). m may be a chain:
/// freeing a packet drops one reference of every segment, so every segment
/// gets the extra references (rte_pktmbuf_refcnt_update), not only the head.
inline void add_refs(rte_mbuf* m, std::int16_t n) noexcept { rte_pktmbuf_refcnt_update(m, n); }

}  // namespace rxinto::mbuf
