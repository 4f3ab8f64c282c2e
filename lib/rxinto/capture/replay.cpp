#include "rxinto/capture/replay.hpp"

#include <pcap/pcap.h>

#include "rxinto/net/parse.hpp"

namespace rxinto::capture {

bool checksums_mostly_wrong(const CaptureFileInfo& info) noexcept {
    return info.tcp_checksums_bad >= 4 && info.tcp_checksums_bad > info.tcp_checksums_good;
}

Result<CaptureFileInfo> scan_capture(const std::string& path, std::uint64_t sample_frames) {
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
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ++info.packets;
        info.bytes += h->caplen;
        info.wire_bytes += h->len;
        if (h->caplen < h->len) ++info.truncated_frames;
        if (lt && info.packets <= sample_frames) {
            net::packet_meta m;
            if (net::parse_frame(data, h->caplen, h->len, *lt, m) == net::parse_status::ok &&
                !m.snap_truncated) {
                const bool ip_ok = m.ip_version != 4 || net::ipv4_header_checksum_ok(m, data, h->caplen);
                if (ip_ok && net::tcp_checksum_ok(m, data, h->caplen)) ++info.tcp_checksums_good;
                else if (ip_ok && net::tcp_checksum_offload_mark(m, data, h->caplen)) ++info.tcp_checksums_offload;
                else ++info.tcp_checksums_bad;
            }
        }
    }
    if (rc == PCAP_ERROR) {
        info.read_error = true;
        info.error = pcap_geterr(p);
    }
    pcap_close(p);
    return info;
}

}  // namespace rxinto::capture
