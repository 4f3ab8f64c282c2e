// capture::pcapng_writer on a real EAL (--no-huge): generated Ethernet/IPv4/TCP
// frames in mbufs, written through rte_pcapng, read back packet by packet with
// libpcap (nanosecond precision) and, when installed, checked by
// `tshark -r FILE -q` (exit 0 and nothing on stdout/stderr but the root note).
// Hard rules: same count and bytes as written, caplen = min(len, snap length),
// len = original, timestamps nanosecond, near now and non-decreasing; every
// file complete on its own (rotation by size, by time (injected ts_ns), by
// request, ring of N); a full disk (a small tmpfs) never stops the writer;
// every mbuf back in every pool; the writer never takes the originals.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <csignal>

#include <pcap/pcap.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/capture/pcapng_writer.hpp"

using namespace rxinto;
using capture::pcapng_options;
using capture::pcapng_port;
using capture::pcapng_writer;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t ns_per_s = 1'000'000'000ULL;
constexpr unsigned src_pool_size = 2047;

std::uint64_t wall_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * ns_per_s + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Two net_ring ports, made once per process (ethdev ports cannot be remade
/// under the same name), and a source pool for the "received" frames.
struct Env {
    std::array<rte_ring*, 2> rings{};
    std::array<std::uint16_t, 2> ports{};
    rte_mempool* src = nullptr;
    bool ok = false;

    static Env& get() {
        static Env e;
        return e;
    }

private:
    Env() {
        for (unsigned i = 0; i < 2; ++i) {
            const std::string n = "pcapng_rp" + std::to_string(i);
            rings[i] = rte_ring_create((n + "_r").c_str(), 256, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (rings[i] == nullptr) return;
            const int p = rte_eth_from_rings(n.c_str(), &rings[i], 1, &rings[i], 1, SOCKET_ID_ANY);
            if (p < 0) return;
            ports[i] = static_cast<std::uint16_t>(p);
        }
        src = rte_pktmbuf_pool_create("pcapng_src", src_pool_size, 0, 0, 2176, SOCKET_ID_ANY);
        ok = src != nullptr;
    }
};

/// Frame number `idx` of `len` bytes (>= 54): Ethernet / IPv4 / TCP, payload
/// bytes derived from idx so that every frame is recognisable.
void build_frame(unsigned char* f, std::uint32_t idx, std::uint16_t len) {
    std::memset(f, 0, len);
    const unsigned char dst[6] = {0x02, 0, 0, 0, 0, 0x02};
    const unsigned char srcmac[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(f, dst, 6);
    std::memcpy(f + 6, srcmac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    unsigned char* ip = f + 14;
    const auto ip_len = static_cast<std::uint16_t>(len - 14);
    ip[0] = 0x45;
    ip[2] = static_cast<unsigned char>(ip_len >> 8);
    ip[3] = static_cast<unsigned char>(ip_len);
    ip[8] = 64;
    ip[9] = 6;
    const unsigned char sa[4] = {10, 0, 0, 1};
    const unsigned char da[4] = {10, 0, 0, 2};
    std::memcpy(ip + 12, sa, 4);
    std::memcpy(ip + 16, da, 4);
    std::uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += static_cast<std::uint32_t>(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    const auto csum = static_cast<std::uint16_t>(~sum);
    ip[10] = static_cast<unsigned char>(csum >> 8);
    ip[11] = static_cast<unsigned char>(csum);
    unsigned char* tcp = ip + 20;
    tcp[0] = 0x30;  // sport 12345
    tcp[1] = 0x39;
    tcp[2] = 0x00;  // dport 80
    tcp[3] = 80;
    std::memcpy(tcp + 4, &idx, 4);  // seq: the frame number
    tcp[12] = 0x50;
    tcp[13] = 0x18;  // PSH ACK
    tcp[14] = 0xff;
    tcp[15] = 0xff;
    for (std::uint16_t i = 54; i < len; ++i) f[i] = static_cast<unsigned char>(idx * 7 + i);
}

std::uint16_t frame_len(std::uint32_t idx) { return static_cast<std::uint16_t>(60 + (idx * 37) % 1455); }

/// A burst of frames [first, first + n) in mbufs from the source pool.
struct Burst {
    std::vector<rte_mbuf*> m;
    Burst(std::uint32_t first, unsigned n, std::uint16_t fixed_len = 0) {
        m.resize(n);
        if (rte_pktmbuf_alloc_bulk(Env::get().src, m.data(), n) != 0) {
            m.clear();
            return;
        }
        for (unsigned i = 0; i < n; ++i) {
            const std::uint16_t len = fixed_len != 0 ? fixed_len : frame_len(first + i);
            auto* d = reinterpret_cast<unsigned char*>(rte_pktmbuf_append(m[i], len));
            build_frame(d, first + i, len);
        }
    }
    ~Burst() {
        if (!m.empty()) rte_pktmbuf_free_bulk(m.data(), static_cast<unsigned>(m.size()));
    }
    [[nodiscard]] std::uint16_t n() const { return static_cast<std::uint16_t>(m.size()); }
    [[nodiscard]] std::uint64_t bytes() const {
        std::uint64_t b = 0;
        for (auto* x : m) b += x->pkt_len;
        return b;
    }
};

struct Rec {
    std::uint64_t ts_ns;
    std::uint32_t caplen;
    std::uint32_t len;
    std::vector<unsigned char> data;
};

std::vector<Rec> read_file(const std::string& path, std::string* err = nullptr) {
    std::vector<Rec> out;
    char ebuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (p == nullptr) {
        if (err) *err = ebuf;
        return out;
    }
    if (pcap_datalink(p) != DLT_EN10MB && err) *err = "datalink is not Ethernet";
    pcap_pkthdr* h = nullptr;
    const u_char* d = nullptr;
    int rc = 0;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
        Rec r;
        r.ts_ns = static_cast<std::uint64_t>(h->ts.tv_sec) * ns_per_s + static_cast<std::uint64_t>(h->ts.tv_usec);
        r.caplen = h->caplen;
        r.len = h->len;
        r.data.assign(d, d + h->caplen);
        out.push_back(std::move(r));
    }
    if (rc == -1 && err) *err = pcap_geterr(p);
    pcap_close(p);
    return out;
}

bool have_tshark() { return access("/usr/bin/tshark", X_OK) == 0; }

/// Runs a shell command; returns its exit status and its output (stdout and
/// stderr) minus tshark's "Running as user root" note.
int run(const std::string& cmd, std::string& out) {
    out.clear();
    FILE* f = popen((cmd + " 2>&1").c_str(), "r");
    if (f == nullptr) return -1;
    char line[1024];
    while (std::fgets(line, sizeof line, f) != nullptr)
        if (std::strstr(line, "Running as user") == nullptr) out += line;
    const int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void expect_tshark_clean(const std::string& file) {
    if (!have_tshark()) return;
    std::string out;
    EXPECT_EQ(run("tshark -r '" + file + "' -q", out), 0) << file << ": " << out;
    EXPECT_EQ(out, "") << file;
}

/// A fresh directory under /tmp, removed at the end.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/rxinto-pcapng-XXXXXX";
        const char* p = mkdtemp(tmpl);
        path = p != nullptr ? p : "";
    }
    ~TempDir() {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
    }
};

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".pcapng") v.push_back(e.path().string());
    std::sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) {
        // by sequence number (the last field), then name
        // The -w path itself (one worker, no rotation) is file 1 of the series.
        const auto seq = [](const std::string& s) -> unsigned long long {
            const auto dash = s.rfind('-');
            const auto base = s.rfind('/');
            if (dash == std::string::npos || (base != std::string::npos && dash < base)) return 1;
            const std::string tail = s.substr(dash + 1);
            if (tail.empty() || tail[0] < '0' || tail[0] > '9') return 1;
            return std::stoull(tail);
        };
        return seq(a) != seq(b) ? seq(a) < seq(b) : a < b;
    });
    return v;
}

std::vector<pcapng_port> both_ports() {
    auto& e = Env::get();
    return {{e.ports[0], "ring-a", "first test port", false}, {e.ports[1], "ring-b", "second test port", false}};
}

std::uint32_t frame_idx(const Rec& r) {
    std::uint32_t idx = 0;
    if (r.data.size() >= 42) std::memcpy(&idx, r.data.data() + 38, 4);
    return idx;
}

/// `name` is PREFIX + "YYYYmmddTHHMMSS.mmm" + SUFFIX ('#' in the pattern = a digit).
bool name_matches(const std::string& name, const std::string& prefix, const std::string& suffix) {
    const std::string pat = prefix + "########T######.###" + suffix;
    if (name.size() != pat.size()) return false;
    for (std::size_t i = 0; i < pat.size(); ++i)
        if (pat[i] == '#' ? (name[i] < '0' || name[i] > '9') : name[i] != pat[i]) return false;
    return true;
}

#define REQUIRE_ENV() ASSERT_TRUE(Env::get().ok) << "net_ring ports or source pool missing"

}  // namespace

TEST(Pcapng, WholeFramesNanosecondTimestampsAndInterfaces) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    pcapng_options o;
    o.path = dir.path + "/cap.pcapng";
    const std::uint64_t t_open = wall_ns();
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_TRUE(w.ok()) << w.error().message;
    auto& wr = **w;

    std::uint64_t bytes = 0;
    constexpr unsigned bursts = 20;
    constexpr unsigned per = 32;
    for (unsigned b = 0; b < bursts; ++b) {
        Burst bu(b * per, per);
        ASSERT_EQ(bu.n(), per);
        wr.write_burst(env.ports[b % 2], static_cast<std::uint16_t>(b % 3), bu.m.data(), bu.n(), 0);
        bytes += bu.bytes();
        // the originals are untouched and still ours
        for (unsigned i = 0; i < per; ++i) {
            ASSERT_EQ(rte_mbuf_refcnt_read(bu.m[i]), 1);
            std::vector<unsigned char> ref(bu.m[i]->pkt_len);
            build_frame(ref.data(), b * per + i, static_cast<std::uint16_t>(ref.size()));
            ASSERT_EQ(std::memcmp(ref.data(), rte_pktmbuf_mtod(bu.m[i], const void*), ref.size()), 0);
        }
    }
    const std::uint64_t t_end = wall_ns();
    const std::string file = wr.current_file();
    wr.close();
    EXPECT_EQ(rte_mempool_avail_count(env.src), src_pool_size);

    EXPECT_EQ(wr.counters().packets.get(), bursts * per);
    EXPECT_EQ(wr.counters().bytes.get(), bytes);
    EXPECT_EQ(wr.counters().files.get(), 1U);
    EXPECT_EQ(wr.counters().write_errors.get(), 0U);
    EXPECT_EQ(wr.counters().truncated.get(), 0U);
    EXPECT_EQ(wr.counters().file_bytes.get(), fs::file_size(file));

    const auto names = files_in(dir.path);
    ASSERT_EQ(names.size(), 1U);
    EXPECT_EQ(names[0], file);
    // One worker and no rotation: the file is the -w path itself, as tcpdump writes it.
    EXPECT_EQ(fs::path(file).filename().string(), "cap.pcapng") << file;

    std::string err;
    const auto recs = read_file(file, &err);
    ASSERT_EQ(err, "");
    ASSERT_EQ(recs.size(), bursts * per);
    std::uint64_t prev = 0;
    for (std::uint32_t i = 0; i < recs.size(); ++i) {
        const auto& r = recs[i];
        ASSERT_EQ(r.len, frame_len(i));
        ASSERT_EQ(r.caplen, r.len);
        std::vector<unsigned char> ref(r.len);
        build_frame(ref.data(), i, static_cast<std::uint16_t>(r.len));
        ASSERT_EQ(r.data, ref) << "frame " << i;
        EXPECT_GE(r.ts_ns, t_open - ns_per_s) << "near now (not 1970, not 2251)";
        EXPECT_LE(r.ts_ns, t_end + ns_per_s);
        EXPECT_GE(r.ts_ns, prev) << "non-decreasing";
        prev = r.ts_ns;
    }
    std::uint64_t distinct_sub_us = 0;
    for (const auto& r : recs) distinct_sub_us += (r.ts_ns % 1000) != 0;
    EXPECT_GT(distinct_sub_us, 0U) << "nanosecond digits are kept";

    expect_tshark_clean(file);
    if (have_tshark()) {  // packets of burst b came from port b % 2: interface dpdk:<port>
        std::string out;
        ASSERT_EQ(run("tshark -r '" + file + "' -T fields -e frame.interface_name -e frame.interface_description", out), 0);
        std::vector<std::string> lines;
        for (std::size_t p = 0, q; (q = out.find('\n', p)) != std::string::npos; p = q + 1)
            lines.push_back(out.substr(p, q - p));
        ASSERT_EQ(lines.size(), recs.size());
        for (std::size_t i = 0; i < lines.size(); ++i)
            ASSERT_EQ(lines[i].substr(0, lines[i].find('\t')), "dpdk:" + std::to_string(env.ports[(i / per) % 2]))
                << "packet " << i;
        ASSERT_EQ(run("capinfos '" + file + "'", out), 0);
        EXPECT_NE(out.find("port " + std::to_string(env.ports[1]) + " = ring-b (second test port)"),
                  std::string::npos)
            << "names and descriptions in the section comment:\n"
            << out;
    }
}

TEST(Pcapng, SnaplenAndFrameMax) {
    REQUIRE_ENV();
    auto& env = Env::get();
    for (const auto& [snaplen, frame_max] : {std::pair<std::uint32_t, std::uint32_t>{100, 9216}, {0, 256}, {1000, 300}}) {
        TempDir dir;
        pcapng_options o;
        o.path = dir.path + "/s";
        o.snaplen = snaplen;
        o.frame_max = frame_max;
        auto w = pcapng_writer::open(o, 0, 1, both_ports());
        ASSERT_TRUE(w.ok()) << w.error().message;
        const std::uint32_t snap = snaplen != 0 ? std::min(snaplen, frame_max) : frame_max;
        EXPECT_EQ((*w)->snap_length(), snap);
        std::uint64_t over = 0;
        for (unsigned b = 0; b < 8; ++b) {
            Burst bu(b * 32, 32);
            for (auto* m : bu.m) over += m->pkt_len > snap;
            (*w)->write_burst(env.ports[0], 0, bu.m.data(), bu.n(), 0);
        }
        const std::string file = (*w)->current_file();
        (*w)->close();
        EXPECT_EQ((*w)->counters().truncated.get(), snaplen != 0 && snaplen <= frame_max ? 0U : over);
        std::string err;
        const auto recs = read_file(file, &err);
        ASSERT_EQ(err, "");
        ASSERT_EQ(recs.size(), 256U);
        for (std::uint32_t i = 0; i < recs.size(); ++i) {
            const auto& r = recs[i];
            ASSERT_EQ(r.len, frame_len(i)) << "len is the original length";
            ASSERT_EQ(r.caplen, std::min<std::uint32_t>(r.len, snap));
            std::vector<unsigned char> ref(r.len);
            build_frame(ref.data(), i, static_cast<std::uint16_t>(r.len));
            ASSERT_EQ(std::memcmp(ref.data(), r.data.data(), r.caplen), 0);
        }
        expect_tshark_clean(file);
    }
    EXPECT_EQ(rte_mempool_avail_count(env.src), src_pool_size);
}

TEST(Pcapng, RotateBySizeEveryFileComplete) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    pcapng_options o;
    o.path = dir.path + "/size.pcapng";
    o.rotate_bytes = 64 * 1024;
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_TRUE(w.ok()) << w.error().message;
    constexpr unsigned total = 64 * 32;
    for (unsigned b = 0; b < total / 32; ++b) {
        Burst bu(b * 32, 32);
        (*w)->write_burst(env.ports[1], 0, bu.m.data(), bu.n(), 0);
    }
    (*w)->close();
    const auto names = files_in(dir.path);
    ASSERT_GT(names.size(), 10U);
    EXPECT_EQ((*w)->counters().files.get(), names.size());
    std::uint32_t next = 0;
    for (const auto& f : names) {
        EXPECT_LE(fs::file_size(f), o.rotate_bytes + 2 * 64) << f << " (+ two statistics blocks)";
        std::string err;
        const auto recs = read_file(f, &err);
        ASSERT_EQ(err, "") << f;
        ASSERT_FALSE(recs.empty()) << f;
        for (const auto& r : recs) ASSERT_EQ(frame_idx(r), next++) << f << ": order kept across files";
        expect_tshark_clean(f);
    }
    EXPECT_EQ(next, total);
    EXPECT_EQ((*w)->counters().packets.get(), total);
}

TEST(Pcapng, RotateByTimeFollowsTheGivenTimestamps) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    pcapng_options o;
    o.path = dir.path + "/t.pcapng";
    o.rotate_seconds = 2;
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_TRUE(w.ok()) << w.error().message;
    const std::uint64_t t0 = wall_ns();  // after open(): the first file started before
    for (unsigned k = 0; k < 20; ++k) {  // one burst every 0.5 s for 10 s
        Burst bu(k * 8, 8);
        (*w)->write_burst(env.ports[0], 0, bu.m.data(), bu.n(), t0 + k * ns_per_s / 2);
    }
    (*w)->close();
    const auto names = files_in(dir.path);
    ASSERT_EQ(names.size(), 5U);
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::string err;
        const auto recs = read_file(names[i], &err);
        ASSERT_EQ(err, "");
        ASSERT_EQ(recs.size(), 4U * 8U) << names[i];
        EXPECT_EQ(recs.front().ts_ns, t0 + i * 2 * ns_per_s);
        EXPECT_LT(recs.back().ts_ns - recs.front().ts_ns, 2 * ns_per_s);
        if (i > 0) {  // the name carries the start time: the first packet's, in UTC
            const auto secs = static_cast<time_t>(recs.front().ts_ns / ns_per_s);
            tm t{};
            gmtime_r(&secs, &t);
            char want[160];
            std::snprintf(want, sizeof want, "t-%04d%02d%02dT%02d%02d%02d.%03u-%04zu.pcapng", t.tm_year + 1900,
                          t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                          static_cast<unsigned>(recs.front().ts_ns % ns_per_s / 1'000'000), i + 1);
            EXPECT_EQ(fs::path(names[i]).filename().string(), want);
        }
        expect_tshark_clean(names[i]);
    }
}

TEST(Pcapng, RingKeepsTheNewestFiles) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    pcapng_options o;
    o.path = dir.path + "/ring";
    o.rotate_bytes = 16 * 1024;
    o.ring_files = 3;
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_TRUE(w.ok()) << w.error().message;
    for (unsigned b = 0; b < 40; ++b) {
        Burst bu(b * 32, 32);
        (*w)->write_burst(env.ports[0], 0, bu.m.data(), bu.n(), 0);
    }
    (*w)->close();
    const std::uint64_t made = (*w)->counters().files.get();
    ASSERT_GT(made, 6U);
    const auto names = files_in(dir.path);
    ASSERT_EQ(names.size(), 3U);
    for (std::size_t i = 0; i < 3; ++i) {
        const auto dash = names[i].rfind('-');
        EXPECT_EQ(std::stoull(names[i].substr(dash + 1)), made - 2 + i) << "the newest three";
        std::string err;
        EXPECT_FALSE(read_file(names[i], &err).empty());
        EXPECT_EQ(err, "");
        expect_tshark_clean(names[i]);
    }
}

TEST(Pcapng, RequestRotateAndRotateAll) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    pcapng_options o;
    o.path = dir.path + "/hup.pcapng";
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_TRUE(w.ok()) << w.error().message;
    auto write = [&](std::uint32_t first) {
        Burst bu(first, 10);
        (*w)->write_burst(env.ports[0], 0, bu.m.data(), bu.n(), 0);
    };
    write(0);
    write(10);
    (*w)->request_rotate();  // e.g. from a SIGHUP handler
    EXPECT_EQ((*w)->counters().files.get(), 1U) << "only at the next burst";
    write(20);
    pcapng_writer::request_rotate_all();
    write(30);
    write(40);
    (*w)->close();
    const auto names = files_in(dir.path);
    ASSERT_EQ(names.size(), 3U);
    const std::size_t want[] = {20, 10, 20};
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(read_file(names[i]).size(), want[i]) << names[i];
        expect_tshark_clean(names[i]);
    }
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_hup(int) { pcapng_writer::request_rotate_all(); }
extern "C" void on_term(int) { g_stop.store(true); }
}  // namespace

// The appliance's wiring: SIGHUP -> request_rotate_all(); SIGTERM/SIGINT -> stop
// flag -> the worker loop ends -> close(): every file complete.
TEST(Pcapng, SighupRotatesSigtermCloses) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    pcapng_options o;
    o.path = dir.path + "/sig.pcapng";
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_TRUE(w.ok()) << w.error().message;
    struct sigaction sa{};
    struct sigaction old_hup{};
    struct sigaction old_term{};
    sa.sa_handler = on_hup;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGHUP, &sa, &old_hup), 0);
    sa.sa_handler = on_term;
    ASSERT_EQ(sigaction(SIGTERM, &sa, &old_term), 0);
    g_stop.store(false);
    std::uint32_t idx = 0;
    for (int i = 0; !g_stop.load(); ++i) {
        Burst bu(idx, 16);
        idx += 16;
        (*w)->write_burst(env.ports[0], 0, bu.m.data(), bu.n(), 0);
        if (i == 3) std::raise(SIGHUP);
        if (i == 7) std::raise(SIGTERM);
    }
    (*w)->close();
    sigaction(SIGHUP, &old_hup, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    const auto names = files_in(dir.path);
    ASSERT_EQ(names.size(), 2U);
    EXPECT_EQ(read_file(names[0]).size(), 4U * 16U);
    EXPECT_EQ(read_file(names[1]).size(), 4U * 16U);
    for (const auto& f : names) expect_tshark_clean(f);
}

TEST(Pcapng, OneSeriesPerWorker) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    pcapng_options o;
    o.path = dir.path + "/cap.pcapng";
    auto w0 = pcapng_writer::open(o, 0, 2, both_ports());
    auto w1 = pcapng_writer::open(o, 1, 2, both_ports());
    ASSERT_TRUE(w0.ok()) << w0.error().message;
    ASSERT_TRUE(w1.ok()) << w1.error().message;
    Burst a(0, 5);
    Burst b(100, 7);
    (*w0)->write_burst(env.ports[0], 0, a.m.data(), a.n(), 0);
    (*w1)->write_burst(env.ports[0], 1, b.m.data(), b.n(), 0);
    (*w0)->close();
    (*w1)->close();
    const auto names = files_in(dir.path);
    ASSERT_EQ(names.size(), 2U);
    for (const auto& f : names) {
        const std::string base = fs::path(f).filename().string();
        const bool is_w0 = name_matches(base, "cap-w0-", "-0001.pcapng");
        ASSERT_TRUE(is_w0 || name_matches(base, "cap-w1-", "-0001.pcapng")) << base;
        EXPECT_EQ(read_file(f).size(), is_w0 ? 5U : 7U);
        expect_tshark_clean(f);
    }
}

TEST(Pcapng, BadArgumentsAndPortsAreReported) {
    REQUIRE_ENV();
    auto& env = Env::get();
    pcapng_options o;
    o.path = "/nonexistent-dir-rxinto/cap.pcapng";
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message.find("/nonexistent-dir-rxinto/cap"), std::string::npos) << w.error().message;

    TempDir dir;
    o.path = dir.path + "/x";
    EXPECT_FALSE(pcapng_writer::open(o, 0, 1, {{RTE_MAX_ETHPORTS - 1, "nope", "", false}}).ok());
    EXPECT_FALSE(pcapng_writer::open(o, 2, 2, both_ports()).ok());
    o.frame_max = 63;  // below the smallest frame kept whole
    EXPECT_FALSE(pcapng_writer::open(o, 0, 1, both_ports()).ok());
    o.frame_max = pcapng_writer::max_frame + 1;
    EXPECT_FALSE(pcapng_writer::open(o, 0, 1, both_ports()).ok());
    o.frame_max = pcapng_writer::max_frame;
    o.snaplen = 128;
    auto w2 = pcapng_writer::open(o, 0, 1, {{env.ports[0], "a", "", false}});
    ASSERT_TRUE(w2.ok()) << w2.error().message;
    Burst bu(0, 4);
    (*w2)->write_burst(env.ports[1], 0, bu.m.data(), bu.n(), 0);  // not one of its ports
    EXPECT_EQ((*w2)->counters().bad_port.get(), 4U);
    (*w2)->write_burst(env.ports[0], 0, bu.m.data(), bu.n(), 0);
    EXPECT_EQ((*w2)->counters().packets.get(), 4U);
    (*w2)->close();
    (*w2)->write_burst(env.ports[0], 0, bu.m.data(), bu.n(), 0);  // after close: counted, no crash
    EXPECT_EQ((*w2)->counters().write_errors.get(), 4U);
}

TEST(Pcapng, FullDiskNeverStopsTheWriter) {
    REQUIRE_ENV();
    auto& env = Env::get();
    TempDir dir;
    if (geteuid() != 0 ||
        std::system(("mount -t tmpfs -o size=256k rxinto-pcapng-test '" + dir.path + "' 2>/dev/null").c_str()) != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)";
    struct Umount {
        std::string p;
        ~Umount() { (void)std::system(("umount '" + p + "'").c_str()); }
    } um{dir.path};

    // Half the space goes to a filler file; the capture gets the rest.
    const std::string filler = dir.path + "/filler";
    {
        FILE* f = std::fopen(filler.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::vector<char> z(128 * 1024, 'z');
        ASSERT_EQ(std::fwrite(z.data(), 1, z.size(), f), z.size());
        std::fclose(f);
    }
    pcapng_options o;
    o.path = dir.path + "/full.pcapng";
    auto w = pcapng_writer::open(o, 0, 1, both_ports());
    ASSERT_TRUE(w.ok()) << w.error().message;
    auto& wr = **w;
    std::uint64_t ts = wall_ns();
    std::uint32_t idx = 0;
    auto burst = [&](std::uint64_t step = ns_per_s / 10) {
        Burst bu(idx, 32, 1000);
        idx += 32;
        ts += step;
        wr.write_burst(env.ports[0], 0, bu.m.data(), bu.n(), ts);
    };
    for (int i = 0; i < 100 && wr.counters().write_errors.get() == 0; ++i) burst();
    ASSERT_GT(wr.counters().write_errors.get(), 0U) << "the tmpfs should be full";
    EXPECT_EQ(wr.counters().last_errno.get(), static_cast<std::uint64_t>(ENOSPC));
    for (int i = 0; i < 20; ++i) burst();  // keeps accepting bursts
    expect_tshark_clean(wr.current_file());  // cut back to the last complete block

    // The failed writes were cut back, which gave a few pages back: take
    // them too, so that not even a file header fits.
    const std::string filler2 = dir.path + "/filler2";
    {
        FILE* f = std::fopen(filler2.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::setvbuf(f, nullptr, _IONBF, 0);
        const char z[512] = {};
        while (std::fwrite(z, 1, sizeof z, f) == sizeof z) {
        }
        std::fclose(f);
    }
    const std::uint64_t written_before = wr.counters().packets.get();
    burst();
    wr.request_rotate();  // a new file cannot be created now
    burst();
    EXPECT_GT(wr.counters().open_failures.get(), 0U);
    EXPECT_EQ(wr.counters().files.get(), 1U);
    EXPECT_EQ(wr.counters().packets.get(), written_before) << "nothing fits";
    expect_tshark_clean(wr.current_file());

    // Space again (128 KiB and more): writing resumes; the pending rotation
    // happens once retry_open_ns (1 s of ts_ns) has passed.
    ASSERT_EQ(::unlink(filler.c_str()), 0);
    ASSERT_EQ(::unlink(filler2.c_str()), 0);
    const std::uint64_t errors = wr.counters().write_errors.get();
    burst(2 * ns_per_s);
    burst();
    burst();
    EXPECT_EQ(wr.counters().write_errors.get(), errors) << "no more errors once there is space";
    EXPECT_EQ(wr.counters().packets.get(), written_before + 96);
    EXPECT_EQ(wr.counters().files.get(), 2U) << "the rotation asked for during the full disk";
    EXPECT_EQ(rte_mempool_avail_count(env.src), src_pool_size) << "the writer keeps no packet";
    wr.close();

    std::uint64_t in_files = 0;
    for (const auto& f : files_in(dir.path)) {
        std::string err;
        in_files += read_file(f, &err).size();
        EXPECT_EQ(err, "") << f;
        expect_tshark_clean(f);
    }
    EXPECT_EQ(in_files, wr.counters().packets.get());
    EXPECT_EQ(in_files + wr.counters().write_errors.get(), idx);
    EXPECT_EQ(rte_mempool_avail_count(env.src), src_pool_size);
}
