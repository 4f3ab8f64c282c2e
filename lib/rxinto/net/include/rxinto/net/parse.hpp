// Wire formats: link layer (Ethernet II, 802.3 + LLC/SNAP, 802.1Q/802.1ad/QinQ tags,
// Linux cooked capture, BSD null/loopback, raw IP), IPv4, IPv6 with extension
// headers, TCP with options -> packet_meta.
//
// Pure functions over bytes. No DPDK, no allocation, no exceptions, no logging, so
// the same code is unit-tested and fuzzed without an EAL. Every function here is
// noexcept, reentrant, keeps no state and may be called from any lcore.
//
// Buffers: the parser only reads `data[0 .. caplen)`; it never keeps a pointer.
// packet_meta holds offsets into that buffer, not pointers, so it stays meaningful
// only as long as the caller keeps the same bytes (for an mbuf: until it is freed).
// Precondition: data points to at least caplen readable bytes (data may be null
// when caplen is 0). A multi-segment mbuf must be linearised (or its headers read
// with rte_pktmbuf_read into scratch) by the caller: this layer sees one span.
//
// Policies (each one is also stated where it is implemented):
//  * Lengths come from headers, not from the frame. The IP datagram ends where the
//    IPv4 total length / IPv6 payload length says; anything after it in the frame
//    is link padding or a trailer (Ethernet pads to 60 bytes) and is trimmed
//    (packet_meta::l2_trailer_len).
//  * caplen vs wire_len. When the caller says the frame was cut by a capture
//    snaplen (wire_len > caplen), a datagram longer than the captured bytes is
//    legitimate: parsing succeeds as long as every header is captured,
//    snap_truncated is set and payload_len counts the captured payload bytes only
//    (payload_wire_len is what the IP header promises). A header that is cut by the
//    snaplen gives truncated_<layer>. When nothing was cut (wire_len == caplen, the
//    DPDK case), a datagram longer than the frame means the IP header lies:
//    bad_ipv4_total_length / bad_ipv6_payload_length.
//  * When parse_frame returns a status other than ok, the fields of the layers
//    that were parsed before the failure are filled in (e.g. VLAN tags and IP
//    addresses of a not_tcp packet) and the rest are zero. ip_fragment fills in
//    everything up to and including L3 and `frag`, not the TCP fields.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "rxinto/base/seq32.hpp"

namespace rxinto::net {

/// Outcome of parse_frame. Indexes per-lcore drop counters (count_ is the size);
/// to_string() gives the JSON key. Everything except ok is a reason not to hand
/// the packet to a TCP stream (ip_fragment: not yet).
enum class parse_status : std::uint8_t {
    ok,
    truncated_ethernet,      ///< link header cut short (Ethernet, LLC/SNAP, Linux SLL, null/loopback)
    truncated_vlan,          ///< an 802.1Q/802.1ad tag cut short
    too_many_vlan_tags,      ///< more than max_vlan_tags stacked tags
    not_ip,                  ///< ARP, LLC without SNAP, other ethertypes / families / versions
    truncated_ipv4,          ///< IPv4 header (incl. options) not fully captured
    bad_ipv4_version,        ///< ethertype 0x0800 but version != 4
    bad_ipv4_ihl,            ///< IHL < 5, or the header runs past the end of the frame
    bad_ipv4_total_length,   ///< total length < header length, or > the frame on the wire
    ipv4_options_overrun,    ///< an IPv4 option's length is < 2 or runs past the header
    truncated_ipv6,          ///< IPv6 header or an extension header not fully captured
    bad_ipv6_version,        ///< ethertype 0x86dd but version != 6 (not in the first draft of this list)
    bad_ipv6_payload_length, ///< payload length > the frame on the wire, or 0 (jumbogram)
    ipv6_ext_overrun,        ///< an extension header runs past the payload length
    ipv6_too_many_ext,       ///< more than max_ipv6_ext_headers extension headers
    ip_fragment,             ///< a fragment: needs reassembly; see packet_meta::frag. Not an error.
    not_tcp,                 ///< UDP, ICMP, AH, ESP, No Next Header, ...
    truncated_tcp,           ///< TCP header (incl. options) not fully captured / segment < 20 bytes
    bad_tcp_data_offset,     ///< data offset < 5, or header longer than the segment
    // A malformed TCP option is not a reason: the segment is used, as Linux uses it
    // (tcp_options::ignored says what was not read).
    count_
};

inline constexpr std::size_t parse_status_count = static_cast<std::size_t>(parse_status::count_);

/// snake_case name of a status ("ok", "truncated_ipv4", ...); "unknown" if out of range.
/// The pointer is to a string literal (static storage).
[[nodiscard]] const char* to_string(parse_status s) noexcept;

/// How the frame starts. Map a pcap / pcapng link type with link_type_from_pcap().
enum class link_type : std::uint8_t {
    ethernet,       ///< LINKTYPE_ETHERNET (1): Ethernet II or 802.3 + LLC/SNAP, VLAN tags
    raw_ip,         ///< LINKTYPE_RAW (101), DLT_RAW (12 / 14), LINKTYPE_IPV4/IPV6 (228/229)
    linux_sll,      ///< LINKTYPE_LINUX_SLL (113): 16-byte Linux "cooked" header
    null_loopback,  ///< LINKTYPE_NULL (0) host-order family, LINKTYPE_LOOP (108) network order
    count_
};

/// Maps a pcap/pcapng LINKTYPE_ / DLT_ value; nullopt when unsupported.
[[nodiscard]] std::optional<link_type> link_type_from_pcap(std::uint32_t linktype) noexcept;

inline constexpr std::size_t max_vlan_tags = 3;
inline constexpr std::size_t max_ipv6_ext_headers = 8;
inline constexpr std::size_t max_sack_blocks = 4;

inline constexpr std::uint16_t ethertype_ipv4 = 0x0800;
inline constexpr std::uint16_t ethertype_ipv6 = 0x86DD;
inline constexpr std::uint8_t ipproto_tcp = 6;

/// One 802.1Q / 802.1ad tag, as it appeared (outermost first in packet_meta::vlans).
struct vlan_tag {
    std::uint16_t tpid = 0;  ///< 0x8100, 0x88a8 or 0x9100
    std::uint16_t tci = 0;   ///< PCP(3) DEI(1) VID(12)
    [[nodiscard]] constexpr std::uint16_t vid() const noexcept {
        return static_cast<std::uint16_t>(tci & 0x0FFFu);
    }
    [[nodiscard]] constexpr std::uint8_t pcp() const noexcept {
        return static_cast<std::uint8_t>(tci >> 13);
    }
    [[nodiscard]] constexpr bool dei() const noexcept { return (tci & 0x1000u) != 0; }
};

/// IPv4 fragment fields or the IPv6 Fragment header (RFC 791 §3.1, RFC 8200 §4.5).
struct fragment_info {
    bool is_fragment = false;    ///< offset != 0 or more fragments: needs reassembly
    bool more = false;           ///< MF / M flag
    bool dont_fragment = false;  ///< IPv4 DF (always false for IPv6)
    bool v6_header = false;      ///< an IPv6 Fragment header was present (also atomic ones)
    std::uint16_t offset = 0;    ///< in bytes (the header field times 8)
    std::uint32_t id = 0;        ///< IPv4: 16-bit identification; IPv6: 32-bit
};

struct sack_block {
    seq32 left;   ///< first sequence number of the block
    seq32 right;  ///< sequence number just after the block
};

/// Bits of tcp_options::ignored: which options of a segment were not used. The
/// segment itself is parsed (status ok) and its data used either way, as Linux's
/// tcp_parse_options does; dropping it would hide from rxinto data that the
/// receiver accepts.
namespace tcp_options_ignored {
/// A known kind (MSS, window scale, SACK permitted, SACK, timestamps) whose length
/// is wrong for it: that option was ignored, the ones after it were read.
inline constexpr std::uint8_t bad_length = 0x01;
/// A length < 2 or past the end of the header (or a kind in the header's last byte):
/// the option list ended there, the options after it were not read.
inline constexpr std::uint8_t malformed = 0x02;
}  // namespace tcp_options_ignored

/// TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018). Presence flags say which were
/// seen with a valid length; a known option with a wrong length is ignored, a
/// malformed length ends the list (both as Linux's tcp_parse_options does, both
/// noted in `ignored`); duplicates: the last one wins.
struct tcp_options {
    bool has_mss = false;
    bool has_wscale = false;
    bool sack_permitted = false;
    bool has_timestamps = false;
    std::uint8_t wscale = 0;      ///< shift count, clamped to 14 (RFC 7323 §2.3)
    std::uint8_t sack_count = 0;  ///< valid entries in sack
    std::uint8_t ignored = 0;     ///< tcp_options_ignored:: bits; 0 when every option was read
    std::uint16_t mss = 0;
    std::uint32_t ts_val = 0;
    std::uint32_t ts_ecr = 0;
    std::array<sack_block, max_sack_blocks> sack{};
};

/// TCP flag bits as in byte 13 of the TCP header (RFC 9293 §3.1).
namespace tcp_flag {
inline constexpr std::uint8_t fin = 0x01;
inline constexpr std::uint8_t syn = 0x02;
inline constexpr std::uint8_t rst = 0x04;
inline constexpr std::uint8_t psh = 0x08;
inline constexpr std::uint8_t ack = 0x10;
inline constexpr std::uint8_t urg = 0x20;
inline constexpr std::uint8_t ece = 0x40;
inline constexpr std::uint8_t cwr = 0x80;
}  // namespace tcp_flag

/// Everything parse_frame learns about one frame. All offsets are from the start
/// of the frame (data[0]); all integers are in host byte order. Trivially copyable,
/// no pointers: valid for as long as the caller keeps the same bytes.
struct packet_meta {
    // ---- capture ----------------------------------------------------------
    std::uint32_t cap_len = 0;     ///< bytes available (what was parsed)
    std::uint32_t wire_len = 0;    ///< bytes on the wire (>= cap_len)
    bool snap_truncated = false;   ///< the datagram continues past cap_len (snaplen cut it)

    // ---- link -------------------------------------------------------------
    link_type link = link_type::ethernet;
    bool llc_snap = false;          ///< 802.3 length + LLC/SNAP carried the ethertype
    std::uint8_t vlan_count = 0;    ///< valid entries in vlans
    std::uint16_t ethertype = 0;    ///< final ethertype (after tags / SNAP / SLL / null family)
    std::uint16_t sll_pkttype = 0;  ///< Linux SLL packet type (0 host, 4 outgoing, ...)
    std::array<vlan_tag, max_vlan_tags> vlans{};  ///< outermost first
    std::uint32_t l2_trailer_len = 0;  ///< captured bytes after the IP datagram (padding, FCS)

    // ---- network ----------------------------------------------------------
    std::uint8_t ip_version = 0;    ///< 4, 6, or 0 when not reached
    std::uint8_t l4_proto = 0;      ///< IPv4 protocol / final IPv6 next header
    std::uint8_t ttl = 0;           ///< TTL / hop limit
    std::uint8_t tos = 0;           ///< IPv4 TOS / IPv6 traffic class (DSCP + ECN)
    std::uint8_t ipv6_ext_count = 0;           ///< extension headers walked
    std::uint8_t ipv6_routing_segments_left = 0;  ///< of a Routing header, if any
    bool ipv6_has_routing = false;  ///< a Routing header was present (see tcp_checksum_ok)
    /// Addresses: IPv6 as 16 bytes; IPv4 in bytes 0..3 (network order), 4..15 zero.
    /// ip_version tells them apart (it is part of any flow key built from these).
    std::array<std::uint8_t, 16> src_addr{};
    std::array<std::uint8_t, 16> dst_addr{};
    std::uint32_t l3_offset = 0;      ///< start of the IP header
    std::uint32_t l3_header_len = 0;  ///< IPv4: IHL*4; IPv6: 40 + extension headers
    std::uint32_t l3_len = 0;         ///< whole datagram per the IP header (total length / 40 + payload length)
    fragment_info frag{};

    // ---- transport (status ok only) ---------------------------------------
    std::uint32_t l4_offset = 0;  ///< start of the TCP header; for ip_fragment: of the fragment's data
    std::uint32_t l4_len = 0;     ///< TCP header + payload (fragment data), per the IP header
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    seq32 seq{};
    seq32 ack{};
    std::uint8_t tcp_flags = 0;       ///< tcp_flag:: bits
    std::uint8_t tcp_header_len = 0;  ///< data offset * 4 (20..60)
    std::uint16_t window = 0;         ///< raw, unscaled
    std::uint16_t urgent_ptr = 0;
    std::uint32_t payload_offset = 0;    ///< first payload byte
    std::uint32_t payload_len = 0;       ///< payload bytes present in the buffer
    std::uint32_t payload_wire_len = 0;  ///< payload bytes per the IP header (>= payload_len)
    tcp_options opts{};

    [[nodiscard]] constexpr bool has_flag(std::uint8_t f) const noexcept {
        return (tcp_flags & f) != 0;
    }
};

/// Parses one frame. `out` is overwritten entirely (reset first). caplen bytes of
/// `data` are read, never more; wire_len is the frame's length on the wire (pass
/// caplen when nothing was cut off; a wire_len below caplen is taken as caplen).
/// Returns ok only for a complete, unfragmented TCP header; see the file comment
/// for which fields are valid otherwise.
[[nodiscard]] parse_status parse_frame(const std::uint8_t* data, std::uint32_t caplen,
                                       std::uint32_t wire_len, link_type lt,
                                       packet_meta& out) noexcept;

/// Same, for a frame that was not cut (wire_len == len), e.g. an mbuf from a port.
[[nodiscard]] inline parse_status parse_frame(const std::uint8_t* data, std::uint32_t len,
                                              link_type lt, packet_meta& out) noexcept {
    return parse_frame(data, len, len, lt, out);
}

// ---- checksums ------------------------------------------------------------
//
// Implemented here rather than with DPDK's rte_raw_cksum(): <rte_ip.h> is
// header-only but drags in rte_mbuf/rte_mempool headers and DPDK's -march flags,
// and net/ must build and be fuzzed with plain clang -fsanitize=fuzzer and no
// libdpdk. The algorithm is RFC 1071's; ports with rx checksum offload skip this
// entirely (RTE_MBUF_F_RX_*_CKSUM_GOOD).

/// RFC 1071 ones' complement sum of big-endian 16-bit words of data[0..len), an odd
/// last byte padded with zero, added to `initial`, folded to 16 bits (not inverted).
[[nodiscard]] std::uint16_t ones_complement_sum(const std::uint8_t* data, std::uint32_t len,
                                                std::uint32_t initial = 0) noexcept;

/// The IPv4 header checksum of a bare header of hlen bytes verifies (sums to 0xffff).
/// False when hlen < 20.
[[nodiscard]] bool ipv4_header_checksum_ok(const std::uint8_t* hdr, std::uint32_t hlen) noexcept;

/// The IPv4 header checksum of the frame parsed into meta verifies. False when meta
/// is not IPv4 or its header is not inside data[0..len) (so a meta that does not
/// belong to this buffer can never cause an out-of-bounds read).
[[nodiscard]] bool ipv4_header_checksum_ok(const packet_meta& meta, const std::uint8_t* data,
                                           std::uint32_t len) noexcept;

/// The TCP checksum (pseudo-header per RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for
/// IPv6) of the segment parsed into meta verifies. Needs the whole segment: false
/// when meta.snap_truncated or when the segment is not inside data[0..len) (callers
/// that count "bad checksum" should check snap_truncated first: that is "could not
/// verify", not "bad"). Limitation: IPv6 with a Routing header that still has
/// segments left uses the header's destination, not the final one in the routing
/// header, so it reports false for such transit packets.
/// Folded ones' complement sum of the TCP pseudo-header of meta (not inverted).
[[nodiscard]] std::uint16_t tcp_pseudo_header_sum(const packet_meta& meta) noexcept;

/// The TCP checksum field holds what a sender leaves for its NIC to finish
/// (Linux CHECKSUM_PARTIAL: the folded pseudo-header sum) or zero: the mark of
/// transmit checksum offload in a capture taken on the sending host. False
/// when the field is not inside data[0..len).
[[nodiscard]] bool tcp_checksum_offload_mark(const packet_meta& meta, const std::uint8_t* data,
                                             std::uint32_t len) noexcept;

[[nodiscard]] bool tcp_checksum_ok(const packet_meta& meta, const std::uint8_t* data,
                                   std::uint32_t len) noexcept;

}  // namespace rxinto::net
