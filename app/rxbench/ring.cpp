// rxbench: rxinto through net_ring (rxinto-ring, rxinto-ring-zerocopy) and the
// memcpy limit, on the feed shared with test/bench/bench_tcp (feed.hpp):
// pre-built frames of N TCP connections (handshakes first, then data
// round-robin, in order, valid checksums), written by a generator on the main
// lcore into mbufs of a pool larger than the caches (the payload pattern was
// written once when the pool was made, so the copy reads cold memory, as after
// a NIC's DMA), enqueued on a ring that net_ring presents as a port. On this
// 2-core VM the generator fills the ring while the worker is stopped; the
// worker lcore then drains it (rxinto's receive loop ->
// reassembler::process_burst -> recv_into of every readable connection into
// one 64 KiB buffer, or peek/consume for zerocopy), timed with the TSC. CPU
// seconds count the generator's fill time (main lcore) and the worker's drain
// time.
//
// Also here: af_child_main, the rxinto side of rxinto-af_packet / rxinto-af_xdp
// (a child process with its own EAL, polling a live net_af_packet / net_af_xdp
// port on a veth; the parent's side is run_af_paths in kernel.cpp).
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string_view>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "common.hpp"
#include "feed.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/endpoint/endpoint.hpp"
#include "rxinto/port/eal.hpp"
#include "rxinto/port/ports.hpp"
#include "rxinto/tcp/counters.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxbench {
namespace {

using feed::CaseResult;
using feed::Checker;

Sample to_sample(const feed::Sample& r, double hz) {
    Sample s;
    s.secs = static_cast<double>(r.cycles) / hz;
    s.cpu_s = static_cast<double>(r.cycles + r.gen_cycles) / hz;
    s.recv_cycles = static_cast<double>(r.cycles);
    s.sent = r.payload;
    s.delivered = r.delivered;
    s.segments = r.segments;
    s.allocs = r.news + r.deletes;
    s.polls = r.polls;
    s.empty_polls = r.empty_polls;
    return s;
}

}  // namespace

void run_ring_paths(const Options& o, std::vector<Row>& rows) {
    const bool want_ring = wanted(o, "rxinto-ring");
    const bool want_zc = wanted(o, "rxinto-ring-zerocopy");
    const unsigned wl = feed::worker_lcore();
    const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
    Checker chk("rxbench");
    if (wl >= RTE_MAX_LCORE) {
        for (const char* p : {"rxinto-ring", "rxinto-ring-zerocopy", "memcpy"}) {
            Row r;
            r.path = p;
            r.workload = "-";
            r.error = "needs a worker lcore (EAL -l 0-1)";
            rows.push_back(r);
        }
        return;
    }
    feed::BenchOptions bo;
    bo.runs = o.runs;
    bo.seconds = o.seconds;
    bo.quick = o.quick;
    bo.pool_mbufs = o.pool_mbufs;
    bo.quick_packets = o.quick_packets;
    if (want_ring || want_zc) {
        feed::Bench b(bo, wl, chk);
        if (auto st = b.open(); !st) {
            Row r;
            r.path = "rxinto-ring";
            r.workload = "-";
            r.error = st.error().message;
            rows.push_back(r);
        } else {
            for (const std::uint32_t want : o.rxinto_conns) {
                const int f0 = chk.failures;
                auto got = b.start_flows(want);
                if (!got || chk.failures != f0) {
                    Row r;
                    r.path = "rxinto-ring";
                    r.workload = "-";
                    r.conns = want;
                    r.error = got ? chk.last : got.error().message;
                    rows.push_back(r);
                    b.end_flows(want);
                    continue;
                }
                const std::uint32_t flows = got.value();
                for (const std::uint32_t seg : o.sizes)
                    for (const bool zc : {false, true}) {
                        if ((zc && !want_zc) || (!zc && !want_ring)) continue;
                        b.set_zerocopy(zc);
                        const int c0 = chk.failures;
                        CaseResult c = b.run_case(flows, seg, 0, o.checksum_verify);
                        Row r;
                        r.path = zc ? "rxinto-ring-zerocopy" : "rxinto-ring";
                        r.workload = workload_name(seg);
                        r.seg = seg;
                        r.conns = flows;
                        for (const auto& s : c.samples) r.samples.push_back(to_sample(s, tsc_hz));
                        if (chk.failures != c0) r.error = chk.last;
                        if (r.samples.empty() && r.error.empty()) r.error = "no sample";
                        std::fprintf(stderr, "rxbench: %-20s %-10s %6u conns %8.2f Gbit/s%s%s\n",
                                     r.path.c_str(), r.workload.c_str(), flows,
                                     stats_of(r.samples, gbps).median,
                                     r.error.empty() ? "" : "  FAILED: ", r.error.c_str());
                        rows.push_back(std::move(r));
                    }
                const int e0 = chk.failures;
                b.end_flows(flows);
                if (chk.failures != e0 && !rows.empty()) rows.back().error = chk.last;
            }
            for (const auto& n : b.notes()) std::printf("note: %s\n", n.c_str());
        }
    }

    if (!wanted(o, "memcpy")) return;
    const feed::CopyBuffers buffers = feed::make_copy_buffers(o.memcpy_mib);
    if (!buffers) {
        Row r;
        r.path = "memcpy";
        r.workload = "-";
        r.error = "cannot allocate the memcpy source";
        rows.push_back(r);
        return;
    }
    for (const std::uint32_t seg : o.sizes) {
        Row r;
        r.path = "memcpy";
        r.workload = workload_name(seg);
        r.seg = seg;
        r.conns = 0;
        std::vector<feed::CopyRun> runs;
        if (!feed::copy_runs(buffers, seg, o.runs, o.quick ? 0.05 : o.seconds, wl, runs))
            r.error = "cannot launch memcpy";
        for (const feed::CopyRun& j : runs) {
            Sample s;
            s.secs = static_cast<double>(j.cycles) / tsc_hz;
            s.cpu_s = s.secs;
            s.recv_cycles = static_cast<double>(j.cycles);
            s.sent = s.delivered = j.copies * seg;
            s.segments = j.copies;
            r.samples.push_back(s);
        }
        rows.push_back(std::move(r));
    }
}


// ---------------------------------------------------------------------------
// rxinto-af_packet / rxinto-af_xdp: the child process, in the receiver's
// network namespace (started by run_af_paths with `ip netns exec`). One EAL
// lcore polls the port all the time; a case runs between the parent's "start"
// and its "end": a fresh reassembler sees the handshakes, recv_into drains
// every readable connection into one 64 KiB buffer. Commands (one line each,
// parent -> child) and answers:
//   start SEG CONNS -> ready        (a new reassembler; frames before it are freed)
//   go              -> going        (baselines: CPU, allocations, PMD stats)
//   end SENT        -> result ...   (after SENT client bytes were delivered, or
//                                     1 s without progress; fields: see af_run)
//   quit            (the child closes the port and the EAL and exits)
// Allocation-free between "go" and "end": fixed buffers, no std::string.

namespace {

double thread_cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::int64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

void reply(int fd, const char* line) {
    std::size_t off = 0;
    const std::size_t len = std::strlen(line);
    while (off < len) {
        const ssize_t k = ::write(fd, line + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        off += static_cast<std::size_t>(k);
    }
}

/// Lines from a non-blocking fd, without allocating.
struct LineReader {
    int fd = -1;
    char buf[512] = {};
    std::size_t len = 0;
    bool eof = false;
    /// true and the line (NUL-terminated, no newline) in out when one is complete.
    bool next(char (&out)[512]) {
        while (true) {
            for (std::size_t i = 0; i < len; ++i)
                if (buf[i] == '\n') {
                    std::memcpy(out, buf, i);
                    out[i] = '\0';
                    std::memmove(buf, buf + i + 1, len - i - 1);
                    len -= i + 1;
                    return true;
                }
            if (len == sizeof buf) len = 0;  // a line too long: dropped
            const ssize_t k = ::read(fd, buf + len, sizeof buf - len);
            if (k == 0) eof = true;
            if (k <= 0) return false;
            len += static_cast<std::size_t>(k);
        }
    }
};

/// The AF_PACKET sockets of this process (net_af_packet's, one per queue
/// pair): DPDK 22.11's PMD does not read the kernel's PACKET_STATISTICS, so
/// its ring drops (tp_drops) are read here. Reading resets them.
std::vector<int> packet_sockets() {
    std::vector<int> fds;
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return fds;
    while (const dirent* e = readdir(d)) {
        const int fd = std::atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d)) continue;
        int dom = 0;
        socklen_t l = sizeof dom;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == AF_PACKET) fds.push_back(fd);
    }
    closedir(d);
    return fds;
}

std::uint64_t capture_drops(const std::vector<int>& fds) {
    std::uint64_t drops = 0;
    for (const int fd : fds) {
        tpacket_stats st{};
        socklen_t l = sizeof st;
        if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &l) == 0) drops += st.tp_drops;
    }
    return drops;
}

struct AfCase {
    std::unique_ptr<rxinto::tcp::reassembler> r;
    std::unique_ptr<rxinto::endpoint::endpoint> ep;  ///< rxinto-endpoint-*: rxinto terminates TCP
    bool timed = false;    ///< between go and the result
    bool ending = false;   ///< end received
    std::uint64_t target = 0;
    std::uint64_t c2s = 0, s2c = 0, other = 0;
    std::uint64_t gaps = 0, gap_bytes = 0;
    std::uint64_t frames = 0, polls = 0, empty = 0, busy = 0;
    std::uint64_t go_tsc = 0, last_tsc = 0, end_tsc = 0, progress_tsc = 0;
    double go_cpu = 0;
    std::uint64_t go_allocs = 0;
    rte_eth_stats go_stats{};
};

}  // namespace

int af_child_main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "rxbench --af-child: KIND IFACE CMD_FD REPLY_FD\n");
        return 2;
    }
    // "endpoint-af_packet" / "endpoint-af_xdp": the same port, but rxinto's
    // endpoint owns 10.78.0.2 and terminates the connections (one tx queue).
    const bool endpoint = std::string_view(argv[0]).rfind("endpoint-", 0) == 0;
    const std::string kind = endpoint ? std::string(argv[0] + 9) : std::string(argv[0]);
    const std::string iface = argv[1];
    LineReader in;
    in.fd = std::atoi(argv[2]);
    const int out = std::atoi(argv[3]);
    fcntl(in.fd, F_SETFL, fcntl(in.fd, F_GETFL) | O_NONBLOCK);

    rxinto::config::Settings s;
    s.eal.lcores = "0@(0-1)";  // one lcore, floating over both CPUs
    s.eal.memory_mb = 512;
    s.eal.in_memory = true;    // --no-shconf and a prefix of our own (pid)
    s.eal.file_prefix = "rxbench_af";
    s.eal.log_level = "warning";
    s.eal.extra_args = {"--no-telemetry"};
    rxinto::config::PortSettings p;
    p.kind = rxinto::config::PortKind::vdev;
    p.source = kind == "af_xdp"
                   ? "net_af_xdp0,iface=" + iface + ",start_queue=0,queue_count=1"
                   : "net_af_packet0,iface=" + iface + ",qpairs=1,blocksz=4096,framesz=2048,framecnt=16384";
    p.rx_queues = 1;
    s.ports = {p};
    s.run.burst = 32;
    s.mempool.reassembly_held = 16384;
    auto args = rxinto::port::build_eal_args(s, false, {});
    if (!args) {
        reply(out, ("error " + args.error().message + "\n").c_str());
        return 1;
    }
    auto eal = rxinto::port::eal_init(args.value(), false);
    if (!eal) {
        std::string m = eal.error().message;
        for (char& c : m) c = c == '\n' ? ' ' : c;
        reply(out, ("error EAL: " + m + "\n").c_str());
        return 1;
    }
    // af_packet: rxinto's own port set-up (Ports). af_xdp: net_af_xdp wants as
    // many tx queues as rx queues (its dev_configure says EINVAL otherwise) and
    // Ports configures none, so the port is set up here, the same way otherwise.
    std::uint16_t port_id = 0;
    rte_mempool* pool = nullptr;
    std::unique_ptr<rxinto::port::Ports> ports;
    std::string setup;
    auto fail = [&](const std::string& m) {
        std::string t = m;
        for (char& ch : t) ch = ch == '\n' ? ' ' : ch;
        reply(out, ("error " + p.source + ": " + t + "\n").c_str());
        if (ports) ports->close();
        if (pool != nullptr) {
            rte_eth_dev_stop(port_id);
            rte_eth_dev_close(port_id);
            rte_mempool_free(pool);
        }
        rxinto::port::eal_cleanup();
        return 1;
    };
    if (kind != "af_xdp") {
        auto opened = rxinto::port::Ports::open(s, 1, 1, {}, 0, {},
                                                endpoint ? rxinto::port::TxQueues::per_rx
                                                         : rxinto::port::TxQueues::none);
        if (!opened) return fail(opened.error().message);
        ports = std::make_unique<rxinto::port::Ports>(std::move(opened).value());
        port_id = ports->ports().at(0).port_id;
        pool = nullptr;
        setup = "pool " + std::to_string(ports->pool_size()) + " mbufs, rxinto's port set-up";
    } else {
        if (rte_eth_dev_get_port_by_name("net_af_xdp0", &port_id) != 0)
            return fail("no such ethdev after EAL start-up (is the PMD loaded?)");
        const int sock = static_cast<int>(rte_socket_id());
        rte_mempool* mp = rte_pktmbuf_pool_create("rxaf_pool", 32767, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, sock);
        if (mp == nullptr) return fail(std::string("mempool: ") + rte_strerror(rte_errno));
        pool = mp;
        rte_eth_conf conf{};
        std::uint16_t rxd = 1024, txd = 1024;
        int rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
        if (rc == 0) rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rxd, &txd);
        if (rc == 0) rc = rte_eth_rx_queue_setup(port_id, 0, rxd, sock, nullptr, pool);
        if (rc == 0) rc = rte_eth_tx_queue_setup(port_id, 0, txd, sock, nullptr);
        if (rc == 0) rc = rte_eth_dev_start(port_id);
        if (rc != 0) {
            const std::string m = "configure/queue set-up/start (1 rx + 1 tx queue): " + std::string(rte_strerror(-rc));
            rte_mempool* keep = pool;
            pool = nullptr;  // not started: close only
            rte_eth_dev_close(port_id);
            rte_mempool_free(keep);
            return fail(m);
        }
        rte_eth_promiscuous_enable(port_id);
        setup = "pool 32767 mbufs, 1 rx + 1 tx queue set up by rxbench";
    }
    if (pool == nullptr) pool = ports->pool();
    std::array<std::uint8_t, 6> mac{};
    if (rte_ether_addr ea{}; rte_eth_macaddr_get(port_id, &ea) == 0) std::memcpy(mac.data(), ea.addr_bytes, 6);
    if (endpoint) setup += ", rxinto's endpoint owns 10.78.0.2";
    const std::vector<int> psocks = packet_sockets();
    if (!psocks.empty())
        setup += ", kernel ring drops read from " + std::to_string(psocks.size()) + " AF_PACKET socket(s)";
    reply(out, ("hello " + p.source + ", " + setup + "\n").c_str());

    const double hz = static_cast<double>(rte_get_tsc_hz());
    const std::uint64_t check_every = static_cast<std::uint64_t>(hz / 1000);  // commands: 1 ms
    const std::uint64_t tsc_per_us = std::max<std::uint64_t>(1, rte_get_tsc_hz() / 1'000'000ULL);
    auto buf = feed::alloc_buffer(app_buf_size);
    std::size_t pos = 0;
    rxinto::capture::QueueCounters qc;
    rxinto::capture::QueueRef q;
    q.port_id = port_id;
    q.counters = &qc;
    const rxinto::tcp::port_link link{};
    rte_mbuf* pkts[32];
    AfCase c;
    unsigned made = 0;
    std::uint64_t next_check = 0;
    char line[512];
    bool quit = false;
    int rc = 0;

    auto drain = [&](rxinto::tcp::connection& conn) {
        for (rxinto::flow::direction d : rxinto::flow::both_directions) {
            rxinto::tcp::stream& st = conn.in(d);
            while (true) {
                const std::span<std::byte> room(buf.get() + pos, app_buf_size - pos);
                const rxinto::tcp::recv_result res = st.recv_into(room);
                if (res.bytes != 0) {
                    if (conn.client() == d) c.c2s += res.bytes;
                    else if (!conn.client()) c.other += res.bytes;
                    else c.s2c += res.bytes;
                    pos += res.bytes;
                    if (pos == app_buf_size) pos = 0;
                }
                if (res.gap != 0) {
                    ++c.gaps;
                    c.gap_bytes += st.skip_gap();
                    continue;
                }
                if (res.bytes < room.size()) break;
            }
        }
    };

    // The endpoint's side: the client's bytes into the buffer; our FIN once its FIN was read.
    auto drain_ep = [&](rxinto::tcp::connection& conn) {
        rxinto::tcp::stream& st = conn.in(rxinto::endpoint::endpoint::inbound(conn));
        while (true) {
            const std::span<std::byte> room(buf.get() + pos, app_buf_size - pos);
            const rxinto::tcp::recv_result res = st.recv_into(room);
            c.c2s += res.bytes;
            pos += res.bytes;
            if (pos == app_buf_size) pos = 0;
            if (res.bytes < room.size()) break;
        }
        if (st.finished() && c.ep->state(conn) == rxinto::endpoint::tcp_state::close_wait) c.ep->close(conn);
    };

    while (!quit) {
        std::uint64_t bytes = 0;
        const std::uint16_t n = rxinto::capture::receive(q, pkts, 32, bytes);
        const std::uint64_t now = rte_rdtsc();
        if (c.timed) {
            ++c.polls;
            if (n == 0) ++c.empty;
        }
        if (c.ep) {
            // Receive, read, then ACK (flush), as rxinto's endpoint workers do;
            // the flush also runs without packets (timers, window updates).
            const std::uint64_t before = c.c2s;
            const std::uint64_t now_ns = now / tsc_per_us * 1000ULL;
            if (n != 0) c.ep->process_burst(pkts, n, now_ns);
            for (const rxinto::tcp::event& ev : c.ep->events()) drain_ep(*ev.conn);
            c.ep->flush(now_ns);
            if (n != 0) {
                const std::uint64_t after = rte_rdtsc();
                if (c.timed) c.busy += after - now;
                c.frames += n;
                if (c.c2s != before) c.last_tsc = c.progress_tsc = after;
            }
        } else if (n != 0) {
            if (c.r) {
                const std::uint64_t before = c.c2s + c.s2c + c.other;
                c.r->process_burst(pkts, n, link, now / tsc_per_us * 1000ULL);
                for (const rxinto::tcp::event& ev : c.r->events())
                    if (ev.kind == rxinto::tcp::event_kind::readable) drain(*ev.conn);
                c.r->flush();
                const std::uint64_t after = rte_rdtsc();
                if (c.timed) c.busy += after - now;
                c.frames += n;  // from "start": the handshakes included
                if (c.c2s + c.s2c + c.other != before) c.last_tsc = c.progress_tsc = after;
            } else {
                rte_pktmbuf_free_bulk(pkts, n);
            }
        }
        // A fresh TSC: progress_tsc may be later than `now` (set after this burst).
        const std::uint64_t t = c.ending ? rte_rdtsc() : 0;
        if (c.ending && (c.c2s >= c.target ||
                         (t > c.progress_tsc && t - c.progress_tsc > static_cast<std::uint64_t>(hz)) ||
                         t - c.end_tsc > static_cast<std::uint64_t>(10 * hz))) {
            const std::uint64_t allocs = thread_allocs() - c.go_allocs;
            const double cpu = thread_cpu_now() - c.go_cpu;
            const std::uint64_t fin = rte_rdtsc();
            const std::int64_t fin_ns = mono_ns();
            rte_eth_stats st{};
            rte_eth_stats_get(port_id, &st);
            const std::uint64_t kdrops = capture_drops(psocks);
            const std::uint64_t unknown =
                c.ep ? c.ep->counters().get(rxinto::endpoint::endpoint_counter::closed_port)
                     : c.r->counters().get(rxinto::tcp::tcp_counter::no_handshake);
            if (c.r) c.r->finish();
            if (c.ep && (c.c2s < c.target ||
                         c.ep->counters().get(rxinto::endpoint::endpoint_counter::connections_opened) == 0)) {
                // A case that ended short: what the endpoint did and what the
                // port still holds, for the row's diagnosis (e.g. frames the PMD
                // accepted for transmission that never left: its mbufs stay out).
                using ec = rxinto::endpoint::endpoint_counter;
                const auto& k = c.ep->counters();
                const auto v = [&](ec e) { return static_cast<unsigned long long>(k.get(e)); };
                std::fprintf(stderr,
                             "rxbench --af-child: case ended short (%llu of %llu B sent): endpoint SYNs %llu, opened %llu, "
                             "SYN-ACK retransmits %llu, frames sent %llu (tx dropped %llu), segments dropped for "
                             "room %llu, held %zu; port pool %u mbufs in use\n",
                             static_cast<unsigned long long>(c.c2s), static_cast<unsigned long long>(c.target),
                             v(ec::syn_received), v(ec::connections_opened), v(ec::synack_retransmits),
                             v(ec::tx_packets), v(ec::tx_dropped), v(ec::data_dropped_no_room),
                             c.ep->segments_in_use(), rte_mempool_in_use_count(pool));
            }
            if (c.ep) c.ep->finish(fin / tsc_per_us * 1000ULL);
            const std::uint64_t last = c.last_tsc > c.go_tsc ? c.last_tsc : c.go_tsc;
            const double span = static_cast<double>(fin - c.go_tsc);
            const double cpu_used = span > 0 ? cpu * static_cast<double>(last - c.go_tsc) / span : 0;
            const std::int64_t last_ns =
                fin_ns - static_cast<std::int64_t>(static_cast<double>(fin - last) * 1e9 / hz);
            char res[512];
            std::snprintf(res, sizeof res,
                          "result %" PRId64 " %.9f %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                          " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                          " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                          last_ns, cpu_used, c.busy, c.c2s, c.s2c + c.other, c.frames, c.polls,
                          c.empty, allocs, st.imissed - c.go_stats.imissed,
                          st.rx_nombuf - c.go_stats.rx_nombuf, st.ierrors - c.go_stats.ierrors,
                          c.gaps, c.gap_bytes, unknown, kdrops);
            c.r.reset();
            c.ep.reset();
            c = AfCase{};
            reply(out, res);
        }
        if (now < next_check) continue;
        next_check = now + check_every;
        while (in.next(line)) {
            unsigned seg = 0, conns = 0;
            unsigned long long sent = 0;
            if (std::sscanf(line, "start %u %u", &seg, &conns) == 2 && endpoint) {
                c = AfCase{};
                rxinto::endpoint::endpoint_config cfg;
                cfg.addresses = {rxinto::endpoint::parse_address("10.78.0.2/24").value()};
                cfg.listen_ports = {af_endpoint_port};
                cfg.ports = {{port_id, 0, mac}};
                cfg.max_connections = conns * 2 + 64;
                // max_segments bounds what all windows together promise: keep it
                // near what the port's rx ring absorbs while the poller is away
                // (af_xdp: 1024 descriptors; af_packet: a 16384-frame ring), or the
                // veth drops the sender's bursts at the ring.
                cfg.max_segments = kind == "af_xdp" ? 2048 : 8192;
                cfg.receive_buffer = 4U << 20;
                cfg.tx_mbufs = 4095;
                cfg.verify_checksums = false;  // the veth leaves them to offload, as the watch rows
                auto e = rxinto::endpoint::endpoint::create(cfg, "rxafe" + std::to_string(++made), 0,
                                                            static_cast<int>(rte_socket_id()));
                if (!e) {
                    reply(out, ("error endpoint: " + e.error().message + "\n").c_str());
                    continue;
                }
                c.ep = std::move(e).value();
                reply(out, "ready\n");
            } else if (std::sscanf(line, "start %u %u", &seg, &conns) == 2) {
                c = AfCase{};
                rxinto::tcp::tcp_config cfg;
                cfg.max_flows = conns * 2 + 64;
                cfg.max_segments = 1U << 16;
                cfg.checksum = rxinto::tcp::checksum_mode::ignore;  // the veth leaves them to offload
                cfg.midstream = false;  // every connection from its handshake
                auto r = rxinto::tcp::reassembler::create(cfg, "rxaf" + std::to_string(++made), 0,
                                                          pool, static_cast<int>(rte_socket_id()));
                if (!r) {
                    reply(out, ("error reassembler: " + r.error().message + "\n").c_str());
                    continue;
                }
                c.r = std::move(r).value();
                reply(out, "ready\n");
            } else if (std::strcmp(line, "go") == 0) {
                rte_eth_stats_get(port_id, &c.go_stats);
                capture_drops(psocks);  // resets the kernel's counts
                c.go_cpu = thread_cpu_now();
                c.go_tsc = c.last_tsc = c.progress_tsc = rte_rdtsc();
                c.go_allocs = thread_allocs();
                c.timed = true;
                reply(out, "going\n");
            } else if (std::sscanf(line, "end %llu", &sent) == 1 && (c.r || c.ep)) {
                c.target = sent;
                c.ending = true;
                c.end_tsc = rte_rdtsc();
                if (c.progress_tsc < c.end_tsc) c.progress_tsc = c.end_tsc;
            } else if (std::strcmp(line, "quit") == 0) {
                quit = true;
            }
        }
        if (in.eof) {
            rc = 1;  // the parent is gone
            quit = true;
        }
    }
    c.r.reset();
    c.ep.reset();
    if (ports) {
        ports->close();
    } else {
        rte_eth_dev_stop(port_id);
        rte_eth_dev_close(port_id);
        rte_mempool_free(pool);
    }
    rxinto::port::eal_cleanup();
    return rc;
}

}  // namespace rxbench
