// Start-up check of every path the run will write, before the EAL and the
// ports start: a run that cannot save its results should not first receive
// for an hour. Control path only.
#pragma once

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"

namespace rxinto::capture {

/// Checks that --stats-json ([run] stats_json), -w ([capture] write: the file,
/// or the directory its numbered files go to) and --streams-dir ([tcp]
/// streams_dir: the directory, or the one it will be created in) can be
/// written now. Writes nothing that stays: a directory is probed with an
/// unnamed O_TMPFILE file, an existing file is opened for writing without
/// truncation. A full file system is not refused (writing resumes when there
/// is room, and the losses are counted). The error names the option, the path
/// and the reason, and is a usage error (exit code 2).
[[nodiscard]] Status check_output_paths(const config::Settings& s);

}  // namespace rxinto::capture
