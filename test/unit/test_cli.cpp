// parse_cli() / usage() / options(): the rxinto command line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "rxinto/config/cli.hpp"

namespace {

namespace fs = std::filesystem;
using namespace rxinto::config;
using rxinto::Result;

Result<CliOptions> parse(const std::vector<std::string>& args) {
    std::vector<const char*> argv{"rxinto"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return parse_cli(static_cast<int>(argv.size() - 1), argv.data());
}

CliOptions parse_ok(std::vector<std::string> args) {
    auto r = parse(args);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::move(r).value() : CliOptions{};
}

std::string parse_error(std::vector<std::string> args) {
    std::string joined;
    for (const std::string& a : args) joined += " " + a;
    auto r = parse(args);
    EXPECT_FALSE(r.ok()) << "accepted:" << joined;
    return r.ok() ? std::string() : r.error().message;
}

void expect_contains_all(const std::string& message, std::initializer_list<std::string> parts) {
    for (const std::string& p : parts) {
        EXPECT_NE(message.find(p), std::string::npos) << "missing '" << p << "' in: " << message;
    }
}

class CliWithConfig : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "rxinto-test-cli-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
        config_ = (dir_ / "c.ini").string();
        std::ofstream(config_) << "[eal]\nlcores = 0-3\neal_args = --from-file\n"
                                  "[port0]\nvdev = net_null0\n[port1]\nvdev = net_null1\n"
                                  "[run]\nburst = 16\nprogress = no\n";
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    fs::path dir_;
    std::string config_;
};

// ------------------------------------------------------------ basics

TEST(Cli, NoArgumentsGiveDefaults) {
    const CliOptions o = parse_ok({});
    EXPECT_FALSE(o.help);
    EXPECT_FALSE(o.version);
    EXPECT_TRUE(o.config_path.empty());
    EXPECT_TRUE(o.settings == defaults());
}

TEST(Cli, ToleratesEmptyArgv) {
    EXPECT_TRUE(parse_cli(0, nullptr).ok());
    const char* argv[] = {"rxinto", nullptr};
    EXPECT_TRUE(parse_cli(1, argv).ok());
}

TEST(Cli, HelpAndVersion) {
    EXPECT_TRUE(parse_ok({"-h"}).help);
    EXPECT_TRUE(parse_ok({"--help"}).help);
    EXPECT_TRUE(parse_ok({"-V"}).version);
    EXPECT_TRUE(parse_ok({"--version"}).version);
    // --help answers even when other values would be rejected or the file is missing.
    EXPECT_TRUE(parse_ok({"--burst", "0", "--config", "/nonexistent.ini", "--help"}).help);
}

// ------------------------------------------------------------ every option, both forms

struct ValueCase {
    const char* option;
    const char* value;
    std::function<bool(const Settings&)> check;
};

TEST(Cli, EveryValueOptionInBothForms) {
    const ValueCase cases[] = {
        {"--rx-queues", "4", [](const Settings& s) { return s.ports[0].rx_queues == 4; }},
        {"--lcores", "0-3", [](const Settings& s) { return s.eal.lcores == "0-3"; }},
        {"--duration", "1.5", [](const Settings& s) { return s.run.duration_s == 1.5; }},
        {"--stats-json", "out.json", [](const Settings& s) { return s.run.stats_json == "out.json"; }},
        {"--burst", "64", [](const Settings& s) { return s.run.burst == 64; }},
        {"--mbufs", "8191", [](const Settings& s) { return s.mempool.mbufs == 8191; }},
        {"--memory", "512", [](const Settings& s) { return s.eal.memory_mb == 512; }},
        {"--hugepages", "no", [](const Settings& s) { return s.eal.hugepages == Tristate::off; }},
        {"--hugepages", "yes", [](const Settings& s) { return s.eal.hugepages == Tristate::on; }},
        {"--file-prefix", "rx2", [](const Settings& s) { return s.eal.file_prefix == "rx2"; }},
        {"--log-level", "7", [](const Settings& s) { return s.eal.log_level == "info"; }},
        {"--eal", "--huge-unlink",
         [](const Settings& s) { return s.eal.extra_args == std::vector<std::string>{"--huge-unlink"}; }},
        {"--pcap", "a.pcap",
         [](const Settings& s) {
             return s.ports.size() == 1 && s.ports[0].kind == PortKind::pcap && s.ports[0].source == "a.pcap";
         }},
        {"--vdev", "net_null0,size=64",
         [](const Settings& s) {
             return s.ports.size() == 1 && s.ports[0].kind == PortKind::vdev &&
                    s.ports[0].source == "net_null0,size=64";
         }},
        {"--pci", "01:00.0",
         [](const Settings& s) {
             return s.ports.size() == 1 && s.ports[0].kind == PortKind::pci && s.ports[0].source == "0000:01:00.0";
         }},
        {"--streams-dir", "out/streams", [](const Settings& s) { return s.tcp.streams_dir == "out/streams"; }},
        {"--streams-dir", "/abs/streams", [](const Settings& s) { return s.tcp.streams_dir == "/abs/streams"; }},
        {"--overlap", "first", [](const Settings& s) { return s.tcp.overlap == "first"; }},
        {"--overlap", "last", [](const Settings& s) { return s.tcp.overlap == "last"; }},
        {"--overlap", "LAST", [](const Settings& s) { return s.tcp.overlap == "last"; }},
        {"--checksum", "auto", [](const Settings& s) { return s.tcp.checksum == "auto"; }},
        {"--checksum", "verify", [](const Settings& s) { return s.tcp.checksum == "verify"; }},
        {"--checksum", "ignore", [](const Settings& s) { return s.tcp.checksum == "ignore"; }},
        {"--checksum", "Verify", [](const Settings& s) { return s.tcp.checksum == "verify"; }},
        {"--max-flows", "8", [](const Settings& s) { return s.tcp.max_flows == 8; }},
        {"--max-flows", "16777216", [](const Settings& s) { return s.tcp.max_flows == 16777216; }},
        {"--dispatch", "auto", [](const Settings& s) { return s.run.dispatch == "auto"; }},
        {"--dispatch", "yes", [](const Settings& s) { return s.run.dispatch == "yes"; }},
        {"--dispatch", "NO", [](const Settings& s) { return s.run.dispatch == "no"; }},
        {"--dispatch", "off", [](const Settings& s) { return s.run.dispatch == "no"; }},
        {"--workers", "0", [](const Settings& s) { return s.run.workers == 0 && s.eal.lcores == "0-1"; }},
        {"--workers", "3",
         [](const Settings& s) { return s.run.workers == 3 && s.eal.lcores == worker_lcores(3, true, online_cpus()); }},
        {"--workers", "64", [](const Settings& s) { return s.run.workers == 64; }},
        {"--write", "cap.pcapng", [](const Settings& s) { return s.capture.write == "cap.pcapng"; }},
        {"-w", "/data/cap.pcapng", [](const Settings& s) { return s.capture.write == "/data/cap.pcapng"; }},
        {"--filter", "tcp port 443", [](const Settings& s) { return s.capture.filter == "tcp port 443"; }},
        {"--filter", " udp ", [](const Settings& s) { return s.capture.filter == "udp"; }},
    };
    for (const ValueCase& c : cases) {
        const CliOptions separate = parse_ok({c.option, c.value});
        EXPECT_TRUE(c.check(separate.settings)) << c.option << " " << c.value;
        const CliOptions joined = parse_ok({std::string(c.option) + "=" + c.value});
        EXPECT_TRUE(c.check(joined.settings)) << c.option << "=" << c.value;
        EXPECT_TRUE(separate.settings == joined.settings) << c.option;
    }
}

// The capture options that need -w, in every form: --opt V, --opt=V, and for
// the short ones -o V, -oV and -o=V.
TEST(Cli, CaptureOptionsInEveryForm) {
    struct Case {
        const char* long_name;
        char short_name;
        const char* value;
        std::function<bool(const CaptureSettings&)> check;
    };
    const Case cases[] = {
        {"--rotate-size", 'C', "1000", [](const CaptureSettings& c) { return c.rotate_mb == 1000; }},
        {"--rotate-size", 'C', "1048576", [](const CaptureSettings& c) { return c.rotate_mb == 1048576; }},
        {"--rotate-size", 'C', "0", [](const CaptureSettings& c) { return c.rotate_mb == 0; }},
        {"--rotate-seconds", 'G', "3600", [](const CaptureSettings& c) { return c.rotate_seconds == 3600; }},
        {"--rotate-seconds", 'G', "31536000", [](const CaptureSettings& c) { return c.rotate_seconds == 31536000; }},
        {"--snaplen", 's', "0", [](const CaptureSettings& c) { return c.snaplen == 0; }},
        {"--snaplen", 's', "64", [](const CaptureSettings& c) { return c.snaplen == 64; }},
        {"--snaplen", 's', "262144", [](const CaptureSettings& c) { return c.snaplen == 262144; }},
    };
    for (const Case& c : cases) {
        const std::string s(1, c.short_name);
        const std::vector<std::vector<std::string>> forms = {
            {c.long_name, c.value},
            {std::string(c.long_name) + "=" + c.value},
            {"-" + s, c.value},
            {"-" + s + c.value},
            {"-" + s + "=" + c.value},
        };
        Settings first;
        for (std::size_t i = 0; i < forms.size(); ++i) {
            std::vector<std::string> args = {"-w", "cap.pcapng"};
            args.insert(args.end(), forms[i].begin(), forms[i].end());
            const Settings got = parse_ok(args).settings;
            EXPECT_TRUE(c.check(got.capture)) << c.long_name << " form " << i << " " << c.value;
            EXPECT_EQ(got.capture.write, "cap.pcapng");
            if (i == 0) first = got;
            EXPECT_TRUE(got == first) << c.long_name << " form " << i;
        }
    }
    // -W needs rotation.
    for (const std::vector<std::string>& ring :
         {std::vector<std::string>{"--ring-files", "20"}, {"--ring-files=20"}, {"-W", "20"}, {"-W20"}, {"-W=20"}}) {
        std::vector<std::string> args = {"-w", "c", "-C", "1000"};
        args.insert(args.end(), ring.begin(), ring.end());
        EXPECT_EQ(parse_ok(args).settings.capture.ring_files, 20U) << ring[0];
    }
    // -w itself in every form.
    for (const std::vector<std::string>& w :
         {std::vector<std::string>{"-w", "c.pcapng"}, {"-wc.pcapng"}, {"-w=c.pcapng"}, {"--write", "c.pcapng"},
          {"--write=c.pcapng"}, {"-w", " c.pcapng "}}) {
        EXPECT_EQ(parse_ok(w).settings.capture.write, "c.pcapng") << w[0];
    }
    // A value starting with '-' is taken by a short option, as by getopt ("-w -").
    EXPECT_EQ(parse_ok({"-w", "-"}).settings.capture.write, "-");
    // The tcpdump example of issue 4: a ring of 20 files of 1000 MB, whole frames.
    const CaptureSettings ring =
        parse_ok({"-w", "/data/cap.pcapng", "-C", "1000", "-W", "20", "-s", "0"}).settings.capture;
    EXPECT_EQ(ring.write, "/data/cap.pcapng");
    EXPECT_EQ(ring.rotate_mb, 1000U);
    EXPECT_EQ(ring.ring_files, 20U);
    EXPECT_EQ(ring.snaplen, 0U);
    EXPECT_EQ(ring.rotate_seconds, 0U);
    // Only the capture settings change.
    Settings want = defaults();
    want.capture = ring;
    EXPECT_TRUE(parse_ok({"-w/data/cap.pcapng", "-C1000", "-W20", "-s0"}).settings == want);
}

TEST(Cli, CaptureWriteIsKeptAsGiven) {
    EXPECT_EQ(parse_ok({"-w", "../out/c.pcapng"}).settings.capture.write, "../out/c.pcapng");
    EXPECT_TRUE(parse_ok({"--write="}).settings.capture.write.empty());
}

TEST(Cli, FilterBeforeReassembly) {
    EXPECT_TRUE(parse_ok({"--filter", "tcp", "--filter-before-reassembly"}).settings.capture.filter_before_reassembly);
    EXPECT_TRUE(
        parse_ok({"--filter-before-reassembly", "tcp", "port", "80"}).settings.capture.filter_before_reassembly);
    EXPECT_FALSE(parse_ok({"--filter", "tcp"}).settings.capture.filter_before_reassembly);
    expect_contains_all(parse_error({"--filter-before-reassembly"}),
                        {"settings: [capture] filter_before_reassembly: set without a filter"});
    expect_contains_all(parse_error({"--filter-before-reassembly=yes"}),
                        {"--filter-before-reassembly", "takes no value"});
}

// ------------------------------------------------------------ filter words

TEST(CliFilter, TrailingWordsAreTheFilter) {
    EXPECT_EQ(parse_ok({"tcp", "port", "443"}).settings.capture.filter, "tcp port 443");
    EXPECT_EQ(parse_ok({"-w", "c.pcapng", "tcp", "port", "443"}).settings.capture.filter, "tcp port 443");
    // One quoted word works as well as several.
    EXPECT_EQ(parse_ok({"--pcap", "a.pcap", "tcp port 443 or udp"}).settings.capture.filter, "tcp port 443 or udp");
    // Only the filter changes.
    Settings want = defaults();
    want.capture.filter = "host 10.0.0.1 and not port 22";
    EXPECT_TRUE(parse_ok({"host", "10.0.0.1", "and", "not", "port", "22"}).settings == want);
}

TEST(CliFilter, WordsMayStandBetweenOptions) {
    // As tcpdump on Linux (getopt permutes argv): options after the expression
    // are still options.
    const Settings s = parse_ok({"tcp", "-w", "c.pcapng", "port", "80", "--burst", "8", "-s128"}).settings;
    EXPECT_EQ(s.capture.filter, "tcp port 80");
    EXPECT_EQ(s.capture.write, "c.pcapng");
    EXPECT_EQ(s.run.burst, 8);
    EXPECT_EQ(s.capture.snaplen, 128U);
    // A lone "-" is a word (a minus in an expression), not an option.
    EXPECT_EQ(parse_ok({"ip[2:2]", "-", "20", ">", "0"}).settings.capture.filter, "ip[2:2] - 20 > 0");
}

TEST(CliFilter, EverythingAfterDoubleDashIsTheFilter) {
    EXPECT_EQ(parse_ok({"--burst", "8", "--", "tcp", "port", "80"}).settings.capture.filter, "tcp port 80");
    // Also words that look like options.
    const Settings s = parse_ok({"-w", "c", "--", "-w", "--burst", "x"}).settings;
    EXPECT_EQ(s.capture.filter, "-w --burst x");
    EXPECT_EQ(s.capture.write, "c");
    EXPECT_EQ(s.run.burst, defaults().run.burst);
    // Words before and after "--" are one expression.
    EXPECT_EQ(parse_ok({"tcp", "--", "port", "80"}).settings.capture.filter, "tcp port 80");
    // "--" at the end, or a second "--", is part of nothing / a word.
    EXPECT_TRUE(parse_ok({"--burst", "8", "--"}).settings.capture.filter.empty());
    EXPECT_EQ(parse_ok({"--", "a", "--", "b"}).settings.capture.filter, "a -- b");
}

TEST(CliFilter, FilterWordsAndFilterOptionConflict) {
    EXPECT_EQ(parse_error({"--filter", "tcp", "udp"}),
              "--filter: given together with a filter expression after the options ('udp'): use one or the other");
    expect_contains_all(parse_error({"tcp", "port", "80", "--filter=udp"}),
                        {"--filter", "'tcp port 80'", "one or the other"});
    expect_contains_all(parse_error({"--filter", "tcp", "--", "udp"}), {"--filter", "'udp'"});
    // --filter twice: the later wins, as for other options.
    EXPECT_EQ(parse_ok({"--filter", "tcp", "--filter", "udp"}).settings.capture.filter, "udp");
}

TEST(CliFilter, FilterWordsOverrideTheFile) {
    const fs::path dir = fs::temp_directory_path() / ("rxinto-test-cli-filter-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "f.ini").string();
    std::ofstream(path) << "[capture]\nfilter = udp\nfilter_before_reassembly = yes\n";
    EXPECT_EQ(parse_ok({"--config", path}).settings.capture.filter, "udp");
    const Settings s = parse_ok({"--config", path, "tcp", "port", "80"}).settings;
    EXPECT_EQ(s.capture.filter, "tcp port 80");
    EXPECT_TRUE(s.capture.filter_before_reassembly);  // from the file
    EXPECT_EQ(parse_ok({"--filter", "icmp", "--config", path}).settings.capture.filter, "icmp");
    // Emptying the filter leaves the file's filter_before_reassembly without one.
    expect_contains_all(parse_error({"--config", path, "--filter="}),
                        {"filter_before_reassembly: set without a filter", "after applying options to " + path});
    std::error_code ec;
    fs::remove_all(dir, ec);
}

TEST(CliFilter, BadFilterWords) {
    expect_contains_all(parse_error({"tcp", "port\x01"}),
                        {"filter expression: ", "a filter expression cannot contain control characters"});
    expect_contains_all(parse_error({"--filter", "tcp\nport 80"}), {"--filter: ", "cannot contain control characters"});
    // Tabs are spaces to libpcap.
    EXPECT_EQ(parse_ok({"tcp\tport", "80"}).settings.capture.filter, "tcp\tport 80");
}

// ------------------------------------------------------------ --workers

TEST(CliWorkers, LcoreListByPortKinds) {
    const unsigned cpus = online_cpus();
    struct Case {
        std::vector<std::string> args;
        unsigned workers;
        bool dispatcher;
    };
    const Case cases[] = {
        // The default port is the generated pcap: one worker needs no dispatcher.
        {{"--workers", "1"}, 1, false},
        {{"--workers", "2"}, 2, true},
        {{"--workers=4", "--pcap", "a.pcap"}, 4, true},
        {{"--vdev", "net_null0", "--workers", "2"}, 2, true},
        {{"--vdev", "net_null0", "--workers", "1"}, 1, false},
        // pci only: the workers poll RSS queues, lcores = N + 1.
        {{"--pci", "01:00.0", "--workers", "4"}, 4, false},
        {{"--pci", "01:00.0", "--pci", "02:00.0", "--workers", "8"}, 8, false},
        // Any pcap or vdev port among pci ports needs the dispatcher.
        {{"--pci", "01:00.0", "--vdev", "net_null0", "--workers", "2"}, 2, true},
        {{"--workers", "2", "--pci", "01:00.0", "--pcap", "generated"}, 2, true},
        // --dispatch decides when not auto, wherever it stands.
        {{"--workers", "3", "--dispatch", "no"}, 3, false},
        {{"--dispatch=yes", "--pci", "01:00.0", "--workers", "1"}, 1, true},
        {{"--pci", "01:00.0", "--workers", "2", "--dispatch", "auto"}, 2, false},
    };
    for (const Case& c : cases) {
        const Settings s = parse_ok(c.args).settings;
        EXPECT_EQ(s.run.workers, c.workers) << c.args[0];
        EXPECT_EQ(s.eal.lcores, worker_lcores(c.workers, c.dispatcher, cpus)) << c.args[0] << " " << c.args[1];
        EXPECT_EQ(std::count(s.eal.lcores.begin(), s.eal.lcores.end(), '@'),
                  static_cast<long>(1 + c.workers + (c.dispatcher ? 1 : 0)));
    }
}

TEST(CliWorkers, WorkersAndLcoresConflict) {
    EXPECT_EQ(parse_error({"--workers", "2", "--lcores", "0-3"}),
              "--workers: cannot be used with --lcores (--workers N builds the lcore list itself: use one or the "
              "other)");
    expect_contains_all(parse_error({"--lcores=0-3", "--workers=0"}), {"--workers", "--lcores", "one or the other"});
}

TEST_F(CliWithConfig, WorkersOverrideTheFileLcores) {
    // The file has lcores = 0-3 and two vdev ports: --workers replaces the list.
    const Settings s = parse_ok({"--config", config_, "--workers", "2"}).settings;
    EXPECT_EQ(s.run.workers, 2U);
    EXPECT_EQ(s.eal.lcores, worker_lcores(2, true, online_cpus()));
    // --pci ports given on the command line replace the file's vdevs: no dispatcher.
    EXPECT_EQ(parse_ok({"--workers", "2", "--config", config_, "--pci", "01:00.0"}).settings.eal.lcores,
              worker_lcores(2, false, online_cpus()));
}

TEST_F(CliWithConfig, FileWorkersAndCommandLine) {
    const std::string path = (dir_ / "w.ini").string();
    std::ofstream(path) << "[run]\nworkers = 3\n[port0]\npci = 01:00.0\n";
    const unsigned cpus = online_cpus();
    const Settings file = parse_ok({"--config", path}).settings;
    EXPECT_EQ(file.run.workers, 3U);
    EXPECT_EQ(file.eal.lcores, worker_lcores(3, false, cpus));
    // Ports from the command line: the list is built again for them.
    EXPECT_EQ(parse_ok({"--config", path, "--vdev", "net_null0"}).settings.eal.lcores, worker_lcores(3, true, cpus));
    EXPECT_EQ(parse_ok({"--config", path, "--dispatch", "yes"}).settings.eal.lcores, worker_lcores(3, true, cpus));
    // --workers N overrides the file's.
    EXPECT_EQ(parse_ok({"--config", path, "--workers", "5"}).settings.eal.lcores, worker_lcores(5, false, cpus));
    // --lcores on the command line drops the file's workers.
    const Settings own = parse_ok({"--config", path, "--lcores", "0-2"}).settings;
    EXPECT_EQ(own.run.workers, 0U);
    EXPECT_EQ(own.eal.lcores, "0-2");
    // --workers 0: back to the default lcore list (the file's was built from its workers).
    const Settings zero = parse_ok({"--config", path, "--workers", "0"}).settings;
    EXPECT_EQ(zero.run.workers, 0U);
    EXPECT_EQ(zero.eal.lcores, "0-1");
    // A file with both is an error, naming the file and the lcores line.
    const std::string both = (dir_ / "both.ini").string();
    std::ofstream(both) << "[eal]\nlcores = 0-5\n[run]\nworkers = 3\n";
    expect_contains_all(parse_error({"--config", both}),
                        {"both.ini:2: [eal] lcores: '0-5' is set together with [run] workers = 3", "one or the other"});
}

TEST(Cli, Flags) {
    EXPECT_EQ(parse_ok({"--no-huge"}).settings.eal.hugepages, Tristate::off);
    EXPECT_TRUE(parse_ok({"--in-memory"}).settings.eal.in_memory);
    EXPECT_FALSE(parse_ok({"--no-progress"}).settings.run.progress);
    EXPECT_FALSE(parse_ok({"-q"}).settings.run.progress);
    EXPECT_FALSE(parse_ok({"--quiet"}).settings.run.progress);
    EXPECT_FALSE(parse_ok({"--no-midstream"}).settings.tcp.midstream);
    EXPECT_FALSE(parse_ok({"--no-tcp"}).settings.tcp.enabled);
}

TEST(Cli, TcpFlagsChangeOnlyTheirField) {
    Settings want = defaults();
    want.tcp.midstream = false;
    EXPECT_TRUE(parse_ok({"--no-midstream"}).settings == want);
    want = defaults();
    want.tcp.enabled = false;
    EXPECT_TRUE(parse_ok({"--no-tcp"}).settings == want);
    want = defaults();
    want.tcp.max_flows = 1000;
    EXPECT_TRUE(parse_ok({"--max-flows=1000"}).settings == want);
}

TEST(Cli, StreamsDirIsKeptAsGiven) {
    // On the command line a relative directory is relative to the working
    // directory (as --pcap and --stats-json), so it is not rewritten.
    EXPECT_EQ(parse_ok({"--streams-dir", "../out"}).settings.tcp.streams_dir, "../out");
    EXPECT_EQ(parse_ok({"--streams-dir", " out "}).settings.tcp.streams_dir, "out");
    // Empty: write nothing (undoes a streams_dir from a config file).
    EXPECT_TRUE(parse_ok({"--streams-dir="}).settings.tcp.streams_dir.empty());
}

TEST(Cli, ValueMayContainEqualsSign) {
    EXPECT_EQ(parse_ok({"--vdev=net_pcap0,rx_pcap=a.pcap"}).settings.ports[0].source, "net_pcap0,rx_pcap=a.pcap");
    EXPECT_EQ(parse_ok({"--eal=--vdev=net_null9"}).settings.eal.extra_args,
              (std::vector<std::string>{"--vdev=net_null9"}));
}

TEST(Cli, RepeatedPortOptionsKeepTheirOrder) {
    const Settings s = parse_ok({"--pcap", "a.pcap", "--vdev", "net_null0", "--pci", "0000:02:00.1", "--pcap=generated"})
                           .settings;
    ASSERT_EQ(s.ports.size(), 4U);
    EXPECT_EQ(s.ports[0].kind, PortKind::pcap);
    EXPECT_EQ(s.ports[0].source, "a.pcap");  // relative to the working directory, as given
    EXPECT_EQ(s.ports[1].kind, PortKind::vdev);
    EXPECT_EQ(s.ports[2].kind, PortKind::pci);
    EXPECT_EQ(s.ports[2].source, "0000:02:00.1");
    EXPECT_EQ(s.ports[3].source, "generated");
}

TEST(Cli, RxQueuesCoversPortsGivenAfterIt) {
    const Settings s = parse_ok({"--rx-queues", "2", "--vdev", "net_null0", "--vdev", "net_null1"}).settings;
    ASSERT_EQ(s.ports.size(), 2U);
    EXPECT_EQ(s.ports[0].rx_queues, 2);
    EXPECT_EQ(s.ports[1].rx_queues, 2);
}

TEST(Cli, EalIsRepeatableAndTakesDashValues) {
    const Settings s = parse_ok({"--eal", "--huge-unlink", "--eal=-n4", "--eal", "--no-telemetry"}).settings;
    EXPECT_EQ(s.eal.extra_args, (std::vector<std::string>{"--huge-unlink", "-n4", "--no-telemetry"}));
}

TEST(Cli, LaterOptionWins) {
    EXPECT_EQ(parse_ok({"--burst", "8", "--burst", "16"}).settings.run.burst, 16);
    EXPECT_EQ(parse_ok({"--no-huge", "--hugepages", "auto"}).settings.eal.hugepages, Tristate::automatic);
}

TEST(Cli, EndOfOptions) {
    EXPECT_TRUE(parse({"--burst", "8", "--"}).ok());
    // After "--" the words are the filter expression (CliFilter tests).
    EXPECT_EQ(parse_ok({"--", "x"}).settings.capture.filter, "x");
}

// ------------------------------------------------------------ with a config file

TEST_F(CliWithConfig, ConfigIsLoaded) {
    const CliOptions o = parse_ok({"--config", config_});
    EXPECT_EQ(o.config_path, config_);
    EXPECT_EQ(o.settings.eal.lcores, "0-3");
    EXPECT_EQ(o.settings.run.burst, 16);
    ASSERT_EQ(o.settings.ports.size(), 2U);
    EXPECT_EQ(o.settings.ports[1].source, "net_null1");
}

TEST_F(CliWithConfig, OverridesKeepTheRestOfTheFile) {
    const Settings s = parse_ok({"--config=" + config_, "--burst", "64", "--eal", "--extra"}).settings;
    EXPECT_EQ(s.run.burst, 64);
    EXPECT_EQ(s.eal.lcores, "0-3");    // from the file
    EXPECT_FALSE(s.run.progress);       // from the file
    EXPECT_EQ(s.eal.extra_args, (std::vector<std::string>{"--from-file", "--extra"}));  // appended
    EXPECT_EQ(s.ports.size(), 2U);
}

TEST_F(CliWithConfig, ConfigPositionDoesNotMatter) {
    const Settings before = parse_ok({"--config", config_, "--burst", "64", "--lcores", "0-1"}).settings;
    const Settings after = parse_ok({"--burst", "64", "--lcores", "0-1", "--config", config_}).settings;
    const Settings middle = parse_ok({"--burst", "64", "--config=" + config_, "--lcores", "0-1"}).settings;
    EXPECT_EQ(after.run.burst, 64);
    EXPECT_EQ(after.eal.lcores, "0-1");
    EXPECT_TRUE(before == after);
    EXPECT_TRUE(before == middle);
}

TEST_F(CliWithConfig, PortOptionsReplaceTheFilePorts) {
    const Settings s = parse_ok({"--config", config_, "--pcap", "x.pcap"}).settings;
    ASSERT_EQ(s.ports.size(), 1U);
    EXPECT_EQ(s.ports[0].source, "x.pcap");
    const Settings q = parse_ok({"--rx-queues", "3", "--config", config_}).settings;
    ASSERT_EQ(q.ports.size(), 2U);
    EXPECT_EQ(q.ports[0].rx_queues, 3);
    EXPECT_EQ(q.ports[1].rx_queues, 3);
}

TEST_F(CliWithConfig, TcpOptionsOverrideTheFile) {
    const std::string path = (dir_ / "sub" / "tcp.ini").string();
    fs::create_directories(dir_ / "sub");
    std::ofstream(path) << "[tcp]\nstreams_dir = streams\noverlap = last\nchecksum = ignore\n"
                           "midstream = yes\nmax_flows = 100\ntimeout_syn = 3\n";
    const Settings file = parse_ok({"--config", path}).settings;
    EXPECT_EQ(file.tcp.streams_dir, (dir_ / "sub" / "streams").string());  // next to the file
    EXPECT_EQ(file.tcp.overlap, "last");
    EXPECT_EQ(file.tcp.max_flows, 100U);

    const Settings s = parse_ok({"--overlap", "first", "--config", path, "--checksum=verify", "--max-flows",
                                 "200", "--no-midstream", "--streams-dir", "here"})
                           .settings;
    EXPECT_EQ(s.tcp.overlap, "first");
    EXPECT_EQ(s.tcp.checksum, "verify");
    EXPECT_EQ(s.tcp.max_flows, 200U);
    EXPECT_FALSE(s.tcp.midstream);
    EXPECT_EQ(s.tcp.streams_dir, "here");  // the option's own, as given
    EXPECT_DOUBLE_EQ(s.tcp.timeout_syn_s, 3);  // from the file

    // --no-tcp with the file's streams_dir: an error naming the file; clearing
    // the directory as well makes it a packet count.
    expect_contains_all(parse_error({"--config", path, "--no-tcp"}),
                        {"[tcp] streams_dir", "reassembly is off", "after applying options to " + path});
    const Settings counting = parse_ok({"--config", path, "--no-tcp", "--streams-dir="}).settings;
    EXPECT_FALSE(counting.tcp.enabled);
    EXPECT_TRUE(counting.tcp.streams_dir.empty());
}

TEST_F(CliWithConfig, BadTcpConfigIsReported) {
    std::ofstream((dir_ / "bad.ini").string()) << "[tcp]\n\nchecksum = sometimes\n";
    expect_contains_all(parse_error({"--config", (dir_ / "bad.ini").string()}),
                        {"bad.ini:3:", "[tcp] checksum", "not a checksum mode"});
    std::ofstream((dir_ / "segs.ini").string()) << "[tcp]\nmax_segments = 64\n";
    expect_contains_all(parse_error({"--config", (dir_ / "segs.ini").string()}),
                        {"segs.ini: [tcp] stream_max_segments: 4096 is more than max_segments 64"});
}

TEST_F(CliWithConfig, BadConfigFileIsReported) {
    std::ofstream((dir_ / "bad.ini").string()) << "[run]\nburst = 0\n";
    const std::string msg = parse_error({"--config", (dir_ / "bad.ini").string()});
    expect_contains_all(msg, {"bad.ini:2:", "[run] burst", "not in 1..512"});
    expect_contains_all(parse_error({"--config", (dir_ / "missing.ini").string()}), {"missing.ini", "cannot open"});
}

TEST_F(CliWithConfig, ConfigTwiceIsAnError) {
    expect_contains_all(parse_error({"--config", config_, "--config", config_}), {"--config", "more than once"});
    expect_contains_all(parse_error({"--config="}), {"--config", "empty"});
}

// ------------------------------------------------------------ errors

TEST(CliErrors, UnknownOptions) {
    expect_contains_all(parse_error({"--bogus"}), {"unknown option", "'--bogus'"});
    expect_contains_all(parse_error({"--bogus=1"}), {"unknown option", "'--bogus'"});
    expect_contains_all(parse_error({"-x"}), {"unknown option", "'-x'"});
    expect_contains_all(parse_error({"-burst", "4"}), {"unknown option", "'-burst'", "two dashes"});
}

TEST(CliErrors, StrayWordsAreTheFilter) {
    // What used to be "unexpected argument" is a filter word now, as with
    // tcpdump; libpcap judges the syntax when the filter is compiled.
    EXPECT_EQ(parse_ok({"capture.pcap"}).settings.capture.filter, "capture.pcap");
    EXPECT_EQ(parse_ok({"--burst", "4", "5"}).settings.capture.filter, "5");
    EXPECT_EQ(parse_ok({"-"}).settings.capture.filter, "-");
}

TEST(CliErrors, ShortOptions) {
    expect_contains_all(parse_error({"-w"}), {"-w: missing value (FILE)"});
    expect_contains_all(parse_error({"-C"}), {"-C: missing value (MB)"});
    expect_contains_all(parse_error({"-G"}), {"-G: missing value (SECONDS)"});
    expect_contains_all(parse_error({"-W"}), {"-W: missing value (N)"});
    expect_contains_all(parse_error({"-s"}), {"-s: missing value (BYTES)"});
    expect_contains_all(parse_error({"-w", "--burst", "4"}), {"-w: missing value"});
    // Messages name the option as given.
    EXPECT_EQ(parse_error({"-s", "10"}),
              "-s: '10' is not 0 or a number in 64..262144 (bytes of each frame written; 0 = the whole frame, "
              "as tcpdump -s 0)");
    expect_contains_all(parse_error({"-s10"}), {"-s: '10' is not 0"});
    expect_contains_all(parse_error({"-C=x"}), {"-C: 'x' is not a number"});
    expect_contains_all(parse_error({"--snaplen", "10"}), {"--snaplen: '10' is not 0"});
    // Flags take nothing attached; unknown letters stay unknown.
    expect_contains_all(parse_error({"-qw", "x"}), {"unknown option", "'-qw'", "two dashes"});
    expect_contains_all(parse_error({"-hx"}), {"unknown option", "'-hx'"});
    expect_contains_all(parse_error({"-c", "5"}), {"unknown option", "'-c'"});
    expect_contains_all(parse_error({"-xyz"}), {"unknown option", "'-xyz'", "two dashes"});
}

TEST(CliErrors, MissingValue) {
    for (const OptionInfo& o : options()) {
        if (o.metavar.empty()) continue;
        const std::string name = "--" + std::string(o.long_name);
        expect_contains_all(parse_error({name}), {name + ": missing value"});
    }
    // A following option is not taken as the value (except by --eal).
    expect_contains_all(parse_error({"--pcap", "--burst", "4"}), {"--pcap: missing value"});
}

TEST(CliErrors, FlagWithValue) {
    expect_contains_all(parse_error({"--in-memory=yes"}), {"--in-memory", "takes no value"});
    expect_contains_all(parse_error({"--help=1"}), {"--help", "takes no value"});
    expect_contains_all(parse_error({"--no-tcp=yes"}), {"--no-tcp", "takes no value"});
    expect_contains_all(parse_error({"--no-midstream=1"}), {"--no-midstream", "takes no value"});
}

TEST(CliErrors, BadValues) {
    struct Case {
        const char* option;
        const char* value;
        const char* reason;
    };
    const Case cases[] = {
        {"--burst", "0", "'0' is not in 1..512"},
        {"--burst", "x", "not a number"},
        {"--mbufs", "5", "is not 0 or a number in 1023..16777215"},
        {"--memory", "1", "is not in 16..1048576"},
        {"--hugepages", "maybe", "not auto/yes/no"},
        {"--rx-queues", "2000", "is not in 0..1024"},
        {"--duration", "soon", "not a number of seconds"},
        {"--duration", "-5", "not a number of seconds"},
        {"--lcores", "all", "not an lcore list"},
        {"--file-prefix", "a/b", "not a file prefix"},
        {"--log-level", "loud", "not a log level"},
        {"--pci", "1:2", "not a PCI address"},
        {"--vdev", "net null", "not vdev devargs"},
        {"--pcap", "", "empty pcap path"},
        {"--eal", "", "empty argument"},
        {"--overlap", "both", "'both' is not an overlap policy (accepted: first, last)"},
        {"--overlap", "", "not an overlap policy"},
        {"--checksum", "on", "'on' is not a checksum mode (accepted: auto, verify, ignore)"},
        {"--checksum", "", "not a checksum mode"},
        {"--max-flows", "7", "'7' is not in 8..16777216"},
        {"--max-flows", "16777217", "is not in 8..16777216"},
        {"--max-flows", "lots", "not a number (accepted: 8..16777216)"},
        {"--streams-dir", "a\tb\nc", "cannot contain control characters"},
        {"--workers", "65", "'65' is not in 0..64"},
        {"--workers", "-1", "not a number (accepted: 0..64)"},
        {"--workers", "", "empty value"},
        {"--dispatch", "maybe", "'maybe' is not auto/yes/no"},
        {"--dispatch", "", "not auto/yes/no"},
        {"--write", "a\nb", "a file path cannot contain control characters"},
        {"--rotate-size", "1048577", "'1048577' is not in 0..1048576"},
        {"--rotate-size", "1G", "not a number (accepted: 0..1048576)"},
        {"--rotate-seconds", "31536001", "is not in 0..31536000"},
        {"--rotate-seconds", "1h", "not a number"},
        {"--ring-files", "100001", "is not in 0..100000"},
        {"--snaplen", "63", "is not 0 or a number in 64..262144"},
        {"--snaplen", "262145", "is not 0 or a number in 64..262144"},
        {"--filter", "a\x7f", "a filter expression cannot contain control characters"},
    };
    for (const Case& c : cases) {
        const std::string msg = parse_error({c.option, c.value});
        expect_contains_all(msg, {std::string(c.option) + ": ", c.reason});
    }
    EXPECT_EQ(parse_error({"--burst", "0"}), "--burst: '0' is not in 1..512");
}

TEST(CliErrors, CrossFieldValidation) {
    std::vector<std::string> many;
    for (int i = 0; i < 33; ++i) many.push_back("--vdev=net_null" + std::to_string(i));
    expect_contains_all(parse_error(many), {"--vdev", "too many ports", "32"});
    expect_contains_all(parse_error({"--vdev", "net_null0", "--vdev", "net_null0,size=1"}),
                        {"[port1] vdev", "same device as port0"});
    // Streams need reassembly, whatever the order of the two options.
    expect_contains_all(parse_error({"--no-tcp", "--streams-dir", "out"}),
                        {"settings: ", "[tcp] streams_dir", "reassembly is off"});
    expect_contains_all(parse_error({"--streams-dir=out", "--no-tcp"}), {"[tcp] streams_dir", "--no-tcp"});
    // Capture: rotation, ring and snaplen need -w; the ring needs rotation.
    expect_contains_all(parse_error({"-C", "100"}),
                        {"settings: ", "[capture] rotate_mb: set without write", "-w/--write"});
    expect_contains_all(parse_error({"-G", "60"}), {"[capture] rotate_seconds: set without write"});
    expect_contains_all(parse_error({"-s", "96"}), {"[capture] snaplen: set without write"});
    expect_contains_all(parse_error({"-w", "c", "-W", "3"}),
                        {"[capture] ring_files: 3 files, but no rotation", "-C or -G"});
    expect_contains_all(parse_error({"-W", "3", "-C", "10"}), {"[capture] rotate_mb, ring_files: set without write"});
    EXPECT_TRUE(parse({"-w", "c", "-G", "60", "-W", "3"}).ok());
    // --workers with more than the dispatcher can feed is the app's to refuse;
    // 64 (the most) is accepted here.
    EXPECT_TRUE(parse({"--workers", "64", "--dispatch", "yes"}).ok());
}

// ------------------------------------------------------------ usage

TEST(Usage, ListsEveryOption) {
    const std::string u = usage();
    for (const OptionInfo& o : options()) {
        std::string shown = "--" + std::string(o.long_name);
        if (!o.metavar.empty()) shown += " " + std::string(o.metavar);
        EXPECT_NE(u.find(shown), std::string::npos) << "usage() misses " << shown;
        if (o.short_name != 0) {
            EXPECT_NE(u.find(std::string("-") + o.short_name + ", --"), std::string::npos) << o.long_name;
        }
        EXPECT_FALSE(o.help.empty()) << o.long_name;
        EXPECT_NE(u.find(std::string(o.help.substr(0, o.help.find('\n')))), std::string::npos) << o.long_name;
    }
}

TEST(Usage, EveryListedOptionIsAccepted) {
    for (const OptionInfo& o : options()) {
        const std::string name = "--" + std::string(o.long_name);
        const auto r = parse(o.metavar.empty() ? std::vector<std::string>{name}
                                               : std::vector<std::string>{name + "="});
        // Empty values are rejected by most options, but never as "unknown option".
        if (!r.ok()) {
            EXPECT_EQ(r.error().message.find("unknown option"), std::string::npos) << r.error().message;
        }
    }
}

TEST(Usage, ExplainsDefaultsFallbackAndExitCodes) {
    const std::string u = usage();
    expect_contains_all(u, {"Usage: rxinto", "config/replay.ini", "generated capture", "--no-huge",
                            "no free hugepages", "Exit status", "0 success", "2 bad usage or configuration",
                            "1 runtime failure", "--opt VALUE or --opt=VALUE"});
    // The intro says what rxinto does with TCP.
    expect_contains_all(u, {"TCP streams are reassembled", "--no-tcp: count packets only", "with --streams-dir",
                            "written out", "DIR/index.jsonl"});
    // Lines fit an 80-column terminal.
    std::size_t start = 0;
    while (start < u.size()) {
        const std::size_t end = u.find('\n', start);
        const std::size_t len = (end == std::string::npos ? u.size() : end) - start;
        EXPECT_LE(len, 80U) << u.substr(start, len);
        start = end == std::string::npos ? u.size() : end + 1;
    }
}

TEST(Usage, CaptureGroupAndFilterWords) {
    const std::string u = usage();
    expect_contains_all(u, {"Usage: rxinto [OPTIONS] [FILTER EXPRESSION]", "-o VALUE, -oVALUE or -o=VALUE",
                            "libpcap syntax", "after '--'", "1 MB = 1,000,000 bytes", "tcpdump -s 0", "lcore@cpu"});
    // The tcpdump-like options are listed under their heading, in tcpdump's letters.
    const std::size_t group = u.find("\nCapture, as tcpdump");
    ASSERT_NE(group, std::string::npos) << u;
    const std::size_t next_group = u.find("\nTCP reassembly:", group);
    ASSERT_NE(next_group, std::string::npos);
    for (const char* shown : {"-w, --write FILE", "-C, --rotate-size MB", "-G, --rotate-seconds SECONDS",
                              "-W, --ring-files N", "-s, --snaplen BYTES", "--filter EXPR",
                              "--filter-before-reassembly"}) {
        const std::size_t at = u.find(shown);
        EXPECT_TRUE(at > group && at < next_group) << shown;
    }
    // Headings are not options.
    for (const OptionInfo& o : options()) EXPECT_FALSE(o.long_name.empty());
    expect_contains_all(parse_error({"--=x"}), {"unknown option", "'--'"});
}

TEST(Usage, OptionsAreUnique) {
    const std::vector<OptionInfo> all = options();
    for (std::size_t i = 0; i < all.size(); ++i) {
        for (std::size_t j = i + 1; j < all.size(); ++j) {
            EXPECT_NE(all[i].long_name, all[j].long_name);
            if (all[i].short_name != 0) {
                EXPECT_NE(all[i].short_name, all[j].short_name);
            }
        }
    }
}

}  // namespace

TEST(CliExport, Options) {
    const CliOptions o = parse_ok({"--export", "nats://127.0.0.1:4222,nats://127.0.0.1:4223", "--node", "n1",
                                   "--export-streams", "--export-spool", "sp", "--export-spool-mb", "5",
                                   "--export-wait", "3", "--export-replicas", "1"});
    const ExportSettings& x = o.settings.export_;
    EXPECT_EQ(x.urls, "nats://127.0.0.1:4222,nats://127.0.0.1:4223");
    EXPECT_EQ(x.node, "n1");
    EXPECT_TRUE(x.streams);
    EXPECT_EQ(x.spool_dir, "sp");
    EXPECT_EQ(x.spool_mb, 5U);
    EXPECT_EQ(x.wait_s, 3.0);
    EXPECT_EQ(x.replicas, 1U);
    EXPECT_NE(parse_error({"--export", "nats://h:99999"}).find("--export: "), std::string::npos);
    EXPECT_NE(parse_error({"--export", "nats://h:1", "--node", "a b"}).find("--node: "), std::string::npos);
    EXPECT_NE(parse_error({"--node", "n1"}).find("set without urls"), std::string::npos);
    EXPECT_NE(parse_error({"--export"}).find("missing value"), std::string::npos);
}

// ---- the endpoint: --address, --listen ---------------------------------------

TEST(EndpointOptions, AddressesAndPorts) {
    const CliOptions o = parse_ok({"--vdev", "net_af_packet0,iface=veth1", "--address", "10.0.0.2/24",
                                   "--address=fd00::0002/64", "--listen", "5201", "--listen", "9000"});
    ASSERT_EQ(o.settings.endpoint.addresses.size(), 2U);
    EXPECT_EQ(o.settings.endpoint.addresses[0], "10.0.0.2/24");
    EXPECT_EQ(o.settings.endpoint.addresses[1], "fd00::2/64");  // normalised
    EXPECT_EQ(o.settings.endpoint.listen, (std::vector<std::uint16_t>{5201, 9000}));
    // no prefix: a host address
    EXPECT_EQ(parse_ok({"--vdev", "net_tap0", "--address", "10.0.0.2"}).settings.endpoint.addresses[0],
              "10.0.0.2/32");
}

TEST(EndpointOptions, Rejected) {
    expect_contains_all(parse_error({"--vdev", "net_tap0", "--address", "10.0.0.2/33"}), {"--address", "prefix"});
    expect_contains_all(parse_error({"--vdev", "net_tap0", "--address", "224.0.0.1"}), {"--address", "unicast"});
    expect_contains_all(parse_error({"--vdev", "net_tap0", "--address", "eth0"}), {"--address", "IPv4 or IPv6"});
    expect_contains_all(parse_error({"--vdev", "net_tap0", "--listen", "0"}), {"--listen"});
    expect_contains_all(parse_error({"--vdev", "net_tap0", "--listen", "80"}), {"[endpoint] listen", "address"});
    // a replayed capture cannot be an endpoint: nothing to send on
    expect_contains_all(parse_error({"--address", "10.0.0.2/24"}), {"[endpoint] address", "live port"});
}
