// writev() until every byte of an iovec array is written: partial writes
// resumed, EINTR retried. For the output thread (pcapng files, stream files),
// never a worker lcore.
#pragma once

#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace rxinto {

/// Writes iov[0..n) to fd; returns the bytes written. On a failure err is the
/// errno (ENOSPC when the kernel wrote nothing and said nothing) and the
/// return value says how far it got. Advances the iovecs it consumes.
inline std::uint64_t writev_all(int fd, iovec* iov, int n, int& err) noexcept {
    std::uint64_t done = 0;
    while (n > 0) {
        const ssize_t r = ::writev(fd, iov, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            err = errno;
            return done;
        }
        if (r == 0) {
            err = ENOSPC;
            return done;
        }
        done += static_cast<std::uint64_t>(r);
        auto left = static_cast<std::size_t>(r);
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --n;
        }
        if (n > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + left;
            iov->iov_len -= left;
        }
    }
    return done;
}

}  // namespace rxinto
