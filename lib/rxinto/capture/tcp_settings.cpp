#include "rxinto/capture/tcp_settings.hpp"

#include <string>

namespace rxinto::capture {

tcp::tcp_config tcp_config_of(const config::TcpSettings& t, bool replay) {
    tcp::tcp_config c;
    // The gap grace: a file replay can wait for a late copy of a hole's bytes
    // as long as memory allows (byte-exact against what the capture holds);
    // a live port keeps it bounded.
    if (t.gap_grace == "auto") {
        c.limits.ack_grace_packets = replay ? tcp::stream_limits::no_grace_limit : 32;
    } else if (t.gap_grace.ends_with("ms")) {
        c.limits.ack_grace_packets = tcp::stream_limits::no_grace_limit;
        c.limits.ack_grace_ns = std::stoull(t.gap_grace) * 1'000'000ULL;
    } else {
        c.limits.ack_grace_packets = static_cast<std::uint32_t>(std::stoul(t.gap_grace));
    }
    c.max_flows = t.max_flows;
    c.max_segments = t.max_segments;
    c.limits.max_segments = t.stream_max_segments;
    c.limits.max_bytes = t.stream_max_bytes;
    c.limits.max_ooo_bytes = t.stream_max_ooo_bytes;
    c.policy = t.overlap == "last" ? tcp::overlap_policy::last : tcp::overlap_policy::first;
    c.checksum = t.checksum == "verify"   ? tcp::checksum_mode::verify
                 : t.checksum == "ignore" ? tcp::checksum_mode::ignore
                                          : tcp::checksum_mode::automatic;
    c.midstream = t.midstream;
    auto ns = [](double sec) { return static_cast<std::uint64_t>(sec * 1e9); };
    c.timeout_syn_ns = ns(t.timeout_syn_s);
    c.timeout_established_ns = ns(t.timeout_established_s);
    c.timeout_closing_ns = ns(t.timeout_closing_s);
    c.timeout_closed_ns = ns(t.timeout_closed_s);
    c.ip_reassembly = t.ip_reassembly;
    c.mempool_low_water = t.mempool_low_water;
    return c;
}

Result<endpoint::endpoint_config> endpoint_config_of(const config::Settings& s) {
    endpoint::endpoint_config c;
    for (const std::string& a : s.endpoint.addresses) {
        auto ip = endpoint::parse_address(a);
        if (!ip) return make_error("[endpoint] address: ", ip.error().message);
        c.addresses.push_back(ip.value());
    }
    c.listen_ports = s.endpoint.listen;
    c.reset_unknown = s.endpoint.reset_unknown;
    c.max_connections = s.endpoint.max_connections;
    c.syn_queue = s.endpoint.syn_queue;
    c.syn_cookies = s.endpoint.syn_cookies;
    c.time_wait_max = s.endpoint.time_wait_max;
    c.time_wait_ns = static_cast<std::uint64_t>(s.endpoint.time_wait_s * 1e9);
    c.receive_buffer = s.endpoint.receive_buffer;
    c.max_segments = s.endpoint.max_segments;
    c.mtu = s.endpoint.mtu;
    c.tx_mbufs = s.endpoint.tx_mbufs;
    c.verify_checksums = s.tcp.checksum != "ignore";
    return c;
}

}  // namespace rxinto::capture
