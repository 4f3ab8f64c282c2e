// INI files -> Settings, through DPDK's rte_cfgfile.
//
// Reading happens in three steps:
//  1. read the whole file into memory (regular files only, bounded size);
//  2. prescan it line by line. rte_cfgfile only says "NULL" when it fails (and
//     logs the line to DPDK's log, which may not be on), and it silently skips
//     or truncates some things a person would want to hear about: lines with
//     neither '[' nor '=', text after ']', keys and values longer than its
//     fixed buffers, and duplicate sections/keys (it keeps both; lookups by name
//     see only the first). The prescan mirrors rte_cfgfile's line grammar and
//     reports "file:LINE: reason" for each of those, and remembers the line of
//     every section and key so later messages can point at it too;
//  3. hand the exact bytes that were prescanned to rte_cfgfile (via a memfd, so
//     the file cannot change in between, and with full-line '#' comments
//     blanked: rte_cfgfile takes only one comment character and we use ';'),
//     then walk its sections and entries and map them onto Settings.
// rte_cfgfile needs no EAL: it is plain C over stdio.
#include "rxinto/config/settings.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cfgfile.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "rxinto/config/values.hpp"

namespace rxinto::config {
namespace {

using values::quote;
using values::trim;

// rte_cfgfile reads lines with fgets into CFG_NAME_LEN + CFG_VALUE_LEN + 4
// bytes and fails on longer ones; keep a little margin under that.
constexpr std::size_t max_line_length = CFG_NAME_LEN + CFG_VALUE_LEN - 1;
constexpr std::size_t max_name_length = CFG_NAME_LEN - 1;    // strlcpy truncates beyond
constexpr std::size_t max_value_length = CFG_VALUE_LEN - 1;  // strlcpy truncates beyond
constexpr std::size_t max_file_size = 1U << 20;              // a config is a few KiB
constexpr char comment_char = ';';

// ---------------------------------------------------------------- messages

/// A double as a person writes it ("2.5", not "2.500000").
std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

/// "file:LINE: [section] key: reason"; LINE, section and key are optional.
Error file_error(const std::string& path, int line, std::string_view section, std::string_view key,
                 std::string_view reason) {
    std::string s = path;
    if (line > 0) s += ":" + std::to_string(line);
    s += ": ";
    if (!section.empty()) {
        s += "[";
        s += section;
        s += "]";
        if (!key.empty()) {
            s += " ";
            s += key;
        }
        s += ": ";
    }
    s += reason;
    return Error{std::move(s)};
}

// ---------------------------------------------------------------- reading

Result<std::string> read_whole_file(const std::string& path) {
    // O_NONBLOCK|O_NOCTTY: opening a FIFO without a writer or a terminal must
    // not hang or take a controlling tty; the type check below sorts them out.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        const int err = errno;
        return file_error(path, 0, "", "", std::string("cannot open: ") + std::strerror(err) +
                                               (err == ENOENT ? " (check the path; relative paths "
                                                                "are relative to the working directory)"
                                                              : ""));
    }
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};

    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return file_error(path, 0, "", "", std::string("cannot stat: ") + std::strerror(errno));
    }
    // Pipes are fine (rxinto --config <(sed ... config/pci.ini)): once a
    // writer exists, block for its data as usual. Devices are refused.
    if (S_ISFIFO(st.st_mode)) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    } else if (!S_ISREG(st.st_mode)) {
        return file_error(path, 0, "", "", "not a regular file or a pipe");
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_file_size) {
        return file_error(path, 0, "", "", "file is too large for a config file (at most 1 MiB)");
    }
    std::string bytes;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return file_error(path, 0, "", "", std::string("cannot read: ") + std::strerror(errno));
        }
        if (n == 0) break;
        bytes.append(buf, static_cast<std::size_t>(n));
        // The size may have grown since fstat (or /proc-like files report 0).
        if (bytes.size() > max_file_size) {
            return file_error(path, 0, "", "", "file is too large for a config file (at most 1 MiB)");
        }
    }
    return bytes;
}

// ---------------------------------------------------------------- prescan

struct EntryInfo {
    std::string key;
    int line;
};

struct SectionInfo {
    std::string name;
    int line;
    std::vector<EntryInfo> entries;
};

struct Prescanned {
    std::string text;  ///< what rte_cfgfile gets: the file with '#' lines blanked
    std::vector<SectionInfo> sections;
};

Result<Prescanned> prescan(const std::string& path, std::string_view bytes) {
    Prescanned out;
    out.text.reserve(bytes.size());
    // A UTF-8 byte order mark (some editors write one) would make the first line
    // unparseable; drop it.
    if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);

    int line_no = 0;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        const std::size_t nl = bytes.find('\n', pos);
        const std::size_t end = nl == std::string_view::npos ? bytes.size() : nl;
        const std::string_view raw = bytes.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        const auto fail = [&](std::string_view reason) {
            return file_error(path, line_no, "", "", reason);
        };

        // Full-line '#' comments: blank them for rte_cfgfile (keeping the line
        // count), whatever they contain.
        const std::string_view lead = values::trim(raw);
        if (!lead.empty() && lead.front() == '#') {
            out.text += '\n';
            continue;
        }
        for (std::size_t i = 0; i < raw.size(); ++i) {
            const auto u = static_cast<unsigned char>(raw[i]);
            const bool trailing_cr = raw[i] == '\r' && i + 1 == raw.size();
            if ((u < 0x20 && raw[i] != '\t' && !trailing_cr) || u == 0x7f) {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(u));
                return fail(std::string("control character ") + hex + " in line (a config file is text)");
            }
        }
        if (raw.size() > max_line_length) {
            return fail("line is too long (rte_cfgfile reads at most " + std::to_string(max_line_length) +
                        " characters per line)");
        }
        out.text.append(raw);
        out.text += '\n';

        // Mirror rte_cfgfile: the first ';' starts a comment unless it is
        // escaped as "\;" (then the line has no comment at all).
        std::string_view content = raw;
        const std::size_t semi = content.find(comment_char);
        if (semi != std::string_view::npos && (semi == 0 || content[semi - 1] != '\\')) {
            content = content.substr(0, semi);
        }
        content = values::trim(content);
        if (content.empty()) continue;

        if (content.front() == '[') {
            const std::size_t close = content.find(']');
            if (close == std::string_view::npos) {
                return fail("missing ']' in section header " + quote(content));
            }
            if (close + 1 != content.size()) {
                return fail("unexpected text after ']' in section header " + quote(content) +
                            " (put comments after ';')");
            }
            const std::string_view name = values::trim(content.substr(1, close - 1));
            if (name.empty()) return fail("empty section name '[]'");
            if (name.size() > max_name_length) {
                return fail("section name " + quote(name) + " is too long (at most " +
                            std::to_string(max_name_length) + " characters)");
            }
            for (const SectionInfo& s : out.sections) {
                if (s.name == name) {
                    return file_error(path, line_no, name, "",
                                      "duplicate section (first on line " + std::to_string(s.line) +
                                          "; merge the two)");
                }
            }
            out.sections.push_back(SectionInfo{std::string(name), line_no, {}});
            continue;
        }

        const std::size_t eq = content.find('=');
        if (eq == std::string_view::npos) {
            // rte_cfgfile would skip this line without a word.
            return fail("expected '[section]' or 'key = value', got " + quote(content));
        }
        const std::string_view key = values::trim(content.substr(0, eq));
        const std::string_view value = values::trim(content.substr(eq + 1));
        if (key.empty()) return fail("missing key before '=' in " + quote(content));
        if (out.sections.empty()) {
            return fail("key " + quote(key) + " is outside any section (add a [section] line above it)");
        }
        SectionInfo& section = out.sections.back();
        if (key.size() > max_name_length) {
            return file_error(path, line_no, section.name, "",
                              "key " + quote(key) + " is too long (at most " + std::to_string(max_name_length) +
                                  " characters)");
        }
        // rte_cfgfile turns "\;" into ';' in values before storing them.
        std::size_t value_length = value.size();
        for (std::size_t i = 0; i + 1 < value.size(); ++i) {
            if (value[i] == '\\' && value[i + 1] == comment_char) --value_length;
        }
        if (value_length > max_value_length) {
            return file_error(path, line_no, section.name, key,
                              "value is too long (at most " + std::to_string(max_value_length) + " characters)");
        }
        for (const EntryInfo& e : section.entries) {
            if (e.key == key) {
                return file_error(path, line_no, section.name, key,
                                  "duplicate key (first set on line " + std::to_string(e.line) +
                                      "; keep one of them)");
            }
        }
        section.entries.push_back(EntryInfo{std::string(key), line_no});
    }
    return out;
}

// ---------------------------------------------------------------- rte_cfgfile

struct CfgfileCloser {
    void operator()(rte_cfgfile* cfg) const noexcept { rte_cfgfile_close(cfg); }
};
using CfgfilePtr = std::unique_ptr<rte_cfgfile, CfgfileCloser>;

struct Entry {
    std::string key;
    std::string value;
    int line;  ///< 0 when unknown
};

struct Section {
    std::string name;
    int line;
    std::vector<Entry> entries;
};

Result<std::vector<Section>> load_with_cfgfile(const std::string& path, const Prescanned& pre) {
    // rte_cfgfile only opens files by name; a memfd gives it the prescanned
    // bytes without a temporary file on disk.
    const int fd = ::memfd_create("rxinto-config", MFD_CLOEXEC);
    if (fd < 0) return file_error(path, 0, "", "", std::string("memfd_create: ") + std::strerror(errno));
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    std::size_t written = 0;
    while (written < pre.text.size()) {
        const ssize_t n = ::write(fd, pre.text.data() + written, pre.text.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            return file_error(path, 0, "", "", std::string("memfd write: ") + std::strerror(errno));
        }
        written += static_cast<std::size_t>(n);
    }
    const std::string fd_path = "/proc/self/fd/" + std::to_string(fd);

    rte_cfgfile_parameters params{};
    params.comment_character = comment_char;
    // Empty values are checked per key (stats_json and eal_args may be empty).
    const CfgfilePtr cfg(rte_cfgfile_load_with_params(fd_path.c_str(), CFG_FLAG_EMPTY_VALUES, &params));
    if (!cfg) {
        return file_error(path, 0, "", "", "rte_cfgfile could not parse the file (and the prescan found no "
                                           "error: please report this)");
    }

    const int num_sections = rte_cfgfile_num_sections(cfg.get(), nullptr, 0);
    // Line numbers come from the prescan when it agrees with rte_cfgfile
    // section by section and key by key (it always should).
    const bool lines_match = num_sections >= 0 && static_cast<std::size_t>(num_sections) == pre.sections.size();
    std::vector<Section> out;
    for (int i = 0; i < num_sections; ++i) {
        char name[CFG_NAME_LEN] = {};
        const int num_entries = rte_cfgfile_section_num_entries_by_index(cfg.get(), name, i);
        if (num_entries < 0) return file_error(path, 0, "", "", "rte_cfgfile: cannot read section");
        std::vector<rte_cfgfile_entry> entries(static_cast<std::size_t>(num_entries));
        const int got = rte_cfgfile_section_entries_by_index(cfg.get(), i, name, entries.data(), num_entries);
        if (got != num_entries) return file_error(path, 0, name, "", "rte_cfgfile: cannot read entries");

        const SectionInfo* info = lines_match ? &pre.sections[static_cast<std::size_t>(i)] : nullptr;
        if (info != nullptr && (info->name != name || info->entries.size() != entries.size())) info = nullptr;
        Section section{name, info != nullptr ? info->line : 0, {}};
        for (std::size_t j = 0; j < entries.size(); ++j) {
            int line = 0;
            if (info != nullptr && info->entries[j].key == entries[j].name) line = info->entries[j].line;
            section.entries.push_back(Entry{entries[j].name, entries[j].value, line});
        }
        out.push_back(std::move(section));
    }
    return out;
}

// ---------------------------------------------------------------- schema

/// A key of a section: its name and how it sets the target. apply() returns
/// only the reason on failure; the caller adds file, line, section and key.
template <class Target>
struct KeySpec {
    std::string_view key;
    Status (*apply)(Target& target, std::string_view value);
};

/// Assigns a parsed value or passes the parser's reason on.
template <class T, class U>
Status assign(T& field, Result<U> parsed) {
    if (!parsed) return std::move(parsed).error();
    field = std::move(parsed).value();
    return {};
}

constexpr KeySpec<EalSettings> eal_keys[] = {
    {"lcores", [](EalSettings& e, std::string_view v) { return assign(e.lcores, values::parse_lcores(v)); }},
    {"hugepages",
     [](EalSettings& e, std::string_view v) { return assign(e.hugepages, values::parse_tristate(v)); }},
    {"memory_mb",
     [](EalSettings& e, std::string_view v) {
         return assign(e.memory_mb, values::parse_uint_as<std::uint32_t>(v, values::memory_mb_range));
     }},
    {"file_prefix",
     [](EalSettings& e, std::string_view v) { return assign(e.file_prefix, values::parse_file_prefix(v)); }},
    {"in_memory", [](EalSettings& e, std::string_view v) { return assign(e.in_memory, values::parse_bool(v)); }},
    {"log_level",
     [](EalSettings& e, std::string_view v) { return assign(e.log_level, values::parse_log_level(v)); }},
    {"eal_args",
     [](EalSettings& e, std::string_view v) -> Status {
         e.extra_args = values::split_args(v);
         return {};
     }},
};

constexpr KeySpec<MempoolSettings> mempool_keys[] = {
    {"mbufs", [](MempoolSettings& m, std::string_view v) { return assign(m.mbufs, values::parse_mbufs(v)); }},
    {"cache",
     [](MempoolSettings& m, std::string_view v) {
         return assign(m.cache, values::parse_uint_as<std::uint32_t>(v, values::cache_range));
     }},
    {"data_room",
     [](MempoolSettings& m, std::string_view v) {
         return assign(m.data_room, values::parse_uint_as<std::uint16_t>(v, values::data_room_range));
     }},
    {"reassembly_held",
     [](MempoolSettings& m, std::string_view v) {
         return assign(m.reassembly_held, values::parse_uint_as<std::uint32_t>(v, values::reassembly_held_range));
     }},
};

constexpr KeySpec<RunSettings> run_keys[] = {
    {"burst",
     [](RunSettings& r, std::string_view v) {
         return assign(r.burst, values::parse_uint_as<std::uint16_t>(v, values::burst_range));
     }},
    {"duration", [](RunSettings& r, std::string_view v) { return assign(r.duration_s, values::parse_duration(v)); }},
    {"progress", [](RunSettings& r, std::string_view v) { return assign(r.progress, values::parse_bool(v)); }},
    {"stats_json",
     [](RunSettings& r, std::string_view v) -> Status {
         r.stats_json = std::string(trim(v));
         return {};
     }},
    {"dispatch", [](RunSettings& r, std::string_view v) { return assign(r.dispatch, values::parse_dispatch(v)); }},
    {"workers",
     [](RunSettings& r, std::string_view v) {
         return assign(r.workers, values::parse_uint_as<std::uint32_t>(v, values::workers_range));
     }},
};

constexpr KeySpec<CaptureSettings> capture_keys[] = {
    {"write", [](CaptureSettings& c, std::string_view v) { return assign(c.write, values::parse_output_file(v)); }},
    {"rotate_mb",
     [](CaptureSettings& c, std::string_view v) {
         return assign(c.rotate_mb, values::parse_uint(v, values::rotate_mb_range));
     }},
    {"rotate_seconds",
     [](CaptureSettings& c, std::string_view v) {
         return assign(c.rotate_seconds, values::parse_uint_as<std::uint32_t>(v, values::rotate_seconds_range));
     }},
    {"ring_files",
     [](CaptureSettings& c, std::string_view v) {
         return assign(c.ring_files, values::parse_uint_as<std::uint32_t>(v, values::ring_files_range));
     }},
    {"snaplen", [](CaptureSettings& c, std::string_view v) { return assign(c.snaplen, values::parse_snaplen(v)); }},
    {"filter", [](CaptureSettings& c, std::string_view v) { return assign(c.filter, values::parse_filter(v)); }},
    {"filter_before_reassembly",
     [](CaptureSettings& c, std::string_view v) { return assign(c.filter_before_reassembly, values::parse_bool(v)); }},
};

constexpr KeySpec<TcpSettings> tcp_keys[] = {
    {"enabled", [](TcpSettings& t, std::string_view v) { return assign(t.enabled, values::parse_bool(v)); }},
    {"streams_dir",
     [](TcpSettings& t, std::string_view v) { return assign(t.streams_dir, values::parse_output_dir(v)); }},
    {"streams_dir_overwrite",
     [](TcpSettings& t, std::string_view v) { return assign(t.streams_dir_overwrite, values::parse_bool(v)); }},
    {"streams_max_open",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.streams_max_open, values::parse_uint_as<std::uint32_t>(v, values::streams_max_open_range));
     }},
    {"gap_grace", [](TcpSettings& t, std::string_view v) { return assign(t.gap_grace, values::parse_gap_grace(v)); }},
    {"overlap", [](TcpSettings& t, std::string_view v) { return assign(t.overlap, values::parse_overlap(v)); }},
    {"checksum",
     [](TcpSettings& t, std::string_view v) { return assign(t.checksum, values::parse_tcp_checksum(v)); }},
    {"midstream", [](TcpSettings& t, std::string_view v) { return assign(t.midstream, values::parse_bool(v)); }},
    {"max_flows",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.max_flows, values::parse_uint_as<std::uint32_t>(v, values::max_flows_range));
     }},
    {"max_segments",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.max_segments, values::parse_uint_as<std::uint32_t>(v, values::max_segments_range));
     }},
    {"stream_max_segments",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.stream_max_segments,
                       values::parse_uint_as<std::uint32_t>(v, values::stream_max_segments_range));
     }},
    {"stream_max_bytes",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.stream_max_bytes, values::parse_uint(v, values::stream_max_bytes_range));
     }},
    {"stream_max_ooo_bytes",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.stream_max_ooo_bytes, values::parse_uint(v, values::stream_max_ooo_bytes_range));
     }},
    {"timeout_syn",
     [](TcpSettings& t, std::string_view v) { return assign(t.timeout_syn_s, values::parse_tcp_timeout(v)); }},
    {"timeout_established",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.timeout_established_s, values::parse_tcp_timeout(v));
     }},
    {"timeout_closing",
     [](TcpSettings& t, std::string_view v) { return assign(t.timeout_closing_s, values::parse_tcp_timeout(v)); }},
    {"timeout_closed",
     [](TcpSettings& t, std::string_view v) { return assign(t.timeout_closed_s, values::parse_tcp_timeout(v)); }},
    {"ip_reassembly",
     [](TcpSettings& t, std::string_view v) { return assign(t.ip_reassembly, values::parse_bool(v)); }},
    {"mempool_low_water",
     [](TcpSettings& t, std::string_view v) {
         return assign(t.mempool_low_water,
                       values::parse_uint_as<std::uint32_t>(v, values::mempool_low_water_range));
     }},
};

constexpr KeySpec<ExportSettings> export_keys[] = {
    {"urls", [](ExportSettings& e, std::string_view v) { return assign(e.urls, values::parse_nats_urls(v)); }},
    {"node", [](ExportSettings& e, std::string_view v) { return assign(e.node, values::parse_node_name(v)); }},
    {"streams", [](ExportSettings& e, std::string_view v) { return assign(e.streams, values::parse_bool(v)); }},
    {"spool_dir",
     [](ExportSettings& e, std::string_view v) { return assign(e.spool_dir, values::parse_output_dir(v)); }},
    {"spool_mb",
     [](ExportSettings& e, std::string_view v) {
         return assign(e.spool_mb, values::parse_uint(v, values::spool_mb_range));
     }},
    {"wait", [](ExportSettings& e, std::string_view v) { return assign(e.wait_s, values::parse_export_wait(v)); }},
    {"replicas",
     [](ExportSettings& e, std::string_view v) {
         return assign(e.replicas, values::parse_uint_as<std::uint32_t>(v, values::export_replicas_range));
     }},
    {"ring_mb",
     [](ExportSettings& e, std::string_view v) {
         return assign(e.ring_mb, values::parse_uint_as<std::uint32_t>(v, values::export_ring_mb_range));
     }},
    {"connect_timeout",
     [](ExportSettings& e, std::string_view v) {
         return assign(e.connect_timeout_s, values::parse_connect_timeout(v));
     }},
    {"require_server",
     [](ExportSettings& e, std::string_view v) { return assign(e.require_server, values::parse_bool(v)); }},
};

constexpr KeySpec<EndpointSettings> endpoint_keys[] = {
    {"address",
     [](EndpointSettings& e, std::string_view v) { return assign(e.addresses, values::parse_address_list(v)); }},
    {"listen", [](EndpointSettings& e, std::string_view v) { return assign(e.listen, values::parse_port_list(v)); }},
    {"unknown",
     [](EndpointSettings& e, std::string_view v) { return assign(e.reset_unknown, values::parse_unknown_policy(v)); }},
    {"max_connections",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.max_connections, values::parse_uint_as<std::uint32_t>(v, values::endpoint_connections_range));
     }},
    {"syn_queue",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.syn_queue, values::parse_uint_as<std::uint32_t>(v, values::syn_queue_range));
     }},
    {"syn_cookies",
     [](EndpointSettings& e, std::string_view v) { return assign(e.syn_cookies, values::parse_bool(v)); }},
    {"time_wait_max",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.time_wait_max, values::parse_uint_as<std::uint32_t>(v, values::time_wait_max_range));
     }},
    {"time_wait",
     [](EndpointSettings& e, std::string_view v) { return assign(e.time_wait_s, values::parse_time_wait(v)); }},
    {"receive_buffer",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.receive_buffer, values::parse_uint_as<std::uint32_t>(v, values::receive_buffer_range));
     }},
    {"max_segments",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.max_segments, values::parse_uint_as<std::uint32_t>(v, values::endpoint_segments_range));
     }},
    {"mtu",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.mtu, values::parse_uint_as<std::uint16_t>(v, values::mtu_range));
     }},
    {"tx_mbufs",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.tx_mbufs, values::parse_uint_as<std::uint32_t>(v, values::tx_mbufs_range));
     }},
    {"read_rate",
     [](EndpointSettings& e, std::string_view v) {
         return assign(e.read_rate, values::parse_uint_as<std::uint32_t>(v, values::read_rate_range));
     }},
};

/// A [portN] section while it is being read: which source key set it, if any.
struct PortDraft {
    PortSettings port;
    std::string_view source_key;  ///< "pcap", "vdev", "pci" or empty
};

Status set_source(PortDraft& d, PortKind kind, std::string_view key, Result<std::string> parsed) {
    if (!parsed) return std::move(parsed).error();
    if (!d.source_key.empty()) {
        return make_error("conflicts with ", d.source_key, " in the same section (set exactly one of pcap, vdev, pci)");
    }
    d.source_key = key;
    d.port.kind = kind;
    d.port.source = std::move(parsed).value();
    return {};
}

constexpr KeySpec<PortDraft> port_keys[] = {
    {"pcap",
     [](PortDraft& d, std::string_view v) { return set_source(d, PortKind::pcap, "pcap", values::parse_pcap(v)); }},
    {"vdev",
     [](PortDraft& d, std::string_view v) { return set_source(d, PortKind::vdev, "vdev", values::parse_vdev(v)); }},
    {"pci",
     [](PortDraft& d, std::string_view v) {
         return set_source(d, PortKind::pci, "pci", values::parse_pci_address(v));
     }},
    {"rx_queues",
     [](PortDraft& d, std::string_view v) {
         return assign(d.port.rx_queues, values::parse_uint_as<std::uint16_t>(v, values::rx_queues_range));
     }},
    {"rx_desc", [](PortDraft& d, std::string_view v) { return assign(d.port.rx_desc, values::parse_rx_desc(v)); }},
    {"promiscuous", [](PortDraft& d, std::string_view v) { return assign(d.port.promiscuous, values::parse_bool(v)); }},
    {"rss", [](PortDraft& d, std::string_view v) { return assign(d.port.rss, values::parse_tristate(v)); }},
    {"checksum_offload",
     [](PortDraft& d, std::string_view v) { return assign(d.port.checksum_offload, values::parse_tristate(v)); }},
};

template <class Target, std::size_t N>
std::string key_list(const KeySpec<Target> (&keys)[N]) {
    std::string s;
    for (const auto& k : keys) {
        if (!s.empty()) s += ", ";
        s += k.key;
    }
    return s;
}

/// Applies every entry of a section through its key table.
template <class Target, std::size_t N>
Status apply_section(const std::string& path, const Section& section, const KeySpec<Target> (&keys)[N],
                     Target& target) {
    for (const Entry& e : section.entries) {
        const auto* spec = std::find_if(std::begin(keys), std::end(keys),
                                        [&](const KeySpec<Target>& k) { return k.key == e.key; });
        if (spec == std::end(keys)) {
            return file_error(path, e.line, section.name, e.key, "unknown key (accepted: " + key_list(keys) + ")");
        }
        Status st = spec->apply(target, e.value);
        if (!st) return file_error(path, e.line, section.name, e.key, st.error().message);
    }
    return {};
}

/// "port7" -> 7; nullopt for anything else ("port", "port07", "port32").
std::optional<std::size_t> port_index(std::string_view name) {
    constexpr std::string_view prefix = "port";
    if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
    const std::string_view digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 2 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    std::size_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (n >= max_ports) return std::nullopt;
    return n;
}

/// A relative path in a config file means "next to the config file".
std::string resolve_path(const std::string& config_path, const std::string& path) {
    if (path.empty() || path.front() == '/') return path;
    const std::filesystem::path dir = std::filesystem::path(config_path).parent_path();
    if (dir.empty()) return path;
    return (dir / path).lexically_normal().string();
}

std::string resolve_pcap(const std::string& config_path, const std::string& source) {
    if (source == generated_pcap) return source;
    return resolve_path(config_path, source);
}

}  // namespace

Settings defaults() { return Settings{}; }

Result<Settings> load_file(const std::string& path) {
    auto bytes = read_whole_file(path);
    if (!bytes) return std::move(bytes).error();
    auto pre = prescan(path, bytes.value());
    if (!pre) return std::move(pre).error();
    auto sections = load_with_cfgfile(path, pre.value());
    if (!sections) return std::move(sections).error();

    Settings s = defaults();
    struct NumberedPort {
        std::size_t index;
        PortSettings port;
    };
    std::vector<NumberedPort> ports;

    for (const Section& section : sections.value()) {
        Status st;
        if (section.name == "eal") {
            st = apply_section(path, section, eal_keys, s.eal);
        } else if (section.name == "mempool") {
            st = apply_section(path, section, mempool_keys, s.mempool);
        } else if (section.name == "run") {
            st = apply_section(path, section, run_keys, s.run);
        } else if (section.name == "tcp") {
            st = apply_section(path, section, tcp_keys, s.tcp);
            // Like pcap files: a relative streams_dir is next to the config file.
            if (st) s.tcp.streams_dir = resolve_path(path, s.tcp.streams_dir);
        } else if (section.name == "endpoint") {
            st = apply_section(path, section, endpoint_keys, s.endpoint);
        } else if (section.name == "capture") {
            st = apply_section(path, section, capture_keys, s.capture);
            if (st) s.capture.write = resolve_path(path, s.capture.write);
        } else if (section.name == "export") {
            st = apply_section(path, section, export_keys, s.export_);
            if (st) s.export_.spool_dir = resolve_path(path, s.export_.spool_dir);
        } else if (const auto index = port_index(section.name)) {
            PortDraft draft;
            st = apply_section(path, section, port_keys, draft);
            if (st && draft.source_key.empty()) {
                st = file_error(path, section.line, section.name, "",
                                "no packet source (set exactly one of pcap = FILE|generated, vdev = DEVARGS, "
                                "pci = ADDRESS)");
            }
            if (st) {
                if (draft.port.kind == PortKind::pcap) draft.port.source = resolve_pcap(path, draft.port.source);
                ports.push_back(NumberedPort{*index, std::move(draft.port)});
            }
        } else {
            st = file_error(path, section.line, section.name, "",
                            "unknown section (accepted: eal, port0..port31, mempool, run, tcp, capture, export,"
                            " endpoint)");
        }
        if (!st) return std::move(st).error();
    }

    // Any [portN] replaces the built-in port; ports are taken in order of N
    // (gaps are fine: [port0] and [port4] make two ports).
    if (!ports.empty()) {
        std::stable_sort(ports.begin(), ports.end(),
                         [](const NumberedPort& a, const NumberedPort& b) { return a.index < b.index; });
        s.ports.clear();
        for (NumberedPort& p : ports) s.ports.push_back(std::move(p.port));
    }

    // [run] workers builds the lcore list, now that the ports are known. An
    // lcore list of the file's own (anything but the default, or the very list
    // workers would build) is a contradiction: say so at the lcores line.
    if (s.run.workers != 0) {
        const std::string computed = computed_lcores(s);
        if (s.eal.lcores != EalSettings{}.lcores && s.eal.lcores != computed) {
            int line = 0;
            for (const Section& section : sections.value()) {
                if (section.name != "eal") continue;
                for (const Entry& e : section.entries) {
                    if (e.key == "lcores") line = e.line;
                }
            }
            return file_error(path, line, "eal", "lcores",
                              quote(s.eal.lcores) + " is set together with [run] workers = " +
                                  std::to_string(s.run.workers) + ", which builds the lcore list itself (" +
                                  quote(computed) + " here): use one or the other");
        }
        s.eal.lcores = computed;
    }

    Status st = validate(s);
    if (!st) return make_error(path, ": ", st.error().message);
    return s;
}

Status validate(const Settings& s) {
    // Re-check single values too: Settings may have been built in code.
    const auto check = [](std::string_view where, auto parsed) -> Status {
        if (!parsed) return make_error(where, ": ", parsed.error().message);
        return {};
    };
    const auto check_uint = [&](std::string_view where, std::uint64_t v, values::UintRange r) {
        return check(where, values::parse_uint(std::to_string(v), r));
    };

    if (s.ports.empty()) {
        return make_error("ports: none configured (add a [port0] section, or use --pcap, --vdev or --pci)");
    }
    if (s.ports.size() > max_ports) {
        return make_error("ports: ", std::to_string(s.ports.size()), " configured, at most ",
                          std::to_string(max_ports));
    }
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        const PortSettings& p = s.ports[i];
        const std::string where = "[port" + std::to_string(i) + "]";
        Status st;
        switch (p.kind) {
            case PortKind::pcap: st = check(where + " pcap", values::parse_pcap(p.source)); break;
            case PortKind::vdev: st = check(where + " vdev", values::parse_vdev(p.source)); break;
            case PortKind::pci: st = check(where + " pci", values::parse_pci_address(p.source)); break;
        }
        if (!st) return st;
        if (!(st = check_uint(where + " rx_queues", p.rx_queues, values::rx_queues_range))) return st;
        if (!(st = check(where + " rx_desc", values::parse_rx_desc(std::to_string(p.rx_desc))))) return st;

        // EAL refuses the same device twice; say which ports collide.
        for (std::size_t j = 0; j < i; ++j) {
            const PortSettings& q = s.ports[j];
            if (p.kind != q.kind || p.kind == PortKind::pcap) continue;
            const bool same = p.kind == PortKind::pci
                                  ? values::parse_pci_address(p.source).ok() &&
                                        values::parse_pci_address(q.source).ok() &&
                                        values::parse_pci_address(p.source).value() ==
                                            values::parse_pci_address(q.source).value()
                                  : values::vdev_name(p.source) == values::vdev_name(q.source);
            if (same) {
                return make_error(where, " ", values::to_string(p.kind), ": ", quote(p.source),
                                  " is the same device as port", std::to_string(j),
                                  " (each port needs its own device; number vdevs net_null0, net_null1, ...)");
            }
        }
    }

    Status st;
    if (!(st = check("[eal] lcores", values::parse_lcores(s.eal.lcores)))) return st;
    if (!(st = check_uint("[eal] memory_mb", s.eal.memory_mb, values::memory_mb_range))) return st;
    if (!(st = check("[eal] file_prefix", values::parse_file_prefix(s.eal.file_prefix)))) return st;
    if (!(st = check("[eal] log_level", values::parse_log_level(s.eal.log_level)))) return st;

    if (!(st = check("[mempool] mbufs", values::parse_mbufs(std::to_string(s.mempool.mbufs))))) return st;
    if (!(st = check_uint("[mempool] cache", s.mempool.cache, values::cache_range))) return st;
    if (!(st = check_uint("[mempool] data_room", s.mempool.data_room, values::data_room_range))) return st;
    if (!(st = check_uint("[mempool] reassembly_held", s.mempool.reassembly_held, values::reassembly_held_range))) {
        return st;
    }
    if (!(st = check_uint("[run] burst", s.run.burst, values::burst_range))) return st;
    if (!(s.run.duration_s >= 0 && s.run.duration_s <= values::max_duration_s)) {
        return make_error("[run] duration: ", std::to_string(s.run.duration_s),
                          " is out of range (accepted: seconds, 0..31536000)");
    }
    if (!(st = check_uint("[run] workers", s.run.workers, values::workers_range))) return st;

    const TcpSettings& t = s.tcp;
    // overlap and checksum are strings: only the names the parsers return.
    const auto check_name = [&](std::string_view where, const std::string& value, auto parsed) -> Status {
        if (!parsed) return make_error(where, ": ", parsed.error().message);
        if (parsed.value() != value) {
            return make_error(where, ": ", quote(value), " must be written in lower case without spaces (",
                              quote(parsed.value()), ")");
        }
        return {};
    };
    if (!(st = check_name("[run] dispatch", s.run.dispatch, values::parse_dispatch(s.run.dispatch)))) return st;
    if (!(st = check("[tcp] streams_dir", values::parse_output_dir(t.streams_dir)))) return st;
    if (!(st = check_name("[tcp] overlap", t.overlap, values::parse_overlap(t.overlap)))) return st;
    if (!(st = check_name("[tcp] gap_grace", t.gap_grace, values::parse_gap_grace(t.gap_grace)))) return st;
    if (!(st = check_uint("[tcp] streams_max_open", t.streams_max_open, values::streams_max_open_range))) return st;
    if (!(st = check_name("[tcp] checksum", t.checksum, values::parse_tcp_checksum(t.checksum)))) return st;
    if (!(st = check_uint("[tcp] max_flows", t.max_flows, values::max_flows_range))) return st;
    if (!(st = check_uint("[tcp] max_segments", t.max_segments, values::max_segments_range))) return st;
    if (!(st = check_uint("[tcp] stream_max_segments", t.stream_max_segments, values::stream_max_segments_range))) {
        return st;
    }
    if (!(st = check_uint("[tcp] stream_max_bytes", t.stream_max_bytes, values::stream_max_bytes_range))) return st;
    if (!(st = check_uint("[tcp] stream_max_ooo_bytes", t.stream_max_ooo_bytes, values::stream_max_ooo_bytes_range))) {
        return st;
    }
    if (!(st = check_uint("[tcp] mempool_low_water", t.mempool_low_water, values::mempool_low_water_range))) {
        return st;
    }
    const struct {
        std::string_view where;
        double value;
    } timeouts[] = {
        {"[tcp] timeout_syn", t.timeout_syn_s},
        {"[tcp] timeout_established", t.timeout_established_s},
        {"[tcp] timeout_closing", t.timeout_closing_s},
        {"[tcp] timeout_closed", t.timeout_closed_s},
    };
    for (const auto& to : timeouts) {
        if (!(to.value > 0 && to.value <= values::max_tcp_timeout_s)) {
            return make_error(to.where, ": ", number(to.value),
                              " is out of range (accepted: seconds, more than 0, at most 86400)");
        }
    }
    // Cross-field rules.
    if (t.stream_max_ooo_bytes > t.stream_max_bytes) {
        return make_error("[tcp] stream_max_ooo_bytes: ", std::to_string(t.stream_max_ooo_bytes),
                          " is more than stream_max_bytes ", std::to_string(t.stream_max_bytes),
                          " (out-of-order bytes are part of what a stream holds)");
    }
    if (t.stream_max_segments > t.max_segments) {
        return make_error("[tcp] stream_max_segments: ", std::to_string(t.stream_max_segments),
                          " is more than max_segments ", std::to_string(t.max_segments),
                          " (one stream cannot hold more than the worker's whole segment pool)");
    }
    if (!t.enabled && !t.streams_dir.empty()) {
        return make_error("[tcp] streams_dir: set to ", quote(t.streams_dir),
                          " while reassembly is off (enabled = no, --no-tcp): there would be no streams to "
                          "write; drop one of the two");
    }
    if (s.mempool.mbufs != 0 && t.mempool_low_water >= s.mempool.mbufs) {
        return make_error("[tcp] mempool_low_water: ", std::to_string(t.mempool_low_water),
                          " is not below [mempool] mbufs ", std::to_string(s.mempool.mbufs),
                          " (the pool would always count as short of mbufs; 0 = mbufs/8)");
    }

    // [capture]
    const CaptureSettings& c = s.capture;
    if (!(st = check("[capture] write", values::parse_output_file(c.write)))) return st;
    if (!(st = check_uint("[capture] rotate_mb", c.rotate_mb, values::rotate_mb_range))) return st;
    if (!(st = check_uint("[capture] rotate_seconds", c.rotate_seconds, values::rotate_seconds_range))) return st;
    if (!(st = check_uint("[capture] ring_files", c.ring_files, values::ring_files_range))) return st;
    if (!(st = check("[capture] snaplen", values::parse_snaplen(std::to_string(c.snaplen))))) return st;
    if (!(st = check("[capture] filter", values::parse_filter(c.filter)))) return st;
    if (c.filter != values::trim(c.filter)) {
        return make_error("[capture] filter: ", quote(c.filter), " must not start or end with spaces");
    }
    if (c.write == "-" && (c.rotate_mb != 0 || c.rotate_seconds != 0 || c.ring_files != 0)) {
        return make_error("[capture] write: '-' is standard output, one stream: it cannot rotate"
                          " (rotate_mb, rotate_seconds, ring_files: -C, -G, -W)");
    }
    if (c.ring_files != 0 && c.rotate_mb == 0 && c.rotate_seconds == 0) {
        return make_error("[capture] ring_files: ", std::to_string(c.ring_files),
                          " files, but no rotation (set rotate_mb or rotate_seconds too; as tcpdump's -W, "
                          "which needs -C or -G)");
    }
    if (c.write.empty()) {
        std::string set;
        const auto add = [&](bool on, std::string_view key) {
            if (!on) return;
            if (!set.empty()) set += ", ";
            set += key;
        };
        add(c.rotate_mb != 0, "rotate_mb");
        add(c.rotate_seconds != 0, "rotate_seconds");
        add(c.ring_files != 0, "ring_files");
        add(c.snaplen != 0, "snaplen");
        if (!set.empty()) {
            return make_error("[capture] ", set, ": set without write (rotate_mb, rotate_seconds, ring_files "
                              "and snaplen shape the pcapng output: set write = PATH, or -w/--write PATH)");
        }
    }
    if (c.filter_before_reassembly && c.filter.empty()) {
        return make_error("[capture] filter_before_reassembly: set without a filter (set filter = EXPR, "
                          "--filter EXPR or a filter expression after the options)");
    }

    // [export]
    const ExportSettings& x = s.export_;
    if (!(st = check("[export] urls", values::parse_nats_urls(x.urls)))) return st;
    if (!(st = check("[export] node", values::parse_node_name(x.node)))) return st;
    if (!(st = check("[export] spool_dir", values::parse_output_dir(x.spool_dir)))) return st;
    if (!(st = check_uint("[export] spool_mb", x.spool_mb, values::spool_mb_range))) return st;
    if (!(st = check_uint("[export] replicas", x.replicas, values::export_replicas_range))) return st;
    if (!(st = check_uint("[export] ring_mb", x.ring_mb, values::export_ring_mb_range))) return st;
    if (!(x.wait_s >= 0 && x.wait_s <= values::max_export_wait_s))
        return make_error("[export] wait: ", number(x.wait_s), " is out of range (accepted: seconds, 0..3600)");
    if (!(x.connect_timeout_s >= values::min_connect_timeout_s &&
          x.connect_timeout_s <= values::max_connect_timeout_s))
        return make_error("[export] connect_timeout: ", number(x.connect_timeout_s),
                          " is out of range (accepted: seconds, 0.1..60)");
    if (x.urls.empty()) {
        std::string set;
        const auto add = [&](bool on, std::string_view key) {
            if (!on) return;
            if (!set.empty()) set += ", ";
            set += key;
        };
        add(!x.node.empty(), "node");
        add(x.streams, "streams");
        add(!x.spool_dir.empty(), "spool_dir");
        if (!set.empty())
            return make_error("[export] ", set, ": set without urls (export is off; set urls = nats://HOST:PORT,"
                              " or --export nats://HOST:PORT)");
    } else if (!t.enabled) {
        return make_error("[export] urls: export needs TCP reassembly (its records describe reassembled"
                          " connections), which is off (enabled = no, --no-tcp)");
    }
    // [endpoint]
    const EndpointSettings& e = s.endpoint;
    for (const std::string& a : e.addresses) {
        auto n = values::parse_address(a);
        if (!n) return make_error("[endpoint] address: ", n.error().message);
    }
    for (std::uint16_t port : e.listen) {
        if (port == 0) return make_error("[endpoint] listen: port 0 (accepted: 1..65535)");
    }
    if (!(st = check_uint("[endpoint] max_connections", e.max_connections, values::endpoint_connections_range))) return st;
    if (!(st = check_uint("[endpoint] syn_queue", e.syn_queue, values::syn_queue_range))) return st;
    if (!(st = check_uint("[endpoint] time_wait_max", e.time_wait_max, values::time_wait_max_range))) return st;
    if (!(st = check_uint("[endpoint] receive_buffer", e.receive_buffer, values::receive_buffer_range))) return st;
    if (!(st = check_uint("[endpoint] max_segments", e.max_segments, values::endpoint_segments_range))) return st;
    if (!(st = check_uint("[endpoint] mtu", e.mtu, values::mtu_range))) return st;
    if (!(st = check_uint("[endpoint] tx_mbufs", e.tx_mbufs, values::tx_mbufs_range))) return st;
    if (!(st = check_uint("[endpoint] read_rate", e.read_rate, values::read_rate_range))) return st;
    if (!(e.time_wait_s > 0 && e.time_wait_s <= values::max_time_wait_s)) {
        return make_error("[endpoint] time_wait: ", number(e.time_wait_s),
                          " is out of range (accepted: seconds, more than 0, at most 240)");
    }
    if (!e.listen.empty() && e.addresses.empty()) {
        return make_error("[endpoint] listen: set without an address (--address ADDR/PREFIX): the endpoint "
                          "owns no address to listen on");
    }
    if (!e.addresses.empty()) {
        for (std::size_t i = 0; i < s.ports.size(); ++i) {
            if (s.ports[i].kind == PortKind::pcap) {
                return make_error("[endpoint] address: port", std::to_string(i),
                                  " replays a capture: the endpoint needs a live port it can send on "
                                  "(--vdev net_af_packet0,iface=..., net_af_xdp, net_tap, --pci)");
            }
        }
        if (!c.write.empty() || !c.filter.empty()) {
            return make_error("[endpoint] address: the endpoint cannot be combined with [capture] write or "
                              "filter yet");
        }
        if (s.run.dispatch == "yes") {
            return make_error("[run] dispatch: yes with [endpoint] address: the endpoint's workers poll (and "
                              "send on) their own queues; set dispatch = auto or no");
        }
    }

    // [run] workers: [eal] lcores is the list it builds.
    if (s.run.workers != 0) {
        const std::string computed = computed_lcores(s);
        if (s.eal.lcores != computed) {
            return make_error("[eal] lcores: ", quote(s.eal.lcores), " is set together with [run] workers = ",
                              std::to_string(s.run.workers), ", which builds the lcore list itself (",
                              quote(computed), " here): use one or the other");
        }
    }
    return {};
}

namespace {

template <class Target, std::size_t N>
void list_keys(std::vector<KeyInfo>& out, std::string_view section, const KeySpec<Target> (&table)[N]) {
    for (const auto& k : table) out.push_back(KeyInfo{section, k.key});
}

/// One key through its section's table; only the reason on failure.
template <class Target, std::size_t N>
Status apply_one(const KeySpec<Target> (&table)[N], Target& target, std::string_view key, std::string_view value,
                 bool& found) {
    for (const auto& k : table) {
        if (k.key != key) continue;
        found = true;
        return k.apply(target, value);
    }
    return {};
}

}  // namespace

std::vector<KeyInfo> keys() {
    std::vector<KeyInfo> out;
    list_keys(out, "eal", eal_keys);
    list_keys(out, "port", port_keys);
    list_keys(out, "mempool", mempool_keys);
    list_keys(out, "run", run_keys);
    list_keys(out, "tcp", tcp_keys);
    list_keys(out, "capture", capture_keys);
    list_keys(out, "export", export_keys);
    list_keys(out, "endpoint", endpoint_keys);
    return out;
}

Status apply_key(Settings& s, std::string_view section, std::string_view key, std::string_view value) {
    bool found = false;
    Status st;
    if (section == "eal") {
        st = apply_one(eal_keys, s.eal, key, value, found);
    } else if (section == "mempool") {
        st = apply_one(mempool_keys, s.mempool, key, value, found);
    } else if (section == "run") {
        st = apply_one(run_keys, s.run, key, value, found);
    } else if (section == "tcp") {
        st = apply_one(tcp_keys, s.tcp, key, value, found);
    } else if (section == "capture") {
        st = apply_one(capture_keys, s.capture, key, value, found);
    } else if (section == "export") {
        st = apply_one(export_keys, s.export_, key, value, found);
    } else if (section == "endpoint") {
        st = apply_one(endpoint_keys, s.endpoint, key, value, found);
    } else if (section == "port") {
        if (key == "pcap" || key == "vdev" || key == "pci") {
            return make_error("[port] ", key, ": a port's source is set with --pcap, --vdev or --pci");
        }
        for (PortSettings& p : s.ports) {
            PortDraft d{p, "set"};
            st = apply_one(port_keys, d, key, value, found);
            if (!st || !found) break;
            p = d.port;
        }
        if (s.ports.empty()) found = std::any_of(std::begin(port_keys), std::end(port_keys),
                                                 [&](const auto& k) { return k.key == key; });
    } else {
        return make_error("[", section, "]: unknown section (accepted: eal, port, mempool, run, tcp, capture, export,"
                          " endpoint)");
    }
    if (!found) return make_error("[", section, "] ", key, ": unknown key");
    if (!st) return make_error("[", section, "] ", key, ": ", st.error().message);
    return {};
}

std::string worker_lcores(unsigned workers, bool dispatcher, unsigned cpus) {
    if (workers == 0) return {};
    if (cpus == 0) cpus = 1;
    const unsigned total = 1 + (dispatcher ? 1U : 0U) + workers;
    std::string out;
    for (unsigned lcore = 0; lcore < total; ++lcore) {
        if (!out.empty()) out += ',';
        out += std::to_string(lcore);
        out += '@';
        out += std::to_string(lcore % cpus);
    }
    return out;
}

bool needs_dispatcher(const Settings& s) noexcept {
    if (s.run.workers == 0 || s.run.dispatch == "no") return false;
    if (s.run.dispatch == "yes") return true;
    if (s.run.workers < 2) return false;
    return std::any_of(s.ports.begin(), s.ports.end(),
                       [](const PortSettings& p) { return p.kind != PortKind::pci; });
}

unsigned online_cpus() noexcept {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1U : static_cast<unsigned>(n);
}

std::string computed_lcores(const Settings& s) {
    return worker_lcores(s.run.workers, needs_dispatcher(s), online_cpus());
}

}  // namespace rxinto::config
