// The worker's side of stream output (--streams-dir, export): a tcp::listener
// that turns each connection's events into messages on the worker's stream
// ring for the output thread, handing the stream bytes over as packet-buffer
// references (tcp::stream::take): no file, no allocation, no lock, no system
// call on the worker.
//
// A full ring costs a counted loss of output, never a stalled receive queue:
// data that does not fit is released (streams_ring_full, stream_bytes_unsent)
// and the output thread records the hole in the file as lost bytes. Most of
// the ring is kept for the connections' open, gap and end messages (128 bytes
// each, no mbuf), so that the index and the export records stay complete. A replayed capture loses nothing by waiting:
// with `lossless` the worker waits for room instead.
//
// Lcore: one feed per worker, on that worker's lcore (and on the control
// thread for the final release, once the worker has stopped).
#pragma once

#include <cstdint>

#include <rte_common.h>

#include "rxinto/base/counter.hpp"
#include "rxinto/tcp/reassembler.hpp"

struct rte_ring;

namespace rxinto::capture {

struct stream_msg;
struct capture_seq;

struct alignas(RTE_CACHE_LINE_SIZE) stream_feed_counters {
    stats::counter messages;     ///< messages handed to the output thread
    stats::counter ring_full;    ///< messages dropped: the stream ring was full (streams_ring_full)
    stats::counter bytes_unsent; ///< stream bytes dropped with them
};

class stream_feed final : public tcp::listener {
public:
    /// Data messages a ring holds at most (each holds up to msg_pieces
    /// mbufs: the packet pool is sized for this many). The ring itself is
    /// larger (ring_size): the rest holds only open, gap and end messages.
    static constexpr unsigned data_messages_max = 2048;
    static constexpr unsigned ring_size = 16384;

    /// ring: this worker's stream ring (elements of sizeof(stream_msg)).
    /// with_data: the output writes stream bytes (else only open/gap/end).
    stream_feed(rte_ring* ring, bool with_data, bool lossless, const std::atomic<bool>* stop) noexcept
        : ring_(ring), with_data_(with_data), lossless_(lossless), stop_(stop) {}

    void on_open(tcp::connection& c) noexcept override;
    void on_readable(tcp::connection& c) noexcept override { pump(c); }
    void on_closed(tcp::connection& c) noexcept override;
    void on_release(tcp::connection& c) noexcept override;
    /// Hands over at most max_bytes of direction d (and the gaps before
    /// them) in at most max_messages data messages: an application that
    /// reads at its own pace (the endpoint). Returns the bytes handed over
    /// (or consumed).
    std::uint64_t pump(tcp::connection& c, flow::direction d, std::uint64_t max_bytes,
                       unsigned max_messages = UINT32_MAX) noexcept;
    /// Data messages the ring can take now without a loss (0..data_messages_max).
    [[nodiscard]] unsigned data_room() const noexcept;

    [[nodiscard]] const stream_feed_counters& counters() const noexcept { return c_; }
    /// The worker's capture stage (-w with --export): messages carry its
    /// packet counts (stream_msg cap_seq), and a closing connection sends a
    /// mark, so that the export records can say where its packets are.
    void set_capture_seq(const capture_seq* s) noexcept { seq_ = s; }

private:
    void pump(tcp::connection& c) noexcept;
    /// Enqueues m; control messages may use the whole ring. False when it
    /// was dropped (counted).
    bool send(stream_msg& m, bool control) noexcept;

    rte_ring* ring_;
    bool with_data_;
    bool lossless_;
    const std::atomic<bool>* stop_;
    const capture_seq* seq_ = nullptr;
    stream_feed_counters c_;
};

}  // namespace rxinto::capture
