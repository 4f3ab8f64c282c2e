// Typed, validated run-time settings.
//
// Settings come from three places, in this order, each overriding the last:
//   1. built-in defaults (defaults(): the same as config/replay.ini),
//   2. an INI file read with DPDK's rte_cfgfile (load_file()),
//   3. command-line options (parse_cli() in cli.hpp).
// Everything here is control path: allocation is fine, exceptions are not
// used, and every rejection names file, section, key and the reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rxinto/base/result.hpp"

namespace rxinto::config {

/// auto: decide from what the machine/device offers; on/off: insist.
enum class Tristate : std::uint8_t { automatic, on, off };

enum class PortKind : std::uint8_t {
    pcap,  ///< replay a capture file through net_pcap (source = file path or "generated")
    vdev,  ///< a DPDK virtual device (source = devargs, e.g. "net_null0,size=64")
    pci,   ///< a real NIC by PCI address (source = "0000:01:00.0"), allow-listed for EAL
};
// Notes on PortSettings::source as load_file()/parse_cli() leave it:
//  - pcap: a relative path in a config file is resolved against the directory of
//    that file (so a config works from any working directory); "generated" stays.
//  - pci: normalised to the full lower-case form "dddd:bb:dd.f" (BUS:DEV.FN gets
//    domain 0000), so that two spellings of one address compare equal.
//  - log_level (EalSettings): normalised to the level name ("6" -> "notice", DPDK's RTE_LOG_* numbering).
//  - TcpSettings::streams_dir: a relative path in a config file is resolved like
//    a pcap path (against the file's directory); on the command line it is kept
//    as given (relative to the working directory). overlap and checksum are
//    normalised to their lower-case names.
//  - CaptureSettings::write: resolved like streams_dir.
//  - ExportSettings::spool_dir: resolved like streams_dir.
//  - RunSettings::dispatch: normalised to "auto", "yes" or "no".
//  - EalSettings::lcores: computed by worker_lcores() when RunSettings::workers != 0.

/// source value of a pcap port that asks for the built-in generated capture.
inline constexpr const char* generated_pcap = "generated";

struct PortSettings {
    PortKind kind = PortKind::pcap;
    std::string source = generated_pcap;
    std::uint16_t rx_queues = 0;       ///< 0: one per worker lcore, capped by the device
    std::uint16_t rx_desc = 1024;      ///< descriptors per rx queue
    bool promiscuous = true;
    Tristate rss = Tristate::automatic;               ///< RSS when >1 queue and the port has it
    Tristate checksum_offload = Tristate::automatic;  ///< IPv4/TCP rx checksum offload

    friend bool operator==(const PortSettings&, const PortSettings&) = default;
};

struct EalSettings {
    std::string lcores = "0-1";   ///< EAL -l list; the first lcore is the main (control) lcore
    Tristate hugepages = Tristate::automatic;  ///< auto: use free hugepages, else --no-huge (said once)
    std::uint32_t memory_mb = 256;  ///< memory EAL reserves (-m)
    std::string file_prefix = "rxinto";
    bool in_memory = false;         ///< --in-memory: no shared files, several processes at once
    std::string log_level = "notice";  ///< EAL --log-level for DPDK's own messages
    std::vector<std::string> extra_args;  ///< passed to EAL verbatim, last

    friend bool operator==(const EalSettings&, const EalSettings&) = default;
};

struct MempoolSettings {
    std::uint32_t mbufs = 0;             ///< 0: sized from ports/queues/descriptors/bursts
    std::uint32_t cache = 256;           ///< per-lcore mempool cache
    std::uint16_t data_room = 2176;      ///< RTE_MBUF_DEFAULT_BUF_SIZE: 2048 + headroom
    std::uint32_t reassembly_held = 8192;  ///< headroom for mbufs held by reassembly

    friend bool operator==(const MempoolSettings&, const MempoolSettings&) = default;
};

struct RunSettings {
    std::uint16_t burst = 32;          ///< rx_burst size, 1..512
    double duration_s = 0;             ///< stop after this long; 0: at end of replay or on signal
    bool progress = true;              ///< one progress line per second on stderr
    std::string stats_json;            ///< write the final summary as JSON here ("" = no)
    /// Software dispatch: auto = when the ports have fewer rx queues than the
    /// worker lcores (virtual devices), the second lcore hashes every packet
    /// (symmetrically) to a worker through rte_rings; yes / no insist.
    /// Always one of "auto", "yes", "no" (parsers normalise the spelling).
    std::string dispatch = "auto";
    /// Worker lcores, 0..64. 0: every lcore of [eal] lcores but the main one
    /// polls (or works behind the dispatcher). N: rxinto builds [eal] lcores
    /// itself (worker_lcores() below): main lcore 0, a dispatcher lcore when
    /// needs_dispatcher(), and N workers, spread over the online CPUs. Then
    /// [eal] lcores holds that computed list; an lcore list of one's own and
    /// workers cannot both be set.
    std::uint32_t workers = 0;

    friend bool operator==(const RunSettings&, const RunSettings&) = default;
};

/// TCP-lite reassembly (tcp/reassembler.hpp has the meaning of each field).
struct TcpSettings {
    bool enabled = true;                    ///< reassemble TCP streams (no: count packets only)
    std::string streams_dir;                ///< write delivered stream bytes + index.jsonl here ("" = no)
    bool streams_dir_overwrite = false;     ///< replace an earlier run's output in streams_dir
    std::uint32_t streams_max_open = 0;     ///< stream files open at once (0: half of RLIMIT_NOFILE)
    /// How long an ACK-proven hole waits for a late copy of its bytes before it
    /// is a gap (and a mid-stream start for in-order evidence): "auto" (replays
    /// of capture files: until the stream ends, a cap, pool pressure or an idle
    /// timeout; live ports: 32 packets), N packets, or "Nms" of packet time.
    std::string gap_grace = "auto";
    std::string overlap = "first";          ///< first | last
    std::string checksum = "auto";          ///< auto | verify | ignore
    bool midstream = true;                  ///< pick up connections seen without a handshake
    std::uint32_t max_flows = 65536;        ///< per worker, 8..16777216
    std::uint32_t max_segments = 262144;    ///< segment nodes per worker, 64..67108864
    std::uint32_t stream_max_segments = 4096;   ///< per stream, 1..1048576
    std::uint64_t stream_max_bytes = 32ULL << 20;  ///< per stream, 4096..2^40
    std::uint64_t stream_max_ooo_bytes = 8ULL << 20;  ///< past a hole before it is a gap, 1..2^40
    double timeout_syn_s = 30;              ///< idle timeouts by state, seconds of packet time
    double timeout_established_s = 300;
    double timeout_closing_s = 60;
    double timeout_closed_s = 5;
    bool ip_reassembly = true;              ///< rebuild IP fragments with rte_ip_frag
    std::uint32_t mempool_low_water = 0;    ///< free mbufs below which held data is released (0: pool/8)

    friend bool operator==(const TcpSettings&, const TcpSettings&) = default;
};

/// Capture appliance output, after tcpdump's habits (-w, -C, -G, -W, -s, and a
/// filter expression). The writing and filtering live in capture/; this is what
/// the INI [capture] section and the command line set.
struct CaptureSettings {
    /// pcapng output path (with rotation: the prefix of the numbered files);
    /// "" = write nothing. A relative path in a config file is resolved against
    /// the file's directory; on the command line it is kept as given.
    std::string write;
    /// Start a new file after this many MB; MB = 1,000,000 bytes, as tcpdump's
    /// -C (millions of bytes, not MiB). 0 = no size rotation; else 1..1048576.
    std::uint64_t rotate_mb = 0;
    /// Start a new file every this many seconds (tcpdump -G); 0 = never; 0..31536000.
    std::uint32_t rotate_seconds = 0;
    /// Keep at most this many files, reusing the oldest (tcpdump -W); 0 = keep
    /// all; else 1..100000, and only with rotate_mb or rotate_seconds.
    std::uint32_t ring_files = 0;
    /// Bytes of each frame written (tcpdump -s); 0 = the whole frame (tcpdump's
    /// -s 0 means 262144, which is the most accepted); else 64..262144.
    std::uint32_t snaplen = 0;
    /// Capture filter in libpcap syntax (capture/filter.hpp); "" = every packet.
    std::string filter;
    /// Also apply the filter before TCP reassembly (default: the filter selects
    /// only what is written; reassembly sees every packet).
    bool filter_before_reassembly = false;

    friend bool operator==(const CaptureSettings&, const CaptureSettings&) = default;
};

/// Fleet export (DESIGN.md: sensors -> NATS JetStream -> rxinto-index ->
/// PostgreSQL): connection records, and optionally stream bytes, published to
/// a JetStream cluster. The exporting lives in lib/rxinto/export/; this is what
/// the INI [export] section and the command line set.
struct ExportSettings {
    /// NATS server URLs, "nats://HOST:PORT" joined with ','; "" = no export.
    /// Normalised by values::parse_nats_urls (no spaces, port always given).
    std::string urls;
    /// This sensor's name in subjects and records: [A-Za-z0-9_-], 1..64
    /// characters; "" = the host name's first label (checked when the run starts).
    std::string node;
    /// Also publish the delivered stream bytes as chunks (rxinto.<node>.data.<conn>.<dir>).
    bool streams = false;
    /// Records that cannot be sent (no server, or too slow) are kept in a file
    /// here and sent later, up to spool_mb; "" = no spool: they are dropped (counted).
    std::string spool_dir;
    std::uint64_t spool_mb = 1024;  ///< MiB, 1..1048576
    /// At a normal end, wait at most this long for the acknowledgements, seconds 0..3600.
    double wait_s = 10;
    /// Replicas of the JetStream stream when rxinto creates it: 0 = 3 when the
    /// cluster has at least 3 servers, else 1; or 1..5.
    std::uint32_t replicas = 0;
    /// The ring between the record producers and the export thread, MiB, 1..1024.
    std::uint32_t ring_mb = 16;
    /// At start-up: how long to try to reach a server, seconds 0.1..60.
    double connect_timeout_s = 2;
    /// yes: no server reachable at start-up is an error (exit 2); no: start
    /// anyway and spool (or drop) until one answers.
    bool require_server = true;

    friend bool operator==(const ExportSettings&, const ExportSettings&) = default;
};

/// rxinto as a TCP endpoint (lib/rxinto/endpoint): the addresses it owns and
/// the ports it accepts connections on. No address: the endpoint is off (rxinto
/// only watches). The endpoint's meaning of each field is in endpoint.hpp.
struct EndpointSettings {
    std::vector<std::string> addresses;     ///< "ADDR/PREFIX", IPv4 or IPv6 (--address)
    std::vector<std::uint16_t> listen;      ///< TCP ports accepting connections (--listen)
    bool reset_unknown = true;              ///< unknown = rst | drop: TCP to other ports
    std::uint32_t max_connections = 4096;   ///< per worker, 8..16777216
    std::uint32_t syn_queue = 256;          ///< half-open connections, 1..16777216; beyond: cookies
    bool syn_cookies = true;
    std::uint32_t time_wait_max = 1024;     ///< TIME_WAIT entries, 0..16777216
    double time_wait_s = 60;                ///< seconds, more than 0, at most 240
    std::uint32_t receive_buffer = 1U << 20;  ///< bytes per connection, 4096..1073741824
    std::uint32_t max_segments = 16384;     ///< held segment nodes per worker, 64..67108864
    std::uint16_t mtu = 1500;               ///< IP MTU, 1280..9000
    std::uint32_t tx_mbufs = 8191;          ///< per worker, 1023..1048575
    /// Test aid: the --listen application reads at most this many bytes per
    /// millisecond per worker (a slow application); 0 = as fast as it comes.
    std::uint32_t read_rate = 0;

    friend bool operator==(const EndpointSettings&, const EndpointSettings&) = default;
};

struct Settings {
    EalSettings eal;
    std::vector<PortSettings> ports{PortSettings{}};
    MempoolSettings mempool;
    RunSettings run;
    TcpSettings tcp;
    CaptureSettings capture;
    ExportSettings export_;  ///< [export] ("export" is a C++ keyword)
    EndpointSettings endpoint;

    friend bool operator==(const Settings&, const Settings&) = default;
};

/// Built-in defaults: replay the generated capture, the same as config/replay.ini.
[[nodiscard]] Settings defaults();

/// Reads an INI file with rte_cfgfile on top of defaults(). Rejects a missing or
/// unreadable file, malformed lines, unknown sections and keys, duplicate keys and
/// bad values, naming "file: [section] key: reason". Does not need the EAL.
[[nodiscard]] Result<Settings> load_file(const std::string& path);

/// One key of the INI schema, for programs that set keys by name (the Python
/// module's keyword arguments): its section ("port" stands for every [portN])
/// and its name. The tables load_file() reads with are the only list.
struct KeyInfo {
    std::string_view section;
    std::string_view key;
};

/// Every key load_file() accepts, section by section, in the tables' order.
[[nodiscard]] std::vector<KeyInfo> keys();

/// Sets one key on s as a `key = value` line of its section would (section
/// "port": on every port; a relative path is kept as given). A port's source
/// (pcap, vdev, pci) cannot be set this way. Does not validate() the whole;
/// errors: "[section] key: reason".
[[nodiscard]] Status apply_key(Settings& s, std::string_view section, std::string_view key,
                               std::string_view value);

/// Checks cross-field rules (at least one port, burst range, queue counts, TCP
/// stream limits within the worker's limits, streams_dir only with reassembly,
/// capture rotation/ring/snaplen only with write, [eal] lcores computed from
/// [run] workers when that is set...).
/// load_file() and parse_cli() call it on their result; errors name the setting
/// as "[section] key: reason".
[[nodiscard]] Status validate(const Settings& s);

/// Upper bound on [portN] sections / --pcap/--vdev/--pci ports (N = 0..31).
inline constexpr std::size_t max_ports = 32;

/// The EAL --lcores list for [run] workers = N: main lcore 0, then lcore 1 as the
/// software dispatcher when `dispatcher`, then N worker lcores, lcore i pinned
/// to CPU i % cpus ("lcore@cpu"). E.g. (2, true, 2) -> "0@0,1@1,2@0,3@1",
/// (2, false, 4) -> "0@0,1@1,2@2". cpus 0 counts as 1; workers 0 gives "".
[[nodiscard]] std::string worker_lcores(unsigned workers, bool dispatcher, unsigned cpus);

/// Whether worker_lcores() needs a dispatcher lcore for these settings:
/// [run] dispatch = yes; or auto with more than one worker and any pcap or vdev
/// port (they have a single rx queue, so the workers are fed by software
/// dispatch; PCI ports give each worker an RSS queue); never with dispatch = no
/// or workers = 0.
[[nodiscard]] bool needs_dispatcher(const Settings& s) noexcept;

/// CPUs online now (sysconf(_SC_NPROCESSORS_ONLN)), at least 1.
[[nodiscard]] unsigned online_cpus() noexcept;

/// The [eal] lcores that [run] workers asks for on this machine:
/// worker_lcores(s.run.workers, needs_dispatcher(s), online_cpus()).
[[nodiscard]] std::string computed_lcores(const Settings& s);

}  // namespace rxinto::config
