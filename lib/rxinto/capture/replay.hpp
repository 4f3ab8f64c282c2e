// Capture files replayed through net_pcap (control path).
#pragma once

#include <cstdint>
#include <string>

#include "rxinto/base/result.hpp"

namespace rxinto::capture {

struct CaptureFileInfo {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;   ///< sum of captured lengths (what net_pcap delivers)
    std::uint64_t wire_bytes = 0;       ///< sum of original lengths (what capinfos/tcpdump show)
    std::uint64_t truncated_frames = 0; ///< frames cut by the capture's snaplen
    int linktype = 0;          ///< DLT_* of the file
    bool read_error = false;   ///< libpcap stopped on a damaged record before the end
    std::string error;         ///< libpcap's words for it
};

/// Reads the file once with libpcap (the library net_pcap itself uses) to learn
/// how many packets a replay must deliver: net_pcap signals no end of file, so
/// this count is how the control lcore knows the replay is complete.
[[nodiscard]] Result<CaptureFileInfo> scan_capture(const std::string& path);

}  // namespace rxinto::capture
