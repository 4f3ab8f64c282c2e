// Shared value parsers: see values.hpp.
#include "rxinto/config/values.hpp"

#include <array>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <system_error>

#include <arpa/inet.h>

namespace rxinto::config::values {
namespace {

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_alnum(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char to_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view text) {
    std::string s(text);
    for (char& c : s) c = to_lower(c);
    return s;
}

std::string range_text(UintRange range) {
    return std::to_string(range.min) + ".." + std::to_string(range.max);
}

int hex_value(char c) noexcept {
    if (is_digit(c)) return c - '0';
    c = to_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Parses exactly `digits` hex digits (or 1..digits when !exact) of a PCI field.
bool parse_hex_field(std::string_view text, std::size_t min_digits, std::size_t max_digits,
                     std::uint32_t max_value, std::uint32_t& out) noexcept {
    if (text.size() < min_digits || text.size() > max_digits) return false;
    std::uint32_t v = 0;
    for (char c : text) {
        const int h = hex_value(c);
        if (h < 0) return false;
        v = v * 16 + static_cast<std::uint32_t>(h);
    }
    if (v > max_value) return false;
    out = v;
    return true;
}

constexpr std::array<std::string_view, 8> log_level_names{
    "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"};

constexpr std::string_view bool_accepted = "accepted: yes/no, true/false, on/off, 1/0";

// 1: true, 0: false, -1: not a boolean.
int bool_value(std::string_view text) {
    const std::string s = lower(text);
    if (s == "yes" || s == "true" || s == "on" || s == "1") return 1;
    if (s == "no" || s == "false" || s == "off" || s == "0") return 0;
    return -1;
}

/// A plain non-negative decimal ("12", "0.5", "3."): from_chars alone would
/// also take "inf", "nan" and "1e3". nullopt when it is not one; infinity
/// when it does not fit a double (callers' range checks reject it).
std::optional<double> parse_decimal(std::string_view text) {
    bool digit_seen = false;
    int dots = 0;
    for (char c : text) {
        if (is_digit(c)) {
            digit_seen = true;
        } else if (c == '.') {
            ++dots;
        } else {
            return std::nullopt;
        }
    }
    if (!digit_seen || dots > 1) return std::nullopt;
    double v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    // Too many digits to be a double: a number, but out of any range.
    if (ec == std::errc::result_out_of_range) return std::numeric_limits<double>::infinity();
    if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
    return v;
}

}  // namespace

std::string_view trim(std::string_view text) noexcept {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

std::string quote(std::string_view text) {
    // Long values (a fuzzer's, or a pasted path) would drown the message.
    constexpr std::size_t max_shown = 80;
    std::string out = "'";
    std::size_t shown = 0;
    for (char c : text) {
        if (shown++ == max_shown) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '\'' || c == '\\') {
            if (c == '\'' || c == '\\') {
                out += '\\';
                out += c;
            } else {
                std::array<char, 8> buf{};
                std::snprintf(buf.data(), buf.size(), "\\x%02x", static_cast<unsigned>(u));
                out += buf.data();
            }
        } else {
            out += c;
        }
    }
    out += '\'';
    return out;
}

Result<std::uint64_t> parse_uint(std::string_view text, UintRange range) {
    text = trim(text);
    if (text.empty()) return make_error("empty value (accepted: ", range_text(range), ")");
    for (char c : text) {
        if (!is_digit(c)) {
            return make_error(quote(text), " is not a number (accepted: ", range_text(range), ")");
        }
    }
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || ptr != text.data() + text.size() || v < range.min || v > range.max) {
        return make_error(quote(text), " is not in ", range_text(range));
    }
    return v;
}

Result<std::uint16_t> parse_rx_desc(std::string_view text) {
    auto r = parse_uint(text, rx_desc_range);
    if (!r) return std::move(r).error();
    const std::uint64_t v = r.value();
    if ((v & (v - 1)) != 0) {
        return make_error(quote(trim(text)), " is not a power of two (accepted: 64, 128, ..., 16384)");
    }
    return static_cast<std::uint16_t>(v);
}

Result<std::uint32_t> parse_mbufs(std::string_view text) {
    text = trim(text);
    if (text == "0") return std::uint32_t{0};
    auto r = parse_uint(text, mbufs_range);
    if (!r) {
        return make_error(quote(text), " is not 0 or a number in ", range_text(mbufs_range),
                          " (0 sizes the pool from ports, queues, descriptors and bursts)");
    }
    return static_cast<std::uint32_t>(r.value());
}

Result<double> parse_duration(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: seconds, decimal, 0..31536000; 0 = until the end)";
    const auto v = parse_decimal(text);
    if (!v) return make_error(quote(text), " is not a number of seconds ", accepted);
    if (!std::isfinite(*v) || *v < 0 || *v > max_duration_s) {
        return make_error(quote(text), " is out of range ", accepted);
    }
    return *v;
}

Result<double> parse_tcp_timeout(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: seconds, decimal, more than 0, at most 86400)";
    const auto v = parse_decimal(text);
    if (!v) return make_error(quote(text), " is not a number of seconds ", accepted);
    if (!std::isfinite(*v) || !(*v > 0) || *v > max_tcp_timeout_s) {
        return make_error(quote(text), " is out of range ", accepted);
    }
    return *v;
}

Result<double> parse_time_wait(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: seconds, decimal, more than 0, at most 240)";
    const auto v = parse_decimal(text);
    if (!v) return make_error(quote(text), " is not a number of seconds ", accepted);
    if (!std::isfinite(*v) || !(*v > 0) || *v > max_time_wait_s) {
        return make_error(quote(text), " is out of range ", accepted);
    }
    return *v;
}

Result<std::string> parse_address(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: ADDR/PREFIX, IPv4 or IPv6, e.g. 10.0.0.2/24 or fd00::2/64)";
    std::string_view addr = text;
    std::string_view prefix;
    if (const auto slash = text.find('/'); slash != std::string_view::npos) {
        addr = text.substr(0, slash);
        prefix = text.substr(slash + 1);
        if (prefix.empty()) return make_error(quote(text), ": no prefix after '/' ", accepted);
    }
    if (addr.empty() || addr.size() >= INET6_ADDRSTRLEN) return make_error(quote(text), " is not an address ", accepted);
    const std::string a(addr);
    unsigned char bytes[16] = {};
    int family = 0;
    if (inet_pton(AF_INET, a.c_str(), bytes) == 1) family = AF_INET;
    else if (inet_pton(AF_INET6, a.c_str(), bytes) == 1) family = AF_INET6;
    else return make_error(quote(text), " is not an IPv4 or IPv6 address ", accepted);
    const std::uint64_t max_prefix = family == AF_INET ? 32 : 128;
    std::uint64_t p = max_prefix;
    if (!prefix.empty()) {
        auto parsed = parse_uint(prefix, UintRange{0, max_prefix});
        if (!parsed) return make_error(quote(text), ": prefix ", parsed.error().message);
        p = parsed.value();
    }
    bool zero = true;
    for (int i = 0; i < (family == AF_INET ? 4 : 16); ++i) zero = zero && bytes[i] == 0;
    const bool multicast = family == AF_INET ? bytes[0] >= 224 : bytes[0] == 0xff;
    if (zero || multicast || (family == AF_INET && bytes[0] == 127))
        return make_error(quote(text), " is not a unicast address rxinto can own ", accepted);
    char out[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes, out, sizeof out);
    return std::string(out) + "/" + std::to_string(p);
}

namespace {
std::vector<std::string_view> split_list(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == ',')) ++i;
        std::size_t j = i;
        while (j < text.size() && text[j] != ' ' && text[j] != '\t' && text[j] != ',') ++j;
        if (j > i) out.push_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}
}  // namespace

Result<std::vector<std::string>> parse_address_list(std::string_view text) {
    std::vector<std::string> out;
    for (std::string_view w : split_list(text)) {
        auto a = parse_address(w);
        if (!a) return std::move(a).error();
        out.push_back(std::move(a).value());
    }
    return out;
}

Result<std::vector<std::uint16_t>> parse_port_list(std::string_view text) {
    std::vector<std::uint16_t> out;
    for (std::string_view w : split_list(text)) {
        auto p = parse_uint_as<std::uint16_t>(w, tcp_port_range);
        if (!p) return make_error("port ", p.error().message);
        out.push_back(p.value());
    }
    return out;
}

Result<bool> parse_unknown_policy(std::string_view text) {
    const std::string s = lower(trim(text));
    if (s == "rst" || s == "reset") return true;
    if (s == "drop") return false;
    return make_error(quote(text), " is not rst or drop (accepted: rst, drop)");
}

Result<bool> parse_bool(std::string_view text) {
    text = trim(text);
    const int v = bool_value(text);
    if (v < 0) return make_error(quote(text), " is not a boolean (", bool_accepted, ")");
    return v == 1;
}

Result<Tristate> parse_tristate(std::string_view text) {
    text = trim(text);
    const std::string s = lower(text);
    if (s == "auto" || s == "automatic" || s == "default") return Tristate::automatic;
    const int v = bool_value(text);
    if (v < 0) {
        return make_error(quote(text),
                          " is not auto/yes/no (accepted: auto, yes/no, true/false, on/off, 1/0)");
    }
    return v == 1 ? Tristate::on : Tristate::off;
}

Result<std::string> parse_log_level(std::string_view text) {
    text = trim(text);
    const std::string s = lower(text);
    for (std::size_t i = 0; i < log_level_names.size(); ++i) {
        if (s == log_level_names[i] || s == std::to_string(i + 1)) return std::string(log_level_names[i]);
    }
    return make_error(quote(text),
                      " is not a log level (accepted: emergency, alert, critical, error, warning, notice, "
                      "info, debug, or 1..8)");
}

Result<std::string> parse_lcores(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: an EAL -l list such as 0-1, 0,2,4 or 1@0; digits and , - @ ( ) only)";
    if (text.empty()) return make_error("empty lcore list ", accepted);
    bool has_digit = false;
    for (char c : text) {
        if (is_digit(c)) {
            has_digit = true;
        } else if (c != ',' && c != '-' && c != '@' && c != '(' && c != ')') {
            return make_error(quote(text), " is not an lcore list ", accepted);
        }
    }
    if (!has_digit) return make_error(quote(text), " is not an lcore list ", accepted);
    return std::string(text);
}

Result<std::string> parse_file_prefix(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: letters, digits, '_' and '-')";
    if (text.empty()) return make_error("empty file prefix ", accepted);
    for (char c : text) {
        if (!is_alnum(c) && c != '_' && c != '-') {
            return make_error(quote(text), " is not a file prefix ", accepted);
        }
    }
    return std::string(text);
}

Result<std::string> parse_pci_address(std::string_view text) {
    text = trim(text);
    const auto bad = [&] {
        return make_error(quote(text),
                          " is not a PCI address (accepted: DOMAIN:BUS:DEV.FN such as 0000:01:00.0, "
                          "or BUS:DEV.FN such as 01:00.0; see dpdk-devbind.py --status)");
    };
    std::uint32_t domain = 0;
    std::string_view rest = text;
    // Split "[domain:]bus:dev.fn" from the right: the last ':' ends the bus.
    const auto dot = rest.rfind('.');
    if (dot == std::string_view::npos) return bad();
    const auto colon2 = rest.rfind(':', dot);
    if (colon2 == std::string_view::npos) return bad();
    const auto colon1 = colon2 == 0 ? std::string_view::npos : rest.rfind(':', colon2 - 1);
    std::string_view bus_text;
    if (colon1 == std::string_view::npos) {
        bus_text = rest.substr(0, colon2);
    } else {
        if (!parse_hex_field(rest.substr(0, colon1), 1, 8, 0xffffffffU, domain)) return bad();
        bus_text = rest.substr(colon1 + 1, colon2 - colon1 - 1);
    }
    std::uint32_t bus = 0;
    std::uint32_t dev = 0;
    std::uint32_t fn = 0;
    if (!parse_hex_field(bus_text, 1, 2, 0xff, bus) ||
        !parse_hex_field(rest.substr(colon2 + 1, dot - colon2 - 1), 1, 2, 0x1f, dev) ||
        !parse_hex_field(rest.substr(dot + 1), 1, 1, 7, fn)) {
        return bad();
    }
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "%04x:%02x:%02x.%x", domain, bus, dev, fn);
    return std::string(buf.data());
}

std::string_view vdev_name(std::string_view devargs) noexcept {
    return devargs.substr(0, devargs.find(','));
}

Result<std::string> parse_vdev(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted =
        "(accepted: DPDK devargs NAME[,key=value...] such as net_null0,size=64; NAME is letters, digits, '_')";
    if (text.empty()) return make_error("empty vdev ", accepted);
    const std::string_view name = vdev_name(text);
    bool ok = !name.empty();
    for (char c : name) ok = ok && (is_alnum(c) || c == '_');
    for (char c : text) ok = ok && !is_space(c) && static_cast<unsigned char>(c) >= 0x20;
    if (!ok) return make_error(quote(text), " is not vdev devargs ", accepted);
    return std::string(text);
}

Result<std::string> parse_pcap(std::string_view text) {
    // Any path a shell can name: rxinto's file reader gets it as it is (it never
    // goes through EAL's device arguments), spaces, '=' and ',' included.
    if (text.empty()) return make_error("empty pcap path (accepted: a capture file path, '-' for standard input, or 'generated')");
    return std::string(text);
}

Result<std::string> parse_overlap(std::string_view text) {
    text = trim(text);
    const std::string s = lower(text);
    if (s == "first" || s == "last") return s;
    return make_error(quote(text), " is not an overlap policy (accepted: first, last)");
}

Result<std::string> parse_gap_grace(std::string_view text) {
    text = trim(text);
    const std::string s = lower(text);
    if (s == "auto") return s;
    const char* accepted = " (accepted: auto, a number of packets 0..1000000000, or milliseconds such as 250ms)";
    if (s.size() > 2 && s.ends_with("ms")) {
        auto ms = parse_uint(std::string_view(s).substr(0, s.size() - 2), gap_grace_ms_range);
        if (!ms) return make_error(quote(text), " is not a grace time", accepted);
        return std::to_string(ms.value()) + "ms";
    }
    auto n = parse_uint(s, gap_grace_packets_range);
    if (!n) return make_error(quote(text), " is not a gap grace", accepted);
    return std::to_string(n.value());
}

Result<std::string> parse_tcp_checksum(std::string_view text) {
    text = trim(text);
    const std::string s = lower(text);
    if (s == "auto" || s == "verify" || s == "ignore") return s;
    return make_error(quote(text), " is not a checksum mode (accepted: auto, verify, ignore)");
}

Result<std::string> parse_output_dir(std::string_view text) {
    text = trim(text);
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            return make_error(quote(text), ": a directory path cannot contain control characters");
        }
    }
    return std::string(text);
}

Result<std::string> parse_nats_urls(std::string_view text) {
    text = trim(text);
    if (text.empty()) return std::string();
    constexpr std::string_view accepted =
        "(accepted: nats://HOST:PORT, several joined with ',', e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222)";
    std::string out;
    std::size_t count = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t comma = text.find(',', pos);
        const std::string_view url = trim(text.substr(pos, comma == std::string_view::npos ? std::string_view::npos
                                                                                        : comma - pos));
        pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        if (url.empty()) return make_error("empty URL in ", quote(text), " ", accepted);
        if (++count > max_nats_urls)
            return make_error("more than ", std::to_string(max_nats_urls), " URLs in ", quote(text));
        constexpr std::string_view scheme = "nats://";
        if (url.substr(0, scheme.size()) != scheme)
            return make_error(quote(url), " is not a NATS URL: it must start with nats:// ", accepted);
        std::string_view rest = url.substr(scheme.size());
        for (char c : rest) {
            const auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f || c == '/' || c == '?' || c == '#' || c == ',')
                return make_error(quote(url), ": unexpected character after nats:// ", accepted);
        }
        std::string_view userinfo;
        if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
            userinfo = rest.substr(0, at + 1);
            rest = rest.substr(at + 1);
        }
        std::string_view host = rest;
        std::string_view port;
        if (!rest.empty() && rest.front() == '[') {
            const std::size_t close = rest.find(']');
            if (close == std::string_view::npos) return make_error(quote(url), ": missing ']' after an IPv6 address");
            host = rest.substr(0, close + 1);
            const std::string_view after = rest.substr(close + 1);
            if (!after.empty()) {
                if (after.front() != ':') return make_error(quote(url), ": expected ':PORT' after ']'");
                port = after.substr(1);
            }
            if (host.size() < 3) return make_error(quote(url), ": empty IPv6 address");
            for (char c : host.substr(1, host.size() - 2))
                if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'))
                    return make_error(quote(url), ": ", quote(host), " is not an IPv6 address");
        } else if (const std::size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
            host = rest.substr(0, colon);
            port = rest.substr(colon + 1);
            if (host.find(':') != std::string_view::npos)
                return make_error(quote(url), ": write an IPv6 address in brackets, e.g. nats://[::1]:4222");
        }
        if (host.empty()) return make_error(quote(url), ": no host ", accepted);
        if (host.front() != '[') {
            for (char c : host)
                if (!is_alnum(c) && c != '.' && c != '-' && c != '_')
                    return make_error(quote(url), ": ", quote(host), " is not a host name or address");
        }
        std::uint64_t port_number = 4222;  // NATS's well-known client port
        const bool port_given = host.size() < rest.size();  // a ':' followed the host
        if (port_given) {
            auto p = parse_uint(port, UintRange{1, 65535});
            if (!p) return make_error(quote(url), ": port: ", p.error().message);
            port_number = p.value();
        }
        if (!out.empty()) out += ',';
        out += scheme;
        out += userinfo;
        out += host;
        out += ':';
        out += std::to_string(port_number);
    }
    return out;
}

Result<std::string> parse_node_name(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: letters, digits, '_' and '-', at most 64; it names the"
                                          " NATS subjects rxinto.<node>.*)";
    if (text.size() > max_node_name) return make_error(quote(text), " is too long ", accepted);
    for (char c : text)
        if (!is_alnum(c) && c != '_' && c != '-') return make_error(quote(text), " is not a node name ", accepted);
    return std::string(text);
}

Result<double> parse_export_wait(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: seconds, decimal, 0..3600)";
    const auto v = parse_decimal(text);
    if (!v) return make_error(quote(text), " is not a number of seconds ", accepted);
    if (!std::isfinite(*v) || *v < 0 || *v > max_export_wait_s) return make_error(quote(text), " is out of range ", accepted);
    return *v;
}

Result<double> parse_connect_timeout(std::string_view text) {
    text = trim(text);
    constexpr std::string_view accepted = "(accepted: seconds, decimal, 0.1..60)";
    const auto v = parse_decimal(text);
    if (!v) return make_error(quote(text), " is not a number of seconds ", accepted);
    if (!std::isfinite(*v) || *v < min_connect_timeout_s || *v > max_connect_timeout_s)
        return make_error(quote(text), " is out of range ", accepted);
    return *v;
}

Result<std::string> parse_output_file(std::string_view text) {
    text = trim(text);
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            return make_error(quote(text), ": a file path cannot contain control characters");
        }
    }
    return std::string(text);
}

Result<std::uint32_t> parse_snaplen(std::string_view text) {
    text = trim(text);
    if (text == "0") return std::uint32_t{0};
    auto r = parse_uint(text, snaplen_range);
    if (!r) {
        return make_error(quote(text), " is not 0 or a number in ", range_text(snaplen_range),
                          " (bytes of each frame written; 0 = the whole frame, as tcpdump -s 0)");
    }
    return static_cast<std::uint32_t>(r.value());
}

Result<std::string> parse_dispatch(std::string_view text) {
    text = trim(text);
    const std::string s = lower(text);
    if (s == "auto") return s;
    const int v = bool_value(text);
    if (v < 0) {
        return make_error(quote(text), " is not auto/yes/no (accepted: auto, yes/no, true/false, on/off, 1/0)");
    }
    return std::string(v == 1 ? "yes" : "no");
}

Result<std::string> parse_filter(std::string_view text) {
    text = trim(text);
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
            return make_error(quote(text), ": a filter expression cannot contain control characters");
        }
    }
    return std::string(text);
}

std::vector<std::string> split_args(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_space(text[i])) ++i;
        const std::size_t start = i;
        while (i < text.size() && !is_space(text[i])) ++i;
        if (i > start) out.emplace_back(text.substr(start, i - start));
    }
    return out;
}

std::string_view to_string(Tristate t) noexcept {
    switch (t) {
        case Tristate::automatic: return "auto";
        case Tristate::on: return "yes";
        case Tristate::off: return "no";
    }
    return "?";
}

std::string_view to_string(PortKind k) noexcept {
    switch (k) {
        case PortKind::pcap: return "pcap";
        case PortKind::vdev: return "vdev";
        case PortKind::pci: return "pci";
    }
    return "?";
}

}  // namespace rxinto::config::values
