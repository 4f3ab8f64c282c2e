// rxinto-gen: writes a deterministic pcap of TCP conversations (and optionally
// the ground truth of every stream) with rxinto::gen.
//
// Exit status: 0 ok, 1 runtime failure (cannot write), 2 bad usage.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "rxinto/gen/pcap_gen.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

void print_usage(std::FILE* to) {
    const rxinto::gen::GenOptions d;
    std::fprintf(to,
        "usage: rxinto-gen --out FILE.pcap [options]\n"
        "\n"
        "Writes a deterministic nanosecond pcap of TCP conversations (Ethernet,\n"
        "optional VLAN/QinQ, IPv4/IPv6, handshake, data both ways, FIN). The same\n"
        "options always give a byte-identical file.\n"
        "\n"
        "options:\n"
        "  --out FILE          pcap file to write ('-' = stdout; required)\n"
        "  --default           start from the embedded default capture (8 flows,\n"
        "                      mixed IPv4/IPv6, reorder 0.05, duplicate 0.02);\n"
        "                      the other options then override it\n"
        "  --seed N            random seed (default %llu)\n"
        "  --flows N           TCP connections, 1..100000 (default %u)\n"
        "  --ipv6-share F      share of flows over IPv6, 0..1 (default %g)\n"
        "  --c2s-bytes N       client->server payload per flow (default %u)\n"
        "  --s2c-bytes N       server->client payload per flow (default %u)\n"
        "  --size-jitter PCT   vary each flow's byte counts by up to +-PCT%%, 0..100\n"
        "                      (default %u)\n"
        "  --mss N             max payload per segment, 1..9000 (default %u)\n"
        "  --reorder P         per data segment: swap with the connection's next\n"
        "                      frame, 0..1 (default %g)\n"
        "  --duplicate P       per data segment: emit an identical copy a few frames\n"
        "                      later, 0..1 (default %g)\n"
        "  --loss P            per data segment: absent from the capture (the\n"
        "                      receiver still ACKs it), 0..1 (default %g)\n"
        "  --fragment P        per data segment: send its IP datagram as 2..4 IP\n"
        "                      fragments (IPv6: Fragment header), 0..1 (default %g)\n"
        "  --fragment-reverse  emit each fragmented datagram's fragments last first\n"
        "  --vlan-tags N       0, 1 (802.1Q) or 2 (QinQ: 0x88a8 then 0x8100) (default %u)\n"
        "  --no-handshake      no SYN, SYN/ACK, ACK (streams start mid-way)\n"
        "  --no-fin            no FIN exchange at the end\n"
        "  --start-ns N        timestamp of the first frame, ns since the epoch\n"
        "  --truth DIR         also write DIR/conn<N>.<c2s|s2c>.bin (every byte sent)\n"
        "                      and DIR/truth.jsonl (addresses, ports, vlan, isn,\n"
        "                      bytes, lost [offset,length] ranges)\n"
        "  -h, --help          this text\n"
        "\n"
        "Options take their value as the next argument or after '=' (--seed=7).\n"
        "Prints one summary line; exit 0 ok, 1 runtime failure, 2 bad usage.\n",
        static_cast<unsigned long long>(d.seed), d.flows, d.ipv6_share, d.c2s_bytes,
        d.s2c_bytes, d.size_jitter_pct, static_cast<unsigned>(d.mss), d.reorder, d.duplicate,
        d.loss, d.fragment, d.vlan_tags);
}

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "rxinto-gen: %s\n(try 'rxinto-gen --help')\n", msg.c_str());
    return kExitUsage;
}

template <class T>
std::optional<T> parse_uint(std::string_view s, T max) {
    std::uint64_t v = 0;
    if (s.empty() || s.front() == '+' || s.front() == '-') return std::nullopt;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v > static_cast<std::uint64_t>(max)) {
        return std::nullopt;
    }
    return static_cast<T>(v);
}

std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    if (s.empty() || s.front() == '+') return std::nullopt;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string_view> args(argv + 1, argv + argc);

    // --help and --default first: --default sets the base the other flags override.
    bool use_default = false;
    for (std::string_view a : args) {
        if (a == "-h" || a == "--help") {
            print_usage(stdout);
            return kExitOk;
        }
        if (a == "--default") use_default = true;
    }
    rxinto::gen::GenOptions opt = use_default ? rxinto::gen::default_options() : rxinto::gen::GenOptions{};
    std::string out;
    std::string truth_dir;

    for (std::size_t k = 0; k < args.size(); ++k) {
        std::string_view name = args[k];
        std::optional<std::string_view> inline_value;
        if (name.starts_with("--")) {
            if (const auto eq = name.find('='); eq != std::string_view::npos) {
                inline_value = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
        }
        const std::string n(name);
        auto flag = [&]() -> bool {  // option without a value
            return !inline_value.has_value();
        };
        if (name == "--default" || name == "--no-handshake" || name == "--no-fin" ||
            name == "--fragment-reverse") {
            if (!flag()) return usage_error("option " + n + " takes no value");
            if (name == "--no-handshake") opt.handshake = false;
            if (name == "--no-fin") opt.fin = false;
            if (name == "--fragment-reverse") opt.fragment_reverse = true;
            continue;
        }

        // Every other option takes a value.
        static constexpr std::string_view kValued[] = {
            "--out", "--seed", "--flows", "--ipv6-share", "--c2s-bytes", "--s2c-bytes",
            "--size-jitter", "--mss", "--reorder", "--duplicate", "--loss", "--fragment",
            "--vlan-tags", "--start-ns", "--truth"};
        bool known = false;
        for (std::string_view v : kValued) known = known || v == name;
        if (!known) return usage_error("unknown option '" + std::string(args[k]) + "'");
        std::string_view value;
        if (inline_value) {
            value = *inline_value;
        } else {
            if (k + 1 >= args.size()) return usage_error("option " + n + " needs a value");
            value = args[++k];
        }
        const std::string v(value);
        auto bad = [&](const char* what) {
            return usage_error("option " + n + " = '" + v + "': " + what);
        };

        if (name == "--out") {
            if (value.empty()) return bad("needs a file name");
            out = v;
        } else if (name == "--truth") {
            if (value.empty()) return bad("needs a directory");
            truth_dir = v;
        } else if (name == "--seed") {
            const auto x = parse_uint(value, std::numeric_limits<std::uint64_t>::max());
            if (!x) return bad("expected an unsigned 64-bit integer");
            opt.seed = *x;
        } else if (name == "--start-ns") {
            const auto x = parse_uint(value, std::numeric_limits<std::uint64_t>::max());
            if (!x) return bad("expected nanoseconds since the epoch");
            opt.start_ns = *x;
        } else if (name == "--flows") {
            const auto x = parse_uint(value, 100000U);
            if (!x || *x < 1) return bad("expected an integer in 1..100000");
            opt.flows = *x;
        } else if (name == "--c2s-bytes" || name == "--s2c-bytes") {
            const auto x = parse_uint(value, std::numeric_limits<std::uint32_t>::max());
            if (!x) return bad("expected an unsigned 32-bit integer");
            (name == "--c2s-bytes" ? opt.c2s_bytes : opt.s2c_bytes) = *x;
        } else if (name == "--size-jitter") {
            const auto x = parse_uint(value, 100U);
            if (!x) return bad("expected a percentage in 0..100");
            opt.size_jitter_pct = *x;
        } else if (name == "--mss") {
            const auto x = parse_uint<std::uint16_t>(value, 9000);
            if (!x || *x < 1) return bad("expected an integer in 1..9000");
            opt.mss = *x;
        } else if (name == "--vlan-tags") {
            const auto x = parse_uint(value, 2U);
            if (!x) return bad("expected 0, 1 or 2");
            opt.vlan_tags = *x;
        } else {  // probabilities / shares
            const auto x = parse_double(value);
            if (!x || !(*x >= 0.0 && *x <= 1.0)) return bad("expected a number in [0, 1]");
            if (name == "--ipv6-share") opt.ipv6_share = *x;
            if (name == "--reorder") opt.reorder = *x;
            if (name == "--duplicate") opt.duplicate = *x;
            if (name == "--loss") opt.loss = *x;
            if (name == "--fragment") opt.fragment = *x;
        }
    }
    if (out.empty()) return usage_error("missing --out FILE.pcap");
    if (rxinto::Status s = rxinto::gen::validate(opt); !s) return usage_error(s.error().message);

    auto cap = rxinto::gen::generate(opt);
    if (!cap) {
        std::fprintf(stderr, "rxinto-gen: %s\n", cap.error().message.c_str());
        return kExitRuntime;
    }
    if (rxinto::Status s = rxinto::gen::write_pcap(*cap, out); !s) {
        std::fprintf(stderr, "rxinto-gen: %s\n", s.error().message.c_str());
        return kExitRuntime;
    }
    if (!truth_dir.empty()) {
        if (rxinto::Status s = rxinto::gen::write_truth(*cap, truth_dir); !s) {
            std::fprintf(stderr, "rxinto-gen: %s\n", s.error().message.c_str());
            return kExitRuntime;
        }
    }

    std::uint64_t payload = 0, lost = 0;
    unsigned v6 = 0;
    for (const auto& t : cap->streams) {
        payload += t.payload.size();
        lost += t.lost_bytes();
        if (t.c2s && t.src.find(':') != std::string::npos) ++v6;
    }
    // With --out - the pcap goes to stdout: keep the summary off it.
    std::FILE* summary = out == "-" ? stderr : stdout;
    std::fprintf(summary,
                 "rxinto-gen: wrote %s: %zu frames, %llu bytes, %u flows (%u IPv4, %u IPv6), "
                 "%llu payload bytes, %llu lost%s%s\n",
                 out.c_str(), cap->frames.size(),
                 static_cast<unsigned long long>(cap->frame_bytes()), opt.flows, opt.flows - v6, v6,
                 static_cast<unsigned long long>(payload), static_cast<unsigned long long>(lost),
                 truth_dir.empty() ? "" : ", truth in ", truth_dir.c_str());
    return kExitOk;
}
