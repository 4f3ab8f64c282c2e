// The worker's side of a stream: used by the reassembler and by the endpoint
// layer (lib/rxinto/endpoint), which terminates TCP on the same streams. Not
// for applications: they read through tcp::stream only.
//
// Segments are kept as references to the mbufs they arrived in (an offset and
// a length into each). Sequence numbers are mapped onto 64-bit stream offsets
// relative to the stream's read position with RFC 1982 arithmetic, so
// wrapping at 2^32 needs no special case anywhere below.
//
// Ownership (DESIGN.md "Buffer ownership"): insert() takes one reference of
// the mbuf whatever happens; a segment split into pieces holds one reference
// per piece (rte_pktmbuf_refcnt_update); every reference leaves through the
// worker's drop_list, freed in bulk once per burst.
//
// Lcore: the worker's, like the stream.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rxinto/base/seq32.hpp"
#include "rxinto/mbuf/drop_list.hpp"
#include "rxinto/tcp/counters.hpp"
#include "rxinto/tcp/stream.hpp"

struct rte_mbuf;

namespace rxinto::tcp {

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

/// Fixed pool of segment nodes in EAL memory, made once per worker (control
/// path) so that the per-packet path never allocates. Nodes are found by the
/// lists they are on, never searched.
class segment_pool {
public:
    /// n nodes on `socket`; capacity() is 0 when EAL memory was short.
    segment_pool(std::size_t n, int socket);
    ~segment_pool();
    segment_pool(const segment_pool&) = delete;
    segment_pool& operator=(const segment_pool&) = delete;
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
    [[nodiscard]] std::size_t capacity() const noexcept { return n_; }
    [[nodiscard]] static std::uint64_t memory_needed(std::size_t n) noexcept { return n * sizeof(segment) + 4096; }

private:
    segment* slab_ = nullptr;
    segment* free_ = nullptr;
    std::size_t n_ = 0;
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
    std::uint64_t now_ns = 0;    ///< packet time of the burst
};

/// The worker's operations on a stream.
class stream_rx {
public:
    explicit stream_rx(stream& s) noexcept : s_(s) {}

    /// The stream uses env for its pool, drop list and counters from now on.
    void attach(stream_env& env) noexcept { s_.env_ = &env; }

    /// Offset 0 is `first` (ISN + 1 after a SYN, or the first byte seen). A
    /// mid-stream start is provisional: data before it that arrives before
    /// the first in-order evidence moves it back (see confirm()).
    void anchor(seq32 first, bool midstream) noexcept;
    /// Moves offset 0 to `first` (a SYN that arrived after data of a stream
    /// picked up mid-way). Only while nothing was read; false otherwise.
    bool reanchor(seq32 first) noexcept;
    /// In-order evidence for a mid-stream start (or its grace passed): the
    /// start is final and the held bytes become readable.
    void confirm() noexcept;
    [[nodiscard]] bool provisional() const noexcept { return s_.provisional_; }

    /// Adds payload [seq, seq + len) found pkt_off bytes into m. Takes one
    /// reference of m in every case.
    void insert(seq32 seq, std::uint32_t len, rte_mbuf* m, std::uint32_t pkt_off) noexcept;
    /// The FIN's sequence number (seq of the FIN segment + its payload length).
    void on_fin(seq32 fin_seq) noexcept;
    /// The peer acknowledged everything before `ack`: holes below it were on
    /// the wire but not captured, and become gaps once the grace passed (tick()).
    /// For a provisional mid-stream start it is the in-order evidence.
    void on_peer_ack(seq32 ack) noexcept;
    /// [seq, seq + len) is known to be missing (the tail of a frame cut by the
    /// capture's snaplen): when the reader reaches it and no copy of those bytes
    /// came, it is a gap at once; other holes are not affected.
    void declare_missing(seq32 seq, std::uint32_t len) noexcept;
    /// One packet of the connection went by: ages ACK-proven holes and a
    /// provisional start.
    void tick() noexcept;
    /// Is seq acceptable for a RST (within the window around the position)?
    [[nodiscard]] bool in_window(seq32 seq, std::uint32_t window) const noexcept;
    /// Ends the stream (rst, timeout, evicted, eof): every hole up to the
    /// highest byte seen becomes a gap. A stream whose FIN was seen ends with fin.
    void end(end_reason r) noexcept;
    /// Frees every held segment (connection released).
    void release() noexcept;

    // ---- for a receiver that acknowledges (the endpoint layer) -------------
    // Inline and read-only: nothing here changes the stream.

    /// Stream offset just past the contiguous bytes held or read: what a
    /// receiver acknowledges (RCV.NXT - offset 0). Only meaningful while no
    /// gap was declared (an endpoint never declares one).
    [[nodiscard]] std::uint64_t contiguous_end() const noexcept { return s_.contig_; }
    /// The sequence number of stream offset `off` (offset 0 is the anchor).
    [[nodiscard]] seq32 seq_at(std::uint64_t off) const noexcept {
        return s_.base_ + static_cast<std::uint32_t>(off);
    }
    /// The stream offset of `seq`, taken as the nearest one to the read
    /// position (RFC 1982: within 2^31 of it).
    [[nodiscard]] std::int64_t offset_of(seq32 seq) const noexcept {
        return static_cast<std::int64_t>(s_.next_) + (seq - (s_.base_ + static_cast<std::uint32_t>(s_.next_)));
    }
    /// The ranges held past the first hole ([begin, end) stream offsets,
    /// adjacent segments merged), lowest first, at most `max` of them: the
    /// material of SACK blocks (RFC 2018). Returns how many were written.
    std::size_t held_ranges_past_hole(std::uint64_t (*out)[2], std::size_t max) const noexcept {
        std::size_t n = 0;
        const segment* x = s_.contig_seg_ != nullptr ? s_.contig_seg_->next : s_.head_;
        while (x != nullptr && x->off <= s_.contig_) x = x->next;  // still contiguous
        for (; x != nullptr; x = x->next) {
            if (n != 0 && out[n - 1][1] == x->off) {
                out[n - 1][1] = x->end();
                continue;
            }
            if (n == max) break;
            out[n][0] = x->off;
            out[n][1] = x->end();
            ++n;
        }
        return n;
    }

private:
    [[nodiscard]] bool to_offset(seq32 seq, std::uint32_t max_window, std::int64_t& off) const noexcept;
    void link_before(segment* x, segment* before) noexcept;
    void unlink(segment* x) noexcept;
    void drop_segment(segment* x) noexcept;
    void declare_gap_until(std::uint64_t until) noexcept;
    void resolve_pressure() noexcept;
    void shift_start_back(std::uint64_t by) noexcept;
    void insert_first(std::uint64_t b, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off) noexcept;
    void insert_last(std::uint64_t b, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off) noexcept;
    void age_proof() noexcept;
    [[nodiscard]] bool grace_over(std::uint32_t packets, std::uint64_t since_ns) const noexcept;

    stream& s_;
};

}  // namespace rxinto::tcp
