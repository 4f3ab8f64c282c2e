// The capture stage of a worker: an optional BPF filter, an optional pcapng
// writer, then the next stage (TCP-lite or a plain free).
//
// Without filter_before_reassembly the filter only chooses what is written to
// disk; every packet goes on to reassembly in its order. With it, packets the
// filter rejects are dropped here (counted) and never reach reassembly.
// Lcore: one per worker, on that worker's lcore.
#pragma once

#include <cstdint>

#include "rxinto/capture/filter.hpp"
#include "rxinto/capture/pcapng_writer.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/base/counter.hpp"

namespace rxinto::capture {

class CaptureSink final : public BurstSink {
public:
    /// inner: the next stage (not owned); filter, writer: may be null (not owned).
    CaptureSink(BurstSink* inner, const bpf_filter* filter, bool filter_before_reassembly,
                pcapng_writer* writer) noexcept
        : inner_(inner), filter_(filter), before_(filter_before_reassembly), writer_(writer) {}

    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override;

    [[nodiscard]] std::uint64_t filter_matched() const noexcept { return matched_count_.get(); }
    /// Dropped before reassembly (filter_before_reassembly only).
    [[nodiscard]] std::uint64_t filter_rejected() const noexcept { return rejected_count_.get(); }
    /// Fleet export: where the pcapng series stood before and after the
    /// current burst was written (file == nullptr: no writer). Worker's lcore.
    [[nodiscard]] const fleet::pcap_position& burst_start() const noexcept { return burst_start_; }
    [[nodiscard]] const fleet::pcap_position& burst_end() const noexcept { return burst_end_; }

private:
    void write(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept;

    BurstSink* inner_;
    const bpf_filter* filter_;
    bool before_;
    pcapng_writer* writer_;
    stats::counter matched_count_;
    stats::counter rejected_count_;
    fleet::pcap_position burst_start_;
    fleet::pcap_position burst_end_;
    rte_mbuf* matched_[max_burst] = {};
    rte_mbuf* rejected_[max_burst] = {};
};

}  // namespace rxinto::capture
