// rxbench: rxinto against kernel sockets, side by side, next to the memcpy limit.
//
// One invocation moves the same workloads (1448-byte bulk segments; 64, 128 and
// 256-byte segments; 1, 16, 256 connections, and 10 000 for rxinto) through
// Linux TCP over loopback and veth (recv, io_uring), Linux UDP (recv, recvmmsg),
// rxinto fed through net_ring (recv_into, peek/consume), rxinto fed by the
// veth path's Linux TCP sender through net_af_packet (net_af_xdp: tried, see
// kernel.cpp) and a plain memcpy from cold memory, every path receiving into
// one preallocated 64 KiB buffer.
// See docs/benchmarks.md for what each figure means and the caveats.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_version.h>

#include "rxbench/common.hpp"
#include "rxinto/base/result.hpp"
#include "rxinto/port/eal.hpp"

// The allocation counters' operator new / delete, once per executable: here.
#include "rxbench/alloc_hooks.hpp"

namespace {

using namespace rxbench;
using rxinto::make_error;
using rxinto::Result;

const char* const all_paths[] = {
    "kernel-tcp-loopback", "kernel-tcp-veth",      "kernel-io_uring", "kernel-udp-recv",
    "kernel-udp-recvmmsg", "rxinto-ring",          "rxinto-ring-zerocopy",
    "rxinto-af_packet",    "rxinto-af_xdp",        "rxinto-endpoint-af_packet",
    "rxinto-endpoint-af_xdp", "memcpy",
};

constexpr const char* usage_text =
    "usage: rxbench [options]\n"
    "\n"
    "Receives the same workloads through Linux sockets and through rxinto (fed\n"
    "through net_ring, and from a Linux TCP sender over a veth through\n"
    "net_af_packet / net_af_xdp), into one preallocated 64 KiB buffer, next to\n"
    "memcpy from cold memory. Prints a table; median, min and max of --runs runs.\n"
    "\n"
    "  --runs N            runs per path and workload (default 5; one warm-up more)\n"
    "  --seconds S         length of each run (default 0.5)\n"
    "  --sizes LIST        segment / message sizes in bytes (default 64,128,256,1448)\n"
    "  --conns LIST        kernel TCP connection counts (default 1,16,256)\n"
    "  --rxinto-conns LIST rxinto connection counts (default 1,16,256,10000; 1000000\n"
    "                      fits in about 2.5 GiB)\n"
    "  --paths LIST        only these paths (default: all)\n"
    "  --checksum M        rxinto: verify or ignore TCP/IPv4 checksums (default ignore:\n"
    "                      as the kernel on loopback, or a NIC with rx checksum offload)\n"
    "  --pool-mbufs N      rxinto generator pool (default 262143: larger than the caches)\n"
    "  --memcpy-mib N      cold memcpy source (default 256)\n"
    "  --no-veth           skip kernel-tcp-veth and the rxinto-af_* and\n"
    "                      rxinto-endpoint-* paths\n"
    "                      (no network namespaces)\n"
    "  --quick             1 run, a few thousand segments per case: checks that every\n"
    "                      path delivers exactly the bytes sent (exit 1 if not), never speed\n"
    "  --json FILE         every row (and every run) as a JSON list\n"
    "  --plot FILE.svg     throughput against segment size, one line per path\n"
    "  -h, --help          this text\n"
    "\n"
    "Paths: kernel-tcp-loopback kernel-tcp-veth kernel-io_uring kernel-udp-recv\n"
    "kernel-udp-recvmmsg rxinto-ring rxinto-ring-zerocopy rxinto-af_packet rxinto-af_xdp\n"
    "rxinto-endpoint-af_packet rxinto-endpoint-af_xdp (rxinto terminates the sender's\n"
    "connections itself) memcpy. Exit status: 0 ok, 1 a byte count or check failed, 2 bad usage.\n";

using feed::set_list;
using feed::set_seconds;
using feed::set_uint;
using feed::walk_args;

Result<Options> parse_args(int argc, char** argv) {
    Options o;
    bool runs_given = false, pool_given = false;
    const feed::CommonArgs common{o.runs, runs_given, o.seconds, o.pool_mbufs, pool_given, o.quick_packets};
    const auto walked = walk_args(
        argc, argv,
        {
            {"-h", &o.help},
            {"--help", &o.help},
            {"--quick", &o.quick},
            {"--no-veth", &o.veth, false}},
        [&](std::string_view a, const char* v) -> rxinto::Status {
        if (rxinto::Status st; feed::common_option(a, v, common, st)) return st;
        if (a == "--sizes") {
            if (auto st = set_list(o.sizes, a, v, 16, 1448); !st) return st;
        } else if (a == "--conns") {
            if (auto st = set_list(o.conns, a, v, 1, 4096); !st) return st;
        } else if (a == "--rxinto-conns") {
            if (auto st = set_list(o.rxinto_conns, a, v, 1, 2000000); !st) return st;
        } else if (a == "--paths") {
            o.only.clear();
            std::string_view list = v;
            while (!list.empty()) {
                const std::size_t comma = list.find(',');
                const std::string p(list.substr(0, comma));
                bool known = false;
                for (const char* k : all_paths) known = known || p == k;
                if (!known) return make_error(a, ": unknown path '", p, "'");
                o.only.push_back(p);
                if (comma == std::string_view::npos) break;
                list = list.substr(comma + 1);
            }
        } else if (a == "--checksum") {
            const std::string_view m = v;
            if (m != "verify" && m != "ignore") return make_error(a, ": '", m, "' is not verify or ignore");
            o.checksum_verify = m == "verify";
        } else if (a == "--memcpy-mib") {
            if (auto st = set_uint(o.memcpy_mib, a, v, 1, 2048); !st) return st;
        } else if (a == "--json") {
            o.json = v;
        } else if (a == "--plot") {
            o.plot = v;
        } else {
            return make_error("unknown option '", a, "'");
        }
        return {};
    });
    if (!walked) return walked.error();
    if (o.quick) {
        if (!runs_given) o.runs = 1;
        if (!pool_given) o.pool_mbufs = 65535;
        o.memcpy_mib = std::min<std::size_t>(o.memcpy_mib, 64);
    }
    return o;
}

std::uint32_t memory_needed_mb(const Options& o) {
    std::uint32_t max_flows = 0;
    for (auto f : o.rxinto_conns) max_flows = std::max(max_flows, f);
    return feed::memory_needed_mb(o.pool_mbufs, max_flows, 3072);
}

// ---------------------------------------------------------------------------
// Output

/// mode 0: %.6g, 1: %.1f, 2: %.2f, 3: %g
std::string fmt(double v, int mode = 0) {
    char b[64];
    switch (mode) {
    case 1: std::snprintf(b, sizeof b, "%.1f", v); break;
    case 2: std::snprintf(b, sizeof b, "%.2f", v); break;
    case 3: std::snprintf(b, sizeof b, "%g", v); break;
    default: return feed::fmt6g(v);
    }
    return b;
}

std::string conns_text(const Row& r) { return r.conns == 0 ? "-" : std::to_string(r.conns); }

std::string sent_text(const Row& r) {
    std::uint64_t sent = 0, delivered = 0, drops = 0;
    for (const auto& s : r.samples) {
        sent += s.sent;
        delivered += s.delivered;
        drops += s.drops;
    }
    if (sent == delivered) return drops == 0 ? "ok" : "ok (capture drops " + std::to_string(drops) + ")";
    return "delivered " + std::to_string(delivered) + " of " + std::to_string(sent) + " B (capture drops " +
           std::to_string(drops) + ")";
}

void print_table(const std::vector<Row>& rows, const Options& o, double tsc_hz) {
    std::printf("rxbench: %u run(s) of %.2f s per case (median [min..max]), TSC %.3f GHz, %s\n",
                o.runs, o.seconds, tsc_hz / 1e9, rte_version());
    std::printf("Gbit/s and Mpps: payload delivered into the 64 KiB user buffer per wall second "
                "(rxinto, memcpy: per second of the worker's TSC span); CPU s/GB: both cores; "
                "cyc/seg, cyc/B: the receiving core; empty: share of empty rx polls; allocs: "
                "operator new+delete per segment on the receiving thread; af paths: CPU s/GB sums "
                "sender, kernel receiver and the rxinto poller, cyc/seg counts the poller's non-empty "
                "polls\n\n");
    std::printf("%-21s %-11s %6s %8s %17s %7s %8s %8s %7s %6s %8s  %s\n", "path", "workload",
                "conns", "Gbit/s", "[min..max]", "Mpps", "CPUs/GB", "cyc/seg", "cyc/B", "empty",
                "allocs", "bytes");
    for (const auto& r : rows) {
        if (!r.skipped.empty()) {
            std::printf("%-21s %-11s %6s skipped: %s\n", r.path.c_str(), r.workload.c_str(),
                        conns_text(r).c_str(), r.skipped.c_str());
            continue;
        }
        if (r.samples.empty()) {
            std::printf("%-21s %-11s %6s FAILED: %s\n", r.path.c_str(), r.workload.c_str(),
                        conns_text(r).c_str(), r.error.c_str());
            continue;
        }
        const Stats g = stats_of(r.samples, gbps);
        const Stats e = stats_of(r.samples, empty_share);
        const std::string range = "[" + fmt(g.min, 2) + ".." + fmt(g.max, 2) + "]";
        std::printf("%-21s %-11s %6s %8.2f %17s %7.2f %8.3f %8.0f %7.2f %6s %8.4f  %s\n",
                    r.path.c_str(), r.workload.c_str(), conns_text(r).c_str(), g.median,
                    range.c_str(), stats_of(r.samples, mpps).median,
                    stats_of(r.samples, cpu_per_gb).median, stats_of(r.samples, cyc_per_seg).median,
                    stats_of(r.samples, cyc_per_byte).median,
                    e.median < 0 ? "-" : (fmt(100.0 * e.median, 1) + "%").c_str(),
                    stats_of(r.samples, allocs_per_seg).median,
                    r.error.empty() ? (r.samples.empty() ? "-" : sent_text(r).c_str())
                                    : ("FAILED: " + r.error).c_str());
        if (!r.note.empty()) std::printf("%-21s   note: %s\n", "", r.note.c_str());
    }
}

const Row* find_row(const std::vector<Row>& rows, const std::string& path, std::uint32_t seg,
                    std::uint32_t conns) {
    for (const auto& r : rows)
        if (r.path == path && r.seg == seg && r.conns == conns && !r.samples.empty()) return &r;
    return nullptr;
}

void print_targets(const std::vector<Row>& rows) {
    std::printf("\ntargets (reported, not asserted; ratios of medians from this run):\n");
    // Gbit/s per CPU second = 8 / (CPU s per GB): the ratio is kernel CPU s/GB over rxinto's.
    for (const std::uint32_t seg : {1448U, 128U}) {
        const double want = seg == 1448 ? 3.0 : 10.0;
        for (const std::uint32_t n : {1U, 16U, 256U}) {
            const Row* k = find_row(rows, "kernel-tcp-loopback", seg, n);
            const Row* x = find_row(rows, "rxinto-ring", seg, n);
            if (k == nullptr || x == nullptr) continue;
            const double kc = stats_of(k->samples, cpu_per_gb).median;
            const double xc = stats_of(x->samples, cpu_per_gb).median;
            const double ratio = xc > 0 ? kc / xc : 0.0;
            std::printf("  %4u B, %3u conns: rxinto-ring %.2f Gbit/s per CPU-s vs kernel-tcp-loopback "
                        "%.2f: %.1fx (target >= %.0fx: %s)\n",
                        seg, n, 8.0 / xc, 8.0 / kc, ratio, want, ratio >= want ? "met" : "NOT met");
        }
    }
    for (const std::uint32_t seg : {1448U, 256U, 128U, 64U}) {
        const Row* m = find_row(rows, "memcpy", seg, 0);
        if (m == nullptr) continue;
        const double mg = stats_of(m->samples, gbps).median;
        for (const std::uint32_t n : {1U, 256U, 10000U}) {
            const Row* x = find_row(rows, "rxinto-ring", seg, n);
            if (x == nullptr || mg <= 0) continue;
            const double ratio = stats_of(x->samples, gbps).median / mg;
            std::printf("  %4u B, %5u conns: rxinto-ring at %.0f%% of memcpy (target >= 70%%: %s)\n",
                        seg, n, 100.0 * ratio, ratio >= 0.7 ? "met" : "NOT met");
        }
    }
}

bool write_json(const std::string& file, const std::vector<Row>& rows) {
    std::ofstream f(file, std::ios::trunc);
    f << "[\n";
    bool first = true;
    for (const auto& r : rows) {
        f << (first ? "" : ",\n") << "  {\"path\": \"" << r.path << "\", \"workload\": \""
          << r.workload << "\", \"segment_bytes\": " << r.seg << ", \"connections\": " << r.conns;
        first = false;
        if (!r.skipped.empty()) {
            f << ", \"skipped\": \"" << r.skipped << "\"}";
            continue;
        }
        std::uint64_t sent = 0, delivered = 0;
        for (const auto& s : r.samples) {
            sent += s.sent;
            delivered += s.delivered;
        }
        auto field = [&](const char* name, auto fn) {
            const Stats st = stats_of(r.samples, fn);
            f << ", \"" << name << "\": " << fmt(st.median) << ", \"" << name
              << "_min\": " << fmt(st.min) << ", \"" << name << "_max\": " << fmt(st.max);
        };
        f << ", \"runs\": " << r.samples.size();
        field("gbps", gbps);
        field("mpps", mpps);
        field("cpu_s_per_gb", cpu_per_gb);
        field("cycles_per_segment", cyc_per_seg);
        field("cycles_per_byte", cyc_per_byte);
        field("allocs_per_segment", allocs_per_seg);
        const Stats e = stats_of(r.samples, empty_share);
        f << ", \"empty_poll_share\": " << (r.samples.empty() || e.median < 0 ? "null" : fmt(e.median));
        f << ", \"sent_bytes\": " << sent << ", \"delivered_bytes\": " << delivered
          << ", \"ok\": " << (r.error.empty() && !r.samples.empty() && sent == delivered ? "true" : "false");
        if (r.path.rfind("rxinto-af_", 0) == 0 || r.path.rfind("rxinto-endpoint-", 0) == 0) {
            std::uint64_t frames = 0, drops = 0;
            for (const auto& s : r.samples) {
                frames += s.frames;
                drops += s.drops;
            }
            f << ", \"frames\": " << frames << ", \"capture_drops\": " << drops;
        }
        if (!r.note.empty()) {
            std::string esc;
            for (char c : r.note) esc += c == '"' || c == '\\' ? ' ' : c;
            f << ", \"note\": \"" << esc << "\"";
        }
        if (!r.error.empty()) {
            std::string esc;
            for (char c : r.error) esc += c == '"' || c == '\\' ? ' ' : c;
            f << ", \"error\": \"" << esc << "\"";
        }
        f << ", \"samples\": [";
        for (std::size_t i = 0; i < r.samples.size(); ++i) {
            const Sample& s = r.samples[i];
            f << (i ? ", " : "") << "{\"secs\": " << fmt(s.secs) << ", \"cpu_s\": " << fmt(s.cpu_s)
              << ", \"sent_bytes\": " << s.sent << ", \"delivered_bytes\": " << s.delivered
              << ", \"segments\": " << s.segments << ", \"gbps\": " << fmt(gbps(s)) << "}";
        }
        f << "]}";
    }
    f << "\n]\n";
    f.close();
    return static_cast<bool>(f);
}

// ---------------------------------------------------------------------------
// Plot: hand-written SVG, two panels (1 connection; the most connections the
// kernel paths ran), log-log, one line per path, min..max whiskers.

struct Style {
    const char* path;
    const char* color;
    const char* dash;
};
const Style styles[] = {
    {"memcpy", "#000000", "6,3"},
    {"rxinto-ring-zerocopy", "#1b9e77", ""},
    {"rxinto-ring", "#d95f02", ""},
    {"kernel-udp-recvmmsg", "#7570b3", "2,3"},
    {"kernel-udp-recv", "#e7298a", "2,3"},
    {"kernel-io_uring", "#66a61e", ""},
    {"kernel-tcp-loopback", "#1f78b4", ""},
    {"kernel-tcp-veth", "#a6761d", ""},
    {"rxinto-af_packet", "#e6ab02", "5,2"},
    {"rxinto-endpoint-af_packet", "#e31a1c", "5,2"},
    {"rxinto-endpoint-af_xdp", "#fb9a99", "5,2"},
};

bool write_plot(const std::string& file, const std::vector<Row>& rows, const Options& o,
                const std::string& machine) {
    std::uint32_t big = 1;
    for (auto c : o.conns) big = std::max(big, c);
    const std::uint32_t panels[2] = {1, big};
    double lo = 1e9, hi = 0;
    for (const auto& r : rows)
        for (const auto& s : r.samples) {
            const double g = gbps(s);
            if (g > 0) {
                lo = std::min(lo, g);
                hi = std::max(hi, g);
            }
        }
    if (hi <= 0) {
        lo = 0.1;
        hi = 10;
    }
    const double ylo = std::pow(10.0, std::floor(std::log10(lo)));
    const double yhi = std::pow(10.0, std::ceil(std::log10(hi)));
    std::uint32_t smin = 1448, smax = 16;
    for (auto s : o.sizes) {
        smin = std::min(smin, s);
        smax = std::max(smax, s);
    }
    if (smax <= smin) smax = smin * 2;
    const double W = 1220, H = 590, pw = 390, ph = 400, top = 100, left0 = 80, gap = 70;
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
    s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s << "<text x=\"" << left0 << "\" y=\"28\" font-size=\"19\" font-weight=\"bold\">Throughput into the "
         "user buffer by segment size (median of "
      << o.runs << (o.runs == 1 ? " run" : " runs") << ", whiskers: min..max)</text>\n";
    s << "<text x=\"" << left0 << "\" y=\"52\" font-size=\"13\" fill=\"#444\">" << machine
      << "; rxinto and memcpy: one core, no syscalls; kernel: sender + receiver</text>\n";
    auto X = [&](double left, double seg) {
        return left + pw * (std::log(seg) - std::log(smin)) / (std::log(smax) - std::log(smin));
    };
    auto Y = [&](double g) {
        return top + ph - ph * (std::log10(g) - std::log10(ylo)) / (std::log10(yhi) - std::log10(ylo));
    };
    for (int p = 0; p < 2; ++p) {
        const double left = left0 + p * (pw + gap);
        const std::uint32_t n = panels[p];
        s << "<text x=\"" << left + pw / 2 << "\" y=\"" << top - 10
          << "\" font-size=\"15\" text-anchor=\"middle\" font-weight=\"bold\">" << n
          << (n == 1 ? " connection" : " connections") << "</text>\n";
        s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
          << "\" fill=\"#fafafa\" stroke=\"#888\"/>\n";
        for (double d = ylo; d <= yhi * 1.001; d *= 10) {
            for (int m = 1; m < 10; ++m) {
                const double v = d * m;
                if (v > yhi * 1.001) break;
                const double y = Y(v);
                s << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << y << "\" y2=\"" << y
                  << "\" stroke=\"" << (m == 1 ? "#bbb" : "#e8e8e8") << "\"/>\n";
            }
            s << "<text x=\"" << left - 6 << "\" y=\"" << Y(d) + 4
              << "\" font-size=\"12\" text-anchor=\"end\">" << fmt(d, 3) << "</text>\n";
        }
        for (auto seg : o.sizes) {
            const double x = X(left, seg);
            s << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << top << "\" y2=\"" << top + ph
              << "\" stroke=\"#e0e0e0\"/>\n";
            s << "<text x=\"" << x << "\" y=\"" << top + ph + 18 << "\" font-size=\"12\" text-anchor=\"middle\">"
              << seg << "</text>\n";
        }
        s << "<text x=\"" << left + pw / 2 << "\" y=\"" << top + ph + 40
          << "\" font-size=\"13\" text-anchor=\"middle\">segment / message size (bytes, log scale)</text>\n";
        if (p == 0)
            s << "<text transform=\"translate(" << left - 52 << "," << top + ph / 2
              << ") rotate(-90)\" font-size=\"13\" text-anchor=\"middle\">Gbit/s delivered (log scale)</text>\n";
        for (const auto& st : styles) {
            std::vector<std::pair<double, const Row*>> pts;
            for (auto seg : o.sizes) {
                const std::string path = st.path;
                const std::uint32_t c = path == "memcpy" ? 0 : (path.rfind("kernel-udp", 0) == 0 ? 1 : n);
                if (const Row* r = find_row(rows, path, seg, c)) pts.emplace_back(seg, r);
            }
            if (pts.empty()) continue;
            s << "<polyline fill=\"none\" stroke=\"" << st.color << "\" stroke-width=\"2.5\""
              << (st.dash[0] ? std::string(" stroke-dasharray=\"") + st.dash + "\"" : "") << " points=\"";
            for (const auto& [seg, r] : pts) s << X(left, seg) << "," << Y(stats_of(r->samples, gbps).median) << " ";
            s << "\"/>\n";
            for (const auto& [seg, r] : pts) {
                const Stats g = stats_of(r->samples, gbps);
                const double x = X(left, seg);
                s << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << Y(std::max(g.min, ylo))
                  << "\" y2=\"" << Y(g.max) << "\" stroke=\"" << st.color << "\" stroke-width=\"1.5\"/>\n";
                s << "<circle cx=\"" << x << "\" cy=\"" << Y(g.median) << "\" r=\"3.5\" fill=\"" << st.color
                  << "\"><title>" << st.path << " " << seg << " B: " << fmt(g.median, 2)
                  << " Gbit/s</title></circle>\n";
            }
        }
    }
    const double lx = left0 + 2 * pw + gap + 30;
    double ly = top + 10;
    s << "<text x=\"" << lx << "\" y=\"" << ly << "\" font-size=\"14\" font-weight=\"bold\">path</text>\n";
    ly += 24;
    for (const auto& st : styles) {
        bool any = false;
        for (const auto& r : rows) any = any || (r.path == st.path && !r.samples.empty());
        if (!any) continue;
        s << "<line x1=\"" << lx << "\" x2=\"" << lx + 28 << "\" y1=\"" << ly - 4 << "\" y2=\"" << ly - 4
          << "\" stroke=\"" << st.color << "\" stroke-width=\"3\""
          << (st.dash[0] ? std::string(" stroke-dasharray=\"") + st.dash + "\"" : "") << "/>\n";
        s << "<text x=\"" << lx + 36 << "\" y=\"" << ly << "\" font-size=\"13\">" << st.path << "</text>\n";
        ly += 22;
    }
    ly += 10;
    for (const char* note : {"UDP: 1 socket in both panels", "memcpy: cold source,",
                             "  same sizes, one core", "rxinto: fed via net_ring,",
                             "  worker core timed"}) {
        s << "<text x=\"" << lx << "\" y=\"" << ly << "\" font-size=\"11\" fill=\"#555\">" << note << "</text>\n";
        ly += 16;
    }
    s << "</svg>\n";
    std::ofstream f(file, std::ios::trunc);
    f << s.str();
    f.close();
    return static_cast<bool>(f);
}

std::string self_exe(const char* argv0) {
    char b[4096];
    const ssize_t n = readlink("/proc/self/exe", b, sizeof b - 1);
    if (n <= 0) return argv0;
    b[n] = '\0';
    return b;
}

std::string machine_line(double tsc_hz) {
    std::string model = "?";
    std::ifstream c("/proc/cpuinfo");
    for (std::string l; std::getline(c, l);)
        if (l.rfind("model name", 0) == 0) {
            model = l.substr(l.find(':') + 2);
            break;
        }
    std::string kernel = "?";
    std::ifstream k("/proc/sys/kernel/osrelease");
    std::getline(k, kernel);
    return model + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " vCPUs, TSC " +
           fmt(tsc_hz / 1e9, 2) + " GHz, Linux " + kernel + ", " + rte_version();
}

}  // namespace

int main(int argc, char** argv) {
    // The rxinto side of rxinto-af_packet / rxinto-af_xdp, started by the parent
    // in the receiver's network namespace (kernel.cpp, ring.cpp).
    if (argc >= 2 && std::string_view(argv[1]) == "--af-child") return af_child_main(argc - 2, argv + 2);
    auto opts = parse_args(argc, argv);
    if (!opts) return feed::usage_error("rxbench", opts.error());
    const Options& o = opts.value();
    if (o.help) {
        std::fputs(usage_text, stdout);
        return 0;
    }
    const std::uint32_t memory_mb = memory_needed_mb(o);
    const std::string prefix = "rxbench_" + std::to_string(getpid());
    auto eal = feed::eal_start("rxbench", memory_mb, false, prefix);
    if (!eal) {
        std::fprintf(stderr, "rxbench: %s\n", eal.error().message.c_str());
        return 1;
    }
    const std::string runtime_dir = eal.value();
    const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
    std::printf("rxbench: %s; EAL -l 0-1 -m %u --no-huge (generator: lcore 0, rxinto worker: "
                "lcore 1)\n",
                machine_line(tsc_hz).c_str(), memory_mb);
    std::fflush(stdout);

    std::vector<Row> rows;
    run_kernel_paths(o, tsc_hz, rows);
    run_ring_paths(o, rows);
    run_af_paths(o, tsc_hz, self_exe(argv[0]), rows);

    print_table(rows, o, tsc_hz);
    print_targets(rows);
    int rc = 0;
    for (const auto& r : rows)
        if (r.skipped.empty() && (!r.error.empty() || r.samples.empty())) rc = 1;
    if (!o.json.empty() && !write_json(o.json, rows)) {
        std::fprintf(stderr, "rxbench: cannot write %s\n", o.json.c_str());
        rc = 1;
    }
    if (!o.plot.empty() && !write_plot(o.plot, rows, o, machine_line(tsc_hz))) {
        std::fprintf(stderr, "rxbench: cannot write %s\n", o.plot.c_str());
        rc = 1;
    }
    feed::eal_stop(runtime_dir, prefix, true);
    if (rc != 0) std::fprintf(stderr, "rxbench: a check failed (see the table)\n");
    else if (o.quick) std::fprintf(stderr, "rxbench: --quick: every path delivered exactly the bytes sent\n");
    return rc;
}
