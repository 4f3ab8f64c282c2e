#include "rxinto/stats/telemetry.hpp"

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <rte_telemetry.h>

namespace rxinto::stats::telemetry {

namespace {

struct Registry {
    std::mutex m;
    provider p;  // empty: not running
};

/// Never destroyed: the telemetry thread outlives main() and may still answer a
/// client while static destructors run at exit.
Registry& registry() {
    static Registry* r = new Registry;
    return *r;
}

constexpr const char* not_running = "not running";

/// A snapshot from the published provider, or nothing when none is published.
std::optional<Snapshot> take_snapshot() {
    Registry& r = registry();
    const std::lock_guard<std::mutex> g(r.m);
    if (!r.p) return std::nullopt;
    return r.p();
}

bool no_params(const char* params) { return params == nullptr || *params == '\0'; }

/// A decimal index (digits only, at most 9 of them), or nothing.
std::optional<std::size_t> index_param(const char* params) {
    if (params == nullptr || *params == '\0') return std::nullopt;
    std::size_t v = 0;
    int digits = 0;
    for (const char* c = params; *c != '\0'; ++c) {
        if (*c < '0' || *c > '9' || ++digits > 9) return std::nullopt;
        v = v * 10 + static_cast<std::size_t>(*c - '0');
    }
    return v;
}

std::string decimal(double v, int places) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", places, v);
    return buf;
}

std::uint64_t per_second(std::uint64_t n, double seconds) {
    return seconds > 0 ? static_cast<std::uint64_t>(static_cast<double>(n) / seconds) : 0;
}

/// Entries past the dict's capacity are left out rather than failing the reply.
void add_u64(rte_tel_data* d, const std::string& name, std::uint64_t v) {
    (void)rte_tel_data_add_dict_u64(d, name.c_str(), v);
}

/// Adds a dict filled by `fill` under `name`; the outer dict owns it afterwards.
template <class F>
int add_dict(rte_tel_data* d, const char* name, F fill) {
    rte_tel_data* c = rte_tel_data_alloc();
    if (c == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(c);
    fill(c);
    if (const int rc = rte_tel_data_add_dict_container(d, name, c, 0); rc != 0) {
        rte_tel_data_free(c);
        return rc;
    }
    return 0;
}

int add_u64_array(rte_tel_data* d, const char* name, const std::vector<std::uint64_t>& v) {
    rte_tel_data* c = rte_tel_data_alloc();
    if (c == nullptr) return -ENOMEM;
    rte_tel_data_start_array(c, RTE_TEL_U64_VAL);
    for (std::size_t i = 0; i < v.size() && i < RTE_TEL_MAX_ARRAY_ENTRIES; ++i)
        (void)rte_tel_data_add_array_u64(c, v[i]);
    if (const int rc = rte_tel_data_add_dict_container(d, name, c, 0); rc != 0) {
        rte_tel_data_free(c);
        return rc;
    }
    return 0;
}

void add_index_list(rte_tel_data* d, std::size_t n) {
    rte_tel_data_start_array(d, RTE_TEL_U64_VAL);
    for (std::size_t i = 0; i < n && i < RTE_TEL_MAX_ARRAY_ENTRIES; ++i)
        (void)rte_tel_data_add_array_u64(d, i);
}

void fill_stats(const Snapshot& s, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    add_u64(d, "rx_packets", s.rx_packets());
    add_u64(d, "rx_bytes", s.rx_bytes());
    add_dict(d, "drops", [&](rte_tel_data* c) {
        add_u64(c, "imissed", s.imissed());
        add_u64(c, "rx_nombuf", s.rx_nombuf());
        add_u64(c, "ierrors", s.ierrors());
        for (const auto& [k, v] : s.parse)
            if (k != "ok") add_u64(c, k, v);
        for (const auto& [k, v] : s.tcp_drops) add_u64(c, k, v);
        if (s.dispatch) add_u64(c, "dispatch_ring_full", s.dispatch_ring_full);
        if (s.capture_enabled) add_u64(c, "capture_ring_full", s.capture_ring_full);
        if (s.tcp_enabled) add_u64(c, "streams_ring_full", s.streams_ring_full);
        if (s.exp.enabled) add_u64(c, "export_dropped", s.exp.dropped + s.exp.chunks_dropped);
    });
    if (s.capture_enabled || s.filter_enabled) {
        add_dict(d, "capture", [&](rte_tel_data* c) {
            add_u64(c, "packets", s.capture_packets);
            add_u64(c, "bytes", s.capture_bytes);
            add_u64(c, "file_bytes", s.capture_file_bytes);
            add_u64(c, "files", s.capture_files);
            add_u64(c, "write_errors", s.capture_write_errors);
            add_u64(c, "ring_full", s.capture_ring_full);
            add_u64(c, "open_failures", s.capture_open_failures);
            add_u64(c, "filter_matched", s.filter_matched);
            add_u64(c, "filter_rejected", s.filter_rejected);
        });
    }
    if (s.exp.enabled) {
        add_dict(d, "export", [&](rte_tel_data* c) {
            rte_tel_data_add_dict_string(c, "node", s.exp.node.c_str());
            add_u64(c, "connected", s.exp.connected ? 1 : 0);
            add_u64(c, "exported", s.exp.exported);
            add_u64(c, "acked", s.exp.acked);
            add_u64(c, "spooled", s.exp.spooled);
            add_u64(c, "dropped", s.exp.dropped);
            add_u64(c, "in_spool", s.exp.in_spool);
            add_u64(c, "inflight", s.exp.inflight);
            add_u64(c, "chunks_exported", s.exp.chunks_exported);
            add_u64(c, "chunks_acked", s.exp.chunks_acked);
            add_u64(c, "chunks_dropped", s.exp.chunks_dropped);
        });
    }
    if (s.dispatch) {
        add_dict(d, "dispatch", [&](rte_tel_data* c) {
            add_u64(c, "lcore", s.dispatch_lcore);
            add_u64(c, "packets", s.dispatch_packets);
            add_u64(c, "ring_full", s.dispatch_ring_full);
            add_u64(c, "polls", s.dispatch_polls);
            add_u64(c, "empty_polls", s.dispatch_empty_polls);
        });
    }
    // Rates since the start of reception, as in the final summary.
    const std::uint64_t pps = per_second(s.rx_packets(), s.t_s);
    const std::uint64_t bps = per_second(s.rx_bytes() * 8, s.t_s);
    add_u64(d, "uptime_ms", static_cast<std::uint64_t>(s.t_s > 0 ? s.t_s * 1e3 : 0.0));
    rte_tel_data_add_dict_string(d, "uptime_s", decimal(s.t_s, 3).c_str());
    add_u64(d, "rx_pps", pps);
    add_u64(d, "rx_bps", bps);
    rte_tel_data_add_dict_string(d, "mpps", decimal(static_cast<double>(pps) / 1e6, 3).c_str());
    rte_tel_data_add_dict_string(d, "gbps", decimal(static_cast<double>(bps) / 1e9, 3).c_str());
    add_u64(d, "ports", s.ports.size());
    add_u64(d, "workers", s.workers.size());
    add_u64(d, "tcp_enabled", s.tcp_enabled ? 1 : 0);
    add_u64(d, "flows_active", s.flows_active);
    if (s.tcp_enabled) {
        add_dict(d, "tcp", [&](rte_tel_data* c) {
            add_u64(c, "flows_active", s.flows_active);
            for (const auto& [k, v] : s.tcp) add_u64(c, k, v);
            add_u64(c, "stream_bytes_written", s.stream_bytes_written);
            add_u64(c, "stream_write_errors", s.stream_write_errors);
            add_u64(c, "stream_bytes_lost", s.stream_bytes_lost);
            add_u64(c, "streams_ring_full", s.streams_ring_full);
        });
        add_dict(d, "frames", [&](rte_tel_data* c) {
            for (const auto& [k, v] : s.parse) add_u64(c, k, v);
        });
    }
}

void fill_port(const Snapshot& s, const PortStats& p, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    add_u64(d, "index", p.index);
    add_u64(d, "port_id", p.port_id);
    rte_tel_data_add_dict_string(d, "name", p.name.c_str());
    rte_tel_data_add_dict_string(d, "driver", p.driver.c_str());
    rte_tel_data_add_dict_string(d, "link", p.link.c_str());
    add_u64(d, "rx_queues", p.rx_queues);
    add_u64(d, "rss", p.rss ? 1 : 0);
    add_u64(d, "rx_checksum_offload", p.rx_checksum_offload ? 1 : 0);
    add_u64(d, "rx_packets", p.rx_packets);
    add_u64(d, "rx_bytes", p.rx_bytes);
    add_u64(d, "rx_pps", per_second(p.rx_packets, s.t_s));
    add_u64(d, "rx_bps", per_second(p.rx_bytes * 8, s.t_s));
    add_dict(d, "drops", [&](rte_tel_data* c) {
        add_u64(c, "imissed", p.imissed);
        add_u64(c, "rx_nombuf", p.rx_nombuf);
        add_u64(c, "ierrors", p.ierrors);
    });
    add_u64_array(d, "queue_packets", p.queue_packets);
}

void fill_worker(const WorkerStats& w, std::size_t index, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    add_u64(d, "index", index);
    add_u64(d, "lcore", w.lcore);
    add_u64(d, "packets", w.packets);
    add_u64(d, "bytes", w.bytes);
    add_u64(d, "polls", w.polls);
    add_u64(d, "empty_polls", w.empty_polls);
}

// The callbacks: C entry points, so nothing may escape them.

int cmd_stats(const char*, const char* params, rte_tel_data* d) noexcept try {
    if (!no_params(params)) return -EINVAL;
    const auto s = take_snapshot();
    if (!s) return rte_tel_data_string(d, not_running);
    fill_stats(*s, d);
    return 0;
} catch (...) {
    return -ENOMEM;
}

int cmd_ports(const char*, const char* params, rte_tel_data* d) noexcept try {
    if (!no_params(params)) return -EINVAL;
    const auto s = take_snapshot();
    if (!s) return rte_tel_data_string(d, not_running);
    add_index_list(d, s->ports.size());
    return 0;
} catch (...) {
    return -ENOMEM;
}

int cmd_port(const char*, const char* params, rte_tel_data* d) noexcept try {
    const auto i = index_param(params);
    if (!i) return -EINVAL;
    const auto s = take_snapshot();
    if (!s) return rte_tel_data_string(d, not_running);
    if (*i >= s->ports.size()) return -EINVAL;
    fill_port(*s, s->ports[*i], d);
    return 0;
} catch (...) {
    return -ENOMEM;
}

int cmd_workers(const char*, const char* params, rte_tel_data* d) noexcept try {
    if (!no_params(params)) return -EINVAL;
    const auto s = take_snapshot();
    if (!s) return rte_tel_data_string(d, not_running);
    add_index_list(d, s->workers.size());
    return 0;
} catch (...) {
    return -ENOMEM;
}

int cmd_worker(const char*, const char* params, rte_tel_data* d) noexcept try {
    const auto i = index_param(params);
    if (!i) return -EINVAL;
    const auto s = take_snapshot();
    if (!s) return rte_tel_data_string(d, not_running);
    if (*i >= s->workers.size()) return -EINVAL;
    fill_worker(s->workers[*i], *i, d);
    return 0;
} catch (...) {
    return -ENOMEM;
}

int do_register() noexcept {
    struct Cmd {
        const char* name;
        telemetry_cb fn;
        const char* help;
    };
    static const Cmd cmds[] = {
        {"/rxinto/stats", cmd_stats,
         "rxinto totals: rx_packets, rx_bytes, drops, rates since start, uptime, tcp. No parameters."},
        {"/rxinto/ports", cmd_ports, "rxinto port indexes. No parameters."},
        {"/rxinto/port", cmd_port, "One rxinto port's counters. Parameters: int port index."},
        {"/rxinto/workers", cmd_workers, "rxinto worker indexes. No parameters."},
        {"/rxinto/worker", cmd_worker, "One rxinto worker's counters. Parameters: int worker index."},
    };
    for (const Cmd& c : cmds)
        if (const int rc = rte_telemetry_register_cmd(c.name, c.fn, c.help); rc != 0) return rc;
    return 0;
}

}  // namespace

int register_commands() noexcept {
    // C++ guarantees this runs once, even with callers on several threads.
    static const int rc = do_register();
    return rc;
}

void publish(provider p) {
    Registry& r = registry();
    const std::lock_guard<std::mutex> g(r.m);
    r.p = std::move(p);
}

void withdraw() noexcept {
    Registry& r = registry();
    provider old;
    {
        const std::lock_guard<std::mutex> g(r.m);
        old.swap(r.p);
    }
    // `old` (and whatever it captured) is destroyed outside the lock.
}

bool published() noexcept {
    Registry& r = registry();
    const std::lock_guard<std::mutex> g(r.m);
    return static_cast<bool>(r.p);
}

Publication::Publication(provider p) {
    (void)register_commands();
    publish(std::move(p));
    active_ = true;
}

void Publication::end() noexcept {
    if (!active_) return;
    active_ = false;
    withdraw();
}

}  // namespace rxinto::stats::telemetry
