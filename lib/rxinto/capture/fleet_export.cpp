#include "fleet_export.hpp"

#include <algorithm>
#include <cstring>
#include <span>

#include <rte_mbuf.h>

namespace rxinto::capture {

namespace {

/// Gathered per pass: enough that a bulk transfer's chunks are full ones.
constexpr std::size_t arena_bytes = 1U << 20;

fleet::conn_info info_of(std::uint64_t conn, unsigned worker, const flow::flow_key& k) noexcept {
    fleet::conn_info c;
    c.worker = static_cast<std::uint16_t>(worker);
    c.conn = conn;
    c.ip_version = k.ip_version;
    c.addr_a = k.addr_a.data();
    c.addr_b = k.addr_b.data();
    c.port_a = k.port_a;
    c.port_b = k.port_b;
    c.vlan = std::span<const std::uint16_t>(k.vlan.data(), std::min<std::size_t>(k.vlan_count, k.vlan.size()));
    return c;
}

fleet::pcap_position position_of(const pcap_place& p) noexcept {
    if (p.file.empty()) return {};
    return {p.file.c_str(), p.offset};
}

}  // namespace

fleet_export::fleet_export(fleet::exporter* ex) : ex_(ex) {
    if (ex_->streams()) {
        arena_.resize(arena_bytes);
        staged_.reserve(1024);
    }
}

void fleet_export::opened(const connection_open& o) noexcept {
    fleet::conn_info c = info_of(o.conn, o.worker, *o.key);
    c.first_ns = c.last_ns = o.first_ns;
    c.pcap_first = c.pcap_last = position_of(o.pcap_first);
    fleet::direction_info d[2];
    for (int i = 0; i < 2; ++i) {
        d[i].dir = o.label[i];
        d[i].midstream = o.midstream;
    }
    (void)ex_->submit_open(c, d);  // false: counted by the exporter (ring_full)
    if (ex_->streams()) chunked_[o.conn] = {0, 0};
}

void fleet_export::data(std::uint64_t conn, unsigned worker, int d, const char* label, std::uint64_t offset,
                        const tcp::mbuf_piece* pieces, unsigned n) noexcept {
    if (!ex_->streams()) return;
    for (unsigned i = 0; i < n; ++i) {
        const rte_mbuf* seg = pieces[i].m;
        std::uint32_t off = pieces[i].off;
        std::uint32_t len = pieces[i].len;
        while (seg != nullptr && off >= seg->data_len) {
            off -= seg->data_len;
            seg = seg->next;
        }
        while (seg != nullptr && len != 0) {
            if (used_ == arena_.size()) flush();
            const auto k = static_cast<std::uint32_t>(
                std::min<std::size_t>({len, seg->data_len - off, arena_.size() - used_}));
            std::memcpy(arena_.data() + used_, rte_pktmbuf_mtod_offset(seg, const char*, off), k);
            staged* last = staged_.empty() ? nullptr : &staged_.back();
            if (last != nullptr && last->conn == conn && last->d == d && last->offset + last->len == offset &&
                last->at + last->len == used_) {
                last->len += k;
            } else {
                staged x;
                x.conn = conn;
                x.offset = offset;
                x.at = used_;
                x.len = k;
                x.worker = worker;
                x.d = d;
                std::strncpy(x.label, label, sizeof x.label - 1);
                staged_.push_back(x);
            }
            used_ += k;
            offset += k;
            len -= k;
            off += k;
            if (off == seg->data_len) {
                seg = seg->next;
                off = 0;
            }
        }
    }
}

void fleet_export::flush() noexcept {
    for (const staged& x : staged_) {
        fleet::chunk_ref ref;
        ref.worker = static_cast<std::uint16_t>(x.worker);
        ref.conn = x.conn;
        ref.d = static_cast<std::uint8_t>(x.d);
        ref.dir = x.label;
        ref.offset = x.offset;
        const std::size_t sent = ex_->submit_chunk(ref, std::span<const std::byte>(arena_.data() + x.at, x.len));
        if (auto it = chunked_.find(x.conn); it != chunked_.end()) it->second[static_cast<std::size_t>(x.d)] += sent;
    }
    staged_.clear();
    used_ = 0;
}

void fleet_export::ended(const connection_summary& s) noexcept {
    flush();  // its last chunks before its end record
    fleet::conn_info c = info_of(s.conn, s.worker, s.key);
    c.first_ns = s.first_ns;
    c.last_ns = s.last_ns;
    c.pcap_first = position_of(s.pcap_first);
    c.pcap_last = position_of(s.pcap_last);
    std::array<std::uint64_t, 2> chunked{0, 0};
    if (auto it = chunked_.find(s.conn); it != chunked_.end()) {
        chunked = it->second;
        chunked_.erase(it);
    }
    fleet::direction_info d[2];
    for (int k = 0; k < 2; ++k) {
        const auto fd = static_cast<std::size_t>(s.d_of[k]);
        const direction_summary& o = s.dir[k];
        fleet::direction_info& x = d[fd];
        x.dir = o.label;
        x.midstream = o.midstream;
        x.packets = o.packets;
        x.end = o.end;
        x.bytes = o.bytes;
        x.delivered = o.delivered;
        x.overlap_conflicts = o.overlap_conflicts;
        x.file = o.file;
        x.gaps = o.gaps;
        x.lost = o.lost;
        x.chunk_bytes_lost = ex_->streams() && o.delivered > chunked[fd] ? o.delivered - chunked[fd] : 0;
    }
    (void)ex_->submit_end(c, d);
}

}  // namespace rxinto::capture
