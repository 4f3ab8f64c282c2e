// libFuzzer harness for net/parse.
//
// Input: byte 0 selects the link type (low two bits) and whether the frame is
// presented as snaplen-cut (bit 7: wire_len = caplen + bytes 1..2 of a small
// extra); the rest is the frame. The frame is copied to an exact-size heap
// buffer so that ASan sees any read past caplen. When parsing succeeds the
// checksum helpers run too, and the documented invariants of packet_meta are
// checked (a violation traps, which libFuzzer reports as a crash).
//
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//        -I lib/rxinto/net/include -I lib/rxinto/base/include \
//        test/fuzz/fuzz_parse.cpp lib/rxinto/net/parse.cpp
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "rxinto/net/parse.hpp"

namespace {

void require(bool cond) {
    if (!cond) __builtin_trap();
}

void check_ok(const rxinto::net::packet_meta& m, std::uint32_t cap) {
    require(m.cap_len == cap && m.wire_len >= cap);
    require(m.ip_version == 4 || m.ip_version == 6);
    require(m.tcp_header_len >= 20 && m.tcp_header_len <= 60);
    require(m.l3_offset + m.l3_header_len == m.l4_offset);
    require(m.l4_offset + m.tcp_header_len == m.payload_offset);
    require(m.payload_offset <= cap);
    require(m.payload_len <= cap - m.payload_offset);
    require(m.payload_len <= m.payload_wire_len);
    require(m.tcp_header_len + m.payload_wire_len == m.l4_len);
    require(m.l3_header_len + m.l4_len == m.l3_len);
    require(m.snap_truncated || m.l3_offset + m.l3_len + m.l2_trailer_len == cap);
    require(m.opts.sack_count <= rxinto::net::max_sack_blocks);
    require(m.opts.wscale <= 14);
    // Only the documented bits; a malformed option list never costs the segment.
    require((m.opts.ignored & ~(rxinto::net::tcp_options_ignored::bad_length |
                                rxinto::net::tcp_options_ignored::malformed)) == 0);
    require(m.vlan_count <= rxinto::net::max_vlan_tags);
    require(m.ipv6_ext_count <= rxinto::net::max_ipv6_ext_headers);
    require(!m.frag.is_fragment);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1 || size > 0xFFFF) return 0;
    namespace net = rxinto::net;
    const std::uint8_t sel = data[0];
    const auto lt = static_cast<net::link_type>(sel & 3u);
    const auto len = static_cast<std::uint32_t>(size - 1);

    // Exact-size copy: data + 1 .. data + size is already exact, but a fresh
    // allocation keeps that true if the harness is ever changed to add a prefix.
    const std::unique_ptr<std::uint8_t[]> frame(new std::uint8_t[len == 0 ? 1 : len]);
    if (len != 0) std::memcpy(frame.get(), data + 1, len);
    const std::uint8_t* p = len == 0 ? nullptr : frame.get();

    const std::uint32_t wire = (sel & 0x80u) ? len + 1u + ((sel >> 2) & 0x1Fu) * 97u : len;

    net::packet_meta m;
    const net::parse_status st = net::parse_frame(p, len, wire, lt, m);
    require(static_cast<std::size_t>(st) < net::parse_status_count);
    require(net::to_string(st) != nullptr);
    if (st == net::parse_status::ok) {
        check_ok(m, len);
        const bool tcp_ok = net::tcp_checksum_ok(m, p, len);
        require(!(tcp_ok && m.snap_truncated));
        (void)net::ipv4_header_checksum_ok(m, p, len);
    } else if (st == net::parse_status::ip_fragment) {
        require(m.frag.is_fragment);
        require(!net::tcp_checksum_ok(m, p, len));
    }
    return 0;
}
