// capture::check_output_paths(): every output path is checked before the run
// starts (issue 12: a --stats-json that could not be written was found only
// after the whole run). Cases that need a read-only mount are in
// test/integration/test_hardening.py (root, a private mount namespace).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "rxinto/capture/output_paths.hpp"
#include "rxinto/config/settings.hpp"

namespace {

namespace fs = std::filesystem;
using rxinto::capture::check_output_paths;
using rxinto::config::Settings;

/// A fresh directory for one test, removed afterwards.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "rxinto-outpaths-XXXXXX").string();
        if (::mkdtemp(t.data()) != nullptr) path = t;
    }
    ~temp_dir() {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
    }
    std::size_t entries() const {
        std::size_t n = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(path)) ++n;
        return n;
    }
};

std::string error_of(const Settings& s) {
    auto st = check_output_paths(s);
    EXPECT_FALSE(st.ok()) << "accepted";
    if (st.ok()) return {};
    EXPECT_TRUE(st.error().usage) << "not a usage error (exit 2): " << st.error().message;
    return st.error().message;
}

std::string contents(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

TEST(OutputPaths, NothingToWriteIsFine) {
    EXPECT_TRUE(check_output_paths(Settings{}).ok());
}

TEST(OutputPaths, StatsJson) {
    temp_dir d;
    ASSERT_FALSE(d.path.empty());
    Settings s;
    s.run.stats_json = (d.path / "missing" / "s.json").string();
    auto e = error_of(s);
    EXPECT_NE(e.find("--stats-json"), std::string::npos) << e;
    EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
    EXPECT_NE(e.find((d.path / "missing").string()), std::string::npos) << e;

    s.run.stats_json = d.path.string();
    e = error_of(s);
    EXPECT_NE(e.find("is a directory"), std::string::npos) << e;

    const fs::path file = d.path / "plain";
    std::ofstream(file) << "kept";
    s.run.stats_json = (file / "s.json").string();  // a parent that is a file
    e = error_of(s);
    EXPECT_NE(e.find("Not a directory"), std::string::npos) << e;

    // A new file in a writable directory, and an existing file: fine, and the
    // check leaves no file behind and changes none.
    s.run.stats_json = (d.path / "new.json").string();
    EXPECT_TRUE(check_output_paths(s).ok());
    s.run.stats_json = file.string();
    EXPECT_TRUE(check_output_paths(s).ok());
    EXPECT_EQ(contents(file), "kept");
    EXPECT_EQ(d.entries(), 1U);
    // A bare name: the working directory.
    s.run.stats_json = "rxinto-stats-probe.json";
    EXPECT_TRUE(check_output_paths(s).ok());
    EXPECT_FALSE(fs::exists("rxinto-stats-probe.json"));
}

TEST(OutputPaths, WritePrefix) {
    temp_dir d;
    ASSERT_FALSE(d.path.empty());
    Settings s;
    s.capture.write = (d.path / "no" / "such" / "cap.pcapng").string();
    auto e = error_of(s);
    EXPECT_NE(e.find("-w"), std::string::npos) << e;
    EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
    s.capture.write = (d.path / "cap.pcapng").string();
    EXPECT_TRUE(check_output_paths(s).ok());
    s.capture.write = d.path.string();  // a directory: the files go inside
    EXPECT_TRUE(check_output_paths(s).ok());
    s.capture.write = "-";  // standard output is the writer's business
    EXPECT_TRUE(check_output_paths(s).ok());
    EXPECT_EQ(d.entries(), 0U);
}

TEST(OutputPaths, StreamsDir) {
    temp_dir d;
    ASSERT_FALSE(d.path.empty());
    Settings s;
    s.tcp.streams_dir = (d.path / "a" / "b").string();  // created one level only
    auto e = error_of(s);
    EXPECT_NE(e.find("--streams-dir"), std::string::npos) << e;
    const fs::path file = d.path / "f";
    std::ofstream(file) << "x";
    s.tcp.streams_dir = file.string();
    e = error_of(s);
    EXPECT_NE(e.find("not a directory"), std::string::npos) << e;
    s.tcp.streams_dir = (d.path / "out").string();  // will be created
    EXPECT_TRUE(check_output_paths(s).ok());
    EXPECT_FALSE(fs::exists(d.path / "out")) << "the check created the directory";
    s.tcp.streams_dir = d.path.string();
    EXPECT_TRUE(check_output_paths(s).ok());
    s.tcp.enabled = false;  // nothing is written without reassembly
    s.tcp.streams_dir = file.string();
    EXPECT_TRUE(check_output_paths(s).ok());
}

}  // namespace
