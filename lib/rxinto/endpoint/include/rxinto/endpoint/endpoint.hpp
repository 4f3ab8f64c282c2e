// rxinto as a TCP endpoint: it owns IPv4/IPv6 addresses on its ports and
// terminates the TCP connections made to its listening ports, receiving into
// the same tcp::stream that watched connections use (recv_into, peek/consume,
// skip_gap, poll) and sending small replies.
//
// What it answers (everything for its addresses, counted):
//   ARP requests and IPv6 neighbour solicitations for its addresses; ICMP and
//   ICMPv6 echo requests; TCP to a listening port: the handshake (MSS from the
//   MTU, window scale, SACK-permitted, timestamps), ACKs coalesced per burst
//   (every second segment at once, a lone one after the delayed-ACK time),
//   an immediate duplicate ACK with SACK blocks for each out-of-order segment
//   (D-SACK for duplicates), a window equal to the connection's free receive
//   budget that never shrinks, window updates when the application reads,
//   FIN/half-close/RST both ways, RFC 5961 challenge ACKs (rate-limited), a
//   bounded SYN queue with SYN cookies beyond it, TIME_WAIT bounded in time
//   and count, RTO (RFC 6298) retransmission of what it sends. TCP to any other
//   port of its addresses gets a RST (or is dropped: reset_unknown = false).
//
// Use, on one worker lcore (shared nothing, like tcp::reassembler):
//
//   ep->process_burst(pkts, n, now_ns);          // takes every mbuf
//   for (const tcp::event& e : ep->events()) {   // opened / readable / closed
//       tcp::stream& in = e.conn->in(ep->inbound(*e.conn));
//       ... in.recv_into(buf) ...                // exactly as for watched streams
//       ep->send(*e.conn, reply);                // small replies
//       ep->close(*e.conn);                      // FIN after what was sent
//   }
//   ep->flush(now_ns);                           // ACKs (window after the reads), timers, tx
//
// flush() must also run when no packet came (timers, window updates): the
// receive loop calls it once per round. Connections are tcp::connection
// objects: a listener (tcp::listener) gets on_open/on_readable/on_closed at
// the end of process_burst and on_release when a connection goes, exactly as
// from a reassembler.
//
// Ownership: process_burst() takes every mbuf; received payload stays in its
// mbuf until the application reads it. Sent data is copied into mbufs of the
// endpoint's own pool and kept until acknowledged. Memory (connections, SYN
// queue, TIME_WAIT entries, segment nodes, the tx pool) is sized at create()
// in EAL memory on the worker's socket; the per-packet path never allocates,
// logs or makes a system call.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rxinto/base/counter.hpp"
#include "rxinto/base/result.hpp"
#include "rxinto/flow/flow_key.hpp"
#include "rxinto/tcp/connection.hpp"
#include "rxinto/tcp/counters.hpp"
#include "rxinto/tcp/stream.hpp"

struct rte_mbuf;

namespace rxinto::endpoint {

/// What happened to each frame and each connection, per worker.
enum class endpoint_counter : std::uint8_t {
    frames,                 ///< frames handed to process_burst
    not_for_us,             ///< unicast to another MAC, or to an address that is not ours
    own_frames,             ///< our own frames seen again (a tap that loops back)
    parse_refused,          ///< malformed or not Ethernet/IP
    fragments_dropped,      ///< IP fragments (the endpoint does not reassemble: senders use the MSS)
    checksum_bad,           ///< IPv4 header or TCP/ICMP checksum wrong
    checksum_offloaded,     ///< TCP checksum left for offload by a sender on this host (accepted)
    arp_requests,           ///< ARP requests for our addresses, answered
    arp_other,              ///< other ARP (replies, requests for other addresses)
    nd_solicitations,       ///< IPv6 neighbour solicitations for our addresses, answered
    icmp_echo,              ///< ICMP / ICMPv6 echo requests answered
    icmp_other,             ///< other ICMP / ICMPv6 (dropped)
    other_protocols,        ///< UDP and the rest, to our addresses (dropped)
    tcp_segments,           ///< TCP segments to our addresses
    closed_port,            ///< TCP to a port nobody listens on (answered with RST, or dropped)
    resets_sent,
    resets_received,        ///< acceptable RSTs (the connection ended)
    rst_out_of_window,      ///< RSTs ignored (not in the window)
    challenge_acks,         ///< RFC 5961 challenge ACKs sent
    challenge_acks_limited, ///< ... not sent: over the rate limit
    syn_received,           ///< SYNs to a listening port
    syn_retransmits,        ///< a SYN again for a connection in SYN-RECEIVED (SYN-ACK again)
    syn_queue_full,         ///< SYNs dropped: SYN queue full and cookies off
    syn_cookies_sent,       ///< SYN-ACKs with a cookie (SYN queue full or no connection free)
    syn_cookies_ok,         ///< connections made from a valid cookie
    syn_cookies_bad,        ///< ACKs to a listening port with no connection and no valid cookie
    synack_retransmits,
    connections_opened,     ///< handshakes completed
    connections_closed,     ///< released after a clean close
    connections_reset,      ///< released after a RST (either way)
    connections_timed_out,  ///< released: idle, or retransmissions gave up
    connections_refused,    ///< no connection free (table full): RST
    time_wait_entered,
    time_wait_evicted,      ///< TIME_WAIT entries pushed out by the count limit
    time_wait_reused,       ///< a new SYN took over a TIME_WAIT tuple (higher ISN or timestamp)
    paws_rejected,          ///< segments with an old timestamp (RFC 7323 §5)
    out_of_window,          ///< segments outside the receive window (answered with an ACK)
    beyond_window_bytes,    ///< bytes past the advertised right edge, trimmed
    duplicate_segments,     ///< data already received (D-SACK)
    out_of_order,           ///< data past a hole (duplicate ACK with SACK)
    in_order,               ///< data at RCV.NXT
    data_dropped_no_room,   ///< segments dropped: segment pool or stream limit (the peer resends)
    acks_sent,              ///< pure ACKs (cumulative, duplicate, window updates, challenges)
    dup_acks_sent,
    dup_acks_coalesced,     ///< out-of-order segments that only extended the burst's SACK block (one ACK at its end)
    window_updates,         ///< ACKs sent because the application read
    zero_windows,           ///< ACKs that advertised a zero window
    delayed_acks,           ///< ACKs sent by the delayed-ACK timer
    data_segments_sent,
    retransmits,            ///< segments we sent again (RTO)
    send_refused,           ///< send() calls refused (window, cwnd or queue full)
    tx_packets,
    tx_dropped,             ///< frames the port did not take (tx ring full)
    tx_pool_empty,          ///< frames not built: the tx pool was empty
    bad_ack,                ///< ACK for data never sent (acknowledged with an ACK)
    count_
};
[[nodiscard]] const char* to_string(endpoint_counter c) noexcept;
using endpoint_counters = stats::counter_array<endpoint_counter>;

/// An address the endpoint owns: "10.0.0.2/24", "fd00::2/64".
struct ip_address {
    std::uint8_t version = 4;
    std::array<std::uint8_t, 16> bytes{};  ///< IPv4 in the first 4 bytes
    std::uint8_t prefix = 32;
    friend bool operator==(const ip_address&, const ip_address&) = default;
};
/// Parses "ADDR/PREFIX" (IPv4 or IPv6; the prefix may be left out: /32, /128).
[[nodiscard]] Result<ip_address> parse_address(std::string_view text);
[[nodiscard]] std::string to_string(const ip_address& a);

/// The tx side of one port the worker receives from.
struct port_binding {
    std::uint16_t port_id = 0;
    std::uint16_t tx_queue = 0;
    std::array<std::uint8_t, 6> mac{};
};

struct endpoint_config {
    std::vector<ip_address> addresses;
    std::vector<std::uint16_t> listen_ports;
    bool reset_unknown = true;              ///< RST for TCP to other ports (false: drop)
    std::uint32_t max_connections = 4096;   ///< per worker: connections, SYN queue and TIME_WAIT together
    std::uint32_t syn_queue = 256;          ///< half-open connections at once; beyond: cookies
    bool syn_cookies = true;
    std::uint32_t time_wait_max = 1024;     ///< TIME_WAIT entries at once (oldest go first)
    std::uint64_t time_wait_ns = 60'000'000'000ULL;
    std::uint32_t receive_buffer = 1U << 20;  ///< per connection: bytes held (unread + out of order)
    /// Per worker: segment nodes (held pieces of mbufs). It also bounds the
    /// windows: all open connections together advertise at most about
    /// max_segments * 3/4 MSS bytes (each gets an equal share, up to
    /// receive_buffer), so that the port's mempool is never promised away.
    std::uint32_t max_segments = 16384;
    std::uint16_t mtu = 1500;               ///< IP MTU of the link: our MSS is MTU - 40 (v4) / - 60 (v6)
    std::uint32_t send_segments = 16;       ///< per connection: segments kept until acknowledged (<= 16)
    std::uint32_t initial_cwnd = 10;        ///< segments (RFC 6928)
    std::uint32_t tx_mbufs = 8191;          ///< per worker: the pool of what the endpoint sends
    std::uint32_t challenge_acks_per_second = 1000;
    std::uint64_t idle_timeout_ns = 600'000'000'000ULL;   ///< an open connection with no packet
    std::uint64_t delayed_ack_ns = 40'000'000ULL;         ///< Linux's minimum delayed-ACK time
    std::uint32_t synack_retries = 5;       ///< then a half-open connection is dropped
    std::uint32_t data_retries = 8;         ///< then the connection is reset
    bool verify_checksums = true;
    std::uint16_t max_burst = 512;
    std::vector<port_binding> ports;        ///< by ethdev port id (mbuf->port)
};

/// The endpoint's TCP state of a connection (RFC 9293 §3.3.2).
enum class tcp_state : std::uint8_t {
    syn_received, established, close_wait, fin_wait_1, fin_wait_2, closing, last_ack, time_wait, closed
};
[[nodiscard]] const char* to_string(tcp_state s) noexcept;

enum class send_status : std::uint8_t {
    ok,
    too_large,   ///< more than the peer's window, the initial cwnd or the send queue allow now
    closed,      ///< the connection is closing or closed for sending
    no_buffers,  ///< the endpoint's tx pool is empty
};
[[nodiscard]] const char* to_string(send_status s) noexcept;

class endpoint {
public:
    [[nodiscard]] static std::uint64_t memory_needed(const endpoint_config& cfg) noexcept;
    /// Control path: tables, segment pool and tx pool in EAL memory on `socket`.
    [[nodiscard]] static Result<std::unique_ptr<endpoint>> create(const endpoint_config& cfg,
                                                                  const std::string& name,
                                                                  unsigned worker_index, int socket);
    ~endpoint();
    endpoint(const endpoint&) = delete;
    endpoint& operator=(const endpoint&) = delete;

    void set_listener(tcp::listener* l) noexcept;
    /// Accepts connections on `port` from now on (control path, between
    /// bursts: it may allocate once; the per-packet path does not).
    void listen(std::uint16_t port);

    /// Takes every mbuf. now_ns: a monotonic clock (the TSC, in ns).
    void process_burst(rte_mbuf** pkts, std::uint16_t n, std::uint64_t now_ns) noexcept;
    /// Events of the last process_burst() or flush(): opened (the handshake
    /// completed: accept), readable, closed (the peer's direction ended).
    [[nodiscard]] std::span<const tcp::event> events() const noexcept;
    /// After the application read: the coalesced ACKs with the window as it
    /// is now, window updates, timers (delayed ACK, RTO, TIME_WAIT, idle),
    /// connections that ended, and the tx burst. Call once per receive round.
    void flush(std::uint64_t now_ns) noexcept;
    /// End of the run: every open connection is reset (the peer hears of it),
    /// every stream ends (eof unless it ended already) and is released.
    void finish(std::uint64_t now_ns) noexcept;

    // ---- the application's side (on the worker's lcore) ---------------------

    /// The direction the peer sends: c.in(inbound(c)) is what we receive.
    [[nodiscard]] static flow::direction inbound(const tcp::connection& c) noexcept;
    [[nodiscard]] tcp_state state(const tcp::connection& c) const noexcept;
    /// Queues `data` to send: all of it, or nothing (too_large: it exceeds what
    /// the peer's window, the initial congestion window and the send queue
    /// allow now; send it in smaller pieces later). Copied into the endpoint's
    /// mbufs; sent at the next flush.
    send_status send(tcp::connection& c, std::span<const std::byte> data) noexcept;
    /// Bytes send() would take now.
    [[nodiscard]] std::uint32_t send_room(const tcp::connection& c) const noexcept;
    /// Half-close: a FIN after everything queued. Receiving goes on.
    void close(tcp::connection& c) noexcept;
    /// Reset: a RST now, both directions end (rst), the connection goes.
    void abort(tcp::connection& c) noexcept;

    [[nodiscard]] const endpoint_counters& counters() const noexcept;
    [[nodiscard]] const tcp::tcp_counters& stream_counters() const noexcept;
    [[nodiscard]] std::uint32_t connections() const noexcept;
    [[nodiscard]] std::size_t segments_in_use() const noexcept;

    struct impl;

private:
    explicit endpoint(impl* p) noexcept : p_(p) {}
    impl* p_;
};

}  // namespace rxinto::endpoint
