// IP fragment reassembly in front of TCP-lite: DPDK's rte_ip_frag (IPv4 and
// IPv6 with a Fragment header right after the fixed header), with the fixes
// and guards rxinto needs around it.
//
// Ownership: take() takes the fragment whatever happens: it is held by the
// table, freed through the death row (once per burst: flush()) or the
// caller's drop list, or comes back as part of the rebuilt datagram, which the
// caller then owns.
//
// A fragment whose buffer is shared (refcount > 1: a capture writer still holds
// it to write it out) is copied first: rte_ip_frag rewrites the first
// fragment's header and chains the others in place, which the other holder
// must not see.
//
// Lcore: one defrag per worker, used only by that worker's lcore; create() and
// the destructor are control path.
#pragma once

#include <cstdint>
#include <memory>

#include "rxinto/base/result.hpp"
#include "rxinto/mbuf/drop_list.hpp"
#include "rxinto/net/parse.hpp"

struct rte_mbuf;
struct rte_ip_frag_tbl;
struct rte_ip_frag_death_row;

namespace rxinto::ip {

enum class take_status : std::uint8_t {
    held,          ///< kept until the rest of its datagram comes (or it expires)
    whole,         ///< completed a datagram: `out` holds it
    refused,       ///< cannot be reassembled (chained, extension headers, cut, no copy)
    checksum_bad,  ///< IPv4 header checksum wrong (checked per fragment: the rebuilt one is not the wire's)
};

class defrag {
public:
    /// max_datagrams: datagrams being rebuilt at once; ttl_cycles: TSC cycles a
    /// datagram may take to complete.
    [[nodiscard]] static Result<std::unique_ptr<defrag>> create(std::uint32_t max_datagrams,
                                                                std::uint64_t ttl_cycles, int socket);
    /// EAL memory a table of max_datagrams takes (for the start-up budget).
    [[nodiscard]] static std::uint64_t memory_needed(std::uint32_t max_datagrams) noexcept;
    ~defrag();
    defrag(const defrag&) = delete;
    defrag& operator=(const defrag&) = delete;

    /// Takes fragment m, parsed into meta. verify_ipv4_checksum: check the
    /// header checksum unless the port's offload said it is good. On `whole`,
    /// out is the rebuilt datagram (the caller's); its rebuilt IPv4 header
    /// checksum is right and its L4 offload verdict cleared.
    take_status take(rte_mbuf* m, const net::packet_meta& meta, bool verify_ipv4_checksum,
                     mbuf::drop_list& drops, rte_mbuf*& out) noexcept;
    /// Frees what the table dropped (once per burst).
    void flush() noexcept;
    /// Drops datagrams older than the TTL at TSC time `tsc`, then flush().
    void expire(std::uint64_t tsc) noexcept;
    /// End of input: drops every incomplete datagram.
    void finish() noexcept;
    /// The zone after the death row is as it was made (DPDK never wrote past
    /// the row's end). Control path; for tests.
    [[nodiscard]] bool death_row_guard_intact() const noexcept;

private:
    defrag() = default;
    rte_ip_frag_tbl* tbl_ = nullptr;
    rte_ip_frag_death_row* death_row_ = nullptr;
};

}  // namespace rxinto::ip
