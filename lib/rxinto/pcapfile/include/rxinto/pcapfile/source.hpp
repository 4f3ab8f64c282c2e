// The bytes of a capture file, for the parser: a private mapping of a regular
// file, or a sequential buffer for what cannot be mapped (standard input as
// "-", pipes, process substitution such as --pcap <(zcat x.gz), FIFOs).
//
// Mapped mode: the whole file is mapped MAP_PRIVATE with PROT_READ|PROT_WRITE.
// Readers get pointers into the mapping (no copy); a consumer that writes into
// a packet (rte_ip_frag rewrites the first fragment's IP header) gets its own
// copy of that page from the kernel (copy-on-write): the file is never
// changed. The mapping lives as long as the source object.
//
// Stream mode: a buffer of buffer_capacity bytes (a whole pcapng block of the
// largest size the parser accepts, plus the start-up sample) filled by read(2).
// After open() the descriptor is non-blocking: fill() never waits, so the
// file-replay PMD can call it from its rx burst and return an empty burst
// when the writer of the pipe is slower than rxinto.
//
// Control path for open(); fill()/window() are noexcept and allocation-free.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "rxinto/base/result.hpp"
#include "rxinto/pcapfile/reader.hpp"

namespace rxinto::pcapfile {

class source {
public:
    /// Bytes read ahead at open() in stream mode when a sample is asked for.
    static constexpr std::size_t sample_bytes = 4U * 1024U * 1024U;
    static constexpr std::size_t buffer_capacity = max_block_len + sample_bytes + 65536;

    struct open_options {
        /// Stream mode: read ahead until `sample_records` packets (or sample_bytes,
        /// or the end) are buffered, so that a caller can sample them before the
        /// replay starts. 0: read only up to the first interface description.
        std::size_t sample_records = 0;
        /// Checked while open() waits for a slow writer (Ctrl-C at start-up).
        const std::atomic<bool>* stop = nullptr;
        /// Map regular files (false: read them as a stream too; for tests).
        bool allow_map = true;
    };

    /// Opens `path` ("-" is standard input), checks its file header, and in
    /// stream mode reads ahead as asked. The Error says what is wrong with the
    /// path or the header ("compressed (gzip): decompress it first ...").
    [[nodiscard]] static Result<std::shared_ptr<source>> open(const std::string& path,
                                                              const open_options& opt);

    source(const source&) = delete;
    source& operator=(const source&) = delete;
    ~source();

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] bool mapped() const noexcept { return map_ != nullptr; }
    /// Mapped mode: the file's size. Stream mode: 0.
    [[nodiscard]] std::uint64_t size() const noexcept { return map_len_; }
    [[nodiscard]] file_format format() const noexcept { return format_; }
    /// Link type of the first interface (pcap: the header's); -1 when the file
    /// ends (or stops) before declaring one.
    [[nodiscard]] std::int64_t first_linktype() const noexcept { return first_linktype_; }

    /// The bytes from file offset `offset` on: *len of them; *eof says whether
    /// more can follow. Mapped: the rest of the file. Stream: what is buffered
    /// (offset must lie within it: at or after the last fill()'s offset).
    const std::uint8_t* window(std::uint64_t offset, std::size_t& len, bool& eof) const noexcept;

    enum class fill_result : std::uint8_t { ok, would_block, eof, error };
    /// Stream mode: drops the buffered bytes before `offset` and reads what the
    /// descriptor has (without waiting) until `need` bytes from offset on are
    /// buffered. Mapped mode: always ok. Pointers from window() before the call
    /// are invalid after it.
    fill_result fill(std::uint64_t offset, std::size_t need) noexcept;
    /// errno of the read that failed (fill_result::error).
    [[nodiscard]] int read_errno() const noexcept { return errno_; }

private:
    source() = default;
    fill_result read_some(bool wait, const std::atomic<bool>* stop) noexcept;

    std::string path_;
    int fd_ = -1;
    int saved_flags_ = -1;  ///< the descriptor's flags before O_NONBLOCK (restored at close)
    std::uint8_t* map_ = nullptr;
    std::uint64_t map_len_ = 0;
    std::unique_ptr<std::uint8_t[]> buf_;
    std::uint64_t buf_off_ = 0;  ///< file offset of buf_[0]
    std::size_t buf_len_ = 0;
    bool eof_ = false;
    int errno_ = 0;
    file_format format_ = file_format::unknown;
    std::int64_t first_linktype_ = -1;
};

}  // namespace rxinto::pcapfile
