// Value parsers shared by the INI reader (settings.cpp) and the command line
// (cli.cpp), so that a setting accepts exactly the same spellings and ranges
// in both places and is rejected with the same words.
//
// Each parser trims its input and returns either the value or an Error whose
// message is only the reason, including what is accepted, e.g.
//   "'0' is not in 1..512"
//   "'maybe' is not a boolean (accepted: yes/no, true/false, on/off, 1/0)"
// The caller prefixes "file:LINE: [section] key: " or "--option: ".
// Nothing here throws (std::from_chars reports errors by value).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"

namespace rxinto::config::values {

struct UintRange {
    std::uint64_t min;
    std::uint64_t max;
};

// The accepted ranges, in one place for the parsers, validate() and the docs.
inline constexpr UintRange rx_queues_range{0, 1024};
inline constexpr UintRange rx_desc_range{64, 16384};        // and a power of two
inline constexpr UintRange memory_mb_range{16, 1048576};
inline constexpr UintRange mbufs_range{1023, 16777215};     // or 0 (auto)
inline constexpr UintRange cache_range{0, 512};             // RTE_MEMPOOL_CACHE_MAX_SIZE
inline constexpr UintRange data_room_range{256, 65535};     // >= 128 headroom + 64-byte frame
inline constexpr UintRange reassembly_held_range{0, 16777215};
inline constexpr UintRange burst_range{1, 512};
inline constexpr double max_duration_s = 31536000.0;        // one year
// [tcp]
inline constexpr UintRange max_flows_range{8, 16777216};
inline constexpr UintRange max_segments_range{64, 67108864};
inline constexpr UintRange stream_max_segments_range{1, 1048576};
inline constexpr UintRange stream_max_bytes_range{4096, 1ULL << 40};
inline constexpr UintRange stream_max_ooo_bytes_range{1, 1ULL << 40};
inline constexpr UintRange mempool_low_water_range{0, 16777215};  // 0: pool/8
inline constexpr double max_tcp_timeout_s = 86400.0;        // one day
// [endpoint]
inline constexpr UintRange endpoint_connections_range{8, 16777216};
inline constexpr UintRange syn_queue_range{1, 16777216};
inline constexpr UintRange time_wait_max_range{0, 16777216};
inline constexpr UintRange receive_buffer_range{4096, 1ULL << 30};
inline constexpr UintRange endpoint_segments_range{64, 67108864};
inline constexpr UintRange mtu_range{1280, 9000};
inline constexpr UintRange tx_mbufs_range{1023, 1048575};
inline constexpr UintRange tcp_port_range{1, 65535};
inline constexpr UintRange read_rate_range{0, 1ULL << 30};
inline constexpr double max_time_wait_s = 240.0;  // 2 * the RFC 9293 MSL of 2 minutes
// [run] workers: capture/appliance.cpp's max_dispatch_workers
inline constexpr UintRange workers_range{0, 64};
// [capture]
inline constexpr UintRange rotate_mb_range{0, 1048576};      // MB = 1,000,000 bytes (tcpdump -C)
inline constexpr UintRange rotate_seconds_range{0, 31536000};  // one year
inline constexpr UintRange ring_files_range{0, 100000};
inline constexpr UintRange snaplen_range{64, 262144};        // or 0 (whole frame)
// [export]
inline constexpr UintRange spool_mb_range{1, 1048576};
inline constexpr UintRange export_replicas_range{0, 5};       // 0: auto (3 on a cluster of 3+, else 1)
inline constexpr UintRange export_ring_mb_range{1, 1024};
inline constexpr double max_export_wait_s = 3600.0;
inline constexpr double min_connect_timeout_s = 0.1;
inline constexpr double max_connect_timeout_s = 60.0;
inline constexpr std::size_t max_nats_urls = 16;
inline constexpr std::size_t max_node_name = 64;

/// Strips leading/trailing spaces, tabs, CR and LF.
[[nodiscard]] std::string_view trim(std::string_view text) noexcept;

/// Quotes a user-supplied value for a message: escapes control and non-ASCII
/// bytes and shortens very long values, so an error line stays one readable line.
[[nodiscard]] std::string quote(std::string_view text);

/// Decimal unsigned integer (no sign, no 0x) in [range.min, range.max].
[[nodiscard]] Result<std::uint64_t> parse_uint(std::string_view text, UintRange range);

/// parse_uint narrowed to T (range must fit T).
template <class T>
[[nodiscard]] Result<T> parse_uint_as(std::string_view text, UintRange range) {
    auto r = parse_uint(text, range);
    if (!r) return std::move(r).error();
    return static_cast<T>(r.value());
}

[[nodiscard]] Result<std::uint16_t> parse_rx_desc(std::string_view text);  // 64..16384, power of two
[[nodiscard]] Result<std::uint32_t> parse_mbufs(std::string_view text);    // 0 or 1023..16777215
[[nodiscard]] Result<double> parse_duration(std::string_view text);        // seconds, 0..1 year
[[nodiscard]] Result<double> parse_tcp_timeout(std::string_view text);     // seconds, > 0, <= 1 day

/// yes/no, true/false, on/off, 1/0 (any case).
[[nodiscard]] Result<bool> parse_bool(std::string_view text);
/// auto/automatic/default, or any boolean spelling for on/off (any case).
[[nodiscard]] Result<Tristate> parse_tristate(std::string_view text);
/// emergency..debug or 1..8; returns the level name.
[[nodiscard]] Result<std::string> parse_log_level(std::string_view text);
/// EAL -l list: digits and , - @ ( ) only, non-empty.
[[nodiscard]] Result<std::string> parse_lcores(std::string_view text);
/// EAL --file-prefix: [A-Za-z0-9_-], non-empty.
[[nodiscard]] Result<std::string> parse_file_prefix(std::string_view text);
/// DOMAIN:BUS:DEV.FN or BUS:DEV.FN (hex); returns "dddd:bb:dd.f" in lower case.
[[nodiscard]] Result<std::string> parse_pci_address(std::string_view text);
/// DPDK vdev devargs "name[,key=value...]"; the name is [A-Za-z0-9_]+.
[[nodiscard]] Result<std::string> parse_vdev(std::string_view text);
/// A capture file path, or "generated"; no ',' (it would split net_pcap's devargs).
[[nodiscard]] Result<std::string> parse_pcap(std::string_view text);
/// [tcp] overlap: first | last (any case); returns the lower-case name.
[[nodiscard]] Result<std::string> parse_overlap(std::string_view text);
/// [tcp] gap_grace / --gap-grace: "auto", N packets (0..1000000000) or N ms
/// ("250ms", 1..86400000); normalised to "auto", "N" or "Nms".
[[nodiscard]] Result<std::string> parse_gap_grace(std::string_view text);
inline constexpr UintRange gap_grace_packets_range{0, 1000000000};
inline constexpr UintRange gap_grace_ms_range{1, 86400000};
inline constexpr UintRange streams_max_open_range{0, 1048576};  // 0: from RLIMIT_NOFILE
/// [tcp] checksum: auto | verify | ignore (any case); returns the lower-case name.
[[nodiscard]] Result<std::string> parse_tcp_checksum(std::string_view text);
/// A directory path to write into (streams_dir): no control characters; "" = none.
[[nodiscard]] Result<std::string> parse_output_dir(std::string_view text);
/// A file path to write (capture write): no control characters; "" = none.
[[nodiscard]] Result<std::string> parse_output_file(std::string_view text);
/// [capture] snaplen: 0 (whole frame) or 64..262144.
[[nodiscard]] Result<std::uint32_t> parse_snaplen(std::string_view text);
/// [run] dispatch: auto, or a boolean spelling; returns "auto", "yes" or "no".
[[nodiscard]] Result<std::string> parse_dispatch(std::string_view text);
/// A libpcap filter expression, trimmed; "" = every packet. Only the characters
/// are checked here (no control characters but tabs); the syntax is libpcap's
/// business when the filter is compiled (capture/filter.hpp).
[[nodiscard]] Result<std::string> parse_filter(std::string_view text);
/// [export] urls: "nats://HOST[:PORT][,nats://...]" (HOST a name, an IPv4
/// address or [IPv6]; PORT 1..65535, 4222 when left out; an optional
/// USER[:PASSWORD]@ before HOST); at most max_nats_urls. Returns the list
/// joined with ',', every port written out; "" stays "" (no export).
[[nodiscard]] Result<std::string> parse_nats_urls(std::string_view text);
/// [export] node: [A-Za-z0-9_-], 1..64 characters ("" = the host name, later);
/// it becomes a NATS subject token, so no '.', '*', '>' or spaces.
[[nodiscard]] Result<std::string> parse_node_name(std::string_view text);
/// [export] wait: seconds, decimal, 0..3600.
[[nodiscard]] Result<double> parse_export_wait(std::string_view text);
/// [export] connect_timeout: seconds, decimal, 0.1..60.
[[nodiscard]] Result<double> parse_connect_timeout(std::string_view text);
/// An endpoint address "ADDR/PREFIX" (IPv4 or IPv6, unicast; the prefix may
/// be left out: /32 or /128); returns it normalised ("fd00::2/64").
[[nodiscard]] Result<std::string> parse_address(std::string_view text);
/// A list of endpoint addresses separated by spaces or commas (INI).
[[nodiscard]] Result<std::vector<std::string>> parse_address_list(std::string_view text);
/// A list of TCP ports 1..65535 separated by spaces or commas (INI).
[[nodiscard]] Result<std::vector<std::uint16_t>> parse_port_list(std::string_view text);
/// [endpoint] unknown: rst | drop; returns true for rst.
[[nodiscard]] Result<bool> parse_unknown_policy(std::string_view text);
/// [endpoint] time_wait: seconds, more than 0, at most 240.
[[nodiscard]] Result<double> parse_time_wait(std::string_view text);
/// The device name part of vdev devargs ("net_null0" of "net_null0,size=64").
[[nodiscard]] std::string_view vdev_name(std::string_view devargs) noexcept;
/// Splits at runs of spaces/tabs; no quoting (EAL arguments rarely need it).
[[nodiscard]] std::vector<std::string> split_args(std::string_view text);

[[nodiscard]] std::string_view to_string(Tristate t) noexcept;
[[nodiscard]] std::string_view to_string(PortKind k) noexcept;

}  // namespace rxinto::config::values
