// Software dispatch for ports with fewer rx queues than workers (the virtual
// devices): one dispatcher lcore polls the ports, hashes every packet
// symmetrically and hands it to a worker through that worker's rte_ring,
// burst by burst. Both directions of a connection, and every IP fragment of a
// datagram, reach the same worker, so each worker still owns its flows alone.
//
// The hash covers the IP addresses (normalised, so it is symmetric) and the
// VLAN ids, not the ports: fragments after the first carry no ports, and they
// must reach the worker that owns their connection. Frames that are not IP go
// to worker 0. The reassembler recomputes the same hash for every TCP packet
// it receives and counts those that reached the wrong worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/net/parse.hpp"
#include "rxinto/base/counter.hpp"

struct rte_ring;

namespace rxinto::capture {

struct alignas(RTE_CACHE_LINE_SIZE) DispatchCounters {
    stats::counter packets;     ///< packets handed to a worker
    stats::counter ring_full;   ///< dropped: the worker's ring was full
    stats::counter polls;
    stats::counter empty_polls;
};

struct Dispatcher {
    unsigned lcore = 0;
    std::vector<QueueRef> queues;             ///< every port queue (counted as the ports' rx)
    std::vector<net::link_type> links;        ///< by port index: how frames start
    std::vector<std::uint16_t> port_index_of; ///< ethdev port id -> port index
    std::vector<rte_ring*> rings;             ///< one per worker, single producer
    std::uint16_t burst = 32;
    /// Every port replays a capture: wait for a full ring instead of dropping.
    bool lossless = false;
    const std::atomic<bool>* stop = nullptr;
    DispatchCounters counters;
    /// Per-worker staging for one burst, sized at set-up (rings.size() x max_burst).
    std::vector<std::vector<rte_mbuf*>> stage;
    std::vector<std::uint16_t> staged;
};

/// rte_eal_remote_launch entry point: `arg` is a Dispatcher*. Polls until *stop.
int dispatcher_main(void* arg);

}  // namespace rxinto::capture
