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
/// ports with the ones given, in the order given. Errors name the option and the
/// reason ("--burst: '0' is not in 1..512"); main() exits 2 on them.
[[nodiscard]] Result<CliOptions> parse_cli(int argc, const char* const* argv);

/// The --help text (also kept true by a test that checks every option is listed).
[[nodiscard]] std::string usage();

/// One row of the option table that parse_cli() and usage() are both built from.
/// To add an option, add a row to the table in cli.cpp (name, metavar, help,
/// and the function that applies it); usage() and the tests pick it up.
struct OptionInfo {
    std::string_view long_name;   ///< without the leading "--"
    char short_name = 0;          ///< 0 when the option has no short form
    std::string_view metavar;     ///< "" for a flag, else the value's name ("FILE", "N")
    std::string_view help;        ///< may contain '\n' for a second line
};

/// Every option parse_cli() accepts, in usage() order.
[[nodiscard]] std::vector<OptionInfo> options();

}  // namespace rxinto::config
