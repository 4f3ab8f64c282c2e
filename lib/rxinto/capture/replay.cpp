#include "rxinto/capture/replay.hpp"

#include <pcap/pcap.h>

namespace rxinto::capture {

Result<CaptureFileInfo> scan_capture(const std::string& path) {
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
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc = 0;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ++info.packets;
        info.bytes += h->caplen;
        info.wire_bytes += h->len;
        if (h->caplen < h->len) ++info.truncated_frames;
    }
    if (rc == PCAP_ERROR) {
        info.read_error = true;
        info.error = pcap_geterr(p);
    }
    pcap_close(p);
    return info;
}

}  // namespace rxinto::capture
