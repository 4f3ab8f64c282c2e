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
    // TCP checksums of the first sample_frames frames (complete TCP segments only):
    std::uint64_t tcp_checksums_good = 0;
    std::uint64_t tcp_checksums_bad = 0;      ///< wrong, and not a transmit-offload mark
    std::uint64_t tcp_checksums_offload = 0;  ///< the mark a capture on the sending host shows
    std::string error;         ///< libpcap's words for it
};

/// Reads the file once with libpcap (the library net_pcap itself uses) to learn
/// how many packets a replay must deliver: net_pcap signals no end of file, so
/// this count is how the control lcore knows the replay is complete.
/// It also checks the TCP checksums of the first `sample_frames` frames, so that
/// checksum mode auto can tell a capture whose checksums are wrong throughout
/// (rewritten addresses, anonymised traces) from one with a few corrupt frames.
[[nodiscard]] Result<CaptureFileInfo> scan_capture(const std::string& path,
                                                  std::uint64_t sample_frames = 2000);

/// auto mode's verdict on a scanned capture: true when most sampled TCP
/// checksums are wrong (and not offload marks), so that verifying them would
/// drop most of the capture.
[[nodiscard]] bool checksums_mostly_wrong(const CaptureFileInfo& info) noexcept;

}  // namespace rxinto::capture
