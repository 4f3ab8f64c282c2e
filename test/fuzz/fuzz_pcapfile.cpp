// libFuzzer harness for pcapfile/reader (the capture parser of the file-replay
// PMD). No DPDK: its sources are compiled straight into the harness.
//
// Input: a whole capture file. It is copied to an exact-size heap buffer (so
// ASan sees any read past its end) and parsed twice: at once (the mapped
// case) and as a stream whose bytes arrive in chunks whose size comes from
// the input's first byte (the pipe case). Both must return the same packets
// and stop at the same record for the same reason; every packet must lie
// inside the input and inside the limits the parser promises.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "rxinto/pcapfile/reader.hpp"

namespace {

using namespace rxinto::pcapfile;

void require(bool cond) {
    if (!cond) __builtin_trap();
}

struct seen {
    std::size_t off;  // offset of the data in the input
    std::uint32_t caplen, orig, iface, linktype;
    std::uint64_t ts;
    bool operator==(const seen&) const = default;
};

std::vector<seen> run(const std::uint8_t* d, std::size_t n, std::size_t chunk, stop_info& stop) {
    parser p(16);
    std::vector<seen> out;
    std::size_t have = chunk == 0 ? n : std::min(chunk, n);
    for (;;) {
        const std::uint64_t off = p.offset();
        require(off <= have);
        const bool eof = have == n;
        const step s = p.next(d + off, have - off, eof);
        if (s.kind == step_kind::record) {
            require(s.rec.data >= d + off && s.rec.data + s.rec.caplen <= d + have);
            require(s.rec.caplen <= max_caplen);
            require(s.consumed > 0 && p.offset() == off + s.consumed);
            out.push_back({static_cast<std::size_t>(s.rec.data - d), s.rec.caplen, s.rec.orig_len,
                           s.rec.interface, s.rec.linktype, s.rec.ts_ns});
        } else if (s.kind == step_kind::skipped) {
            require(s.consumed > 0 && p.offset() == off + s.consumed);
        } else if (s.kind == step_kind::need_more) {
            require(!eof && off + s.need > have && s.need <= max_block_len);
            have = std::min(n, have + chunk);
        } else {
            break;
        }
    }
    stop = p.stop();
    require(stop.packets == out.size() || stop.reason == stop_reason::none);
    (void)describe(stop, p.format());
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t chunk = 1 + data[0] % 61;
    const std::size_t n = size - 1;
    std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[n == 0 ? 1 : n]);
    if (n != 0) std::memcpy(buf.get(), data + 1, n);
    stop_info a{};
    stop_info b{};
    const auto whole = run(buf.get(), n, 0, a);
    const auto streamed = run(buf.get(), n, chunk, b);
    require(whole == streamed);
    require(a.reason == b.reason && a.record == b.record && a.offset == b.offset);
    return 0;
}
