// Single-writer counters for per-lcore statistics.
//
// Each counter has exactly one writer (the lcore that owns it) and any number
// of readers (the control lcore, telemetry). The writer adds with a relaxed
// load + store, which compiles to a plain add: no locked instruction on the
// per-packet path. Readers see a value that may lag but never tears.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rxinto::stats {

class counter {
public:
    void add(std::uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(std::uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

/// Counters indexed by an enum class E whose last enumerator is count_.
template <class E>
class counter_array {
public:
    static constexpr std::size_t size = static_cast<std::size_t>(E::count_);
    void add(E e, std::uint64_t n = 1) noexcept { c_[static_cast<std::size_t>(e)].add(n); }
    [[nodiscard]] std::uint64_t get(E e) const noexcept {
        return c_[static_cast<std::size_t>(e)].get();
    }
    [[nodiscard]] std::uint64_t get(std::size_t i) const noexcept { return c_[i].get(); }

private:
    std::array<counter, size> c_{};
};

}  // namespace rxinto::stats
