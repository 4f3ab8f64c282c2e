// The Python module's engine, without Python: the EAL brought up once per
// process, one Receiver's ports, pool and reassembler polled on the calling
// thread, and the bookkeeping that lets Python objects outlive the
// reassembler's connections safely.
//
// Why a state object per connection (conn_state): the reassembler reuses a
// connection's memory as soon as its listener's on_release() returns, which
// can happen in the middle of a poll (timeout, eviction, tuple reuse, end of
// the replay), before Python has even seen the events. The contract of the
// module is stronger: a connection and its streams stay readable until the
// poll() after its "closed" event. So on_release copies what the streams still
// hold (bytes and gap marks, in stream order: a "spill") into the state, which
// Python objects share (std::shared_ptr); reads then come from the spill. A
// state is retired at the poll() after its "closed" event was returned: from
// then on every use raises instead of touching memory that is gone.
//
// "closed", for Python, means the connection has nothing more to give: both
// directions ended and were read to their end (no late retransmission can add
// to them any more), or the reassembler released it (idle timeout, eviction,
// a new connection on the tuple, end of the replay), whichever comes first.
//
// Threads: everything here runs on the thread that polls (the GIL released
// around run() and large copies by the bindings); one Receiver per thread of
// control, checked through `busy`.
//
// Memory: nothing per packet. Per connection, on the thread that polls (the
// Python application's thread, not an appliance worker lcore): one state
// (make_shared) when it opens, and the copy of what it still held if the
// reassembler releases it before Python has read it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/capture/replay.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/endpoint/endpoint.hpp"
#include "rxinto/port/ports.hpp"
#include "rxinto/tcp/reassembler.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_device;

namespace rxpy {

using rxinto::Error;
using rxinto::Result;
using rxinto::Status;
namespace config = rxinto::config;
namespace tcp = rxinto::tcp;
namespace flow = rxinto::flow;

// ---------------------------------------------------------------------------
// EAL, once per process

struct eal_info {
    bool up = false;
    bool hugepages = false;
    unsigned main_lcore = 0;
    config::EalSettings eal;          ///< the settings it came up with
    std::vector<std::string> args;    ///< EAL's argv
    std::string note;                 ///< the hugepage fallback sentence, if any
    bool pci = false;                 ///< came up with the PCI bus (a PCI port was given)
};

/// Brings the EAL up with s.eal (and the PCI ports of s, allow-listed) unless
/// it is up already; then checks that s.eal is what it came up with (EAL
/// settings apply once per process: a difference is an Error naming it).
/// `eal_given`: the [eal] keys the caller set explicitly (only those are
/// compared, so that a later Receiver need not repeat them).
Result<const eal_info*> ensure_eal(const config::Settings& s, const std::vector<std::string>& eal_given);
const eal_info& eal_state() noexcept;

// ---------------------------------------------------------------------------
// Objects alive now, by kind: the tests check that every one goes (the
// Python interpreter itself leaks at exit by design, so LeakSanitizer cannot
// be the check for a module loaded into it).

enum class live_kind : std::uint8_t { conn_state, receiver, peek_buffer, count_ };
std::int64_t live_objects(live_kind k) noexcept;
void live_add(live_kind k, std::int64_t n) noexcept;

template <live_kind K>
struct live_token {
    live_token() noexcept { live_add(K, 1); }
    live_token(const live_token&) noexcept { live_add(K, 1); }
    live_token& operator=(const live_token&) noexcept = default;
    ~live_token() { live_add(K, -1); }
};

// ---------------------------------------------------------------------------
// Per connection

/// What a released stream still held, copied at its release: the bytes in
/// stream order with the gaps between them marked (gaps are never filled).
struct spill {
    struct gap_mark {
        std::size_t at;      ///< index into data where the gap starts
        std::uint64_t len;   ///< its length in stream bytes
    };
    std::vector<std::byte> data;
    std::vector<gap_mark> gaps;
    std::size_t pos = 0;        ///< read position in data
    std::size_t next_gap = 0;   ///< first gap not yet skipped
};

/// A stream's counters, frozen at its release and advanced by reads of the spill.
struct stream_frozen {
    std::uint64_t offset = 0;
    std::uint64_t delivered = 0;
    std::uint64_t gap_bytes = 0;
    std::uint32_t gap_count = 0;
    std::uint64_t overlap_conflicts = 0;
    bool midstream = false;
    tcp::end_reason ended = tcp::end_reason::none;
};

class receiver_core;

enum class retire_why : std::uint8_t { none, closed, receiver_closed };

struct conn_state {
    receiver_core* owner = nullptr;  ///< null once retired
    tcp::connection* c = nullptr;    ///< the reassembler's connection while it lives
    std::uint64_t id = 0;
    flow::flow_key key{};
    std::array<std::string, 2> addr; ///< key order (a, b), as inet_ntop writes them
    // Frozen at release (read from c while it lives):
    std::int8_t client_dir = -1;
    flow::direction first_dir = flow::direction::a2b;
    bool midstream = false;
    std::array<spill, 2> sp;
    std::array<stream_frozen, 2> fz;
    // Events:
    bool ended_both = false;         ///< the reassembler said closed (both directions ended)
    bool readable_queued = false;    ///< a readable event is pending
    bool closed_queued = false;      ///< the closed event is pending or was returned
    bool closed_delivered = false;   ///< ... and was returned by a poll()
    retire_why retired = retire_why::none;
    std::size_t live_index = SIZE_MAX;
    /// The bindings' cached Python objects (connection, its two streams, its
    /// key), owned references; the bindings clear them (with the GIL) before
    /// the state is retired. Never touched here.
    std::array<void*, 4> py{};
    live_token<live_kind::conn_state> counted;

    [[nodiscard]] bool alive() const noexcept { return c != nullptr; }
};

enum class ev_kind : std::uint8_t { opened, readable, closed };

struct pending_event {
    std::shared_ptr<conn_state> st;
    ev_kind kind;
};

// Stream operations on direction d (key order: 0 = a->b, 1 = b->a), live or
// from the spill. None of them allocates.
tcp::recv_result stream_state(const conn_state& st, std::size_t d) noexcept;
tcp::recv_result stream_read(conn_state& st, std::size_t d, std::span<std::byte> buf) noexcept;
std::uint64_t stream_skip_gap(conn_state& st, std::size_t d) noexcept;
std::uint64_t stream_available(const conn_state& st, std::size_t d) noexcept;
/// Views and, for each, the mbuf segment that holds it (null for a spill).
std::size_t stream_peek(const conn_state& st, std::size_t d, std::span<std::span<const std::byte>> out,
                        std::span<rte_mbuf*> segs) noexcept;
void stream_consume(conn_state& st, std::size_t d, std::uint64_t n) noexcept;
stream_frozen stream_counters(const conn_state& st, std::size_t d) noexcept;
std::uint64_t stream_held(const conn_state& st, std::size_t d) noexcept;
bool stream_finished(const conn_state& st, std::size_t d) noexcept;
std::int8_t conn_client_dir(const conn_state& st) noexcept;
flow::direction conn_first_dir(const conn_state& st) noexcept;
bool conn_midstream(const conn_state& st) noexcept;

// ---------------------------------------------------------------------------
// The pool, kept while peek() views pin its mbufs

/// Owns a Receiver's ports and mempool (and the devices it hot-plugged). A
/// peek() view holds a reference to it along with its pinned mbuf, so that a
/// view that outlives Receiver.close() still points into a live pool; the
/// ports close and the pool is freed when the last holder goes.
struct pool_keeper {
    rxinto::port::Ports ports;
    std::vector<rte_device*> probed;  ///< devices the Receiver hot-plugged (removed at the end)
    pool_keeper() = default;
    pool_keeper(const pool_keeper&) = delete;
    pool_keeper& operator=(const pool_keeper&) = delete;
    ~pool_keeper();
};


// ---------------------------------------------------------------------------
// The receiver

struct port_state {
    std::uint16_t port_id = 0;
    std::uint16_t queues = 1;
    tcp::port_link link{};
    bool replay = false;
    bool pcap_timestamps = false;  ///< its packets carry the capture's time (ns)
    std::uint64_t received = 0;
};

struct receiver_stats {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t polls = 0;
    std::uint64_t mempool_size = 0;
    std::uint64_t mempool_in_use = 0;
};

class receiver_core final : public tcp::listener {
public:
    /// Opens the ports of s (hot-plugging pcap/vdev devices), the pool and one
    /// reassembler. The EAL must be up (ensure_eal). `generated` is the path of
    /// the built-in capture for pcap ports whose source is "generated".
    static Result<std::unique_ptr<receiver_core>> open(const config::Settings& s, const std::string& generated);
    ~receiver_core() override;
    receiver_core(const receiver_core&) = delete;
    receiver_core& operator=(const receiver_core&) = delete;

    enum class run_status : std::uint8_t { events, deadline, done, slice };
    /// Polls the ports, hands every burst to the reassembler, until events are
    /// pending and the port has nothing more now (or max_packets came in), the
    /// input is over, the TSC passes deadline, or (to let the caller check for
    /// signals) slice_end. Never allocates per packet; the listener's
    /// callbacks queue events and spill released connections.
    run_status run(std::uint64_t deadline_tsc, std::uint64_t slice_end_tsc) noexcept;

    /// Events since the last delivered(), in order.
    [[nodiscard]] const std::vector<pending_event>& pending() const noexcept { return pending_; }
    /// The pending events were handed to Python: closed ones become retirable
    /// at the next poll.
    void delivered() noexcept;
    /// States to retire at the start of a poll (their closed event was returned
    /// by the previous one); the caller drops its Python objects, then retire().
    [[nodiscard]] std::vector<std::shared_ptr<conn_state>> take_retirable();
    void retire(conn_state& st, retire_why why) noexcept;
    /// Frees the buffers reads released (at the start of every poll).
    void flush() noexcept;

    /// After a read of st: both directions finished -> its closed event is queued.
    void after_read(conn_state& st) noexcept;

    /// Connections not yet retired, in opening order of the live list.
    [[nodiscard]] const std::vector<std::shared_ptr<conn_state>>& live() const noexcept { return live_; }

    /// The replay ended (or the duration passed) and every connection's closed
    /// event was returned.
    [[nodiscard]] bool done() const noexcept { return input_done_ && open_count_ == 0 && pending_.empty(); }
    [[nodiscard]] bool input_done() const noexcept { return input_done_; }

    /// Releases every connection and mbuf; the pool and ports go with the last
    /// peek() view. Idempotent. Returns the mbufs still out of the pool after
    /// everything was released (0 unless views pin some).
    std::uint64_t close() noexcept;
    [[nodiscard]] bool closed() const noexcept { return closed_; }

    [[nodiscard]] receiver_stats stats() const noexcept;
    [[nodiscard]] const tcp::reassembler* reassembler() const noexcept { return r_.get(); }

    // ---- the endpoint (when the settings give addresses: rxinto owns them and
    // terminates the connections to its listening ports instead of watching) --
    [[nodiscard]] rxinto::endpoint::endpoint* endpoint() const noexcept { return ep_.get(); }
    /// Accepts connections on `port` (an Error without addresses).
    Status listen(std::uint16_t port);
    /// Queues data on st's connection; sent at the next poll. bytes queued:
    /// all of data, or 0 when it does not fit now (the peer's window, the
    /// initial congestion window, the send queue); an Error when the
    /// connection is not the endpoint's, is gone, or closed for sending.
    Result<std::size_t> send(conn_state& st, std::span<const std::byte> data);
    /// Bytes send() would take now (0 when it cannot send).
    [[nodiscard]] std::uint32_t send_room(const conn_state& st) const noexcept;
    /// FIN after what was queued (receiving goes on) / RST now.
    Status shutdown(conn_state& st, bool reset);
    /// The endpoint's TCP state of st's connection ("" when not an endpoint's, or gone).
    [[nodiscard]] const char* state(const conn_state& st) const noexcept;
    [[nodiscard]] const std::vector<std::string>& notes() const noexcept { return notes_; }
    [[nodiscard]] std::shared_ptr<pool_keeper> keeper() const noexcept { return keeper_; }
    [[nodiscard]] std::uint64_t in_use_at_close() const noexcept { return in_use_at_close_; }

    /// Set by the bindings while the GIL is released around this receiver.
    bool busy = false;
    /// The bindings' Receiver object (not owned).
    void* user = nullptr;
    live_token<live_kind::receiver> counted;

    // tcp::listener
    void on_open(tcp::connection& c) noexcept override;
    void on_readable(tcp::connection& c) noexcept override;
    void on_closed(tcp::connection& c) noexcept override;
    void on_release(tcp::connection& c) noexcept override;

private:
    receiver_core() = default;
    void queue(const std::shared_ptr<conn_state>& st, ev_kind k) noexcept;
    void queue_closed(conn_state& st) noexcept;
    void finish_input() noexcept;
    bool replay_complete() noexcept;
    std::uint64_t now_ns(rte_mbuf* first, const port_state& p) const noexcept;
    std::uint64_t live_now_ns() const noexcept;
    std::shared_ptr<conn_state> shared(conn_state* st) const noexcept;

    config::Settings settings_;
    std::shared_ptr<pool_keeper> keeper_;
    std::unique_ptr<tcp::reassembler> r_;        ///< watching (no [endpoint] addresses)
    std::unique_ptr<rxinto::endpoint::endpoint> ep_;  ///< terminating (addresses given)
    std::vector<port_state> ports_;
    std::vector<rte_mbuf*> burst_buf_;
    std::uint16_t burst_ = 32;
    std::vector<std::shared_ptr<conn_state>> live_;
    std::vector<pending_event> pending_;
    std::vector<std::shared_ptr<conn_state>> to_retire_;
    std::uint64_t open_count_ = 0;  ///< live states whose closed event was not returned yet
    bool input_done_ = false;
    bool closing_ = false;
    bool closed_ = false;
    bool any_replay_ = false;
    rxinto::capture::ReplayPlan plan_;  ///< the replayed files (rxinto's strict reader)
    std::uint64_t packets_ = 0;
    std::uint64_t bytes_ = 0;
    std::uint64_t polls_ = 0;
    std::uint64_t hz_ = 1;
    std::uint64_t start_tsc_ = 0;
    std::uint64_t last_now_ns_ = 0;
    std::uint64_t last_expire_ns_ = 0;
    std::uint64_t in_use_at_close_ = 0;
    int ts_offset_ = -1;
    std::uint64_t ts_flag_ = 0;
    std::vector<std::string> notes_;
};

}  // namespace rxpy
