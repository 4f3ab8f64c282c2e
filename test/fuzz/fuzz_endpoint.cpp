// libFuzzer harness for endpoint::endpoint: hostile frames through rxinto's TCP
// endpoint (ARP, ICMP, the handshake, SYN cookies, data, SACK, window, RST and
// FIN handling, timers) with an application that reads, sends and closes, on a
// real EAL (--no-huge --no-shconf); what the endpoint sends goes to a net_ring
// port whose tx ring is emptied after every burst.
//
// Input format:
//   byte 0      bits 0-1: SYN queue 1/4/16/64; bit 2: checksums verified; bit 3:
//               the application reads only every other round (windows close);
//               bit 4: the application sends a reply to each readable connection;
//               bit 5: the application closes after reading; bit 6: syn cookies off
//   then frames: u16 little-endian header, low 15 bits the frame length, bit 15
//               "let 300 ms pass (timers) before this frame"; then the bytes.
// The endpoint owns 10.128.0.1..8 and fd00::2:0:1..8 (the servers of
// rxinto::gen's captures, whose frames make the seeds) and listens on 80, 443
// and 5201.
//
// Invariants (a trap, reported as a crash): the table stays within its
// capacity; after finish() no connection and no held segment is left, and
// after the endpoint is destroyed every mbuf is back in its pool.
//
// Seeds: RXINTO_WRITE_SEEDS=dir ./fuzz_endpoint writes inputs built from
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
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/endpoint/endpoint.hpp"
#include "rxinto/gen/pcap_gen.hpp"

namespace {

using namespace rxinto;

constexpr unsigned pool_size = 2047;
rte_mempool* g_pool = nullptr;
rte_ring* g_rx = nullptr;
rte_ring* g_tx = nullptr;
std::uint16_t g_port = 0;

void require(bool cond) {
    if (!cond) __builtin_trap();
}

unsigned pool_free() { return rte_ring_count(static_cast<const rte_ring*>(g_pool->pool_data)); }

void drain_tx() {
    void* objs[64];
    unsigned n = 0;
    while ((n = rte_ring_dequeue_burst(g_tx, objs, 64, nullptr)) != 0)
        rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objs), n);
}

void write_seeds(const char* dir) {
    struct seed {
        const char* name;
        gen::GenOptions opt;
        std::uint8_t cfg;
    };
    auto base = [] {
        gen::GenOptions o = gen::default_options();
        o.flows = 3;
        o.c2s_bytes = 3000;
        o.s2c_bytes = 200;
        o.mss = 500;
        return o;
    };
    std::vector<seed> seeds;
    seeds.push_back({"default", base(), 0x31});
    {
        auto o = base();
        o.loss = 0.1;
        o.reorder = 0.3;
        o.duplicate = 0.2;
        seeds.push_back({"impaired", o, 0x09});
    }
    {
        auto o = base();
        o.ipv6_share = 1.0;
        seeds.push_back({"ipv6", o, 0x12});
    }
    for (const seed& s : seeds) {
        auto cap = gen::generate(s.opt);
        require(cap.ok());
        std::vector<std::uint8_t> out{s.cfg};
        std::size_t k = 0;
        for (const auto& f : cap->frames) {
            if (k++ == 96) break;
            const auto len = static_cast<std::uint16_t>(f.bytes.size());
            const std::uint16_t hdr = static_cast<std::uint16_t>(len | (k == 48 ? 0x8000U : 0U));
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
    const char* eal_argv[] = {"fuzz_endpoint", "-l", "0", "--no-huge", "--no-shconf", "-m", "256",
                              "--no-pci", "--log-level=error"};
    if (rte_eal_init(static_cast<int>(std::size(eal_argv)), const_cast<char**>(eal_argv)) < 0) {
        std::fprintf(stderr, "fuzz_endpoint: rte_eal_init failed\n");
        std::abort();
    }
    g_pool = rte_pktmbuf_pool_create("fuzz_ep", pool_size, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    g_rx = rte_ring_create("fuzz_ep_rx", 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    g_tx = rte_ring_create("fuzz_ep_tx", 8192, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    require(g_pool != nullptr && g_rx != nullptr && g_tx != nullptr);
    const int port = rte_eth_from_rings("fuzz_ep_port", &g_rx, 1, &g_tx, 1, SOCKET_ID_ANY);
    require(port >= 0);
    g_port = static_cast<std::uint16_t>(port);
    rte_eth_conf conf{};
    require(rte_eth_dev_configure(g_port, 1, 1, &conf) == 0);
    require(rte_eth_rx_queue_setup(g_port, 0, 64, SOCKET_ID_ANY, nullptr, g_pool) == 0);
    require(rte_eth_tx_queue_setup(g_port, 0, 64, SOCKET_ID_ANY, nullptr) == 0);
    require(rte_eth_dev_start(g_port) == 0);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t c = data[0];
    endpoint::endpoint_config cfg;
    for (int i = 1; i <= 8; ++i) {
        cfg.addresses.push_back(endpoint::parse_address("10.128.0." + std::to_string(i)).value());
        cfg.addresses.push_back(endpoint::parse_address("fd00::2:0:" + std::to_string(i)).value());
    }
    cfg.listen_ports = {80, 443, 5201};
    static constexpr std::uint32_t queues[] = {1, 4, 16, 64};
    cfg.syn_queue = queues[c & 3U];
    cfg.verify_checksums = (c & 0x04) != 0;
    cfg.syn_cookies = (c & 0x40) == 0;
    cfg.max_connections = 32;
    cfg.max_segments = 256;
    cfg.receive_buffer = 8192;
    cfg.tx_mbufs = 1023;
    cfg.time_wait_max = 4;
    // The gen's frames go to the server's MAC: whatever it is, take the first
    // frame's destination as ours (a unicast frame to another MAC is dropped).
    std::array<std::uint8_t, 6> mac{0x02, 0, 0, 0, 0, 0x02};
    if (size >= 1 + 2 + 6) std::memcpy(mac.data(), data + 3, 6);
    mac[0] &= 0xfe;
    cfg.ports = {{g_port, 0, mac}};
    auto res = endpoint::endpoint::create(cfg, "fze", 0, SOCKET_ID_ANY);
    require(res.ok());
    std::unique_ptr<endpoint::endpoint> ep = std::move(*res);

    std::array<std::byte, 1500> buf{};
    std::array<rte_mbuf*, 8> burst{};
    std::uint16_t n = 0;
    std::uint64_t now = 1'000'000'000ULL;
    unsigned round = 0;
    auto app = [&] {
        ++round;
        for (const tcp::event& e : ep->events()) {
            tcp::stream& s = e.conn->in(endpoint::endpoint::inbound(*e.conn));
            if ((c & 0x08) == 0 || (round & 1U) == 0) {
                for (int guard = 0; guard < 1000; ++guard) {
                    const tcp::recv_result r = s.recv_into(buf);
                    // An endpoint never gives up on a hole while the stream goes on; a
                    // RST or the end leaves what never came as a gap.
                    require(r.gap == 0 || s.ended() != tcp::end_reason::none);
                    if (r.gap != 0) {
                        s.skip_gap();
                        continue;
                    }
                    if (r.bytes == 0) break;
                }
            }
            if ((c & 0x10) != 0 && e.kind == tcp::event_kind::readable)
                (void)ep->send(*e.conn, std::span<const std::byte>(buf.data(), 1 + round % 100));
            if ((c & 0x20) != 0 && s.finished()) ep->close(*e.conn);
            if (round % 97 == 0) ep->abort(*e.conn);
        }
    };
    auto flush = [&] {
        if (n != 0) ep->process_burst(burst.data(), n, now);
        n = 0;
        app();
        ep->flush(now);
        require(ep->connections() <= cfg.max_connections);
        drain_tx();
    };
    std::size_t pos = 1;
    while (pos + 2 <= size) {
        const auto hdr = static_cast<std::uint16_t>(data[pos] | (data[pos + 1] << 8));
        pos += 2;
        const std::size_t len = std::min<std::size_t>(hdr & 0x7FFFU, size - pos);
        if ((hdr & 0x8000U) != 0) {
            flush();
            now += 300'000'000ULL;
            flush();
        }
        if (len == 0 || len > RTE_MBUF_DEFAULT_DATAROOM) {
            pos += len;
            continue;
        }
        rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
        require(m != nullptr);
        std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(len)), data + pos, len);
        m->port = g_port;
        burst[n++] = m;
        pos += len;
        now += 1'000'000ULL;
        if (n == burst.size()) flush();
    }
    flush();
    ep->finish(now);
    drain_tx();
    require(ep->connections() == 0);
    require(ep->segments_in_use() == 0);
    ep.reset();
    drain_tx();
    require(pool_free() == pool_size);
    return 0;
}
