#include "rxinto/capture/output.hpp"

#include <time.h>

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
}  // namespace

Result<std::unique_ptr<output_thread>> output_thread::start(std::vector<output_source> sources,
                                                            stream_store* store) {
    std::unique_ptr<output_thread> t(new output_thread());
    t->sources_ = std::move(sources);
    t->store_ = store;
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
    if (store_ != nullptr) store_->finish();
}

bool output_thread::round() noexcept {
    bool any = false;
    rte_mbuf* pkts[capture_burst];
    stream_msg msgs[message_burst];
    for (unsigned w = 0; w < sources_.size(); ++w) {
        const output_source& s = sources_[w];
        if (s.capture != nullptr) {
            const unsigned n = rte_ring_sc_dequeue_burst(s.capture, reinterpret_cast<void**>(pkts), capture_burst, nullptr);
            if (n != 0) {
                any = true;
                c_.packets.add(n);
                // Runs of one port each (a dispatch ring mixes ports).
                unsigned i = 0;
                while (i < n) {
                    const std::uint16_t port = pkts[i]->port;
                    unsigned j = i + 1;
                    while (j < n && pkts[j]->port == port) ++j;
                    s.writer->write_burst(port, 0, pkts + i, static_cast<std::uint16_t>(j - i));
                    i = j;
                }
                rte_pktmbuf_free_bulk(pkts, n);
            }
        }
        if (s.streams != nullptr) {
            const unsigned n = rte_ring_sc_dequeue_burst_elem(s.streams, msgs, sizeof(stream_msg), message_burst, nullptr);
            if (n != 0) {
                any = true;
                c_.messages.add(n);
                for (unsigned i = 0; i < n; ++i) {
                    if (store_ != nullptr) {
                        store_->handle(w, msgs[i]);
                    } else if (msgs[i].kind == msg_kind::data) {
                        for (unsigned k = 0; k < msgs[i].npieces; ++k) rte_pktmbuf_free(msgs[i].u.data.pieces[k].m);
                    }
                }
            }
        }
    }
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
