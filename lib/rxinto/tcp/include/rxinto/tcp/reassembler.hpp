// TCP-lite: per-worker connection tracking and stream reassembly from mbufs.
//
// A reassembler belongs to one worker lcore (shared nothing): the worker hands
// it every received burst; the application, on the same lcore between bursts,
// learns which connections are new, readable or closed (events() or a
// listener, once per connection and kind per burst) and reads their streams
// (connection::in(direction)) with recv_into() (one copy into its own buffer)
// or peek()/consume() (zero copy).
//
// A burst goes through in stages, the DPDK l3fwd way: every frame is parsed
// (IP fragments go to ip::defrag, checksums are checked) and keyed, with its
// flow hash computed once; the flow table looks the whole burst up in bulk and
// prefetches the connections it found; then each segment goes through the TCP
// state machine in arrival order; last, each connection the burst touched is
// polled once for its events.
//
// Ownership: process_burst() takes every mbuf of the burst, whatever becomes
// of it (held by a stream, dropped, counted). A connection& stays valid until
// the listener's on_release() for it has returned; an event list stays valid
// until the next call to process_burst(), expire() or finish().
//
// Memory: the flow table, its connections, the segment nodes, the IP fragment
// table and the event list are EAL memory on the worker's socket, sized when
// the reassembler is created (memory_needed() says how much); the per-packet
// path (process_burst) is noexcept and never allocates, logs or makes a
// system call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "rxinto/base/result.hpp"
#include "rxinto/flow/flow_key.hpp"
#include "rxinto/flow/flow_table.hpp"
#include "rxinto/ip/defrag.hpp"
#include "rxinto/mbuf/drop_list.hpp"
#include "rxinto/net/parse.hpp"
#include "rxinto/tcp/connection.hpp"
#include "rxinto/tcp/counters.hpp"
#include "rxinto/tcp/stream.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace rxinto::tcp {

enum class checksum_mode : std::uint8_t {
    verify,     ///< drop segments whose TCP (or IPv4 header) checksum is wrong
    ignore,     ///< never check (as tshark and tcpflow do)
    automatic,  ///< verify; accept the marks of tx offload on the capturing host;
                ///< stop verifying after a run of bad checksums (said in the stats)
};

struct tcp_config {
    std::uint32_t max_flows = 65536;          ///< connections tracked at once (per worker)
    std::uint32_t max_segments = 1U << 18;    ///< segment nodes per worker (all streams)
    std::uint16_t max_burst = 512;            ///< most packets per process_burst call
    stream_limits limits{};
    overlap_policy policy = overlap_policy::first;
    checksum_mode checksum = checksum_mode::automatic;
    std::uint32_t checksum_auto_run = 16;     ///< consecutive bad checksums that switch auto off
    bool midstream = true;                    ///< pick up connections seen without a handshake
    /// Idle timeouts in nanoseconds of packet time, by connection state.
    std::uint64_t timeout_syn_ns = 30'000'000'000ULL;
    std::uint64_t timeout_established_ns = 300'000'000'000ULL;
    std::uint64_t timeout_closing_ns = 60'000'000'000ULL;
    std::uint64_t timeout_closed_ns = 5'000'000'000ULL;
    bool ip_reassembly = true;                ///< rebuild IP fragments with rte_ip_frag
    std::uint32_t frag_max_datagrams = 4096;  ///< datagrams being rebuilt at once
    std::uint32_t mempool_low_water = 0;      ///< free mbufs below which held data is released (0: pool/8)
    /// Software dispatch over this many workers (0: none): every TCP packet's
    /// flow::dispatch_hash is checked against this worker's index, and those
    /// that arrived at the wrong worker are counted (a broken hash shows).
    std::uint32_t dispatch_workers = 0;
};

/// Where a port's frames start and whether they may have been cut by a snaplen.
struct port_link {
    net::link_type link = net::link_type::ethernet;
    bool may_be_cut = false;  ///< replayed capture: a frame may be shorter than on the wire
    /// false: checksums of this port are not checked (checksum mode auto found a
    /// replayed capture whose checksums are mostly wrong, e.g. rewritten addresses).
    bool verify_checksums = true;
};

class reassembler {
public:
    using direction = flow::direction;

    /// EAL memory one reassembler with this configuration takes (flow table,
    /// connections, segments, fragment table, burst state), for the start-up
    /// budget.
    [[nodiscard]] static std::uint64_t memory_needed(const tcp_config& cfg) noexcept;

    /// Creates the flow table, the segment pool and the IP fragment table for
    /// one worker, in EAL memory on `socket`. `pool` is the rx mempool (for the
    /// low-water mark); `name` must be unique per process.
    [[nodiscard]] static Result<std::unique_ptr<reassembler>> create(const tcp_config& cfg,
                                                                     const std::string& name,
                                                                     unsigned worker_index,
                                                                     rte_mempool* pool,
                                                                     int socket);
    ~reassembler();
    reassembler(const reassembler&) = delete;
    reassembler& operator=(const reassembler&) = delete;

    void set_listener(listener* l) noexcept;

    /// Takes every mbuf of the burst. now_ns: packet time when the port gives
    /// one, else wall-clock time; used for idle timeouts and grace periods.
    void process_burst(rte_mbuf** pkts, std::uint16_t n, const port_link& link,
                       std::uint64_t now_ns) noexcept;

    /// Times out idle connections (at most `budget` per call).
    void expire(std::uint64_t now_ns, std::uint32_t budget = 1024) noexcept;

    /// End of input: every stream ends (eof), every connection is released.
    void finish() noexcept;

    /// Events of the last process_burst(): at most one per connection and kind,
    /// opened ones first for each connection.
    [[nodiscard]] std::span<const event> events() const noexcept;

    /// Counts outcome o for n frames that never reached process_burst (e.g.
    /// dropped before reassembly because of their link type), so that frames
    /// in == the sum of the outcomes still holds.
    void count_outcome(packet_outcome o, std::uint64_t n) noexcept;

    /// Frees the buffers released by reads (done at the end of every burst anyway).
    void flush() noexcept;

    /// Read by any thread (relaxed single-writer counters).
    [[nodiscard]] const tcp_counters& counters() const noexcept;
    [[nodiscard]] const stats::counter_array<net::parse_status>& parse_counters() const noexcept;
    /// One outcome per frame handed to process_burst (see packet_outcome).
    [[nodiscard]] const outcome_counters& outcomes() const noexcept;
    [[nodiscard]] std::uint32_t active_flows() const noexcept;
    [[nodiscard]] std::size_t segments_in_use() const noexcept;
    /// Checksum mode auto stopped verifying (a run of bad checksums).
    [[nodiscard]] bool checksum_auto_disabled() const noexcept;
    /// The IP fragment table (null with ip_reassembly off).
    [[nodiscard]] const ip::defrag* fragments() const noexcept;

    struct impl;  // everything, in EAL memory on the worker's socket (reassembler.cpp)

private:
    explicit reassembler(impl* p) noexcept : p_(p) {}
    impl* p_;
};

}  // namespace rxinto::tcp
