#include "rxinto/capture/dispatch.hpp"

#include "rxinto/flow/flow_key.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

namespace rxinto::capture {

namespace {

void dispatch_burst(Dispatcher& d, rte_mbuf** pkts, std::uint16_t n, net::link_type link) noexcept {
    const std::size_t nw = d.rings.size();
    // Per-worker staging, enqueued once per burst.
    std::fill(d.staged.begin(), d.staged.end(), std::uint16_t{0});
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        std::size_t w = 0;
        const std::uint8_t* data = rte_pktmbuf_mtod(m, const std::uint8_t*);
        net::packet_meta meta;
        // The whole frame is not needed: the headers in the first segment are.
        const net::parse_status st = net::parse_frame(data, m->data_len, UINT32_MAX, link, meta);
        if ((st == net::parse_status::ok || st == net::parse_status::ip_fragment ||
             st == net::parse_status::not_tcp) && meta.ip_version != 0)
            w = flow::dispatch_hash(meta) % nw;
        d.stage[w][d.staged[w]++] = m;
    }
    for (std::size_t w = 0; w < nw; ++w) {
        const std::uint16_t k = d.staged[w];
        if (k == 0) continue;
        unsigned done = rte_ring_enqueue_burst(d.rings[w], reinterpret_cast<void**>(d.stage[w].data()), k, nullptr);
        // A replay can wait for the worker (nothing is lost by waiting); a live
        // port cannot: there a full ring is a counted drop.
        while (d.lossless && done < k && !d.stop->load(std::memory_order_relaxed)) {
            rte_pause();
            done += rte_ring_enqueue_burst(d.rings[w], reinterpret_cast<void**>(d.stage[w].data() + done),
                                           k - done, nullptr);
        }
        d.counters.packets.add(done);
        if (done < k) {
            d.counters.ring_full.add(k - done);
            rte_pktmbuf_free_bulk(d.stage[w].data() + done, k - done);
        }
    }
}

}  // namespace

int dispatcher_main(void* arg) {
    auto& d = *static_cast<Dispatcher*>(arg);
    rte_mbuf* pkts[max_burst];
    const std::uint16_t burst = std::min<std::uint16_t>(d.burst == 0 ? 32 : d.burst, max_burst);
    poll_tally tally;
    while (!d.stop->load(std::memory_order_relaxed)) {
        for (const QueueRef& q : d.queues) {
            std::uint64_t bytes = 0;
            const std::uint16_t n = receive(q, pkts, burst, bytes);
            tally.poll(n == 0);
            if (n == 0) continue;
            const net::link_type link =
                q.port_index < d.links.size() ? d.links[q.port_index] : net::link_type::ethernet;
            dispatch_burst(d, pkts, n, link);
        }
        tally.end_round(d.counters.polls, d.counters.empty_polls);
    }
    tally.flush(d.counters.polls, d.counters.empty_polls);
    return 0;
}

}  // namespace rxinto::capture
