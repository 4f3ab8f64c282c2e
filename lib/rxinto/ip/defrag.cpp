#include "rxinto/ip/defrag.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

namespace rxinto::ip {

namespace {
constexpr std::uint32_t bucket_entries = 16;
// A guard zone after the death row: DPDK writes to it without bounds checks
// (take() flushes it before it can fill up); the tests check the zone.
constexpr std::size_t guard_bytes = 4096;
constexpr unsigned char guard_fill = 0xA5;

std::uint32_t buckets_for(std::uint32_t entries) noexcept {
    std::uint32_t buckets = 1;
    while (buckets * bucket_entries < entries) buckets <<= 1;
    return buckets;
}
}  // namespace

std::uint64_t defrag::memory_needed(std::uint32_t max_datagrams) noexcept {
    const std::uint32_t entries = std::max<std::uint32_t>(max_datagrams, 16);
    // rte_ip_frag_table_create: a table header plus one ip_frag_pkt per slot.
    // Both are internal to DPDK 22.11; an ip_frag_pkt (key, LRU links, sizes
    // and RTE_LIBRTE_IP_FRAG_MAX_FRAG fragment slots) is cache-aligned and
    // takes 256 bytes there; the header is taken as one page.
    constexpr std::uint64_t frag_pkt_bytes = 256;
    return 4096 + std::uint64_t{buckets_for(entries)} * bucket_entries * frag_pkt_bytes +
           sizeof(rte_ip_frag_death_row) + guard_bytes;
}

Result<std::unique_ptr<defrag>> defrag::create(std::uint32_t max_datagrams, std::uint64_t ttl_cycles,
                                               int socket) {
    std::unique_ptr<defrag> d(new (std::nothrow) defrag());
    if (!d) return make_error("IP fragment table: out of memory");
    const std::uint32_t entries = std::max<std::uint32_t>(max_datagrams, 16);
    d->tbl_ = rte_ip_frag_table_create(buckets_for(entries), bucket_entries, entries, ttl_cycles, socket);
    if (d->tbl_ == nullptr)
        return make_error("IP fragment table: ", rte_strerror(rte_errno),
                          "; lower [tcp] frag_max_datagrams or set ip_reassembly = no");
    d->death_row_ = static_cast<rte_ip_frag_death_row*>(rte_zmalloc_socket(
        "rxinto_frag_dr", sizeof(rte_ip_frag_death_row) + guard_bytes, RTE_CACHE_LINE_SIZE, socket));
    if (d->death_row_ == nullptr) return make_error("IP fragment table: no EAL memory for its death row");
    std::memset(reinterpret_cast<unsigned char*>(d->death_row_ + 1), guard_fill, guard_bytes);
    return d;
}

defrag::~defrag() {
    if (tbl_ != nullptr) {
        finish();
        rte_ip_frag_table_destroy(tbl_);
    }
    rte_free(death_row_);
}

bool defrag::death_row_guard_intact() const noexcept {
    const auto* g = reinterpret_cast<const unsigned char*>(death_row_ + 1);
    for (std::size_t i = 0; i < guard_bytes; ++i)
        if (g[i] != guard_fill) return false;
    return true;
}

void defrag::flush() noexcept { rte_ip_frag_free_death_row(death_row_, 0); }

void defrag::expire(std::uint64_t tsc) noexcept {
    rte_ip_frag_table_del_expired_entries(tbl_, death_row_, tsc);
    flush();
}

void defrag::finish() noexcept {
    // One call takes only as many as the death row holds: repeat until none is left.
    do {
        flush();
        rte_ip_frag_table_del_expired_entries(tbl_, death_row_, UINT64_MAX);
    } while (death_row_->cnt != 0);
}

take_status defrag::take(rte_mbuf* m, const net::packet_meta& meta, bool verify_ipv4_checksum,
                         mbuf::drop_list& drops, rte_mbuf*& out) noexcept {
    out = nullptr;
    // rte_ip_frag wants the IP header contiguous in the first segment, no
    // link-layer trailer after the datagram (it would be spliced into the
    // data), and the l2 length in its 7-bit field.
    if (m->nb_segs > 1 || meta.snap_truncated || meta.l3_offset > 0x7f ||
        meta.l3_offset + meta.l3_len > m->data_len ||
        (meta.ip_version == 6 && meta.ipv6_ext_count != 1)) {  // Fragment header right after the fixed one only
        drops.add(m);
        return take_status::refused;
    }
    if (meta.ip_version == 4 && verify_ipv4_checksum &&
        (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
        !net::ipv4_header_checksum_ok(meta, rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len)) {
        drops.add(m);
        return take_status::checksum_bad;
    }
    if (rte_mbuf_refcnt_read(m) > 1) {
        // Shared (a capture writer holds it): rebuild from a private copy.
        rte_mbuf* copy = rte_pktmbuf_copy(m, m->pool, 0, meta.l3_offset + meta.l3_len);
        drops.add(m);
        if (copy == nullptr || copy->nb_segs > 1) {
            if (copy != nullptr) drops.add(copy);
            return take_status::refused;
        }
        m = copy;
    }
    const std::uint32_t keep = meta.l3_offset + meta.l3_len;
    if (m->data_len > keep) rte_pktmbuf_trim(m, static_cast<std::uint16_t>(m->data_len - keep));
    m->l2_len = meta.l3_offset & 0x7fU;
    // DPDK puts what it drops on the death row without bounds checks, up to
    // RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1 mbufs per call; the row is sized for
    // bursts of RTE_IP_FRAG_DEATH_ROW_LEN packets and ours can be longer.
    if (death_row_->cnt > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN - (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1)) flush();
    const std::uint64_t tsc = rte_rdtsc();
    rte_mbuf* whole = nullptr;
    if (meta.ip_version == 4) {
        m->l3_len = meta.l3_header_len & 0x1ffU;  // IHL * 4 <= 60
        auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, meta.l3_offset);
        whole = rte_ipv4_frag_reassemble_packet(tbl_, death_row_, m, tsc, iph);
        if (whole != nullptr) {
            // DPDK zeroes the rebuilt header's checksum: write the right one, or
            // checksum verification takes every rebuilt IPv4 datagram for bad.
            auto* wip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, whole->l2_len);
            wip->hdr_checksum = 0;
            wip->hdr_checksum = rte_ipv4_cksum(wip);
        }
    } else {
        m->l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext);
        auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, meta.l3_offset);
        auto* fh = reinterpret_cast<rte_ipv6_fragment_ext*>(iph + 1);
        whole = rte_ipv6_frag_reassemble_packet(tbl_, death_row_, m, tsc, iph, fh);
    }
    if (whole == nullptr) return take_status::held;
    // The NIC's L4 verdict, if any, was on the first fragment, not the segment.
    whole->ol_flags &= ~RTE_MBUF_F_RX_L4_CKSUM_MASK;
    out = whole;
    return take_status::whole;
}

}  // namespace rxinto::ip
