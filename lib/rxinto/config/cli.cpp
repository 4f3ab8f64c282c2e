// Command line of the rxinto appliance.
//
// One table (option_table) drives both parsing and --help, so an option cannot
// exist without being documented (rows without a name are group headings of
// --help). Parsing is two passes: the first splits argv into (option, value)
// pairs and filter words and catches unknown options and missing values; then
// --config is loaded wherever it stood, the other options are applied on top of
// it in the order given, and last the things that depend on all of them: the
// filter words, --rx-queues on every port and the lcore list of --workers.
#include "rxinto/config/cli.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "rxinto/config/values.hpp"

namespace rxinto::config {
namespace {

using values::quote;

/// What the options build up while they are applied.
struct CliState {
    CliOptions& out;
    bool ports_from_cli = false;                ///< the first --pcap/--vdev/--pci drops the file's ports
    std::optional<std::uint16_t> rx_queues;     ///< applied to every port at the end
    bool workers_given = false;                 ///< --workers: builds the lcore list at the end
    bool lcores_given = false;                  ///< --lcores: an lcore list of one's own
    bool filter_given = false;                  ///< --filter (conflicts with trailing filter words)
    bool addresses_from_cli = false;            ///< the first --address drops the file's addresses
    bool listen_from_cli = false;               ///< the first --listen drops the file's ports
};

struct OptionSpec {
    OptionInfo info;
    /// Applies the option; returns only the reason on failure (the caller
    /// prefixes "--name: "). Flags get an empty value. nullptr in a heading row:
    /// a row with an empty long_name whose help is a group title in --help.
    Status (*apply)(CliState& st, std::string_view value);
};

/// A --help group heading in option_table (not an option).
constexpr OptionSpec heading(std::string_view title) { return OptionSpec{{"", 0, "", title}, nullptr}; }

bool is_heading(const OptionSpec& o) { return o.info.long_name.empty(); }

template <class T, class U>
Status assign(T& field, Result<U> parsed) {
    if (!parsed) return std::move(parsed).error();
    field = std::move(parsed).value();
    return {};
}

Status add_port(CliState& st, PortKind kind, Result<std::string> source) {
    if (!source) return std::move(source).error();
    if (!st.ports_from_cli) {
        st.out.settings.ports.clear();
        st.ports_from_cli = true;
    }
    if (st.out.settings.ports.size() >= max_ports) {
        return make_error("too many ports (at most ", std::to_string(max_ports), ")");
    }
    PortSettings p;
    p.kind = kind;
    p.source = std::move(source).value();
    st.out.settings.ports.push_back(std::move(p));
    return {};
}

Status ok_flag(CliState&, std::string_view) { return {}; }

// The order here is the order in --help. Help text: one line, or two with '\n'.
const OptionSpec option_table[] = {
    {{"config", 0, "FILE", "read settings from an INI file (config/*.ini);\n"
                           "applied first wherever it stands, then the rest"},
     ok_flag},  // handled before the others, see parse_cli()
    {{"pcap", 0, "FILE", "replay a capture file, pcap or pcapng ('-': standard\n"
                         "input, pipes work too; 'generated': built-in one);\n"
                         "repeatable; --pcap/--vdev/--pci replace file ports"},
     [](CliState& st, std::string_view v) { return add_port(st, PortKind::pcap, values::parse_pcap(v)); }},
    {{"vdev", 0, "DEVARGS", "add a DPDK virtual device port, repeatable,\n"
                            "e.g. net_null0,size=64 or net_af_packet0,iface=eth0"},
     [](CliState& st, std::string_view v) { return add_port(st, PortKind::vdev, values::parse_vdev(v)); }},
    {{"pci", 0, "ADDR", "add a NIC bound to vfio-pci, repeatable:\n"
                        "0000:01:00.0 or 01:00.0"},
     [](CliState& st, std::string_view v) { return add_port(st, PortKind::pci, values::parse_pci_address(v)); }},
    {{"rx-queues", 0, "N", "rx queues on every port, 0..1024\n"
                       "(0: one per worker lcore, capped by the device)"},
     [](CliState& st, std::string_view v) {
         return assign(st.rx_queues, values::parse_uint_as<std::uint16_t>(v, values::rx_queues_range));
     }},
    {{"lcores", 0, "LIST", "EAL lcore list, e.g. 0-1 or 0,2,4\n"
                          "(the first is the main lcore, the rest rx workers)"},
     [](CliState& st, std::string_view v) {
         st.lcores_given = true;
         return assign(st.out.settings.eal.lcores, values::parse_lcores(v));
     }},
    {{"workers", 0, "N", "worker lcores, 0..64: builds the lcore list\n"
                         "(instead of --lcores; see Workers below)"},
     [](CliState& st, std::string_view v) {
         st.workers_given = true;
         return assign(st.out.settings.run.workers,
                       values::parse_uint_as<std::uint32_t>(v, values::workers_range));
     }},
    {{"dispatch", 0, "auto|yes|no", "software dispatch to the workers (auto: when\n"
                                    "the ports have fewer rx queues than workers)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.run.dispatch, values::parse_dispatch(v));
     }},
    {{"duration", 0, "SECONDS", "stop after this long (decimal; 0: at the end\n"
                                "of the replay, or on Ctrl-C)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.run.duration_s, values::parse_duration(v));
     }},
    {{"stats-json", 0, "FILE", "write the final summary as JSON to FILE"},
     [](CliState& st, std::string_view v) -> Status {
         st.out.settings.run.stats_json = std::string(values::trim(v));
         return {};
     }},
    heading("Capture, as tcpdump (short options also as -wFILE or -w=FILE):"),
    {{"write", 'w', "FILE", "write the packets to FILE as pcapng (with\n"
                            "rotation: the prefix of numbered files)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.capture.write, values::parse_output_file(v));
     }},
    {{"rotate-size", 'C', "MB", "next file after MB million bytes, 1..1048576\n"
                               "(as tcpdump -C: 1 MB = 1,000,000 bytes; 0: never)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.capture.rotate_mb, values::parse_uint(v, values::rotate_mb_range));
     }},
    {{"rotate-seconds", 'G', "SECONDS", "next file every SECONDS, 1..31536000 (0: never)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.capture.rotate_seconds,
                       values::parse_uint_as<std::uint32_t>(v, values::rotate_seconds_range));
     }},
    {{"ring-files", 'W', "N", "keep the last N files only, 1..100000 (0: all);\n"
                             "needs -C or -G"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.capture.ring_files,
                       values::parse_uint_as<std::uint32_t>(v, values::ring_files_range));
     }},
    {{"snaplen", 's', "BYTES", "bytes written of each frame, 64..262144\n"
                              "(0, the default: all, as tcpdump -s 0)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.capture.snaplen, values::parse_snaplen(v));
     }},
    {{"filter", 0, "EXPR", "capture filter in libpcap syntax, e.g.\n"
                           "'tcp port 443' (or give it after the options)"},
     [](CliState& st, std::string_view v) {
         st.filter_given = true;
         return assign(st.out.settings.capture.filter, values::parse_filter(v));
     }},
    {{"filter-before-reassembly", 0, "", "apply the filter before TCP reassembly too\n"
                                         "(else reassembly sees every packet)"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.capture.filter_before_reassembly = true;
         return {};
     }},
    heading("TCP reassembly:"),
    {{"streams-dir", 0, "DIR", "write reassembled TCP streams: a file per\n"
                               "direction, plus DIR/index.jsonl describing them"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.tcp.streams_dir, values::parse_output_dir(v));
     }},
    {{"streams-dir-overwrite", 0, "", "replace an earlier run's output in --streams-dir\n"
                                      "(else the directory must be new or empty)"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.tcp.streams_dir_overwrite = true;
         return {};
     }},
    {{"gap-grace", 0, "N|Nms|auto", "how long an ACK-proven hole waits for its bytes\n"
                                   "(packets, or ms; auto: a replay waits to the end)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.tcp.gap_grace, values::parse_gap_grace(v));
     }},
    {{"no-tcp", 0, "", "count packets only, no TCP reassembly"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.tcp.enabled = false;
         return {};
     }},
    {{"overlap", 0, "first|last", "which copy of overlapping TCP bytes wins\n"
                                  "(default: first)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.tcp.overlap, values::parse_overlap(v));
     }},
    {{"checksum", 0, "auto|verify|ignore", "TCP/IPv4 checksums: verify (drop bad ones),\n"
                                           "ignore, or auto (default: verify, allow tx offload)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.tcp.checksum, values::parse_tcp_checksum(v));
     }},
    {{"no-midstream", 0, "", "drop connections seen without their handshake"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.tcp.midstream = false;
         return {};
     }},
    {{"max-flows", 0, "N", "TCP connections tracked per worker,\n"
                           "8..16777216 (default 65536)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.tcp.max_flows,
                       values::parse_uint_as<std::uint32_t>(v, values::max_flows_range));
     }},
    heading("Fleet export to NATS JetStream (rxinto-index, rxinto-query):"),
    {{"export", 0, "URLS", "publish a record per connection direction when it\n"
                           "opens and ends: nats://H:P[,nats://H:P...]"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.export_.urls, values::parse_nats_urls(v));
     }},
    {{"node", 0, "NAME", "this sensor's name in the records and subjects\n"
                         "([A-Za-z0-9_-]; default: the host name)"},
     [](CliState& st, std::string_view v) { return assign(st.out.settings.export_.node, values::parse_node_name(v)); }},
    {{"export-streams", 0, "", "also publish the stream bytes as chunks\n"
                               "(rxinto.<node>.data.<conn>.<dir>)"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.export_.streams = true;
         return {};
     }},
    {{"export-spool", 0, "DIR", "keep what cannot be sent in DIR, sent later\n"
                                "(default: none, it is dropped and counted)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.export_.spool_dir, values::parse_output_dir(v));
     }},
    {{"export-spool-mb", 0, "MB", "the spool's budget on disk, MiB, 1..1048576"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.export_.spool_mb, values::parse_uint(v, values::spool_mb_range));
     }},
    {{"export-wait", 0, "SECONDS", "at the end, wait at most this long for the\n"
                                   "server's acknowledgements, 0..3600 (default 10)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.export_.wait_s, values::parse_export_wait(v));
     }},
    {{"export-replicas", 0, "N", "replicas of the stream rxinto creates, 1..5\n"
                                 "(0, default: 3 on a cluster of 3 or more, else 1)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.export_.replicas,
                       values::parse_uint_as<std::uint32_t>(v, values::export_replicas_range));
     }},
    heading("Endpoint (rxinto terminates TCP):"),
    {{"address", 0, "ADDR/PREFIX", "an address rxinto owns on its ports (IPv4 or IPv6):\n"
                                   "answers ARP/ND and ping, RSTs other TCP; repeatable"},
     [](CliState& st, std::string_view v) -> Status {
         auto a = values::parse_address(v);
         if (!a) return std::move(a).error();
         if (!st.addresses_from_cli) st.out.settings.endpoint.addresses.clear();
         st.addresses_from_cli = true;
         st.out.settings.endpoint.addresses.push_back(std::move(a).value());
         return {};
     }},
    {{"listen", 0, "PORT", "accept TCP connections on PORT of those addresses;\n"
                           "with --streams-dir, what clients send goes to files;\n"
                           "repeatable"},
     [](CliState& st, std::string_view v) -> Status {
         auto p = values::parse_uint_as<std::uint16_t>(v, values::tcp_port_range);
         if (!p) return std::move(p).error();
         if (!st.listen_from_cli) st.out.settings.endpoint.listen.clear();
         st.listen_from_cli = true;
         st.out.settings.endpoint.listen.push_back(p.value());
         return {};
     }},
    {{"read-rate", 0, "N", "test aid: the --listen application reads at most N\n"
                           "bytes per millisecond (a slow reader; 0: no limit)"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.endpoint.read_rate,
                       values::parse_uint_as<std::uint32_t>(v, values::read_rate_range));
     }},
    heading("DPDK and memory:"),
    {{"burst", 0, "N", "rx burst size, 1..512"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.run.burst, values::parse_uint_as<std::uint16_t>(v, values::burst_range));
     }},
    {{"mbufs", 0, "N", "mbufs in the packet pool, 1023..16777215\n"
                       "(0: sized from ports, queues and bursts)"},
     [](CliState& st, std::string_view v) { return assign(st.out.settings.mempool.mbufs, values::parse_mbufs(v)); }},
    {{"memory", 0, "MB", "memory EAL reserves, in MiB, 16..1048576"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.eal.memory_mb,
                       values::parse_uint_as<std::uint32_t>(v, values::memory_mb_range));
     }},
    {{"hugepages", 0, "auto|yes|no", "auto: use free ones, else --no-huge; yes; no"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.eal.hugepages, values::parse_tristate(v));
     }},
    {{"no-huge", 0, "", "run without hugepages (= --hugepages no)"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.eal.hugepages = Tristate::off;
         return {};
     }},
    {{"file-prefix", 0, "P", "EAL --file-prefix: several DPDK processes at once"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.eal.file_prefix, values::parse_file_prefix(v));
     }},
    {{"in-memory", 0, "", "EAL --in-memory: no shared runtime files"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.eal.in_memory = true;
         return {};
     }},
    {{"log-level", 0, "L", "DPDK's log level: emergency, alert, critical,\n"
                       "error, warning, notice (default), info, debug, 1..8"},
     [](CliState& st, std::string_view v) {
         return assign(st.out.settings.eal.log_level, values::parse_log_level(v));
     }},
    {{"eal", 0, "ARG", "pass ARG to EAL verbatim, after rxinto's own;\n"
                       "repeatable (e.g. --eal --huge-unlink)"},
     [](CliState& st, std::string_view v) -> Status {
         if (v.empty()) return make_error("empty argument");
         st.out.settings.eal.extra_args.emplace_back(v);
         return {};
     }},
    heading("Other:"),
    {{"no-progress", 0, "", "no progress line on stderr"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.run.progress = false;
         return {};
     }},
    {{"quiet", 'q', "", "same as --no-progress"},
     [](CliState& st, std::string_view) -> Status {
         st.out.settings.run.progress = false;
         return {};
     }},
    {{"help", 'h', "", "show this help and exit"},
     [](CliState& st, std::string_view) -> Status {
         st.out.help = true;
         return {};
     }},
    {{"version", 'V', "", "show the version and exit"},
     [](CliState& st, std::string_view) -> Status {
         st.out.version = true;
         return {};
     }},
};

const OptionSpec* find_long(std::string_view name) {
    for (const OptionSpec& o : option_table) {
        if (!is_heading(o) && o.info.long_name == name) return &o;
    }
    return nullptr;
}

const OptionSpec* find_short(char c) {
    for (const OptionSpec& o : option_table) {
        if (o.info.short_name != 0 && o.info.short_name == c) return &o;
    }
    return nullptr;
}

std::string display_name(const OptionSpec& o) { return "--" + std::string(o.info.long_name); }

struct Token {
    const OptionSpec* spec;
    std::string value;
    std::string shown;  ///< the option as given ("-w" or "--write"), for messages
};

struct Tokens {
    std::vector<Token> options;
    std::vector<std::string> words;  ///< everything that is not an option: the filter expression
};

/// "--opt value" / "-o value": the value is the next argument. A following
/// "--x" is almost always a forgotten value, not a value; --eal is the
/// exception (its values are EAL options), and --opt=--x still works for the
/// others.
Status take_next(const OptionSpec& spec, const std::string& shown, int& i, int argc, const char* const* argv,
                 std::vector<Token>& tokens) {
    const bool has_next = i + 1 < argc && argv[i + 1] != nullptr;
    const std::string_view next = has_next ? std::string_view(argv[i + 1]) : std::string_view();
    if (!has_next || (spec.info.long_name != "eal" && next.substr(0, 2) == "--" && next.size() > 2)) {
        return make_error(shown, ": missing value (", spec.info.metavar, ")");
    }
    tokens.push_back(Token{&spec, std::string(next), shown});
    ++i;
    return {};
}

/// First pass: argv -> options and filter words. Catches every syntax error
/// before any file is read. Words that are not options may stand anywhere (as
/// tcpdump's on Linux, where getopt permutes argv); after "--" everything is a
/// filter word, also words that start with '-'.
Result<Tokens> tokenize(int argc, const char* const* argv) {
    Tokens out;
    std::vector<Token>& tokens = out.options;
    bool options_ended = false;
    for (int i = 1; i < argc && argv != nullptr && argv[i] != nullptr; ++i) {
        const std::string_view arg = argv[i];
        if (options_ended) {
            out.words.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_ended = true;
            continue;
        }
        if (arg.size() >= 2 && arg.substr(0, 2) == "--") {
            const std::size_t eq = arg.find('=');
            const std::string_view name = arg.substr(2, eq == std::string_view::npos ? std::string_view::npos : eq - 2);
            const OptionSpec* spec = find_long(name);
            if (spec == nullptr) {
                return make_error("unknown option ", quote(std::string("--").append(name)));
            }
            const std::string shown = display_name(*spec);
            if (spec->info.metavar.empty()) {
                if (eq != std::string_view::npos) return make_error(shown, ": takes no value");
                tokens.push_back(Token{spec, {}, shown});
                continue;
            }
            if (eq != std::string_view::npos) {
                tokens.push_back(Token{spec, std::string(arg.substr(eq + 1)), shown});
                continue;
            }
            Status st = take_next(*spec, shown, i, argc, argv, tokens);
            if (!st) return std::move(st).error();
            continue;
        }
        if (arg.size() >= 2 && arg[0] == '-') {
            const OptionSpec* spec = find_short(arg[1]);
            if (spec == nullptr || (spec->info.metavar.empty() && arg.size() > 2)) {
                if (arg.size() == 2) return make_error("unknown option ", quote(arg));
                return make_error("unknown option ", quote(arg), " (long options take two dashes)");
            }
            const std::string shown(arg.substr(0, 2));
            if (spec->info.metavar.empty()) {
                tokens.push_back(Token{spec, {}, shown});
                continue;
            }
            if (arg.size() > 2) {
                // "-wFILE" (as getopt) or "-w=FILE".
                std::string_view value = arg.substr(2);
                if (value.front() == '=') value.remove_prefix(1);
                tokens.push_back(Token{spec, std::string(value), shown});
                continue;
            }
            Status st = take_next(*spec, shown, i, argc, argv, tokens);
            if (!st) return std::move(st).error();
            continue;
        }
        // Not an option (also a lone "-"): a word of the filter expression.
        out.words.emplace_back(arg);
    }
    return out;
}

}  // namespace

Result<CliOptions> parse_cli(int argc, const char* const* argv) {
    auto tokenized = tokenize(argc, argv);
    if (!tokenized) return std::move(tokenized).error();
    const std::vector<Token>& tokens = tokenized.value().options;
    const std::vector<std::string>& words = tokenized.value().words;

    CliOptions out;
    out.settings = defaults();
    CliState st{out, false, std::nullopt, false, false, false, false, false};

    // --help and --version answer at once, whatever else is on the line.
    for (const Token& t : tokens) {
        if (t.spec->info.long_name == "help" || t.spec->info.long_name == "version") {
            Status s = t.spec->apply(st, t.value);
            (void)s;
        }
    }
    if (out.help || out.version) return out;

    // --config first, wherever it stands, so that the others override it.
    const OptionSpec* config_spec = find_long("config");
    for (const Token& t : tokens) {
        if (t.spec != config_spec) continue;
        if (!out.config_path.empty()) return make_error("--config: given more than once");
        if (values::trim(t.value).empty()) return make_error("--config: empty file name");
        out.config_path = t.value;
    }
    if (!out.config_path.empty()) {
        auto loaded = load_file(out.config_path);
        if (!loaded) return std::move(loaded).error();
        out.settings = std::move(loaded).value();
    }

    const std::uint32_t file_workers = out.settings.run.workers;

    for (const Token& t : tokens) {
        if (t.spec == config_spec) continue;
        Status s = t.spec->apply(st, t.value);
        if (!s) return make_error(t.shown, ": ", s.error().message);
    }
    Settings& settings = out.settings;

    // The words that are not options: the filter expression, joined with
    // spaces, as tcpdump does.
    if (!words.empty()) {
        std::string joined;
        for (const std::string& w : words) {
            if (!joined.empty()) joined += ' ';
            joined += w;
        }
        if (st.filter_given) {
            return make_error("--filter: given together with a filter expression after the options (",
                              quote(joined), "): use one or the other");
        }
        auto filter = values::parse_filter(joined);
        if (!filter) return make_error("filter expression: ", filter.error().message);
        settings.capture.filter = std::move(filter).value();
    }

    // --rx-queues covers every port, including ones given after it.
    if (st.rx_queues) {
        for (PortSettings& p : settings.ports) p.rx_queues = *st.rx_queues;
    }

    // --workers builds the lcore list once every port (and --dispatch) is
    // known. The command line overrides the file either way: --lcores drops the
    // file's workers, --workers the file's lcores; the two together contradict.
    if (st.workers_given && st.lcores_given) {
        return make_error("--workers: cannot be used with --lcores (--workers N builds the lcore list itself: "
                          "use one or the other)");
    }
    if (st.lcores_given) {
        settings.run.workers = 0;
    } else if (st.workers_given && settings.run.workers == 0 && file_workers != 0) {
        // The file's lcores were built from its workers: back to the default list.
        settings.eal.lcores = EalSettings{}.lcores;
    }
    if (settings.run.workers != 0) settings.eal.lcores = computed_lcores(settings);

    Status valid = validate(out.settings);
    if (!valid) {
        return make_error("settings: ", valid.error().message,
                          out.config_path.empty() ? "" : " (after applying options to " + out.config_path + ")");
    }
    return out;
}

std::vector<OptionInfo> options() {
    std::vector<OptionInfo> v;
    for (const OptionSpec& o : option_table) {
        if (!is_heading(o)) v.push_back(o.info);
    }
    return v;
}

std::string usage() {
    std::string s =
        "Usage: rxinto [OPTIONS] [FILTER EXPRESSION]\n"
        "\n"
        "Receive packets with DPDK (kernel bypass): ports, queues and worker lcores as\n"
        "configured. TCP streams are reassembled (--no-tcp: count packets only) and,\n"
        "with --streams-dir, written out. With -w, packets are written as pcapng.\n"
        "Per-port statistics at the end.\n"
        "\n"
        "As with tcpdump, the words that are not options (anywhere; after '--' also\n"
        "words starting with '-') are joined with spaces into the capture filter, in\n"
        "libpcap syntax:  rxinto --pci 01:00.0 -w /data/cap.pcapng tcp port 443\n"
        "\n"
        "Settings come from the built-in defaults, then --config FILE, then the other\n"
        "options in the order given. With no --config, --pcap, --vdev or --pci, rxinto\n"
        "replays a generated capture: the built-in default, the same as\n"
        "config/replay.ini.\n"
        "\n"
        "Options (values as --opt VALUE or --opt=VALUE; -o VALUE, -oVALUE or -o=VALUE):\n";
    constexpr std::size_t help_column = 28;
    for (const OptionSpec& o : option_table) {
        if (is_heading(o)) {
            s += "\n";
            s += o.info.help;
            s += '\n';
            continue;
        }
        std::string left = "  ";
        if (o.info.short_name != 0) {
            left += '-';
            left += o.info.short_name;
            left += ", ";
        } else {
            left += "    ";
        }
        left += "--";
        left += o.info.long_name;
        if (!o.info.metavar.empty()) {
            left += ' ';
            left += o.info.metavar;
        }
        const std::string indent(help_column, ' ');
        if (left.size() + 1 > help_column) {
            s += left + "\n" + indent;
        } else {
            s += left + std::string(help_column - left.size(), ' ');
        }
        for (char c : o.info.help) {
            s += c;
            if (c == '\n') s += indent;
        }
        s += '\n';
    }
    s +=
        "\n"
        "Workers: --workers N pins main lcore 0, a dispatcher lcore when the workers\n"
        "need software dispatch (more than one worker and a pcap or vdev port, or\n"
        "--dispatch yes) and N workers round-robin onto the online CPUs (EAL --lcores\n"
        "lcore@cpu); with PCI ports the workers poll RSS queues.\n"
        "\n"
        "Hugepages: with --hugepages auto (the default), if no free hugepages exist\n"
        "rxinto falls back to --no-huge by itself and says so once on stderr.\n"
        "\n"
        "Exit status: 0 success; 2 bad usage or configuration; 1 runtime failure\n"
        "(EAL, ports, files).\n";
    return s;
}

}  // namespace rxinto::config
