#include "rxinto/capture/rx_loop.hpp"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

namespace rxinto::capture {

void FreeSink::on_burst(const QueueRef&, rte_mbuf** pkts, std::uint16_t n) noexcept {
    // One call returns the whole burst to the pool (per-lcore cache first).
    rte_pktmbuf_free_bulk(pkts, n);
}

std::uint16_t receive(const QueueRef& q, rte_mbuf** pkts, std::uint16_t burst,
                      std::uint64_t& bytes) noexcept {
    const std::uint16_t n =
        q.ring != nullptr
            ? static_cast<std::uint16_t>(
                  rte_ring_dequeue_burst(q.ring, reinterpret_cast<void**>(pkts), burst, nullptr))
            : rte_eth_rx_burst(q.port_id, q.queue, pkts, burst);
    bytes = 0;
    if (n == 0) return 0;
    for (std::uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
    q.counters->packets.add(n);
    q.counters->bytes.add(bytes);
    return n;
}

void run_worker(Worker& w) noexcept {
    // Before the loop: the one system call of a worker that is its own
    // (EAL caches the id per thread afterwards).
    w.tid.store(rte_gettid(), std::memory_order_relaxed);
    rte_mbuf* pkts[max_burst];
    const std::uint16_t burst = w.burst == 0 || w.burst > max_burst ? 32 : w.burst;
    poll_tally tally;
    std::uint64_t next_tick = w.tick != nullptr ? rte_rdtsc() + w.tick_cycles : UINT64_MAX;

    for (;;) {
        if (w.stop->load(std::memory_order_relaxed)) {
            // Ring sources are drained to the last packet once the dispatcher
            // has stopped: nothing that was handed over is left behind.
            if (w.drain == nullptr) break;
            if (w.drain->load(std::memory_order_acquire)) {
                bool drained = true;
                for (const QueueRef& q : w.queues)
                    if (q.ring != nullptr && rte_ring_count(q.ring) != 0) drained = false;
                if (drained) break;
            }
        }
        for (const QueueRef& q : w.queues) {
            std::uint64_t bytes = 0;
            const std::uint16_t n = receive(q, pkts, burst, bytes);
            tally.poll(n == 0);
            if (n == 0) continue;
            w.counters.packets.add(n);
            w.counters.bytes.add(bytes);
            w.sink->on_burst(q, pkts, n);
        }
        tally.end_round(w.counters.polls, w.counters.empty_polls);
        if (w.tick != nullptr && rte_rdtsc() >= next_tick) {
            if (!w.tick(w.tick_arg)) break;
            next_tick = rte_rdtsc() + w.tick_cycles;
        }
        if (w.queues.empty() && w.tick == nullptr) rte_pause();
    }
    tally.flush(w.counters.polls, w.counters.empty_polls);
}

int worker_main(void* arg) {
    run_worker(*static_cast<Worker*>(arg));
    return 0;
}

}  // namespace rxinto::capture
