#include "rxinto/port/eal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

// EAL 22.11 calibrates the TSC by sleeping 100 ms (get_tsc_freq in
// lib/eal/linux/eal_timer.c) when neither CPUID leaf 0x15 nor the
// MSR_PLATFORM_INFO register gives the frequency, which is the case on most
// virtual machines: that one sleep was most of an offline run's start-up.
// EAL measures the time that really passed (CLOCK_MONOTONIC_RAW around the
// sleep) and rounds the result to 10 MHz, so a 10 ms sleep yields the same
// frequency. While rxinto's own call to rte_eal_init runs (and only on its
// thread), this definition of nanosleep, which the dynamic linker prefers to
// libc's, shortens exactly that one request; every other call is passed on.
namespace {
std::atomic<bool> g_in_eal_init{false};
thread_local bool t_eal_thread = false;
}  // namespace

extern "C" int nanosleep(const struct timespec* req, struct timespec* rem) {
    struct timespec shorter {};
    if (req != nullptr && g_in_eal_init.load(std::memory_order_relaxed) && t_eal_thread &&
        req->tv_sec == 0 && req->tv_nsec == 100'000'000) {
        shorter.tv_nsec = 10'000'000;
        req = &shorter;
    }
    // nanosleep(2) is clock_nanosleep on CLOCK_REALTIME, which returns the error.
    const int rc = ::clock_nanosleep(CLOCK_REALTIME, 0, req, rem);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

namespace rxinto::port {

namespace {

constexpr const char* sysfs_hugepages = "/sys/kernel/mm/hugepages";
constexpr std::uint64_t mib = 1024ULL * 1024ULL;

std::uint64_t read_u64(const std::string& path) {
    std::ifstream f(path);
    std::uint64_t v = 0;
    if (f >> v) return v;
    return 0;
}

std::string reserve_hint() {
    return "reserve them with 'echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'"
           " and 'mount -t hugetlbfs nodev /dev/hugepages' (scripts/setup.sh does both)";
}

}  // namespace

HugepageState probe_hugepages() {
    HugepageState st;
    if (DIR* d = opendir(sysfs_hugepages)) {
        while (const dirent* e = readdir(d)) {
            // Entries look like "hugepages-2048kB".
            unsigned long kb = 0;
            if (std::sscanf(e->d_name, "hugepages-%lukB", &kb) != 1) continue;
            const std::uint64_t free_pages =
                read_u64(std::string(sysfs_hugepages) + "/" + e->d_name + "/free_hugepages");
            st.free_bytes += free_pages * kb * 1024ULL;
            if (kb == 2048) st.free_2m_pages = free_pages;
        }
        closedir(d);
    }
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream ls(line);
        std::string dev, dir, type;
        if (ls >> dev >> dir >> type && type == "hugetlbfs") st.hugetlbfs_mounted = true;
    }
    return st;
}

Result<HugepageDecision> decide_hugepages(const config::EalSettings& eal,
                                          const HugepageState& hp) {
    using config::Tristate;
    if (eal.hugepages == Tristate::off) return HugepageDecision{false, "", ""};

    const std::uint64_t need = std::uint64_t{eal.memory_mb} * mib;
    std::string why;
    if (hp.free_bytes == 0) {
        why = "no free hugepages";
    } else if (hp.free_bytes < need) {
        why = "only " + std::to_string(hp.free_bytes / mib) + " MiB of free hugepages, " +
              std::to_string(eal.memory_mb) + " MiB needed ([eal] memory_mb)";
    } else if (!hp.hugetlbfs_mounted && !eal.in_memory) {
        // --in-memory maps hugepages through memfd and needs no mount.
        why = "hugepages are reserved but no hugetlbfs is mounted";
    }
    if (why.empty()) return HugepageDecision{true, "", ""};

    if (eal.hugepages == Tristate::on) {
        return make_error("hugepages: ", why, " and [eal] hugepages = yes: ", reserve_hint(),
                          ", or run with --no-huge");
    }
    return HugepageDecision{
        false, "rxinto: " + why + ": running with --no-huge (4 KiB pages, no physical "
                                  "addresses: fine for virtual devices, not for DMA from a NIC); " +
                   "for hugepages " + reserve_hint(), ""};
}

namespace {

std::uint64_t mem_total_bytes() {
    std::ifstream f("/proc/meminfo");
    std::string key;
    std::uint64_t kb = 0;
    std::string unit;
    while (f >> key >> kb >> unit)
        if (key == "MemTotal:") return kb * 1024ULL;
    return 0;
}

}  // namespace

Result<HugepageDecision> plan_memory(const config::EalSettings& eal, bool offline) {
    HugepageDecision d;
    std::string cleanup;
    if (eal.hugepages != config::Tristate::off && !(offline && eal.hugepages != config::Tristate::on))
        cleanup = remove_stale_hugepage_files(eal.file_prefix);  // before counting the free pages
    if (offline && eal.hugepages != config::Tristate::on) {
        d.use_hugepages = false;  // by design, no note: a file replay has no DMA
    } else {
        auto r = decide_hugepages(eal, probe_hugepages());
        if (!r) return r;
        d = std::move(r.value());
    }
    if (!d.use_hugepages) {
        const std::uint64_t total = mem_total_bytes();
        if (total != 0 && std::uint64_t{eal.memory_mb} * mib > total)
            return make_error("--memory ", std::to_string(eal.memory_mb),
                              " MiB without hugepages is more than this machine's ",
                              std::to_string(total / mib),
                              " MiB of memory (EAL would fail in start-up): lower --memory"
                              " ([eal] memory_mb), or ", reserve_hint());
    }
    d.cleanup = std::move(cleanup);
    return d;
}

std::string remove_stale_hugepage_files(const std::string& prefix) {
    std::vector<std::string> dirs;
    {
        std::ifstream mounts("/proc/mounts");
        std::string line;
        while (std::getline(mounts, line)) {
            std::istringstream ls(line);
            std::string dev, dir, type;
            if (ls >> dev >> dir >> type && type == "hugetlbfs") dirs.push_back(dir);
        }
    }
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::vector<std::string> prefixes;
    for (const auto& dir : dirs) {
        DIR* d = opendir(dir.c_str());
        if (d == nullptr) continue;
        while (const dirent* e = readdir(d)) {
            // EAL names them <prefix>map_<n> (or <prefix>map_<list>-<seg>).
            const std::string name = e->d_name;
            const std::size_t m = name.rfind("map_");
            if (m == std::string::npos || m == 0 || !name.starts_with(prefix)) continue;
            const std::string path = dir + "/" + name;
            const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0) continue;
            // A live EAL holds a shared lock on every page file it uses.
            if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
                struct stat st {};
                const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
                if (regular && ::unlink(path.c_str()) == 0) {
                    ++files;
                    bytes += static_cast<std::uint64_t>(st.st_blocks) * 512ULL;
                    const std::string p = name.substr(0, m);
                    if (std::find(prefixes.begin(), prefixes.end(), p) == prefixes.end()) prefixes.push_back(p);
                }
            }
            ::close(fd);
        }
        closedir(d);
    }
    if (files == 0) return {};
    std::string list;
    for (const auto& p : prefixes) list += (list.empty() ? "" : ", ") + p;
    return "removed " + std::to_string(files) + " stale hugepage files (" + std::to_string(bytes / mib) +
           " MiB) that no process uses, left by DPDK processes with file prefix " + list;
}

std::string device_name(const config::PortSettings& p, std::size_t index) {
    switch (p.kind) {
    case config::PortKind::pcap:
        // rxinto's file reader behind a net_ring device (file_port.hpp); the
        // vdev bus finds the driver by this prefix.
        return "net_ring_rxfile" + std::to_string(index);
    case config::PortKind::vdev:
        return p.source.substr(0, p.source.find(','));
    case config::PortKind::pci:
        // EAL names PCI devices by their full address; add the domain if absent.
        return std::count(p.source.begin(), p.source.end(), ':') == 1 ? "0000:" + p.source
                                                                        : p.source;
    }
    return {};
}

Result<std::vector<std::string>> build_eal_args(const config::Settings& s, bool use_hugepages,
                                                const std::vector<std::string>& pcap_paths,
                                                bool offline) {
    // --lcores (not -l): it also takes lcore@cpu maps, e.g. (0-3)@(0-1) for
    // more lcores than CPUs on a small test machine.
    std::vector<std::string> a{"rxinto", "--lcores", s.eal.lcores, "--log-level",
                               s.eal.log_level, "-m", std::to_string(s.eal.memory_mb)};
    if (offline && !use_hugepages) {
        // A file replay shares nothing with other DPDK processes: no shared
        // configuration, and a prefix of its own for its runtime directory
        // (telemetry socket) unless the operator named one.
        a.emplace_back("--no-shconf");
        a.emplace_back("--file-prefix");
        a.push_back(s.eal.file_prefix != config::defaults().eal.file_prefix
                        ? s.eal.file_prefix
                        : s.eal.file_prefix + "-" + std::to_string(::getpid()));
    } else if (s.eal.in_memory && use_hugepages) {
        a.emplace_back("--in-memory");
    } else if (s.eal.in_memory) {
        // EAL refuses --in-memory with --no-huge (it implies legacy memory);
        // --no-shconf and a prefix of our own give the same independence.
        a.emplace_back("--no-shconf");
        a.emplace_back("--file-prefix");
        a.push_back(s.eal.file_prefix + "-" + std::to_string(::getpid()));
    } else {
        a.emplace_back("--file-prefix");
        a.push_back(s.eal.file_prefix);
    }
    if (!use_hugepages) a.emplace_back("--no-huge");

    bool any_pci = false;
    for (std::size_t i = 0; i < s.ports.size(); ++i) {
        const auto& p = s.ports[i];
        switch (p.kind) {
        case config::PortKind::pcap:
            // Created after EAL start-up from the opened file (file_port.hpp):
            // the path never goes through EAL's device arguments, which cut
            // it at '=' or ','.
            if (i >= pcap_paths.size() || pcap_paths[i].empty())
                return make_error("port ", std::to_string(i), ": no capture file to replay");
            break;
        case config::PortKind::vdev:
            a.emplace_back("--vdev");
            a.push_back(p.source);
            break;
        case config::PortKind::pci:
            any_pci = true;
            a.emplace_back("-a");
            a.push_back(p.source);
            break;
        }
    }
    // Without an allow-list EAL would probe every PCI device, the VM's own NIC included.
    if (!any_pci) a.emplace_back("--no-pci");
    for (const auto& x : s.eal.extra_args) a.push_back(x);
    return a;
}

std::string prefix_holder(const std::string& prefix) {
    // EAL's runtime directory (eal_get_runtime_dir): /var/run/dpdk for root,
    // $XDG_RUNTIME_DIR/dpdk (or /tmp/dpdk) otherwise; a primary holds a write
    // lock on <dir>/<prefix>/config for as long as it runs.
    std::string base = "/var/run/dpdk";
    if (::getuid() != 0) {
        const char* x = std::getenv("XDG_RUNTIME_DIR");
        base = std::string(x != nullptr && *x != '\0' ? x : "/tmp") + "/dpdk";
    }
    const std::string cfg = base + "/" + prefix + "/config";
    const int fd = ::open(cfg.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    struct flock l {};
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    const bool held = ::fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK;
    ::close(fd);
    if (!held) return {};
    std::string who = "pid " + std::to_string(l.l_pid);
    std::ifstream cmd("/proc/" + std::to_string(l.l_pid) + "/cmdline");
    std::string argv0;
    if (std::getline(cmd, argv0, '\0') && !argv0.empty()) who += " (" + argv0 + ")";
    return who;
}

Result<EalInfo> eal_init(const std::vector<std::string>& args, bool hugepages) {
    // A second primary on a prefix in use fails deep in EAL without an error
    // code ("Cannot init config"); say who holds it, and what to do.
    bool shared = true;
    std::string prefix = "rte";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--no-shconf" || args[i] == "--in-memory") shared = false;
        if (args[i] == "--file-prefix" && i + 1 < args.size()) prefix = args[i + 1];
    }
    if (shared) {
        if (const std::string who = prefix_holder(prefix); !who.empty())
            return make_error("DPDK file prefix '", prefix, "' is in use by ", who,
                              ": give this run its own with --file-prefix NAME ([eal] file_prefix),"
                              " or --in-memory");
    }
    // rte_eal_init may permute argv; give it copies it can own for the process lifetime.
    static std::vector<std::string> keep;
    static std::vector<char*> argv;
    keep = args;
    argv.clear();
    for (auto& s : keep) argv.push_back(s.data());
    argv.push_back(nullptr);

    t_eal_thread = true;
    g_in_eal_init.store(true);
    const int rc = rte_eal_init(static_cast<int>(keep.size()), argv.data());
    g_in_eal_init.store(false);
    t_eal_thread = false;
    if (rc < 0) {
        const int e = rte_errno;
        std::string hint;
        switch (e) {
        case EALREADY:
            hint = "EAL was already initialised in this process (it can be only once)";
            break;
        case EACCES:
            hint = hugepages ? "permission denied: run as root, or with --no-huge"
                             : "permission denied: run as root";
            break;
        case ENOMEM:
            hint = hugepages ? "not enough hugepage memory: " + reserve_hint() +
                                   ", lower [eal] memory_mb, or run with --no-huge"
                             : "not enough memory for [eal] memory_mb";
            break;
        case EINVAL:
            hint = "EAL rejected an argument (lcores, device arguments or --eal options);"
                   " DPDK's message above names it";
            break;
        case ENODEV:
            hint = "no device found: check the PCI address and its vfio-pci binding"
                   " (dpdk-devbind.py --status)";
            break;
        case EBUSY:
            hint = "another DPDK process uses the same file prefix: set [eal] file_prefix"
                   " or --in-memory";
            break;
        default:
            hint = "see DPDK's messages above";
            break;
        }
        // rte_errno, in DPDK's own words (rte_strerror knows its E_RTE_* codes
        // too); some of EAL's failures set none, and strerror(0) is "Success".
        return make_error("EAL initialisation failed (",
                          e != 0 ? rte_strerror(e) : "DPDK set no error code", "): ", hint);
    }

    EalInfo info;
    info.hugepages = hugepages;
    info.main_lcore = rte_get_main_lcore();
    unsigned lc = 0;
    RTE_LCORE_FOREACH_WORKER(lc) { info.worker_lcores.push_back(lc); }
    return info;
}

void eal_cleanup() noexcept { rte_eal_cleanup(); }

}  // namespace rxinto::port
