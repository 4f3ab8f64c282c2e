#include "rxinto/tcp/reassembler.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <new>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "rxinto/mbuf/headers.hpp"
#include "rxinto/tcp/stream_rx.hpp"

namespace rxinto::tcp {

using flow::direction;
using flow::index_of;
using flow::opposite;

namespace {

constexpr std::uint32_t header_window = 256;  // bytes of headers read from a chained packet

/// Folded ones' complement sum (RFC 1071, big-endian words, like the
/// pseudo-header sum) of bytes [off, off + len) of a chain; false when the chain
/// is shorter. Not rte_raw_cksum_mbuf(): in DPDK 22.11 it casts the unreduced
/// 32-bit sum of a segment that starts at an odd offset to 16 bits before
/// byte-swapping it, which drops carries, so a chain split at an odd length
/// fails verification.
bool chain_sum(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t& out) noexcept {
    while (m != nullptr && off >= m->data_len) {
        off -= m->data_len;
        m = m->next;
    }
    std::uint32_t sum = 0;
    bool odd = false;  // the piece starts at an odd position: its bytes sit in the other word halves
    while (m != nullptr && len != 0) {
        const std::uint32_t n = std::min<std::uint32_t>(len, m->data_len - off);
        std::uint16_t s = net::ones_complement_sum(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, off), n);
        if (odd) s = static_cast<std::uint16_t>((s << 8) | (s >> 8));
        sum += s;
        odd = odd != ((n & 1U) != 0);
        len -= n;
        off = 0;
        m = m->next;
    }
    if (len != 0) return false;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    out = static_cast<std::uint16_t>(sum);
    return true;
}

std::string addr_string(const std::array<std::uint8_t, 16>& a, std::uint8_t ipver) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a.data(), buf, sizeof buf);
    return buf;
}

template <class T>
T* eal_array(const char* what, std::size_t n, int socket) noexcept {
    return static_cast<T*>(rte_zmalloc_socket(what, n * sizeof(T), RTE_CACHE_LINE_SIZE, socket));
}

}  // namespace

// ---------------------------------------------------------------------------
// connection

const char* connection::label(direction d) const noexcept {
    if (client_dir_ >= 0) return static_cast<direction>(client_dir_) == d ? "c2s" : "s2c";
    return d == first_dir_ ? "a2b" : "b2a";
}

void connection::endpoints(direction d, std::string& src, std::uint16_t& sport, std::string& dst,
                           std::uint16_t& dport) const {
    const bool a_sends = d == direction::a2b;
    src = addr_string(a_sends ? key_.addr_a : key_.addr_b, key_.ip_version);
    dst = addr_string(a_sends ? key_.addr_b : key_.addr_a, key_.ip_version);
    sport = a_sends ? key_.port_a : key_.port_b;
    dport = a_sends ? key_.port_b : key_.port_a;
}

// ---------------------------------------------------------------------------
// The worker's state

/// One TCP segment of the burst: parsed, checked and keyed in stage 1.
struct burst_seg {
    rte_mbuf* m = nullptr;
    flow::flow_key key;
    std::uint32_t hash = 0;
    direction dir = direction::a2b;
    std::uint8_t depth = 0;  ///< 1: a datagram rebuilt from fragments (not a frame)
    net::packet_meta meta;
};

struct reassembler::impl {
    tcp_config cfg;
    unsigned worker_index = 0;
    int socket = -1;
    rte_mempool* pool = nullptr;
    std::uint32_t low_water = 0;
    std::unique_ptr<flow::flow_table> table;
    std::unique_ptr<ip::defrag> frag;
    segment_pool segments;
    mbuf::drop_list drops;
    tcp_counters counters;
    outcome_counters outcomes;
    stats::counter_array<net::parse_status> parse_counters;
    stream_env env;
    listener* lsn = nullptr;
    // Per burst (EAL memory, sized from cfg.max_burst):
    burst_seg* segs = nullptr;
    std::uint32_t nsegs = 0;
    const flow::flow_key** keys = nullptr;
    std::uint32_t* hashes = nullptr;
    flow::flow_node** found = nullptr;
    std::uint32_t* uniq = nullptr;  ///< per segment: its key's index among the keys looked up
    connection** touched = nullptr;
    std::uint32_t ntouched = 0;
    event* events = nullptr;
    std::size_t nevents = 0;
    std::size_t events_cap = 0;
    // Worker state:
    std::uint64_t next_id = 0;
    std::uint32_t bad_run = 0;
    std::uint32_t bursts = 0;
    bool checksum_off = false;

    impl(const tcp_config& c, unsigned w, int sock)
        : cfg(c), worker_index(w), socket(sock), segments(c.max_segments, sock) {}
    ~impl() {
        rte_free(segs);
        rte_free(keys);
        rte_free(hashes);
        rte_free(found);
        rte_free(uniq);
        rte_free(touched);
        rte_free(events);
    }

    // ---- stage 1: parse, defragment, check, key ----
    void take_frame(rte_mbuf* m, const port_link& link, std::uint8_t depth) noexcept;
    void take_fragment(rte_mbuf* m, const net::packet_meta& meta, const port_link& link) noexcept;
    bool checksum_ok(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* hdr,
                     std::uint32_t hdr_len, const port_link& link) noexcept;
    void outcome(std::uint8_t depth, packet_outcome o) noexcept {
        if (depth == 0) outcomes.add(o);  // a rebuilt datagram is not a frame
    }
    void drop(const burst_seg& s, packet_outcome o) noexcept {
        outcome(s.depth, o);
        drops.add(s.m);
    }

    // ---- stage 3: the TCP state machine, one segment at a time ----
    void segment_in(burst_seg& s, connection* c, std::uint64_t now_ns) noexcept;
    bool replaces(const connection& c, const burst_seg& s, bool& carried_syn, seq32& carried_isn) const noexcept;
    connection* open(const burst_seg& s, std::uint64_t now_ns) noexcept;
    void on_syn(connection& c, const burst_seg& s) noexcept;
    void on_window(connection& c, const burst_seg& s) noexcept;
    bool beyond_window(const connection& c, const burst_seg& s, seq32 data_seq) const noexcept;
    void on_ack(connection& c, const burst_seg& s) noexcept;
    bool on_rst(connection& c, const burst_seg& s) noexcept;
    void touch(connection& c, conn_state st, std::uint64_t now_ns) noexcept;
    void mark_touched(connection& c) noexcept;

    // ---- stage 4 and the rest ----
    void emit_events() noexcept;
    void push_event(connection* c, event_kind k) noexcept;
    void release(connection* c, end_reason r, tcp_counter why) noexcept;
    void begin_call() noexcept {
        nevents = 0;
        ntouched = 0;
    }
};

// ---------------------------------------------------------------------------
// creation

std::uint64_t reassembler::memory_needed(const tcp_config& cfg) noexcept {
    const std::uint64_t burst = std::max<std::uint32_t>(cfg.max_burst, 1);
    std::uint64_t b = flow::flow_table::memory_needed(cfg.max_flows, sizeof(connection)) +
                      segment_pool::memory_needed(cfg.max_segments) + sizeof(impl) +
                      burst * (sizeof(burst_seg) + sizeof(void*) * 3 + 2 * sizeof(std::uint32_t) +
                               3 * sizeof(event)) +
                      (8U << 10);
    if (cfg.ip_reassembly) b += ip::defrag::memory_needed(cfg.frag_max_datagrams);
    return b;
}

Result<std::unique_ptr<reassembler>> reassembler::create(const tcp_config& cfg, const std::string& name,
                                                        unsigned worker_index, rte_mempool* pool,
                                                        int socket) {
    if (cfg.max_flows < 8) return make_error("[tcp] max_flows: at least 8");
    if (cfg.max_segments < 64) return make_error("[tcp] max_segments: at least 64");
    if (cfg.max_burst == 0) return make_error("reassembler: max_burst must be at least 1");
    const auto need_mib = [&cfg] { return std::to_string(memory_needed(cfg) / (1U << 20) + 1); };
    const auto short_of = [&](const char* what) {
        return make_error("reassembler ", name, ": no EAL memory for ", what, " (one worker with [tcp] max_flows ",
                          std::to_string(cfg.max_flows), " and max_segments ", std::to_string(cfg.max_segments),
                          " needs about ", need_mib(), " MiB): raise [eal] memory_mb or lower them");
    };

    void* mem = rte_zmalloc_socket((name + "_state").c_str(), sizeof(impl), RTE_CACHE_LINE_SIZE, socket);
    if (mem == nullptr) return short_of("its state");
    std::unique_ptr<reassembler> r(new (std::nothrow) reassembler(new (mem) impl(cfg, worker_index, socket)));
    if (!r) {
        static_cast<impl*>(mem)->~impl();
        rte_free(mem);
        return make_error("reassembler ", name, ": out of memory");
    }
    impl& p = *r->p_;
    if (p.segments.capacity() != cfg.max_segments) return short_of("its segment nodes");
    auto table = flow::flow_table::create({name + "_flows", cfg.max_flows, sizeof(connection),
                                           static_cast<std::uint8_t>(conn_state::count_), socket});
    if (!table) return make_error("reassembler ", name, ": ", table.error().message);
    p.table = std::move(table.value());
    if (cfg.ip_reassembly) {
        // Datagrams not completed within two seconds of TSC time are dropped.
        auto d = ip::defrag::create(cfg.frag_max_datagrams, rte_get_tsc_hz() * 2, socket);
        if (!d) return make_error("reassembler ", name, ": ", d.error().message);
        p.frag = std::move(d.value());
    }
    const std::size_t burst = cfg.max_burst;
    p.segs = eal_array<burst_seg>("rxinto_burst", burst, socket);
    p.keys = eal_array<const flow::flow_key*>("rxinto_keys", burst, socket);
    p.hashes = eal_array<std::uint32_t>("rxinto_hashes", burst, socket);
    p.found = eal_array<flow::flow_node*>("rxinto_found", burst, socket);
    p.uniq = eal_array<std::uint32_t>("rxinto_uniq", burst, socket);
    p.touched = eal_array<connection*>("rxinto_touched", burst, socket);
    // At most three events (opened, readable, closed) per connection touched,
    // and at most one connection per segment of a burst.
    p.events_cap = 3 * burst;
    p.events = eal_array<event>("rxinto_events", p.events_cap, socket);
    if (p.segs == nullptr || p.keys == nullptr || p.hashes == nullptr || p.found == nullptr ||
        p.uniq == nullptr || p.touched == nullptr || p.events == nullptr)
        return short_of("its burst state");
    for (std::size_t i = 0; i < burst; ++i) new (&p.segs[i]) burst_seg();
    p.env.pool = &p.segments;
    p.env.drops = &p.drops;
    p.env.counters = &p.counters;
    p.env.limits = cfg.limits;
    p.env.policy = cfg.policy;
    p.pool = pool;
    if (pool != nullptr) p.low_water = cfg.mempool_low_water != 0 ? cfg.mempool_low_water : pool->size / 8;
    return r;
}

reassembler::~reassembler() {
    finish();
    p_->drops.flush();
    p_->frag.reset();  // frees the fragments it still holds
    p_->~impl();
    rte_free(p_);
}

void reassembler::set_listener(listener* l) noexcept { p_->lsn = l; }
std::span<const event> reassembler::events() const noexcept { return {p_->events, p_->nevents}; }
void reassembler::count_outcome(packet_outcome o, std::uint64_t n) noexcept { p_->outcomes.add(o, n); }
void reassembler::flush() noexcept { p_->drops.flush(); }
const tcp_counters& reassembler::counters() const noexcept { return p_->counters; }
const stats::counter_array<net::parse_status>& reassembler::parse_counters() const noexcept {
    return p_->parse_counters;
}
const outcome_counters& reassembler::outcomes() const noexcept { return p_->outcomes; }
std::uint32_t reassembler::active_flows() const noexcept { return p_->table->size(); }
std::size_t reassembler::segments_in_use() const noexcept { return p_->segments.used(); }
bool reassembler::checksum_auto_disabled() const noexcept { return p_->checksum_off; }
const ip::defrag* reassembler::fragments() const noexcept { return p_->frag.get(); }

// ---------------------------------------------------------------------------
// process_burst

void reassembler::process_burst(rte_mbuf** pkts, std::uint16_t n, const port_link& link,
                                std::uint64_t now_ns) noexcept {
    impl& p = *p_;
    p.begin_call();
    p.env.now_ns = now_ns;
    // Below the low-water mark, streams release what they hold past holes
    // (declaring the holes gaps) so that the port does not run out of mbufs.
    // rte_mempool_avail_count walks every lcore's cache: once per 16 bursts
    // is often enough for a low-water mark.
    if (p.pool != nullptr && (++p.bursts & 15U) == 0)
        p.env.pool_pressure = rte_mempool_avail_count(p.pool) < p.low_water;

    for (std::uint16_t base = 0; base < n; base = static_cast<std::uint16_t>(base + std::min<std::uint32_t>(n - base, p.cfg.max_burst))) {
        const auto k = static_cast<std::uint16_t>(std::min<std::uint32_t>(n - base, p.cfg.max_burst));
        rte_mbuf** chunk = pkts + base;
        // Stage 1: parse and key every frame; headers with TCP options end past
        // the first cache line, so both lines of the frames ahead are fetched.
        p.nsegs = 0;
        for (std::uint16_t i = 0; i < k && i < 2; ++i) {
            rte_prefetch0(rte_pktmbuf_mtod(chunk[i], char*));
            rte_prefetch0(rte_pktmbuf_mtod(chunk[i], char*) + RTE_CACHE_LINE_SIZE);
        }
        // The payload is read here (checksums) or by recv_into, from memory a
        // NIC's DMA (or the generator) wrote: the next frame's lines are
        // requested while this one is parsed and summed, so its misses overlap.
        // All of it when it is summed here; without checksums only a small
        // frame's (up to 256 bytes): more prefetches in flight than the core
        // has line-fill buffers stall this loop, and a large payload streams
        // well enough through recv_into's copy (bench_tcp: 128-byte segments
        // ~12% fewer cycles, 1448-byte ones unchanged; with checksums ~15%).
        const std::uint32_t ahead =
            p.cfg.checksum != checksum_mode::ignore && !p.checksum_off && link.verify_checksums ? 2048 : 256;
        for (std::uint16_t i = 0; i < k; ++i) {
            if (i + 2 < k) {
                rte_prefetch0(rte_pktmbuf_mtod(chunk[i + 2], char*));
                rte_prefetch0(rte_pktmbuf_mtod(chunk[i + 2], char*) + RTE_CACHE_LINE_SIZE);
            }
            if (i + 1 < k) {
                const char* f = rte_pktmbuf_mtod(chunk[i + 1], const char*);
                const std::uint32_t len = std::min<std::uint32_t>(rte_pktmbuf_data_len(chunk[i + 1]), ahead);
                for (std::uint32_t off = 2 * RTE_CACHE_LINE_SIZE; off < len; off += RTE_CACHE_LINE_SIZE)
                    rte_prefetch0(f + off);
            }
            p.take_frame(chunk[i], link, 0);
        }
        // Stage 2: one bulk lookup for the chunk; the connections found are
        // prefetched (the table fetches their first two lines, here the rest
        // of both streams' hot lines).
        // A run of packets of one connection (a bulk transfer, a burst of
        // ACKs) is looked up once: only keys that differ from the previous
        // packet's go to the table, in `uniq` order.
        std::uint32_t nuniq = 0;
        for (std::uint32_t i = 0; i < p.nsegs; ++i) {
            const burst_seg& x = p.segs[i];
            if (i == 0 || x.hash != p.segs[i - 1].hash || !(x.key == p.segs[i - 1].key)) {
                p.keys[nuniq] = &x.key;
                p.hashes[nuniq] = x.hash;
                ++nuniq;
            }
            p.uniq[i] = nuniq - 1;
        }
        p.table->lookup_bulk(p.keys, p.hashes, nuniq, p.found);
        for (std::uint32_t i = p.nsegs; i-- > 0;) p.found[i] = p.found[p.uniq[i]];
        for (std::uint32_t i = 0; i < p.nsegs; ++i) {
            if (p.found[i] == nullptr) continue;
            const auto* c = static_cast<const connection*>(p.found[i]);
            rte_prefetch0(reinterpret_cast<const char*>(&c->dir_[0]) + RTE_CACHE_LINE_SIZE);
            rte_prefetch0(&c->dir_[1]);
            rte_prefetch0(reinterpret_cast<const char*>(&c->dir_[1]) + RTE_CACHE_LINE_SIZE);
        }
        // Stage 3: the state machine, in arrival order. A connection released
        // meanwhile (evicted, tuple reused) makes the bulk results stale: then
        // the key is looked up again.
        const std::uint64_t gen = p.table->generation();
        for (std::uint32_t i = 0; i < p.nsegs; ++i) {
            burst_seg& s = p.segs[i];
            flow::flow_node* f = p.table->generation() == gen ? p.found[i] : p.table->lookup(s.key, s.hash);
            p.segment_in(s, static_cast<connection*>(f), now_ns);
        }
        // Stage 4: one look at each connection the burst touched.
        p.emit_events();
    }
    if (p.frag) p.frag->flush();
    p.drops.flush();
}

void reassembler::impl::take_frame(rte_mbuf* m, const port_link& link, std::uint8_t depth) noexcept {
    alignas(8) std::uint8_t scratch[header_window];
    const std::uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
    const bool chained = m->nb_segs > 1;
    const auto [data, avail] = mbuf::frame_headers(m, scratch, header_window);
    burst_seg& s = segs[nsegs];
    s.m = m;
    s.depth = depth;
    net::packet_meta& meta = s.meta;
    // A replayed capture may hold frames cut by its snaplen: their IP length is
    // longer than the frame, and the missing tail becomes a gap, not a drop.
    const std::uint32_t wire = link.may_be_cut ? UINT32_MAX : (chained ? pkt_len : avail);
    const net::parse_status st = net::parse_frame(data, avail, wire, link.link, meta);
    if (st == net::parse_status::ip_fragment && depth == 0 && frag) {
        take_fragment(m, meta, link);
        return;
    }
    parse_counters.add(st);
    if (st != net::parse_status::ok || data == nullptr) {
        drop(s, packet_outcome::parse_refused);
        return;
    }
    // A malformed option does not cost the segment (Linux uses it too): count it.
    if (meta.opts.ignored != 0) counters.add(tcp_counter::tcp_options_ignored);
    if (chained) {
        // Only the header window was parsed: the payload runs to the end of the chain.
        const std::uint32_t in_chain = pkt_len > meta.payload_offset ? pkt_len - meta.payload_offset : 0;
        meta.payload_len = std::min(meta.payload_wire_len, in_chain);
        meta.snap_truncated = meta.payload_len < meta.payload_wire_len;
    }
    if (!checksum_ok(m, meta, data, avail, link)) {
        drop(s, packet_outcome::checksum_bad);
        return;
    }
    if (cfg.dispatch_workers > 1 && flow::dispatch_hash(meta) % cfg.dispatch_workers != worker_index)
        counters.add(tcp_counter::wrong_worker);
    const flow::keyed_packet kp = flow::key_of(meta);
    s.key = kp.key;
    s.dir = kp.dir;
    s.hash = flow::key_hash(s.key);
    ++nsegs;
}

void reassembler::impl::take_fragment(rte_mbuf* m, const net::packet_meta& meta, const port_link& link) noexcept {
    counters.add(tcp_counter::ip_fragments);
    const bool verify = cfg.checksum != checksum_mode::ignore && !checksum_off && link.verify_checksums;
    rte_mbuf* whole = nullptr;
    switch (frag->take(m, meta, verify, drops, whole)) {
    case ip::take_status::refused:
        parse_counters.add(net::parse_status::ip_fragment);
        outcome(0, packet_outcome::fragment_refused);
        return;
    case ip::take_status::checksum_bad:
        counters.add(tcp_counter::ip_checksum_bad);
        counters.add(tcp_counter::checksum_bad);
        outcome(0, packet_outcome::checksum_bad);
        return;
    case ip::take_status::held:
        outcome(0, packet_outcome::fragment);  // one outcome per frame: taken
        return;
    case ip::take_status::whole:
        outcome(0, packet_outcome::fragment);
        counters.add(tcp_counter::ip_reassembled);
        take_frame(whole, link, 1);
        return;
    }
}

bool reassembler::impl::checksum_ok(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* hdr,
                                    std::uint32_t hdr_len, const port_link& link) noexcept {
    if (cfg.checksum == checksum_mode::ignore || checksum_off || !link.verify_checksums || meta.snap_truncated)
        return true;
    const std::uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    const std::uint64_t l3 = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    bool good = true;
    bool offloaded = false;
    if (meta.ip_version == 4 && l3 != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
        !net::ipv4_header_checksum_ok(meta, hdr, hdr_len)) {
        counters.add(tcp_counter::ip_checksum_bad);
        good = false;
    }
    if (good && l4 != RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
        if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
            good = false;
        } else if (m->nb_segs == 1) {
            good = net::tcp_checksum_ok(meta, hdr, hdr_len);
        } else {
            std::uint16_t part = 0;
            if (!chain_sum(m, meta.l4_offset, meta.l4_len, part)) return true;
            std::uint32_t sum = std::uint32_t{part} + net::tcp_pseudo_header_sum(meta);
            sum = (sum & 0xffff) + (sum >> 16);
            sum = (sum & 0xffff) + (sum >> 16);
            good = sum == 0xffff;
        }
        // A capture on the sending host shows what the sender left for its NIC.
        if (!good && cfg.checksum == checksum_mode::automatic)
            offloaded = net::tcp_checksum_offload_mark(meta, hdr, hdr_len);
    }
    if (good) {
        bad_run = 0;
        return true;
    }
    if (offloaded) {
        counters.add(tcp_counter::checksum_offloaded);
        return true;
    }
    if (cfg.checksum == checksum_mode::automatic && ++bad_run >= cfg.checksum_auto_run) {
        // A long run of bad checksums and no good one: the capture was most
        // likely taken where the NIC computes them. Stop checking (said in stats).
        checksum_off = true;
        return true;
    }
    counters.add(tcp_counter::checksum_bad);
    return false;
}

// ---------------------------------------------------------------------------
// Stage 3: the TCP state machine

void reassembler::impl::mark_touched(connection& c) noexcept {
    if (c.touched_ || ntouched >= cfg.max_burst) return;
    c.touched_ = true;
    touched[ntouched++] = &c;
}

void reassembler::impl::touch(connection& c, conn_state st, std::uint64_t now_ns) noexcept {
    c.state_ = st;
    table->touch(&c, static_cast<std::uint8_t>(st), now_ns);  // its own line only (lazy LRU)
}

// Tuple reuse (RFC 9293 §3.10.7.3): does this SYN start a new connection in
// place of c?
bool reassembler::impl::replaces(const connection& c, const burst_seg& s, bool& carried_syn,
                                 seq32& carried_isn) const noexcept {
    const std::size_t d = index_of(s.dir);
    const std::size_t o = 1 - d;
    if (!s.meta.has_flag(net::tcp_flag::ack)) {
        // A SYN with a new ISN, or after the old connection closed.
        const bool same_isn = c.syn_seen_[d] && c.isn_[d] == s.meta.seq;
        const bool new_isn = c.syn_seen_[d] && !same_isn;
        const bool after_close = (c.state_ == conn_state::closing || c.state_ == conn_state::closed) && !same_isn;
        return new_isn || after_close;
    }
    // A SYN-ACK after a RST closed the connection before any data: the
    // endpoints carry on with a handshake, so a new connection starts (the
    // peer's SYN, if seen, is carried over).
    const stream& a = c.dir_[0];
    const stream& b = c.dir_[1];
    if (a.ended() == end_reason::rst && b.ended() == end_reason::rst && a.delivered() == 0 &&
        b.delivered() == 0 && a.held_bytes() == 0 && b.held_bytes() == 0) {
        carried_syn = c.syn_seen_[o];
        carried_isn = c.isn_[o];
        return true;
    }
    return false;
}

// A connection for a segment of an unknown tuple: a SYN, or a mid-stream
// pickup. Full: the least recently active connection goes, closed ones first.
connection* reassembler::impl::open(const burst_seg& s, std::uint64_t now_ns) noexcept {
    if (table->full()) {
        for (auto st : {conn_state::closed, conn_state::closing, conn_state::syn_seen, conn_state::established}) {
            if (flow::flow_node* v = table->oldest(static_cast<std::uint8_t>(st)); v != nullptr) {
                release(static_cast<connection*>(v), end_reason::evicted, tcp_counter::flows_evicted);
                break;
            }
        }
    }
    void* slot = table->acquire(s.key, s.hash);
    if (slot == nullptr) return nullptr;
    auto* c = new (slot) connection();
    c->key_ = s.key;
    c->id_ = (std::uint64_t{worker_index} << 40) | next_id++;
    c->first_dir_ = s.dir;
    c->first_ns_ = now_ns;
    c->opened_ = true;
    for (stream& x : c->dir_) stream_rx(x).attach(env);
    counters.add(tcp_counter::flows_created);
    touch(*c, conn_state::syn_seen, now_ns);
    return c;
}

void reassembler::impl::on_syn(connection& c, const burst_seg& s) noexcept {
    const std::size_t d = index_of(s.dir);
    stream_rx rx(c.dir_[d]);
    if (c.client_dir_ < 0)
        c.client_dir_ = static_cast<std::int8_t>(s.meta.has_flag(net::tcp_flag::ack) ? 1 - d : d);
    c.syn_seen_[d] = true;
    c.isn_[d] = s.meta.seq;
    if (s.meta.opts.has_wscale) {
        c.wscale_[d] = s.meta.opts.wscale;
        c.wscale_ok_[d] = true;
    }
    c.window_[d] = s.meta.window;  // RFC 7323 §2.2: never scaled in a SYN
    if (!c.dir_[d].anchored()) rx.anchor(s.meta.seq + 1, false);
    else if (c.dir_[d].midstream() && !rx.reanchor(s.meta.seq + 1)) counters.add(tcp_counter::late_syn);
}

void reassembler::impl::on_window(connection& c, const burst_seg& s) noexcept {
    // RFC 7323 §2.2: the window is scaled only when both SYNs carried the option.
    const std::size_t d = index_of(s.dir);
    const std::uint8_t shift = c.wscale_ok_[0] && c.wscale_ok_[1] ? c.wscale_[d] : 0;
    c.window_[d] = std::uint32_t{s.meta.window} << shift;
}

// RFC 9293 §3.10.7.4: data beyond the receiver's window is not accepted by it,
// so it is not part of the stream. Checked only when both SYNs were seen (the
// window scale is known), with a generous margin for ACKs and window updates
// that the capture shows late.
bool reassembler::impl::beyond_window(const connection& c, const burst_seg& s, seq32 data_seq) const noexcept {
    const std::size_t o = 1 - index_of(s.dir);
    if (s.meta.payload_len == 0 || !c.syn_seen_[0] || !c.syn_seen_[1] || !c.ack_known_[o]) return false;
    const std::int32_t ahead = data_seq - c.last_ack_[o];
    const std::uint64_t wnd = c.window_[o];
    return ahead > 0 && static_cast<std::uint64_t>(ahead) > wnd + std::max<std::uint64_t>(wnd, 65536);
}

void reassembler::impl::on_ack(connection& c, const burst_seg& s) noexcept {
    const std::size_t d = index_of(s.dir);
    c.ack_known_[d] = true;
    c.last_ack_[d] = s.meta.ack;
    stream& peer = c.dir_[1 - d];
    if (peer.anchored()) stream_rx(peer).on_peer_ack(s.meta.ack);
}

// RFC 5961 §3: only a RST inside the window ends the connection; a RST from an
// endpoint whose sequence numbers were never seen cannot be checked, and is
// not taken (a forged RST must not end the capture's view of a connection
// that goes on). True when it ended the connection.
bool reassembler::impl::on_rst(connection& c, const burst_seg& s) noexcept {
    const std::size_t d = index_of(s.dir);
    stream_rx rx(c.dir_[d]);
    if (c.dir_[d].anchored() && rx.in_window(s.meta.seq, c.window_[1 - d])) {
        rx.end(end_reason::rst);
        stream_rx(c.dir_[1 - d]).end(end_reason::rst);
        return true;
    }
    counters.add(tcp_counter::rst_ignored);
    return false;
}

void reassembler::impl::segment_in(burst_seg& s, connection* c, std::uint64_t now_ns) noexcept {
    const net::packet_meta& meta = s.meta;
    const bool syn = meta.has_flag(net::tcp_flag::syn);
    const bool fin = meta.has_flag(net::tcp_flag::fin);
    const bool rst = meta.has_flag(net::tcp_flag::rst);
    const std::size_t d = index_of(s.dir);

    bool carried_syn = false;
    seq32 carried_isn{};
    if (c != nullptr && syn && !rst && replaces(*c, s, carried_syn, carried_isn)) {
        release(c, end_reason::evicted, tcp_counter::flows_reused);
        c = nullptr;
    }
    if (c == nullptr) {
        if (rst || (!syn && !cfg.midstream) || (c = open(s, now_ns)) == nullptr) {
            counters.add(tcp_counter::no_handshake);
            drop(s, packet_outcome::no_handshake);
            return;
        }
        if (!syn) {
            c->midstream_ = true;
            counters.add(tcp_counter::midstream_pickups);
        }
        if (carried_syn) {
            c->syn_seen_[1 - d] = true;
            c->isn_[1 - d] = carried_isn;
            c->client_dir_ = static_cast<std::int8_t>(1 - d);
            stream_rx(c->dir_[1 - d]).anchor(carried_isn + 1, false);
        }
    }
    mark_touched(*c);
    ++c->packets_[d];

    stream& own = c->dir_[d];
    stream& peer = c->dir_[1 - d];
    stream_rx rx(own);
    conn_state state = c->state_;
    // RFC 9293 §3.10.7.3: while the peer's SYN is unanswered, a segment from
    // this side without SYN or data is not acceptable: it neither anchors the
    // stream nor ends it with its FIN or RST (forged RST/FIN before the SYN-ACK).
    const bool unsynced = !syn && meta.payload_wire_len == 0 && c->syn_seen_[1 - d] && !c->syn_seen_[d] &&
                          !own.anchored();
    if (syn) {
        on_syn(*c, s);
    } else {
        // A RST alone does not anchor a stream: its sequence number cannot be
        // checked against anything (see on_rst).
        if (!own.anchored() && !rst && !unsynced) rx.anchor(meta.seq, true);
        if (state == conn_state::syn_seen) state = conn_state::established;
        on_window(*c, s);
    }

    const seq32 data_seq = meta.seq + (syn ? 1U : 0U);
    if (beyond_window(*c, s, data_seq)) {
        counters.add(tcp_counter::out_of_window);
        drop(s, packet_outcome::out_of_window);
        touch(*c, state, now_ns);
        return;
    }
    outcome(s.depth, packet_outcome::accepted);
    if (meta.payload_len != 0) rx.insert(data_seq, meta.payload_len, s.m, meta.payload_offset);  // the stream's now
    else drops.add(s.m);
    if (meta.snap_truncated)  // the rest was on the wire: a gap, reported out of band
        rx.declare_missing(data_seq + meta.payload_len, meta.payload_wire_len - meta.payload_len);
    if (meta.has_flag(net::tcp_flag::ack)) on_ack(*c, s);
    if (fin && !unsynced) {
        rx.on_fin(data_seq + meta.payload_wire_len);
        if (state != conn_state::closed) state = conn_state::closing;
    }
    if (rst && on_rst(*c, s)) state = conn_state::closed;
    rx.tick();
    stream_rx(peer).tick();
    if (own.ended() != end_reason::none && peer.ended() != end_reason::none) state = conn_state::closed;
    touch(*c, state, now_ns);
}

// ---------------------------------------------------------------------------
// Stage 4: events, once per connection touched

void reassembler::impl::push_event(connection* c, event_kind k) noexcept {
    if (nevents < events_cap) events[nevents++] = event{c, k};
    else counters.add(tcp_counter::events_dropped);
}

void reassembler::impl::emit_events() noexcept {
    for (std::uint32_t i = 0; i < ntouched; ++i) {
        connection* c = touched[i];
        if (c == nullptr) continue;  // released during the burst
        c->touched_ = false;
        if (c->opened_) {
            c->opened_ = false;
            push_event(c, event_kind::opened);
            if (lsn != nullptr) lsn->on_open(*c);
        }
        const stream& a = c->dir_[0];
        const stream& b = c->dir_[1];
        if (a.readable() != 0 || b.readable() != 0 || !a.poll().would_block() || !b.poll().would_block()) {
            push_event(c, event_kind::readable);
            if (lsn != nullptr) lsn->on_readable(*c);
        }
        if (!c->closed_reported_ && a.ended() != end_reason::none && b.ended() != end_reason::none) {
            c->closed_reported_ = true;
            push_event(c, event_kind::closed);
            if (lsn != nullptr) lsn->on_closed(*c);
        }
    }
    ntouched = 0;
}

// ---------------------------------------------------------------------------
// release, expire, finish

void reassembler::impl::release(connection* c, end_reason r, tcp_counter why) noexcept {
    for (stream& x : c->dir_) stream_rx(x).end(r);
    counters.add(why);
    if (c->opened_) {
        // Made and released within one burst (evicted or replaced by a later
        // packet): the listener still hears of it in order, open then release.
        c->opened_ = false;
        if (lsn != nullptr) lsn->on_open(*c);
    }
    if (lsn != nullptr) lsn->on_release(*c);
    for (stream& x : c->dir_) stream_rx(x).release();
    if (c->touched_) {
        // Off this burst's touched list: its memory is about to be reused.
        for (std::uint32_t i = 0; i < ntouched; ++i)
            if (touched[i] == c) touched[i] = nullptr;
    }
    table->unlink(c);
    const flow::flow_key key = c->key_;
    c->~connection();
    table->release(c, key, flow::key_hash(key));  // released once per connection: not worth a field
}

void reassembler::expire(std::uint64_t now_ns, std::uint32_t budget) noexcept {
    impl& p = *p_;
    p.begin_call();
    p.env.now_ns = std::max(p.env.now_ns, now_ns);
    const std::uint64_t timeout[] = {p.cfg.timeout_syn_ns, p.cfg.timeout_established_ns,
                                     p.cfg.timeout_closing_ns, p.cfg.timeout_closed_ns};
    for (std::uint8_t s = 0; s < static_cast<std::uint8_t>(conn_state::count_); ++s) {
        flow::flow_node* v = nullptr;
        while (budget != 0 && (v = p.table->oldest(s)) != nullptr && now_ns > v->last_ns + timeout[s]) {
            p.release(static_cast<connection*>(v), end_reason::timeout,
                      s == static_cast<std::uint8_t>(conn_state::closed) ? tcp_counter::flows_closed
                                                                          : tcp_counter::flows_timed_out);
            --budget;
        }
    }
    // Datagrams whose fragments stopped coming go too (their TTL is TSC time).
    if (p.frag) p.frag->expire(rte_rdtsc());
    p.drops.flush();
}

void reassembler::finish() noexcept {
    impl& p = *p_;
    p.begin_call();
    for (std::uint8_t s = 0; s < static_cast<std::uint8_t>(conn_state::count_); ++s)
        while (flow::flow_node* v = p.table->oldest(s, 0))
            p.release(static_cast<connection*>(v), end_reason::eof, tcp_counter::flows_closed);
    // End of input: incomplete datagrams can never complete.
    if (p.frag) p.frag->finish();
    p.drops.flush();
}

}  // namespace rxinto::tcp
