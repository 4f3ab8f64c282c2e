// Replayed capture files (control path): what rxinto learns about them before
// the EAL starts, and what it says about them at the end.
//
// `--pcap FILE` ports are read by rxinto's own reader (port/file_port.hpp):
// the file is opened (mapped, or streamed for pipes and standard input) and
// its header checked here, before EAL start-up; its first frames are sampled
// for checksum mode auto; the reader itself knows when the file ends, so
// nothing counts the packets beforehand.
//
// DPDK's own net_pcap (`--vdev net_pcapN,rx_pcap=FILE`) signals no end of
// file and, when libpcap rejects a record, reads on from a misaligned offset:
// such a file is scanned with libpcap first, and the replay ends after the
// last record libpcap accepts (anything net_pcap delivers after it is dropped
// and counted), so that the result equals what libpcap, tshark and capinfos
// show.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/pcapfile/source.hpp"
#include "rxinto/stats/summary.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxinto::port {
class Ports;
}

namespace rxinto::capture {

struct CaptureFileInfo {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;   ///< sum of captured lengths (what net_pcap delivers)
    std::uint64_t wire_bytes = 0;       ///< sum of original lengths (what capinfos/tcpdump show)
    std::uint64_t truncated_frames = 0; ///< frames cut by the capture's snaplen
    int linktype = 0;          ///< DLT_* of the file
    bool read_error = false;   ///< libpcap stopped on a damaged record before the end
    std::uint64_t error_offset = 0;  ///< byte offset of the record libpcap rejected
    bool stopped = false;      ///< the scan was interrupted (stop flag)
    // TCP checksums of the first sample_frames frames (complete TCP segments only):
    std::uint64_t tcp_checksums_good = 0;
    std::uint64_t tcp_checksums_bad = 0;      ///< wrong, and not a transmit-offload mark
    std::uint64_t tcp_checksums_offload = 0;  ///< the mark a capture on the sending host shows
    std::string error;         ///< libpcap's words for it
};

/// Reads the file once with libpcap (the library net_pcap itself uses) to learn
/// how many packets a net_pcap replay must deliver (net_pcap signals no end of
/// file), and samples the TCP checksums of the first `sample_frames` frames.
/// `stop` (may be null) is checked every few thousand records: Ctrl-C during
/// the scan of a large capture returns at once (info.stopped).
[[nodiscard]] Result<CaptureFileInfo> scan_capture(const std::string& path,
                                                  std::uint64_t sample_frames = 2000,
                                                  const std::atomic<bool>* stop = nullptr);

/// The same checksum sample from an opened source, without consuming it
/// (mapped: the file's first frames; stream: what open() read ahead).
[[nodiscard]] CaptureFileInfo sample_capture(const pcapfile::source& src,
                                             std::uint64_t sample_frames = 2000);

/// auto mode's verdict on a scanned capture: true when most sampled TCP
/// checksums are wrong (and not offload marks), so that verifying them would
/// drop most of the capture.
[[nodiscard]] bool checksums_mostly_wrong(const CaptureFileInfo& info) noexcept;

/// Every replayed file of a run, per port index.
struct ReplayPlan {
    std::vector<std::string> paths;                            ///< "" for other ports
    std::vector<std::shared_ptr<pcapfile::source>> sources;    ///< pcap ports
    std::vector<std::int64_t> net_pcap_limit;                  ///< net_pcap vdevs: records libpcap accepts, else -1
    std::vector<tcp::port_link> links;
    std::vector<bool> pcap_ts;                                 ///< packets carry the capture's time
    std::vector<int> linktype;                                 ///< first link type of the file, -1 if none
    std::vector<stats::CaptureStats> captures;                 ///< filled in by finish_captures()
    std::vector<std::string> notes;
    bool offline = false;                                      ///< every port replays a file
};

/// Opens and checks every capture of the settings (`generated`: the path of the
/// built-in capture, when a port uses it). Progress notes go to `out`.
[[nodiscard]] Result<ReplayPlan> plan_replays(const config::Settings& s, const std::string& generated,
                                              const std::atomic<bool>* stop);

/// Per-capture statistics at the end of the run, from the readers (and the
/// scans of net_pcap files), with a note for each file that ended early.
void finish_captures(ReplayPlan& plan, const port::Ports& ports, std::vector<std::string>& notes);

/// Is the replay of port `index` complete, given the packets the pollers
/// counted from it (`rx_packets`) and the port's rx_nombuf and ierrors?
[[nodiscard]] bool replay_complete(const ReplayPlan& plan, const port::Ports& ports, std::size_t index,
                                   std::uint64_t rx_packets, std::uint64_t rx_nombuf, std::uint64_t ierrors);

/// An offline run never needs more flows, held segments or mbufs than its
/// files hold records: with every file's size known (mapped files: a record
/// takes at least 16 bytes; net_pcap files: the scanned count), the [tcp]
/// table sizes and the mbufs reserved for reassembly are lowered to that bound
/// (never raised), so that replaying a small file does not first zero tables
/// sized for a live link (most of a small replay's start-up). Other runs:
/// the settings unchanged.
[[nodiscard]] config::Settings size_for_files(const config::Settings& s, const ReplayPlan& plan);

/// `rx_pcap=FILE` of a net_pcap vdev's arguments ("" when not one, or when
/// infinite_rx is on).
[[nodiscard]] std::string net_pcap_rx_file(const std::string& devargs);

}  // namespace rxinto::capture
