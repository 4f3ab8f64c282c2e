#include "rxinto/tcp/counters.hpp"

namespace rxinto::tcp {

const char* to_string(tcp_counter c) noexcept {
    switch (c) {
    case tcp_counter::segments: return "segments";
    case tcp_counter::in_order: return "in_order";
    case tcp_counter::out_of_order: return "out_of_order";
    case tcp_counter::duplicates: return "duplicates";
    case tcp_counter::partial_overlaps: return "partial_overlaps";
    case tcp_counter::overlap_conflicts: return "overlap_conflicts";
    case tcp_counter::gaps: return "gaps";
    case tcp_counter::gap_bytes: return "gap_bytes";
    case tcp_counter::data_after_fin: return "data_after_fin";
    case tcp_counter::out_of_window: return "out_of_window";
    case tcp_counter::before_stream_start: return "before_stream_start";
    case tcp_counter::rst_ignored: return "rst_ignored";
    case tcp_counter::checksum_bad: return "checksum_bad";
    case tcp_counter::checksum_offloaded: return "checksum_offloaded";
    case tcp_counter::ip_checksum_bad: return "ip_checksum_bad";
    case tcp_counter::flows_created: return "flows_created";
    case tcp_counter::flows_closed: return "flows_closed";
    case tcp_counter::flows_timed_out: return "flows_timed_out";
    case tcp_counter::flows_evicted: return "flows_evicted";
    case tcp_counter::flows_reused: return "flows_reused";
    case tcp_counter::midstream_pickups: return "midstream_pickups";
    case tcp_counter::no_handshake: return "no_handshake";
    case tcp_counter::late_syn: return "late_syn";
    case tcp_counter::segment_pool_exhausted: return "segment_pool_exhausted";
    case tcp_counter::stream_cap_drops: return "stream_cap_drops";
    case tcp_counter::cap_gaps: return "cap_gaps";
    case tcp_counter::ip_fragments: return "ip_fragments";
    case tcp_counter::ip_reassembled: return "ip_reassembled";
    case tcp_counter::wrong_worker: return "wrong_worker";
    case tcp_counter::pickup_moved_back: return "pickup_moved_back";
    case tcp_counter::events_dropped: return "events_dropped";
    case tcp_counter::tcp_options_ignored: return "tcp_options_ignored";
    case tcp_counter::count_: break;
    }
    return "unknown";
}

const char* to_string(packet_outcome o) noexcept {
    switch (o) {
    case packet_outcome::accepted: return "accepted";
    case packet_outcome::parse_refused: return "parse_refused";
    case packet_outcome::fragment: return "fragment";
    case packet_outcome::fragment_refused: return "fragment_refused";
    case packet_outcome::checksum_bad: return "checksum_bad";
    case packet_outcome::no_handshake: return "no_handshake";
    case packet_outcome::out_of_window: return "out_of_window";
    case packet_outcome::count_: break;
    }
    return "unknown";
}

}  // namespace rxinto::tcp
