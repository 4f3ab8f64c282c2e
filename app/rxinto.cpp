// rxinto: the appliance command line. Parses options, installs the signal
// handlers, runs the appliance and turns its result into an exit code:
// 0 ok, 2 bad usage or configuration, 1 runtime failure.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "rxinto/capture/appliance.hpp"
#include "rxinto/capture/pcapng_writer.hpp"
#include "rxinto/config/cli.hpp"
#include "rxinto/gen/pcap_gen.hpp"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "signal handlers need a lock-free flag");

extern "C" void on_signal(int) { g_stop.store(true); }
// SIGHUP: every pcapng writer starts a new file at its next burst (async-signal-safe).
extern "C" void on_hangup(int) { rxinto::capture::pcapng_writer::request_rotate_all(); }

// The built-in default ([port0] pcap = generated): rxinto-gen's default
// capture, written to $TMPDIR for the run.
/// Writes the built-in generated capture to a temporary file, removed on destruction.
class GeneratedCapture {
public:
    GeneratedCapture() = default;
    GeneratedCapture(const GeneratedCapture&) = delete;
    GeneratedCapture& operator=(const GeneratedCapture&) = delete;
    ~GeneratedCapture() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    rxinto::Result<std::string> path() {
        if (!path_.empty()) return path_;
        const char* tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                           "/rxinto-generated-XXXXXX.pcap";
        const int fd = ::mkstemps(tmpl.data(), 5);
        if (fd < 0) return rxinto::make_error("generated capture: cannot create '", tmpl, "' in $TMPDIR");
        ::close(fd);
        path_ = tmpl;
        auto cap = rxinto::gen::generate(rxinto::gen::default_options());
        if (!cap) return rxinto::make_error("generated capture: ", cap.error().message);
        if (auto st = rxinto::gen::write_pcap(cap.value(), path_); !st)
            return rxinto::make_error("generated capture: ", st.error().message);
        return path_;
    }

private:
    std::string path_;
};

}  // namespace

int main(int argc, char** argv) {
    auto cli = rxinto::config::parse_cli(argc, argv);
    if (!cli) {
        std::fprintf(stderr, "rxinto: %s\nTry 'rxinto --help'.\n", cli.error().message.c_str());
        return 2;
    }
    if (cli->help) {
        std::fputs(rxinto::config::usage().c_str(), stdout);
        return 0;
    }
    if (cli->version) {
        std::printf("rxinto %s\n", RXINTO_VERSION);
        return 0;
    }
    if (auto v = rxinto::config::validate(cli->settings); !v) {
        std::fprintf(stderr, "rxinto: %s\n", v.error().message.c_str());
        return 2;
    }

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    struct sigaction hup {};
    hup.sa_handler = on_hangup;
    sigemptyset(&hup.sa_mask);
    sigaction(SIGHUP, &hup, nullptr);

    rxinto::capture::RunOptions opt;
    opt.stop_requested = &g_stop;
    GeneratedCapture generated;
    opt.generated_capture = [&generated] { return generated.path(); };
    auto summary = rxinto::capture::run(cli->settings, opt);
    if (!summary) {
        std::fprintf(stderr, "rxinto: %s\n", summary.error().message.c_str());
        return summary.error().usage ? 2 : 1;
    }
    // With -w - standard output carries the pcapng stream: the summary goes to stderr.
    std::fputs(rxinto::stats::summary_text(summary.value()).c_str(),
               cli->settings.capture.write == "-" ? stderr : stdout);
    if (const auto& path = cli->settings.run.stats_json; !path.empty()) {
        std::ofstream f(path, std::ios::trunc);
        f << rxinto::stats::summary_json(summary.value());
        f.close();
        if (!f) {
            std::fprintf(stderr, "rxinto: --stats-json: cannot write '%s'\n", path.c_str());
            return 1;
        }
    }
    return 0;
}
