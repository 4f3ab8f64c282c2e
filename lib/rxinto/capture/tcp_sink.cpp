#include "rxinto/capture/tcp_sink.hpp"

#include <ctime>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

namespace rxinto::capture {

namespace {
constexpr std::uint64_t expire_every_ns = 1'000'000'000ULL;  // one timeout pass per second
}

TcpSink::TcpSink(std::unique_ptr<tcp::reassembler> r, std::vector<tcp::port_link> links,
                 std::vector<bool> pcap_timestamps, int ts_offset, std::uint64_t ts_flag,
                 std::shared_ptr<stream_index> index, std::vector<std::uint16_t> port_index_of,
                 fleet::exporter* exporter, unsigned worker)
    : r_(std::move(r)), links_(std::move(links)), pcap_ts_(std::move(pcap_timestamps)),
      port_index_of_(std::move(port_index_of)), ts_offset_(ts_offset), ts_flag_(ts_flag) {
    // --export needs the listener as much as --streams-dir does: it reads the
    // streams to learn bytes, gaps and ends (without writing files).
    if (index || exporter != nullptr) {
        files_ = std::make_unique<stream_files>(std::move(index), r_.get(), exporter, worker);
        r_->set_listener(files_.get());
    }
}

std::uint64_t TcpSink::now_ns(rte_mbuf* first, std::uint16_t port_index) noexcept {
    // Replayed captures carry their own time (net_pcap puts the record's time,
    // in microseconds, in the rx timestamp field): timeouts follow capture time.
    if (ts_offset_ >= 0 && port_index < pcap_ts_.size() && pcap_ts_[port_index] &&
        (first->ol_flags & ts_flag_) != 0) {
        const auto us = *RTE_MBUF_DYNFIELD(first, ts_offset_, const rte_mbuf_timestamp_t*);
        return us * 1000;
    }
    // Live ports: the TSC converted to wall-clock time once per burst (no
    // syscall on this path), so that export records carry real times.
    return clock_.now_ns();
}

void TcpSink::process(rte_mbuf** pkts, std::uint16_t n, std::uint16_t port_index) noexcept {
    const std::uint64_t now = now_ns(pkts[0], port_index);
    last_now_ns_ = std::max(last_now_ns_, now);
    const tcp::port_link link = port_index < links_.size() ? links_[port_index] : tcp::port_link{};
    r_->process_burst(pkts, n, link, now);
    drain();
    r_->flush();
}

void TcpSink::drain() noexcept {
    if (files_) {
        files_->drain_events();
        return;
    }
    // No stream output: the appliance itself is the reader. Whatever became
    // readable is consumed at once (zero copy), gaps are skipped, so that no
    // buffer is held for a reader that does not exist.
    for (const tcp::event& e : r_->events()) {
        if (e.conn == nullptr || e.kind == tcp::event_kind::opened) continue;
        for (int d = 0; d < 2; ++d) {
            for (;;) {
                const std::uint64_t n = e.conn->dir[d].readable();
                if (n != 0) r_->consume(*e.conn, d, n);
                if (r_->skip_gap(*e.conn, d) == 0 && n == 0) break;
            }
        }
    }
}

void TcpSink::on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept {
    if (q.ring == nullptr) {
        process(pkts, n, q.port_index);
    } else {
        // From a dispatch ring: packets of several ports; each run of one port
        // is processed with that port's link.
        std::uint16_t i = 0;
        while (i < n) {
            const std::uint16_t port = pkts[i]->port;
            std::uint16_t j = static_cast<std::uint16_t>(i + 1);
            while (j < n && pkts[j]->port == port) ++j;
            const std::uint16_t index = port < port_index_of_.size() ? port_index_of_[port] : 0;
            process(pkts + i, static_cast<std::uint16_t>(j - i), index);
            i = j;
        }
    }
    if (last_now_ns_ >= last_expire_ns_ + expire_every_ns) {
        last_expire_ns_ = last_now_ns_;
        r_->expire(last_now_ns_);
        drain();
        r_->flush();
    }
}

void TcpSink::finish() noexcept {
    r_->finish();
    r_->flush();
}

}  // namespace rxinto::capture
