// load_file() / validate() / defaults(): INI files through rte_cfgfile, no EAL.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "rxinto/config/settings.hpp"
#include "rxinto/config/values.hpp"

namespace {

namespace fs = std::filesystem;
using namespace rxinto::config;

/// The source tree: meson test sets RXINTO_SOURCE_DIR; when the binary is run
/// by hand from the build directory, __FILE__ (relative to it) still works.
fs::path source_dir() {
    if (const char* env = std::getenv("RXINTO_SOURCE_DIR"); env != nullptr && *env != '\0') return env;
    return (fs::path(__FILE__).parent_path() / ".." / "..").lexically_normal();
}

std::string example(const char* name) { return (source_dir() / "config" / name).string(); }

/// Expects every part to occur in the message (file, section, key, reason...).
void expect_contains_all(const std::string& message, std::initializer_list<std::string> parts) {
    for (const std::string& p : parts) {
        EXPECT_NE(message.find(p), std::string::npos) << "missing '" << p << "' in: " << message;
    }
}

class ConfigFile : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "rxinto-test-config-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::string write(const std::string& text, const std::string& name = "x.ini") {
        const fs::path p = dir_ / name;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }

    Settings load_ok(const std::string& text) {
        const std::string path = write(text);
        auto r = load_file(path);
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() ? r.value() : Settings{};
    }

    /// Loads text that must be rejected; returns the message.
    std::string load_error(const std::string& text) {
        const std::string path = write(text);
        auto r = load_file(path);
        EXPECT_FALSE(r.ok()) << "accepted:\n" << text;
        return r.ok() ? std::string() : r.error().message;
    }

    fs::path dir_;
};

// ------------------------------------------------------------ examples

TEST(ConfigExamples, ReplayIniEqualsDefaults) {
    auto r = load_file(example("replay.ini"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    const Settings& s = r.value();
    const Settings d = defaults();
    // Field by field first, so that a drift says which field.
    EXPECT_EQ(s.eal.lcores, d.eal.lcores);
    EXPECT_EQ(s.eal.hugepages, d.eal.hugepages);
    EXPECT_EQ(s.eal.memory_mb, d.eal.memory_mb);
    EXPECT_EQ(s.eal.file_prefix, d.eal.file_prefix);
    EXPECT_EQ(s.eal.in_memory, d.eal.in_memory);
    EXPECT_EQ(s.eal.log_level, d.eal.log_level);
    EXPECT_EQ(s.eal.extra_args, d.eal.extra_args);
    ASSERT_EQ(s.ports.size(), d.ports.size());
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        EXPECT_EQ(s.ports[i].kind, d.ports[i].kind);
        EXPECT_EQ(s.ports[i].source, d.ports[i].source);
        EXPECT_EQ(s.ports[i].rx_queues, d.ports[i].rx_queues);
        EXPECT_EQ(s.ports[i].rx_desc, d.ports[i].rx_desc);
        EXPECT_EQ(s.ports[i].promiscuous, d.ports[i].promiscuous);
        EXPECT_EQ(s.ports[i].rss, d.ports[i].rss);
        EXPECT_EQ(s.ports[i].checksum_offload, d.ports[i].checksum_offload);
    }
    EXPECT_EQ(s.mempool.mbufs, d.mempool.mbufs);
    EXPECT_EQ(s.mempool.cache, d.mempool.cache);
    EXPECT_EQ(s.mempool.data_room, d.mempool.data_room);
    EXPECT_EQ(s.mempool.reassembly_held, d.mempool.reassembly_held);
    EXPECT_EQ(s.run.burst, d.run.burst);
    EXPECT_EQ(s.run.duration_s, d.run.duration_s);
    EXPECT_EQ(s.run.progress, d.run.progress);
    EXPECT_EQ(s.run.stats_json, d.run.stats_json);
    EXPECT_EQ(s.tcp.enabled, d.tcp.enabled);
    EXPECT_EQ(s.tcp.streams_dir, d.tcp.streams_dir);
    EXPECT_EQ(s.tcp.overlap, d.tcp.overlap);
    EXPECT_EQ(s.tcp.checksum, d.tcp.checksum);
    EXPECT_EQ(s.tcp.midstream, d.tcp.midstream);
    EXPECT_EQ(s.tcp.max_flows, d.tcp.max_flows);
    EXPECT_EQ(s.tcp.max_segments, d.tcp.max_segments);
    EXPECT_EQ(s.tcp.stream_max_segments, d.tcp.stream_max_segments);
    EXPECT_EQ(s.tcp.stream_max_bytes, d.tcp.stream_max_bytes);
    EXPECT_EQ(s.tcp.stream_max_ooo_bytes, d.tcp.stream_max_ooo_bytes);
    EXPECT_EQ(s.tcp.timeout_syn_s, d.tcp.timeout_syn_s);
    EXPECT_EQ(s.tcp.timeout_established_s, d.tcp.timeout_established_s);
    EXPECT_EQ(s.tcp.timeout_closing_s, d.tcp.timeout_closing_s);
    EXPECT_EQ(s.tcp.timeout_closed_s, d.tcp.timeout_closed_s);
    EXPECT_EQ(s.tcp.ip_reassembly, d.tcp.ip_reassembly);
    EXPECT_EQ(s.tcp.mempool_low_water, d.tcp.mempool_low_water);
    EXPECT_EQ(s.run.workers, d.run.workers);
    EXPECT_EQ(s.run.dispatch, d.run.dispatch);
    EXPECT_EQ(s.capture.write, d.capture.write);
    EXPECT_EQ(s.capture.rotate_mb, d.capture.rotate_mb);
    EXPECT_EQ(s.capture.rotate_seconds, d.capture.rotate_seconds);
    EXPECT_EQ(s.capture.ring_files, d.capture.ring_files);
    EXPECT_EQ(s.capture.snaplen, d.capture.snaplen);
    EXPECT_EQ(s.capture.filter, d.capture.filter);
    EXPECT_EQ(s.capture.filter_before_reassembly, d.capture.filter_before_reassembly);
    EXPECT_TRUE(s == d);
}

TEST(ConfigExamples, ReplayIniDocumentsEveryCaptureAndNewRunKey) {
    // Every [capture] key is there, commented out where the default is "none";
    // [run] has workers and dispatch.
    std::ifstream in(example("replay.ini"));
    ASSERT_TRUE(in) << example("replay.ini");
    std::string text = "\n";
    for (std::string line; std::getline(in, line);) text += line + "\n";
    const std::size_t run = text.find("\n[run]\n");
    const std::size_t tcp = text.find("\n[tcp]\n");
    const std::size_t capture = text.find("\n[capture]\n");
    ASSERT_NE(run, std::string::npos);
    ASSERT_NE(capture, std::string::npos);
    for (const char* key : {"workers = 0", "dispatch = auto"}) {
        const std::size_t at = text.find("\n" + std::string(key) + "\n", run);
        EXPECT_TRUE(at != std::string::npos && at < tcp) << key;
    }
    for (const char* key : {"rotate_mb = 0", "rotate_seconds = 0", "ring_files = 0", "snaplen = 0",
                            "filter_before_reassembly = no", ";write = ", ";filter = "}) {
        EXPECT_NE(text.find("\n" + std::string(key), capture), std::string::npos) << key;
    }
    // tcpdump's MB is stated.
    EXPECT_NE(text.find("1,000,000 bytes", capture), std::string::npos);
}

TEST(ConfigExamples, ReplayIniDocumentsEveryTcpKey) {
    // Every [tcp] key is written out (not only left to its default).
    std::ifstream in(example("replay.ini"));
    ASSERT_TRUE(in) << example("replay.ini");
    std::string text = "\n";
    for (std::string line; std::getline(in, line);) text += line + "\n";
    const std::size_t tcp = text.find("\n[tcp]\n");
    ASSERT_NE(tcp, std::string::npos);
    for (const char* key : {"enabled", "streams_dir", "overlap", "checksum", "midstream", "max_flows",
                            "max_segments", "stream_max_segments", "stream_max_bytes", "stream_max_ooo_bytes",
                            "timeout_syn", "timeout_established", "timeout_closing", "timeout_closed",
                            "ip_reassembly", "mempool_low_water"}) {
        EXPECT_NE(text.find("\n" + std::string(key) + " =", tcp), std::string::npos) << key;
    }
}

TEST(ConfigExamples, DefaultsAreValid) {
    EXPECT_TRUE(validate(defaults()).ok());
    const Settings d = defaults();
    ASSERT_EQ(d.ports.size(), 1U);
    EXPECT_EQ(d.ports[0].kind, PortKind::pcap);
    EXPECT_EQ(d.ports[0].source, generated_pcap);
}

TEST(ConfigExamples, EveryExampleLoads) {
    for (const char* name : {"replay.ini", "pci.ini", "af_packet.ini", "af_xdp.ini"}) {
        auto r = load_file(example(name));
        EXPECT_TRUE(r.ok()) << name << ": " << r.error().message;
    }
}

TEST(ConfigExamples, PciIni) {
    auto r = load_file(example("pci.ini"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    const Settings& s = r.value();
    EXPECT_EQ(s.eal.lcores, "0-2");
    EXPECT_EQ(s.eal.hugepages, Tristate::on);
    ASSERT_EQ(s.ports.size(), 1U);
    EXPECT_EQ(s.ports[0].kind, PortKind::pci);
    EXPECT_EQ(s.ports[0].source, "0000:01:00.0");
    EXPECT_EQ(s.ports[0].rx_queues, 2);
    EXPECT_EQ(s.ports[0].rss, Tristate::automatic);
    EXPECT_EQ(s.tcp.max_flows, 262144U);
    EXPECT_TRUE(s.tcp.streams_dir.empty());
    EXPECT_TRUE(s.capture == CaptureSettings{});  // the capture ring is commented out
    EXPECT_EQ(s.run.workers, 0U);
}

TEST_F(ConfigFile, PciIniCaptureRingExampleLoadsUncommented) {
    // The commented [capture] example of pci.ini is valid once uncommented.
    std::ifstream in(example("pci.ini"));
    ASSERT_TRUE(in);
    std::string text;
    bool in_example = false;
    for (std::string line; std::getline(in, line);) {
        if (line == ";[capture]") in_example = true;
        if (in_example && !line.empty() && line[0] == ';') line.erase(0, 1);
        text += line + "\n";
    }
    ASSERT_TRUE(in_example) << "no ;[capture] example in pci.ini";
    const Settings s = load_ok(text);
    EXPECT_EQ(s.capture.write, "/data/cap.pcapng");
    EXPECT_EQ(s.capture.rotate_mb, 1000U);
    EXPECT_EQ(s.capture.ring_files, 20U);
    EXPECT_EQ(s.capture.snaplen, 0U);
    EXPECT_EQ(s.capture.rotate_seconds, 0U);
}

TEST(ConfigExamples, AfPacketAndAfXdpIni) {
    auto p = load_file(example("af_packet.ini"));
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_EQ(p->ports.size(), 1U);
    EXPECT_EQ(p->ports[0].kind, PortKind::vdev);
    EXPECT_EQ(p->ports[0].source, "net_af_packet0,iface=eth0,qpairs=1");

    auto x = load_file(example("af_xdp.ini"));
    ASSERT_TRUE(x.ok()) << x.error().message;
    ASSERT_EQ(x->ports.size(), 1U);
    EXPECT_EQ(x->ports[0].kind, PortKind::vdev);
    EXPECT_EQ(x->ports[0].source, "net_af_xdp0,iface=eth0,start_queue=0,queue_count=1");
}

// ------------------------------------------------------------ accepted input

TEST_F(ConfigFile, EmptyFileGivesDefaults) { EXPECT_TRUE(load_ok("") == defaults()); }

TEST_F(ConfigFile, CommentsOnlyGivesDefaults) {
    EXPECT_TRUE(load_ok("; a comment\n# another = with [brackets]\n   # indented\n\n") == defaults());
}

TEST_F(ConfigFile, EveryKeyIsRead) {
    const Settings s = load_ok(
        "[eal]\n"
        "lcores = 0,2-3@(1)\n"
        "hugepages = no\n"
        "memory_mb = 512\n"
        "file_prefix = my_prefix-2\n"
        "in_memory = yes\n"
        "log_level = debug\n"
        "eal_args = --huge-unlink   --no-telemetry\n"
        "[port0]\n"
        "vdev = net_null0,size=64\n"
        "rx_queues = 4\n"
        "rx_desc = 512\n"
        "promiscuous = off\n"
        "rss = on\n"
        "checksum_offload = no\n"
        "[mempool]\n"
        "mbufs = 4095\n"
        "cache = 128\n"
        "data_room = 9000\n"
        "reassembly_held = 0\n"
        "[run]\n"
        "burst = 64\n"
        "duration = 2.5\n"
        "progress = false\n"
        "stats_json = out/summary.json\n");
    EXPECT_EQ(s.eal.lcores, "0,2-3@(1)");
    EXPECT_EQ(s.eal.hugepages, Tristate::off);
    EXPECT_EQ(s.eal.memory_mb, 512U);
    EXPECT_EQ(s.eal.file_prefix, "my_prefix-2");
    EXPECT_TRUE(s.eal.in_memory);
    EXPECT_EQ(s.eal.log_level, "debug");
    EXPECT_EQ(s.eal.extra_args, (std::vector<std::string>{"--huge-unlink", "--no-telemetry"}));
    ASSERT_EQ(s.ports.size(), 1U);
    EXPECT_EQ(s.ports[0].kind, PortKind::vdev);
    EXPECT_EQ(s.ports[0].source, "net_null0,size=64");  // '=' inside the value survives
    EXPECT_EQ(s.ports[0].rx_queues, 4);
    EXPECT_EQ(s.ports[0].rx_desc, 512);
    EXPECT_FALSE(s.ports[0].promiscuous);
    EXPECT_EQ(s.ports[0].rss, Tristate::on);
    EXPECT_EQ(s.ports[0].checksum_offload, Tristate::off);
    EXPECT_EQ(s.mempool.mbufs, 4095U);
    EXPECT_EQ(s.mempool.cache, 128U);
    EXPECT_EQ(s.mempool.data_room, 9000);
    EXPECT_EQ(s.mempool.reassembly_held, 0U);
    EXPECT_EQ(s.run.burst, 64);
    EXPECT_DOUBLE_EQ(s.run.duration_s, 2.5);
    EXPECT_FALSE(s.run.progress);
    EXPECT_EQ(s.run.stats_json, "out/summary.json");
}

TEST_F(ConfigFile, EveryTcpKeyIsRead) {
    const Settings s = load_ok(
        "[tcp]\n"
        "enabled = no\n"
        "overlap = last\n"
        "checksum = verify\n"
        "midstream = off\n"
        "max_flows = 8\n"
        "max_segments = 64\n"
        "stream_max_segments = 64\n"
        "stream_max_bytes = 4096\n"
        "stream_max_ooo_bytes = 1\n"
        "timeout_syn = 0.25\n"
        "timeout_established = 86400\n"
        "timeout_closing = 7.\n"
        "timeout_closed = .5\n"
        "ip_reassembly = false\n"
        "mempool_low_water = 16777215\n");
    EXPECT_FALSE(s.tcp.enabled);
    EXPECT_TRUE(s.tcp.streams_dir.empty());
    EXPECT_EQ(s.tcp.overlap, "last");
    EXPECT_EQ(s.tcp.checksum, "verify");
    EXPECT_FALSE(s.tcp.midstream);
    EXPECT_EQ(s.tcp.max_flows, 8U);
    EXPECT_EQ(s.tcp.max_segments, 64U);
    EXPECT_EQ(s.tcp.stream_max_segments, 64U);
    EXPECT_EQ(s.tcp.stream_max_bytes, 4096U);
    EXPECT_EQ(s.tcp.stream_max_ooo_bytes, 1U);
    EXPECT_DOUBLE_EQ(s.tcp.timeout_syn_s, 0.25);
    EXPECT_DOUBLE_EQ(s.tcp.timeout_established_s, 86400);
    EXPECT_DOUBLE_EQ(s.tcp.timeout_closing_s, 7);
    EXPECT_DOUBLE_EQ(s.tcp.timeout_closed_s, 0.5);
    EXPECT_FALSE(s.tcp.ip_reassembly);
    EXPECT_EQ(s.tcp.mempool_low_water, 16777215U);
    // The rest of Settings is untouched.
    Settings rest = s;
    rest.tcp = defaults().tcp;
    EXPECT_TRUE(rest == defaults());
}

TEST_F(ConfigFile, EveryCaptureKeyIsRead) {
    const Settings s = load_ok(
        "[capture]\n"
        "write = /data/cap.pcapng\n"
        "rotate_mb = 1000\n"
        "rotate_seconds = 3600\n"
        "ring_files = 20\n"
        "snaplen = 128\n"
        "filter =  tcp port 443 or (udp and\tport 53)  ; comment\n"
        "filter_before_reassembly = yes\n");
    EXPECT_EQ(s.capture.write, "/data/cap.pcapng");
    EXPECT_EQ(s.capture.rotate_mb, 1000U);
    EXPECT_EQ(s.capture.rotate_seconds, 3600U);
    EXPECT_EQ(s.capture.ring_files, 20U);
    EXPECT_EQ(s.capture.snaplen, 128U);
    EXPECT_EQ(s.capture.filter, "tcp port 443 or (udp and\tport 53)");
    EXPECT_TRUE(s.capture.filter_before_reassembly);
    // The rest of Settings is untouched.
    Settings rest = s;
    rest.capture = defaults().capture;
    EXPECT_TRUE(rest == defaults());
}

TEST_F(ConfigFile, CaptureLimits) {
    const Settings hi = load_ok(
        "[capture]\nwrite = c.pcapng\nrotate_mb = 1048576\nrotate_seconds = 31536000\n"
        "ring_files = 100000\nsnaplen = 262144\n");
    EXPECT_EQ(hi.capture.rotate_mb, 1048576U);
    EXPECT_EQ(hi.capture.rotate_seconds, 31536000U);
    EXPECT_EQ(hi.capture.ring_files, 100000U);
    EXPECT_EQ(hi.capture.snaplen, 262144U);
    const Settings lo = load_ok("[capture]\nwrite = c.pcapng\nrotate_mb = 1\nring_files = 1\nsnaplen = 64\n");
    EXPECT_EQ(lo.capture.rotate_mb, 1U);
    EXPECT_EQ(lo.capture.ring_files, 1U);
    EXPECT_EQ(lo.capture.snaplen, 64U);
    // Only seconds rotation is enough for a ring.
    EXPECT_EQ(load_ok("[capture]\nwrite = c\nrotate_seconds = 60\nring_files = 3\n").capture.ring_files, 3U);
    // Zero is "off" for everything, also without write.
    EXPECT_TRUE(load_ok("[capture]\nrotate_mb = 0\nrotate_seconds = 0\nring_files = 0\nsnaplen = 0\n"
                        "filter_before_reassembly = no\nwrite =\nfilter =\n") == defaults());
    // A filter alone is fine (it selects what is counted and written).
    EXPECT_EQ(load_ok("[capture]\nfilter = tcp\n").capture.filter, "tcp");
}

TEST_F(ConfigFile, RelativeCaptureWriteIsRelativeToConfigFile) {
    auto r = load_file(write("[capture]\nwrite = out/cap.pcapng\n", "sub/x.ini"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->capture.write, (dir_ / "sub" / "out" / "cap.pcapng").string());
    auto up = load_file(write("[capture]\nwrite = ../cap/./c.pcapng\n", "sub/up.ini"));
    ASSERT_TRUE(up.ok()) << up.error().message;
    EXPECT_EQ(up->capture.write, (dir_ / "cap" / "c.pcapng").string());
    auto abs = load_file(write("[capture]\nwrite = /data/c.pcapng\n", "sub/abs.ini"));
    ASSERT_TRUE(abs.ok()) << abs.error().message;
    EXPECT_EQ(abs->capture.write, "/data/c.pcapng");
    auto empty = load_file(write("[capture]\nwrite =\n", "sub/empty.ini"));
    ASSERT_TRUE(empty.ok()) << empty.error().message;
    EXPECT_TRUE(empty->capture.write.empty());
}

TEST_F(ConfigFile, CaptureCrossChecksNameTheKeys) {
    const std::string path = (dir_ / "x.ini").string();
    EXPECT_EQ(load_error("[capture]\nwrite = c\nring_files = 20\n"),
              path + ": [capture] ring_files: 20 files, but no rotation (set rotate_mb or rotate_seconds too; "
                     "as tcpdump's -W, which needs -C or -G)");
    EXPECT_EQ(load_error("[capture]\nrotate_mb = 1000\n"),
              path + ": [capture] rotate_mb: set without write (rotate_mb, rotate_seconds, ring_files and snaplen "
                     "shape the pcapng output: set write = PATH, or -w/--write PATH)");
    expect_contains_all(load_error("[capture]\nrotate_mb = 1\nrotate_seconds = 2\nring_files = 3\nsnaplen = 64\n"),
                        {"[capture] rotate_mb, rotate_seconds, ring_files, snaplen: set without write"});
    expect_contains_all(load_error("[capture]\nrotate_seconds = 60\n"),
                        {"[capture] rotate_seconds: set without write"});
    expect_contains_all(load_error("[capture]\nsnaplen = 96\n"), {"[capture] snaplen: set without write"});
    // ring_files without rotation is named before the missing write.
    expect_contains_all(load_error("[capture]\nring_files = 2\n"), {"[capture] ring_files", "no rotation"});
    EXPECT_EQ(load_error("[capture]\nfilter_before_reassembly = yes\n"),
              path + ": [capture] filter_before_reassembly: set without a filter (set filter = EXPR, --filter EXPR "
                     "or a filter expression after the options)");
    load_ok("[capture]\nfilter = tcp\nfilter_before_reassembly = yes\n");
}

TEST_F(ConfigFile, RunWorkersAndDispatch) {
    for (const auto& [text, want] : {std::pair{"auto", "auto"}, std::pair{"AUTO", "auto"}, std::pair{"yes", "yes"},
                                     std::pair{"on", "yes"}, std::pair{"1", "yes"}, std::pair{"No", "no"},
                                     std::pair{"false", "no"}}) {
        EXPECT_EQ(load_ok(std::string("[run]\ndispatch = ") + text + "\n").run.dispatch, want) << text;
    }
    // workers = 0: the lcore list is the file's own.
    const Settings own = load_ok("[eal]\nlcores = 0-3\n[run]\nworkers = 0\n");
    EXPECT_EQ(own.run.workers, 0U);
    EXPECT_EQ(own.eal.lcores, "0-3");
}

TEST_F(ConfigFile, WorkersBuildTheLcoreList) {
    const unsigned cpus = online_cpus();
    // The default port is a pcap port: one worker needs no dispatcher, more do.
    const Settings one = load_ok("[run]\nworkers = 1\n");
    EXPECT_EQ(one.run.workers, 1U);
    EXPECT_EQ(one.eal.lcores, worker_lcores(1, false, cpus));
    const Settings two = load_ok("[run]\nworkers = 2\n");
    EXPECT_EQ(two.eal.lcores, worker_lcores(2, true, cpus));
    // vdev ports too; pci ports only give each worker an RSS queue.
    EXPECT_EQ(load_ok("[run]\nworkers = 3\n[port0]\nvdev = net_null0\n").eal.lcores, worker_lcores(3, true, cpus));
    EXPECT_EQ(load_ok("[run]\nworkers = 3\n[port0]\npci = 01:00.0\n[port1]\npci = 01:00.1\n").eal.lcores,
              worker_lcores(3, false, cpus));
    EXPECT_EQ(load_ok("[run]\nworkers = 3\n[port0]\npci = 01:00.0\n[port1]\npcap = generated\n").eal.lcores,
              worker_lcores(3, true, cpus));
    // dispatch decides when it is not auto.
    EXPECT_EQ(load_ok("[run]\nworkers = 3\ndispatch = no\n").eal.lcores, worker_lcores(3, false, cpus));
    EXPECT_EQ(load_ok("[run]\nworkers = 1\ndispatch = yes\n[port0]\npci = 01:00.0\n").eal.lcores,
              worker_lcores(1, true, cpus));
    // The section order does not matter: [run] before the ports it depends on.
    EXPECT_EQ(load_ok("[port0]\nvdev = net_null0\n[run]\nworkers = 4\n").eal.lcores, worker_lcores(4, true, cpus));
    // A default lcores (as in a copy of replay.ini), or the very list workers
    // builds, is fine; the maximum of 64 workers too.
    EXPECT_EQ(load_ok("[eal]\nlcores = 0-1\n[run]\nworkers = 2\n").eal.lcores, worker_lcores(2, true, cpus));
    EXPECT_EQ(load_ok("[eal]\nlcores = " + worker_lcores(2, true, cpus) + "\n[run]\nworkers = 2\n").run.workers,
              2U);
    EXPECT_EQ(load_ok("[run]\nworkers = 64\n").eal.lcores, worker_lcores(64, true, cpus));
}

TEST_F(ConfigFile, WorkersAndOwnLcoresConflict) {
    const std::string msg = load_error("[eal]\nmemory_mb = 64\nlcores = 0-3\n[run]\nworkers = 2\n");
    EXPECT_EQ(msg, (dir_ / "x.ini").string() + ":3: [eal] lcores: '0-3' is set together with [run] workers = 2, "
                                                "which builds the lcore list itself ('" +
                       worker_lcores(2, true, online_cpus()) + "' here): use one or the other");
}

TEST_F(ConfigFile, TcpUpperLimits) {
    const Settings s = load_ok(
        "[tcp]\n"
        "max_flows = 16777216\n"
        "max_segments = 67108864\n"
        "stream_max_segments = 1048576\n"
        "stream_max_bytes = 1099511627776\n"
        "stream_max_ooo_bytes = 1099511627776\n"
        "timeout_syn = 86400.0\n");
    EXPECT_EQ(s.tcp.max_flows, 16777216U);
    EXPECT_EQ(s.tcp.max_segments, 67108864U);
    EXPECT_EQ(s.tcp.stream_max_segments, 1048576U);
    EXPECT_EQ(s.tcp.stream_max_bytes, 1ULL << 40);
    EXPECT_EQ(s.tcp.stream_max_ooo_bytes, 1ULL << 40);
    EXPECT_DOUBLE_EQ(s.tcp.timeout_syn_s, 86400);
}

TEST_F(ConfigFile, TcpKeywordSpellings) {
    EXPECT_EQ(load_ok("[tcp]\noverlap = First\n").tcp.overlap, "first");
    EXPECT_EQ(load_ok("[tcp]\noverlap = LAST\n").tcp.overlap, "last");
    EXPECT_EQ(load_ok("[tcp]\nchecksum = AUTO\n").tcp.checksum, "auto");
    EXPECT_EQ(load_ok("[tcp]\nchecksum = Ignore\n").tcp.checksum, "ignore");
    EXPECT_EQ(load_ok("[tcp]\nchecksum = verify ; comment\n").tcp.checksum, "verify");
    for (const char* t : {"yes", "true", "on", "1"}) {
        EXPECT_TRUE(load_ok(std::string("[tcp]\nenabled = ") + t + "\n").tcp.enabled) << t;
        EXPECT_TRUE(load_ok(std::string("[tcp]\nmidstream = ") + t + "\n").tcp.midstream) << t;
        EXPECT_TRUE(load_ok(std::string("[tcp]\nip_reassembly = ") + t + "\n").tcp.ip_reassembly) << t;
    }
}

TEST_F(ConfigFile, EmptyTcpSectionGivesDefaults) { EXPECT_TRUE(load_ok("[tcp]\n") == defaults()); }

TEST_F(ConfigFile, ValuesAreTrimmedAndCommentsStripped) {
    const Settings s = load_ok("  [ run ]  ; trailing comment\n\tburst   =   64   ; why 64\r\nprogress=no\r\n");
    EXPECT_EQ(s.run.burst, 64);
    EXPECT_FALSE(s.run.progress);
}

TEST_F(ConfigFile, EscapedSemicolonIsKept) {
    const Settings s = load_ok("[eal]\neal_args = --a\\;b\n");
    EXPECT_EQ(s.eal.extra_args, (std::vector<std::string>{"--a;b"}));
}

TEST_F(ConfigFile, HashCommentLinesMayContainAnything) {
    // rte_cfgfile alone would read "# lcores = 9" as a key named "# lcores".
    const Settings s = load_ok("# lcores = 9\n[eal]\n# lcores = 7\nlcores = 0-3\n#[port9]\n");
    EXPECT_EQ(s.eal.lcores, "0-3");
    EXPECT_EQ(s.ports, defaults().ports);
}

TEST_F(ConfigFile, Utf8BomIsIgnored) { EXPECT_EQ(load_ok("\xEF\xBB\xBF[run]\nburst = 8\n").run.burst, 8); }

TEST_F(ConfigFile, BooleanSpellings) {
    for (const char* t : {"yes", "true", "on", "1", "YES", "True", "On"}) {
        EXPECT_TRUE(load_ok(std::string("[run]\nprogress = ") + t + "\n").run.progress) << t;
    }
    for (const char* f : {"no", "false", "off", "0", "NO", "False", "OFF"}) {
        EXPECT_FALSE(load_ok(std::string("[run]\nprogress = ") + f + "\n").run.progress) << f;
    }
}

TEST_F(ConfigFile, TristateSpellings) {
    const auto hp = [&](const char* v) {
        return load_ok(std::string("[eal]\nhugepages = ") + v + "\n").eal.hugepages;
    };
    for (const char* v : {"auto", "AUTO", "automatic", "default"}) EXPECT_EQ(hp(v), Tristate::automatic) << v;
    for (const char* v : {"yes", "on", "true", "1"}) EXPECT_EQ(hp(v), Tristate::on) << v;
    for (const char* v : {"no", "off", "false", "0"}) EXPECT_EQ(hp(v), Tristate::off) << v;
}

TEST_F(ConfigFile, LogLevelNumbersBecomeNames) {
    // DPDK's numbering: RTE_LOG_EMERG = 1 .. RTE_LOG_NOTICE = 6 .. RTE_LOG_DEBUG = 8.
    EXPECT_EQ(load_ok("[eal]\nlog_level = 6\n").eal.log_level, "notice");
    EXPECT_EQ(load_ok("[eal]\nlog_level = 5\n").eal.log_level, "warning");
    EXPECT_EQ(load_ok("[eal]\nlog_level = 1\n").eal.log_level, "emergency");
    EXPECT_EQ(load_ok("[eal]\nlog_level = 8\n").eal.log_level, "debug");
    EXPECT_EQ(load_ok("[eal]\nlog_level = WARNING\n").eal.log_level, "warning");
}

TEST_F(ConfigFile, PciAddressForms) {
    EXPECT_EQ(load_ok("[port0]\npci = 0000:01:00.0\n").ports[0].source, "0000:01:00.0");
    EXPECT_EQ(load_ok("[port0]\npci = 01:00.1\n").ports[0].source, "0000:01:00.1");
    EXPECT_EQ(load_ok("[port0]\npci = 0000:AF:1F.7\n").ports[0].source, "0000:af:1f.7");
    EXPECT_EQ(load_ok("[port0]\npci = 10000:3b:00.0\n").ports[0].source, "10000:3b:00.0");
}

TEST_F(ConfigFile, PortsReplaceDefaultAndAreOrderedByNumber) {
    const Settings s = load_ok(
        "[port7]\nvdev = net_null7\n"
        "[port1]\nvdev = net_null1\n"
        "[port3]\npcap = generated\n");
    ASSERT_EQ(s.ports.size(), 3U);
    EXPECT_EQ(s.ports[0].source, "net_null1");
    EXPECT_EQ(s.ports[1].source, "generated");
    EXPECT_EQ(s.ports[2].source, "net_null7");
}

TEST_F(ConfigFile, NoPortSectionKeepsDefaultPort) {
    EXPECT_EQ(load_ok("[run]\nburst = 16\n").ports, defaults().ports);
}

TEST_F(ConfigFile, RelativePcapIsRelativeToConfigFile) {
    write("", "caps/a.pcap");
    const std::string path = write("[port0]\npcap = caps/a.pcap\n[port1]\npcap = /abs/b.pcap\n"
                                   "[port2]\npcap = generated\n",
                                   "sub/x.ini");
    auto r = load_file(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->ports.size(), 3U);
    EXPECT_EQ(r->ports[0].source, (dir_ / "sub" / "caps" / "a.pcap").string());
    EXPECT_EQ(r->ports[1].source, "/abs/b.pcap");
    EXPECT_EQ(r->ports[2].source, "generated");

    // The config named by a relative path: the pcap is still found next to it,
    // whatever the working directory is.
    write("", "sub/caps/a.pcap");
    const fs::path rel = fs::relative(path);
    ASSERT_TRUE(rel.is_relative()) << rel;
    auto r2 = load_file(rel.string());
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    EXPECT_TRUE(fs::equivalent(r2->ports[0].source, dir_ / "sub" / "caps" / "a.pcap")) << r2->ports[0].source;
}

TEST_F(ConfigFile, RelativeStreamsDirIsRelativeToConfigFile) {
    const std::string path = write("[tcp]\nstreams_dir = out/streams\n", "sub/x.ini");
    auto r = load_file(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->tcp.streams_dir, (dir_ / "sub" / "out" / "streams").string());

    // "../x" and "." are normalised; the directory need not exist yet.
    const std::string up = write("[tcp]\nstreams_dir = ../streams/./a\n", "sub/up.ini");
    auto r_up = load_file(up);
    ASSERT_TRUE(r_up.ok()) << r_up.error().message;
    EXPECT_EQ(r_up->tcp.streams_dir, (dir_ / "streams" / "a").string());

    const std::string abs = write("[tcp]\nstreams_dir = /abs/streams\n", "sub/abs.ini");
    auto r_abs = load_file(abs);
    ASSERT_TRUE(r_abs.ok()) << r_abs.error().message;
    EXPECT_EQ(r_abs->tcp.streams_dir, "/abs/streams");

    // Empty: no output, and no directory made up from the config file's.
    const std::string empty = write("[tcp]\nstreams_dir =\n", "sub/empty.ini");
    auto r_empty = load_file(empty);
    ASSERT_TRUE(r_empty.ok()) << r_empty.error().message;
    EXPECT_TRUE(r_empty->tcp.streams_dir.empty());

    // The config named by a relative path: still next to the file.
    const fs::path rel = fs::relative(path);
    ASSERT_TRUE(rel.is_relative()) << rel;
    auto r2 = load_file(rel.string());
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    EXPECT_EQ(fs::weakly_canonical(r2->tcp.streams_dir), fs::weakly_canonical(dir_ / "sub" / "out" / "streams"))
        << r2->tcp.streams_dir;
}

TEST_F(ConfigFile, LongestAcceptedLine) {
    const std::string value(255, 'a');
    EXPECT_EQ(load_ok("[run]\nstats_json = " + value + "\n").run.stats_json, value);
}

// ------------------------------------------------------------ file-level rejections

TEST_F(ConfigFile, MissingFile) {
    const std::string path = (dir_ / "nope.ini").string();
    auto r = load_file(path);
    ASSERT_FALSE(r.ok());
    expect_contains_all(r.error().message, {path, "cannot open", "No such file"});
}

TEST_F(ConfigFile, DirectoryIsNotAConfigFile) {
    auto r = load_file(dir_.string());
    ASSERT_FALSE(r.ok());
    expect_contains_all(r.error().message, {dir_.string(), "not a regular file"});
}

TEST_F(ConfigFile, DeviceIsNotAConfigFile) {
    auto r = load_file("/dev/null");
    ASSERT_FALSE(r.ok());
    expect_contains_all(r.error().message, {"/dev/null", "not a regular file"});
}

TEST_F(ConfigFile, PipeIsRead) {
    // As with rxinto --config <(sed ... config/pci.ini).
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const std::string text = "[run]\nburst = 128\n";
    ASSERT_EQ(::write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fds[1]);
    auto r = load_file("/proc/self/fd/" + std::to_string(fds[0]));
    ::close(fds[0]);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->run.burst, 128);
}

TEST_F(ConfigFile, TooLargeFile) {
    const std::string msg = load_error("[run]\n" + std::string(2U << 20, ';') + "\n");
    expect_contains_all(msg, {"x.ini", "too large"});
}

TEST_F(ConfigFile, UnreadableFile) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
    const std::string path = write("[run]\n");
    fs::permissions(path, fs::perms::none);
    auto r = load_file(path);
    ASSERT_FALSE(r.ok());
    expect_contains_all(r.error().message, {path, "cannot open", "Permission denied"});
}

// ------------------------------------------------------------ malformed lines (prescan)

struct MalformedCase {
    const char* text;
    const char* line;    ///< ":N:" expected in the message
    const char* reason;  ///< words expected in the message
};

TEST_F(ConfigFile, MalformedLinesNameTheLine) {
    const std::string long_line = "[run]\nstats_json = " + std::string(400, 'x') + "\n";
    const std::string long_key = "[run]\n" + std::string(70, 'k') + " = 1\n";
    const std::string long_value = "[run]\nstats_json = " + std::string(300, 'v') + "\n";
    const MalformedCase cases[] = {
        {"[run]\nburst = 4\ngarbage\n", ":3:", "expected '[section]' or 'key = value'"},
        {"[run\nburst = 4\n", ":1:", "missing ']'"},
        {"[run] burst = 4\n", ":1:", "unexpected text after ']'"},
        {"[]\n", ":1:", "empty section name"},
        {"burst = 4\n[run]\n", ":1:", "outside any section"},
        {"[run]\n= 4\n", ":2:", "missing key"},
        {"[run]\nburst = 4\x01\n", ":2:", "control character 0x01"},
        {long_line.c_str(), ":2:", "line is too long"},
        {long_key.c_str(), ":2:", "too long"},
        {long_value.c_str(), ":2:", "value is too long"},
    };
    for (const MalformedCase& c : cases) {
        const std::string msg = load_error(c.text);
        expect_contains_all(msg, {"x.ini" + std::string(c.line), c.reason});
    }
}

TEST_F(ConfigFile, NulByteInLine) {
    const std::string msg = load_error(std::string("[run]\nburst = 4\0 5\n", 19));
    expect_contains_all(msg, {"x.ini:2:", "control character 0x00"});
}

TEST_F(ConfigFile, DuplicateKey) {
    const std::string msg = load_error("[eal]\nlcores = 0-1\nmemory_mb = 64\nlcores = 0-3\n");
    expect_contains_all(msg, {"x.ini:4:", "[eal] lcores", "duplicate key", "line 2"});
}

TEST_F(ConfigFile, DuplicateSection) {
    const std::string msg = load_error("[run]\nburst = 4\n[eal]\n[run]\nprogress = no\n");
    expect_contains_all(msg, {"x.ini:4:", "[run]", "duplicate section", "line 1"});
}

TEST_F(ConfigFile, DuplicatePortSection) {
    const std::string msg = load_error("[port0]\npcap = generated\n[port0]\nvdev = net_null0\n");
    expect_contains_all(msg, {"x.ini:3:", "[port0]", "duplicate section"});
}

// ------------------------------------------------------------ schema rejections

TEST_F(ConfigFile, UnknownSection) {
    for (const char* name : {"foo", "port32", "port01", "port", "PORT0", "Eal", "TCP", "tcp0", "Capture", "pcapng"}) {
        const std::string msg = load_error(std::string("[run]\nburst = 4\n[") + name + "]\n");
        expect_contains_all(msg, {"x.ini:3:", std::string("[") + name + "]", "unknown section",
                                  "eal, port0..port31, mempool, run, tcp, capture"});
    }
}

TEST_F(ConfigFile, UnknownKey) {
    struct Case {
        const char* section;
        const char* key;
        const char* accepted;
    };
    for (const Case& c : {Case{"eal", "lcore", "lcores, hugepages"}, Case{"port0", "queues", "rx_queues"},
                          Case{"mempool", "size", "mbufs"}, Case{"run", "Burst", "burst, duration"},
                          Case{"tcp", "timeout", "timeout_syn, timeout_established"},
                          Case{"tcp", "max_flow", "max_flows, max_segments"},
                          Case{"tcp", "frag_max_datagrams", "ip_reassembly, mempool_low_water"},
                          Case{"capture", "snap_len", "write, rotate_mb, rotate_seconds, ring_files, snaplen, filter, "
                                                      "filter_before_reassembly"},
                          Case{"run", "worker", "stats_json, dispatch, workers"}}) {
        std::string text = std::string("[") + c.section + "]\n";
        if (std::string(c.section) == "port0") text += "pcap = generated\n";
        text += std::string(c.key) + " = 1\n";
        const std::string msg = load_error(text);
        expect_contains_all(msg, {"x.ini:", std::string("[") + c.section + "] " + c.key, "unknown key", c.accepted});
    }
}

struct BadValue {
    const char* section;
    const char* key;
    const char* value;
    const char* reason;
};

TEST_F(ConfigFile, BadValues) {
    const std::string many_nines(200, '9');
    const BadValue cases[] = {
        {"eal", "lcores", "a-b", "not an lcore list"},
        {"eal", "lcores", "", "empty lcore list"},
        {"eal", "lcores", "0 1", "not an lcore list"},
        {"eal", "hugepages", "maybe", "not auto/yes/no"},
        {"eal", "memory_mb", "15", "'15' is not in 16..1048576"},
        {"eal", "memory_mb", "1048577", "is not in 16..1048576"},
        {"eal", "memory_mb", "abc", "not a number (accepted: 16..1048576)"},
        {"eal", "memory_mb", "-16", "not a number"},
        {"eal", "memory_mb", "0x100", "not a number"},
        {"eal", "memory_mb", "99999999999999999999999", "is not in 16..1048576"},
        {"eal", "memory_mb", "", "empty value"},
        {"eal", "file_prefix", "a/b", "not a file prefix"},
        {"eal", "file_prefix", "", "empty file prefix"},
        {"eal", "in_memory", "maybe", "not a boolean (accepted: yes/no"},
        {"eal", "log_level", "loud", "not a log level"},
        {"eal", "log_level", "9", "not a log level"},
        {"eal", "log_level", "0", "not a log level"},
        {"port0", "pcap", "", "empty pcap path"},
        {"port0", "vdev", "net null0", "not vdev devargs"},
        {"port0", "vdev", ",size=64", "not vdev devargs"},
        {"port0", "pci", "01:00", "not a PCI address"},
        {"port0", "pci", "0000:01:20.0", "not a PCI address"},
        {"port0", "pci", "0000:01:00.8", "not a PCI address"},
        {"port0", "pci", "0000:100:00.0", "not a PCI address"},
        {"port0", "pci", "eth0", "not a PCI address"},
        {"port0", "rx_queues", "1025", "is not in 0..1024"},
        {"port0", "rx_desc", "100", "not a power of two"},
        {"port0", "rx_desc", "32", "is not in 64..16384"},
        {"port0", "rx_desc", "32768", "is not in 64..16384"},
        {"port0", "promiscuous", "2", "not a boolean"},
        {"port0", "rss", "sometimes", "not auto/yes/no"},
        {"port0", "checksum_offload", "x", "not auto/yes/no"},
        {"mempool", "mbufs", "100", "is not 0 or a number in 1023..16777215"},
        {"mempool", "mbufs", "16777216", "is not 0 or a number in 1023..16777215"},
        {"mempool", "cache", "513", "is not in 0..512"},
        {"mempool", "data_room", "255", "is not in 256..65535"},
        {"mempool", "data_room", "65536", "is not in 256..65535"},
        {"mempool", "reassembly_held", "16777216", "is not in 0..16777215"},
        {"run", "burst", "0", "'0' is not in 1..512"},
        {"run", "burst", "513", "is not in 1..512"},
        {"run", "duration", "-1", "not a number of seconds"},
        {"run", "duration", "inf", "not a number of seconds"},
        {"run", "duration", "1e3", "not a number of seconds"},
        {"run", "duration", "1.2.3", "not a number of seconds"},
        {"run", "duration", ".", "not a number of seconds"},
        {"run", "duration", "31536001", "out of range"},
        {"run", "progress", "yep", "not a boolean"},
        {"tcp", "enabled", "maybe", "not a boolean (accepted: yes/no"},
        {"tcp", "enabled", "", "not a boolean"},
        {"tcp", "overlap", "both", "not an overlap policy (accepted: first, last)"},
        {"tcp", "overlap", "", "not an overlap policy"},
        {"tcp", "checksum", "on", "not a checksum mode (accepted: auto, verify, ignore)"},
        {"tcp", "checksum", "automatic", "not a checksum mode"},
        {"tcp", "midstream", "2", "not a boolean"},
        {"tcp", "max_flows", "7", "'7' is not in 8..16777216"},
        {"tcp", "max_flows", "16777217", "is not in 8..16777216"},
        {"tcp", "max_flows", "64k", "not a number (accepted: 8..16777216)"},
        {"tcp", "max_flows", "", "empty value"},
        {"tcp", "max_segments", "63", "is not in 64..67108864"},
        {"tcp", "max_segments", "67108865", "is not in 64..67108864"},
        {"tcp", "stream_max_segments", "0", "is not in 1..1048576"},
        {"tcp", "stream_max_segments", "1048577", "is not in 1..1048576"},
        {"tcp", "stream_max_bytes", "4095", "is not in 4096..1099511627776"},
        {"tcp", "stream_max_bytes", "1099511627777", "is not in 4096..1099511627776"},
        {"tcp", "stream_max_bytes", "99999999999999999999999", "is not in 4096..1099511627776"},
        {"tcp", "stream_max_bytes", "-1", "not a number"},
        {"tcp", "stream_max_ooo_bytes", "0", "is not in 1..1099511627776"},
        {"tcp", "stream_max_ooo_bytes", "1099511627777", "is not in 1..1099511627776"},
        {"tcp", "timeout_syn", "0", "out of range (accepted: seconds, decimal, more than 0, at most 86400)"},
        {"tcp", "timeout_syn", "0.0", "out of range"},
        {"tcp", "timeout_syn", "-1", "not a number of seconds"},
        {"tcp", "timeout_syn", "1e3", "not a number of seconds"},
        {"tcp", "timeout_syn", "nan", "not a number of seconds"},
        {"tcp", "timeout_syn", "", "not a number of seconds"},
        {"tcp", "timeout_established", "86400.5", "out of range"},
        {"tcp", "timeout_established", "inf", "not a number of seconds"},
        {"tcp", "timeout_closing", "1.2.3", "not a number of seconds"},
        {"tcp", "timeout_closing", many_nines.c_str(), "out of range"},
        {"tcp", "timeout_closed", "0", "out of range"},
        {"tcp", "timeout_closed", "5s", "not a number of seconds"},
        {"tcp", "ip_reassembly", "sometimes", "not a boolean"},
        {"tcp", "mempool_low_water", "16777216", "is not in 0..16777215"},
        {"tcp", "mempool_low_water", "-1", "not a number"},
        {"run", "workers", "65", "'65' is not in 0..64"},
        {"run", "workers", "-1", "not a number (accepted: 0..64)"},
        {"run", "workers", "", "empty value"},
        {"run", "dispatch", "sometimes", "'sometimes' is not auto/yes/no (accepted: auto, yes/no"},
        {"run", "dispatch", "", "not auto/yes/no"},
        {"capture", "rotate_mb", "1048577", "'1048577' is not in 0..1048576"},
        {"capture", "rotate_mb", "1G", "not a number (accepted: 0..1048576)"},
        {"capture", "rotate_mb", "-1", "not a number"},
        {"capture", "rotate_seconds", "31536001", "is not in 0..31536000"},
        {"capture", "rotate_seconds", "1.5", "not a number"},
        {"capture", "ring_files", "100001", "is not in 0..100000"},
        {"capture", "ring_files", "", "empty value"},
        {"capture", "snaplen", "63", "'63' is not 0 or a number in 64..262144"},
        {"capture", "snaplen", "1", "is not 0 or a number in 64..262144"},
        {"capture", "snaplen", "262145", "is not 0 or a number in 64..262144"},
        {"capture", "snaplen", "", "is not 0 or a number in 64..262144"},
        {"capture", "filter_before_reassembly", "maybe", "not a boolean (accepted: yes/no"},
    };
    for (const BadValue& c : cases) {
        const bool port = std::string(c.section) == "port0";
        const bool source_key = port && (std::string(c.key) == "pcap" || std::string(c.key) == "vdev" ||
                                         std::string(c.key) == "pci");
        std::string text = std::string("; bad value test\n[") + c.section + "]\n";
        if (port && !source_key) text += "vdev = net_null0\n";
        text += std::string(c.key) + " = " + c.value + "\n";
        const std::string line = port && !source_key ? ":4:" : ":3:";
        const std::string msg = load_error(text);
        expect_contains_all(msg, {"x.ini" + line, std::string("[") + c.section + "] " + c.key, c.reason});
    }
}

TEST_F(ConfigFile, BadValueMessageFormat) {
    EXPECT_EQ(load_error("[run]\nburst = 0\n"), (dir_ / "x.ini").string() + ":2: [run] burst: '0' is not in 1..512");
}

TEST_F(ConfigFile, BadTcpValueMessageFormat) {
    EXPECT_EQ(load_error("[run]\nburst = 4\n[tcp]\nmax_flows = 7\n"),
              (dir_ / "x.ini").string() + ":4: [tcp] max_flows: '7' is not in 8..16777216");
    EXPECT_EQ(load_error("[tcp]\n; why\noverlap = both\n"),
              (dir_ / "x.ini").string() + ":3: [tcp] overlap: 'both' is not an overlap policy (accepted: first, last)");
}

TEST_F(ConfigFile, TcpCrossChecksNameTheFile) {
    const std::string ooo = load_error("[tcp]\nstream_max_bytes = 4096\nstream_max_ooo_bytes = 4097\n");
    expect_contains_all(ooo, {"x.ini: ", "[tcp] stream_max_ooo_bytes", "4097", "more than stream_max_bytes 4096"});
    // The default stream_max_ooo_bytes (8 MiB) is too much for a small stream_max_bytes.
    expect_contains_all(load_error("[tcp]\nstream_max_bytes = 4096\n"), {"[tcp] stream_max_ooo_bytes"});
    const std::string segs = load_error("[tcp]\nmax_segments = 1000\nstream_max_segments = 1001\n");
    expect_contains_all(segs, {"x.ini: ", "[tcp] stream_max_segments", "1001", "more than max_segments 1000"});
    expect_contains_all(load_error("[tcp]\nmax_segments = 64\n"), {"[tcp] stream_max_segments", "4096"});
    const std::string off = load_error("[tcp]\nenabled = no\nstreams_dir = /tmp/s\n");
    expect_contains_all(off, {"x.ini: ", "[tcp] streams_dir", "'/tmp/s'", "reassembly is off"});
    const std::string low = load_error("[mempool]\nmbufs = 2047\n[tcp]\nmempool_low_water = 2047\n");
    expect_contains_all(low, {"[tcp] mempool_low_water", "2047", "not below [mempool] mbufs 2047"});
    // Equal limits are fine, and so is a low-water mark with an automatic pool size.
    load_ok("[tcp]\nstream_max_bytes = 4096\nstream_max_ooo_bytes = 4096\nmax_segments = 4096\n");
    load_ok("[mempool]\nmbufs = 2047\n[tcp]\nmempool_low_water = 2046\n");
    load_ok("[tcp]\nmempool_low_water = 16777215\n");
}

TEST_F(ConfigFile, HugeBadValueIsShortenedInMessage) {
    const std::string msg = load_error("[run]\nburst = " + std::string(200, '9') + "\n");
    expect_contains_all(msg, {"[run] burst", "...", "is not in 1..512"});
    EXPECT_LT(msg.size(), 200U + dir_.string().size());
}

TEST_F(ConfigFile, PortWithTwoSources) {
    const std::string msg = load_error("[port0]\npcap = generated\nvdev = net_null0\n");
    expect_contains_all(msg, {"x.ini:3:", "[port0] vdev", "conflicts with pcap", "exactly one of pcap, vdev, pci"});
}

TEST_F(ConfigFile, PortWithoutSource) {
    const std::string msg = load_error("[port0]\npcap = generated\n[port1]\nrx_queues = 2\n");
    expect_contains_all(msg, {"x.ini:3:", "[port1]", "no packet source", "pcap", "vdev", "pci"});
}

TEST_F(ConfigFile, SameDeviceOnTwoPorts) {
    const std::string msg = load_error("[port0]\nvdev = net_null0\n[port1]\nvdev = net_null0,size=128\n");
    expect_contains_all(msg, {"x.ini", "[port1] vdev", "same device as port0"});
    const std::string msg2 = load_error("[port0]\npci = 0000:01:00.0\n[port1]\npci = 01:00.0\n");
    expect_contains_all(msg2, {"x.ini", "[port1] pci", "same device as port0"});
}

// ------------------------------------------------------------ validate()

TEST(Validate, NoPorts) {
    Settings s = defaults();
    s.ports.clear();
    auto st = validate(s);
    ASSERT_FALSE(st.ok());
    expect_contains_all(st.error().message, {"ports", "none configured"});
}

TEST(Validate, TooManyPorts) {
    Settings s = defaults();
    s.ports.assign(max_ports + 1, PortSettings{});
    auto st = validate(s);
    ASSERT_FALSE(st.ok());
    expect_contains_all(st.error().message, {"ports", "33", "at most 32"});
    s.ports.resize(max_ports);
    EXPECT_TRUE(validate(s).ok());
}

TEST(Validate, NamesTheSetting) {
    struct Case {
        void (*change)(Settings&);
        const char* words;
    };
    const Case cases[] = {
        {[](Settings& s) { s.run.burst = 0; }, "[run] burst"},
        {[](Settings& s) { s.run.burst = 513; }, "[run] burst"},
        {[](Settings& s) { s.run.duration_s = -1; }, "[run] duration"},
        {[](Settings& s) { s.mempool.mbufs = 5; }, "[mempool] mbufs"},
        {[](Settings& s) { s.mempool.cache = 1000; }, "[mempool] cache"},
        {[](Settings& s) { s.mempool.data_room = 100; }, "[mempool] data_room"},
        {[](Settings& s) { s.eal.memory_mb = 1; }, "[eal] memory_mb"},
        {[](Settings& s) { s.eal.lcores = ""; }, "[eal] lcores"},
        {[](Settings& s) { s.eal.file_prefix = "a b"; }, "[eal] file_prefix"},
        {[](Settings& s) { s.eal.log_level = "loud"; }, "[eal] log_level"},
        {[](Settings& s) { s.ports[0].rx_desc = 1000; }, "[port0] rx_desc"},
        {[](Settings& s) { s.ports[0].rx_queues = 2000; }, "[port0] rx_queues"},
        {[](Settings& s) { s.ports[0].source = ""; }, "[port0] pcap"},
        {[](Settings& s) {
             s.ports[0].kind = PortKind::pci;
             s.ports[0].source = "nope";
         },
         "[port0] pci"},
        {[](Settings& s) { s.tcp.max_flows = 7; }, "[tcp] max_flows: '7' is not in 8..16777216"},
        {[](Settings& s) { s.tcp.max_flows = 16777217; }, "[tcp] max_flows"},
        {[](Settings& s) { s.tcp.max_segments = 63; }, "[tcp] max_segments"},
        {[](Settings& s) { s.tcp.stream_max_segments = 0; }, "[tcp] stream_max_segments"},
        {[](Settings& s) { s.tcp.stream_max_bytes = 100; }, "[tcp] stream_max_bytes"},
        {[](Settings& s) { s.tcp.stream_max_ooo_bytes = 0; }, "[tcp] stream_max_ooo_bytes"},
        {[](Settings& s) { s.tcp.mempool_low_water = 16777216; }, "[tcp] mempool_low_water"},
        {[](Settings& s) { s.tcp.timeout_syn_s = 0; }, "[tcp] timeout_syn: 0 is out of range"},
        {[](Settings& s) { s.tcp.timeout_established_s = -1; }, "[tcp] timeout_established"},
        {[](Settings& s) { s.tcp.timeout_closing_s = 86401; }, "[tcp] timeout_closing: 86401 is out of range"},
        {[](Settings& s) { s.tcp.timeout_closed_s = std::numeric_limits<double>::quiet_NaN(); },
         "[tcp] timeout_closed"},
        {[](Settings& s) { s.tcp.timeout_closed_s = std::numeric_limits<double>::infinity(); },
         "[tcp] timeout_closed"},
        {[](Settings& s) { s.tcp.streams_dir = "a\nb"; }, "[tcp] streams_dir"},
    };
    for (const Case& c : cases) {
        Settings s = defaults();
        c.change(s);
        auto st = validate(s);
        ASSERT_FALSE(st.ok()) << c.words;
        expect_contains_all(st.error().message, {c.words});
    }
}

TEST(Validate, NamesTheCaptureAndRunSetting) {
    struct Case {
        void (*change)(Settings&);
        const char* words;
    };
    const Case cases[] = {
        {[](Settings& s) { s.run.workers = 65; }, "[run] workers: '65' is not in 0..64"},
        {[](Settings& s) { s.run.dispatch = "maybe"; }, "[run] dispatch: 'maybe' is not auto/yes/no"},
        {[](Settings& s) { s.run.dispatch = "Yes"; }, "[run] dispatch: 'Yes' must be written in lower case"},
        {[](Settings& s) { s.run.dispatch = "on"; }, "[run] dispatch: 'on' must be written in lower case"},
        {[](Settings& s) { s.run.dispatch = ""; }, "[run] dispatch"},
        {[](Settings& s) { s.capture.write = "a\nb"; }, "[capture] write"},
        {[](Settings& s) {
             s.capture.write = "c";
             s.capture.rotate_mb = 1048577;
         },
         "[capture] rotate_mb: '1048577' is not in 0..1048576"},
        {[](Settings& s) {
             s.capture.write = "c";
             s.capture.rotate_seconds = 31536001;
         },
         "[capture] rotate_seconds"},
        {[](Settings& s) {
             s.capture.write = "c";
             s.capture.rotate_mb = 1;
             s.capture.ring_files = 100001;
         },
         "[capture] ring_files"},
        {[](Settings& s) {
             s.capture.write = "c";
             s.capture.snaplen = 63;
         },
         "[capture] snaplen: '63' is not 0 or a number in 64..262144"},
        {[](Settings& s) {
             s.capture.write = "c";
             s.capture.snaplen = 262145;
         },
         "[capture] snaplen"},
        {[](Settings& s) { s.capture.filter = "tcp\nport 80"; }, "[capture] filter"},
        {[](Settings& s) { s.capture.filter = " tcp"; }, "[capture] filter: ' tcp' must not start or end with spaces"},
        {[](Settings& s) {
             s.capture.write = "c";
             s.capture.ring_files = 3;
         },
         "[capture] ring_files: 3 files, but no rotation"},
        {[](Settings& s) { s.capture.rotate_mb = 1; }, "[capture] rotate_mb: set without write"},
        {[](Settings& s) { s.capture.rotate_seconds = 1; }, "[capture] rotate_seconds: set without write"},
        {[](Settings& s) {
             s.capture.rotate_seconds = 1;
             s.capture.ring_files = 2;
         },
         "[capture] rotate_seconds, ring_files: set without write"},
        {[](Settings& s) { s.capture.snaplen = 64; }, "[capture] snaplen: set without write"},
        {[](Settings& s) { s.capture.filter_before_reassembly = true; },
         "[capture] filter_before_reassembly: set without a filter"},
        // workers set, lcores not the list it builds
        {[](Settings& s) { s.run.workers = 2; }, "[eal] lcores: '0-1' is set together with [run] workers = 2"},
        {[](Settings& s) {
             s.run.workers = 2;
             s.eal.lcores = worker_lcores(2, false, online_cpus());  // a pcap port needs the dispatcher
         },
         "use one or the other"},
    };
    for (const Case& c : cases) {
        Settings s = defaults();
        c.change(s);
        auto st = validate(s);
        ASSERT_FALSE(st.ok()) << c.words;
        expect_contains_all(st.error().message, {c.words});
    }
    // And what is fine.
    Settings s = defaults();
    s.capture.write = "c.pcapng";
    s.capture.rotate_mb = 1048576;
    s.capture.rotate_seconds = 31536000;
    s.capture.ring_files = 100000;
    s.capture.snaplen = 262144;
    s.capture.filter = "tcp port 443";
    s.capture.filter_before_reassembly = true;
    s.run.workers = 64;
    s.run.dispatch = "yes";
    s.eal.lcores = computed_lcores(s);
    EXPECT_TRUE(validate(s).ok()) << validate(s).error().message;
    for (const char* d : {"auto", "yes", "no"}) {
        Settings t = defaults();
        t.run.dispatch = d;
        EXPECT_TRUE(validate(t).ok()) << d;
    }
}

TEST(WorkerLcores, PureFunction) {
    EXPECT_EQ(worker_lcores(2, true, 2), "0@0,1@1,2@0,3@1");  // the example of issue 4
    EXPECT_EQ(worker_lcores(2, false, 2), "0@0,1@1,2@0");
    EXPECT_EQ(worker_lcores(2, false, 4), "0@0,1@1,2@2");
    EXPECT_EQ(worker_lcores(1, false, 1), "0@0,1@0");
    EXPECT_EQ(worker_lcores(1, true, 8), "0@0,1@1,2@2");
    EXPECT_EQ(worker_lcores(3, true, 3), "0@0,1@1,2@2,3@0,4@1");
    EXPECT_EQ(worker_lcores(4, false, 64), "0@0,1@1,2@2,3@3,4@4");
    EXPECT_EQ(worker_lcores(2, false, 0), "0@0,1@0,2@0");  // no CPU count: all on CPU 0
    EXPECT_EQ(worker_lcores(0, true, 4), "");
    // 64 workers and a dispatcher: 66 lcores, each an EAL lcore@cpu pair.
    const std::string big = worker_lcores(64, true, 16);
    EXPECT_EQ(std::count(big.begin(), big.end(), '@'), 66);
    EXPECT_EQ(big.substr(big.rfind(',') + 1), "65@1");
    EXPECT_TRUE(values::parse_lcores(big).ok());
}

TEST(WorkerLcores, NeedsDispatcher) {
    const auto with = [](std::uint32_t workers, const char* dispatch, std::initializer_list<PortKind> kinds) {
        Settings s = defaults();
        s.run.workers = workers;
        s.run.dispatch = dispatch;
        s.ports.clear();
        for (PortKind k : kinds) {
            PortSettings p;
            p.kind = k;
            s.ports.push_back(p);
        }
        return needs_dispatcher(s);
    };
    EXPECT_FALSE(with(0, "auto", {PortKind::pcap}));
    EXPECT_FALSE(with(1, "auto", {PortKind::pcap}));
    EXPECT_TRUE(with(2, "auto", {PortKind::pcap}));
    EXPECT_TRUE(with(2, "auto", {PortKind::vdev}));
    EXPECT_FALSE(with(2, "auto", {PortKind::pci}));
    EXPECT_FALSE(with(64, "auto", {PortKind::pci, PortKind::pci}));
    EXPECT_TRUE(with(2, "auto", {PortKind::pci, PortKind::vdev}));
    EXPECT_TRUE(with(2, "auto", {PortKind::pci, PortKind::pcap}));
    EXPECT_FALSE(with(8, "no", {PortKind::pcap}));
    EXPECT_TRUE(with(1, "yes", {PortKind::pci}));
    EXPECT_FALSE(with(0, "yes", {PortKind::pci}));
    EXPECT_GE(online_cpus(), 1U);
}

TEST(Validate, TcpOverlapAndChecksumMustBeSpelledRight) {
    struct Case {
        void (*change)(Settings&);
        const char* words;
    };
    const Case cases[] = {
        {[](Settings& s) { s.tcp.overlap = "middle"; }, "[tcp] overlap: 'middle' is not an overlap policy"},
        {[](Settings& s) { s.tcp.overlap = ""; }, "[tcp] overlap"},
        {[](Settings& s) { s.tcp.overlap = "First"; }, "[tcp] overlap: 'First' must be written in lower case"},
        {[](Settings& s) { s.tcp.overlap = " last"; }, "[tcp] overlap"},
        {[](Settings& s) { s.tcp.checksum = "off"; }, "[tcp] checksum: 'off' is not a checksum mode"},
        {[](Settings& s) { s.tcp.checksum = "Verify"; }, "[tcp] checksum: 'Verify' must be written in lower case"},
        {[](Settings& s) { s.tcp.checksum = ""; }, "[tcp] checksum"},
    };
    for (const Case& c : cases) {
        Settings s = defaults();
        c.change(s);
        auto st = validate(s);
        ASSERT_FALSE(st.ok()) << c.words;
        expect_contains_all(st.error().message, {c.words});
    }
    for (const char* o : {"first", "last"}) {
        Settings s = defaults();
        s.tcp.overlap = o;
        EXPECT_TRUE(validate(s).ok()) << o;
    }
    for (const char* c : {"auto", "verify", "ignore"}) {
        Settings s = defaults();
        s.tcp.checksum = c;
        EXPECT_TRUE(validate(s).ok()) << c;
    }
}

TEST(Validate, TcpCrossChecks) {
    const auto error = [](void (*change)(Settings&)) {
        Settings s = defaults();
        change(s);
        auto st = validate(s);
        return st.ok() ? std::string() : st.error().message;
    };
    // stream_max_ooo_bytes <= stream_max_bytes
    expect_contains_all(error([](Settings& s) {
                            s.tcp.stream_max_bytes = 1 << 20;
                            s.tcp.stream_max_ooo_bytes = (1 << 20) + 1;
                        }),
                        {"[tcp] stream_max_ooo_bytes: 1048577 is more than stream_max_bytes 1048576"});
    EXPECT_EQ(error([](Settings& s) { s.tcp.stream_max_ooo_bytes = s.tcp.stream_max_bytes; }), "");
    // stream_max_segments <= max_segments
    expect_contains_all(error([](Settings& s) {
                            s.tcp.max_segments = 100;
                            s.tcp.stream_max_segments = 101;
                        }),
                        {"[tcp] stream_max_segments: 101 is more than max_segments 100"});
    EXPECT_EQ(error([](Settings& s) { s.tcp.stream_max_segments = s.tcp.max_segments = 100; }), "");
    // streams_dir needs reassembly
    expect_contains_all(error([](Settings& s) {
                            s.tcp.enabled = false;
                            s.tcp.streams_dir = "out";
                        }),
                        {"[tcp] streams_dir", "reassembly is off"});
    EXPECT_EQ(error([](Settings& s) { s.tcp.enabled = false; }), "");
    EXPECT_EQ(error([](Settings& s) { s.tcp.streams_dir = "out"; }), "");
    // mempool_low_water below an explicit pool size
    expect_contains_all(error([](Settings& s) {
                            s.mempool.mbufs = 4095;
                            s.tcp.mempool_low_water = 5000;
                        }),
                        {"[tcp] mempool_low_water: 5000 is not below [mempool] mbufs 4095"});
    EXPECT_EQ(error([](Settings& s) { s.tcp.mempool_low_water = 5000; }), "");  // mbufs = 0: sized later
}

TEST(SettingsEquality, DetectsEachDifference) {
    const Settings d = defaults();
    Settings s = d;
    EXPECT_TRUE(s == d);
    s.run.duration_s = 1;
    EXPECT_FALSE(s == d);
    s = d;
    s.ports[0].rss = Tristate::on;
    EXPECT_FALSE(s == d);
    s = d;
    s.eal.extra_args.push_back("--x");
    EXPECT_FALSE(s == d);
    s = d;
    s.mempool.reassembly_held = 1;
    EXPECT_FALSE(s == d);
    s = d;
    s.tcp.timeout_closed_s = 6;
    EXPECT_FALSE(s == d);
    s = d;
    s.tcp.streams_dir = "x";
    EXPECT_FALSE(s == d);
    s = d;
    s.run.workers = 1;
    EXPECT_FALSE(s == d);
    s = d;
    s.run.dispatch = "no";
    EXPECT_FALSE(s == d);
    s = d;
    s.capture.filter_before_reassembly = true;
    EXPECT_FALSE(s == d);
    s = d;
    s.capture.snaplen = 64;
    EXPECT_FALSE(s == d);
    s = d;
    s.capture.write = "c";
    EXPECT_FALSE(s == d);
}

// keys() / apply_key(): the INI schema by name, for the Python module's keywords.
TEST(KeysByName, EveryKeyOfTheExampleConfigIsListedAndApplies) {
    const std::vector<KeyInfo> all = keys();
    auto listed = [&](std::string_view section, std::string_view key) {
        return std::any_of(all.begin(), all.end(), [&](const KeyInfo& k) { return k.section == section && k.key == key; });
    };
    EXPECT_TRUE(listed("tcp", "stream_max_bytes"));
    EXPECT_TRUE(listed("tcp", "timeout_closed"));
    EXPECT_TRUE(listed("eal", "memory_mb"));
    EXPECT_TRUE(listed("port", "rx_desc"));
    EXPECT_TRUE(listed("capture", "snaplen"));
    // Every key of config/replay.ini (which documents them all) is in the list.
    std::ifstream f(example("replay.ini"));
    std::string line, section;
    int seen = 0;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == ';' || line[0] == '#') continue;
        if (line[0] == '[') {
            section = line.substr(1, line.find(']') - 1);
            if (section.rfind("port", 0) == 0) section = "port";
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string key = line.substr(0, eq);
        key.erase(key.find_last_not_of(" \t") + 1);
        EXPECT_TRUE(listed(section, key)) << "[" << section << "] " << key;
        ++seen;
    }
    EXPECT_GT(seen, 20);
}

TEST(KeysByName, ApplyKeySetsAsAFileWouldAndNamesErrors) {
    Settings s = defaults();
    s.ports = {PortSettings{}, PortSettings{}};
    ASSERT_TRUE(apply_key(s, "tcp", "stream_max_bytes", "1048576").ok());
    EXPECT_EQ(s.tcp.stream_max_bytes, 1048576U);
    ASSERT_TRUE(apply_key(s, "tcp", "midstream", "no").ok());
    EXPECT_FALSE(s.tcp.midstream);
    ASSERT_TRUE(apply_key(s, "port", "rx_desc", "512").ok());
    EXPECT_EQ(s.ports[0].rx_desc, 512);  // every port
    EXPECT_EQ(s.ports[1].rx_desc, 512);
    auto bad = apply_key(s, "tcp", "max_flows", "3");
    ASSERT_FALSE(bad.ok());
    expect_contains_all(bad.error().message, {"[tcp] max_flows", "3"});
    auto unknown = apply_key(s, "tcp", "no_such_key", "1");
    ASSERT_FALSE(unknown.ok());
    expect_contains_all(unknown.error().message, {"[tcp] no_such_key", "unknown key"});
    EXPECT_FALSE(apply_key(s, "port", "pcap", "x.pcap").ok());  // sources have their own options
    EXPECT_FALSE(apply_key(s, "nosection", "x", "1").ok());
    EXPECT_EQ(s.ports[0].kind, PortKind::pcap);
}

}  // namespace

// ---------------------------------------------------------------- [export]

TEST(ConfigExamples, ReplayIniDocumentsEveryExportKey) {
    std::ifstream in(example("replay.ini"));
    ASSERT_TRUE(in) << example("replay.ini");
    std::string text = "\n";
    for (std::string line; std::getline(in, line);) text += line + "\n";
    const std::size_t exp = text.find("\n[export]\n");
    ASSERT_NE(exp, std::string::npos);
    for (const char* key : {"urls", "node", "streams", "spool_dir", "spool_mb", "wait", "replicas", "ring_mb",
                            "connect_timeout", "require_server"}) {
        EXPECT_NE(text.find("\n" + std::string(key) + " =", exp), std::string::npos) << key;
    }
}

TEST_F(ConfigFile, EveryExportKeyIsRead) {
    const Settings s = load_ok(
        "[export]\nurls = nats://10.0.0.1:4222, nats://h2\nnode = sensor-1\nstreams = yes\n"
        "spool_dir = /var/spool/rx\nspool_mb = 10\nwait = 2.5\nreplicas = 3\nring_mb = 4\n"
        "connect_timeout = 0.5\nrequire_server = no\n");
    EXPECT_EQ(s.export_.urls, "nats://10.0.0.1:4222,nats://h2:4222");
    EXPECT_EQ(s.export_.node, "sensor-1");
    EXPECT_TRUE(s.export_.streams);
    EXPECT_EQ(s.export_.spool_dir, "/var/spool/rx");
    EXPECT_EQ(s.export_.spool_mb, 10U);
    EXPECT_EQ(s.export_.wait_s, 2.5);
    EXPECT_EQ(s.export_.replicas, 3U);
    EXPECT_EQ(s.export_.ring_mb, 4U);
    EXPECT_EQ(s.export_.connect_timeout_s, 0.5);
    EXPECT_FALSE(s.export_.require_server);
}

TEST_F(ConfigFile, RelativeSpoolDirIsRelativeToConfigFile) {
    const std::string path = write("[export]\nurls = nats://h:1\nspool_dir = spool\n", "sub/x.ini");
    auto r = load_file(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->export_.spool_dir, (fs::path(path).parent_path() / "spool").string());
}

TEST_F(ConfigFile, BadExportValues) {
    EXPECT_NE(load_error("[export]\nurls = http://h:4222\n").find("must start with nats://"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:0\n").find("port"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:65536\n").find("port"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:\n").find("port"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h/x\n").find("unexpected character"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://a:1,,nats://b:2\n").find("empty URL"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://::1:4222\n").find("brackets"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\nnode = a.b\n").find("[export] node"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\nreplicas = 6\n").find("[export] replicas"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\nwait = 3601\n").find("[export] wait"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\nconnect_timeout = 0\n").find("connect_timeout"),
              std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\nring_mb = 0\n").find("ring_mb"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\nspool_mb = 0\n").find("spool_mb"), std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\nbogus = 1\n").find("unknown key"), std::string::npos);
}

TEST_F(ConfigFile, ExportCrossChecks) {
    EXPECT_NE(load_error("[export]\nnode = a\nstreams = yes\n").find("node, streams: set without urls"),
              std::string::npos);
    EXPECT_NE(load_error("[export]\nurls = nats://h:1\n[tcp]\nenabled = no\n").find("reassembly"),
              std::string::npos);
    const Settings s = load_ok("[export]\nurls = nats://[::1]:4223,nats://u:p@h\n");
    EXPECT_EQ(s.export_.urls, "nats://[::1]:4223,nats://u:p@h:4222");
}

// ---- [endpoint] ----------------------------------------------------------------

TEST(EndpointSection, ExamplesLoad) {
    for (const char* name : {"endpoint-af_xdp.ini", "endpoint-pci.ini"}) {
        auto r = load_file(example(name));
        ASSERT_TRUE(r.ok()) << name << ": " << r.error().message;
        EXPECT_EQ(r->endpoint.addresses.size(), 2U) << name;
        EXPECT_FALSE(r->endpoint.listen.empty()) << name;
    }
    auto p = load_file(example("endpoint-pci.ini"));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->endpoint.listen, (std::vector<std::uint16_t>{5201, 9000}));
    EXPECT_EQ(p->endpoint.max_connections, 65536U);
}

TEST(EndpointSection, DefaultsAreOff) {
    const Settings d = defaults();
    EXPECT_TRUE(d.endpoint.addresses.empty());
    EXPECT_TRUE(d.endpoint.listen.empty());
    EXPECT_TRUE(d.endpoint.reset_unknown);
    EXPECT_TRUE(d.endpoint.syn_cookies);
}
