// main() of the EAL tests: initialises the EAL once per process (it cannot be
// done twice) with --no-huge and --no-shconf (EAL refuses --in-memory with --no-huge), so that several test processes
// can run at once without hugepages or shared files.
#include <gtest/gtest.h>

#include <rte_eal.h>

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    const char* eal_argv[] = {"test_eal", "-l",         "0-1",          "--no-huge", "--no-shconf",
                              "-m",       "512",        "--no-pci",     "--log-level", "warning"};
    if (rte_eal_init(static_cast<int>(std::size(eal_argv)), const_cast<char**>(eal_argv)) < 0) {
        std::fprintf(stderr, "test_eal: rte_eal_init failed\n");
        return 1;
    }
    const int rc = RUN_ALL_TESTS();
    rte_eal_cleanup();
    return rc;
}
