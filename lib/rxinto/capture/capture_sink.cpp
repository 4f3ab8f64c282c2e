#include "rxinto/capture/capture_sink.hpp"

#include <cstring>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_ring.h>

namespace rxinto::capture {

CaptureSink::CaptureSink(BurstSink* inner, const bpf_filter* filter, bool filter_before_reassembly,
                         capture_ring out) noexcept
    : inner_(inner), filter_(filter), before_(filter_before_reassembly), out_(out) {
    if (out_.ring != nullptr) time_field_ = rx_time_dynfield();
}

void CaptureSink::write(rte_mbuf** pkts, std::uint16_t n) noexcept {
    seq_.burst_start = seq_.burst_end;
    if (out_.ring == nullptr || n == 0) return;
    // Each packet gets its receive time and one more reference: the output
    // thread's, freed once it is written.
    const std::uint64_t live = out_.clock->now_ns();
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (time_field_ >= 0) {
            const std::uint16_t port = m->port < out_.port_index_of->size() ? (*out_.port_index_of)[m->port] : 0;
            const std::uint64_t t = out_.clock->of(m, port, live);
            std::memcpy(RTE_MBUF_DYNFIELD(m, time_field_, void*), &t, sizeof t);
        }
        rte_pktmbuf_refcnt_update(m, 1);
    }
    unsigned done = rte_ring_sp_enqueue_burst(out_.ring, reinterpret_cast<void**>(pkts), n, nullptr);
    while (done < n && out_.lossless && !out_.stop->load(std::memory_order_relaxed)) {
        rte_pause();
        done += rte_ring_sp_enqueue_burst(out_.ring, reinterpret_cast<void**>(pkts + done), n - done, nullptr);
    }
    seq_.burst_end += done;
    if (done < n) {
        ring_full_.add(n - done);
        for (unsigned i = done; i < n; ++i) rte_pktmbuf_free(pkts[i]);  // the reference taken above
    }
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
        write(pkts, keep);
        if (keep != 0) inner_->on_burst(q, pkts, keep);
        return;
    }
    if (filter_ != nullptr) {
        // The filter picks what is written; reassembly sees every packet, in order.
        std::uint16_t k = 0;
        for (std::uint16_t i = 0; i < n; ++i)
            if (filter_->matches(pkts[i])) matched_[k++] = pkts[i];
        matched_count_.add(k);
        write(matched_, k);
    } else {
        write(pkts, n);
    }
    inner_->on_burst(q, pkts, n);
}

}  // namespace rxinto::capture
