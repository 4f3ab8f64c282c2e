// Capture filter in libpcap syntax (--filter 'tcp port 443').
//
// The expression is compiled by libpcap (pcap_compile against a dead handle of
// the capture's link type), converted from classic BPF to eBPF by DPDK
// (rte_bpf_convert), loaded and verified by librte_bpf (rte_bpf_load) and, on
// x86-64 and arm64, JIT-compiled to native code. The program takes the mbuf
// itself (RTE_BPF_ARG_PTR_MBUF): packet loads go through rte_pktmbuf_read, so
// multi-segment mbufs are filtered correctly, and a load past the end of the
// packet rejects it, exactly as in libpcap.
//
// Semantics are libpcap's, with the mbuf standing in for the pcap record: the
// packet is the mbuf's data (pkt_len bytes), and `len`/`greater`/`less` compare
// against pkt_len. For a replayed capture that is the captured length, which
// differs from libpcap's (original length) only for frames cut by the
// capture's snaplen.
//
// compile() is the control path (allocates, returns Result); apply() is the
// data path: no allocation, no system call, no lock; it may run on several
// lcores at once on the same filter.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rxinto/base/result.hpp"

struct rte_bpf;
struct rte_mbuf;

namespace rxinto::capture {

/// Compiles `expr` with libpcap only (no EAL needed), to reject a bad
/// expression before start-up; the message names the expression (its first
/// 80 bytes). Also refuses, in bounded time, a filter too long for rte_bpf
/// (more than 4096 classic BPF instructions; expressions over 8192 bytes or
/// over 12288 instructions before libpcap's optimiser are refused before it
/// runs, because its time grows about with the cube of the length). The
/// program is kept for the next compile() of the same expression. Errors are
/// usage errors.
[[nodiscard]] Status check_filter_syntax(const std::string& expr, int linktype);

class bpf_filter {
public:
    /// How apply() runs the program.
    enum class engine : std::uint8_t {
        automatic,    ///< the JIT code when librte_bpf produced it, else the interpreter
        interpreter,  ///< always rte_bpf_exec_burst (tests, or to rule the JIT out)
    };

    /// Compiles `expr` for frames of link type `linktype` (DLT_EN10MB, ...).
    /// An empty expression matches every packet (as in tcpdump).
    /// Errors name the expression, as the CLI shows it:
    ///   "--filter 'tcp prot 80': can't parse filter expression: syntax error".
    /// Needs an initialised EAL (rte_bpf_convert allocates with rte_malloc).
    [[nodiscard]] static Result<std::unique_ptr<bpf_filter>> compile(const std::string& expr, int linktype,
                                                                     std::uint32_t snaplen = 262144,
                                                                     engine eng = engine::automatic);

    ~bpf_filter();
    bpf_filter(const bpf_filter&) = delete;
    bpf_filter& operator=(const bpf_filter&) = delete;

    /// Filters a burst in place: the n_kept packets that match are moved to
    /// pkts[0, n_kept) in their original order and n_kept is returned; the
    /// others are appended to rejected[nrejected, ...) in order and nrejected
    /// grows by n - n_kept. `rejected` must have room for nrejected + n
    /// pointers. The caller frees the rejected mbufs (rte_pktmbuf_free_bulk).
    /// No allocation, no system call.
    std::uint16_t apply(rte_mbuf** pkts, std::uint16_t n, rte_mbuf** rejected,
                        std::uint16_t& nrejected) const noexcept;

    /// One packet: true when the filter keeps it.
    [[nodiscard]] bool matches(rte_mbuf* m) const noexcept;

    /// True when apply() runs native code produced by librte_bpf's JIT; false
    /// when it runs the eBPF interpreter (JIT unavailable on this architecture,
    /// JIT failure, or engine::interpreter).
    [[nodiscard]] bool jit() const noexcept { return jit_ != nullptr; }
    [[nodiscard]] std::string expression() const { return expr_; }
    [[nodiscard]] int linktype() const noexcept { return linktype_; }
    /// Instruction counts: classic BPF from libpcap, eBPF after conversion.
    [[nodiscard]] std::uint32_t cbpf_instructions() const noexcept { return ncbpf_; }
    [[nodiscard]] std::uint32_t ebpf_instructions() const noexcept { return nebpf_; }

private:
    bpf_filter() = default;

    using jit_fn = std::uint64_t (*)(void*);

    rte_bpf* bpf_ = nullptr;
    jit_fn jit_ = nullptr;
    std::string expr_;
    int linktype_ = 0;
    std::uint32_t ncbpf_ = 0;
    std::uint32_t nebpf_ = 0;
};

}  // namespace rxinto::capture
