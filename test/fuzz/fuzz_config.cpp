// libFuzzer harness for the control-path parsers: load_file() and parse_cli().
//
// Each input is used twice: written to a temp file and read as an INI file,
// and split at NUL bytes and spaces into an argv for parse_cli(). Neither may
// crash, leak, hang or trip a sanitizer; whatever they accept must pass
// validate(), and every rejection must say something.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rxinto/config/cli.hpp"
#include "rxinto/config/settings.hpp"

namespace {

using namespace rxinto::config;

/// One temp file for the whole run, rewritten per input (creating a file per
/// input would cost more than the parse), removed at exit.
const std::string& temp_path() {
    static const std::string path = [] {
        std::string tmpl = "/tmp/rxinto-fuzz-config-XXXXXX.ini";
        const int fd = ::mkstemps(tmpl.data(), 4);
        if (fd < 0) {
            std::perror("mkstemps");
            std::abort();
        }
        ::close(fd);
        return tmpl;
    }();
    return path;
}

void remove_temp_file() { ::unlink(temp_path().c_str()); }

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)temp_path();
    std::atexit(remove_temp_file);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string& path = temp_path();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 0;
    const bool written = std::fwrite(data, 1, size, f) == size;
    if (std::fclose(f) != 0 || !written) return 0;

    {
        const auto loaded = load_file(path);
        if (loaded.ok()) {
            check(validate(loaded.value()).ok(), "load_file() returned settings that validate() rejects");
        } else {
            check(!loaded.error().message.empty(), "load_file() error without a message");
        }
    }

    std::vector<std::string> args{"rxinto"};
    std::string current;
    for (std::size_t i = 0; i < size; ++i) {
        const char c = static_cast<char>(data[i]);
        if (c == '\0' || c == ' ') {
            if (!current.empty()) args.push_back(std::move(current));
            current.clear();
        } else {
            current += c;
        }
    }
    if (!current.empty()) args.push_back(std::move(current));
    // A fuzzed --config could name any file on the machine (a FIFO, /proc/kmsg)
    // and make the run hang on it; point every --config at our temp file, which
    // holds this same input, so the file path is exercised through the CLI too.
    for (std::string& a : args) {
        if (a.rfind("--config", 0) == 0) a = "--config=" + path;
    }
    std::vector<const char*> argv;
    argv.reserve(args.size() + 1);
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);

    const auto parsed = parse_cli(static_cast<int>(args.size()), argv.data());
    if (parsed.ok()) {
        if (!parsed->help && !parsed->version) {
            check(validate(parsed->settings).ok(), "parse_cli() returned settings that validate() rejects");
        }
    } else {
        check(!parsed.error().message.empty(), "parse_cli() error without a message");
    }
    return 0;
}
