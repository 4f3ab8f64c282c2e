#include "rxinto/port/ports.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_thash.h>

#include "rxinto/port/eal.hpp"
#include "rxinto/port/file_port.hpp"

namespace rxinto::port {

namespace {

std::string port_label(std::size_t index, const std::string& name) {
    return "port " + std::to_string(index) + " (" + name + ")";
}

std::string errstr(int rc) { return std::strerror(rc < 0 ? -rc : rc); }

std::string link_sentence(std::uint16_t port_id) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_id, &link) != 0) return "link status unknown";
    std::array<char, RTE_ETH_LINK_MAX_STR_LEN> buf{};
    rte_eth_link_to_str(buf.data(), buf.size(), &link);
    return buf.data();
}

// A 40-byte Toeplitz key of repeated 0x6d5a hashes (a,b) and (b,a) alike, so
// both directions of a connection reach the same queue (Woo & Park, "Scalable
// TCP Session Monitoring with Symmetric Receive-side Scaling").
std::vector<std::uint8_t> symmetric_rss_key(std::size_t len) {
    std::vector<std::uint8_t> k(len);
    for (std::size_t i = 0; i < len; ++i) k[i] = (i % 2 == 0) ? 0x6d : 0x5a;
    return k;
}

}  // namespace

std::vector<std::uint8_t> symmetric_rss_key_for_test(std::size_t len) { return symmetric_rss_key(len); }

bool rss_key_symmetric(const std::vector<std::uint8_t>& key) noexcept {
    if (key.size() < 40) return false;  // rte_softrss reads 40 bytes for an IPv4 tuple
    // Toeplitz in software (rte_softrss) over a sample connection, both ways.
    rte_ipv4_tuple fwd{};
    fwd.src_addr = 0x0a000001;
    fwd.dst_addr = 0xc0a80a02;
    fwd.sport = 40000;
    fwd.dport = 443;
    rte_ipv4_tuple rev{};
    rev.src_addr = fwd.dst_addr;
    rev.dst_addr = fwd.src_addr;
    rev.sport = fwd.dport;
    rev.dport = fwd.sport;
    const auto len = static_cast<std::uint32_t>(RTE_THASH_V4_L4_LEN);
    return rte_softrss(reinterpret_cast<std::uint32_t*>(&fwd), len, key.data()) ==
           rte_softrss(reinterpret_cast<std::uint32_t*>(&rev), len, key.data());
}

std::uint32_t mbufs_needed(const PoolSizing& s) noexcept {
    const std::uint64_t want = std::uint64_t{s.rx_descriptors} +
                               std::uint64_t{s.lcores} * (s.cache + s.burst) +
                               s.reassembly_held;
    std::uint64_t n = 1023;  // never smaller than this: start-up bursts need room
    while (n < want && n < (1ULL << 31)) n = n * 2 + 1;
    return static_cast<std::uint32_t>(n);
}

std::uint32_t usable_cache(std::uint32_t wanted, std::uint32_t n) noexcept {
    std::uint32_t c = std::min<std::uint32_t>(wanted, RTE_MEMPOOL_CACHE_MAX_SIZE);
    while (c > 0 && c * 3 / 2 > n) c /= 2;
    return c;
}

Ports::Ports(Ports&& o) noexcept
    : pool_(std::exchange(o.pool_, nullptr)),
      pool_size_(o.pool_size_),
      ports_(std::move(o.ports_)),
      notes_(std::move(o.notes_)),
      started_(std::move(o.started_)),
      opened_(std::move(o.opened_)),
      files_(std::move(o.files_)),
      limits_(std::move(o.limits_)) {}

Ports& Ports::operator=(Ports&& o) noexcept {
    if (this != &o) {
        close();
        pool_ = std::exchange(o.pool_, nullptr);
        pool_size_ = o.pool_size_;
        ports_ = std::move(o.ports_);
        notes_ = std::move(o.notes_);
        started_ = std::move(o.started_);
        opened_ = std::move(o.opened_);
        files_ = std::move(o.files_);
        limits_ = std::move(o.limits_);
    }
    return *this;
}

Ports::~Ports() { close(); }

void Ports::stop() noexcept {
    for (auto id : started_) rte_eth_dev_stop(id);
    started_.clear();
}

void Ports::close() noexcept {
    stop();
    limits_.clear();
    for (auto& f : files_)
        if (f) f->detach();  // while the ports are valid: a closed port keeps its callbacks
    for (auto id : opened_) rte_eth_dev_close(id);
    opened_.clear();
    files_.clear();  // after the ports: their rings and mappings go last
    if (pool_ != nullptr) {
        rte_mempool_free(pool_);
        pool_ = nullptr;
    }
}

Result<std::uint16_t> Ports::max_rx_queues(const config::PortSettings& p, std::size_t index) {
    // A capture file's port is created by open() and has one queue.
    if (p.kind == config::PortKind::pcap) return std::uint16_t{1};
    const std::string name = device_name(p, index);
    std::uint16_t id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0)
        return make_error(port_label(index, name), ": no such ethdev after EAL probing");
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(id, &info); rc != 0)
        return make_error(port_label(index, name), ": cannot read device info: ", errstr(rc));
    return info.max_rx_queues;
}

Status Ports::limit_rx(std::size_t index, std::uint64_t limit) {
    if (index >= ports_.size()) return make_error("no port ", std::to_string(index));
    auto l = RxLimit::install(ports_[index].port_id, limit);
    if (!l) return std::move(l).error();
    if (limits_.size() < ports_.size()) limits_.resize(ports_.size());
    limits_[index] = std::move(l.value());
    return {};
}

std::uint64_t Ports::limited(std::size_t index) const noexcept {
    return index < limits_.size() && limits_[index] ? limits_[index]->dropped() : 0;
}

Result<Ports> Ports::open(const config::Settings& s, unsigned workers, unsigned lcores,
                          const std::vector<std::string>& pcap_paths, std::uint32_t extra_mbufs,
                          const std::vector<std::shared_ptr<pcapfile::source>>& sources, TxQueues tx) {
    Ports out;
    const unsigned default_queues = std::max(1U, workers);
    std::vector<FilePort*> file_of(s.ports.size(), nullptr);

    // First pass: find every port and decide its queues, so the pool can be sized.
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        const auto& ps = s.ports[i];
        PortInfo pi;
        pi.name = device_name(ps, i);
        if (ps.kind == config::PortKind::pcap) {
            // A capture file: rxinto's own reader behind a net_ring port (file_port.hpp).
            std::shared_ptr<pcapfile::source> src = i < sources.size() ? sources[i] : nullptr;
            if (!src) {
                if (i >= pcap_paths.size() || pcap_paths[i].empty())
                    return make_error("port ", std::to_string(i), ": no capture file to replay");
                auto opened = pcapfile::source::open(pcap_paths[i], {});
                if (!opened) return make_error("port ", std::to_string(i), ": ", opened.error().message);
                src = std::move(opened.value());
            }
            auto fp = FilePort::create(std::move(src), pi.name, static_cast<int>(rte_socket_id()));
            if (!fp) return make_error(port_label(i, pi.name), ": ", fp.error().message);
            file_of[i] = fp->get();
            out.files_.push_back(std::move(fp.value()));
        }
        if (rte_eth_dev_get_port_by_name(pi.name.c_str(), &pi.port_id) != 0) {
            return make_error(port_label(i, pi.name),
                              ": no such ethdev after EAL probing; check the device arguments,"
                              " the PCI address and its vfio-pci binding (dpdk-devbind.py --status)");
        }
        rte_eth_dev_info info{};
        if (int rc = rte_eth_dev_info_get(pi.port_id, &info); rc != 0)
            return make_error(port_label(i, pi.name), ": cannot read device info: ", errstr(rc));
        pi.driver = info.driver_name != nullptr ? info.driver_name : "?";
        if (info.max_rx_queues == 0)
            return make_error(port_label(i, pi.name), ": the device has no rx queue (for net_pcap:"
                                                      " give rx_pcap or rx_iface)");
        if (ps.rx_queues > info.max_rx_queues)
            return make_error(port_label(i, pi.name), ": rx_queues = ", std::to_string(ps.rx_queues),
                              " but the device has at most ", std::to_string(info.max_rx_queues));
        pi.rx_queues = ps.rx_queues != 0
                           ? ps.rx_queues
                           : static_cast<std::uint16_t>(std::min<unsigned>(default_queues,
                                                                           info.max_rx_queues));
        pi.rx_desc = ps.rx_desc;
        std::uint16_t no_tx = 0;
        if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(pi.port_id, &pi.rx_desc, &no_tx); rc != 0)
            return make_error(port_label(i, pi.name), ": descriptor count: ", errstr(rc));
        pi.replay = ps.kind == config::PortKind::pcap;
        if (pi.replay) {
            pi.file = file_of[i];
            pi.pcap_path = file_of[i]->source().path();
            pi.driver = file_of[i]->mapped() ? "rxinto file (mapped)" : "rxinto file (stream)";
        }
        pi.socket = rte_eth_dev_socket_id(pi.port_id);
        out.ports_.push_back(std::move(pi));
    }

    PoolSizing sz;
    // A file port's ring is never filled ahead: its descriptors hold no mbuf.
    for (const auto& p : out.ports_)
        if (!p.replay) sz.rx_descriptors += std::uint32_t{p.rx_queues} * p.rx_desc;
    sz.lcores = std::max(1U, lcores);
    sz.burst = s.run.burst;
    sz.cache = s.mempool.cache;
    sz.reassembly_held = s.mempool.reassembly_held + extra_mbufs;
    const std::uint32_t need = mbufs_needed(sz);
    if (s.mempool.mbufs != 0 && s.mempool.mbufs < need) {
        out.notes_.push_back("[mempool] mbufs = " + std::to_string(s.mempool.mbufs) +
                             " is below the " + std::to_string(need) +
                             " that the queues, caches and reassembly can hold: expect rx_nombuf");
    }
    out.pool_size_ = s.mempool.mbufs != 0 ? s.mempool.mbufs : need;
    // Packets of mapped files stay in the mapping: their mbufs only need room
    // for the external buffer's shared info, a fraction of the pool's memory
    // (and of its start-up time: every mbuf is written once at creation).
    bool all_mapped = !out.ports_.empty();
    for (std::size_t i = 0; i < out.ports_.size(); ++i)
        if (file_of[i] == nullptr || !file_of[i]->mapped()) all_mapped = false;
    const std::uint16_t data_room = all_mapped ? FilePort::min_data_room(true) : s.mempool.data_room;
    const int pool_socket = out.ports_.empty() || out.ports_[0].socket < 0
                                ? static_cast<int>(rte_socket_id())
                                : out.ports_[0].socket;
    out.pool_ = rte_pktmbuf_pool_create("rxinto_rx", out.pool_size_,
                                        usable_cache(s.mempool.cache, out.pool_size_), 0,
                                        data_room, pool_socket);
    if (out.pool_ == nullptr) {
        return make_error("mempool of ", std::to_string(out.pool_size_), " mbufs x ",
                          std::to_string(data_room), " bytes: ",
                          rte_strerror(rte_errno),
                          "; raise [eal] memory_mb (--memory) or lower [mempool] mbufs");
    }

    // Second pass: configure and start.
    for (std::size_t i = 0; i < out.ports_.size(); ++i) {
        auto& pi = out.ports_[i];
        const auto& ps = s.ports[i];
        const std::string label = port_label(i, pi.name);
        rte_eth_dev_info info{};
        if (int rc = rte_eth_dev_info_get(pi.port_id, &info); rc != 0)
            return make_error(label, ": cannot read device info: ", errstr(rc));

        rte_eth_conf conf{};
        std::vector<std::uint8_t> key;
        const std::uint64_t rss_hf =
            (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
        if (ps.rss == config::Tristate::on && rss_hf == 0)
            return make_error(label, ": rss = yes but the device offers no IP/TCP RSS");
        if (pi.rx_queues > 1 && ps.rss != config::Tristate::off && rss_hf != 0) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            key = symmetric_rss_key(info.hash_key_size != 0 ? info.hash_key_size : 40);
            conf.rx_adv_conf.rss_conf.rss_key = key.data();
            conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(key.size());
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            pi.rss = true;
            pi.rss_symmetric = rss_key_symmetric(key);
            if (!pi.rss_symmetric)
                out.notes_.push_back(label + ": the RSS key is not symmetric: the two directions of a"
                                             " connection may reach different workers");
        } else if (pi.rx_queues > 1) {
            out.notes_.push_back(label + ": " + std::to_string(pi.rx_queues) +
                                 " rx queues without RSS: the device spreads packets its own way");
        }

        const std::uint64_t csum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
        if (ps.checksum_offload == config::Tristate::on && (info.rx_offload_capa & csum) != csum)
            return make_error(label, ": checksum_offload = yes but the device cannot check"
                                     " IPv4/TCP checksums");
        if (ps.checksum_offload != config::Tristate::off && (info.rx_offload_capa & csum) == csum) {
            conf.rxmode.offloads |= csum;
            pi.rx_checksum_offload = true;
        }
        // A frame larger than one mbuf is received as a chain where the port can.
        if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
            conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;

        // Receive only (no tx queues), unless the endpoint sends or DPDK's
        // capture tools need an idle one (see TxQueues::idle).
        if (tx == TxQueues::per_rx) {
            if (info.max_tx_queues < pi.rx_queues)
                return make_error(label, ": the endpoint needs a tx queue per rx queue (",
                                  std::to_string(pi.rx_queues), ") but the device has ",
                                  std::to_string(info.max_tx_queues),
                                  " (for net_af_packet: qpairs; for net_af_xdp: queue_count)");
            pi.tx_queues = pi.rx_queues;
        } else if (tx == TxQueues::idle && !pi.replay && info.max_tx_queues >= 1) {
            pi.tx_queues = 1;
        }
        // The idle queue is a convenience: a device that will not take it is
        // configured receive-only, as before, and the notes say so.
        const auto without_idle_tx = [&](int why) {
            out.notes_.push_back(label + ": no idle tx queue (" + errstr(why) +
                                 "): dpdk-dumpcap cannot tap this port, dpdk-pdump can");
            pi.tx_queues = 0;
            return rte_eth_dev_configure(pi.port_id, pi.rx_queues, 0, &conf);
        };
        int configured = rte_eth_dev_configure(pi.port_id, pi.rx_queues, pi.tx_queues, &conf);
        if (configured != 0 && tx == TxQueues::idle && pi.tx_queues != 0) configured = without_idle_tx(configured);
        if (configured != 0)
            return make_error(label, ": configure with ", std::to_string(pi.rx_queues),
                              " rx queues: ", errstr(configured));
        out.opened_.push_back(pi.port_id);
        const unsigned sock = pi.socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(pi.socket);
        for (std::uint16_t q = 0; q < pi.tx_queues; ++q) {
            // An idle queue never holds a packet: the fewest descriptors the device takes.
            std::uint16_t tx_desc = tx == TxQueues::per_rx ? 1024 : 64;
            std::uint16_t no_rx = 0;
            (void)rte_eth_dev_adjust_nb_rx_tx_desc(pi.port_id, &no_rx, &tx_desc);
            rte_eth_txconf txconf = info.default_txconf;
            const int rc = rte_eth_tx_queue_setup(pi.port_id, q, tx_desc, sock, &txconf);
            if (rc == 0) continue;
            if (tx == TxQueues::per_rx)
                return make_error(label, ": tx queue ", std::to_string(q), ": ", errstr(rc));
            if (int rc2 = without_idle_tx(rc); rc2 != 0)
                return make_error(label, ": configure with ", std::to_string(pi.rx_queues),
                                  " rx queues: ", errstr(rc2));
        }
        for (std::uint16_t q = 0; q < pi.rx_queues; ++q) {
            rte_eth_rxconf rxconf = info.default_rxconf;
            rxconf.offloads = conf.rxmode.offloads;
            if (int rc = rte_eth_rx_queue_setup(pi.port_id, q, pi.rx_desc, sock, &rxconf, out.pool_);
                rc != 0)
                return make_error(label, ": rx queue ", std::to_string(q), " with ",
                                  std::to_string(pi.rx_desc), " descriptors: ", errstr(rc));
        }
        if (file_of[i] != nullptr) {
            if (auto st = file_of[i]->attach(out.pool_); !st)
                return make_error(label, ": ", st.error().message);
        }
        if (rte_ether_addr mac{}; rte_eth_macaddr_get(pi.port_id, &mac) == 0)
            std::memcpy(pi.mac.data(), mac.addr_bytes, 6);
        if (int rc = rte_eth_dev_start(pi.port_id); rc != 0)
            return make_error(label, ": start: ", errstr(rc),
                              pi.replay ? " (is the capture file readable by libpcap?)" : "");
        out.started_.push_back(pi.port_id);

        if (ps.promiscuous) {
            const int rc = rte_eth_promiscuous_enable(pi.port_id);
            pi.promiscuous = rc == 0;
            if (rc != 0 && rc != -ENOTSUP)
                out.notes_.push_back(label + ": promiscuous mode: " + errstr(rc));
        }
        pi.link = link_sentence(pi.port_id);
    }
    return out;
}

}  // namespace rxinto::port
