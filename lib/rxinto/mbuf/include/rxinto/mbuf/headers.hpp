// The first bytes of a frame, for its header parsers (the reassembler's and
// the endpoint's): in place when the first segment is the whole frame, else
// read into the caller's scratch with rte_pktmbuf_read (the headers of a
// chained frame may straddle segments; it returns a pointer into the mbuf
// when they do not).
#pragma once

#include <algorithm>
#include <cstdint>

#include <rte_mbuf.h>

namespace rxinto::mbuf {

struct header_view {
    const std::uint8_t* data = nullptr;  ///< null: the frame is shorter than it says
    std::uint32_t len = 0;               ///< bytes at data
};

/// Up to `window` bytes of m's headers (all of a single-segment frame);
/// scratch must hold `window` bytes.
[[nodiscard]] inline header_view frame_headers(const rte_mbuf* m, std::uint8_t* scratch,
                                               std::uint32_t window) noexcept {
    if (m->nb_segs <= 1) return {rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len};
    const std::uint32_t n = std::min(rte_pktmbuf_pkt_len(m), window);
    return {static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, n, scratch)), n};
}

}  // namespace rxinto::mbuf
