// --export: the fleet export's producer, on the output thread. A
// stream_observer of the stream store: each connection's open and end become
// records (fleet::exporter::submit_open/submit_end) with exactly the fields of
// its index.jsonl lines, and with --export-streams its delivered bytes become
// chunks, gathered per pass over the rings so that a chunk carries many
// segments (the exporter splits what exceeds its chunk size).
//
// Nothing here runs on a worker: the worker's share of the export is the
// stream messages it sends anyway (stream_feed). The exporter's submit_*
// never block; what does not fit its ring is counted there (ring_full).
//
// Thread: the output thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "rxinto/capture/stream_store.hpp"
#include "rxinto/export/exporter.hpp"

namespace rxinto::capture {

class fleet_export final : public stream_observer {
public:
    /// ex: not owned, outlives this.
    explicit fleet_export(fleet::exporter* ex);

    void opened(const connection_open& o) noexcept override;
    void data(std::uint64_t conn, unsigned worker, int d, const char* label, std::uint64_t offset,
              const tcp::mbuf_piece* pieces, unsigned n) noexcept override;
    void ended(const connection_summary& s) noexcept override;
    void round_end() noexcept override { flush(); }

private:
    /// Bytes gathered for one direction: [offset, offset + len) of its
    /// delivered bytes, at arena_[at].
    struct staged {
        std::uint64_t conn = 0;
        std::uint64_t offset = 0;
        std::size_t at = 0;
        std::size_t len = 0;
        unsigned worker = 0;
        int d = 0;
        char label[4] = {};
    };
    void flush() noexcept;

    fleet::exporter* ex_;
    std::vector<std::byte> arena_;  ///< fixed size: a full arena is flushed, never grown
    std::size_t used_ = 0;
    std::vector<staged> staged_;
    /// Per connection: the delivered bytes the exporter accepted as chunks,
    /// per flow direction (chunk_bytes_lost = delivered - these).
    std::unordered_map<std::uint64_t, std::array<std::uint64_t, 2>> chunked_;
};

}  // namespace rxinto::capture
