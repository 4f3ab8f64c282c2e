// The time of received packets, for the workers (timeouts, pcapng stamps).
//
// A replayed capture carries its own time: rxinto's file reader
// (port/file_port) puts each record's time, in nanoseconds, in the mbuf rx
// timestamp dynamic field, and a replay follows capture time. (A port of
// DPDK's own net_pcap is not a replay here: it is timed like a live port.) A live port gets the TSC, converted to wall-clock nanoseconds
// once per burst (tsc_clock: no system call on the worker).
#pragma once

#include <cstdint>
#include <vector>

#include "rxinto/capture/pcapng_writer.hpp"

struct rte_mbuf;

namespace rxinto::capture {

class packet_clock {
public:
    /// replay[i]: port index i replays a capture (its mbufs carry the record time).
    explicit packet_clock(std::vector<bool> replay);

    /// Wall-clock ns now (one TSC read).
    [[nodiscard]] std::uint64_t now_ns() const noexcept { return clock_.now_ns(); }
    /// The time of m, received on port index `port_index`: its capture record's
    /// time for a replay, else `live_ns`.
    [[nodiscard]] std::uint64_t of(const rte_mbuf* m, std::uint16_t port_index,
                                   std::uint64_t live_ns) const noexcept;

private:
    std::vector<bool> replay_;
    int ts_offset_ = -1;
    std::uint64_t ts_flag_ = 0;
    tsc_clock clock_;
};

}  // namespace rxinto::capture
