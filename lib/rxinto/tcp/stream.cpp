#include <algorithm>
#include <cstring>

#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "rxinto/tcp/stream_rx.hpp"

namespace rxinto::tcp {

namespace {

/// Walks the bytes [off, off + len) of a packet that may be a chain of mbufs,
/// calling f(pointer, length) for each contiguous piece.
template <class F>
void for_each_chunk(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, F&& f) noexcept {
    while (m != nullptr && off >= m->data_len) {
        off -= m->data_len;
        m = m->next;
    }
    while (m != nullptr && len != 0) {
        const std::uint32_t n = std::min<std::uint32_t>(len, m->data_len - off);
        f(rte_pktmbuf_mtod_offset(m, const std::byte*, off), n);
        len -= n;
        off = 0;
        m = m->next;
    }
}

/// Do [aoff, aoff + len) of a and [boff, boff + len) of b hold the same bytes?
bool same_bytes(const rte_mbuf* a, std::uint32_t aoff, const rte_mbuf* b, std::uint32_t boff,
                std::uint32_t len) noexcept {
    if (a == b && aoff == boff) return true;
    // Both sides are usually single-segment: compare directly.
    if (aoff + len <= a->data_len && boff + len <= b->data_len)
        return std::memcmp(rte_pktmbuf_mtod_offset(a, const void*, aoff),
                           rte_pktmbuf_mtod_offset(b, const void*, boff), len) == 0;
    bool same = true;
    std::uint32_t done = 0;
    for_each_chunk(a, aoff, len, [&](const std::byte* pa, std::uint32_t n) {
        for_each_chunk(b, boff + done, n, [&](const std::byte* pb, std::uint32_t k) {
            if (same && std::memcmp(pa, pb, k) != 0) same = false;
            pa += k;
        });
        done += n;
    });
    return same;
}

/// Copies the first n bytes of segment x (n <= x->len) to dst.
inline void copy_out(const segment& x, std::uint32_t n, std::byte* dst) noexcept {
    const rte_mbuf* m = x.m;
    if (x.pkt_off + n <= m->data_len) {  // one buffer: the usual case
        std::memcpy(dst, rte_pktmbuf_mtod_offset(m, const std::byte*, x.pkt_off), n);
        return;
    }
    for_each_chunk(m, x.pkt_off, n, [&](const std::byte* p, std::uint32_t k) {
        std::memcpy(dst, p, k);
        dst += k;
    });
}

}  // namespace

const char* to_string(end_reason r) noexcept {
    switch (r) {
    case end_reason::none: return "none";
    case end_reason::fin: return "fin";
    case end_reason::rst: return "rst";
    case end_reason::timeout: return "timeout";
    case end_reason::evicted: return "evicted";
    case end_reason::eof: return "eof";
    }
    return "unknown";
}

// ---------------------------------------------------------------------------
// segment_pool

segment_pool::segment_pool(std::size_t n, int socket) {
    if (n == 0) return;
    slab_ = static_cast<segment*>(rte_zmalloc_socket("rxinto_segments", n * sizeof(segment),
                                                     RTE_CACHE_LINE_SIZE, socket));
    if (slab_ == nullptr) return;
    n_ = n;
    for (std::size_t i = 0; i < n; ++i) slab_[i].next = i + 1 < n ? &slab_[i + 1] : nullptr;
    free_ = &slab_[0];
}

segment_pool::~segment_pool() { rte_free(slab_); }

// ---------------------------------------------------------------------------
// stream: the application's side

void stream::extend_contig() noexcept {
    if (provisional_) return;  // nothing is readable before the start is confirmed
    segment* x = contig_seg_ != nullptr ? contig_seg_->next : head_;
    while (x != nullptr && x->off <= contig_ && x->end() > contig_) {
        contig_ = x->end();
        contig_seg_ = x;
        x = x->next;
    }
}

void stream::recompute_contig() noexcept {
    contig_ = next_;
    contig_seg_ = nullptr;
    extend_contig();
}

void stream::advance(std::uint64_t n) noexcept {
    while (n != 0 && head_ != nullptr) {
        segment* x = head_;
        if (n >= x->len) {
            n -= x->len;
            next_ += x->len;
            head_ = x->next;
            if (head_ != nullptr) head_->prev = nullptr;
            else tail_ = nullptr;
            if (contig_seg_ == x) contig_seg_ = nullptr;
            --nseg_;
            held_bytes_ -= x->len;
            env_->drops->add(x->m);
            env_->pool->free(x);
        } else {
            const auto k = static_cast<std::uint32_t>(n);
            x->off += k;
            x->pkt_off += k;
            x->len -= k;
            held_bytes_ -= k;
            next_ += k;
            n = 0;
        }
    }
    if (contig_ < next_) recompute_contig();
}

recv_result stream::poll() const noexcept {
    recv_result r;
    if (contig_ > next_ || provisional_) return r;  // data to read, or waiting for the start
    // A hole at next_: it is a gap as far as it is declared, or known missing.
    std::uint64_t until = declared_;
    for (std::uint8_t i = 0; i < nmissing_; ++i)
        if (missing_[i][0] <= next_ && missing_[i][1] > until) until = missing_[i][1];
    if (until > next_) {
        if (head_ != nullptr) until = std::min(until, head_->off);
        if (end_off_ != no_offset) until = std::min(until, end_off_);
        if (until > next_) {
            r.gap = until - next_;
            return r;
        }
    }
    if (finished()) r.end = end_;
    return r;
}

recv_result stream::recv_into(std::span<std::byte> buf) noexcept {
    // Exactly min(buf.size(), readable()) bytes: the contiguous run [next_,
    // contig_) is made of whole segments from head_, in order.
    std::byte* dst = buf.data();
    std::size_t room = buf.size();
    std::size_t done = 0;
    while (room != 0 && next_ < contig_) {
        segment* x = head_;
        const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(x->len, room));
        copy_out(*x, n, dst);
        dst += n;
        room -= n;
        done += n;
        next_ += n;
        held_bytes_ -= n;
        if (n == x->len) {
            head_ = x->next;
            if (head_ != nullptr) head_->prev = nullptr;
            else tail_ = nullptr;
            if (contig_seg_ == x) contig_seg_ = nullptr;
            --nseg_;
            env_->drops->add(x->m);
            env_->pool->free(x);
        } else {
            x->off += n;
            x->pkt_off += n;
            x->len -= n;
        }
    }
    delivered_ += done;
    recv_result r = poll();
    r.bytes = done;
    return r;
}

std::uint64_t stream::skip_gap() noexcept {
    const std::uint64_t g = poll().gap;
    if (g == 0) return 0;
    next_ += g;
    gap_bytes_ += g;
    ++gap_count_;
    env_->counters->add(tcp_counter::gaps);
    env_->counters->add(tcp_counter::gap_bytes, g);
    recompute_contig();
    return g;
}

std::size_t stream::peek(std::span<std::span<const std::byte>> out) const noexcept {
    std::size_t k = 0;
    std::uint64_t expect = next_;
    for (const segment* x = head_; x != nullptr && x->off == expect && expect < contig_ && k < out.size();
         x = x->next) {
        for_each_chunk(x->m, x->pkt_off, x->len, [&](const std::byte* p, std::uint32_t n) {
            if (k < out.size()) out[k++] = std::span<const std::byte>(p, n);
        });
        expect = x->end();
    }
    return k;
}

std::size_t stream::take(std::span<mbuf_piece> out, std::uint64_t max_bytes) noexcept {
    std::size_t k = 0;
    std::uint64_t done = 0;
    while (k < out.size() && next_ < contig_ && done < max_bytes) {
        segment* x = head_;
        const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(x->len, max_bytes - done));
        out[k++] = mbuf_piece{x->m, x->pkt_off, n};
        done += n;
        next_ += n;
        held_bytes_ -= n;
        if (n == x->len) {
            // The segment's reference goes to the caller with the piece.
            head_ = x->next;
            if (head_ != nullptr) head_->prev = nullptr;
            else tail_ = nullptr;
            if (contig_seg_ == x) contig_seg_ = nullptr;
            --nseg_;
            env_->pool->free(x);
        } else {
            // Part of it: the caller gets a reference of its own.
            mbuf::add_refs(x->m, 1);
            x->off += n;
            x->pkt_off += n;
            x->len -= n;
        }
    }
    delivered_ += done;
    return k;
}

std::size_t stream::peek(std::span<std::span<const std::byte>> out, std::span<rte_mbuf*> segs) const noexcept {
    const std::size_t cap = std::min(out.size(), segs.size());
    std::size_t k = 0;
    std::uint64_t expect = next_;
    for (const segment* x = head_; x != nullptr && x->off == expect && expect < contig_ && k < cap; x = x->next) {
        rte_mbuf* m = x->m;
        std::uint32_t off = x->pkt_off;
        std::uint32_t len = x->len;
        while (m != nullptr && off >= m->data_len) {
            off -= m->data_len;
            m = m->next;
        }
        for (; m != nullptr && len != 0 && k < cap; m = m->next) {
            const std::uint32_t n = std::min<std::uint32_t>(len, m->data_len - off);
            out[k] = std::span<const std::byte>(rte_pktmbuf_mtod_offset(m, const std::byte*, off), n);
            segs[k] = m;
            ++k;
            len -= n;
            off = 0;
        }
        expect = x->end();
    }
    return k;
}

void stream::consume(std::uint64_t n) noexcept {
    n = std::min(n, readable());
    advance(n);
    delivered_ += n;
}

// ---------------------------------------------------------------------------
// stream_rx: the worker's side

void stream_rx::anchor(seq32 first, bool midstream) noexcept {
    s_.anchored_ = true;
    s_.midstream_ = midstream;
    s_.provisional_ = midstream;
    s_.start_age_ = 0;
    s_.start_ns_ = s_.env_->now_ns;
    s_.base_ = first;
}

void stream_rx::confirm() noexcept {
    if (!s_.provisional_) return;
    s_.provisional_ = false;
    s_.recompute_contig();
}

bool stream_rx::reanchor(seq32 first) noexcept {
    stream& s = s_;
    if (!s.anchored_) {
        anchor(first, false);
        return true;
    }
    if (s.next_ != 0 || s.delivered_ != 0 || s.gap_count_ != 0) return false;
    // Offsets move by the distance between the old and the new offset 0.
    const std::int64_t shift = s.base_ - first;
    for (segment* x = s.head_; x != nullptr; x = x->next)
        if (static_cast<std::int64_t>(x->off) + shift < 0) return false;  // data before the SYN
    for (segment* x = s.head_; x != nullptr; x = x->next)
        x->off = static_cast<std::uint64_t>(static_cast<std::int64_t>(x->off) + shift);
    auto moved = [shift](std::uint64_t v) {
        const std::int64_t x = static_cast<std::int64_t>(v) + shift;
        return x < 0 ? 0 : static_cast<std::uint64_t>(x);
    };
    s.highest_ = moved(s.highest_);
    if (s.fin_ != stream::no_offset && static_cast<std::int64_t>(s.fin_) + shift < 0) {
        // A FIN before the SYN cannot end this stream (e.g. a forged one).
        s.fin_ = stream::no_offset;
        s.end_ = end_reason::none;
        s.end_off_ = stream::no_offset;
    } else if (s.fin_ != stream::no_offset) {
        s.fin_ = moved(s.fin_);
        s.end_off_ = s.fin_;
    } else if (s.end_off_ != stream::no_offset) {
        s.end_off_ = moved(s.end_off_);
    }
    s.declared_ = 0;
    s.proof_ = s.pending_ = 0;
    s.nmissing_ = 0;  // ranges noted against the old offsets no longer apply
    s.base_ = first;
    s.midstream_ = false;
    s.provisional_ = false;  // the SYN is the start
    s.recompute_contig();
    return true;
}

// A provisional start moves back by `by` bytes: data (or the peer's ACK) shows
// that the stream goes on before the first byte seen. Nothing was read yet.
void stream_rx::shift_start_back(std::uint64_t by) noexcept {
    stream& s = s_;
    for (segment* x = s.head_; x != nullptr; x = x->next) x->off += by;
    s.highest_ += by;
    if (s.fin_ != stream::no_offset) s.fin_ += by;
    if (s.end_off_ != stream::no_offset) s.end_off_ += by;
    for (std::uint8_t i = 0; i < s.nmissing_; ++i) {
        s.missing_[i][0] += by;
        s.missing_[i][1] += by;
    }
    s.base_ = s.base_ - static_cast<std::uint32_t>(by);
    s.env_->counters->add(tcp_counter::pickup_moved_back);
}

bool stream_rx::to_offset(seq32 seq, std::uint32_t max_window, std::int64_t& off) const noexcept {
    const std::int32_t rel = seq - (s_.base_ + static_cast<std::uint32_t>(s_.next_));
    if (rel == INT32_MIN) return false;  // 2^31 away: not comparable (RFC 1982 §3.2)
    if (rel > 0 && static_cast<std::uint32_t>(rel) > max_window) return false;
    if (rel < 0 && static_cast<std::uint32_t>(-static_cast<std::int64_t>(rel)) > max_window) return false;
    off = static_cast<std::int64_t>(s_.next_) + rel;
    return true;
}

void stream_rx::link_before(segment* x, segment* before) noexcept {
    stream& s = s_;
    x->next = before;
    x->prev = before != nullptr ? before->prev : s.tail_;
    if (x->prev != nullptr) x->prev->next = x;
    else s.head_ = x;
    if (before != nullptr) before->prev = x;
    else s.tail_ = x;
    ++s.nseg_;
    s.held_bytes_ += x->len;
}

void stream_rx::unlink(segment* x) noexcept {
    stream& s = s_;
    if (x->prev != nullptr) x->prev->next = x->next;
    else s.head_ = x->next;
    if (x->next != nullptr) x->next->prev = x->prev;
    else s.tail_ = x->prev;
    if (s.contig_seg_ == x) s.contig_seg_ = x->prev;
    --s.nseg_;
    s.held_bytes_ -= x->len;
}

void stream_rx::drop_segment(segment* x) noexcept {
    unlink(x);
    s_.env_->drops->add(x->m);
    s_.env_->pool->free(x);
}

void stream_rx::declare_gap_until(std::uint64_t until) noexcept {
    if (until > s_.declared_) s_.declared_ = until;
}

// A cap or pool pressure: make the first hole a gap so that the reader can
// move past it and the segments behind it can be released. A provisional
// start is confirmed first: memory decides, not evidence.
void stream_rx::resolve_pressure() noexcept {
    stream& s = s_;
    confirm();
    segment* x = s.contig_seg_ != nullptr ? s.contig_seg_->next : s.head_;
    if (x == nullptr || x->off <= s.declared_) return;  // no hole, or already declared
    s.declared_ = x->off;
    s.env_->counters->add(tcp_counter::cap_gaps);
}

void stream_rx::insert(seq32 seq, std::uint32_t len, rte_mbuf* m, std::uint32_t pkt_off) noexcept {
    stream& s = s_;
    stream_env& env = *s.env_;
    auto& c = *env.counters;
    c.add(tcp_counter::segments);
    std::int64_t off = 0;
    if (len == 0 || !to_offset(seq, env.limits.max_window, off)) {
        if (len != 0) c.add(tcp_counter::out_of_window);
        env.drops->add(m);
        return;
    }
    std::int64_t b = off;
    std::int64_t e = off + len;
    // The in-order fast path: the segment continues the contiguous run and
    // nothing is held past it (no list search, no overlap possible), under
    // the caps, before any FIN or end.
    if (b == static_cast<std::int64_t>(s.contig_) && s.contig_seg_ == s.tail_ && !s.provisional_ &&
        s.fin_ == stream::no_offset && s.end_ == end_reason::none && s.nseg_ < env.limits.max_segments &&
        s.held_bytes_ + len <= env.limits.max_bytes) {
        if (segment* x = env.pool->alloc(); x != nullptr) {
            c.add(tcp_counter::in_order);
            x->off = static_cast<std::uint64_t>(b);
            x->len = len;
            x->pkt_off = pkt_off;
            x->m = m;
            x->next = nullptr;
            x->prev = s.tail_;
            if (s.tail_ != nullptr) s.tail_->next = x;
            else s.head_ = x;
            s.tail_ = x;
            ++s.nseg_;
            s.held_bytes_ += len;
            s.contig_ = static_cast<std::uint64_t>(e);
            s.contig_seg_ = x;
            if (s.contig_ > s.highest_) s.highest_ = s.contig_;
            return;
        }
    }
    // A provisional mid-stream start moves back to data that came before it
    // (the first segment seen was itself out of order).
    if (s.provisional_ && b < 0) {
        shift_start_back(static_cast<std::uint64_t>(-b));
        e -= b;
        b = 0;
    }
    const auto next = static_cast<std::int64_t>(s.next_);
    if (e <= next) {
        c.add(e <= 0 && s.midstream_ ? tcp_counter::before_stream_start : tcp_counter::duplicates);
        env.drops->add(m);
        return;
    }
    if (b < next) {
        // The front was delivered already (or lies before offset 0): keep the rest.
        pkt_off += static_cast<std::uint32_t>(next - b);
        b = next;
        c.add(tcp_counter::partial_overlaps);
    }
    auto ub = static_cast<std::uint64_t>(b);
    auto ue = static_cast<std::uint64_t>(e);
    // Nothing past the FIN (RFC 9293 §3.10.7.4: the FIN's sequence number ends
    // the stream), nor past the end of a stream that a RST or the end ended.
    const std::uint64_t limit = s.fin_ != stream::no_offset
                                    ? s.fin_
                                    : (s.end_ != end_reason::none ? s.end_off_ : stream::no_offset);
    if (ue > limit) {
        c.add(tcp_counter::data_after_fin);
        if (ub >= limit) {
            env.drops->add(m);
            return;
        }
        ue = limit;
    }
    // Caps: a stream may not hold more than its share. A segment that the reader
    // can take at once (in order, nothing unread) is always accepted: it is how
    // the stream makes progress.
    if (s.nseg_ >= env.limits.max_segments || s.held_bytes_ + (ue - ub) > env.limits.max_bytes) {
        if (!(ub == s.contig_ && s.contig_ == s.next_ && !s.provisional_)) {
            resolve_pressure();
            c.add(tcp_counter::stream_cap_drops);
            s.highest_ = std::max(s.highest_, ue);
            env.drops->add(m);
            return;
        }
    }
    if (env.pool_pressure && ub > s.contig_) resolve_pressure();
    c.add(ub <= s.contig_ ? tcp_counter::in_order : tcp_counter::out_of_order);
    s.highest_ = std::max(s.highest_, ue);

    if (env.policy == overlap_policy::first) insert_first(ub, ue, m, pkt_off);
    else insert_last(ub, ue, m, pkt_off);

    if (s.held_bytes_ - (s.contig_ - s.next_) > env.limits.max_ooo_bytes) resolve_pressure();
}

void stream_rx::insert_first(std::uint64_t b, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off) noexcept {
    stream& s = s_;
    stream_env& env = *s.env_;
    auto& c = *env.counters;
    // Find the first held segment that ends after b, walking back from the tail:
    // in-order data stops at the first step.
    segment* cur = s.tail_;
    while (cur != nullptr && cur->off >= b) cur = cur->prev;
    segment* x = (cur != nullptr && cur->end() > b) ? cur : (cur != nullptr ? cur->next : s.head_);

    std::uint64_t pos = b;
    bool took_ref = false;
    bool overlapped = false;
    auto piece = [&](std::uint64_t from, std::uint64_t to, segment* before) noexcept -> bool {
        segment* p = env.pool->alloc();
        if (p == nullptr) {
            c.add(tcp_counter::segment_pool_exhausted);
            resolve_pressure();
            return false;
        }
        if (took_ref) mbuf::add_refs(m, 1);
        took_ref = true;
        p->off = from;
        p->len = static_cast<std::uint32_t>(to - from);
        p->pkt_off = pkt_off + static_cast<std::uint32_t>(from - b);
        p->m = m;
        link_before(p, before);
        return true;
    };
    while (pos < e) {
        if (x == nullptr || x->off >= e) {
            piece(pos, e, x);
            break;
        }
        if (x->off > pos) {
            if (!piece(pos, x->off, x)) break;
            pos = x->off;
        }
        // [pos, ov_end) is held already: the first copy wins; a different copy is a conflict.
        const std::uint64_t ov_end = std::min(x->end(), e);
        overlapped = true;
        if (!same_bytes(m, pkt_off + static_cast<std::uint32_t>(pos - b), x->m,
                        x->pkt_off + static_cast<std::uint32_t>(pos - x->off),
                        static_cast<std::uint32_t>(ov_end - pos))) {
            ++s.conflicts_;
            c.add(tcp_counter::overlap_conflicts);
        }
        pos = ov_end;
        x = x->next;
    }
    if (overlapped) c.add(took_ref ? tcp_counter::partial_overlaps : tcp_counter::duplicates);
    if (!took_ref) env.drops->add(m);
    s.extend_contig();
}

void stream_rx::insert_last(std::uint64_t b, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off) noexcept {
    stream& s = s_;
    stream_env& env = *s.env_;
    auto& c = *env.counters;
    segment* fresh = env.pool->alloc();
    if (fresh == nullptr) {
        c.add(tcp_counter::segment_pool_exhausted);
        resolve_pressure();
        env.drops->add(m);
        return;
    }
    segment* cur = s.tail_;
    while (cur != nullptr && cur->off >= b) cur = cur->prev;
    segment* x = (cur != nullptr && cur->end() > b) ? cur : (cur != nullptr ? cur->next : s.head_);
    bool overlapped = false;
    while (x != nullptr && x->off < e) {
        segment* nx = x->next;
        const std::uint64_t os = std::max(x->off, b);
        const std::uint64_t oe = std::min(x->end(), e);
        overlapped = true;
        if (!same_bytes(m, pkt_off + static_cast<std::uint32_t>(os - b), x->m,
                        x->pkt_off + static_cast<std::uint32_t>(os - x->off),
                        static_cast<std::uint32_t>(oe - os))) {
            ++s.conflicts_;
            c.add(tcp_counter::overlap_conflicts);
        }
        if (x->off < b && x->end() > e) {
            // The new bytes land inside x: x keeps its front, a new piece its back.
            segment* right = env.pool->alloc();
            if (right == nullptr) {
                c.add(tcp_counter::segment_pool_exhausted);
                env.pool->free(fresh);
                env.drops->add(m);
                return;
            }
            right->off = e;
            right->len = static_cast<std::uint32_t>(x->end() - e);
            right->pkt_off = x->pkt_off + static_cast<std::uint32_t>(e - x->off);
            right->m = x->m;
            mbuf::add_refs(x->m, 1);
            s.held_bytes_ -= x->len;
            x->len = static_cast<std::uint32_t>(b - x->off);
            s.held_bytes_ += x->len;
            link_before(right, nx);
        } else if (x->off < b) {
            s.held_bytes_ -= x->end() - b;
            x->len = static_cast<std::uint32_t>(b - x->off);
        } else if (x->end() > e) {
            const auto d = static_cast<std::uint32_t>(e - x->off);
            x->off = e;
            x->pkt_off += d;
            x->len -= d;
            s.held_bytes_ -= d;
        } else {
            drop_segment(x);
        }
        x = nx;
    }
    fresh->off = b;
    fresh->len = static_cast<std::uint32_t>(e - b);
    fresh->pkt_off = pkt_off;
    fresh->m = m;
    segment* before = s.head_;
    while (before != nullptr && before->off < b) before = before->next;
    link_before(fresh, before);
    if (overlapped) c.add(tcp_counter::partial_overlaps);
    s.recompute_contig();
}

void stream_rx::on_fin(seq32 fin_seq) noexcept {
    stream& s = s_;
    stream_env& env = *s.env_;
    std::int64_t off = 0;
    if (!to_offset(fin_seq, env.limits.max_window, off)) {
        env.counters->add(tcp_counter::out_of_window);
        return;
    }
    if (s.fin_ != stream::no_offset) return;  // the first FIN stands; a retransmission changes nothing
    if (s.end_ != end_reason::none) return;   // ended already (RST): a later FIN changes nothing
    const std::uint64_t f =
        std::max<std::uint64_t>(static_cast<std::uint64_t>(std::max<std::int64_t>(off, 0)), s.next_);
    s.fin_ = f;
    s.end_ = end_reason::fin;
    s.end_off_ = f;
    // Anything held past the FIN cannot belong to the stream.
    while (s.tail_ != nullptr && s.tail_->end() > f) {
        env.counters->add(tcp_counter::data_after_fin);
        if (s.tail_->off >= f) {
            drop_segment(s.tail_);
        } else {
            s.held_bytes_ -= s.tail_->end() - f;
            s.tail_->len = static_cast<std::uint32_t>(f - s.tail_->off);
        }
    }
    s.highest_ = std::min(std::max(s.highest_, f), f);
    s.recompute_contig();
}

void stream_rx::on_peer_ack(seq32 ack) noexcept {
    stream& s = s_;
    if (!s.anchored_) return;
    stream_env& env = *s.env_;
    std::int64_t off = 0;
    if (!to_offset(ack, env.limits.max_window, off)) return;
    if (s.provisional_) {
        // The in-order evidence for a mid-stream start: the peer expects the
        // bytes from `ack` on. Before the first byte seen, the stream starts
        // there (the bytes in between are a hole, still to come).
        if (off < 0) {
            shift_start_back(static_cast<std::uint64_t>(-off));
            off = 0;
        }
        confirm();
    }
    if (off <= static_cast<std::int64_t>(s.next_)) return;
    auto a = static_cast<std::uint64_t>(off);
    if (s.fin_ != stream::no_offset && a > s.fin_) a = s.fin_;  // the FIN takes one sequence number
    if (s.end_ != end_reason::none && s.end_ != end_reason::fin && a > s.end_off_) a = s.end_off_;
    s.highest_ = std::max(s.highest_, a);
    if (a <= s.declared_ || a <= s.contig_) return;  // nothing missing below it
    s.pending_ = std::max(s.pending_, a);
    if (s.proof_ <= s.declared_) {
        s.proof_ = a;
        s.proof_age_ = 0;
        s.proof_ns_ = env.now_ns;
    }
}

bool stream_rx::grace_over(std::uint32_t packets, std::uint64_t since_ns) const noexcept {
    const stream_limits& l = s_.env_->limits;
    if (l.ack_grace_packets != stream_limits::no_grace_limit && packets >= l.ack_grace_packets) return true;
    return l.ack_grace_ns != 0 && s_.env_->now_ns >= since_ns + l.ack_grace_ns;
}

void stream_rx::age_proof() noexcept {
    stream& s = s_;
    if (s.contig_ >= s.proof_) {
        // The data came after all: only what is still missing keeps waiting.
        s.proof_ = s.pending_ > s.contig_ ? s.pending_ : 0;
        s.proof_age_ = 0;
        s.proof_ns_ = s.env_->now_ns;
        return;
    }
    if (!grace_over(++s.proof_age_, s.proof_ns_)) return;
    declare_gap_until(s.proof_);
    s.proof_ = s.pending_ > s.declared_ ? s.pending_ : 0;
    s.proof_age_ = 0;
    s.proof_ns_ = s.env_->now_ns;
}

void stream_rx::tick() noexcept {
    stream& s = s_;
    if (s.provisional_ && grace_over(++s.start_age_, s.start_ns_)) confirm();
    if (s.proof_ > s.declared_) age_proof();
}

void stream_rx::declare_missing(seq32 seq, std::uint32_t len) noexcept {
    stream& s = s_;
    std::int64_t off = 0;
    if (!s.anchored_ || len == 0 || !to_offset(seq, s.env_->limits.max_window, off)) return;
    // Signed until it is known to lie past the read position: a range before
    // offset 0 (a mid-stream pickup) has a negative start, and its end taken
    // unsigned would wrap to almost 2^64 (a fuzz find: a gap of ~2^64 bytes).
    const std::int64_t range_end = off + static_cast<std::int64_t>(len);
    if (range_end <= static_cast<std::int64_t>(s.next_)) return;
    std::uint64_t a = static_cast<std::uint64_t>(std::max<std::int64_t>(off, static_cast<std::int64_t>(s.next_)));
    std::uint64_t b = static_cast<std::uint64_t>(range_end);
    if (s.fin_ != stream::no_offset) b = std::min(b, s.fin_);
    if (b <= a) return;
    s.highest_ = std::max(s.highest_, b);
    // Forget ranges the reader has passed.
    std::uint8_t w = 0;
    for (std::uint8_t i = 0; i < s.nmissing_; ++i) {
        if (s.missing_[i][1] > s.next_) {
            s.missing_[w][0] = s.missing_[i][0];
            s.missing_[w][1] = s.missing_[i][1];
            ++w;
        }
    }
    s.nmissing_ = w;
    if (s.nmissing_ != 0 && s.missing_[s.nmissing_ - 1][1] == a) {  // extends the last one
        s.missing_[s.nmissing_ - 1][1] = b;
        return;
    }
    if (s.nmissing_ == stream::max_missing) {
        // Full: the oldest range, and every hole below it, become gaps now.
        declare_gap_until(s.missing_[0][1]);
        for (std::size_t i = 1; i < stream::max_missing; ++i) {
            s.missing_[i - 1][0] = s.missing_[i][0];
            s.missing_[i - 1][1] = s.missing_[i][1];
        }
        --s.nmissing_;
    }
    s.missing_[s.nmissing_][0] = a;
    s.missing_[s.nmissing_][1] = b;
    ++s.nmissing_;
}

bool stream_rx::in_window(seq32 seq, std::uint32_t window) const noexcept {
    const stream& s = s_;
    if (!s.anchored_) return false;
    std::int64_t off = 0;
    if (!to_offset(seq, std::max<std::uint32_t>(window, 65535), off)) return false;
    const auto lo = static_cast<std::int64_t>(std::min(s.next_, s.highest_)) - 1;
    const auto hi = static_cast<std::int64_t>(std::max(s.next_, s.highest_)) +
                    static_cast<std::int64_t>(std::max<std::uint32_t>(window, 65535));
    return off >= lo && off <= hi;
}

void stream_rx::end(end_reason r) noexcept {
    stream& s = s_;
    confirm();
    s.proof_ = s.pending_ = 0;
    if (s.end_ == end_reason::fin) {
        declare_gap_until(s.fin_);
        return;
    }
    if (s.end_ != end_reason::none) return;  // the first reason stands
    s.end_ = r;
    s.end_off_ = std::max(s.highest_, s.next_);
    declare_gap_until(s.end_off_);
}

void stream_rx::release() noexcept {
    stream& s = s_;
    while (s.head_ != nullptr) drop_segment(s.head_);
    s.contig_seg_ = nullptr;
    s.contig_ = s.next_;
}

}  // namespace rxinto::tcp
