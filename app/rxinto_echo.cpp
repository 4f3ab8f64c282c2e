// rxinto-echo: the smallest complete program built on rxinto's API.
//
// It replays a capture (or polls a virtual device), hands every burst to a
// TCP-lite reassembler and echoes each stream's bytes to a file, reading with
// recv_into() into ONE fixed 64 KiB buffer: the one copy from the packet
// buffers into memory the application owns. Gaps are skipped (and said), never
// filled. Read it top to bottom as a tutorial; the rxinto appliance does the
// same with more workers, statistics and options.
//
//   rxinto-echo --pcap FILE --out DIR        (or --vdev DEVARGS --seconds N)
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/stat.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "rxinto/capture/replay.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/port/eal.hpp"
#include "rxinto/port/ports.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int) { g_stop = 1; }

/// Per direction: the output file, opened on the first byte.
struct echo_files {
    std::FILE* f[2] = {nullptr, nullptr};
};

class echo final : public rxinto::tcp::listener {
public:
    explicit echo(std::string dir) : dir_(std::move(dir)) {}

    /// Reads everything readable in one direction: bytes, then a gap, then bytes...
    void drain(rxinto::tcp::connection& c, rxinto::flow::direction d) noexcept {
        auto* files = c.user.get<echo_files>();  // the cookie is typed: only an echo_files comes back
        if (files == nullptr) c.user.set(files = new (std::nothrow) echo_files());
        if (files == nullptr) return;
        rxinto::tcp::stream& s = c.in(d);
        std::FILE*& f = files->f[rxinto::flow::index_of(d)];
        for (;;) {
            const rxinto::tcp::recv_result res = s.recv_into(buf_);  // one copy, never past buf_
            if (res.bytes != 0) {
                if (f == nullptr) {
                    const std::string path = dir_ + "/" + std::to_string(c.id()) + "-" + c.label(d) + ".bin";
                    f = std::fopen(path.c_str(), "w");
                }
                if (f != nullptr) std::fwrite(buf_.data(), 1, res.bytes, f);
                bytes_ += res.bytes;
            }
            if (res.gap != 0) {
                std::fprintf(stderr, "conn %llu %s: gap of %llu bytes at offset %llu\n",
                             static_cast<unsigned long long>(c.id()), c.label(d),
                             static_cast<unsigned long long>(res.gap),
                             static_cast<unsigned long long>(s.offset()));
                s.skip_gap();  // out of band: the gap is never filled
                continue;
            }
            if (res.bytes == 0) break;  // nothing more now (or the end, said on release)
        }
    }

    /// The last moment to read a connection: after this its buffers are reused.
    void on_release(rxinto::tcp::connection& c) noexcept override {
        for (rxinto::flow::direction d : rxinto::flow::both_directions) drain(c, d);
        if (auto* files = c.user.get<echo_files>()) {
            for (auto* f : files->f)
                if (f != nullptr) std::fclose(f);
            delete files;
            c.user.reset();
        }
        ++connections_;
    }

    [[nodiscard]] unsigned long long bytes() const noexcept { return bytes_; }
    [[nodiscard]] unsigned long long connections() const noexcept { return connections_; }

private:
    std::string dir_;
    std::array<std::byte, 64 * 1024> buf_{};  // the application's one buffer
    unsigned long long bytes_ = 0;
    unsigned long long connections_ = 0;
};

int usage(const char* why) {
    if (why != nullptr) std::fprintf(stderr, "rxinto-echo: %s\n", why);
    std::fprintf(why != nullptr ? stderr : stdout,
                 "Usage: rxinto-echo (--pcap FILE | --vdev DEVARGS [--seconds N]) --out DIR\n"
                 "Echo every reassembled TCP stream to DIR/<conn>-<dir>.bin through one 64 KiB\n"
                 "buffer and recv_into. Exit: 0 ok, 2 bad usage, 1 runtime failure.\n");
    return why != nullptr ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace rxinto;
    std::string pcap, vdev, out;
    double seconds = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") return usage(nullptr);
        if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
        if (a == "--pcap") pcap = argv[++i];
        else if (a == "--vdev") vdev = argv[++i];
        else if (a == "--out") out = argv[++i];
        else if (a == "--seconds") seconds = std::atof(argv[++i]);
        else return usage(("unknown option " + a).c_str());
    }
    if (out.empty() || pcap.empty() == vdev.empty()) return usage("give --out and one of --pcap, --vdev");
    if (::mkdir(out.c_str(), 0755) != 0 && errno != EEXIST) return usage("cannot create --out");

    // 1. Settings: one port, one worker (the main lcore), no shared files.
    config::Settings s = config::defaults();
    s.eal.lcores = "0";
    s.eal.in_memory = true;
    s.ports = {config::PortSettings{pcap.empty() ? config::PortKind::vdev : config::PortKind::pcap,
                                    pcap.empty() ? vdev : pcap}};
    std::uint64_t expected = 0;  // a replay ends when every packet of the file has come
    tcp::port_link link;
    if (!pcap.empty()) {
        auto info = capture::scan_capture(pcap);
        if (!info) return std::fprintf(stderr, "rxinto-echo: %s\n", info.error().message.c_str()), 1;
        expected = info->packets;
        link.may_be_cut = true;
        if (auto lt = net::link_type_from_pcap(static_cast<std::uint32_t>(info->linktype))) link.link = *lt;
    }

    // 2. EAL (hugepages when there are free ones), then the port and its mempool.
    auto hp = port::decide_hugepages(s.eal, port::probe_hugepages());
    if (!hp) return std::fprintf(stderr, "rxinto-echo: %s\n", hp.error().message.c_str()), 1;
    if (!hp->note.empty()) std::fprintf(stderr, "%s\n", hp->note.c_str());
    auto args = port::build_eal_args(s, hp->use_hugepages, {pcap});
    if (!args) return std::fprintf(stderr, "rxinto-echo: %s\n", args.error().message.c_str()), 1;
    auto eal = port::eal_init(*args, hp->use_hugepages);
    if (!eal) return std::fprintf(stderr, "rxinto-echo: %s\n", eal.error().message.c_str()), 1;
    int rc = 0;
    {
        auto ports = port::Ports::open(s, 1, 1, {pcap});
        if (!ports) {
            std::fprintf(stderr, "rxinto-echo: %s\n", ports.error().message.c_str());
            port::eal_cleanup();
            return 1;
        }
        // 3. The reassembler, and the application listening to it.
        auto r = tcp::reassembler::create(tcp::tcp_config{}, "echo", 0, ports->pool(),
                                          static_cast<int>(rte_socket_id()));
        if (!r) {
            std::fprintf(stderr, "rxinto-echo: %s\n", r.error().message.c_str());
            ports->close();
            port::eal_cleanup();
            return 1;
        }
        echo app(out);
        (*r)->set_listener(&app);

        // 4. The loop: a burst in, its readable connections drained, buffers freed.
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        const std::uint16_t port_id = ports->ports()[0].port_id;
        const std::uint64_t hz = rte_get_tsc_hz();
        const std::uint64_t end = rte_rdtsc() + static_cast<std::uint64_t>(seconds * static_cast<double>(hz));
        std::uint64_t received = 0;
        rte_mbuf* pkts[32];
        while (g_stop == 0) {
            const std::uint16_t n = rte_eth_rx_burst(port_id, 0, pkts, 32);
            if (n != 0) {
                received += n;
                (*r)->process_burst(pkts, n, link, rte_rdtsc() / (hz / 1000000) * 1000);
                for (const tcp::event& e : (*r)->events()) {  // once per connection and kind
                    if (e.kind != tcp::event_kind::readable) continue;
                    for (flow::direction d : flow::both_directions) app.drain(*e.conn, d);
                }
                (*r)->flush();
            }
            if (!pcap.empty()) {
                rte_eth_stats st{};
                if (n == 0 && rte_eth_stats_get(port_id, &st) == 0 &&
                    received + st.rx_nombuf + st.ierrors >= expected)
                    break;
            } else if (rte_rdtsc() >= end) {
                break;
            }
        }
        // 5. End of input: every stream ends, every connection is released (and echoed).
        (*r)->finish();
        std::printf("rxinto-echo: %llu packets, %llu connections, %llu stream bytes written to %s\n",
                    static_cast<unsigned long long>(received), app.connections(), app.bytes(),
                    out.c_str());
        r->reset();
        ports->close();
    }
    port::eal_cleanup();
    return rc;
}
