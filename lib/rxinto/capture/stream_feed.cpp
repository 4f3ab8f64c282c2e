#include "rxinto/capture/stream_feed.hpp"

#include <algorithm>

#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "rxinto/capture/capture_sink.hpp"
#include "stream_msg.hpp"

namespace rxinto::capture {


bool stream_feed::send(stream_msg& m, bool control) noexcept {
    if (seq_ != nullptr) {
        m.cap_seq = m.kind == msg_kind::open ? seq_->burst_start : seq_->burst_end;
        if (m.kind == msg_kind::open) m.u.open.cap_seq_end = seq_->burst_end;
    }
    for (;;) {
        // Stream bytes only while fewer than data_messages_max messages wait:
        // the rest of the ring is for open, gap and end messages (no mbufs),
        // so that a slow disk costs stream bytes first, never the messages
        // that keep the index and the export records whole.
        if (control || rte_ring_count(ring_) < data_messages_max) {
                    if (rte_ring_sp_enqueue_elem(ring_, &m, sizeof(stream_msg)) == 0) {
                c_.messages.add();
                return true;
            }
        }
        // A replay waits for the output thread (nothing is lost by waiting),
        // unless the run is being stopped; a live port cannot wait.
        if (!lossless_ || (stop_ != nullptr && stop_->load(std::memory_order_relaxed) && !control)) break;
        rte_pause();
    }
    c_.ring_full.add();
    return false;
}

void stream_feed::on_open(tcp::connection& c) noexcept {
    stream_msg m;
    m.kind = msg_kind::open;
    m.conn = c.id();
    m.client = c.client() ? static_cast<std::int8_t>(flow::index_of(*c.client())) : std::int8_t{-1};
    m.first_dir = static_cast<std::uint8_t>(flow::index_of(c.first()));
    m.u.open.key = c.key();
    m.u.open.first_ns = c.first_ns();
    m.u.open.midstream = c.midstream();
    send(m, true);
}

void stream_feed::pump(tcp::connection& c) noexcept {
    for (flow::direction d : flow::both_directions) pump(c, d, UINT64_MAX);
}

unsigned stream_feed::data_room() const noexcept {
    const unsigned used = rte_ring_count(ring_);
    return used >= data_messages_max ? 0 : data_messages_max - used;
}

std::uint64_t stream_feed::pump(tcp::connection& c, flow::direction d, std::uint64_t max_bytes,
                                unsigned max_messages) noexcept {
    tcp::stream& s = c.in(d);
    std::uint64_t done = 0;
    unsigned sent = 0;
    while (done < max_bytes) {
        if (const std::uint64_t g = s.poll().gap; g != 0) {
            stream_msg m;
            m.kind = msg_kind::gap;
            m.dir = static_cast<std::uint8_t>(flow::index_of(d));
            m.conn = c.id();
            m.offset = s.offset();
            m.u.gap.len = g;
            send(m, true);
            s.skip_gap();
            continue;
        }
        const std::uint64_t want = std::min(s.readable(), max_bytes - done);
        if (want == 0) break;
        if (!with_data_) {
            s.consume(want);
            done += want;
            continue;
        }
        if (sent == max_messages) break;
        ++sent;
        stream_msg m;
        m.kind = msg_kind::data;
        m.dir = static_cast<std::uint8_t>(flow::index_of(d));
        m.conn = c.id();
        m.offset = s.offset();
        m.npieces = static_cast<std::uint8_t>(s.take(m.u.data.pieces, want));
        if (m.npieces == 0) break;  // cannot happen with readable bytes; never spin on it
        std::uint64_t bytes = 0;
        for (unsigned i = 0; i < m.npieces; ++i) bytes += m.u.data.pieces[i].len;
        done += bytes;
        if (!send(m, false)) {
            // Dropped output: the references go back; the output thread
            // sees the hole (the next offset) and records it as lost.
            for (unsigned i = 0; i < m.npieces; ++i) rte_pktmbuf_free(m.u.data.pieces[i].m);
            c_.bytes_unsent.add(bytes);
        }
    }
    return done;
}

void stream_feed::on_closed(tcp::connection& c) noexcept {
    pump(c);
    if (seq_ == nullptr) return;
    stream_msg m;
    m.kind = msg_kind::mark;
    m.conn = c.id();
    send(m, false);  // dropped: the export records name an earlier last position (counted)
}

void stream_feed::on_release(tcp::connection& c) noexcept {
    pump(c);  // the last moment: everything it still holds
    stream_msg m;
    m.kind = msg_kind::end;
    m.conn = c.id();
    m.client = c.client() ? static_cast<std::int8_t>(flow::index_of(*c.client())) : std::int8_t{-1};
    m.first_dir = static_cast<std::uint8_t>(flow::index_of(c.first()));
    for (flow::direction d : flow::both_directions) {
        const tcp::stream& s = c.in(d);
        const std::size_t i = flow::index_of(d);
        m.u.end.delivered[i] = s.delivered();
        m.u.end.offset[i] = s.offset();
        m.u.end.conflicts[i] = s.overlap_conflicts();
        m.u.end.end[i] = static_cast<std::uint8_t>(s.ended());
        m.u.end.midstream[i] = s.midstream();
    }
    m.u.end.packets[0] = c.packets(flow::direction::a2b);
    m.u.end.packets[1] = c.packets(flow::direction::b2a);
    m.u.end.last_ns = c.last_packet_ns();
    send(m, true);
}

}  // namespace rxinto::capture
