// Command line of the rxinto appliance: options on top of an optional --config file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"

namespace rxinto::config {

struct CliOptions {
    bool help = false;       ///< -h/--help: print usage() and exit 0
    bool version = false;    ///< -V/--version
    std::string config_path; ///< --config FILE, "" when none was given
    Settings settings;       ///< defaults() or the file, with every override applied
};

/// Parses argv. --config is applied first wherever it stands, then every other
/// option in order. --pcap/--vdev/--pci (repeatable, mixable) replace the file's
/// ports with the ones given, in the order given. Values: --opt VALUE or
/// --opt=VALUE; short options (-w, -C, -G, -W, -s, as tcpdump's) also -o VALUE,
/// -oVALUE or -o=VALUE. Words that are not options (anywhere, as tcpdump's with
/// glibc getopt; after "--" every word) are joined with spaces into
/// settings.capture.filter (an error together with --filter). Last, --workers
/// (or the file's [run] workers) sets settings.eal.lcores to computed_lcores()
/// for the final ports; --workers with --lcores is an error, and either one on
/// the command line overrides the other one from the file. Errors name the
/// option as given and the reason ("--burst: '0' is not in 1..512", "-s: ...");
/// main() exits 2 on them.
[[nodiscard]] Result<CliOptions> parse_cli(int argc, const char* const* argv);

/// The --help text (also kept true by a test that checks every option is listed).
[[nodiscard]] std::string usage();

/// One row of the option table that parse_cli() and usage() are both built from.
/// To add an option, add a row to the table in cli.cpp (name, metavar, help,
/// and the function that applies it); usage() and the tests pick it up. The
/// table also holds --help group headings (heading("Title:")), which options()
/// leaves out.
struct OptionInfo {
    std::string_view long_name;   ///< without the leading "--"
    char short_name = 0;          ///< 0 when the option has no short form
    std::string_view metavar;     ///< "" for a flag, else the value's name ("FILE", "N")
    std::string_view help;        ///< may contain '\n' for a second line
};

/// Every option parse_cli() accepts, in usage() order.
[[nodiscard]] std::vector<OptionInfo> options();

}  // namespace rxinto::config
