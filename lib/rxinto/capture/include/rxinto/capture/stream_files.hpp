// Writes reassembled TCP streams to a directory (rxinto --streams-dir), in the
// format of DESIGN.md "Stream output": per direction of each connection a file
// with the delivered bytes in stream order (gaps removed, never filled) and one
// line in DIR/index.jsonl.
//
// It is an ordinary application of the public API: a tcp::listener that reads
// every readable stream with recv_into() into one fixed 64 KiB buffer and
// records the gaps it skips. One instance per worker, used on that worker's
// lcore; index lines from all workers go through one mutex-protected file
// (written once per connection, not per packet).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/base/counter.hpp"
#include "rxinto/export/exporter.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxinto::capture {

class CaptureSink;

/// The shared index file of one --streams-dir.
class stream_index {
public:
    [[nodiscard]] static Result<std::shared_ptr<stream_index>> open(const std::string& dir);
    ~stream_index();
    void append(const std::string& line);
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    [[nodiscard]] std::uint64_t write_errors() const noexcept { return errors_; }

private:
    std::string dir_;
    std::FILE* f_ = nullptr;
    std::mutex mu_;
    std::uint64_t errors_ = 0;
};

/// index may be null (no --streams-dir: nothing is written, the streams are
/// still read for the export records); exporter may be null (no --export).
class stream_files final : public tcp::listener {
public:
    stream_files(std::shared_ptr<stream_index> index, tcp::reassembler* r,
                 fleet::exporter* exporter = nullptr, unsigned worker = 0);
    ~stream_files() override;

    void on_open(tcp::connection& c) noexcept override;
    void on_release(tcp::connection& c) noexcept override;
    /// Fleet export with -w: where the worker's capture stage writes (may be null).
    void set_capture(const CaptureSink* c) noexcept { capture_ = c; }

    /// Drains every connection named in the reassembler's event list: called
    /// after each burst, so that a connection is read once per burst, after all
    /// of its packets in that burst.
    void drain_events() noexcept;

    /// Read by the control lcore and telemetry while the worker writes.
    [[nodiscard]] std::uint64_t bytes_written() const noexcept { return written_.get(); }
    [[nodiscard]] std::uint64_t write_errors() const noexcept { return errors_.get(); }

private:
    struct direction {
        std::FILE* f = nullptr;
        std::string file;  ///< relative to the directory
        std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
        tcp::end_reason end = tcp::end_reason::none;
        std::uint64_t chunk_lost = 0;  ///< fleet export: delivered bytes no chunk carries
    };
    struct conn_files {
        direction d[2];
        std::string pcap_first_file, pcap_last_file;  ///< fleet export with -w
        std::uint64_t pcap_first_offset = 0, pcap_last_offset = 0;
    };
    void drain(tcp::connection& c, int d) noexcept;
    conn_files* files_of(tcp::connection& c) noexcept;
    // ---- fleet export call site (the lead moves these with the stream writing) ----
    fleet::conn_info export_info(const tcp::connection& c) const noexcept;
    void export_end(tcp::connection& c, const conn_files* cf) noexcept;
    void export_chunk(tcp::connection& c, int d, direction& dir, std::uint64_t offset, std::size_t n) noexcept;
    void note_pcap_last(conn_files& cf) noexcept;

    std::shared_ptr<stream_index> index_;
    tcp::reassembler* r_;
    fleet::exporter* exporter_ = nullptr;
    const CaptureSink* capture_ = nullptr;
    unsigned worker_ = 0;
    std::array<std::byte, 64 * 1024> buf_{};
    stats::counter written_;
    stats::counter errors_;
};

}  // namespace rxinto::capture
