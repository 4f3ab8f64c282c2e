// Mempool and port set-up (control path).
//
// Ports::open() creates one packet mempool, then configures and starts every
// port of the settings: rx queues, descriptors, RSS (symmetric key) when the
// port has it and there is more than one queue, rx checksum offload where it
// exists, promiscuous mode. Ports::close() stops and closes every port and
// frees the pool; after it every mbuf is back in the pool (tests check this).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/pcapfile/source.hpp"
#include "rxinto/port/file_port.hpp"

struct rte_mempool;

namespace rxinto::port {

/// Inputs of the mempool size; pure so that the rule can be unit-tested.
struct PoolSizing {
    std::uint32_t rx_descriptors = 0;   ///< sum over ports and queues
    std::uint32_t lcores = 1;           ///< every lcore that may hold a cache and a burst
    std::uint32_t burst = 32;
    std::uint32_t cache = 256;
    std::uint32_t reassembly_held = 0;  ///< mbufs that reassembly may hold on to
};

/// Mbufs needed: every descriptor filled, every lcore's cache full and one
/// burst in flight, plus what reassembly may hold; rounded up to 2^n - 1 (the
/// size rte_mempool is most memory-efficient at).
[[nodiscard]] std::uint32_t mbufs_needed(const PoolSizing& s) noexcept;

/// Mempool cache size actually usable for `n` mbufs (rte_mempool requires
/// cache <= RTE_MEMPOOL_CACHE_MAX_SIZE and cache * 1.5 <= n).
[[nodiscard]] std::uint32_t usable_cache(std::uint32_t wanted, std::uint32_t n) noexcept;

/// Does this Toeplitz key hash both directions of a connection alike?
/// (Checked with rte_softrss on a sample IPv4/TCP tuple, both ways.)
[[nodiscard]] bool rss_key_symmetric(const std::vector<std::uint8_t>& key) noexcept;

/// The key rxinto programs: 0x6d5a repeated (Woo & Park), `len` bytes.
[[nodiscard]] std::vector<std::uint8_t> symmetric_rss_key_for_test(std::size_t len);

struct PortInfo {
    std::uint16_t port_id = 0;
    std::string name;          ///< ethdev name
    std::string driver;        ///< driver name, e.g. net_pcap
    std::uint16_t rx_queues = 0;
    std::uint16_t rx_desc = 0;
    bool rss = false;
    bool rss_symmetric = false;  ///< the RSS key hashes (a,b) and (b,a) alike (checked at start-up)
    bool rx_checksum_offload = false;
    bool promiscuous = false;
    bool replay = false;       ///< a pcap port: it ends when the file does
    std::string pcap_path;     ///< for replay ports
    const FilePort* file = nullptr;  ///< for replay ports: the reader (owned by Ports)
    int socket = -1;
    std::string link;          ///< link status sentence at start-up
    /// TxQueues::per_rx: as many as rx queues (queue i: the poller of rx queue i);
    /// TxQueues::idle: 1 that rxinto never sends on (0 when the device has none).
    std::uint16_t tx_queues = 0;
    std::array<std::uint8_t, 6> mac{};  ///< the port's MAC address (rte_eth_macaddr_get)
};

/// The tx queues Ports::open() gives a port.
enum class TxQueues : std::uint8_t {
    none,    ///< receive only
    /// One tx queue on each live port that rxinto never sends on: DPDK 22.11's
    /// pdump server refuses to tap a port without one ("number of tx queues
    /// cannot be 0"), and dpdk-dumpcap always asks for both directions.
    idle,
    per_rx,  ///< one per rx queue, for the lcore that polls it (the endpoint sends)
};

class Ports {
public:
    Ports() = default;
    Ports(const Ports&) = delete;
    Ports& operator=(const Ports&) = delete;
    Ports(Ports&& o) noexcept;
    Ports& operator=(Ports&& o) noexcept;
    ~Ports();

    /// Creates the pool and starts every port. `workers` is the number of
    /// worker lcores (the default queue count); `lcores` all lcores (pool caches).
    /// `pcap_paths[i]` is the capture of port i when it is a pcap port.
    /// `extra_mbufs`: mbufs held elsewhere on their way (dispatch rings).
    /// `sources[i]`: the opened capture of pcap port i (opened here from
    /// pcap_paths[i] when absent). Pcap ports are FilePorts (file_port.hpp);
    /// when every port is a mapped file, mbufs get only the data room an
    /// external buffer needs (the packets stay in the mapping).
    /// `tx`: receive only (none), an idle tx queue for DPDK's capture tools
    /// (idle; live ports only, never an error), or one tx queue per rx queue,
    /// each for the lcore that polls that rx queue (per_rx: the endpoint sends).
    [[nodiscard]] static Result<Ports> open(
        const config::Settings& s, unsigned workers, unsigned lcores,
        const std::vector<std::string>& pcap_paths, std::uint32_t extra_mbufs = 0,
        const std::vector<std::shared_ptr<pcapfile::source>>& sources = {},
        TxQueues tx = TxQueues::none);

    /// Drops everything port `index` (queue 0) delivers after `limit` packets
    /// (DPDK's net_pcap after the last record libpcap accepts). After open().
    [[nodiscard]] Status limit_rx(std::size_t index, std::uint64_t limit);
    /// Packets limit_rx() dropped on port `index`.
    [[nodiscard]] std::uint64_t limited(std::size_t index) const noexcept;

    /// The most rx queues the device of port `index` offers (after EAL probing).
    [[nodiscard]] static Result<std::uint16_t> max_rx_queues(const config::PortSettings& p,
                                                             std::size_t index);

    /// Stops every port (the driver gives back the mbufs in its rx rings);
    /// the ports stay configured and the pool stays. Idempotent.
    void stop() noexcept;

    /// Stops and closes every port, then frees the pool. Idempotent.
    void close() noexcept;

    [[nodiscard]] const std::vector<PortInfo>& ports() const noexcept { return ports_; }
    [[nodiscard]] rte_mempool* pool() const noexcept { return pool_; }
    [[nodiscard]] std::uint32_t pool_size() const noexcept { return pool_size_; }
    /// Short notes worth printing once (e.g. "port 0: RSS not supported").
    [[nodiscard]] const std::vector<std::string>& notes() const noexcept { return notes_; }

private:
    rte_mempool* pool_ = nullptr;
    std::uint32_t pool_size_ = 0;
    std::vector<PortInfo> ports_;
    std::vector<std::string> notes_;
    std::vector<std::uint16_t> started_;  ///< started and not yet stopped
    std::vector<std::uint16_t> opened_;   ///< configured and not yet closed
    std::vector<std::unique_ptr<FilePort>> files_;  ///< replay ports' readers
    std::vector<std::unique_ptr<RxLimit>> limits_;  ///< per port index, or null
};

}  // namespace rxinto::port
