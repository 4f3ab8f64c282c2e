// A TCP connection as the application sees it: its identity, its two streams
// and the application's own cookie. The TCP state the worker keeps for it is
// private to the reassembler.
//
// Lifetime: a connection& handed to the application (events, listener
// callbacks) stays valid until the listener's on_release() for it has
// returned; then its memory and every buffer it held are reused.
//
// Layout: the first cache line holds what every packet of the connection
// touches (the flow table's LRU links and the TCP state), each stream's hot
// fields start a cache line of their own, and what is read once (the key, the
// id, the ISNs, the cookie) comes last. The flow table prefetches the first
// lines as soon as a burst's lookups find the connection.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <rte_common.h>

#include "rxinto/flow/flow_key.hpp"
#include "rxinto/flow/flow_table.hpp"
#include "rxinto/tcp/stream.hpp"

namespace rxinto::tcp {

/// The application's per-connection pointer, typed: get<T>() returns what
/// set<T>() stored, and null for any other T (a cookie set by one part of the
/// application is never taken for another's).
class user_cookie {
public:
    template <class T>
    void set(T* p) noexcept {
        p_ = p;
        tag_ = &type_tag<T>;
    }
    template <class T>
    [[nodiscard]] T* get() const noexcept {
        return tag_ == &type_tag<T> ? static_cast<T*>(p_) : nullptr;
    }
    void reset() noexcept {
        p_ = nullptr;
        tag_ = nullptr;
    }
    [[nodiscard]] bool empty() const noexcept { return p_ == nullptr; }

private:
    template <class T>
    static constexpr char type_tag = 0;  // one address per type
    void* p_ = nullptr;
    const void* tag_ = nullptr;
};

enum class conn_state : std::uint8_t { syn_seen, established, closing, closed, count_ };

class alignas(RTE_CACHE_LINE_SIZE) connection : public flow::flow_node {
public:
    using direction = flow::direction;

    [[nodiscard]] const flow::flow_key& key() const noexcept { return key_; }
    /// Shared by both directions (DESIGN.md "Stream output": conn).
    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
    [[nodiscard]] stream& in(direction d) noexcept { return dir_[flow::index_of(d)]; }
    [[nodiscard]] const stream& in(direction d) const noexcept { return dir_[flow::index_of(d)]; }
    /// The direction the client sends (known from the SYN), if known.
    [[nodiscard]] std::optional<direction> client() const noexcept {
        if (client_dir_ < 0) return std::nullopt;
        return static_cast<direction>(client_dir_);
    }
    /// The direction of the first packet seen (a2b / b2a labels: a is its source).
    [[nodiscard]] direction first() const noexcept { return first_dir_; }
    /// "c2s"/"s2c" when the client is known, else "a2b"/"b2a" (a: the first packet's source).
    [[nodiscard]] const char* label(direction d) const noexcept;
    /// Picked up without its handshake.
    [[nodiscard]] bool midstream() const noexcept { return midstream_; }
    /// Packets of this connection handed to the reassembler, and the packet
    /// times of the first and the last one (ns).
    [[nodiscard]] std::uint64_t packets() const noexcept { return packets_[0] + packets_[1]; }
    /// Packets direction d sent.
    [[nodiscard]] std::uint64_t packets(direction d) const noexcept { return packets_[flow::index_of(d)]; }
    [[nodiscard]] std::uint64_t first_ns() const noexcept { return first_ns_; }
    [[nodiscard]] std::uint64_t last_packet_ns() const noexcept { return last_ns; }
    /// The endpoint that sends direction d, as text (inet_ntop) and port.
    void endpoints(direction d, std::string& src, std::uint16_t& sport, std::string& dst,
                   std::uint16_t& dport) const;

private:
    friend class reassembler;
    friend class connection_rx;  // the endpoint layer's worker side (connection_rx.hpp)

    // ---- first cache line (with flow_node): per-packet TCP state ----------
    conn_state state_ = conn_state::syn_seen;
    std::int8_t client_dir_ = -1;            ///< the client's direction, -1 unknown
    direction first_dir_ = direction::a2b;
    bool midstream_ = false;
    bool closed_reported_ = false;
    bool touched_ = false;                   ///< on this burst's touched list
    bool opened_ = false;                    ///< created in this burst (an opened event is due)
    std::array<bool, 2> syn_seen_{};
    std::array<bool, 2> wscale_ok_{};
    std::array<bool, 2> ack_known_{};        ///< sender d has acknowledged something
    std::array<std::uint8_t, 2> wscale_{};
    std::array<std::uint32_t, 2> window_{65535, 65535};  ///< last advertised window of each sender, scaled
    std::array<seq32, 2> last_ack_{};        ///< last ACK number sent by d
    // ---- the streams (a cache line each to start) ---------------------------
    alignas(RTE_CACHE_LINE_SIZE) stream dir_[2];
    // ---- cold ---------------------------------------------------------------
    flow::flow_key key_;
    std::uint64_t id_ = 0;
    std::array<std::uint64_t, 2> packets_{};
    std::uint64_t first_ns_ = 0;
    std::array<seq32, 2> isn_{};

public:
    /// The application's; rxinto never touches it. (Declared last: cold.)
    user_cookie user;
};

enum class event_kind : std::uint8_t { opened, readable, closed };

struct event {
    connection* conn = nullptr;
    event_kind kind = event_kind::opened;
};

/// Optional callbacks, called on the worker's lcore at the end of each burst
/// (once per connection and kind), and on_release when a connection goes.
/// on_release is the last moment a connection can be read: after it returns,
/// its memory and every buffer it held are reused.
class listener {
public:
    virtual ~listener() = default;
    virtual void on_open(connection&) noexcept {}
    virtual void on_readable(connection&) noexcept {}
    virtual void on_closed(connection&) noexcept {}
    virtual void on_release(connection&) noexcept {}
};

}  // namespace rxinto::tcp
