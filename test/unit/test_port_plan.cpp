// Bring-up decisions that need no EAL: mempool sizing, hugepage fallback, EAL arguments.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>

#include "rxinto/port/eal.hpp"
#include "rxinto/port/ports.hpp"

using namespace rxinto;

namespace {

bool has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

bool has_pair(const std::vector<std::string>& v, const std::string& a, const std::string& b) {
    for (std::size_t i = 0; i + 1 < v.size(); ++i)
        if (v[i] == a && v[i + 1] == b) return true;
    return false;
}

}  // namespace

TEST(PoolSizing, CoversDescriptorsCachesBurstsAndReassembly) {
    port::PoolSizing s;
    s.rx_descriptors = 2 * 1024;
    s.lcores = 2;
    s.burst = 32;
    s.cache = 256;
    s.reassembly_held = 8192;
    const auto n = port::mbufs_needed(s);
    EXPECT_GE(n, 2048U + 2U * (256 + 32) + 8192U);
    EXPECT_EQ((n + 1) & n, 0U) << "2^k - 1 expected, got " << n;
    EXPECT_EQ(n, 16383U);
}

TEST(PoolSizing, NeverBelowMinimum) {
    EXPECT_EQ(port::mbufs_needed({}), 1023U);
}

TEST(PoolSizing, CacheFitsThePool) {
    EXPECT_EQ(port::usable_cache(256, 16383), 256U);
    EXPECT_LE(port::usable_cache(512, 1023) * 3 / 2, 1023U);
    EXPECT_LE(port::usable_cache(4096, 1U << 20), 512U);  // RTE_MEMPOOL_CACHE_MAX_SIZE
    EXPECT_EQ(port::usable_cache(256, 100), 64U);
}

TEST(Hugepages, AutoUsesThemWhenEnoughAreFreeAndMounted) {
    config::EalSettings e;
    e.memory_mb = 256;
    port::HugepageState hp{512ULL << 21, 512, true};
    auto d = port::decide_hugepages(e, hp);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->use_hugepages);
    EXPECT_TRUE(d->note.empty());
}

TEST(Hugepages, AutoFallsBackWithOneSentence) {
    config::EalSettings e;
    auto d = port::decide_hugepages(e, port::HugepageState{});
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->use_hugepages);
    EXPECT_NE(d->note.find("no free hugepages"), std::string::npos) << d->note;
    EXPECT_NE(d->note.find("--no-huge"), std::string::npos) << d->note;
    EXPECT_NE(d->note.find("nr_hugepages"), std::string::npos) << d->note;
}

TEST(Hugepages, AutoFallsBackWhenTooFewOrUnmounted) {
    config::EalSettings e;
    e.memory_mb = 256;
    auto few = port::decide_hugepages(e, port::HugepageState{64ULL << 21, 64, true});
    ASSERT_TRUE(few.ok());
    EXPECT_FALSE(few->use_hugepages);
    EXPECT_NE(few->note.find("only 128 MiB"), std::string::npos) << few->note;

    auto unmounted = port::decide_hugepages(e, port::HugepageState{512ULL << 21, 512, false});
    ASSERT_TRUE(unmounted.ok());
    EXPECT_FALSE(unmounted->use_hugepages);
    EXPECT_NE(unmounted->note.find("hugetlbfs"), std::string::npos);

    e.in_memory = true;  // memfd-backed: no mount needed
    auto inmem = port::decide_hugepages(e, port::HugepageState{512ULL << 21, 512, false});
    ASSERT_TRUE(inmem.ok());
    EXPECT_TRUE(inmem->use_hugepages);
}

TEST(Hugepages, YesWithoutThemIsAnErrorThatSaysWhatToDo) {
    config::EalSettings e;
    e.hugepages = config::Tristate::on;
    auto d = port::decide_hugepages(e, port::HugepageState{});
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message.find("nr_hugepages"), std::string::npos);
    EXPECT_NE(d.error().message.find("--no-huge"), std::string::npos);
}

TEST(Hugepages, NoMeansNo) {
    config::EalSettings e;
    e.hugepages = config::Tristate::off;
    auto d = port::decide_hugepages(e, port::HugepageState{1ULL << 30, 512, true});
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->use_hugepages);
    EXPECT_TRUE(d->note.empty());
}

TEST(EalArgs, ReplayPortNeedsNoDeviceArgumentAndPciIsOff) {
    config::Settings s = config::defaults();
    auto a = port::build_eal_args(s, false, {"/tmp/x.pcap"});
    ASSERT_TRUE(a.ok()) << a.error().message;
    // The file reader's port is created after start-up (file_port.hpp): the
    // path is never a device argument.
    EXPECT_FALSE(has(*a, "--vdev"));
    EXPECT_TRUE(has(*a, "--no-pci"));
    EXPECT_TRUE(has(*a, "--no-huge"));
    EXPECT_TRUE(has_pair(*a, "--lcores", s.eal.lcores));
    EXPECT_TRUE(has_pair(*a, "--file-prefix", s.eal.file_prefix));
    EXPECT_TRUE(has_pair(*a, "-m", std::to_string(s.eal.memory_mb)));
}

TEST(EalArgs, PciPortsAreAllowListedAndInMemoryReplacesThePrefix) {
    config::Settings s;
    s.ports = {config::PortSettings{config::PortKind::pci, "0000:01:00.0"},
               config::PortSettings{config::PortKind::vdev, "net_null0,size=64"}};
    s.eal.in_memory = true;
    s.eal.extra_args = {"--huge-unlink"};
    auto a = port::build_eal_args(s, true, {"", ""});
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_TRUE(has_pair(*a, "-a", "0000:01:00.0"));
    EXPECT_TRUE(has_pair(*a, "--vdev", "net_null0,size=64"));
    EXPECT_FALSE(has(*a, "--no-pci"));
    EXPECT_FALSE(has(*a, "--no-huge"));
    EXPECT_TRUE(has(*a, "--in-memory"));
    EXPECT_FALSE(has(*a, "--file-prefix"));
    EXPECT_EQ(a->back(), "--huge-unlink");
}

TEST(EalArgs, InMemoryWithoutHugepagesUsesNoShconfAndAPrefixOfItsOwn) {
    config::Settings s = config::defaults();
    s.eal.in_memory = true;
    auto a = port::build_eal_args(s, false, {"/tmp/x.pcap"});
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_FALSE(has(*a, "--in-memory")) << "EAL refuses --in-memory with --no-huge";
    EXPECT_TRUE(has(*a, "--no-shconf"));
    EXPECT_TRUE(has(*a, "--no-huge"));
    EXPECT_TRUE(has_pair(*a, "--file-prefix", s.eal.file_prefix + "-" + std::to_string(::getpid())));
}

TEST(EalArgs, AnyCapturePathIsFine) {
    // Before, a ',' was refused and an '=' cut the path inside EAL's devargs.
    config::Settings s = config::defaults();
    auto a = port::build_eal_args(s, false, {"/tmp/a,b=c.pcap"});
    ASSERT_TRUE(a.ok()) << a.error().message;
    for (const auto& x : *a) EXPECT_EQ(x.find("a,b=c"), std::string::npos) << x;
}

TEST(EalArgs, OfflineRunsShareNothing) {
    config::Settings s = config::defaults();
    auto a = port::build_eal_args(s, false, {"/tmp/x.pcap"}, true);
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_TRUE(has(*a, "--no-shconf"));
    EXPECT_TRUE(has(*a, "--no-huge"));
    EXPECT_TRUE(has_pair(*a, "--file-prefix", s.eal.file_prefix + "-" + std::to_string(::getpid())));
    s.eal.file_prefix = "mine";  // a prefix the operator names is kept (telemetry)
    auto b = port::build_eal_args(s, false, {"/tmp/x.pcap"}, true);
    ASSERT_TRUE(b.ok());
    EXPECT_TRUE(has_pair(*b, "--file-prefix", "mine"));
}

TEST(EalPlan, OfflineRunsSkipTheHugepageScanAndMemoryIsBounded) {
    config::EalSettings e;
    auto d = port::plan_memory(e, true);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_FALSE(d->use_hugepages);
    EXPECT_TRUE(d->note.empty());
    // --memory at its documented maximum without hugepages: refused with a
    // reason (EAL used to crash in start-up after the --no-huge fallback).
    e.memory_mb = 1048576;
    auto big = port::plan_memory(e, true);
    ASSERT_FALSE(big.ok());
    EXPECT_NE(big.error().message.find("--memory"), std::string::npos) << big.error().message;
}

TEST(EalArgs, DeviceNames) {
    EXPECT_EQ(port::device_name({config::PortKind::vdev, "net_null3,size=64"}, 0), "net_null3");
    EXPECT_EQ(port::device_name({config::PortKind::pci, "01:00.0"}, 0), "0000:01:00.0");
    EXPECT_EQ(port::device_name({config::PortKind::pci, "0000:3b:00.1"}, 0), "0000:3b:00.1");
    EXPECT_EQ(port::device_name({config::PortKind::pcap, "x.pcap"}, 2), "net_ring_rxfile2");
}

TEST(Rss, TheRepeatedKeyIsSymmetricAndARandomOneIsNot) {
    EXPECT_TRUE(port::rss_key_symmetric(port::symmetric_rss_key_for_test(40)));
    EXPECT_TRUE(port::rss_key_symmetric(port::symmetric_rss_key_for_test(52)));
    std::vector<std::uint8_t> k(40);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i * 37 + 11);
    EXPECT_FALSE(port::rss_key_symmetric(k));
    EXPECT_FALSE(port::rss_key_symmetric({}));
}
