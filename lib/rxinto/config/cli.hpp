// Command line of the rxinto appliance: options on top of an optional --config file.
#pragma once

#include <string>

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

}  // namespace rxinto::config
