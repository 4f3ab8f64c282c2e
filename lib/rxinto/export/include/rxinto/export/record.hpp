// A connection as its producer hands it to the exporter (submit_open,
// submit_end): what becomes, per direction, the fields of one line of
// index.jsonl (DESIGN.md "Stream output") plus what the fleet index needs to
// find the bytes again (node and run are the exporter's, added when the
// records are published). One submit carries both directions: one ring
// message per connection and event, two records on the wire.
//
// Every pointer and view is borrowed for the duration of the call only: it
// copies what it needs into the ring and keeps nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

namespace rxinto::fleet {

/// A record is sent when a direction opens and when it ends. The record id
/// (JetStream's Nats-Msg-Id, and the row key of rxinto-index) is
/// "<node>.<run>.<conn>.<d>.<kind>", so a retry of the same record is a duplicate
/// that JetStream and PostgreSQL both recognise.
enum class record_kind : std::uint8_t { open, end };

[[nodiscard]] constexpr const char* to_string(record_kind k) noexcept {
    return k == record_kind::open ? "open" : "end";
}

/// Where a worker's pcapng writer (-w) stood: a file of its series and a byte
/// offset in it. file == nullptr: no pcapng output.
struct pcap_position {
    const char* file = nullptr;
    std::uint64_t offset = 0;
};

/// What both directions of a connection share. Addresses and ports are the
/// flow key's: endpoint a (addr_a, port_a) sends direction 0.
struct conn_info {
    std::uint16_t worker = 0;
    std::uint64_t conn = 0;            ///< connection id, shared by both directions (index.jsonl "conn")
    std::uint8_t ip_version = 4;
    const std::uint8_t* addr_a = nullptr;  ///< 16 bytes (IPv4: the first 4)
    const std::uint8_t* addr_b = nullptr;
    std::uint16_t port_a = 0;
    std::uint16_t port_b = 0;
    std::span<const std::uint16_t> vlan;   ///< ids, outermost first
    std::uint64_t first_ns = 0;            ///< first packet of the connection, ns since the epoch
    std::uint64_t last_ns = 0;             ///< last packet of the connection
    pcap_position pcap_first;              ///< the burst with the connection's first packet began here
    pcap_position pcap_last;               ///< the burst with its last delivered data ended here
};

/// One direction d (0: a -> b, 1: b -> a of the flow key, stable for the
/// connection's life; its label may change after the open record, when a
/// late SYN names the client).
struct direction_info {
    std::string_view dir;               ///< "c2s", "s2c", "a2b", "b2a" (index.jsonl "dir")
    bool midstream = false;
    std::uint64_t packets = 0;          ///< TCP segments of this direction seen
    // End records only:
    std::string_view end;               ///< "fin", "rst", "timeout", "evicted", "eof"
    std::uint64_t bytes = 0;            ///< index.jsonl "bytes": in the stream file (delivered without one)
    std::uint64_t delivered = 0;        ///< by the reassembler
    std::span<const std::pair<std::uint64_t, std::uint64_t>> lost;  ///< delivered, not in the file: [offset, length]
    std::uint64_t overlap_conflicts = 0;
    std::string_view file;              ///< stream file relative to the streams dir; "" = none
    std::span<const std::pair<std::uint64_t, std::uint64_t>> gaps;  ///< [offset, length]
    std::uint64_t chunk_bytes_lost = 0; ///< --export-streams: delivered bytes that no chunk carries
};

/// A piece of a direction's delivered bytes (--export-streams): bytes
/// [offset, offset + data.size()) of the stream with its gaps removed (the
/// stream file's coordinates).
struct chunk_ref {
    std::uint16_t worker = 0;
    std::uint64_t conn = 0;
    std::uint8_t d = 0;
    std::string_view dir;
    std::uint64_t offset = 0;
};

}  // namespace rxinto::fleet
