#include "rxinto/capture/packet_clock.hpp"

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

namespace rxinto::capture {

packet_clock::packet_clock(std::vector<bool> replay) : replay_(std::move(replay)) {
    ts_offset_ = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
    const int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
    ts_flag_ = bit >= 0 ? (1ULL << static_cast<unsigned>(bit)) : 0;
    if (ts_flag_ == 0) ts_offset_ = -1;
}

std::uint64_t packet_clock::of(const rte_mbuf* m, std::uint16_t port_index, std::uint64_t live_ns) const noexcept {
    if (ts_offset_ >= 0 && port_index < replay_.size() && replay_[port_index] && (m->ol_flags & ts_flag_) != 0) {
        // rxinto's file reader: the record's time in nanoseconds.
        return *RTE_MBUF_DYNFIELD(m, ts_offset_, const rte_mbuf_timestamp_t*);
    }
    return live_ns;
}

}  // namespace rxinto::capture
