// One direction of a TCP connection: the byte stream rebuilt from packet buffers.
//
// Segments are kept as references to the mbufs they arrived in (an offset and a
// length into each): nothing is copied until the application reads. Offsets are
// 64-bit stream offsets (0 = the first byte after the ISN, or the first byte
// seen when the stream was picked up mid-way); sequence numbers are mapped onto
// them relative to the stream's current position with RFC 1982 arithmetic, so
// wrapping at 2^32 needs no special case anywhere below.
//
// Ownership (DESIGN.md "Buffer ownership"): insert() takes one reference of the
// mbuf whatever happens; a segment split into pieces holds one reference per
// piece (rte_mbuf_refcnt_update); every reference leaves through the worker's
// drop_list, freed in bulk once per burst.
//
// Lcore: a stream belongs to one worker and is used on that worker's lcore only
// (the application reads on the same lcore, between bursts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rxinto/base/seq32.hpp"
#include "rxinto/mbuf/drop_list.hpp"
#include "rxinto/tcp/counters.hpp"

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
    /// hole becomes a gap: a capture taken at several points (or several queues)
    /// can show the ACK before the data it acknowledges.
    std::uint32_t ack_grace_packets = 32;
};

/// A piece of a stream: `len` bytes at stream offset `off`, found `pkt_off`
/// bytes into the packet data of `m` (which may be a chain).
struct segment {
    std::uint64_t off = 0;
    std::uint32_t len = 0;
    std::uint32_t pkt_off = 0;
    rte_mbuf* m = nullptr;
    segment* prev = nullptr;
    segment* next = nullptr;
    [[nodiscard]] std::uint64_t end() const noexcept { return off + len; }
};

/// Fixed pool of segment nodes, allocated once per worker (control path) so
/// that the per-packet path never allocates. Nodes are found by the lists they
/// are on, never searched.
class segment_pool {
public:
    explicit segment_pool(std::size_t n);
    [[nodiscard]] segment* alloc() noexcept {
        segment* s = free_;
        if (s != nullptr) {
            free_ = s->next;
            ++used_;
        }
        return s;
    }
    void free(segment* s) noexcept {
        s->next = free_;
        free_ = s;
        --used_;
    }
    [[nodiscard]] std::size_t used() const noexcept { return used_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return slab_.size(); }

private:
    std::vector<segment> slab_;
    segment* free_ = nullptr;
    std::size_t used_ = 0;
};

/// What a stream needs from its worker: shared per-worker state.
struct stream_env {
    segment_pool* pool = nullptr;
    mbuf::drop_list* drops = nullptr;
    tcp_counters* counters = nullptr;
    stream_limits limits{};
    overlap_policy policy = overlap_policy::first;
    bool pool_pressure = false;  ///< mempool below its low-water mark this burst
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

class stream {
public:
    // ---- worker side ----------------------------------------------------

    [[nodiscard]] bool anchored() const noexcept { return anchored_; }
    [[nodiscard]] bool midstream() const noexcept { return midstream_; }
    /// Offset 0 is `first` (ISN + 1 after a SYN, or the first byte seen).
    void anchor(seq32 first, bool midstream) noexcept;
    /// Moves offset 0 to `first` (a SYN that arrived after data of a stream
    /// picked up mid-way). Only while nothing was read; false otherwise.
    bool reanchor(seq32 first, const stream_env& env) noexcept;

    /// Adds payload [seq, seq + len) found pkt_off bytes into m. Takes one
    /// reference of m in every case.
    void insert(seq32 seq, std::uint32_t len, rte_mbuf* m, std::uint32_t pkt_off,
                stream_env& env) noexcept;

    /// The FIN's sequence number (seq of the FIN segment + its payload length).
    void on_fin(seq32 fin_seq, stream_env& env) noexcept;
    /// The peer acknowledged everything before `ack`: holes below it were on
    /// the wire but not captured, and become gaps once limits.ack_grace_packets
    /// more packets of the connection have not filled them (see tick()).
    void on_peer_ack(seq32 ack, stream_env& env) noexcept;
    /// [seq, seq + len) is known to be missing (the tail of a frame cut by the
    /// capture's snaplen): when the reader reaches it and no copy of those bytes
    /// came, it is a gap at once; other holes are not affected.
    void declare_missing(seq32 seq, std::uint32_t len, stream_env& env) noexcept;
    /// One packet of the connection went by: ages ACK-proven holes.
    void tick(const stream_env& env) noexcept {
        if (proof_ > declared_) age_proof(env);
    }
    /// Is seq acceptable for a RST (within the window around the position)?
    [[nodiscard]] bool in_window(seq32 seq, std::uint32_t window) const noexcept;
    /// Ends the stream (rst, timeout, evicted, eof): every hole up to the
    /// highest byte seen becomes a gap. A stream whose FIN was seen ends with fin.
    void end(end_reason r, stream_env& env) noexcept;
    /// Frees every held segment (connection released).
    void release(stream_env& env) noexcept;

    // ---- application side (same lcore) ----------------------------------

    /// Copies the next in-order bytes into buf: never more than buf holds,
    /// never across a gap. Never blocks, allocates or throws.
    recv_result recv_into(std::span<std::byte> buf, stream_env& env) noexcept;
    /// The state at the read position without reading.
    [[nodiscard]] recv_result poll() const noexcept;
    /// Skips the gap at the read position; returns its length (0 if none).
    std::uint64_t skip_gap(stream_env& env) noexcept;
    /// Views of the next in-order bytes, in order, into `out`; returns how many
    /// views were filled. Valid until the next call that changes this stream
    /// (insert, consume, recv_into, skip_gap, end, release).
    std::size_t peek(std::span<std::span<const std::byte>> out) const noexcept;
    /// Releases the first n in-order bytes (n <= readable()).
    void consume(std::uint64_t n, stream_env& env) noexcept;

    /// Read position (stream offset of the next byte to read).
    [[nodiscard]] std::uint64_t offset() const noexcept { return next_; }
    /// In-order bytes readable now, before the next hole.
    [[nodiscard]] std::uint64_t readable() const noexcept { return contig_ - next_; }
    [[nodiscard]] std::uint64_t held_bytes() const noexcept { return held_bytes_; }
    [[nodiscard]] std::uint32_t held_segments() const noexcept { return nseg_; }
    [[nodiscard]] std::uint64_t delivered() const noexcept { return delivered_; }
    [[nodiscard]] std::uint64_t gap_bytes() const noexcept { return gap_bytes_; }
    [[nodiscard]] std::uint32_t gap_count() const noexcept { return gap_count_; }
    [[nodiscard]] std::uint64_t overlap_conflicts() const noexcept { return conflicts_; }
    [[nodiscard]] end_reason ended() const noexcept { return end_; }
    [[nodiscard]] bool fin_seen() const noexcept { return fin_ != no_offset; }
    /// The stream is over: ended, and everything before the end was read.
    [[nodiscard]] bool finished() const noexcept { return end_ != end_reason::none && next_ >= end_off_; }

private:
    static constexpr std::uint64_t no_offset = UINT64_MAX;

    /// Stream offset of seq relative to the read position; false when it is
    /// not comparable or more than max_window away.
    [[nodiscard]] bool to_offset(seq32 seq, std::uint32_t max_window, std::int64_t& off) const noexcept;
    void link_before(segment* s, segment* before) noexcept;
    void unlink(segment* s) noexcept;
    void drop_segment(segment* s, stream_env& env) noexcept;
    void extend_contig() noexcept;
    void recompute_contig() noexcept;
    void declare_gap_until(std::uint64_t until) noexcept;
    void resolve_pressure(stream_env& env) noexcept;
    void insert_first(std::uint64_t s, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off,
                      stream_env& env) noexcept;
    void insert_last(std::uint64_t s, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off,
                     stream_env& env) noexcept;
    void advance(std::uint64_t n, stream_env& env) noexcept;
    void age_proof(const stream_env& env) noexcept;

    bool anchored_ = false;
    bool midstream_ = false;
    end_reason end_ = end_reason::none;
    seq32 base_{};                 ///< sequence number of offset 0
    std::uint64_t next_ = 0;       ///< read position
    std::uint64_t contig_ = 0;     ///< end of the contiguous bytes held from next_
    std::uint64_t declared_ = 0;   ///< holes below this are gaps
    std::uint64_t proof_ = 0;      ///< ACK-proven end whose grace period is running
    std::uint64_t pending_ = 0;    ///< highest ACK-proven end seen
    std::uint32_t proof_age_ = 0;  ///< packets since proof_ was set
    /// Ranges known to be missing (snaplen-cut tails), oldest first. A fixed
    /// handful: when more are outstanding, the oldest becomes a declared gap.
    static constexpr std::size_t max_missing = 4;
    std::uint64_t missing_[max_missing][2] = {};
    std::uint8_t nmissing_ = 0;
    std::uint64_t highest_ = 0;    ///< end of the highest byte seen
    std::uint64_t fin_ = no_offset;
    std::uint64_t end_off_ = no_offset;
    segment* head_ = nullptr;
    segment* tail_ = nullptr;
    segment* contig_seg_ = nullptr;  ///< last segment of the contiguous run from next_, or null
    std::uint32_t nseg_ = 0;
    std::uint32_t gap_count_ = 0;
    std::uint64_t held_bytes_ = 0;
    std::uint64_t delivered_ = 0;
    std::uint64_t gap_bytes_ = 0;
    std::uint64_t conflicts_ = 0;
};

}  // namespace rxinto::tcp
