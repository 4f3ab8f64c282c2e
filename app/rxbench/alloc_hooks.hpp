// Replacement operator new / delete that count every call of this process per
// thread, into feed's counters (feed::thread_news(), feed::thread_deletes()).
//
// Not an ordinary header: it defines the replaceable global allocation
// functions, which an executable may define once. Include it from exactly one
// translation unit of an executable, its main file (rxbench.cpp, bench_tcp.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "feed.hpp"

namespace rxbench::feed::hooks {
namespace {

void* counted_malloc(std::size_t n) noexcept {
    count_new();
    return std::malloc(n == 0 ? 1 : n);
}
void* counted_aligned(std::size_t n, std::align_val_t al) noexcept {
    count_new();
    const auto a = std::max<std::size_t>(static_cast<std::size_t>(al), sizeof(void*));
    const std::size_t rounded = (std::max<std::size_t>(n, 1) + a - 1) / a * a;
    return std::aligned_alloc(a, rounded);
}
// Not inlined into the operator delete callers: GCC would then see free() of
// what operator new returned and warn (-Wmismatched-new-delete).
[[gnu::noinline]] void counted_free(void* p) noexcept {
    if (p == nullptr) return;
    count_delete();
    std::free(p);
}

}  // namespace
}  // namespace rxbench::feed::hooks

void* operator new(std::size_t n) {
    if (void* p = rxbench::feed::hooks::counted_malloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = rxbench::feed::hooks::counted_malloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return rxbench::feed::hooks::counted_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return rxbench::feed::hooks::counted_malloc(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
    if (void* p = rxbench::feed::hooks::counted_aligned(n, a)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
    if (void* p = rxbench::feed::hooks::counted_aligned(n, a)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return rxbench::feed::hooks::counted_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return rxbench::feed::hooks::counted_aligned(n, a);
}
void operator delete(void* p) noexcept { rxbench::feed::hooks::counted_free(p); }
void operator delete[](void* p) noexcept { rxbench::feed::hooks::counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { rxbench::feed::hooks::counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { rxbench::feed::hooks::counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept {
    rxbench::feed::hooks::counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    rxbench::feed::hooks::counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept { rxbench::feed::hooks::counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept {
    rxbench::feed::hooks::counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    rxbench::feed::hooks::counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    rxbench::feed::hooks::counted_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    rxbench::feed::hooks::counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    rxbench::feed::hooks::counted_free(p);
}
