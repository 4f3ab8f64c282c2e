// TCP-lite: per-worker connection tracking and stream reassembly from mbufs.
//
// A reassembler belongs to one worker lcore (shared nothing): the worker hands
// it every received burst; the application, on the same lcore between bursts,
// learns which connections are new, readable or closed (events() or a
// listener) and reads their streams with recv_into() (one copy into its own
// buffer) or peek()/consume() (zero copy).
//
// Ownership: process_burst() takes every mbuf of the burst, whatever becomes
// of it (held by a stream, dropped, counted). A connection& stays valid until
// the listener's on_release() for it has returned; an event list stays valid
// until the next call to process_burst(), expire() or finish().
//
// The per-packet path (process_burst) is noexcept, never allocates, logs or
// makes a syscall; everything is sized when the reassembler is created.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/flow/flow_key.hpp"
#include "rxinto/mbuf/drop_list.hpp"
#include "rxinto/net/parse.hpp"
#include "rxinto/tcp/counters.hpp"
#include "rxinto/tcp/stream.hpp"

struct rte_hash;
struct rte_ip_frag_tbl;
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

enum class conn_state : std::uint8_t { syn_seen, established, closing, closed, count_ };

/// One TCP connection. Both directions share its id (DESIGN.md "Stream output").
struct connection {
    flow::flow_key key;
    std::uint64_t id = 0;
    conn_state state = conn_state::syn_seen;
    std::int8_t client_dir = -1;  ///< 0: endpoint a is the client (from the SYN), 1: b, -1: unknown
    std::uint8_t first_dir = 0;   ///< direction of the first packet seen (a2b / b2a labels)
    bool midstream = false;       ///< picked up without a handshake
    bool closed_reported = false;
    bool readable_pending = false;
    std::uint8_t wscale[2] = {0, 0};
    bool wscale_ok[2] = {false, false};
    bool syn_seen[2] = {false, false};
    seq32 isn[2]{};
    std::uint32_t window[2] = {65535, 65535};  ///< last advertised window of each sender, scaled
    bool ack_known[2] = {false, false};         ///< sender d has acknowledged something
    seq32 last_ack[2]{};                        ///< last ACK number sent by d
    std::uint64_t last_ns = 0;
    std::uint64_t first_ns = 0;       ///< packet time of the first packet (fleet export records)
    std::uint64_t packets[2] = {0, 0};  ///< TCP segments seen per direction (fleet export records)
    stream dir[2];              ///< dir[0]: a -> b, dir[1]: b -> a
    void* user = nullptr;       ///< the application's, untouched by rxinto
    connection* lru_prev = nullptr;
    connection* lru_next = nullptr;

    /// "c2s"/"s2c" when the client is known, else "a2b"/"b2a" (a: first packet's source).
    [[nodiscard]] const char* label(int d) const noexcept;
    /// Endpoint that sends direction d.
    void endpoints(int d, std::string& src, std::uint16_t& sport, std::string& dst,
                   std::uint16_t& dport) const;
};

enum class event_kind : std::uint8_t { opened, readable, closed };

struct event {
    connection* conn = nullptr;
    event_kind kind = event_kind::opened;
};

/// Optional callbacks, called synchronously on the worker's lcore. on_release
/// is the last moment a connection can be read: after it returns, its memory
/// and every buffer it held are reused.
class listener {
public:
    virtual ~listener() = default;
    virtual void on_open(connection&) noexcept {}
    virtual void on_readable(connection&) noexcept {}
    virtual void on_closed(connection&) noexcept {}
    virtual void on_release(connection&) noexcept {}
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
    /// Creates the flow table (rte_hash), the segment pool and the IP fragment
    /// table for one worker. Needs the EAL. `pool` is the rx mempool (for the
    /// low-water mark); `name` must be unique per process.
    [[nodiscard]] static Result<std::unique_ptr<reassembler>> create(const tcp_config& cfg,
                                                                     const std::string& name,
                                                                     unsigned worker_index,
                                                                     rte_mempool* pool,
                                                                     int socket);
    ~reassembler();
    reassembler(const reassembler&) = delete;
    reassembler& operator=(const reassembler&) = delete;

    void set_listener(listener* l) noexcept { listener_ = l; }

    /// Takes every mbuf of the burst. now_ns: packet time when the port gives
    /// one, else wall-clock time; used for idle timeouts.
    void process_burst(rte_mbuf** pkts, std::uint16_t n, const port_link& link,
                       std::uint64_t now_ns) noexcept;

    /// Times out idle connections (at most `budget` per call).
    void expire(std::uint64_t now_ns, std::uint32_t budget = 1024) noexcept;

    /// End of input: every stream ends (eof), every connection is released.
    void finish() noexcept;

    /// Events since the last process_burst()/expire()/finish() began.
    [[nodiscard]] std::span<const event> events() const noexcept { return {events_.data(), nevents_}; }

    // Application API, by connection and direction (0: a -> b, 1: b -> a).
    recv_result recv_into(connection& c, int d, std::span<std::byte> buf) noexcept {
        return c.dir[d].recv_into(buf, env_);
    }
    std::uint64_t skip_gap(connection& c, int d) noexcept { return c.dir[d].skip_gap(env_); }
    std::size_t peek(connection& c, int d, std::span<std::span<const std::byte>> out) const noexcept {
        return c.dir[d].peek(out);
    }
    void consume(connection& c, int d, std::uint64_t n) noexcept { c.dir[d].consume(n, env_); }
    /// Frees the buffers released by reads (done at the end of every burst anyway).
    void flush() noexcept { drops_.flush(); }

    [[nodiscard]] const tcp_counters& counters() const noexcept { return counters_; }
    [[nodiscard]] const stats::counter_array<net::parse_status>& parse_counters() const noexcept {
        return parse_counters_;
    }
    /// One outcome per frame handed to process_burst (see packet_outcome).
    [[nodiscard]] const outcome_counters& outcomes() const noexcept { return outcomes_; }
    [[nodiscard]] std::uint32_t active_flows() const noexcept { return nflows_; }
    [[nodiscard]] std::size_t segments_in_use() const noexcept { return segments_.used(); }
    /// "" or why checksum verification was switched off (auto mode).
    [[nodiscard]] bool checksum_auto_disabled() const noexcept { return checksum_off_; }

private:
    reassembler(const tcp_config& cfg, unsigned worker_index);
    void process_one(rte_mbuf* m, const port_link& link, std::uint64_t now_ns, int depth) noexcept;
    void handle_tcp(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* hdr,
                    std::uint32_t hdr_len, const port_link& link, std::uint64_t now_ns,
                    int depth) noexcept;
    void outcome(int depth, packet_outcome o) noexcept {
        if (depth == 0) outcomes_.add(o);  // a rebuilt datagram is not a frame
    }
    void handle_fragment(rte_mbuf* m, const net::packet_meta& meta, const port_link& link,
                         std::uint64_t now_ns, int depth) noexcept;
    bool checksum_ok(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* hdr,
                     std::uint32_t hdr_len, const port_link& link) noexcept;
    connection* lookup(const flow::flow_key& k, std::uint32_t hash) noexcept;
    connection* create(const flow::flow_key& k, std::uint32_t hash, std::uint8_t dir,
                       std::uint64_t now_ns) noexcept;
    void release(connection* c, end_reason r, tcp_counter why) noexcept;
    void touch(connection* c, conn_state s, std::uint64_t now_ns) noexcept;
    void lru_unlink(connection* c) noexcept;
    void push_event(connection* c, event_kind k) noexcept;
    void after_packet(connection* c) noexcept;
    void begin_call() noexcept;

    tcp_config cfg_;
    unsigned worker_index_ = 0;
    rte_hash* table_ = nullptr;
    rte_ip_frag_tbl* frag_ = nullptr;
    rte_mempool* pool_ = nullptr;
    std::uint32_t low_water_ = 0;
    std::vector<connection> conns_;
    connection* free_conns_ = nullptr;
    std::uint32_t nflows_ = 0;
    std::uint64_t next_id_ = 0;
    connection* lru_head_[static_cast<int>(conn_state::count_)] = {};
    connection* lru_tail_[static_cast<int>(conn_state::count_)] = {};
    segment_pool segments_;
    mbuf::drop_list drops_;
    tcp_counters counters_;
    outcome_counters outcomes_;
    stats::counter_array<net::parse_status> parse_counters_;
    stream_env env_;
    listener* listener_ = nullptr;
    std::vector<event> events_;  // sized once: 3 events per packet of the largest burst
    std::size_t nevents_ = 0;
    std::uint32_t bad_run_ = 0;
    std::uint32_t bursts_ = 0;  ///< for the every-16-bursts mempool check
    bool checksum_off_ = false;
    void* frag_death_row_ = nullptr;  // rte_ip_frag_death_row, kept opaque here
};

}  // namespace rxinto::tcp
