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

struct rte_ring;

namespace rxinto::capture {

class pcapng_writer;
class stream_store;

/// What one worker hands to the output thread.
struct output_source {
    rte_ring* capture = nullptr;     ///< mbuf pointers to write with `writer` (or null)
    pcapng_writer* writer = nullptr;
    rte_ring* streams = nullptr;     ///< stream messages for the store (or null)
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

    std::vector<output_source> sources_;
    stream_store* store_ = nullptr;
    std::atomic<bool> stop_{false};
    bool joined_ = true;
    pthread_t tid_{};
    output_counters c_;
};

}  // namespace rxinto::capture
