// The worker's TCP-lite stage: every received burst goes to the worker's own
// reassembler (shared nothing); then the stream output (stream_feed: the
// output thread writes the files) or, without one, the sink itself consumes
// what became readable, so that no buffer is held for a reader that does not
// exist.
#pragma once

#include <memory>
#include <vector>

#include "rxinto/capture/packet_clock.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/capture/stream_feed.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxinto::capture {

class TcpSink final : public BurstSink {
public:
    /// links[i]: how frames of port index i start and whether they may be cut.
    /// feed: the stream output of this worker (null: none).
    TcpSink(std::unique_ptr<tcp::reassembler> r, std::vector<tcp::port_link> links,
            const packet_clock* clock, std::unique_ptr<stream_feed> feed,
            std::vector<std::uint16_t> port_index_of);

    void on_burst(const QueueRef& q, rte_mbuf** pkts, std::uint16_t n) noexcept override;
    /// Link types per port index: link_from_port (the port_link), per_packet (the
    /// LINKTYPE_ a file reader put in the dynamic field at `dynfield_offset`),
    /// or unparsed (the whole port). Frames of a link type rxinto does not parse
    /// never reach reassembly: they are freed and counted (unparsed_link_type).
    enum class link_source : std::uint8_t { from_port, per_packet, unparsed };
    void set_link_sources(std::vector<link_source> per_port, int dynfield_offset);
    [[nodiscard]] std::uint64_t unparsed_link_type() const noexcept { return unparsed_.get(); }
    /// After the worker stopped: end every stream (eof) and release everything.
    void finish() noexcept;

    [[nodiscard]] const tcp::reassembler& reassembler() const noexcept { return *r_; }
    [[nodiscard]] const stream_feed* feed() const noexcept { return feed_.get(); }
    [[nodiscard]] stream_feed* feed() noexcept { return feed_.get(); }

private:
    void process(rte_mbuf** pkts, std::uint16_t n, std::uint16_t port_index, std::uint64_t live_ns) noexcept;
    void process_link(rte_mbuf** pkts, std::uint16_t n, const tcp::port_link& link,
                      std::uint64_t now) noexcept;
    void drain() noexcept;

    std::unique_ptr<tcp::reassembler> r_;
    std::unique_ptr<stream_feed> feed_;
    std::vector<tcp::port_link> links_;
    const packet_clock* clock_;
    std::vector<std::uint16_t> port_index_of_;  ///< ethdev port id -> port index
    std::uint64_t last_expire_ns_ = 0;
    std::uint64_t last_now_ns_ = 0;
    std::vector<link_source> link_sources_;
    int lt_offset_ = -1;
    stats::counter unparsed_;
};

}  // namespace rxinto::capture
