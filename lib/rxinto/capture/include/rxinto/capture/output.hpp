// The output thread: everything of a run that touches a disk — pcapng files,
// stream files, the stream index — runs here, never on a worker lcore. Each
// worker hands its output over through its own rings (the dpdk-dumpcap
// pattern): a capture ring of mbuf pointers (one reference each, taken by the
// worker) and a stream ring of stream messages (stream_feed). The output
// thread writes straight from the packet buffers and frees them.
//
// It is a DPDK control thread (rte_ctrl_thread_create: not an lcore, on the
// CPUs the lcores leave free), so it runs in every mode, a single-lcore run
// included. A slow disk fills the rings, and a full ring is a counted drop of
// output on the worker's side (capture_ring_full, streams_ring_full), never a
// stalled receive queue; a replay waits instead (nothing is lost by waiting).
//
// With a store that has an observer (the fleet export) and -w, it also keeps,
// per worker, where the packets it wrote went (capture_history): stream
// messages carry the worker's capture ring count (stream_msg cap_seq), and a
// message is handled only once every packet before that count was written,
// so that a connection's records can name its pcapng file and offset.
//
// Control path: start() and stop(); stop() drains every ring before it joins.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <rte_common.h>

#include "rxinto/base/counter.hpp"
#include "rxinto/base/result.hpp"
#include "rxinto/capture/stream_store.hpp"

struct rte_mbuf;
struct rte_ring;

namespace rxinto::capture {

class pcapng_writer;

/// What one worker hands to the output thread.
struct output_source {
    rte_ring* capture = nullptr;     ///< mbuf pointers to write with `writer` (or null)
    pcapng_writer* writer = nullptr;
    rte_ring* streams = nullptr;     ///< stream messages for the store (or null)
    bool places = false;             ///< keep a capture_history (the writer is this worker's alone)
};

/// Where one worker's packets went in its pcapng series: after each run of
/// packets written, the count written so far and the writer's position (a
/// bounded history: entries older than `capacity` runs are forgotten, and a
/// place asked for before them is the oldest one left, or unknown).
class capture_history final : public capture_places {
public:
    explicit capture_history(std::size_t capacity);
    /// The first `seq` packets are written; the writer stands at p.
    void note(std::uint64_t seq, const pcapng_writer& w);
    [[nodiscard]] pcap_place at_or_before(std::uint64_t seq) const override;
    [[nodiscard]] pcap_place at_or_after(std::uint64_t seq) const override;

private:
    struct entry {
        std::uint64_t seq = 0;
        std::uint64_t file_no = 0;
        std::uint64_t offset = 0;
    };
    [[nodiscard]] const entry& at(std::size_t i) const noexcept { return ring_[(first_ + i) % ring_.size()]; }
    [[nodiscard]] pcap_place place(const entry& e, bool file_start) const;
    std::vector<entry> ring_;
    std::size_t first_ = 0;
    std::size_t count_ = 0;
    bool evicted_ = false;
    std::vector<std::string> names_;  ///< names_[file_no - 1]
};

struct alignas(RTE_CACHE_LINE_SIZE) output_counters {
    stats::counter packets;   ///< packets taken from capture rings
    stats::counter messages;  ///< stream messages taken
    stats::counter rounds;    ///< passes over the rings
    stats::counter idle;      ///< passes that found nothing
};

class output_thread {
public:
    /// Starts the thread. store may be null (no stream output).
    [[nodiscard]] static Result<std::unique_ptr<output_thread>> start(std::vector<output_source> sources,
                                                                      stream_store* store);
    ~output_thread();
    output_thread(const output_thread&) = delete;
    output_thread& operator=(const output_thread&) = delete;

    /// Drains every ring (the producers have stopped), then joins. Idempotent.
    void stop() noexcept;

    [[nodiscard]] const output_counters& counters() const noexcept { return c_; }

private:
    output_thread() = default;
    static void* main(void* arg);
    bool round() noexcept;
    /// Writes n packets of source w (runs of one port each) and frees them.
    void write_capture(unsigned w, rte_mbuf** pkts, unsigned n) noexcept;
    /// Writes source w's packets until `seq` of them are written (they were
    /// enqueued before the message that needs them).
    void capture_until(unsigned w, std::uint64_t seq) noexcept;

    std::vector<output_source> sources_;
    std::vector<std::uint64_t> written_;  ///< packets taken from each capture ring
    std::vector<std::unique_ptr<capture_history>> history_;
    stream_store* store_ = nullptr;
    std::atomic<bool> stop_{false};
    bool joined_ = true;
    pthread_t tid_{};
    output_counters c_;
};

}  // namespace rxinto::capture
