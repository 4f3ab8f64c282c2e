#include "rxinto/port/file_port.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

namespace rxinto::port {

namespace {

// The largest segment an mbuf describes (data_len and buf_len are 16 bits).
constexpr std::uint32_t seg_max = 65472;
constexpr std::uint32_t max_segs = (pcapfile::max_caplen + seg_max - 1) / seg_max;

void no_free(void*, void*) noexcept {}  // the mapping outlives every mbuf

std::atomic<unsigned> ring_seq{0};

}  // namespace

int linktype_dynfield_offset() noexcept {
    static const rte_mbuf_dynfield desc = [] {
        rte_mbuf_dynfield d{};
        std::snprintf(d.name, sizeof d.name, "%s", linktype_dynfield_name);
        d.size = sizeof(std::uint32_t);
        d.align = alignof(std::uint32_t);
        return d;
    }();
    return rte_mbuf_dynfield_register(&desc);
}

std::uint16_t FilePort::min_data_room(bool mapped) noexcept {
    // Mapped: the headroom DPDK restores on detach, then the shared info.
    return mapped ? static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + 64)
                  : static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + 256);
}

Result<std::unique_ptr<FilePort>> FilePort::create(std::shared_ptr<pcapfile::source> src,
                                                   const std::string& name, int socket) {
    std::unique_ptr<FilePort> f(new FilePort());
    f->src_ = std::move(src);
    f->parser_ = std::make_unique<pcapfile::parser>();
    const std::string rname = "rxinto_f" + std::to_string(ring_seq.fetch_add(1));
    const unsigned sock = socket < 0 ? static_cast<unsigned>(SOCKET_ID_ANY) : static_cast<unsigned>(socket);
    // The ring stays empty: rx callbacks run after the (empty) dequeue.
    f->ring_ = rte_ring_create(rname.c_str(), 64, static_cast<int>(sock), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (f->ring_ == nullptr)
        return make_error("capture '", f->src_->path(), "': ring: ", rte_strerror(rte_errno));
    rte_ring* rx[1] = {f->ring_};
    // rte_eth_from_rings names the device "net_ring_" + its first argument.
    if (!name.starts_with("net_ring_"))
        return make_error("capture '", f->src_->path(), "': port name ", name, " must begin with net_ring_");
    const int id = rte_eth_from_rings(name.substr(9).c_str(), rx, 1, rx, 1, sock);
    if (id >= 0) f->name_ = name;
    if (id < 0)
        return make_error("capture '", f->src_->path(), "': cannot create port ", name, ": ",
                          rte_strerror(rte_errno));
    f->port_id_ = static_cast<std::uint16_t>(id);
    f->created_ = true;
    if (rte_mbuf_dyn_rx_timestamp_register(&f->ts_offset_, &f->ts_flag_) != 0)
        return make_error("capture '", f->src_->path(), "': rx timestamp field: ",
                          rte_strerror(rte_errno));
    f->lt_offset_ = linktype_dynfield_offset();
    if (f->lt_offset_ < 0)
        return make_error("capture '", f->src_->path(), "': link type field: ", rte_strerror(rte_errno));
    return f;
}

void FilePort::detach() noexcept {
    // rte_eth_remove_rx_callback needs a valid port; after rte_eth_dev_close
    // the callback can no longer be removed and outlives the port.
    if (cb_ != nullptr && rte_eth_dev_is_valid_port(port_id_) != 0 &&
        rte_eth_remove_rx_callback(port_id_, 0, cb_) == 0)
        cb_ = nullptr;
}

FilePort::~FilePort() {
    detach();
    // rte_eth_from_rings made a device on the vdev bus; closing the ethdev
    // leaves it registered, and the next port of this name (a second run in
    // the process: the Python module) could not be made.
    if (!name_.empty()) rte_vdev_uninit(name_.c_str());
    if (ring_ != nullptr) rte_ring_free(ring_);
}

Status FilePort::attach(rte_mempool* pool) {
    const std::uint16_t room = rte_pktmbuf_data_room_size(pool);
    if (room < min_data_room(mapped()))
        return make_error("capture '", src_->path(), "': mbufs of ", std::to_string(room),
                          " bytes are too small (", std::to_string(min_data_room(mapped())), " needed)");
    pool_ = pool;
    if (cb_ == nullptr) {
        cb_ = rte_eth_add_first_rx_callback(port_id_, 0, &FilePort::rx_callback, this);
        if (cb_ == nullptr)
            return make_error("capture '", src_->path(), "': rx callback: ", rte_strerror(rte_errno));
    }
    return {};
}

FilePortStats FilePort::stats() const noexcept {
    FilePortStats s;
    s.done = done_.load(std::memory_order_acquire);
    s.packets = packets_.load(std::memory_order_relaxed);
    s.bytes = bytes_.load(std::memory_order_relaxed);
    s.wire_bytes = wire_bytes_.load(std::memory_order_relaxed);
    s.truncated_frames = truncated_.load(std::memory_order_relaxed);
    s.waits = waits_.load(std::memory_order_relaxed);
    s.offset = offset_.load(std::memory_order_relaxed);
    s.format = src_->format();
    if (s.done) {
        s.stop = stop_;
        s.read_errno = read_errno_;
    }
    return s;
}

void FilePort::finish() noexcept {
    finished_ = true;
    stop_ = parser_->stop();
    offset_.store(parser_->offset(), std::memory_order_relaxed);
    done_.store(true, std::memory_order_release);
}

void FilePort::stamp(rte_mbuf* m, const pcapfile::record& r) noexcept {
    m->port = port_id_;
    m->packet_type = 0;
    *RTE_MBUF_DYNFIELD(m, ts_offset_, rte_mbuf_timestamp_t*) = r.ts_ns;
    m->ol_flags |= ts_flag_;
    *RTE_MBUF_DYNFIELD(m, lt_offset_, std::uint32_t*) = r.linktype;
}

bool FilePort::deliver_mapped(rte_mbuf* m, const pcapfile::record& r) noexcept {
    const std::uint32_t nseg = r.caplen == 0 ? 1 : (r.caplen + seg_max - 1) / seg_max;
    rte_mbuf* seg[max_segs];
    seg[0] = m;
    if (nseg > 1 && rte_pktmbuf_alloc_bulk(pool_, seg + 1, nseg - 1) != 0) return false;
    // The mapping is PROT_WRITE (copy-on-write): handing out a writable pointer
    // is what lets rte_ip_frag rewrite a header without touching the file.
    auto* p = const_cast<std::uint8_t*>(r.data);
    std::uint32_t left = r.caplen;
    for (std::uint32_t i = 0; i < nseg; ++i) {
        rte_mbuf* x = seg[i];
        const auto len = static_cast<std::uint16_t>(std::min(left, seg_max));
        if (len != 0) {
            // Shared info in the mbuf's own data room (see the header).
            auto* shinfo = static_cast<rte_mbuf_ext_shared_info*>(x->buf_addr);
            shinfo->free_cb = no_free;
            shinfo->fcb_opaque = nullptr;
            rte_mbuf_ext_refcnt_set(shinfo, 1);
            rte_pktmbuf_attach_extbuf(x, p, RTE_BAD_IOVA, len, shinfo);
        }
        x->data_len = len;
        if (i + 1 < nseg) x->next = seg[i + 1];
        p += len;
        left -= len;
    }
    m->nb_segs = static_cast<std::uint16_t>(nseg);
    m->pkt_len = r.caplen;
    stamp(m, r);
    return true;
}

bool FilePort::deliver_copy(rte_mbuf* m, const pcapfile::record& r) noexcept {
    const std::uint8_t* p = r.data;
    std::uint32_t left = r.caplen;
    rte_mbuf* last = m;
    std::uint16_t nseg = 1;
    for (;;) {
        const auto len = static_cast<std::uint16_t>(std::min<std::uint32_t>(left, rte_pktmbuf_tailroom(last)));
        std::memcpy(rte_pktmbuf_mtod(last, std::uint8_t*), p, len);
        last->data_len = len;
        p += len;
        left -= len;
        if (left == 0) break;
        rte_mbuf* x = rte_pktmbuf_alloc(pool_);
        if (x == nullptr) {
            // Give back the extra segments; m itself is reused by the caller.
            if (m->next != nullptr) rte_pktmbuf_free(m->next);
            m->next = nullptr;
            m->data_len = 0;
            return false;
        }
        last->next = x;
        last = x;
        ++nseg;
    }
    m->nb_segs = nseg;
    m->pkt_len = r.caplen;
    stamp(m, r);
    return true;
}

std::uint16_t FilePort::rx_callback(std::uint16_t, std::uint16_t, rte_mbuf* pkts[], std::uint16_t nb,
                                    std::uint16_t max, void* user) {
    auto* f = static_cast<FilePort*>(user);
    if (f->finished_ || nb >= max) return nb;
    return static_cast<std::uint16_t>(nb + f->rx(pkts + nb, static_cast<std::uint16_t>(max - nb)));
}

std::uint16_t FilePort::rx(rte_mbuf** out, std::uint16_t want) noexcept {
    unsigned have = want;
    if (rte_pktmbuf_alloc_bulk(pool_, out, want) != 0) {
        // Fewer free mbufs than the burst: take what there is, wait for the rest.
        have = 0;
        while (have < want) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool_);
            if (m == nullptr) break;
            out[have++] = m;
        }
        waits_.store(waits_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        if (have == 0) return 0;
    }
    std::uint64_t bytes = 0, wire = 0, cut = 0;
    unsigned k = 0;
    const bool mapped = src_->mapped();
    while (k < have) {
        std::size_t len = 0;
        bool eof = false;
        const std::uint8_t* d = src_->window(parser_->offset(), len, eof);
        const pcapfile::step s = parser_->next(d, len, eof);
        if (s.kind == pcapfile::step_kind::skipped) continue;
        if (s.kind == pcapfile::step_kind::record) {
            const bool ok = mapped ? deliver_mapped(out[k], s.rec) : deliver_copy(out[k], s.rec);
            if (!ok) {
                parser_->unread(s);
                waits_.store(waits_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
                break;
            }
            bytes += s.rec.caplen;
            wire += s.rec.orig_len;
            if (s.rec.caplen < s.rec.orig_len) ++cut;
            ++k;
            continue;
        }
        if (s.kind == pcapfile::step_kind::need_more) {
            // Streams only: read what the writer has (never waits).
            const auto r = src_->fill(parser_->offset(), s.need);
            if (r == pcapfile::source::fill_result::ok || r == pcapfile::source::fill_result::eof) continue;
            if (r == pcapfile::source::fill_result::would_block) break;
            read_errno_ = src_->read_errno();
        }
        finish();  // end of file, an untrusted record, or a read error
        break;
    }
    if (k < have) rte_pktmbuf_free_bulk(out + k, have - k);
    if (k != 0) {
        // One writer (this lcore): plain load + store, no locked instruction.
        auto add = [](std::atomic<std::uint64_t>& a, std::uint64_t v) {
            a.store(a.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
        };
        add(bytes_, bytes);
        add(wire_bytes_, wire);
        add(truncated_, cut);
        add(packets_, k);
        offset_.store(parser_->offset(), std::memory_order_relaxed);
    }
    return static_cast<std::uint16_t>(k);
}

Result<std::unique_ptr<RxLimit>> RxLimit::install(std::uint16_t port_id, std::uint64_t limit) {
    std::unique_ptr<RxLimit> l(new RxLimit());
    l->port_id_ = port_id;
    l->limit_ = limit;
    l->cb_ = rte_eth_add_rx_callback(port_id, 0, &RxLimit::rx_callback, l.get());
    if (l->cb_ == nullptr) return make_error("rx callback on port ", std::to_string(port_id), ": ",
                                             rte_strerror(rte_errno));
    return l;
}

RxLimit::~RxLimit() {
    if (cb_ != nullptr && rte_eth_dev_is_valid_port(port_id_) != 0)
        rte_eth_remove_rx_callback(port_id_, 0, cb_);
}

std::uint16_t RxLimit::rx_callback(std::uint16_t, std::uint16_t, rte_mbuf* pkts[], std::uint16_t nb,
                                   std::uint16_t, void* user) {
    auto* l = static_cast<RxLimit*>(user);
    const std::uint64_t room = l->limit_ - std::min(l->limit_, l->seen_);
    const auto keep = static_cast<std::uint16_t>(std::min<std::uint64_t>(nb, room));
    l->seen_ += keep;
    if (keep < nb) {
        rte_pktmbuf_free_bulk(pkts + keep, static_cast<unsigned>(nb - keep));
        l->dropped_.store(l->dropped_.load(std::memory_order_relaxed) + (nb - keep),
                          std::memory_order_relaxed);
    }
    return keep;
}

}  // namespace rxinto::port
