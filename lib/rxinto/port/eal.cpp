#include "rxinto/port/eal.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

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
    if (eal.hugepages == Tristate::off) return HugepageDecision{false, ""};

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
    if (why.empty()) return HugepageDecision{true, ""};

    if (eal.hugepages == Tristate::on) {
        return make_error("hugepages: ", why, " and [eal] hugepages = yes: ", reserve_hint(),
                          ", or run with --no-huge");
    }
    return HugepageDecision{
        false, "rxinto: " + why + ": running with --no-huge (4 KiB pages, no physical "
                                  "addresses: fine for virtual devices, not for DMA from a NIC); " +
                   "for hugepages " + reserve_hint()};
}

std::string device_name(const config::PortSettings& p, std::size_t index) {
    switch (p.kind) {
    case config::PortKind::pcap:
        // A name of our own, so that it cannot collide with a --vdev net_pcapN.
        return "net_pcap_rxinto" + std::to_string(index);
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
                                                const std::vector<std::string>& pcap_paths) {
    // --lcores (not -l): it also takes lcore@cpu maps, e.g. (0-3)@(0-1) for
    // more lcores than CPUs on a small test machine.
    std::vector<std::string> a{"rxinto", "--lcores", s.eal.lcores, "--log-level",
                               s.eal.log_level, "-m", std::to_string(s.eal.memory_mb)};
    if (s.eal.in_memory && use_hugepages) {
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
        case config::PortKind::pcap: {
            if (i >= pcap_paths.size() || pcap_paths[i].empty())
                return make_error("port ", std::to_string(i), ": no capture file to replay");
            const std::string& path = pcap_paths[i];
            // net_pcap's devargs are comma-separated key=value pairs: a path with a
            // comma would be cut there.
            if (path.find(',') != std::string::npos)
                return make_error("port ", std::to_string(i), ": capture path '", path,
                                  "' contains a comma, which DPDK's device arguments cannot carry;"
                                  " rename or link the file");
            a.emplace_back("--vdev");
            a.push_back(device_name(p, i) + ",rx_pcap=" + path);
            break;
        }
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

Result<EalInfo> eal_init(const std::vector<std::string>& args, bool hugepages) {
    // rte_eal_init may permute argv; give it copies it can own for the process lifetime.
    static std::vector<std::string> keep;
    static std::vector<char*> argv;
    keep = args;
    argv.clear();
    for (auto& s : keep) argv.push_back(s.data());
    argv.push_back(nullptr);

    const int rc = rte_eal_init(static_cast<int>(keep.size()), argv.data());
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
        return make_error("EAL initialisation failed (", std::strerror(e), "): ", hint);
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
