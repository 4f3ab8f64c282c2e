#include "rxinto/capture/appliance.hpp"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_pdump.h>
#include <rte_ring.h>

#include "rxinto/capture/capture_sink.hpp"
#include "rxinto/capture/dispatch.hpp"
#include "rxinto/capture/endpoint_sink.hpp"
#include "rxinto/capture/filter.hpp"
#include "rxinto/capture/output.hpp"
#include "rxinto/capture/packet_clock.hpp"
#include "rxinto/capture/output_paths.hpp"
#include "rxinto/capture/pcapng_writer.hpp"
#include "rxinto/capture/replay.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/capture/stream_feed.hpp"
#include "stream_msg.hpp"
#include "rxinto/capture/stream_store.hpp"
#include "rxinto/capture/tcp_settings.hpp"
#include "rxinto/capture/tcp_sink.hpp"
#include "rxinto/export/exporter.hpp"
#include "fleet_export.hpp"
#include "rxinto/port/eal.hpp"
#include "rxinto/port/ports.hpp"
#include "rxinto/stats/telemetry.hpp"  // telemetry

namespace rxinto::capture {

namespace {

/// Everything the control lcore looks at while the workers run.
struct Run {
    const config::Settings* settings = nullptr;
    const RunOptions* opt = nullptr;
    port::Ports* ports = nullptr;
    std::vector<std::unique_ptr<QueueCounters>> queue_counters;  // [port][queue] flattened
    std::vector<std::size_t> first_queue;                        // per port: index into the above
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::unique_ptr<TcpSink>> tcp_sinks;  // one per worker when TCP-lite is on
    std::vector<std::unique_ptr<EndpointSink>> endpoint_sinks;  // one per worker with [endpoint] address
    std::vector<EndpointWorker> endpoint_workers;
    std::unique_ptr<Dispatcher> dispatcher;           // software dispatch, when on
    std::unique_ptr<bpf_filter> filter;               // --filter, shared read-only by the workers
    std::vector<std::unique_ptr<pcapng_writer>> writers;      // -w: one per worker
    std::vector<std::unique_ptr<CaptureSink>> capture_sinks;  // filter + capture ring, per worker
    std::unique_ptr<packet_clock> clock;              // receive times (workers)
    std::unique_ptr<stream_store> store;              // --streams-dir (output thread)
    std::unique_ptr<output_thread> output;            // writes files from the rings
    fleet::exporter* exporter = nullptr;              // --export (owned by run())
    std::vector<rte_ring*> output_rings;              // capture and stream rings, freed at the end
    std::vector<rte_ring*> rings;                     // its rings, one per worker
    std::vector<std::unique_ptr<QueueCounters>> ring_counters;
    std::atomic<bool> drain{false};                   // dispatcher stopped: workers drain their rings
    mutable std::atomic<std::uint64_t> pool_in_use_max{0};
    mutable std::mutex stats_mu;  // rte_eth_stats_get from the control lcore and telemetry  // sampled by control(): the pool's low-water mark
    const ReplayPlan* plan = nullptr;  // replayed files (replay.hpp)
    std::vector<std::size_t> replays;  // indexes of the ports that replay a file
    bool stall_check = true;           // no stall stop while a stream may wait for its writer
    std::atomic<bool> stop{false};
    std::uint64_t start_tsc = 0;
    std::uint64_t hz = 1;
    // Control state.
    stats::Snapshot last_progress;
    double next_progress_s = 1.0;
    std::uint64_t last_accounted = 0;
    double last_change_s = 0;
    std::string stop_reason;
    std::vector<std::string> notes;

    double now_s() const { return static_cast<double>(rte_rdtsc() - start_tsc) / static_cast<double>(hz); }

    stats::Snapshot snapshot(bool with_xstats = false) const {
        stats::Snapshot s;
        s.t_s = now_s();
        const auto& ps = ports->ports();
        for (std::size_t i = 0; i < ps.size(); ++i) {
            const auto& pi = ps[i];
            stats::PortStats p;
            p.index = static_cast<std::uint16_t>(i);
            p.port_id = pi.port_id;
            p.name = pi.name;
            p.driver = pi.driver;
            p.rx_queues = pi.rx_queues;
            p.rss = pi.rss;
            p.rss_symmetric = pi.rss_symmetric;
            if (with_xstats) {
                // The driver's own view, for the final summary: every non-zero counter.
                const int cnt = rte_eth_xstats_get(pi.port_id, nullptr, 0);
                if (cnt > 0) {
                    std::vector<rte_eth_xstat> vals(static_cast<std::size_t>(cnt));
                    std::vector<rte_eth_xstat_name> names(static_cast<std::size_t>(cnt));
                    if (rte_eth_xstats_get(pi.port_id, vals.data(), static_cast<unsigned>(cnt)) == cnt &&
                        rte_eth_xstats_get_names(pi.port_id, names.data(), static_cast<unsigned>(cnt)) == cnt) {
                        for (const auto& v : vals)
                            if (v.value != 0 && v.id < names.size())
                                p.xstats.emplace_back(names[v.id].name, v.value);
                    }
                }
            }
            p.rx_checksum_offload = pi.rx_checksum_offload;
            p.link = pi.link;
            for (std::uint16_t q = 0; q < pi.rx_queues; ++q) {
                const auto& c = *queue_counters[first_queue[i] + q];
                p.rx_packets += c.packets.get();
                p.rx_bytes += c.bytes.get();
                p.queue_packets.push_back(c.packets.get());
            }
            rte_eth_stats es{};
            // The control lcore and the telemetry thread both read the ports;
            // some NICs clear counters on read, so one reader at a time.
            std::unique_lock<std::mutex> lock(stats_mu);
            const int src = rte_eth_stats_get(pi.port_id, &es);
            lock.unlock();
            if (src == 0) {
                p.imissed = es.imissed;
                p.rx_nombuf = es.rx_nombuf;
                p.ierrors = es.ierrors;
            }
            s.ports.push_back(std::move(p));
        }
        if (!tcp_sinks.empty()) {
            s.tcp_enabled = true;
            for (std::size_t i = 0; i < tcp::tcp_counters::size; ++i) {
                std::uint64_t v = 0;
                for (const auto& t : tcp_sinks) v += t->reassembler().counters().get(i);
                s.tcp.emplace_back(tcp::to_string(static_cast<tcp::tcp_counter>(i)), v);
            }
            for (std::size_t i = 0; i < net::parse_status_count; ++i) {
                std::uint64_t v = 0;
                for (const auto& t : tcp_sinks) v += t->reassembler().parse_counters().get(i);
                s.parse.emplace_back(net::to_string(static_cast<net::parse_status>(i)), v);
            }
            for (std::size_t i = 0; i < tcp::outcome_counters::size; ++i) {
                std::uint64_t v = 0;
                for (const auto& t : tcp_sinks) v += t->reassembler().outcomes().get(i);
                s.outcomes.emplace_back(tcp::to_string(static_cast<tcp::packet_outcome>(i)), v);
            }
            {
                // Frames of a link type rxinto does not parse: counted, never reassembled.
                std::uint64_t v = 0;
                for (const auto& t : tcp_sinks) v += t->unparsed_link_type();
                s.outcomes.emplace_back("unparsed_link_type", v);
            }
            for (const char* k : {"checksum_bad", "out_of_window", "before_stream_start",
                                  "data_after_fin", "no_handshake", "segment_pool_exhausted",
                                  "stream_cap_drops"})
                s.tcp_drops.emplace_back(k, s.tcp_count(k));
            s.tcp_drops.emplace_back("unparsed_link_type", s.outcomes.back().second);
            const std::uint64_t gone = s.tcp_count("flows_closed") + s.tcp_count("flows_timed_out") +
                                       s.tcp_count("flows_evicted") + s.tcp_count("flows_reused");
            s.flows_active = s.tcp_count("flows_created") - std::min(gone, s.tcp_count("flows_created"));
            for (const auto& t : tcp_sinks) {
                if (const stream_feed* f = t->feed(); f != nullptr) {
                    s.streams_ring_full += f->counters().ring_full.get();
                    s.stream_bytes_unsent += f->counters().bytes_unsent.get();
                }
            }
            if (store && !settings->tcp.streams_dir.empty()) {
                const auto& c = store->counters();
                s.stream_bytes_written = c.bytes_written.get();
                s.stream_write_errors = c.write_errors.get();
                s.stream_bytes_lost = c.bytes_lost.get();
                s.stream_files = c.files.get();
                s.stream_files_reopened = c.reopened.get();
            }
        }
        if (exporter != nullptr) fill_export(s.exp);
        if (!endpoint_sinks.empty()) {
            s.endpoint_enabled = true;
            for (std::size_t i = 0; i < endpoint::endpoint_counters::size; ++i) {
                std::uint64_t v = 0;
                for (const auto& e : endpoint_sinks) v += e->ep().counters().get(i);
                s.endpoint.emplace_back(endpoint::to_string(static_cast<endpoint::endpoint_counter>(i)), v);
            }
            for (std::size_t i = 0; i < tcp::tcp_counters::size; ++i) {
                std::uint64_t v = 0;
                for (const auto& e : endpoint_sinks) v += e->ep().stream_counters().get(i);
                s.tcp.emplace_back(tcp::to_string(static_cast<tcp::tcp_counter>(i)), v);
            }
            for (const auto& e : endpoint_sinks) {
                s.endpoint_connections += e->ep().connections();
                if (const auto* a = dynamic_cast<const StreamsApp*>(&e->app()); a != nullptr && a->feed() != nullptr) {
                    s.streams_ring_full += a->feed()->counters().ring_full.get();
                    s.stream_bytes_unsent += a->feed()->counters().bytes_unsent.get();
                }
            }
        }
        for (const auto& w : writers) {
            const auto& c = w->counters();
            s.capture_enabled = true;
            s.capture_packets += c.packets.get();
            s.capture_bytes += c.bytes.get();
            s.capture_file_bytes += c.file_bytes.get();
            s.capture_files += c.files.get();
            s.capture_write_errors += c.write_errors.get();
            s.capture_open_failures += c.open_failures.get();
            s.capture_truncated += c.truncated.get();
        }
        for (const auto& cs : capture_sinks) {
            s.filter_matched += cs->filter_matched();
            s.filter_rejected += cs->filter_rejected();
            s.capture_ring_full += cs->ring_full();
        }
        s.filter_enabled = filter != nullptr;
        if (dispatcher) {
            s.dispatch = true;
            s.dispatch_lcore = dispatcher->lcore;
            s.dispatch_packets = dispatcher->counters.packets.get();
            s.dispatch_ring_full = dispatcher->counters.ring_full.get();
            s.dispatch_polls = dispatcher->counters.polls.get();
            s.dispatch_empty_polls = dispatcher->counters.empty_polls.get();
        }
        s.mempool_in_use = rte_mempool_in_use_count(ports->pool());
        s.mempool_in_use_max = std::max(s.mempool_in_use, pool_in_use_max.load());
        for (const auto& w : workers) {
            stats::WorkerStats ws;
            ws.lcore = w->lcore;
            ws.tid = w->tid.load(std::memory_order_relaxed);
            ws.packets = w->counters.packets.get();
            ws.bytes = w->counters.bytes.get();
            ws.polls = w->counters.polls.get();
            ws.empty_polls = w->counters.empty_polls.get();
            s.workers.push_back(ws);
        }
        return s;
    }

    /// One control step; returns false when reception should stop.
    bool control() {
        // The pool's low-water mark (most mbufs out at once), sampled every step.
        const std::uint64_t in_use = rte_mempool_in_use_count(ports->pool());
        if (in_use > pool_in_use_max.load()) pool_in_use_max.store(in_use);
        if (opt->stop_requested != nullptr && opt->stop_requested->load()) {
            stop_reason = "signal";
            return false;
        }
        const double t = now_s();
        if (settings->run.duration_s > 0 && t >= settings->run.duration_s) {
            stop_reason = "duration";
            return false;
        }
        const bool want_progress = settings->run.progress && t >= next_progress_s;
        if (!replays.empty() || want_progress) {
            const stats::Snapshot snap = snapshot();
            if (want_progress) {
                std::fprintf(opt->progress_out, "%s\n",
                             stats::progress_line(last_progress, snap).c_str());
                std::fflush(opt->progress_out);
                last_progress = snap;
                next_progress_s += 1.0;
            }
            // A replay is complete when its reader reached the end of the file
            // (or the last record it trusts) and its pollers counted every packet
            // it delivered; a net_pcap file when every packet libpcap accepts is
            // accounted for (received, or dropped for want of an mbuf or unread).
            if (!replays.empty() && replays.size() == ports->ports().size()) {
                bool all_done = true;
                std::uint64_t accounted = 0;
                for (const std::size_t i : replays) {
                    const auto& p = snap.ports[i];
                    accounted += p.rx_packets + p.rx_nombuf + p.ierrors;
                    if (!replay_complete(*plan, *ports, i, p.rx_packets, p.rx_nombuf, p.ierrors))
                        all_done = false;
                }
                if (all_done) {
                    stop_reason = "end_of_capture";
                    return false;
                }
                if (accounted != last_accounted) {
                    last_accounted = accounted;
                    last_change_s = t;
                } else if (stall_check && t - last_change_s > 5.0) {
                    // The readers wait for free mbufs; nothing came back for 5 s
                    // (a pool too small for what reassembly holds). Stop rather
                    // than hang, and say so.
                    stop_reason = "stalled";
                    notes.push_back("replay stalled: " + std::to_string(accounted) +
                                    " packets accounted for, no progress for 5 s (every mbuf held:"
                                    " raise [mempool] mbufs)");
                    return false;
                }
            }
        }
        return true;
    }

    void fill_export(stats::ExportStats& x) const {
        const fleet::export_counts c = exporter->counts();
        x.enabled = true;
        x.node = exporter->node();
        x.run = exporter->run_id();
        x.connected = c.connected;
        x.exported = c.records.exported;
        x.acked = c.records.acked;
        x.duplicates = c.records.duplicates + c.chunks.duplicates;
        x.spooled = c.records.spooled;
        x.dropped = c.records.dropped;
        x.chunks_enabled = exporter->streams();
        x.chunks_exported = c.chunks.exported;
        x.chunks_acked = c.chunks.acked;
        x.chunks_spooled = c.chunks.spooled;
        x.chunks_dropped = c.chunks.dropped;
        x.chunk_bytes = c.chunk_bytes;
        x.in_spool = c.in_spool;
        x.spool_bytes = c.spool_bytes;
        x.inflight = c.inflight;
        x.retries = c.publish_retries;
        x.disconnects = c.disconnects;
        x.reconnects = c.reconnects;
        x.records_truncated = c.records_truncated;
        for (int i = 0; i < static_cast<int>(fleet::drop_reason::count_); ++i)
            x.drops.emplace_back(fleet::to_string(static_cast<fleet::drop_reason>(i)),
                                 c.records.drops[i] + c.chunks.drops[i]);
    }

    static bool tick(void* arg) noexcept {
        auto* r = static_cast<Run*>(arg);
        return r->control();
    }
};

/// The exporter from [export] (EAL up: its ring is EAL memory).
Result<std::unique_ptr<fleet::exporter>> make_exporter(const config::Settings& s, std::vector<std::string>& notes) {
    fleet::exporter_options o;
    o.urls = s.export_.urls;
    o.node = s.export_.node;
    o.streams = s.export_.streams;
    if (!s.tcp.streams_dir.empty()) {
        // Records name the directory the node wrote, absolute: rxinto-query
        // --fetch says where the bytes are when they were not exported.
        char* real = ::realpath(s.tcp.streams_dir.c_str(), nullptr);
        o.streams_dir = real != nullptr ? real : s.tcp.streams_dir;
        std::free(real);
    }
    o.spool_dir = s.export_.spool_dir;
    o.spool_bytes = s.export_.spool_mb << 20;
    o.wait_s = s.export_.wait_s;
    o.replicas = s.export_.replicas;
    o.ring_bytes = std::uint64_t{s.export_.ring_mb} << 20;
    o.connect_timeout_s = s.export_.connect_timeout_s;
    o.require_server = s.export_.require_server;
    return fleet::exporter::create(o, notes);
}

/// The endpoint's sinks, one per worker: its tx queue on each port is the one
/// of the rx queue it polls there.
/// feeds[i]: worker i's stream output (null: none), taken by its StreamsApp.
Status make_endpoint_sinks(Run& r, const config::Settings& s, const RunOptions& opt, const port::Ports& ports,
                           std::vector<std::unique_ptr<stream_feed>>& feeds) {
    auto made = endpoint_config_of(s);
    if (!made) return std::move(made).error();
    const endpoint::endpoint_config base = std::move(made.value());
    for (std::size_t i = 0; i < r.workers.size(); ++i) {
        Worker& w = *r.workers[i];
        endpoint::endpoint_config cfg = base;
        for (const QueueRef& q : w.queues) {
            const auto& pi = ports.ports()[q.port_index];
            bool known = false;
            for (const auto& b : cfg.ports) known = known || b.port_id == pi.port_id;
            if (!known) cfg.ports.push_back({pi.port_id, q.queue, pi.mac});
        }
        const int socket = static_cast<int>(rte_lcore_to_socket_id(w.lcore));
        auto ep = endpoint::endpoint::create(cfg, "rxep" + std::to_string(i), static_cast<unsigned>(i), socket);
        if (!ep) return make_error("worker ", std::to_string(i), ": ", ep.error().message);
        std::unique_ptr<EndpointApp> app;
        if (opt.endpoint_app) app = opt.endpoint_app(static_cast<unsigned>(i));
        if (!app)
            app = std::make_unique<StreamsApp>(std::move(feeds[i]), s.endpoint.read_rate, s.endpoint.max_connections);
        r.endpoint_sinks.push_back(std::make_unique<EndpointSink>(std::move(ep.value()), std::move(app)));
    }
    for (std::size_t i = 0; i < r.workers.size(); ++i)
        r.endpoint_workers.push_back(EndpointWorker{r.workers[i].get(), r.endpoint_sinks[i].get()});
    return {};
}

/// The line that says the endpoint takes connections (tests wait for "listening").
void announce_endpoint(const config::Settings& s, const RunOptions& opt) {
    std::string addrs, ports;
    for (const auto& a : s.endpoint.addresses) addrs += (addrs.empty() ? "" : " ") + a;
    for (auto p : s.endpoint.listen) ports += (ports.empty() ? "" : ",") + std::to_string(p);
    std::fprintf(opt.progress_out, "rxinto: endpoint %s listening on TCP port%s %s\n", addrs.c_str(),
                 s.endpoint.listen.size() == 1 ? "" : "s", ports.empty() ? "(none)" : ports.c_str());
    std::fflush(opt.progress_out);
    if (opt.on_listening) opt.on_listening();
}

constexpr unsigned dispatch_ring_size = 4096;  // per worker: a few bursts of slack each way
// Output rings, per worker: packets to write (one mbuf each) and stream
// messages (stream_feed: at most data_messages_max of up to msg_pieces mbufs
// each; the rest of its ring_size hold opens, gaps and ends). Enough for a
// few milliseconds of a disk that stalls at full rate; the mempool is sized
// to hold them full.
constexpr unsigned capture_ring_size = 8192;
constexpr unsigned max_dispatch_workers = 64;

}  // namespace

Result<stats::Summary> run(const config::Settings& s, const RunOptions& opt) {
    if (auto v = config::validate(s); !v) return std::move(v).error();
    // Every output path, before anything starts (exit 2 when one cannot be written).
    if (auto o = check_output_paths(s); !o) return std::move(o).error();

    // Captures to replay: opened and checked before EAL starts (replay.hpp).
    std::string generated;  // the built-in capture, written once by opt.generated_capture
    for (const auto& p : s.ports) {
        if (p.kind != config::PortKind::pcap || p.source != config::generated_pcap || !generated.empty())
            continue;
        if (!opt.generated_capture)
            return make_error("a port replays the built-in capture, but there is none in this program:"
                              " give a capture file");
        auto path = opt.generated_capture();
        if (!path) return std::move(path).error();
        generated = path.value();
    }
    auto planned = plan_replays(s, generated, opt.stop_requested);
    if (!planned) return std::move(planned).error();
    ReplayPlan plan = std::move(planned.value());
    const std::vector<std::string>& pcap_paths = plan.paths;
    std::vector<std::string> notes = plan.notes;
    std::vector<std::size_t> replays;
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        if (plan.sources[i] || plan.net_pcap_limit[i] >= 0) replays.push_back(i);
    const std::vector<tcp::port_link>& links = plan.links;
    const std::vector<bool>& pcap_ts = plan.pcap_ts;
    const std::vector<stats::CaptureStats>& captures = plan.captures;

    // A filter that does not compile is a usage error: say so before the EAL
    // starts (libpcap alone can tell, for the link type of the first capture).
    if (!s.capture.filter.empty()) {
        const int linktype = captures.empty() ? 1 /* DLT_EN10MB */ : captures.front().linktype;
        if (auto st = check_filter_syntax(s.capture.filter, linktype); !st) {
            Error e = std::move(st).error();
            e.usage = true;
            return e;
        }
    }

    // The streams directory is checked (and an earlier run's output removed,
    // when allowed) before anything starts: a bad one is a usage error.
    // --export without --streams-dir: a store without a directory follows the
    // connections for the export records alone.
    const bool exporting = s.tcp.enabled && !s.export_.urls.empty();
    // The workers hand their stream bytes over when something uses them: the
    // files, the exported chunks, or (-w) the pcapng places of the last bytes.
    const bool stream_data = !s.tcp.streams_dir.empty() ||
                             (exporting && (s.export_.streams || !s.capture.write.empty()));
    std::unique_ptr<stream_store> store;
    if (s.tcp.enabled && (!s.tcp.streams_dir.empty() || exporting)) {
        stream_store_options so;
        so.dir = s.tcp.streams_dir;
        so.overwrite = s.tcp.streams_dir_overwrite;
        so.max_open_files = s.tcp.streams_max_open;
        so.data_messages = stream_data;
        auto st = stream_store::open(so);
        if (!st) return std::move(st).error();
        store = std::move(st.value());
    }

    auto hp = port::plan_memory(s.eal, plan.offline);
    if (!hp) return std::move(hp).error();
    if (!hp->cleanup.empty()) {
        std::fprintf(opt.progress_out, "rxinto: %s\n", hp->cleanup.c_str());
        notes.push_back(hp->cleanup);
    }
    if (!hp->note.empty()) {
        std::fprintf(opt.progress_out, "%s\n", hp->note.c_str());
        notes.push_back("ran with --no-huge: no usable hugepages");
    }
    auto args = port::build_eal_args(s, hp->use_hugepages, pcap_paths, plan.offline);
    if (!args) return std::move(args).error();
    auto eal = port::eal_init(args.value(), hp->use_hugepages);
    if (!eal) return std::move(eal).error();

    // From here on every exit path closes the ports and cleans up the EAL.
    struct EalGuard {
        ~EalGuard() { port::eal_cleanup(); }
    } eal_guard;
    // dpdk-dumpcap and dpdk-pdump tap the ports of a running primary through
    // the multi-process channel: register DPDK's pdump server, as testpmd does,
    // and take it down before the EAL (the guard goes first). Nobody can attach
    // with --in-memory (no channel) or --no-huge (no memory a secondary can map).
    const bool pdump_served = rte_pdump_init() == 0;
    if (!pdump_served)
        notes.push_back(std::string("dpdk-dumpcap/dpdk-pdump cannot attach: rte_pdump_init: ") +
                        rte_strerror(rte_errno));
    struct PdumpGuard {
        ~PdumpGuard() { rte_pdump_uninit(); }
    } pdump_guard;

    // Software dispatch: when the ports cannot give every worker lcore a queue
    // of its own (virtual devices have one), the first worker lcore becomes a
    // dispatcher that hashes packets to the others.
    std::vector<unsigned> worker_lcores = eal->worker_lcores;
    const bool endpoint_on = !s.endpoint.addresses.empty();
    bool dispatch = false;
    if (endpoint_on) {
        // The endpoint's workers poll and send on their own queues.
    } else if (s.run.dispatch == "yes") {
        if (worker_lcores.size() < 2)
            return make_error("[run] dispatch = yes needs at least three lcores (main, dispatcher,"
                              " a worker); [eal] lcores = '", s.eal.lcores, "'");
        dispatch = true;
    } else if (s.run.dispatch == "auto" && worker_lcores.size() >= 3) {
        for (std::size_t i = 0; i < s.ports.size() && !dispatch; ++i) {
            auto q = port::Ports::max_rx_queues(s.ports[i], i);
            if (!q) return std::move(q).error();
            const unsigned want = s.ports[i].rx_queues != 0 ? s.ports[i].rx_queues
                                                            : static_cast<unsigned>(worker_lcores.size());
            if (*q < want) dispatch = true;
        }
    }
    unsigned dispatch_lcore = 0;
    if (dispatch) {
        dispatch_lcore = worker_lcores.front();
        worker_lcores.erase(worker_lcores.begin());
        if (worker_lcores.size() > max_dispatch_workers)
            return make_error("software dispatch: at most ", std::to_string(max_dispatch_workers),
                              " workers");
    }
    const unsigned pollers = dispatch ? 1U
                             : worker_lcores.empty() ? 1U
                                                     : static_cast<unsigned>(worker_lcores.size());
    const std::uint32_t in_rings =
        dispatch ? static_cast<std::uint32_t>(worker_lcores.size()) * dispatch_ring_size : 0;
    // Buffers the output rings may hold on the way to the output thread, and
    // the endpoint's held segments.
    const auto nworkers = static_cast<std::uint32_t>(dispatch ? worker_lcores.size()
                                                   : std::max<std::size_t>(worker_lcores.size(), 1));
    const std::uint32_t out_rings =
        nworkers * ((s.capture.write.empty() ? 0 : capture_ring_size) +
                    (store ? stream_feed::data_messages_max * msg_pieces : 0));
    const std::uint32_t endpoint_held = endpoint_on ? s.endpoint.max_segments : 0;
    const config::Settings sized = size_for_files(s, plan);  // offline: tables no larger than the files
    auto opened = port::Ports::open(sized, pollers, static_cast<unsigned>(eal->worker_lcores.size()) + 1,
                                    pcap_paths, in_rings + out_rings + endpoint_held, plan.sources,
                                    endpoint_on    ? port::TxQueues::per_rx
                                    : pdump_served ? port::TxQueues::idle
                                                   : port::TxQueues::none);
    if (!opened) return std::move(opened).error();
    port::Ports ports = std::move(opened.value());
    for (const std::size_t i : replays) {
        if (plan.net_pcap_limit[i] < 0) continue;
        if (auto st = ports.limit_rx(i, static_cast<std::uint64_t>(plan.net_pcap_limit[i])); !st)
            return std::move(st).error();
    }
    for (const auto& n : ports.notes()) notes.push_back(n);

    // The per-worker tables must fit in what EAL has left after the packet
    // pool: say so now, with the numbers, rather than fail half-way (or, as
    // heap memory did, grow until the OOM killer comes). Without hugepages
    // EAL's memory is exactly [eal] memory_mb; with them it may grow, and an
    // allocation that fails says what it needed.
    if (s.tcp.enabled && !eal->hugepages) {
        const auto nw = static_cast<std::uint64_t>(std::max<std::size_t>(worker_lcores.size(), 1));
        const std::uint64_t need = nw * tcp::reassembler::memory_needed(tcp_config_of(sized.tcp, false));
        rte_malloc_socket_stats ms{};
        std::uint64_t free_bytes = 0;
        for (int sock = 0; sock < RTE_MAX_NUMA_NODES; ++sock)
            if (rte_malloc_get_socket_stats(sock, &ms) == 0) free_bytes += ms.heap_freesz_bytes;
        if (need > free_bytes) {
            const std::uint64_t mib = 1U << 20;
            Error e = make_error("TCP reassembly for ", std::to_string(nw), " worker", nw == 1 ? "" : "s",
                                 " needs ", std::to_string(need / mib + 1), " MiB of EAL memory ([tcp] max_flows ",
                                 std::to_string(sized.tcp.max_flows), ", max_segments ",
                                 std::to_string(sized.tcp.max_segments), "); ", std::to_string(free_bytes / mib),
                                 " MiB are left after the packet pool of [eal] memory_mb ",
                                 std::to_string(s.eal.memory_mb), ": raise --memory to about ",
                                 std::to_string(s.eal.memory_mb + (need - free_bytes) / mib + 16),
                                 " or lower --max-flows");
            e.usage = true;
            return e;
        }
    }

    // Fleet export: connected and checked before any packet is received.
    std::unique_ptr<fleet::exporter> exporter;
    std::unique_ptr<fleet_export> export_feed;
    if (exporting) {
        auto ex = make_exporter(s, notes);
        if (!ex) return std::move(ex).error();
        exporter = std::move(ex.value());
        std::fprintf(opt.progress_out, "rxinto: %s\n", notes.back().c_str());
        export_feed = std::make_unique<fleet_export>(exporter.get());
        store->set_observer(export_feed.get());
    }

    Run r;
    r.settings = &s;
    r.exporter = exporter.get();
    r.opt = &opt;
    r.ports = &ports;
    r.plan = &plan;
    r.replays = std::move(replays);
    for (const std::size_t i : r.replays)
        if (ports.ports()[i].file != nullptr && !ports.ports()[i].file->mapped()) r.stall_check = false;
    r.notes = std::move(notes);

    // One Worker per worker lcore, or one on the main lcore when there is none.
    if (worker_lcores.empty()) {
        auto w = std::make_unique<Worker>();
        w->lcore = eal->main_lcore;
        r.workers.push_back(std::move(w));
    } else {
        for (unsigned lc : worker_lcores) {
            auto w = std::make_unique<Worker>();
            w->lcore = lc;
            r.workers.push_back(std::move(w));
        }
    }
    static FreeSink free_sink;
    // mbuf->port (an ethdev id) -> index in the settings, for packets that come
    // through a dispatch ring from any port.
    std::vector<std::uint16_t> port_index_of(RTE_MAX_ETHPORTS, 0);
    for (std::size_t i = 0; i < ports.ports().size(); ++i)
        port_index_of[ports.ports()[i].port_id] = static_cast<std::uint16_t>(i);
    const bool replay_only = !r.replays.empty() && r.replays.size() == ports.ports().size();
    // Receive times: capture time for replays, the TSC for live ports.
    r.clock = std::make_unique<packet_clock>(pcap_ts);
    r.store = std::move(store);
    std::vector<output_source> sources(r.workers.size());
    // Each worker's stream ring to the output thread (stream output, export).
    std::vector<std::unique_ptr<stream_feed>> feeds(r.workers.size());
    if (r.store) {
        for (std::size_t i = 0; i < r.workers.size(); ++i) {
            const int socket = static_cast<int>(rte_lcore_to_socket_id(r.workers[i]->lcore));
            const std::string name = "rxinto_s" + std::to_string(i);
            rte_ring* ring = rte_ring_create_elem(name.c_str(), sizeof(stream_msg), stream_feed::ring_size, socket,
                                                  RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (ring == nullptr)
                return make_error("stream ring for worker ", std::to_string(i), ": ", rte_strerror(rte_errno));
            r.output_rings.push_back(ring);
            sources[i].streams = ring;
            feeds[i] = std::make_unique<stream_feed>(ring, stream_data, replay_only, &r.stop);
        }
    }
    if (s.tcp.enabled && !endpoint_on) {
        for (std::size_t i = 0; i < r.workers.size(); ++i) {
            const int socket = static_cast<int>(rte_lcore_to_socket_id(r.workers[i]->lcore));
            tcp::tcp_config cfg = tcp_config_of(sized.tcp, replay_only);
            if (dispatch) cfg.dispatch_workers = static_cast<std::uint32_t>(r.workers.size());
            auto re = tcp::reassembler::create(cfg, "rxw" + std::to_string(i),
                                               static_cast<unsigned>(i), ports.pool(), socket);
            if (!re) return make_error("worker ", std::to_string(i), ": ", re.error().message);
            r.tcp_sinks.push_back(std::make_unique<TcpSink>(std::move(re.value()), links, r.clock.get(),
                                                            std::move(feeds[i]), port_index_of));
        }
        std::vector<TcpSink::link_source> link_sources(s.ports.size(), TcpSink::link_source::from_port);
        for (std::size_t i = 0; i < s.ports.size(); ++i) {
            if (plan.sources[i]) link_sources[i] = TcpSink::link_source::per_packet;
            else if (plan.net_pcap_limit[i] >= 0 && plan.linktype[i] >= 0 &&
                     !net::link_type_from_pcap(static_cast<std::uint32_t>(plan.linktype[i])))
                link_sources[i] = TcpSink::link_source::unparsed;
        }
        for (auto& t : r.tcp_sinks) t->set_link_sources(link_sources, port::linktype_dynfield_offset());
    }
    // Queues are dealt round-robin over the workers (each queue has one owner),
    // or all go to the dispatcher, which feeds one ring per worker.
    if (dispatch) {
        r.dispatcher = std::make_unique<Dispatcher>();
        r.dispatcher->lcore = dispatch_lcore;
        r.dispatcher->burst = s.run.burst;
        r.dispatcher->stop = &r.stop;
        r.dispatcher->lossless = replay_only;
        for (const auto& l : links) r.dispatcher->links.push_back(l.link);
        for (std::size_t i = 0; i < r.workers.size(); ++i) {
            const std::string name = "rxinto_d" + std::to_string(i);
            rte_ring* ring = rte_ring_create(name.c_str(), dispatch_ring_size,
                                             static_cast<int>(rte_lcore_to_socket_id(r.workers[i]->lcore)),
                                             RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (ring == nullptr) {
                for (auto* x : r.rings) rte_ring_free(x);
                return make_error("dispatch ring for worker ", std::to_string(i), ": ",
                                  rte_strerror(rte_errno));
            }
            r.rings.push_back(ring);
            r.dispatcher->rings.push_back(ring);
            r.dispatcher->stage.emplace_back(max_burst);
            r.ring_counters.push_back(std::make_unique<QueueCounters>());
            QueueRef q;
            q.ring = ring;
            q.counters = r.ring_counters.back().get();
            r.workers[i]->queues.push_back(q);
            r.workers[i]->drain = &r.drain;
        }
        r.dispatcher->staged.assign(r.workers.size(), 0);
    }
    std::size_t next = 0;
    for (std::size_t i = 0; i < ports.ports().size(); ++i) {
        const auto& pi = ports.ports()[i];
        r.first_queue.push_back(r.queue_counters.size());
        for (std::uint16_t q = 0; q < pi.rx_queues; ++q) {
            r.queue_counters.push_back(std::make_unique<QueueCounters>());
            const QueueRef ref{static_cast<std::uint16_t>(i), pi.port_id, q,
                               r.queue_counters.back().get()};
            if (dispatch) r.dispatcher->queues.push_back(ref);
            else r.workers[next++ % r.workers.size()]->queues.push_back(ref);
        }
    }
    if (endpoint_on) {
        if (auto st = make_endpoint_sinks(r, s, opt, ports, feeds); !st) return std::move(st).error();
    }
    // Capture stage: filter and pcapng writer, in front of reassembly.
    if (!s.capture.filter.empty()) {
        int linktype = 1;  // DLT_EN10MB, unless the first port replays another link type
        if (!captures.empty()) linktype = captures.front().linktype;
        auto f = bpf_filter::compile(s.capture.filter, linktype);
        if (!f) return std::move(f).error();
        r.filter = std::move(f.value());
    }
    if (!s.capture.write.empty()) {
        pcapng_options po;
        po.path = s.capture.write;
        po.rotate_bytes = s.capture.rotate_mb * 1'000'000ULL;  // tcpdump's -C: millions of bytes
        po.rotate_seconds = s.capture.rotate_seconds;
        po.ring_files = s.capture.ring_files;
        po.snaplen = s.capture.snaplen;
        std::vector<pcapng_port> pp;
        for (const auto& pi : ports.ports()) pp.push_back({pi.port_id, pi.name, pi.driver, false});
        // -w -: one stream on standard output, one writer for every worker
        // (the output thread is the only one that writes).
        const bool one_writer = s.capture.write == "-";
        for (std::size_t i = 0; i < r.workers.size(); ++i) {
            if (!one_writer || r.writers.empty()) {
                auto wr = pcapng_writer::open(po, one_writer ? 0U : static_cast<unsigned>(i),
                                              one_writer ? 1U : static_cast<unsigned>(r.workers.size()), pp);
                if (!wr) return make_error("-w ", s.capture.write, ": ", wr.error().message);
                r.writers.push_back(std::move(wr.value()));
            }
            const std::string name = "rxinto_c" + std::to_string(i);
            rte_ring* ring = rte_ring_create(name.c_str(), capture_ring_size,
                                             static_cast<int>(rte_lcore_to_socket_id(r.workers[i]->lcore)),
                                             RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (ring == nullptr)
                return make_error("capture ring for worker ", std::to_string(i), ": ", rte_strerror(rte_errno));
            r.output_rings.push_back(ring);
            sources[i].capture = ring;
            sources[i].writer = r.writers.back().get();
        }
    }
    for (std::size_t i = 0; i < r.workers.size(); ++i) {
        auto& w = r.workers[i];
        w->burst = s.run.burst;
        w->sink = r.tcp_sinks.empty() ? static_cast<BurstSink*>(&free_sink) : r.tcp_sinks[i].get();
        if (endpoint_on) w->sink = r.endpoint_sinks[i].get();
        if (r.filter || !r.writers.empty()) {
            capture_ring cr;
            cr.ring = sources[i].capture;
            cr.clock = r.clock.get();
            cr.port_index_of = &port_index_of;
            cr.lossless = replay_only;
            cr.stop = &r.stop;
            r.capture_sinks.push_back(std::make_unique<CaptureSink>(
                w->sink, r.filter.get(), s.capture.filter_before_reassembly, cr));
            w->sink = r.capture_sinks.back().get();
            // Export records with -w name the pcapng places of a connection's
            // packets: its messages carry the capture ring's count. (Not with
            // -w -: standard output is no file to find them in again.)
            if (exporting && cr.ring != nullptr && s.capture.write != "-" && i < r.tcp_sinks.size()) {
                if (stream_feed* f = r.tcp_sinks[i]->feed(); f != nullptr) {
                    f->set_capture_seq(r.capture_sinks.back()->seq());
                    sources[i].places = true;
                }
            }
        }
        w->stop = &r.stop;
    }
    // Everything that touches a disk runs on the output thread.
    if (r.store || !r.writers.empty()) {
        auto out = output_thread::start(std::move(sources), r.store.get());
        if (!out) return std::move(out).error();
        r.output = std::move(out.value());
    }
    // A port polled from another NUMA node than its own pays the interconnect
    // on every packet: say so at start-up.
    for (const auto& w : r.workers) {
        for (const QueueRef& q : w->queues) {
            if (q.ring != nullptr) continue;
            const auto& pi = ports.ports()[q.port_index];
            const auto node = static_cast<int>(rte_lcore_to_socket_id(w->lcore));
            if (pi.socket >= 0 && node != pi.socket && q.queue == 0) {
                r.notes.push_back("port " + std::to_string(q.port_index) + " (" + pi.name +
                                  ") is on NUMA node " + std::to_string(pi.socket) + " but lcore " +
                                  std::to_string(w->lcore) + " polling it is on node " +
                                  std::to_string(node) + ": use lcores of node " +
                                  std::to_string(pi.socket));
                std::fprintf(opt.progress_out, "rxinto: warning: %s\n", r.notes.back().c_str());
            }
        }
    }
    if (r.dispatcher) {
        for (const QueueRef& q : r.dispatcher->queues) {
            const auto& pi = ports.ports()[q.port_index];
            const auto node = static_cast<int>(rte_lcore_to_socket_id(r.dispatcher->lcore));
            if (pi.socket >= 0 && node != pi.socket && q.queue == 0) {
                r.notes.push_back("port " + std::to_string(q.port_index) + " (" + pi.name +
                                  ") is on NUMA node " + std::to_string(pi.socket) +
                                  " but the dispatcher lcore is on node " + std::to_string(node));
                std::fprintf(opt.progress_out, "rxinto: warning: %s\n", r.notes.back().c_str());
            }
        }
    }
    for (std::size_t i = 0; i < ports.ports().size(); ++i) {
        const auto& pi = ports.ports()[i];
        std::fprintf(opt.progress_out, "rxinto: port %zu %s (%s): %u rx queue%s, %s\n", i,
                     pi.name.c_str(), pi.driver.c_str(), pi.rx_queues,
                     pi.rx_queues == 1 ? "" : "s", pi.link.c_str());
    }

    r.hz = rte_get_tsc_hz();
    r.start_tsc = rte_rdtsc();
    r.last_progress = r.snapshot();
    r.last_progress.t_s = 0;
    if (exporter) {
        if (auto st = exporter->start(); !st) return std::move(st).error();
    }
    // telemetry: /rxinto/* answer from r until end(), then "not running".
    stats::telemetry::Publication telemetry([&r] { return r.snapshot(); });

    if (worker_lcores.empty()) {
        Worker& w = *r.workers.front();
        w.tick = &Run::tick;
        w.tick_arg = &r;
        w.tick_cycles = r.hz / 100;  // control step every 10 ms
        if (endpoint_on) {
            announce_endpoint(s, opt);
            run_endpoint_worker(w, *r.endpoint_sinks.front());
        } else {
            run_worker(w);
        }
    } else {
        if (r.dispatcher) {
            if (int rc = rte_eal_remote_launch(dispatcher_main, r.dispatcher.get(), r.dispatcher->lcore);
                rc != 0)
                return make_error("cannot start the dispatcher on lcore ",
                                  std::to_string(r.dispatcher->lcore), " (", std::to_string(rc), ")");
        }
        for (std::size_t i = 0; i < r.workers.size(); ++i) {
            auto& w = r.workers[i];
            const int rc = endpoint_on ? rte_eal_remote_launch(endpoint_worker_main, &r.endpoint_workers[i], w->lcore)
                                       : rte_eal_remote_launch(worker_main, w.get(), w->lcore);
            if (rc != 0) {
                r.stop.store(true);
                r.drain.store(true);
                rte_eal_mp_wait_lcore();
                return make_error("cannot start the worker on lcore ", std::to_string(w->lcore),
                                  ": it is busy (", std::to_string(rc), ")");
            }
        }
        if (endpoint_on) announce_endpoint(s, opt);
        while (r.control()) rte_delay_us_sleep(10 * 1000);
    }
    r.stop.store(true);
    if (r.dispatcher) {
        // The dispatcher stops first; then the workers empty their rings.
        rte_eal_wait_lcore(r.dispatcher->lcore);
        r.drain.store(true, std::memory_order_release);
    }
    rte_eal_mp_wait_lcore();
    telemetry.end();  // telemetry: before r's sinks and the ports go
    // The workers are stopped: their reassemblers can be finished from here,
    // and every capture file gets its statistics blocks and is closed.
    // The last stream messages go out from here (the workers are stopped):
    // nothing of them is dropped now, the output thread is draining.
    for (auto& t : r.tcp_sinks) t->finish();
    for (auto& e : r.endpoint_sinks) e->finish();
    if (r.output) r.output->stop();  // every ring drained, every stream file closed
    for (auto& w : r.writers) w->close();
    if (exporter) {
        // The last end records came from the output thread's finish: wait
        // (bounded by [export] wait) until the cluster has them.
        exporter->stop();
        if (const std::string e = exporter->last_error(); !e.empty()) r.notes.push_back("export: " + e);
    }

    stats::Summary sum;
    sum.last = r.snapshot(true);
    sum.stop_reason = r.stop_reason;
    sum.hugepages = eal->hugepages;
    sum.mempool_size = ports.pool_size();
    sum.mempool_in_use = rte_mempool_in_use_count(ports.pool());
    sum.notes = std::move(r.notes);
    finish_captures(plan, ports, sum.notes);
    sum.captures = std::move(plan.captures);
    if (r.store && r.store->counters().index_errors.get() != 0)
        sum.notes.push_back("--streams-dir: " + std::to_string(r.store->counters().index_errors.get()) +
                            " index lines could not be written");
    r.tcp_sinks.clear();  // reassemblers free their tables before the ports and the EAL go
    r.endpoint_sinks.clear();
    for (auto* ring : r.rings) rte_ring_free(ring);  // empty: the workers drained them
    for (auto* ring : r.output_rings) rte_ring_free(ring);  // empty: the output thread drained them
    r.rings.clear();
    ports.close();
    return sum;
}

}  // namespace rxinto::capture
