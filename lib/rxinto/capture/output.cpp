#include "rxinto/capture/output.hpp"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "rxinto/capture/pcapng_writer.hpp"
#include "rxinto/capture/stream_store.hpp"
#include "stream_msg.hpp"

namespace rxinto::capture {

namespace {
constexpr unsigned capture_burst = 512;
constexpr unsigned message_burst = 64;
/// Runs of packets a capture_history remembers: 1.5 MiB per worker, many
/// seconds of output even at full rate.
constexpr std::size_t history_runs = 65536;

/// The capture count a message needs written before it is handled.
std::uint64_t needed_seq(const stream_msg& m) noexcept {
    return m.kind == msg_kind::open ? m.u.open.cap_seq_end : m.cap_seq;
}
}  // namespace

capture_history::capture_history(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 2)) {}

void capture_history::note(std::uint64_t seq, const pcapng_writer& w) {
    const pcapng_writer::position_t p = w.position();
    if (p.file_no == 0) return;  // no file open (it could not be opened): nowhere to point
    if (names_.size() < p.file_no) names_.resize(p.file_no);
    if (names_[p.file_no - 1].empty() && p.name != nullptr) names_[p.file_no - 1] = p.name;
    const entry e{seq, p.file_no, p.offset};
    if (count_ != 0) {
        entry& last = ring_[(first_ + count_ - 1) % ring_.size()];
        if (last.seq == seq) {
            last = e;
            return;
        }
    }
    if (count_ == ring_.size()) {
        first_ = (first_ + 1) % ring_.size();
        --count_;
        evicted_ = true;
    }
    ring_[(first_ + count_) % ring_.size()] = e;
    ++count_;
}

pcap_place capture_history::place(const entry& e, bool file_start) const {
    pcap_place p;
    if (e.file_no == 0 || e.file_no > names_.size()) return p;
    p.file = names_[e.file_no - 1];
    p.offset = file_start ? 0 : e.offset;
    return p;
}

pcap_place capture_history::at_or_before(std::uint64_t seq) const {
    // The last entry with e.seq <= seq: the packets after it start there.
    std::size_t lo = 0, hi = count_;
    while (lo < hi) {
        const std::size_t mid = (lo + hi) / 2;
        if (at(mid).seq <= seq) lo = mid + 1;
        else hi = mid;
    }
    if (lo != 0) return place(at(lo - 1), false);
    // Before every entry: nothing was forgotten, so it is in the first file
    // noted (or an earlier one only a rotation inside the first run made).
    if (count_ != 0 && !evicted_) return place(at(0), true);
    return {};
}

pcap_place capture_history::at_or_after(std::uint64_t seq) const {
    std::size_t lo = 0, hi = count_;
    while (lo < hi) {
        const std::size_t mid = (lo + hi) / 2;
        if (at(mid).seq < seq) lo = mid + 1;
        else hi = mid;
    }
    if (lo < count_) return place(at(lo), false);
    if (count_ != 0) return place(at(count_ - 1), false);
    return {};
}

Result<std::unique_ptr<output_thread>> output_thread::start(std::vector<output_source> sources,
                                                            stream_store* store) {
    std::unique_ptr<output_thread> t(new output_thread());
    t->sources_ = std::move(sources);
    t->store_ = store;
    t->written_.assign(t->sources_.size(), 0);
    t->history_.resize(t->sources_.size());
    for (std::size_t w = 0; w < t->sources_.size(); ++w) {
        const output_source& src = t->sources_[w];
        if (!src.places || src.capture == nullptr || src.writer == nullptr || store == nullptr) continue;
        t->history_[w] = std::make_unique<capture_history>(history_runs);
        store->set_capture_places(static_cast<unsigned>(w), t->history_[w].get());
    }
    const int rc = rte_ctrl_thread_create(&t->tid_, "rxinto-output", nullptr, &output_thread::main, t.get());
    if (rc != 0) return make_error("cannot start the output thread: ", std::strerror(rc));
    t->joined_ = false;
    return t;
}

output_thread::~output_thread() { stop(); }

void output_thread::stop() noexcept {
    if (joined_) return;
    stop_.store(true, std::memory_order_release);
    pthread_join(tid_, nullptr);
    joined_ = true;
    // Nothing can be left (the thread drains before it returns); the store
    // writes what it still knows of unfinished connections.
    if (store_ != nullptr) {
        store_->finish();
        if (store_->observer() != nullptr) store_->observer()->round_end();
    }
}

void output_thread::write_capture(unsigned w, rte_mbuf** pkts, unsigned n) noexcept {
    const output_source& s = sources_[w];
    c_.packets.add(n);
    // Runs of one port each (a dispatch ring mixes ports).
    unsigned i = 0;
    while (i < n) {
        const std::uint16_t port = pkts[i]->port;
        unsigned j = i + 1;
        while (j < n && pkts[j]->port == port) ++j;
        s.writer->write_burst(port, 0, pkts + i, static_cast<std::uint16_t>(j - i));
        written_[w] += j - i;
        if (history_[w]) history_[w]->note(written_[w], *s.writer);
        i = j;
    }
    rte_pktmbuf_free_bulk(pkts, n);
}

void output_thread::capture_until(unsigned w, std::uint64_t seq) noexcept {
    rte_mbuf* pkts[capture_burst];
    while (written_[w] < seq) {
        const auto want = static_cast<unsigned>(std::min<std::uint64_t>(capture_burst, seq - written_[w]));
        const unsigned n = rte_ring_sc_dequeue_burst(sources_[w].capture, reinterpret_cast<void**>(pkts), want, nullptr);
        if (n == 0) return;  // cannot happen: they were enqueued before the message
        write_capture(w, pkts, n);
    }
}

bool output_thread::round() noexcept {
    bool any = false;
    rte_mbuf* pkts[capture_burst];
    stream_msg msgs[message_burst];
    for (unsigned w = 0; w < sources_.size(); ++w) {
        const output_source& s = sources_[w];
        if (s.streams != nullptr) {
            const unsigned n = rte_ring_sc_dequeue_burst_elem(s.streams, msgs, sizeof(stream_msg), message_burst, nullptr);
            if (n != 0) {
                any = true;
                c_.messages.add(n);
                for (unsigned i = 0; i < n; ++i) {
                    if (history_[w] && needed_seq(msgs[i]) > written_[w]) capture_until(w, needed_seq(msgs[i]));
                    if (store_ != nullptr) {
                        store_->handle(w, msgs[i]);
                    } else if (msgs[i].kind == msg_kind::data) {
                        for (unsigned k = 0; k < msgs[i].npieces; ++k) rte_pktmbuf_free(msgs[i].u.data.pieces[k].m);
                    }
                }
            }
        }
        if (s.capture != nullptr) {
            const unsigned n = rte_ring_sc_dequeue_burst(s.capture, reinterpret_cast<void**>(pkts), capture_burst, nullptr);
            if (n != 0) {
                any = true;
                write_capture(w, pkts, n);
            }
        }
    }
    if (store_ != nullptr && store_->observer() != nullptr) store_->observer()->round_end();
    c_.rounds.add();
    if (!any) c_.idle.add();
    return any;
}

void* output_thread::main(void* arg) {
    auto* t = static_cast<output_thread*>(arg);
    for (;;) {
        // stop_ is read before the rings: once it is seen set, every producer
        // has stopped, and a round that then finds nothing was the last.
        const bool stopping = t->stop_.load(std::memory_order_acquire);
        if (t->round()) continue;
        if (stopping) break;
        const timespec nap{0, 100'000};  // 100 µs: an idle output thread is not a worker
        nanosleep(&nap, nullptr);
    }
    return nullptr;
}

}  // namespace rxinto::capture
