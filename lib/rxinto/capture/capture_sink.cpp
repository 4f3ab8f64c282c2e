#include "rxinto/capture/capture_sink.hpp"

#include <rte_mbuf.h>

namespace rxinto::capture {

void CaptureSink::write(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept {
    if (writer_ == nullptr) return;
    burst_start_ = writer_->position();  // fleet export: where this burst's packets begin
    burst_end_ = burst_start_;
    if (n == 0) return;
    if (q.ring == nullptr) {
        writer_->write_burst(q.port_id, q.queue, pkts, n);
        burst_end_ = writer_->position();
        return;
    }
    // From a dispatch ring: runs of one port each.
    std::uint16_t i = 0;
    while (i < n) {
        const std::uint16_t port = pkts[i]->port;
        std::uint16_t j = static_cast<std::uint16_t>(i + 1);
        while (j < n && pkts[j]->port == port) ++j;
        writer_->write_burst(port, 0, pkts + i, static_cast<std::uint16_t>(j - i));
        i = j;
    }
    burst_end_ = writer_->position();
}

void CaptureSink::on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept {
    if (filter_ != nullptr && before_) {
        std::uint16_t nrej = 0;
        const std::uint16_t keep = filter_->apply(pkts, n, rejected_, nrej);
        matched_count_.add(keep);
        if (nrej != 0) {
            rejected_count_.add(nrej);
            rte_pktmbuf_free_bulk(rejected_, nrej);
        }
        write(q, pkts, keep);
        if (keep != 0) inner_->on_burst(q, pkts, keep);
        return;
    }
    if (filter_ != nullptr) {
        // The filter picks what is written; reassembly sees every packet, in order.
        std::uint16_t k = 0;
        for (std::uint16_t i = 0; i < n; ++i)
            if (filter_->matches(pkts[i])) matched_[k++] = pkts[i];
        matched_count_.add(k);
        write(q, matched_, k);
    } else {
        write(q, pkts, n);
    }
    inner_->on_burst(q, pkts, n);
}

}  // namespace rxinto::capture
