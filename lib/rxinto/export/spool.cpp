#include "spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <rte_hash_crc.h>

namespace rxinto::fleet {

namespace {

constexpr std::uint32_t magic = 0x50535852;  // "RXSP" little-endian
constexpr std::size_t head_bytes = 16;       // magic, body length, crc, 0 (the body stays 8-byte aligned: rte_hash_crc reads 8 bytes at a time)
constexpr std::uint32_t max_body = 64U << 20;

void put16(std::vector<char>& b, std::size_t n) {
    const auto v = static_cast<std::uint16_t>(n);
    b.insert(b.end(), reinterpret_cast<const char*>(&v), reinterpret_cast<const char*>(&v) + 2);
}
void put32(std::vector<char>& b, std::size_t n) {
    const auto v = static_cast<std::uint32_t>(n);
    b.insert(b.end(), reinterpret_cast<const char*>(&v), reinterpret_cast<const char*>(&v) + 4);
}

bool pread_all(int fd, void* dst, std::size_t n, std::uint64_t off) {
    auto* p = static_cast<char*>(dst);
    while (n != 0) {
        const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
        off += static_cast<std::uint64_t>(r);
    }
    return true;
}

bool pwrite_all(int fd, const void* src, std::size_t n, std::uint64_t off) {
    const auto* p = static_cast<const char*>(src);
    while (n != 0) {
        const ssize_t r = ::pwrite(fd, p, n, static_cast<off_t>(off));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
        off += static_cast<std::uint64_t>(r);
    }
    return true;
}

std::uint32_t crc_of(const char* p, std::size_t n) {
    return rte_hash_crc(p, static_cast<std::uint32_t>(n), 0xffffffffU);
}

/// Decodes a body into m; false when it does not hold together.
bool decode(const char* p, std::size_t n, spool_msg& m) {
    std::size_t at = 0;
    auto get = [&](void* dst, std::size_t k) {
        if (at + k > n) return false;
        std::memcpy(dst, p + at, k);
        at += k;
        return true;
    };
    auto get_str = [&](std::string& s, std::size_t k) {
        if (at + k > n) return false;
        s.assign(p + at, k);
        at += k;
        return true;
    };
    std::uint16_t subj = 0, nh = 0;
    std::uint32_t data = 0;
    if (!get(&subj, 2) || !get(&nh, 2) || !get(&data, 4) || !get_str(m.subject, subj)) return false;
    m.headers.clear();
    for (std::uint16_t i = 0; i < nh; ++i) {
        std::uint16_t kl = 0, vl = 0;
        std::string k, v;
        if (!get(&kl, 2) || !get(&vl, 2) || !get_str(k, kl) || !get_str(v, vl)) return false;
        m.headers.emplace_back(std::move(k), std::move(v));
    }
    return get_str(m.data, data) && at == n;
}

}  // namespace

Result<std::unique_ptr<spool>> spool::open(const std::string& dir, const std::string& node, std::uint64_t budget) {
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
        return make_error("export spool '", dir, "': cannot create it: ", std::strerror(errno));
    std::unique_ptr<spool> s(new spool());
    s->path_ = dir + "/" + node + ".spool";
    s->budget_ = budget;
    s->fd_ = ::open(s->path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->fd_ < 0) return make_error("export spool '", s->path_, "': cannot open it: ", std::strerror(errno));
    if (::flock(s->fd_, LOCK_EX | LOCK_NB) != 0) {
        Error e = make_error("export spool '", s->path_, "' is in use by another process (another rxinto with node ",
                             node, "?): give each one its own node name or spool directory");
        e.usage = true;
        return e;
    }
    struct stat st {};
    if (::fstat(s->fd_, &st) != 0) return make_error("export spool '", s->path_, "': ", std::strerror(errno));
    // Walk what an earlier run left: keep every complete entry, cut a torn tail.
    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::uint64_t off = 0;
    std::vector<char> body;
    while (off + head_bytes <= size) {
        std::uint32_t h[4];
        if (!pread_all(s->fd_, h, sizeof h, off) || h[0] != magic || h[1] > max_body ||
            off + head_bytes + h[1] > size)
            break;
        body.resize(h[1]);
        if (!pread_all(s->fd_, body.data(), h[1], off + head_bytes) || crc_of(body.data(), h[1]) != h[2]) break;
        off += head_bytes + h[1];
        ++s->entries_;
    }
    if (off != size) {
        s->cut_ = size - off;
        if (::ftruncate(s->fd_, static_cast<off_t>(off)) != 0)
            return make_error("export spool '", s->path_, "': cannot cut a torn entry: ", std::strerror(errno));
    }
    s->write_off_ = off;
    s->found_ = s->entries_;
    if (s->entries_ == 0 && off != 0) s->write_off_ = 0;
    return s;
}

spool::~spool() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
}

bool spool::append(const spool_msg& m) {
    buf_.clear();
    buf_.resize(head_bytes);
    put16(buf_, m.subject.size());
    put16(buf_, m.headers.size());
    put32(buf_, m.data.size());
    buf_.insert(buf_.end(), m.subject.begin(), m.subject.end());
    for (const auto& [k, v] : m.headers) {
        put16(buf_, k.size());
        put16(buf_, v.size());
        buf_.insert(buf_.end(), k.begin(), k.end());
        buf_.insert(buf_.end(), v.begin(), v.end());
    }
    buf_.insert(buf_.end(), m.data.begin(), m.data.end());
    const std::size_t body = buf_.size() - head_bytes;
    if (body > max_body || write_off_ + buf_.size() > budget_) return false;
    const std::uint32_t h[4] = {magic, static_cast<std::uint32_t>(body), crc_of(buf_.data() + head_bytes, body), 0};
    std::memcpy(buf_.data(), h, sizeof h);
    if (!pwrite_all(fd_, buf_.data(), buf_.size(), write_off_)) {
        ++errors_;
        (void)::ftruncate(fd_, static_cast<off_t>(write_off_));  // no torn entry stays behind
        return false;
    }
    write_off_ += buf_.size();
    ++entries_;
    return true;
}

bool spool::take(spool_msg& out) {
    if (entries_ == 0) return false;
    std::uint32_t h[4];
    bool ok = pread_all(fd_, h, sizeof h, read_off_) && h[0] == magic && h[1] <= max_body &&
              read_off_ + head_bytes + h[1] <= write_off_;
    if (ok) {
        buf_.resize(h[1]);
        ok = pread_all(fd_, buf_.data(), h[1], read_off_ + head_bytes) && crc_of(buf_.data(), h[1]) == h[2] &&
             decode(buf_.data(), h[1], out);
    }
    if (!ok) {
        // The disk returned something else than was written: the rest of the
        // file cannot be trusted. Counted (errors, lost_entries); the spool
        // starts over.
        ++errors_;
        lost_ += entries_;
        entries_ = 0;
    } else {
        read_off_ += head_bytes + h[1];
        --entries_;
    }
    if (entries_ == 0) {
        read_off_ = write_off_ = 0;
        (void)::ftruncate(fd_, 0);
    }
    return ok;
}

}  // namespace rxinto::fleet
