#include "rxinto/capture/replay.hpp"

#include <sys/stat.h>

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "rxinto/net/parse.hpp"
#include "rxinto/port/ports.hpp"

namespace rxinto::capture {

namespace {

/// One frame's TCP checksum verdict into the sample counts.
void sample_frame(CaptureFileInfo& info, const std::uint8_t* data, std::uint32_t caplen,
                  std::uint32_t wire_len, net::link_type lt) {
    net::packet_meta m;
    if (net::parse_frame(data, caplen, wire_len, lt, m) != net::parse_status::ok || m.snap_truncated) return;
    const bool ip_ok = m.ip_version != 4 || net::ipv4_header_checksum_ok(m, data, caplen);
    if (ip_ok && net::tcp_checksum_ok(m, data, caplen)) ++info.tcp_checksums_good;
    else if (ip_ok && net::tcp_checksum_offload_mark(m, data, caplen)) ++info.tcp_checksums_offload;
    else ++info.tcp_checksums_bad;
}

constexpr std::uint64_t stop_check_every = 4096;  // records between looks at the stop flag

}  // namespace

bool checksums_mostly_wrong(const CaptureFileInfo& info) noexcept {
    return info.tcp_checksums_bad >= 4 && info.tcp_checksums_bad > info.tcp_checksums_good;
}

Result<CaptureFileInfo> scan_capture(const std::string& path, std::uint64_t sample_frames,
                                     const std::atomic<bool>* stop) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    if (p == nullptr) {
        std::string hint;
        if (path.size() > 3 && (path.ends_with(".gz") || path.ends_with(".xz") ||
                                path.ends_with(".zst")))
            hint = " (libpcap reads pcap and pcapng, not compressed files: decompress it first)";
        return make_error("cannot read capture '", path, "': ", errbuf, hint);
    }
    CaptureFileInfo info;
    info.linktype = pcap_datalink(p);
    const auto lt = net::link_type_from_pcap(static_cast<std::uint32_t>(info.linktype));
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc = 0;
    std::FILE* f = pcap_file(p);
    long before = f != nullptr ? std::ftell(f) : -1;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ++info.packets;
        info.bytes += h->caplen;
        info.wire_bytes += h->len;
        if (h->caplen < h->len) ++info.truncated_frames;
        if (lt && info.packets <= sample_frames) sample_frame(info, data, h->caplen, h->len, *lt);
        if (stop != nullptr && info.packets % stop_check_every == 0 && stop->load()) {
            info.stopped = true;
            break;
        }
        before = f != nullptr ? std::ftell(f) : -1;
    }
    if (rc == PCAP_ERROR) {
        info.read_error = true;
        info.error = pcap_geterr(p);
        info.error_offset = before < 0 ? 0 : static_cast<std::uint64_t>(before);
    }
    pcap_close(p);
    return info;
}

CaptureFileInfo sample_capture(const pcapfile::source& src, std::uint64_t sample_frames) {
    CaptureFileInfo info;
    info.linktype = static_cast<int>(src.first_linktype());
    pcapfile::parser p;
    while (info.packets < sample_frames) {
        std::size_t len = 0;
        bool eof = false;
        const std::uint8_t* d = src.window(p.offset(), len, eof);
        const pcapfile::step s = p.next(d, len, eof);
        if (s.kind == pcapfile::step_kind::skipped) continue;
        if (s.kind != pcapfile::step_kind::record) break;  // end, a bad record, or the read-ahead's end
        ++info.packets;
        if (auto lt = net::link_type_from_pcap(s.rec.linktype))
            sample_frame(info, s.rec.data, s.rec.caplen, s.rec.orig_len, *lt);
    }
    return info;
}

std::string net_pcap_rx_file(const std::string& devargs) {
    if (!devargs.starts_with("net_pcap")) return {};
    std::string file;
    std::size_t pos = devargs.find(',');
    while (pos != std::string::npos) {
        const std::size_t next = devargs.find(',', pos + 1);
        const std::string kv = devargs.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
        if (kv.starts_with("rx_pcap=")) file = kv.substr(8);
        if (kv == "infinite_rx=1") return {};  // it replays forever: no end to hold
        pos = next;
    }
    return file;
}

namespace {
/// A FIFO, a device or a socket: something that is there but is no file to scan.
bool is_stream(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}
}  // namespace

Result<ReplayPlan> plan_replays(const config::Settings& s, const std::string& generated,
                                const std::atomic<bool>* stop) {
    ReplayPlan plan;
    const std::size_t n = s.ports.size();
    plan.paths.resize(n);
    plan.sources.resize(n);
    plan.net_pcap_limit.assign(n, -1);
    plan.links.resize(n);
    plan.pcap_ts.assign(n, false);
    plan.linktype.assign(n, -1);
    plan.offline = n != 0;
    const bool want_sample = s.tcp.enabled && s.tcp.checksum == "auto";
    for (std::size_t i = 0; i < n; ++i) {
        const auto& p = s.ports[i];
        const std::string label = "port " + std::to_string(i);
        CaptureFileInfo info;
        std::string path;
        if (p.kind == config::PortKind::pcap) {
            path = p.source == config::generated_pcap ? generated : p.source;
            pcapfile::source::open_options o;
            o.sample_records = want_sample ? 2000 : 0;
            o.stop = stop;
            auto src = pcapfile::source::open(path, o);
            if (!src) return make_error(label, ": ", src.error().message);
            if (want_sample) info = sample_capture(*src.value());
            info.linktype = static_cast<int>(src.value()->first_linktype());
            plan.sources[i] = std::move(src.value());
            plan.pcap_ts[i] = true;  // the reader stamps each packet with its record's time (ns)
        } else if (p.kind == config::PortKind::vdev && !(path = net_pcap_rx_file(p.source)).empty() &&
                   is_stream(path)) {
            // A FIFO or a device: net_pcap reads it as it comes, and it has no
            // end to count up to. Scanning it here would take the bytes meant
            // for net_pcap (a FIFO has one reader): a live port, stopped by a
            // signal or --duration.
            plan.offline = false;
            plan.notes.push_back("port " + std::to_string(i) + " (net_pcap): '" + path +
                                 "' is not a regular file: read as it comes, as a live port");
            continue;
        } else if (p.kind == config::PortKind::vdev && !path.empty()) {
            auto scanned = scan_capture(path, want_sample ? 2000 : 0, stop);
            if (!scanned) return make_error(label, ": ", scanned.error().message);
            if (scanned->stopped) return make_error(label, ": scan of '", path, "' stopped by a signal");
            info = scanned.value();
            plan.net_pcap_limit[i] = static_cast<std::int64_t>(info.packets);
            if (info.read_error)
                plan.notes.push_back("capture '" + path + "' (net_pcap): libpcap stops at record " +
                                     std::to_string(info.packets + 1) + " (byte offset " +
                                     std::to_string(info.error_offset) + "): " + info.error +
                                     "; the replay ends after record " + std::to_string(info.packets) +
                                     " (what libpcap, tshark and capinfos show)");
        } else {
            plan.offline = false;
            continue;
        }
        plan.paths[i] = path;
        plan.linktype[i] = info.linktype;
        plan.links[i].may_be_cut = true;  // a capture's snaplen may have cut frames short
        if (s.tcp.enabled && s.tcp.checksum == "auto" && checksums_mostly_wrong(info)) {
            plan.links[i].verify_checksums = false;
            plan.notes.push_back("capture '" + path + "': " + std::to_string(info.tcp_checksums_bad) +
                                 " of " +
                                 std::to_string(info.tcp_checksums_bad + info.tcp_checksums_good +
                                                info.tcp_checksums_offload) +
                                 " sampled TCP checksums are wrong (rewritten or anonymised"
                                 " addresses?): checksums are not verified for this capture"
                                 " (--checksum verify insists)");
        }
        if (auto lt = info.linktype >= 0 ? net::link_type_from_pcap(static_cast<std::uint32_t>(info.linktype))
                                         : std::nullopt)
            plan.links[i].link = *lt;
        else if (s.tcp.enabled && info.linktype >= 0)
            plan.notes.push_back("capture '" + path + "': link type " + std::to_string(info.linktype) +
                                 " is not one rxinto parses (Ethernet, raw IP, Linux SLL, null/loopback):"
                                 " its frames are counted as unparsed_link_type and never reach"
                                 " reassembly");
        stats::CaptureStats c;
        c.port = static_cast<std::uint16_t>(i);
        c.path = path;
        c.linktype = info.linktype;
        if (plan.net_pcap_limit[i] >= 0) {
            c.packets = info.packets;
            c.bytes = info.bytes;
            c.wire_bytes = info.wire_bytes;
            c.truncated_frames = info.truncated_frames;
            c.complete = !info.read_error;
            c.stop_reason = info.read_error ? "libpcap: " + info.error : "end_of_file";
            c.stop_record = info.read_error ? info.packets + 1 : 0;
            c.stop_offset = info.read_error ? info.error_offset : 0;
        }
        plan.captures.push_back(std::move(c));
    }
    return plan;
}

void finish_captures(ReplayPlan& plan, const port::Ports& ports, std::vector<std::string>& notes) {
    for (auto& c : plan.captures) {
        const std::size_t i = c.port;
        if (i >= ports.ports().size()) continue;
        if (const port::FilePort* f = ports.ports()[i].file) {
            const port::FilePortStats st = f->stats();
            c.packets = st.packets;
            c.bytes = st.bytes;
            c.wire_bytes = st.wire_bytes;
            c.truncated_frames = st.truncated_frames;
            c.complete = st.done && st.stop.reason == pcapfile::stop_reason::none && st.read_errno == 0;
            c.stop_reason = !st.done ? "not_finished"
                            : st.read_errno != 0 ? "read_error"
                            : st.stop.reason == pcapfile::stop_reason::none ? "end_of_file"
                                                                            : pcapfile::to_string(st.stop.reason);
            if (st.done && st.stop.reason != pcapfile::stop_reason::none) {
                c.stop_record = st.stop.record;
                c.stop_offset = st.stop.offset;
                std::string n = "capture '" + c.path + "': " + pcapfile::describe(st.stop, st.format) +
                                ": the replay stops there";
                if (f->mapped() && f->source().size() > st.stop.offset)
                    n += "; the " + std::to_string(f->source().size() - st.stop.offset) +
                         " bytes from there to the end of the file are not read";
                notes.push_back(n);
            }
            if (st.read_errno != 0)
                notes.push_back("capture '" + c.path + "': read error after " + std::to_string(st.packets) +
                                " packets: " + std::strerror(st.read_errno));
        } else if (plan.net_pcap_limit[i] >= 0) {
            if (const std::uint64_t d = ports.limited(i); d != 0)
                notes.push_back("capture '" + c.path + "' (net_pcap): " + std::to_string(d) +
                                " packets that net_pcap read after the last record libpcap accepts"
                                " were dropped");
            c.dropped_after_stop = ports.limited(i);
        }
    }
}

config::Settings size_for_files(const config::Settings& s, const ReplayPlan& plan) {
    config::Settings out = s;
    if (!plan.offline) return out;
    std::uint64_t records = 0;
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        if (plan.sources[i]) {
            if (!plan.sources[i]->mapped()) return out;  // a stream: its length is unknown
            records += plan.sources[i]->size() / 16;     // the smallest pcap record
        } else if (plan.net_pcap_limit[i] >= 0) {
            records += static_cast<std::uint64_t>(plan.net_pcap_limit[i]);
        } else {
            return out;
        }
    }
    auto lower = [records](auto& v, std::uint64_t floor) {
        using T = std::remove_reference_t<decltype(v)>;
        const std::uint64_t bound = std::max(records, floor);
        if (bound < v) v = static_cast<T>(bound);
    };
    lower(out.tcp.max_flows, 8);
    lower(out.tcp.max_segments, 64);
    lower(out.mempool.reassembly_held, 0);
    return out;
}

bool replay_complete(const ReplayPlan& plan, const port::Ports& ports, std::size_t index,
                     std::uint64_t rx_packets, std::uint64_t rx_nombuf, std::uint64_t ierrors) {
    if (index >= ports.ports().size()) return false;
    if (const port::FilePort* f = ports.ports()[index].file) {
        const port::FilePortStats st = f->stats();
        // Done reading, and every packet it delivered was counted by its poller.
        return st.done && rx_packets >= st.packets;
    }
    if (index < plan.net_pcap_limit.size() && plan.net_pcap_limit[index] >= 0)
        return rx_packets + rx_nombuf + ierrors >= static_cast<std::uint64_t>(plan.net_pcap_limit[index]);
    return false;
}

}  // namespace rxinto::capture
