#include "rxinto/capture/stream_feed.hpp"

#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "stream_msg.hpp"

namespace rxinto::capture {

namespace {
/// Ring slots only open, gap and end messages may take: a full ring drops
/// stream bytes first, never the messages that keep the index whole.
constexpr unsigned control_reserve = 64;
}  // namespace

bool stream_feed::send(const stream_msg& m, bool control) noexcept {
    for (;;) {
        if (control || rte_ring_free_count(ring_) > control_reserve) {
            // rte_ring takes a non-const pointer to what it only copies.
            if (rte_ring_sp_enqueue_elem(ring_, const_cast<stream_msg*>(&m), sizeof(stream_msg)) == 0) {
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
    for (flow::direction d : flow::both_directions) {
        tcp::stream& s = c.in(d);
        for (;;) {
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
            if (s.readable() == 0) break;
            if (!with_data_) {
                s.consume(s.readable());
                continue;
            }
            stream_msg m;
            m.kind = msg_kind::data;
            m.dir = static_cast<std::uint8_t>(flow::index_of(d));
            m.conn = c.id();
            m.offset = s.offset();
            m.npieces = static_cast<std::uint8_t>(s.take(m.u.data.pieces));
            if (!send(m, false)) {
                // Dropped output: the references go back; the output thread
                // sees the hole (the next offset) and records it as lost.
                std::uint64_t bytes = 0;
                for (unsigned i = 0; i < m.npieces; ++i) {
                    bytes += m.u.data.pieces[i].len;
                    rte_pktmbuf_free(m.u.data.pieces[i].m);
                }
                c_.bytes_unsent.add(bytes);
            }
        }
    }
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
    m.u.end.packets = c.packets();
    m.u.end.last_ns = c.last_packet_ns();
    send(m, true);
}

}  // namespace rxinto::capture
