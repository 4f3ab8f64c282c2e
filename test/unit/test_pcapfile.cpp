// Unit tests of rxinto::pcapfile (capture parser and file source). No EAL.
// Well-formed files in every byte order and timestamp resolution are compared
// with libpcap's reading of the same bytes; hostile ones must stop at the
// first record that cannot be trusted, with the right reason and position,
// whatever window sizes the bytes arrive in.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "capture_builder.hpp"
#include "rxinto/gen/pcap_gen.hpp"
#include "rxinto/pcapfile/reader.hpp"
#include "rxinto/pcapfile/source.hpp"

namespace {

using rxinto::pcapfile::file_format;
using rxinto::pcapfile::parser;
using rxinto::pcapfile::step_kind;
using rxinto::pcapfile::stop_reason;
using rxinto::test::capture_builder;
using rxinto::test::frame;
using bytes = std::vector<std::uint8_t>;

struct rec {
    bytes data;
    std::uint32_t orig = 0;
    std::uint64_t ts_ns = 0;
    std::uint32_t iface = 0;
    std::uint32_t linktype = 0;
    bool operator==(const rec&) const = default;
};

struct outcome {
    std::vector<rec> recs;
    rxinto::pcapfile::stop_info stop;
    std::uint64_t end_offset = 0;
};

/// Parses the whole file at once (the mapped case).
outcome parse_all(const bytes& f) {
    parser p;
    outcome o;
    for (;;) {
        const auto off = p.offset();
        const auto s = p.next(f.data() + off, f.size() - off, true);
        if (s.kind == step_kind::record)
            o.recs.push_back({bytes(s.rec.data, s.rec.data + s.rec.caplen), s.rec.orig_len,
                              s.rec.ts_ns, s.rec.interface, s.rec.linktype});
        if (s.kind == step_kind::end || s.kind == step_kind::stopped) break;
        EXPECT_NE(s.kind, step_kind::need_more);
    }
    o.stop = p.stop();
    o.end_offset = p.offset();
    return o;
}

/// Parses as a stream that grows `chunk` bytes at a time (the pipe case): the
/// parser sees only what has "arrived", with eof false until the very end.
outcome parse_stream(const bytes& f, std::size_t chunk) {
    parser p;
    outcome o;
    std::size_t have = std::min(chunk, f.size());
    for (int guard = 0; guard < 10'000'000; ++guard) {
        const auto off = p.offset();
        const bool eof = have == f.size();
        const auto s = p.next(f.data() + off, have - off, eof);
        if (s.kind == step_kind::record)
            o.recs.push_back({bytes(s.rec.data, s.rec.data + s.rec.caplen), s.rec.orig_len,
                              s.rec.ts_ns, s.rec.interface, s.rec.linktype});
        if (s.kind == step_kind::end || s.kind == step_kind::stopped) break;
        if (s.kind == step_kind::need_more) {
            EXPECT_FALSE(eof);
            EXPECT_GT(off + s.need, have) << "need_more although the bytes were there";
            have = std::min(f.size(), have + chunk);
        }
    }
    o.stop = p.stop();
    o.end_offset = p.offset();
    return o;
}

/// Every window size gives the same packets and the same stop as the whole file.
void expect_stream_equal(const bytes& f) {
    const outcome whole = parse_all(f);
    for (std::size_t chunk : {1UL, 3UL, 7UL, 64UL, 1000UL}) {
        const outcome s = parse_stream(f, chunk);
        EXPECT_EQ(s.recs, whole.recs) << "chunk " << chunk;
        EXPECT_EQ(s.stop.reason, whole.stop.reason) << "chunk " << chunk;
        EXPECT_EQ(s.stop.record, whole.stop.record) << "chunk " << chunk;
        EXPECT_EQ(s.stop.offset, whole.stop.offset) << "chunk " << chunk;
    }
}

/// libpcap's reading of the same bytes (one link type per file).
std::vector<rec> libpcap_read(const bytes& f, bool& error) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("rxinto-pcapfile-" + std::to_string(::getpid()) + ".cap");
    {
        std::ofstream o(path, std::ios::binary);
        o.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
    }
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    std::vector<rec> out;
    error = p == nullptr;
    if (p != nullptr) {
        pcap_pkthdr* h = nullptr;
        const u_char* d = nullptr;
        int rc = 0;
        while ((rc = pcap_next_ex(p, &h, &d)) == 1)
            out.push_back({bytes(d, d + h->caplen), h->len,
                           static_cast<std::uint64_t>(h->ts.tv_sec) * 1'000'000'000ULL +
                               static_cast<std::uint64_t>(h->ts.tv_usec),
                           0, static_cast<std::uint32_t>(pcap_datalink(p))});
        error = rc == PCAP_ERROR;
        pcap_close(p);
    }
    std::filesystem::remove(path);
    return out;
}

bytes pcap_file(bool be, bool nsec) {
    capture_builder b(be);
    b.pcap_header(65535, 1, nsec);
    b.pcap_record(1'700'000'000, nsec ? 123'456'789 : 123'456, frame(60, 1));
    b.pcap_record(1'700'000'001, 7, frame(1514, 2));
    b.pcap_record(1'700'000'002, 0, frame(100, 3), 1500);  // cut by a snaplen
    return b.bytes;
}

TEST(PcapFile, PcapAllFourMagicsMatchLibpcap) {
    for (bool be : {false, true}) {
        for (bool nsec : {false, true}) {
            const bytes f = pcap_file(be, nsec);
            const outcome o = parse_all(f);
            ASSERT_EQ(o.recs.size(), 3U);
            EXPECT_EQ(o.stop.reason, stop_reason::none);
            EXPECT_EQ(o.end_offset, f.size());
            EXPECT_EQ(o.recs[0].ts_ns, 1'700'000'000'000'000'000ULL + (nsec ? 123'456'789ULL : 123'456'000ULL));
            EXPECT_EQ(o.recs[2].orig, 1500U);
            EXPECT_EQ(o.recs[2].data, frame(100, 3));
            bool err = true;
            const auto ref = libpcap_read(f, err);
            EXPECT_FALSE(err);
            EXPECT_EQ(o.recs, ref) << "be " << be << " nsec " << nsec;
            expect_stream_equal(f);
        }
    }
}

TEST(PcapFile, PcapCaplenAboveSnaplenStops) {
    capture_builder b;
    b.pcap_header(100, 1);
    b.pcap_record(1, 0, frame(60));
    b.pcap_record(2, 0, frame(200));
    b.pcap_record(3, 0, frame(60));
    const outcome o = parse_all(b.bytes);
    EXPECT_EQ(o.recs.size(), 1U);
    EXPECT_EQ(o.stop.reason, stop_reason::caplen_over_snaplen);
    EXPECT_EQ(o.stop.record, 2U);
    EXPECT_EQ(o.stop.offset, 24U + 16U + 60U);
    EXPECT_EQ(o.stop.value, 200U);
    EXPECT_EQ(o.stop.limit, 100U);
    EXPECT_EQ(o.stop.packets, 1U);
    expect_stream_equal(b.bytes);
}

TEST(PcapFile, PcapCaplenAboveMaximumStopsAsLibpcapDoes) {
    capture_builder b;
    b.pcap_header(0, 1);  // snaplen 0: the maximum, 262144
    b.pcap_record(1, 0, frame(60));
    b.pcap_record(2, 0, frame(300000));
    b.pcap_record(3, 0, frame(60));
    const outcome o = parse_all(b.bytes);
    EXPECT_EQ(o.recs.size(), 1U);
    EXPECT_EQ(o.stop.reason, stop_reason::caplen_over_max);
    EXPECT_EQ(o.stop.value, 300000U);
    bool err = false;
    EXPECT_EQ(libpcap_read(b.bytes, err).size(), 1U);
    EXPECT_TRUE(err) << "libpcap rejects it too";
    // 262144 itself is fine.
    capture_builder ok;
    ok.pcap_header(0, 1);
    ok.pcap_record(1, 0, frame(262144));
    EXPECT_EQ(parse_all(ok.bytes).recs.size(), 1U);
}

TEST(PcapFile, TruncatedLastRecordIsReported) {
    bytes f = pcap_file(false, false);
    for (std::size_t cut : {1UL, 10UL, 16UL, 50UL}) {
        bytes g(f.begin(), f.end() - static_cast<std::ptrdiff_t>(cut));
        const outcome o = parse_all(g);
        EXPECT_EQ(o.recs.size(), 2U) << cut;
        EXPECT_EQ(o.stop.reason, stop_reason::truncated_record) << cut;
        EXPECT_EQ(o.stop.record, 3U);
        const std::string d = rxinto::pcapfile::describe(o.stop, file_format::pcap);
        EXPECT_NE(d.find("truncated dump file"), std::string::npos) << d;
        bool err = false;
        EXPECT_EQ(libpcap_read(g, err).size(), 2U);
        EXPECT_TRUE(err);
        expect_stream_equal(g);
    }
}

TEST(PcapFile, HeadersThatAreNoCapture) {
    EXPECT_EQ(parse_all({}).stop.reason, stop_reason::truncated_file_header);
    EXPECT_EQ(parse_all({0xd4, 0xc3, 0xb2, 0xa1, 2, 0}).stop.reason, stop_reason::truncated_file_header);
    EXPECT_EQ(parse_all(bytes(24, 0x41)).stop.reason, stop_reason::not_a_capture);
    capture_builder b;
    b.pcap_header(65535, 1, false, 1);
    EXPECT_EQ(parse_all(b.bytes).stop.reason, stop_reason::unsupported_version);
    EXPECT_EQ(parse_all(b.bytes).stop.record, 0U);
    // Header only: a valid, empty capture.
    capture_builder e;
    e.pcap_header(65535, 101);
    const outcome o = parse_all(e.bytes);
    EXPECT_EQ(o.stop.reason, stop_reason::none);
    EXPECT_TRUE(o.recs.empty());
}

bytes pcapng_file(bool be) {
    capture_builder b(be);
    b.shb();
    b.idb(1, 0);                         // Ethernet, µs
    b.block(0x80000001, frame(13));      // a custom block: skipped
    b.idb(101, 65535, 9, 100);           // raw IP, ns, +100 s
    b.epb(0, 1'700'000'000'123'456ULL, frame(60, 1));
    b.epb(1, 1'700'000'000'123'456'789ULL, frame(61, 2), 1000);
    b.spb(frame(70, 3));
    b.pb(1, 5'000'000'000ULL, frame(40, 4));
    b.block(5, frame(16));               // interface statistics: skipped
    return b.bytes;
}

TEST(PcapFile, PcapngBothByteOrdersEveryPacketBlock) {
    for (bool be : {false, true}) {
        const bytes f = pcapng_file(be);
        const outcome o = parse_all(f);
        EXPECT_EQ(o.stop.reason, stop_reason::none);
        ASSERT_EQ(o.recs.size(), 4U);
        EXPECT_EQ(o.recs[0].ts_ns, 1'700'000'000'123'456'000ULL);
        EXPECT_EQ(o.recs[0].linktype, 1U);
        EXPECT_EQ(o.recs[1].ts_ns, 1'700'000'100'123'456'789ULL);  // ns resolution and tsoffset
        EXPECT_EQ(o.recs[1].linktype, 101U);
        EXPECT_EQ(o.recs[1].iface, 1U);
        EXPECT_EQ(o.recs[1].orig, 1000U);
        EXPECT_EQ(o.recs[2].data, frame(70, 3));  // SPB: interface 0, no timestamp
        EXPECT_EQ(o.recs[2].ts_ns, 0U);
        EXPECT_EQ(o.recs[2].linktype, 1U);
        EXPECT_EQ(o.recs[3].ts_ns, 105'000'000'000ULL);  // PB on interface 1: 5 s + 100 s
        expect_stream_equal(f);
    }
}

TEST(PcapFile, PcapngSingleLinkTypeMatchesLibpcap) {
    for (bool be : {false, true}) {
        capture_builder b(be);
        b.shb();
        b.idb(1, 262144, 9);
        for (unsigned i = 0; i < 20; ++i) b.epb(0, 1'700'000'000'000'000'000ULL + i * 1001, frame(60 + i, i));
        const outcome o = parse_all(b.bytes);
        bool err = true;
        const auto ref = libpcap_read(b.bytes, err);
        EXPECT_FALSE(err);
        EXPECT_EQ(o.recs, ref);
    }
}

TEST(PcapFile, PcapngSectionsInBothByteOrdersResetInterfaces) {
    capture_builder a(false);
    a.shb();
    a.idb(1, 0);
    a.idb(113, 0);
    a.epb(1, 10, frame(30));
    capture_builder b(true);
    b.shb();
    b.idb(101, 0);
    b.epb(0, 20, frame(31));
    b.epb(1, 30, frame(32));  // the second section has one interface only
    bytes f = a.bytes;
    f.insert(f.end(), b.bytes.begin(), b.bytes.end());
    const outcome o = parse_all(f);
    ASSERT_EQ(o.recs.size(), 2U);
    EXPECT_EQ(o.recs[0].linktype, 113U);
    EXPECT_EQ(o.recs[1].linktype, 101U);
    EXPECT_EQ(o.stop.reason, stop_reason::no_such_interface);
    EXPECT_EQ(o.stop.value, 1U);
    EXPECT_EQ(o.stop.limit, 1U);
    EXPECT_EQ(o.stop.record, 8U);
    expect_stream_equal(f);
}

TEST(PcapFile, HostilePcapngBlocksStopWhereTheyStart) {
    struct hostile {
        const char* name;
        stop_reason want;
        void (*add)(capture_builder&);
    };
    const hostile cases[] = {
        {"caplen past block", stop_reason::caplen_past_block,
         [](capture_builder& b) { b.epb(0, 1, frame(60), 1400, 1400); }},
        {"no such interface", stop_reason::no_such_interface,
         [](capture_builder& b) { b.epb(7, 1, frame(60)); }},
        {"caplen over snaplen", stop_reason::caplen_over_snaplen,
         [](capture_builder& b) { b.epb(0, 1, frame(2000)); }},
        {"caplen over max", stop_reason::caplen_over_max,
         [](capture_builder& b) { b.epb(0, 1, frame(60), 0, 300000); }},
        {"length mismatch", stop_reason::block_length_mismatch,
         [](capture_builder& b) { b.block(6, frame(40), 48); }},
        {"not a multiple of 4", stop_reason::block_length_not_multiple_of_4,
         [](capture_builder& b) { b.u32(6); b.u32(50); b.raw(frame(46)); }},
        {"too short", stop_reason::block_too_short,
         [](capture_builder& b) { b.u32(6); b.u32(8); }},
        {"epb body too short", stop_reason::block_too_short,
         [](capture_builder& b) { b.block(6, frame(8)); }},
        {"too long", stop_reason::block_too_long,
         [](capture_builder& b) { b.u32(6); b.u32(32U << 20); b.raw(frame(100)); }},
        {"truncated", stop_reason::truncated_record,
         [](capture_builder& b) { b.epb(0, 1, frame(60)); b.bytes.erase(b.bytes.end() - 9, b.bytes.end()); }},
        {"bad tsresol", stop_reason::bad_option,
         [](capture_builder& b) { b.idb(1, 0, 20); }},
        {"option past block", stop_reason::bad_option,
         [](capture_builder& b) {
             capture_builder x;
             x.u16(1); x.u16(0); x.u32(0); x.u16(2); x.u16(200); x.raw(frame(8));
             b.block(1, x.bytes);
         }},
        {"bad byte order magic", stop_reason::bad_byte_order_magic,
         [](capture_builder& b) { b.u32(0x0A0D0D0A); b.u32(28); b.u32(0x12345678); b.raw(frame(16)); }},
    };
    for (const auto& c : cases) {
        capture_builder b;
        b.shb();
        b.idb(1, 1500);
        b.epb(0, 1, frame(60));
        const std::size_t bad_at = b.bytes.size();
        c.add(b);
        // "SMUGGLED" after the bad block: never returned, whatever the alignment.
        const bytes tail = {'S', 'M', 'U', 'G', 'G', 'L', 'E', 'D'};
        if (c.want != stop_reason::truncated_record) b.epb(0, 2, tail);  // else the block is not the last
        const outcome o = parse_all(b.bytes);
        EXPECT_EQ(o.stop.reason, c.want) << c.name;
        EXPECT_EQ(o.stop.offset, bad_at) << c.name;
        EXPECT_EQ(o.stop.record, 4U) << c.name;
        EXPECT_EQ(o.recs.size(), 1U) << c.name;
        EXPECT_EQ(o.recs[0].data, frame(60)) << c.name;
        expect_stream_equal(b.bytes);
    }
}

TEST(PcapFile, PacketBeforeAnyInterfaceStops) {
    capture_builder b;
    b.shb();
    b.epb(0, 1, frame(60));
    EXPECT_EQ(parse_all(b.bytes).stop.reason, stop_reason::no_such_interface);
    capture_builder s;
    s.shb();
    s.spb(frame(60));
    EXPECT_EQ(parse_all(s.bytes).stop.reason, stop_reason::no_such_interface);
}

TEST(PcapFile, InterfaceTableIsBounded) {
    capture_builder b;
    b.shb();
    for (int i = 0; i < 5; ++i) b.idb(1, 0);
    parser p(4);
    step_kind k{};
    do {
        const auto off = p.offset();
        k = p.next(b.bytes.data() + off, b.bytes.size() - off, true).kind;
    } while (k == step_kind::skipped);
    EXPECT_EQ(k, step_kind::stopped);
    EXPECT_EQ(p.stop().reason, stop_reason::too_many_interfaces);
}

TEST(PcapFile, UnreadGivesTheRecordBack) {
    const bytes f = pcap_file(false, false);
    parser p;
    const auto h = p.next(f.data(), f.size(), true);
    EXPECT_EQ(h.kind, step_kind::skipped);
    const auto r1 = p.next(f.data() + p.offset(), f.size() - p.offset(), true);
    ASSERT_EQ(r1.kind, step_kind::record);
    p.unread(r1);
    EXPECT_EQ(p.packets(), 0U);
    const auto r2 = p.next(f.data() + p.offset(), f.size() - p.offset(), true);
    ASSERT_EQ(r2.kind, step_kind::record);
    EXPECT_EQ(r2.rec.data, r1.rec.data);
}

TEST(PcapFile, TimestampResolutions) {
    // 2^-10 s units, and 10^-3 (ms).
    capture_builder b;
    b.shb();
    b.idb(1, 0, 0x80 | 10);
    b.idb(1, 0, 3);
    b.epb(0, 1024 * 5 + 512, frame(20));
    b.epb(1, 7'250, frame(20));
    const outcome o = parse_all(b.bytes);
    ASSERT_EQ(o.recs.size(), 2U);
    EXPECT_EQ(o.recs[0].ts_ns, 5'500'000'000ULL);
    EXPECT_EQ(o.recs[1].ts_ns, 7'250'000'000ULL);
}

TEST(PcapFile, GeneratedCaptureMatchesLibpcap) {
    auto cap = rxinto::gen::generate(rxinto::gen::default_options());
    ASSERT_TRUE(cap);
    const auto path = std::filesystem::temp_directory_path() /
                      ("rxinto-pcapfile-gen-" + std::to_string(::getpid()) + ".pcap");
    ASSERT_TRUE(rxinto::gen::write_pcap(cap.value(), path.string()));
    std::ifstream in(path, std::ios::binary);
    const bytes f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove(path);
    const outcome o = parse_all(f);
    bool err = true;
    const auto ref = libpcap_read(f, err);
    EXPECT_FALSE(err);
    EXPECT_GT(o.recs.size(), 10U);
    // libpcap was asked for ns; the file has µs: the same instants.
    EXPECT_EQ(o.recs, ref);
    expect_stream_equal(f);
}

// ---------------------------------------------------------------------------
// source: mapped files and streams.

std::string write_temp(const bytes& f, const std::string& name) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("rxinto-src-" + std::to_string(::getpid()) + "-" + name);
    std::ofstream o(path, std::ios::binary);
    o.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
    return path.string();
}

/// Reads every record through a source (fill() on need_more, as the PMD does).
outcome read_source(rxinto::pcapfile::source& s) {
    parser p;
    outcome o;
    for (int guard = 0; guard < 1'000'000; ++guard) {
        std::size_t len = 0;
        bool eof = false;
        const std::uint8_t* d = s.window(p.offset(), len, eof);
        const auto st = p.next(d, len, eof);
        if (st.kind == step_kind::record)
            o.recs.push_back({bytes(st.rec.data, st.rec.data + st.rec.caplen), st.rec.orig_len,
                              st.rec.ts_ns, st.rec.interface, st.rec.linktype});
        if (st.kind == step_kind::end || st.kind == step_kind::stopped) break;
        if (st.kind == step_kind::need_more) {
            const auto r = s.fill(p.offset(), st.need);
            if (r == rxinto::pcapfile::source::fill_result::would_block) std::this_thread::yield();
            EXPECT_NE(r, rxinto::pcapfile::source::fill_result::error);
        }
    }
    o.stop = p.stop();
    return o;
}

TEST(PcapFileSource, MappedAndStreamedReadTheSame) {
    const bytes f = pcapng_file(false);
    const std::string path = write_temp(f, "a.pcapng");
    rxinto::pcapfile::source::open_options mo;
    auto m = rxinto::pcapfile::source::open(path, mo);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_TRUE(m.value()->mapped());
    EXPECT_EQ(m.value()->first_linktype(), 1);
    rxinto::pcapfile::source::open_options so;
    so.allow_map = false;
    so.sample_records = 2;
    auto s = rxinto::pcapfile::source::open(path, so);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_FALSE(s.value()->mapped());
    EXPECT_EQ(read_source(*m.value()).recs, parse_all(f).recs);
    EXPECT_EQ(read_source(*s.value()).recs, parse_all(f).recs);
    std::filesystem::remove(path);
}

TEST(PcapFileSource, APipeWrittenSlowly) {
    // A writer thread sends the file in small pieces with pauses: the source is
    // non-blocking after open(), so the reader sees would_block and comes back.
    bytes f;
    {
        capture_builder b;
        b.pcap_header(65535, 1);
        for (unsigned i = 0; i < 300; ++i) b.pcap_record(i, 0, frame(100 + i, i));
        f = b.bytes;
    }
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::thread writer([&] {
        std::size_t off = 0;
        while (off < f.size()) {
            const std::size_t n = std::min<std::size_t>(997, f.size() - off);
            if (::write(fds[1], f.data() + off, n) != static_cast<ssize_t>(n)) break;
            off += n;
            if (off % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        ::close(fds[1]);
    });
    rxinto::pcapfile::source::open_options so;
    auto s = rxinto::pcapfile::source::open("/proc/self/fd/" + std::to_string(fds[0]), so);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_FALSE(s.value()->mapped());
    const outcome o = read_source(*s.value());
    writer.join();
    ::close(fds[0]);
    EXPECT_EQ(o.stop.reason, stop_reason::none);
    EXPECT_EQ(o.recs, parse_all(f).recs);
}

TEST(PcapFileSource, ClearErrors) {
    auto missing = rxinto::pcapfile::source::open("/nonexistent/x.pcap", {});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("/nonexistent/x.pcap"), std::string::npos);
    const std::string gz = write_temp({0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
                                      "x.pcap.gz");
    auto g = rxinto::pcapfile::source::open(gz, {});
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("decompress"), std::string::npos) << g.error().message;
    std::filesystem::remove(gz);
    auto dir = rxinto::pcapfile::source::open("/tmp", {});
    ASSERT_FALSE(dir);
    EXPECT_NE(dir.error().message.find("directory"), std::string::npos);
    // A path with '=' and ',' is a path like any other here.
    const std::string odd = write_temp(pcap_file(false, false), "a=b,c.pcap");
    auto o = rxinto::pcapfile::source::open(odd, {});
    ASSERT_TRUE(o) << o.error().message;
    std::filesystem::remove(odd);
}

}  // namespace
