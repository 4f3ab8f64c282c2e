// feed: see feed.hpp. Moved here from test/bench/bench_tcp.cpp and
// app/rxbench/ring.cpp, which both use it.
#include "feed.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "rxinto/base/result.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/net/parse.hpp"
#include "rxinto/port/eal.hpp"
#include "rxinto/port/ports.hpp"
#include "rxinto/tcp/counters.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxbench::feed {

using rxinto::make_error;
using rxinto::Result;
using rxinto::Status;
using rxinto::capture::QueueCounters;
using rxinto::capture::QueueRef;
using rxinto::capture::Worker;
using rxinto::tcp::tcp_counter;

// ---------------------------------------------------------------------------
// Allocation counting

namespace {
thread_local std::uint64_t t_news = 0;
thread_local std::uint64_t t_deletes = 0;
}  // namespace

void count_new() noexcept { ++t_news; }
void count_delete() noexcept { ++t_deletes; }
std::uint64_t thread_news() noexcept { return t_news; }
std::uint64_t thread_deletes() noexcept { return t_deletes; }

// ---------------------------------------------------------------------------
// Small helpers

std::string u64s(std::uint64_t v) { return std::to_string(v); }

std::string fmt6g(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

void Checker::fail(const std::string& what) {
    ++failures;
    std::fprintf(stderr, "%s: CHECK FAILED: %s\n", prog.c_str(), what.c_str());
    last = what;
}

Result<std::uint64_t> parse_uint(std::string_view opt, const char* text, std::uint64_t lo,
                                 std::uint64_t hi) {
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < lo || v > hi)
        return make_error(opt, ": '", text, "' is not an integer in ", std::to_string(lo), "..",
                          std::to_string(hi));
    return static_cast<std::uint64_t>(v);
}

Result<std::vector<std::uint32_t>> parse_list(std::string_view opt, const char* text,
                                              std::uint64_t lo, std::uint64_t hi) {
    std::vector<std::uint32_t> out;
    std::string_view list = text;
    while (true) {
        const std::size_t comma = list.find(',');
        const std::string item(list.substr(0, comma));
        auto v = parse_uint(opt, item.c_str(), lo, hi);
        if (!v) return v.error();
        out.push_back(static_cast<std::uint32_t>(v.value()));
        if (comma == std::string_view::npos) break;
        list = list.substr(comma + 1);
    }
    return out;
}

Result<double> parse_seconds(std::string_view opt, const char* text) {
    errno = 0;
    char* end = nullptr;
    const double s = std::strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(s >= 0.01 && s <= 3600.0))
        return make_error(opt, ": '", text, "' is not a number of seconds in 0.01..3600");
    return s;
}

Status set_list(std::vector<std::uint32_t>& out, std::string_view opt, const char* text,
                std::uint64_t lo, std::uint64_t hi) {
    auto r = parse_list(opt, text, lo, hi);
    if (!r) return r.error();
    out = r.value();
    return {};
}

Status set_seconds(double& out, std::string_view opt, const char* text) {
    auto r = parse_seconds(opt, text);
    if (!r) return r.error();
    out = r.value();
    return {};
}

bool common_option(std::string_view a, const char* v, const CommonArgs& c, Status& st) {
    if (a == "--runs") {
        st = set_uint(c.runs, a, v, 1, 1000);
        c.runs_given = true;
    } else if (a == "--seconds") {
        st = set_seconds(c.seconds, a, v);
    } else if (a == "--pool-mbufs") {
        st = set_uint(c.pool_mbufs, a, v, 65535, 4194303);
        c.pool_given = true;
    } else if (a == "--quick-packets") {
        st = set_uint(c.quick_packets, a, v, 1, 100'000'000);
    } else {
        return false;
    }
    return true;
}

int usage_error(const std::string& prog, const rxinto::Error& e) {
    std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog.c_str(), e.message.c_str(), prog.c_str());
    return 2;
}

int checks_exit(const Checker& chk, bool quick, int rc) {
    if (chk.failures != 0) {
        std::fprintf(stderr, "%s: %d check(s) failed\n", chk.prog.c_str(), chk.failures);
        return 1;
    }
    if (quick) std::fprintf(stderr, "%s: --quick: all counts checked\n", chk.prog.c_str());
    return rc;
}

Buffer alloc_buffer(std::size_t bytes) {
    const std::size_t rounded = (bytes + 4095) / 4096 * 4096;
    return Buffer(static_cast<std::byte*>(std::aligned_alloc(4096, rounded)));
}

// ---------------------------------------------------------------------------
// EAL

Result<std::string> eal_start(const std::string& prog, std::uint32_t memory_mb, bool huge,
                              const std::string& prefix) {
    std::vector<std::string> eal_args{prog, "-l", "0-1", "-m", std::to_string(memory_mb),
                                      "--no-pci", "--log-level=warning"};
    if (huge) {
        eal_args.emplace_back("--in-memory");
    } else {
        eal_args.emplace_back("--no-huge");
        eal_args.emplace_back("--no-shconf");
        eal_args.emplace_back("--file-prefix=" + prefix);
    }
    eal_args.emplace_back("--no-telemetry");
    auto eal = rxinto::port::eal_init(eal_args, huge);
    if (!eal) return eal.error();
    return std::string(rte_eal_get_runtime_dir());
}

void eal_stop(const std::string& runtime_dir, const std::string& prefix, bool remove_dir) {
    rte_eal_mp_wait_lcore();
    rxinto::port::eal_cleanup();
    if (remove_dir && runtime_dir.find(prefix) != std::string::npos) rmdir(runtime_dir.c_str());
}

unsigned worker_lcore() { return rte_get_next_lcore(rte_get_main_lcore(), 1, 0); }

std::uint32_t memory_needed_mb(std::uint32_t pool_mbufs, std::uint32_t max_flows,
                               std::uint32_t cap_mb) {
    // mbufs: 2176 B data room + 128 B struct + 64 B mempool header; flow table:
    // rte_hash key store, buckets and extension buckets (~200 B a flow, with slack).
    // --no-huge heap fragmentation and the port's own pool need the slack.
    const std::uint64_t pool = std::uint64_t{pool_mbufs} * 2432 * 13 / 10;
    const std::uint64_t hash = std::uint64_t{max_flows + max_flows / 16 + 64} * 300;
    const std::uint64_t mb = (pool + hash) / (1024 * 1024) + 512;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(mb, cap_mb));
}

// ---------------------------------------------------------------------------
// Frames

Pattern::Pattern() {
    for (std::uint32_t j = 0; j < max_payload; ++j)
        bytes[j] = static_cast<std::uint8_t>((j * 7 + 13) ^ (j >> 8));
}
const Pattern g_pattern;

namespace {

constexpr std::uint32_t tag_len = 8;
constexpr std::uint32_t server_ip = 0xC0A80001;  // 192.168.0.1
constexpr std::uint16_t server_port = 5201;
constexpr std::uint8_t wscale = 14;
constexpr std::uint32_t ack_every = 256U << 20;  // server ACK per flow every 256 MiB (window: 1 GiB)

std::uint32_t client_ip(std::uint32_t i) { return 0x0A000001U + i; }  // 10.0.0.1 + i (< 192.168)
std::uint16_t client_port(std::uint32_t i) { return static_cast<std::uint16_t>(10000 + i % 50000); }
std::uint32_t mix32(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return static_cast<std::uint32_t>(x ^ (x >> 31));
}
std::uint32_t client_isn(std::uint32_t i) { return mix32(2ULL * i + 1); }
std::uint32_t server_isn(std::uint32_t i) { return mix32(2ULL * i + 2); }

void put16(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
    put16(p, v >> 16);
    put16(p + 2, v & 0xFFFF);
}
std::uint32_t get32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           p[3];
}

/// The payload pattern (same at every stream offset of every segment; the

}  // namespace

/// Writes Ethernet + IPv4 + TCP headers at p (payload, if any, follows at
/// p + returned length and must sum to payload_sum); returns the header length.
std::uint32_t write_headers(std::uint8_t* p, bool from_client, std::uint32_t flow, std::uint8_t flags,
                            std::uint32_t seq, std::uint32_t ack, bool syn_opts,
                            std::uint32_t payload_len, std::uint32_t payload_sum,
                            std::uint16_t ip_id, std::uint32_t tsval) {
    const std::uint32_t thl = syn_opts ? tcp_syn_hdr : tcp_data_hdr;
    const std::uint32_t src = from_client ? client_ip(flow) : server_ip;
    const std::uint32_t dst = from_client ? server_ip : client_ip(flow);
    const std::uint16_t sport = from_client ? client_port(flow) : server_port;
    const std::uint16_t dport = from_client ? server_port : client_port(flow);
    // Ethernet
    static constexpr std::uint8_t mac_srv[6] = {0x02, 0, 0, 0, 0, 0x02};
    static constexpr std::uint8_t mac_cli[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(p, from_client ? mac_srv : mac_cli, 6);
    std::memcpy(p + 6, from_client ? mac_cli : mac_srv, 6);
    put16(p + 12, rxinto::net::ethertype_ipv4);
    // IPv4
    std::uint8_t* ip = p + eth_len;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, ip_len + thl + payload_len);
    put16(ip + 4, ip_id);
    put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = rxinto::net::ipproto_tcp;
    put16(ip + 10, 0);
    put32(ip + 12, src);
    put32(ip + 16, dst);
    put16(ip + 10, static_cast<std::uint16_t>(~rxinto::net::ones_complement_sum(ip, ip_len)));
    // TCP
    std::uint8_t* t = ip + ip_len;
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = static_cast<std::uint8_t>((thl / 4) << 4);
    t[13] = flags;
    put16(t + 14, 65535);
    put16(t + 16, 0);
    put16(t + 18, 0);
    std::uint8_t* opt = t + 20;
    if (syn_opts) {
        opt[0] = 2;  // MSS 1460
        opt[1] = 4;
        put16(opt + 2, 1460);
        opt[4] = 4;  // SACK permitted
        opt[5] = 2;
        opt[6] = 8;  // timestamps
        opt[7] = 10;
        put32(opt + 8, tsval);
        put32(opt + 12, 0);
        opt[16] = 1;  // NOP
        opt[17] = 3;  // window scale
        opt[18] = 3;
        opt[19] = wscale;
    } else {
        opt[0] = 1;
        opt[1] = 1;
        opt[2] = 8;
        opt[3] = 10;
        put32(opt + 4, tsval);
        put32(opt + 8, tsval ^ 0x5A5A5A5AU);
    }
    const std::uint32_t tcp_len = thl + payload_len;
    const std::uint32_t pseudo = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) +
                                 rxinto::net::ipproto_tcp + tcp_len;
    const std::uint16_t sum = rxinto::net::ones_complement_sum(t, thl, pseudo + payload_sum);
    put16(t + 16, static_cast<std::uint16_t>(~sum));
    return eth_len + ip_len + thl;
}

namespace {

// ---------------------------------------------------------------------------
// Generator: the state of every flow and what to send next.

struct GenFlow {
    std::uint32_t next_seq = 0;  ///< first sequence number not yet sent (in stream order)
    std::uint32_t def_seq = 0;   ///< the held-back segment of a swapped pair
    std::uint32_t def_len = 0;   ///< 0: none held back
    std::uint32_t unacked = 0;   ///< bytes since the last server ACK
};

class Generator {
public:
    Generator(std::uint32_t nflows, bool verify)
        : flows_(nflows), verify_(verify), crc_(verify ? nflows : 0, 0U) {
        for (std::uint32_t i = 0; i < nflows; ++i) flows_[i].next_seq = client_isn(i) + 1;
    }

    void set_case(std::uint32_t seg, unsigned reorder_pct) {
        seg_ = seg;
        // A pair is swapped when the next 32-bit random number is below this.
        reorder_threshold_ =
            static_cast<std::uint32_t>((std::uint64_t{reorder_pct} << 32) / 100);
        pattern_sum_ = rxinto::net::ones_complement_sum(g_pattern.bytes + tag_len, seg - tag_len);
    }

    [[nodiscard]] std::uint64_t handshake_left() const {
        return std::uint64_t{4} * flows_.size() - hs_pos_;
    }
    /// SYN, SYN-ACK, ACK and a server window update, flow after flow.
    void handshake(rte_mbuf* m) {
        const auto flow = static_cast<std::uint32_t>(hs_pos_ / 4);
        const auto step = static_cast<unsigned>(hs_pos_ % 4);
        ++hs_pos_;
        const std::uint32_t c = client_isn(flow);
        const std::uint32_t s = server_isn(flow);
        std::uint32_t len = 0;
        auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
        using namespace rxinto::net;
        switch (step) {
        case 0: len = write_headers(p, true, flow, tcp_flag::syn, c, 0, true, 0, 0, id(), ts()); break;
        case 1:
            len = write_headers(p, false, flow, tcp_flag::syn | tcp_flag::ack, s, c + 1, true, 0, 0,
                                id(), ts());
            break;
        case 2:
            len = write_headers(p, true, flow, tcp_flag::ack, c + 1, s + 1, false, 0, 0, id(), ts());
            break;
        default:
            len = write_headers(p, false, flow, tcp_flag::ack, s + 1, c + 1, false, 0, 0, id(), ts());
            break;
        }
        set_len(m, len);
        ++packets_;
    }

    /// The next packet of the round-robin data schedule.
    void data(rte_mbuf* m) {
        if (ack_pending_) {
            ack_pending_ = false;
            const std::uint32_t s = server_isn(ack_flow_) + 1;
            const std::uint32_t len =
                write_headers(rte_pktmbuf_mtod(m, std::uint8_t*), false, ack_flow_,
                              rxinto::net::tcp_flag::ack, s, ack_seq_, false, 0, 0, id(), ts());
            set_len(m, len);
            ++packets_;
            ++acks_;
            return;
        }
        const std::uint32_t i = cursor_;
        cursor_ = cursor_ + 1 == flows_.size() ? 0 : cursor_ + 1;
        GenFlow& f = flows_[i];
        std::uint32_t seq = 0;
        std::uint32_t len = seg_;
        if (f.def_len != 0) {
            seq = f.def_seq;
            len = f.def_len;
            f.def_len = 0;
            --deferred_;
        } else if (reorder_threshold_ != 0 && next_random() < reorder_threshold_) {
            f.def_seq = f.next_seq;
            f.def_len = seg_;
            seq = f.next_seq + seg_;
            ++deferred_;
            if (verify_) {
                crc_[i] = crc_of(i, f.def_seq, seg_, crc_[i]);
                crc_[i] = crc_of(i, seq, seg_, crc_[i]);
            }
            f.next_seq += 2 * seg_;
        } else {
            seq = f.next_seq;
            if (verify_) crc_[i] = crc_of(i, seq, seg_, crc_[i]);
            f.next_seq += seg_;
        }
        write_data(m, i, seq, len);
        f.unacked += len;
        if (f.unacked >= ack_every && f.def_len == 0) {
            f.unacked = 0;
            ack_pending_ = true;
            ack_flow_ = i;
            ack_seq_ = f.next_seq;
        }
    }

    [[nodiscard]] std::uint64_t deferred() const { return deferred_; }
    /// The next held-back segment (call only while deferred() > 0).
    void flush_one(rte_mbuf* m) {
        while (flows_[flush_cursor_].def_len == 0)
            flush_cursor_ = flush_cursor_ + 1 == flows_.size() ? 0 : flush_cursor_ + 1;
        GenFlow& f = flows_[flush_cursor_];
        write_data(m, flush_cursor_, f.def_seq, f.def_len);
        f.unacked += f.def_len;
        f.def_len = 0;
        --deferred_;
    }

    [[nodiscard]] std::uint64_t packets() const { return packets_; }
    [[nodiscard]] std::uint64_t data_segments() const { return segments_; }
    [[nodiscard]] std::uint64_t payload_bytes() const { return payload_; }
    [[nodiscard]] std::uint64_t acks() const { return acks_; }
    [[nodiscard]] const std::vector<std::uint32_t>& crcs() const { return crc_; }

private:
    static void set_len(rte_mbuf* m, std::uint32_t len) {
        m->data_len = static_cast<std::uint16_t>(len);
        m->pkt_len = len;
    }
    std::uint16_t id() { return static_cast<std::uint16_t>(++ip_id_); }
    std::uint32_t ts() { return ++tsval_; }
    std::uint32_t next_random() {
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        return static_cast<std::uint32_t>(rng_ >> 32);
    }
    static void tag_of(std::uint8_t* t, std::uint32_t flow, std::uint32_t seq) {
        put32(t, flow);
        put32(t + 4, seq);
    }
    static std::uint32_t crc_of(std::uint32_t flow, std::uint32_t seq, std::uint32_t len,
                                std::uint32_t crc) {
        std::uint8_t buf[max_payload];
        std::memcpy(buf, g_pattern.bytes, len);
        tag_of(buf, flow, seq);
        return rte_hash_crc(buf, len, crc);
    }
    void write_data(rte_mbuf* m, std::uint32_t flow, std::uint32_t seq, std::uint32_t len) {
        auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
        // The payload pattern is in the mbuf since the pool was made: only the tag is new.
        std::uint8_t* tag = p + data_hdr;
        tag_of(tag, flow, seq);
        const std::uint32_t psum = len == seg_ ? pattern_sum_
                                               : rxinto::net::ones_complement_sum(
                                                     g_pattern.bytes + tag_len, len - tag_len);
        const std::uint32_t payload_sum = rxinto::net::ones_complement_sum(tag, tag_len, psum);
        const std::uint32_t hl =
            write_headers(p, true, flow, rxinto::net::tcp_flag::ack | rxinto::net::tcp_flag::psh,
                          seq, server_isn(flow) + 1, false, len, payload_sum, id(), ts());
        set_len(m, hl + len);
        ++packets_;
        ++segments_;
        payload_ += len;
    }

    std::vector<GenFlow> flows_;
    bool verify_ = false;
    std::vector<std::uint32_t> crc_;
    std::uint32_t seg_ = max_payload;
    std::uint32_t reorder_threshold_ = 0;
    std::uint32_t pattern_sum_ = 0;
    std::uint64_t hs_pos_ = 0;
    std::uint32_t cursor_ = 0;
    std::uint32_t flush_cursor_ = 0;
    std::uint64_t deferred_ = 0;
    bool ack_pending_ = false;
    std::uint32_t ack_flow_ = 0;
    std::uint32_t ack_seq_ = 0;
    std::uint32_t ip_id_ = 0;
    std::uint32_t tsval_ = 1;
    std::uint64_t rng_ = 0x2545F4914F6CDD1DULL;
    std::uint64_t packets_ = 0;
    std::uint64_t segments_ = 0;
    std::uint64_t payload_ = 0;
    std::uint64_t acks_ = 0;
};

/// Writes the payload pattern into every mbuf of the pool, once.
void prefill_mbuf(rte_mempool*, void*, void* obj, unsigned) {
    auto* m = static_cast<rte_mbuf*>(obj);
    std::memcpy(static_cast<std::uint8_t*>(m->buf_addr) + RTE_PKTMBUF_HEADROOM + data_hdr,
                g_pattern.bytes, max_payload);
}

// ---------------------------------------------------------------------------
// The worker's sink: process_burst, drain every readable connection, flush.


/// Raises the worker's stop flag, from the worker itself, once `target`
/// packets went through: the worker's TSC span ends with its last burst.
class CountingSink : public rxinto::capture::BurstSink {
public:
    std::atomic<bool>* stop = nullptr;
    std::uint64_t target = 0;
    std::atomic<std::uint64_t> seen{0};

protected:
    void counted(std::uint16_t n) noexcept {
        const std::uint64_t s = seen.load(std::memory_order_relaxed) + n;
        seen.store(s, std::memory_order_relaxed);
        if (s >= target) stop->store(true, std::memory_order_relaxed);
    }
};

/// The floor: no reassembly, the payload of every frame (at its fixed offset)
/// copied into the same 64 KiB buffer, the burst freed in bulk.
class CopySink final : public CountingSink {
public:
    void on_burst(const QueueRef&, rte_mbuf** pkts, std::uint16_t n) noexcept override {
        for (std::uint16_t i = 0; i < n; ++i) {
            if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
            const std::uint32_t len = rte_pktmbuf_data_len(pkts[i]) - data_hdr;
            const auto* src = rte_pktmbuf_mtod_offset(pkts[i], const std::byte*, data_hdr);
            const std::size_t room = app_buf_size - pos_;
            if (len <= room) {
                std::memcpy(buf + pos_, src, len);
                pos_ += len;
            } else {
                std::memcpy(buf + pos_, src, room);
                std::memcpy(buf, src + room, len - room);
                pos_ = len - room;
            }
            if (pos_ == app_buf_size) pos_ = 0;
            delivered += len;
        }
        rte_pktmbuf_free_bulk(pkts, n);
        counted(n);
    }
    std::byte* buf = nullptr;
    std::uint64_t delivered = 0;

private:
    std::size_t pos_ = 0;
};

class BenchSink final : public CountingSink {
public:
    void on_burst(const QueueRef&, rte_mbuf** pkts, std::uint16_t n) noexcept override {
        const std::uint64_t t0 = rte_rdtsc();
        if (prefetch) {  // experiment (--sink-prefetch): both header lines of the whole burst
            for (std::uint16_t i = 0; i < n; ++i) {
                const auto* p = rte_pktmbuf_mtod(pkts[i], const std::uint8_t*);
                rte_prefetch0(p);
                rte_prefetch0(p + 64);
            }
        }
        // Live-port time as TcpSink computes it: the TSC, converted once per burst.
        r->process_burst(pkts, n, link, t0 / tsc_per_us * 1000ULL);
        const std::uint64_t t1 = stages ? rte_rdtsc() : 0;
        for (const rxinto::tcp::event& ev : r->events())
            if (ev.kind == rxinto::tcp::event_kind::readable) drain(*ev.conn);
        const std::uint64_t t2 = stages ? rte_rdtsc() : 0;
        r->flush();
        if (stages) {
            const std::uint64_t t3 = rte_rdtsc();
            cyc_process += t1 - t0;
            cyc_drain += t2 - t1;
            cyc_flush += t3 - t2;
        }
        counted(n);
    }

    rxinto::tcp::reassembler* r = nullptr;
    rxinto::tcp::port_link link{};
    std::byte* buf = nullptr;  ///< app_buf_size bytes
    std::uint64_t tsc_per_us = 1;
    bool stages = true;
    bool verify = false;
    bool prefetch = false;
    bool zerocopy = false;  ///< peek/consume instead of recv_into
    std::uint32_t nflows = 0;
    std::vector<std::uint32_t> crc;  ///< verify: per flow, over the bytes delivered
    // Worker-written, read after the worker stopped.
    std::uint64_t delivered = 0;
    std::uint64_t reads = 0;
    std::uint64_t gaps = 0;
    std::uint64_t gap_bytes = 0;
    std::uint64_t foreign = 0;  ///< verify: data on a connection that is no generated flow
    std::uint64_t cyc_process = 0;
    std::uint64_t cyc_drain = 0;
    std::uint64_t cyc_flush = 0;
    unsigned touched = 0;

private:
    void drain(rxinto::tcp::connection& c) noexcept {
        if (zerocopy) {
            drain_zc(c);
            return;
        }
        for (rxinto::flow::direction d : rxinto::flow::both_directions) {
            rxinto::tcp::stream& s = c.in(d);
            while (true) {
                const std::span<std::byte> room(buf + pos_, app_buf_size - pos_);
                const rxinto::tcp::recv_result res = s.recv_into(room);
                ++reads;
                if (res.bytes != 0) {
                    if (verify) check(c, d, room.first(res.bytes));
                    delivered += res.bytes;
                    pos_ += res.bytes;
                    if (pos_ == app_buf_size) pos_ = 0;
                }
                if (res.gap != 0) {
                    ++gaps;
                    gap_bytes += s.skip_gap();
                    continue;
                }
                if (res.bytes < room.size()) break;
            }
        }
    }
    /// Zero copy: the application gets views of the bytes in the mbufs, reads
    /// one byte of each view (so that the view is not free), and consumes them.
    void drain_zc(rxinto::tcp::connection& c) noexcept {
        for (rxinto::flow::direction d : rxinto::flow::both_directions) {
            rxinto::tcp::stream& s = c.in(d);
            while (true) {
                std::span<const std::byte> views[16];
                const std::size_t n = s.peek(views);
                ++reads;
                if (n == 0) {
                    const rxinto::tcp::recv_result st = s.poll();
                    if (st.gap != 0) {
                        ++gaps;
                        gap_bytes += s.skip_gap();
                        continue;
                    }
                    break;
                }
                std::uint64_t total = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    total += views[i].size();
                    touched ^= static_cast<unsigned>(views[i][0]);
                }
                s.consume(total);
                delivered += total;
            }
        }
    }
    void check(const rxinto::tcp::connection& c, rxinto::flow::direction d,
               std::span<const std::byte> got) noexcept {
        // Endpoint a is the client (10.x.x.x sorts below 192.168.0.1): data goes a -> b.
        const std::uint32_t flow = get32(c.key().addr_a.data()) - client_ip(0);
        if (d != rxinto::flow::direction::a2b || c.key().ip_version != 4 || flow >= nflows) {
            ++foreign;
            return;
        }
        crc[flow] = rte_hash_crc(got.data(), static_cast<std::uint32_t>(got.size()), crc[flow]);
    }
    std::size_t pos_ = 0;
};


}  // namespace

int timed_worker_main(void* arg) {
    auto* t = static_cast<TimedWorker*>(arg);
    const std::uint64_t n0 = t_news;
    const std::uint64_t d0 = t_deletes;
    t->start = rte_rdtsc_precise();
    const int rc = rxinto::capture::worker_main(t->worker);
    t->end = rte_rdtsc_precise();
    t->news = t_news - n0;
    t->deletes = t_deletes - d0;
    return rc;
}

// ---------------------------------------------------------------------------
// The bench: one ring port, one generator pool, one worker; a reassembler per
// flow count.

namespace {
constexpr unsigned ring_slots = 32768;
constexpr unsigned fill_max = 32736;  // 1023 bursts of 32
}  // namespace

class Bench::Impl {
public:
    Impl(const BenchOptions& o, unsigned wl, Checker& chk)
        : o_(o), wl_(wl), chk_(chk), tsc_hz_(static_cast<double>(rte_get_tsc_hz())) {}
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { close(); }

    Status open() {
        const int socket = static_cast<int>(rte_socket_id());
        ring_ = rte_ring_create("btcp_ring", ring_slots, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (ring_ == nullptr) return make_error("rte_ring_create: ", rte_strerror(rte_errno));
        gen_ = rte_pktmbuf_pool_create("btcp_gen", o_.pool_mbufs, 256, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE, socket);
        if (gen_ == nullptr)
            return make_error("generator mempool of ", u64s(o_.pool_mbufs),
                              " mbufs: ", rte_strerror(rte_errno), "; raise --memory-mb");
        rte_mempool_obj_iter(gen_, prefill_mbuf, nullptr);
        const int pid = rte_eth_from_rings("btcp_ring_port", &ring_, 1, &ring_, 1,
                                           static_cast<unsigned>(socket));
        if (pid < 0) return make_error("rte_eth_from_rings: ", rte_strerror(rte_errno));
        char devname[RTE_ETH_NAME_MAX_LEN] = {};
        rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(pid), devname);
        vdev_ = devname;
        rxinto::config::Settings s;
        rxinto::config::PortSettings p;
        p.kind = rxinto::config::PortKind::vdev;
        p.source = vdev_;
        p.rx_queues = 1;
        s.ports = {p};
        s.run.burst = o_.burst;
        s.mempool.reassembly_held = 0;  // the port's own pool is not where these mbufs come from
        auto ports = rxinto::port::Ports::open(s, 1, rte_lcore_count(), {});
        if (!ports) return make_error(vdev_, ": ", ports.error().message);
        ports_ = std::make_unique<rxinto::port::Ports>(std::move(ports).value());
        port_id_ = ports_->ports().at(0).port_id;

        app_buf_ = alloc_buffer(app_buf_size);
        if (!app_buf_) return make_error("cannot allocate the application buffer");
        std::memset(app_buf_.get(), 0, app_buf_size);
        QueueRef q;
        q.port_id = port_id_;
        q.counters = &qc_;
        worker_.lcore = wl_;
        worker_.queues.push_back(q);
        worker_.burst = o_.burst;
        worker_.sink = &sink_;
        worker_.stop = &stop_;
        timed_.worker = &worker_;
        sink_.stop = &stop_;
        sink_.buf = app_buf_.get();
        copy_sink_.stop = &stop_;
        copy_sink_.buf = app_buf_.get();
        sink_.tsc_per_us = std::max<std::uint64_t>(1, rte_get_tsc_hz() / 1'000'000ULL);
        sink_.stages = o_.stages;
        sink_.verify = o_.verify;
        sink_.prefetch = o_.sink_prefetch;
        return {};
    }

    void close() {
        reasm_.reset();
        if (ring_ != nullptr) {
            void* obj = nullptr;
            while (rte_ring_dequeue(ring_, &obj) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
        }
        if (ports_) {
            if (rte_mempool_full(ports_->pool()) == 0)
                chk_.fail("port pool not full at the end: " +
                          u64s(rte_mempool_avail_count(ports_->pool())) + " of " +
                          u64s(ports_->pool()->size));
            ports_->close();
            ports_.reset();
        }
        if (!vdev_.empty()) {
            rte_vdev_uninit(vdev_.c_str());
            vdev_.clear();
        }
        if (gen_ != nullptr) {
            rte_mempool_free(gen_);
            gen_ = nullptr;
        }
        if (ring_ != nullptr) {
            rte_ring_free(ring_);
            ring_ = nullptr;
        }
    }

    /// Creates the reassembler for `flows` connections (or the largest that fits)
    /// and runs every handshake through the worker. Returns the flow count used.
    Result<std::uint32_t> start_flows(std::uint32_t flows) {
        reasm_.reset();
        check_gen_pool_full("before " + u64s(flows) + " flows");
        std::uint32_t want = flows;
        while (true) {
            rxinto::tcp::tcp_config cfg;
            cfg.max_flows = want + want / 16 + 64;
            cfg.max_segments = std::max<std::uint32_t>(1U << 16, want / 4 + (1U << 16));
            cfg.checksum = rxinto::tcp::checksum_mode::verify;
            cfg.midstream = false;  // every flow must come from its handshake
            std::string err;
            try {
                auto r = rxinto::tcp::reassembler::create(cfg, "btcp" + u64s(++reasm_index_), 0,
                                                          gen_, static_cast<int>(rte_socket_id()));
                if (r) {
                    reasm_ = std::move(r).value();
                } else {
                    err = r.error().message;
                }
            } catch (const std::bad_alloc&) {
                err = "out of memory (connection table)";
            }
            if (reasm_) break;
            std::fprintf(stderr, "%s: %u flows do not fit: %s\n", chk_.prog.c_str(), want, err.c_str());
            if (want <= 1000) return make_error("cannot create a reassembler: ", err);
            want /= 2;
            std::fprintf(stderr, "%s: falling back to %u flows\n", chk_.prog.c_str(), want);
        }
        if (want != flows) {
            notes_.push_back(u64s(flows) + " flows did not fit in EAL memory (-m " +
                             u64s(memory_mb_) + "): measured with " + u64s(want) + " instead");
        }
        gen_state_ = std::make_unique<Generator>(want, o_.verify);
        sink_.r = reasm_.get();
        sink_.nflows = want;
        sink_.crc.assign(o_.verify ? want : 0, 0U);
        sink_.link = rxinto::tcp::port_link{};

        const std::uint64_t p0 = worker_.counters.packets.get();
        while (gen_state_->handshake_left() != 0) {
            const auto n = static_cast<unsigned>(
                std::min<std::uint64_t>(fill_max, gen_state_->handshake_left()));
            if (!fill(n, [&](rte_mbuf* m) { gen_state_->handshake(m); }))
                return make_error("handshake: generator stalled");
            Sample ignored;
            if (!drain(n, ignored)) return make_error("handshake: the worker stalled");
        }
        const std::uint64_t hs = worker_.counters.packets.get() - p0;
        if (hs != std::uint64_t{4} * want)
            chk_.fail(u64s(want) + " flows: the worker received " + u64s(hs) +
                      " handshake packets of " + u64s(std::uint64_t{4} * want));
        if (reasm_->active_flows() != want)
            chk_.fail(u64s(want) + " flows: " + u64s(reasm_->active_flows()) +
                      " connections after the handshakes");
        return want;
    }

    /// One case, --runs times (plus a warm-up outside --quick).
    CaseResult run_case(std::uint32_t flows, std::uint32_t seg, unsigned reorder_pct, bool verify_ck) {
        CaseResult res;
        res.flows = flows;
        res.seg = seg;
        res.reorder_pct = reorder_pct;
        res.verify_ck = verify_ck;
        gen_state_->set_case(seg, reorder_pct);
        sink_.link.verify_checksums = verify_ck;
        const std::string name = u64s(flows) + " flows, " + u64s(seg) + " B, " +
                                 (reorder_pct != 0 ? u64s(reorder_pct) + "% reordered" : "in order") +
                                 ", checksum " + (verify_ck ? "verify" : "ignore");
        const std::uint64_t run_cycles = static_cast<std::uint64_t>(o_.seconds * tsc_hz_);
        for (unsigned r = o_.quick ? 1 : 0; r <= o_.runs; ++r) {
            const bool warm = r == 0;
            Sample s;
            if (!one_run(warm ? run_cycles / 5 : run_cycles, s, name + (warm ? " warm-up" : " run " + u64s(r))))
                break;
            if (!warm) res.samples.push_back(s);
        }
        return res;
    }

    /// Ends the flows: reassembler gone, every mbuf back.
    void end_flows(std::uint32_t flows) {
        if (o_.verify && reasm_) {
            std::uint64_t bad = 0;
            const auto& want = gen_state_->crcs();
            for (std::size_t i = 0; i < want.size(); ++i) bad += want[i] != sink_.crc[i] ? 1 : 0;
            if (bad != 0) chk_.fail(u64s(flows) + " flows: " + u64s(bad) + " flows delivered other bytes than generated (CRC32C)");
            if (sink_.foreign != 0) chk_.fail(u64s(sink_.foreign) + " reads on unknown connections");
        }
        if (reasm_) {
            const auto& c = reasm_->counters();
            for (auto k : {tcp_counter::checksum_bad, tcp_counter::ip_checksum_bad,
                           tcp_counter::out_of_window, tcp_counter::duplicates,
                           tcp_counter::partial_overlaps, tcp_counter::gaps,
                           tcp_counter::no_handshake, tcp_counter::midstream_pickups,
                           tcp_counter::segment_pool_exhausted, tcp_counter::stream_cap_drops,
                           tcp_counter::cap_gaps, tcp_counter::flows_evicted,
                           tcp_counter::flows_timed_out})
                if (c.get(k) != 0)
                    chk_.fail(u64s(flows) + " flows: tcp counter " + rxinto::tcp::to_string(k) +
                              " = " + u64s(c.get(k)));
            if (c.get(tcp_counter::flows_created) != flows)
                chk_.fail(u64s(flows) + " flows: flows_created = " +
                          u64s(c.get(tcp_counter::flows_created)));
            const auto& pc = reasm_->parse_counters();
            for (std::size_t i = 1; i < rxinto::net::parse_status_count; ++i)
                if (pc.get(i) != 0)
                    chk_.fail(u64s(flows) + " flows: parse status " +
                              rxinto::net::to_string(static_cast<rxinto::net::parse_status>(i)) +
                              " = " + u64s(pc.get(i)));
        }
        reasm_.reset();
        check_gen_pool_full("after " + u64s(flows) + " flows");
        gen_state_.reset();
    }

    /// The floor of the same pipeline: rx + one memcpy of each payload + free,
    /// no reassembly (one flow, in order), timed as the cases are.
    CaseResult run_copy_case(std::uint32_t seg) {
        CaseResult res;
        res.flows = 0;
        res.seg = seg;
        Generator g(1, false);
        g.set_case(seg, 0);
        worker_.sink = &copy_sink_;
        active_ = &copy_sink_;
        const std::uint64_t run_cycles = static_cast<std::uint64_t>(o_.seconds * tsc_hz_);
        for (unsigned r = o_.quick ? 1 : 0; r <= o_.runs; ++r) {
            Sample s;
            const std::uint64_t pk0 = g.packets(), pl0 = g.payload_bytes(), dl0 = copy_sink_.delivered;
            const std::uint64_t budget = r == 0 ? run_cycles / 5 : run_cycles;
            const std::uint64_t t0 = rte_rdtsc();
            std::uint64_t sent = 0;
            bool ok = true;
            while (ok && (o_.quick ? sent < o_.quick_packets : (rte_rdtsc() - t0 < budget || sent == 0))) {
                const auto n = static_cast<unsigned>(
                    o_.quick ? std::min<std::uint64_t>(fill_max, o_.quick_packets - sent) : fill_max);
                ok = fill(n, [&](rte_mbuf* m) { g.data(m); }) && drain(n, s);
                sent += n;
            }
            if (!ok) break;
            s.packets = g.packets() - pk0;
            s.segments = s.packets;
            s.payload = g.payload_bytes() - pl0;
            s.delivered = copy_sink_.delivered - dl0;
            if (s.delivered != s.payload)
                chk_.fail("rx+memcpy " + u64s(seg) + " B: copied " + u64s(s.delivered) + " of " + u64s(s.payload));
            if (r != 0) res.samples.push_back(s);
        }
        worker_.sink = &sink_;
        active_ = &sink_;
        check_gen_pool_full("after rx+memcpy");
        return res;
    }

    void set_memory_mb(std::uint32_t m) { memory_mb_ = m; }
    [[nodiscard]] const std::vector<std::string>& notes() const { return notes_; }
    [[nodiscard]] rte_mempool* gen_pool() const { return gen_; }
    void set_zerocopy(bool z) { sink_.zerocopy = z; }

private:
    void check_gen_pool_full(const std::string& when) {
        if (rte_ring_count(ring_) != 0) chk_.fail(when + ": " + u64s(rte_ring_count(ring_)) + " mbufs left in the ring");
        if (rte_mempool_full(gen_) == 0)
            chk_.fail("generator pool not full " + when + ": " + u64s(rte_mempool_avail_count(gen_)) +
                      " of " + u64s(gen_->size) + " mbufs back");
    }

    /// Allocates n mbufs in bursts, writes each with w, enqueues them (the ring
    /// is empty: the worker is stopped and drained it).
    template <class W>
    bool fill(unsigned n, W&& w) {
        rte_mbuf* b[64];
        const unsigned burst = 32;
        unsigned done = 0;
        const std::uint64_t limit = rte_rdtsc() + 5 * rte_get_tsc_hz();
        while (done < n) {
            const unsigned k = std::min(burst, n - done);
            if (rte_pktmbuf_alloc_bulk(gen_, b, k) != 0) {
                if (rte_rdtsc() > limit) {
                    chk_.fail("generator pool empty for 5 s (" + u64s(rte_mempool_avail_count(gen_)) +
                              " free): the reassembler holds too many mbufs");
                    return false;
                }
                rte_pause();
                continue;
            }
            for (unsigned i = 0; i < k; ++i) w(b[i]);
            const unsigned e = rte_ring_enqueue_burst(ring_, reinterpret_cast<void* const*>(b), k, nullptr);
            if (e != k) {
                rte_pktmbuf_free_bulk(b + e, k - e);
                chk_.fail("ring full while filling");
                return false;
            }
            done += k;
        }
        return true;
    }

    /// Launches the worker until it has received n packets; adds its TSC span.
    bool drain(std::uint64_t n, Sample& s) {
        CountingSink& cs = *active_;
        cs.target = n;
        cs.seen.store(0, std::memory_order_relaxed);
        stop_.store(false, std::memory_order_relaxed);
        const std::uint64_t proc0 = sink_.cyc_process, drain0 = sink_.cyc_drain, flush0 = sink_.cyc_flush;
        if (int rc = rte_eal_remote_launch(timed_worker_main, &timed_, wl_); rc != 0) {
            chk_.fail("cannot launch the worker: " + std::string(std::strerror(-rc)));
            return false;
        }
        const std::uint64_t until = rte_rdtsc() + 20 * rte_get_tsc_hz();
        // Sleep, not spin: the main lcore's core is left to the machine's other
        // work, which then does not preempt the measured worker.
        while (cs.seen.load(std::memory_order_relaxed) < n && rte_rdtsc() < until) usleep(50);
        stop_.store(true, std::memory_order_relaxed);
        rte_eal_wait_lcore(wl_);
        const std::uint64_t got = cs.seen.load(std::memory_order_relaxed);
        s.cycles += timed_.end - timed_.start;
        s.news += timed_.news;
        s.deletes += timed_.deletes;
        s.cyc_process += sink_.cyc_process - proc0;
        s.cyc_drain += sink_.cyc_drain - drain0;
        s.cyc_flush += sink_.cyc_flush - flush0;
        ++s.fills;
        if (got != n) {
            chk_.fail("the worker received " + u64s(got) + " of " + u64s(n) + " packets");
            return false;
        }
        return true;
    }

    bool one_run(std::uint64_t budget, Sample& s, const std::string& tag) {
        Generator& g = *gen_state_;
        const std::uint64_t pk0 = g.packets(), sg0 = g.data_segments(), pl0 = g.payload_bytes();
        const std::uint64_t dl0 = sink_.delivered, gp0 = sink_.gaps;
        const std::uint64_t ooo0 = reasm_->counters().get(tcp_counter::out_of_order);
        const std::uint64_t t0 = rte_rdtsc();
        const std::uint64_t po0 = worker_.counters.polls.get();
        const std::uint64_t ep0 = worker_.counters.empty_polls.get();
        std::uint64_t data_packets = 0;
        while (o_.quick ? data_packets < o_.quick_packets : (rte_rdtsc() - t0 < budget || data_packets == 0)) {
            const auto n = static_cast<unsigned>(
                o_.quick ? std::min<std::uint64_t>(fill_max, o_.quick_packets - data_packets) : fill_max);
            const std::uint64_t f0 = rte_rdtsc();
            if (!fill(n, [&](rte_mbuf* m) { g.data(m); })) return false;
            s.gen_cycles += rte_rdtsc() - f0;
            if (!drain(n, s)) return false;
            data_packets += n;
        }
        // Send what reordering still holds back: every run delivers all it generated.
        while (g.deferred() != 0) {
            const auto n = static_cast<unsigned>(std::min<std::uint64_t>(fill_max, g.deferred()));
            if (!fill(n, [&](rte_mbuf* m) { g.flush_one(m); })) return false;
            if (!drain(n, s)) return false;
        }
        s.packets = g.packets() - pk0;
        s.segments = g.data_segments() - sg0;
        s.payload = g.payload_bytes() - pl0;
        s.delivered = sink_.delivered - dl0;
        s.out_of_order = reasm_->counters().get(tcp_counter::out_of_order) - ooo0;
        s.polls = worker_.counters.polls.get() - po0;
        s.empty_polls = worker_.counters.empty_polls.get() - ep0;
        if (s.delivered != s.payload)
            chk_.fail(tag + ": delivered " + u64s(s.delivered) + " bytes, generated " + u64s(s.payload));
        if (sink_.gaps != gp0) chk_.fail(tag + ": " + u64s(sink_.gaps - gp0) + " gaps");
        if (s.news != 0 || s.deletes != 0) {
            const std::string what = tag + ": " + u64s(s.news) + " operator new and " + u64s(s.deletes) +
                                     " operator delete on the worker lcore while timed";
            if (o_.quick) chk_.fail(what);
            else std::fprintf(stderr, "%s: WARNING: %s\n", chk_.prog.c_str(), what.c_str());
        }
        return true;
    }

    const BenchOptions o_;
    unsigned wl_;
    Checker& chk_;
    double tsc_hz_ = 1.0;
    rte_ring* ring_ = nullptr;
    rte_mempool* gen_ = nullptr;
    std::string vdev_;
    std::unique_ptr<rxinto::port::Ports> ports_;
    std::uint16_t port_id_ = 0;
    Buffer app_buf_;
    QueueCounters qc_;
    Worker worker_;
    BenchSink sink_;
    CopySink copy_sink_;
    CountingSink* active_ = &sink_;
    std::atomic<bool> stop_{false};
    TimedWorker timed_;
    std::unique_ptr<rxinto::tcp::reassembler> reasm_;
    std::unique_ptr<Generator> gen_state_;
    unsigned reasm_index_ = 0;
    std::uint32_t memory_mb_ = 0;
    std::vector<std::string> notes_;
};

Bench::Bench(const BenchOptions& o, unsigned wl, Checker& chk)
    : impl_(std::make_unique<Impl>(o, wl, chk)) {}
Bench::~Bench() = default;
Status Bench::open() { return impl_->open(); }
void Bench::close() { impl_->close(); }
Result<std::uint32_t> Bench::start_flows(std::uint32_t flows) { return impl_->start_flows(flows); }
CaseResult Bench::run_case(std::uint32_t flows, std::uint32_t seg, unsigned reorder_pct,
                           bool verify_ck) {
    return impl_->run_case(flows, seg, reorder_pct, verify_ck);
}
void Bench::end_flows(std::uint32_t flows) { impl_->end_flows(flows); }
CaseResult Bench::run_copy_case(std::uint32_t seg) { return impl_->run_copy_case(seg); }
void Bench::set_memory_mb(std::uint32_t m) { impl_->set_memory_mb(m); }
const std::vector<std::string>& Bench::notes() const { return impl_->notes(); }
rte_mempool* Bench::gen_pool() const { return impl_->gen_pool(); }
void Bench::set_zerocopy(bool z) { impl_->set_zerocopy(z); }

// ---------------------------------------------------------------------------
// memcpy baseline

namespace {

/// Calls copy() 1024 times, then looks at the TSC, until run_cycles have
/// passed; the TSC span and the copy count go into the job.
template <class Copy>
void timed_copies(CopyJob& j, Copy&& copy) {
    std::uint64_t copies = 0;
    const std::uint64_t start = rte_rdtsc_precise();
    const std::uint64_t until = start + j.run_cycles;
    do {
        for (unsigned k = 0; k < 1024; ++k) copy();
        copies += 1024;
    } while (rte_rdtsc() < until);
    j.cycles = rte_rdtsc_precise() - start;
    j.copies = copies;
}

}  // namespace

int copy_main(void* arg) {
    auto* j = static_cast<CopyJob*>(arg);
    const std::byte* const src = j->src;
    std::byte* const dst = j->dst;
    const std::size_t seg = j->seg;
    const std::size_t last = j->src_len - RTE_MBUF_DEFAULT_BUF_SIZE;
    std::size_t off = 0;
    std::size_t pos = 0;
    timed_copies(*j, [&] {
        const std::size_t room = app_buf_size - pos;
        if (seg <= room) {
            std::memcpy(dst + pos, src + off, seg);
            pos += seg;
        } else {
            std::memcpy(dst + pos, src + off, room);
            std::memcpy(dst, src + off + room, seg - room);
            pos = seg - room;
        }
        if (pos == app_buf_size) pos = 0;
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        off += RTE_MBUF_DEFAULT_BUF_SIZE;
        if (off > last) off = 0;
    });
    return 0;
}

int copy_fixed_main(void* arg) {
    auto* j = static_cast<CopyJob*>(arg);
    const std::byte* const src = j->src;
    std::byte* const dst = j->dst;
    const std::size_t frame = j->seg;
    const std::size_t stride = j->stride;
    const std::size_t last = j->src_len - frame;
    std::size_t off = 0;
    timed_copies(*j, [&] {
        std::memcpy(dst, src + off, frame);
        // The copy must happen: dst escapes to memory the compiler cannot see.
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        off += stride;
        if (off > last) off = 0;
    });
    return 0;
}

CopyBuffers make_copy_buffers(std::size_t mib) {
    CopyBuffers b;
    b.src_len = mib * 1024 * 1024;
    b.src = alloc_buffer(b.src_len);
    b.dst = alloc_buffer(app_buf_size);
    if (!b) return b;
    for (std::size_t i = 0; i < b.src_len; i += 64) b.src.get()[i] = static_cast<std::byte>(i >> 6);
    std::memset(b.dst.get(), 0, app_buf_size);
    return b;
}

bool copy_runs(const CopyBuffers& b, std::uint32_t seg, unsigned runs, double seconds, unsigned wl,
               std::vector<CopyRun>& out) {
    const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
    for (unsigned r = 0; r < runs; ++r) {
        CopyJob j;
        j.src = b.src.get();
        j.src_len = b.src_len;
        j.dst = b.dst.get();
        j.seg = seg;
        j.run_cycles = static_cast<std::uint64_t>(seconds * tsc_hz);
        if (rte_eal_remote_launch(copy_main, &j, wl) != 0) return false;
        rte_eal_wait_lcore(wl);
        out.push_back({j.copies, j.cycles});
    }
    return true;
}

}  // namespace rxbench::feed
