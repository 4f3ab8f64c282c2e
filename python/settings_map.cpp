#include "settings_map.hpp"

#include <sched.h>

#include <algorithm>

#include "rxinto/config/cli.hpp"

namespace rxpy {

namespace config = rxinto::config;
using rxinto::make_error;
using rxinto::Result;

namespace {

/// Keywords that are parameters of their own, or not settings at all.
bool reserved(const std::string& name) {
    return name == "config" || name == "pcap" || name == "vdev" || name == "help" || name == "version";
}

std::string cli_name(std::string s) {
    std::replace(s.begin(), s.end(), '_', '-');
    return s;
}

/// The [eal] field a command-line option or INI key sets ("" for none).
std::string eal_field(const std::string& option_or_key) {
    static const std::pair<const char*, const char*> map[] = {
        {"lcores", "lcores"},       {"memory", "memory_mb"},        {"memory_mb", "memory_mb"},
        {"hugepages", "hugepages"}, {"no-huge", "hugepages"},       {"file-prefix", "file_prefix"},
        {"file_prefix", "file_prefix"}, {"in-memory", "in_memory"}, {"in_memory", "in_memory"},
        {"log-level", "log_level"}, {"log_level", "log_level"},     {"eal", "eal_args"},
        {"eal_args", "eal_args"},
    };
    for (const auto& [k, v] : map)
        if (option_or_key == k) return v;
    return {};
}

struct ini_match {
    std::string section;
    std::string key;
};

/// An INI key by its name, or by "<section>_<key>".
bool find_ini(const std::string& name, ini_match& out) {
    for (const config::KeyInfo& k : config::keys()) {
        const std::string key(k.key);
        const std::string qualified = std::string(k.section) + "_" + key;
        if (name == key || name == qualified) {
            out = {std::string(k.section), key};
            return true;
        }
    }
    return false;
}

std::string cpu_list_of_affinity() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return {};
    std::string out;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (!CPU_ISSET(c, &set)) continue;
        if (!out.empty()) out += ',';
        out += std::to_string(c);
    }
    return out;
}

}  // namespace

std::string default_lcores() {
    // The main lcore on every CPU the process may run on: EAL's pinning is
    // then no change at all (see ensure_eal).
    const std::string cpus = cpu_list_of_affinity();
    return cpus.empty() ? "0" : "0@(" + cpus + ")";
}

Result<built_settings> build_settings(const std::string& config_path, const std::vector<std::string>& pcaps,
                                      const std::vector<std::string>& vdevs, const std::vector<keyword>& kws) {
    std::vector<std::string> argv{"rxinto"};
    if (!config_path.empty()) argv.push_back("--config=" + config_path);
    for (const auto& p : pcaps) argv.push_back("--pcap=" + p);
    for (const auto& v : vdevs) argv.push_back("--vdev=" + v);

    built_settings out;
    std::vector<std::pair<ini_match, keyword>> ini;
    bool lcores_given = false;
    bool in_memory_given = false;
    const std::vector<config::OptionInfo> options = config::options();
    for (const keyword& kw : kws) {
        if (reserved(kw.name))
            return make_error(kw.name, ": not a setting (config, pcap and vdev are Receiver's own parameters)");
        const std::string opt = cli_name(kw.name);
        const auto spec = std::find_if(options.begin(), options.end(),
                                       [&](const config::OptionInfo& o) { return o.long_name == opt; });
        ini_match im;
        const bool has_ini = find_ini(kw.name, im);
        std::string field;
        if (spec != options.end() && (!spec->metavar.empty() || !kw.is_bool || kw.bool_value || !has_ini)) {
            if (spec->metavar.empty()) {
                // A flag: True gives it, False leaves it out.
                if (!kw.is_bool)
                    return make_error(kw.name, ": a flag (--", opt, "): give True or False");
                if (kw.bool_value) argv.push_back("--" + opt);
            } else {
                // --opt=VALUE: a value that starts with '-' stays a value.
                for (const auto& v : kw.values) argv.push_back("--" + opt + "=" + v);
            }
            field = eal_field(opt);
        } else if (has_ini) {
            ini.emplace_back(im, kw);
            if (im.section == "eal") field = eal_field(im.key);
        } else {
            return make_error("unknown setting '", kw.name,
                              "' (a keyword is a command-line long option with '_' for '-', e.g. max_flows for "
                              "--max-flows, or an INI key, e.g. stream_max_bytes or tcp_enabled: "
                              "rxinto.settings() lists them)");
        }
        if (field == "lcores") lcores_given = true;
        if (field == "in_memory") in_memory_given = true;
        if (!field.empty() && std::find(out.eal_given.begin(), out.eal_given.end(), field) == out.eal_given.end())
            out.eal_given.push_back(field);
    }

    std::vector<const char*> cargv;
    cargv.reserve(argv.size());
    for (const auto& a : argv) cargv.push_back(a.c_str());
    auto cli = config::parse_cli(static_cast<int>(cargv.size()), cargv.data());
    if (!cli) {
        // "--max-flows: ..." is about the keyword max_flows: name it as given.
        std::string msg = cli.error().message;
        for (const keyword& kw : kws) {
            const std::string opt = "--" + cli_name(kw.name) + ":";
            if (msg.rfind(opt, 0) == 0) {
                msg = kw.name + " (" + opt.substr(0, opt.size() - 1) + "):" + msg.substr(opt.size());
                break;
            }
        }
        return make_error(msg);
    }
    config::Settings& s = cli->settings;
    for (const auto& [m, kw] : ini) {
        std::string value;
        for (const auto& v : kw.values) value += (value.empty() ? "" : " ") + v;
        if (auto st = config::apply_key(s, m.section, m.key, value); !st)
            return make_error(kw.name, ": ", st.error().message);
    }
    // The Receiver polls on the calling thread and shares no files with
    // other processes, unless told otherwise.
    if (!lcores_given) s.eal.lcores = default_lcores();
    if (!in_memory_given) s.eal.in_memory = true;
    if (auto st = config::validate(s); !st) return make_error("settings: ", st.error().message);

    // What the appliance does and a Receiver does not: say so rather than
    // ignore it.
    if (!s.tcp.enabled)
        return make_error("no_tcp / [tcp] enabled = no: a Receiver exists to reassemble TCP (the appliance, "
                          "build/app/rxinto --no-tcp, counts packets)");
    if (!s.tcp.streams_dir.empty())
        return make_error("streams_dir: stream files are the appliance's (build/app/rxinto --streams-dir); a "
                          "Receiver hands you the streams: see examples/python/dump_streams.py");
    if (!s.capture.write.empty() || !s.capture.filter.empty())
        return make_error("write / filter: pcapng capture and BPF filters run in the appliance (build/app/rxinto -w, "
                          "--filter), not in a Receiver");
    if (s.run.workers != 0)
        return make_error("workers: a Receiver runs one reassembler on the thread that polls it (the appliance "
                          "runs workers: build/app/rxinto --workers N)");
    if (!s.run.stats_json.empty())
        return make_error("stats_json: a Receiver's statistics are rx.stats()");
    out.settings = std::move(s);
    return out;
}

std::vector<std::pair<std::string, std::string>> keyword_table() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const config::OptionInfo& o : config::options()) {
        std::string name(o.long_name);
        std::replace(name.begin(), name.end(), '-', '_');
        if (reserved(name)) continue;
        std::string help(o.help);
        std::replace(help.begin(), help.end(), '\n', ' ');
        out.emplace_back(name, "--" + std::string(o.long_name) + (o.metavar.empty() ? "" : " ") +
                                   std::string(o.metavar) + ": " + help);
    }
    for (const config::KeyInfo& k : config::keys()) {
        std::string key(k.key);
        if (key == "pcap" || key == "vdev" || key == "pci") continue;
        const bool taken = std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == key; });
        const std::string what = "[" + std::string(k.section) + "] " + key;
        if (taken) {
            // Same name as an option: the option wins; the INI key stays reachable qualified.
            out.emplace_back(std::string(k.section) + "_" + key, what);
        } else {
            out.emplace_back(key, what);
        }
    }
    return out;
}

}  // namespace rxpy
