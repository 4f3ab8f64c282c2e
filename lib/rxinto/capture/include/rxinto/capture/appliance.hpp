// The rxinto appliance: bring-up, receive loop on every worker lcore, control
// loop on the main lcore (progress, end of replay, duration, signals), clean
// stop and tear-down. main() only parses the command line, installs signal
// handlers and turns the Result into an exit code.
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/stats/summary.hpp"

namespace rxinto::capture {

class EndpointApp;  // endpoint_sink.hpp

struct RunOptions {
    /// Set (e.g. by a signal handler) to stop reception; may be null.
    const std::atomic<bool>* stop_requested = nullptr;
    /// Progress lines and one-time notes go here (stderr by default).
    std::FILE* progress_out = stderr;
    /// Writes the built-in capture that a port with source "generated" replays
    /// and returns its path (the generator is not part of the library: the
    /// rxinto program brings it). Null: such a port is an error.
    std::function<Result<std::string>()> generated_capture;
    /// With [endpoint] address: the application of worker i (rxinto-perf's
    /// server); null, or a null result: StreamsApp ([tcp] streams_dir).
    std::function<std::unique_ptr<EndpointApp>(unsigned worker)> endpoint_app;
    /// Called once the endpoint accepts connections (after its "listening" line).
    std::function<void()> on_listening;
};

/// Runs until the replayed captures end, the duration passes or a stop is
/// requested. Initialises and cleans up the EAL: once per process.
[[nodiscard]] Result<stats::Summary> run(const config::Settings& s, const RunOptions& opt);

}  // namespace rxinto::capture
