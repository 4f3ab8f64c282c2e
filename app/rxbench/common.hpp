// rxbench: shared types (results, statistics, allocation counters, options).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "feed.hpp"

namespace rxbench {

/// operator new + delete calls of the calling thread (feed's counters).
inline std::uint64_t thread_allocs() noexcept {
    return feed::thread_news() + feed::thread_deletes();
}

/// One run of one path/workload.
struct Sample {
    double secs = 0;             ///< wall time of the transfer (rxinto: the worker's TSC span)
    double cpu_s = 0;            ///< CPU seconds summed over both cores
    double recv_cycles = 0;      ///< cycles on the receiving core (TSC, or thread CPU time x TSC Hz)
    std::uint64_t sent = 0;      ///< payload bytes sent / generated
    std::uint64_t delivered = 0; ///< bytes delivered into the user buffer
    std::uint64_t segments = 0;  ///< segments or messages of the workload's size
    std::uint64_t allocs = 0;    ///< operator new + delete on the receiving thread
    std::uint64_t polls = 0;     ///< DPDK: rx_burst calls
    std::uint64_t empty_polls = 0;
    std::uint64_t frames = 0;    ///< af paths: frames the poller received (data, ACKs, both ways)
    std::uint64_t drops = 0;     ///< af paths: imissed + rx_nombuf + ierrors of the PMD
};

struct Row {
    std::string path;
    std::string workload;
    std::uint32_t seg = 0;
    std::uint32_t conns = 0;
    std::vector<Sample> samples;
    std::string skipped;  ///< non-empty: not measured, and why
    std::string error;    ///< non-empty: a check failed
    std::string note;     ///< non-empty: measured, but said next to the figures (e.g. drops)
};

using feed::Stats;
using feed::stats_of;

inline double gbps(const Sample& s) {
    return s.secs > 0 ? static_cast<double>(s.delivered) * 8.0 / s.secs / 1e9 : 0.0;
}
inline double mpps(const Sample& s) {
    return s.secs > 0 ? static_cast<double>(s.segments) / s.secs / 1e6 : 0.0;
}
inline double cpu_per_gb(const Sample& s) {
    return s.delivered > 0 ? s.cpu_s / (static_cast<double>(s.delivered) / 1e9) : 0.0;
}
inline double cyc_per_seg(const Sample& s) {
    return s.segments > 0 ? s.recv_cycles / static_cast<double>(s.segments) : 0.0;
}
inline double cyc_per_byte(const Sample& s) {
    return s.delivered > 0 ? s.recv_cycles / static_cast<double>(s.delivered) : 0.0;
}
inline double empty_share(const Sample& s) {
    return s.polls > 0 ? static_cast<double>(s.empty_polls) / static_cast<double>(s.polls) : -1.0;
}
inline double allocs_per_seg(const Sample& s) {
    return s.segments > 0 ? static_cast<double>(s.allocs) / static_cast<double>(s.segments) : 0.0;
}

struct Options {
    unsigned runs = 5;
    double seconds = 0.5;
    bool quick = false;
    bool help = false;
    bool checksum_verify = false;
    std::vector<std::uint32_t> sizes{64, 128, 256, 1448};
    std::vector<std::uint32_t> conns{1, 16, 256};
    std::vector<std::uint32_t> rxinto_conns{1, 16, 256, 10000};
    std::vector<std::string> only;  ///< empty: every path
    std::uint32_t pool_mbufs = 262143;
    std::size_t memcpy_mib = 256;
    std::uint64_t quick_packets = 20000;
    std::string json;
    std::string plot;
    bool veth = true;
};

inline bool wanted(const Options& o, const std::string& path) {
    if (o.only.empty()) return true;
    return std::find(o.only.begin(), o.only.end(), path) != o.only.end();
}

inline std::string workload_name(std::uint32_t seg) {
    return (seg >= 1448 ? "bulk-" : "small-") + std::to_string(seg);
}

/// The receiver's buffer: one preallocated 64 KiB region, as recv_into's.
using feed::app_buf_size;

/// Kernel paths (kernel.cpp). tsc_hz converts thread CPU time to cycles.
/// Appends rows; prints the tuning once to stdout.
void run_kernel_paths(const Options& o, double tsc_hz, std::vector<Row>& rows);

/// rxinto through net_ring and the memcpy limit (ring.cpp); needs the EAL
/// (main lcore: generator, next lcore: the measured worker).
void run_ring_paths(const Options& o, std::vector<Row>& rows);

/// rxinto-af_packet, rxinto-af_xdp (kernel.cpp): the veth of kernel-tcp-veth,
/// a Linux TCP sender in namespace A and receiver in B, while a child process
/// (`ip netns exec B <self_exe> --af-child ...`) runs rxinto on B's end of the
/// veth through net_af_packet / net_af_xdp. Appends rows.
void run_af_paths(const Options& o, double tsc_hz, const std::string& self_exe,
                  std::vector<Row>& rows);

/// The child's side (ring.cpp): argv after "--af-child": KIND IFACE CMD_FD
/// REPLY_FD. Runs its own EAL (one lcore, --no-huge, a prefix of its own),
/// answers the parent's commands, returns the exit status.
int af_child_main(int argc, char** argv);

/// The TCP port rxinto's endpoint listens on in the rxinto-endpoint-* rows.
inline constexpr std::uint16_t af_endpoint_port = 5999;

}  // namespace rxbench
