#include "rxinto/capture/filter.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "rxinto/config/values.hpp"

namespace rxinto::capture {

namespace {

/// The CLI's words for the expression, at the start of every error: quoted,
/// cut after 80 bytes (a 16 kB expression made a 16 kB error line).
std::string quoted(const std::string& expr) {
    std::string s = "--filter " + config::values::quote(expr);
    if (expr.size() > 80) s += " (" + std::to_string(expr.size()) + " bytes)";
    return s;
}

struct pcap_closer {
    void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};

// How long a filter may be. DPDK's rte_bpf_convert takes at most BPF_MAXINSNS
// (4096) classic BPF instructions. libpcap gets there slowly: its code
// generator is quadratic in the number of clauses and its optimiser roughly
// cubic (measured on this project's VM, "host A or host B or ...": 400 hosts
// optimise in ~1.5 s, 1000 hosts in ~20 s to 5759 instructions, which DPDK
// then refuses; a 1000-clause "tcp port N or ..." took 30 s in all). So the
// expression is bounded before libpcap sees it, and its unoptimised program
// before the optimiser does: the time to an answer stays within a few
// seconds. The bounds are deterministic (sizes, not a clock), so a filter is
// accepted or refused the same way on every machine. They refuse some filters
// that the optimiser would have shrunk below 4096 (it shrinks these lists 4-6
// times): such a list is better split over several runs anyway.
constexpr std::uint32_t rte_bpf_max_cbpf = 4096;       // BPF_MAXINSNS in librte_bpf
constexpr std::size_t max_expression_bytes = 8192;     // ~500 clauses like "host 10.1.2.3"
constexpr std::uint32_t max_unoptimised = 3 * rte_bpf_max_cbpf;

/// A compiled classic BPF program, freed with it.
struct cbpf_program {
    bpf_program prog{};
    cbpf_program() = default;
    cbpf_program(const cbpf_program&) = delete;
    cbpf_program& operator=(const cbpf_program&) = delete;
    ~cbpf_program() { pcap_freecode(&prog); }
};

Error too_long(const std::string& expr, const std::string& why) {
    Error e = make_error(quoted(expr), ": too long for rte_bpf: ", why,
                         "; DPDK runs at most 4096 classic BPF instructions: simplify it or split the capture");
    e.usage = true;
    return e;
}

/// libpcap's part, within the bounds above: the optimised program (as tcpdump
/// compiles it) in *out. Every error is about the expression (usage).
Status compile_cbpf(const std::string& expr, int linktype, int snaplen, cbpf_program& out) {
    if (expr.size() > max_expression_bytes)
        return too_long(expr, "rxinto takes expressions of at most " + std::to_string(max_expression_bytes) +
                                  " bytes (libpcap's compile time grows faster than their square)");
    std::unique_ptr<pcap_t, pcap_closer> dead(pcap_open_dead(linktype, snaplen));
    if (!dead) return make_error(quoted(expr), ": pcap_open_dead failed (out of memory?)");
    auto pcap_error = [&] {
        Error e = make_error(quoted(expr), ": ", std::string_view(pcap_geterr(dead.get())));
        e.usage = true;
        return e;
    };
    // Unoptimised first: linear in the program it makes, and its size bounds
    // the optimiser's work. The netmask is unknown, so "ip broadcast" is
    // refused by libpcap with its own message.
    {
        cbpf_program raw;
        if (pcap_compile(dead.get(), &raw.prog, expr.c_str(), 0, PCAP_NETMASK_UNKNOWN) != 0) return pcap_error();
        if (raw.prog.bf_len > max_unoptimised)
            return too_long(expr, "libpcap makes " + std::to_string(raw.prog.bf_len) +
                                      " instructions of it before optimising, rxinto optimises at most " +
                                      std::to_string(max_unoptimised));
    }
    if (pcap_compile(dead.get(), &out.prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) return pcap_error();
    if (out.prog.bf_len > rte_bpf_max_cbpf)
        return too_long(expr, std::to_string(out.prog.bf_len) + " instructions after libpcap's optimiser");
    return {};
}

/// The last program compile_cbpf made for check_filter_syntax, so that
/// bpf_filter::compile does not run libpcap's optimiser a second time on the
/// same expression (control path; the mutex only guards against misuse).
struct last_program {
    std::mutex mu;
    std::string expr;
    int linktype = -1;
    int snaplen = -1;
    std::vector<bpf_insn> insns;
};
last_program& last() {
    static last_program l;
    return l;
}

struct prm_freer {
    void operator()(rte_bpf_prm* p) const noexcept { rte_free(p); }
};

// Two defects of DPDK 22.11's librte_bpf (still present in later releases as
// far as we know) make converted libpcap programs give wrong verdicts or crash;
// rewrite_program() works around both before rte_bpf_load. test_filter checks
// every verdict against libpcap on captures that exercise them.
//
// 1. rte_bpf_convert maps classic BPF's indexed loads "ld[bhw] [x + k]" to
//    eBPF LD_IND with src_reg 0 instead of the register holding X (R7): its
//    "src_reg = X only when BPF_SRC() is BPF_X" rule sees BPF_K in an LD_IND
//    opcode. The interpreter and the JIT load from [src_reg + imm], so every
//    expression reading past a variable-length IPv4 header (tcp[13],
//    tcp[tcpflags], ...) used A (the last loaded value) as the offset.
//    Fix: every LD_IND with src_reg 0 reads R7 (the converter keeps X there,
//    and only an indexed load becomes an LD_IND). A fixed converter (src_reg
//    already 7) is left alone.
// 2. The x86-64 JIT encodes "JSET #k" with k in int8 range as TEST r/m64
//    (opcode F7 /0) followed by a 1-byte immediate, but F7 /0 takes a 4-byte
//    immediate: the next instructions are decoded as its immediate and the
//    code runs off into garbage (SIGSEGV with 'tcp[tcpflags] & tcp-syn != 0').
//    Fix: each such JSET becomes "MOV32 R9, #k; JSET A, R9" (register form,
//    correctly encoded) and every jump offset is recomputed. The converter
//    never uses R9 (A R0, context R6, X R7, scratch R8, frame R10).
constexpr std::uint8_t cbpf_x_register = EBPF_REG_7;
constexpr std::uint8_t spare_register = EBPF_REG_9;

bool is_jump(const ebpf_insn& in) noexcept {
    return BPF_CLASS(in.code) == BPF_JMP && BPF_OP(in.code) != EBPF_CALL && BPF_OP(in.code) != EBPF_EXIT;
}

bool is_small_jset_k(const ebpf_insn& in) noexcept {
    return in.code == (BPF_JMP | BPF_JSET | BPF_K) && in.imm >= INT8_MIN && in.imm <= INT8_MAX;
}

/// The program rte_bpf_load should get (it copies the instructions), or an
/// empty vector when a jump cannot be re-targeted (then load the original).
std::vector<ebpf_insn> rewrite_program(const ebpf_insn* ins, std::uint32_t n) {
    // new_at[i]: index of old instruction i in the new program (new_at[n]: the end).
    std::vector<std::int64_t> new_at(std::size_t{n} + 1);
    std::int64_t pos = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        new_at[i] = pos;
        pos += is_small_jset_k(ins[i]) ? 2 : 1;
    }
    new_at[n] = pos;

    std::vector<ebpf_insn> out;
    out.reserve(static_cast<std::size_t>(pos));
    for (std::uint32_t i = 0; i < n; ++i) {
        ebpf_insn in = ins[i];
        if (BPF_CLASS(in.code) == BPF_LD && BPF_MODE(in.code) == BPF_IND && in.src_reg == 0)
            in.src_reg = cbpf_x_register & 0xf;
        if (is_small_jset_k(in)) {
            ebpf_insn mov{};
            mov.code = BPF_ALU | EBPF_MOV | BPF_K;
            mov.dst_reg = spare_register & 0xf;
            mov.imm = in.imm;
            out.push_back(mov);
            in.code = BPF_JMP | BPF_JSET | BPF_X;
            in.src_reg = spare_register & 0xf;
            in.imm = 0;
        }
        if (is_jump(in)) {
            const std::int64_t target = std::int64_t{i} + 1 + in.off;
            if (target < 0 || target > std::int64_t{n}) return {};
            const std::int64_t here = static_cast<std::int64_t>(out.size());
            const std::int64_t off = new_at[static_cast<std::size_t>(target)] - here - 1;
            if (off < INT16_MIN || off > INT16_MAX) return {};
            in.off = static_cast<std::int16_t>(off);
        }
        out.push_back(in);
    }
    return out;
}

}  // namespace

Result<std::unique_ptr<bpf_filter>> bpf_filter::compile(const std::string& expr, int linktype,
                                                        std::uint32_t snaplen, engine eng) {
    const int snap = static_cast<int>(std::min<std::uint32_t>(snaplen, INT_MAX));
    std::vector<bpf_insn> insns;
    {
        last_program& l = last();
        std::lock_guard<std::mutex> lock(l.mu);
        if (l.expr == expr && l.linktype == linktype && l.snaplen == snap) insns = l.insns;
    }
    if (insns.empty()) {
        cbpf_program p;
        if (auto st = compile_cbpf(expr, linktype, snap, p); !st) return std::move(st).error();
        insns.assign(p.prog.bf_insns, p.prog.bf_insns + p.prog.bf_len);
    }
    bpf_program prog{static_cast<u_int>(insns.size()), insns.data()};
    const std::uint32_t ncbpf = prog.bf_len;

    rte_errno = 0;
    std::unique_ptr<rte_bpf_prm, prm_freer> prm(rte_bpf_convert(&prog));
    if (!prm)
        return make_error(quoted(expr), ": DPDK cannot convert libpcap's program to eBPF (rte_bpf_convert: ",
                          std::string_view(rte_strerror(rte_errno)), ")");

    // rte_bpf_load copies the instructions: the rewritten ones can live here.
    const std::vector<ebpf_insn> fixed = rewrite_program(prm->ins, prm->nb_ins);
    if (fixed.empty())
        return make_error(quoted(expr), ": the converted eBPF program has a jump out of range");
    rte_bpf_prm load_prm = *prm;
    load_prm.ins = fixed.data();
    load_prm.nb_ins = static_cast<std::uint32_t>(fixed.size());

    auto f = std::unique_ptr<bpf_filter>(new bpf_filter());
    f->expr_ = expr;
    f->linktype_ = linktype;
    f->ncbpf_ = ncbpf;
    f->nebpf_ = load_prm.nb_ins;

    // rte_bpf_load verifies the program and JIT-compiles it where librte_bpf
    // has a JIT (x86-64, arm64). A JIT failure is only a warning in DPDK's log:
    // the handle then has no native code and rte_bpf_get_jit gives func NULL.
    rte_errno = 0;
    f->bpf_ = rte_bpf_load(&load_prm);
    if (f->bpf_ == nullptr)
        return make_error(quoted(expr), ": librte_bpf refused the converted program (rte_bpf_load: ",
                          std::string_view(rte_strerror(rte_errno)), ")");

    if (eng == engine::automatic) {
        rte_bpf_jit j{};
        if (rte_bpf_get_jit(f->bpf_, &j) == 0 && j.func != nullptr) f->jit_ = j.func;
    }
    return f;
}

bpf_filter::~bpf_filter() {
    if (bpf_ != nullptr) rte_bpf_destroy(bpf_);
}

bool bpf_filter::matches(rte_mbuf* m) const noexcept {
    // cBPF returns the number of bytes to keep: 0 rejects, anything else keeps.
    if (jit_ != nullptr) return jit_(m) != 0;
    return rte_bpf_exec(bpf_, m) != 0;
}

std::uint16_t bpf_filter::apply(rte_mbuf** pkts, std::uint16_t n, rte_mbuf** rejected,
                                std::uint16_t& nrejected) const noexcept {
    std::uint16_t kept = 0;
    std::uint16_t nrej = nrejected;
    if (jit_ != nullptr) {
        // Per packet through the native code: 3-6 ns a packet here, 3-5x
        // faster than rte_bpf_exec_burst (the interpreter; test_filter's
        // SpeedReport prints both).
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            if (jit_(m) != 0)
                pkts[kept++] = m;
            else
                rejected[nrej++] = m;
        }
        nrejected = nrej;
        return kept;
    }

    // Interpreter: rte_bpf_exec_burst over chunks (one call per chunk; the
    // verdicts are read before the chunk is compacted, and kept <= i).
    constexpr std::uint16_t chunk = 64;
    void* ctx[chunk];
    std::uint64_t rc[chunk];
    for (std::uint16_t base = 0; base < n; base = static_cast<std::uint16_t>(base + chunk)) {
        const auto m = static_cast<std::uint16_t>(std::min<unsigned>(chunk, n - base));
        for (std::uint16_t j = 0; j < m; ++j) ctx[j] = pkts[base + j];
        rte_bpf_exec_burst(bpf_, ctx, rc, m);
        for (std::uint16_t j = 0; j < m; ++j) {
            auto* p = static_cast<rte_mbuf*>(ctx[j]);
            if (rc[j] != 0)
                pkts[kept++] = p;
            else
                rejected[nrej++] = p;
        }
    }
    nrejected = nrej;
    return kept;
}

Status check_filter_syntax(const std::string& expr, int linktype) {
    constexpr int snap = 262144;  // bpf_filter::compile's default snap length
    cbpf_program p;
    if (auto st = compile_cbpf(expr, linktype, snap, p); !st) return st;
    last_program& l = last();
    std::lock_guard<std::mutex> lock(l.mu);
    l.expr = expr;
    l.linktype = linktype;
    l.snaplen = snap;
    l.insns.assign(p.prog.bf_insns, p.prog.bf_insns + p.prog.bf_len);
    return {};
}

}  // namespace rxinto::capture
