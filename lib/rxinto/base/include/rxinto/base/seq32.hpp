// seq32: a TCP sequence number with serial-number arithmetic.
//
// TCP sequence space is the integers modulo 2^32 (RFC 9293 §3.4: "all arithmetic
// dealing with sequence numbers must be performed modulo 2**32"). Comparing two
// sequence numbers therefore means asking which way round the circle is shorter,
// which is RFC 1982 serial-number arithmetic with SERIAL_BITS = 32:
//
//   s1 < s2  iff  (s1 < s2 and s2 - s1 < 2^31) or (s1 > s2 and s1 - s2 > 2^31)
//
// which is the same as "the signed 32-bit difference s2 - s1 is positive".
//
// The 2^31 boundary. RFC 1982 §3.2 leaves the comparison of two numbers exactly
// 2^31 apart undefined. Implementations differ (Linux's before() says each is
// "before" the other, which breaks asymmetry). seq32 makes the choice explicit
// and symmetric: two numbers exactly 2^31 apart are *incomparable*: lt, le, gt
// and ge are all false in both directions (and they are not equal). A receive
// window can never be 2^31 wide (RFC 7323 §2.3 caps it at 2^30), so a segment
// that lands there is outside any window whichever answer one picks; the tcp
// layer treats "not comparable" like "out of window".
//
// Deliberately no operator< / <= / > / >=: the order is not transitive across
// the whole circle (a < b < c < a is possible), so seq32 must not be used as a
// key of std::map or sorted with std::sort. Named functions make every use site
// say that it compares on the circle.
//
// Everything is constexpr and noexcept: this is used on the per-packet path.
#pragma once

#include <cstdint>

namespace rxinto {

class seq32 {
public:
    constexpr seq32() noexcept = default;
    constexpr explicit seq32(std::uint32_t v) noexcept : v_(v) {}

    /// The raw 32-bit value (wire format, host byte order).
    [[nodiscard]] constexpr std::uint32_t value() const noexcept { return v_; }

    /// Advance by n bytes (modulo 2^32; RFC 1982 §3.1 addition with n < 2^31 is the
    /// only meaningful use, but wrapping is well defined for any n).
    constexpr seq32& operator+=(std::uint32_t n) noexcept {
        v_ += n;
        return *this;
    }
    constexpr seq32& operator-=(std::uint32_t n) noexcept {
        v_ -= n;
        return *this;
    }
    [[nodiscard]] friend constexpr seq32 operator+(seq32 a, std::uint32_t n) noexcept {
        return a += n;
    }
    [[nodiscard]] friend constexpr seq32 operator-(seq32 a, std::uint32_t n) noexcept {
        return a -= n;
    }

    /// Signed distance a - b on the circle: positive when a is after b.
    /// Exactly 2^31 apart gives INT32_MIN (see the boundary note above).
    [[nodiscard]] friend constexpr std::int32_t operator-(seq32 a, seq32 b) noexcept {
        // C++20 defines unsigned -> signed conversion as modulo 2^N.
        return static_cast<std::int32_t>(a.v_ - b.v_);
    }

    [[nodiscard]] friend constexpr bool operator==(seq32 a, seq32 b) noexcept = default;

private:
    std::uint32_t v_ = 0;
};

/// Signed distance: to - from, in [-2^31, 2^31). Same as `to - from`.
[[nodiscard]] constexpr std::int32_t seq_diff(seq32 to, seq32 from) noexcept { return to - from; }

/// Forward distance: bytes to go from `from` forwards to reach `to` (mod 2^32).
/// Always defined; use it for lengths once the order is known (e.g. end - start
/// of a segment that is known not to wrap past itself).
[[nodiscard]] constexpr std::uint32_t seq_forward(seq32 from, seq32 to) noexcept {
    return to.value() - from.value();
}

/// a strictly before b (RFC 1982 §3.2). False both ways at distance 2^31.
[[nodiscard]] constexpr bool seq_lt(seq32 a, seq32 b) noexcept { return (b - a) > 0; }
/// a strictly after b.
[[nodiscard]] constexpr bool seq_gt(seq32 a, seq32 b) noexcept { return (a - b) > 0; }
/// a before or equal to b.
[[nodiscard]] constexpr bool seq_le(seq32 a, seq32 b) noexcept { return a == b || seq_lt(a, b); }
/// a after or equal to b.
[[nodiscard]] constexpr bool seq_ge(seq32 a, seq32 b) noexcept { return a == b || seq_gt(a, b); }

/// lo <= s < hi on the circle (a half-open window, RFC 9293 §3.4 acceptability:
/// RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND). Computed as a forward distance so it
/// is exact for any window shorter than 2^32, including ones that wrap.
[[nodiscard]] constexpr bool seq_in_window(seq32 s, seq32 lo, seq32 hi) noexcept {
    return seq_forward(lo, s) < seq_forward(lo, hi);
}

/// The later / earlier of two comparable numbers (a when incomparable or equal).
[[nodiscard]] constexpr seq32 seq_max(seq32 a, seq32 b) noexcept { return seq_lt(a, b) ? b : a; }
[[nodiscard]] constexpr seq32 seq_min(seq32 a, seq32 b) noexcept { return seq_gt(a, b) ? b : a; }

// Compile-time checks of the wrap and the boundary choice.
static_assert(seq_lt(seq32{0xFFFFFFFFu}, seq32{0}));
static_assert(seq_gt(seq32{0}, seq32{0xFFFFFFFFu}));
static_assert(seq32{0} - seq32{0xFFFFFFFFu} == 1);
static_assert(!seq_lt(seq32{0}, seq32{0x80000000u}) && !seq_gt(seq32{0}, seq32{0x80000000u}));
static_assert(seq32{0xFFFFFFF0u} + 0x20u == seq32{0x10u});

}  // namespace rxinto
