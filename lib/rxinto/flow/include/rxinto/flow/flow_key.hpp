// Flow identity: the full tuple plus VLAN ids, never a hash alone.
//
// Both directions of a connection map to one key: the endpoint that compares
// lower (address, then port) is `a`. from_packet() also says which way the
// packet goes (a -> b or b -> a). The key is plain bytes with no padding holes
// (every byte is written), so it can be hashed and compared with memcmp, as
// rte_hash does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <rte_hash_crc.h>

#include "rxinto/net/parse.hpp"

namespace rxinto::flow {

// alignas(8): rte_hash_crc reads the key 8 bytes at a time.
struct alignas(8) flow_key {
    std::array<std::uint8_t, 16> addr_a{};
    std::array<std::uint8_t, 16> addr_b{};
    std::uint16_t port_a = 0;
    std::uint16_t port_b = 0;
    std::array<std::uint16_t, net::max_vlan_tags> vlan{};  ///< VLAN ids, outermost first
    std::uint8_t vlan_count = 0;
    std::uint8_t ip_version = 0;
    std::array<std::uint8_t, 4> pad{};  ///< always zero: keeps the key free of padding bytes

    [[nodiscard]] friend bool operator==(const flow_key& x, const flow_key& y) noexcept {
        return std::memcmp(&x, &y, sizeof(flow_key)) == 0;
    }
};
static_assert(sizeof(flow_key) == 48, "flow_key must have no implicit padding");

/// Direction of a packet relative to its key: a -> b or b -> a, `a` being the
/// endpoint that compares lower. Indexes per-direction arrays (index_of()).
enum class direction : std::uint8_t { a2b = 0, b2a = 1 };

[[nodiscard]] constexpr direction opposite(direction d) noexcept {
    return d == direction::a2b ? direction::b2a : direction::a2b;
}
[[nodiscard]] constexpr std::size_t index_of(direction d) noexcept { return static_cast<std::size_t>(d); }
/// Both directions, a2b first: `for (direction d : both_directions)`.
inline constexpr direction both_directions[] = {direction::a2b, direction::b2a};

struct keyed_packet {
    flow_key key;
    direction dir = direction::a2b;
};

/// Builds the normalised key of a parsed TCP packet.
[[nodiscard]] inline keyed_packet key_of(const net::packet_meta& m) noexcept {
    keyed_packet k;
    const int c = std::memcmp(m.src_addr.data(), m.dst_addr.data(), 16);
    const bool src_is_a = c < 0 || (c == 0 && m.src_port <= m.dst_port);
    k.dir = src_is_a ? direction::a2b : direction::b2a;
    k.key.addr_a = src_is_a ? m.src_addr : m.dst_addr;
    k.key.addr_b = src_is_a ? m.dst_addr : m.src_addr;
    k.key.port_a = src_is_a ? m.src_port : m.dst_port;
    k.key.port_b = src_is_a ? m.dst_port : m.src_port;
    k.key.vlan_count = m.vlan_count;
    for (std::size_t i = 0; i < m.vlan_count && i < net::max_vlan_tags; ++i)
        k.key.vlan[i] = m.vlans[i].vid();
    k.key.ip_version = m.ip_version;
    return k;
}

/// The flow table's hash of a key (CRC32C, as rte_hash_crc): computed once
/// per packet, used for the lookup, the insertion and the removal.
[[nodiscard]] inline std::uint32_t key_hash(const flow_key& k) noexcept {
    return rte_hash_crc(&k, sizeof k, 0);
}

/// The software dispatch hash (capture/dispatch.hpp): the normalised address
/// pair and the VLAN ids, no ports, so that every IP fragment of a datagram
/// goes where its connection goes. Symmetric: a->b and b->a hash alike.
[[nodiscard]] inline std::uint32_t dispatch_hash(const net::packet_meta& m) noexcept {
    const bool swap = std::memcmp(m.src_addr.data(), m.dst_addr.data(), 16) > 0;
    const auto& lo = swap ? m.dst_addr : m.src_addr;
    const auto& hi = swap ? m.src_addr : m.dst_addr;
    // rte_hash_crc reads 8 bytes at a time: hash an aligned copy.
    alignas(8) std::uint8_t pair[32];
    std::memcpy(pair, lo.data(), 16);
    std::memcpy(pair + 16, hi.data(), 16);
    std::uint32_t h = rte_hash_crc(pair, sizeof pair, m.ip_version);
    for (std::size_t i = 0; i < m.vlan_count && i < net::max_vlan_tags; ++i)
        h = rte_hash_crc_4byte(m.vlans[i].vid(), h);
    return h;
}

}  // namespace rxinto::flow
