#include "rxinto/endpoint/tcp_math.hpp"

#include <algorithm>
#include <cstring>

namespace rxinto::endpoint {

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }

struct sip_state {
    std::uint64_t v0, v1, v2, v3;
    void round() noexcept {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    }
};

std::uint64_t load_le64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

constexpr std::uint32_t cookie_bits = 24;
constexpr std::uint32_t cookie_mask = (1U << cookie_bits) - 1;

/// H(tuple, count, c): SipHash over the tuple, the minute count and which of
/// the two hashes it is.
std::uint32_t cookie_hash(const cookie_key& k, const cookie_tuple& t, std::uint32_t count, std::uint8_t c) noexcept {
    std::uint8_t buf[16 + 16 + 2 + 2 + 4 + 2];
    std::size_t n = 0;
    const std::size_t alen = t.ip_version == 4 ? 4 : 16;
    std::memcpy(buf + n, t.peer.data(), alen);
    n += alen;
    std::memcpy(buf + n, t.local.data(), alen);
    n += alen;
    buf[n++] = static_cast<std::uint8_t>(t.peer_port >> 8);
    buf[n++] = static_cast<std::uint8_t>(t.peer_port);
    buf[n++] = static_cast<std::uint8_t>(t.local_port >> 8);
    buf[n++] = static_cast<std::uint8_t>(t.local_port);
    for (int i = 0; i < 4; ++i) buf[n++] = static_cast<std::uint8_t>(count >> (8 * i));
    buf[n++] = c;
    buf[n++] = t.ip_version;
    return static_cast<std::uint32_t>(siphash24(k, buf, n));
}

}  // namespace

std::uint64_t siphash24(const cookie_key& k, const std::uint8_t* data, std::size_t len) noexcept {
    sip_state s{k.k0 ^ 0x736f6d6570736575ULL, k.k1 ^ 0x646f72616e646f6dULL, k.k0 ^ 0x6c7967656e657261ULL,
                k.k1 ^ 0x7465646279746573ULL};
    const std::size_t full = len & ~std::size_t{7};
    for (std::size_t i = 0; i < full; i += 8) {
        const std::uint64_t m = load_le64(data + i);
        s.v3 ^= m;
        s.round();
        s.round();
        s.v0 ^= m;
    }
    std::uint64_t b = static_cast<std::uint64_t>(len) << 56;
    for (std::size_t i = full; i < len; ++i) b |= static_cast<std::uint64_t>(data[i]) << (8 * (i - full));
    s.v3 ^= b;
    s.round();
    s.round();
    s.v0 ^= b;
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

std::uint8_t cookie_mss_index(std::uint16_t mss, std::uint8_t ip_version) noexcept {
    const auto& tab = ip_version == 4 ? cookie_mss_v4 : cookie_mss_v6;
    for (std::size_t i = tab.size(); i-- > 0;)
        if (mss >= tab[i]) return static_cast<std::uint8_t>(i);
    return 0;
}

std::uint16_t cookie_mss(std::uint8_t index, std::uint8_t ip_version) noexcept {
    const auto& tab = ip_version == 4 ? cookie_mss_v4 : cookie_mss_v6;
    return tab[index & 3U];
}

std::uint32_t syn_cookie_make(const cookie_key& k, const cookie_tuple& t, seq32 client_isn, std::uint32_t minute,
                              std::uint8_t mss_index) noexcept {
    return cookie_hash(k, t, 0, 0) + client_isn.value() + (minute << cookie_bits) +
           ((cookie_hash(k, t, minute, 1) + mss_index) & cookie_mask);
}

std::optional<std::uint8_t> syn_cookie_check(const cookie_key& k, const cookie_tuple& t, seq32 client_isn,
                                             std::uint32_t cookie, std::uint32_t minute) noexcept {
    cookie -= cookie_hash(k, t, 0, 0) + client_isn.value();
    // The minute the cookie was made, from its top 8 bits (mod 256).
    const std::uint32_t diff = (minute - (cookie >> cookie_bits)) & (0xffffffffU >> cookie_bits);
    if (diff >= cookie_max_age) return std::nullopt;
    const std::uint32_t data = (cookie - cookie_hash(k, t, minute - diff, 1)) & cookie_mask;
    if (data >= 4) return std::nullopt;  // not a value we ever encode: forged or stale
    return static_cast<std::uint8_t>(data);
}

std::uint32_t cookie_tsval(std::uint32_t ts_now, const cookie_options& o) noexcept {
    std::uint32_t opts = o.wscale_ok ? (o.wscale & 0xfU) : 0xfU;
    if (o.sack_ok) opts |= 1U << 4;
    constexpr std::uint32_t mask = (1U << cookie_ts_bits) - 1;
    std::uint32_t ts = (ts_now & ~mask) | opts;
    if (seq_gt(seq32{ts}, seq32{ts_now})) ts -= 1U << cookie_ts_bits;
    return ts;
}

cookie_options cookie_ts_decode(std::uint32_t ts_ecr) noexcept {
    cookie_options o;
    const std::uint32_t ws = ts_ecr & 0xfU;
    o.wscale_ok = ws != 0xfU;
    o.wscale = o.wscale_ok ? static_cast<std::uint8_t>(std::min<std::uint32_t>(ws, 14)) : 0;
    o.sack_ok = (ts_ecr & (1U << 4)) != 0;
    return o;
}

std::size_t choose_sack_blocks(const std::uint64_t (*held)[2], std::size_t nheld, const std::uint64_t* recent,
                               std::size_t nrecent, const std::optional<range>& dsack, std::size_t max,
                               range* out) noexcept {
    std::size_t n = 0;
    if (max == 0) return 0;
    if (dsack && dsack->end > dsack->begin) out[n++] = *dsack;
    constexpr std::size_t max_held = 64;
    bool used[max_held] = {};
    nheld = std::min(nheld, max_held);
    const auto take = [&](std::size_t i) {
        if (used[i] || n == max) return;
        used[i] = true;
        out[n++] = range{held[i][0], held[i][1]};
    };
    for (std::size_t r = 0; r < nrecent && n < max; ++r) {
        for (std::size_t i = 0; i < nheld; ++i) {
            if (held[i][0] <= recent[r] && recent[r] < held[i][1]) {
                take(i);
                break;
            }
        }
    }
    for (std::size_t i = nheld; i-- > 0 && n < max;) take(i);
    return n;
}

window_choice select_window(std::uint64_t rcv_nxt, std::uint64_t right_edge, std::uint64_t unread,
                            std::uint64_t budget, std::uint8_t wscale, std::uint32_t mss) noexcept {
    window_choice w;
    w.right_edge = std::max(right_edge, rcv_nxt);
    const std::uint64_t room = budget > unread ? budget - unread : 0;
    const std::uint64_t candidate = rcv_nxt + room;
    const std::uint64_t step = std::max<std::uint64_t>(1, std::min<std::uint64_t>(budget / 2, mss));
    if (candidate > w.right_edge && candidate - w.right_edge >= step) w.right_edge = candidate;
    // Scale down, rounding up, within the 16-bit field.
    const std::uint64_t max_window = std::uint64_t{0xffff} << wscale;
    if (w.right_edge - rcv_nxt > max_window) w.right_edge = rcv_nxt + max_window;
    const std::uint64_t wnd = w.right_edge - rcv_nxt;
    const std::uint64_t field = (wnd + (std::uint64_t{1} << wscale) - 1) >> wscale;
    w.field = static_cast<std::uint16_t>(std::min<std::uint64_t>(field, 0xffff));
    w.right_edge = std::max(w.right_edge, rcv_nxt + (std::uint64_t{w.field} << wscale));
    return w;
}

std::uint8_t wscale_for(std::uint64_t budget) noexcept {
    std::uint8_t s = 0;
    while (s < 14 && (budget >> s) > 0xffff) ++s;
    return s;
}

void rto_estimator::sample(std::uint64_t rtt_ns) noexcept {
    if (!has_sample) {
        srtt_ns = rtt_ns;
        rttvar_ns = rtt_ns / 2;
        has_sample = true;
    } else {
        const std::uint64_t err = srtt_ns > rtt_ns ? srtt_ns - rtt_ns : rtt_ns - srtt_ns;
        rttvar_ns = (3 * rttvar_ns + err) / 4;
        srtt_ns = (7 * srtt_ns + rtt_ns) / 8;
    }
    rto_ns = srtt_ns + std::max(granularity_ns, 4 * rttvar_ns);
    rto_ns = std::clamp(rto_ns, min_ns, max_ns);
}

void rto_estimator::back_off() noexcept { rto_ns = std::min(rto_ns * 2, max_ns); }

}  // namespace rxinto::endpoint
