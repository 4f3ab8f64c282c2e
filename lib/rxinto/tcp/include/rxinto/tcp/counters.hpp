// Reassembly outcomes, one counter each, per worker. The enum indexes a
// stats::counter_array; to_string() gives the JSON key.
#pragma once

#include <cstdint>

#include "rxinto/base/counter.hpp"

namespace rxinto::tcp {

enum class tcp_counter : std::uint8_t {
    segments,                ///< TCP segments with payload handed to a stream
    in_order,                ///< ... that started at the stream's contiguous end
    out_of_order,            ///< ... that started past a hole
    duplicates,              ///< ... whose every byte was already held or delivered
    partial_overlaps,        ///< ... trimmed because part of it was already there
    overlap_conflicts,       ///< overlapping bytes that differ from the held copy
    gaps,                    ///< holes declared as gaps (reported out of band)
    gap_bytes,               ///< bytes in those gaps
    data_after_fin,          ///< segments (or parts) past the FIN's sequence number
    out_of_window,           ///< segments too far from the stream's position
    before_stream_start,     ///< data before offset 0 (before the ISN or the pickup point)
    rst_ignored,             ///< RSTs outside the window (e.g. injected)
    checksum_bad,            ///< segments dropped for a bad TCP checksum
    checksum_offloaded,      ///< bad checksums that look like tx offload on the capturing host
    ip_checksum_bad,         ///< IPv4 headers dropped for a bad checksum
    flows_created,
    flows_closed,            ///< connections released after both directions ended
    flows_timed_out,
    flows_evicted,           ///< pushed out of a full flow table
    flows_reused,            ///< tuple reused: a new SYN ended the old connection
    midstream_pickups,       ///< connections picked up without their handshake
    no_handshake,            ///< packets dropped: unknown connection, no SYN, pickup off
    late_syn,                ///< SYNs after data was already delivered mid-stream
    segment_pool_exhausted,  ///< segments dropped: the worker's segment pool was empty
    stream_cap_drops,        ///< segments dropped: a stream's segment or byte cap
    cap_gaps,                ///< gaps declared to resolve a cap or pool pressure
    ip_fragments,            ///< IP fragments taken in for reassembly
    ip_reassembled,          ///< datagrams rebuilt from fragments
    wrong_worker,            ///< software dispatch sent the packet to another worker than its flow's
    pickup_moved_back,       ///< a provisional mid-stream start moved back to earlier data or an ACK
    events_dropped,          ///< events that did not fit the event list (bursts above max_burst)
    tcp_options_ignored,     ///< segments used with some TCP options ignored (net::tcp_options_ignored)
    count_
};

[[nodiscard]] const char* to_string(tcp_counter c) noexcept;

/// What became of each frame handed to a reassembler: exactly one outcome per
/// frame, so that frames in == the sum of the outcomes (the accounting check).
/// A datagram rebuilt from fragments is not a frame: its fragments were
/// counted as `fragment` when taken.
enum class packet_outcome : std::uint8_t {
    accepted,          ///< handed to a TCP connection (its data and flags were used)
    parse_refused,     ///< not TCP or malformed (by kind in the parse counters)
    fragment,          ///< taken by IP reassembly
    fragment_refused,  ///< a fragment IP reassembly cannot take (chained, extension headers)
    checksum_bad,
    no_handshake,      ///< unknown connection and no SYN (or a RST), or the table was full
    out_of_window,     ///< beyond the receiver's window: not part of the stream
    count_
};

[[nodiscard]] const char* to_string(packet_outcome o) noexcept;

using outcome_counters = stats::counter_array<packet_outcome>;

using tcp_counters = stats::counter_array<tcp_counter>;

}  // namespace rxinto::tcp
