// Unit tests of rxinto::gen (pcap generator). No EAL: frames are parsed by
// hand here, independently of lib/rxinto/net.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "rxinto/gen/pcap_gen.hpp"

namespace {

using rxinto::gen::Capture;
using rxinto::gen::GenOptions;
using rxinto::gen::StreamTruth;
using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// ---------------------------------------------------------------------------
// Hand-written parser.

std::uint16_t rd16(std::span<const std::uint8_t> b, std::size_t at) {
    return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
std::uint32_t rd32(std::span<const std::uint8_t> b, std::size_t at) {
    return (static_cast<std::uint32_t>(rd16(b, at)) << 16) | rd16(b, at + 2);
}

std::uint64_t sum16(std::uint64_t acc, std::span<const std::uint8_t> d) {
    std::size_t i = 0;
    for (; i + 1 < d.size(); i += 2) acc += (static_cast<std::uint64_t>(d[i]) << 8) | d[i + 1];
    if (i < d.size()) acc += static_cast<std::uint64_t>(d[i]) << 8;
    return acc;
}
std::uint16_t fold(std::uint64_t acc) {
    while (acc >> 16) acc = (acc & 0xFFFFU) + (acc >> 16);
    return static_cast<std::uint16_t>(acc);
}

std::string ip_text(bool v6, std::span<const std::uint8_t> a) {
    std::ostringstream o;
    if (!v6) {
        o << int{a[0]} << '.' << int{a[1]} << '.' << int{a[2]} << '.' << int{a[3]};
        return o.str();
    }
    // Our addresses are fd00::<g5>:<g6>:<g7> style; emulate inet_ntop's
    // compression of the longest zero run (first one on ties, length >= 2).
    std::uint16_t g[8];
    for (int k = 0; k < 8; ++k) g[k] = rd16(a, static_cast<std::size_t>(2 * k));
    int best = -1, best_len = 0;
    for (int k = 0; k < 8;) {
        if (g[k] != 0) {
            ++k;
            continue;
        }
        int e = k;
        while (e < 8 && g[e] == 0) ++e;
        if (e - k > best_len && e - k >= 2) best = k, best_len = e - k;
        k = e;
    }
    o << std::hex;
    for (int k = 0; k < 8; ++k) {
        if (k == best) {
            o << "::";
            k += best_len - 1;
            continue;
        }
        if (k != 0 && k != best + best_len) o << ':';
        o << g[k];
    }
    return o.str();
}

struct Parsed {
    std::vector<std::uint16_t> tpids;  // VLAN TPIDs, outermost first
    std::vector<std::uint16_t> vids;
    bool v6 = false;
    std::string src, dst;
    bool ip_csum_ok = true;  // always true for IPv6
    std::uint8_t ttl = 0;
    std::uint16_t ip_id = 0;
    bool df = false;
    std::uint16_t sport = 0, dport = 0;
    std::uint32_t seq = 0, ack = 0;
    std::uint8_t flags = 0;
    std::size_t tcp_hdr_len = 0;
    bool tcp_csum_ok = false;
    bool has_ts = false;
    std::vector<std::uint8_t> payload;
};

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kAck = 0x10;

std::optional<Parsed> parse(std::span<const std::uint8_t> b) {
    Parsed p;
    std::size_t at = 12;
    if (b.size() < 14) return std::nullopt;
    std::uint16_t type = rd16(b, at);
    at += 2;
    while (type == 0x8100 || type == 0x88a8) {
        if (b.size() < at + 4) return std::nullopt;
        p.tpids.push_back(type);
        p.vids.push_back(rd16(b, at) & 0x0FFF);
        type = rd16(b, at + 2);
        at += 4;
    }
    std::uint64_t pseudo = 0;
    std::size_t tcp_len = 0;
    if (type == 0x0800) {
        if (b.size() < at + 20 || b[at] != 0x45) return std::nullopt;
        const auto ip = b.subspan(at, 20);
        p.ip_csum_ok = fold(sum16(0, ip)) == 0xFFFF;
        p.ttl = ip[8];
        p.ip_id = rd16(ip, 4);
        p.df = rd16(ip, 6) == 0x4000;
        if (ip[9] != 6) return std::nullopt;
        const std::size_t total = rd16(ip, 2);
        if (total < 20 || at + total != b.size()) return std::nullopt;
        tcp_len = total - 20;
        p.src = ip_text(false, ip.subspan(12, 4));
        p.dst = ip_text(false, ip.subspan(16, 4));
        pseudo = sum16(sum16(0, ip.subspan(12, 4)), ip.subspan(16, 4)) + 6 + tcp_len;
        at += 20;
    } else if (type == 0x86DD) {
        if (b.size() < at + 40) return std::nullopt;
        const auto ip = b.subspan(at, 40);
        p.v6 = true;
        if (rd32(ip, 0) != 0x60000000U || ip[6] != 6) return std::nullopt;
        p.ttl = ip[7];
        tcp_len = rd16(ip, 4);
        if (at + 40 + tcp_len != b.size()) return std::nullopt;
        p.src = ip_text(true, ip.subspan(8, 16));
        p.dst = ip_text(true, ip.subspan(24, 16));
        pseudo = sum16(sum16(0, ip.subspan(8, 16)), ip.subspan(24, 16)) + 6 + tcp_len;
        at += 40;
    } else {
        return std::nullopt;
    }
    if (tcp_len < 20) return std::nullopt;
    const auto tcp = b.subspan(at, tcp_len);
    p.tcp_csum_ok = fold(sum16(pseudo, tcp)) == 0xFFFF;
    p.sport = rd16(tcp, 0);
    p.dport = rd16(tcp, 2);
    p.seq = rd32(tcp, 4);
    p.ack = rd32(tcp, 8);
    p.tcp_hdr_len = static_cast<std::size_t>(tcp[12] >> 4) * 4;
    p.flags = tcp[13];
    if (p.tcp_hdr_len < 20 || p.tcp_hdr_len > tcp_len) return std::nullopt;
    // Walk the options.
    for (std::size_t o = 20; o < p.tcp_hdr_len;) {
        const std::uint8_t kind = tcp[o];
        if (kind == 0) break;
        if (kind == 1) {
            ++o;
            continue;
        }
        if (o + 1 >= p.tcp_hdr_len || tcp[o + 1] < 2 || o + tcp[o + 1] > p.tcp_hdr_len) {
            return std::nullopt;
        }
        if (kind == 8 && tcp[o + 1] == 10) p.has_ts = true;
        o += tcp[o + 1];
    }
    p.payload.assign(tcp.begin() + static_cast<std::ptrdiff_t>(p.tcp_hdr_len), tcp.end());
    return p;
}

using Key = std::tuple<std::string, std::string, std::uint16_t, std::uint16_t>;

std::map<Key, std::size_t> stream_index(const Capture& cap) {
    std::map<Key, std::size_t> m;
    for (std::size_t k = 0; k < cap.streams.size(); ++k) {
        const StreamTruth& t = cap.streams[k];
        m[Key{t.src, t.dst, t.sport, t.dport}] = k;
    }
    return m;
}

Capture gen_ok(const GenOptions& o) {
    auto r = rxinto::gen::generate(o);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) return {};
    return std::move(r).value();
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("rxinto_test_gen_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

std::vector<char> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

GenOptions impaired() {
    GenOptions o;
    o.seed = 42;
    o.flows = 12;
    o.c2s_bytes = 3000;
    o.s2c_bytes = 15000;
    o.reorder = 0.1;
    o.duplicate = 0.1;
    o.loss = 0.1;
    return o;
}

/// Rebuilds every stream from the captured segments and checks the bytes
/// against the truth, and the uncovered ranges against truth.lost.
void check_reassembly(const Capture& cap) {
    const auto index = stream_index(cap);
    std::vector<std::vector<bool>> seen(cap.streams.size());
    for (std::size_t k = 0; k < cap.streams.size(); ++k) seen[k].assign(cap.streams[k].payload.size(), false);
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        const auto it = index.find(Key{p->src, p->dst, p->sport, p->dport});
        ASSERT_NE(it, index.end()) << p->src << " -> " << p->dst;
        const StreamTruth& t = cap.streams[it->second];
        if ((p->flags & kSyn) != 0) {
            EXPECT_EQ(p->seq, t.isn);
            EXPECT_TRUE(p->payload.empty());
            continue;
        }
        const std::uint32_t off32 = p->seq - t.isn - 1U;
        if (p->payload.empty()) {
            // Pure ACK or FIN: seq is inside the stream, at its end, or just
            // past the FIN (the client's last ACK).
            EXPECT_LE(off32, t.payload.size() + 1);
            if ((p->flags & kFin) != 0) {
                EXPECT_EQ(off32, t.payload.size());
            }
            continue;
        }
        const std::uint64_t off = off32;
        ASSERT_LE(off + p->payload.size(), t.payload.size());
        EXPECT_TRUE(std::equal(p->payload.begin(), p->payload.end(),
                               t.payload.begin() + static_cast<std::ptrdiff_t>(off)))
            << "conn " << t.conn << " offset " << off;
        for (std::size_t b = 0; b < p->payload.size(); ++b) seen[it->second][off + b] = true;
    }
    for (std::size_t k = 0; k < cap.streams.size(); ++k) {
        Ranges holes;
        const auto& s = seen[k];
        for (std::size_t b = 0; b < s.size();) {
            if (s[b]) {
                ++b;
                continue;
            }
            std::size_t e = b;
            while (e < s.size() && !s[e]) ++e;
            holes.emplace_back(b, e - b);
            b = e;
        }
        EXPECT_EQ(holes, cap.streams[k].lost) << "stream " << k;
    }
}

// ---------------------------------------------------------------------------

TEST(Gen, DeterministicForSameSeed) {
    const GenOptions o = impaired();
    const Capture a = gen_ok(o);
    const Capture b = gen_ok(o);
    ASSERT_EQ(a.frames.size(), b.frames.size());
    for (std::size_t k = 0; k < a.frames.size(); ++k) {
        EXPECT_EQ(a.frames[k].ts_ns, b.frames[k].ts_ns);
        EXPECT_EQ(a.frames[k].bytes, b.frames[k].bytes);
    }
    ASSERT_EQ(a.streams.size(), b.streams.size());
    for (std::size_t k = 0; k < a.streams.size(); ++k) {
        EXPECT_EQ(a.streams[k].payload, b.streams[k].payload);
        EXPECT_EQ(a.streams[k].lost, b.streams[k].lost);
        EXPECT_EQ(a.streams[k].isn, b.streams[k].isn);
    }

    GenOptions o2 = o;
    o2.seed = 43;
    const Capture c = gen_ok(o2);
    bool differs = c.frames.size() != a.frames.size();
    for (std::size_t k = 0; !differs && k < a.frames.size(); ++k) differs = a.frames[k].bytes != c.frames[k].bytes;
    EXPECT_TRUE(differs);
    EXPECT_NE(a.streams[4].payload, c.streams[4].payload);
}

TEST(Gen, DefaultOptionsAreSmallAndMixed) {
    const GenOptions d = rxinto::gen::default_options();
    EXPECT_EQ(d.flows, 8U);
    EXPECT_EQ(d.loss, 0.0);
    EXPECT_EQ(d.vlan_tags, 0U);
    const Capture cap = gen_ok(d);
    EXPECT_GE(cap.frames.size(), 100U);
    EXPECT_LE(cap.frames.size(), 1000U);
    EXPECT_EQ(cap.streams.size(), 16U);
    unsigned v4 = 0, v6 = 0, syn = 0, synack = 0, fin = 0;
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        (p->v6 ? v6 : v4)++;
        if (p->flags == kSyn) ++syn;
        if (p->flags == (kSyn | kAck)) ++synack;
        if ((p->flags & kFin) != 0) ++fin;
    }
    EXPECT_GT(v4, 0U);
    EXPECT_GT(v6, 0U);
    EXPECT_EQ(syn, 8U);
    EXPECT_EQ(synack, 8U);
    EXPECT_EQ(fin, 16U);
    for (const auto& t : cap.streams) EXPECT_TRUE(t.lost.empty());
    check_reassembly(cap);
}

TEST(Gen, TimestampsStrictlyIncreasing) {
    const Capture cap = gen_ok(impaired());
    ASSERT_FALSE(cap.frames.empty());
    EXPECT_EQ(cap.frames.front().ts_ns, GenOptions{}.start_ns);
    for (std::size_t k = 1; k < cap.frames.size(); ++k) {
        EXPECT_GT(cap.frames[k].ts_ns, cap.frames[k - 1].ts_ns);
        EXPECT_LE(cap.frames[k].ts_ns - cap.frames[k - 1].ts_ns, 100000U);
    }
}

TEST(Gen, FlowsAreInterleaved) {
    const Capture cap = gen_ok(rxinto::gen::default_options());
    // Count switches between connections in capture order: far more than
    // one per flow means flows are mixed.
    const auto index = stream_index(cap);
    unsigned switches = 0;
    unsigned last = ~0U;
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        const unsigned conn = cap.streams[index.at(Key{p->src, p->dst, p->sport, p->dport})].conn;
        if (conn != last) ++switches;
        last = conn;
    }
    EXPECT_GT(switches, 50U);
}

TEST(Gen, HeadersAndChecksums) {
    GenOptions o = impaired();
    o.ipv6_share = 0.5;
    o.flows = 10;
    const Capture cap = gen_ok(o);
    unsigned v4 = 0, v6 = 0;
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        EXPECT_TRUE(p->ip_csum_ok);
        EXPECT_TRUE(p->tcp_csum_ok);
        EXPECT_EQ(p->ttl, 64);
        EXPECT_TRUE(p->has_ts);
        EXPECT_TRUE(p->tpids.empty());
        EXPECT_GE(f.bytes.size(), 60U);
        EXPECT_LE(p->payload.size(), o.mss);
        if (p->v6) {
            ++v6;
        } else {
            ++v4;
            EXPECT_TRUE(p->df);
        }
        if ((p->flags & kSyn) != 0) {
            EXPECT_EQ(p->tcp_hdr_len, 40U);
        } else {
            EXPECT_EQ(p->tcp_hdr_len, 32U);
            EXPECT_NE(p->flags & kAck, 0);
        }
    }
    EXPECT_GT(v4, 0U);
    EXPECT_GT(v6, 0U);
    // Exact share: 10 flows at 0.5 -> 5 IPv6 connections.
    unsigned v6_flows = 0;
    for (const auto& t : cap.streams) v6_flows += (t.c2s && t.src.find(':') != std::string::npos) ? 1U : 0U;
    EXPECT_EQ(v6_flows, 5U);
}

TEST(Gen, Ipv4IdsIncrementPerDirection) {
    GenOptions o;
    o.flows = 4;
    o.ipv6_share = 0;
    const Capture cap = gen_ok(o);
    std::map<Key, std::uint16_t> last;
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        const Key k{p->src, p->dst, p->sport, p->dport};
        if (auto it = last.find(k); it != last.end()) {
            EXPECT_EQ(static_cast<std::uint16_t>(it->second + 1), p->ip_id);
        }
        last[k] = p->ip_id;
    }
    EXPECT_EQ(last.size(), 8U);
}

TEST(Gen, ReassemblyMatchesTruthWithImpairments) {
    const Capture cap = gen_ok(impaired());
    std::uint64_t lost = 0;
    for (const auto& t : cap.streams) lost += t.lost_bytes();
    EXPECT_GT(lost, 0U);
    check_reassembly(cap);
}

TEST(Gen, ReassemblyAcrossSeedsAndShapes) {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        GenOptions o;
        o.seed = seed;
        o.flows = 5;
        o.c2s_bytes = static_cast<std::uint32_t>(100 * seed);
        o.s2c_bytes = 5000;
        o.mss = static_cast<std::uint16_t>(seed * 97);
        o.reorder = 0.3;
        o.duplicate = 0.3;
        o.loss = 0.3;
        o.vlan_tags = static_cast<unsigned>(seed % 3);
        o.handshake = seed % 2 == 0;
        o.fin = seed % 3 != 0;
        SCOPED_TRACE("seed " + std::to_string(seed));
        check_reassembly(gen_ok(o));
    }
}

TEST(Gen, LossZeroMeansNothingLost) {
    GenOptions o = impaired();
    o.loss = 0;
    const Capture cap = gen_ok(o);
    for (const auto& t : cap.streams) EXPECT_TRUE(t.lost.empty());
    check_reassembly(cap);
}

TEST(Gen, TotalLossWithoutDuplicates) {
    GenOptions o;
    o.flows = 3;
    o.loss = 1;
    const Capture cap = gen_ok(o);
    for (const auto& t : cap.streams) {
        ASSERT_FALSE(t.payload.empty());
        EXPECT_EQ(t.lost, (Ranges{{0, t.payload.size()}}));
    }
    check_reassembly(cap);
}

TEST(Gen, DuplicateCopyRescuesLostFrame) {
    GenOptions o;
    o.flows = 3;
    o.loss = 1;
    o.duplicate = 1;
    const Capture cap = gen_ok(o);
    for (const auto& t : cap.streams) EXPECT_TRUE(t.lost.empty());
    check_reassembly(cap);
}

TEST(Gen, DuplicatesAreByteIdentical) {
    GenOptions o;
    o.flows = 2;
    o.duplicate = 1;
    const Capture cap = gen_ok(o);
    // Keyed by the frame's bytes (a std::map<vector> trips a GCC 12 -O3
    // -Wstringop-overread false positive).
    std::unordered_map<std::string, unsigned> count;
    for (const auto& f : cap.frames) ++count[std::string(f.bytes.begin(), f.bytes.end())];
    unsigned dups = 0;
    for (const auto& [bytes, n] : count) {
        EXPECT_LE(n, 2U);
        if (n == 2) {
            ++dups;
            const std::vector<std::uint8_t> frame(bytes.begin(), bytes.end());
            EXPECT_FALSE(parse(frame)->payload.empty());
        }
    }
    EXPECT_GT(dups, 10U);
}

TEST(Gen, ReorderProducesOutOfOrderSegments) {
    GenOptions o;
    o.flows = 4;
    o.reorder = 0.5;
    const Capture cap = gen_ok(o);
    const auto index = stream_index(cap);
    std::vector<std::uint64_t> next(cap.streams.size(), 0);
    unsigned ooo = 0;
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        if (p->payload.empty()) continue;
        const std::size_t s = index.at(Key{p->src, p->dst, p->sport, p->dport});
        const std::uint64_t off = static_cast<std::uint32_t>(p->seq - cap.streams[s].isn - 1U);
        if (off != next[s]) ++ooo;
        next[s] = std::max(next[s], off + p->payload.size());
    }
    EXPECT_GT(ooo, 0U);
    check_reassembly(cap);
}

TEST(Gen, VlanTags) {
    for (unsigned tags : {1U, 2U}) {
        GenOptions o;
        o.flows = 4;
        o.vlan_tags = tags;
        const Capture cap = gen_ok(o);
        const auto index = stream_index(cap);
        for (const auto& f : cap.frames) {
            const auto p = parse(f.bytes);
            ASSERT_TRUE(p.has_value());
            ASSERT_EQ(p->tpids.size(), tags);
            if (tags == 2) {
                EXPECT_EQ(p->tpids[0], 0x88a8);
                EXPECT_EQ(p->tpids[1], 0x8100);
            } else {
                EXPECT_EQ(p->tpids[0], 0x8100);
            }
            const StreamTruth& t = cap.streams[index.at(Key{p->src, p->dst, p->sport, p->dport})];
            EXPECT_EQ(p->vids, t.vlan);
            for (auto v : p->vids) {
                EXPECT_GE(v, 1);
                EXPECT_LE(v, 4094);
            }
        }
        check_reassembly(cap);
    }
}

TEST(Gen, NoHandshakeNoFin) {
    GenOptions o;
    o.flows = 3;
    o.handshake = false;
    o.fin = false;
    const Capture cap = gen_ok(o);
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(p->flags & (kSyn | kFin), 0);
    }
    check_reassembly(cap);
}

TEST(Gen, IsnNearWrap) {
    GenOptions o;
    o.flows = 3;
    const Capture cap = gen_ok(o);
    ASSERT_TRUE(cap.streams[0].c2s);
    EXPECT_EQ(cap.streams[0].conn, 0U);
    EXPECT_EQ(cap.streams[0].isn, 0xFFFFFF00U);
    EXPECT_GT(cap.streams[0].payload.size(), 0xFFU);  // the c2s stream wraps
    EXPECT_GT(static_cast<std::uint64_t>(cap.streams[1].isn) + cap.streams[1].payload.size(), 0xFFFFFFFFULL);
    EXPECT_EQ(cap.streams[2].isn, 0xFFFFFFFFU);
    // Captured segments of stream 0 carry sequence numbers on both sides of 2^32.
    bool high = false, low = false;
    const auto index = stream_index(cap);
    for (const auto& f : cap.frames) {
        const auto p = parse(f.bytes);
        ASSERT_TRUE(p.has_value());
        if (index.at(Key{p->src, p->dst, p->sport, p->dport}) != 0 || p->payload.empty()) continue;
        (p->seq >= 0xFFFFFF00U ? high : low) = true;
    }
    EXPECT_TRUE(high);
    EXPECT_TRUE(low);
    check_reassembly(cap);
}

TEST(Gen, AddressingAndPorts) {
    GenOptions o;
    o.flows = 4;
    o.ipv6_share = 0.5;
    const Capture cap = gen_ok(o);
    EXPECT_EQ(cap.streams[0].src, "10.0.0.1");
    EXPECT_EQ(cap.streams[0].dst, "10.128.0.1");
    EXPECT_EQ(cap.streams[0].sport, 40000);
    EXPECT_EQ(cap.streams[0].dport, 80);
    EXPECT_EQ(cap.streams[1].src, "10.128.0.1");
    EXPECT_EQ(cap.streams[1].sport, 80);
    EXPECT_EQ(cap.streams[1].dport, 40000);
    EXPECT_FALSE(cap.streams[1].c2s);
    EXPECT_EQ(cap.streams[2].src, "fd00::1:0:2");
    EXPECT_EQ(cap.streams[2].dst, "fd00::2:0:2");
    EXPECT_EQ(cap.streams[2].dport, 443);
    EXPECT_EQ(cap.streams[4].dport, 5201);
    // Byte counts vary per flow around the requested sizes (±50%).
    for (const auto& t : cap.streams) {
        const double base = t.c2s ? o.c2s_bytes : o.s2c_bytes;
        EXPECT_GE(static_cast<double>(t.payload.size()), base * 0.5);
        EXPECT_LE(static_cast<double>(t.payload.size()), base * 1.5);
    }
    GenOptions exact = o;
    exact.size_jitter_pct = 0;
    for (const auto& t : gen_ok(exact).streams) EXPECT_EQ(t.payload.size(), t.c2s ? 2000U : 20000U);
}

TEST(Gen, OptionValidation) {
    auto expect_error = [](GenOptions o, const std::string& needle) {
        auto r = rxinto::gen::generate(o);
        ASSERT_FALSE(r.ok()) << needle;
        EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    };
    GenOptions o;
    o.flows = 0;
    expect_error(o, "flows");
    o = {};
    o.flows = 100001;
    expect_error(o, "flows");
    o = {};
    o.mss = 0;
    expect_error(o, "mss");
    o = {};
    o.mss = 9001;
    expect_error(o, "mss");
    o = {};
    o.vlan_tags = 3;
    expect_error(o, "vlan_tags");
    o = {};
    o.reorder = 1.5;
    expect_error(o, "reorder");
    o = {};
    o.duplicate = -0.1;
    expect_error(o, "duplicate");
    o = {};
    o.loss = std::numeric_limits<double>::quiet_NaN();
    expect_error(o, "loss");
    o = {};
    o.ipv6_share = 2;
    expect_error(o, "ipv6_share");
    o = {};
    o.size_jitter_pct = 101;
    expect_error(o, "size_jitter_pct");
    o = {};
    o.fragment = 1.5;
    expect_error(o, "fragment");
    o = {};
    o.fragment = -0.1;
    expect_error(o, "fragment");
    o = {};
    o.fragment = std::numeric_limits<double>::quiet_NaN();
    expect_error(o, "fragment");
    o = {};
    o.flows = 100000;
    o.s2c_bytes = 1000000;
    expect_error(o, "limit");

    o = {};
    o.flows = 1;
    o.mss = 9000;
    o.reorder = o.duplicate = o.loss = 1;
    EXPECT_TRUE(rxinto::gen::generate(o).ok());
}

TEST(Gen, WritePcapAndReadBack) {
    const Capture cap = gen_ok(impaired());
    const std::string path = temp_path("rt.pcap");
    ASSERT_TRUE(rxinto::gen::write_pcap(cap, path).ok());

    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    ASSERT_NE(p, nullptr) << err;
    EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
    EXPECT_EQ(pcap_get_tstamp_precision(p), PCAP_TSTAMP_PRECISION_NANO);
    std::size_t n = 0;
    std::uint64_t bytes = 0, prev = 0;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &h, &data) == 1) {
        ASSERT_LT(n, cap.frames.size());
        const auto& f = cap.frames[n];
        const std::uint64_t ts = static_cast<std::uint64_t>(h->ts.tv_sec) * 1000000000ULL +
                                 static_cast<std::uint64_t>(h->ts.tv_usec);
        EXPECT_EQ(ts, f.ts_ns);
        EXPECT_GT(ts, prev);
        prev = ts;
        ASSERT_EQ(h->caplen, f.bytes.size());
        EXPECT_EQ(h->len, h->caplen);
        EXPECT_TRUE(std::equal(f.bytes.begin(), f.bytes.end(), data));
        bytes += h->caplen;
        ++n;
    }
    pcap_close(p);
    EXPECT_EQ(n, cap.frames.size());
    EXPECT_EQ(bytes, cap.frame_bytes());
    // Nanosecond magic and a byte-identical file on a second run.
    const auto file = slurp(path);
    ASSERT_GE(file.size(), 24U);
    std::uint32_t magic = 0;  // written in host order (little-endian here)
    for (unsigned k = 0; k < 4; ++k) magic |= static_cast<std::uint32_t>(static_cast<unsigned char>(file[k])) << (8 * k);
    EXPECT_EQ(magic, 0xA1B23C4DU);
    const std::string path2 = temp_path("rt2.pcap");
    ASSERT_TRUE(rxinto::gen::write_pcap(gen_ok(impaired()), path2).ok());
    EXPECT_EQ(file, slurp(path2));
    EXPECT_EQ(file.size(), 24 + 16 * cap.frames.size() + cap.frame_bytes());
    std::filesystem::remove(path);
    std::filesystem::remove(path2);
}

TEST(Gen, WritePcapErrorNamesPath) {
    const Capture cap = gen_ok(rxinto::gen::default_options());
    const std::string path = "/nonexistent-dir-rxinto/x.pcap";
    auto s = rxinto::gen::write_pcap(cap, path);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
}

TEST(Gen, WriteTruth) {
    GenOptions o = impaired();
    o.flows = 3;
    o.vlan_tags = 2;
    const Capture cap = gen_ok(o);
    const std::string dir = temp_path("truth");
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(rxinto::gen::write_truth(cap, dir).ok());
    for (const auto& t : cap.streams) {
        const auto file = slurp(dir + "/conn" + std::to_string(t.conn) + (t.c2s ? ".c2s" : ".s2c") + ".bin");
        ASSERT_EQ(file.size(), t.payload.size());
        EXPECT_TRUE(std::equal(t.payload.begin(), t.payload.end(), file.begin(),
                               [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); }));
    }
    std::ifstream in(dir + "/truth.jsonl");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    ASSERT_EQ(lines.size(), cap.streams.size());
    const StreamTruth& t0 = cap.streams[0];
    EXPECT_EQ(lines[0].rfind("{\"conn\":0,\"dir\":\"c2s\",\"src\":\"10.0.0.1\",\"sport\":40000,"
                             "\"dst\":\"10.128.0.1\",\"dport\":80,\"vlan\":[1000,100],"
                             "\"file\":\"conn0.c2s.bin\",\"bytes\":" + std::to_string(t0.payload.size()),
                             0),
              0U)
        << lines[0];
    EXPECT_NE(lines[0].find("\"isn\":4294967040}"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("\"dir\":\"s2c\""), std::string::npos);
    EXPECT_NE(lines[0].find("\"lost\":["), std::string::npos);
    // Lost ranges are written as [offset,length] pairs.
    for (std::size_t k = 0; k < cap.streams.size(); ++k) {
        for (const auto& [off, len] : cap.streams[k].lost) {
            const std::string pair = "[" + std::to_string(off) + "," + std::to_string(len) + "]";
            EXPECT_NE(lines[k].find(pair), std::string::npos) << lines[k];
        }
    }
    std::filesystem::remove_all(dir);

    EXPECT_FALSE(rxinto::gen::write_truth(cap, "/proc/rxinto-cannot-create").ok());
}

// ---------------------------------------------------------------------------
// IP fragmentation (GenOptions::fragment). Fragments are parsed and put back
// together by hand here, with the checks of RFC 791 / RFC 8200 on the way.

struct FragPiece {
    std::size_t off = 0;
    bool more = false;
    std::vector<std::uint8_t> data;
};

struct OpenDatagram {
    std::vector<std::uint8_t> l2_ip;  ///< link header + IP header of the first piece seen
    std::vector<FragPiece> pieces;    ///< in arrival order
};

struct FragReport {
    unsigned datagrams = 0, fragments = 0, v4 = 0, v6 = 0;
    unsigned in_order = 0, reversed = 0;  ///< datagrams whose fragments came by rising / falling offset
    std::vector<std::uint16_t> v4_ids;
    std::vector<std::uint32_t> v6_ids;
};

/// The capture's frames with every fragmented datagram replaced, where its
/// last fragment was, by the frame it was cut from (IPv4: DF set again, total
/// length and checksum; IPv6: Fragment header removed). Checks every fragment:
/// 2..4 per datagram, offsets at 8-byte boundaries, MF on all but the last,
/// pieces that tile the datagram exactly, IPv4 DF clear and header checksum
/// valid, frames padded to 60 bytes with zeros, the fragments of a datagram
/// consecutive among the frames between the same two addresses.
std::vector<std::vector<std::uint8_t>> defragment(const Capture& cap, FragReport& rep) {
    std::vector<std::vector<std::uint8_t>> out;
    // Key: IP version, src, dst, identification.
    std::map<std::tuple<bool, std::vector<std::uint8_t>, std::vector<std::uint8_t>, std::uint32_t>, OpenDatagram> open;
    for (const auto& f : cap.frames) {
        const std::span<const std::uint8_t> b(f.bytes);
        std::size_t l2 = 14;
        while (rd16(b, l2 - 2) == 0x8100 || rd16(b, l2 - 2) == 0x88a8) l2 += 4;
        const bool v6 = rd16(b, l2 - 2) == 0x86DD;
        bool is_frag = false;
        std::size_t hdr = 0, dgram_end = 0;
        FragPiece piece;
        std::uint32_t id = 0;
        if (!v6) {
            const auto ip = b.subspan(l2, 20);
            const std::uint16_t fl = rd16(ip, 6);
            is_frag = (fl & 0x3FFF) != 0;
            if (is_frag) {
                EXPECT_EQ(fl & 0x4000, 0) << "DF set on a fragment";
                EXPECT_EQ(fold(sum16(0, ip)), 0xFFFF) << "IPv4 header checksum of a fragment";
                EXPECT_EQ(ip[9], 6);
                piece.more = (fl & 0x2000) != 0;
                piece.off = static_cast<std::size_t>(fl & 0x1FFF) * 8;
                id = rd16(ip, 4);
                hdr = 20;
                dgram_end = l2 + rd16(ip, 2);
            }
        } else if (b[l2 + 6] == 44) {
            is_frag = true;
            const auto fh = b.subspan(l2 + 40, 8);
            EXPECT_EQ(fh[0], 6) << "Fragment header: next header TCP";
            EXPECT_EQ(fh[1], 0) << "reserved";
            EXPECT_EQ(rd16(fh, 2) & 6, 0) << "reserved bits";
            piece.more = (rd16(fh, 2) & 1) != 0;
            piece.off = rd16(fh, 2) & 0xFFF8;
            id = rd32(fh, 4);
            hdr = 48;
            dgram_end = l2 + 40 + rd16(b, l2 + 4);
        }
        if (!is_frag) {
            out.push_back(f.bytes);
            continue;
        }
        ++rep.fragments;
        EXPECT_LE(dgram_end, b.size());
        EXPECT_EQ(b.size(), std::max<std::size_t>(60, dgram_end)) << "padded to 60 bytes, no more";
        for (std::size_t k = dgram_end; k < b.size(); ++k) EXPECT_EQ(b[k], 0) << "trailer is zeros";
        piece.data.assign(b.begin() + static_cast<std::ptrdiff_t>(l2 + hdr),
                          b.begin() + static_cast<std::ptrdiff_t>(dgram_end));
        EXPECT_FALSE(piece.data.empty());
        if (piece.more) {
            EXPECT_EQ(piece.data.size() % 8, 0U) << "non-last fragment length";
        }
        const std::size_t alen = v6 ? 16 : 4;
        const std::size_t aoff = l2 + (v6 ? 8 : 12);
        std::vector<std::uint8_t> src(b.begin() + static_cast<std::ptrdiff_t>(aoff),
                                      b.begin() + static_cast<std::ptrdiff_t>(aoff + alen));
        std::vector<std::uint8_t> dst(b.begin() + static_cast<std::ptrdiff_t>(aoff + alen),
                                      b.begin() + static_cast<std::ptrdiff_t>(aoff + 2 * alen));
        const auto key = std::make_tuple(v6, src, dst, id);
        // Consecutive: no other datagram between these addresses is open.
        for (const auto& [k, d] : open) {
            if (std::get<0>(k) == v6 && std::get<1>(k) == src && std::get<2>(k) == dst) {
                EXPECT_EQ(std::get<3>(k), id) << "fragments of two datagrams interleaved";
            }
        }
        OpenDatagram& d = open[key];
        if (d.pieces.empty()) d.l2_ip.assign(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(l2 + (v6 ? 40 : 20)));
        d.pieces.push_back(std::move(piece));
        // Complete when the pieces tile [0, end of the last one) with no overlap.
        std::vector<FragPiece> sorted = d.pieces;
        std::sort(sorted.begin(), sorted.end(), [](const FragPiece& x, const FragPiece& y) { return x.off < y.off; });
        if (std::none_of(sorted.begin(), sorted.end(), [](const FragPiece& x) { return !x.more; })) continue;
        std::size_t at = 0;
        bool tiled = true;
        for (const FragPiece& p : sorted) {
            tiled = tiled && p.off == at;
            at = p.off + p.data.size();
        }
        if (!tiled) continue;
        for (std::size_t k = 0; k + 1 < sorted.size(); ++k) EXPECT_TRUE(sorted[k].more);
        EXPECT_GE(d.pieces.size(), 2U);
        EXPECT_LE(d.pieces.size(), 4U);
        bool rising = true, falling = true;
        for (std::size_t k = 1; k < d.pieces.size(); ++k) {
            rising = rising && d.pieces[k].off > d.pieces[k - 1].off;
            falling = falling && d.pieces[k].off < d.pieces[k - 1].off;
        }
        rep.in_order += rising ? 1U : 0U;
        rep.reversed += falling ? 1U : 0U;
        // The whole frame.
        std::vector<std::uint8_t> w = d.l2_ip;
        for (const FragPiece& p : sorted) w.insert(w.end(), p.data.begin(), p.data.end());
        const std::size_t total = at;
        if (v6) {
            w[l2 + 4] = static_cast<std::uint8_t>(total >> 8);
            w[l2 + 5] = static_cast<std::uint8_t>(total);
            w[l2 + 6] = 6;
            rep.v6_ids.push_back(id);
            ++rep.v6;
        } else {
            w[l2 + 2] = static_cast<std::uint8_t>((20 + total) >> 8);
            w[l2 + 3] = static_cast<std::uint8_t>(20 + total);
            w[l2 + 6] = 0x40;  // DF, as the generator's whole datagrams
            w[l2 + 7] = 0;
            w[l2 + 10] = w[l2 + 11] = 0;
            const std::uint16_t c = static_cast<std::uint16_t>(~fold(sum16(0, std::span(w).subspan(l2, 20))));
            w[l2 + 10] = static_cast<std::uint8_t>(c >> 8);
            w[l2 + 11] = static_cast<std::uint8_t>(c);
            rep.v4_ids.push_back(static_cast<std::uint16_t>(id));
            ++rep.v4;
        }
        ++rep.datagrams;
        out.push_back(std::move(w));
        open.erase(key);
    }
    EXPECT_TRUE(open.empty()) << open.size() << " datagrams never completed";
    return out;
}

/// Frames by connection, in capture order (whole frames only).
std::map<unsigned, std::vector<std::vector<std::uint8_t>>> by_conn(const Capture& cap,
                                                                   const std::vector<std::vector<std::uint8_t>>& frames) {
    const auto index = stream_index(cap);
    std::map<unsigned, std::vector<std::vector<std::uint8_t>>> m;
    for (const auto& f : frames) {
        const auto p = parse(f);
        EXPECT_TRUE(p.has_value());
        if (!p) continue;
        m[cap.streams[index.at(Key{p->src, p->dst, p->sport, p->dport})].conn].push_back(f);
    }
    return m;
}

bool is_fragment(std::span<const std::uint8_t> b) {
    std::size_t l2 = 14;
    while (rd16(b, l2 - 2) == 0x8100 || rd16(b, l2 - 2) == 0x88a8) l2 += 4;
    if (rd16(b, l2 - 2) == 0x86DD) return b[l2 + 6] == 44;
    return (rd16(b, l2 + 6) & 0x3FFF) != 0;
}

/// Whole (unfragmented) frames that carry payload.
unsigned data_segments(const Capture& cap) {
    unsigned n = 0;
    for (const auto& f : cap.frames) {
        if (is_fragment(f.bytes)) continue;
        const auto p = parse(f.bytes);
        if (p && !p->payload.empty()) ++n;
    }
    return n;
}

TEST(Gen, FragmentsReassembleIntoTheOriginalDatagrams) {
    for (unsigned vlan : {0U, 1U, 2U}) {
        for (bool reverse : {false, true}) {
            SCOPED_TRACE("vlan " + std::to_string(vlan) + (reverse ? " reversed" : ""));
            GenOptions o = impaired();
            o.ipv6_share = 0.5;
            o.vlan_tags = vlan;
            const Capture plain = gen_ok(o);
            o.fragment = 1.0;
            o.fragment_reverse = reverse;
            const Capture frag = gen_ok(o);
            // Ground truth unchanged.
            ASSERT_EQ(frag.streams.size(), plain.streams.size());
            for (std::size_t k = 0; k < plain.streams.size(); ++k) {
                EXPECT_EQ(frag.streams[k].payload, plain.streams[k].payload);
                EXPECT_EQ(frag.streams[k].lost, plain.streams[k].lost);
                EXPECT_EQ(frag.streams[k].isn, plain.streams[k].isn);
            }
            FragReport rep;
            const auto whole = defragment(frag, rep);
            // Every data segment was fragmented; nothing else was.
            EXPECT_EQ(data_segments(frag), 0U);
            EXPECT_EQ(rep.datagrams, data_segments(plain));
            EXPECT_GT(rep.v4, 0U);
            EXPECT_GT(rep.v6, 0U);
            EXPECT_GT(rep.fragments, 2 * rep.datagrams);  // some have 3 or 4
            EXPECT_EQ(reverse ? rep.reversed : rep.in_order, rep.datagrams);
            // Each connection's frames, fragments put back together, are the
            // frames of the same capture without fragmentation, byte for byte.
            std::vector<std::vector<std::uint8_t>> plain_frames;
            for (const auto& f : plain.frames) plain_frames.push_back(f.bytes);
            EXPECT_EQ(by_conn(frag, whole), by_conn(plain, plain_frames));
        }
    }
}

TEST(Gen, FragmentProbabilityKeepsTheTruth) {
    GenOptions o = impaired();
    o.fragment = 0.3;
    const Capture cap = gen_ok(o);
    FragReport rep;
    const auto whole = defragment(cap, rep);
    Capture rebuilt;
    rebuilt.streams = cap.streams;
    for (const auto& f : whole) rebuilt.frames.push_back({0, f});
    const unsigned all = data_segments(rebuilt);
    // About 30% of the data segments (a loose band around the expectation).
    EXPECT_GT(rep.datagrams, all / 6);
    EXPECT_LT(rep.datagrams, all / 2);
    EXPECT_EQ(data_segments(cap) + rep.datagrams, all);
    check_reassembly(rebuilt);
    std::uint64_t lost = 0;
    for (const auto& t : cap.streams) lost += t.lost_bytes();
    EXPECT_GT(lost, 0U);  // loss still applies to fragmented datagrams' ranges
}

TEST(Gen, FragmentIdentifications) {
    GenOptions o;
    o.flows = 6;
    o.fragment = 1.0;
    const Capture cap = gen_ok(o);
    FragReport rep;
    (void)defragment(cap, rep);
    ASSERT_GT(rep.v4, 0U);
    ASSERT_GT(rep.v6, 0U);
    // IPv4: the identification of the datagram (the unfragmented capture's).
    GenOptions p = o;
    p.fragment = 0;
    std::vector<std::uint16_t> data_ids;
    for (const auto& f : gen_ok(p).frames) {
        const auto q = parse(f.bytes);
        ASSERT_TRUE(q.has_value());
        if (!q->v6 && !q->payload.empty()) data_ids.push_back(q->ip_id);
    }
    auto v4 = rep.v4_ids;
    std::sort(v4.begin(), v4.end());
    std::sort(data_ids.begin(), data_ids.end());
    EXPECT_EQ(v4, data_ids);
    // IPv6: 32-bit identifications, unique.
    auto v6 = rep.v6_ids;
    std::sort(v6.begin(), v6.end());
    EXPECT_EQ(std::adjacent_find(v6.begin(), v6.end()), v6.end());
    EXPECT_TRUE(std::any_of(v6.begin(), v6.end(), [](std::uint32_t id) { return id > 0xFFFFU; }));
}

TEST(Gen, FragmentationIsDeterministic) {
    GenOptions o = impaired();
    o.fragment = 0.4;
    o.fragment_reverse = true;
    const Capture a = gen_ok(o);
    const Capture b = gen_ok(o);
    ASSERT_EQ(a.frames.size(), b.frames.size());
    for (std::size_t k = 0; k < a.frames.size(); ++k) {
        EXPECT_EQ(a.frames[k].ts_ns, b.frames[k].ts_ns);
        EXPECT_EQ(a.frames[k].bytes, b.frames[k].bytes);
    }
    // Without fragmentation the option changes nothing, and fragmentation
    // changes nothing else: the other impairments' rolls are the same.
    GenOptions none = impaired();
    none.fragment_reverse = true;
    const Capture c = gen_ok(none);
    const Capture d = gen_ok(impaired());
    ASSERT_EQ(c.frames.size(), d.frames.size());
    for (std::size_t k = 0; k < c.frames.size(); ++k) EXPECT_EQ(c.frames[k].bytes, d.frames[k].bytes);
    EXPECT_GT(a.frames.size(), d.frames.size());
}

}  // namespace
