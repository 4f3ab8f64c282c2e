// The worker's endpoint stage (rxinto --address/--listen, rxinto-perf): every
// received burst goes to the worker's own endpoint::endpoint (shared nothing),
// then the application part reads what became readable, sends and closes,
// then the endpoint sends its ACKs (with the window as the reads left it) and
// runs its timers. The worker's loop also runs a round when nothing came, so
// that timers and window updates never wait for a packet.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/capture/stream_feed.hpp"
#include "rxinto/endpoint/endpoint.hpp"

namespace rxinto::capture {

/// The application of an endpoint worker, on the worker's lcore: it must not
/// allocate, lock, log or make a system call.
class EndpointApp {
public:
    virtual ~EndpointApp() = default;
    /// The endpoint's events since the last call: read, send, close here.
    virtual void on_events(endpoint::endpoint& ep, std::span<const tcp::event> events,
                           std::uint64_t now_ns) noexcept = 0;
    /// Once per receive round (the application's own timers).
    virtual void on_round(endpoint::endpoint&, std::uint64_t) noexcept {}
    /// Callbacks (on_release: the last look at a connection); may be null.
    virtual tcp::listener* listener() noexcept { return nullptr; }
};

/// rxinto --listen: what each client sends goes to the stream output (the
/// output thread writes the files and the index, and makes the export
/// records) or, without one, is consumed; and our side closes once the
/// client's FIN was read: a passive close, as a server that has nothing to
/// say does.
class StreamsApp final : public EndpointApp, public tcp::listener {
public:
    /// feed may be null (no --streams-dir, no --export). read_rate: bytes per
    /// millisecond the application reads at most (0: everything at once), a
    /// slow reader. max_connections: how many connections may wait for their
    /// turn to read.
    StreamsApp(std::unique_ptr<stream_feed> feed, std::uint32_t read_rate, std::uint32_t max_connections);
    void on_events(endpoint::endpoint& ep, std::span<const tcp::event> events, std::uint64_t now_ns) noexcept override;
    void on_round(endpoint::endpoint& ep, std::uint64_t now_ns) noexcept override;
    tcp::listener* listener() noexcept override { return this; }
    void on_open(tcp::connection& c) noexcept override;
    void on_release(tcp::connection& c) noexcept override;
    [[nodiscard]] const stream_feed* feed() const noexcept { return feed_.get(); }

private:
    /// Reads at most max_bytes of what c's client sent (and closes our side
    /// after its FIN); true when nothing is left to read for now (false: it
    /// waits for a read rate's tokens or for room on the way to the output
    /// thread).
    bool read(endpoint::endpoint& ep, tcp::connection& c, std::uint64_t max_bytes) noexcept;

    std::unique_ptr<stream_feed> feed_;
    std::uint32_t rate_ = 0;
    double tokens_ = 0;
    std::uint64_t last_ns_ = 0;
    std::vector<tcp::connection*> pending_;  ///< connections with bytes still to read
};

class EndpointSink final : public BurstSink {
public:
    EndpointSink(std::unique_ptr<endpoint::endpoint> ep, std::unique_ptr<EndpointApp> app);
    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override;
    /// Once per receive round, after the bursts.
    void round() noexcept;
    /// After the worker stopped: every connection is reset and released.
    void finish() noexcept;

    [[nodiscard]] const endpoint::endpoint& ep() const noexcept { return *ep_; }
    [[nodiscard]] EndpointApp& app() noexcept { return *app_; }

private:
    std::unique_ptr<endpoint::endpoint> ep_;
    std::unique_ptr<EndpointApp> app_;
    std::uint64_t ns_per_tsc_q32_ = 0;  ///< ns per TSC cycle, 32.32 fixed point
};

/// A worker whose sink is an EndpointSink: like run_worker, plus a round per loop.
struct EndpointWorker {
    Worker* w = nullptr;
    EndpointSink* sink = nullptr;
};
void run_endpoint_worker(Worker& w, EndpointSink& s) noexcept;
/// rte_eal_remote_launch entry point: `arg` is an EndpointWorker*.
int endpoint_worker_main(void* arg);

}  // namespace rxinto::capture
