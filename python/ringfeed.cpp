// _rxinto_ringfeed: the Python benchmark's traffic (test/bench/bench_python.py),
// the way rxbench feeds rxinto (app/rxbench/feed.*): pre-built frames of N
// client -> server IPv4/TCP connections written by a generator into mbufs of a
// pool of its own (the payload pattern written once when the pool was made, so
// that the receiver's copy reads memory the generator did not just touch, as
// after a NIC's DMA), enqueued on an rte_ring that net_ring presents as a port.
// A rxinto.Receiver(vdev=<name>) then polls that port like any other.
//
// Not part of `rxinto`: benchmark code only. The EAL must be up first
// (rxinto.init_eal()): this module shares the process's DPDK.
#include <Python.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "feed.hpp"
#include "rxinto/net/parse.hpp"

namespace py = pybind11;

namespace {

namespace feed = rxbench::feed;
namespace net = rxinto::net;

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error(msg); }

constexpr std::uint32_t tag_len = 8;                // the first bytes of each segment: flow and seq
constexpr std::uint32_t ack_every = 256U << 20;     // a server ACK per flow every 256 MiB (window: 1 GiB)

std::uint32_t client_isn(std::uint32_t i) { return 0x9E3779B9U * (2 * i + 1); }
std::uint32_t server_isn(std::uint32_t i) { return 0x85EBCA6BU * (2 * i + 2); }

void prefill(rte_mempool*, void*, void* obj, unsigned) {
    auto* m = static_cast<rte_mbuf*>(obj);
    std::memcpy(static_cast<std::uint8_t*>(m->buf_addr) + RTE_PKTMBUF_HEADROOM + feed::data_hdr,
                feed::g_pattern.bytes, feed::max_payload);
}

void put32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

class RingFeed {
public:
    RingFeed(std::string name, std::uint32_t mbufs, std::uint32_t ring_size, std::uint32_t flows, std::uint32_t seg)
        : name_(std::move(name)), flows_(flows), seg_(seg) {
        if (rte_lcore_count() == 0) fail("the EAL is not up: call rxinto.init_eal() first");
        if (flows == 0 || flows > 50000) fail("flows: 1..50000");
        if (seg <= tag_len || seg > feed::max_payload) fail("seg: 9..1448");
        const int socket = static_cast<int>(rte_socket_id());
        ring_ = rte_ring_create((name_ + "_r").c_str(), ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (ring_ == nullptr) fail(std::string("rte_ring_create: ") + rte_strerror(rte_errno));
        pool_ = rte_pktmbuf_pool_create((name_ + "_p").c_str(), mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
        if (pool_ == nullptr) {
            close();
            fail(std::string("generator mempool: ") + rte_strerror(rte_errno) + " (raise the EAL's memory)");
        }
        rte_mempool_obj_iter(pool_, prefill, nullptr);
        port_id_ = rte_eth_from_rings(name_.c_str(), &ring_, 1, &ring_, 1, static_cast<unsigned>(socket));
        if (port_id_ < 0) {
            close();
            fail(std::string("rte_eth_from_rings: ") + rte_strerror(rte_errno));
        }
        char devname[RTE_ETH_NAME_MAX_LEN] = {};
        rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(port_id_), devname);
        name_ = devname;  // "net_ring_" + name: the vdev's and the ethdev's name (what vdev= gives a Receiver)
        vdev_ = name_;
        next_seq_.resize(flows);
        unacked_.assign(flows, 0);
        for (std::uint32_t i = 0; i < flows; ++i) next_seq_[i] = client_isn(i) + 1;
        pattern_sum_ = net::ones_complement_sum(feed::g_pattern.bytes + tag_len, seg_ - tag_len);
    }
    ~RingFeed() { close(); }
    RingFeed(const RingFeed&) = delete;
    RingFeed& operator=(const RingFeed&) = delete;

    /// SYN, SYN-ACK, ACK and a server window update, flow after flow.
    std::uint64_t handshake() {
        std::uint32_t step = 0;
        return fill_with(4ULL * flows_, [&](rte_mbuf* m) {
            const std::uint32_t f = step / 4;
            const std::uint32_t c = client_isn(f), s = server_isn(f);
            auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
            std::uint32_t len = 0;
            switch (step++ % 4) {
            case 0: len = feed::write_headers(p, true, f, net::tcp_flag::syn, c, 0, true, 0, 0, id(), ts()); break;
            case 1:
                len = feed::write_headers(p, false, f, net::tcp_flag::syn | net::tcp_flag::ack, s, c + 1, true, 0, 0,
                                          id(), ts());
                break;
            case 2:
                len = feed::write_headers(p, true, f, net::tcp_flag::ack, c + 1, s + 1, false, 0, 0, id(), ts());
                break;
            default:
                len = feed::write_headers(p, false, f, net::tcp_flag::ack, s + 1, c + 1, false, 0, 0, id(), ts());
                break;
            }
            set_len(m, len);
        });
    }

    /// n more data frames (round robin over the flows, in order), with a server
    /// ACK after every 256 MiB of a flow; returns how many were enqueued (fewer
    /// when the pool or the ring is full: the receiver has to poll first).
    std::uint64_t fill(std::uint64_t n) {
        std::uint64_t done = 0;
        {
            py::gil_scoped_release nogil;
            done = fill_with(n, [&](rte_mbuf* m) { data(m); });
        }
        return done;
    }

    /// FIN/ACK both ways and the last ACK, for every flow: the connections close.
    std::uint64_t finish() {
        std::uint32_t step = 0;
        return fill_with(3ULL * flows_, [&](rte_mbuf* m) {
            const std::uint32_t f = step / 3;
            const std::uint32_t s = server_isn(f) + 1;
            auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
            std::uint32_t len = 0;
            using net::tcp_flag::ack;
            using net::tcp_flag::fin;
            switch (step++ % 3) {
            case 0: len = feed::write_headers(p, true, f, fin | ack, next_seq_[f], s, false, 0, 0, id(), ts()); break;
            case 1: len = feed::write_headers(p, false, f, fin | ack, s, next_seq_[f] + 1, false, 0, 0, id(), ts()); break;
            default: len = feed::write_headers(p, true, f, ack, next_seq_[f] + 1, s + 1, false, 0, 0, id(), ts()); break;
            }
            set_len(m, len);
        });
    }

    [[nodiscard]] std::uint64_t pending() const { return ring_ != nullptr ? rte_ring_count(ring_) : 0; }
    [[nodiscard]] std::uint64_t payload() const { return payload_; }
    [[nodiscard]] std::uint64_t packets() const { return packets_; }
    [[nodiscard]] std::uint64_t pool_in_use() const { return pool_ != nullptr ? rte_mempool_in_use_count(pool_) : 0; }
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] int port_id() const { return port_id_; }

    /// Frees what is left in the ring, then the pool (only when every mbuf is
    /// back: a Receiver still holding some must be closed first), the ring
    /// port's device (the Receiver closed the port; the name can be used again)
    /// and the ring.
    void close() {
        if (ring_ != nullptr) {
            void* obj = nullptr;
            while (rte_ring_dequeue(ring_, &obj) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
        }
        if (pool_ != nullptr) {
            if (rte_mempool_in_use_count(pool_) != 0)
                fail("RingFeed.close(): " + std::to_string(rte_mempool_in_use_count(pool_)) +
                     " mbufs are still held (close the Receiver first)");
            rte_mempool_free(pool_);
            pool_ = nullptr;
        }
        if (!vdev_.empty()) {
            (void)rte_vdev_uninit(vdev_.c_str());
            vdev_.clear();
        }
        if (ring_ != nullptr) {
            rte_ring_free(ring_);
            ring_ = nullptr;
        }
    }

private:
    static void set_len(rte_mbuf* m, std::uint32_t len) {
        m->data_len = static_cast<std::uint16_t>(len);
        m->pkt_len = len;
    }
    std::uint16_t id() { return static_cast<std::uint16_t>(++ip_id_); }
    std::uint32_t ts() { return ++tsval_; }

    void data(rte_mbuf* m) {
        auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
        if (ack_pending_) {
            ack_pending_ = false;
            set_len(m, feed::write_headers(p, false, ack_flow_, net::tcp_flag::ack, server_isn(ack_flow_) + 1,
                                           next_seq_[ack_flow_], false, 0, 0, id(), ts()));
            ++packets_;
            return;
        }
        const std::uint32_t f = cursor_;
        cursor_ = cursor_ + 1 == flows_ ? 0 : cursor_ + 1;
        const std::uint32_t seq = next_seq_[f];
        // The payload pattern is in the mbuf since the pool was made: only the tag is new.
        std::uint8_t* tag = p + feed::data_hdr;
        put32(tag, f);
        put32(tag + 4, seq);
        const std::uint32_t payload_sum = net::ones_complement_sum(tag, tag_len, pattern_sum_);
        const std::uint32_t hl = feed::write_headers(p, true, f, net::tcp_flag::ack | net::tcp_flag::psh, seq,
                                                     server_isn(f) + 1, false, seg_, payload_sum, id(), ts());
        set_len(m, hl + seg_);
        next_seq_[f] = seq + seg_;
        payload_ += seg_;
        ++packets_;
        unacked_[f] += seg_;
        if (unacked_[f] >= ack_every) {
            unacked_[f] = 0;
            ack_pending_ = true;
            ack_flow_ = f;
        }
    }

    template <class W>
    std::uint64_t fill_with(std::uint64_t n, W&& w) {
        rte_mbuf* b[32];
        std::uint64_t done = 0;
        while (done < n) {
            const unsigned k = static_cast<unsigned>(std::min<std::uint64_t>(32, n - done));
            if (rte_ring_free_count(ring_) < k) break;
            if (rte_pktmbuf_alloc_bulk(pool_, b, k) != 0) break;
            for (unsigned i = 0; i < k; ++i) w(b[i]);
            const unsigned e = rte_ring_enqueue_burst(ring_, reinterpret_cast<void* const*>(b), k, nullptr);
            if (e != k) rte_pktmbuf_free_bulk(b + e, k - e);  // cannot happen: the free count was checked
            done += e;
            if (e != k) break;
        }
        return done;
    }

    std::string name_;  ///< the ethdev's name (what a Receiver's vdev= names)
    std::string vdev_;  ///< the vdev rte_eth_from_rings made (removed at close)
    int port_id_ = -1;
    rte_ring* ring_ = nullptr;
    rte_mempool* pool_ = nullptr;
    std::uint32_t flows_ = 1;
    std::uint32_t seg_ = feed::max_payload;
    std::uint32_t pattern_sum_ = 0;
    std::vector<std::uint32_t> next_seq_;
    std::vector<std::uint32_t> unacked_;
    std::uint32_t cursor_ = 0;
    bool ack_pending_ = false;
    std::uint32_t ack_flow_ = 0;
    std::uint32_t ip_id_ = 0;
    std::uint32_t tsval_ = 1;
    std::uint64_t payload_ = 0;
    std::uint64_t packets_ = 0;
};

}  // namespace

PYBIND11_MODULE(_rxinto_ringfeed, m) {
    m.doc() = "Benchmark traffic for rxinto through a net_ring port (test/bench/bench_python.py).";
    py::class_<RingFeed>(m, "RingFeed")
        .def(py::init<std::string, std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t>(),
             py::arg("name") = "net_ring_pyfeed", py::arg("mbufs") = 65535, py::arg("ring_size") = 32768,
             py::arg("flows") = 1, py::arg("seg") = 1448)
        .def("handshake", &RingFeed::handshake)
        .def("fill", &RingFeed::fill, py::arg("n"))
        .def("finish", &RingFeed::finish)
        .def("close", &RingFeed::close)
        .def_property_readonly("pending", &RingFeed::pending)
        .def_property_readonly("payload", &RingFeed::payload)
        .def_property_readonly("packets", &RingFeed::packets)
        .def_property_readonly("pool_in_use", &RingFeed::pool_in_use)
        .def_property_readonly("name", &RingFeed::name)
        .def_property_readonly("port_id", &RingFeed::port_id);
}
