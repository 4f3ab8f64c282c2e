// The capture stage of a worker: an optional BPF filter, an optional hand-over
// of the packets to write to the output thread, then the next stage (TCP-lite
// or a plain free).
//
// Without filter_before_reassembly the filter only chooses what is written to
// disk; every packet goes on to reassembly in its order. With it, packets the
// filter rejects are dropped here (counted) and never reach reassembly.
//
// Writing is the output thread's (output.hpp): the worker stamps each packet
// to write with its receive time (the rxinto_rx_time_ns dynamic field), takes
// one more reference of it and puts it on its capture ring (no copy). A full
// ring is a counted drop of output (capture_ring_full), never a stall; a
// replay waits for room instead.
// Lcore: one per worker, on that worker's lcore.
#pragma once

#include <atomic>
#include <cstdint>

#include "rxinto/base/counter.hpp"
#include "rxinto/capture/filter.hpp"
#include "rxinto/capture/packet_clock.hpp"
#include "rxinto/capture/rx_loop.hpp"

struct rte_ring;

namespace rxinto::capture {

/// How many packets a worker has put on its capture ring, before the burst in
/// progress and after it: stream messages carry these (stream_msg cap_seq),
/// so that the output thread can say where in the pcapng files a
/// connection's packets are. Written and read on the worker's lcore only.
struct capture_seq {
    std::uint64_t burst_start = 0;
    std::uint64_t burst_end = 0;
};

struct capture_ring {
    rte_ring* ring = nullptr;        ///< to the output thread (null: nothing is written)
    const packet_clock* clock = nullptr;
    const std::vector<std::uint16_t>* port_index_of = nullptr;  ///< ethdev port id -> port index
    bool lossless = false;           ///< a replay: wait for room
    const std::atomic<bool>* stop = nullptr;  ///< stop waiting once the run is stopping
};

class CaptureSink final : public BurstSink {
public:
    /// inner: the next stage (not owned); filter: may be null (not owned).
    CaptureSink(BurstSink* inner, const bpf_filter* filter, bool filter_before_reassembly,
                capture_ring out) noexcept;

    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override;

    [[nodiscard]] std::uint64_t filter_matched() const noexcept { return matched_count_.get(); }
    /// Dropped before reassembly (filter_before_reassembly only).
    [[nodiscard]] std::uint64_t filter_rejected() const noexcept { return rejected_count_.get(); }
    /// Packets not written: the capture ring was full (capture_ring_full).
    [[nodiscard]] std::uint64_t ring_full() const noexcept { return ring_full_.get(); }
    /// Packets enqueued so far (see capture_seq); for the worker's stream feed.
    [[nodiscard]] const capture_seq* seq() const noexcept { return &seq_; }

private:
    void write(rte_mbuf** pkts, std::uint16_t n) noexcept;

    BurstSink* inner_;
    const bpf_filter* filter_;
    bool before_;
    capture_ring out_;
    int time_field_ = -1;
    capture_seq seq_;
    stats::counter matched_count_;
    stats::counter rejected_count_;
    stats::counter ring_full_;
    rte_mbuf* matched_[max_burst] = {};
    rte_mbuf* rejected_[max_burst] = {};
};

}  // namespace rxinto::capture
