#include "rxinto/capture/tcp_sink.hpp"

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

namespace rxinto::capture {

namespace {
constexpr std::uint64_t expire_every_ns = 1'000'000'000ULL;  // one timeout pass per second
}

TcpSink::TcpSink(std::unique_ptr<tcp::reassembler> r, std::vector<tcp::port_link> links,
                 const packet_clock* clock, std::unique_ptr<stream_feed> feed,
                 std::vector<std::uint16_t> port_index_of)
    : r_(std::move(r)), feed_(std::move(feed)), links_(std::move(links)), clock_(clock),
      port_index_of_(std::move(port_index_of)) {
    if (feed_) r_->set_listener(feed_.get());
}

void TcpSink::set_link_sources(std::vector<link_source> per_port, int dynfield_offset) {
    link_sources_ = std::move(per_port);
    lt_offset_ = dynfield_offset;
}

void TcpSink::process_link(rte_mbuf** pkts, std::uint16_t n, const tcp::port_link& link,
                           std::uint64_t now) noexcept {
    r_->process_burst(pkts, n, link, now);
    drain();
    r_->flush();
}

void TcpSink::process(rte_mbuf** pkts, std::uint16_t n, std::uint16_t port_index, std::uint64_t live_ns) noexcept {
    // Replayed captures follow capture time (the burst's first record), live
    // ports the TSC: timeouts and grace periods in packet time.
    const std::uint64_t now = clock_->of(pkts[0], port_index, live_ns);
    last_now_ns_ = std::max(last_now_ns_, now);
    const tcp::port_link link = port_index < links_.size() ? links_[port_index] : tcp::port_link{};
    const link_source src = port_index < link_sources_.size() ? link_sources_[port_index]
                                                              : link_source::from_port;
    if (src == link_source::from_port) {
        process_link(pkts, n, link, now);
    } else if (src == link_source::unparsed) {
        unparsed_.add(n);
        rte_pktmbuf_free_bulk(pkts, n);
    } else {
        // Each packet has its interface's link type (pcapng): runs of one type.
        std::uint16_t i = 0;
        while (i < n) {
            const std::uint32_t lt = *RTE_MBUF_DYNFIELD(pkts[i], lt_offset_, const std::uint32_t*);
            std::uint16_t j = static_cast<std::uint16_t>(i + 1);
            while (j < n && *RTE_MBUF_DYNFIELD(pkts[j], lt_offset_, const std::uint32_t*) == lt) ++j;
            const auto run = static_cast<std::uint16_t>(j - i);
            if (const auto parsed = net::link_type_from_pcap(lt)) {
                tcp::port_link l = link;
                l.link = *parsed;
                process_link(pkts + i, run, l, now);
            } else {
                unparsed_.add(run);
                rte_pktmbuf_free_bulk(pkts + i, run);
            }
            i = j;
        }
    }
}

void TcpSink::drain() noexcept {
    if (feed_) return;  // the feed took everything readable from its callbacks
    // No stream output: the appliance itself is the reader. Whatever became
    // readable is consumed at once (zero copy), gaps are skipped.
    for (const tcp::event& e : r_->events()) {
        if (e.kind != tcp::event_kind::readable) continue;
        for (flow::direction d : flow::both_directions) {
            tcp::stream& s = e.conn->in(d);
            for (;;) {
                const std::uint64_t n = s.readable();
                if (n != 0) s.consume(n);
                if (s.skip_gap() == 0 && n == 0) break;
            }
        }
    }
}

void TcpSink::on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept {
    const std::uint64_t live = clock_->now_ns();
    if (q.ring == nullptr) {
        process(pkts, n, q.port_index, live);
    } else {
        // From a dispatch ring: packets of several ports; each run of one port
        // is processed with that port's link.
        std::uint16_t i = 0;
        while (i < n) {
            const std::uint16_t port = pkts[i]->port;
            std::uint16_t j = static_cast<std::uint16_t>(i + 1);
            while (j < n && pkts[j]->port == port) ++j;
            const std::uint16_t index = port < port_index_of_.size() ? port_index_of_[port] : 0;
            process(pkts + i, static_cast<std::uint16_t>(j - i), index, live);
            i = j;
        }
    }
    if (last_now_ns_ >= last_expire_ns_ + expire_every_ns) {
        last_expire_ns_ = last_now_ns_;
        r_->expire(last_now_ns_);
        drain();
        r_->flush();
    }
}

void TcpSink::finish() noexcept {
    r_->finish();
    r_->flush();
}

}  // namespace rxinto::capture
