// Builds pcap and pcapng files byte by byte, in either byte order, for tests of
// the capture parser (well-formed files and hostile ones alike). Test-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rxinto::test {

class capture_builder {
public:
    explicit capture_builder(bool big_endian = false) : be_(big_endian) {}

    std::vector<std::uint8_t> bytes;

    void u8(std::uint8_t v) { bytes.push_back(v); }
    void u16(std::uint16_t v) {
        if (be_) { u8(static_cast<std::uint8_t>(v >> 8)); u8(static_cast<std::uint8_t>(v)); }
        else { u8(static_cast<std::uint8_t>(v)); u8(static_cast<std::uint8_t>(v >> 8)); }
    }
    void u32(std::uint32_t v) {
        if (be_) { u16(static_cast<std::uint16_t>(v >> 16)); u16(static_cast<std::uint16_t>(v)); }
        else { u16(static_cast<std::uint16_t>(v)); u16(static_cast<std::uint16_t>(v >> 16)); }
    }
    void u64(std::uint64_t v) {
        if (be_) { u32(static_cast<std::uint32_t>(v >> 32)); u32(static_cast<std::uint32_t>(v)); }
        else { u32(static_cast<std::uint32_t>(v)); u32(static_cast<std::uint32_t>(v >> 32)); }
    }
    void raw(const std::vector<std::uint8_t>& d) { bytes.insert(bytes.end(), d.begin(), d.end()); }
    void pad4() { while (bytes.size() % 4 != 0) u8(0); }

    // pcap ------------------------------------------------------------------
    void pcap_header(std::uint32_t snaplen, std::uint32_t linktype, bool nsec = false,
                     std::uint16_t major = 2) {
        u32(nsec ? 0xa1b23c4d : 0xa1b2c3d4);
        u16(major);
        u16(4);
        u32(0);
        u32(0);
        u32(snaplen);
        u32(linktype);
    }
    void pcap_record(std::uint32_t sec, std::uint32_t frac, const std::vector<std::uint8_t>& d,
                     std::uint32_t orig = 0, std::int64_t caplen_field = -1) {
        u32(sec);
        u32(frac);
        u32(caplen_field >= 0 ? static_cast<std::uint32_t>(caplen_field)
                              : static_cast<std::uint32_t>(d.size()));
        u32(orig != 0 ? orig : static_cast<std::uint32_t>(d.size()));
        raw(d);
    }

    // pcapng ----------------------------------------------------------------
    /// A block of `type` around `body` (padded), total length in header and trailer
    /// (the trailer's may be overridden to make it lie).
    void block(std::uint32_t type, const std::vector<std::uint8_t>& body,
               std::int64_t trailer_len = -1, std::int64_t header_len = -1) {
        std::vector<std::uint8_t> b = body;
        while (b.size() % 4 != 0) b.push_back(0);
        const auto total = static_cast<std::uint32_t>(b.size() + 12);
        u32(type);
        u32(header_len >= 0 ? static_cast<std::uint32_t>(header_len) : total);
        raw(b);
        u32(trailer_len >= 0 ? static_cast<std::uint32_t>(trailer_len) : total);
    }
    std::vector<std::uint8_t> body() const { return {}; }

    /// Section header block in this builder's byte order.
    void shb(std::uint16_t major = 1, std::uint16_t minor = 0) {
        capture_builder b(be_);
        b.u32(0x1A2B3C4D);
        b.u16(major);
        b.u16(minor);
        b.u64(~0ULL);
        block(0x0A0D0D0A, b.bytes);
    }
    /// Interface description block; tsresol < 0: no option; tsoffset: option if != 0.
    void idb(std::uint16_t linktype, std::uint32_t snaplen, int tsresol = -1,
             std::int64_t tsoffset = 0) {
        capture_builder b(be_);
        b.u16(linktype);
        b.u16(0);
        b.u32(snaplen);
        if (tsresol >= 0) {
            b.u16(9);
            b.u16(1);
            b.u8(static_cast<std::uint8_t>(tsresol));
            b.pad4();
        }
        if (tsoffset != 0) {
            b.u16(14);
            b.u16(8);
            b.u64(static_cast<std::uint64_t>(tsoffset));
        }
        b.u16(0);
        b.u16(0);
        block(1, b.bytes);
    }
    void epb(std::uint32_t iface, std::uint64_t ts, const std::vector<std::uint8_t>& d,
             std::uint32_t orig = 0, std::int64_t caplen_field = -1) {
        capture_builder b(be_);
        b.u32(iface);
        b.u32(static_cast<std::uint32_t>(ts >> 32));
        b.u32(static_cast<std::uint32_t>(ts));
        b.u32(caplen_field >= 0 ? static_cast<std::uint32_t>(caplen_field)
                                : static_cast<std::uint32_t>(d.size()));
        b.u32(orig != 0 ? orig : static_cast<std::uint32_t>(d.size()));
        b.raw(d);
        block(6, b.bytes);
    }
    void spb(const std::vector<std::uint8_t>& d, std::uint32_t orig = 0) {
        capture_builder b(be_);
        b.u32(orig != 0 ? orig : static_cast<std::uint32_t>(d.size()));
        b.raw(d);
        block(3, b.bytes);
    }
    void pb(std::uint16_t iface, std::uint64_t ts, const std::vector<std::uint8_t>& d) {
        capture_builder b(be_);
        b.u16(iface);
        b.u16(0);
        b.u32(static_cast<std::uint32_t>(ts >> 32));
        b.u32(static_cast<std::uint32_t>(ts));
        b.u32(static_cast<std::uint32_t>(d.size()));
        b.u32(static_cast<std::uint32_t>(d.size()));
        b.raw(d);
        block(2, b.bytes);
    }

private:
    bool be_;
};

/// A frame of n bytes: byte i is (seed + i) mod 251.
inline std::vector<std::uint8_t> frame(std::size_t n, unsigned seed = 0) {
    std::vector<std::uint8_t> f(n);
    for (std::size_t i = 0; i < n; ++i) f[i] = static_cast<std::uint8_t>((seed + i) % 251);
    return f;
}

}  // namespace rxinto::test
