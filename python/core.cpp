#include "core.hpp"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_pause.h>

#include "rxinto/capture/replay.hpp"
#include "rxinto/capture/tcp_settings.hpp"
#include "rxinto/endpoint/endpoint.hpp"
#include "rxinto/port/eal.hpp"

namespace rxpy {

namespace port = rxinto::port;
using rxinto::make_error;

namespace {

eal_info g_eal;
/// The pool of the open Receiver, or of a closed one whose mbufs peek() views still pin.
std::weak_ptr<pool_keeper> g_keeper;
unsigned g_receivers = 0;  ///< reassembler names must be unique while they live

constexpr flow::direction dir_of(std::size_t d) noexcept { return static_cast<flow::direction>(d); }

/// Packets one run() takes in before it hands pending events back: enough to
/// amortise a Python iteration over many bursts (~1.5 MB of full segments),
/// few enough that the streams hold a small part of the pool meanwhile.
constexpr std::uint64_t max_packets_per_run = 1024;
/// A replay whose packet count has not moved for this long is declared over
/// (with a note), rather than polled for ever; the appliance does the same.
/// One timeout pass per second of packet time (as the appliance's TcpSink).
constexpr std::uint64_t expire_every_ns = 1'000'000'000ULL;

}  // namespace

const eal_info& eal_state() noexcept { return g_eal; }

namespace {
std::array<std::atomic<std::int64_t>, static_cast<std::size_t>(live_kind::count_)> g_live{};
}  // namespace

std::int64_t live_objects(live_kind k) noexcept { return g_live[static_cast<std::size_t>(k)].load(); }
void live_add(live_kind k, std::int64_t n) noexcept { g_live[static_cast<std::size_t>(k)].fetch_add(n); }

Result<const eal_info*> ensure_eal(const config::Settings& s, const std::vector<std::string>& eal_given) {
    if (g_eal.up) {
        // EAL settings cannot change once it is up: say which one differs.
        const config::EalSettings& now = g_eal.eal;
        const config::EalSettings& want = s.eal;
        auto differs = [&](const std::string& key) -> std::string {
            if (key == "lcores") return want.lcores != now.lcores ? now.lcores + "' vs '" + want.lcores : "";
            if (key == "memory_mb")
                return want.memory_mb != now.memory_mb
                           ? std::to_string(now.memory_mb) + "' vs '" + std::to_string(want.memory_mb)
                           : "";
            if (key == "hugepages") return want.hugepages != now.hugepages ? "(another value)" : "";
            if (key == "file_prefix")
                return want.file_prefix != now.file_prefix ? now.file_prefix + "' vs '" + want.file_prefix : "";
            if (key == "in_memory") return want.in_memory != now.in_memory ? "(another value)" : "";
            if (key == "log_level")
                return want.log_level != now.log_level ? now.log_level + "' vs '" + want.log_level : "";
            if (key == "eal_args") return want.extra_args != now.extra_args ? "(other arguments)" : "";
            return "";
        };
        for (const std::string& k : eal_given) {
            const std::string d = differs(k);
            if (!d.empty())
                return make_error("[eal] ", k, ": the EAL of this process is already up with other settings ('", d,
                                  "'): EAL settings apply once per process, from the first Receiver or "
                                  "rxinto.init_eal(); leave them out of later Receivers");
        }
        return &g_eal;
    }
    auto hp = port::decide_hugepages(s.eal, port::probe_hugepages());
    if (!hp) return std::move(hp).error();
    // Devices are hot-plugged per Receiver (so that a later Receiver can replay
    // another file): EAL itself gets only the PCI allow-list.
    config::Settings es = s;
    es.ports.erase(std::remove_if(es.ports.begin(), es.ports.end(),
                                  [](const config::PortSettings& p) { return p.kind != config::PortKind::pci; }),
                   es.ports.end());
    auto args = port::build_eal_args(es, hp->use_hugepages, {});
    if (!args) return std::move(args).error();
    // The telemetry socket would collide between processes with one prefix,
    // and nothing registers telemetry here (the appliance does).
    args->emplace_back("--no-telemetry");
    // rte_eal_init pins the calling thread (here: the interpreter's) to the
    // main lcore's CPU, and every thread Python starts afterwards would
    // inherit that mask. A library must not pin its host: restore it.
    cpu_set_t saved;
    CPU_ZERO(&saved);
    const bool have_saved = sched_getaffinity(0, sizeof saved, &saved) == 0;
    auto eal = port::eal_init(args.value(), hp->use_hugepages);
    if (have_saved) (void)sched_setaffinity(0, sizeof saved, &saved);
    if (!eal) return std::move(eal).error();
    g_eal.up = true;
    g_eal.hugepages = hp->use_hugepages;
    g_eal.main_lcore = eal->main_lcore;
    g_eal.eal = s.eal;
    g_eal.args = args.value();
    g_eal.note = hp->note;
    g_eal.pci = es.ports.size() > 0;
    return &g_eal;
}

// ---------------------------------------------------------------------------
// Streams: live, or from the spill

namespace {

std::uint64_t spill_available(const spill& sp) noexcept {
    const std::size_t until = sp.next_gap < sp.gaps.size() ? sp.gaps[sp.next_gap].at : sp.data.size();
    return until - sp.pos;
}

}  // namespace

tcp::recv_result stream_state(const conn_state& st, std::size_t d) noexcept {
    if (st.c != nullptr) return st.c->in(dir_of(d)).poll();
    const spill& sp = st.sp[d];
    tcp::recv_result r;
    if (spill_available(sp) != 0) return r;
    if (sp.next_gap < sp.gaps.size()) {
        r.gap = sp.gaps[sp.next_gap].len;
        return r;
    }
    r.end = st.fz[d].ended;
    return r;
}

tcp::recv_result stream_read(conn_state& st, std::size_t d, std::span<std::byte> buf) noexcept {
    if (st.c != nullptr) return st.c->in(dir_of(d)).recv_into(buf);
    spill& sp = st.sp[d];
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(spill_available(sp), buf.size()));
    if (n != 0) std::memcpy(buf.data(), sp.data.data() + sp.pos, n);
    sp.pos += n;
    st.fz[d].offset += n;
    st.fz[d].delivered += n;
    tcp::recv_result r = stream_state(st, d);
    r.bytes = n;
    return r;
}

std::uint64_t stream_skip_gap(conn_state& st, std::size_t d) noexcept {
    if (st.c != nullptr) return st.c->in(dir_of(d)).skip_gap();
    spill& sp = st.sp[d];
    if (spill_available(sp) != 0 || sp.next_gap >= sp.gaps.size()) return 0;
    const std::uint64_t g = sp.gaps[sp.next_gap++].len;
    st.fz[d].offset += g;
    st.fz[d].gap_bytes += g;
    ++st.fz[d].gap_count;
    return g;
}

std::uint64_t stream_available(const conn_state& st, std::size_t d) noexcept {
    if (st.c != nullptr) return st.c->in(dir_of(d)).readable();
    return spill_available(st.sp[d]);
}

std::size_t stream_peek(const conn_state& st, std::size_t d, std::span<std::span<const std::byte>> out,
                        std::span<rte_mbuf*> segs) noexcept {
    if (st.c != nullptr) return st.c->in(dir_of(d)).peek(out, segs);
    const spill& sp = st.sp[d];
    const std::uint64_t n = spill_available(sp);
    if (n == 0 || out.empty() || segs.empty()) return 0;
    out[0] = std::span<const std::byte>(sp.data.data() + sp.pos, static_cast<std::size_t>(n));
    segs[0] = nullptr;  // a spill: no packet buffer
    return 1;
}

void stream_consume(conn_state& st, std::size_t d, std::uint64_t n) noexcept {
    if (st.c != nullptr) {
        st.c->in(dir_of(d)).consume(n);
        return;
    }
    spill& sp = st.sp[d];
    n = std::min(n, spill_available(sp));
    sp.pos += static_cast<std::size_t>(n);
    st.fz[d].offset += n;
    st.fz[d].delivered += n;
}

stream_frozen stream_counters(const conn_state& st, std::size_t d) noexcept {
    if (st.c == nullptr) return st.fz[d];
    const tcp::stream& s = st.c->in(dir_of(d));
    stream_frozen f;
    f.offset = s.offset();
    f.delivered = s.delivered();
    f.gap_bytes = s.gap_bytes();
    f.gap_count = s.gap_count();
    f.overlap_conflicts = s.overlap_conflicts();
    f.midstream = s.midstream();
    f.ended = s.ended();
    return f;
}

std::uint64_t stream_held(const conn_state& st, std::size_t d) noexcept {
    if (st.c != nullptr) return st.c->in(dir_of(d)).held_bytes();
    return st.sp[d].data.size() - st.sp[d].pos;
}

bool stream_finished(const conn_state& st, std::size_t d) noexcept {
    if (st.c != nullptr) return st.c->in(dir_of(d)).finished();
    const spill& sp = st.sp[d];
    return sp.pos == sp.data.size() && sp.next_gap == sp.gaps.size();
}

std::int8_t conn_client_dir(const conn_state& st) noexcept {
    if (st.c == nullptr) return st.client_dir;
    const auto c = st.c->client();
    return c ? static_cast<std::int8_t>(flow::index_of(*c)) : std::int8_t{-1};
}

flow::direction conn_first_dir(const conn_state& st) noexcept {
    return st.c != nullptr ? st.c->first() : st.first_dir;
}

bool conn_midstream(const conn_state& st) noexcept { return st.c != nullptr ? st.c->midstream() : st.midstream; }

// ---------------------------------------------------------------------------
// Pool keeper and the mbuf behind a view

pool_keeper::~pool_keeper() {
    ports.close();
    for (rte_device* dev : probed) (void)rte_dev_remove(dev);
}


// ---------------------------------------------------------------------------
// The receiver

Result<std::unique_ptr<receiver_core>> receiver_core::open(const config::Settings& s, const std::string& generated) {
    if (!g_eal.up) return make_error("the EAL is not up (internal: call ensure_eal first)");
    if (auto k = g_keeper.lock()) {
        return make_error("another Receiver is open in this process, or peek() views of a closed one (",
                          std::to_string(k.use_count() - 1),
                          ") still pin its packet buffers: close it and release the views first (one "
                          "Receiver at a time per process: DPDK's pool and device names are per process)");
    }
    std::unique_ptr<receiver_core> rc(new receiver_core());
    rc->settings_ = s;
    rc->burst_ = s.run.burst;
    rc->hz_ = std::max<std::uint64_t>(1, rte_get_tsc_hz());

    // Replays: rxinto's strict reader (capture/replay.hpp), as the appliance
    // uses it: it stops at the first record it cannot trust, knows the end of
    // the file, and says what it saw.
    auto plan = rxinto::capture::plan_replays(s, generated, nullptr);
    if (!plan) return std::move(plan).error();
    rc->plan_ = std::move(plan.value());
    for (const auto& n : rc->plan_.notes) rc->notes_.push_back(n);
    const std::vector<std::string>& pcap_paths = rc->plan_.paths;
    rc->ports_.resize(s.ports.size());
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        port_state& ps = rc->ports_[i];
        ps.link = rc->plan_.links[i];
        ps.pcap_timestamps = rc->plan_.pcap_ts[i];
        ps.replay = rc->plan_.sources[i] != nullptr || rc->plan_.net_pcap_limit[i] >= 0;
        if (ps.replay) rc->any_replay_ = true;
    }

    // Devices: the library's own EAL arguments give each pcap/vdev port its
    // device arguments (naming, the comma check); they are hot-plugged here,
    // and removed when the pool goes, so that the next Receiver can reuse the names.
    auto args = port::build_eal_args(s, g_eal.hugepages, pcap_paths);
    if (!args) return std::move(args).error();
    // Device arguments of the vdev and PCI ports, in port order (pcap ports
    // are file ports that Ports::open makes from the plan's sources).
    std::vector<std::string> devargs;
    // [eal] eal_args come last: a --vdev among them is the EAL's, not a port's.
    const std::size_t own = args->size() - std::min(args->size(), s.eal.extra_args.size());
    for (std::size_t i = 0; i + 1 < own; ++i)
        if ((*args)[i] == "--vdev" || (*args)[i] == "-a") devargs.push_back((*args)[i + 1]);
    std::size_t other = 0;
    for (const auto& p : s.ports) other += p.kind != config::PortKind::pcap;
    if (devargs.size() != other)
        return make_error("internal: ", std::to_string(devargs.size()), " device arguments for ",
                          std::to_string(other), " ports");
    auto keeper = std::make_shared<pool_keeper>();
    for (std::size_t i = 0, k = 0; i < s.ports.size(); ++i) {
        if (s.ports[i].kind == config::PortKind::pcap) continue;  // a file port: made by Ports::open
        const std::string& dev = devargs[k++];
        const std::string name = port::device_name(s.ports[i], i);
        std::uint16_t id = 0;
        if (rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0) continue;  // there already (e.g. a ring port)
        if (s.ports[i].kind == config::PortKind::pci && !g_eal.pci)
            return make_error("port ", std::to_string(i), " (PCI ", s.ports[i].source,
                              "): the EAL of this process came up without the PCI bus (its first Receiver had no "
                              "PCI port): give PCI ports to the first Receiver, or to rxinto.init_eal()");
        if (const int rc2 = rte_dev_probe(dev.c_str()); rc2 != 0)
            return make_error("port ", std::to_string(i), ": cannot create the device '", dev, "': ",
                              std::strerror(rc2 < 0 ? -rc2 : rc2),
                              s.ports[i].kind == config::PortKind::vdev ? " (check the device arguments)" : "");
        if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0)
            return make_error("port ", std::to_string(i), ": device '", dev, "' made no ethdev named '",
                              name, "'");
        rte_eth_dev_info info{};
        if (rte_eth_dev_info_get(id, &info) == 0 && info.device != nullptr) keeper->probed.push_back(info.device);
    }
    const bool terminate = !s.endpoint.addresses.empty();
    if (terminate && rc->any_replay_)
        return make_error("the endpoint (address=...) answers its peers: it needs live ports (vdev=, a PCI "
                          "port), not a capture file");
    auto ports = port::Ports::open(s, 1, 1, pcap_paths, terminate ? s.endpoint.max_segments : 0,
                                   rc->plan_.sources, terminate ? port::TxQueues::per_rx : port::TxQueues::none);
    if (!ports) return std::move(ports).error();
    keeper->ports = std::move(ports.value());
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        // A net_pcap vdev stops after the last record libpcap accepts (it would read on).
        if (rc->plan_.net_pcap_limit[i] < 0) continue;
        if (auto st = keeper->ports.limit_rx(i, static_cast<std::uint64_t>(rc->plan_.net_pcap_limit[i])); !st)
            return std::move(st).error();
    }
    for (const auto& n : keeper->ports.notes()) rc->notes_.push_back(n);
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        rc->ports_[i].port_id = keeper->ports.ports()[i].port_id;
        rc->ports_[i].queues = std::max<std::uint16_t>(1, keeper->ports.ports()[i].rx_queues);
    }
    // rxinto's file reader stamps each mbuf with its record's time (ns) in
    // this dynamic field: replays time out connections in capture time.
    rc->ts_offset_ = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
    const int ts_bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
    rc->ts_flag_ = ts_bit >= 0 ? (1ULL << ts_bit) : 0;

    if (terminate) {
        // rxinto owns the addresses: the endpoint answers ARP/ND and ping and
        // terminates TCP on its listening ports (listen()), as the appliance's
        // --address/--listen do; its connections are the same tcp::connection
        // and streams, so everything below serves both.
        auto made = rxinto::capture::endpoint_config_of(s);
        if (!made) return std::move(made).error();
        rxinto::endpoint::endpoint_config cfg = std::move(made.value());
        for (const auto& pi : keeper->ports.ports()) cfg.ports.push_back({pi.port_id, 0, pi.mac});
        auto ep = rxinto::endpoint::endpoint::create(cfg, "rxpyep" + std::to_string(g_receivers++), 0,
                                                     static_cast<int>(rte_socket_id()));
        if (!ep) return std::move(ep).error();
        rc->ep_ = std::move(ep.value());
        rc->ep_->set_listener(rc.get());
    } else {
        bool replay_only = !rc->ports_.empty();
        for (const port_state& p : rc->ports_) replay_only = replay_only && p.replay;
        tcp::tcp_config cfg = rxinto::capture::tcp_config_of(s.tcp, replay_only);
        auto r = tcp::reassembler::create(cfg, "rxpy" + std::to_string(g_receivers++), 0, keeper->ports.pool(),
                                          static_cast<int>(rte_socket_id()));
        if (!r) return std::move(r).error();
        rc->r_ = std::move(r.value());
        rc->r_->set_listener(rc.get());
    }
    rc->burst_buf_.assign(std::max<std::uint16_t>(rc->burst_, 1), nullptr);
    rc->keeper_ = keeper;
    g_keeper = keeper;
    rc->start_tsc_ = rte_rdtsc();
    rc->live_.reserve(1024);
    rc->pending_.reserve(1024);
    return rc;
}

receiver_core::~receiver_core() { close(); }

std::shared_ptr<conn_state> receiver_core::shared(conn_state* st) const noexcept {
    if (st == nullptr || st->live_index >= live_.size()) return {};
    return live_[st->live_index];
}

void receiver_core::queue(const std::shared_ptr<conn_state>& st, ev_kind k) noexcept {
    try {
        pending_.push_back(pending_event{st, k});
    } catch (...) {
        // Out of memory for an event: the connection is still listed by
        // connections(); say it once.
        if (notes_.empty() || notes_.back() != "events lost: out of memory") notes_.emplace_back("events lost: out of memory");
    }
}

void receiver_core::queue_closed(conn_state& st) noexcept {
    if (st.closed_queued) return;
    st.closed_queued = true;
    queue(shared(&st), ev_kind::closed);
}

void receiver_core::on_open(tcp::connection& c) noexcept {
    try {
        auto st = std::make_shared<conn_state>();
        st->owner = this;
        st->c = &c;
        st->id = c.id();
        st->key = c.key();
        std::uint16_t sport = 0, dport = 0;
        c.endpoints(flow::direction::a2b, st->addr[0], sport, st->addr[1], dport);
        st->live_index = live_.size();
        live_.push_back(st);
        ++open_count_;
        c.user.set(st.get());
        queue(st, ev_kind::opened);
    } catch (...) {
        // The application's side of a connection could not be made: it stays
        // invisible to Python (its buffers are still freed by the reassembler).
        if (notes_.empty() || notes_.back() != "connections lost: out of memory")
            notes_.emplace_back("connections lost: out of memory");
    }
}

void receiver_core::on_readable(tcp::connection& c) noexcept {
    conn_state* st = c.user.get<conn_state>();
    if (st == nullptr || st->closed_queued || st->readable_queued) return;
    st->readable_queued = true;
    queue(shared(st), ev_kind::readable);
}

void receiver_core::on_closed(tcp::connection& c) noexcept {
    conn_state* st = c.user.get<conn_state>();
    if (st == nullptr) return;
    st->ended_both = true;
    if (stream_finished(*st, 0) && stream_finished(*st, 1)) queue_closed(*st);
}

void receiver_core::on_release(tcp::connection& c) noexcept {
    conn_state* st = c.user.get<conn_state>();
    c.user.reset();
    if (st == nullptr) return;
    st->client_dir = conn_client_dir(*st);
    st->first_dir = c.first();
    st->midstream = c.midstream();
    if (!closing_) {
        // The last moment to read it: what the streams still hold (every hole
        // is a gap by now: the reassembler ended both) is copied out, gaps marked.
        for (std::size_t d = 0; d < 2; ++d) {
            tcp::stream& s = c.in(dir_of(d));
            st->fz[d] = stream_counters(*st, d);
            spill& sp = st->sp[d];
            try {
                sp.data.reserve(static_cast<std::size_t>(s.held_bytes()));
                for (;;) {
                    const std::uint64_t n = s.readable();
                    if (n != 0) {
                        const std::size_t at = sp.data.size();
                        sp.data.resize(at + static_cast<std::size_t>(n));
                        (void)s.recv_into(std::span<std::byte>(sp.data.data() + at, static_cast<std::size_t>(n)));
                    }
                    const tcp::recv_result r = s.poll();
                    if (r.gap == 0) break;
                    sp.gaps.push_back(spill::gap_mark{sp.data.size(), r.gap});
                    (void)s.skip_gap();
                }
            } catch (...) {
                // No memory for the copy: what could not be kept is a gap to
                // the end, never silently shortened data.
                const std::uint64_t rest = s.held_bytes();
                if (rest != 0) sp.gaps.push_back(spill::gap_mark{sp.data.size(), rest});
            }
        }
    }
    st->c = nullptr;
    if (!closing_) queue_closed(*st);
}

void receiver_core::after_read(conn_state& st) noexcept {
    if (st.c != nullptr && st.ended_both && !st.closed_queued && stream_finished(st, 0) && stream_finished(st, 1))
        queue_closed(st);
}

void receiver_core::delivered() noexcept {
    for (pending_event& e : pending_) {
        if (e.kind == ev_kind::readable) e.st->readable_queued = false;
        if (e.kind == ev_kind::closed && !e.st->closed_delivered) {
            e.st->closed_delivered = true;
            --open_count_;
            try {
                to_retire_.push_back(e.st);
            } catch (...) {
                // Retired at close() instead.
            }
        }
    }
    pending_.clear();
}

std::vector<std::shared_ptr<conn_state>> receiver_core::take_retirable() {
    std::vector<std::shared_ptr<conn_state>> out;
    out.swap(to_retire_);
    return out;
}

void receiver_core::retire(conn_state& st, retire_why why) noexcept {
    if (st.retired != retire_why::none) return;
    if (st.c != nullptr) {
        // Closed and read to its end, but still in the reassembler's table
        // (until its closed timeout): it forgets its Python side.
        st.c->user.reset();
        st.c = nullptr;
    }
    if (st.live_index < live_.size()) {
        const std::size_t i = st.live_index;
        if (i + 1 != live_.size()) {
            live_[i] = std::move(live_.back());
            live_[i]->live_index = i;
        }
        live_.pop_back();
    }
    if (!st.closed_delivered && open_count_ != 0) --open_count_;
    st.live_index = SIZE_MAX;
    st.retired = why;
    st.owner = nullptr;
}

void receiver_core::flush() noexcept {
    if (r_) r_->flush();
    // The endpoint's flush also sends: the ACKs with the window as the reads
    // left it, window updates, what send() queued, timers.
    if (ep_) ep_->flush(live_now_ns());
}

std::uint64_t receiver_core::live_now_ns() const noexcept {
    return rte_rdtsc() / std::max<std::uint64_t>(1, hz_ / 1'000'000ULL) * 1000ULL;
}

Status receiver_core::listen(std::uint16_t port) {
    if (closed_) return make_error("listen: the Receiver is closed");
    if (!ep_)
        return make_error("listen: this Receiver watches traffic; to terminate connections it must own an "
                          "address: Receiver(vdev=..., address='10.0.0.2/24')");
    if (port == 0) return make_error("listen: port 0");
    try {
        ep_->listen(port);
    } catch (const std::bad_alloc&) {
        return make_error("listen: out of memory");
    }
    return {};
}

namespace {
Status endpoint_conn(const receiver_core& rc, const conn_state& st, const char* what) {
    if (rc.endpoint() == nullptr)
        return make_error(what, ": a watched connection (rxinto does not own its addresses)");
    if (st.c == nullptr) return make_error(what, ": the connection is gone");
    return {};
}
}  // namespace

Result<std::size_t> receiver_core::send(conn_state& st, std::span<const std::byte> data) {
    if (auto ok = endpoint_conn(*this, st, "send"); !ok) return std::move(ok).error();
    if (data.empty()) return std::size_t{0};
    switch (ep_->send(*st.c, data)) {
    case rxinto::endpoint::send_status::ok: return data.size();
    case rxinto::endpoint::send_status::too_large:
    case rxinto::endpoint::send_status::no_buffers: return std::size_t{0};
    case rxinto::endpoint::send_status::closed: break;
    }
    return make_error("send: the connection is closed for sending (", rxinto::endpoint::to_string(ep_->state(*st.c)),
                      ")");
}

std::uint32_t receiver_core::send_room(const conn_state& st) const noexcept {
    return ep_ && st.c != nullptr ? ep_->send_room(*st.c) : 0;
}

Status receiver_core::shutdown(conn_state& st, bool reset) {
    if (auto ok = endpoint_conn(*this, st, reset ? "abort" : "close"); !ok) return std::move(ok).error();
    if (reset)
        ep_->abort(*st.c);  // on_release may run now: st.c is null after it
    else
        ep_->close(*st.c);
    return {};
}

const char* receiver_core::state(const conn_state& st) const noexcept {
    return ep_ && st.c != nullptr ? rxinto::endpoint::to_string(ep_->state(*st.c)) : "";
}

std::uint64_t receiver_core::now_ns(rte_mbuf* first, const port_state& p) const noexcept {
    if (p.pcap_timestamps && ts_offset_ >= 0 && (first->ol_flags & ts_flag_) != 0) {
        return *RTE_MBUF_DYNFIELD(first, ts_offset_, const rte_mbuf_timestamp_t*);  // ns
    }
    return live_now_ns();
}

bool receiver_core::replay_complete() noexcept {
    // The reader knows the end of each file (and net_pcap vdevs end at the
    // count libpcap accepted): capture::replay_complete says, per port.
    for (std::size_t i = 0; i < ports_.size(); ++i) {
        const port_state& p = ports_[i];
        if (!p.replay) return false;  // a live port never ends
        rte_eth_stats st{};
        if (rte_eth_stats_get(p.port_id, &st) != 0) return false;
        if (!rxinto::capture::replay_complete(plan_, keeper_->ports, i, p.received, st.rx_nombuf, st.ierrors))
            return false;
    }
    return true;
}

void receiver_core::finish_input() noexcept {
    if (input_done_) return;
    input_done_ = true;
    if (r_) {
        r_->finish();  // every stream ends (eof), every connection is released (spilled)
        r_->flush();
    }
    if (ep_) {
        const std::uint64_t now = live_now_ns();
        ep_->finish(now);  // every open connection is reset (the peer hears of it) and released (spilled)
        ep_->flush(now);
    }
}

receiver_core::run_status receiver_core::run(std::uint64_t deadline_tsc, std::uint64_t slice_end_tsc) noexcept {
    if (closed_) return run_status::done;
    if (input_done_) return pending_.empty() ? run_status::done : run_status::events;
    ++polls_;
    std::uint64_t got_total = 0;
    const double duration = settings_.run.duration_s;
    for (;;) {
        std::uint64_t got = 0;
        // The endpoint: ACKs and timers of the last burst, window updates for
        // what the application read since, what it queued to send.
        if (ep_) ep_->flush(live_now_ns());
        for (port_state& p : ports_) {
            for (std::uint16_t q = 0; q < p.queues; ++q) {
                const std::uint16_t n = rte_eth_rx_burst(p.port_id, q, burst_buf_.data(), burst_);
                if (n == 0) continue;
                got += n;
                p.received += n;
                for (std::uint16_t i = 0; i < n; ++i) bytes_ += rte_pktmbuf_pkt_len(burst_buf_[i]);
                const std::uint64_t now = now_ns(burst_buf_[0], p);
                last_now_ns_ = std::max(last_now_ns_, now);
                if (ep_)
                    ep_->process_burst(burst_buf_.data(), n, now);  // takes the mbufs
                else
                    r_->process_burst(burst_buf_.data(), n, p.link, now);  // takes the mbufs
            }
        }
        packets_ += got;
        got_total += got;
        const std::uint64_t tsc = rte_rdtsc();
        if (got == 0) {
            // Events first: Python reads the streams while the reassembler
            // still holds them (the end of a replay releases them all).
            if (!pending_.empty()) return run_status::events;
            if (any_replay_) {
                if (replay_complete()) finish_input();
            } else {
                // Live ports: time goes on without packets.
                last_now_ns_ = std::max<std::uint64_t>(last_now_ns_, tsc / std::max<std::uint64_t>(1, hz_ / 1'000'000ULL) * 1000ULL);
            }
        }
        if (r_ && !input_done_ && last_now_ns_ >= last_expire_ns_ + expire_every_ns) {
            last_expire_ns_ = last_now_ns_;
            r_->expire(last_now_ns_);
        }
        if (duration > 0 && static_cast<double>(tsc - start_tsc_) >= duration * static_cast<double>(hz_))
            finish_input();
        if (input_done_) return pending_.empty() ? run_status::done : run_status::events;
        if (!pending_.empty() && (got == 0 || got_total >= max_packets_per_run)) return run_status::events;
        if (tsc >= deadline_tsc) return run_status::deadline;
        if (tsc >= slice_end_tsc) return run_status::slice;
        if (got == 0) rte_pause();
    }
}

std::uint64_t receiver_core::close() noexcept {
    if (closed_) return in_use_at_close_;
    closed_ = true;
    closing_ = true;
    input_done_ = true;
    r_.reset();  // finish(): every connection released, every mbuf it held freed
    if (ep_) {
        const std::uint64_t now = live_now_ns();
        ep_->finish(now);  // the peers get a RST
        ep_->flush(now);
        ep_.reset();
    }
    for (auto& st : live_) {
        st->c = nullptr;
        st->live_index = SIZE_MAX;
        if (st->retired == retire_why::none) st->retired = retire_why::receiver_closed;
        st->owner = nullptr;
    }
    live_.clear();
    pending_.clear();
    to_retire_.clear();
    open_count_ = 0;
    if (keeper_) {
        keeper_->ports.stop();  // the driver gives back the mbufs of its rx rings
        if (rte_mempool* mp = keeper_->ports.pool()) in_use_at_close_ = rte_mempool_in_use_count(mp);
        keeper_.reset();  // the pool goes now, or with the last peek() view that pins it
    }
    return in_use_at_close_;
}

receiver_stats receiver_core::stats() const noexcept {
    receiver_stats s;
    s.packets = packets_;
    s.bytes = bytes_;
    s.polls = polls_;
    if (keeper_ && keeper_->ports.pool() != nullptr) {
        s.mempool_size = keeper_->ports.pool_size();
        s.mempool_in_use = rte_mempool_in_use_count(keeper_->ports.pool());
    } else {
        s.mempool_in_use = in_use_at_close_;
    }
    return s;
}

}  // namespace rxpy
