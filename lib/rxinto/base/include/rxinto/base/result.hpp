// Result<T>: the control path's expected-style return type.
//
// The control path (config, EAL, ports, files) returns Result<T>; a failure
// carries a message a person can act on ("what failed: why; what to do").
// Library code never ends the process: only main() turns an Error into an
// exit code. GCC 12 has no std::expected yet, hence this small type.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace rxinto {

struct Error {
    std::string message;
    /// The input was wrong (usage, configuration, a filter expression), not
    /// the machine: main() exits 2 for these, 1 for the rest.
    bool usage = false;
};

/// Builds an Error from pieces (all convertible to std::string_view).
template <class... Parts>
[[nodiscard]] Error make_error(Parts&&... parts) {
    std::string s;
    (s.append(std::forward<Parts>(parts)), ...);
    return Error{std::move(s)};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit on purpose
    Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit on purpose

    [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

    [[nodiscard]] const Error& error() const& { return std::get<1>(v_); }
    [[nodiscard]] Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : e_(std::move(error)) {}      // NOLINT: implicit on purpose

    [[nodiscard]] bool ok() const noexcept { return !e_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    [[nodiscard]] const Error& error() const& { return *e_; }
    [[nodiscard]] Error&& error() && { return std::move(*e_); }

private:
    std::optional<Error> e_;
};

using Status = Result<void>;

}  // namespace rxinto
