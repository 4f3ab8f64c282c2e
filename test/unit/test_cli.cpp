// parse_cli() / usage() / options(): the rxinto command line.
#include <gtest/gtest.h>
#include <unistd.h>

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

Result<CliOptions> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "rxinto");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return parse_cli(static_cast<int>(args.size()), argv.data());
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
    };
    for (const ValueCase& c : cases) {
        const CliOptions separate = parse_ok({c.option, c.value});
        EXPECT_TRUE(c.check(separate.settings)) << c.option << " " << c.value;
        const CliOptions joined = parse_ok({std::string(c.option) + "=" + c.value});
        EXPECT_TRUE(c.check(joined.settings)) << c.option << "=" << c.value;
        EXPECT_TRUE(separate.settings == joined.settings) << c.option;
    }
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
    expect_contains_all(parse_error({"--", "x"}), {"unexpected argument", "'x'"});
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

TEST(CliErrors, StrayArgument) {
    expect_contains_all(parse_error({"capture.pcap"}), {"unexpected argument", "'capture.pcap'"});
    expect_contains_all(parse_error({"--burst", "4", "5"}), {"unexpected argument", "'5'"});
    expect_contains_all(parse_error({"-"}), {"unexpected argument", "'-'"});
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
        {"--pcap", "a,b.pcap", "cannot contain ','"},
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
