// A strict record parser for capture files: pcap (all four magics: micro- and
// nanosecond, both byte orders) and pcapng (sections in either byte order,
// several sections, interface blocks with if_tsresol/if_tsoffset, enhanced,
// simple and obsolete packet blocks; other blocks are skipped).
//
// No DPDK, no system calls, no allocation after construction, no exceptions:
// the same code runs in rxinto's file-replay PMD on a worker lcore, in the
// control path, in unit tests and under libFuzzer.
//
// Why our own and not libpcap: libpcap reads through stdio into its own buffer
// (one copy per packet, and no way to hand out pointers into a mapping), and it
// reads one file format per handle with one link type for all interfaces. This
// parser works over any byte span the caller holds (a whole mmap'ed file, or a
// window of a stream), returns pointers into it, and gives each packet its own
// interface's link type.
//
// Strictness: at least as strict as libpcap 1.10 (sf-pcap.c, sf-pcapng.c), and
// stricter where libpcap guesses. The parser stops at the first record it
// cannot trust and says where (stop_info: block/record number, byte offset,
// reason, the numbers involved). Nothing after that point is ever returned:
// a record whose length fields lie would misalign every later one, and bytes
// read from a misaligned offset are attacker-chosen (the "SMUGGLED" case).
//  * pcap: caplen above the header's snaplen (libpcap trims such a record to the
//    snaplen and goes on; we stop: the file contradicts itself) or above
//    262144 (libpcap's MAXIMUM_SNAPLEN); a last record cut short is reported
//    like libpcap's "truncated dump file".
//  * pcapng: a block shorter than 12 bytes, not a multiple of 4, longer than
//    16 MiB (libpcap's INITIAL_MAX_BLOCKSIZE), whose trailer length differs
//    from its header length, a packet whose caplen runs past its block, above
//    its interface's snaplen or above 262144, a packet on an interface with no
//    Interface Description Block in the current section, a malformed IDB option
//    (as libpcap: end-of-options with a length, if_tsresol not 1 byte or out of
//    range, if_tsoffset not 8 bytes, either one twice, an option running past
//    the block), an SHB with a bad byte-order magic or major version != 1.
//  * Unlike libpcap, interfaces of different link types in one file are fine
//    (Wireshark reads them too): each packet carries its interface's type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace rxinto::pcapfile {

/// libpcap's MAXIMUM_SNAPLEN: no record may claim more captured bytes.
inline constexpr std::uint32_t max_caplen = 262144;
/// libpcap's INITIAL_MAX_BLOCKSIZE: the largest pcapng block accepted.
inline constexpr std::uint32_t max_block_len = 16U * 1024U * 1024U;
/// Interfaces per pcapng section; the table is sized once, at construction.
inline constexpr std::size_t default_max_interfaces = 4096;
/// Bytes a pcap file header takes; the least a caller must offer to begin().
inline constexpr std::size_t pcap_header_len = 24;

enum class file_format : std::uint8_t { unknown, pcap, pcapng };

/// Why the parser stopped. `none` is a clean end of file.
enum class stop_reason : std::uint8_t {
    none,
    not_a_capture,                ///< the first 4 bytes are no pcap/pcapng magic
    truncated_file_header,        ///< the pcap header or first SHB is cut short
    unsupported_version,          ///< pcap major != 2; pcapng major != 1 (or minor not 0/2 in the first SHB)
    truncated_record,             ///< a record or block runs past the end of the file
    caplen_over_snaplen,          ///< captured length above the file's / interface's snaplen
    caplen_over_max,              ///< captured length above 262144
    block_too_short,              ///< total length < 12, or too short for its block type
    block_length_not_multiple_of_4,
    block_too_long,               ///< total length above 16 MiB (1 MiB for an SHB)
    block_length_mismatch,        ///< the trailer's total length differs from the header's
    caplen_past_block,            ///< the packet data runs past the end of its block
    bad_byte_order_magic,         ///< an SHB whose byte-order magic is neither order
    no_such_interface,            ///< a packet on an interface no IDB of this section declared
    too_many_interfaces,          ///< more IDBs in one section than the table holds
    bad_option,                   ///< a malformed IDB option (see the header comment)
    count_
};
inline constexpr std::size_t stop_reason_count = static_cast<std::size_t>(stop_reason::count_);

/// snake_case name ("caplen_past_block"); a string literal.
[[nodiscard]] const char* to_string(stop_reason r) noexcept;

/// Where and why the parser stopped, in numbers (no string: this is filled on
/// a worker lcore). describe() turns it into a sentence on the control path.
struct stop_info {
    stop_reason reason = stop_reason::none;
    /// 1-based number of the record (pcap) or block (pcapng, the first SHB being
    /// block 1) that could not be trusted; 0 for the file header.
    std::uint64_t record = 0;
    std::uint64_t offset = 0;   ///< byte offset of that record / block in the file
    std::uint64_t packets = 0;  ///< packets returned before it
    std::uint64_t value = 0;    ///< the offending number (a caplen, a length, an index)
    std::uint64_t limit = 0;    ///< what it was checked against
};

/// One sentence: "record 3 at byte offset 1234: captured length 300000 is above
/// the maximum of 262144 (after 2 packets)". Control path (allocates).
[[nodiscard]] std::string describe(const stop_info& s, file_format f);

struct interface_info {
    std::uint32_t linktype = 0;
    std::uint32_t snaplen = max_caplen;  ///< 0 or above max_caplen in the file: max_caplen (as libpcap)
    std::uint64_t tsresol = 1'000'000;   ///< timestamp units per second
    std::int64_t tsoffset_s = 0;         ///< if_tsoffset: seconds added to every timestamp
};

/// One packet. `data` points into the bytes the caller passed to next(); it
/// stays valid as long as the caller keeps those bytes where they are.
struct record {
    const std::uint8_t* data = nullptr;
    std::uint32_t caplen = 0;    ///< bytes at data
    std::uint32_t orig_len = 0;  ///< length on the wire, as the file says
    std::uint64_t ts_ns = 0;     ///< ns since the epoch (wraps for absurd timestamps)
    std::uint32_t interface = 0; ///< pcapng interface index (0 for pcap)
    std::uint32_t linktype = 0;  ///< LINKTYPE_* of that interface
};

enum class step_kind : std::uint8_t {
    record,     ///< `rec` holds a packet; the parser moved past it
    skipped,    ///< a block that is no packet (SHB, IDB, statistics, unknown) was consumed
    need_more,  ///< `need` bytes from offset() are needed (only when !eof)
    end,        ///< clean end of file
    stopped,    ///< an untrusted record: see stop()
};

struct step {
    step_kind kind = step_kind::end;
    record rec;
    std::size_t consumed = 0;  ///< bytes this step moved offset() on by
    std::size_t need = 0;      ///< need_more: bytes needed from offset() on
};

class parser {
public:
    /// `max_interfaces`: capacity of the per-section interface table, reserved here
    /// (the only allocation this class makes).
    explicit parser(std::size_t max_interfaces = default_max_interfaces);

    /// Parses the next file header, block or record. `data` holds the file's bytes
    /// from offset() on, `len` of them; `eof` says that no byte follows them.
    /// Never reads outside [data, data + len). After `end` or `stopped` every call
    /// returns the same. noexcept, no allocation.
    step next(const std::uint8_t* data, std::size_t len, bool eof) noexcept;

    /// Gives back the record the last next() returned (the caller could not take
    /// it, e.g. for want of mbufs): the next call returns it again.
    void unread(const step& s) noexcept;

    [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
    [[nodiscard]] std::uint64_t packets() const noexcept { return packets_; }
    [[nodiscard]] file_format format() const noexcept { return format_; }
    [[nodiscard]] const stop_info& stop() const noexcept { return stop_; }
    [[nodiscard]] bool finished() const noexcept { return state_ == state::done; }
    /// Interfaces of the current section (pcap: the one the header describes).
    [[nodiscard]] std::span<const interface_info> interfaces() const noexcept { return ifaces_; }
    /// The link type of the first interface seen in the file (-1: none yet).
    [[nodiscard]] std::int64_t first_linktype() const noexcept { return first_linktype_; }

private:
    enum class state : std::uint8_t { start, pcap, pcapng, done };

    step fail(stop_reason r, std::uint64_t value = 0, std::uint64_t limit = 0) noexcept;
    step start(const std::uint8_t* d, std::size_t len, bool eof) noexcept;
    step pcap_record(const std::uint8_t* d, std::size_t len, bool eof) noexcept;
    step pcapng_block(const std::uint8_t* d, std::size_t len, bool eof) noexcept;
    step shb(const std::uint8_t* d, std::size_t len, bool eof, bool first) noexcept;
    bool idb(const std::uint8_t* body, std::size_t body_len, step& err) noexcept;
    step packet(const std::uint8_t* d, std::size_t block_len, std::uint32_t iface,
                std::uint64_t ts_units, std::uint32_t caplen, std::uint32_t orig_len,
                std::size_t data_off, bool has_ts) noexcept;
    [[nodiscard]] std::uint32_t u32(const std::uint8_t* p) const noexcept;
    [[nodiscard]] std::uint16_t u16(const std::uint8_t* p) const noexcept;

    state state_ = state::start;
    file_format format_ = file_format::unknown;
    bool swapped_ = false;
    bool nsec_ = false;  ///< pcap: nanosecond magic
    std::uint64_t offset_ = 0;
    std::uint64_t records_ = 0;  ///< records (pcap) / blocks (pcapng) parsed
    std::uint64_t packets_ = 0;
    std::int64_t first_linktype_ = -1;
    std::size_t max_ifaces_;
    std::vector<interface_info> ifaces_;
    stop_info stop_;
};

}  // namespace rxinto::pcapfile
