// rxbench: the kernel paths. A sender thread pinned to CPU 0 and a receiver
// thread pinned to CPU 1 move the same workload through Linux sockets; the
// receiver reads into one preallocated 64 KiB buffer.
//
//   kernel-tcp-loopback  N TCP connections over 127.0.0.1, recv() (epoll for N > 1)
//   kernel-tcp-veth      the same between two network namespaces joined by veth
//   kernel-io_uring      the same connections, io_uring single-shot recv (liburing)
//   kernel-udp-recv      UDP messages over 127.0.0.1, recv() one at a time
//   kernel-udp-recvmmsg  the same, recvmmsg() in batches of 64
//
// And the veth side of rxinto-af_packet / rxinto-af_xdp (run_af_paths): the
// kernel-tcp-veth traffic with offloads off, while a child process in the
// receiver's namespace runs rxinto on that veth end (af_child_main, ring.cpp).
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <signal.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common.hpp"

namespace rxbench {
namespace {

using clock_type = std::chrono::steady_clock;

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void pin(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

std::string read_first_line(const char* path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s.empty() ? "?" : s;
}

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd = o.fd;
            o.fd = -1;
        }
        return *this;
    }
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

struct FreeDeleter {
    void operator()(char* p) const noexcept { std::free(p); }
};
using Buffer = std::unique_ptr<char, FreeDeleter>;
Buffer alloc_buf(std::size_t n) {
    Buffer b(static_cast<char*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096)));
    if (b) std::memset(b.get(), 0x5A, n);
    return b;
}

int setint(int fd, int level, int opt, int v) {
    return setsockopt(fd, level, opt, &v, sizeof v);
}
int getint(int fd, int level, int opt) {
    int v = 0;
    socklen_t l = sizeof v;
    getsockopt(fd, level, opt, &v, &l);
    return v;
}

/// A socket created in network namespace nsfd (-1: the current one).
int socket_in(int nsfd, int type) {
    if (nsfd < 0) return ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    const int self = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -1;
    int s = -1;
    if (setns(nsfd, CLONE_NEWNET) == 0) {
        s = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
        setns(self, CLONE_NEWNET);
    }
    ::close(self);
    return s;
}

// ---------------------------------------------------------------------------
// TCP: N connected pairs

struct TcpPairs {
    std::vector<Fd> tx, rx;
    int rcvbuf = 0, sndbuf = 0;  ///< as the kernel reports them (doubled)
    std::string error;
};

struct Where {
    int tx_ns = -1, rx_ns = -1;
    std::uint32_t rx_addr = 0x7F000001;  ///< host order
    bool connect_timeout = false;        ///< connect() gives up after 5 s (SO_SNDTIMEO)
    /// Not 0: nobody accepts in rx_ns; the senders connect to rx_addr:endpoint_port,
    /// which rxinto's endpoint owns (rxinto-endpoint-*).
    std::uint16_t endpoint_port = 0;
};

int rcvbuf_for(std::uint32_t conns) {
    return static_cast<int>(std::min<std::uint32_t>(4U << 20, std::max<std::uint32_t>(256U << 10, (64U << 20) / conns)));
}

/// rxinto-endpoint-*: only the senders; rxinto's endpoint answers the handshakes.
TcpPairs make_clients(std::uint32_t n, std::uint32_t seg, const Where& w) {
    TcpPairs p;
    const int buf = rcvbuf_for(n);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(w.rx_addr);
    a.sin_port = htons(w.endpoint_port);
    for (std::uint32_t i = 0; i < n; ++i) {
        Fd c(socket_in(w.tx_ns, SOCK_STREAM));
        if (c.fd < 0) {
            p.error = std::string("socket: ") + std::strerror(errno);
            return p;
        }
        if (setint(c.fd, SOL_SOCKET, SO_SNDBUFFORCE, buf) != 0) setint(c.fd, SOL_SOCKET, SO_SNDBUF, buf);
        setint(c.fd, IPPROTO_TCP, TCP_NODELAY, seg < 1448 ? 1 : 0);
        timeval tmo{5, 0};
        setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
        if (connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            p.error = std::string("connect: ") + std::strerror(errno) + " (rxinto's endpoint did not answer)";
            return p;
        }
        // A connection that stops making progress for 10 s is an error of the
        // row (send: Resource temporarily unavailable), never a hang.
        tmo = timeval{10, 0};
        setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
        p.tx.push_back(std::move(c));
    }
    p.sndbuf = getint(p.tx[0].fd, SOL_SOCKET, SO_SNDBUF);
    return p;
}

TcpPairs make_pairs(std::uint32_t n, std::uint32_t seg, const Where& w) {
    if (w.endpoint_port != 0) return make_clients(n, seg, w);
    TcpPairs p;
    Fd l(socket_in(w.rx_ns, SOCK_STREAM));
    if (l.fd < 0) {
        p.error = std::string("socket: ") + std::strerror(errno);
        return p;
    }
    const int buf = rcvbuf_for(n);
    setint(l.fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (setint(l.fd, SOL_SOCKET, SO_RCVBUFFORCE, buf) != 0) setint(l.fd, SOL_SOCKET, SO_RCVBUF, buf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(w.rx_addr);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l.fd, 4096) != 0 ||
        getsockname(l.fd, reinterpret_cast<sockaddr*>(&a), &al) != 0) {
        p.error = std::string("bind/listen: ") + std::strerror(errno);
        return p;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
        Fd c(socket_in(w.tx_ns, SOCK_STREAM));
        if (c.fd < 0) {
            p.error = std::string("socket: ") + std::strerror(errno);
            return p;
        }
        if (setint(c.fd, SOL_SOCKET, SO_SNDBUFFORCE, buf) != 0) setint(c.fd, SOL_SOCKET, SO_SNDBUF, buf);
        // Small segments: no Nagle on the sender, so segments stay small on the wire.
        setint(c.fd, IPPROTO_TCP, TCP_NODELAY, seg < 1448 ? 1 : 0);
        timeval tmo{w.connect_timeout ? 5 : 0, 0};
        if (w.connect_timeout) setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
        if (connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            p.error = std::string("connect: ") + std::strerror(errno);
            if (w.connect_timeout && (errno == EINPROGRESS || errno == ETIMEDOUT))
                p.error += " (no answer within 5 s)";
            return p;
        }
        if (w.connect_timeout) {
            tmo = timeval{0, 0};
            setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
        }
        Fd r(accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (r.fd < 0) {
            p.error = std::string("accept: ") + std::strerror(errno);
            return p;
        }
        p.tx.push_back(std::move(c));
        p.rx.push_back(std::move(r));
    }
    p.rcvbuf = getint(p.rx[0].fd, SOL_SOCKET, SO_RCVBUF);
    p.sndbuf = getint(p.tx[0].fd, SOL_SOCKET, SO_SNDBUF);
    return p;
}

/// Sends seg-byte chunks round-robin over every connection for `secs`
/// (or `quick_bytes` per connection when non-zero), then shuts them down.
struct TcpSender {
    std::uint64_t sent = 0;
    double cpu = 0;
    std::string error;
    void run(std::vector<Fd>& tx, std::uint32_t seg, double secs, std::uint64_t quick_bytes,
             const char* src) {
        pin(0);
        const double c0 = thread_cpu_s();
        const auto until = clock_type::now() + std::chrono::duration<double>(secs);
        std::uint64_t per_conn = 0;
        bool go = true;
        while (go) {
            for (unsigned round = 0; round < 16 && go; ++round) {
                for (auto& f : tx) {
                    std::size_t off = 0;
                    while (off < seg) {
                        const ssize_t k = ::send(f.fd, src + off, seg - off, MSG_NOSIGNAL);
                        if (k < 0) {
                            if (errno == EINTR) continue;
                            error = std::string("send: ") + std::strerror(errno);
                            go = false;
                            break;
                        }
                        off += static_cast<std::size_t>(k);
                    }
                    sent += off;
                }
                per_conn += seg;
                if (quick_bytes != 0 && per_conn >= quick_bytes) go = false;
            }
            if (quick_bytes == 0 && clock_type::now() >= until) go = false;
        }
        for (auto& f : tx) shutdown(f.fd, SHUT_WR);
        cpu = thread_cpu_s() - c0;
    }
};

struct TcpReceiver {
    std::uint64_t got = 0;
    double cpu = 0;
    std::uint64_t allocs = 0;
    std::string error;
    clock_type::time_point end;

    void run_recv(std::vector<Fd>& rx, char* buf) {
        pin(1);
        const std::uint64_t a0 = thread_allocs();
        const double c0 = thread_cpu_s();
        if (rx.size() == 1) {
            while (true) {
                const ssize_t k = ::recv(rx[0].fd, buf, app_buf_size, 0);
                if (k > 0) {
                    got += static_cast<std::uint64_t>(k);
                } else if (k == 0) {
                    break;
                } else if (errno != EINTR) {
                    error = std::string("recv: ") + std::strerror(errno);
                    break;
                }
            }
        } else {
            Fd ep(epoll_create1(EPOLL_CLOEXEC));
            for (std::size_t i = 0; i < rx.size(); ++i) {
                fcntl(rx[i].fd, F_SETFL, fcntl(rx[i].fd, F_GETFL) | O_NONBLOCK);
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.u64 = i;
                epoll_ctl(ep.fd, EPOLL_CTL_ADD, rx[i].fd, &ev);
            }
            std::size_t open = rx.size();
            epoll_event evs[64];
            while (open > 0) {
                const int n = epoll_wait(ep.fd, evs, 64, 5000);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    error = "epoll_wait: timeout or error";
                    break;
                }
                for (int e = 0; e < n; ++e) {
                    const int fd = rx[evs[e].data.u64].fd;
                    while (true) {
                        const ssize_t k = ::recv(fd, buf, app_buf_size, 0);
                        if (k > 0) {
                            got += static_cast<std::uint64_t>(k);
                            if (static_cast<std::size_t>(k) < app_buf_size) break;
                        } else if (k == 0) {
                            epoll_ctl(ep.fd, EPOLL_CTL_DEL, fd, nullptr);
                            --open;
                            break;
                        } else {
                            if (errno != EAGAIN && errno != EINTR) {
                                error = std::string("recv: ") + std::strerror(errno);
                                open = 0;
                            }
                            break;
                        }
                    }
                }
            }
        }
        end = clock_type::now();
        cpu = thread_cpu_s() - c0;
        allocs = thread_allocs() - a0;
    }

    void run_uring(std::vector<Fd>& rx, char* buf) {
        pin(1);
        const std::uint64_t a0 = thread_allocs();
        io_uring ring{};
        const unsigned depth = std::max(8U, std::min(4096U, static_cast<unsigned>(rx.size()) * 2));
        // Set up before the clock starts counting this thread's CPU time.
        const int rc = io_uring_queue_init(depth, &ring, 0);
        const double c0 = thread_cpu_s();
        if (rc < 0) {
            error = std::string("io_uring_queue_init: ") + std::strerror(-rc);
            end = clock_type::now();
            return;
        }
        auto post = [&](std::size_t i) {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            if (sqe == nullptr) {
                io_uring_submit(&ring);
                sqe = io_uring_get_sqe(&ring);
                if (sqe == nullptr) return false;
            }
            io_uring_prep_recv(sqe, rx[i].fd, buf, app_buf_size, 0);
            io_uring_sqe_set_data64(sqe, i);
            return true;
        };
        for (std::size_t i = 0; i < rx.size(); ++i)
            if (!post(i)) error = "io_uring: no submission queue entry";
        std::size_t open = rx.size();
        while (open > 0) {
            const int w = io_uring_submit_and_wait(&ring, 1);
            if (w < 0 && w != -EINTR) {
                error = std::string("io_uring_submit_and_wait: ") + std::strerror(-w);
                break;
            }
            io_uring_cqe* cqe = nullptr;
            unsigned head = 0;
            unsigned seen = 0;
            io_uring_for_each_cqe(&ring, head, cqe) {
                ++seen;
                const std::size_t i = io_uring_cqe_get_data64(cqe);
                if (cqe->res > 0) {
                    got += static_cast<std::uint64_t>(cqe->res);
                    post(i);
                } else if (cqe->res == 0) {
                    --open;
                } else if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
                    post(i);
                } else {
                    error = std::string("io_uring recv: ") + std::strerror(-cqe->res);
                    open = 0;
                }
            }
            io_uring_cq_advance(&ring, seen);
        }
        end = clock_type::now();
        cpu = thread_cpu_s() - c0;
        io_uring_queue_exit(&ring);
        allocs = thread_allocs() - a0;
    }
};

Sample tcp_run(const std::string& path, std::uint32_t n, std::uint32_t seg, const Options& o,
               double tsc_hz, const Where& w, const char* src, char* buf, std::string& err,
               std::string* tuning) {
    Sample s;
    TcpPairs p = make_pairs(n, seg, w);
    if (!p.error.empty()) {
        err = p.error;
        return s;
    }
    if (tuning != nullptr) {
        *tuning = "SO_RCVBUF " + std::to_string(p.rcvbuf) + " B, SO_SNDBUF " +
                  std::to_string(p.sndbuf) + " B (kernel-doubled, per connection)";
    }
    TcpSender tx;
    TcpReceiver rx;
    const std::uint64_t quick_bytes =
        o.quick ? std::max<std::uint64_t>(seg, o.quick_packets * seg / n) : 0;
    const auto t0 = clock_type::now();
    std::thread rt([&] {
        if (path == "kernel-io_uring") rx.run_uring(p.rx, buf);
        else rx.run_recv(p.rx, buf);
    });
    std::thread st([&] { tx.run(p.tx, seg, o.seconds, quick_bytes, src); });
    st.join();
    rt.join();
    s.secs = std::chrono::duration<double>(rx.end - t0).count();
    s.cpu_s = tx.cpu + rx.cpu;
    s.recv_cycles = rx.cpu * tsc_hz;
    s.sent = tx.sent;
    s.delivered = rx.got;
    s.segments = rx.got / seg;
    s.allocs = rx.allocs;
    if (!tx.error.empty()) err = tx.error;
    if (!rx.error.empty()) err = rx.error;
    return s;
}

// ---------------------------------------------------------------------------
// UDP

constexpr std::uint64_t udp_window = 8192;  ///< messages in flight (credit from the receiver)
constexpr unsigned mmsg_batch = 64;

Sample udp_run(bool mmsg, std::uint32_t seg, const Options& o, double tsc_hz, const char* src,
               char* buf, std::string& err, std::string* tuning) {
    Sample s;
    Fd r(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    Fd t(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const int rb = 64 << 20;
    if (setint(r.fd, SOL_SOCKET, SO_RCVBUFFORCE, rb) != 0) setint(r.fd, SOL_SOCKET, SO_RCVBUF, rb);
    if (setint(t.fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20) != 0) setint(t.fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
    timeval tv{0, 200000};
    setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7F000001);
    socklen_t al = sizeof a;
    if (bind(r.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(r.fd, reinterpret_cast<sockaddr*>(&a), &al) != 0 ||
        connect(t.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        err = std::string("udp socket set-up: ") + std::strerror(errno);
        return s;
    }
    if (tuning != nullptr)
        *tuning = "SO_RCVBUF " + std::to_string(getint(r.fd, SOL_SOCKET, SO_RCVBUF)) +
                  " B, SO_SNDBUF " + std::to_string(getint(t.fd, SOL_SOCKET, SO_SNDBUF)) +
                  " B; sender: sendmmsg batches of 32, at most " + std::to_string(udp_window) +
                  " messages in flight (credit through shared memory, no loss)";
    std::atomic<std::uint64_t> received{0};
    std::atomic<std::uint64_t> total{~std::uint64_t{0}};
    double tx_cpu = 0, rx_cpu = 0;
    std::uint64_t sent = 0, got = 0, allocs = 0;
    std::string rx_err;
    clock_type::time_point end;
    const std::uint64_t quick_msgs = o.quick ? o.quick_packets : 0;
    const auto t0 = clock_type::now();
    std::thread rt([&] {
        pin(1);
        const std::uint64_t a0 = thread_allocs();
        const double c0 = thread_cpu_s();
        std::uint64_t msgs = 0;
        unsigned idle = 0;
        const unsigned batch = std::min<unsigned>(mmsg_batch, static_cast<unsigned>(app_buf_size / seg));
        mmsghdr hdr[mmsg_batch];
        iovec iov[mmsg_batch];
        for (unsigned i = 0; i < batch; ++i) {
            iov[i].iov_base = buf + std::size_t{i} * seg;
            iov[i].iov_len = seg;
            hdr[i] = mmsghdr{};
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
        }
        while (true) {
            if (msgs >= total.load(std::memory_order_acquire)) break;
            if (mmsg) {
                const int k = recvmmsg(r.fd, hdr, batch, MSG_WAITFORONE, nullptr);
                if (k > 0) {
                    for (int i = 0; i < k; ++i) got += hdr[i].msg_len;
                    msgs += static_cast<std::uint64_t>(k);
                    received.store(msgs, std::memory_order_release);
                    idle = 0;
                    continue;
                }
            } else {
                const ssize_t k = ::recv(r.fd, buf, seg, 0);
                if (k > 0) {
                    got += static_cast<std::uint64_t>(k);
                    received.store(++msgs, std::memory_order_release);
                    idle = 0;
                    continue;
                }
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (total.load() != ~std::uint64_t{0} && ++idle >= 5) {
                    rx_err = "messages lost: " + std::to_string(total.load() - msgs);
                    break;
                }
            } else if (errno != EINTR) {
                rx_err = std::string("recv: ") + std::strerror(errno);
                break;
            }
        }
        end = clock_type::now();
        rx_cpu = thread_cpu_s() - c0;
        allocs = thread_allocs() - a0;
    });
    std::thread st([&] {
        pin(0);
        const double c0 = thread_cpu_s();
        const auto until = clock_type::now() + std::chrono::duration<double>(o.seconds);
        mmsghdr hdr[32];
        iovec iov[32];
        for (unsigned i = 0; i < 32; ++i) {
            iov[i].iov_base = const_cast<char*>(src + std::size_t{i} * seg);
            iov[i].iov_len = seg;
            hdr[i] = mmsghdr{};
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
        }
        std::uint64_t msgs = 0;
        unsigned rounds = 0;
        while (true) {
            if (quick_msgs != 0 ? msgs >= quick_msgs
                                : (++rounds % 64 == 0 && clock_type::now() >= until))
                break;
            while (msgs - received.load(std::memory_order_acquire) + 32 > udp_window) {
                timespec ns{0, 20000};
                nanosleep(&ns, nullptr);
            }
            const int k = sendmmsg(t.fd, hdr, 32, 0);
            if (k < 0) {
                if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
                break;
            }
            msgs += static_cast<std::uint64_t>(k);
            sent += static_cast<std::uint64_t>(k) * seg;
        }
        total.store(msgs, std::memory_order_release);
        tx_cpu = thread_cpu_s() - c0;
    });
    st.join();
    rt.join();
    s.secs = std::chrono::duration<double>(end - t0).count();
    s.cpu_s = tx_cpu + rx_cpu;
    s.recv_cycles = rx_cpu * tsc_hz;
    s.sent = sent;
    s.delivered = got;
    s.segments = got / seg;
    s.allocs = allocs;
    if (!rx_err.empty()) err = rx_err;
    return s;
}

// ---------------------------------------------------------------------------
// veth between two network namespaces

struct Veth {
    bool up = false;
    std::string why;
    Fd a, b;  ///< namespace fds: sender, receiver
    std::string na, nb;  ///< namespace names
    std::string ia, ib;  ///< veth ends: in na, in nb
    Veth() {
        if (geteuid() != 0) {
            why = "not root (network namespaces need CAP_SYS_ADMIN)";
            return;
        }
        const std::string id = std::to_string(getpid());
        na = "rxb" + id + "a";
        nb = "rxb" + id + "b";
        ia = "rxbv" + id + "a";
        ib = "rxbv" + id + "b";
        const std::string cmds[] = {
            "ip netns add " + na,
            "ip netns add " + nb,
            "ip link add rxbv" + id + "a netns " + na + " type veth peer name rxbv" + id + "b netns " + nb,
            "ip -n " + na + " addr add 10.78.0.1/24 dev rxbv" + id + "a",
            "ip -n " + nb + " addr add 10.78.0.2/24 dev rxbv" + id + "b",
            "ip -n " + na + " link set lo up",
            "ip -n " + nb + " link set lo up",
            "ip -n " + na + " link set rxbv" + id + "a up",
            "ip -n " + nb + " link set rxbv" + id + "b up",
        };
        for (const auto& c : cmds) {
            if (std::system((c + " >/dev/null 2>&1").c_str()) != 0) {
                why = "'" + c + "' failed";
                return;
            }
        }
        a = Fd(::open(("/run/netns/" + na).c_str(), O_RDONLY | O_CLOEXEC));
        b = Fd(::open(("/run/netns/" + nb).c_str(), O_RDONLY | O_CLOEXEC));
        if (a.fd < 0 || b.fd < 0) {
            why = "cannot open /run/netns/" + na;
            return;
        }
        up = true;
    }
    Veth(const Veth&) = delete;
    Veth& operator=(const Veth&) = delete;
    ~Veth() {
        a.reset();
        b.reset();
        for (const std::string* n : {&na, &nb})
            if (!n->empty() && std::system(("ip netns del " + *n + " >/dev/null 2>&1").c_str()) != 0)
                std::fprintf(stderr, "rxbench: cannot delete network namespace %s\n", n->c_str());
    }
};

void run_one(const std::string& path, std::uint32_t seg, std::uint32_t conns, const Options& o,
             std::vector<Row>& rows, const std::function<Sample(std::string&)>& f) {
    Row row;
    row.path = path;
    row.workload = workload_name(seg);
    row.seg = seg;
    row.conns = conns;
    const unsigned warm = o.quick ? 0 : 1;
    for (unsigned r = 0; r < o.runs + warm; ++r) {
        std::string err;
        Sample s = f(err);
        if (err.empty() && s.delivered != s.sent)
            err = "delivered " + std::to_string(s.delivered) + " of " + std::to_string(s.sent) + " bytes";
        if (!err.empty()) {
            row.error = err;
            break;
        }
        if (r >= warm) row.samples.push_back(s);
    }
    const Stats g = stats_of(row.samples, gbps);
    std::fprintf(stderr, "rxbench: %-20s %-10s %6u conns %8.2f Gbit/s%s%s\n", path.c_str(),
                 row.workload.c_str(), conns, g.median, row.error.empty() ? "" : "  FAILED: ",
                 row.error.c_str());
    rows.push_back(std::move(row));
}


// ---------------------------------------------------------------------------
// rxinto-af_packet / rxinto-af_xdp: the kernel-tcp-veth traffic (sender in A,
// receiver in B, offloads off so that frames stay <= MTU), with rxinto in a
// child process in namespace B receiving copies of the frames of B's veth end
// (af_child_main in ring.cpp, protocol there).

std::int64_t mono_now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

struct AfChild {
    pid_t pid = -1;
    Fd cmd, rep;
    std::string pending;
    std::string why;  ///< start-up failure
    std::string hello;

    AfChild(const std::string& self_exe, const std::string& ns, const std::string& kind,
            const std::string& iface) {
        int c[2], r[2];
        if (pipe2(c, O_CLOEXEC) != 0) {
            why = std::string("pipe: ") + std::strerror(errno);
            return;
        }
        if (pipe2(r, O_CLOEXEC) != 0) {
            ::close(c[0]);
            ::close(c[1]);
            why = std::string("pipe: ") + std::strerror(errno);
            return;
        }
        std::vector<std::string> av = {"ip", "netns", "exec", ns, self_exe, "--af-child", kind,
                                       iface, "100", "101"};
        std::vector<char*> argv;
        for (auto& a : av) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::fflush(stdout);
        std::fflush(stderr);
        pid = fork();
        if (pid == 0) {
            // Only async-signal-safe calls from here to exec.
            dup2(c[0], 100);
            dup2(r[1], 101);
            dup2(2, 1);  // the child's EAL messages go to stderr: stdout is the table's
            execvp("ip", argv.data());
            _exit(127);
        }
        ::close(c[0]);
        ::close(r[1]);
        cmd = Fd(c[1]);
        rep = Fd(r[0]);
        if (pid < 0) {
            why = std::string("fork: ") + std::strerror(errno);
            return;
        }
        std::string line;
        if (!read_line(line, 60)) {
            why = "the child (ip netns exec " + ns + " rxbench --af-child) did not start: " +
                  (line.empty() ? "no answer" : line);
            return;
        }
        if (line.rfind("hello ", 0) != 0) {
            why = line.rfind("error ", 0) == 0 ? line.substr(6) : line;
            return;
        }
        hello = line.substr(6);
    }
    AfChild(const AfChild&) = delete;
    AfChild& operator=(const AfChild&) = delete;
    ~AfChild() {
        if (pid <= 0) return;
        send("quit");
        cmd.reset();
        for (int i = 0; i < 100; ++i) {  // 10 s
            if (waitpid(pid, nullptr, WNOHANG) == pid) return;
            timespec ns{0, 100'000'000};
            nanosleep(&ns, nullptr);
        }
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
    [[nodiscard]] bool up() const { return why.empty() && pid > 0; }
    bool send(const std::string& line) {
        const std::string l = line + "\n";
        return ::write(cmd.fd, l.data(), l.size()) == static_cast<ssize_t>(l.size());
    }
    /// The next line within timeout_s; false (and why in line) on timeout or EOF.
    bool read_line(std::string& line, double timeout_s) {
        const auto until = clock_type::now() + std::chrono::duration<double>(timeout_s);
        while (true) {
            const std::size_t nl = pending.find('\n');
            if (nl != std::string::npos) {
                line = pending.substr(0, nl);
                pending.erase(0, nl + 1);
                return true;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now()).count();
            if (left <= 0) {
                line = "timeout";
                return false;
            }
            pollfd pf{rep.fd, POLLIN, 0};
            const int k = ::poll(&pf, 1, static_cast<int>(left));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) continue;
            char b[512];
            const ssize_t n = ::read(rep.fd, b, sizeof b);
            if (n <= 0) {
                line = "the child exited";
                return false;
            }
            pending.append(b, static_cast<std::size_t>(n));
        }
    }
    /// Sends cmd, expects a line starting with `want`.
    bool ask(const std::string& c, const char* want, std::string& line, double timeout_s, std::string& err) {
        if (!send(c)) {
            err = "af child: cannot send '" + c + "'";
            return false;
        }
        if (!read_line(line, timeout_s) || line.rfind(want, 0) != 0) {
            err = "af child: '" + c + "' answered '" + line + "'";
            return false;
        }
        return true;
    }
};

struct AfResult {
    std::int64_t last_ns = 0;
    double cpu = 0;
    unsigned long long busy = 0, c2s = 0, s2c = 0, frames = 0, polls = 0, empty = 0, allocs = 0,
                       imissed = 0, nombuf = 0, ierrors = 0, gaps = 0, gap_bytes = 0,
                       no_handshake = 0, capture_drops = 0;
};

Sample af_run(AfChild& ch, std::uint32_t n, std::uint32_t seg, const Options& o, const Where& w,
              const char* src, char* buf, std::string& err, std::string& note) {
    Sample s;
    std::string line;
    if (!ch.ask("start " + std::to_string(seg) + " " + std::to_string(n), "ready", line, 10, err))
        return s;
    std::uint64_t sent = 0;
    double tx_cpu = 0, rx_cpu = 0;
    std::int64_t t0_ns = 0, rx_end_ns = 0;
    {
        TcpPairs p = make_pairs(n, seg, w);
        if (!p.error.empty()) {
            err = p.error;
            unsigned long long f = 0;
            long long ln = 0;
            double cp = 0;
            unsigned long long b = 0, c2s = 0, s2c = 0;
            if (ch.send("end 0") && ch.read_line(line, 15) &&
                std::sscanf(line.c_str(), "result %lld %lf %llu %llu %llu %llu", &ln, &cp, &b, &c2s,
                            &s2c, &f) == 6)
                err += " (meanwhile rxinto's port received " + std::to_string(f) + " frames)";
            return s;
        }
        if (!ch.ask("go", "going", line, 10, err)) return s;
        TcpSender tx;
        TcpReceiver rx;
        // --quick: at most 4000 segments in all, so that the frames of a case
        // (with the ACKs) fit the AF_PACKET ring (16384 frames) even if the
        // poller does not run at all during the transfer: nothing can be dropped.
        const std::uint64_t quick_segs = std::min<std::uint64_t>(o.quick_packets, 4000);
        const std::uint64_t quick_bytes =
            o.quick ? std::max<std::uint64_t>(seg, quick_segs * seg / n) : 0;
        t0_ns = mono_now_ns();
        const bool endpoint = w.endpoint_port != 0;  // rxinto is the receiver: no kernel one
        std::thread rt([&] {
            if (!endpoint) rx.run_recv(p.rx, buf);
        });
        std::thread st([&] { tx.run(p.tx, seg, o.seconds, quick_bytes, src); });
        st.join();
        rt.join();
        rx_end_ns = mono_now_ns();
        sent = tx.sent;
        tx_cpu = tx.cpu;
        rx_cpu = endpoint ? 0 : rx.cpu;
        if (!tx.error.empty()) err = tx.error;
        if (!endpoint && !rx.error.empty()) err = rx.error;
        if (!endpoint && rx.got != tx.sent && err.empty())
            err = "the kernel receiver got " + std::to_string(rx.got) + " of " + std::to_string(tx.sent) + " bytes";
    }  // both ends closed: FINs both ways
    if (!ch.send("end " + std::to_string(sent)) || !ch.read_line(line, 20) || line.rfind("result ", 0) != 0) {
        if (err.empty()) err = "af child: no result (" + line + ")";
        return s;
    }
    AfResult r;
    long long last_ns = 0;
    // The child's result: last delivery (CLOCK_MONOTONIC ns), poller CPU s, poller
    // cycles in non-empty polls, bytes client->server, server->client, frames,
    // polls, empty polls, allocations, PMD imissed, rx_nombuf, ierrors, rxinto
    // gaps, gap bytes, segments of unknown connections, kernel ring drops.
    if (std::sscanf(line.c_str() + 7, "%lld %lf %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                    &last_ns, &r.cpu, &r.busy, &r.c2s, &r.s2c, &r.frames, &r.polls, &r.empty,
                    &r.allocs, &r.imissed, &r.nombuf, &r.ierrors, &r.gaps, &r.gap_bytes,
                    &r.no_handshake, &r.capture_drops) != 16) {
        if (err.empty()) err = "af child: bad result '" + line + "'";
        return s;
    }
    r.last_ns = last_ns;
    const std::int64_t end_ns = r.c2s > 0 ? r.last_ns : rx_end_ns;
    s.secs = static_cast<double>(end_ns - t0_ns) * 1e-9;
    s.cpu_s = tx_cpu + rx_cpu + r.cpu;
    s.recv_cycles = static_cast<double>(r.busy);
    s.sent = sent;
    s.delivered = r.c2s;
    s.segments = r.c2s / seg;
    s.allocs = r.allocs;
    s.polls = r.polls;
    s.empty_polls = r.empty;
    s.frames = r.frames;
    s.drops = r.imissed + r.nombuf + r.ierrors + r.capture_drops;
    if (r.s2c != 0 && err.empty())
        err = "rxinto delivered " + std::to_string(r.s2c) + " bytes receiver -> sender (none were sent)";
    if (s.delivered != s.sent) {
        note = "delivered " + std::to_string(s.delivered) + " of " + std::to_string(s.sent) +
               " B; capture drops: PMD imissed " + std::to_string(r.imissed) + ", rx_nombuf " +
               std::to_string(r.nombuf) + ", ierrors " + std::to_string(r.ierrors) +
               ", kernel ring (tp_drops) " + std::to_string(r.capture_drops) +
               "; rxinto gaps " + std::to_string(r.gaps) + " (" + std::to_string(r.gap_bytes) +
               " B), segments of unknown connections " + std::to_string(r.no_handshake);
    }
    return s;
}

}  // namespace

void run_af_paths(const Options& o, double tsc_hz, const std::string& self_exe,
                  std::vector<Row>& rows) {
    (void)tsc_hz;
    const char* const kinds[] = {"af_packet", "af_xdp", "endpoint-af_packet", "endpoint-af_xdp"};
    bool any = false;
    for (const char* k : kinds) any = any || wanted(o, std::string("rxinto-") + k);
    if (!any) return;
    auto skip = [&](const std::string& path, const std::string& why) {
        Row r;
        r.path = path;
        r.workload = "-";
        r.skipped = why;
        rows.push_back(r);
    };
    if (!o.veth) {
        for (const char* k : kinds)
            if (wanted(o, std::string("rxinto-") + k)) skip(std::string("rxinto-") + k, "--no-veth");
        return;
    }
    Veth v;
    std::string why = v.why;
    if (v.up) {
        for (const auto& [ns, dev] : {std::pair{v.na, v.ia}, std::pair{v.nb, v.ib}}) {
            const std::string c = "ip netns exec " + ns + " ethtool -K " + dev + " tso off gso off gro off";
            if (std::system((c + " >/dev/null 2>&1").c_str()) != 0) {
                why = "'" + c + "' failed";
                break;
            }
        }
    }
    if (!why.empty()) {
        for (const char* k : kinds)
            if (wanted(o, std::string("rxinto-") + k)) skip(std::string("rxinto-") + k, why);
        return;
    }
    Buffer buf = alloc_buf(app_buf_size);
    Buffer src = alloc_buf(app_buf_size + 64 * 1448);
    Where w;
    w.tx_ns = v.a.fd;
    w.rx_ns = v.b.fd;
    w.rx_addr = 0x0A4E0002;
    w.connect_timeout = true;
    bool kernel_address = true;
    const std::string shared_note =
        "3 busy parties on 2 vCPUs: sender (CPU 0), kernel receiver (CPU 1), rxinto poller (floating)";
    const std::string endpoint_note =
        "2 busy parties on 2 vCPUs: sender (CPU 0), rxinto's endpoint poller (floating); no kernel receiver";
    for (const char* k : kinds) {
        const std::string path = std::string("rxinto-") + k;
        if (!wanted(o, path)) continue;
        const bool endpoint = std::string_view(k).rfind("endpoint-", 0) == 0;
        w.endpoint_port = endpoint ? af_endpoint_port : 0;
        if (endpoint && kernel_address) {
            // rxinto owns 10.78.0.2 from here on: B's kernel must not answer for it.
            const std::string c = "ip -n " + v.nb + " addr del 10.78.0.2/24 dev " + v.ib;
            if (std::system((c + " >/dev/null 2>&1").c_str()) != 0) {
                skip(path, "'" + c + "' failed");
                continue;
            }
            kernel_address = false;
        }
        AfChild ch(self_exe, v.nb, k, v.ib);
        if (!ch.up()) {
            skip(path, ch.why);
            std::fprintf(stderr, "rxbench: %-20s skipped: %s\n", path.c_str(), ch.why.c_str());
            continue;
        }
        if (endpoint)
            std::printf("  %s: namespaces %s (Linux TCP sender, 10.78.0.1) and %s, where rxinto's endpoint "
                        "owns 10.78.0.2 (B's kernel has no address there) and terminates the connections "
                        "(port %u), veth MTU 1500 with TSO/GSO/GRO off on both ends; rxinto in a child process "
                        "on %s (%s), one EAL lcore floating over both CPUs, receiving with recv_into into one "
                        "64 KiB buffer; CPU s/GB: the sender and rxinto's poller\n",
                        path.c_str(), v.na.c_str(), v.nb.c_str(), static_cast<unsigned>(af_endpoint_port),
                        v.ib.c_str(), ch.hello.c_str());
        else
            std::printf("  %s: namespaces %s (Linux TCP sender, 10.78.0.1) and %s (Linux TCP receiver, "
                        "10.78.0.2), veth MTU 1500 with TSO/GSO/GRO off on both ends; rxinto in a child "
                        "process in %s on %s (%s), one EAL lcore floating over both CPUs, TCP checksums "
                        "ignored (the veth leaves them to offload); %s\n",
                        path.c_str(), v.na.c_str(), v.nb.c_str(), v.nb.c_str(), v.ib.c_str(),
                        ch.hello.c_str(), shared_note.c_str());
        bool dead = false;
        for (const std::uint32_t n : o.conns) {
            for (const std::uint32_t seg : o.sizes) {
                Row row;
                row.path = path;
                row.workload = workload_name(seg);
                row.seg = seg;
                row.conns = n;
                const unsigned warm = o.quick ? 0 : 1;
                std::string notes;
                for (unsigned r = 0; r < o.runs + warm && !dead; ++r) {
                    std::string err, note;
                    Sample s = af_run(ch, n, seg, o, w, src.get(), buf.get(), err, note);
                    if (err.empty() && s.delivered != s.sent && o.quick)
                        err = note;  // --quick is sized so that nothing can be lost
                    if (!err.empty()) {
                        row.error = err;
                        dead = err.rfind("af child", 0) == 0;
                        break;
                    }
                    if (!note.empty() && r >= warm) notes += (notes.empty() ? "" : " | ") + ("run " + std::to_string(r + 1 - warm) + ": " + note);
                    if (r >= warm) row.samples.push_back(s);
                }
                if (dead && row.error.empty()) row.error = "af child gone";
                const std::string& row_note = endpoint ? endpoint_note : shared_note;
                row.note = notes.empty() ? row_note : notes + "; " + row_note;
                if (!endpoint && row.error.rfind("connect:", 0) == 0 && row.samples.empty()) {
                    // The kernel never answered: the port took the frames instead of copying them.
                    row.skipped = std::string("net_") + k + " on " + v.ib + " (" + ch.hello + "): " +
                                  row.error + ": the port's XDP program redirects every frame B's veth end "
                                  "receives (ARP included) to the AF_XDP socket, so B's kernel never sees "
                                  "them and the Linux sender's connections cannot complete (AF_PACKET "
                                  "copies frames, AF_XDP takes them)";
                    row.error.clear();
                    row.workload = "-";
                    row.seg = 0;
                    row.conns = 0;
                    row.note.clear();
                    std::fprintf(stderr, "rxbench: %-20s skipped: %s\n", path.c_str(), row.skipped.c_str());
                    rows.push_back(std::move(row));
                    dead = true;
                    break;
                }
                const Stats g = stats_of(row.samples, gbps);
                std::fprintf(stderr, "rxbench: %-20s %-10s %6u conns %8.2f Gbit/s%s%s\n", path.c_str(),
                             row.workload.c_str(), n, g.median, row.error.empty() ? "" : "  FAILED: ",
                             row.error.c_str());
                rows.push_back(std::move(row));
            }
            if (dead) break;
        }
    }
    std::printf("\n");
}

void run_kernel_paths(const Options& o, double tsc_hz, std::vector<Row>& rows) {
    Buffer buf = alloc_buf(app_buf_size);
    Buffer src = alloc_buf(app_buf_size + 64 * 1448);
    std::printf("kernel tuning: sender thread pinned to CPU 0, receiver thread to CPU 1; receiver "
                "reads into one 64 KiB buffer\n");
    std::printf("  net.ipv4.tcp_rmem %s | tcp_wmem %s | net.core.rmem_max %s | busy_read %s | "
                "busy_poll %s\n",
                read_first_line("/proc/sys/net/ipv4/tcp_rmem").c_str(),
                read_first_line("/proc/sys/net/ipv4/tcp_wmem").c_str(),
                read_first_line("/proc/sys/net/core/rmem_max").c_str(),
                read_first_line("/proc/sys/net/core/busy_read").c_str(),
                read_first_line("/proc/sys/net/core/busy_poll").c_str());
    std::printf("  TCP: SO_RCVBUF/SO_SNDBUF forced to min(4 MiB, max(256 KiB, 64 MiB / "
                "connections)); TCP_NODELAY off for 1448 B bulk, on for 64/128/256 B (segments "
                "stay small; the receiver may still read several at once); recv() blocking for "
                "1 connection, epoll + non-blocking recv() for more; busy polling: not used "
                "(loopback and veth have no NAPI queue to poll)\n");
    std::printf("  io_uring: one single-shot IORING_OP_RECV of 64 KiB outstanding per "
                "connection, all into the same buffer, submit_and_wait(1)\n");

    Where lo;
    for (const std::string path : {"kernel-tcp-loopback", "kernel-io_uring"}) {
        if (!wanted(o, path)) continue;
        bool printed = false;
        for (const std::uint32_t n : o.conns)
            for (const std::uint32_t seg : o.sizes) {
                run_one(path, seg, n, o, rows, [&](std::string& err) {
                    std::string tun;
                    Sample s = tcp_run(path, n, seg, o, tsc_hz, lo, src.get(), buf.get(), err,
                                       printed ? nullptr : &tun);
                    if (!printed && !tun.empty()) {
                        std::printf("  %s (1 conn): %s\n", path.c_str(), tun.c_str());
                        printed = true;
                    }
                    return s;
                });
            }
    }

    for (const bool mmsg : {false, true}) {
        const std::string path = mmsg ? "kernel-udp-recvmmsg" : "kernel-udp-recv";
        if (!wanted(o, path)) continue;
        bool printed = false;
        for (const std::uint32_t seg : o.sizes) {
            run_one(path, seg, 1, o, rows, [&](std::string& err) {
                std::string tun;
                Sample s = udp_run(mmsg, seg, o, tsc_hz, src.get(), buf.get(), err,
                                   printed ? nullptr : &tun);
                if (!printed && !tun.empty()) {
                    std::printf("  %s: %s\n", path.c_str(), tun.c_str());
                    printed = true;
                }
                return s;
            });
        }
    }

    if (wanted(o, "kernel-tcp-veth")) {
        if (!o.veth) {
            Row r;
            r.path = "kernel-tcp-veth";
            r.workload = "-";
            r.skipped = "--no-veth";
            rows.push_back(r);
        } else {
            Veth v;
            if (!v.up) {
                Row r;
                r.path = "kernel-tcp-veth";
                r.workload = "-";
                r.skipped = v.why;
                rows.push_back(r);
            } else {
                std::printf("  kernel-tcp-veth: namespaces %s (sender, 10.78.0.1) and %s (receiver, "
                            "10.78.0.2) joined by a veth pair, MTU 1500, offloads as the kernel "
                            "sets them (TSO/GSO/GRO on); created and deleted by rxbench\n",
                            v.na.c_str(), v.nb.c_str());
                Where w;
                w.tx_ns = v.a.fd;
                w.rx_ns = v.b.fd;
                w.rx_addr = 0x0A4E0002;
                for (const std::uint32_t n : o.conns)
                    for (const std::uint32_t seg : o.sizes)
                        run_one("kernel-tcp-veth", seg, n, o, rows, [&](std::string& err) {
                            return tcp_run("kernel-tcp-veth", n, seg, o, tsc_hz, w, src.get(),
                                           buf.get(), err, nullptr);
                        });
            }
        }
    }
    std::printf("\n");
}

}  // namespace rxbench
