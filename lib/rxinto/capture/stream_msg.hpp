// What a worker tells the output thread about its TCP streams, through its
// stream ring (rte_ring of fixed-size elements, one producer: the worker, one
// consumer: the output thread). Everything a connection's output needs goes
// through the same ring in order: open, then data and gaps per direction,
// then end.
//
// Data messages carry packet-buffer references (tcp::stream::take), not
// copies: the output thread writes them with writev and frees them.
//
// cap_seq places a message among the packets the same worker handed to its
// capture ring (-w): how many it had enqueued there before the burst that
// opened the connection (open), or after the burst the message came from
// (data, gap, mark). The output thread turns it into a pcapng file and
// offset for the fleet export records (output.hpp, capture_positions).
#pragma once

#include <cstdint>

#include "rxinto/flow/flow_key.hpp"
#include "rxinto/tcp/stream.hpp"

namespace rxinto::capture {

/// mark: the connection closed (FIN or RST both ways) in this burst; only
/// its cap_seq matters (the pcapng position of its last packets).
enum class msg_kind : std::uint8_t { open, data, gap, mark, end };

inline constexpr unsigned msg_pieces = 6;

struct alignas(64) stream_msg {
    msg_kind kind = msg_kind::open;
    std::uint8_t dir = 0;      ///< flow::direction index (data, gap)
    std::uint8_t npieces = 0;  ///< data: valid entries of data.pieces
    std::int8_t client = -1;   ///< open, end: the client's direction index, -1 unknown
    std::uint8_t first_dir = 0;  ///< open, end: the direction of the first packet
    std::uint64_t conn = 0;    ///< connection id
    std::uint64_t offset = 0;  ///< data: stream offset of the first piece; gap: of the gap
    std::uint64_t cap_seq = 0; ///< see the top of this file (0 without a capture ring)
    union body {
        struct {
            tcp::mbuf_piece pieces[msg_pieces];
        } data;
        struct {
            std::uint64_t len;
        } gap;
        struct {
            flow::flow_key key;
            std::uint64_t first_ns;
            std::uint64_t cap_seq_end;  ///< cap_seq after the burst that opened it
            bool midstream;
        } open;
        struct {
            std::uint64_t delivered[2];  ///< bytes the reassembler delivered per direction
            std::uint64_t offset[2];     ///< its read position at the end (data and gaps before it)
            std::uint64_t conflicts[2];
            std::uint64_t packets[2];    ///< TCP segments per direction
            std::uint64_t last_ns;
            std::uint8_t end[2];         ///< tcp::end_reason per direction
            bool midstream[2];
        } end;
        body() noexcept : gap{0} {}
    } u;
};
static_assert(sizeof(stream_msg) == 128, "stream ring elements are 128 bytes");

}  // namespace rxinto::capture
