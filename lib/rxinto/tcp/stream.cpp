#include "rxinto/tcp/stream.hpp"

#include <algorithm>
#include <cstring>

#include <rte_mbuf.h>

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

segment_pool::segment_pool(std::size_t n) : slab_(n) {
    for (std::size_t i = 0; i < n; ++i) slab_[i].next = i + 1 < n ? &slab_[i + 1] : nullptr;
    free_ = n != 0 ? &slab_[0] : nullptr;
}

void stream::anchor(seq32 first, bool midstream) noexcept {
    anchored_ = true;
    midstream_ = midstream;
    base_ = first;
}

bool stream::reanchor(seq32 first, const stream_env&) noexcept {
    if (!anchored_) {
        anchor(first, false);
        return true;
    }
    if (next_ != 0 || delivered_ != 0 || gap_count_ != 0) return false;
    // Offsets move by the distance between the old and the new offset 0.
    const std::int64_t shift = base_ - first;
    for (segment* s = head_; s != nullptr; s = s->next)
        if (static_cast<std::int64_t>(s->off) + shift < 0) return false;  // data before the SYN
    for (segment* s = head_; s != nullptr; s = s->next)
        s->off = static_cast<std::uint64_t>(static_cast<std::int64_t>(s->off) + shift);
    auto moved = [shift](std::uint64_t v) {
        const std::int64_t x = static_cast<std::int64_t>(v) + shift;
        return x < 0 ? 0 : static_cast<std::uint64_t>(x);
    };
    highest_ = moved(highest_);
    if (fin_ != no_offset && static_cast<std::int64_t>(fin_) + shift < 0) {
        // A FIN before the SYN cannot end this stream (e.g. a forged one).
        fin_ = no_offset;
        end_ = end_reason::none;
        end_off_ = no_offset;
    } else if (fin_ != no_offset) {
        fin_ = moved(fin_);
        end_off_ = fin_;
    } else if (end_off_ != no_offset) {
        end_off_ = moved(end_off_);
    }
    declared_ = 0;
    proof_ = pending_ = 0;
    nmissing_ = 0;  // ranges noted against the old offsets no longer apply
    base_ = first;
    midstream_ = false;
    recompute_contig();
    return true;
}

bool stream::to_offset(seq32 seq, std::uint32_t max_window, std::int64_t& off) const noexcept {
    const std::int32_t rel = seq - (base_ + static_cast<std::uint32_t>(next_));
    if (rel == INT32_MIN) return false;  // 2^31 away: not comparable (RFC 1982 §3.2)
    if (rel > 0 && static_cast<std::uint32_t>(rel) > max_window) return false;
    if (rel < 0 && static_cast<std::uint32_t>(-static_cast<std::int64_t>(rel)) > max_window) return false;
    off = static_cast<std::int64_t>(next_) + rel;
    return true;
}

void stream::link_before(segment* s, segment* before) noexcept {
    s->next = before;
    s->prev = before != nullptr ? before->prev : tail_;
    if (s->prev != nullptr) s->prev->next = s;
    else head_ = s;
    if (before != nullptr) before->prev = s;
    else tail_ = s;
    ++nseg_;
    held_bytes_ += s->len;
}

void stream::unlink(segment* s) noexcept {
    if (s->prev != nullptr) s->prev->next = s->next;
    else head_ = s->next;
    if (s->next != nullptr) s->next->prev = s->prev;
    else tail_ = s->prev;
    if (contig_seg_ == s) contig_seg_ = s->prev;
    --nseg_;
    held_bytes_ -= s->len;
}

void stream::drop_segment(segment* s, stream_env& env) noexcept {
    unlink(s);
    env.drops->add(s->m);
    env.pool->free(s);
}

void stream::extend_contig() noexcept {
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

void stream::declare_gap_until(std::uint64_t until) noexcept {
    if (until > declared_) declared_ = until;
}

// A cap or pool pressure: make the first hole a gap so that the reader can
// move past it and the segments behind it can be released.
void stream::resolve_pressure(stream_env& env) noexcept {
    segment* x = contig_seg_ != nullptr ? contig_seg_->next : head_;
    if (x == nullptr || x->off <= declared_) return;  // no hole, or already declared
    declared_ = x->off;
    env.counters->add(tcp_counter::cap_gaps);
}

void stream::insert(seq32 seq, std::uint32_t len, rte_mbuf* m, std::uint32_t pkt_off,
                    stream_env& env) noexcept {
    auto& c = *env.counters;
    c.add(tcp_counter::segments);
    std::int64_t off = 0;
    if (len == 0 || !to_offset(seq, env.limits.max_window, off)) {
        if (len != 0) c.add(tcp_counter::out_of_window);
        env.drops->add(m);
        return;
    }
    std::int64_t s = off;
    std::int64_t e = off + len;
    const auto next = static_cast<std::int64_t>(next_);
    if (e <= next) {
        c.add(e <= 0 && midstream_ ? tcp_counter::before_stream_start : tcp_counter::duplicates);
        env.drops->add(m);
        return;
    }
    if (s < next) {
        // The front was delivered already (or lies before offset 0): keep the rest.
        pkt_off += static_cast<std::uint32_t>(next - s);
        s = next;
        c.add(tcp_counter::partial_overlaps);
    }
    auto us = static_cast<std::uint64_t>(s);
    auto ue = static_cast<std::uint64_t>(e);
    // Nothing past the FIN (RFC 9293 §3.10.7.4: the FIN's sequence number ends
    // the stream), nor past the end of a stream that a RST or the end ended.
    const std::uint64_t limit = fin_ != no_offset ? fin_ : (end_ != end_reason::none ? end_off_ : no_offset);
    if (ue > limit) {
        c.add(tcp_counter::data_after_fin);
        if (us >= limit) {
            env.drops->add(m);
            return;
        }
        ue = limit;
    }
    // Caps: a stream may not hold more than its share. A segment that the reader
    // can take at once (in order, nothing unread) is always accepted: it is how
    // the stream makes progress.
    if (nseg_ >= env.limits.max_segments || held_bytes_ + (ue - us) > env.limits.max_bytes) {
        if (!(us == contig_ && contig_ == next_)) {
            resolve_pressure(env);
            c.add(tcp_counter::stream_cap_drops);
            highest_ = std::max(highest_, ue);
            env.drops->add(m);
            return;
        }
    }
    if (env.pool_pressure && us > contig_) resolve_pressure(env);
    c.add(us <= contig_ ? tcp_counter::in_order : tcp_counter::out_of_order);
    highest_ = std::max(highest_, ue);

    if (env.policy == overlap_policy::first) insert_first(us, ue, m, pkt_off, env);
    else insert_last(us, ue, m, pkt_off, env);

    if (held_bytes_ - (contig_ - next_) > env.limits.max_ooo_bytes) resolve_pressure(env);
}

void stream::insert_first(std::uint64_t s, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off,
                          stream_env& env) noexcept {
    auto& c = *env.counters;
    // Find the first held segment that ends after s, walking back from the tail:
    // in-order data stops at the first step.
    segment* cur = tail_;
    while (cur != nullptr && cur->off >= s) cur = cur->prev;
    segment* x = (cur != nullptr && cur->end() > s) ? cur : (cur != nullptr ? cur->next : head_);

    std::uint64_t pos = s;
    bool took_ref = false;
    bool overlapped = false;
    auto piece = [&](std::uint64_t from, std::uint64_t to, segment* before) noexcept -> bool {
        segment* p = env.pool->alloc();
        if (p == nullptr) {
            c.add(tcp_counter::segment_pool_exhausted);
            resolve_pressure(env);
            return false;
        }
        if (took_ref) mbuf::add_refs(m, 1);
        took_ref = true;
        p->off = from;
        p->len = static_cast<std::uint32_t>(to - from);
        p->pkt_off = pkt_off + static_cast<std::uint32_t>(from - s);
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
        if (!same_bytes(m, pkt_off + static_cast<std::uint32_t>(pos - s), x->m,
                        x->pkt_off + static_cast<std::uint32_t>(pos - x->off),
                        static_cast<std::uint32_t>(ov_end - pos))) {
            ++conflicts_;
            c.add(tcp_counter::overlap_conflicts);
        }
        pos = ov_end;
        x = x->next;
    }
    if (overlapped) c.add(took_ref ? tcp_counter::partial_overlaps : tcp_counter::duplicates);
    if (!took_ref) env.drops->add(m);
    extend_contig();
}

void stream::insert_last(std::uint64_t s, std::uint64_t e, rte_mbuf* m, std::uint32_t pkt_off,
                         stream_env& env) noexcept {
    auto& c = *env.counters;
    segment* fresh = env.pool->alloc();
    if (fresh == nullptr) {
        c.add(tcp_counter::segment_pool_exhausted);
        resolve_pressure(env);
        env.drops->add(m);
        return;
    }
    segment* cur = tail_;
    while (cur != nullptr && cur->off >= s) cur = cur->prev;
    segment* x = (cur != nullptr && cur->end() > s) ? cur : (cur != nullptr ? cur->next : head_);
    bool overlapped = false;
    while (x != nullptr && x->off < e) {
        segment* nx = x->next;
        const std::uint64_t os = std::max(x->off, s);
        const std::uint64_t oe = std::min(x->end(), e);
        overlapped = true;
        if (!same_bytes(m, pkt_off + static_cast<std::uint32_t>(os - s), x->m,
                        x->pkt_off + static_cast<std::uint32_t>(os - x->off),
                        static_cast<std::uint32_t>(oe - os))) {
            ++conflicts_;
            c.add(tcp_counter::overlap_conflicts);
        }
        if (x->off < s && x->end() > e) {
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
            held_bytes_ -= x->len;
            x->len = static_cast<std::uint32_t>(s - x->off);
            held_bytes_ += x->len;
            link_before(right, nx);
        } else if (x->off < s) {
            held_bytes_ -= x->end() - s;
            x->len = static_cast<std::uint32_t>(s - x->off);
        } else if (x->end() > e) {
            const auto d = static_cast<std::uint32_t>(e - x->off);
            x->off = e;
            x->pkt_off += d;
            x->len -= d;
            held_bytes_ -= d;
        } else {
            drop_segment(x, env);
        }
        x = nx;
    }
    fresh->off = s;
    fresh->len = static_cast<std::uint32_t>(e - s);
    fresh->pkt_off = pkt_off;
    fresh->m = m;
    segment* before = head_;
    while (before != nullptr && before->off < s) before = before->next;
    link_before(fresh, before);
    if (overlapped) c.add(tcp_counter::partial_overlaps);
    recompute_contig();
}

void stream::on_fin(seq32 fin_seq, stream_env& env) noexcept {
    std::int64_t off = 0;
    if (!to_offset(fin_seq, env.limits.max_window, off)) {
        env.counters->add(tcp_counter::out_of_window);
        return;
    }
    if (fin_ != no_offset) return;  // the first FIN stands; a retransmission changes nothing
    if (end_ != end_reason::none) return;  // ended already (RST): a later FIN changes nothing
    const std::uint64_t f = std::max<std::uint64_t>(static_cast<std::uint64_t>(std::max<std::int64_t>(off, 0)), next_);
    fin_ = f;
    end_ = end_reason::fin;
    end_off_ = f;
    // Anything held past the FIN cannot belong to the stream.
    while (tail_ != nullptr && tail_->end() > f) {
        env.counters->add(tcp_counter::data_after_fin);
        if (tail_->off >= f) {
            drop_segment(tail_, env);
        } else {
            held_bytes_ -= tail_->end() - f;
            tail_->len = static_cast<std::uint32_t>(f - tail_->off);
        }
    }
    highest_ = std::min(std::max(highest_, f), f);
    recompute_contig();
}

void stream::on_peer_ack(seq32 ack, stream_env& env) noexcept {
    if (!anchored_) return;
    std::int64_t off = 0;
    if (!to_offset(ack, env.limits.max_window, off) || off <= static_cast<std::int64_t>(next_)) return;
    auto a = static_cast<std::uint64_t>(off);
    if (fin_ != no_offset && a > fin_) a = fin_;  // the FIN takes one sequence number
    if (end_ != end_reason::none && end_ != end_reason::fin && a > end_off_) a = end_off_;
    highest_ = std::max(highest_, a);
    if (a <= declared_ || a <= contig_) return;  // nothing missing below it
    pending_ = std::max(pending_, a);
    if (proof_ <= declared_) {
        proof_ = a;
        proof_age_ = 0;
    }
}

void stream::age_proof(const stream_env& env) noexcept {
    if (contig_ >= proof_) {
        // The data came after all: only what is still missing keeps waiting.
        proof_ = pending_ > contig_ ? pending_ : 0;
        proof_age_ = 0;
        return;
    }
    if (++proof_age_ < env.limits.ack_grace_packets) return;
    declare_gap_until(proof_);
    proof_ = pending_ > declared_ ? pending_ : 0;
    proof_age_ = 0;
}

void stream::declare_missing(seq32 seq, std::uint32_t len, stream_env& env) noexcept {
    std::int64_t off = 0;
    if (!anchored_ || len == 0 || !to_offset(seq, env.limits.max_window, off)) return;
    // Signed until it is known to lie past the read position: a range before
    // offset 0 (a mid-stream pickup) has a negative start, and its end taken
    // unsigned would wrap to almost 2^64 (a fuzz find: a gap of ~2^64 bytes).
    const std::int64_t range_end = off + static_cast<std::int64_t>(len);
    if (range_end <= static_cast<std::int64_t>(next_)) return;
    std::uint64_t a = static_cast<std::uint64_t>(std::max<std::int64_t>(off, static_cast<std::int64_t>(next_)));
    std::uint64_t b = static_cast<std::uint64_t>(range_end);
    if (fin_ != no_offset) b = std::min(b, fin_);
    if (b <= a) return;
    highest_ = std::max(highest_, b);
    // Forget ranges the reader has passed.
    std::uint8_t w = 0;
    for (std::uint8_t i = 0; i < nmissing_; ++i) {
        if (missing_[i][1] > next_) {
            missing_[w][0] = missing_[i][0];
            missing_[w][1] = missing_[i][1];
            ++w;
        }
    }
    nmissing_ = w;
    if (nmissing_ != 0 && missing_[nmissing_ - 1][1] == a) {  // extends the last one
        missing_[nmissing_ - 1][1] = b;
        return;
    }
    if (nmissing_ == max_missing) {
        // Full: the oldest range, and every hole below it, become gaps now.
        declare_gap_until(missing_[0][1]);
        for (std::size_t i = 1; i < max_missing; ++i) {
            missing_[i - 1][0] = missing_[i][0];
            missing_[i - 1][1] = missing_[i][1];
        }
        --nmissing_;
    }
    missing_[nmissing_][0] = a;
    missing_[nmissing_][1] = b;
    ++nmissing_;
}

bool stream::in_window(seq32 seq, std::uint32_t window) const noexcept {
    if (!anchored_) return false;
    std::int64_t off = 0;
    if (!to_offset(seq, std::max<std::uint32_t>(window, 65535), off)) return false;
    const auto lo = static_cast<std::int64_t>(std::min(next_, highest_)) - 1;
    const auto hi = static_cast<std::int64_t>(std::max(next_, highest_)) +
                    static_cast<std::int64_t>(std::max<std::uint32_t>(window, 65535));
    return off >= lo && off <= hi;
}

void stream::end(end_reason r, stream_env&) noexcept {
    proof_ = pending_ = 0;
    if (end_ == end_reason::fin) {
        declare_gap_until(fin_);
        return;
    }
    if (end_ != end_reason::none) return;  // the first reason stands
    end_ = r;
    end_off_ = std::max(highest_, next_);
    declare_gap_until(end_off_);
}

void stream::release(stream_env& env) noexcept {
    while (head_ != nullptr) drop_segment(head_, env);
    contig_seg_ = nullptr;
    contig_ = next_;
}

void stream::advance(std::uint64_t n, stream_env& env) noexcept {
    while (n != 0 && head_ != nullptr) {
        segment* s = head_;
        if (n >= s->len) {
            n -= s->len;
            next_ += s->len;
            drop_segment(s, env);
        } else {
            const auto k = static_cast<std::uint32_t>(n);
            s->off += k;
            s->pkt_off += k;
            s->len -= k;
            held_bytes_ -= k;
            next_ += k;
            n = 0;
        }
    }
    if (contig_ < next_) recompute_contig();
}

recv_result stream::poll() const noexcept {
    recv_result r;
    if (contig_ > next_) return r;  // data to read
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

recv_result stream::recv_into(std::span<std::byte> buf, stream_env& env) noexcept {
    std::size_t done = 0;
    while (done < buf.size() && head_ != nullptr && head_->off == next_) {
        const auto n = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(head_->len, buf.size() - done));
        std::byte* dst = buf.data() + done;
        for_each_chunk(head_->m, head_->pkt_off, n, [&](const std::byte* p, std::uint32_t k) {
            std::memcpy(dst, p, k);
            dst += k;
        });
        done += n;
        advance(n, env);
    }
    delivered_ += done;
    recv_result r = poll();
    r.bytes = done;
    return r;
}

std::uint64_t stream::skip_gap(stream_env& env) noexcept {
    const std::uint64_t g = poll().gap;
    if (g == 0) return 0;
    next_ += g;
    gap_bytes_ += g;
    ++gap_count_;
    env.counters->add(tcp_counter::gaps);
    env.counters->add(tcp_counter::gap_bytes, g);
    recompute_contig();
    return g;
}

std::size_t stream::peek(std::span<std::span<const std::byte>> out) const noexcept {
    std::size_t k = 0;
    std::uint64_t expect = next_;
    for (const segment* s = head_; s != nullptr && s->off == expect && k < out.size(); s = s->next) {
        for_each_chunk(s->m, s->pkt_off, s->len, [&](const std::byte* p, std::uint32_t n) {
            if (k < out.size()) out[k++] = std::span<const std::byte>(p, n);
        });
        expect = s->end();
    }
    return k;
}

void stream::consume(std::uint64_t n, stream_env& env) noexcept {
    n = std::min(n, readable());
    advance(n, env);
    delivered_ += n;
}

}  // namespace rxinto::tcp
