// rxinto-perf: an iperf3-compatible server on rxinto's endpoint. The unmodified
// iperf3 client (`iperf3 -c ADDR`) connects to it; every byte of its data
// streams is received with recv_into into one preallocated buffer, and the
// results go back to the client in iperf3's own protocol:
//
//   control connection: the client's 37-byte cookie; PARAM_EXCHANGE (9); the
//   parameters as JSON behind a 4-byte length; CREATE_STREAMS (10); one data
//   connection per stream, each opening with the same cookie; TEST_START (1),
//   TEST_RUNNING (2); ... the client's TEST_END (4); EXCHANGE_RESULTS (13); the
//   client's results, ours (JSON, 4-byte length); DISPLAY_RESULTS (14); the
//   client's IPERF_DONE (16). Stream ids follow iperf3's numbering (1, 3, 4, ...).
//
// Client to server only (iperf3's default): -R, --bidir and -u are refused
// with ACCESS_DENIED. One test at a time, as iperf3 -s.
//
// The server runs on the endpoint's worker lcore (no allocation, no system
// call there: fixed buffers, a hand-rolled scan of the few JSON fields it
// needs); results are printed by a thread of the control side.
//
// Usage: rxinto-perf [--port N] --address ADDR/PREFIX [...] PORT OPTIONS
//   (rxinto's port and EAL options: --vdev, --pci, --config, --no-huge,
//   --file-prefix, --lcores, ...). Prints a line with "listening" once it takes
//   connections; SIGINT/SIGTERM stop it with a summary. Exit: 0, 1, 2.
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rte_cycles.h>

#include "rxinto/capture/appliance.hpp"
#include "rxinto/capture/endpoint_sink.hpp"
#include "rxinto/config/cli.hpp"
#include "rxinto/config/values.hpp"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

// iperf3's protocol states (iperf_api.h).
enum : std::int8_t {
    TEST_START = 1,
    TEST_RUNNING = 2,
    TEST_END = 4,
    PARAM_EXCHANGE = 9,
    CREATE_STREAMS = 10,
    SERVER_TERMINATE = 11,
    CLIENT_TERMINATE = 12,
    EXCHANGE_RESULTS = 13,
    DISPLAY_RESULTS = 14,
    IPERF_DONE = 16,
    ACCESS_DENIED = -1,
};
constexpr std::size_t cookie_size = 37;
constexpr std::size_t max_streams = 128;
constexpr std::size_t json_max = 64 * 1024;

/// CPU time of the process, sampled by the control side (getrusage is a
/// system call: never on the worker).
struct cpu_sample {
    std::atomic<std::uint64_t> user_us{0};
    std::atomic<std::uint64_t> sys_us{0};
};

/// One finished test, handed from the worker to the printing thread.
struct test_result {
    std::uint64_t bytes = 0;
    std::uint64_t client_sent = 0;
    double seconds = 0;
    unsigned streams = 0;
    bool complete = false;  ///< every byte the client sent arrived before our results
};

struct shared_state {
    cpu_sample cpu;
    static constexpr std::size_t max_results = 4096;
    std::array<test_result, max_results> results{};
    std::atomic<std::size_t> published{0};
    std::atomic<std::uint64_t> data_bytes{0};  ///< every data-stream byte received
    std::atomic<std::uint64_t> refused{0};
};

// ---- a few JSON fields, without a parser (the worker must not allocate) ----

/// The value after "key": in text, as a number; nullopt when absent.
bool json_number(std::string_view text, std::string_view key, double& out) {
    std::size_t pos = 0;
    while ((pos = text.find(key, pos)) != std::string_view::npos) {
        const bool quoted = pos > 0 && text[pos - 1] == '"' && pos + key.size() < text.size() &&
                            text[pos + key.size()] == '"';
        pos += key.size();
        if (!quoted) continue;
        std::size_t i = pos + 1;
        while (i < text.size() && (text[i] == ' ' || text[i] == ':')) ++i;
        if (i >= text.size()) return false;
        if (text.compare(i, 4, "true") == 0) {
            out = 1;
            return true;
        }
        if (text.compare(i, 5, "false") == 0) {
            out = 0;
            return true;
        }
        char buf[32] = {};
        std::size_t n = 0;
        while (i < text.size() && n < sizeof buf - 1 &&
               (std::strchr("0123456789+-.eE", text[i]) != nullptr))
            buf[n++] = text[i++];
        if (n == 0) return false;
        out = std::strtod(buf, nullptr);
        return true;
    }
    return false;
}

class perf_app;

/// What a connection is to the server: not yet known (reading the cookie), the
/// control connection, or a data stream.
struct conn_state {
    enum kind_t : std::uint8_t { unknown, control, stream, refused } kind = unknown;
    std::uint8_t cookie_len = 0;
    std::array<char, cookie_size> cookie{};
    int stream_id = 0;
    std::uint64_t bytes = 0;
};

class perf_app final : public rxinto::capture::EndpointApp, public rxinto::tcp::listener {
public:
    explicit perf_app(shared_state& sh) : sh_(sh) {
        buf_.resize(256 * 1024);  // control path: the one receive buffer
        states_.resize(max_streams + 8);
    }

    rxinto::tcp::listener* listener() noexcept override { return this; }

    void on_release(rxinto::tcp::connection& c) noexcept override {
        if (conn_state* s = c.user.get<conn_state>(); s != nullptr) {
            if (s->kind == conn_state::control && ctrl_ == &c) reset_test();
            if (s->kind == conn_state::stream) {
                for (std::size_t k = 0; k < streams_.size(); ++k) {
                    if (streams_[k] == &c) {
                        last_bytes_[k] = s->bytes;
                        streams_[k] = nullptr;
                    }
                }
            }
            free_state(s);
            c.user.reset();
        }
    }

    void on_events(rxinto::endpoint::endpoint& ep, std::span<const rxinto::tcp::event> events,
                   std::uint64_t now_ns) noexcept override {
        ep_ = &ep;
        now_ns_ = now_ns;
        for (const rxinto::tcp::event& e : events) {
            if (e.kind == rxinto::tcp::event_kind::opened) continue;
            read(*e.conn);
        }
        advance();
    }

    void on_round(rxinto::endpoint::endpoint& ep, std::uint64_t now_ns) noexcept override {
        ep_ = &ep;
        now_ns_ = now_ns;
        advance();
    }

private:
    enum class phase : std::uint8_t { idle, params, streams, running, client_results, wait_bytes, done_wait };

    conn_state* alloc_state() noexcept {
        for (auto& s : states_) {
            if (!used(s)) {
                s = conn_state{};
                s.kind = conn_state::unknown;
                in_use_[static_cast<std::size_t>(&s - states_.data())] = true;
                return &s;
            }
        }
        return nullptr;
    }
    bool used(const conn_state& s) const noexcept { return in_use_[static_cast<std::size_t>(&s - states_.data())]; }
    void free_state(conn_state* s) noexcept { in_use_[static_cast<std::size_t>(s - states_.data())] = false; }

    void send_state(std::int8_t st) noexcept {
        if (ctrl_ == nullptr) return;
        const std::byte b{static_cast<unsigned char>(st)};
        (void)ep_->send(*ctrl_, std::span<const std::byte>(&b, 1));
    }

    void reset_test() noexcept {
        ctrl_ = nullptr;
        phase_ = phase::idle;
        nstreams_ = 0;
        want_streams_ = 1;
        ctrl_len_ = 0;
        for (auto& x : streams_) x = nullptr;
        last_bytes_.fill(0);
    }

    void read(rxinto::tcp::connection& c) noexcept {
        auto& in = c.in(rxinto::endpoint::endpoint::inbound(c));
        conn_state* s = c.user.get<conn_state>();
        if (s == nullptr) {
            s = alloc_state();
            if (s == nullptr) {
                ep_->abort(c);
                return;
            }
            c.user.set(s);
        }
        if (s->kind == conn_state::unknown) {
            const auto r = in.recv_into(std::as_writable_bytes(std::span<char>(s->cookie.data() + s->cookie_len,
                                                                                cookie_size - s->cookie_len)));
            s->cookie_len = static_cast<std::uint8_t>(s->cookie_len + r.bytes);
            if (s->cookie_len < cookie_size) {
                if (in.finished()) ep_->close(c);
                return;
            }
            classify(c, *s);
        }
        if (s->kind == conn_state::stream) {
            for (;;) {
                const auto r = in.recv_into(std::as_writable_bytes(std::span<char>(buf_)));
                s->bytes += r.bytes;
                sh_.data_bytes.store(sh_.data_bytes.load(std::memory_order_relaxed) + r.bytes,
                                     std::memory_order_relaxed);
                if (r.gap != 0) in.skip_gap();  // never on an endpoint; counted by the stream
                if (r.bytes == 0 && r.gap == 0) break;
            }
            if (in.finished()) ep_->close(c);
            return;
        }
        if (s->kind == conn_state::control) {
            for (;;) {
                if (ctrl_len_ == ctrl_buf_.size()) ctrl_len_ = 0;  // a lying client: start over
                const auto r = in.recv_into(std::as_writable_bytes(
                    std::span<char>(ctrl_buf_.data() + ctrl_len_, ctrl_buf_.size() - ctrl_len_)));
                ctrl_len_ += r.bytes;
                if (r.bytes == 0) break;
            }
            if (in.finished() && phase_ != phase::idle) {
                reset_test();
                ep_->close(c);
            }
            return;
        }
        // refused: drain and close
        while (in.readable() != 0) in.consume(in.readable());
        if (in.finished()) ep_->close(c);
    }

    void classify(rxinto::tcp::connection& c, conn_state& s) noexcept {
        if (phase_ == phase::streams && ctrl_ != nullptr &&
            std::memcmp(s.cookie.data(), ctrl_cookie_.data(), cookie_size) == 0 && nstreams_ < want_streams_) {
            s.kind = conn_state::stream;
            s.stream_id = nstreams_ == 0 ? 1 : static_cast<int>(nstreams_) + 2;  // iperf3's ids: 1, 3, 4, ...
            streams_[nstreams_++] = &c;
            if (nstreams_ == want_streams_) {
                send_state(TEST_START);
                send_state(TEST_RUNNING);
                phase_ = phase::running;
                start_ns_ = now_ns_;
                start_user_ = sh_.cpu.user_us.load();
                start_sys_ = sh_.cpu.sys_us.load();
            }
            return;
        }
        if (phase_ == phase::idle) {
            s.kind = conn_state::control;
            ctrl_ = &c;
            std::memcpy(ctrl_cookie_.data(), s.cookie.data(), cookie_size);
            ctrl_len_ = 0;
            phase_ = phase::params;
            send_state(PARAM_EXCHANGE);
            return;
        }
        // A second client while a test runs: iperf3 -s answers ACCESS_DENIED.
        s.kind = conn_state::refused;
        const std::byte b{static_cast<unsigned char>(ACCESS_DENIED)};
        (void)ep_->send(c, std::span<const std::byte>(&b, 1));
        ep_->close(c);
        sh_.refused.store(sh_.refused.load() + 1);
    }

    /// A JSON message (4-byte length + JSON) at the front of the control buffer.
    bool take_json(std::string_view& json) noexcept {
        if (ctrl_len_ < 4) return false;
        const std::uint32_t n = (std::uint32_t{static_cast<unsigned char>(ctrl_buf_[0])} << 24) |
                                (std::uint32_t{static_cast<unsigned char>(ctrl_buf_[1])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(ctrl_buf_[2])} << 8) |
                                static_cast<unsigned char>(ctrl_buf_[3]);
        if (n > ctrl_buf_.size() - 4) {
            abort_test();
            return false;
        }
        if (ctrl_len_ < 4 + n) return false;
        json = std::string_view(ctrl_buf_.data() + 4, n);
        return true;
    }
    void consume_ctrl(std::size_t n) noexcept {
        std::memmove(ctrl_buf_.data(), ctrl_buf_.data() + n, ctrl_len_ - n);
        ctrl_len_ -= n;
    }

    void abort_test() noexcept {
        if (ctrl_ != nullptr) ep_->abort(*ctrl_);
        for (auto* x : streams_)
            if (x != nullptr) ep_->abort(*x);
        reset_test();
    }

    void advance() noexcept {
        if (ctrl_ == nullptr) return;
        switch (phase_) {
        case phase::params: {
            std::string_view json;
            if (!take_json(json)) return;
            double v = 0;
            want_streams_ = json_number(json, "parallel", v) && v >= 1 && v <= max_streams ? static_cast<unsigned>(v) : 1;
            const bool reverse = json_number(json, "reverse", v) && v != 0;
            const bool bidir = json_number(json, "bidirectional", v) && v != 0;
            const bool udp = json_number(json, "udp", v) && v != 0;
            consume_ctrl(4 + json.size());
            if (reverse || bidir || udp) {
                // Client to server over TCP only.
                send_state(ACCESS_DENIED);
                ep_->close(*ctrl_);
                reset_test();
                sh_.refused.store(sh_.refused.load() + 1);
                return;
            }
            send_state(CREATE_STREAMS);
            phase_ = phase::streams;
            return;
        }
        case phase::streams:
        case phase::running: {
            if (ctrl_len_ == 0) return;
            const auto st = static_cast<std::int8_t>(ctrl_buf_[0]);
            consume_ctrl(1);
            if (st == TEST_END) {
                end_ns_ = now_ns_;
                end_user_ = sh_.cpu.user_us.load();
                end_sys_ = sh_.cpu.sys_us.load();
                send_state(EXCHANGE_RESULTS);
                phase_ = phase::client_results;
            } else if (st == CLIENT_TERMINATE) {
                abort_test();
            }
            return;
        }
        case phase::client_results: {
            std::string_view json;
            if (!take_json(json)) return;
            // The client's bytes per stream: wait (a little) until they all arrived,
            // so that what we report is what was sent.
            client_sent_ = 0;
            std::size_t pos = 0;
            while ((pos = json.find("\"bytes\"", pos)) != std::string_view::npos) {
                double b = 0;
                if (json_number(json.substr(pos), "bytes", b)) client_sent_ += static_cast<std::uint64_t>(b);
                pos += 7;
            }
            consume_ctrl(4 + json.size());
            phase_ = phase::wait_bytes;
            wait_until_ns_ = now_ns_ + 2'000'000'000ULL;
            [[fallthrough]];
        }
        case phase::wait_bytes: {
            std::uint64_t got = 0;
            for (unsigned i = 0; i < nstreams_; ++i) got += stream_bytes(i);
            if (got < client_sent_ && now_ns_ < wait_until_ns_) return;
            send_results(got);
            send_state(DISPLAY_RESULTS);
            publish(got);
            phase_ = phase::done_wait;
            return;
        }
        case phase::done_wait: {
            if (ctrl_len_ == 0) return;
            const auto st = static_cast<std::int8_t>(ctrl_buf_[0]);
            consume_ctrl(1);
            if (st == IPERF_DONE || st == CLIENT_TERMINATE) {
                rxinto::tcp::connection* c = ctrl_;
                reset_test();
                ep_->close(*c);
            }
            return;
        }
        case phase::idle: return;
        }
    }

    std::uint64_t stream_bytes(unsigned i) const noexcept {
        if (streams_[i] == nullptr) return last_bytes_[i];
        const conn_state* s = streams_[i]->user.get<conn_state>();
        return s != nullptr ? s->bytes : 0;
    }

    void send_results(std::uint64_t total) noexcept {
        const double secs = static_cast<double>(end_ns_ - start_ns_) / 1e9;
        const double wall_us = secs > 0 ? secs * 1e6 : 1;
        const double user = 100.0 * static_cast<double>(end_user_ - start_user_) / wall_us;
        const double sys = 100.0 * static_cast<double>(end_sys_ - start_sys_) / wall_us;
        char* out = json_out_.data() + 4;
        const std::size_t cap = json_out_.size() - 4;
        int n = std::snprintf(out, cap,
                              "{\"cpu_util_total\":%.6f,\"cpu_util_user\":%.6f,\"cpu_util_system\":%.6f,"
                              "\"sender_has_retransmits\":0,\"congestion_used\":\"rxinto-endpoint\",\"streams\":[",
                              user + sys, user, sys);
        for (unsigned i = 0; i < nstreams_ && n > 0 && static_cast<std::size_t>(n) < cap; ++i) {
            n += std::snprintf(out + n, cap - static_cast<std::size_t>(n),
                               "%s{\"id\":%d,\"bytes\":%llu,\"retransmits\":-1,\"jitter\":0,\"errors\":0,"
                               "\"omitted_errors\":0,\"packets\":0,\"omitted_packets\":0,\"start_time\":0,"
                               "\"end_time\":%.6f}",
                               i == 0 ? "" : ",", i == 0 ? 1 : static_cast<int>(i) + 2,
                               static_cast<unsigned long long>(stream_bytes(i)), secs);
        }
        if (n > 0 && static_cast<std::size_t>(n) + 2 < cap) n += std::snprintf(out + n, cap - static_cast<std::size_t>(n), "]}");
        if (n <= 0 || static_cast<std::size_t>(n) >= cap) return;
        const auto len = static_cast<std::uint32_t>(n);
        json_out_[0] = static_cast<char>(len >> 24);
        json_out_[1] = static_cast<char>(len >> 16);
        json_out_[2] = static_cast<char>(len >> 8);
        json_out_[3] = static_cast<char>(len);
        (void)total;
        const auto st = ep_->send(*ctrl_, std::as_bytes(std::span<const char>(json_out_.data(), len + 4)));
        if (st != rxinto::endpoint::send_status::ok) abort_test();
    }

    void publish(std::uint64_t got) noexcept {
        const std::size_t i = sh_.published.load();
        if (i >= shared_state::max_results) return;
        test_result& r = sh_.results[i];
        r.bytes = got;
        r.client_sent = client_sent_;
        r.seconds = static_cast<double>(end_ns_ - start_ns_) / 1e9;
        r.streams = nstreams_;
        r.complete = got == client_sent_;
        sh_.published.store(i + 1, std::memory_order_release);
        for (unsigned k = 0; k < nstreams_; ++k) last_bytes_[k] = stream_bytes(k);
    }

    shared_state& sh_;
    rxinto::endpoint::endpoint* ep_ = nullptr;
    std::uint64_t now_ns_ = 0;
    std::vector<char> buf_;
    std::vector<conn_state> states_;
    std::array<bool, max_streams + 8> in_use_{};
    rxinto::tcp::connection* ctrl_ = nullptr;
    std::array<char, cookie_size> ctrl_cookie_{};
    std::array<char, json_max> ctrl_buf_{};
    std::size_t ctrl_len_ = 0;
    std::array<char, json_max> json_out_{};
    phase phase_ = phase::idle;
    unsigned want_streams_ = 1;
    unsigned nstreams_ = 0;
    std::array<rxinto::tcp::connection*, max_streams> streams_{};
    std::array<std::uint64_t, max_streams> last_bytes_{};
    std::uint64_t start_ns_ = 0, end_ns_ = 0, wait_until_ns_ = 0, client_sent_ = 0;
    std::uint64_t start_user_ = 0, start_sys_ = 0, end_user_ = 0, end_sys_ = 0;
};

constexpr const char* usage_text =
    "Usage: rxinto-perf --address ADDR/PREFIX [--address ...] [--port N] PORT OPTIONS\n"
    "\n"
    "An iperf3 server on rxinto's TCP endpoint: run `iperf3 -c ADDR [-p N] [-P K]` from\n"
    "another host (client to server; -R, --bidir and -u are refused). Every byte of\n"
    "the data streams is received with recv_into into one preallocated buffer.\n"
    "\n"
    "  --port N             TCP port of the server (default 5201)\n"
    "  --address ADDR/PFX   an address rxinto owns (IPv4 or IPv6), repeatable\n"
    "  --vdev, --pci, --config, --no-huge, --file-prefix, --lcores, ...\n"
    "                       rxinto's port and EAL options (rxinto --help)\n"
    "\n"
    "Prints a line with 'listening' once it takes connections, one line per test,\n"
    "and a summary on SIGINT/SIGTERM. Exit status: 0 ok, 2 bad usage, 1 runtime failure.\n";

}  // namespace

int main(int argc, char** argv) {
    std::uint16_t port = 5201;
    std::vector<std::string> args{"rxinto-perf"};
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(usage_text, stdout);
            return 0;
        }
        std::string_view v;
        if (a == "--port" || a == "-p") {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "rxinto-perf: %s: missing value (N)\n", argv[i]);
                return 2;
            }
            v = argv[++i];
        } else if (a.substr(0, 7) == "--port=") {
            v = a.substr(7);
        } else {
            args.emplace_back(a);
            continue;
        }
        auto p = rxinto::config::values::parse_uint_as<std::uint16_t>(v, rxinto::config::values::tcp_port_range);
        if (!p) {
            std::fprintf(stderr, "rxinto-perf: --port: %s\n", p.error().message.c_str());
            return 2;
        }
        port = p.value();
    }
    args.emplace_back("--listen");
    args.push_back(std::to_string(port));
    args.emplace_back("--no-progress");
    std::vector<const char*> cargv;
    for (const auto& s : args) cargv.push_back(s.c_str());
    auto cli = rxinto::config::parse_cli(static_cast<int>(cargv.size()), cargv.data());
    if (!cli) {
        std::fprintf(stderr, "rxinto-perf: %s\nTry 'rxinto-perf --help'.\n", cli.error().message.c_str());
        return 2;
    }
    if (cli->settings.endpoint.addresses.empty()) {
        std::fprintf(stderr, "rxinto-perf: no address: give --address ADDR/PREFIX\n");
        return 2;
    }
    if (!cli->settings.tcp.streams_dir.empty() || !cli->settings.capture.write.empty()) {
        std::fprintf(stderr, "rxinto-perf: --streams-dir and -w are rxinto's, not rxinto-perf's\n");
        return 2;
    }

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    static shared_state shared;
    std::atomic<bool> printer_stop{false};
    std::size_t printed = 0;
    std::uint64_t reported = 0;
    auto print_new = [&] {
        const std::size_t n = shared.published.load(std::memory_order_acquire);
        for (; printed < n; ++printed) {
            const test_result& r = shared.results[printed];
            reported += r.bytes;
            std::printf("rxinto-perf: test %zu: %llu bytes received in %.3f s (%.3f Gbit/s), %u stream%s%s\n",
                        printed + 1, static_cast<unsigned long long>(r.bytes), r.seconds,
                        r.seconds > 0 ? static_cast<double>(r.bytes) * 8 / r.seconds / 1e9 : 0.0, r.streams,
                        r.streams == 1 ? "" : "s",
                        r.complete ? "" : " (fewer than the client sent: it was still on its way)");
            std::fflush(stdout);
        }
    };
    // The control side: CPU samples for the results, and the result lines.
    std::thread printer([&] {
        while (!printer_stop.load()) {
            rusage ru{};
            getrusage(RUSAGE_SELF, &ru);
            shared.cpu.user_us.store(static_cast<std::uint64_t>(ru.ru_utime.tv_sec) * 1'000'000ULL +
                                     static_cast<std::uint64_t>(ru.ru_utime.tv_usec));
            shared.cpu.sys_us.store(static_cast<std::uint64_t>(ru.ru_stime.tv_sec) * 1'000'000ULL +
                                    static_cast<std::uint64_t>(ru.ru_stime.tv_usec));
            print_new();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });

    rxinto::capture::RunOptions opt;
    opt.stop_requested = &g_stop;
    opt.endpoint_app = [](unsigned) -> std::unique_ptr<rxinto::capture::EndpointApp> {
        return std::make_unique<perf_app>(shared);
    };
    const std::string addr = cli->settings.endpoint.addresses.front();
    opt.on_listening = [&addr, port] {
        std::printf("rxinto-perf: listening on %s port %u (iperf3 -c %s -p %u)\n", addr.c_str(), port,
                    addr.substr(0, addr.find('/')).c_str(), port);
        std::fflush(stdout);
    };
    auto summary = rxinto::capture::run(cli->settings, opt);
    printer_stop.store(true);
    printer.join();
    print_new();
    if (!summary) {
        std::fprintf(stderr, "rxinto-perf: %s\n", summary.error().message.c_str());
        return summary.error().usage ? 2 : 1;
    }
    std::printf("rxinto-perf: summary: %zu test%s, %llu bytes reported to clients, %llu data bytes received, "
                "%llu clients refused\n",
                printed, printed == 1 ? "" : "s", static_cast<unsigned long long>(reported),
                static_cast<unsigned long long>(shared.data_bytes.load()),
                static_cast<unsigned long long>(shared.refused.load()));
    std::fputs(rxinto::stats::summary_text(summary.value()).c_str(), stdout);
    return 0;
}
