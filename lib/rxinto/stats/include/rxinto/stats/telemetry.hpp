// Live statistics through DPDK telemetry: while a run receives, the running
// process answers dpdk-telemetry.py (or any client of the
// <runtime dir>/dpdk_telemetry.v2 socket) with
//
//   /rxinto/stats             totals: rx_packets, rx_bytes, drops {reason: n},
//                             rates since start, uptime, flows_active, tcp {...}
//   /rxinto/ports             port indexes: [0, 1, ...]
//   /rxinto/port,<index>      one port: ids, driver, queues, counters, drops
//   /rxinto/workers           worker indexes: [0, 1, ...]
//   /rxinto/worker,<index>    one worker: lcore, packets, bytes, polls
//
// DPDK 22.11 cannot unregister a telemetry command, and its callbacks run in
// the telemetry thread, not on an lcore. So the commands are registered once per
// process and read through a provider guarded by a mutex: the appliance
// publishes a provider (a function building a Snapshot from its live
// counters) and withdraws it before the objects it reads die; withdraw() waits
// for a callback in flight. Without a provider the commands answer the
// string "not running".
//
// 22.11's telemetry has no floating-point values: rates and seconds are given
// both as integers (rx_pps, rx_bps, uptime_ms) and as decimal strings
// (mpps, gbps, uptime_s).
#pragma once

#include <functional>

#include "rxinto/stats/summary.hpp"

namespace rxinto::stats::telemetry {

using provider = std::function<Snapshot()>;

/// Registers the /rxinto/* commands, once per process (later calls return the
/// first result). 0, or the negative errno of rte_telemetry_register_cmd.
/// Telemetry is an aid: a failure here should not stop a run.
int register_commands() noexcept;

/// Makes the commands answer from `p` (replacing any earlier provider).
/// `p` is called in the telemetry thread, under the registry's mutex.
void publish(provider p);

/// The commands answer "not running" from now on. When this returns, no
/// callback is running the withdrawn provider or will run it.
void withdraw() noexcept;

/// True while a provider is published.
[[nodiscard]] bool published() noexcept;

/// register_commands() and publish() for a scope; withdraw() on end() or at
/// destruction, whichever comes first.
class Publication {
public:
    explicit Publication(provider p);
    Publication(const Publication&) = delete;
    Publication& operator=(const Publication&) = delete;
    ~Publication() { end(); }
    void end() noexcept;

private:
    bool active_ = false;
};

}  // namespace rxinto::stats::telemetry
