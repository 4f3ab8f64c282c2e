#include "rxinto/pcapfile/reader.hpp"

#include <algorithm>
#include <cstring>

namespace rxinto::pcapfile {

namespace {

__extension__ typedef unsigned __int128 u128;  // NOLINT: GCC/Clang extension, for the ns scaling

constexpr std::uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr std::uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr std::uint32_t pcapng_shb = 0x0A0D0D0A;  // the same in both byte orders
constexpr std::uint32_t pcapng_bom = 0x1A2B3C4D;
constexpr std::uint32_t block_idb = 1;
constexpr std::uint32_t block_pb = 2;   // obsolete Packet Block
constexpr std::uint32_t block_spb = 3;
constexpr std::uint32_t block_epb = 6;
constexpr std::size_t pcap_record_header = 16;
constexpr std::size_t block_overhead = 12;          // type, total length, trailer length
constexpr std::uint32_t max_shb_len = 1024 * 1024;  // libpcap's BT_SHB_INSANE_MAX
constexpr std::uint64_t ns_per_s = 1'000'000'000ULL;
// pcap header link type field: the low 26 bits are the LINKTYPE_ (libpcap's
// LT_LINKTYPE); the bits above carry FCS information.
constexpr std::uint32_t pcap_linktype_mask = 0x03FFFFFF;

std::uint32_t le32(const std::uint8_t* p) noexcept {
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
}
std::uint32_t bswap32(std::uint32_t v) noexcept { return __builtin_bswap32(v); }

std::uint32_t adjust_snaplen(std::uint32_t s) noexcept {
    // libpcap's pcapint_adjust_snapshot: 0 or absurd means "the maximum".
    return s == 0 || s > max_caplen ? max_caplen : s;
}

std::uint64_t to_ns(std::uint64_t t, const interface_info& i) noexcept {
    // Unsigned arithmetic throughout: absurd timestamps wrap, never overflow UB.
    const std::uint64_t r = i.tsresol;
    const std::uint64_t sec = t / r;
    const std::uint64_t frac = t % r;
    std::uint64_t ns = 0;
    if (r == 1'000'000) ns = frac * 1000;
    else if (r == ns_per_s) ns = frac;
    else ns = static_cast<std::uint64_t>(static_cast<u128>(frac) * ns_per_s / r);
    return (sec + static_cast<std::uint64_t>(i.tsoffset_s)) * ns_per_s + ns;
}

}  // namespace

const char* to_string(stop_reason r) noexcept {
    switch (r) {
    case stop_reason::none: return "none";
    case stop_reason::not_a_capture: return "not_a_capture";
    case stop_reason::truncated_file_header: return "truncated_file_header";
    case stop_reason::unsupported_version: return "unsupported_version";
    case stop_reason::truncated_record: return "truncated_record";
    case stop_reason::caplen_over_snaplen: return "caplen_over_snaplen";
    case stop_reason::caplen_over_max: return "caplen_over_max";
    case stop_reason::block_too_short: return "block_too_short";
    case stop_reason::block_length_not_multiple_of_4: return "block_length_not_multiple_of_4";
    case stop_reason::block_too_long: return "block_too_long";
    case stop_reason::block_length_mismatch: return "block_length_mismatch";
    case stop_reason::caplen_past_block: return "caplen_past_block";
    case stop_reason::bad_byte_order_magic: return "bad_byte_order_magic";
    case stop_reason::no_such_interface: return "no_such_interface";
    case stop_reason::too_many_interfaces: return "too_many_interfaces";
    case stop_reason::bad_option: return "bad_option";
    case stop_reason::count_: break;
    }
    return "unknown";
}

std::string describe(const stop_info& s, file_format f) {
    const std::string v = std::to_string(s.value);
    const std::string l = std::to_string(s.limit);
    std::string what;
    switch (s.reason) {
    case stop_reason::none: return "complete";
    case stop_reason::not_a_capture:
        what = "not a pcap or pcapng file (magic number 0x";
        {
            char hex[9];
            std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(s.value));
            what += hex;
        }
        what += ")";
        break;
    case stop_reason::truncated_file_header:
        what = "the file header is cut short (" + v + " of " + l + " bytes)";
        break;
    case stop_reason::unsupported_version: what = "unsupported format version " + v; break;
    case stop_reason::truncated_record:
        // libpcap's words for the same thing: "truncated dump file".
        what = "truncated dump file: the record needs " + l + " bytes, only " + v + " follow";
        break;
    case stop_reason::caplen_over_snaplen:
        what = "captured length " + v + " is above the snapshot length " + l;
        break;
    case stop_reason::caplen_over_max:
        what = "captured length " + v + " is above the maximum of " + l;
        break;
    case stop_reason::block_too_short:
        what = "block length " + v + " is too short for its type (at least " + l + ")";
        break;
    case stop_reason::block_length_not_multiple_of_4:
        what = "block length " + v + " is not a multiple of 4";
        break;
    case stop_reason::block_too_long: what = "block length " + v + " is above " + l; break;
    case stop_reason::block_length_mismatch:
        what = "block length " + v + " in the header but " + l + " in the trailer";
        break;
    case stop_reason::caplen_past_block:
        what = "captured length " + v + " runs past its block (" + l + " bytes of data)";
        break;
    case stop_reason::bad_byte_order_magic: what = "section header with a bad byte-order magic"; break;
    case stop_reason::no_such_interface:
        what = "packet on interface " + v + " but the section declares " + l + " interface" +
               (s.limit == 1 ? "" : "s");
        break;
    case stop_reason::too_many_interfaces:
        what = "more than " + l + " interfaces in one section";
        break;
    case stop_reason::bad_option: what = "malformed interface option (code " + v + ")"; break;
    case stop_reason::count_: what = "unknown"; break;
    }
    const char* unit = f == file_format::pcapng ? "block " : "record ";
    std::string out = s.record == 0 ? std::string("file header")
                                    : std::string(unit) + std::to_string(s.record);
    out += " at byte offset " + std::to_string(s.offset) + ": " + what + " (after " +
           std::to_string(s.packets) + " packet" + (s.packets == 1 ? "" : "s") + ")";
    return out;
}

parser::parser(std::size_t max_interfaces) : max_ifaces_(std::max<std::size_t>(1, max_interfaces)) {
    ifaces_.reserve(max_ifaces_);
}

std::uint32_t parser::u32(const std::uint8_t* p) const noexcept {
    const std::uint32_t v = le32(p);
    return swapped_ ? bswap32(v) : v;
}

std::uint16_t parser::u16(const std::uint8_t* p) const noexcept {
    const auto v = static_cast<std::uint16_t>(p[0] | p[1] << 8);
    return swapped_ ? static_cast<std::uint16_t>(v >> 8 | v << 8) : v;
}

step parser::fail(stop_reason r, std::uint64_t value, std::uint64_t limit) noexcept {
    state_ = state::done;
    stop_.reason = r;
    stop_.record = records_ + 1;  // the file-header cases set 0 themselves
    stop_.offset = offset_;
    stop_.packets = packets_;
    stop_.value = value;
    stop_.limit = limit;
    step s;
    s.kind = step_kind::stopped;
    return s;
}

step parser::next(const std::uint8_t* data, std::size_t len, bool eof) noexcept {
    if (data == nullptr) len = 0;
    switch (state_) {
    case state::start: return start(data, len, eof);
    case state::pcap: return pcap_record(data, len, eof);
    case state::pcapng: return pcapng_block(data, len, eof);
    case state::done: break;
    }
    step s;
    s.kind = stop_.reason == stop_reason::none ? step_kind::end : step_kind::stopped;
    return s;
}

void parser::unread(const step& s) noexcept {
    if (s.kind != step_kind::record) return;
    offset_ -= s.consumed;
    --records_;
    --packets_;
}

step parser::start(const std::uint8_t* d, std::size_t len, bool eof) noexcept {
    if (len < 4) {
        if (!eof) return step{step_kind::need_more, {}, 0, pcap_header_len};
        auto s = fail(stop_reason::truncated_file_header, len, pcap_header_len);
        stop_.record = 0;
        return s;
    }
    const std::uint32_t m = le32(d);
    if (m == pcapng_shb) return shb(d, len, eof, true);
    if (m == pcap_magic_us || m == pcap_magic_ns) {
        swapped_ = false;
    } else if (bswap32(m) == pcap_magic_us || bswap32(m) == pcap_magic_ns) {
        swapped_ = true;
    } else {
        auto s = fail(stop_reason::not_a_capture, m);
        stop_.record = 0;
        return s;
    }
    format_ = file_format::pcap;
    nsec_ = u32(d) == pcap_magic_ns;
    if (len < pcap_header_len) {
        if (!eof) return step{step_kind::need_more, {}, 0, pcap_header_len};
        auto s = fail(stop_reason::truncated_file_header, len, pcap_header_len);
        stop_.record = 0;
        return s;
    }
    const std::uint16_t major = u16(d + 4);
    if (major != 2) {
        auto s = fail(stop_reason::unsupported_version, major);
        stop_.record = 0;
        return s;
    }
    interface_info i;
    i.snaplen = adjust_snaplen(u32(d + 16));
    i.linktype = u32(d + 20) & pcap_linktype_mask;
    i.tsresol = nsec_ ? ns_per_s : 1'000'000;
    ifaces_.clear();
    ifaces_.push_back(i);
    first_linktype_ = i.linktype;
    state_ = state::pcap;
    offset_ += pcap_header_len;
    return step{step_kind::skipped, {}, pcap_header_len, 0};
}

step parser::pcap_record(const std::uint8_t* d, std::size_t len, bool eof) noexcept {
    if (len == 0 && eof) {
        state_ = state::done;
        return step{step_kind::end, {}, 0, 0};
    }
    if (len < pcap_record_header) {
        if (!eof) return step{step_kind::need_more, {}, 0, pcap_record_header};
        return fail(stop_reason::truncated_record, len, pcap_record_header);
    }
    const interface_info& i = ifaces_.front();
    const std::uint32_t caplen = u32(d + 8);
    if (caplen > max_caplen) return fail(stop_reason::caplen_over_max, caplen, max_caplen);
    if (caplen > i.snaplen) return fail(stop_reason::caplen_over_snaplen, caplen, i.snaplen);
    const std::size_t total = pcap_record_header + caplen;
    if (len < total) {
        if (!eof) return step{step_kind::need_more, {}, 0, total};
        return fail(stop_reason::truncated_record, len, total);
    }
    step s;
    s.kind = step_kind::record;
    s.consumed = total;
    s.rec.data = d + pcap_record_header;
    s.rec.caplen = caplen;
    s.rec.orig_len = u32(d + 12);
    const std::uint64_t frac = u32(d + 4);
    s.rec.ts_ns = std::uint64_t{u32(d)} * ns_per_s + (nsec_ ? frac : frac * 1000);
    s.rec.interface = 0;
    s.rec.linktype = i.linktype;
    ++records_;
    ++packets_;
    offset_ += total;
    return s;
}

step parser::shb(const std::uint8_t* d, std::size_t len, bool eof, bool first) noexcept {
    const stop_reason cut = first ? stop_reason::truncated_file_header : stop_reason::truncated_record;
    if (len < 12) {
        if (!eof) return step{step_kind::need_more, {}, 0, 12};
        auto s = fail(cut, len, 12);
        if (first) stop_.record = 0;
        return s;
    }
    const std::uint32_t bom = le32(d + 8);
    bool swapped = false;
    if (bom == pcapng_bom) swapped = false;
    else if (bswap32(bom) == pcapng_bom) swapped = true;
    else return fail(stop_reason::bad_byte_order_magic, bom);
    swapped_ = swapped;  // each section has its own byte order
    if (first) format_ = file_format::pcapng;
    const std::uint32_t total = u32(d + 4);
    if (total < 28) return fail(stop_reason::block_too_short, total, 28);
    if (total % 4 != 0) return fail(stop_reason::block_length_not_multiple_of_4, total);
    if (total > max_shb_len) return fail(stop_reason::block_too_long, total, max_shb_len);
    if (len < total) {
        if (!eof) return step{step_kind::need_more, {}, 0, total};
        return fail(cut, len, total);
    }
    if (const std::uint32_t trail = u32(d + total - 4); trail != total)
        return fail(stop_reason::block_length_mismatch, total, trail);
    const std::uint16_t major = u16(d + 12);
    const std::uint16_t minor = u16(d + 14);
    if (major != 1 || (first && minor != 0 && minor != 2))
        return fail(stop_reason::unsupported_version, std::uint64_t{major} * 1000 + minor);
    ifaces_.clear();  // a new section declares its own interfaces
    if (first) state_ = state::pcapng;  // only now: a need_more above comes back here
    ++records_;
    offset_ += total;
    return step{step_kind::skipped, {}, total, 0};
}

bool parser::idb(const std::uint8_t* body, std::size_t body_len, step& err) noexcept {
    if (body_len < 8) {
        err = fail(stop_reason::block_too_short, body_len + block_overhead, block_overhead + 8);
        return false;
    }
    if (ifaces_.size() >= max_ifaces_) {
        err = fail(stop_reason::too_many_interfaces, ifaces_.size() + 1, max_ifaces_);
        return false;
    }
    interface_info i;
    i.linktype = u16(body);
    i.snaplen = adjust_snaplen(u32(body + 4));
    bool saw_tsresol = false;
    bool saw_tsoffset = false;
    const std::uint8_t* p = body + 8;
    std::size_t left = body_len - 8;
    while (left != 0) {
        if (left < 4) {
            err = fail(stop_reason::bad_option, 0xffff);
            return false;
        }
        const std::uint16_t code = u16(p);
        const std::uint16_t olen = u16(p + 2);
        const std::size_t padded = (std::size_t{olen} + 3) & ~std::size_t{3};
        if (padded > left - 4) {
            err = fail(stop_reason::bad_option, code);
            return false;
        }
        const std::uint8_t* v = p + 4;
        if (code == 0) {  // opt_endofopt
            if (olen != 0) {
                err = fail(stop_reason::bad_option, code);
                return false;
            }
            break;
        }
        if (code == 9) {  // if_tsresol
            if (olen != 1 || saw_tsresol) {
                err = fail(stop_reason::bad_option, code);
                return false;
            }
            saw_tsresol = true;
            const std::uint8_t r = v[0];
            if ((r & 0x80) != 0) {  // a negative power of 2
                if ((r & 0x7f) > 63) {
                    err = fail(stop_reason::bad_option, code);
                    return false;
                }
                i.tsresol = std::uint64_t{1} << (r & 0x7f);
            } else {  // a negative power of 10; 10^19 is the largest that fits
                if (r > 19) {
                    err = fail(stop_reason::bad_option, code);
                    return false;
                }
                i.tsresol = 1;
                for (unsigned k = 0; k < r; ++k) i.tsresol *= 10;
            }
        } else if (code == 14) {  // if_tsoffset
            if (olen != 8 || saw_tsoffset) {
                err = fail(stop_reason::bad_option, code);
                return false;
            }
            saw_tsoffset = true;
            const std::uint64_t lo = u32(v);
            const std::uint64_t hi = u32(v + 4);
            // The option is one 64-bit value in the section's byte order.
            const std::uint64_t raw = swapped_ ? (lo << 32 | hi) : (hi << 32 | lo);
            std::memcpy(&i.tsoffset_s, &raw, sizeof raw);
        }
        p += 4 + padded;
        left -= 4 + padded;
    }
    ifaces_.push_back(i);
    if (first_linktype_ < 0) first_linktype_ = i.linktype;
    return true;
}

step parser::packet(const std::uint8_t* d, std::size_t block_len, std::uint32_t iface,
                    std::uint64_t ts_units, std::uint32_t caplen, std::uint32_t orig_len,
                    std::size_t data_off, bool has_ts) noexcept {
    if (caplen > max_caplen) return fail(stop_reason::caplen_over_max, caplen, max_caplen);
    if (iface >= ifaces_.size()) return fail(stop_reason::no_such_interface, iface, ifaces_.size());
    const interface_info& i = ifaces_[iface];
    if (caplen > i.snaplen) return fail(stop_reason::caplen_over_snaplen, caplen, i.snaplen);
    const std::size_t room = block_len - 4 - data_off;  // data_off >= 8, block_len >= data_off + 4
    if (caplen > room) return fail(stop_reason::caplen_past_block, caplen, room);
    step s;
    s.kind = step_kind::record;
    s.consumed = block_len;
    s.rec.data = d + data_off;
    s.rec.caplen = caplen;
    s.rec.orig_len = orig_len;
    s.rec.ts_ns = has_ts ? to_ns(ts_units, i) : 0;
    s.rec.interface = iface;
    s.rec.linktype = i.linktype;
    ++records_;
    ++packets_;
    offset_ += block_len;
    return s;
}

step parser::pcapng_block(const std::uint8_t* d, std::size_t len, bool eof) noexcept {
    if (len == 0 && eof) {
        state_ = state::done;
        return step{step_kind::end, {}, 0, 0};
    }
    if (len < 8) {
        if (!eof) return step{step_kind::need_more, {}, 0, 8};
        return fail(stop_reason::truncated_record, len, 8);
    }
    if (le32(d) == pcapng_shb) return shb(d, len, eof, false);
    const std::uint32_t type = u32(d);
    const std::uint32_t total = u32(d + 4);
    if (total < block_overhead) return fail(stop_reason::block_too_short, total, block_overhead);
    if (total % 4 != 0) return fail(stop_reason::block_length_not_multiple_of_4, total);
    if (total > max_block_len) return fail(stop_reason::block_too_long, total, max_block_len);
    if (len < total) {
        if (!eof) return step{step_kind::need_more, {}, 0, total};
        return fail(stop_reason::truncated_record, len, total);
    }
    if (const std::uint32_t trail = u32(d + total - 4); trail != total)
        return fail(stop_reason::block_length_mismatch, total, trail);
    const std::uint8_t* body = d + 8;
    const std::size_t body_len = total - block_overhead;
    switch (type) {
    case block_idb: {
        step err;
        if (!idb(body, body_len, err)) return err;
        break;
    }
    case block_epb:
    case block_pb: {
        if (body_len < 20) return fail(stop_reason::block_too_short, total, block_overhead + 20);
        // EPB: interface (32 bits); PB: interface (16) + drops count (16).
        const std::uint32_t iface = type == block_epb ? u32(body) : u16(body);
        const std::uint64_t ts = std::uint64_t{u32(body + 4)} << 32 | u32(body + 8);
        return packet(d, total, iface, ts, u32(body + 12), u32(body + 16), 28, true);
    }
    case block_spb: {
        if (body_len < 4) return fail(stop_reason::block_too_short, total, block_overhead + 4);
        // A simple packet block belongs to interface 0 and has no timestamp; its
        // captured length is the original length cut to the snaplen (pcapng §4.4).
        if (ifaces_.empty()) return fail(stop_reason::no_such_interface, 0, 0);
        const std::uint32_t orig = u32(body);
        const std::uint32_t cap = std::min(orig, ifaces_.front().snaplen);
        return packet(d, total, 0, 0, cap, orig, 12, false);
    }
    default:
        break;  // statistics, name resolution, decryption secrets, custom: not ours
    }
    ++records_;
    offset_ += total;
    return step{step_kind::skipped, {}, total, 0};
}

}  // namespace rxinto::pcapfile
