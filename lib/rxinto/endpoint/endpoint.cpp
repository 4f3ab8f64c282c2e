#include "rxinto/endpoint/endpoint.hpp"

#include <arpa/inet.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <optional>

#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "rxinto/endpoint/tcp_math.hpp"
#include "rxinto/flow/flow_table.hpp"
#include "rxinto/mbuf/drop_list.hpp"
#include "rxinto/mbuf/headers.hpp"
#include "rxinto/tcp/connection_rx.hpp"
#include "rxinto/tcp/stream_rx.hpp"
#include "wire.hpp"

namespace rxinto::endpoint {

using flow::direction;
using flow::index_of;
using net::tcp_flag::ack;
using net::tcp_flag::fin;
using net::tcp_flag::psh;
using net::tcp_flag::rst;
using net::tcp_flag::syn;
using ec = endpoint_counter;

// ---------------------------------------------------------------------------
// names

const char* to_string(endpoint_counter c) noexcept {
    static constexpr const char* names[] = {
        "frames", "not_for_us", "own_frames", "parse_refused", "fragments_dropped", "checksum_bad",
        "checksum_offloaded", "arp_requests", "arp_other", "nd_solicitations", "icmp_echo", "icmp_other",
        "other_protocols", "tcp_segments", "closed_port", "resets_sent", "resets_received",
        "rst_out_of_window", "challenge_acks", "challenge_acks_limited", "syn_received", "syn_retransmits",
        "syn_queue_full", "syn_cookies_sent", "syn_cookies_ok", "syn_cookies_bad", "synack_retransmits",
        "connections_opened", "connections_closed", "connections_reset", "connections_timed_out",
        "connections_refused", "time_wait_entered", "time_wait_evicted", "time_wait_reused", "paws_rejected",
        "out_of_window", "beyond_window_bytes", "duplicate_segments", "out_of_order", "in_order",
        "data_dropped_no_room", "acks_sent", "dup_acks_sent", "dup_acks_coalesced", "window_updates", "zero_windows",
        "delayed_acks", "data_segments_sent", "retransmits", "send_refused", "tx_packets", "tx_dropped",
        "tx_pool_empty", "bad_ack"};
    static_assert(sizeof names / sizeof names[0] == static_cast<std::size_t>(endpoint_counter::count_));
    const auto i = static_cast<std::size_t>(c);
    return i < sizeof names / sizeof names[0] ? names[i] : "unknown";
}

const char* to_string(tcp_state s) noexcept {
    switch (s) {
    case tcp_state::syn_received: return "SYN-RECEIVED";
    case tcp_state::established: return "ESTABLISHED";
    case tcp_state::close_wait: return "CLOSE-WAIT";
    case tcp_state::fin_wait_1: return "FIN-WAIT-1";
    case tcp_state::fin_wait_2: return "FIN-WAIT-2";
    case tcp_state::closing: return "CLOSING";
    case tcp_state::last_ack: return "LAST-ACK";
    case tcp_state::time_wait: return "TIME-WAIT";
    case tcp_state::closed: return "CLOSED";
    }
    return "unknown";
}

const char* to_string(send_status s) noexcept {
    switch (s) {
    case send_status::ok: return "ok";
    case send_status::too_large:
        return "more than the peer's window, the initial congestion window and the send queue allow now";
    case send_status::closed: return "the connection is closed for sending";
    case send_status::no_buffers: return "the endpoint's tx pool is empty";
    }
    return "unknown";
}

Result<ip_address> parse_address(std::string_view text) {
    ip_address a;
    std::string s(text);
    std::string addr = s;
    int prefix = -1;
    if (const auto slash = s.find('/'); slash != std::string::npos) {
        addr = s.substr(0, slash);
        const std::string p = s.substr(slash + 1);
        if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
            return make_error("'", s, "': the prefix after '/' is not a number");
        prefix = std::stoi(p);
    }
    if (inet_pton(AF_INET, addr.c_str(), a.bytes.data()) == 1) {
        a.version = 4;
        if (prefix > 32) return make_error("'", s, "': an IPv4 prefix is 0..32");
        a.prefix = static_cast<std::uint8_t>(prefix < 0 ? 32 : prefix);
    } else if (inet_pton(AF_INET6, addr.c_str(), a.bytes.data()) == 1) {
        a.version = 6;
        if (prefix > 128) return make_error("'", s, "': an IPv6 prefix is 0..128");
        a.prefix = static_cast<std::uint8_t>(prefix < 0 ? 128 : prefix);
    } else {
        return make_error("'", s, "' is not an IPv4 or IPv6 address (ADDR/PREFIX, e.g. 10.0.0.2/24 or fd00::2/64)");
    }
    const bool multicast = a.version == 4 ? (a.bytes[0] >= 224) : (a.bytes[0] == 0xff);
    bool zero = true;
    for (std::size_t i = 0; i < (a.version == 4 ? 4U : 16U); ++i) zero = zero && a.bytes[i] == 0;
    if (multicast || zero) return make_error("'", s, "': not a unicast address");
    return a;
}

std::string to_string(const ip_address& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(a.version == 4 ? AF_INET : AF_INET6, a.bytes.data(), buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(a.prefix);
}

// ---------------------------------------------------------------------------
// state

namespace {

constexpr std::uint32_t header_window = 256;
constexpr std::size_t max_sendq = 16;
constexpr std::size_t max_recent = 4;
constexpr std::uint64_t timer_step_ns = 1'000'000ULL;  // timers are looked at once a millisecond
constexpr std::uint64_t paws_idle_ns = 24ULL * 24 * 3600 * 1'000'000'000ULL;  // RFC 7323 §5.5: 24 days
constexpr std::uint8_t lru_half_open = 0, lru_open = 1, lru_closing = 2, lru_time_wait = 3, lru_classes = 4;
constexpr std::uint16_t ethertype_arp = 0x0806;
constexpr std::uint8_t ipproto_icmp = 1, ipproto_icmpv6 = 58;

struct sent_seg {
    rte_mbuf* m = nullptr;  ///< the payload (data only), ours until acknowledged
    seq32 seq{};
    std::uint16_t len = 0;
    bool retransmitted = false;
    std::uint64_t sent_ns = 0;
};

/// A connection of the endpoint: a tcp::connection (so that the application
/// and stream output read it as any other) with the endpoint's TCP state.
struct conn : tcp::connection {
    tcp_state st = tcp_state::syn_received;
    direction in_dir = direction::a2b;
    bool ts_ok = false;
    bool sack_ok = false;
    bool wscale_ok = false;
    bool fin_seen = false;        ///< the peer's FIN arrived (maybe out of order)
    bool fin_received = false;    ///< ... and every byte before it: RCV.NXT counts it
    bool fin_pending = false;     ///< close() was called: a FIN after the send queue
    bool fin_sent = false;
    bool ack_now = false;         ///< an ACK is due at this flush
    bool touched = false;         ///< on this burst's touched list
    bool opened_pending = false;  ///< the opened event is due
    bool closed_reported = false;
    bool app_knows = false;       ///< the handshake completed: the application may hold it
    bool released_to_app = false; ///< on_release was called (a TIME_WAIT remainder)
    bool app_wants_release = false;
    bool dsack_pending = false;
    bool ooo_burst = false;       ///< an out-of-order segment came in this burst (ends at last_ooo_end)
    std::uint8_t snd_wscale = 0;  ///< the peer's shift
    std::uint8_t rcv_wscale = 0;  ///< ours
    std::uint8_t unacked = 0;     ///< in-order segments not yet acknowledged
    std::uint8_t retries = 0;
    std::uint8_t nrecent = 0;
    std::uint8_t sq_n = 0;
    std::uint16_t mss = 536;      ///< what we send in one segment
    std::uint64_t fin_off = 0;    ///< stream offset of the peer's FIN
    std::uint64_t right_edge = 0; ///< stream offset: RCV.NXT + RCV.WND as last advertised
    std::uint64_t last_ack_off = 0;  ///< the RCV.NXT of the last ACK sent (offset)
    std::uint64_t recent[max_recent] = {};
    std::uint64_t last_ooo_end = 0;
    range dsack{};
    seq32 irs{};
    seq32 iss{};
    seq32 snd_una{};
    seq32 snd_nxt{};
    seq32 snd_wl1{};
    seq32 snd_wl2{};
    std::uint32_t snd_wnd = 0;
    std::uint32_t ts_recent = 0;
    std::uint64_t ts_recent_ns = 0;
    std::uint64_t delack_at = 0;  ///< 0: none
    std::uint64_t rto_at = 0;     ///< 0: none
    std::int32_t timer_idx = -1;  ///< index in the timer list
    std::int32_t watch_idx = -1;  ///< index in the window-watch list
    rto_estimator rto;
    wire::path path;
    sent_seg sq[max_sendq];

    [[nodiscard]] tcp::stream& in() noexcept { return this->tcp::connection::in(in_dir); }
    [[nodiscard]] tcp::stream_rx rx() noexcept { return tcp::stream_rx(in()); }
};

conn& as_conn(tcp::connection& c) noexcept { return static_cast<conn&>(c); }
const conn& as_conn(const tcp::connection& c) noexcept { return static_cast<const conn&>(c); }

std::uint8_t lru_of(tcp_state s) noexcept {
    switch (s) {
    case tcp_state::syn_received: return lru_half_open;
    case tcp_state::established:
    case tcp_state::close_wait: return lru_open;
    case tcp_state::time_wait: return lru_time_wait;
    default: return lru_closing;
    }
}

template <class T>
T* eal_array(const char* what, std::size_t n, int socket) noexcept {
    return static_cast<T*>(rte_zmalloc_socket(what, std::max<std::size_t>(n, 1) * sizeof(T), RTE_CACHE_LINE_SIZE, socket));
}

/// One TCP segment of the burst, parsed and keyed.
struct burst_seg {
    rte_mbuf* m = nullptr;
    flow::flow_key key;
    std::uint32_t hash = 0;
    direction dir = direction::a2b;
    std::uint16_t binding = 0;
    net::packet_meta meta;
    wire::mac src_mac{};
};

/// TCP options to write: all optional.
struct tcp_opts {
    bool mss = false;
    std::uint16_t mss_value = 0;
    bool wscale = false;
    std::uint8_t wscale_value = 0;
    bool sack_perm = false;
    bool ts = false;
    std::uint32_t tsval = 0;
    std::uint32_t tsecr = 0;
    std::uint8_t nsack = 0;
    std::array<std::pair<std::uint32_t, std::uint32_t>, 4> sack{};
};

std::uint32_t write_tcp_options(std::uint8_t* p, const tcp_opts& o) noexcept {
    std::uint32_t n = 0;
    if (o.mss) {
        p[n++] = 2;
        p[n++] = 4;
        wire::put16(p + n, o.mss_value);
        n += 2;
    }
    if (o.sack_perm && o.ts) {
        p[n++] = 4;
        p[n++] = 2;
        p[n++] = 8;
        p[n++] = 10;
        wire::put32(p + n, o.tsval);
        wire::put32(p + n + 4, o.tsecr);
        n += 8;
    } else {
        if (o.sack_perm) {
            p[n++] = 1;
            p[n++] = 1;
            p[n++] = 4;
            p[n++] = 2;
        }
        if (o.ts) {
            p[n++] = 1;
            p[n++] = 1;
            p[n++] = 8;
            p[n++] = 10;
            wire::put32(p + n, o.tsval);
            wire::put32(p + n + 4, o.tsecr);
            n += 8;
        }
    }
    if (o.wscale) {
        p[n++] = 1;
        p[n++] = 3;
        p[n++] = 3;
        p[n++] = o.wscale_value;
    }
    if (o.nsack != 0) {
        p[n++] = 1;
        p[n++] = 1;
        p[n++] = 5;
        p[n++] = static_cast<std::uint8_t>(2 + 8 * o.nsack);
        for (std::uint8_t i = 0; i < o.nsack; ++i) {
            wire::put32(p + n, o.sack[i].first);
            wire::put32(p + n + 4, o.sack[i].second);
            n += 8;
        }
    }
    return n;  // a multiple of 4 by construction
}

}  // namespace

struct endpoint::impl {
    endpoint_config cfg;
    unsigned worker_index = 0;
    int socket = -1;
    std::unique_ptr<flow::flow_table> table;
    tcp::segment_pool segments;
    mbuf::drop_list drops;
    tcp::tcp_counters stream_counters;
    endpoint_counters counters;
    tcp::stream_env env;
    tcp::listener* lsn = nullptr;
    rte_mempool* tx_pool = nullptr;
    cookie_key secret{};
    rate_limit challenge;
    std::uint32_t ts_offset = 0;
    std::uint32_t half_open = 0;
    std::uint32_t time_wait = 0;
    std::uint64_t next_id = 0;
    std::uint64_t now_ns = 0;
    std::uint64_t next_timer_ns = 0;
    std::uint16_t ip_id = 0;
    std::uint16_t mss4 = 1460;
    std::uint16_t mss6 = 1440;
    std::uint8_t rcv_wscale = 0;
    std::uint32_t budget = 0;  ///< receive budget per connection less the scaling reserve
    // Per burst:
    burst_seg* segs = nullptr;
    std::uint32_t nsegs = 0;
    const flow::flow_key** keys = nullptr;
    std::uint32_t* hashes = nullptr;
    flow::flow_node** found = nullptr;
    conn** touched = nullptr;
    std::uint32_t ntouched = 0;
    std::uint32_t touched_cap = 0;
    tcp::event* events = nullptr;
    std::size_t nevents = 0;
    std::size_t events_cap = 0;
    // Timers and window watch: connections with a timer armed / a window to reopen.
    conn** timed = nullptr;
    std::uint32_t ntimed = 0;
    conn** watched = nullptr;
    std::uint32_t nwatched = 0;
    // Connections that ended this round: released at flush(), after the application read.
    conn** ending = nullptr;
    std::uint32_t nending = 0;
    // Tx: one staging array per port binding.
    struct tx_stage {
        rte_mbuf* pkts[64];
        std::uint16_t n = 0;
    };
    tx_stage* tx = nullptr;

    impl(const endpoint_config& c, unsigned w, int sock)
        : cfg(c), worker_index(w), socket(sock), segments(c.max_segments, sock) {}
    ~impl() {
        rte_free(segs);
        rte_free(keys);
        rte_free(hashes);
        rte_free(found);
        rte_free(touched);
        rte_free(events);
        rte_free(timed);
        rte_free(watched);
        rte_free(ending);
        rte_free(tx);
    }

    // ---- helpers ----
    [[nodiscard]] std::uint32_t ts_now() const noexcept {
        return static_cast<std::uint32_t>(now_ns / 1'000'000ULL) + ts_offset;
    }
    [[nodiscard]] int binding_of(std::uint16_t port) const noexcept {
        for (std::size_t i = 0; i < cfg.ports.size(); ++i)
            if (cfg.ports[i].port_id == port) return static_cast<int>(i);
        return -1;
    }
    [[nodiscard]] bool ours(std::uint8_t ver, const std::array<std::uint8_t, 16>& a) const noexcept {
        for (const auto& x : cfg.addresses)
            if (x.version == ver && std::memcmp(x.bytes.data(), a.data(), ver == 4 ? 4 : 16) == 0) return true;
        return false;
    }
    [[nodiscard]] bool listening(std::uint16_t port) const noexcept {
        return std::find(cfg.listen_ports.begin(), cfg.listen_ports.end(), port) != cfg.listen_ports.end();
    }
    [[nodiscard]] std::uint16_t our_mss(std::uint8_t ver) const noexcept { return ver == 4 ? mss4 : mss6; }

    // ---- tx ----
    rte_mbuf* alloc_tx() noexcept {
        rte_mbuf* m = rte_pktmbuf_alloc(tx_pool);
        if (m == nullptr) counters.add(ec::tx_pool_empty);
        return m;
    }
    void transmit(std::uint16_t binding, rte_mbuf* m) noexcept;
    void flush_tx() noexcept;
    /// A TCP segment on path t. payload: from a held mbuf (the send queue), may be null.
    void send_tcp(const wire::path& t, seq32 seq, seq32 ackn, std::uint8_t flags, std::uint16_t window,
                  const tcp_opts& o, const rte_mbuf* payload, std::uint16_t plen) noexcept;
    static wire::path path_of(const burst_seg& s, const endpoint_config& cfg) noexcept;

    // ---- stage 1 ----
    void take_frame(rte_mbuf* m) noexcept;
    void on_arp(rte_mbuf* m, const std::uint8_t* data, std::uint32_t len, const net::packet_meta& meta,
                std::uint16_t binding) noexcept;
    void on_icmp(rte_mbuf* m, const std::uint8_t* data, std::uint32_t len, const net::packet_meta& meta,
                 std::uint16_t binding) noexcept;
    bool tcp_checksum_ok(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* data,
                         std::uint32_t len) noexcept;

    // ---- stage 3: TCP ----
    void segment_in(burst_seg& s, conn* c) noexcept;
    void on_listen(burst_seg& s) noexcept;
    void reset_for(const burst_seg& s) noexcept;
    conn* make_conn(const burst_seg& s, tcp_state st) noexcept;
    void send_synack(conn& c, bool retransmit) noexcept;
    void send_cookie_synack(const burst_seg& s) noexcept;
    conn* from_cookie(burst_seg& s) noexcept;
    void established(conn& c) noexcept;
    void segment_established(conn& c, burst_seg& s) noexcept;
    bool acceptable(const conn& c, seq32 seq, std::uint32_t len) const noexcept;
    void on_data(conn& c, burst_seg& s, seq32 seq, std::uint32_t len) noexcept;
    std::size_t pieces_needed(conn& c, std::uint64_t b, std::uint32_t len) noexcept;
    void on_ack_field(conn& c, const burst_seg& s) noexcept;
    void check_fin(conn& c) noexcept;
    void challenge_ack(conn& c) noexcept;
    void time_wait_segment(conn& c, burst_seg& s) noexcept;

    // ---- what we send on a connection ----
    [[nodiscard]] seq32 rcv_nxt(conn& c) noexcept {
        return c.rx().seq_at(c.rx().contiguous_end()) + (c.fin_received ? 1U : 0U);
    }
    void send_ack(conn& c, bool count_as_dup = false) noexcept;
    void send_rst(conn& c) noexcept;
    void push_data(conn& c) noexcept;
    void send_fin(conn& c) noexcept;
    void transmit_seg(conn& c, sent_seg& sg) noexcept;
    void fill_ts(conn& c, tcp_opts& o) noexcept {
        if (!c.ts_ok) return;
        o.ts = true;
        o.tsval = ts_now();
        o.tsecr = c.ts_recent;
    }
    window_choice window_of(conn& c) noexcept {
        const std::uint64_t nxt = c.rx().contiguous_end();
        window_choice w = select_window(nxt, c.right_edge, c.in().readable(), budget, c.rcv_wscale, c.mss);
        if (c.st == tcp_state::syn_received) w.field = static_cast<std::uint16_t>(std::min<std::uint64_t>(w.right_edge - nxt, 0xffff));
        return w;
    }

    // ---- lists ----
    void set_state(conn& c, tcp_state st) noexcept;
    void mark_touched(conn& c) noexcept;
    void arm_timer(conn& c) noexcept;
    void watch(conn& c) noexcept;
    void unwatch(conn& c) noexcept;
    void end_conn(conn& c, tcp::end_reason why, ec counter) noexcept;
    void release(conn& c) noexcept;
    void run_timers() noexcept;
    void conn_timer(conn& c) noexcept;
    void enter_time_wait(conn& c) noexcept;
    void expire_idle() noexcept;
    void push_event(conn& c, tcp::event_kind k) noexcept;
    void emit_events() noexcept;
};

// ---------------------------------------------------------------------------
// creation

std::uint64_t endpoint::memory_needed(const endpoint_config& cfg) noexcept {
    const std::uint64_t burst = std::max<std::uint32_t>(cfg.max_burst, 1);
    const std::uint64_t mbuf_bytes = RTE_MBUF_DEFAULT_BUF_SIZE + sizeof(rte_mbuf) + 64;
    return flow::flow_table::memory_needed(cfg.max_connections, sizeof(conn)) +
           tcp::segment_pool::memory_needed(cfg.max_segments) + sizeof(impl) +
           burst * (sizeof(burst_seg) + 4 * sizeof(void*) + 3 * sizeof(tcp::event)) +
           3ULL * cfg.max_connections * sizeof(void*) + std::uint64_t{cfg.tx_mbufs} * mbuf_bytes + (1U << 20);
}

Result<std::unique_ptr<endpoint>> endpoint::create(const endpoint_config& cfg, const std::string& name,
                                                   unsigned worker_index, int socket) {
    if (cfg.addresses.empty()) return make_error("endpoint: no address (--address ADDR/PREFIX)");
    if (cfg.max_connections < 8) return make_error("[endpoint] max_connections: at least 8");
    if (cfg.max_segments < 64) return make_error("[endpoint] max_segments: at least 64");
    if (cfg.send_segments == 0 || cfg.send_segments > max_sendq)
        return make_error("[endpoint] send_segments: 1..", std::to_string(max_sendq));
    if (cfg.mtu < 1280) return make_error("[endpoint] mtu: at least 1280");
    if (cfg.receive_buffer < 4096) return make_error("[endpoint] receive_buffer: at least 4096 bytes");
    const auto short_of = [&](const char* what) {
        return make_error("endpoint ", name, ": no EAL memory for ", what, " (it needs about ",
                          std::to_string(memory_needed(cfg) / (1U << 20) + 1),
                          " MiB): raise [eal] memory_mb or lower [endpoint] max_connections / max_segments");
    };
    void* mem = rte_zmalloc_socket((name + "_state").c_str(), sizeof(impl), RTE_CACHE_LINE_SIZE, socket);
    if (mem == nullptr) return short_of("its state");
    std::unique_ptr<endpoint> ep(new (std::nothrow) endpoint(new (mem) impl(cfg, worker_index, socket)));
    if (!ep) {
        static_cast<impl*>(mem)->~impl();
        rte_free(mem);
        return make_error("endpoint ", name, ": out of memory");
    }
    impl& p = *ep->p_;
    if (p.segments.capacity() != cfg.max_segments) return short_of("its segment nodes");
    auto table = flow::flow_table::create({name + "_conns", cfg.max_connections, sizeof(conn), lru_classes, socket});
    if (!table) return make_error("endpoint ", name, ": ", table.error().message);
    p.table = std::move(table.value());
    const std::size_t burst = cfg.max_burst;
    p.segs = eal_array<burst_seg>("rxinto_ep_burst", burst, socket);
    p.keys = eal_array<const flow::flow_key*>("rxinto_ep_keys", burst, socket);
    p.hashes = eal_array<std::uint32_t>("rxinto_ep_hashes", burst, socket);
    p.found = eal_array<flow::flow_node*>("rxinto_ep_found", burst, socket);
    // Touched: every connection of a burst, and every one a flush or a timer touches.
    p.touched_cap = cfg.max_connections + static_cast<std::uint32_t>(burst);
    p.touched = eal_array<conn*>("rxinto_ep_touched", p.touched_cap, socket);
    p.events_cap = 3 * static_cast<std::size_t>(p.touched_cap);
    p.events = eal_array<tcp::event>("rxinto_ep_events", p.events_cap, socket);
    p.timed = eal_array<conn*>("rxinto_ep_timed", cfg.max_connections, socket);
    p.watched = eal_array<conn*>("rxinto_ep_watched", cfg.max_connections, socket);
    p.ending = eal_array<conn*>("rxinto_ep_ending", cfg.max_connections, socket);
    p.tx = eal_array<impl::tx_stage>("rxinto_ep_tx", cfg.ports.size(), socket);
    if (p.segs == nullptr || p.keys == nullptr || p.hashes == nullptr || p.found == nullptr ||
        p.touched == nullptr || p.events == nullptr || p.timed == nullptr || p.watched == nullptr ||
        p.ending == nullptr || p.tx == nullptr)
        return short_of("its burst state");
    for (std::size_t i = 0; i < burst; ++i) new (&p.segs[i]) burst_seg();
    for (std::size_t i = 0; i < cfg.ports.size(); ++i) new (&p.tx[i]) impl::tx_stage();
    p.tx_pool = rte_pktmbuf_pool_create((name + "_tx").c_str(), cfg.tx_mbufs, std::min<std::uint32_t>(256, cfg.tx_mbufs / 4),
                                        0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (p.tx_pool == nullptr) return short_of("its tx pool ([endpoint] tx_mbufs)");
    p.env.pool = &p.segments;
    p.env.drops = &p.drops;
    p.env.counters = &p.stream_counters;
    // The endpoint never gives up a hole (the peer resends what is missing): no
    // grace by packets or time, caps above anything the window lets in.
    p.env.limits.max_segments = cfg.max_segments;
    p.env.limits.max_bytes = std::uint64_t{cfg.receive_buffer} * 2 + (1U << 20);
    p.env.limits.max_ooo_bytes = p.env.limits.max_bytes;
    p.env.limits.ack_grace_packets = tcp::stream_limits::no_grace_limit;
    p.env.limits.ack_grace_ns = 0;
    p.env.policy = tcp::overlap_policy::first;
    p.mss4 = static_cast<std::uint16_t>(cfg.mtu - 40);
    p.mss6 = static_cast<std::uint16_t>(cfg.mtu - 60);
    p.rcv_wscale = wscale_for(cfg.receive_buffer);
    p.budget = cfg.receive_buffer - (1U << p.rcv_wscale);
    p.challenge.per_second = cfg.challenge_acks_per_second;
    std::uint64_t rnd[3] = {};
    if (getrandom(rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd))
        return make_error("endpoint ", name, ": getrandom failed (the SYN cookie secret)");
    p.secret = cookie_key{rnd[0], rnd[1]};
    p.ts_offset = static_cast<std::uint32_t>(rnd[2]);
    return ep;
}

endpoint::~endpoint() {
    finish(p_->now_ns);
    p_->drops.flush();
    if (p_->tx_pool != nullptr) rte_mempool_free(p_->tx_pool);
    p_->~impl();
    rte_free(p_);
}

void endpoint::set_listener(tcp::listener* l) noexcept { p_->lsn = l; }
void endpoint::listen(std::uint16_t port) {
    if (!p_->listening(port)) p_->cfg.listen_ports.push_back(port);
}
std::span<const tcp::event> endpoint::events() const noexcept { return {p_->events, p_->nevents}; }
const endpoint_counters& endpoint::counters() const noexcept { return p_->counters; }
const tcp::tcp_counters& endpoint::stream_counters() const noexcept { return p_->stream_counters; }
std::uint32_t endpoint::connections() const noexcept { return p_->table->size(); }
std::size_t endpoint::segments_in_use() const noexcept { return p_->segments.used(); }
flow::direction endpoint::inbound(const tcp::connection& c) noexcept { return as_conn(c).in_dir; }
tcp_state endpoint::state(const tcp::connection& c) const noexcept { return as_conn(c).st; }

// ---------------------------------------------------------------------------
// tx

void endpoint::impl::transmit(std::uint16_t binding, rte_mbuf* m) noexcept {
    if (binding >= cfg.ports.size()) {
        rte_pktmbuf_free(m);
        counters.add(ec::tx_dropped);
        return;
    }
    tx_stage& t = tx[binding];
    if (t.n == sizeof t.pkts / sizeof t.pkts[0]) flush_tx();
    t.pkts[t.n++] = m;
}

void endpoint::impl::flush_tx() noexcept {
    for (std::size_t b = 0; b < cfg.ports.size(); ++b) {
        tx_stage& t = tx[b];
        if (t.n == 0) continue;
        const std::uint16_t sent = rte_eth_tx_burst(cfg.ports[b].port_id, cfg.ports[b].tx_queue, t.pkts, t.n);
        counters.add(ec::tx_packets, sent);
        if (sent < t.n) {
            // The port's ring is full: what is lost is counted; ACKs are sent
            // again by the next segment, data and FINs by their timer.
            counters.add(ec::tx_dropped, t.n - sent);
            rte_pktmbuf_free_bulk(t.pkts + sent, t.n - sent);
        }
        t.n = 0;
    }
}

wire::path endpoint::impl::path_of(const burst_seg& s, const endpoint_config& cfg) noexcept {
    wire::path t;
    const net::packet_meta& m = s.meta;
    t.binding = s.binding;
    t.port_id = cfg.ports[s.binding].port_id;
    t.local_mac = cfg.ports[s.binding].mac;
    t.peer_mac = s.src_mac;
    t.nvlan = m.vlan_count;
    t.vlans = m.vlans;
    t.ip_version = m.ip_version;
    t.local = m.dst_addr;
    t.peer = m.src_addr;
    t.local_port = m.dst_port;
    t.peer_port = m.src_port;
    return t;
}

void endpoint::impl::send_tcp(const wire::path& t, seq32 seq, seq32 ackn, std::uint8_t flags, std::uint16_t window,
                              const tcp_opts& o, const rte_mbuf* payload, std::uint16_t plen) noexcept {
    rte_mbuf* m = alloc_tx();
    if (m == nullptr) return;
    std::uint8_t opt[40];
    const std::uint32_t olen = write_tcp_options(opt, o);
    const std::uint32_t tcp_len = 20 + olen + plen;
    const std::uint32_t l2 = 14 + 4U * t.nvlan;
    const std::uint32_t l3 = t.ip_version == 4 ? 20 : 40;
    const std::uint32_t total = l2 + l3 + tcp_len;
    auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(total)));
    if (p == nullptr) {
        rte_pktmbuf_free(m);
        counters.add(ec::tx_dropped);
        return;
    }
    wire::write_eth(p, t, t.ip_version == 4 ? net::ethertype_ipv4 : net::ethertype_ipv6);
    wire::write_ip(p + l2, t, net::ipproto_tcp, tcp_len, ip_id++);
    std::uint8_t* h = p + l2 + l3;
    wire::put16(h, t.local_port);
    wire::put16(h + 2, t.peer_port);
    wire::put32(h + 4, seq.value());
    wire::put32(h + 8, (flags & ack) != 0 ? ackn.value() : 0);
    h[12] = static_cast<std::uint8_t>(((20 + olen) / 4) << 4);
    h[13] = flags;
    wire::put16(h + 14, window);
    wire::put16(h + 16, 0);
    wire::put16(h + 18, 0);
    std::memcpy(h + 20, opt, olen);
    if (plen != 0 && payload != nullptr)
        std::memcpy(h + 20 + olen, rte_pktmbuf_mtod(payload, const void*), plen);
    wire::put16(h + 16, wire::l4_checksum(t, net::ipproto_tcp, h, tcp_len));
    transmit(t.binding, m);
}

// ---------------------------------------------------------------------------
// stage 1: frames

bool endpoint::impl::tcp_checksum_ok(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* data,
                                     std::uint32_t len) noexcept {
    if (!cfg.verify_checksums) return true;
    const std::uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    const std::uint64_t l3 = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (meta.ip_version == 4 && l3 != RTE_MBUF_F_RX_IP_CKSUM_GOOD && !net::ipv4_header_checksum_ok(meta, data, len))
        return false;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD) return true;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) return false;
    if (m->nb_segs != 1) return true;  // a chained frame (jumbo): its header was checked by the IP length
    if (net::tcp_checksum_ok(meta, data, len)) return true;
    // A sender on this host with tx checksum offload (a veth) leaves the
    // pseudo-header sum for the NIC that never comes: accepted, counted.
    if (net::tcp_checksum_offload_mark(meta, data, len)) {
        counters.add(ec::checksum_offloaded);
        return true;
    }
    return false;
}

void endpoint::impl::take_frame(rte_mbuf* m) noexcept {
    counters.add(ec::frames);
    alignas(8) std::uint8_t scratch[header_window];
    const std::uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
    const bool chained = m->nb_segs > 1;
    const auto [data, avail] = mbuf::frame_headers(m, scratch, header_window);
    const int b = binding_of(m->port);
    if (data == nullptr || avail < 14 || b < 0) {
        counters.add(ec::parse_refused);
        drops.add(m);
        return;
    }
    const auto& my_mac = cfg.ports[static_cast<std::size_t>(b)].mac;
    if (std::memcmp(data + 6, my_mac.data(), 6) == 0) {
        counters.add(ec::own_frames);
        drops.add(m);
        return;
    }
    // Unicast to another MAC: not ours (the port may be promiscuous).
    if ((data[0] & 1U) == 0 && std::memcmp(data, my_mac.data(), 6) != 0) {
        counters.add(ec::not_for_us);
        drops.add(m);
        return;
    }
    burst_seg& s = segs[nsegs];
    net::packet_meta& meta = s.meta;
    const net::parse_status st = net::parse_frame(data, avail, chained ? pkt_len : avail, net::link_type::ethernet, meta);
    if (st == net::parse_status::not_ip && meta.ethertype == ethertype_arp && !meta.llc_snap) {
        on_arp(m, data, avail, meta, static_cast<std::uint16_t>(b));
        return;
    }
    if (st == net::parse_status::not_tcp && !meta.frag.is_fragment) {
        if (!ours(meta.ip_version, meta.dst_addr)) {
            // IPv6 neighbour solicitations go to a solicited-node multicast address.
            if (!(meta.ip_version == 6 && meta.l4_proto == ipproto_icmpv6 && meta.dst_addr[0] == 0xff)) {
                counters.add(ec::not_for_us);
                drops.add(m);
                return;
            }
        }
        if ((meta.ip_version == 4 && meta.l4_proto == ipproto_icmp) ||
            (meta.ip_version == 6 && meta.l4_proto == ipproto_icmpv6)) {
            on_icmp(m, data, avail, meta, static_cast<std::uint16_t>(b));
            return;
        }
        counters.add(ec::other_protocols);
        drops.add(m);
        return;
    }
    if (st == net::parse_status::ip_fragment || (st == net::parse_status::not_tcp && meta.frag.is_fragment)) {
        counters.add(ec::fragments_dropped);
        drops.add(m);
        return;
    }
    if (st != net::parse_status::ok) {
        counters.add(ec::parse_refused);
        drops.add(m);
        return;
    }
    if (!ours(meta.ip_version, meta.dst_addr)) {
        counters.add(ec::not_for_us);
        drops.add(m);
        return;
    }
    if (chained) {
        const std::uint32_t in_chain = pkt_len > meta.payload_offset ? pkt_len - meta.payload_offset : 0;
        meta.payload_len = std::min(meta.payload_wire_len, in_chain);
    }
    if (meta.payload_len != meta.payload_wire_len || !tcp_checksum_ok(m, meta, data, avail)) {
        counters.add(ec::checksum_bad);
        drops.add(m);
        return;
    }
    counters.add(ec::tcp_segments);
    s.m = m;
    s.binding = static_cast<std::uint16_t>(b);
    std::memcpy(s.src_mac.data(), data + 6, 6);
    const flow::keyed_packet kp = flow::key_of(meta);
    s.key = kp.key;
    s.dir = kp.dir;
    s.hash = flow::key_hash(s.key);
    ++nsegs;
}

void endpoint::impl::on_arp(rte_mbuf* m, const std::uint8_t* data, std::uint32_t len, const net::packet_meta& meta,
                            std::uint16_t binding) noexcept {
    const std::uint32_t off = 14 + 4U * meta.vlan_count;
    // RFC 826 over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request).
    if (len < off + 28 || wire::get16(data + off) != 1 || wire::get16(data + off + 2) != 0x0800 ||
        data[off + 4] != 6 || data[off + 5] != 4 || wire::get16(data + off + 6) != 1) {
        counters.add(ec::arp_other);
        drops.add(m);
        return;
    }
    std::array<std::uint8_t, 16> target{};
    std::memcpy(target.data(), data + off + 24, 4);
    if (!ours(4, target)) {
        counters.add(ec::arp_other);
        drops.add(m);
        return;
    }
    counters.add(ec::arp_requests);
    rte_mbuf* r = alloc_tx();
    if (r != nullptr) {
        wire::path t;
        t.binding = binding;
        t.local_mac = cfg.ports[binding].mac;
        std::memcpy(t.peer_mac.data(), data + off + 8, 6);  // the sender's hardware address
        t.nvlan = meta.vlan_count;
        t.vlans = meta.vlans;
        const std::uint32_t total = std::max<std::uint32_t>(off + 28, 60);
        auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(r, static_cast<std::uint16_t>(total)));
        if (p == nullptr) {
            rte_pktmbuf_free(r);
        } else {
            std::memset(p, 0, total);
            wire::write_eth(p, t, ethertype_arp);
            std::uint8_t* a = p + off;
            wire::put16(a, 1);
            wire::put16(a + 2, 0x0800);
            a[4] = 6;
            a[5] = 4;
            wire::put16(a + 6, 2);  // reply
            std::memcpy(a + 8, t.local_mac.data(), 6);
            std::memcpy(a + 14, target.data(), 4);
            std::memcpy(a + 18, data + off + 8, 10);  // the requester's MAC and IP
            transmit(binding, r);
        }
    }
    drops.add(m);
}

void endpoint::impl::on_icmp(rte_mbuf* m, const std::uint8_t* data, std::uint32_t len, const net::packet_meta& meta,
                             std::uint16_t binding) noexcept {
    const std::uint32_t l4 = meta.l4_offset;
    const std::uint32_t l4_len = meta.l4_len;
    if (l4_len < 8 || l4 + l4_len > len || m->nb_segs != 1) {
        counters.add(ec::icmp_other);
        drops.add(m);
        return;
    }
    const std::uint8_t type = data[l4];
    wire::path t;
    t.binding = binding;
    t.local_mac = cfg.ports[binding].mac;
    std::memcpy(t.peer_mac.data(), data + 6, 6);
    t.nvlan = meta.vlan_count;
    t.vlans = meta.vlans;
    t.ip_version = meta.ip_version;
    t.peer = meta.src_addr;
    t.local = meta.dst_addr;
    // Checksum of the request: ICMPv4 over the message, ICMPv6 with the pseudo-header.
    {
        std::uint16_t sum = 0;
        if (meta.ip_version == 4) {
            sum = net::ones_complement_sum(data + l4, l4_len);
        } else {
            const std::uint32_t ps =
                wire::pseudo_sum(6, meta.src_addr.data(), meta.dst_addr.data(), ipproto_icmpv6, l4_len);
            sum = net::ones_complement_sum(data + l4, l4_len, wire::fold(ps));
        }
        if (sum != 0xffff) {
            counters.add(ec::checksum_bad);
            drops.add(m);
            return;
        }
    }
    const bool echo = meta.ip_version == 4 ? type == 8 : type == 128;
    // RFC 4861 §7.1.1: a valid NS has hop limit 255, code 0, a target that is ours.
    const bool ns = meta.ip_version == 6 && type == 135 && meta.ttl == 255 && l4_len >= 24;
    if (echo && ours(meta.ip_version, meta.dst_addr)) {
        counters.add(ec::icmp_echo);
        rte_mbuf* r = alloc_tx();
        const std::uint32_t l2 = 14 + 4U * t.nvlan;
        const std::uint32_t l3 = meta.ip_version == 4 ? 20 : 40;
        auto* p = r != nullptr ? reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(r, static_cast<std::uint16_t>(l2 + l3 + l4_len)))
                               : nullptr;
        if (p != nullptr && l2 + l3 + l4_len <= 1500 + 18) {
            wire::write_eth(p, t, meta.ip_version == 4 ? net::ethertype_ipv4 : net::ethertype_ipv6);
            wire::write_ip(p + l2, t, meta.ip_version == 4 ? ipproto_icmp : ipproto_icmpv6, l4_len, ip_id++);
            std::uint8_t* q = p + l2 + l3;
            std::memcpy(q, data + l4, l4_len);
            q[0] = meta.ip_version == 4 ? 0 : 129;
            q[1] = 0;
            wire::put16(q + 2, 0);
            const std::uint16_t c = meta.ip_version == 4
                                        ? static_cast<std::uint16_t>(~net::ones_complement_sum(q, l4_len))
                                        : wire::l4_checksum(t, ipproto_icmpv6, q, l4_len);
            wire::put16(q + 2, c);
            transmit(binding, r);
        } else if (r != nullptr) {
            rte_pktmbuf_free(r);
        }
        drops.add(m);
        return;
    }
    if (ns) {
        std::array<std::uint8_t, 16> target{};
        std::memcpy(target.data(), data + l4 + 8, 16);
        if (!ours(6, target)) {
            counters.add(ec::icmp_other);
            drops.add(m);
            return;
        }
        counters.add(ec::nd_solicitations);
        // The solicitation's source link-layer option, else the frame's source.
        wire::mac dst_mac{};
        std::memcpy(dst_mac.data(), data + 6, 6);
        for (std::uint32_t o = l4 + 24; o + 8 <= l4 + l4_len;) {
            const std::uint32_t olen = std::uint32_t{data[o + 1]} * 8;
            if (olen == 0 || o + olen > l4 + l4_len) break;
            if (data[o] == 1 && olen >= 8) std::memcpy(dst_mac.data(), data + o + 2, 6);
            o += olen;
        }
        bool unspecified = true;
        for (auto x : meta.src_addr) unspecified = unspecified && x == 0;
        t.peer_mac = dst_mac;
        t.local = target;
        if (unspecified) {
            // DAD probe (RFC 4861 §7.2.4): answer to all-nodes.
            t.peer = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
            t.peer_mac = {0x33, 0x33, 0, 0, 0, 1};
        }
        rte_mbuf* r = alloc_tx();
        const std::uint32_t l2 = 14 + 4U * t.nvlan;
        constexpr std::uint32_t na_len = 32;  // NA (24) + target link-layer option (8)
        auto* p = r != nullptr ? reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(r, static_cast<std::uint16_t>(l2 + 40 + na_len)))
                               : nullptr;
        if (p != nullptr) {
            wire::write_eth(p, t, net::ethertype_ipv6);
            wire::write_ip(p + l2, t, ipproto_icmpv6, na_len, 0);
            p[l2 + 7] = 255;  // hop limit 255 (RFC 4861 §7.1.2)
            std::uint8_t* q = p + l2 + 40;
            std::memset(q, 0, na_len);
            q[0] = 136;
            q[4] = unspecified ? 0x20 : 0x60;  // Solicited (unless DAD) + Override
            std::memcpy(q + 8, target.data(), 16);
            q[24] = 2;  // target link-layer address
            q[25] = 1;
            std::memcpy(q + 26, t.local_mac.data(), 6);
            wire::put16(q + 2, wire::l4_checksum(t, ipproto_icmpv6, q, na_len));
            transmit(binding, r);
        } else if (r != nullptr) {
            rte_pktmbuf_free(r);
        }
        drops.add(m);
        return;
    }
    counters.add(ec::icmp_other);
    drops.add(m);
}

// ---------------------------------------------------------------------------
// process_burst

void endpoint::process_burst(rte_mbuf** pkts, std::uint16_t n, std::uint64_t now_ns) noexcept {
    impl& p = *p_;
    p.now_ns = std::max(p.now_ns, now_ns);
    for (std::uint16_t base = 0; base < n;) {
        const auto k = static_cast<std::uint16_t>(std::min<std::uint32_t>(n - base, p.cfg.max_burst));
        rte_mbuf** chunk = pkts + base;
        base = static_cast<std::uint16_t>(base + k);
        p.nsegs = 0;
        for (std::uint16_t i = 0; i < k; ++i) {
            if (i + 2 < k) rte_prefetch0(rte_pktmbuf_mtod(chunk[i + 2], char*));
            p.take_frame(chunk[i]);
        }
        for (std::uint32_t i = 0; i < p.nsegs; ++i) {
            p.keys[i] = &p.segs[i].key;
            p.hashes[i] = p.segs[i].hash;
        }
        p.table->lookup_bulk(p.keys, p.hashes, p.nsegs, p.found);
        const std::uint64_t gen = p.table->generation();
        for (std::uint32_t i = 0; i < p.nsegs; ++i) {
            burst_seg& s = p.segs[i];
            flow::flow_node* f = p.table->generation() == gen ? p.found[i] : p.table->lookup(s.key, s.hash);
            p.segment_in(s, static_cast<conn*>(f));
        }
    }
    p.emit_events();
    p.drops.flush();
}

// ---------------------------------------------------------------------------
// TCP: segments without a connection

void endpoint::impl::reset_for(const burst_seg& s) noexcept {
    // RFC 9293 §3.10.7.1: the RST takes its sequence number from the ACK
    // field, or acknowledges the segment.
    const net::packet_meta& m = s.meta;
    if (m.has_flag(rst)) return;
    const wire::path t = path_of(s, cfg);
    tcp_opts none;
    counters.add(ec::resets_sent);
    if (m.has_flag(ack)) {
        send_tcp(t, m.ack, seq32{}, rst, 0, none, nullptr, 0);
    } else {
        const std::uint32_t len = m.payload_wire_len + (m.has_flag(syn) ? 1U : 0U) + (m.has_flag(fin) ? 1U : 0U);
        send_tcp(t, seq32{0}, m.seq + len, rst | ack, 0, none, nullptr, 0);
    }
}

conn* endpoint::impl::make_conn(const burst_seg& s, tcp_state st) noexcept {
    if (table->full()) {
        // TIME_WAIT entries give way to new connections (Linux's tw recycling).
        if (flow::flow_node* v = table->oldest(lru_time_wait); v != nullptr) {
            counters.add(ec::time_wait_evicted);
            release(*static_cast<conn*>(v));
        }
    }
    void* slot = table->acquire(s.key, s.hash);
    if (slot == nullptr) return nullptr;
    auto* c = new (slot) conn();
    const net::packet_meta& m = s.meta;
    tcp::connection_rx(*c).set_identity(s.key, (std::uint64_t{worker_index} << 40) | next_id++, s.dir, m.seq);
    tcp::connection_rx(*c).set_first_ns(now_ns);
    c->in_dir = s.dir;
    c->irs = m.seq;
    c->path = path_of(s, cfg);
    for (direction d : flow::both_directions) tcp::stream_rx(tcp::connection_rx(*c).dir(d)).attach(env);
    c->rx().anchor(m.seq + 1, false);
    c->st = st;
    c->rcv_wscale = rcv_wscale;
    // Our ISN (RFC 6528): a keyed hash of the tuple plus a 4 µs clock.
    cookie_tuple ct;
    ct.peer = m.src_addr;
    ct.local = m.dst_addr;
    ct.peer_port = m.src_port;
    ct.local_port = m.dst_port;
    ct.ip_version = m.ip_version;
    c->iss = seq32{static_cast<std::uint32_t>(siphash24(secret, reinterpret_cast<const std::uint8_t*>(&ct), sizeof ct)) +
                   static_cast<std::uint32_t>(now_ns / 4000)};
    c->snd_una = c->iss;
    c->snd_nxt = c->iss + 1;
    // Options from the SYN (RFC 7323 §2.2: scaling only when both send it).
    const net::tcp_options& o = m.opts;
    c->wscale_ok = o.has_wscale;
    c->snd_wscale = o.has_wscale ? o.wscale : 0;
    if (!c->wscale_ok) c->rcv_wscale = 0;
    c->sack_ok = o.sack_permitted;
    c->ts_ok = o.has_timestamps;
    c->ts_recent = o.ts_val;
    c->ts_recent_ns = now_ns;
    const std::uint16_t peer_mss = o.has_mss && o.mss != 0 ? o.mss : 536;  // RFC 9293 §3.7.1 default
    c->mss = static_cast<std::uint16_t>(std::min<std::uint32_t>(peer_mss, our_mss(m.ip_version)));
    if (c->ts_ok) c->mss = static_cast<std::uint16_t>(c->mss - 12);
    c->snd_wnd = m.window;  // never scaled in a SYN
    c->snd_wl1 = m.seq;
    c->right_edge = 0;
    table->touch(c, lru_of(st), now_ns);
    return c;
}

void endpoint::impl::send_synack(conn& c, bool retransmit) noexcept {
    tcp_opts o;
    o.mss = true;
    o.mss_value = our_mss(c.path.ip_version);
    o.wscale = c.wscale_ok;
    o.wscale_value = c.rcv_wscale;
    o.sack_perm = c.sack_ok;
    fill_ts(c, o);
    const window_choice w = window_of(c);
    c.right_edge = std::max(c.right_edge, std::min<std::uint64_t>(w.right_edge, 0xffff));
    send_tcp(c.path, c.iss, c.irs + 1, syn | ack, static_cast<std::uint16_t>(std::min<std::uint64_t>(c.right_edge, 0xffff)),
             o, nullptr, 0);
    if (retransmit) counters.add(ec::synack_retransmits);
    c.rto_at = now_ns + c.rto.rto_ns;
    arm_timer(c);
}

void endpoint::impl::send_cookie_synack(const burst_seg& s) noexcept {
    const net::packet_meta& m = s.meta;
    cookie_tuple ct;
    ct.peer = m.src_addr;
    ct.local = m.dst_addr;
    ct.peer_port = m.src_port;
    ct.local_port = m.dst_port;
    ct.ip_version = m.ip_version;
    const std::uint16_t peer_mss = m.opts.has_mss && m.opts.mss != 0 ? m.opts.mss : 536;
    const std::uint8_t idx = cookie_mss_index(peer_mss, m.ip_version);
    const std::uint32_t cookie = syn_cookie_make(secret, ct, m.seq, cookie_minute(now_ns), idx);
    tcp_opts o;
    o.mss = true;
    o.mss_value = cookie_mss(idx, m.ip_version);
    if (m.opts.has_timestamps) {
        // Window scale and SACK survive only inside the timestamp (Linux does
        // the same); without timestamps a cookie connection has neither.
        o.ts = true;
        o.tsval = cookie_tsval(ts_now(), cookie_options{m.opts.has_wscale, m.opts.wscale, m.opts.sack_permitted});
        o.tsecr = m.opts.ts_val;
        o.wscale = m.opts.has_wscale;
        o.wscale_value = rcv_wscale;
        o.sack_perm = m.opts.sack_permitted;
    }
    counters.add(ec::syn_cookies_sent);
    send_tcp(path_of(s, cfg), seq32{cookie}, m.seq + 1, syn | ack,
             static_cast<std::uint16_t>(std::min<std::uint32_t>(budget, 0xffff)), o, nullptr, 0);
}

conn* endpoint::impl::from_cookie(burst_seg& s) noexcept {
    const net::packet_meta& m = s.meta;
    cookie_tuple ct;
    ct.peer = m.src_addr;
    ct.local = m.dst_addr;
    ct.peer_port = m.src_port;
    ct.local_port = m.dst_port;
    ct.ip_version = m.ip_version;
    const seq32 client_isn = m.seq - 1;
    const auto idx = syn_cookie_check(secret, ct, client_isn, (m.ack - 1).value(), cookie_minute(now_ns));
    if (!idx) return nullptr;
    // Rebuild the handshake from the cookie: a SYN that would have led here.
    burst_seg syn_like = s;
    syn_like.meta.seq = client_isn;
    net::tcp_options& o = syn_like.meta.opts;
    o.has_mss = true;
    o.mss = cookie_mss(*idx, m.ip_version);
    const bool ts = m.opts.has_timestamps;
    const cookie_options co = ts ? cookie_ts_decode(m.opts.ts_ecr) : cookie_options{};
    o.has_wscale = co.wscale_ok;
    o.wscale = co.wscale;
    o.sack_permitted = co.sack_ok;
    o.has_timestamps = ts;
    o.ts_val = m.opts.ts_val;
    syn_like.meta.window = 0;
    conn* c = make_conn(syn_like, tcp_state::syn_received);
    if (c == nullptr) return nullptr;
    c->iss = m.ack - 1;
    c->snd_una = c->iss;
    c->snd_nxt = c->iss + 1;
    // Our SYN-ACK advertised min(budget, 0xffff) unscaled.
    c->right_edge = std::min<std::uint64_t>(budget, 0xffff);
    ++half_open;
    counters.add(ec::syn_cookies_ok);
    return c;
}

void endpoint::impl::on_listen(burst_seg& s) noexcept {
    const net::packet_meta& m = s.meta;
    const bool is_syn = m.has_flag(syn);
    if (m.has_flag(rst)) {
        drops.add(s.m);
        return;
    }
    if (is_syn && !m.has_flag(ack)) {
        counters.add(ec::syn_received);
        const bool queue_full = half_open >= cfg.syn_queue;
        conn* c = nullptr;
        if (!queue_full) c = make_conn(s, tcp_state::syn_received);
        if (c == nullptr) {
            if (cfg.syn_cookies) send_cookie_synack(s);
            else counters.add(queue_full ? ec::syn_queue_full : ec::connections_refused);
            drops.add(s.m);
            return;
        }
        ++half_open;
        send_synack(*c, false);
        drops.add(s.m);
        return;
    }
    if (m.has_flag(ack) && !is_syn && cfg.syn_cookies) {
        if (conn* c = from_cookie(s); c != nullptr) {
            segment_in(s, c);
            return;
        }
        counters.add(ec::syn_cookies_bad);
    }
    if (cfg.reset_unknown) reset_for(s);
    drops.add(s.m);
}

void endpoint::impl::segment_in(burst_seg& s, conn* c) noexcept {
    const net::packet_meta& m = s.meta;
    if (c == nullptr) {
        if (listening(m.dst_port)) {
            on_listen(s);
            return;
        }
        counters.add(ec::closed_port);
        if (cfg.reset_unknown) reset_for(s);
        drops.add(s.m);
        return;
    }
    if (s.dir != c->in_dir) {  // our own segment seen again (cannot happen on a sane port)
        counters.add(ec::own_frames);
        drops.add(s.m);
        return;
    }
    tcp::connection_rx(*c).count_packet(s.dir);
    table->touch(c, lru_of(c->st), now_ns);
    if (c->st == tcp_state::time_wait) {
        time_wait_segment(*c, s);
        return;
    }
    if (c->st == tcp_state::closed) {
        drops.add(s.m);
        return;
    }
    mark_touched(*c);
    if (c->st == tcp_state::syn_received) {
        if (m.has_flag(rst)) {
            // RFC 9293 §3.10.7.4: an acceptable RST in SYN-RECEIVED ends it.
            if (m.seq == c->irs + 1) {
                counters.add(ec::resets_received);
                end_conn(*c, tcp::end_reason::rst, ec::connections_reset);
            } else {
                counters.add(ec::rst_out_of_window);
            }
            drops.add(s.m);
            return;
        }
        if (m.has_flag(syn)) {
            if (!m.has_flag(ack) && m.seq == c->irs) {
                counters.add(ec::syn_retransmits);
                send_synack(*c, true);  // the same ISN again
            } else {
                challenge_ack(*c);
            }
            drops.add(s.m);
            return;
        }
        if (!m.has_flag(ack)) {
            drops.add(s.m);
            return;
        }
        if (m.ack != c->iss + 1) {
            // RFC 9293 §3.10.7.4: an unacceptable ACK in SYN-RECEIVED gets a RST.
            counters.add(ec::bad_ack);
            counters.add(ec::resets_sent);
            send_tcp(c->path, m.ack, seq32{}, rst, 0, tcp_opts{}, nullptr, 0);
            drops.add(s.m);
            return;
        }
        established(*c);
    }
    segment_established(*c, s);
}

void endpoint::impl::established(conn& c) noexcept {
    if (half_open > 0) --half_open;
    c.snd_una = c.iss + 1;
    c.retries = 0;
    c.rto_at = 0;
    if (c.rto.has_sample == false && c.ts_ok) {
        // First RTT sample from the handshake (the echo of our SYN-ACK's TSval).
    }
    set_state(c, tcp_state::established);
    c.opened_pending = true;
    c.app_knows = true;
    counters.add(ec::connections_opened);
}

// RFC 9293 §3.10.7.4, first check: is the segment acceptable?
bool endpoint::impl::acceptable(const conn& c, seq32 seq, std::uint32_t len) const noexcept {
    auto& cc = const_cast<conn&>(c);
    const std::uint64_t nxt_off = cc.rx().contiguous_end() + (c.fin_received ? 1U : 0U);
    const seq32 nxt = cc.rx().seq_at(nxt_off);
    const std::uint64_t wnd = c.right_edge > cc.rx().contiguous_end() ? c.right_edge - cc.rx().contiguous_end() : 0;
    if (len == 0) {
        if (wnd == 0) return seq == nxt;
        return seq_in_window(seq, nxt, nxt + static_cast<std::uint32_t>(wnd));
    }
    if (wnd == 0) return false;
    const seq32 end = nxt + static_cast<std::uint32_t>(wnd);
    return seq_in_window(seq, nxt, end) || seq_in_window(seq + (len - 1), nxt, end);
}

void endpoint::impl::challenge_ack(conn& c) noexcept {
    if (!challenge.allow(now_ns)) {
        counters.add(ec::challenge_acks_limited);
        return;
    }
    counters.add(ec::challenge_acks);
    send_ack(c);
}

void endpoint::impl::segment_established(conn& c, burst_seg& s) noexcept {
    const net::packet_meta& m = s.meta;
    const bool r = m.has_flag(rst);
    const std::uint32_t seg_len = m.payload_len + (m.has_flag(fin) ? 1U : 0U);
    // PAWS (RFC 7323 §5.3): a segment with an older timestamp than the last
    // one taken is an old duplicate (RSTs are exempt, as in Linux).
    if (c.ts_ok && m.opts.has_timestamps && !r && seq_lt(seq32{m.opts.ts_val}, seq32{c.ts_recent}) &&
        now_ns - c.ts_recent_ns < paws_idle_ns) {
        counters.add(ec::paws_rejected);
        send_ack(c);
        drops.add(s.m);
        return;
    }
    if (!acceptable(c, m.seq, seg_len)) {
        if (r) {
            counters.add(ec::rst_out_of_window);
        } else {
            counters.add(ec::out_of_window);
            // Data wholly below RCV.NXT is a duplicate: report it (RFC 2883 D-SACK).
            const std::int64_t b = c.rx().offset_of(m.seq);
            if (m.payload_len != 0 && c.sack_ok && b >= 0 &&
                static_cast<std::uint64_t>(b) + m.payload_len <= c.rx().contiguous_end()) {
                counters.add(ec::duplicate_segments);
                c.dsack = range{static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(b) + m.payload_len};
                c.dsack_pending = true;
            }
            send_ack(c);  // keep-alives, zero-window probes and old duplicates are answered
        }
        drops.add(s.m);
        return;
    }
    if (r) {
        // RFC 5961 §3.2: only a RST exactly at RCV.NXT resets; one elsewhere
        // in the window gets a challenge ACK.
        if (m.seq == rcv_nxt(c)) {
            counters.add(ec::resets_received);
            end_conn(c, tcp::end_reason::rst, ec::connections_reset);
        } else {
            challenge_ack(c);
        }
        drops.add(s.m);
        return;
    }
    if (m.has_flag(syn)) {
        challenge_ack(c);  // RFC 5961 §4
        drops.add(s.m);
        return;
    }
    if (!m.has_flag(ack)) {
        drops.add(s.m);
        return;
    }
    // RFC 5961 §5.2: an ACK for data never sent is answered and dropped.
    if (seq_gt(m.ack, c.snd_nxt)) {
        counters.add(ec::bad_ack);
        challenge_ack(c);
        drops.add(s.m);
        return;
    }
    // RFC 7323 §4.3: TS.Recent from a segment that covers the last ACK sent.
    if (c.ts_ok && m.opts.has_timestamps) {
        const seq32 last_ack = c.rx().seq_at(c.last_ack_off);
        if (seq_le(m.seq, last_ack) && seq_ge(seq32{m.opts.ts_val}, seq32{c.ts_recent})) {
            c.ts_recent = m.opts.ts_val;
            c.ts_recent_ns = now_ns;
        }
    }
    on_ack_field(c, s);
    if (c.st == tcp_state::closed || c.st == tcp_state::time_wait) {
        drops.add(s.m);
        return;
    }
    const bool may_receive =
        c.st == tcp_state::established || c.st == tcp_state::fin_wait_1 || c.st == tcp_state::fin_wait_2;
    if (m.payload_len != 0 && may_receive) {
        on_data(c, s, m.seq, m.payload_len);
    } else {
        drops.add(s.m);
    }
    if (m.has_flag(fin) && may_receive && !c.fin_seen) {
        c.fin_seen = true;
        const std::int64_t off = c.rx().offset_of(m.seq + m.payload_len);
        c.fin_off = off > 0 ? static_cast<std::uint64_t>(off) : 0;
        c.rx().on_fin(m.seq + m.payload_len);
        c.ack_now = true;
    }
    check_fin(c);
}

void endpoint::impl::on_ack_field(conn& c, const burst_seg& s) noexcept {
    const net::packet_meta& m = s.meta;
    // The peer's window (RFC 9293 §3.10.7.4, SND.WL1/WL2).
    if (seq_lt(c.snd_wl1, m.seq) || (c.snd_wl1 == m.seq && seq_le(c.snd_wl2, m.ack))) {
        c.snd_wnd = std::uint32_t{m.window} << (c.wscale_ok ? c.snd_wscale : 0);
        c.snd_wl1 = m.seq;
        c.snd_wl2 = m.ack;
    }
    if (!seq_gt(m.ack, c.snd_una)) return;
    // New data (or our FIN) acknowledged.
    c.snd_una = m.ack;
    std::uint8_t k = 0;
    while (k < c.sq_n && seq_le(c.sq[k].seq + c.sq[k].len, m.ack)) {
        // RTT from segments sent once (Karn), or from the timestamp echo.
        if (!c.sq[k].retransmitted && !c.ts_ok) c.rto.sample(now_ns - c.sq[k].sent_ns);
        rte_pktmbuf_free(c.sq[k].m);
        ++k;
    }
    if (k != 0) {
        for (std::uint8_t i = k; i < c.sq_n; ++i) c.sq[i - k] = c.sq[i];
        c.sq_n = static_cast<std::uint8_t>(c.sq_n - k);
    }
    if (c.ts_ok && m.opts.has_timestamps && m.opts.ts_ecr != 0) {
        const std::uint32_t rtt_ms = ts_now() - m.opts.ts_ecr;
        if (rtt_ms < 60'000) c.rto.sample(std::uint64_t{rtt_ms} * 1'000'000ULL + 500'000ULL);
    }
    c.retries = 0;
    const bool all_acked = c.snd_una == c.snd_nxt;
    c.rto_at = all_acked ? 0 : now_ns + c.rto.rto_ns;
    if (!all_acked) arm_timer(c);
    if (c.fin_sent && all_acked) {
        switch (c.st) {
        case tcp_state::fin_wait_1: set_state(c, c.fin_received ? tcp_state::time_wait : tcp_state::fin_wait_2); break;
        case tcp_state::closing: set_state(c, tcp_state::time_wait); break;
        case tcp_state::last_ack: end_conn(c, tcp::end_reason::fin, ec::connections_closed); return;
        default: break;
        }
        if (c.st == tcp_state::time_wait) enter_time_wait(c);
    }
    if (c.sq_n != 0 || c.fin_pending) push_data(c);  // the window may have opened
}

/// How many segment nodes inserting [b, b + len) may take: one per stretch
/// between the held ranges it covers (only looked at when the pool is low).
std::size_t endpoint::impl::pieces_needed(conn& c, std::uint64_t b, std::uint32_t len) noexcept {
    constexpr std::size_t max_ranges = 64;
    std::uint64_t held[max_ranges][2];
    const std::size_t n = c.rx().held_ranges_past_hole(held, max_ranges);
    if (n == max_ranges) return c.in().held_segments() + 1;  // too many to tell: the safe bound
    std::size_t k = 1;
    for (std::size_t i = 0; i < n; ++i)
        if (held[i][0] < b + len && held[i][1] > b) ++k;
    return k;
}

void endpoint::impl::on_data(conn& c, burst_seg& s, seq32 seq, std::uint32_t len) noexcept {
    const net::packet_meta& m = s.meta;
    std::uint32_t pkt_off = m.payload_offset;
    const std::uint64_t nxt = c.rx().contiguous_end();
    std::int64_t b = c.rx().offset_of(seq);
    // Trim what lies below RCV.NXT (delivered or held in order already) and
    // past the advertised right edge (RFC 9293 §3.10.7.4: only the window's part).
    if (b < static_cast<std::int64_t>(nxt)) {
        const auto cut = static_cast<std::uint32_t>(static_cast<std::int64_t>(nxt) - b);
        if (cut >= len) {
            drops.add(s.m);
            return;
        }
        counters.add(ec::duplicate_segments);
        if (c.sack_ok) {
            c.dsack = range{static_cast<std::uint64_t>(std::max<std::int64_t>(b, 0)), nxt};
            c.dsack_pending = true;
            c.ack_now = true;
        }
        pkt_off += cut;
        len -= cut;
        seq = seq + cut;
        b = static_cast<std::int64_t>(nxt);
    }
    const auto ub = static_cast<std::uint64_t>(b);
    if (ub + len > c.right_edge) {
        const std::uint64_t over = ub + len - c.right_edge;
        counters.add(ec::beyond_window_bytes, over);
        len = ub >= c.right_edge ? 0 : static_cast<std::uint32_t>(c.right_edge - ub);
        c.ack_now = true;
        if (len == 0) {
            drops.add(s.m);
            return;
        }
    }
    // Room for every piece the insert may cut the segment into: never let the
    // stream declare a gap (the endpoint acknowledges only what it holds).
    // Out-of-order data also leaves an eighth of the pool free: the segments
    // that fill holes (at RCV.NXT) must always find room, or connections whose
    // held data fills the pool would wait for each other for ever.
    tcp::stream& in = c.in();
    const std::size_t free_nodes = segments.capacity() - segments.used();
    const std::size_t reserve = ub == nxt ? 0 : segments.capacity() / 8;
    if (free_nodes <= in.held_segments() + 1 + reserve && free_nodes <= pieces_needed(c, ub, len) + reserve) {
        counters.add(ec::data_dropped_no_room);
        c.ack_now = true;
        drops.add(s.m);
        return;
    }
    const bool in_order = ub == nxt;
    const std::uint64_t dups_before = stream_counters.get(tcp::tcp_counter::duplicates);
    c.rx().insert(seq, len, s.m, pkt_off);  // the stream's now
    const std::uint64_t nxt_after = c.rx().contiguous_end();
    if (in_order) {
        counters.add(ec::in_order);
        // A hole filled: the held data beyond it became contiguous; ACK now
        // (RFC 5681 §4.2: an ACK at once for a segment that fills a gap).
        if (nxt_after > ub + len) c.ack_now = true;
        if (++c.unacked >= 2) c.ack_now = true;
    } else {
        counters.add(ec::out_of_order);
        if (stream_counters.get(tcp::tcp_counter::duplicates) != dups_before && c.sack_ok) {
            counters.add(ec::duplicate_segments);
            c.dsack = range{ub, ub + len};
            c.dsack_pending = true;
        }
        // The most recent out-of-order segment goes first in the SACK blocks.
        std::uint8_t j = 0;
        while (j < c.nrecent && c.recent[j] != ub) ++j;
        if (j == c.nrecent && c.nrecent < max_recent) ++c.nrecent;
        for (std::uint8_t i = std::min<std::uint8_t>(j, static_cast<std::uint8_t>(max_recent - 1)); i > 0; --i)
            c.recent[i] = c.recent[i - 1];
        c.recent[0] = ub;
        // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (the
        // duplicate ACK that drives the sender's fast retransmit). With SACK a
        // sender counts SACKed segments, not duplicate ACKs (RFC 6675; Linux's
        // tcp_dupack_heuristics), so segments that only extend the SACK block
        // of the previous one in the same burst share the ACK sent at the end
        // of the burst: one duplicate ACK per new hole, not one per segment.
        const bool extends = c.sack_ok && c.ooo_burst && ub == c.last_ooo_end;
        c.ooo_burst = true;
        c.last_ooo_end = ub + len;
        if (extends) {
            c.ack_now = true;
            counters.add(ec::dup_acks_coalesced);
        } else {
            send_ack(c, true);
        }
    }
}

void endpoint::impl::check_fin(conn& c) noexcept {
    if (!c.fin_seen || c.fin_received || c.rx().contiguous_end() < c.fin_off) return;
    c.fin_received = true;
    c.ack_now = true;
    switch (c.st) {
    case tcp_state::established: set_state(c, tcp_state::close_wait); break;
    case tcp_state::fin_wait_1:
        set_state(c, c.fin_sent && c.snd_una == c.snd_nxt ? tcp_state::time_wait : tcp_state::closing);
        break;
    case tcp_state::fin_wait_2: set_state(c, tcp_state::time_wait); break;
    default: break;
    }
    if (c.st == tcp_state::time_wait) {
        send_ack(c);
        enter_time_wait(c);
    }
}

void endpoint::impl::time_wait_segment(conn& c, burst_seg& s) noexcept {
    const net::packet_meta& m = s.meta;
    // A new SYN with a higher ISN, or a newer timestamp, may take the tuple
    // over (RFC 6191, as Linux does).
    if (m.has_flag(syn) && !m.has_flag(ack) && !m.has_flag(rst)) {
        const bool newer_seq = seq_gt(m.seq, rcv_nxt(c));
        const bool newer_ts = c.ts_ok && m.opts.has_timestamps && seq_gt(seq32{m.opts.ts_val}, seq32{c.ts_recent});
        if (newer_seq || newer_ts) {
            counters.add(ec::time_wait_reused);
            release(c);
            on_listen(s);
            return;
        }
    }
    // RFC 1337: RSTs do not end TIME_WAIT. A retransmitted FIN is acknowledged
    // again and restarts the wait.
    if (!m.has_flag(rst) && !c.released_to_app) {
        send_ack(c);
    } else if (!m.has_flag(rst)) {
        // The connection's streams are gone: acknowledge from what is kept.
        tcp_opts o;
        if (c.ts_ok) {
            o.ts = true;
            o.tsval = ts_now();
            o.tsecr = c.ts_recent;
        }
        send_tcp(c.path, c.snd_nxt, c.rx().seq_at(c.last_ack_off), ack, 0, o, nullptr, 0);
        counters.add(ec::acks_sent);
    }
    drops.add(s.m);
}

// ---------------------------------------------------------------------------
// what we send

void endpoint::impl::send_ack(conn& c, bool count_as_dup) noexcept {
    tcp_opts o;
    fill_ts(c, o);
    const window_choice w = window_of(c);
    c.right_edge = w.right_edge;
    if (c.sack_ok) {
        std::uint64_t held[16][2];
        const std::size_t nheld = c.rx().held_ranges_past_hole(held, 16);
        range blocks[4];
        std::optional<range> ds;
        if (c.dsack_pending) ds = c.dsack;
        const std::size_t nb =
            choose_sack_blocks(held, nheld, c.recent, c.nrecent, ds, max_sack_blocks(c.ts_ok), blocks);
        for (std::size_t i = 0; i < nb; ++i)
            o.sack[i] = {c.rx().seq_at(blocks[i].begin).value(), c.rx().seq_at(blocks[i].end).value()};
        o.nsack = static_cast<std::uint8_t>(nb);
        c.dsack_pending = false;
        if (nheld == 0) c.nrecent = 0;
    }
    const seq32 a = rcv_nxt(c);
    send_tcp(c.path, c.snd_nxt, a, ack, w.field, o, nullptr, 0);
    counters.add(ec::acks_sent);
    if (count_as_dup) counters.add(ec::dup_acks_sent);
    if (w.field == 0) counters.add(ec::zero_windows);
    c.last_ack_off = c.rx().contiguous_end();
    c.unacked = 0;
    c.ack_now = false;
    c.delack_at = 0;
    // A window below half the budget is watched: the application's reads reopen it.
    if (c.right_edge - c.last_ack_off < budget / 2) watch(c);
}

void endpoint::impl::send_rst(conn& c) noexcept {
    counters.add(ec::resets_sent);
    send_tcp(c.path, c.snd_nxt, rcv_nxt(c), rst | ack, 0, tcp_opts{}, nullptr, 0);
}

void endpoint::impl::transmit_seg(conn& c, sent_seg& sg) noexcept {
    tcp_opts o;
    fill_ts(c, o);
    const window_choice w = window_of(c);
    c.right_edge = w.right_edge;
    send_tcp(c.path, sg.seq, rcv_nxt(c), ack | psh, w.field, o, sg.m, sg.len);
    c.last_ack_off = c.rx().contiguous_end();
    c.unacked = 0;
    c.ack_now = false;
    c.delack_at = 0;
    sg.sent_ns = now_ns;
}

void endpoint::impl::push_data(conn& c) noexcept {
    // Segments never sent yet start at SND.NXT.
    for (std::uint8_t i = 0; i < c.sq_n; ++i) {
        sent_seg& sg = c.sq[i];
        if (seq_lt(sg.seq, c.snd_nxt)) continue;
        const std::uint32_t in_flight = seq_forward(c.snd_una, c.snd_nxt);
        if (in_flight + sg.len > c.snd_wnd) break;  // the peer's window
        transmit_seg(c, sg);
        counters.add(ec::data_segments_sent);
        c.snd_nxt = sg.seq + sg.len;
    }
    if (c.fin_pending && !c.fin_sent && (c.sq_n == 0 || c.snd_nxt == c.sq[c.sq_n - 1].seq + c.sq[c.sq_n - 1].len))
        send_fin(c);
    if (c.snd_una != c.snd_nxt && c.rto_at == 0) {
        c.rto_at = now_ns + c.rto.rto_ns;
        arm_timer(c);
    }
}

void endpoint::impl::send_fin(conn& c) noexcept {
    tcp_opts o;
    fill_ts(c, o);
    const window_choice w = window_of(c);
    c.right_edge = w.right_edge;
    const seq32 fin_seq = c.fin_sent ? c.snd_nxt - 1 : c.snd_nxt;
    send_tcp(c.path, fin_seq, rcv_nxt(c), fin | ack, w.field, o, nullptr, 0);
    counters.add(ec::acks_sent);
    if (!c.fin_sent) {
        c.fin_sent = true;
        c.snd_nxt = c.snd_nxt + 1;
        switch (c.st) {
        case tcp_state::established: set_state(c, tcp_state::fin_wait_1); break;
        case tcp_state::close_wait: set_state(c, tcp_state::last_ack); break;
        default: break;
        }
    }
    c.last_ack_off = c.rx().contiguous_end();
    c.ack_now = false;
    c.unacked = 0;
    if (c.rto_at == 0) {
        c.rto_at = now_ns + c.rto.rto_ns;
        arm_timer(c);
    }
}

// ---------------------------------------------------------------------------
// the application's side

std::uint32_t endpoint::send_room(const tcp::connection& cc) const noexcept {
    const conn& c = as_conn(cc);
    if (c.fin_pending || c.fin_sent || (c.st != tcp_state::established && c.st != tcp_state::close_wait)) return 0;
    std::uint32_t queued = 0;
    for (std::uint8_t i = 0; i < c.sq_n; ++i) queued += c.sq[i].len;
    const std::uint64_t cwnd = std::uint64_t{p_->cfg.initial_cwnd} * c.mss;
    const std::uint64_t limit = std::min<std::uint64_t>(std::max<std::uint32_t>(c.snd_wnd, 0), cwnd);
    const std::uint64_t by_window = limit > queued ? limit - queued : 0;
    const std::uint64_t by_queue = std::uint64_t{p_->cfg.send_segments - c.sq_n} * c.mss;
    return static_cast<std::uint32_t>(std::min(by_window, by_queue));
}

send_status endpoint::send(tcp::connection& cc, std::span<const std::byte> data) noexcept {
    impl& p = *p_;
    conn& c = as_conn(cc);
    if (c.fin_pending || c.fin_sent || (c.st != tcp_state::established && c.st != tcp_state::close_wait)) {
        p.counters.add(ec::send_refused);
        return send_status::closed;
    }
    if (data.empty()) return send_status::ok;
    if (data.size() > send_room(cc)) {
        p.counters.add(ec::send_refused);
        return send_status::too_large;
    }
    seq32 next = c.sq_n != 0 ? c.sq[c.sq_n - 1].seq + c.sq[c.sq_n - 1].len : c.snd_nxt;
    std::size_t done = 0;
    while (done < data.size()) {
        const auto n = static_cast<std::uint16_t>(std::min<std::size_t>(data.size() - done, c.mss));
        rte_mbuf* m = p.alloc_tx();
        char* dst = m != nullptr ? rte_pktmbuf_append(m, n) : nullptr;
        if (dst == nullptr) {
            if (m != nullptr) rte_pktmbuf_free(m);
            // Nothing of this call was queued: take back the pieces already made.
            while (done != 0 && c.sq_n != 0) {
                done -= c.sq[c.sq_n - 1].len;
                rte_pktmbuf_free(c.sq[--c.sq_n].m);
            }
            return send_status::no_buffers;
        }
        std::memcpy(dst, data.data() + done, n);
        c.sq[c.sq_n++] = sent_seg{m, next, n, false, 0};
        next = next + n;
        done += n;
    }
    p.push_data(c);
    return send_status::ok;
}

void endpoint::close(tcp::connection& cc) noexcept {
    conn& c = as_conn(cc);
    if (c.fin_pending || c.fin_sent) return;
    if (c.st != tcp_state::established && c.st != tcp_state::close_wait) return;
    c.fin_pending = true;
    p_->push_data(c);
}

void endpoint::abort(tcp::connection& cc) noexcept {
    impl& p = *p_;
    conn& c = as_conn(cc);
    if (c.st == tcp_state::closed || c.st == tcp_state::time_wait) return;
    p.send_rst(c);
    p.end_conn(c, tcp::end_reason::rst, ec::connections_reset);
}

// ---------------------------------------------------------------------------
// lists, timers, events

void endpoint::impl::set_state(conn& c, tcp_state st) noexcept {
    c.st = st;
    table->touch(&c, lru_of(st), now_ns);
}

void endpoint::impl::mark_touched(conn& c) noexcept {
    if (c.touched || ntouched >= touched_cap) return;
    c.touched = true;
    touched[ntouched++] = &c;
}

void endpoint::impl::arm_timer(conn& c) noexcept {
    if (c.timer_idx >= 0 || ntimed >= cfg.max_connections) return;
    c.timer_idx = static_cast<std::int32_t>(ntimed);
    timed[ntimed++] = &c;
}

void endpoint::impl::watch(conn& c) noexcept {
    if (c.watch_idx >= 0 || nwatched >= cfg.max_connections) return;
    c.watch_idx = static_cast<std::int32_t>(nwatched);
    watched[nwatched++] = &c;
}

void endpoint::impl::unwatch(conn& c) noexcept {
    if (c.watch_idx < 0) return;
    const auto i = static_cast<std::uint32_t>(c.watch_idx);
    watched[i] = watched[--nwatched];
    watched[i]->watch_idx = static_cast<std::int32_t>(i);
    c.watch_idx = -1;
}

/// The peer's direction ended (or both): the application hears of it; the
/// connection is released at flush(), after the application read.
void endpoint::impl::end_conn(conn& c, tcp::end_reason why, ec counter) noexcept {
    if (c.st == tcp_state::closed) return;
    if (c.st == tcp_state::syn_received && half_open > 0) --half_open;
    const bool was_open = c.st != tcp_state::syn_received;
    c.st = tcp_state::closed;
    for (direction d : flow::both_directions) tcp::stream_rx(tcp::connection_rx(c).dir(d)).end(why);
    counters.add(counter);
    if (!was_open) {
        release(c);  // never opened: the application never heard of it
        return;
    }
    mark_touched(c);
    c.app_wants_release = true;
    if (nending < cfg.max_connections) ending[nending++] = &c;
}

void endpoint::impl::release(conn& c) noexcept {
    if (c.app_knows && !c.released_to_app && lsn != nullptr) {
        // Made and gone between two looks: the listener still hears of it in order.
        if (c.opened_pending) lsn->on_open(c);
        lsn->on_release(c);
    }
    c.opened_pending = false;
    c.released_to_app = true;
    for (direction d : flow::both_directions) tcp::stream_rx(tcp::connection_rx(c).dir(d)).release();
    for (std::uint8_t i = 0; i < c.sq_n; ++i) rte_pktmbuf_free(c.sq[i].m);
    c.sq_n = 0;
    if (c.st == tcp_state::time_wait && time_wait > 0) --time_wait;
    if (c.st == tcp_state::syn_received && half_open > 0) --half_open;
    if (c.touched)
        for (std::uint32_t i = 0; i < ntouched; ++i)
            if (touched[i] == &c) touched[i] = nullptr;
    if (c.timer_idx >= 0) {
        const auto i = static_cast<std::uint32_t>(c.timer_idx);
        timed[i] = timed[--ntimed];
        timed[i]->timer_idx = static_cast<std::int32_t>(i);
        c.timer_idx = -1;
    }
    unwatch(c);
    for (std::uint32_t i = 0; i < nending; ++i)
        if (ending[i] == &c) ending[i] = nullptr;
    table->unlink(&c);
    const flow::flow_key key = c.key();
    c.~conn();
    table->release(&c, key, flow::key_hash(key));  // once per connection: not worth a field
}

void endpoint::impl::enter_time_wait(conn& c) noexcept {
    counters.add(ec::time_wait_entered);
    ++time_wait;
    c.rto_at = 0;
    // TIME_WAIT is bounded in count: the oldest go first.
    while (time_wait > cfg.time_wait_max) {
        flow::flow_node* v = table->oldest(lru_time_wait);
        if (v == nullptr || v == &c) break;
        counters.add(ec::time_wait_evicted);
        release(*static_cast<conn*>(v));
    }
    // Both directions are over: the application hears of it at this burst and
    // the remainder (the tuple, RCV.NXT, the timestamps) waits out 2MSL.
    for (direction d : flow::both_directions) tcp::stream_rx(tcp::connection_rx(c).dir(d)).end(tcp::end_reason::fin);
    mark_touched(c);
    counters.add(ec::connections_closed);
}

void endpoint::impl::conn_timer(conn& c) noexcept {
    if (c.delack_at != 0 && now_ns >= c.delack_at) {
        counters.add(ec::delayed_acks);
        send_ack(c);
    }
    if (c.rto_at != 0 && now_ns >= c.rto_at) {
        c.rto.back_off();
        ++c.retries;
        if (c.st == tcp_state::syn_received) {
            if (c.retries > cfg.synack_retries) {
                end_conn(c, tcp::end_reason::timeout, ec::connections_timed_out);
                return;
            }
            send_synack(c, true);
            return;
        }
        if (c.retries > cfg.data_retries) {
            send_rst(c);
            end_conn(c, tcp::end_reason::timeout, ec::connections_timed_out);
            return;
        }
        counters.add(ec::retransmits);
        if (c.sq_n != 0 && seq_lt(c.sq[0].seq, c.snd_nxt)) {
            c.sq[0].retransmitted = true;
            transmit_seg(c, c.sq[0]);
        } else if (c.fin_sent && c.snd_una != c.snd_nxt) {
            send_fin(c);
        }
        c.rto_at = now_ns + c.rto.rto_ns;
    }
}

void endpoint::impl::run_timers() noexcept {
    for (std::uint32_t i = 0; i < ntimed;) {
        conn* c = timed[i];
        const std::uint32_t before = ntimed;
        conn_timer(*c);
        if (ntimed < before) continue;  // released: another took slot i
        if (c->delack_at == 0 && c->rto_at == 0) {
            timed[i] = timed[--ntimed];
            timed[i]->timer_idx = static_cast<std::int32_t>(i);
            c->timer_idx = -1;
            continue;
        }
        ++i;
    }
}

void endpoint::impl::expire_idle() noexcept {
    constexpr std::uint32_t budget_per_call = 64;
    std::uint32_t n = 0;
    const std::uint64_t to[lru_classes] = {cfg.idle_timeout_ns, cfg.idle_timeout_ns, 60'000'000'000ULL, cfg.time_wait_ns};
    for (std::uint8_t cls = 0; cls < lru_classes; ++cls) {
        flow::flow_node* v = nullptr;
        while (n < budget_per_call && (v = table->oldest(cls)) != nullptr && now_ns > v->last_ns + to[cls]) {
            conn& c = *static_cast<conn*>(v);
            ++n;
            if (cls == lru_time_wait || c.st == tcp_state::closed || c.st == tcp_state::syn_received) {
                if (c.st == tcp_state::syn_received) counters.add(ec::connections_timed_out);
                release(c);
                continue;
            }
            send_rst(c);
            end_conn(c, tcp::end_reason::timeout, ec::connections_timed_out);
            table->unlink(v);  // released at flush(), after the application's last look
        }
    }
}

void endpoint::impl::push_event(conn& c, tcp::event_kind k) noexcept {
    if (nevents < events_cap) events[nevents++] = tcp::event{&c, k};
}

void endpoint::impl::emit_events() noexcept {
    for (std::uint32_t i = 0; i < ntouched; ++i) {
        conn* c = touched[i];
        if (c == nullptr || c->released_to_app) continue;
        if (c->st == tcp_state::syn_received) continue;
        if (c->opened_pending) {
            c->opened_pending = false;
            push_event(*c, tcp::event_kind::opened);
            if (lsn != nullptr) lsn->on_open(*c);
        }
        const tcp::stream& in = c->in();
        if (in.readable() != 0 || !in.poll().would_block()) {
            push_event(*c, tcp::event_kind::readable);
            if (lsn != nullptr) lsn->on_readable(*c);
        }
        const bool over = c->fin_received || c->st == tcp_state::closed || c->st == tcp_state::time_wait;
        if (!c->closed_reported && over) {
            c->closed_reported = true;
            push_event(*c, tcp::event_kind::closed);
            if (lsn != nullptr) lsn->on_closed(*c);
        }
    }
}

void endpoint::flush(std::uint64_t now_ns) noexcept {
    impl& p = *p_;
    p.now_ns = std::max(p.now_ns, now_ns);
    p.nevents = 0;  // the application has seen them
    // ACKs for this burst, with the window as the application left it.
    for (std::uint32_t i = 0; i < p.ntouched; ++i) {
        conn* c = p.touched[i];
        if (c == nullptr) continue;
        c->touched = false;
        c->ooo_burst = false;
        if (c->st == tcp_state::closed || c->st == tcp_state::syn_received || c->released_to_app) continue;
        if (c->ack_now) {
            p.send_ack(*c);
        } else if (c->unacked != 0 && c->delack_at == 0) {
            c->delack_at = p.now_ns + p.cfg.delayed_ack_ns;  // RFC 1122 §4.2.3.2
            p.arm_timer(*c);
        }
    }
    p.ntouched = 0;
    // Window updates: connections whose window was low, now that the application read.
    for (std::uint32_t i = 0; i < p.nwatched;) {
        conn* c = p.watched[i];
        if (c->st == tcp_state::closed || c->st == tcp_state::time_wait) {
            p.unwatch(*c);
            continue;
        }
        const std::uint64_t nxt = c->rx().contiguous_end();
        const window_choice w =
            select_window(nxt, c->right_edge, c->in().readable(), p.budget, c->rcv_wscale, c->mss);
        if (w.right_edge > c->right_edge) {
            p.counters.add(ec::window_updates);
            p.send_ack(*c);  // re-watches itself if the window is still low
        }
        if (c->right_edge - c->rx().contiguous_end() >= p.budget / 2) {
            p.unwatch(*c);
            continue;
        }
        ++i;
    }
    if (p.now_ns >= p.next_timer_ns) {
        p.next_timer_ns = p.now_ns + timer_step_ns;
        p.run_timers();
        p.expire_idle();
    }
    // Connections that ended: the application has had its events.
    for (std::uint32_t i = 0; i < p.nending; ++i)
        if (conn* c = p.ending[i]; c != nullptr) p.release(*c);
    p.nending = 0;
    p.emit_events();  // timers may have ended connections or entered TIME_WAIT
    p.flush_tx();
    p.drops.flush();
}

void endpoint::finish(std::uint64_t now_ns) noexcept {
    impl& p = *p_;
    p.now_ns = std::max(p.now_ns, now_ns);
    for (std::uint32_t i = 0; i < p.nending; ++i)
        if (conn* c = p.ending[i]; c != nullptr) p.release(*c);
    p.nending = 0;
    for (std::uint8_t cls = 0; cls < lru_classes; ++cls) {
        while (flow::flow_node* v = p.table->oldest(cls)) {
            conn& c = *static_cast<conn*>(v);
            if (c.st != tcp_state::time_wait && c.st != tcp_state::closed && c.st != tcp_state::syn_received)
                p.send_rst(c);
            if (c.st != tcp_state::closed && c.st != tcp_state::time_wait)
                for (direction d : flow::both_directions) tcp::stream_rx(tcp::connection_rx(c).dir(d)).end(tcp::end_reason::eof);
            p.release(c);
        }
    }
    p.nending = 0;
    p.ntouched = 0;
    p.nevents = 0;
    p.flush_tx();
    p.drops.flush();
}

}  // namespace rxinto::endpoint
