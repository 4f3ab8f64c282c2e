// The per-lcore receive loop (data path).
//
// One Worker per worker lcore polls the (port, queue) pairs it owns, in
// bursts, and hands every burst to a BurstSink, which takes ownership of the
// mbufs. Nothing here allocates, logs or makes a syscall: counters are plain
// per-queue/per-worker cache lines written by their one owner and read (racily
// but tear-free, through relaxed atomics) by the control lcore.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include <rte_common.h>

#include "rxinto/base/counter.hpp"

struct rte_mbuf;
struct rte_ring;

namespace rxinto::capture {

inline constexpr std::uint16_t max_burst = 512;

using stats::counter;

struct alignas(RTE_CACHE_LINE_SIZE) QueueCounters {
    counter packets;
    counter bytes;  ///< frame bytes as received (sum of pkt_len)
};

struct alignas(RTE_CACHE_LINE_SIZE) WorkerCounters {
    counter packets;
    counter bytes;
    counter polls;        ///< rx_burst calls
    counter empty_polls;  ///< rx_burst calls that returned nothing
};

struct QueueRef {
    std::uint16_t port_index = 0;  ///< index in Settings::ports
    std::uint16_t port_id = 0;     ///< ethdev port id
    std::uint16_t queue = 0;
    QueueCounters* counters = nullptr;
    /// Software dispatch: this worker's ring from the dispatcher, polled
    /// instead of (port_id, queue). Packets from any port; mbuf->port says which.
    rte_ring* ring = nullptr;
};

/// Receives each non-empty burst; owns the mbufs from the call on, whatever it
/// does with them. Called on the worker's lcore only; must not block.
class BurstSink {
public:
    virtual ~BurstSink() = default;
    virtual void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept = 0;
};

/// Frees every burst in bulk: the foundation's sink (count, then free).
class FreeSink final : public BurstSink {
public:
    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override;
};

/// Called on the main lcore, roughly every `tick_cycles`, when the main lcore
/// also polls queues (single-lcore runs). Returns false to stop the loop.
using TickFn = bool (*)(void* arg) noexcept;

struct Worker {
    unsigned lcore = 0;
    std::vector<QueueRef> queues;
    std::uint16_t burst = 32;
    BurstSink* sink = nullptr;
    const std::atomic<bool>* stop = nullptr;
    /// With ring sources: once *stop is set, the worker keeps going until
    /// *drain is set too and its rings are empty (the dispatcher has stopped).
    const std::atomic<bool>* drain = nullptr;
    WorkerCounters counters;
    std::atomic<int> tid{0};  ///< its Linux thread id, set when it starts polling
    // Only for a worker on the main lcore:
    TickFn tick = nullptr;
    void* tick_arg = nullptr;
    std::uint64_t tick_cycles = 0;
};

/// One receive step, shared by the workers and the dispatcher: polls q (its
/// port queue, or its ring), counts what came in q.counters, and returns how
/// many packets are in pkts; `bytes` gets their frame bytes.
std::uint16_t receive(const QueueRef& q, rte_mbuf** pkts, std::uint16_t burst,
                      std::uint64_t& bytes) noexcept;

/// Busy/empty poll tallies, published to the shared counters every 256 rounds
/// (they only feed the busy/empty share, so they need not be exact mid-run).
class poll_tally {
public:
    void poll(bool empty) noexcept {
        ++polls_;
        if (empty) ++empty_;
    }
    void end_round(counter& polls, counter& empty) noexcept {
        if ((++rounds_ & 0xff) == 0) flush(polls, empty);
    }
    void flush(counter& polls, counter& empty) noexcept {
        polls.add(polls_);
        empty.add(empty_);
        polls_ = empty_ = 0;
    }

private:
    std::uint64_t polls_ = 0;
    std::uint64_t empty_ = 0;
    std::uint32_t rounds_ = 0;
};

/// Polls until *w.stop is true (or tick returns false). noexcept, allocation-free.
void run_worker(Worker& w) noexcept;

/// rte_eal_remote_launch entry point: `arg` is a Worker*.
int worker_main(void* arg);

}  // namespace rxinto::capture
