// libFuzzer harness for tcp::reassembler: hostile frames through the whole
// per-packet path (parse, checksum, IP fragments, flow table, streams) with a
// reader draining every stream, on a real EAL (--no-huge --no-shconf).
//
// Input format:
//   byte 0      configuration: bits 0-1 link type (net::link_type), bit 2 the
//               frames may be cut by a snaplen, bit 3 no IP reassembly, bit 4
//               overlap policy "last", bit 5 no mid-stream pickup, bits 6-7
//               checksum mode (0 ignore, 1 verify, 2 automatic, 3 ignore with no
//               limit on the gap grace, as for file replays; else a grace of 4 packets)
//   then frames: u16 little-endian header, low 15 bits the frame length, bit 15
//               "run expire() before this frame"; then that many bytes (the last
//               frame may be short: it is cut at the end of the input).
// Each frame is copied into 1..3 chained mbufs (split points from its length)
// and handed over in bursts of up to 8. The reader uses recv_into into a fixed
// buffer (even connection ids) or peek/consume (odd ones) and skips gaps.
//
// Invariants (a violation traps, which libFuzzer reports as a crash): after
// finish() no flow and no segment is left; after the reassembler is destroyed
// (which also frees the IP fragments it still held) every mbuf is back in the
// pool: an mbuf leak or a double free is a bug.
//
// Seeds: RXINTO_WRITE_SEEDS=dir ./fuzz_reassembler writes a few inputs built from
// rxinto::gen::generate() captures into dir and exits.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/gen/pcap_gen.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace {

using namespace rxinto;

constexpr unsigned pool_size = 2047;
rte_mempool* g_pool = nullptr;

void require(bool cond) {
    if (!cond) __builtin_trap();
}

unsigned pool_free() { return rte_ring_count(static_cast<const rte_ring*>(g_pool->pool_data)); }

class reader : public tcp::listener {
public:
    tcp::reassembler* r = nullptr;
    void on_readable(tcp::connection& c) noexcept override { drain(c); }
    void on_closed(tcp::connection& c) noexcept override { drain(c); }
    void on_release(tcp::connection& c) noexcept override { drain(c); }

    void drain(tcp::connection& c) noexcept {
        for (flow::direction d : flow::both_directions) {
            tcp::stream& s = c.in(d);
            for (int guard = 0; guard < 100000; ++guard) {
                if ((c.id() & 1) == 0) {
                    const std::size_t n = 1 + (s.offset() * 7 + static_cast<unsigned>(guard)) % buf_.size();
                    const std::uint64_t readable = s.readable();
                    const tcp::recv_result res = s.recv_into(std::span(buf_.data(), n));
                    require(res.bytes <= n);
                    require(res.bytes == std::min<std::uint64_t>(n, readable));
                    if (res.gap != 0) {
                        require(s.skip_gap() == res.gap);
                        continue;
                    }
                    if (res.bytes == 0) break;
                } else {
                    std::array<std::span<const std::byte>, 4> v{};
                    const std::size_t k = s.peek(v);
                    std::uint64_t total = 0;
                    for (std::size_t i = 0; i < k; ++i) {
                        require(!v[i].empty());
                        sink_ ^= static_cast<std::uint8_t>(v[i].front()) ^ static_cast<std::uint8_t>(v[i].back());
                        total += v[i].size();
                    }
                    require(total <= s.readable());
                    if (k == 0) {
                        const tcp::recv_result p = s.poll();
                        if (p.gap != 0) {
                            require(s.skip_gap() == p.gap);
                            continue;
                        }
                        break;
                    }
                    s.consume(total);
                }
            }
        }
    }
    std::uint8_t sink_ = 0;

private:
    std::array<std::byte, 3000> buf_{};
};

rte_mbuf* to_mbuf(const std::uint8_t* p, std::size_t len) {
    const std::size_t room = RTE_MBUF_DEFAULT_DATAROOM;
    std::size_t nsegs = 1 + len % 3;
    if (len > 2 * room) nsegs = 3;
    else if (len > room) nsegs = std::max<std::size_t>(nsegs, 2);
    nsegs = std::max<std::size_t>(1, std::min(nsegs, len));
    rte_mbuf* head = nullptr;
    std::size_t pos = 0;
    for (std::size_t i = 0; i < nsegs; ++i) {
        const std::size_t end = i + 1 == nsegs ? len : len * (i + 1) / nsegs;
        const std::size_t n = end - pos;
        rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
        require(m != nullptr && n <= room);
        void* dst = rte_pktmbuf_append(m, static_cast<std::uint16_t>(n));
        require(dst != nullptr || n == 0);
        if (n != 0) std::memcpy(dst, p + pos, n);
        pos = end;
        if (head == nullptr) head = m;
        else require(rte_pktmbuf_chain(head, m) == 0);
    }
    return head;
}

void write_seeds(const char* dir) {
    struct seed {
        const char* name;
        gen::GenOptions opt;
        std::uint8_t cfg;
        std::size_t max_frames;
    };
    std::vector<seed> seeds;
    auto base = [] {
        gen::GenOptions o = gen::default_options();
        o.flows = 2;
        o.c2s_bytes = 600;
        o.s2c_bytes = 1500;
        o.mss = 200;
        return o;
    };
    seeds.push_back({"default", base(), 0x00, 64});
    {
        auto o = base();
        o.loss = 0.1;
        o.reorder = 0.2;
        o.duplicate = 0.2;
        seeds.push_back({"impaired_verify", o, 0x40, 64});
        seeds.push_back({"impaired_last_chained", o, 0x10, 64});
    }
    {
        auto o = base();
        o.ipv6_share = 1.0;
        o.vlan_tags = 2;
        seeds.push_back({"ipv6_qinq", o, 0x80, 48});
    }
    {
        auto o = base();
        o.handshake = false;
        o.seed = 9;
        seeds.push_back({"midstream", o, 0x08, 48});
    }
    {
        auto o = base();
        o.flows = 1;
        o.mss = 1;
        o.c2s_bytes = 30;
        o.s2c_bytes = 30;
        seeds.push_back({"mss1_cut", o, 0x04, 80});
    }
    for (const seed& s : seeds) {
        auto cap = gen::generate(s.opt);
        require(cap.ok());
        std::vector<std::uint8_t> out{s.cfg};
        std::size_t k = 0;
        for (const auto& f : cap->frames) {
            if (k++ == s.max_frames) break;
            const auto len = static_cast<std::uint16_t>(f.bytes.size());
            const std::uint16_t hdr = static_cast<std::uint16_t>(len | (k == s.max_frames / 2 ? 0x8000U : 0U));
            out.push_back(static_cast<std::uint8_t>(hdr));
            out.push_back(static_cast<std::uint8_t>(hdr >> 8));
            out.insert(out.end(), f.bytes.begin(), f.bytes.end());
        }
        const std::string path = std::string(dir) + "/" + s.name;
        FILE* fp = std::fopen(path.c_str(), "wb");
        require(fp != nullptr);
        require(std::fwrite(out.data(), 1, out.size(), fp) == out.size());
        std::fclose(fp);
        std::printf("wrote %s (%zu bytes)\n", path.c_str(), out.size());
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* dir = std::getenv("RXINTO_WRITE_SEEDS"); dir != nullptr && *dir != '\0') {
        write_seeds(dir);
        std::exit(0);
    }
    const char* eal_argv[] = {"fuzz_reassembler", "-l", "0", "--no-huge", "--no-shconf", "-m", "256",
                              "--no-pci", "--log-level=error"};
    if (rte_eal_init(static_cast<int>(std::size(eal_argv)), const_cast<char**>(eal_argv)) < 0) {
        std::fprintf(stderr, "fuzz_reassembler: rte_eal_init failed\n");
        std::abort();
    }
    g_pool = rte_pktmbuf_pool_create("fuzz_reasm", pool_size, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    require(g_pool != nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t c = data[0];
    tcp::tcp_config cfg;
    cfg.max_flows = 64;
    cfg.max_segments = 512;
    cfg.limits.max_segments = 64;
    cfg.limits.max_bytes = 64 * 1024;
    cfg.limits.max_ooo_bytes = 16 * 1024;
    // Checksum mode 3 (ignore) also runs without a grace limit, as file replays do.
    cfg.limits.ack_grace_packets = (c >> 6) == 3 ? tcp::stream_limits::no_grace_limit : 4;
    cfg.ip_reassembly = (c & 0x08) == 0;
    cfg.frag_max_datagrams = 16;
    cfg.policy = (c & 0x10) != 0 ? tcp::overlap_policy::last : tcp::overlap_policy::first;
    cfg.midstream = (c & 0x20) == 0;
    static constexpr tcp::checksum_mode modes[] = {tcp::checksum_mode::ignore, tcp::checksum_mode::verify,
                                                   tcp::checksum_mode::automatic, tcp::checksum_mode::ignore};
    cfg.checksum = modes[c >> 6];
    cfg.timeout_established_ns = 1'000'000'000ULL;
    cfg.timeout_syn_ns = 100'000'000ULL;
    tcp::port_link link;
    link.link = static_cast<net::link_type>(c & 3U);
    link.may_be_cut = (c & 0x04) != 0;

    auto res = tcp::reassembler::create(cfg, "fz", 0, g_pool, SOCKET_ID_ANY);
    require(res.ok());
    std::unique_ptr<tcp::reassembler> r = std::move(*res);
    reader rd;
    rd.r = r.get();
    r->set_listener(&rd);

    std::array<rte_mbuf*, 8> burst{};
    std::uint16_t n = 0;
    std::uint64_t now = 1'000'000'000ULL;
    std::size_t pos = 1;
    auto flush = [&] {
        if (n == 0) return;
        r->process_burst(burst.data(), n, link, now);
        n = 0;
    };
    while (pos + 2 <= size) {
        const auto hdr = static_cast<std::uint16_t>(data[pos] | (data[pos + 1] << 8));
        pos += 2;
        const std::size_t len = std::min<std::size_t>(hdr & 0x7FFFU, size - pos);
        if ((hdr & 0x8000U) != 0) {
            flush();
            now += 2'000'000'000ULL;
            r->expire(now, 8);
        }
        if (len > 3 * RTE_MBUF_DEFAULT_DATAROOM) {
            pos += len;
            continue;
        }
        burst[n++] = to_mbuf(data + pos, len);
        pos += len;
        now += 1'000'000ULL;
        if (n == burst.size()) flush();
    }
    flush();
    r->finish();
    require(r->active_flows() == 0);
    require(r->segments_in_use() == 0);
    if (!cfg.ip_reassembly) require(pool_free() == pool_size);
    r.reset();  // also frees IP fragments still waiting for the rest of their datagram
    require(pool_free() == pool_size);
    return 0;
}
