// net/parse: hand-built frames for every supported encapsulation, every truncation
// of each of them, lying length fields, fragments, TCP options, checksums.
//
// Frames are copied into exact-size heap buffers before parsing, so that under
// -fsanitize=address any read past caplen is reported.
#include "rxinto/net/parse.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace rxinto::net {
// gtest prints statuses by name.
void PrintTo(parse_status s, std::ostream* os) { *os << to_string(s); }
}  // namespace rxinto::net

namespace {

using rxinto::seq32;
using rxinto::net::link_type;
using rxinto::net::packet_meta;
using rxinto::net::parse_status;
namespace net = rxinto::net;
namespace tf = rxinto::net::tcp_flag;

using bytes = std::vector<std::uint8_t>;
using addr4 = std::array<std::uint8_t, 4>;
using addr6 = std::array<std::uint8_t, 16>;

// ---- a tiny frame builder ---------------------------------------------------

std::uint8_t u8(unsigned v) { return static_cast<std::uint8_t>(v & 0xFFu); }

void put16(bytes& b, unsigned v) {
    b.push_back(u8(v >> 8));
    b.push_back(u8(v));
}
void put32(bytes& b, std::uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xFFFFu);
}
void set16(bytes& b, std::size_t at, unsigned v) {
    b.at(at) = u8(v >> 8);
    b.at(at + 1) = u8(v);
}
bytes operator+(bytes a, const bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
bytes str(const char* s) { return bytes(s, s + std::strlen(s)); }

// Independent reference: the textbook RFC 1071 loop over 16-bit words.
std::uint16_t ref_cksum(const bytes& b) {
    std::uint32_t s = 0;
    std::size_t i = 0;
    for (; i + 1 < b.size(); i += 2) s += static_cast<std::uint32_t>((b[i] << 8) | b[i + 1]);
    if (i < b.size()) s += static_cast<std::uint32_t>(b[i] << 8);
    while (s >> 16) s = (s & 0xFFFFu) + (s >> 16);
    return static_cast<std::uint16_t>(~s & 0xFFFFu);
}

struct tcp_spec {
    std::uint16_t sport = 40000;
    std::uint16_t dport = 80;
    std::uint32_t seq = 0xFFFFFFF0u;  // near the wrap on purpose
    std::uint32_t ack = 0x01020304u;
    std::uint8_t flags = tf::ack | tf::psh;
    std::uint16_t window = 502;
    bytes options;  // padded with EOL to a multiple of 4
    bytes payload;
    int doff_words = -1;  // override the data offset field
};

bytes tcp(const tcp_spec& s) {
    bytes opt = s.options;
    while (opt.size() % 4) opt.push_back(0);
    bytes b;
    put16(b, s.sport);
    put16(b, s.dport);
    put32(b, s.seq);
    put32(b, s.ack);
    const unsigned doff = s.doff_words >= 0 ? static_cast<unsigned>(s.doff_words)
                                            : static_cast<unsigned>((20 + opt.size()) / 4);
    b.push_back(u8(doff << 4));
    b.push_back(s.flags);
    put16(b, s.window);
    put16(b, 0);  // checksum, filled by the IP builders
    put16(b, 7);  // urgent pointer (URG not set; any value)
    return b + opt + s.payload;
}

void fill_tcp_cksum_v4(bytes& seg, const addr4& src, const addr4& dst) {
    set16(seg, 16, 0);
    bytes ph(src.begin(), src.end());
    ph.insert(ph.end(), dst.begin(), dst.end());
    ph.push_back(0);
    ph.push_back(6);
    put16(ph, static_cast<unsigned>(seg.size()));
    set16(seg, 16, ref_cksum(ph + seg));
}

void fill_tcp_cksum_v6(bytes& seg, const addr6& src, const addr6& dst) {
    set16(seg, 16, 0);
    bytes ph(src.begin(), src.end());
    ph.insert(ph.end(), dst.begin(), dst.end());
    put32(ph, static_cast<std::uint32_t>(seg.size()));
    put32(ph, 6);
    set16(seg, 16, ref_cksum(ph + seg));
}

const addr4 v4_src{192, 0, 2, 1};
const addr4 v4_dst{198, 51, 100, 7};
const addr6 v6_src{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const addr6 v6_dst{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};

struct ipv4_spec {
    std::uint8_t proto = 6;
    bytes options;                 // padded with EOL to a multiple of 4
    std::uint16_t id = 0xabcd;
    std::uint16_t frag = 0x4000;   // flags + offset field; DF
    std::uint8_t ttl = 64;
    int total_override = -1;
    int ihl_override = -1;
    bool tcp_cksum = true;
};

bytes ipv4(const ipv4_spec& s, bytes l4) {
    if (s.proto == 6 && s.tcp_cksum && l4.size() >= 20) fill_tcp_cksum_v4(l4, v4_src, v4_dst);
    bytes opt = s.options;
    while (opt.size() % 4) opt.push_back(0);
    const unsigned ihl = s.ihl_override >= 0 ? static_cast<unsigned>(s.ihl_override)
                                             : static_cast<unsigned>((20 + opt.size()) / 4);
    const unsigned total = s.total_override >= 0 ? static_cast<unsigned>(s.total_override)
                                                 : static_cast<unsigned>(20 + opt.size() + l4.size());
    bytes h;
    h.push_back(u8(0x40 | (ihl & 0xF)));
    h.push_back(0x10);  // TOS
    put16(h, total);
    put16(h, s.id);
    put16(h, s.frag);
    h.push_back(s.ttl);
    h.push_back(s.proto);
    put16(h, 0);
    h.insert(h.end(), v4_src.begin(), v4_src.end());
    h.insert(h.end(), v4_dst.begin(), v4_dst.end());
    h = h + opt;
    set16(h, 10, ref_cksum(h));
    return h + l4;
}

struct ext {
    std::uint8_t type;        // 0, 43, 60, 44, or anything (raw 8*(len8+1) bytes)
    unsigned len8 = 0;        // Hdr Ext Len (0, 43, 60)
    unsigned frag_offlg = 0;  // 44: offset(13) res(2) M(1)
    std::uint32_t frag_id = 0x11223344u;
    std::uint8_t segs_left = 0;  // 43
};

bytes ipv6(const std::vector<ext>& exts, bytes l4, std::uint8_t final_nh = 6,
           int plen_override = -1) {
    if (final_nh == 6 && l4.size() >= 20) fill_tcp_cksum_v6(l4, v6_src, v6_dst);
    bytes chain;
    for (std::size_t i = 0; i < exts.size(); ++i) {
        const std::uint8_t next = i + 1 < exts.size() ? exts[i + 1].type : final_nh;
        const ext& e = exts[i];
        bytes h;
        h.push_back(next);
        if (e.type == 44) {
            h.push_back(0);
            put16(h, e.frag_offlg);
            put32(h, e.frag_id);
        } else {
            h.push_back(u8(e.len8));
            const std::size_t total = 8 * (e.len8 + 1);
            if (e.type == 43) {
                h.push_back(4);  // routing type (SRH); contents not interpreted
                h.push_back(e.segs_left);
            } else {
                h.push_back(1);  // PadN over the rest
                h.push_back(u8(static_cast<unsigned>(total - 4)));
            }
            while (h.size() < total) h.push_back(0);
        }
        chain = chain + h;
    }
    const std::uint8_t first_nh = exts.empty() ? final_nh : exts[0].type;
    const unsigned plen = plen_override >= 0 ? static_cast<unsigned>(plen_override)
                                             : static_cast<unsigned>(chain.size() + l4.size());
    bytes h;
    put32(h, 0x6a012345u);  // version 6, traffic class 0xa0, flow label
    put16(h, plen);
    h.push_back(first_nh);
    h.push_back(55);  // hop limit
    h.insert(h.end(), v6_src.begin(), v6_src.end());
    h.insert(h.end(), v6_dst.begin(), v6_dst.end());
    return h + chain + l4;
}

struct tag {
    unsigned tpid;
    unsigned tci;
};

// Ethernet II, padded to the 60-byte minimum (no FCS) like a real NIC delivers it.
bytes eth(unsigned type, const bytes& payload, std::initializer_list<tag> tags = {}) {
    bytes b = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    for (const tag& t : tags) {
        put16(b, t.tpid);
        put16(b, t.tci);
    }
    put16(b, type);
    b = b + payload;
    while (b.size() < 60) b.push_back(0);
    return b;
}

bytes eth_llc_snap(const bytes& ip_datagram) {
    bytes b = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    put16(b, static_cast<unsigned>(8 + ip_datagram.size()));  // 802.3 length
    b = b + bytes{0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00} + ip_datagram;
    while (b.size() < 60) b.push_back(0);
    return b;
}

bytes sll(unsigned proto, const bytes& payload, unsigned hatype = 1, unsigned pkttype = 4) {
    bytes b;
    put16(b, pkttype);
    put16(b, hatype);
    put16(b, 6);
    b = b + bytes{0x02, 0, 0, 0, 0, 1, 0, 0};
    put16(b, proto);
    return b + payload;
}

bytes null_le(std::uint32_t family, const bytes& payload) {
    bytes b = {u8(family), u8(family >> 8), u8(family >> 16), u8(family >> 24)};
    return b + payload;
}
bytes null_be(std::uint32_t family, const bytes& payload) {
    bytes b;
    put32(b, family);
    return b + payload;
}

// TCP options used by the "full" frame: 40 bytes, the maximum.
bytes full_options() {
    bytes o = {2, 4, 0x05, 0xb4,  // MSS 1460
               1, 3, 3, 7,        // NOP, WS 7
               4, 2,              // SACK permitted
               8, 10};            // TS
    put32(o, 0x11111111u);
    put32(o, 0x22222222u);
    o = o + bytes{1, 1, 5, 18};  // NOP NOP SACK 2 blocks
    put32(o, 0xFFFFFF00u);
    put32(o, 0x00000010u);
    put32(o, 100);
    put32(o, 200);
    return o;
}

tcp_spec default_tcp() {
    tcp_spec s;
    s.options = full_options();
    s.payload = str("hello");  // odd length on purpose
    return s;
}

// ---- helpers ------------------------------------------------------------------

parse_status parse(const bytes& frame, link_type lt, packet_meta& m) {
    const bytes copy = frame;  // exact-size heap buffer
    return net::parse_frame(copy.data(), static_cast<std::uint32_t>(copy.size()), lt, m);
}

parse_status parse(const bytes& frame, link_type lt) {
    packet_meta m;
    return parse(frame, lt, m);
}

bool starts_with(const char* s, const char* prefix) {
    return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

// What must hold for any ok result, whatever the input.
void check_invariants(const packet_meta& m, std::uint32_t cap) {
    EXPECT_LE(m.cap_len, m.wire_len);
    EXPECT_EQ(m.cap_len, cap);
    EXPECT_GE(m.tcp_header_len, 20u);
    EXPECT_LE(m.tcp_header_len, 60u);
    EXPECT_EQ(m.l3_offset + m.l3_header_len, m.l4_offset);
    EXPECT_EQ(m.l4_offset + m.tcp_header_len, m.payload_offset);
    EXPECT_LE(m.payload_offset, cap);
    EXPECT_LE(m.payload_len, cap - m.payload_offset);
    EXPECT_LE(m.payload_len, m.payload_wire_len);
    EXPECT_EQ(m.tcp_header_len + m.payload_wire_len, m.l4_len);
    EXPECT_EQ(m.l3_header_len + m.l4_len, m.l3_len);
    if (!m.snap_truncated) {
        EXPECT_EQ(m.payload_len, m.payload_wire_len);
        EXPECT_EQ(m.l3_offset + m.l3_len + m.l2_trailer_len, cap);
    }
    EXPECT_LE(m.opts.sack_count, 4u);
    EXPECT_LE(m.opts.wscale, 14u);
    EXPECT_LE(m.vlan_count, 3u);
    EXPECT_TRUE(m.ip_version == 4 || m.ip_version == 6);
}

// Every prefix of a good frame: as a frame that really is that short (only ok once
// the whole IP datagram is there: then only link padding was lost), and as a
// snaplen-cut frame (ok once every header is there, with snap_truncated and the
// captured payload length; otherwise a truncated_* status).
void check_all_truncations(const bytes& frame, link_type lt) {
    packet_meta full;
    ASSERT_EQ(parse(frame, lt, full), parse_status::ok);
    const auto len = static_cast<std::uint32_t>(frame.size());
    const std::uint32_t dgram_end = full.l3_offset + full.l3_len;
    const std::uint32_t hdr_end = full.payload_offset;
    for (std::uint32_t k = 0; k < len; ++k) {
        const bytes cut(frame.begin(), frame.begin() + k);
        packet_meta m;
        const parse_status st = net::parse_frame(cut.data(), k, lt, m);
        if (k >= dgram_end) {
            EXPECT_EQ(st, parse_status::ok) << "k=" << k;
            EXPECT_EQ(m.l2_trailer_len, k - dgram_end);
            EXPECT_EQ(m.payload_len, full.payload_len);
        } else {
            EXPECT_NE(st, parse_status::ok) << "k=" << k;
        }
        if (st == parse_status::ok) check_invariants(m, k);

        packet_meta s;
        const parse_status sst = net::parse_frame(cut.data(), k, len, lt, s);
        if (k >= hdr_end) {
            ASSERT_EQ(sst, parse_status::ok) << "k=" << k;
            check_invariants(s, k);
            EXPECT_EQ(s.snap_truncated, k < dgram_end) << "k=" << k;
            const std::uint32_t want = k - hdr_end < full.payload_len ? k - hdr_end : full.payload_len;
            EXPECT_EQ(s.payload_len, want) << "k=" << k;
            EXPECT_EQ(s.payload_wire_len, full.payload_wire_len);
            EXPECT_EQ(s.seq, full.seq);
            EXPECT_EQ(s.src_port, full.src_port);
            EXPECT_EQ(s.wire_len, len);
            // A cut segment cannot be verified.
            if (s.snap_truncated) {
                EXPECT_FALSE(net::tcp_checksum_ok(s, cut.data(), k));
            }
        } else {
            EXPECT_NE(sst, parse_status::ok) << "k=" << k;
            EXPECT_TRUE(starts_with(net::to_string(sst), "truncated_"))
                << "k=" << k << " " << net::to_string(sst);
        }
    }
}

bool checksums_ok(const bytes& frame, link_type lt) {
    packet_meta m;
    if (parse(frame, lt, m) != parse_status::ok) return false;
    const bool ip_ok = m.ip_version == 6 || net::ipv4_header_checksum_ok(m, frame.data(),
                                                  static_cast<std::uint32_t>(frame.size()));
    return ip_ok && net::tcp_checksum_ok(m, frame.data(), static_cast<std::uint32_t>(frame.size()));
}

bytes std_v4_frame() { return eth(0x0800, ipv4({}, tcp(default_tcp()))); }
bytes std_v6_frame() { return eth(0x86DD, ipv6({}, tcp(default_tcp()))); }

// ---- names and link types ----------------------------------------------------

TEST(ParseStatus, NamesAreDistinctSnakeCase) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < net::parse_status_count; ++i) {
        const std::string n = net::to_string(static_cast<parse_status>(i));
        EXPECT_NE(n, "unknown");
        for (char c : n) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << n;
        EXPECT_TRUE(seen.insert(n).second) << n;
    }
    EXPECT_STREQ(net::to_string(parse_status::ok), "ok");
    EXPECT_STREQ(net::to_string(parse_status::ip_fragment), "ip_fragment");
    EXPECT_STREQ(net::to_string(parse_status::count_), "unknown");
}

TEST(LinkType, FromPcap) {
    EXPECT_EQ(net::link_type_from_pcap(1), link_type::ethernet);
    EXPECT_EQ(net::link_type_from_pcap(101), link_type::raw_ip);
    EXPECT_EQ(net::link_type_from_pcap(12), link_type::raw_ip);
    EXPECT_EQ(net::link_type_from_pcap(228), link_type::raw_ip);
    EXPECT_EQ(net::link_type_from_pcap(229), link_type::raw_ip);
    EXPECT_EQ(net::link_type_from_pcap(113), link_type::linux_sll);
    EXPECT_EQ(net::link_type_from_pcap(0), link_type::null_loopback);
    EXPECT_EQ(net::link_type_from_pcap(108), link_type::null_loopback);
    EXPECT_FALSE(net::link_type_from_pcap(127).has_value());  // radiotap
    EXPECT_FALSE(net::link_type_from_pcap(276).has_value());  // SLL2: not yet
}

// ---- good frames ----------------------------------------------------------------

TEST(ParseGood, EthernetIpv4TcpWithAllOptions) {
    const bytes f = std_v4_frame();
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
    EXPECT_EQ(m.link, link_type::ethernet);
    EXPECT_EQ(m.ethertype, 0x0800);
    EXPECT_EQ(m.vlan_count, 0);
    EXPECT_FALSE(m.llc_snap);
    EXPECT_EQ(m.ip_version, 4);
    EXPECT_EQ(m.l3_offset, 14u);
    EXPECT_EQ(m.l3_header_len, 20u);
    EXPECT_EQ(m.l3_len, 20u + 60u + 5u);
    EXPECT_EQ(m.ttl, 64);
    EXPECT_EQ(m.tos, 0x10);
    EXPECT_EQ(m.l4_proto, 6);
    EXPECT_EQ((addr4{m.src_addr[0], m.src_addr[1], m.src_addr[2], m.src_addr[3]}), v4_src);
    EXPECT_EQ((addr4{m.dst_addr[0], m.dst_addr[1], m.dst_addr[2], m.dst_addr[3]}), v4_dst);
    for (std::size_t i = 4; i < 16; ++i) EXPECT_EQ(m.src_addr[i], 0);
    EXPECT_FALSE(m.frag.is_fragment);
    EXPECT_TRUE(m.frag.dont_fragment);
    EXPECT_EQ(m.frag.id, 0xabcdu);
    EXPECT_EQ(m.l4_offset, 34u);
    EXPECT_EQ(m.src_port, 40000);
    EXPECT_EQ(m.dst_port, 80);
    EXPECT_EQ(m.seq, seq32{0xFFFFFFF0u});
    EXPECT_EQ(m.ack, seq32{0x01020304u});
    EXPECT_TRUE(m.has_flag(tf::ack));
    EXPECT_TRUE(m.has_flag(tf::psh));
    EXPECT_FALSE(m.has_flag(tf::syn));
    EXPECT_EQ(m.window, 502);
    EXPECT_EQ(m.urgent_ptr, 7);
    EXPECT_EQ(m.tcp_header_len, 60);
    EXPECT_EQ(m.payload_offset, 94u);
    EXPECT_EQ(m.payload_len, 5u);
    EXPECT_EQ(m.payload_wire_len, 5u);
    EXPECT_EQ(std::memcmp(f.data() + m.payload_offset, "hello", 5), 0);
    EXPECT_EQ(m.l2_trailer_len, 0u);
    EXPECT_FALSE(m.snap_truncated);

    EXPECT_TRUE(m.opts.has_mss);
    EXPECT_EQ(m.opts.mss, 1460);
    EXPECT_TRUE(m.opts.has_wscale);
    EXPECT_EQ(m.opts.wscale, 7);
    EXPECT_TRUE(m.opts.sack_permitted);
    EXPECT_TRUE(m.opts.has_timestamps);
    EXPECT_EQ(m.opts.ts_val, 0x11111111u);
    EXPECT_EQ(m.opts.ts_ecr, 0x22222222u);
    ASSERT_EQ(m.opts.sack_count, 2);
    EXPECT_EQ(m.opts.sack[0].left, seq32{0xFFFFFF00u});
    EXPECT_EQ(m.opts.sack[0].right, seq32{0x10u});
    EXPECT_EQ(m.opts.sack[1].left, seq32{100});
    EXPECT_EQ(m.opts.sack[1].right, seq32{200});

    EXPECT_TRUE(checksums_ok(f, link_type::ethernet));
    check_all_truncations(f, link_type::ethernet);
}

TEST(ParseGood, EthernetPaddingIsTrimmed) {
    tcp_spec s;  // bare SYN: 14 + 20 + 20 = 54 bytes, padded to 60
    s.flags = tf::syn;
    const bytes f = eth(0x0800, ipv4({}, tcp(s)));
    ASSERT_EQ(f.size(), 60u);
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
    EXPECT_EQ(m.l3_len, 40u);
    EXPECT_EQ(m.l2_trailer_len, 6u);
    EXPECT_EQ(m.payload_len, 0u);  // the padding is not payload
    EXPECT_EQ(m.payload_wire_len, 0u);
    EXPECT_TRUE(m.has_flag(tf::syn));
    EXPECT_TRUE(checksums_ok(f, link_type::ethernet));

    // A trailing FCS or vendor trailer is trimmed the same way.
    bytes fcs = std_v4_frame() + bytes{0xde, 0xad, 0xbe, 0xef};
    ASSERT_EQ(parse(fcs, link_type::ethernet, m), parse_status::ok);
    EXPECT_EQ(m.l2_trailer_len, 4u);
    EXPECT_EQ(m.payload_len, 5u);
    EXPECT_TRUE(checksums_ok(fcs, link_type::ethernet));
    check_all_truncations(f, link_type::ethernet);
}

TEST(ParseGood, SingleVlanTag) {
    const bytes f = eth(0x0800, ipv4({}, tcp(default_tcp())), {{0x8100, 0xA064}});  // PCP 5, VID 100
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
    ASSERT_EQ(m.vlan_count, 1);
    EXPECT_EQ(m.vlans[0].tpid, 0x8100);
    EXPECT_EQ(m.vlans[0].vid(), 100);
    EXPECT_EQ(m.vlans[0].pcp(), 5);
    EXPECT_FALSE(m.vlans[0].dei());
    EXPECT_EQ(m.l3_offset, 18u);
    EXPECT_TRUE(checksums_ok(f, link_type::ethernet));
    check_all_truncations(f, link_type::ethernet);
}

TEST(ParseGood, QinQ) {
    const bytes f = eth(0x86DD, ipv6({}, tcp(default_tcp())), {{0x88A8, 0x1007}, {0x8100, 0x0FFF}});
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
    ASSERT_EQ(m.vlan_count, 2);
    EXPECT_EQ(m.vlans[0].tpid, 0x88A8);
    EXPECT_EQ(m.vlans[0].vid(), 7);
    EXPECT_TRUE(m.vlans[0].dei());
    EXPECT_EQ(m.vlans[1].tpid, 0x8100);
    EXPECT_EQ(m.vlans[1].vid(), 0xFFF);
    EXPECT_EQ(m.l3_offset, 22u);
    EXPECT_EQ(m.ip_version, 6);
    EXPECT_TRUE(checksums_ok(f, link_type::ethernet));
    check_all_truncations(f, link_type::ethernet);
}

TEST(ParseGood, TripleTagsAndAFourthIsTooMany) {
    const bytes f = eth(0x0800, ipv4({}, tcp(default_tcp())),
                        {{0x9100, 1}, {0x88A8, 2}, {0x8100, 3}});
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
    ASSERT_EQ(m.vlan_count, 3);
    EXPECT_EQ(m.vlans[0].tpid, 0x9100);
    EXPECT_EQ(m.vlans[0].vid(), 1);
    EXPECT_EQ(m.vlans[1].vid(), 2);
    EXPECT_EQ(m.vlans[2].vid(), 3);
    EXPECT_EQ(m.l3_offset, 26u);
    check_all_truncations(f, link_type::ethernet);

    const bytes four = eth(0x0800, ipv4({}, tcp(default_tcp())),
                           {{0x8100, 1}, {0x8100, 2}, {0x8100, 3}, {0x8100, 4}});
    EXPECT_EQ(parse(four, link_type::ethernet), parse_status::too_many_vlan_tags);
}

TEST(ParseGood, Ipv4WithOptions) {
    ipv4_spec ip;
    ip.options = {1, 7, 7, 4, 0, 0, 0, 0};  // NOP, Record Route (1 slot)
    const bytes f = eth(0x0800, ipv4(ip, tcp(default_tcp())));
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
    EXPECT_EQ(m.l3_header_len, 28u);
    EXPECT_EQ(m.l4_offset, 42u);
    EXPECT_TRUE(checksums_ok(f, link_type::ethernet));
    check_all_truncations(f, link_type::ethernet);

    ip.options = {7, 7, 4, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};  // RR, EOL, garbage: ignored
    EXPECT_EQ(parse(eth(0x0800, ipv4(ip, tcp(default_tcp()))), link_type::ethernet), parse_status::ok);
}

TEST(ParseGood, Ipv6EachExtensionHeaderAndAllChained) {
    const std::vector<std::vector<ext>> chains = {
        {{0}},                    // hop-by-hop
        {{43}},                   // routing
        {{60, 1}},                // destination options, 16 bytes
        {{44, 0, 0}},             // atomic fragment (RFC 6946)
        {{0}, {43}, {60, 1}, {44}},
        {{60}, {60}, {60}, {60}, {60}, {60}, {60}, {60}},  // 8: the cap, still ok
    };
    for (const auto& chain : chains) {
        const bytes f = eth(0x86DD, ipv6(chain, tcp(default_tcp())));
        packet_meta m;
        ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok) << chain.size();
        EXPECT_EQ(m.ip_version, 6);
        EXPECT_EQ(m.ipv6_ext_count, chain.size());
        std::uint32_t ext_len = 0;
        for (const ext& e : chain) ext_len += e.type == 44 ? 8 : 8 * (e.len8 + 1);
        EXPECT_EQ(m.l3_header_len, 40 + ext_len);
        EXPECT_EQ(m.l4_offset, 14 + 40 + ext_len);
        EXPECT_EQ(m.l4_proto, 6);
        EXPECT_EQ(m.tos, 0xa0);
        EXPECT_EQ(m.ttl, 55);
        EXPECT_EQ(m.src_addr, v6_src);
        EXPECT_EQ(m.dst_addr, v6_dst);
        EXPECT_FALSE(m.frag.is_fragment);
        EXPECT_EQ(m.payload_len, 5u);
        EXPECT_TRUE(checksums_ok(f, link_type::ethernet));
        check_all_truncations(f, link_type::ethernet);
    }
    packet_meta m;
    ASSERT_EQ(parse(eth(0x86DD, ipv6({{44}}, tcp(default_tcp()))), link_type::ethernet, m),
              parse_status::ok);
    EXPECT_TRUE(m.frag.v6_header);
    EXPECT_EQ(m.frag.id, 0x11223344u);

    ASSERT_EQ(parse(eth(0x86DD, ipv6({{43, 0, 0, 0, 3}}, tcp(default_tcp()))), link_type::ethernet, m),
              parse_status::ok);
    EXPECT_TRUE(m.ipv6_has_routing);
    EXPECT_EQ(m.ipv6_routing_segments_left, 3);
}

TEST(ParseGood, RawIp) {
    const bytes v4 = ipv4({}, tcp(default_tcp()));
    packet_meta m;
    ASSERT_EQ(parse(v4, link_type::raw_ip, m), parse_status::ok);
    EXPECT_EQ(m.l3_offset, 0u);
    EXPECT_EQ(m.ethertype, 0x0800);
    EXPECT_TRUE(checksums_ok(v4, link_type::raw_ip));
    check_all_truncations(v4, link_type::raw_ip);

    const bytes v6 = ipv6({{60}}, tcp(default_tcp()));
    ASSERT_EQ(parse(v6, link_type::raw_ip, m), parse_status::ok);
    EXPECT_EQ(m.ip_version, 6);
    EXPECT_TRUE(checksums_ok(v6, link_type::raw_ip));
    check_all_truncations(v6, link_type::raw_ip);

    EXPECT_EQ(parse(bytes{}, link_type::raw_ip), parse_status::truncated_ipv4);
    bytes v5 = v4;
    v5[0] = 0x55;
    EXPECT_EQ(parse(v5, link_type::raw_ip), parse_status::not_ip);
}

TEST(ParseGood, LinuxSll) {
    const bytes f = sll(0x0800, ipv4({}, tcp(default_tcp())));
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::linux_sll, m), parse_status::ok);
    EXPECT_EQ(m.l3_offset, 16u);
    EXPECT_EQ(m.sll_pkttype, 4);
    EXPECT_TRUE(checksums_ok(f, link_type::linux_sll));
    check_all_truncations(f, link_type::linux_sll);

    const bytes f6 = sll(0x86DD, ipv6({}, tcp(default_tcp())));
    ASSERT_EQ(parse(f6, link_type::linux_sll, m), parse_status::ok);
    EXPECT_EQ(m.ip_version, 6);
    check_all_truncations(f6, link_type::linux_sll);

    // A tag left in by libpcap.
    bytes tagged_payload;
    put16(tagged_payload, 42);
    put16(tagged_payload, 0x0800);
    const bytes tagged = sll(0x8100, tagged_payload + ipv4({}, tcp(default_tcp())));
    ASSERT_EQ(parse(tagged, link_type::linux_sll, m), parse_status::ok);
    ASSERT_EQ(m.vlan_count, 1);
    EXPECT_EQ(m.vlans[0].vid(), 42);
    check_all_truncations(tagged, link_type::linux_sll);

    // ETH_P_802_2: LLC/SNAP follows.
    const bytes llc = sll(0x0004, bytes{0xAA, 0xAA, 3, 0, 0, 0, 0x08, 0x00} + ipv4({}, tcp(default_tcp())));
    ASSERT_EQ(parse(llc, link_type::linux_sll, m), parse_status::ok);
    EXPECT_TRUE(m.llc_snap);
    check_all_truncations(llc, link_type::linux_sll);

    EXPECT_EQ(parse(sll(0x0806, bytes(28, 0)), link_type::linux_sll), parse_status::not_ip);
    EXPECT_EQ(parse(sll(0x0001, ipv4({}, tcp(default_tcp()))), link_type::linux_sll), parse_status::not_ip);
    EXPECT_EQ(parse(sll(0x0800, ipv4({}, tcp(default_tcp())), 824), link_type::linux_sll),
              parse_status::not_ip);  // nlmon
}

TEST(ParseGood, NullLoopback) {
    const bytes v4 = null_le(2, ipv4({}, tcp(default_tcp())));
    packet_meta m;
    ASSERT_EQ(parse(v4, link_type::null_loopback, m), parse_status::ok);
    EXPECT_EQ(m.l3_offset, 4u);
    EXPECT_TRUE(checksums_ok(v4, link_type::null_loopback));
    check_all_truncations(v4, link_type::null_loopback);

    for (std::uint32_t fam : {10u, 24u, 28u, 30u}) {
        EXPECT_EQ(parse(null_le(fam, ipv6({}, tcp(default_tcp()))), link_type::null_loopback),
                  parse_status::ok) << fam;
        EXPECT_EQ(parse(null_be(fam, ipv6({}, tcp(default_tcp()))), link_type::null_loopback),
                  parse_status::ok) << fam;  // LINKTYPE_LOOP / big-endian capture host
    }
    check_all_truncations(null_be(30, ipv6({}, tcp(default_tcp()))), link_type::null_loopback);
    EXPECT_EQ(parse(null_le(7, ipv4({}, tcp(default_tcp()))), link_type::null_loopback),
              parse_status::not_ip);
    EXPECT_EQ(parse(null_be(2, ipv6({}, tcp(default_tcp()))), link_type::null_loopback),
              parse_status::bad_ipv4_version);  // family says v4, header says v6
}

TEST(ParseGood, LlcSnap) {
    const bytes f = eth_llc_snap(ipv4({}, tcp(default_tcp())));
    packet_meta m;
    ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
    EXPECT_TRUE(m.llc_snap);
    EXPECT_EQ(m.ethertype, 0x0800);
    EXPECT_EQ(m.l3_offset, 22u);
    EXPECT_TRUE(checksums_ok(f, link_type::ethernet));
    check_all_truncations(f, link_type::ethernet);

    // Plain LLC (spanning tree: 42 42 03), SNAP with a vendor OUI, silly lengths.
    bytes stp = f;
    stp[14] = 0x42;
    stp[15] = 0x42;
    EXPECT_EQ(parse(stp, link_type::ethernet), parse_status::not_ip);
    bytes cisco = f;
    cisco[19] = 0x0C;
    EXPECT_EQ(parse(cisco, link_type::ethernet), parse_status::not_ip);
    bytes tiny = f;
    set16(tiny, 12, 3);
    EXPECT_EQ(parse(tiny, link_type::ethernet), parse_status::not_ip);
    bytes bridge = f;  // 802.1H OUI 00-00-F8 carries an ethertype too
    bridge[19] = 0xF8;
    EXPECT_EQ(parse(bridge, link_type::ethernet), parse_status::ok);
}

TEST(ParseGood, NotIp) {
    EXPECT_EQ(parse(eth(0x0806, bytes(28, 0)), link_type::ethernet), parse_status::not_ip);  // ARP
    EXPECT_EQ(parse(eth(0x8847, bytes(40, 0)), link_type::ethernet), parse_status::not_ip);  // MPLS
    EXPECT_EQ(parse(eth(0x0806, bytes(28, 0), {{0x8100, 5}}), link_type::ethernet),
              parse_status::not_ip);
    EXPECT_EQ(parse(eth(0x05DC + 10, bytes(40, 0)), link_type::ethernet), parse_status::not_ip);
    EXPECT_EQ(parse(bytes(13, 0), link_type::ethernet), parse_status::truncated_ethernet);
    packet_meta m;
    EXPECT_EQ(net::parse_frame(nullptr, 0, link_type::ethernet, m), parse_status::truncated_ethernet);
    EXPECT_EQ(net::parse_frame(nullptr, 0, static_cast<link_type>(99), m), parse_status::not_ip);
}

// ---- not TCP, fragments -------------------------------------------------------------

TEST(ParseOther, NotTcp) {
    ipv4_spec udp;
    udp.proto = 17;
    packet_meta m;
    ASSERT_EQ(parse(eth(0x0800, ipv4(udp, bytes(16, 0))), link_type::ethernet, m), parse_status::not_tcp);
    EXPECT_EQ(m.l4_proto, 17);
    EXPECT_EQ(m.ip_version, 4);  // layers before the failure are filled in
    for (std::uint8_t nh : {std::uint8_t{50}, std::uint8_t{51}, std::uint8_t{59}, std::uint8_t{58}}) {
        EXPECT_EQ(parse(eth(0x86DD, ipv6({{60}}, bytes(24, 0), nh)), link_type::ethernet),
                  parse_status::not_tcp) << int{nh};
    }
    // No Next Header with an empty payload is fine up to the "not TCP" verdict.
    EXPECT_EQ(parse(eth(0x86DD, ipv6({}, bytes{}, 59)), link_type::ethernet), parse_status::not_tcp);
}

TEST(ParseOther, Ipv4Fragments) {
    ipv4_spec first;
    first.frag = 0x2000;  // MF, offset 0
    packet_meta m;
    ASSERT_EQ(parse(eth(0x0800, ipv4(first, tcp(default_tcp()))), link_type::ethernet, m),
              parse_status::ip_fragment);
    EXPECT_TRUE(m.frag.is_fragment);
    EXPECT_TRUE(m.frag.more);
    EXPECT_EQ(m.frag.offset, 0);
    EXPECT_EQ(m.frag.id, 0xabcdu);
    EXPECT_EQ(m.l4_offset, 34u);
    EXPECT_EQ(m.src_port, 0);  // TCP not parsed for fragments

    ipv4_spec last;
    last.frag = 185;  // offset 1480, no MF
    last.tcp_cksum = false;
    ASSERT_EQ(parse(eth(0x0800, ipv4(last, bytes(100, 0xab))), link_type::ethernet, m),
              parse_status::ip_fragment);
    EXPECT_FALSE(m.frag.more);
    EXPECT_EQ(m.frag.offset, 1480);
    EXPECT_FALSE(net::tcp_checksum_ok(m, nullptr, 0));

    ipv4_spec udp = first;
    udp.proto = 17;
    EXPECT_EQ(parse(eth(0x0800, ipv4(udp, bytes(30, 0))), link_type::ethernet), parse_status::not_tcp);
}

TEST(ParseOther, Ipv6Fragments) {
    packet_meta m;
    const bytes first = eth(0x86DD, ipv6({{0}, {44, 0, 0x0001, 0xCAFEBABEu}}, tcp(default_tcp())));
    ASSERT_EQ(parse(first, link_type::ethernet, m), parse_status::ip_fragment);
    EXPECT_TRUE(m.frag.is_fragment);
    EXPECT_TRUE(m.frag.v6_header);
    EXPECT_TRUE(m.frag.more);
    EXPECT_EQ(m.frag.offset, 0);
    EXPECT_EQ(m.frag.id, 0xCAFEBABEu);
    EXPECT_EQ(m.l4_offset, 14u + 40 + 8 + 8);
    EXPECT_EQ(m.ipv6_ext_count, 2);

    const bytes last = eth(0x86DD, ipv6({{44, 0, 1480, 7}}, bytes(64, 0)));
    ASSERT_EQ(parse(last, link_type::ethernet, m), parse_status::ip_fragment);
    EXPECT_FALSE(m.frag.more);
    EXPECT_EQ(m.frag.offset, 1480);

    const bytes udp = eth(0x86DD, ipv6({{44, 0, 1}}, bytes(64, 0), 17));
    EXPECT_EQ(parse(udp, link_type::ethernet), parse_status::not_tcp);
}

// ---- lying length fields -----------------------------------------------------------

TEST(ParseLies, Ipv4) {
    const bytes good = std_v4_frame();
    auto with = [&](std::size_t at, std::uint8_t v) {
        bytes b = good;
        b[at] = v;
        return parse(b, link_type::ethernet);
    };
    EXPECT_EQ(with(14, 0x65), parse_status::bad_ipv4_version);
    EXPECT_EQ(with(14, 0x44), parse_status::bad_ipv4_ihl);  // IHL 4 < 5
    EXPECT_EQ(with(14, 0x40), parse_status::bad_ipv4_ihl);

    // IHL beyond the frame: a 20-byte IPv4 header alone in a raw frame claiming 60.
    bytes lone = ipv4({}, bytes{});
    lone[0] = 0x4F;
    EXPECT_EQ(parse(lone, link_type::raw_ip), parse_status::bad_ipv4_ihl);

    ipv4_spec ip;
    ip.total_override = static_cast<int>(20 + 60 + 5 + 1);  // one more than the frame
    EXPECT_EQ(parse(eth(0x0800, ipv4(ip, tcp(default_tcp()))), link_type::ethernet),
              parse_status::bad_ipv4_total_length);
    ip.total_override = 19;  // below the header
    EXPECT_EQ(parse(eth(0x0800, ipv4(ip, tcp(default_tcp()))), link_type::ethernet),
              parse_status::bad_ipv4_total_length);
    ip.total_override = 0;  // TSO-style
    EXPECT_EQ(parse(eth(0x0800, ipv4(ip, tcp(default_tcp()))), link_type::ethernet),
              parse_status::bad_ipv4_total_length);
    // Total length > frame is fine when the caller says the snaplen cut it.
    ip.total_override = 2000;
    bytes cut = eth(0x0800, ipv4(ip, tcp(default_tcp())));
    packet_meta m;
    ASSERT_EQ(net::parse_frame(cut.data(), static_cast<std::uint32_t>(cut.size()), 2014,
                               link_type::ethernet, m), parse_status::ok);
    EXPECT_TRUE(m.snap_truncated);
    EXPECT_EQ(m.payload_len, 5u);
    EXPECT_EQ(m.payload_wire_len, 2000u - 80u);
    // ... but not when it is larger than even the wire length.
    EXPECT_EQ(net::parse_frame(cut.data(), static_cast<std::uint32_t>(cut.size()), 2013,
                               link_type::ethernet, m), parse_status::bad_ipv4_total_length);

    // TCP segment (per total length) shorter than a TCP header.
    ip.total_override = 20 + 10;
    EXPECT_EQ(parse(eth(0x0800, ipv4(ip, tcp(default_tcp()))), link_type::ethernet),
              parse_status::truncated_tcp);
}

TEST(ParseLies, Ipv4Options) {
    const std::vector<bytes> bad = {
        {0x44, 0, 0, 0},           // length 0
        {0x44, 1, 0, 0},           // length 1
        {0x44, 9, 0, 0, 0, 0, 0, 0},  // runs past the 8 bytes of options
        {1, 1, 1, 0x44},           // kind in the last byte, no length byte
    };
    for (const bytes& o : bad) {
        ipv4_spec ip;
        ip.options = o;
        EXPECT_EQ(parse(eth(0x0800, ipv4(ip, tcp(default_tcp()))), link_type::ethernet),
                  parse_status::ipv4_options_overrun);
    }
}

TEST(ParseLies, Ipv6) {
    EXPECT_EQ(parse(eth(0x86DD, ipv6({}, tcp(default_tcp()), 6, 60 + 5 + 1)), link_type::ethernet),
              parse_status::bad_ipv6_payload_length);
    EXPECT_EQ(parse(eth(0x86DD, ipv6({{0}}, tcp(default_tcp()), 6, 0)), link_type::ethernet),
              parse_status::bad_ipv6_payload_length);  // jumbogram
    EXPECT_EQ(parse(eth(0x86DD, ipv6({}, tcp(default_tcp()), 6, 0)), link_type::ethernet),
              parse_status::truncated_tcp);  // empty payload, next header TCP
    EXPECT_EQ(parse(eth(0x86DD, ipv4({}, tcp(default_tcp()))), link_type::ethernet),
              parse_status::bad_ipv6_version);
    EXPECT_EQ(parse(eth(0x0800, ipv6({}, tcp(default_tcp()))), link_type::ethernet),
              parse_status::bad_ipv4_version);

    // Nine extension headers: one too many.
    EXPECT_EQ(parse(eth(0x86DD, ipv6(std::vector<ext>(9, ext{60}), tcp(default_tcp()))), link_type::ethernet),
              parse_status::ipv6_too_many_ext);

    // Extension header length that runs past the payload length.
    bytes over = eth(0x86DD, ipv6({{60}}, tcp(default_tcp())));
    over[14 + 40 + 1] = 20;  // 168 bytes
    EXPECT_EQ(parse(over, link_type::ethernet), parse_status::ipv6_ext_overrun);
    // Payload length ending inside an extension header (or its first two bytes).
    EXPECT_EQ(parse(eth(0x86DD, ipv6({{60, 1}}, tcp(default_tcp()), 6, 10)), link_type::ethernet),
              parse_status::ipv6_ext_overrun);
    EXPECT_EQ(parse(eth(0x86DD, ipv6({{60, 1}}, tcp(default_tcp()), 6, 1)), link_type::ethernet),
              parse_status::ipv6_ext_overrun);
    EXPECT_EQ(parse(eth(0x86DD, ipv6({{44}}, tcp(default_tcp()), 6, 6)), link_type::ethernet),
              parse_status::ipv6_ext_overrun);
}

TEST(ParseLies, TcpDataOffset) {
    tcp_spec s = default_tcp();
    s.doff_words = 4;
    EXPECT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet), parse_status::bad_tcp_data_offset);
    s.doff_words = 0;
    EXPECT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet), parse_status::bad_tcp_data_offset);
    tcp_spec bare;
    bare.doff_words = 15;  // 60-byte header in a 20-byte segment
    EXPECT_EQ(parse(eth(0x0800, ipv4({}, tcp(bare))), link_type::ethernet), parse_status::bad_tcp_data_offset);
    EXPECT_EQ(parse(eth(0x86DD, ipv6({}, tcp(bare))), link_type::ethernet), parse_status::bad_tcp_data_offset);
    // Data offset past the segment but inside the Ethernet padding: still a lie.
    bare.doff_words = 6;
    EXPECT_EQ(parse(eth(0x0800, ipv4({}, tcp(bare))), link_type::ethernet), parse_status::bad_tcp_data_offset);
}

// A malformed option list does not cost the segment: Linux's tcp_parse_options
// stops reading options at a bad length and uses the segment, so rxinto must too,
// or a sender could hide data from it that the receiver takes (issue 12).
TEST(ParseLies, MalformedTcpOptionsKeepTheSegment) {
    namespace ign = net::tcp_options_ignored;
    struct bad_case {
        bytes options;
        const char* what;
    };
    const std::vector<bad_case> bad = {
        {{2, 0, 0, 0}, "length 0"},
        {{2, 1, 0, 0}, "length 1"},
        {{1, 8, 12, 0}, "timestamps with 10 bytes in 3"},
        {{1, 1, 1, 2}, "kind in the last byte, no length byte"},
        {{254, 5, 0, 0}, "unknown kind, overruns"},
        {{0x1e, 0xff, 0, 0}, "MPTCP-like kind, length 255"},
    };
    for (const bad_case& c : bad) {
        SCOPED_TRACE(c.what);
        tcp_spec s = default_tcp();
        s.options = c.options;
        s.payload = str("behind a bad option");
        for (const bool v6 : {false, true}) {
            const bytes f = v6 ? eth(0x86DD, ipv6({}, tcp(s))) : eth(0x0800, ipv4({}, tcp(s)));
            packet_meta m;
            ASSERT_EQ(parse(f, link_type::ethernet, m), parse_status::ok);
            check_invariants(m, static_cast<std::uint32_t>(f.size()));
            EXPECT_EQ(m.opts.ignored, ign::malformed);
            EXPECT_EQ(m.tcp_header_len, 24u);
            ASSERT_EQ(m.payload_len, s.payload.size());
            EXPECT_EQ(bytes(f.begin() + m.payload_offset, f.begin() + m.payload_offset + m.payload_len),
                      s.payload);
            EXPECT_EQ(m.seq, seq32{s.seq});
            EXPECT_TRUE(net::tcp_checksum_ok(m, f.data(), static_cast<std::uint32_t>(f.size())));
        }
    }
}

TEST(ParseLies, MalformedTcpOptionEndsTheList) {
    namespace ign = net::tcp_options_ignored;
    packet_meta m;
    tcp_spec s = default_tcp();
    // MSS, then a silly length: what came before stands, what follows is not read
    // (the window scale after it is not taken, as Linux does not take it).
    s.options = {2, 4, 0x05, 0xb4, 254, 0, 3, 3, 7, 0, 0, 0};
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_TRUE(m.opts.has_mss);
    EXPECT_EQ(m.opts.mss, 1460);
    EXPECT_FALSE(m.opts.has_wscale);
    EXPECT_EQ(m.opts.ignored, ign::malformed);

    // An option that runs past the data offset is not read, even when the bytes
    // behind the header (the payload) would complete it.
    s.options = {1, 1, 8, 10};
    s.payload = {0, 0, 0, 1, 0, 0, 0, 2};
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_FALSE(m.opts.has_timestamps);
    EXPECT_EQ(m.opts.ignored, ign::malformed);
    EXPECT_EQ(m.payload_len, 8u);

    // Known kinds with a wrong length are ignored one by one, the list goes on.
    s.options = {3, 4, 7, 0, 4, 3, 0, 5, 3, 0, 2, 4, 0x02, 0x18};  // WS/4, SACK-perm/3, SACK/3, MSS ok
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_FALSE(m.opts.has_wscale);
    EXPECT_FALSE(m.opts.sack_permitted);
    EXPECT_EQ(m.opts.sack_count, 0);
    EXPECT_TRUE(m.opts.has_mss);
    EXPECT_EQ(m.opts.mss, 536);
    EXPECT_EQ(m.opts.ignored, ign::bad_length);

    // Both at once.
    s.options = {2, 3, 0, 8, 1, 0, 0, 0};  // MSS/3 ignored, then TS length 1 ends the list
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_EQ(m.opts.ignored, ign::bad_length | ign::malformed);

    // Well-formed lists (the full 40 bytes, unknown kinds, EOL then garbage) ignore nothing.
    for (const bytes& o : {full_options(), bytes{254, 4, 0xde, 0xad}, bytes{0, 2, 0, 0, 9, 9, 9, 9}}) {
        s.options = o;
        ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
        EXPECT_EQ(m.opts.ignored, 0);
    }
}

TEST(ParseLies, TcpOptions) {
    packet_meta m;
    tcp_spec s = default_tcp();
    s.options = {254, 4, 0xde, 0xad, 2, 4, 0x02, 0x18};  // unknown kind skipped, then MSS 536
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_TRUE(m.opts.has_mss);
    EXPECT_EQ(m.opts.mss, 536);

    s.options = {3, 3, 15, 0, 0xff, 0xff, 0xff, 0xff};  // WS 15 -> 14, EOL, garbage ignored
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_TRUE(m.opts.has_wscale);
    EXPECT_EQ(m.opts.wscale, 14);

    s.options = {2, 3, 5, 1, 8, 6, 0, 0, 0, 0};  // MSS and TS with wrong lengths: ignored
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_FALSE(m.opts.has_mss);
    EXPECT_FALSE(m.opts.has_timestamps);
    EXPECT_EQ(m.opts.ignored, net::tcp_options_ignored::bad_length);

    s.options = {5, 34};  // SACK with the maximum 4 blocks
    for (std::uint32_t i = 0; i < 8; ++i) put32(s.options, i * 10);
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    ASSERT_EQ(m.opts.sack_count, 4);
    EXPECT_EQ(m.opts.sack[3].left, seq32{60});
    EXPECT_EQ(m.opts.sack[3].right, seq32{70});

    s.options = {5, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0};  // SACK length not 2 + 8n: ignored
    ASSERT_EQ(parse(eth(0x0800, ipv4({}, tcp(s))), link_type::ethernet, m), parse_status::ok);
    EXPECT_EQ(m.opts.sack_count, 0);
}

// ---- checksums ------------------------------------------------------------------

TEST(Checksum, KnownVectors) {
    // RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    const bytes rfc = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(net::ones_complement_sum(rfc.data(), 8), 0xddf2);
    // A widely reproduced IPv4 header whose checksum is 0xb861.
    const bytes hdr = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                       0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    EXPECT_TRUE(net::ipv4_header_checksum_ok(hdr.data(), 20));
    bytes bad = hdr;
    bad[19] ^= 1;
    EXPECT_FALSE(net::ipv4_header_checksum_ok(bad.data(), 20));
    EXPECT_FALSE(net::ipv4_header_checksum_ok(hdr.data(), 19));
}

TEST(Checksum, MatchesReferenceOnRandomBuffers) {
    std::mt19937 rng(12345);
    for (int round = 0; round < 500; ++round) {
        bytes b(rng() % 300);
        for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        const auto s = net::ones_complement_sum(b.data(), static_cast<std::uint32_t>(b.size()));
        // ~sum == reference checksum (modulo the 0/0xffff representation of zero).
        const std::uint16_t ours = static_cast<std::uint16_t>(~s);
        const std::uint16_t ref = ref_cksum(b);
        EXPECT_TRUE(ours == ref || (ours == 0 && ref == 0xFFFF) || (ours == 0xFFFF && ref == 0))
            << b.size();
    }
}

TEST(Checksum, CorruptedByteIsDetected) {
    const std::vector<std::pair<bytes, link_type>> frames = {
        {std_v4_frame(), link_type::ethernet},
        {std_v6_frame(), link_type::ethernet},
        {eth(0x86DD, ipv6({{0}, {43}, {60, 1}, {44}}, tcp(default_tcp()))), link_type::ethernet},
        {ipv4({}, tcp(default_tcp())), link_type::raw_ip},
    };
    for (const auto& [f, lt] : frames) {
        packet_meta m;
        ASSERT_EQ(parse(f, lt, m), parse_status::ok);
        const auto len = static_cast<std::uint32_t>(f.size());
        ASSERT_TRUE(net::tcp_checksum_ok(m, f.data(), len));
        // Any single flipped bit in the TCP segment is caught.
        for (std::uint32_t i = m.l4_offset; i < m.l4_offset + m.l4_len; ++i) {
            bytes c = f;
            c[i] ^= 0x04;
            EXPECT_FALSE(net::tcp_checksum_ok(m, c.data(), len)) << i;
        }
        // A pseudo-header field (an address) is covered too.
        packet_meta other = m;
        other.src_addr[3] ^= 1;
        EXPECT_FALSE(net::tcp_checksum_ok(other, f.data(), len));
        if (m.ip_version == 4) {
            ASSERT_TRUE(net::ipv4_header_checksum_ok(m, f.data(), len));
            bytes c = f;
            c[m.l3_offset + 8] ^= 0x80;  // TTL
            EXPECT_FALSE(net::ipv4_header_checksum_ok(m, c.data(), len));
        } else {
            EXPECT_FALSE(net::ipv4_header_checksum_ok(m, f.data(), len));
        }
        // A meta that does not fit the buffer is refused, not read past.
        EXPECT_FALSE(net::tcp_checksum_ok(m, f.data(), m.l4_offset + m.l4_len - 1));
        EXPECT_FALSE(net::ipv4_header_checksum_ok(m, f.data(), m.l3_offset + 19));
    }
}

// ---- random damage ---------------------------------------------------------------

// Not a replacement for the libFuzzer harness: a quick deterministic pass over
// mutated good frames so that the unit suite under ASan already covers odd paths.
TEST(ParseRobustness, MutatedFramesNeverMisbehave) {
    const std::vector<std::pair<bytes, link_type>> seeds = {
        {std_v4_frame(), link_type::ethernet},
        {std_v6_frame(), link_type::ethernet},
        {eth(0x86DD, ipv6({{0}, {43}, {60, 1}, {44}}, tcp(default_tcp())), {{0x88A8, 1}, {0x8100, 2}}),
         link_type::ethernet},
        {eth_llc_snap(ipv4({}, tcp(default_tcp()))), link_type::ethernet},
        {sll(0x0800, ipv4({}, tcp(default_tcp()))), link_type::linux_sll},
        {null_le(2, ipv4({}, tcp(default_tcp()))), link_type::null_loopback},
        {ipv6({{60}}, tcp(default_tcp())), link_type::raw_ip},
    };
    std::mt19937 rng(777);
    std::array<unsigned, net::parse_status_count> seen{};
    for (const auto& [seed, lt] : seeds) {
        for (int round = 0; round < 3000; ++round) {
            bytes b = seed;
            const unsigned flips = 1 + rng() % 4;
            for (unsigned i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
            b.resize(rng() % (b.size() + 1));
            const bytes exact = b;
            const auto len = static_cast<std::uint32_t>(exact.size());
            const std::uint32_t wire = (rng() & 1) ? len : len + static_cast<std::uint32_t>(rng() % 2000);
            packet_meta m;
            const parse_status st = net::parse_frame(exact.data(), len, wire, lt, m);
            ASSERT_LT(static_cast<std::size_t>(st), net::parse_status_count);
            ++seen[static_cast<std::size_t>(st)];
            if (st == parse_status::ok) {
                check_invariants(m, len);
                (void)net::tcp_checksum_ok(m, exact.data(), len);
                (void)net::ipv4_header_checksum_ok(m, exact.data(), len);
            }
        }
    }
    EXPECT_GT(seen[static_cast<std::size_t>(parse_status::ok)], 0u);
}

}  // namespace

// The checksum sum adds native words with several accumulators and swaps once;
// it must equal the plain RFC 1071 loop for every length, alignment and start.
TEST(Checksum, WideSumEqualsTheReferenceLoop) {
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    std::vector<std::uint8_t> buf(4100);
    for (auto& b : buf) b = static_cast<std::uint8_t>(next());
    for (int round = 0; round < 3000; ++round) {
        const auto off = static_cast<std::uint32_t>(next() % 8);
        const auto len = static_cast<std::uint32_t>(next() % 4000);
        const auto initial = static_cast<std::uint32_t>(next() % 0x3FFFF);
        std::uint64_t ref = initial;
        for (std::uint32_t i = 0; i + 1 < len; i += 2)
            ref += static_cast<std::uint32_t>(buf[off + i] << 8 | buf[off + i + 1]);
        if (len % 2 != 0) ref += static_cast<std::uint32_t>(buf[off + len - 1]) << 8;
        while ((ref >> 16) != 0) ref = (ref & 0xFFFF) + (ref >> 16);
        ASSERT_EQ(net::ones_complement_sum(buf.data() + off, len, initial), ref)
            << "len " << len << " offset " << off << " initial " << initial;
    }
    // Long runs of 0xFFFF words: the wide lanes must be emptied before they overflow.
    std::vector<std::uint8_t> ones((3U << 20) + 7, 0xFF);
    for (std::uint32_t len : {1U << 20, (3U << 20) + 7}) {
        std::uint64_t ref = 0;
        for (std::uint32_t i = 0; i + 1 < len; i += 2) ref += 0xFFFF;
        if (len % 2 != 0) ref += 0xFF00;
        while ((ref >> 16) != 0) ref = (ref & 0xFFFF) + (ref >> 16);
        ASSERT_EQ(net::ones_complement_sum(ones.data(), len), ref) << "len " << len;
    }
}
