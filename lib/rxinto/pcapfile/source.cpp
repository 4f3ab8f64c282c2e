#include "rxinto/pcapfile/source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rxinto::pcapfile {

namespace {

/// A sentence for a file that is not a capture but something we recognise.
std::string compressed_hint(const std::uint8_t* d, std::size_t len) {
    auto starts = [&](std::initializer_list<std::uint8_t> m) {
        if (len < m.size()) return false;
        std::size_t i = 0;
        for (std::uint8_t b : m)
            if (d[i++] != b) return false;
        return true;
    };
    const char* kind = nullptr;
    const char* tool = nullptr;
    if (starts({0x1f, 0x8b})) kind = "gzip", tool = "zcat";
    else if (starts({0xfd, '7', 'z', 'X', 'Z', 0x00})) kind = "xz", tool = "xzcat";
    else if (starts({0x28, 0xb5, 0x2f, 0xfd})) kind = "zstd", tool = "zstdcat";
    else if (starts({'B', 'Z', 'h'})) kind = "bzip2", tool = "bzcat";
    if (kind == nullptr) return {};
    return std::string(" (the file is ") + kind +
           "-compressed: decompress it first, or stream it: --pcap <(" + tool + " FILE))";
}

}  // namespace

source::~source() {
    if (map_ != nullptr) ::munmap(map_, map_len_);
    if (fd_ >= 0) {
        // Standard input's file description is shared with the shell: give it
        // back its blocking mode.
        if (saved_flags_ >= 0) ::fcntl(fd_, F_SETFL, saved_flags_);
        ::close(fd_);
    }
}

source::fill_result source::read_some(bool wait, const std::atomic<bool>* stop) noexcept {
    for (;;) {
        if (buf_len_ >= buffer_capacity) return fill_result::ok;
        if (wait) {
            // Wait in slices, so that Ctrl-C during start-up stops at once.
            if (stop != nullptr && stop->load()) {
                errno_ = EINTR;
                return fill_result::error;
            }
            pollfd p{fd_, POLLIN, 0};
            const int pr = ::poll(&p, 1, 100);
            if (pr == 0 || (pr < 0 && errno == EINTR)) continue;
        }
        const ssize_t n = ::read(fd_, buf_.get() + buf_len_, buffer_capacity - buf_len_);
        if (n > 0) {
            buf_len_ += static_cast<std::size_t>(n);
            return fill_result::ok;
        }
        if (n == 0) {
            eof_ = true;
            return fill_result::eof;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait) continue;
            return fill_result::would_block;
        }
        errno_ = errno;
        return fill_result::error;
    }
}

const std::uint8_t* source::window(std::uint64_t offset, std::size_t& len, bool& eof) const noexcept {
    if (map_ != nullptr) {
        eof = true;
        if (offset >= map_len_) {
            len = 0;
            return map_ + map_len_;
        }
        len = static_cast<std::size_t>(map_len_ - offset);
        return map_ + offset;
    }
    if (offset < buf_off_ || offset > buf_off_ + buf_len_) {
        len = 0;
        eof = eof_;
        return buf_.get();
    }
    const auto skip = static_cast<std::size_t>(offset - buf_off_);
    len = buf_len_ - skip;
    eof = eof_;
    return buf_.get() + skip;
}

source::fill_result source::fill(std::uint64_t offset, std::size_t need) noexcept {
    if (map_ != nullptr) return fill_result::ok;
    if (offset > buf_off_ && offset <= buf_off_ + buf_len_) {
        const auto skip = static_cast<std::size_t>(offset - buf_off_);
        std::memmove(buf_.get(), buf_.get() + skip, buf_len_ - skip);
        buf_len_ -= skip;
        buf_off_ = offset;
    }
    while (buf_len_ < need) {
        if (eof_) return fill_result::eof;
        const fill_result r = read_some(false, nullptr);
        if (r != fill_result::ok) return r;
    }
    return fill_result::ok;
}

Result<std::shared_ptr<source>> source::open(const std::string& path, const open_options& opt) {
    std::shared_ptr<source> s(new source());
    s->path_ = path;
    const bool is_stdin = path == "-";
    const std::string label = is_stdin ? std::string("standard input") : "'" + path + "'";
    s->fd_ = is_stdin ? ::fcntl(0, F_DUPFD_CLOEXEC, 3) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (s->fd_ < 0)
        return make_error("cannot read capture ", label, ": ", std::strerror(errno));
    struct stat st {};
    if (::fstat(s->fd_, &st) != 0)
        return make_error("cannot read capture ", label, ": ", std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return make_error("capture ", label, " is a directory");
    if (::isatty(s->fd_) != 0)
        return make_error("capture ", label, " is a terminal: pipe a capture file into it"
                          " (rxinto --pcap - < FILE)");

    if (opt.allow_map && S_ISREG(st.st_mode) && st.st_size > 0) {
        const auto len = static_cast<std::size_t>(st.st_size);
        void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, s->fd_, 0);
        if (m != MAP_FAILED) {
            s->map_ = static_cast<std::uint8_t*>(m);
            s->map_len_ = len;
            ::madvise(m, len, MADV_SEQUENTIAL);  // read once, front to back
        }
    }
    if (s->map_ == nullptr) {
        // Default-initialised (not zeroed): the pages are touched only as they fill.
        s->buf_.reset(new std::uint8_t[buffer_capacity]);
    }

    // The file header, and in stream mode the read-ahead: parse what is there,
    // reading more (waiting for a slow writer) until the parser has what it needs.
    parser p;
    std::size_t packets = 0;
    for (;;) {
        std::size_t len = 0;
        bool eof = false;
        const std::uint8_t* d = s->window(p.offset(), len, eof);
        const step st2 = p.next(d, len, eof);
        bool done = false;
        switch (st2.kind) {
        case step_kind::record:
            ++packets;
            done = s->map_ != nullptr || packets >= opt.sample_records;
            break;
        case step_kind::skipped:
            done = p.first_linktype() >= 0 && (s->map_ != nullptr || opt.sample_records == 0);
            break;
        case step_kind::need_more: {
            if (s->map_ == nullptr && ((s->buf_len_ >= sample_bytes && p.first_linktype() >= 0) ||
                                       s->buf_len_ >= buffer_capacity)) {
                done = true;
                break;
            }
            const fill_result r = s->read_some(true, opt.stop);
            if (r == fill_result::error)
                return make_error("cannot read capture ", label, ": ", std::strerror(s->errno_),
                                  s->errno_ == EINTR ? " (stopped by a signal)" : "");
            break;
        }
        case step_kind::end:
        case step_kind::stopped:
            done = true;
            break;
        }
        if (done) break;
    }
    // A bad file header (or first section header) makes the file no capture at
    // all: an error now. A bad record later is the replay's to report.
    const stop_info& stop = p.stop();
    if (stop.reason != stop_reason::none &&
        (stop.record == 0 || (p.format() == file_format::pcapng && stop.record == 1))) {
        std::size_t len = 0;
        bool eof = false;
        const std::uint8_t* d = s->window(0, len, eof);
        return make_error("cannot read capture ", label, ": ", describe(stop, p.format()),
                          compressed_hint(d, len));
    }
    s->format_ = p.format();
    s->first_linktype_ = p.first_linktype();

    if (s->map_ == nullptr) {
        // From here on fill() must never wait: the PMD calls it from a worker lcore.
        s->saved_flags_ = ::fcntl(s->fd_, F_GETFL);
        if (s->saved_flags_ < 0 || ::fcntl(s->fd_, F_SETFL, s->saved_flags_ | O_NONBLOCK) != 0)
            return make_error("capture ", label, ": cannot make the descriptor non-blocking: ",
                              std::strerror(errno));
    }
    return s;
}

}  // namespace rxinto::pcapfile
