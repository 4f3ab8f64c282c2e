// Deterministic generator of TCP conversations, written as nanosecond pcap.
//
// Used by the default run of rxinto (an embedded capture, nothing downloaded),
// by integration tests (exact packet and byte counts) and by TCP reassembly
// tests (StreamTruth: every byte each sender sent, and which byte ranges never
// reached the capture).
//
// Determinism: the same GenOptions give byte-identical frames on every
// platform. All randomness comes from splitmix64 with values derived by hand
// (no std::*_distribution). Each flow draws from its own generator seeded from
// (seed, flow index), so a flow's packets do not depend on the other flows;
// the interleaving of flows and the timestamps come from a separate generator.
//
// Shape of one flow (conn i):
//   client 10.0.0.0+(i+1) / fd00::1:0:<i+1>, port 40000 + i % 25000
//   server 10.128.0.<i%8+1> / fd00::2:0:<i%8+1>, port 80, 443 or 5201 (i % 3)
//   [SYN, SYN/ACK, ACK] with MSS, SACK-permitted, timestamps, window scale;
//   1..3 rounds of (request c2s, response s2c) in segments of up to mss
//   bytes, a pure ACK from the receiver after every 2nd segment and after
//   the last segment of a burst; [FIN/ACK c2s, FIN/ACK s2c, ACK c2s].
//   Timestamps option on every segment. Valid IPv4 and TCP checksums.
//   Flow 0 c2s ISN = 0xFFFFFF00 and flow 0 s2c ISN = 2^32 - 1 - s2c/2, flow 1
//   c2s ISN = 0xFFFFFFFF: sequence numbers wrap inside these streams.
//
// Impairments, rolled independently per data segment:
//   reorder   the segment swaps places with the next frame of its connection
//             (so a reassembler really sees it out of order);
//   duplicate a byte-identical copy is emitted 1..4 frames of the connection
//             later;
//   loss      the original frame is absent from the capture (capture loss:
//             the receiver's ACKs still acknowledge it). Its range is in
//             StreamTruth::lost unless a duplicate copy made it.
// IP fragmentation, rolled per data segment after the impairments above (from
// its own generator, so it never changes the other rolls or the frames of a
// capture without it):
//   fragment  the segment's IP datagram is sent as 2..4 IP fragments cut at
//             8-byte boundaries of the IP payload (the TCP segment, whose
//             checksum covers the whole segment as usual). IPv4: the
//             datagram's identification, MF on all but the last, offset in
//             8-byte units, DF cleared, each fragment's header checksum. IPv6:
//             a Fragment extension header right after the IPv6 header (next
//             header 44) with a 32-bit identification (per direction: a random
//             base, + 1 per fragmented datagram). Frames shorter than 60 bytes
//             are padded with zeros to the Ethernet minimum (a link trailer).
//             The fragments of a datagram are consecutive frames of their
//             connection (other connections' frames may come in between), in
//             offset order, or last first with fragment_reverse. Ground truth
//             is unchanged: fragmented data is captured data. A duplicate copy
//             is rolled on its own (it may be fragmented differently).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rxinto/base/result.hpp"

namespace rxinto::gen {

struct GenOptions {
    std::uint64_t seed = 1;
    unsigned flows = 8;                  ///< TCP connections, 1..100000
    double ipv6_share = 0.5;             ///< share of flows over IPv6, [0,1] (exact, not random)
    std::uint32_t c2s_bytes = 2000;      ///< client → server payload per flow (before jitter)
    std::uint32_t s2c_bytes = 20000;     ///< server → client payload per flow (before jitter)
    std::uint16_t mss = 1448;            ///< max payload per segment, 1..9000
    double reorder = 0;                  ///< per data segment probability, [0,1]
    double duplicate = 0;                ///< per data segment probability, [0,1]
    double loss = 0;                     ///< per data segment probability, [0,1]
    double fragment = 0;                 ///< per data segment: sent as IP fragments, [0,1]
    bool fragment_reverse = false;       ///< emit each datagram's fragments last first
    unsigned vlan_tags = 0;              ///< 0, 1 (0x8100) or 2 (QinQ: outer 0x88a8, inner 0x8100)
    bool handshake = true;               ///< emit SYN, SYN/ACK, ACK
    bool fin = true;                     ///< emit FIN/ACK, FIN/ACK, ACK
    std::uint32_t size_jitter_pct = 50;  ///< each flow's byte counts vary by up to ±this %, 0..100
    std::uint64_t start_ns = 1700000000'000000000;  ///< timestamp of the first frame
};

/// The embedded default capture: 8 flows, mixed IPv4/IPv6, reorder 0.05,
/// duplicate 0.02, no loss, no VLAN (about 250 frames).
GenOptions default_options();

/// Checks ranges; the message names the option and the accepted range.
Status validate(const GenOptions& opt);

struct Frame {
    std::uint64_t ts_ns;
    std::vector<std::uint8_t> bytes;
};

/// Ground truth of one direction of one connection.
struct StreamTruth {
    unsigned conn;          ///< flow index, shared by both directions
    bool c2s;               ///< true: client → server
    std::string src, dst;   ///< textual addresses (inet_ntop form)
    std::uint16_t sport, dport;
    std::vector<std::uint16_t> vlan;  ///< VLAN ids, outermost first
    std::uint32_t isn;      ///< sequence number of the SYN; payload byte k has seq isn + 1 + k
    std::vector<std::uint8_t> payload;  ///< every byte the sender sent, in order
    /// [offset, length] ranges of payload present in no captured frame
    /// (merged, sorted; offsets relative to the first payload byte).
    std::vector<std::pair<std::uint64_t, std::uint64_t>> lost;

    [[nodiscard]] std::uint64_t lost_bytes() const;
};

struct Capture {
    std::vector<Frame> frames;          ///< in capture order, timestamps strictly increasing
    std::vector<StreamTruth> streams;   ///< conn 0 c2s, conn 0 s2c, conn 1 c2s, ...

    /// Sum of all frame lengths (what a pcap replay delivers, headers included).
    [[nodiscard]] std::uint64_t frame_bytes() const;
};

/// Generates the capture; fails only when validate() does.
Result<Capture> generate(const GenOptions& opt);

/// Writes a nanosecond-resolution pcap (DLT_EN10MB, snaplen 65535).
Status write_pcap(const Capture& cap, const std::string& path);

/// Creates dir if needed; writes per stream conn<N>.<c2s|s2c>.bin (payload)
/// and one line per stream to dir/truth.jsonl:
/// {"conn","dir","src","sport","dst","dport","vlan","file","bytes","captured",
///  "lost":[[off,len],...],"isn"}.
Status write_truth(const Capture& cap, const std::string& dir);

}  // namespace rxinto::gen
