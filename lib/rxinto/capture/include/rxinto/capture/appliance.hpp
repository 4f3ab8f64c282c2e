// The rxinto appliance: bring-up, receive loop on every worker lcore, control
// loop on the main lcore (progress, end of replay, duration, signals), clean
// stop and tear-down. main() only parses the command line, installs signal
// handlers and turns the Result into an exit code.
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <string>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/stats/summary.hpp"

namespace rxinto::capture {

struct RunOptions {
    /// Set (e.g. by a signal handler) to stop reception; may be null.
    const std::atomic<bool>* stop_requested = nullptr;
    /// Progress lines and one-time notes go here (stderr by default).
    std::FILE* progress_out = stderr;
    /// Writes the built-in capture that a port with source "generated" replays
    /// and returns its path (the generator is not part of the library: the
    /// rxinto program brings it). Null: such a port is an error.
    std::function<Result<std::string>()> generated_capture;
};

/// Runs until the replayed captures end, the duration passes or a stop is
/// requested. Initialises and cleans up the EAL: once per process.
[[nodiscard]] Result<stats::Summary> run(const config::Settings& s, const RunOptions& opt);

}  // namespace rxinto::capture
