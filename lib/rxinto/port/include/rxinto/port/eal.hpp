// EAL bring-up from rxinto's own settings (control path).
//
// rxinto never hands argv to DPDK directly: it builds EAL's arguments from
// Settings, checks hugepages first (so a machine without them gets a clear
// sentence instead of DPDK's "Permission denied"), and returns an Error that
// says what to do. EAL can be initialised once per process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"

namespace rxinto::port {

/// What the machine offers in hugepages, read from sysfs and /proc/mounts.
struct HugepageState {
    std::uint64_t free_bytes = 0;      ///< free hugepage memory, all page sizes
    std::uint64_t free_2m_pages = 0;   ///< free 2 MiB pages
    bool hugetlbfs_mounted = false;    ///< some hugetlbfs mount exists
};

/// Reads /sys/kernel/mm/hugepages/*/free_hugepages and /proc/mounts.
[[nodiscard]] HugepageState probe_hugepages();

/// Decides between hugepages and --no-huge. Returns the decision and, when it
/// falls back on its own (hugepages = auto), the one sentence that says why;
/// an Error when hugepages = yes and they are not there.
struct HugepageDecision {
    bool use_hugepages = false;
    std::string note;  ///< "" or the fallback sentence, printed once by the caller
    std::string cleanup;  ///< plan_memory: "" or what remove_stale_hugepage_files() removed
};
[[nodiscard]] Result<HugepageDecision> decide_hugepages(const config::EalSettings& eal,
                                                        const HugepageState& hp);

/// The memory plan of a run: decide_hugepages() for live runs; an offline run
/// (every port replays a file) needs no DMA memory and skips the hugepage
/// scan altogether (--no-huge) unless [eal] hugepages = yes. Without
/// hugepages EAL maps memory_mb of ordinary memory and keeps one descriptor
/// per 4 KiB page: a memory_mb above the machine's memory is refused here
/// (EAL itself would crash in start-up).
[[nodiscard]] Result<HugepageDecision> plan_memory(const config::EalSettings& eal, bool offline);

/// Removes hugepage files that no process uses (none holds their lock, as
/// EAL's own clear_hugedir checks) and whose DPDK file prefix starts with
/// `prefix`: what a killed rxinto leaves behind, which would otherwise keep
/// the pages from every later run. Returns a sentence for the notes ("" when
/// nothing was removed).
[[nodiscard]] std::string remove_stale_hugepage_files(const std::string& prefix);

/// Builds the name of the ethdev for port `index` (what rte_eth_dev_get_port_by_name
/// finds after probing) and its EAL device argument ("" for PCI: -a is used).
[[nodiscard]] std::string device_name(const config::PortSettings& p, std::size_t index);

/// EAL arguments for these settings (argv[0] first). Pure: unit-testable.
/// `pcap_paths[i]` is the file to replay for port i when it is a pcap port
/// (the generated capture already written), ignored otherwise.
/// `offline`: every port replays a file. Such a run needs no shared runtime:
/// --no-shconf, and a file prefix of its own (the configured one + "-PID")
/// unless one was given, so that any number of them run side by side.
[[nodiscard]] Result<std::vector<std::string>> build_eal_args(
    const config::Settings& s, bool use_hugepages, const std::vector<std::string>& pcap_paths,
    bool offline = false);

struct EalInfo {
    bool hugepages = false;
    unsigned main_lcore = 0;
    std::vector<unsigned> worker_lcores;  ///< all enabled lcores except the main one
};

/// The process that holds DPDK file prefix `prefix` (its runtime config file
/// is locked by a live primary process): "pid N (command)", or "" when free.
[[nodiscard]] std::string prefix_holder(const std::string& prefix);

/// rte_eal_init with the given arguments. A --file-prefix that a live process
/// holds is refused first, naming that process and the options to use. On failure, the Error explains the
/// likely cause from rte_errno and what to do.
[[nodiscard]] Result<EalInfo> eal_init(const std::vector<std::string>& args, bool hugepages);

/// rte_eal_cleanup(); call after every port is closed and every pool freed.
void eal_cleanup() noexcept;

}  // namespace rxinto::port
