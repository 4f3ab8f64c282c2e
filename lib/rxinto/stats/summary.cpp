#include "rxinto/stats/summary.hpp"

#include <cstdio>

#include "rxinto/stats/json.hpp"

namespace rxinto::stats {

namespace {

template <class F>
std::uint64_t sum_ports(const Snapshot& s, F f) {
    std::uint64_t t = 0;
    for (const auto& p : s.ports) t += f(p);
    return t;
}

double rate(std::uint64_t delta, double seconds) {
    return seconds > 0 ? static_cast<double>(delta) / seconds : 0.0;
}

std::string human_bytes(std::uint64_t b) {
    char buf[32];
    const double d = static_cast<double>(b);
    if (b >= 1000ULL * 1000 * 1000) std::snprintf(buf, sizeof buf, "%.2f GB", d / 1e9);
    else if (b >= 1000ULL * 1000) std::snprintf(buf, sizeof buf, "%.2f MB", d / 1e6);
    else if (b >= 1000ULL) std::snprintf(buf, sizeof buf, "%.2f kB", d / 1e3);
    else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    return buf;
}

}  // namespace

std::uint64_t Snapshot::rx_packets() const noexcept {
    return sum_ports(*this, [](const PortStats& p) { return p.rx_packets; });
}
std::uint64_t Snapshot::rx_bytes() const noexcept {
    return sum_ports(*this, [](const PortStats& p) { return p.rx_bytes; });
}
std::uint64_t Snapshot::imissed() const noexcept {
    return sum_ports(*this, [](const PortStats& p) { return p.imissed; });
}
std::uint64_t Snapshot::rx_nombuf() const noexcept {
    return sum_ports(*this, [](const PortStats& p) { return p.rx_nombuf; });
}
std::uint64_t Snapshot::ierrors() const noexcept {
    return sum_ports(*this, [](const PortStats& p) { return p.ierrors; });
}

std::uint64_t Snapshot::tcp_count(const std::string& name) const noexcept {
    for (const auto& [k, v] : tcp)
        if (k == name) return v;
    return 0;
}

std::string progress_line(const Snapshot& prev, const Snapshot& now) {
    const double dt = now.t_s - prev.t_s;
    const double pps = rate(now.rx_packets() - prev.rx_packets(), dt);
    const double bps = rate(now.rx_bytes() - prev.rx_bytes(), dt) * 8.0;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "[%7.1fs] rx %llu pkts %s | %.3f Mpps %.3f Gbit/s | drops: imissed %llu "
                  "rx_nombuf %llu errors %llu",
                  now.t_s, static_cast<unsigned long long>(now.rx_packets()),
                  human_bytes(now.rx_bytes()).c_str(), pps / 1e6, bps / 1e9,
                  static_cast<unsigned long long>(now.imissed()),
                  static_cast<unsigned long long>(now.rx_nombuf()),
                  static_cast<unsigned long long>(now.ierrors()));
    std::string line = buf;
    if (now.tcp_enabled) {
        std::snprintf(buf, sizeof buf,
                      " | tcp flows %llu segs %llu ooo %llu dup %llu overlaps %llu conflicts %llu"
                      " gaps %llu (%llu B) csum %llu",
                      static_cast<unsigned long long>(now.flows_active),
                      static_cast<unsigned long long>(now.tcp_count("segments")),
                      static_cast<unsigned long long>(now.tcp_count("out_of_order")),
                      static_cast<unsigned long long>(now.tcp_count("duplicates")),
                      static_cast<unsigned long long>(now.tcp_count("partial_overlaps")),
                      static_cast<unsigned long long>(now.tcp_count("overlap_conflicts")),
                      static_cast<unsigned long long>(now.tcp_count("gaps")),
                      static_cast<unsigned long long>(now.tcp_count("gap_bytes")),
                      static_cast<unsigned long long>(now.tcp_count("checksum_bad")));
        line += buf;
    }
    if (now.capture_enabled) {
        std::snprintf(buf, sizeof buf, " | pcapng %llu pkts %llu files, write errors %llu",
                      static_cast<unsigned long long>(now.capture_packets),
                      static_cast<unsigned long long>(now.capture_files),
                      static_cast<unsigned long long>(now.capture_write_errors));
        line += buf;
    }
    return line;
}

std::string summary_text(const Summary& s) {
    const Snapshot& n = s.last;
    std::string o;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "rxinto: stopped (%s) after %.3f s\n"
                  "  rx_packets  %llu\n"
                  "  rx_bytes    %llu (%s)\n"
                  "  rate        %.3f Mpps, %.3f Gbit/s\n"
                  "  drops       imissed %llu, rx_nombuf %llu, ierrors %llu\n"
                  "  memory      %s, mempool %u mbufs, %u in use at the end\n",
                  s.stop_reason.c_str(), n.t_s, static_cast<unsigned long long>(n.rx_packets()),
                  static_cast<unsigned long long>(n.rx_bytes()), human_bytes(n.rx_bytes()).c_str(),
                  rate(n.rx_packets(), n.t_s) / 1e6, rate(n.rx_bytes(), n.t_s) * 8.0 / 1e9,
                  static_cast<unsigned long long>(n.imissed()),
                  static_cast<unsigned long long>(n.rx_nombuf()),
                  static_cast<unsigned long long>(n.ierrors()),
                  s.hugepages ? "hugepages" : "no hugepages (--no-huge)", s.mempool_size,
                  s.mempool_in_use);
    o += buf;
    for (const auto& p : n.ports) {
        std::snprintf(buf, sizeof buf,
                      "  port %u %s (%s): %llu packets, %llu bytes, %u rx queue%s%s%s; %s\n",
                      p.index, p.name.c_str(), p.driver.c_str(),
                      static_cast<unsigned long long>(p.rx_packets),
                      static_cast<unsigned long long>(p.rx_bytes), p.rx_queues,
                      p.rx_queues == 1 ? "" : "s", p.rss ? (p.rss_symmetric ? ", symmetric RSS" : ", RSS (NOT symmetric)") : "",
                      p.rx_checksum_offload ? ", rx checksum offload" : "", p.link.c_str());
        o += buf;
    }
    if (n.capture_enabled || n.filter_enabled) {
        std::snprintf(buf, sizeof buf,
                      "  capture    %llu packets in %llu files (%llu bytes), %llu write errors,"
                      " %llu not written (capture ring full); filter kept %llu, dropped %llu before reassembly\n",
                      static_cast<unsigned long long>(n.capture_packets),
                      static_cast<unsigned long long>(n.capture_files),
                      static_cast<unsigned long long>(n.capture_file_bytes),
                      static_cast<unsigned long long>(n.capture_write_errors),
                      static_cast<unsigned long long>(n.capture_ring_full),
                      static_cast<unsigned long long>(n.filter_matched),
                      static_cast<unsigned long long>(n.filter_rejected));
        o += buf;
    }
    if (n.dispatch) {
        std::snprintf(buf, sizeof buf,
                      "  dispatch   lcore %u: %llu packets to the workers, %llu dropped (ring full)\n",
                      n.dispatch_lcore, static_cast<unsigned long long>(n.dispatch_packets),
                      static_cast<unsigned long long>(n.dispatch_ring_full));
        o += buf;
    }
    for (const auto& w : n.workers) {
        const double empty_share =
            w.polls != 0 ? 100.0 * static_cast<double>(w.empty_polls) / static_cast<double>(w.polls)
                         : 0.0;
        std::snprintf(buf, sizeof buf,
                      "  worker lcore %u: %llu packets (%.3f Mpps), %llu bytes, %llu polls (%.1f%% empty)\n",
                      w.lcore, static_cast<unsigned long long>(w.packets),
                      rate(w.packets, n.t_s) / 1e6, static_cast<unsigned long long>(w.bytes),
                      static_cast<unsigned long long>(w.polls), empty_share);
        o += buf;
    }
    if (n.endpoint_enabled) {
        std::snprintf(buf, sizeof buf, "  endpoint    connections %llu",
                      static_cast<unsigned long long>(n.endpoint_connections));
        o += buf;
        for (const auto& [k, v] : n.endpoint) {
            if (v == 0) continue;
            std::snprintf(buf, sizeof buf, ", %s %llu", k.c_str(), static_cast<unsigned long long>(v));
            o += buf;
        }
        o += "\n  streams    ";
        bool first = true;
        for (const auto& [k, v] : n.tcp) {
            if (v == 0) continue;
            std::snprintf(buf, sizeof buf, "%s%s %llu", first ? "" : ", ", k.c_str(),
                          static_cast<unsigned long long>(v));
            o += buf;
            first = false;
        }
        std::snprintf(buf, sizeof buf, "%sbytes written %llu\n", first ? "" : ", ",
                      static_cast<unsigned long long>(n.stream_bytes_written));
        o += buf;
    }
    if (n.tcp_enabled) {
        o += "  tcp        ";
        std::snprintf(buf, sizeof buf, " flows_active %llu",
                      static_cast<unsigned long long>(n.flows_active));
        o += buf;
        for (const auto& [k, v] : n.tcp) {
            if (v == 0) continue;
            std::snprintf(buf, sizeof buf, ", %s %llu", k.c_str(), static_cast<unsigned long long>(v));
            o += buf;
        }
        o += "\n  frames     ";
        bool first = true;
        for (const auto& [k, v] : n.parse) {
            if (v == 0) continue;
            std::snprintf(buf, sizeof buf, "%s%s %llu", first ? "" : ", ", k.c_str(),
                          static_cast<unsigned long long>(v));
            o += buf;
            first = false;
        }
        o += "\n";
        if (n.stream_bytes_written != 0 || n.stream_write_errors != 0 || n.stream_bytes_lost != 0 ||
            n.streams_ring_full != 0) {
            std::snprintf(buf, sizeof buf,
                          "  streams    %llu bytes written in %llu files, %llu write errors, %llu bytes lost"
                          " (%llu dropped on a full stream ring)\n",
                          static_cast<unsigned long long>(n.stream_bytes_written),
                          static_cast<unsigned long long>(n.stream_files),
                          static_cast<unsigned long long>(n.stream_write_errors),
                          static_cast<unsigned long long>(n.stream_bytes_lost),
                          static_cast<unsigned long long>(n.stream_bytes_unsent));
            o += buf;
        }
    }
    if (n.exp.enabled) {
        const ExportStats& x = n.exp;
        std::snprintf(buf, sizeof buf,
                      "  export     node %s: %llu records exported, %llu acknowledged (%llu duplicates),"
                      " %llu spooled, %llu dropped; %llu in the spool (%llu bytes), %llu retries,"
                      " %llu disconnects\n",
                      x.node.c_str(), static_cast<unsigned long long>(x.exported),
                      static_cast<unsigned long long>(x.acked), static_cast<unsigned long long>(x.duplicates),
                      static_cast<unsigned long long>(x.spooled), static_cast<unsigned long long>(x.dropped),
                      static_cast<unsigned long long>(x.in_spool), static_cast<unsigned long long>(x.spool_bytes),
                      static_cast<unsigned long long>(x.retries), static_cast<unsigned long long>(x.disconnects));
        o += buf;
        if (x.chunks_enabled) {
            std::snprintf(buf, sizeof buf,
                          "  export     stream chunks: %llu exported (%llu bytes), %llu acknowledged, %llu spooled,"
                          " %llu dropped\n",
                          static_cast<unsigned long long>(x.chunks_exported),
                          static_cast<unsigned long long>(x.chunk_bytes),
                          static_cast<unsigned long long>(x.chunks_acked),
                          static_cast<unsigned long long>(x.chunks_spooled),
                          static_cast<unsigned long long>(x.chunks_dropped));
            o += buf;
        }
        for (const auto& [k, v] : x.drops) {
            if (v == 0) continue;
            std::snprintf(buf, sizeof buf, "  export     dropped (%s): %llu\n", k.c_str(),
                          static_cast<unsigned long long>(v));
            o += buf;
        }
    }
    for (const auto& c : s.captures) {
        std::snprintf(buf, sizeof buf,
                      "  capture of port %u: %s: %llu packets, %llu bytes captured, %llu on the "
                      "wire (%llu frames cut by the snaplen), linktype %d\n",
                      c.port, c.path.c_str(), static_cast<unsigned long long>(c.packets),
                      static_cast<unsigned long long>(c.bytes),
                      static_cast<unsigned long long>(c.wire_bytes),
                      static_cast<unsigned long long>(c.truncated_frames), c.linktype);
        o += buf;
    }
    for (const auto& note : s.notes) o += "  note: " + note + "\n";
    return o;
}

std::string summary_json(const Summary& s) {
    const Snapshot& n = s.last;
    JsonWriter j;
    j.begin_object();
    j.value("rx_packets", n.rx_packets());
    j.value("rx_bytes", n.rx_bytes());
    j.begin_object("drops");
    j.value("imissed", n.imissed());
    j.value("rx_nombuf", n.rx_nombuf());
    j.value("ierrors", n.ierrors());
    for (const auto& [k, v] : n.parse)
        if (k != "ok") j.value(k, v);
    for (const auto& [k, v] : n.tcp_drops) j.value(k, v);
    if (n.dispatch) j.value("dispatch_ring_full", n.dispatch_ring_full);
    if (n.filter_enabled) j.value("filter", n.filter_rejected);
    if (n.capture_enabled) {
        j.value("capture_write_failed", n.capture_write_errors);
        j.value("capture_ring_full", n.capture_ring_full);
    }
    if (n.tcp_enabled) j.value("streams_ring_full", n.streams_ring_full);
    if (n.exp.enabled) j.value("export_dropped", n.exp.dropped + n.exp.chunks_dropped);
    j.end_object();
    if (n.exp.enabled) {
        const ExportStats& x = n.exp;
        j.begin_object("export");
        j.value("node", x.node);
        j.value("run", x.run);
        j.value("connected", x.connected);
        j.value("exported", x.exported);
        j.value("acked", x.acked);
        j.value("duplicates", x.duplicates);
        j.value("spooled", x.spooled);
        j.value("dropped", x.dropped);
        j.value("in_spool", x.in_spool);
        j.value("spool_bytes", x.spool_bytes);
        j.value("inflight", x.inflight);
        j.value("retries", x.retries);
        j.value("disconnects", x.disconnects);
        j.value("reconnects", x.reconnects);
        j.value("records_truncated", x.records_truncated);
        j.begin_object("drops");
        for (const auto& [k, v] : x.drops) j.value(k, v);
        j.end_object();
        j.begin_object("chunks");
        j.value("enabled", x.chunks_enabled);
        j.value("exported", x.chunks_exported);
        j.value("bytes", x.chunk_bytes);
        j.value("acked", x.chunks_acked);
        j.value("spooled", x.chunks_spooled);
        j.value("dropped", x.chunks_dropped);
        j.end_object();
        j.end_object();
    }
    if (n.capture_enabled || n.filter_enabled) {
        j.begin_object("capture");
        j.value("packets", n.capture_packets);
        j.value("bytes", n.capture_bytes);
        j.value("file_bytes", n.capture_file_bytes);
        j.value("files", n.capture_files);
        j.value("write_errors", n.capture_write_errors);
        j.value("ring_full", n.capture_ring_full);
        j.value("open_failures", n.capture_open_failures);
        j.value("truncated", n.capture_truncated);
        j.value("filter_matched", n.filter_matched);
        j.value("filter_rejected", n.filter_rejected);
        j.end_object();
    }
    if (n.dispatch) {
        j.begin_object("dispatch");
        j.value("lcore", std::uint64_t{n.dispatch_lcore});
        j.value("packets", n.dispatch_packets);
        j.value("ring_full", n.dispatch_ring_full);
        j.value("polls", n.dispatch_polls);
        j.value("empty_polls", n.dispatch_empty_polls);
        j.end_object();
    }
    if (n.endpoint_enabled) {
        j.begin_object("endpoint");
        j.value("connections", n.endpoint_connections);
        for (const auto& [k, v] : n.endpoint) j.value(k, v);
        j.begin_object("streams");
        for (const auto& [k, v] : n.tcp) j.value(k, v);
        j.value("stream_bytes_written", n.stream_bytes_written);
        j.value("stream_write_errors", n.stream_write_errors);
        j.end_object();
        j.end_object();
    }
    if (n.tcp_enabled) {
        j.begin_object("tcp");
        j.value("flows_active", n.flows_active);
        for (const auto& [k, v] : n.tcp) j.value(k, v);
        j.value("stream_bytes_written", n.stream_bytes_written);
        j.value("stream_write_errors", n.stream_write_errors);
        j.value("stream_bytes_lost", n.stream_bytes_lost);
        j.value("stream_files", n.stream_files);
        j.value("stream_files_reopened", n.stream_files_reopened);
        j.value("streams_ring_full", n.streams_ring_full);
        j.value("stream_bytes_unsent", n.stream_bytes_unsent);
        j.end_object();
        j.begin_object("frames");
        for (const auto& [k, v] : n.parse) j.value(k, v);
        j.end_object();
        // Every packet received is accounted for exactly once: handed over to
        // reassembly with one outcome each, or dropped on its way there.
        j.begin_object("accounting");
        j.value("rx_packets", n.rx_packets());
        std::uint64_t sum = 0;
        for (const auto& [k, v] : n.outcomes) {
            j.value(k, v);
            sum += v;
        }
        if (n.dispatch) {
            j.value("dispatch_ring_full", n.dispatch_ring_full);
            sum += n.dispatch_ring_full;
        }
        if (n.filter_enabled) {
            j.value("filter_rejected", n.filter_rejected);
            sum += n.filter_rejected;
        }
        j.value("accounted", sum);
        j.end_object();
    }
    j.value("duration_s", n.t_s);
    j.value("mpps", rate(n.rx_packets(), n.t_s) / 1e6);
    j.value("gbps", rate(n.rx_bytes(), n.t_s) * 8.0 / 1e9);
    j.value("stop_reason", s.stop_reason);
    j.value("hugepages", s.hugepages);
    j.begin_object("mempool");
    j.value("size", std::uint64_t{s.mempool_size});
    j.value("in_use_at_end", std::uint64_t{s.mempool_in_use});
    j.value("in_use_max", n.mempool_in_use_max);
    j.end_object();
    j.begin_array("ports");
    for (const auto& p : n.ports) {
        j.begin_object();
        j.value("index", std::uint64_t{p.index});
        j.value("port_id", std::uint64_t{p.port_id});
        j.value("name", p.name);
        j.value("driver", p.driver);
        j.value("rx_queues", std::uint64_t{p.rx_queues});
        j.value("rss", p.rss);
        j.value("rss_symmetric", p.rss_symmetric);
        j.value("rx_checksum_offload", p.rx_checksum_offload);
        j.value("link", p.link);
        j.value("rx_packets", p.rx_packets);
        j.value("rx_bytes", p.rx_bytes);
        j.value("imissed", p.imissed);
        j.value("rx_nombuf", p.rx_nombuf);
        j.value("ierrors", p.ierrors);
        j.begin_array("queue_packets");
        for (auto q : p.queue_packets) j.element(q);
        j.end_array();
        j.begin_object("xstats");
        for (const auto& [k, v] : p.xstats) j.value(k, v);
        j.end_object();
        j.end_object();
    }
    j.end_array();
    j.begin_array("workers");
    for (const auto& w : n.workers) {
        j.begin_object();
        j.value("lcore", std::uint64_t{w.lcore});
        j.value("tid", static_cast<std::uint64_t>(w.tid));
        j.value("packets", w.packets);
        j.value("bytes", w.bytes);
        j.value("polls", w.polls);
        j.value("empty_polls", w.empty_polls);
        j.value("mpps", rate(w.packets, n.t_s) / 1e6);
        j.value("busy_share", w.polls != 0 ? 1.0 - static_cast<double>(w.empty_polls) /
                                                      static_cast<double>(w.polls)
                                           : 0.0);
        j.end_object();
    }
    j.end_array();
    j.begin_array("captures");
    for (const auto& c : s.captures) {
        j.begin_object();
        j.value("port", std::uint64_t{c.port});
        j.value("path", c.path);
        j.value("linktype", static_cast<std::uint64_t>(c.linktype));
        j.value("packets", c.packets);
        j.value("bytes", c.bytes);
        j.value("wire_bytes", c.wire_bytes);
        j.value("truncated_frames", c.truncated_frames);
        j.value("complete", c.complete);
        j.value("stop_reason", c.stop_reason);
        j.value("stop_record", c.stop_record);
        j.value("stop_offset", c.stop_offset);
        j.value("dropped_after_stop", c.dropped_after_stop);
        j.end_object();
    }
    j.end_array();
    j.begin_array("notes");
    for (const auto& note : s.notes) j.element(note);
    j.end_array();
    j.end_object();
    return j.str() + "\n";
}

}  // namespace rxinto::stats
