// Capture-file replay ports (control path to create; the rx path runs on the
// lcore that polls the port).
//
// A FilePort is an ethdev whose rx queue 0 delivers the records of a capture
// file (pcapfile::source), read with rxinto's strict parser:
//  * mapped files: no copy. Each record becomes an mbuf from the queue's pool
//    with an external buffer pointing into the file's private mapping
//    (rte_pktmbuf_attach_extbuf). The external buffer's shared-info struct
//    lives in the mbuf's own, otherwise unused, data room: one per mbuf, so no
//    reference count is shared between lcores, and it lives exactly as long as
//    the mbuf (the mbuf is not back in its pool before the external buffer is
//    detached). The free callback does nothing: the mapping stays until the
//    port is closed. rxinto never clones mbufs (an indirect mbuf would point
//    at that shared info after its owner went back to the pool).
//  * streams (pipes, standard input): each record is copied into ordinary mbufs.
// Records above 65535 bytes (up to the parser's 262144) become chains.
// Timestamps go into DPDK's rx timestamp dynamic field in nanoseconds since
// the epoch (RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, with the rx timestamp flag) and
// each packet's LINKTYPE_ into the dynamic field linktype_dynfield_name.
//
// Why not a PMD of our own: DPDK 22.11 as Debian ships it installs no driver
// headers (ethdev_driver.h, bus_vdev_driver.h), so no out-of-tree PMD can be
// built against it without copying DPDK's internal structures. Instead the
// port is a net_ring device whose ring stays empty, and an rx callback
// (rte_eth_add_first_rx_callback, public API) fills the burst from the file:
// the same place in rte_eth_rx_burst, the same lcore, no copy of the mbuf
// pointers through a ring, and the file's path never goes through EAL's
// device arguments (so any path works, '=' and ',' included).
//
// When the pool has no free mbuf the burst is shorter (or empty) and the next
// poll goes on where this one stopped: a file replay waits, it never drops.
// The end of the file (or the first record the parser cannot trust) is known
// here: stats().done, with the parser's stop_info.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "rxinto/base/result.hpp"
#include "rxinto/pcapfile/reader.hpp"
#include "rxinto/pcapfile/source.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_eth_rxtx_callback;

namespace rxinto::port {

/// mbuf dynamic field (uint32_t) with each replayed packet's LINKTYPE_.
inline constexpr const char* linktype_dynfield_name = "rxinto_dynfield_linktype";

/// Registers (or finds) the link-type dynamic field; its offset, or -1.
int linktype_dynfield_offset() noexcept;

struct FilePortStats {
    bool done = false;                 ///< nothing more will come: end of file, a stop, or a read error
    std::uint64_t packets = 0;         ///< delivered
    std::uint64_t bytes = 0;           ///< captured bytes delivered (sum of caplen)
    std::uint64_t wire_bytes = 0;      ///< sum of the records' original lengths
    std::uint64_t truncated_frames = 0;///< caplen < original length
    std::uint64_t waits = 0;           ///< bursts cut short for want of mbufs
    std::uint64_t offset = 0;          ///< bytes of the file read so far
    pcapfile::stop_info stop;          ///< valid once done
    pcapfile::file_format format = pcapfile::file_format::unknown;
    int read_errno = 0;                ///< stream read error that ended the replay (done)
};

class FilePort {
public:
    /// Creates the ethdev `name` (it must begin with "net_ring_") for `src`.
    [[nodiscard]] static Result<std::unique_ptr<FilePort>> create(
        std::shared_ptr<pcapfile::source> src, const std::string& name, int socket);

    FilePort(const FilePort&) = delete;
    FilePort& operator=(const FilePort&) = delete;
    /// Frees the ring and removes the device: call after the port is closed
    /// (and detach() before it).
    ~FilePort();
    /// Removes the rx callback: before the port is closed. A closed port's
    /// callbacks stay on its port id, and the next port of that id (another
    /// run in the same process) would run this one's after it is gone.
    void detach() noexcept;

    [[nodiscard]] std::uint16_t port_id() const noexcept { return port_id_; }
    [[nodiscard]] bool mapped() const noexcept { return src_->mapped(); }
    [[nodiscard]] const pcapfile::source& source() const noexcept { return *src_; }

    /// After rx queue 0 is set up: the pool the packets come from (its data room
    /// must hold min_data_room(mapped()) bytes) and the rx callback.
    [[nodiscard]] Status attach(rte_mempool* pool);

    /// Data room an mbuf of the pool needs: a mapped file only keeps the
    /// external buffer's shared info there.
    [[nodiscard]] static std::uint16_t min_data_room(bool mapped) noexcept;

    /// Any lcore: what was delivered so far; `done` once the replay is over.
    [[nodiscard]] FilePortStats stats() const noexcept;

private:
    std::string name_;  ///< its device name (removed from the vdev bus with it)
    FilePort() = default;
    static std::uint16_t rx_callback(std::uint16_t port, std::uint16_t queue, rte_mbuf* pkts[],
                                     std::uint16_t nb, std::uint16_t max, void* user);
    std::uint16_t rx(rte_mbuf** out, std::uint16_t want) noexcept;
    bool deliver_mapped(rte_mbuf* m, const pcapfile::record& r) noexcept;
    bool deliver_copy(rte_mbuf* m, const pcapfile::record& r) noexcept;
    void stamp(rte_mbuf* m, const pcapfile::record& r) noexcept;
    void finish() noexcept;

    std::shared_ptr<pcapfile::source> src_;
    std::unique_ptr<pcapfile::parser> parser_;
    rte_ring* ring_ = nullptr;
    rte_mempool* pool_ = nullptr;
    const rte_eth_rxtx_callback* cb_ = nullptr;
    std::uint16_t port_id_ = 0;
    bool created_ = false;
    bool finished_ = false;  ///< worker-local copy of done_
    int ts_offset_ = -1;
    std::uint64_t ts_flag_ = 0;
    int lt_offset_ = -1;
    // Written by the polling lcore, read by any (relaxed; done_ with release).
    std::atomic<std::uint64_t> packets_{0};
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::uint64_t> wire_bytes_{0};
    std::atomic<std::uint64_t> truncated_{0};
    std::atomic<std::uint64_t> waits_{0};
    std::atomic<std::uint64_t> offset_{0};
    std::atomic<bool> done_{false};
    pcapfile::stop_info stop_;  ///< written before done_ is set
    int read_errno_ = 0;        ///< likewise
};

/// DPDK's own net_pcap, held to the same line: once `limit` packets have come
/// from (port, queue 0), everything after is dropped and counted (net_pcap
/// goes on reading from a misaligned offset after libpcap rejects a record).
class RxLimit {
public:
    [[nodiscard]] static Result<std::unique_ptr<RxLimit>> install(std::uint16_t port_id,
                                                                  std::uint64_t limit);
    RxLimit(const RxLimit&) = delete;
    RxLimit& operator=(const RxLimit&) = delete;
    ~RxLimit();
    [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

private:
    RxLimit() = default;
    static std::uint16_t rx_callback(std::uint16_t port, std::uint16_t queue, rte_mbuf* pkts[],
                                     std::uint16_t nb, std::uint16_t max, void* user);
    std::uint16_t port_id_ = 0;
    const rte_eth_rxtx_callback* cb_ = nullptr;
    std::uint64_t limit_ = 0;
    std::uint64_t seen_ = 0;
    std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace rxinto::port
