// Statistics as a person reads them: snapshots, the one-line progress display,
// the final summary as text and as JSON. Pure formatting: no DPDK, no EAL, so
// it is unit-tested directly. Collection lives in capture/appliance.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rxinto::stats {

struct PortStats {
    std::uint16_t index = 0;     ///< index in the settings
    std::uint16_t port_id = 0;   ///< ethdev port id
    std::string name;
    std::string driver;
    std::uint16_t rx_queues = 0;
    bool rss = false;
    bool rss_symmetric = false;
    bool rx_checksum_offload = false;
    std::string link;
    std::uint64_t rx_packets = 0;  ///< counted by the workers
    std::uint64_t rx_bytes = 0;    ///< frame bytes as received (sum of pkt_len)
    // From rte_eth_stats_get:
    std::uint64_t imissed = 0;     ///< dropped by the NIC: rx ring full
    std::uint64_t rx_nombuf = 0;   ///< dropped: no mbuf in the pool
    std::uint64_t ierrors = 0;     ///< erroneous frames (bad CRC, unreadable record...)
    std::vector<std::uint64_t> queue_packets;  ///< per rx queue, counted by the workers
    /// The driver's extended statistics that are not zero (final summary only).
    std::vector<std::pair<std::string, std::uint64_t>> xstats;
};

struct WorkerStats {
    unsigned lcore = 0;
    int tid = 0;  ///< the Linux thread id of the lcore (for per-thread tools: strace, perf, top -H)
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t polls = 0;
    std::uint64_t empty_polls = 0;
};

using named_counts = std::vector<std::pair<std::string, std::uint64_t>>;

/// Fleet export (--export): the exporter's counters (export/exporter.hpp).
struct ExportStats {
    bool enabled = false;
    std::string node;
    std::uint64_t run = 0;
    bool connected = false;
    std::uint64_t exported = 0;    ///< records taken from the ring
    std::uint64_t acked = 0;       ///< records JetStream stored
    std::uint64_t duplicates = 0;  ///< of those, already stored (a retry)
    std::uint64_t spooled = 0;     ///< records written to the spool
    std::uint64_t dropped = 0;     ///< records dropped (sum of drops' record part)
    bool chunks_enabled = false;
    std::uint64_t chunks_exported = 0, chunks_acked = 0, chunks_spooled = 0, chunks_dropped = 0;
    std::uint64_t chunk_bytes = 0;
    std::uint64_t in_spool = 0, spool_bytes = 0, inflight = 0, retries = 0;
    std::uint64_t disconnects = 0, reconnects = 0, records_truncated = 0;
    named_counts drops;  ///< reason -> records and chunks dropped for it
};

struct Snapshot {
    double t_s = 0;  ///< seconds since the start of reception
    std::vector<PortStats> ports;
    std::vector<WorkerStats> workers;
    bool tcp_enabled = false;
    named_counts tcp;    ///< reassembly counters summed over workers (tcp::tcp_counter order)
    named_counts parse;  ///< frames by parse outcome ("ok" first), summed over workers
    named_counts tcp_drops;  ///< the reassembly outcomes that are drops, by reason
    std::uint64_t flows_active = 0;
    named_counts outcomes;   ///< one outcome per frame reassembly received (tcp::packet_outcome)
    std::uint64_t mempool_in_use = 0;     ///< mbufs out of the pool now
    std::uint64_t mempool_in_use_max = 0; ///< the most seen out at once (control lcore samples)
    bool capture_enabled = false;          ///< -w: pcapng files
    std::uint64_t capture_packets = 0;     ///< written to files
    std::uint64_t capture_bytes = 0;       ///< original frame bytes of those
    std::uint64_t capture_file_bytes = 0;  ///< bytes in the files
    std::uint64_t capture_files = 0;
    std::uint64_t capture_write_errors = 0;   ///< not written: a write failed (disk full...)
    std::uint64_t capture_ring_full = 0;      ///< not written: a worker's capture ring was full
    std::uint64_t capture_open_failures = 0;
    std::uint64_t capture_truncated = 0;      ///< cut at the largest frame kept
    bool filter_enabled = false;
    std::uint64_t filter_matched = 0;   ///< packets the filter kept
    std::uint64_t filter_rejected = 0;  ///< dropped before reassembly (filter_before_reassembly)
    bool dispatch = false;                 ///< software dispatch to the workers
    unsigned dispatch_lcore = 0;
    std::uint64_t dispatch_packets = 0;    ///< handed to workers
    std::uint64_t dispatch_ring_full = 0;  ///< dropped: a worker's ring was full
    std::uint64_t dispatch_polls = 0;
    std::uint64_t dispatch_empty_polls = 0;
    std::uint64_t stream_bytes_written = 0;  ///< --streams-dir: stream bytes in files
    std::uint64_t stream_write_errors = 0;   ///< failed or short writes
    std::uint64_t stream_bytes_lost = 0;     ///< delivered, not in a file (ring full, write failed)
    std::uint64_t stream_files = 0;
    std::uint64_t stream_files_reopened = 0;  ///< descriptors reopened under the open-files limit
    std::uint64_t streams_ring_full = 0;     ///< stream messages a full stream ring dropped
    std::uint64_t stream_bytes_unsent = 0;   ///< stream bytes they carried
    ExportStats exp;                         ///< --export
    bool endpoint_enabled = false;           ///< [endpoint] address: rxinto terminates TCP
    named_counts endpoint;                   ///< endpoint counters summed over workers
    std::uint64_t endpoint_connections = 0;  ///< connections (and TIME_WAIT entries) now

    /// Value of a named tcp counter (0 when absent).
    [[nodiscard]] std::uint64_t tcp_count(const std::string& name) const noexcept;

    [[nodiscard]] std::uint64_t rx_packets() const noexcept;
    [[nodiscard]] std::uint64_t rx_bytes() const noexcept;
    [[nodiscard]] std::uint64_t imissed() const noexcept;
    [[nodiscard]] std::uint64_t rx_nombuf() const noexcept;
    [[nodiscard]] std::uint64_t ierrors() const noexcept;
};

/// A capture file replayed through a port, as libpcap read it before the run.
struct CaptureStats {
    std::uint16_t port = 0;
    std::string path;
    int linktype = 0;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;             ///< captured bytes: what the port delivers
    std::uint64_t wire_bytes = 0;        ///< original lengths, as capinfos' "Data size"
    std::uint64_t truncated_frames = 0;  ///< frames shorter than on the wire (snaplen)
    bool complete = false;               ///< read to its end (no untrusted record, no read error)
    std::string stop_reason;             ///< end_of_file, or why the reader stopped
    std::uint64_t stop_record = 0;       ///< the record/block it stopped at (1-based; 0: none)
    std::uint64_t stop_offset = 0;       ///< that record's byte offset
    std::uint64_t dropped_after_stop = 0;///< net_pcap: packets read after the last good record, dropped
};

struct Summary {
    Snapshot last;
    std::string stop_reason;       ///< end_of_capture, signal, duration, stalled
    bool hugepages = false;
    std::uint32_t mempool_size = 0;
    std::uint32_t mempool_in_use = 0;  ///< at the end, before the ports are closed
    std::vector<CaptureStats> captures;
    std::vector<std::string> notes;
};

/// "[   3.0s] rx 1234567 pkts 1.23 GB | 1.234 Mpps 9.87 Gbit/s | drops: imissed 0 rx_nombuf 0 errors 0"
/// Rates over the interval between the two snapshots.
[[nodiscard]] std::string progress_line(const Snapshot& prev, const Snapshot& now);

/// Multi-line human summary.
[[nodiscard]] std::string summary_text(const Summary& s);

/// The same as JSON: rx_packets, rx_bytes, drops {reason: count}, duration_s,
/// mpps, gbps, stop_reason, hugepages, mempool, ports[], workers[].
[[nodiscard]] std::string summary_json(const Summary& s);

}  // namespace rxinto::stats
