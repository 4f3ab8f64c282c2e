// Capture to pcapng files through DPDK's rte_pcapng (DPDK 22.11, experimental).
//
// One pcapng_writer per worker (or per writer lcore: the writer does not care
// which lcore calls it, as long as it is one at a time). Each writer owns one
// series of files, rotated by size, by time and on request, optionally kept as
// a ring of the newest N files.
//
// ---------------------------------------------------------------------------
// File names (tcpdump -w/-C/-G/-W habits, one series per worker)
//
//   With one worker and no rotation (no -C, -G, -W), the file is PATH itself,
//   replaced if it exists, as tcpdump -w does; a SIGHUP then starts numbered
//   files next to it. PATH "-" is standard output (tcpdump -w -): one stream,
//   no rotation, one writer for every worker. Otherwise:
//   PATH = "dir/cap.pcapng"  ->  "dir/cap-20261126T211500.123-0001.pcapng"
//                                 (worker_count == 1)
//                            ->  "dir/cap-w0-20261126T211500.123-0001.pcapng",
//                                "dir/cap-w1-20261126T211500.124-0001.pcapng"
//                                 (worker_count > 1: "-w<worker_index>")
//   - a trailing ".pcapng" or ".pcap" on PATH is removed; the rest is a prefix;
//     if PATH is an existing directory the prefix is "PATH/rxinto";
//   - the time is the file's start time in UTC (the wall-clock time of the
//     burst that opened it, or the ts_ns given to write_burst; wall clock at
//     open() for the first file), to the millisecond;
//   - the last field is the file's sequence number in this writer's series,
//     from 0001 (more digits past 9999); a name that exists already is never
//     overwritten (O_EXCL: the number is bumped).
//   Every file is complete on its own: section header block, one interface
//   description block per ethdev port, enhanced packet blocks, and interface
//   statistics blocks (one per capture port) when it is closed.
//
// Rotation
//   - rotate_bytes (-C): a new file before the packet that would take the file
//     past rotate_bytes (a file always takes at least one packet); the closing
//     statistics blocks (~60 bytes per port) may go past it.
//   - rotate_seconds (-G): a new file at the first burst written rotate_seconds
//     or more after the file's start time, by the wall clock as tcpdump's -G
//     (a replay too), or by the ts_ns the caller passes (deterministic; tests
//     inject it). Not a timer: an idle writer does not rotate.
//   - request_rotate() / request_rotate_all() (SIGHUP): a new file at the next
//     write_burst.
//   - ring_files (-W): after each new file, the oldest files of this writer's
//     series beyond the newest ring_files are unlinked. Files from earlier runs
//     are not touched.
//
// Failing or full disk
//   Reception never stops. A write that fails or is short (ENOSPC, EIO...)
//   drops the packets of that write (write_errors, last_errno) and the file is
//   cut back (ftruncate) to its last complete block, so every file stays valid
//   and tshark reads it without complaint. Later writes go on in the same
//   file; they succeed again as soon as there is space. A file that cannot be
//   created or whose headers cannot be written is removed (open_failures); the
//   writer keeps the current file and tries again at most every
//   retry_open_ns of ts_ns. If no file is open at all, packets count as
//   write_errors.
//
// Timestamps
//   Nanosecond resolution (if_tsresol = 9). Each packet gets, in this order:
//   the NIC's RX timestamp when the port is declared with nic_timestamps and
//   the mbuf carries one; the receive time the worker stamped in the
//   rxinto_rx_time_ns dynamic field (rx_time_dynfield(): wall-clock ns, or
//   the capture record's time for a replay); else the time of the write. A
//   non-zero ts_ns given to write_burst overrides all of them (tests). See
//   "rte_pcapng 22.11 notes" in pcapng_writer.cpp: its own TSC conversion is
//   not used.
//
// Interface names
//   rte_pcapng 22.11 writes the interface blocks itself (rte_pcapng_fdopen):
//   one per ethdev port that exists at open(), named after the kernel
//   interface or "dpdk:<port>", with MAC, link speed and "bus-device"; it
//   takes no name or description from the caller (rte_pcapng_add_interface
//   came in 23.03). The pcapng_port names and descriptions therefore go into
//   the section header's comment ("port 0 = eth-a (uplink tap); ...").
//
// Ownership and threads
//   - open() and close() run on the control path (they allocate, make
//     syscalls and may log nothing: errors come back as Result).
//   - write_burst() runs on one thread at a time: the output thread, never a
//     worker (the workers hand their packets over through a capture ring, see
//     output.hpp). It does not take ownership of pkts and writes each one as
//     an enhanced packet block straight from its buffer (writev, no copy),
//     cut to the snap length. It never allocates, logs or throws. File
//     rotation happens inside write_burst (open + header write + dup2, no
//     ethdev calls).
//   - request_rotate(), request_rotate_all() and the counters may be used from
//     any thread; the two requests are async-signal-safe (a lock-free atomic
//     store).
//   - close() (also from the destructor) must not run concurrently with
//     write_burst; after close(), write_burst only counts write_errors.
//   SIGINT/SIGTERM: the appliance stops its workers, then calls close() on
//   every writer: the statistics blocks are written and every file is closed
//   (writes are unbuffered writev calls: nothing else is pending).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sys/uio.h>

#include <rte_common.h>

#include "rxinto/base/result.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/base/counter.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_pcapng;

namespace rxinto::capture {

struct pcapng_options {
    std::string path;                  ///< -w: prefix of the file names (see above)
    std::uint64_t rotate_bytes = 0;    ///< -C (in bytes here): 0 = no size rotation
    std::uint32_t rotate_seconds = 0;  ///< -G: 0 = no time rotation
    std::uint32_t ring_files = 0;      ///< -W: keep the newest N files per worker; 0 = all
    std::uint32_t snaplen = 0;         ///< -s: bytes kept per packet; 0 = whole frame
    /// Largest frame kept whole when snaplen is 0 (or above it); longer frames
    /// are cut there (counted: truncated). 64..262144.
    std::uint32_t frame_max = 262144;
    /// Minimum ts_ns between two attempts to create a file after a failure.
    std::uint64_t retry_open_ns = 1'000'000'000;
};

struct pcapng_port {
    std::uint16_t port_id = 0;
    std::string name;         ///< e.g. "eth-a", "pcap0"
    std::string description;  ///< e.g. "uplink tap"
    /// The port delivers the RX timestamp dynfield in wall-clock nanoseconds
    /// (e.g. mlx5 with the real-time clock); used for mbufs that carry one.
    bool nic_timestamps = false;
};

struct alignas(RTE_CACHE_LINE_SIZE) pcapng_counters {
    stats::counter packets;        ///< packets written to a file
    stats::counter bytes;          ///< original frame bytes of those packets
    stats::counter file_bytes;     ///< bytes written to files (headers, blocks)
    stats::counter files;          ///< files created
    stats::counter write_errors;   ///< packets dropped: a write failed (ENOSPC...) or no file
    stats::counter open_failures;  ///< files that could not be created or headed
    stats::counter truncated;      ///< frames cut at frame_max (beyond snaplen)
    stats::counter bad_port;       ///< packets dropped: port not given to open()
    stats::counter last_errno;     ///< errno of the last failed write or open
};

/// TSC -> wall-clock nanoseconds, anchored once (CLOCK_REALTIME between two
/// TSC reads); monotonic as long as the TSC is (invariant TSC).
class tsc_clock {
public:
    tsc_clock() noexcept;
    [[nodiscard]] std::uint64_t now_ns() const noexcept;
    [[nodiscard]] std::uint64_t to_ns(std::uint64_t tsc) const noexcept;

private:
    std::uint64_t tsc0_ = 0;
    std::uint64_t ns0_ = 0;
    std::uint64_t hz_ = 1;
};

class pcapng_writer {
public:
    static constexpr std::uint32_t max_frame = 262144;

    /// Validates the options and ports (each must be a valid ethdev port) and
    /// creates the first file, so that a bad path fails here.
    [[nodiscard]] static Result<std::unique_ptr<pcapng_writer>> open(
        const pcapng_options& opt, unsigned worker_index, unsigned worker_count,
        std::vector<pcapng_port> ports);

    ~pcapng_writer();
    pcapng_writer(const pcapng_writer&) = delete;
    pcapng_writer& operator=(const pcapng_writer&) = delete;

    /// Writes pkts[0..n) received on (port_id, queue). Does NOT take
    /// ownership of pkts. ts_ns: wall-clock ns for every packet, 0 = each
    /// packet's own time (see Timestamps).
    void write_burst(std::uint16_t port_id, std::uint16_t queue, rte_mbuf* const* pkts,
                     std::uint16_t n, std::uint64_t ts_ns = 0) noexcept;

    /// A new file at the next write_burst. Async-signal-safe.
    void request_rotate() noexcept { rotate_flag_.store(true, std::memory_order_relaxed); }
    /// Same, for every writer of the process (one SIGHUP handler). Async-signal-safe.
    static void request_rotate_all() noexcept;

    /// Writes the statistics blocks, closes the current file, frees the copy
    /// pool if open() created it. Idempotent.
    void close() noexcept;

    [[nodiscard]] const pcapng_counters& counters() const noexcept { return c_; }
    /// The file being written ("" if none); not while write_burst runs.
    [[nodiscard]] std::string current_file() const;
    /// Where the next packet goes, between write_bursts: the number of the
    /// current file in the series (1 for the first; 0: no file open), its name
    /// (valid until the writer opens another file: copy it) and its size.
    struct position_t {
        std::uint64_t file_no = 0;
        const char* name = nullptr;
        std::uint64_t offset = 0;
    };
    [[nodiscard]] position_t position() const noexcept;
    /// Bytes kept per packet: min(snaplen or frame_max, frame_max).
    [[nodiscard]] std::uint32_t snap_length() const noexcept { return snap_; }

private:
    pcapng_writer() = default;

    struct port_state {
        pcapng_port port;
        std::uint64_t file_recv = 0;  ///< packets written in the current file
        std::uint64_t file_drop = 0;  ///< packets dropped during the current file
    };


    static constexpr unsigned max_batch = 256;  ///< packets per writev at most
    static constexpr unsigned iov_max = 1024;   ///< IOV_MAX
    /// The head and the trailer of one enhanced packet block.
    struct epb_frame {
        alignas(4) unsigned char head[28];
        alignas(4) unsigned char tail[8];
    };

    bool open_next(std::uint64_t ts_ns) noexcept;
    void flush_batch(port_state& ps, unsigned npkt, int niov, std::uint64_t bytes, std::uint64_t orig) noexcept;
    [[nodiscard]] std::uint64_t packet_time(const port_state& ps, const rte_mbuf* pkt,
                                            std::uint64_t now) const noexcept;
    /// One worker and no rotation: the first file is PATH exactly (tcpdump -w).
    [[nodiscard]] bool exact_first() const noexcept {
        return worker_count_ == 1 && opt_.rotate_bytes == 0 && opt_.rotate_seconds == 0 &&
               opt_.ring_files == 0 && !path_is_dir_;
    }
    void close_file() noexcept;
    void cut_back(std::uint64_t good, int err) noexcept;
    bool format_name(std::uint64_t ts_ns, std::uint64_t seq) noexcept;

    pcapng_counters c_;
    std::atomic<bool> rotate_flag_{false};
    std::uint32_t rotate_epoch_seen_ = 0;

    pcapng_options opt_;
    unsigned worker_index_ = 0;
    unsigned worker_count_ = 1;
    std::vector<port_state> ports_;
    std::vector<std::int16_t> port_slot_;  ///< ethdev port id -> index in ports_, -1
    std::vector<std::uint32_t> if_index_;  ///< ethdev port id -> interface block index
    std::vector<epb_frame> epb_;            ///< max_batch heads and trailers
    std::vector<iovec> iov_;                ///< iov_max
    std::uint32_t snap_ = 0;
    int rx_time_field_ = -1;
    int ts_dynfield_ = -1;
    std::uint64_t ts_dynflag_ = 0;
    tsc_clock clock_;

    rte_pcapng* handle_ = nullptr;     ///< one handle for the whole series
    int handle_fd_ = -1;               ///< the fd number inside handle_
    std::vector<unsigned char> header_;  ///< SHB + IDBs from rte_pcapng_fdopen
    bool file_open_ = false;
    bool closed_ = false;
    std::uint64_t file_bytes_ = 0;     ///< current offset = bytes of complete blocks
    std::uint64_t file_packets_ = 0;
    std::uint64_t file_start_ns_ = 0;
    std::uint64_t last_ts_ns_ = 0;
    std::uint64_t seq_ = 0;
    std::uint64_t next_open_ns_ = 0;   ///< no new file attempt before this ts
    bool rotate_pending_ = false;

    std::string prefix_;               ///< path prefix (without extension)
    bool path_is_dir_ = false;         ///< PATH named a directory: always numbered names
    bool to_stdout_ = false;           ///< -w -: standard output, one stream
    std::size_t name_cap_ = 0;         ///< bytes per name slot, NUL included
    std::vector<char> names_;          ///< ring of name slots (ring_files + 1)
    std::size_t ring_slots_ = 1;
    std::uint64_t ring_head_ = 0;      ///< files created so far (slot = n % slots)
    std::vector<char> scratch_;        ///< the name being created
};

/// The rxinto_rx_time_ns mbuf dynamic field (registered on first use; -1 when
/// EAL cannot register it): the receive time in wall-clock ns that a worker
/// stamps on a packet it hands to the output thread. Control path.
[[nodiscard]] int rx_time_dynfield() noexcept;

/// A BurstSink that writes each burst to a pcapng_writer, then hands it on to
/// `next` (which takes ownership, as the BurstSink contract says). Both belong
/// to the same worker; the writer and `next` must outlive the sink.
class pcapng_tee_sink final : public BurstSink {
public:
    pcapng_tee_sink(pcapng_writer& w, BurstSink& next) noexcept : w_(w), next_(next) {}
    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override {
        w_.write_burst(q.port_id, q.queue, pkts, n);
        next_.on_burst(q, pkts, n);
    }

private:
    pcapng_writer& w_;
    BurstSink& next_;
};

}  // namespace rxinto::capture
