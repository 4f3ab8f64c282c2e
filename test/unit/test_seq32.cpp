// seq32: RFC 1982 serial-number arithmetic on TCP sequence numbers (RFC 9293 §3.4).
#include "rxinto/base/seq32.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <type_traits>

using rxinto::seq32;
using rxinto::seq_diff;
using rxinto::seq_forward;
using rxinto::seq_ge;
using rxinto::seq_gt;
using rxinto::seq_in_window;
using rxinto::seq_le;
using rxinto::seq_lt;
using rxinto::seq_max;
using rxinto::seq_min;

static_assert(std::is_trivially_copyable_v<seq32>);
static_assert(sizeof(seq32) == 4);

TEST(Seq32, OrdinaryComparisons) {
    const seq32 a{100}, b{200};
    EXPECT_TRUE(seq_lt(a, b));
    EXPECT_TRUE(seq_le(a, b));
    EXPECT_FALSE(seq_gt(a, b));
    EXPECT_FALSE(seq_ge(a, b));
    EXPECT_TRUE(seq_gt(b, a));
    EXPECT_TRUE(seq_ge(b, a));
    EXPECT_TRUE(seq_le(a, a));
    EXPECT_TRUE(seq_ge(a, a));
    EXPECT_FALSE(seq_lt(a, a));
    EXPECT_FALSE(seq_gt(a, a));
    EXPECT_EQ(b - a, 100);
    EXPECT_EQ(a - b, -100);
}

TEST(Seq32, WrapAtTopOfSpace) {
    const seq32 top{0xFFFFFFFFu}, zero{0};
    EXPECT_TRUE(seq_lt(top, zero));  // 0xFFFFFFFF is just before 0
    EXPECT_TRUE(seq_gt(zero, top));
    EXPECT_FALSE(seq_lt(zero, top));
    EXPECT_EQ(zero - top, 1);
    EXPECT_EQ(top - zero, -1);
    EXPECT_EQ(top + 1u, zero);
    EXPECT_EQ(zero - 1u, top);
    EXPECT_EQ(seq_forward(top, zero), 1u);
    EXPECT_EQ(seq_forward(zero, top), 0xFFFFFFFFu);

    // A segment of 100 bytes starting 10 before the wrap ends 90 after it.
    const seq32 start{0xFFFFFFF6u};
    const seq32 end = start + 100u;
    EXPECT_EQ(end.value(), 90u);
    EXPECT_TRUE(seq_lt(start, end));
    EXPECT_EQ(seq_forward(start, end), 100u);
    EXPECT_EQ(seq_diff(end, start), 100);
}

TEST(Seq32, JustUnderHalfTheSpace) {
    const seq32 a{0};
    const seq32 b{0x7FFFFFFFu};  // 2^31 - 1 ahead: still "after"
    EXPECT_TRUE(seq_lt(a, b));
    EXPECT_TRUE(seq_gt(b, a));
    EXPECT_EQ(b - a, INT32_MAX);
    const seq32 c{0x80000001u};  // 2^31 + 1 ahead == 2^31 - 1 behind
    EXPECT_TRUE(seq_gt(a, c));
    EXPECT_TRUE(seq_lt(c, a));
    EXPECT_EQ(a - c, INT32_MAX);
}

// RFC 1982 §3.2 leaves this undefined; seq32 defines it as incomparable in both
// directions (documented in seq32.hpp).
TEST(Seq32, ExactlyHalfTheSpaceIsIncomparable) {
    for (std::uint32_t base : {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0x12345678u}) {
        const seq32 a{base};
        const seq32 b = a + 0x80000000u;
        EXPECT_FALSE(a == b);
        EXPECT_FALSE(seq_lt(a, b)) << base;
        EXPECT_FALSE(seq_lt(b, a)) << base;
        EXPECT_FALSE(seq_gt(a, b)) << base;
        EXPECT_FALSE(seq_gt(b, a)) << base;
        EXPECT_FALSE(seq_le(a, b)) << base;
        EXPECT_FALSE(seq_ge(a, b)) << base;
        EXPECT_EQ(a - b, INT32_MIN);
        EXPECT_EQ(b - a, INT32_MIN);
        EXPECT_EQ(seq_max(a, b), a);  // incomparable: the first argument
        EXPECT_EQ(seq_min(a, b), a);
    }
}

TEST(Seq32, AntisymmetryAwayFromTheBoundary) {
    // For every distance other than 0 and 2^31 exactly one of lt/gt holds.
    const std::uint32_t bases[] = {0u, 0xFFFFFF00u, 0x7FFFFF80u, 0xDEADBEEFu};
    const std::uint32_t dists[] = {1u, 2u, 1000u, 0x3FFFFFFFu, 0x7FFFFFFFu, 0x80000001u,
                                   0xFFFFFFFEu, 0xFFFFFFFFu};
    for (auto base : bases) {
        for (auto d : dists) {
            const seq32 a{base};
            const seq32 b = a + d;
            EXPECT_NE(seq_lt(a, b), seq_gt(a, b)) << base << "+" << d;
            EXPECT_EQ(seq_lt(a, b), seq_gt(b, a));
            EXPECT_EQ(seq_lt(a, b), d < 0x80000000u);
        }
    }
}

TEST(Seq32, InWindowAcrossTheWrap) {
    const seq32 lo{0xFFFFFF00u};
    const seq32 hi = lo + 0x200u;  // window [0xFFFFFF00, 0x100)
    EXPECT_TRUE(seq_in_window(lo, lo, hi));
    EXPECT_TRUE(seq_in_window(seq32{0xFFFFFFFFu}, lo, hi));
    EXPECT_TRUE(seq_in_window(seq32{0}, lo, hi));
    EXPECT_TRUE(seq_in_window(seq32{0xFFu}, lo, hi));
    EXPECT_FALSE(seq_in_window(hi, lo, hi));  // half-open
    EXPECT_FALSE(seq_in_window(lo - 1u, lo, hi));
    EXPECT_FALSE(seq_in_window(lo, lo, lo));  // empty window holds nothing
}

TEST(Seq32, MinMaxAndCompoundAssignment) {
    const seq32 a{0xFFFFFFF0u}, b{0x10u};
    EXPECT_EQ(seq_max(a, b), b);
    EXPECT_EQ(seq_min(a, b), a);
    seq32 c = a;
    c += 0x20u;
    EXPECT_EQ(c, b);
    c -= 0x20u;
    EXPECT_EQ(c, a);
}

// Usable in constant expressions, and noexcept: checked by the compiler (a
// runtime test around these would pass whatever they said).
namespace constant_expressions {
constexpr seq32 a{5};
constexpr seq32 b = a + 10u;
static_assert(b.value() == 15u);
static_assert(seq_lt(a, b));
static_assert(b - a == 10);
static_assert(noexcept(seq_lt(a, b)));
static_assert(noexcept(a - b));
}  // namespace constant_expressions
