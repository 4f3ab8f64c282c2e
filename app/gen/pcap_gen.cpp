// Deterministic TCP conversation generator: see pcap_gen.hpp for the shape
// of the traffic and the meaning of the impairments.
#include "rxinto/gen/pcap_gen.hpp"

#include <arpa/inet.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <system_error>

namespace rxinto::gen {
namespace {

// ---------------------------------------------------------------------------
// Randomness: splitmix64, values derived by hand so results are identical on
// every platform and standard library.

class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) : s_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    std::uint32_t next32() { return static_cast<std::uint32_t>(next() >> 32); }
    /// Uniform-enough integer in [0, n); 0 when n == 0.
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
    /// Double in [0, 1) with 53 random bits.
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
    std::uint64_t s_;
};

/// Seed of an independent generator for (seed, stream id).
std::uint64_t derive(std::uint64_t seed, std::uint64_t id) {
    SplitMix64 r(seed ^ (id * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL));
    r.next();
    return r.next();
}

constexpr std::uint64_t kTagFlow = 0x100000000ULL;
constexpr std::uint64_t kTagImpair = 0x200000000ULL;
constexpr std::uint64_t kTagPayload = 0x300000000ULL;
constexpr std::uint64_t kTagSchedule = 0x400000000ULL;
constexpr std::uint64_t kTagFragment = 0x500000000ULL;

// ---------------------------------------------------------------------------
// Limits and constants.

constexpr unsigned kMaxFlows = 100000;
constexpr std::uint16_t kMaxMss = 9000;
constexpr std::uint64_t kMaxPayloadTotal = 1ULL << 30;  // 1 GiB of payload, worst case
constexpr std::size_t kConcurrentFlows = 16;             // flows interleaved at a time
constexpr unsigned kServers = 8;
constexpr std::array<std::uint16_t, 3> kServerPorts{80, 443, 5201};
constexpr std::array<std::uint8_t, 6> kClientMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr std::array<std::uint8_t, 6> kServerMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kSyn = 0x02;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;

constexpr std::uint8_t kWindowShift = 7;

// ---------------------------------------------------------------------------
// Byte helpers.

void put8(std::vector<std::uint8_t>& b, unsigned v) { b.push_back(static_cast<std::uint8_t>(v)); }
void put16(std::vector<std::uint8_t>& b, unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xFFFFU);
}
void set16(std::vector<std::uint8_t>& b, std::size_t at, unsigned v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}

/// One's-complement sum of 16-bit big-endian words (odd tail padded with 0).
std::uint64_t csum_add(std::uint64_t acc, std::span<const std::uint8_t> d) {
    std::size_t i = 0;
    for (; i + 1 < d.size(); i += 2) acc += (static_cast<std::uint64_t>(d[i]) << 8) | d[i + 1];
    if (i < d.size()) acc += static_cast<std::uint64_t>(d[i]) << 8;
    return acc;
}
std::uint16_t csum_fold(std::uint64_t acc) {
    while (acc >> 16) acc = (acc & 0xFFFFU) + (acc >> 16);
    return static_cast<std::uint16_t>(~acc & 0xFFFFU);
}

// ---------------------------------------------------------------------------
// Flow addressing.

struct Addressing {
    bool v6 = false;
    std::array<std::uint8_t, 16> client{}, server{};  // v4 uses the first 4 bytes
    std::uint16_t cport = 0, sport = 0;
    std::vector<std::uint16_t> vlan;                 // outermost first
};

bool flow_is_v6(unsigned i, double share) {
    // Exact share: flow i is IPv6 when floor((i+1)*share) steps up at i.
    return std::floor(static_cast<double>(i + 1) * share) > std::floor(static_cast<double>(i) * share);
}

Addressing make_addressing(unsigned i, const GenOptions& opt) {
    Addressing a;
    a.v6 = flow_is_v6(i, opt.ipv6_share);
    const std::uint32_t host = i + 1;
    const std::uint32_t srv = i % kServers + 1;
    if (a.v6) {
        // fd00::1:<host hi>:<host lo> and fd00::2:0:<srv>
        a.client = {0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                    static_cast<std::uint8_t>(host >> 24), static_cast<std::uint8_t>(host >> 16),
                    static_cast<std::uint8_t>(host >> 8), static_cast<std::uint8_t>(host)};
        a.server = {0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
                    0, 0, 0, static_cast<std::uint8_t>(srv)};
    } else {
        const std::uint32_t c = 0x0A000000U + host;  // 10.0.0.1, 10.0.0.2, ...
        a.client = {static_cast<std::uint8_t>(c >> 24), static_cast<std::uint8_t>(c >> 16),
                    static_cast<std::uint8_t>(c >> 8), static_cast<std::uint8_t>(c)};
        a.server = {10, 128, 0, static_cast<std::uint8_t>(srv)};  // 10.128.0.1..8
    }
    a.cport = static_cast<std::uint16_t>(40000 + i % 25000);
    a.sport = kServerPorts[i % kServerPorts.size()];
    if (opt.vlan_tags == 1) {
        a.vlan = {static_cast<std::uint16_t>(100 + i % 900)};
    } else if (opt.vlan_tags == 2) {
        a.vlan = {static_cast<std::uint16_t>(1000 + i % 16), static_cast<std::uint16_t>(100 + i % 900)};
    }
    return a;
}

std::string addr_text(bool v6, const std::array<std::uint8_t, 16>& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(v6 ? AF_INET6 : AF_INET, a.data(), buf, sizeof buf) == nullptr) return "?";
    return buf;
}

// ---------------------------------------------------------------------------
// Frame construction.

struct Segment {
    bool c2s = true;
    std::uint8_t flags = 0;
    std::uint32_t seq = 0, ack = 0;
    std::uint16_t window = 0;
    bool syn_options = false;
    std::uint16_t mss = 0;
    std::uint32_t tsval = 0, tsecr = 0;
    std::uint16_t ip_id = 0;
    std::span<const std::uint8_t> payload;
};

std::vector<std::uint8_t> build_frame(const Addressing& a, const Segment& s) {
    const std::size_t tcp_opt_len = s.syn_options ? 20 : 12;
    const std::size_t tcp_len = 20 + tcp_opt_len + s.payload.size();
    const std::size_t ip_hdr_len = a.v6 ? 40 : 20;

    std::vector<std::uint8_t> b;
    b.reserve(14 + 4 * a.vlan.size() + ip_hdr_len + tcp_len);

    // Ethernet II (+ VLAN tags).
    const auto& dmac = s.c2s ? kServerMac : kClientMac;
    const auto& smac = s.c2s ? kClientMac : kServerMac;
    b.insert(b.end(), dmac.begin(), dmac.end());
    b.insert(b.end(), smac.begin(), smac.end());
    for (std::size_t t = 0; t < a.vlan.size(); ++t) {
        const bool outer_of_two = a.vlan.size() == 2 && t == 0;
        put16(b, outer_of_two ? 0x88a8U : 0x8100U);
        put16(b, a.vlan[t] & 0x0FFFU);  // PCP 0, DEI 0
    }
    put16(b, a.v6 ? 0x86DDU : 0x0800U);

    const auto& src = s.c2s ? a.client : a.server;
    const auto& dst = s.c2s ? a.server : a.client;
    const std::size_t ip_at = b.size();
    std::uint64_t pseudo = 0;
    if (a.v6) {
        put32(b, 0x60000000U);  // version 6, traffic class 0, flow label 0
        put16(b, static_cast<unsigned>(tcp_len));
        put8(b, 6);   // next header TCP
        put8(b, 64);  // hop limit
        b.insert(b.end(), src.begin(), src.end());
        b.insert(b.end(), dst.begin(), dst.end());
        pseudo = csum_add(pseudo, std::span(src));
        pseudo = csum_add(pseudo, std::span(dst));
        pseudo += static_cast<std::uint64_t>(tcp_len) + 6;
    } else {
        put8(b, 0x45);
        put8(b, 0);
        put16(b, static_cast<unsigned>(20 + tcp_len));
        put16(b, s.ip_id);
        put16(b, 0x4000U);  // DF
        put8(b, 64);        // TTL
        put8(b, 6);         // TCP
        put16(b, 0);        // checksum, below
        b.insert(b.end(), src.begin(), src.begin() + 4);
        b.insert(b.end(), dst.begin(), dst.begin() + 4);
        set16(b, ip_at + 10, csum_fold(csum_add(0, std::span(b).subspan(ip_at, 20))));
        pseudo = csum_add(pseudo, std::span(src).first(4));
        pseudo = csum_add(pseudo, std::span(dst).first(4));
        pseudo += static_cast<std::uint64_t>(tcp_len) + 6;
    }

    const std::size_t tcp_at = b.size();
    put16(b, s.c2s ? a.cport : a.sport);
    put16(b, s.c2s ? a.sport : a.cport);
    put32(b, s.seq);
    put32(b, (s.flags & kAck) != 0 ? s.ack : 0);
    put8(b, static_cast<unsigned>((20 + tcp_opt_len) / 4) << 4);
    put8(b, s.flags);
    put16(b, s.window);
    put16(b, 0);  // checksum, below
    put16(b, 0);  // urgent pointer
    if (s.syn_options) {
        // Linux order: MSS, SACK-permitted, timestamps, NOP, window scale.
        put8(b, 2), put8(b, 4), put16(b, s.mss);
        put8(b, 4), put8(b, 2);
        put8(b, 8), put8(b, 10), put32(b, s.tsval), put32(b, s.tsecr);
        put8(b, 1);
        put8(b, 3), put8(b, 3), put8(b, kWindowShift);
    } else {
        put8(b, 1), put8(b, 1);
        put8(b, 8), put8(b, 10), put32(b, s.tsval), put32(b, s.tsecr);
    }
    b.insert(b.end(), s.payload.begin(), s.payload.end());
    set16(b, tcp_at + 16, csum_fold(csum_add(pseudo, std::span(b).subspan(tcp_at))));
    return b;
}

/// Cuts the IP datagram of `frame` (link header of l2 bytes, no trailer) into
/// `pieces` fragments at 8-byte boundaries of its IP payload (fewer when the
/// payload has fewer 8-byte blocks; the frame itself when it cannot be cut).
/// IPv4: the header is copied with its total length, MF, offset and checksum
/// set and DF cleared. IPv6: a Fragment header (identification v6_id) goes
/// right after the 40-byte header. Frames are padded to 60 bytes.
std::vector<std::vector<std::uint8_t>> split_datagram(const std::vector<std::uint8_t>& frame,
                                                      std::size_t l2, bool v6, unsigned pieces,
                                                      std::uint32_t v6_id) {
    const std::size_t ip_hdr = v6 ? 40 : 20;
    const std::size_t payload_at = l2 + ip_hdr;
    const std::size_t len = frame.size() - payload_at;
    const std::size_t blocks = (len + 7) / 8;
    const std::size_t n = std::min<std::size_t>(pieces, blocks);
    if (n < 2) return {frame};
    std::vector<std::vector<std::uint8_t>> out;
    out.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t from = blocks * k / n * 8;
        const std::size_t to = k + 1 == n ? len : blocks * (k + 1) / n * 8;
        const bool more = k + 1 != n;
        std::vector<std::uint8_t> b(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(payload_at));
        if (v6) {
            set16(b, l2 + 4, static_cast<unsigned>(8 + to - from));  // payload length
            b[l2 + 6] = 44;                                          // next header: Fragment
            put8(b, 6);                                              // its next header: TCP
            put8(b, 0);                                              // reserved
            put16(b, static_cast<unsigned>(from) | (more ? 1U : 0U));  // offset (8-byte units << 3), M
            put32(b, v6_id);
        } else {
            set16(b, l2 + 2, static_cast<unsigned>(20 + to - from));              // total length
            set16(b, l2 + 6, static_cast<unsigned>(from / 8) | (more ? 0x2000U : 0U));  // MF, offset; DF clear
            set16(b, l2 + 10, 0);
            set16(b, l2 + 10, csum_fold(csum_add(0, std::span(b).subspan(l2, 20))));
        }
        b.insert(b.end(), frame.begin() + static_cast<std::ptrdiff_t>(payload_at + from),
                 frame.begin() + static_cast<std::ptrdiff_t>(payload_at + to));
        if (b.size() < 60) b.resize(60, 0);  // Ethernet minimum: a zero trailer
        out.push_back(std::move(b));
    }
    return out;
}

// ---------------------------------------------------------------------------
// One connection: logical packets, then impairments.

struct Packet {
    std::vector<std::uint8_t> bytes;
    bool data = false;
    unsigned dir = 0;  // 0 c2s, 1 s2c
    std::uint64_t off = 0, len = 0;
    // Impairment rolls (data segments only); they travel with the packet.
    bool reorder = false, duplicate = false, lost = false;
    unsigned dup_delay = 1;
};

struct Side {
    std::uint32_t isn = 0;
    std::uint64_t sent = 0;  // payload bytes sent so far
    bool fin_sent = false;
    std::uint16_t ip_id = 0;
    std::uint32_t tsval = 0;
    std::uint32_t last_tsval_seen = 0;
    std::uint16_t syn_window = 0, window = 0;
    const std::vector<std::uint8_t>* payload = nullptr;

    [[nodiscard]] std::uint32_t next_seq() const {
        return static_cast<std::uint32_t>(isn + 1 + sent + (fin_sent ? 1 : 0));
    }
};

std::uint64_t jittered(std::uint32_t base, std::uint32_t pct, SplitMix64& r) {
    const std::uint64_t range = static_cast<std::uint64_t>(base) * pct / 100;
    const std::uint64_t draw = r.below(2 * range + 1);
    return base - range + draw;
}

std::vector<std::uint8_t> make_payload(std::uint64_t n, std::uint64_t seed) {
    SplitMix64 r(seed);
    std::vector<std::uint8_t> p(n);
    std::uint64_t word = 0;
    for (std::uint64_t k = 0; k < n; ++k) {
        if (k % 8 == 0) word = r.next();
        p[k] = static_cast<std::uint8_t>(word >> (8 * (k % 8)));
    }
    return p;
}

class FlowBuilder {
public:
    FlowBuilder(unsigned conn, const GenOptions& opt) : conn_(conn), opt_(opt) {}

    /// Fills the two StreamTruth entries (without `lost`) and returns the
    /// connection's packets in capture order, impairments applied.
    std::vector<Packet> build(StreamTruth& c2s, StreamTruth& s2c) {
        SplitMix64 r(derive(opt_.seed, kTagFlow + conn_));
        a_ = make_addressing(conn_, opt_);

        std::uint32_t isn_c = r.next32();
        std::uint32_t isn_s = r.next32();
        side_[0].ip_id = static_cast<std::uint16_t>(r.next32());
        side_[1].ip_id = static_cast<std::uint16_t>(r.next32());
        side_[0].tsval = r.next32();
        side_[1].tsval = r.next32();
        const std::uint64_t n_c = jittered(opt_.c2s_bytes, opt_.size_jitter_pct, r);
        const std::uint64_t n_s = jittered(opt_.s2c_bytes, opt_.size_jitter_pct, r);
        const unsigned rounds = 1 + static_cast<unsigned>(r.below(3));

        // Sequence-number wrap inside some streams, whatever the seed.
        if (conn_ == 0) {
            isn_c = 0xFFFFFF00U;
            isn_s = static_cast<std::uint32_t>(0xFFFFFFFFULL - n_s / 2);
        } else if (conn_ == 1) {
            isn_c = 0xFFFFFFFFU;
        }
        side_[0].isn = isn_c;
        side_[1].isn = isn_s;
        side_[0].syn_window = 64240;
        side_[1].syn_window = 65160;
        side_[0].window = 502;
        side_[1].window = 509;

        fill_truth(c2s, true, isn_c, make_payload(n_c, derive(opt_.seed, kTagPayload + 2ULL * conn_)));
        fill_truth(s2c, false, isn_s, make_payload(n_s, derive(opt_.seed, kTagPayload + 2ULL * conn_ + 1)));
        side_[0].payload = &c2s.payload;
        side_[1].payload = &s2c.payload;

        if (opt_.handshake) {
            emit(0, kSyn, 0, 0, true);
            emit(1, kSyn | kAck, 0, 0, true);
            emit(0, kAck, 0, 0, false);
        }
        for (unsigned k = 0; k < rounds; ++k) {
            burst(0, n_c * k / rounds, n_c * (k + 1) / rounds);
            burst(1, n_s * k / rounds, n_s * (k + 1) / rounds);
        }
        if (opt_.fin) {
            emit(0, kFin | kAck, 0, 0, false);
            emit(1, kFin | kAck, 0, 0, false);
            emit(0, kAck, 0, 0, false);
        }
        return fragment(impair());
    }

private:
    void fill_truth(StreamTruth& t, bool c2s, std::uint32_t isn, std::vector<std::uint8_t> payload) const {
        t.conn = conn_;
        t.c2s = c2s;
        t.src = addr_text(a_.v6, c2s ? a_.client : a_.server);
        t.dst = addr_text(a_.v6, c2s ? a_.server : a_.client);
        t.sport = c2s ? a_.cport : a_.sport;
        t.dport = c2s ? a_.sport : a_.cport;
        t.vlan = a_.vlan;
        t.isn = isn;
        t.payload = std::move(payload);
        t.lost.clear();
    }

    /// Sends payload [from, to) of direction dir in segments of up to mss,
    /// with a pure ACK from the receiver after every 2nd segment and after
    /// the last one.
    void burst(unsigned dir, std::uint64_t from, std::uint64_t to) {
        unsigned unacked = 0;
        for (std::uint64_t off = from; off < to;) {
            const std::uint64_t len = std::min<std::uint64_t>(opt_.mss, to - off);
            const bool last = off + len == to;
            emit(dir, static_cast<std::uint8_t>(kAck | (last ? kPsh : 0)), off, len, false);
            off += len;
            if (++unacked == 2 || last) {
                emit(1 - dir, kAck, 0, 0, false);
                unacked = 0;
            }
        }
    }

    void emit(unsigned dir, std::uint8_t flags, std::uint64_t off, std::uint64_t len, bool syn_options) {
        Side& me = side_[dir];
        Side& peer = side_[1 - dir];
        Segment s;
        s.c2s = dir == 0;
        s.flags = flags;
        s.seq = (flags & kSyn) != 0 ? me.isn : me.next_seq();
        // The receiver got everything the peer sent (capture loss only).
        s.ack = peer.next_seq();
        s.window = (flags & kSyn) != 0 ? me.syn_window : me.window;
        s.syn_options = syn_options;
        s.mss = opt_.mss;
        s.tsval = me.tsval++;
        s.tsecr = (flags & kAck) != 0 ? me.last_tsval_seen : 0;
        s.ip_id = me.ip_id++;
        if (len > 0) s.payload = std::span(*me.payload).subspan(off, len);

        Packet p;
        p.bytes = build_frame(a_, s);
        p.dir = dir;
        if (len > 0) {
            p.data = true;
            p.off = off;
            p.len = len;
            me.sent = off + len;
        }
        if ((flags & kFin) != 0) me.fin_sent = true;
        peer.last_tsval_seen = s.tsval;
        pkts_.push_back(std::move(p));
    }

    std::vector<Packet> impair() {
        SplitMix64 r(derive(opt_.seed, kTagImpair + conn_));
        for (Packet& p : pkts_) {
            if (!p.data) continue;
            // Always draw all values so one probability does not shift the others.
            const double u_reorder = r.unit();
            const double u_dup = r.unit();
            const double u_loss = r.unit();
            const std::uint64_t delay = r.below(4);
            p.reorder = u_reorder < opt_.reorder;
            p.duplicate = u_dup < opt_.duplicate;
            p.lost = u_loss < opt_.loss;
            p.dup_delay = 1 + static_cast<unsigned>(delay);
        }
        // Reorder: swap with the next frame of the connection.
        for (std::size_t k = 0; k + 1 < pkts_.size();) {
            if (pkts_[k].data && pkts_[k].reorder) {
                std::swap(pkts_[k], pkts_[k + 1]);
                k += 2;
            } else {
                ++k;
            }
        }
        // Duplicate (copy released dup_delay frames later) and loss of the original.
        struct Pending {
            std::size_t src;
            unsigned countdown;
        };
        std::vector<Pending> pending;
        std::vector<Packet> out;
        out.reserve(pkts_.size());
        auto release = [&] {
            for (std::size_t k = 0; k < pending.size();) {
                if (--pending[k].countdown == 0) {
                    Packet copy = pkts_[pending[k].src];
                    copy.lost = copy.duplicate = copy.reorder = false;
                    out.push_back(std::move(copy));
                    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(k));
                } else {
                    ++k;
                }
            }
        };
        for (std::size_t k = 0; k < pkts_.size(); ++k) {
            if (pkts_[k].duplicate) pending.push_back({k, pkts_[k].dup_delay + 1});
            if (!pkts_[k].lost) {
                if (pkts_[k].duplicate) {
                    out.push_back(pkts_[k]);  // the copy is made from pkts_[k] later
                } else {
                    out.push_back(std::move(pkts_[k]));
                }
            }
            release();
        }
        for (const Pending& pd : pending) {
            Packet copy = pkts_[pd.src];
            copy.lost = copy.duplicate = copy.reorder = false;
            out.push_back(std::move(copy));
        }
        return out;
    }

    /// Sends some data segments as IP fragments (GenOptions::fragment). Its own
    /// generator: a capture without fragmentation is the same as before it
    /// existed, and the other impairments do not depend on this one.
    std::vector<Packet> fragment(std::vector<Packet> in) const {
        if (!(opt_.fragment > 0)) return in;
        SplitMix64 r(derive(opt_.seed, kTagFragment + conn_));
        std::array<std::uint32_t, 2> v6_id{r.next32(), r.next32()};
        const std::size_t l2 = 14 + 4 * a_.vlan.size();
        std::vector<Packet> out;
        out.reserve(in.size());
        for (Packet& p : in) {
            if (!p.data) {
                out.push_back(std::move(p));
                continue;
            }
            // Always draw both values so that the probability shifts nothing else.
            const double u = r.unit();
            const auto pieces = static_cast<unsigned>(2 + r.below(3));
            if (!(u < opt_.fragment)) {
                out.push_back(std::move(p));
                continue;
            }
            auto frames = split_datagram(p.bytes, l2, a_.v6, pieces, a_.v6 ? v6_id[p.dir]++ : 0);
            if (opt_.fragment_reverse) std::reverse(frames.begin(), frames.end());
            for (std::size_t k = 0; k < frames.size(); ++k) {
                Packet f;
                f.bytes = std::move(frames[k]);
                f.dir = p.dir;
                if (k == 0) {  // the datagram's range, counted once (StreamTruth::lost)
                    f.data = true;
                    f.off = p.off;
                    f.len = p.len;
                }
                out.push_back(std::move(f));
            }
        }
        return out;
    }

    unsigned conn_;
    const GenOptions& opt_;
    Addressing a_;
    std::array<Side, 2> side_{};
    std::vector<Packet> pkts_;
};

/// Ranges of [0, total) covered by no interval (intervals may overlap).
std::vector<std::pair<std::uint64_t, std::uint64_t>> uncovered(
    std::vector<std::pair<std::uint64_t, std::uint64_t>> iv, std::uint64_t total) {
    std::sort(iv.begin(), iv.end());
    std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
    std::uint64_t cursor = 0;
    for (const auto& [off, len] : iv) {
        if (off > cursor) gaps.emplace_back(cursor, off - cursor);
        cursor = std::max(cursor, off + len);
    }
    if (cursor < total) gaps.emplace_back(cursor, total - cursor);
    return gaps;
}

std::string json_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        o += c;
    }
    return o;
}

}  // namespace

// ---------------------------------------------------------------------------

GenOptions default_options() {
    GenOptions o;
    o.seed = 1;
    o.flows = 8;
    o.ipv6_share = 0.5;
    o.reorder = 0.05;
    o.duplicate = 0.02;
    o.loss = 0;
    o.vlan_tags = 0;
    return o;
}

std::uint64_t StreamTruth::lost_bytes() const {
    std::uint64_t n = 0;
    for (const auto& r : lost) n += r.second;
    return n;
}

std::uint64_t Capture::frame_bytes() const {
    std::uint64_t n = 0;
    for (const Frame& f : frames) n += f.bytes.size();
    return n;
}

Status validate(const GenOptions& opt) {
    auto prob = [](const char* name, double v) -> Status {
        if (!(v >= 0.0 && v <= 1.0)) {
            return make_error("generator option ", name, " = ", std::to_string(v),
                              ": must be a probability in [0, 1]");
        }
        return {};
    };
    if (opt.flows < 1 || opt.flows > kMaxFlows) {
        return make_error("generator option flows = ", std::to_string(opt.flows),
                          ": must be in 1..", std::to_string(kMaxFlows));
    }
    if (opt.mss < 1 || opt.mss > kMaxMss) {
        return make_error("generator option mss = ", std::to_string(opt.mss), ": must be in 1..",
                          std::to_string(kMaxMss));
    }
    if (opt.vlan_tags > 2) {
        return make_error("generator option vlan_tags = ", std::to_string(opt.vlan_tags),
                          ": must be 0, 1 or 2 (2 = QinQ)");
    }
    if (opt.size_jitter_pct > 100) {
        return make_error("generator option size_jitter_pct = ", std::to_string(opt.size_jitter_pct),
                          ": must be in 0..100");
    }
    for (auto [name, v] : {std::pair{"ipv6_share", opt.ipv6_share}, std::pair{"reorder", opt.reorder},
                           std::pair{"duplicate", opt.duplicate}, std::pair{"loss", opt.loss},
                           std::pair{"fragment", opt.fragment}}) {
        if (Status s = prob(name, v); !s) return s;
    }
    const std::uint64_t worst = static_cast<std::uint64_t>(opt.flows) *
                                (static_cast<std::uint64_t>(opt.c2s_bytes) + opt.s2c_bytes) *
                                (100 + opt.size_jitter_pct) / 100;
    if (worst > kMaxPayloadTotal) {
        return make_error("generator options flows x (c2s_bytes + s2c_bytes) allow up to ",
                          std::to_string(worst), " bytes of payload, more than the limit of ",
                          std::to_string(kMaxPayloadTotal), ": lower flows or the byte counts");
    }
    return {};
}

Result<Capture> generate(const GenOptions& opt) {
    if (Status s = validate(opt); !s) return std::move(s).error();

    Capture cap;
    cap.streams.resize(2 * static_cast<std::size_t>(opt.flows));

    struct Running {
        std::vector<Packet> pkts;
        std::size_t next = 0;
    };
    std::vector<Running> active;
    SplitMix64 sched(derive(opt.seed, kTagSchedule));
    std::uint64_t ts = opt.start_ns;
    unsigned next_flow = 0;

    while (true) {
        while (active.size() < kConcurrentFlows && next_flow < opt.flows) {
            const unsigned conn = next_flow++;
            StreamTruth& tc = cap.streams[2 * static_cast<std::size_t>(conn)];
            StreamTruth& ts2 = cap.streams[2 * static_cast<std::size_t>(conn) + 1];
            FlowBuilder fb(conn, opt);
            Running run{fb.build(tc, ts2), 0};
            // Exact capture-loss ranges: whatever no captured frame carries.
            std::array<std::vector<std::pair<std::uint64_t, std::uint64_t>>, 2> present;
            for (const Packet& p : run.pkts) {
                if (p.data) present[p.dir].emplace_back(p.off, p.len);
            }
            tc.lost = uncovered(std::move(present[0]), tc.payload.size());
            ts2.lost = uncovered(std::move(present[1]), ts2.payload.size());
            if (!run.pkts.empty()) active.push_back(std::move(run));
        }
        if (active.empty()) break;
        const std::size_t j = static_cast<std::size_t>(sched.below(active.size()));
        Running& run = active[j];
        cap.frames.push_back(Frame{ts, std::move(run.pkts[run.next].bytes)});
        ts += 2000 + sched.below(8001);  // 2..10 us
        if (++run.next == run.pkts.size()) {
            if (j + 1 != active.size()) active[j] = std::move(active.back());
            active.pop_back();
        }
    }
    return cap;
}

Status write_pcap(const Capture& cap, const std::string& path) {
    constexpr int kSnaplen = 65535;
    pcap_t* p = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnaplen, PCAP_TSTAMP_PRECISION_NANO);
    if (p == nullptr) return make_error("cannot write pcap '", path, "': pcap_open_dead failed");
    pcap_dumper_t* d = pcap_dump_open(p, path.c_str());
    if (d == nullptr) {
        std::string why = pcap_geterr(p);
        pcap_close(p);
        return make_error("cannot write pcap '", path, "': ", why);
    }
    std::string failure;
    for (const Frame& f : cap.frames) {
        if (f.bytes.size() > static_cast<std::size_t>(kSnaplen)) {
            failure = "frame of " + std::to_string(f.bytes.size()) + " bytes exceeds the snaplen";
            break;
        }
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<time_t>(f.ts_ns / 1000000000ULL);
        h.ts.tv_usec = static_cast<suseconds_t>(f.ts_ns % 1000000000ULL);  // nanoseconds
        h.caplen = static_cast<bpf_u_int32>(f.bytes.size());
        h.len = h.caplen;
        pcap_dump(reinterpret_cast<u_char*>(d), &h, f.bytes.data());
    }
    if (failure.empty()) {
        FILE* fp = pcap_dump_file(d);
        if (pcap_dump_flush(d) != 0 || (fp != nullptr && std::ferror(fp) != 0)) {
            failure = errno != 0 ? std::strerror(errno) : "write error";
        }
    }
    pcap_dump_close(d);
    pcap_close(p);
    if (!failure.empty()) return make_error("cannot write pcap '", path, "': ", failure);
    return {};
}

Status write_truth(const Capture& cap, const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return make_error("cannot create truth directory '", dir, "': ", ec.message());

    const fs::path index_path = fs::path(dir) / "truth.jsonl";
    std::ofstream index(index_path, std::ios::binary | std::ios::trunc);
    if (!index) {
        return make_error("cannot write '", index_path.string(), "': ", std::strerror(errno));
    }
    for (const StreamTruth& t : cap.streams) {
        const std::string name =
            "conn" + std::to_string(t.conn) + (t.c2s ? ".c2s" : ".s2c") + ".bin";
        const fs::path file = fs::path(dir) / name;
        {
            std::ofstream out(file, std::ios::binary | std::ios::trunc);
            if (out) {
                out.write(reinterpret_cast<const char*>(t.payload.data()),
                          static_cast<std::streamsize>(t.payload.size()));
                out.flush();
            }
            if (!out) return make_error("cannot write '", file.string(), "': ", std::strerror(errno));
        }
        std::string line = "{\"conn\":" + std::to_string(t.conn) + ",\"dir\":\"" +
                           (t.c2s ? "c2s" : "s2c") + "\",\"src\":\"" + json_escape(t.src) +
                           "\",\"sport\":" + std::to_string(t.sport) + ",\"dst\":\"" +
                           json_escape(t.dst) + "\",\"dport\":" + std::to_string(t.dport) +
                           ",\"vlan\":[";
        for (std::size_t k = 0; k < t.vlan.size(); ++k) {
            if (k != 0) line += ',';
            line += std::to_string(t.vlan[k]);
        }
        line += "],\"file\":\"" + json_escape(name) + "\",\"bytes\":" +
                std::to_string(t.payload.size()) +
                ",\"captured\":" + std::to_string(t.payload.size() - t.lost_bytes()) + ",\"lost\":[";
        for (std::size_t k = 0; k < t.lost.size(); ++k) {
            if (k != 0) line += ',';
            line += "[" + std::to_string(t.lost[k].first) + "," + std::to_string(t.lost[k].second) + "]";
        }
        line += "],\"isn\":" + std::to_string(t.isn) + "}\n";
        index << line;
    }
    index.flush();
    if (!index) return make_error("cannot write '", index_path.string(), "': ", std::strerror(errno));
    return {};
}

}  // namespace rxinto::gen
