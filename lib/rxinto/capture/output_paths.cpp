#include "rxinto/capture/output_paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "rxinto/config/values.hpp"

namespace rxinto::capture {

namespace {

/// The directory a new file at `path` goes into (dirname(3) without its
/// in-place edits): "." for a bare name, "/" for "/x".
std::string parent_of(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    path.resize(slash);
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

/// Errors that do not make a directory unusable: a full file system or quota
/// (reception goes on and the failed writes are counted; space may come back).
bool room_only(int e) { return e == ENOSPC || e == EDQUOT; }

/// "" when files can be created in dir, else why not.
std::string probe_dir(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        if (errno == ENOENT) return "directory " + config::values::quote(dir) + " does not exist";
        return "directory " + config::values::quote(dir) + ": " + std::strerror(errno);
    }
    if (!S_ISDIR(st.st_mode)) return config::values::quote(dir) + " is not a directory";
    // O_TMPFILE creates an unnamed file that vanishes on close: a real test of
    // "can create a file here" (permissions, read-only mounts, root or not)
    // that leaves nothing behind. File systems without it fall back to access(2).
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
        return {};
    }
    int e = errno;
    if (room_only(e)) return {};
    if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL) {
        if (::access(dir.c_str(), W_OK | X_OK) == 0) return {};
        e = errno;
    }
    return "cannot create files in " + config::values::quote(dir) + ": " + std::strerror(e);
}

/// "" when the file at path can be written (opened, or created in its directory).
std::string probe_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return probe_dir(parent_of(path));
        return std::strerror(errno);  // ENOTDIR (a parent is a file), EACCES, ELOOP, ...
    }
    if (S_ISDIR(st.st_mode)) return "it is a directory";
    if (S_ISFIFO(st.st_mode)) return {};  // a reader may come later; opening now would block
    // Opened for writing without O_TRUNC: the file is not changed by the check.
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return std::strerror(errno);
    ::close(fd);
    return {};
}

Error usage_error(const char* what, const std::string& path, const std::string& why) {
    Error e = make_error(what, ": cannot write ", config::values::quote(path), ": ", why);
    e.usage = true;
    return e;
}

}  // namespace

Status check_output_paths(const config::Settings& s) {
    if (const std::string& p = s.run.stats_json; !p.empty()) {
        if (auto why = probe_file(p); !why.empty()) return usage_error("--stats-json ([run] stats_json)", p, why);
    }
    // "-w -" is left to the writer (standard output, not a file named "-").
    if (const std::string& p = s.capture.write; !p.empty() && p != "-") {
        struct stat st {};
        std::string why;
        if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) why = probe_dir(p);  // files go inside
        else if (::stat(p.c_str(), &st) == 0) why = probe_file(p);  // replaced, as tcpdump -w does
        else why = probe_dir(parent_of(p));                        // PATH or PATH-<time>-<n>.pcapng
        if (!why.empty()) return usage_error("-w ([capture] write)", p, why);
    }
    if (const std::string& p = s.tcp.streams_dir; s.tcp.enabled && !p.empty()) {
        struct stat st {};
        std::string why;
        if (::stat(p.c_str(), &st) == 0) {
            why = S_ISDIR(st.st_mode) ? probe_dir(p) : "it exists and is not a directory";
        } else if (errno == ENOENT) {
            why = probe_dir(parent_of(p));  // created at start-up, one level
        } else {
            why = std::strerror(errno);
        }
        if (!why.empty()) return usage_error("--streams-dir ([tcp] streams_dir)", p, why);
    }
    return {};
}

}  // namespace rxinto::capture
