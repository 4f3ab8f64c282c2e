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
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "rxinto/capture/capture_sink.hpp"
#include "rxinto/capture/dispatch.hpp"
#include "rxinto/capture/endpoint_sink.hpp"
#include "rxinto/capture/filter.hpp"
#include "rxinto/capture/pcapng_writer.hpp"
#include "rxinto/capture/replay.hpp"
#include "rxinto/capture/rx_loop.hpp"
#include "rxinto/capture/tcp_sink.hpp"
#include "rxinto/port/eal.hpp"
#include "rxinto/port/ports.hpp"
#include "rxinto/stats/telemetry.hpp"  // telemetry

namespace rxinto::capture {

namespace {

struct ReplayPort {
    std::size_t index = 0;
    std::uint64_t expected = 0;
};

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
    std::vector<std::unique_ptr<CaptureSink>> capture_sinks;  // filter + writer, per worker
    std::vector<rte_ring*> rings;                     // its rings, one per worker
    std::vector<std::unique_ptr<QueueCounters>> ring_counters;
    std::atomic<bool> drain{false};                   // dispatcher stopped: workers drain their rings
    mutable std::atomic<std::uint64_t> pool_in_use_max{0};
    mutable std::mutex stats_mu;  // rte_eth_stats_get from the control lcore and telemetry  // sampled by control(): the pool's low-water mark
    std::vector<ReplayPort> replays;
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
            for (const char* k : {"checksum_bad", "out_of_window", "before_stream_start",
                                  "data_after_fin", "no_handshake", "segment_pool_exhausted",
                                  "stream_cap_drops"})
                s.tcp_drops.emplace_back(k, s.tcp_count(k));
            const std::uint64_t gone = s.tcp_count("flows_closed") + s.tcp_count("flows_timed_out") +
                                       s.tcp_count("flows_evicted") + s.tcp_count("flows_reused");
            s.flows_active = s.tcp_count("flows_created") - std::min(gone, s.tcp_count("flows_created"));
            for (const auto& t : tcp_sinks) {
                if (const stream_files* f = t->files(); f != nullptr) {
                    s.stream_bytes_written += f->bytes_written();
                    s.stream_write_errors += f->write_errors();
                }
            }
        }
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
                if (auto* a = dynamic_cast<StreamsApp*>(&e->app()); a != nullptr && a->files() != nullptr) {
                    s.stream_bytes_written += a->files()->bytes_written();
                    s.stream_write_errors += a->files()->write_errors();
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
            s.capture_copy_failures += c.copy_failures.get();
            s.capture_open_failures += c.open_failures.get();
            s.capture_truncated += c.truncated.get();
        }
        for (const auto& cs : capture_sinks) {
            s.filter_matched += cs->filter_matched();
            s.filter_rejected += cs->filter_rejected();
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
            // A replay is complete when every packet of the file is accounted for:
            // received, or dropped by net_pcap for want of an mbuf (rx_nombuf) or
            // for a record it could not read (ierrors).
            if (!replays.empty() && replays.size() == ports->ports().size()) {
                bool all_done = true;
                std::uint64_t accounted = 0;
                for (const auto& r : replays) {
                    const auto& p = snap.ports[r.index];
                    const std::uint64_t a = p.rx_packets + p.rx_nombuf + p.ierrors;
                    accounted += a;
                    if (a < r.expected) all_done = false;
                }
                if (all_done) {
                    stop_reason = "end_of_capture";
                    return false;
                }
                if (accounted != last_accounted) {
                    last_accounted = accounted;
                    last_change_s = t;
                } else if (t - last_change_s > 5.0) {
                    // Should not happen: net_pcap delivers what libpcap read in the
                    // scan. Stop rather than hang, and say so.
                    stop_reason = "stalled";
                    notes.push_back("replay stalled: " + std::to_string(accounted) +
                                    " packets accounted for, the capture files hold more");
                    return false;
                }
            }
        }
        return true;
    }

    static bool tick(void* arg) noexcept {
        auto* r = static_cast<Run*>(arg);
        return r->control();
    }
};

tcp::tcp_config tcp_config_of(const config::TcpSettings& t) {
    tcp::tcp_config c;
    c.max_flows = t.max_flows;
    c.max_segments = t.max_segments;
    c.limits.max_segments = t.stream_max_segments;
    c.limits.max_bytes = t.stream_max_bytes;
    c.limits.max_ooo_bytes = t.stream_max_ooo_bytes;
    c.policy = t.overlap == "last" ? tcp::overlap_policy::last : tcp::overlap_policy::first;
    c.checksum = t.checksum == "verify"   ? tcp::checksum_mode::verify
                 : t.checksum == "ignore" ? tcp::checksum_mode::ignore
                                          : tcp::checksum_mode::automatic;
    c.midstream = t.midstream;
    auto ns = [](double sec) { return static_cast<std::uint64_t>(sec * 1e9); };
    c.timeout_syn_ns = ns(t.timeout_syn_s);
    c.timeout_established_ns = ns(t.timeout_established_s);
    c.timeout_closing_ns = ns(t.timeout_closing_s);
    c.timeout_closed_ns = ns(t.timeout_closed_s);
    c.ip_reassembly = t.ip_reassembly;
    c.mempool_low_water = t.mempool_low_water;
    return c;
}

/// The endpoint's sinks, one per worker: its tx queue on each port is the one
/// of the rx queue it polls there.
Status make_endpoint_sinks(Run& r, const config::Settings& s, const RunOptions& opt, const port::Ports& ports,
                           const std::shared_ptr<stream_index>& index) {
    endpoint::endpoint_config base;
    for (const std::string& a : s.endpoint.addresses) {
        auto ip = endpoint::parse_address(a);
        if (!ip) return make_error("[endpoint] address: ", ip.error().message);
        base.addresses.push_back(ip.value());
    }
    base.listen_ports = s.endpoint.listen;
    base.reset_unknown = s.endpoint.reset_unknown;
    base.max_connections = s.endpoint.max_connections;
    base.syn_queue = s.endpoint.syn_queue;
    base.syn_cookies = s.endpoint.syn_cookies;
    base.time_wait_max = s.endpoint.time_wait_max;
    base.time_wait_ns = static_cast<std::uint64_t>(s.endpoint.time_wait_s * 1e9);
    base.receive_buffer = s.endpoint.receive_buffer;
    base.max_segments = s.endpoint.max_segments;
    base.mtu = s.endpoint.mtu;
    base.tx_mbufs = s.endpoint.tx_mbufs;
    base.verify_checksums = s.tcp.checksum != "ignore";
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
        if (!app) {
            std::unique_ptr<stream_files> files;
            if (index) files = std::make_unique<stream_files>(index, nullptr);
            app = std::make_unique<StreamsApp>(std::move(files), s.endpoint.read_rate, s.endpoint.max_connections);
        }
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
constexpr unsigned max_dispatch_workers = 64;

}  // namespace

Result<stats::Summary> run(const config::Settings& s, const RunOptions& opt) {
    if (auto v = config::validate(s); !v) return std::move(v).error();

    // Captures to replay: learn their packet counts before EAL starts.
    std::string generated;  // the built-in capture, written once by opt.generated_capture
    std::vector<std::string> pcap_paths(s.ports.size());
    std::vector<ReplayPort> replays;
    std::vector<stats::CaptureStats> captures;
    std::vector<std::string> notes;
    std::vector<tcp::port_link> links(s.ports.size());
    std::vector<bool> pcap_ts(s.ports.size(), false);
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        const auto& p = s.ports[i];
        if (p.kind != config::PortKind::pcap) continue;
        if (p.source == config::generated_pcap) {
            if (generated.empty()) {
                if (!opt.generated_capture)
                    return make_error("port ", std::to_string(i),
                                      ": no built-in capture in this program: give a capture file");
                auto path = opt.generated_capture();
                if (!path) return std::move(path).error();
                generated = path.value();
            }
            pcap_paths[i] = generated;
        } else {
            pcap_paths[i] = p.source;
        }
        auto info = scan_capture(pcap_paths[i]);
        if (!info) return make_error("port ", std::to_string(i), ": ", info.error().message);
        if (info->read_error)
            notes.push_back("capture '" + pcap_paths[i] + "': libpcap stops after " +
                            std::to_string(info->packets) + " packets: " + info->error);
        replays.push_back({i, info->packets});
        pcap_ts[i] = true;
        if (s.tcp.enabled && s.tcp.checksum == "auto" && checksums_mostly_wrong(*info)) {
            links[i].verify_checksums = false;
            notes.push_back("capture '" + pcap_paths[i] + "': " +
                            std::to_string(info->tcp_checksums_bad) + " of " +
                            std::to_string(info->tcp_checksums_bad + info->tcp_checksums_good +
                                           info->tcp_checksums_offload) +
                            " sampled TCP checksums are wrong (rewritten or anonymised"
                            " addresses?): checksums are not verified for this capture"
                            " (--checksum verify insists)");
        }
        links[i].may_be_cut = true;  // a capture's snaplen may have cut frames short
        if (auto lt = net::link_type_from_pcap(static_cast<std::uint32_t>(info->linktype)))
            links[i].link = *lt;
        else if (s.tcp.enabled)
            notes.push_back("capture '" + pcap_paths[i] + "': link type " +
                            std::to_string(info->linktype) +
                            " is not one rxinto parses (Ethernet, raw IP, Linux SLL, null/loopback):"
                            " its frames are counted, and dropped as not_ip by reassembly");
        captures.push_back({static_cast<std::uint16_t>(i), pcap_paths[i], info->linktype,
                            info->packets, info->bytes, info->wire_bytes,
                            info->truncated_frames});
    }

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

    auto hp = port::decide_hugepages(s.eal, port::probe_hugepages());
    if (!hp) return std::move(hp).error();
    if (!hp->note.empty()) {
        std::fprintf(opt.progress_out, "%s\n", hp->note.c_str());
        notes.push_back("ran with --no-huge: no usable hugepages");
    }
    auto args = port::build_eal_args(s, hp->use_hugepages, pcap_paths);
    if (!args) return std::move(args).error();
    auto eal = port::eal_init(args.value(), hp->use_hugepages);
    if (!eal) return std::move(eal).error();

    // From here on every exit path closes the ports and cleans up the EAL.
    struct EalGuard {
        ~EalGuard() { port::eal_cleanup(); }
    } eal_guard;

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
    auto opened = port::Ports::open(s, pollers, static_cast<unsigned>(eal->worker_lcores.size()) + 1,
                                    pcap_paths, in_rings + (endpoint_on ? s.endpoint.max_segments : 0),
                                    endpoint_on);
    if (!opened) return std::move(opened).error();
    port::Ports ports = std::move(opened.value());
    for (const auto& n : ports.notes()) notes.push_back(n);

    Run r;
    r.settings = &s;
    r.opt = &opt;
    r.ports = &ports;
    r.replays = std::move(replays);
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
    std::shared_ptr<stream_index> index;
    if (s.tcp.enabled && !s.tcp.streams_dir.empty()) {
        auto idx = stream_index::open(s.tcp.streams_dir);
        if (!idx) return std::move(idx).error();
        index = std::move(idx.value());
    }
    // net_pcap stamps each mbuf with its record's time in this dynamic field.
    const int ts_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
    const int ts_bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
    const std::uint64_t ts_flag = ts_bit >= 0 ? (1ULL << ts_bit) : 0;
    if (s.tcp.enabled && !endpoint_on) {
        for (std::size_t i = 0; i < r.workers.size(); ++i) {
            const int socket = static_cast<int>(rte_lcore_to_socket_id(r.workers[i]->lcore));
            tcp::tcp_config cfg = tcp_config_of(s.tcp);
            if (dispatch) cfg.dispatch_workers = static_cast<std::uint32_t>(r.workers.size());
            auto re = tcp::reassembler::create(cfg, "rxw" + std::to_string(i),
                                               static_cast<unsigned>(i), ports.pool(), socket);
            if (!re) return make_error("worker ", std::to_string(i), ": ", re.error().message);
            r.tcp_sinks.push_back(std::make_unique<TcpSink>(std::move(re.value()), links, pcap_ts,
                                                            ts_offset, ts_bit >= 0 ? ts_flag : 0,
                                                            index, port_index_of));
        }
    }
    // Queues are dealt round-robin over the workers (each queue has one owner),
    // or all go to the dispatcher, which feeds one ring per worker.
    if (dispatch) {
        r.dispatcher = std::make_unique<Dispatcher>();
        r.dispatcher->lcore = dispatch_lcore;
        r.dispatcher->burst = s.run.burst;
        r.dispatcher->stop = &r.stop;
        r.dispatcher->lossless = !r.replays.empty() && r.replays.size() == ports.ports().size();
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
        if (auto st = make_endpoint_sinks(r, s, opt, ports, index); !st) return std::move(st).error();
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
        po.pool_mbufs = 2047;
        std::vector<pcapng_port> pp;
        for (const auto& pi : ports.ports()) pp.push_back({pi.port_id, pi.name, pi.driver, false});
        for (std::size_t i = 0; i < r.workers.size(); ++i) {
            auto wr = pcapng_writer::open(po, static_cast<unsigned>(i),
                                          static_cast<unsigned>(r.workers.size()), pp, nullptr);
            if (!wr) return make_error("-w ", s.capture.write, ": ", wr.error().message);
            r.writers.push_back(std::move(wr.value()));
        }
    }
    for (std::size_t i = 0; i < r.workers.size(); ++i) {
        auto& w = r.workers[i];
        w->burst = s.run.burst;
        w->sink = r.tcp_sinks.empty() ? static_cast<BurstSink*>(&free_sink) : r.tcp_sinks[i].get();
        if (endpoint_on) w->sink = r.endpoint_sinks[i].get();
        if (r.filter || !r.writers.empty()) {
            r.capture_sinks.push_back(std::make_unique<CaptureSink>(
                w->sink, r.filter.get(), s.capture.filter_before_reassembly,
                r.writers.empty() ? nullptr : r.writers[i].get()));
            w->sink = r.capture_sinks.back().get();
        }
        w->stop = &r.stop;
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
    for (auto& t : r.tcp_sinks) t->finish();
    for (auto& e : r.endpoint_sinks) e->finish();
    for (auto& w : r.writers) w->close();

    stats::Summary sum;
    sum.last = r.snapshot(true);
    sum.stop_reason = r.stop_reason;
    sum.hugepages = eal->hugepages;
    sum.mempool_size = ports.pool_size();
    sum.mempool_in_use = rte_mempool_in_use_count(ports.pool());
    sum.notes = std::move(r.notes);
    sum.captures = std::move(captures);
    if (index && index->write_errors() != 0)
        sum.notes.push_back("--streams-dir: " + std::to_string(index->write_errors()) +
                            " index lines could not be written");
    r.tcp_sinks.clear();  // reassemblers free their tables before the ports and the EAL go
    r.endpoint_sinks.clear();
    for (auto* ring : r.rings) rte_ring_free(ring);  // empty: the workers drained them
    r.rings.clear();
    ports.close();
    return sum;
}

}  // namespace rxinto::capture
