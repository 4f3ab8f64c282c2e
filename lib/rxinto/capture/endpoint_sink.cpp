#include "rxinto/capture/endpoint_sink.hpp"

#include <algorithm>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_pause.h>

namespace rxinto::capture {

namespace {
constexpr std::uint64_t read_quantum = 1024;  ///< the slow reader's smallest read (bytes)
}  // namespace

StreamsApp::StreamsApp(std::unique_ptr<stream_feed> feed, std::uint32_t read_rate, std::uint32_t max_connections)
    : feed_(std::move(feed)), rate_(read_rate) {
    pending_.reserve(max_connections);  // never grows on the worker
}

bool StreamsApp::read(endpoint::endpoint& ep, tcp::connection& c, std::uint64_t max_bytes) noexcept {
    const flow::direction in = endpoint::endpoint::inbound(c);
    tcp::stream& s = c.in(in);
    if (feed_) {
        // As a reader that cannot keep up: what the output thread has no
        // room for stays unread, the receive window closes, and the peer
        // waits (TCP's own back-pressure). An endpoint that acknowledged
        // bytes must not drop them on the way to the file.
        const unsigned room = feed_->data_room();
        if (room == 0 && s.readable() != 0) return false;
        if (room != 0) feed_->pump(c, in, max_bytes, room);
    } else {
        // Nobody keeps the bytes: consume them (zero copy) so the window stays open.
        for (std::uint64_t left = max_bytes; s.readable() != 0 && left != 0;) {
            const std::uint64_t n = std::min(s.readable(), left);
            s.consume(n);
            left -= n;
        }
    }
    // The client finished sending and everything was read: close our side
    // (a passive close, as a server with nothing to say does).
    if (s.finished() && s.ended() == tcp::end_reason::fin && ep.state(c) == endpoint::tcp_state::close_wait)
        ep.close(c);
    return s.readable() == 0 && (s.finished() || s.poll().would_block());
}

void StreamsApp::on_events(endpoint::endpoint& ep, std::span<const tcp::event> events, std::uint64_t now_ns) noexcept {
    for (const tcp::event& e : events) {
        if (e.conn == nullptr) continue;
        // At once when nothing limits the reader; else (a read rate, or no
        // room on the way to the output thread) its turn comes in on_round.
        if (rate_ == 0 && read(ep, *e.conn, UINT64_MAX)) continue;
        if (e.kind != tcp::event_kind::opened &&
            std::find(pending_.begin(), pending_.end(), e.conn) == pending_.end() &&
            pending_.size() < pending_.capacity())
            pending_.push_back(e.conn);
    }
    if (rate_ != 0) on_round(ep, now_ns);
}

void StreamsApp::on_round(endpoint::endpoint& ep, std::uint64_t now_ns) noexcept {
    if (rate_ != 0) {
        if (last_ns_ == 0) last_ns_ = now_ns;
        tokens_ += static_cast<double>(rate_) * static_cast<double>(now_ns - last_ns_) / 1e6;
        tokens_ = std::min(tokens_, 4.0 * rate_);
        last_ns_ = now_ns;
    }
    for (std::size_t i = 0; i < pending_.size();) {
        tcp::connection& c = *pending_[i];
        const tcp::stream& s = c.in(endpoint::endpoint::inbound(c));
        std::uint64_t budget = UINT64_MAX;
        if (rate_ != 0) {
            budget = static_cast<std::uint64_t>(tokens_);
            // Reads of at least read_quantum (or all there is): the loop runs
            // every microsecond or so, and a read of a few bytes each time
            // would be as many stream messages (and writes) for the output
            // thread. (The bucket holds 4 ms of reading: a smaller rate reads that much.)
            const std::uint64_t quantum = std::min<std::uint64_t>(read_quantum, 4ULL * rate_);
            if (budget < std::min<std::uint64_t>(s.readable(), quantum) && !s.finished()) {
                ++i;
                continue;
            }
        }
        const std::uint64_t before = s.delivered();
        const bool done = read(ep, c, budget);
        if (rate_ != 0) tokens_ -= static_cast<double>(s.delivered() - before);
        if (done) {
            pending_[i] = pending_.back();
            pending_.pop_back();
            continue;
        }
        ++i;
    }
}

void StreamsApp::on_open(tcp::connection& c) noexcept {
    if (feed_) feed_->on_open(c);
}

void StreamsApp::on_release(tcp::connection& c) noexcept {
    if (auto it = std::find(pending_.begin(), pending_.end(), &c); it != pending_.end()) {
        *it = pending_.back();
        pending_.pop_back();
    }
    if (feed_) feed_->on_release(c);  // what is left, and the end message
}

EndpointSink::EndpointSink(std::unique_ptr<endpoint::endpoint> ep, std::unique_ptr<EndpointApp> app)
    : ep_(std::move(ep)), app_(std::move(app)) {
    ep_->set_listener(app_->listener());
    ns_per_tsc_q32_ = (1'000'000'000ULL << 32) / rte_get_tsc_hz();
}

namespace {
inline std::uint64_t tsc_ns(std::uint64_t q32) noexcept {
    // 64 x 32.32 bits without a 128-bit type: split the TSC in halves.
    const std::uint64_t t = rte_rdtsc();
    return ((t >> 32) * q32) + (((t & 0xffffffffULL) * q32) >> 32);
}
}  // namespace

void EndpointSink::on_burst(const QueueRef&, rte_mbuf** pkts, std::uint16_t n) noexcept {
    const std::uint64_t now = tsc_ns(ns_per_tsc_q32_);
    ep_->process_burst(pkts, n, now);
    app_->on_events(*ep_, ep_->events(), now);
    ep_->flush(now);
}

void EndpointSink::round() noexcept {
    const std::uint64_t now = tsc_ns(ns_per_tsc_q32_);
    if (!ep_->events().empty()) app_->on_events(*ep_, ep_->events(), now);
    app_->on_round(*ep_, now);
    ep_->flush(now);
}

void EndpointSink::finish() noexcept { ep_->finish(tsc_ns(ns_per_tsc_q32_)); }

void run_endpoint_worker(Worker& w, EndpointSink& s) noexcept {
    rte_mbuf* pkts[max_burst];
    const std::uint16_t burst = w.burst == 0 || w.burst > max_burst ? 32 : w.burst;
    poll_tally tally;
    std::uint64_t next_tick = w.tick != nullptr ? rte_rdtsc() + w.tick_cycles : UINT64_MAX;
    while (!w.stop->load(std::memory_order_relaxed)) {
        for (const QueueRef& q : w.queues) {
            std::uint64_t bytes = 0;
            const std::uint16_t n = receive(q, pkts, burst, bytes);
            tally.poll(n == 0);
            if (n == 0) continue;
            w.counters.packets.add(n);
            w.counters.bytes.add(bytes);
            s.on_burst(q, pkts, n);
        }
        s.round();
        tally.end_round(w.counters.polls, w.counters.empty_polls);
        if (w.tick != nullptr && rte_rdtsc() >= next_tick) {
            if (!w.tick(w.tick_arg)) break;
            next_tick = rte_rdtsc() + w.tick_cycles;
        }
        if (w.queues.empty()) rte_pause();
    }
    tally.flush(w.counters.polls, w.counters.empty_polls);
}

int endpoint_worker_main(void* arg) {
    auto* ew = static_cast<EndpointWorker*>(arg);
    run_endpoint_worker(*ew->w, *ew->sink);
    return 0;
}

}  // namespace rxinto::capture
