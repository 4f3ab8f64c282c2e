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
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/base/counter.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxinto::capture {

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

class stream_files final : public tcp::listener {
public:
    stream_files(std::shared_ptr<stream_index> index, tcp::reassembler* r);
    ~stream_files() override;

    void on_release(tcp::connection& c) noexcept override;

    /// Drains every connection named in the reassembler's event list: called
    /// after each burst, so that a connection is read once per burst, after all
    /// of its packets in that burst.
    void drain_events() noexcept;
    /// The same for another source of events (the endpoint's: its connections
    /// are tcp::connection objects too, read the same way).
    void drain(std::span<const tcp::event> events) noexcept;
    /// Reads at most max_bytes of one direction (a reader that keeps a pace);
    /// returns the bytes read.
    std::uint64_t drain_some(tcp::connection& c, flow::direction d, std::uint64_t max_bytes) noexcept;

    /// Read by the control lcore and telemetry while the worker writes.
    [[nodiscard]] std::uint64_t bytes_written() const noexcept { return written_.get(); }
    [[nodiscard]] std::uint64_t write_errors() const noexcept { return errors_.get(); }

private:
    struct direction {
        std::FILE* f = nullptr;
        std::string file;  ///< relative to the directory
        std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
        tcp::end_reason end = tcp::end_reason::none;
    };
    struct conn_files {
        direction d[2];
    };
    std::uint64_t drain(tcp::connection& c, flow::direction d, std::uint64_t max_bytes = UINT64_MAX) noexcept;
    conn_files* files_of(tcp::connection& c) noexcept;

    std::shared_ptr<stream_index> index_;
    tcp::reassembler* r_;
    std::array<std::byte, 64 * 1024> buf_{};
    stats::counter written_;
    stats::counter errors_;
};

}  // namespace rxinto::capture
