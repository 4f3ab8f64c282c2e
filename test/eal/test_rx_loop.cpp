// The receive loop and the port layer on a real EAL with real mempools
// (--no-huge): packets and bytes counted exactly, every mbuf back in its pool.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/pcapfile/source.hpp"
#include "rxinto/port/ports.hpp"

using namespace rxinto;

namespace {

unsigned first_worker_lcore() { return rte_get_next_lcore(rte_get_main_lcore(), 1, 0); }

config::Settings vdev_settings(const std::string& devargs, std::uint16_t queues) {
    config::Settings s;
    config::PortSettings p;
    p.kind = config::PortKind::vdev;
    p.source = devargs;
    p.rx_queues = queues;
    p.rx_desc = 256;
    s.ports = {p};
    s.mempool.reassembly_held = 0;
    return s;
}

/// A net_ring port whose rx ring the test fills by hand: the stand-in for DMA.
struct RingPort {
    rte_ring* ring = nullptr;
    int port = -1;
    std::string name;  ///< the ethdev's name, which net_ring derives from ours
    explicit RingPort(const char* n) {
        ring = rte_ring_create((std::string(n) + "_r").c_str(), 4096, SOCKET_ID_ANY,
                               RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (ring != nullptr) port = rte_eth_from_rings(n, &ring, 1, &ring, 1, SOCKET_ID_ANY);
        char buf[RTE_ETH_NAME_MAX_LEN] = {};
        if (port >= 0 && rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(port), buf) == 0)
            name = buf;
    }
    ~RingPort() { rte_ring_free(ring); }
};

}  // namespace

TEST(RxLoop, NetRingCountsExactlyAndReturnsEveryMbuf) {
    RingPort rp("rxt_ring0");
    ASSERT_NE(rp.ring, nullptr);
    ASSERT_GE(rp.port, 0);

    auto ports = port::Ports::open(vdev_settings(rp.name, 1), 1, 2, {""});
    ASSERT_TRUE(ports.ok()) << ports.error().message;
    ASSERT_EQ(ports->ports().size(), 1U);

    // A separate pool for the "NIC": the worker must free every mbuf back to it.
    rte_mempool* gen = rte_pktmbuf_pool_create("rxt_gen", 2047, 0, 0, 2176, SOCKET_ID_ANY);
    ASSERT_NE(gen, nullptr);

    capture::QueueCounters qc;
    capture::FreeSink sink;
    std::atomic<bool> stop{false};
    capture::Worker w;
    w.lcore = first_worker_lcore();
    w.queues.push_back({0, ports->ports()[0].port_id, 0, &qc});
    w.burst = 32;
    w.sink = &sink;
    w.stop = &stop;
    ASSERT_EQ(rte_eal_remote_launch(capture::worker_main, &w, w.lcore), 0);

    constexpr std::uint64_t total = 20000;
    std::uint64_t sent = 0;
    std::uint64_t sent_bytes = 0;
    rte_mbuf* burst[32];
    while (sent < total) {
        const unsigned n = static_cast<unsigned>(std::min<std::uint64_t>(32, total - sent));
        if (rte_pktmbuf_alloc_bulk(gen, burst, n) != 0) continue;  // worker frees them soon
        for (unsigned i = 0; i < n; ++i) {
            const auto len = static_cast<std::uint16_t>(60 + (sent + i) % 1400);
            burst[i]->data_len = len;
            burst[i]->pkt_len = len;
            sent_bytes += len;
        }
        unsigned done = 0;
        while (done < n) done += rte_ring_enqueue_burst(rp.ring, reinterpret_cast<void**>(burst + done), n - done, nullptr);
        sent += n;
    }
    while (qc.packets.get() < total) rte_pause();
    stop.store(true);
    rte_eal_mp_wait_lcore();

    EXPECT_EQ(qc.packets.get(), total);
    EXPECT_EQ(qc.bytes.get(), sent_bytes);
    EXPECT_EQ(w.counters.packets.get(), total);
    EXPECT_GT(w.counters.polls.get(), 0U);
    EXPECT_EQ(rte_mempool_avail_count(gen), 2047U) << "every mbuf back in the generator pool";
    ports->stop();
    EXPECT_EQ(rte_mempool_avail_count(ports->pool()), ports->pool_size());
    ports->close();
    rte_mempool_free(gen);
}

TEST(RxLoop, ChainedMbufsAreFreedWhole) {
    rte_mempool* pool = rte_pktmbuf_pool_create("rxt_chain", 1023, 0, 0, 2176, SOCKET_ID_ANY);
    ASSERT_NE(pool, nullptr);
    rte_mbuf* pkts[4];
    for (auto& p : pkts) {
        p = rte_pktmbuf_alloc(pool);
        ASSERT_NE(p, nullptr);
        rte_mbuf* seg = rte_pktmbuf_alloc(pool);
        ASSERT_NE(seg, nullptr);
        ASSERT_EQ(rte_pktmbuf_chain(p, seg), 0);
    }
    EXPECT_EQ(rte_mempool_in_use_count(pool), 8U);
    capture::FreeSink sink;
    capture::QueueRef q{};
    sink.on_burst(q, pkts, 4);
    EXPECT_EQ(rte_mempool_avail_count(pool), 1023U);
    rte_mempool_free(pool);
}

TEST(Ports, NetNullWithTwoQueuesOnTwoWorkerShapes) {
    ASSERT_EQ(rte_vdev_init("net_null7", "size=64,copy=0"), 0);
    auto ports = port::Ports::open(vdev_settings("net_null7", 2), 1, 2, {""});
    ASSERT_TRUE(ports.ok()) << ports.error().message;
    const auto& pi = ports->ports()[0];
    EXPECT_EQ(pi.rx_queues, 2);
    EXPECT_EQ(pi.driver, "net_null");

    capture::QueueCounters q0, q1;
    capture::FreeSink sink;
    std::atomic<bool> stop{false};
    capture::Worker w;
    w.lcore = first_worker_lcore();
    w.queues = {{0, pi.port_id, 0, &q0}, {0, pi.port_id, 1, &q1}};
    w.sink = &sink;
    w.stop = &stop;
    ASSERT_EQ(rte_eal_remote_launch(capture::worker_main, &w, w.lcore), 0);
    while (q0.packets.get() < 100000 || q1.packets.get() < 100000) rte_pause();
    stop.store(true);
    rte_eal_mp_wait_lcore();
    EXPECT_EQ(q0.bytes.get(), q0.packets.get() * 64);
    EXPECT_EQ(q1.bytes.get(), q1.packets.get() * 64);
    EXPECT_EQ(w.counters.packets.get(), q0.packets.get() + q1.packets.get());
    ports->stop();
    EXPECT_EQ(rte_mempool_avail_count(ports->pool()), ports->pool_size());
}

TEST(Ports, UnknownDeviceSaysWhatToCheck) {
    auto ports = port::Ports::open(vdev_settings("net_nosuch0", 1), 1, 2, {""});
    ASSERT_FALSE(ports.ok());
    EXPECT_NE(ports.error().message.find("no such ethdev"), std::string::npos)
        << ports.error().message;
}

TEST(Ports, TooManyQueuesIsAnError) {
    RingPort rp("rxt_ring1");  // one rx ring: one rx queue at most
    ASSERT_GE(rp.port, 0);
    auto s = vdev_settings(rp.name, 2);
    auto ports = port::Ports::open(s, 1, 2, {""});
    ASSERT_FALSE(ports.ok());
    EXPECT_NE(ports.error().message.find("at most"), std::string::npos) << ports.error().message;
}

TEST(Ports, MbufsBelowNeedIsSaid) {
    ASSERT_EQ(rte_vdev_init("net_null9", "size=64"), 0);
    auto s = vdev_settings("net_null9", 1);
    s.mempool.mbufs = 511;
    auto ports = port::Ports::open(s, 1, 2, {""});
    ASSERT_TRUE(ports.ok()) << ports.error().message;
    ASSERT_FALSE(ports->notes().empty());
    EXPECT_NE(ports->notes()[0].find("rx_nombuf"), std::string::npos);
}

// The Python module opens and closes one run after another in one process,
// and the next capture port gets the port id of the last one. Before, a
// capture port's rx callback stayed on its port id once the port was closed
// (FilePort removed it only while the port was still valid), and the next
// port of that id ran it too: a use of the freed FilePort (a crash in the
// Python tests now and then; ASan says it every time).
TEST(Ports, CapturePortsOneAfterAnotherInOneProcess) {
    const auto write_pcap = [](const std::string& path, unsigned frames) {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        const std::uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
        std::fwrite(gh, sizeof gh, 1, f);
        for (unsigned i = 0; i < frames; ++i) {
            const std::uint32_t rh[4] = {i + 1, 0, 60, 60};
            std::uint8_t frame[60] = {};
            frame[12] = 0x08;  // an Ethernet frame that carries IPv4 (content does not matter here)
            frame[59] = static_cast<std::uint8_t>(i);
            std::fwrite(rh, sizeof rh, 1, f);
            std::fwrite(frame, sizeof frame, 1, f);
        }
        std::fclose(f);
    };
    const std::string dir = "/tmp/rxinto_test_rx_loop_" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    const unsigned counts[] = {5, 7, 3};
    for (unsigned run = 0; run < 3; ++run) {
        const std::string path = dir + "/c" + std::to_string(run) + ".pcap";
        write_pcap(path, counts[run]);
        auto src = pcapfile::source::open(path, {});
        ASSERT_TRUE(src.ok()) << src.error().message;
        config::Settings s;
        config::PortSettings p;
        p.kind = config::PortKind::pcap;
        p.source = path;
        p.rx_queues = 1;
        p.rx_desc = 256;
        s.ports = {p};
        s.mempool.reassembly_held = 0;
        auto ports = port::Ports::open(s, 1, 2, {path}, 0, {src.value()});
        ASSERT_TRUE(ports.ok()) << ports.error().message;
        const std::uint16_t id = ports->ports()[0].port_id;
        unsigned got = 0;
        rte_mbuf* pkts[32];
        for (int tries = 0; tries < 1000; ++tries) {
            const std::uint16_t n = rte_eth_rx_burst(id, 0, pkts, 32);
            got += n;
            rte_pktmbuf_free_bulk(pkts, n);
            if (n == 0 && got >= counts[run]) break;
        }
        EXPECT_EQ(got, counts[run]) << "run " << run << " on port " << id;
        ports->close();
        ::unlink(path.c_str());
    }
    ::rmdir(dir.c_str());
}
