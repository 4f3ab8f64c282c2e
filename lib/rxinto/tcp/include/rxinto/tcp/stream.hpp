// One direction of a TCP connection, as the application reads it.
//
// The bytes are held as references to the packet buffers they arrived in
// (nothing is copied until the application reads): recv_into() copies the
// next in-order bytes into the caller's buffer, once, never past its end and
// never across a gap; peek()/consume() give views of the packet buffers
// instead (zero copy). Gaps (bytes that were never captured) are out of band:
// the reader learns their offset and length and steps over them with
// skip_gap(); they are never filled.
//
// Offsets are 64-bit stream offsets: 0 is the first byte after the ISN, or
// the first byte seen when the stream was picked up mid-way.
//
// This type is the application's side only. What the worker does to a stream
// (insert segments, FIN, RST, ACK-proven holes...) is private to the
// reassembler and the endpoint (rxinto/tcp/stream_rx.hpp).
//
// Lcore: a stream belongs to one worker; the application reads it on that
// worker's lcore, between bursts (from events or listener callbacks), and
// until the listener's on_release() for its connection has returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "rxinto/base/seq32.hpp"

struct rte_mbuf;

namespace rxinto::tcp {

/// Why a stream ended (DESIGN.md "Stream output": end).
enum class end_reason : std::uint8_t { none, fin, rst, timeout, evicted, eof };
[[nodiscard]] const char* to_string(end_reason r) noexcept;

/// Which copy of overlapping bytes wins: the one held first (default; what
/// Linux and most targets do) or the one that arrived last.
enum class overlap_policy : std::uint8_t { first, last };

struct stream_limits {
    std::uint32_t max_segments = 4096;          ///< segments held per stream
    std::uint64_t max_bytes = 32ULL << 20;      ///< bytes held per stream (read or not)
    std::uint64_t max_ooo_bytes = 8ULL << 20;   ///< bytes held past a hole before it becomes a gap
    std::uint32_t max_window = 1U << 30;        ///< farthest a segment may land ahead (RFC 7323 §2.3)
    /// Packets of the connection to wait, after an ACK proved a hole, before the
    /// hole becomes a gap (a capture taken at several points or on several
    /// queues can show the ACK before the data it acknowledges, and a late
    /// retransmission may still bring the bytes). The same grace confirms a
    /// provisional mid-stream start. no_grace_limit: no limit by packets (the
    /// hole waits for the end of the stream, a cap, pool pressure, an idle
    /// timeout or the time grace): what a file replay uses.
    std::uint32_t ack_grace_packets = 32;
    static constexpr std::uint32_t no_grace_limit = UINT32_MAX;
    /// The same in nanoseconds of packet time; 0: no limit by time.
    std::uint64_t ack_grace_ns = 0;
};

/// Result of recv_into() / the state at the read position.
struct recv_result {
    std::size_t bytes = 0;     ///< copied into the caller's buffer
    std::uint64_t gap = 0;     ///< > 0: a gap of this many bytes starts at offset(); skip_gap()
    end_reason end = end_reason::none;  ///< the stream ended and everything before it was read
    [[nodiscard]] bool would_block() const noexcept {
        return bytes == 0 && gap == 0 && end == end_reason::none;
    }
};

/// A piece of a stream handed over as a reference to its packet buffer: len
/// bytes, off bytes into the packet data of m (which may be a chain).
struct mbuf_piece {
    rte_mbuf* m = nullptr;
    std::uint32_t off = 0;
    std::uint32_t len = 0;
};

struct segment;     // a held piece of the stream (stream_rx.hpp)
struct stream_env;  // the worker's segment pool, drop list and counters (stream_rx.hpp)

// 64: a cache line (rte_common.h's RTE_CACHE_LINE_SIZE on x86 and most ARM).
class alignas(64) stream {
public:
    stream() = default;
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    /// Copies the next in-order bytes into buf: never more than buf holds,
    /// never across a gap. Never blocks, allocates or throws. The buffers of
    /// the bytes read are freed at the end of the burst (or at flush()).
    recv_result recv_into(std::span<std::byte> buf) noexcept;
    /// The state at the read position without reading.
    [[nodiscard]] recv_result poll() const noexcept;
    /// Skips the gap at the read position; returns its length (0 if none).
    std::uint64_t skip_gap() noexcept;
    /// Views of the next in-order bytes, in order, into `out`; returns how many
    /// views were filled. Valid until the next call that changes this stream
    /// (a burst, recv_into, consume, skip_gap, the connection's release).
    std::size_t peek(std::span<std::span<const std::byte>> out) const noexcept;
    /// The same, and for each view the mbuf segment whose buffer holds it
    /// (segs.size() >= out.size()): a reader that must keep a view past the
    /// stream's next change pins that segment (rte_mbuf_refcnt_update(seg, 1),
    /// later rte_pktmbuf_free_seg). The bytes of a view are never written to.
    std::size_t peek(std::span<std::span<const std::byte>> out, std::span<rte_mbuf*> segs) const noexcept;
    /// Releases the first n in-order bytes (at most readable()).
    void consume(std::uint64_t n) noexcept;
    /// Hands the next in-order bytes over as packet-buffer references (zero
    /// copy, to another thread if need be): fills out with up to out.size()
    /// pieces of at most max_bytes in all, in stream order, and consumes them.
    /// Each piece carries one reference of its mbuf, which is the caller's
    /// from then on (free it with rte_pktmbuf_free, from any thread). The
    /// bytes of a piece are never written to by rxinto. Returns the pieces.
    std::size_t take(std::span<mbuf_piece> out, std::uint64_t max_bytes = UINT64_MAX) noexcept;

    /// Read position (stream offset of the next byte to read).
    [[nodiscard]] std::uint64_t offset() const noexcept { return next_; }
    /// In-order bytes readable now, before the next hole.
    [[nodiscard]] std::uint64_t readable() const noexcept { return contig_ - next_; }
    [[nodiscard]] std::uint64_t held_bytes() const noexcept { return held_bytes_; }
    [[nodiscard]] std::uint32_t held_segments() const noexcept { return nseg_; }
    /// Bytes read so far (recv_into or consume).
    [[nodiscard]] std::uint64_t delivered() const noexcept { return delivered_; }
    [[nodiscard]] std::uint64_t gap_bytes() const noexcept { return gap_bytes_; }
    [[nodiscard]] std::uint32_t gap_count() const noexcept { return gap_count_; }
    /// Overlapping bytes that differed from the copy kept.
    [[nodiscard]] std::uint64_t overlap_conflicts() const noexcept { return conflicts_; }
    [[nodiscard]] end_reason ended() const noexcept { return end_; }
    [[nodiscard]] bool fin_seen() const noexcept { return fin_ != no_offset; }
    [[nodiscard]] bool anchored() const noexcept { return anchored_; }
    /// Picked up without its SYN: offset 0 is the first byte seen.
    [[nodiscard]] bool midstream() const noexcept { return midstream_; }
    /// The stream is over: ended, and everything before the end was read.
    [[nodiscard]] bool finished() const noexcept {
        return end_ != end_reason::none && next_ >= end_off_;
    }

private:
    friend class stream_rx;
    static constexpr std::uint64_t no_offset = UINT64_MAX;

    void advance(std::uint64_t n) noexcept;
    void recompute_contig() noexcept;
    void extend_contig() noexcept;

    // First cache line: what every packet of the connection and every read touch.
    stream_env* env_ = nullptr;
    seq32 base_{};                 ///< sequence number of offset 0
    bool anchored_ = false;
    bool midstream_ = false;
    /// A mid-stream start not yet confirmed by in-order evidence: nothing is
    /// readable, and earlier data moves offset 0 back.
    bool provisional_ = false;
    end_reason end_ = end_reason::none;
    std::uint8_t nmissing_ = 0;
    std::uint64_t next_ = 0;       ///< read position
    std::uint64_t contig_ = 0;     ///< end of the contiguous bytes held from next_
    segment* head_ = nullptr;
    segment* tail_ = nullptr;
    segment* contig_seg_ = nullptr;  ///< last segment of the contiguous run from next_, or null
    std::uint64_t fin_ = no_offset;
    // Second cache line: holes, proofs and caps (inserts and ACKs).
    std::uint64_t end_off_ = no_offset;
    std::uint64_t highest_ = 0;    ///< end of the highest byte seen
    std::uint64_t declared_ = 0;   ///< holes below this are gaps
    std::uint64_t proof_ = 0;      ///< ACK-proven end whose grace period is running
    std::uint64_t pending_ = 0;    ///< highest ACK-proven end seen
    std::uint64_t proof_ns_ = 0;   ///< packet time when proof_ was set
    std::uint64_t held_bytes_ = 0;
    std::uint32_t proof_age_ = 0;  ///< packets since proof_ was set
    std::uint32_t nseg_ = 0;
    // Cold (third and fourth lines).
    std::uint64_t delivered_ = 0;
    std::uint64_t gap_bytes_ = 0;
    std::uint64_t conflicts_ = 0;
    std::uint32_t gap_count_ = 0;
    std::uint32_t start_age_ = 0;  ///< packets since a provisional start was made
    std::uint64_t start_ns_ = 0;   ///< packet time when it was made
    /// Ranges known to be missing (snaplen-cut tails), oldest first. A fixed
    /// handful: when more are outstanding, the oldest becomes a declared gap.
    static constexpr std::size_t max_missing = 4;
    std::uint64_t missing_[max_missing][2] = {};
};

}  // namespace rxinto::tcp
