// Writing the frames the endpoint sends: Ethernet (+ the peer's VLAN tags),
// IPv4/IPv6, TCP with options, ARP, ICMP. Private to the endpoint layer.
// Checksums in software (RFC 1071, net::ones_complement_sum): the frames are
// small (headers, or a reply of at most one MSS) and the ports rxinto sends on
// in tests (af_packet, af_xdp, tap) have no tx checksum offload.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "rxinto/net/parse.hpp"

namespace rxinto::endpoint::wire {

inline void put16(std::uint8_t* p, std::uint16_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline void put32(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t get16(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t get32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

using mac = std::array<std::uint8_t, 6>;

/// Who a frame goes to and from: the link and IP ends of a reply.
struct path {
    std::uint16_t port_id = 0;
    std::uint16_t binding = 0;  ///< index of the port binding (tx queue, our MAC)
    mac local_mac{};
    mac peer_mac{};
    std::uint8_t nvlan = 0;
    std::array<net::vlan_tag, net::max_vlan_tags> vlans{};
    std::uint8_t ip_version = 4;
    std::array<std::uint8_t, 16> local{};
    std::array<std::uint8_t, 16> peer{};
    std::uint16_t local_port = 0;
    std::uint16_t peer_port = 0;
};

/// Ethernet header + tags; returns its length.
inline std::uint32_t write_eth(std::uint8_t* p, const path& t, std::uint16_t ethertype) noexcept {
    std::memcpy(p, t.peer_mac.data(), 6);
    std::memcpy(p + 6, t.local_mac.data(), 6);
    std::uint32_t off = 12;
    for (std::uint8_t i = 0; i < t.nvlan && i < net::max_vlan_tags; ++i) {
        put16(p + off, t.vlans[i].tpid);
        put16(p + off + 2, t.vlans[i].tci);
        off += 4;
    }
    put16(p + off, ethertype);
    return off + 2;
}

inline std::uint16_t fold(std::uint32_t s) noexcept {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}

/// IP header for an L4 payload of l4_len bytes; returns its length.
inline std::uint32_t write_ip(std::uint8_t* p, const path& t, std::uint8_t proto, std::uint32_t l4_len,
                              std::uint16_t ip_id) noexcept {
    if (t.ip_version == 4) {
        p[0] = 0x45;
        p[1] = 0;
        put16(p + 2, static_cast<std::uint16_t>(20 + l4_len));
        put16(p + 4, ip_id);
        put16(p + 6, 0x4000);  // DF: our segments fit the MTU
        p[8] = 64;
        p[9] = proto;
        put16(p + 10, 0);
        std::memcpy(p + 12, t.local.data(), 4);
        std::memcpy(p + 16, t.peer.data(), 4);
        put16(p + 10, static_cast<std::uint16_t>(~net::ones_complement_sum(p, 20)));
        return 20;
    }
    put32(p, 0x60000000U);
    put16(p + 4, static_cast<std::uint16_t>(l4_len));
    p[6] = proto;
    p[7] = 64;
    std::memcpy(p + 8, t.local.data(), 16);
    std::memcpy(p + 24, t.peer.data(), 16);
    return 40;
}

/// Pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1), not folded.
inline std::uint32_t pseudo_sum(std::uint8_t ipver, const std::uint8_t* src, const std::uint8_t* dst,
                                std::uint8_t proto, std::uint32_t l4_len) noexcept {
    const std::uint32_t alen = ipver == 4 ? 4 : 16;
    std::uint32_t s = net::ones_complement_sum(src, alen);
    s += net::ones_complement_sum(dst, alen);
    s += proto;
    s += l4_len & 0xffff;
    s += l4_len >> 16;
    return s;
}

/// The L4 checksum field value of l4[0..len) (checksum field zero in it).
inline std::uint16_t l4_checksum(const path& t, std::uint8_t proto, const std::uint8_t* l4,
                                 std::uint32_t len) noexcept {
    const std::uint32_t ps = pseudo_sum(t.ip_version, t.local.data(), t.peer.data(), proto, len);
    const std::uint16_t s = net::ones_complement_sum(l4, len, fold(ps));
    const auto c = static_cast<std::uint16_t>(~s);
    return c == 0 && proto == 17 ? 0xffff : c;
}

}  // namespace rxinto::endpoint::wire
