// Result<T> / Status: the control path's expected-style return type.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "rxinto/base/result.hpp"

namespace {

using rxinto::Error;
using rxinto::make_error;
using rxinto::Result;
using rxinto::Status;

Result<int> half(int x) {
    if (x % 2 != 0) return make_error("half: ", std::to_string(x), " is odd");
    return x / 2;
}

Status check_positive(int x) {
    if (x <= 0) return Error{"not positive"};
    return {};
}

TEST(Result, HoldsValue) {
    auto r = half(8);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(static_cast<bool>(r));
    EXPECT_EQ(r.value(), 4);
    EXPECT_EQ(*r, 4);
    *r = 5;
    EXPECT_EQ(r.value(), 5);
}

TEST(Result, HoldsError) {
    auto r = half(3);
    ASSERT_FALSE(r.ok());
    EXPECT_FALSE(static_cast<bool>(r));
    EXPECT_EQ(r.error().message, "half: 3 is odd");
}

TEST(Result, ArrowReachesMembers) {
    Result<std::string> r = std::string("abc");
    EXPECT_EQ(r->size(), 3U);
    const Result<std::string>& cr = r;
    EXPECT_EQ(cr->front(), 'a');
}

TEST(Result, MovesValueAndErrorOut) {
    Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
    std::unique_ptr<int> p = std::move(r).value();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 7);

    Result<std::unique_ptr<int>> e = Error{"gone"};
    Error moved = std::move(e).error();
    EXPECT_EQ(moved.message, "gone");
}

TEST(Result, ErrorPassesThroughAnotherResultType) {
    // The usual forwarding idiom: Result<T> error -> Result<U>.
    const auto outer = [](int x) -> Result<std::string> {
        auto r = half(x);
        if (!r) return std::move(r).error();
        return std::to_string(r.value());
    };
    EXPECT_EQ(outer(6).value(), "3");
    EXPECT_EQ(outer(5).error().message, "half: 5 is odd");
}

TEST(Result, BoolConversionIsExplicit) {
    static_assert(!std::is_convertible_v<Result<int>, bool>);
    static_assert(!std::is_convertible_v<Status, bool>);
    static_assert(std::is_constructible_v<bool, Result<int>>);
}

TEST(Status, DefaultIsOk) {
    Status s;
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE(check_positive(1).ok());
}

TEST(Status, CarriesError) {
    Status s = check_positive(0);
    ASSERT_FALSE(s.ok());
    EXPECT_FALSE(static_cast<bool>(s));
    EXPECT_EQ(s.error().message, "not positive");
    Error e = std::move(s).error();
    EXPECT_EQ(e.message, "not positive");
}

TEST(MakeError, ConcatenatesMixedStringTypes) {
    const std::string s = "b";
    const std::string_view sv = "c";
    Error e = make_error("a", s, sv, std::string("d"));
    EXPECT_EQ(e.message, "abcd");
    EXPECT_EQ(make_error().message, "");
}

}  // namespace
