#include "rxinto/tcp/reassembler.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <new>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace rxinto::tcp {

namespace {

constexpr std::size_t max_events = 4096;
constexpr std::uint32_t header_window = 256;  // bytes of headers read from a chained packet

std::uint32_t key_hash(const flow::flow_key& k) noexcept {
    return rte_hash_crc(&k, sizeof k, 0);
}

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

}  // namespace

const char* connection::label(int d) const noexcept {
    if (client_dir >= 0) return d == client_dir ? "c2s" : "s2c";
    return d == first_dir ? "a2b" : "b2a";
}

void connection::endpoints(int d, std::string& src, std::uint16_t& sport, std::string& dst,
                           std::uint16_t& dport) const {
    const bool a_sends = d == 0;
    src = addr_string(a_sends ? key.addr_a : key.addr_b, key.ip_version);
    dst = addr_string(a_sends ? key.addr_b : key.addr_a, key.ip_version);
    sport = a_sends ? key.port_a : key.port_b;
    dport = a_sends ? key.port_b : key.port_a;
}

reassembler::reassembler(const tcp_config& cfg, unsigned worker_index)
    : cfg_(cfg), worker_index_(worker_index), conns_(cfg.max_flows), segments_(cfg.max_segments),
      events_(max_events) {
    for (std::size_t i = 0; i < conns_.size(); ++i)
        conns_[i].lru_next = i + 1 < conns_.size() ? &conns_[i + 1] : nullptr;
    free_conns_ = conns_.empty() ? nullptr : &conns_[0];
    env_.pool = &segments_;
    env_.drops = &drops_;
    env_.counters = &counters_;
    env_.limits = cfg.limits;
    env_.policy = cfg.policy;
}

Result<std::unique_ptr<reassembler>> reassembler::create(const tcp_config& cfg,
                                                        const std::string& name,
                                                        unsigned worker_index, rte_mempool* pool,
                                                        int socket) {
    if (cfg.max_flows < 8) return make_error("[tcp] max_flows: at least 8");
    if (cfg.max_segments < 64) return make_error("[tcp] max_segments: at least 64");
    std::unique_ptr<reassembler> r(new (std::nothrow) reassembler(cfg, worker_index));
    if (!r) return make_error("reassembler ", name, ": out of memory");

    rte_hash_parameters hp{};
    const std::string hname = name + "_flows";
    hp.name = hname.c_str();
    hp.entries = cfg.max_flows;
    hp.key_len = sizeof(flow::flow_key);
    hp.hash_func = rte_hash_crc;
    hp.hash_func_init_val = 0;
    hp.socket_id = socket;
    // Extendable buckets: the table holds max_flows keys whatever their hashes.
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    r->table_ = rte_hash_create(&hp);
    if (r->table_ == nullptr)
        return make_error("flow table of ", std::to_string(cfg.max_flows), " entries: ",
                          rte_strerror(rte_errno), "; lower [tcp] max_flows or raise [eal] memory_mb");

    if (cfg.ip_reassembly) {
        const std::uint32_t entries = std::max<std::uint32_t>(cfg.frag_max_datagrams, 16);
        const std::uint32_t bucket_entries = 16;
        std::uint32_t buckets = 1;
        while (buckets * bucket_entries < entries) buckets <<= 1;
        // Datagrams not completed within two seconds of TSC time are dropped.
        r->frag_ = rte_ip_frag_table_create(buckets, bucket_entries, entries,
                                            rte_get_tsc_hz() * 2, socket);
        if (r->frag_ == nullptr)
            return make_error("IP fragment table: ", rte_strerror(rte_errno),
                              "; lower [tcp] frag_max_datagrams or set ip_reassembly = no");
        r->frag_death_row_ = new (std::nothrow) rte_ip_frag_death_row{};
        if (r->frag_death_row_ == nullptr) return make_error("IP fragment table: out of memory");
    }
    r->pool_ = pool;
    if (pool != nullptr)
        r->low_water_ = cfg.mempool_low_water != 0 ? cfg.mempool_low_water : pool->size / 8;
    return r;
}

reassembler::~reassembler() {
    finish();
    drops_.flush();
    if (frag_ != nullptr) {
        auto* dr = static_cast<rte_ip_frag_death_row*>(frag_death_row_);
        rte_ip_frag_free_death_row(dr, 0);
        rte_ip_frag_table_destroy(frag_);
    }
    delete static_cast<rte_ip_frag_death_row*>(frag_death_row_);
    if (table_ != nullptr) rte_hash_free(table_);
}

void reassembler::begin_call() noexcept {
    for (std::size_t i = 0; i < nevents_; ++i)
        if (events_[i].conn != nullptr) events_[i].conn->readable_pending = false;
    nevents_ = 0;
}

void reassembler::push_event(connection* c, event_kind k) noexcept {
    if (nevents_ < events_.size()) events_[nevents_++] = event{c, k};
}

void reassembler::process_burst(rte_mbuf** pkts, std::uint16_t n, const port_link& link,
                                std::uint64_t now_ns) noexcept {
    begin_call();
    // Below the low-water mark, streams release what they hold past holes
    // (declaring the holes gaps) so that the port does not run out of mbufs.
    // rte_mempool_avail_count walks every lcore's cache: once per 16 bursts
    // is often enough for a low-water mark.
    if (pool_ != nullptr && (++bursts_ & 15U) == 0)
        env_.pool_pressure = rte_mempool_avail_count(pool_) < low_water_;
    // Headers with TCP options end past the first cache line: fetch both lines
    // of the packets ahead while this one is processed.
    for (std::uint16_t i = 0; i < n && i < 2; ++i) {
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], char*));
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], char*) + RTE_CACHE_LINE_SIZE);
    }
    for (std::uint16_t i = 0; i < n; ++i) {
        if (i + 2 < n) {
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], char*));
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], char*) + RTE_CACHE_LINE_SIZE);
        }
        process_one(pkts[i], link, now_ns, 0);
    }
    if (frag_ != nullptr) rte_ip_frag_free_death_row(static_cast<rte_ip_frag_death_row*>(frag_death_row_), 0);
    drops_.flush();
}

void reassembler::process_one(rte_mbuf* m, const port_link& link, std::uint64_t now_ns,
                              int depth) noexcept {
    alignas(8) std::uint8_t scratch[header_window];
    const std::uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
    const bool chained = m->nb_segs > 1;
    const std::uint8_t* data = nullptr;
    std::uint32_t avail = 0;
    if (!chained) {
        data = rte_pktmbuf_mtod(m, const std::uint8_t*);
        avail = m->data_len;
    } else {
        // Headers may straddle segments: read them into scratch (rte_pktmbuf_read
        // returns a pointer into the mbuf when they do not).
        avail = std::min(pkt_len, header_window);
        data = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, avail, scratch));
    }
    // A replayed capture may hold frames cut by its snaplen: their IP length is
    // longer than the frame, and the missing tail becomes a gap, not a drop.
    const std::uint32_t wire = link.may_be_cut ? UINT32_MAX : (chained ? pkt_len : avail);
    net::packet_meta meta;
    const net::parse_status st = net::parse_frame(data, avail, wire, link.link, meta);
    if (st == net::parse_status::ip_fragment && depth == 0 && frag_ != nullptr) {
        handle_fragment(m, meta, link, now_ns, depth);
        return;
    }
    parse_counters_.add(st);
    if (st != net::parse_status::ok || data == nullptr) {
        outcome(depth, packet_outcome::parse_refused);
        drops_.add(m);
        return;
    }
    if (chained) {
        // Only the header window was parsed: the payload runs to the end of the chain.
        const std::uint32_t in_chain = pkt_len > meta.payload_offset ? pkt_len - meta.payload_offset : 0;
        meta.payload_len = std::min(meta.payload_wire_len, in_chain);
        meta.snap_truncated = meta.payload_len < meta.payload_wire_len;
    }
    handle_tcp(m, meta, data, avail, link, now_ns, depth);
}

void reassembler::handle_fragment(rte_mbuf* m, const net::packet_meta& meta,
                                  const port_link& link, std::uint64_t now_ns, int depth) noexcept {
    counters_.add(tcp_counter::ip_fragments);
    auto* dr = static_cast<rte_ip_frag_death_row*>(frag_death_row_);
    // rte_ip_frag wants the IP header contiguous in the first segment and no
    // link-layer trailer after the datagram (it would be spliced into the data).
    if (m->nb_segs > 1 || meta.l3_offset + meta.l3_header_len > m->data_len ||
        meta.snap_truncated || meta.l3_offset + meta.l3_len > m->data_len) {
        parse_counters_.add(net::parse_status::ip_fragment);
        outcome(depth, packet_outcome::fragment_refused);
        drops_.add(m);
        return;
    }
    const std::uint32_t keep = meta.l3_offset + meta.l3_len;
    if (m->data_len > keep) rte_pktmbuf_trim(m, static_cast<std::uint16_t>(m->data_len - keep));
    if (meta.l3_offset > 0x7f) {  // l2_len is a 7-bit field
        parse_counters_.add(net::parse_status::ip_fragment);
        outcome(depth, packet_outcome::fragment_refused);
        drops_.add(m);
        return;
    }
    m->l2_len = meta.l3_offset & 0x7fU;
    // DPDK puts what it drops on the death row without bounds checks, up to
    // RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1 mbufs per call; the row is sized for
    // bursts of RTE_IP_FRAG_DEATH_ROW_LEN packets and ours can be longer.
    if (dr->cnt > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN - (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1))
        rte_ip_frag_free_death_row(dr, 0);
    rte_mbuf* whole = nullptr;
    const std::uint64_t tsc = rte_rdtsc();
    if (meta.ip_version == 4) {
        // Each fragment's header is checked here: the rebuilt one is not the wire's.
        if (cfg_.checksum != checksum_mode::ignore && !checksum_off_ && link.verify_checksums &&
            (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
            !net::ipv4_header_checksum_ok(meta, rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len)) {
            counters_.add(tcp_counter::ip_checksum_bad);
            counters_.add(tcp_counter::checksum_bad);
            outcome(depth, packet_outcome::checksum_bad);
            drops_.add(m);
            return;
        }
        outcome(depth, packet_outcome::fragment);  // one outcome per frame: taken
        m->l3_len = meta.l3_header_len & 0x1ffU;  // IHL * 4 <= 60
        auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, meta.l3_offset);
        whole = rte_ipv4_frag_reassemble_packet(frag_, dr, m, tsc, ip);
        if (whole != nullptr) {
            // DPDK zeroes the rebuilt header's checksum: write the right one, or
            // checksum_ok() takes every reassembled IPv4 datagram for bad.
            auto* wip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, whole->l2_len);
            wip->hdr_checksum = 0;
            wip->hdr_checksum = rte_ipv4_cksum(wip);
        }
    } else {
        // DPDK handles a Fragment header right after the fixed IPv6 header only.
        if (meta.ipv6_ext_count != 1) {
            parse_counters_.add(net::parse_status::ip_fragment);
            outcome(depth, packet_outcome::fragment_refused);
            drops_.add(m);
            return;
        }
        outcome(depth, packet_outcome::fragment);  // one outcome per frame: taken
        m->l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext);
        auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, meta.l3_offset);
        auto* fh = reinterpret_cast<rte_ipv6_fragment_ext*>(ip + 1);
        whole = rte_ipv6_frag_reassemble_packet(frag_, dr, m, tsc, ip, fh);
    }
    if (whole == nullptr) return;  // held until the datagram is complete (or dropped by DPDK)
    // The NIC's L4 verdict, if any, was on the first fragment, not the segment.
    whole->ol_flags &= ~RTE_MBUF_F_RX_L4_CKSUM_MASK;
    counters_.add(tcp_counter::ip_reassembled);
    process_one(whole, link, now_ns, depth + 1);
}

bool reassembler::checksum_ok(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* hdr,
                              std::uint32_t hdr_len, const port_link& link) noexcept {
    if (cfg_.checksum == checksum_mode::ignore || checksum_off_ || !link.verify_checksums ||
        meta.snap_truncated)
        return true;
    const std::uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    const std::uint64_t l3 = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    bool good = true;
    bool offloaded = false;
    if (meta.ip_version == 4 && l3 != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
        !net::ipv4_header_checksum_ok(meta, hdr, hdr_len)) {
        counters_.add(tcp_counter::ip_checksum_bad);
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
        if (!good && cfg_.checksum == checksum_mode::automatic)
            offloaded = net::tcp_checksum_offload_mark(meta, hdr, hdr_len);
    }
    if (good) {
        bad_run_ = 0;
        return true;
    }
    if (offloaded) {
        counters_.add(tcp_counter::checksum_offloaded);
        return true;
    }
    if (cfg_.checksum == checksum_mode::automatic && ++bad_run_ >= cfg_.checksum_auto_run) {
        // A long run of bad checksums and no good one: the capture was most
        // likely taken where the NIC computes them. Stop checking (said in stats).
        checksum_off_ = true;
        return true;
    }
    counters_.add(tcp_counter::checksum_bad);
    return false;
}

connection* reassembler::lookup(const flow::flow_key& k, std::uint32_t hash) noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_with_hash_data(table_, &k, hash, &data) < 0) return nullptr;
    return static_cast<connection*>(data);
}

void reassembler::lru_unlink(connection* c) noexcept {
    // state count_: being created, on no list yet (and count_ would index past
    // lru_head_/lru_tail_).
    if (c->state == conn_state::count_) return;
    const auto s = static_cast<int>(c->state);
    if (c->lru_prev != nullptr) c->lru_prev->lru_next = c->lru_next;
    else if (lru_head_[s] == c) lru_head_[s] = c->lru_next;
    if (c->lru_next != nullptr) c->lru_next->lru_prev = c->lru_prev;
    else if (lru_tail_[s] == c) lru_tail_[s] = c->lru_prev;
    c->lru_prev = c->lru_next = nullptr;
}

void reassembler::touch(connection* c, conn_state s, std::uint64_t now_ns) noexcept {
    c->last_ns = std::max(c->last_ns, now_ns);
    if (c->state == s && lru_tail_[static_cast<int>(s)] == c) return;
    lru_unlink(c);
    c->state = s;
    const auto i = static_cast<int>(s);
    c->lru_prev = lru_tail_[i];
    c->lru_next = nullptr;
    if (lru_tail_[i] != nullptr) lru_tail_[i]->lru_next = c;
    else lru_head_[i] = c;
    lru_tail_[i] = c;
}

connection* reassembler::create(const flow::flow_key& k, std::uint32_t hash, std::uint8_t dir,
                                std::uint64_t now_ns) noexcept {
    if (nflows_ >= cfg_.max_flows) {
        // Full: push out the least recently active connection, closed ones first.
        for (auto s : {conn_state::closed, conn_state::closing, conn_state::syn_seen,
                       conn_state::established}) {
            if (connection* v = lru_head_[static_cast<int>(s)]; v != nullptr) {
                release(v, end_reason::evicted, tcp_counter::flows_evicted);
                break;
            }
        }
    }
    connection* c = free_conns_;
    if (c == nullptr) return nullptr;
    free_conns_ = c->lru_next;
    c->~connection();
    new (c) connection();
    c->key = k;
    if (rte_hash_add_key_with_hash_data(table_, &c->key, hash, c) < 0) {
        c->lru_next = free_conns_;
        free_conns_ = c;
        return nullptr;
    }
    c->id = (std::uint64_t{worker_index_} << 40) | next_id_++;
    c->first_dir = dir;
    c->first_ns = now_ns;
    ++nflows_;
    counters_.add(tcp_counter::flows_created);
    c->state = conn_state::count_;  // not on any list yet
    touch(c, conn_state::syn_seen, now_ns);
    return c;
}

void reassembler::release(connection* c, end_reason r, tcp_counter why) noexcept {
    c->dir[0].end(r, env_);
    c->dir[1].end(r, env_);
    counters_.add(why);
    if (listener_ != nullptr) listener_->on_release(*c);
    c->dir[0].release(env_);
    c->dir[1].release(env_);
    rte_hash_del_key_with_hash(table_, &c->key, key_hash(c->key));
    lru_unlink(c);
    // Events naming this connection must not outlive it.
    std::size_t w = 0;
    for (std::size_t i = 0; i < nevents_; ++i)
        if (events_[i].conn != c) events_[w++] = events_[i];
    nevents_ = w;
    --nflows_;
    c->lru_next = free_conns_;
    free_conns_ = c;
}

void reassembler::after_packet(connection* c) noexcept {
    const bool something = c->dir[0].readable() != 0 || c->dir[1].readable() != 0 ||
                           !c->dir[0].poll().would_block() || !c->dir[1].poll().would_block();
    if (something && !c->readable_pending) {
        c->readable_pending = true;
        push_event(c, event_kind::readable);
        if (listener_ != nullptr) listener_->on_readable(*c);
    }
    if (!c->closed_reported && c->dir[0].ended() != end_reason::none &&
        c->dir[1].ended() != end_reason::none) {
        c->closed_reported = true;
        push_event(c, event_kind::closed);
        if (listener_ != nullptr) listener_->on_closed(*c);
    }
}

void reassembler::handle_tcp(rte_mbuf* m, const net::packet_meta& meta, const std::uint8_t* hdr,
                             std::uint32_t hdr_len, const port_link& link,
                             std::uint64_t now_ns, int depth) noexcept {
    if (!checksum_ok(m, meta, hdr, hdr_len, link)) {
        outcome(depth, packet_outcome::checksum_bad);
        drops_.add(m);
        return;
    }
    if (cfg_.dispatch_workers > 1 && flow::dispatch_hash(meta) % cfg_.dispatch_workers != worker_index_)
        counters_.add(tcp_counter::wrong_worker);
    const flow::keyed_packet kp = flow::key_of(meta);
    const std::uint32_t hash = key_hash(kp.key);
    const int d = kp.dir;
    const bool syn = meta.has_flag(net::tcp_flag::syn);
    const bool ack = meta.has_flag(net::tcp_flag::ack);
    const bool fin = meta.has_flag(net::tcp_flag::fin);
    const bool rst = meta.has_flag(net::tcp_flag::rst);

    connection* c = lookup(kp.key, hash);
    bool carried_syn = false;  // the peer's SYN, carried over from the connection a SYN-ACK replaces
    seq32 carried_isn{};
    if (c != nullptr && syn && !rst) {
        bool reuse = false;
        if (!ack) {
            // Tuple reuse (RFC 9293 §3.10.7.3): a SYN with a new ISN, or after the
            // old connection closed, starts a new connection.
            const bool new_isn = c->syn_seen[d] && c->isn[d] != meta.seq;
            const bool after_close = (c->state == conn_state::closing || c->state == conn_state::closed) &&
                                     !(c->syn_seen[d] && c->isn[d] == meta.seq);
            reuse = new_isn || after_close;
        } else if (c->dir[0].ended() == end_reason::rst && c->dir[1].ended() == end_reason::rst &&
                   c->dir[0].delivered() == 0 && c->dir[1].delivered() == 0 &&
                   c->dir[0].held_bytes() == 0 && c->dir[1].held_bytes() == 0) {
            // A SYN-ACK after a RST closed the connection before any data: the
            // endpoints carry on with a handshake, so a new connection starts
            // (the peer's SYN, if seen, is carried over).
            reuse = true;
            carried_syn = c->syn_seen[1 - d];
            carried_isn = c->isn[1 - d];
        }
        if (reuse) {
            release(c, end_reason::evicted, tcp_counter::flows_reused);
            c = nullptr;
        }
    }
    if (c == nullptr) {
        if (rst || (!syn && !cfg_.midstream)) {
            counters_.add(tcp_counter::no_handshake);
            outcome(depth, packet_outcome::no_handshake);
            drops_.add(m);
            return;
        }
        c = create(kp.key, hash, kp.dir, now_ns);
        if (c == nullptr) {
            counters_.add(tcp_counter::no_handshake);
            outcome(depth, packet_outcome::no_handshake);
            drops_.add(m);
            return;
        }
        if (!syn) {
            c->midstream = true;
            counters_.add(tcp_counter::midstream_pickups);
        }
        if (carried_syn) {
            c->syn_seen[1 - d] = true;
            c->isn[1 - d] = carried_isn;
            c->client_dir = static_cast<std::int8_t>(1 - d);
            c->dir[1 - d].anchor(carried_isn + 1, false);
        }
        push_event(c, event_kind::opened);
        if (listener_ != nullptr) listener_->on_open(*c);
    }

    ++c->packets[d];
    stream& s = c->dir[d];
    stream& peer = c->dir[1 - d];
    conn_state state = c->state;
    // RFC 9293 §3.10.7.3: while the peer's SYN is unanswered, a segment from
    // this side without SYN or data is not acceptable: it neither anchors the
    // stream nor ends it with its FIN or RST (forged RST/FIN before the SYN-ACK).
    const bool unsynced = !syn && meta.payload_wire_len == 0 && c->syn_seen[1 - d] &&
                          !c->syn_seen[d] && !s.anchored();
    if (syn) {
        if (c->client_dir < 0) c->client_dir = static_cast<std::int8_t>(ack ? 1 - d : d);
        c->syn_seen[d] = true;
        c->isn[d] = meta.seq;
        if (meta.opts.has_wscale) {
            c->wscale[d] = meta.opts.wscale;
            c->wscale_ok[d] = true;
        }
        c->window[d] = meta.window;  // RFC 7323 §2.2: never scaled in a SYN
        if (!s.anchored()) s.anchor(meta.seq + 1, false);
        else if (s.midstream() && !s.reanchor(meta.seq + 1, env_)) counters_.add(tcp_counter::late_syn);
    } else {
        // A RST alone does not anchor a stream: its sequence number cannot be
        // checked against anything (see the RST handling below).
        if (!s.anchored() && !rst && !unsynced) s.anchor(meta.seq, true);
        if (state == conn_state::syn_seen) state = conn_state::established;
        // RFC 7323 §2.2: the window is scaled only when both SYNs carried the option.
        const std::uint8_t shift = c->wscale_ok[0] && c->wscale_ok[1] ? c->wscale[d] : 0;
        c->window[d] = std::uint32_t{meta.window} << shift;
    }

    const seq32 data_seq = meta.seq + (syn ? 1U : 0U);
    // RFC 9293 §3.10.7.4: data beyond the receiver's window is not accepted by
    // it, so it is not part of the stream. Checked only when both SYNs were
    // seen (the window scale is known), with a generous margin for ACKs and
    // window updates that the capture shows late.
    if (meta.payload_len != 0 && c->syn_seen[0] && c->syn_seen[1] && c->ack_known[1 - d]) {
        const std::int32_t ahead = data_seq - c->last_ack[1 - d];
        const std::uint64_t wnd = c->window[1 - d];
        if (ahead > 0 && static_cast<std::uint64_t>(ahead) > wnd + std::max<std::uint64_t>(wnd, 65536)) {
            counters_.add(tcp_counter::out_of_window);
            outcome(depth, packet_outcome::out_of_window);
            drops_.add(m);
            touch(c, state, now_ns);
            after_packet(c);
            return;
        }
    }
    outcome(depth, packet_outcome::accepted);
    if (meta.payload_len != 0) s.insert(data_seq, meta.payload_len, m, meta.payload_offset, env_);  // m is the stream's now
    else drops_.add(m);
    if (meta.snap_truncated)  // the rest was on the wire: a gap, reported out of band
        s.declare_missing(data_seq + meta.payload_len, meta.payload_wire_len - meta.payload_len, env_);
    if (ack) {
        c->ack_known[d] = true;
        c->last_ack[d] = meta.ack;
        if (peer.anchored()) peer.on_peer_ack(meta.ack, env_);
    }
    if (fin && !unsynced) {
        s.on_fin(data_seq + meta.payload_wire_len, env_);
        if (state != conn_state::closed) state = conn_state::closing;
    }
    if (rst) {
        // RFC 5961 §3: only a RST inside the window ends the connection; a RST
        // from an endpoint whose sequence numbers were never seen cannot be
        // checked, and is not taken (a forged RST must not end the capture's
        // view of a connection that goes on).
        if (s.anchored() && s.in_window(meta.seq, c->window[1 - d])) {
            s.end(end_reason::rst, env_);
            peer.end(end_reason::rst, env_);
            state = conn_state::closed;
        } else {
            counters_.add(tcp_counter::rst_ignored);
        }
    }
    s.tick(env_);
    peer.tick(env_);
    if (s.ended() != end_reason::none && peer.ended() != end_reason::none) state = conn_state::closed;
    touch(c, state, now_ns);
    after_packet(c);
}

void reassembler::expire(std::uint64_t now_ns, std::uint32_t budget) noexcept {
    begin_call();
    const std::uint64_t timeout[] = {cfg_.timeout_syn_ns, cfg_.timeout_established_ns,
                                     cfg_.timeout_closing_ns, cfg_.timeout_closed_ns};
    for (int s = 0; s < static_cast<int>(conn_state::count_); ++s) {
        while (budget != 0 && lru_head_[s] != nullptr &&
               now_ns > lru_head_[s]->last_ns + timeout[s]) {
            release(lru_head_[s], end_reason::timeout,
                    s == static_cast<int>(conn_state::closed) ? tcp_counter::flows_closed
                                                              : tcp_counter::flows_timed_out);
            --budget;
        }
    }
    if (frag_ != nullptr) {
        // Datagrams whose fragments stopped coming go too (their TTL is TSC time).
        auto* dr = static_cast<rte_ip_frag_death_row*>(frag_death_row_);
        rte_ip_frag_table_del_expired_entries(frag_, dr, rte_rdtsc());
        rte_ip_frag_free_death_row(dr, 0);
    }
    drops_.flush();
}

void reassembler::finish() noexcept {
    begin_call();
    for (int s = 0; s < static_cast<int>(conn_state::count_); ++s)
        while (lru_head_[s] != nullptr) release(lru_head_[s], end_reason::eof, tcp_counter::flows_closed);
    if (frag_ != nullptr) {
        // End of input: incomplete datagrams can never complete. One call
        // takes only as many as the death row holds: repeat until none is left.
        auto* dr = static_cast<rte_ip_frag_death_row*>(frag_death_row_);
        do {
            rte_ip_frag_free_death_row(dr, 0);
            rte_ip_frag_table_del_expired_entries(frag_, dr, UINT64_MAX);
        } while (dr->cnt != 0);
    }
    drops_.flush();
}

}  // namespace rxinto::tcp
