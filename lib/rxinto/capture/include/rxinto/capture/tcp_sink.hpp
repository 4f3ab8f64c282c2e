// The worker's TCP-lite stage: every received burst goes to the worker's own
// reassembler (shared nothing), then the application part (stream files)
// reads what became readable.
#pragma once

#include <memory>
#include <vector>

#include "rxinto/capture/pcapng_writer.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/capture/stream_files.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxinto::capture {

class TcpSink final : public BurstSink {
public:
    /// links[i]: how frames of port i start and whether they may be cut.
    /// ts_offset/ts_flag: the mbuf rx timestamp dynamic field (-1/0: none).
    TcpSink(std::unique_ptr<tcp::reassembler> r, std::vector<tcp::port_link> links,
            std::vector<bool> pcap_timestamps, int ts_offset, std::uint64_t ts_flag,
            std::shared_ptr<stream_index> index, std::vector<std::uint16_t> port_index_of,
            fleet::exporter* exporter = nullptr, unsigned worker = 0);

    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override;
    /// After the worker stopped: end every stream (eof) and release everything.
    void finish() noexcept;

    [[nodiscard]] const tcp::reassembler& reassembler() const noexcept { return *r_; }
    [[nodiscard]] const stream_files* files() const noexcept { return files_.get(); }
    /// Fleet export with -w: the capture stage in front of this one (pcapng positions).
    void set_capture(const CaptureSink* c) noexcept {
        if (files_) files_->set_capture(c);
    }

private:
    std::uint64_t now_ns(rte_mbuf* first, std::uint16_t port_index) noexcept;
    void process(rte_mbuf** pkts, std::uint16_t n, std::uint16_t port_index) noexcept;
    void drain() noexcept;

    std::unique_ptr<tcp::reassembler> r_;
    std::unique_ptr<stream_files> files_;
    std::vector<tcp::port_link> links_;
    std::vector<bool> pcap_ts_;
    std::vector<std::uint16_t> port_index_of_;  ///< ethdev port id -> port index
    int ts_offset_ = -1;
    std::uint64_t ts_flag_ = 0;
    std::uint64_t last_expire_ns_ = 0;
    std::uint64_t last_now_ns_ = 0;
    tsc_clock clock_;  ///< live ports: packet time is wall-clock time (export records carry it)
};

}  // namespace rxinto::capture
