// Progress line, text summary and JSON summary formatting.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "rxinto/stats/json.hpp"
#include "rxinto/stats/summary.hpp"

using namespace rxinto::stats;

namespace {

Snapshot snap(double t, std::uint64_t pkts, std::uint64_t bytes) {
    Snapshot s;
    s.t_s = t;
    PortStats p;
    p.name = "net_pcap_rxinto0";
    p.driver = "net_pcap";
    p.rx_queues = 1;
    p.rx_packets = pkts;
    p.rx_bytes = bytes;
    p.imissed = 1;
    p.rx_nombuf = 2;
    p.ierrors = 3;
    p.queue_packets = {pkts};
    s.ports.push_back(p);
    s.workers.push_back(WorkerStats{1, 4242, pkts, bytes, 100, 40});
    return s;
}

}  // namespace

TEST(Progress, RatesOverTheInterval) {
    const auto line = progress_line(snap(1.0, 1'000'000, 125'000'000), snap(2.0, 3'000'000, 375'000'000));
    EXPECT_NE(line.find("rx 3000000 pkts"), std::string::npos) << line;
    EXPECT_NE(line.find("2.000 Mpps"), std::string::npos) << line;
    EXPECT_NE(line.find("2.000 Gbit/s"), std::string::npos) << line;
    EXPECT_NE(line.find("imissed 1 rx_nombuf 2 errors 3"), std::string::npos) << line;
}

TEST(Progress, ZeroIntervalIsNotADivisionByZero) {
    const auto line = progress_line(snap(1.0, 5, 500), snap(1.0, 5, 500));
    EXPECT_NE(line.find("0.000 Mpps"), std::string::npos) << line;
}

TEST(Summary, JsonHasTheContractKeys) {
    Summary s;
    s.last = snap(2.0, 10, 1000);
    s.stop_reason = "end_of_capture";
    s.notes = {"a \"quoted\" note\n"};
    const auto j = summary_json(s);
    EXPECT_EQ(j.rfind("{\"rx_packets\":10,\"rx_bytes\":1000,"
                      "\"drops\":{\"imissed\":1,\"rx_nombuf\":2,\"ierrors\":3}",
                      0),
              0U)
        << j;
    EXPECT_NE(j.find("\"stop_reason\":\"end_of_capture\""), std::string::npos);
    EXPECT_NE(j.find("\"queue_packets\":[10]"), std::string::npos);
    EXPECT_NE(j.find("a \\\"quoted\\\" note\\n"), std::string::npos) << j;
}

TEST(Summary, TextNamesEveryPortAndWorker) {
    Summary s;
    s.last = snap(2.0, 10, 1000);
    s.stop_reason = "signal";
    const auto t = summary_text(s);
    EXPECT_NE(t.find("stopped (signal)"), std::string::npos) << t;
    EXPECT_NE(t.find("net_pcap_rxinto0 (net_pcap): 10 packets, 1000 bytes"), std::string::npos) << t;
    EXPECT_NE(t.find("worker lcore 1: 10 packets"), std::string::npos) << t;
    EXPECT_NE(t.find("40.0% empty"), std::string::npos) << t;
}

TEST(Json, EscapesControlCharactersAndNonFiniteNumbers) {
    JsonWriter j;
    j.begin_object().value("s", std::string_view("\x01\t\\")).value("d", std::numeric_limits<double>::infinity()).end_object();
    EXPECT_EQ(j.str(), "{\"s\":\"\\u0001\\t\\\\\",\"d\":null}");
}

// A path that is not UTF-8 (any bytes but '/' and NUL name a file on Linux)
// must still give valid JSON: each byte outside a well-formed UTF-8 sequence is
// written as \ufffd; well-formed sequences pass through unchanged.
TEST(Json, BytesThatAreNotUtf8BecomeReplacementCharacters) {
    struct json_case {
        std::string in;
        std::string out;
    };
    const std::vector<json_case> cases = {
        {"caf\xc3\xa9.pcap", "\"caf\xc3\xa9.pcap\""},                 // UTF-8 é: kept
        {"caf\xe9.pcap", "\"caf\\ufffd.pcap\""},                      // Latin-1 é
        {"\xff\xfe", "\"\\ufffd\\ufffd\""},                           // never in UTF-8
        {"\xc3", "\"\\ufffd\""},                                      // cut at the end
        {"\xc3(", "\"\\ufffd(\""},                                    // bad continuation
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},                           // overlong '/'
        {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},                // overlong, 3 bytes
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},                // UTF-16 surrogate D800
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},     // above U+10FFFF
        {"\xf0\x9f\x93\xa6 \xe2\x82\xac", "\"\xf0\x9f\x93\xa6 \xe2\x82\xac\""},  // 4- and 3-byte ok
        {"\x80\"\\", "\"\\ufffd\\\"\\\\\""},                          // lone continuation, escapes
    };
    for (const auto& c : cases) EXPECT_EQ(JsonWriter::escape(c.in), c.out) << c.in;

    // Keys too, and a whole summary whose capture path and note are not UTF-8.
    Summary s;
    s.last = snap(2.0, 10, 1000);
    CaptureStats cap;
    cap.path = "/tmp/\xe9t\xe9.pcap";
    cap.linktype = 1;
    cap.packets = 10;
    cap.bytes = cap.wire_bytes = 1000;
    s.captures.push_back(cap);
    s.notes = {"capture '/tmp/\xe9t\xe9.pcap': a note"};
    const auto j = summary_json(s);
    EXPECT_NE(j.find("\"path\":\"/tmp/\\ufffdt\\ufffd.pcap\""), std::string::npos) << j;
    for (const char ch : j) EXPECT_LT(static_cast<unsigned char>(ch), 0x80U) << "raw non-ASCII byte in " << j;
    JsonWriter k;
    k.begin_object().value("\xff", std::uint64_t{1}).end_object();
    EXPECT_EQ(k.str(), "{\"\\ufffd\":1}");
}

TEST(Summary, ExportIsReportedWhenOn) {
    Summary s;
    s.last = snap(2.0, 10, 1000);
    EXPECT_EQ(summary_json(s).find("\"export\""), std::string::npos);
    EXPECT_EQ(summary_text(s).find("export"), std::string::npos);
    ExportStats& x = s.last.exp;
    x.enabled = true;
    x.node = "n1";
    x.exported = 8;
    x.acked = 5;
    x.spooled = 2;
    x.dropped = 1;
    x.chunks_dropped = 3;
    x.drops = {{"ring_full", 4}, {"no_spool", 0}};
    const auto j = summary_json(s);
    EXPECT_NE(j.find("\"export_dropped\":4"), std::string::npos) << j;
    EXPECT_NE(j.find("\"export\":{\"node\":\"n1\""), std::string::npos) << j;
    EXPECT_NE(j.find("\"exported\":8,\"acked\":5,\"duplicates\":0,\"spooled\":2,\"dropped\":1"), std::string::npos) << j;
    EXPECT_NE(j.find("\"drops\":{\"ring_full\":4,\"no_spool\":0}"), std::string::npos) << j;
    const auto t = summary_text(s);
    EXPECT_NE(t.find("export     node n1: 8 records exported, 5 acknowledged"), std::string::npos) << t;
    EXPECT_NE(t.find("dropped (ring_full): 4"), std::string::npos) << t;
    EXPECT_EQ(t.find("dropped (no_spool)"), std::string::npos) << t;
}

TEST(Json, NullValue) {
    JsonWriter j;
    j.begin_object().null_value("file").value("bytes", std::uint64_t{1}).end_object();
    EXPECT_EQ(j.str(), "{\"file\":null,\"bytes\":1}");
}
