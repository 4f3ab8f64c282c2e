// --streams-dir: the output thread's side of stream output. Writes, per
// direction of each TCP connection, a file with the delivered bytes in stream
// order (gaps removed, never filled) and one line per direction in
// DIR/index.jsonl (DESIGN.md "Stream output"), from the workers' stream
// messages (stream_feed).
//
// The directory is the user's: every file is created inside it with
// openat(O_CREAT | O_EXCL | O_NOFOLLOW) on the directory's descriptor, so a
// link planted under a stream's name is never followed and nothing is ever
// written outside it. A directory that is not empty is refused, unless the
// run may overwrite (then an earlier run's output — index.jsonl and
// <conn>-<dir>.bin — is removed first, and anything else still refuses it).
//
// What is on disk is exactly what the index says: `bytes` is what the file
// holds; bytes the reassembler delivered that did not reach the file (a full
// stream ring, a failed write: a full file system, say) are listed per
// direction as `lost` ranges in stream coordinates and counted. Stream bytes
// stop a little before the file system is full (index_reserve), so that the
// index itself can still be written. At most
// max_open_files descriptors are open at once (least recently written closed
// first, reopened in append mode). A direction without a byte gets no file
// (`file` is null).
//
// Without a directory (dir empty: --export without --streams-dir) nothing is
// written at all; the store still follows every connection for its observer.
//
// Thread: the output thread only (open() on the control path).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <rte_common.h>

#include "rxinto/base/counter.hpp"
#include "rxinto/base/result.hpp"
#include "rxinto/flow/flow_key.hpp"
#include "rxinto/tcp/stream.hpp"

namespace rxinto::capture {

struct stream_msg;

struct stream_store_options {
    std::string dir;  ///< "": no directory, no file, no index (an observer only)
    /// Replace an earlier run's output in dir (else dir must be empty or new).
    bool overwrite = false;
    /// Descriptors open at once; 0: from RLIMIT_NOFILE (half the soft limit).
    unsigned max_open_files = 0;
    /// false: no stream files, the index only (and the observer).
    bool write_files = true;
    /// The workers send data messages (stream_feed with_data): a hole
    /// between messages is lost output. false: they consume the bytes
    /// themselves and only open, gap and end come.
    bool data_messages = true;
};

struct alignas(RTE_CACHE_LINE_SIZE) stream_store_counters {
    stats::counter bytes_written;  ///< stream bytes in files
    stats::counter bytes_lost;     ///< delivered but not in a file (ring full, write failed)
    stats::counter write_errors;   ///< failed or short writes
    stats::counter files;          ///< stream files created
    stats::counter reopened;       ///< descriptors reopened after the open-files limit closed them
    stats::counter index_errors;   ///< index lines that could not be written
};

/// A place in a worker's pcapng series (-w): its file and a byte offset in it.
struct pcap_place {
    std::string file;  ///< "" when unknown (no -w, or nothing written yet)
    std::uint64_t offset = 0;
};

/// Where a worker's packets went in its pcapng series, by their count on the
/// capture ring (stream_msg cap_seq). The output thread keeps one per worker.
class capture_places {
public:
    virtual ~capture_places() = default;
    /// A place at or before the packet that follows the first `seq` packets.
    [[nodiscard]] virtual pcap_place at_or_before(std::uint64_t seq) const = 0;
    /// A place at or after the end of the first `seq` packets.
    [[nodiscard]] virtual pcap_place at_or_after(std::uint64_t seq) const = 0;
};

/// One direction of a finished connection, as the index line says it.
struct direction_summary {
    std::string label;  ///< c2s, s2c, a2b, b2a
    std::string src, dst;
    std::uint16_t sport = 0, dport = 0;
    std::string file;   ///< relative to the directory; "" when there is no file
    std::uint64_t bytes = 0;       ///< in the file
    std::uint64_t delivered = 0;   ///< by the reassembler
    std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> lost;
    bool midstream = false;
    std::string end;
    std::uint64_t overlap_conflicts = 0;
    std::uint64_t packets = 0;     ///< TCP segments this direction sent
};

struct connection_summary {
    std::uint64_t conn = 0;
    unsigned worker = 0;
    flow::flow_key key;
    std::uint64_t first_ns = 0, last_ns = 0;
    direction_summary dir[2];  ///< in index order: the client's first when known
    int d_of[2] = {0, 1};      ///< dir[k] is flow direction d_of[k] (0: a -> b)
    /// -w: at or before its first packet, and at or after the packets of the
    /// last burst that gave it bytes or closed it.
    pcap_place pcap_first, pcap_last;
};

/// A connection as it opens (its first packet seen).
struct connection_open {
    std::uint64_t conn = 0;
    unsigned worker = 0;
    const flow::flow_key* key = nullptr;
    const char* label[2] = {"a2b", "b2a"};  ///< per flow direction (0: a -> b)
    bool midstream = false;
    std::uint64_t first_ns = 0;
    pcap_place pcap_first;
};

/// Follows what the store handles (the fleet export): on the output thread,
/// never blocking. data() sees each piece of stream bytes the store was
/// handed, at its position in the direction's delivered bytes (gaps removed,
/// the stream file's coordinates when nothing was lost); the pieces are freed
/// after it returns. round_end() is called after each pass over the rings.
class stream_observer {
public:
    virtual ~stream_observer() = default;
    virtual void opened(const connection_open& o) noexcept = 0;
    virtual void data(std::uint64_t conn, unsigned worker, int d, const char* label, std::uint64_t offset,
                      const tcp::mbuf_piece* pieces, unsigned n) noexcept = 0;
    virtual void ended(const connection_summary& s) noexcept = 0;
    virtual void round_end() noexcept {}
};

class stream_store {
public:
    /// Prepares the directory (created if missing; refused if not empty
    /// unless overwrite) and creates index.jsonl. A usage error (exit 2) when
    /// the directory is not acceptable.
    [[nodiscard]] static Result<std::unique_ptr<stream_store>> open(const stream_store_options& opt);
    ~stream_store();
    stream_store(const stream_store&) = delete;
    stream_store& operator=(const stream_store&) = delete;

    /// A message from worker `worker`'s stream ring. Frees the mbufs it carries.
    void handle(unsigned worker, const stream_msg& m) noexcept;
    /// Connections that never ended (their end message was lost): index lines
    /// from what is known, end "eof". Closes every file.
    void finish() noexcept;

    /// Told of every connection (the fleet export); not owned.
    void set_observer(stream_observer* o) noexcept { observer_ = o; }
    [[nodiscard]] stream_observer* observer() const noexcept { return observer_; }
    /// Worker w's pcapng places (-w); not owned. Without: records name no pcapng.
    void set_capture_places(unsigned worker, const capture_places* p);

    [[nodiscard]] const stream_store_counters& counters() const noexcept { return c_; }
    [[nodiscard]] const std::string& dir() const noexcept { return opt_.dir; }

private:
    struct dir_out {
        int fd = -1;
        std::string file;            ///< created file name, "" before the first byte
        std::uint64_t written = 0;
        std::uint64_t next = 0;      ///< the stream offset the next message should start at
        std::uint64_t gap_bytes = 0; ///< sum of the gaps so far (stream offset - this = delivered offset)
        std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> lost;
        std::list<std::pair<std::uint64_t, int>>::iterator lru;
    };
    struct conn_out {
        unsigned worker = 0;
        flow::flow_key key;
        std::int8_t client = -1;
        std::uint8_t first_dir = 0;
        bool midstream = false;
        std::uint64_t first_ns = 0;
        std::uint64_t last_seq = 0;  ///< capture ring count after its last data, gap or close
        pcap_place pcap_first;
        dir_out d[2];
    };

    stream_store() = default;
    void on_data(conn_out& c, const stream_msg& m) noexcept;
    void on_gap(conn_out& c, const stream_msg& m) noexcept;
    void end_connection(std::uint64_t id, conn_out& c, const stream_msg* end) noexcept;
    int fd_for(std::uint64_t id, conn_out& c, int d) noexcept;
    /// Room on the file system for `bytes` more stream bytes, keeping
    /// index_reserve for the index lines (fstatvfs when the estimate runs out).
    bool room_for(std::uint64_t bytes) noexcept;
    void close_fd(dir_out& x) noexcept;
    void write_index(const connection_summary& s) noexcept;
    [[nodiscard]] const capture_places* places_of(unsigned worker) const noexcept {
        return worker < places_.size() ? places_[worker] : nullptr;
    }

    stream_store_options opt_;
    int dirfd_ = -1;
    int index_fd_ = -1;
    unsigned max_open_ = 0;
    /// Kept free for index.jsonl: on a file system that fills up, stream bytes
    /// stop first (lost, counted), and the index stays complete.
    static constexpr std::uint64_t index_reserve = 256U << 10;
    std::uint64_t room_ = 0;  ///< free bytes as last seen, less what was written since
    std::unordered_map<std::uint64_t, conn_out> conns_;
    std::list<std::pair<std::uint64_t, int>> lru_;  ///< (conn, dir) with an open descriptor, oldest first
    stream_store_counters c_;
    stream_observer* observer_ = nullptr;
    std::vector<const capture_places*> places_;
};

/// Stream file names: "<conn>-<label>.bin".
[[nodiscard]] std::string stream_file_name(std::uint64_t conn, const char* label);

}  // namespace rxinto::capture
