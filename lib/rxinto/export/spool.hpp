// The exporter's spool: messages that could not be sent (no server, or the
// server too slow), kept in one append-only file per node and sent later,
// oldest first. Private to the export layer; used by the export thread only.
//
// File: <dir>/<node>.spool, locked with flock() so that two processes never
// share it. Entries: magic "RXSP", body length, CRC32-C of the body, body =
// subject, headers (key/value pairs), payload. The file only grows while
// messages are added; once every entry was taken out again it is truncated to
// zero. The budget bounds the file's size. An entry cut short by a crash (the
// tail of the file) is found at open() and cut off.
//
// Why a file of our own: nothing Debian ships gives a bounded on-disk queue
// for a C++ program without a server of its own; this is ~200 lines.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rxinto/base/result.hpp"

namespace rxinto::fleet {

struct spool_msg {
    std::string subject;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string data;
};

class spool {
public:
    /// Creates dir if needed (one level), opens and locks the node's file, and
    /// counts the entries an earlier run left (cut_bytes: a torn tail cut off).
    [[nodiscard]] static Result<std::unique_ptr<spool>> open(const std::string& dir, const std::string& node,
                                                             std::uint64_t budget);
    ~spool();
    spool(const spool&) = delete;
    spool& operator=(const spool&) = delete;

    /// false: over budget, or the write failed (the file is cut back to its
    /// last complete entry).
    bool append(const spool_msg& m);
    /// Takes the oldest entry out. false: none left (or unreadable: counted).
    bool take(spool_msg& out);

    [[nodiscard]] std::uint64_t entries() const noexcept { return entries_; }
    [[nodiscard]] std::uint64_t file_bytes() const noexcept { return write_off_; }
    [[nodiscard]] std::uint64_t found_at_open() const noexcept { return found_; }
    [[nodiscard]] std::uint64_t cut_at_open() const noexcept { return cut_; }
    [[nodiscard]] std::uint64_t errors() const noexcept { return errors_; }
    /// Entries given up because the file could not be read back.
    [[nodiscard]] std::uint64_t lost_entries() const noexcept { return lost_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    spool() = default;
    int fd_ = -1;
    std::string path_;
    std::uint64_t budget_ = 0;
    std::uint64_t read_off_ = 0;
    std::uint64_t write_off_ = 0;
    std::uint64_t entries_ = 0;
    std::uint64_t found_ = 0;
    std::uint64_t cut_ = 0;
    std::uint64_t errors_ = 0;
    std::uint64_t lost_ = 0;
    std::vector<char> buf_;
};

}  // namespace rxinto::fleet
