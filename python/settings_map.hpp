// Receiver(config=None, pcap=None, vdev=None, **settings) -> config::Settings,
// through the library's one schema: a keyword is a command-line long option
// (config::options(), '_' for '-': max_flows=1000 -> --max-flows=1000) or,
// for what has no option, an INI key (config::keys(): stream_max_bytes=...,
// or section_key such as tcp_enabled). Nothing here lists settings itself.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"

namespace rxpy {

/// One keyword argument, its value already turned into the text the command
/// line or an INI file would carry (values: several for a list).
struct keyword {
    std::string name;
    std::vector<std::string> values;
    bool is_bool = false;
    bool bool_value = false;
};

struct built_settings {
    rxinto::config::Settings settings;
    std::vector<std::string> eal_given;  ///< [eal] keys set by keywords (compared with a running EAL)
};

/// config: "" for none. pcaps/vdevs: ports in that order (pcaps first).
/// Errors name the keyword as given.
rxinto::Result<built_settings> build_settings(const std::string& config, const std::vector<std::string>& pcaps,
                                              const std::vector<std::string>& vdevs,
                                              const std::vector<keyword>& kws);

/// Every keyword a Receiver accepts, with what it maps to ("--max-flows N: ..."
/// or "[tcp] stream_max_bytes"), in the schema's order.
std::vector<std::pair<std::string, std::string>> keyword_table();

/// The main lcore on every CPU the process may run on ("0@(0,1)").
std::string default_lcores();

}  // namespace rxpy
