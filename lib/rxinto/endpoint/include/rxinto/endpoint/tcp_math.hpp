// The pure parts of the endpoint's TCP: SYN cookies, SACK block choice,
// receive-window selection, the retransmission timer's estimator and the
// challenge-ACK rate limit. No DPDK, no state beyond the arguments: unit-tested
// without an EAL (test/unit/test_endpoint_math.cpp).
//
// Stream offsets: 64-bit positions in one direction's byte stream (0 is the
// byte after the ISN), as tcp::stream counts them; sequence numbers are made
// from them only when a segment is written.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "rxinto/base/seq32.hpp"

namespace rxinto::endpoint {

// ---------------------------------------------------------------------------
// SYN cookies (RFC 4987 §3.6), the way Linux makes them (net/ipv4/syncookies.c):
//
//   cookie = H0(tuple) + client_isn + (minute << 24)
//            + ((H1(tuple, minute) + mss_index) mod 2^24)
//
// H0 and H1 are keyed hashes (SipHash-2-4 with a secret drawn at start-up;
// Linux uses siphash too), `minute` a counter that ticks every 64 seconds. A
// cookie is valid for two minutes (MAX_SYNCOOKIE_AGE). The 2 bits of data are
// the index of the client's MSS in a table of four. When both sides use
// timestamps, the low 6 bits of our TSval carry the client's window scale (4
// bits, 0xf: none) and SACK-permitted (1 bit), so that a connection made from a
// cookie keeps window scaling and SACK, as Linux's cookie_init_timestamp() does.

struct cookie_key {
    std::uint64_t k0 = 0;
    std::uint64_t k1 = 0;
};

/// What a cookie covers: both addresses (IPv4 in the first 4 bytes) and ports.
struct cookie_tuple {
    std::array<std::uint8_t, 16> peer{};
    std::array<std::uint8_t, 16> local{};
    std::uint16_t peer_port = 0;
    std::uint16_t local_port = 0;
    std::uint8_t ip_version = 4;
};

inline constexpr std::uint32_t cookie_max_age = 2;  ///< minutes (Linux MAX_SYNCOOKIE_AGE)
/// Linux's tables (msstab, msstab v6): a cookie connection gets the largest
/// entry not above the client's MSS.
inline constexpr std::array<std::uint16_t, 4> cookie_mss_v4{536, 1300, 1440, 1460};
inline constexpr std::array<std::uint16_t, 4> cookie_mss_v6{1220, 1420, 1440, 8940};

/// SipHash-2-4 of `len` bytes (Aumasson & Bernstein), the PRF of the cookies.
[[nodiscard]] std::uint64_t siphash24(const cookie_key& k, const std::uint8_t* data, std::size_t len) noexcept;

/// The minute counter of a time in nanoseconds (64-second ticks, like Linux's
/// tcp_cookie_time()).
[[nodiscard]] constexpr std::uint32_t cookie_minute(std::uint64_t now_ns) noexcept {
    return static_cast<std::uint32_t>(now_ns / 64'000'000'000ULL);
}

/// The index of the largest table entry not above `mss` (0 when below all).
[[nodiscard]] std::uint8_t cookie_mss_index(std::uint16_t mss, std::uint8_t ip_version) noexcept;
[[nodiscard]] std::uint16_t cookie_mss(std::uint8_t index, std::uint8_t ip_version) noexcept;

/// Our ISN for a SYN answered statelessly.
[[nodiscard]] std::uint32_t syn_cookie_make(const cookie_key& k, const cookie_tuple& t, seq32 client_isn,
                                            std::uint32_t minute, std::uint8_t mss_index) noexcept;
/// The MSS index of a cookie (the ACK's ack - 1) if it is ours and not older
/// than cookie_max_age minutes; nullopt otherwise.
[[nodiscard]] std::optional<std::uint8_t> syn_cookie_check(const cookie_key& k, const cookie_tuple& t,
                                                           seq32 client_isn, std::uint32_t cookie,
                                                           std::uint32_t minute) noexcept;

/// Options a cookie connection keeps, carried in the low bits of our TSval.
struct cookie_options {
    bool wscale_ok = false;
    std::uint8_t wscale = 0;  ///< the client's shift count (0..14)
    bool sack_ok = false;
};
inline constexpr std::uint32_t cookie_ts_bits = 6;
/// Our TSval for a cookie SYN-ACK: `ts_now` with its low 6 bits replaced by the
/// options, moved back by 64 when that would run ahead of ts_now (a TSval must
/// never go backwards for the peer's PAWS, so it never runs ahead either).
[[nodiscard]] std::uint32_t cookie_tsval(std::uint32_t ts_now, const cookie_options& o) noexcept;
/// The options read back from the TSecr of the client's ACK.
[[nodiscard]] cookie_options cookie_ts_decode(std::uint32_t ts_ecr) noexcept;

// ---------------------------------------------------------------------------
// SACK (RFC 2018, RFC 2883)

struct range {
    std::uint64_t begin = 0;  ///< stream offsets, [begin, end)
    std::uint64_t end = 0;
    friend constexpr bool operator==(const range&, const range&) = default;
};

/// Most SACK blocks that fit beside the other options of an ACK: 4 alone (2 +
/// 4 * 8 bytes), 3 with timestamps (12 + 2 + 3 * 8 <= 40).
[[nodiscard]] constexpr std::size_t max_sack_blocks(bool timestamps) noexcept { return timestamps ? 3 : 4; }

/// Chooses the SACK blocks of an ACK. `held` are the ranges held past the
/// first hole, lowest first (tcp::stream_rx::held_ranges_past_hole); `recent`
/// the starts of the most recently received out-of-order segments, most recent
/// first. The order (RFC 2018 §4): a D-SACK block first when there is one (RFC
/// 2883 §4: the duplicate range, which may lie below the cumulative ACK); then
/// the block holding the most recent segment, then those of the earlier recent
/// ones; then the remaining blocks, highest first. No block twice. Returns how
/// many were written to out (at most max).
[[nodiscard]] std::size_t choose_sack_blocks(const std::uint64_t (*held)[2], std::size_t nheld,
                                             const std::uint64_t* recent, std::size_t nrecent,
                                             const std::optional<range>& dsack, std::size_t max,
                                             range* out) noexcept;

// ---------------------------------------------------------------------------
// Receive window (RFC 9293 §3.8.6.2.2, RFC 7323 §2.3)

struct window_choice {
    std::uint64_t right_edge = 0;  ///< stream offset: RCV.NXT + RCV.WND after this advertisement
    std::uint16_t field = 0;       ///< the window field of the segment (scaled down)
};

/// The window to advertise. `budget`: bytes the connection may hold (in order
/// and not yet read, or out of order); `unread`: in-order bytes held and not
/// yet read (RCV.USER); `rcv_nxt`, `right_edge`: what was acknowledged and the
/// right edge advertised so far. The right edge never moves left (RFC 9293
/// §3.8.6.2.2: shrinking is strongly discouraged; the reservation it would
/// break is what keeps held bytes within the budget), and moves right only
/// when it can move by at least min(budget / 2, mss) (receiver-side silly
/// window avoidance). A window that is not a multiple of 2^wscale is rounded up
/// (as Linux does), never down, so that scaling never shrinks it: the caller
/// keeps 2^wscale bytes of the budget in reserve for that.
[[nodiscard]] window_choice select_window(std::uint64_t rcv_nxt, std::uint64_t right_edge, std::uint64_t unread,
                                         std::uint64_t budget, std::uint8_t wscale, std::uint32_t mss) noexcept;

/// The smallest shift that lets `budget` bytes be advertised (at most 14).
[[nodiscard]] std::uint8_t wscale_for(std::uint64_t budget) noexcept;

// ---------------------------------------------------------------------------
// Retransmission timer (RFC 6298)

struct rto_estimator {
    static constexpr std::uint64_t initial_ns = 1'000'000'000ULL;  ///< RFC 6298 §2.1
    static constexpr std::uint64_t min_ns = 200'000'000ULL;        ///< Linux's TCP_RTO_MIN (RFC: 1 s)
    static constexpr std::uint64_t max_ns = 60'000'000'000ULL;     ///< RFC 6298 §2.5
    static constexpr std::uint64_t granularity_ns = 1'000'000ULL;  ///< G: the 1 ms timestamp clock

    std::uint64_t srtt_ns = 0;
    std::uint64_t rttvar_ns = 0;
    std::uint64_t rto_ns = initial_ns;
    bool has_sample = false;

    /// One RTT measurement (RFC 6298 §2.2, §2.3, alpha 1/8, beta 1/4).
    void sample(std::uint64_t rtt_ns) noexcept;
    /// The timer expired: back off (RFC 6298 §5.5), up to max_ns.
    void back_off() noexcept;
};

// ---------------------------------------------------------------------------
// Challenge ACKs (RFC 5961 §7): at most `per_second` a second per worker.

struct rate_limit {
    std::uint32_t per_second = 1000;
    std::uint64_t window_start_ns = 0;
    std::uint32_t used = 0;
    [[nodiscard]] bool allow(std::uint64_t now_ns) noexcept {
        if (now_ns - window_start_ns >= 1'000'000'000ULL) {
            window_start_ns = now_ns;
            used = 0;
        }
        if (used >= per_second) return false;
        ++used;
        return true;
    }
};

}  // namespace rxinto::endpoint
