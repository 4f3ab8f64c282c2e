// pcapng capture through rte_pcapng (DPDK 22.11). See pcapng_writer.hpp.
//
// rte_pcapng 22.11 notes (checked against Debian's 22.11.11 by the EAL tests
// and a probe; the header's text is wrong in two places):
//   - rte_pcapng_write_packets() does NOT free the mbufs, whatever its comment
//     says ("The mbuf's in pkts are always freed"): we free the copies.
//   - It makes one writev() per 1024 segments and returns the byte count: a
//     short write (ENOSPC half-way through) is not reported as an error and
//     leaves half a block in the file. We compare the count with the sum of
//     the copies' lengths and ftruncate back to the last complete block.
//   - rte_pcapng_copy() takes a TSC value and converts it with a base the
//     library takes by itself; in 22.11.11 the result is decades off (year
//     2251 in our probe) although differences are right. We overwrite the
//     enhanced packet block's timestamp (bytes 12..19 of the copy: the pcapng
//     format, not a DPDK internal) with our own wall-clock nanoseconds. Same
//     for the statistics block's timestamp (pwrite after the block is written).
//   - The copy's captured length is the data_len of its first segment, and its
//     block length too: a copy that spans two mbufs makes an invalid file. The
//     copy pool's buffers are therefore always large enough for the whole snap
//     length (+ 32 bytes: padding, flags, queue, RSS hash options, trailer).
//   - rte_pcapng_fdopen() writes the section header and one interface block
//     per ethdev port (names "dpdk:N" or the kernel name; no caller-given name
//     or description). It does not check for short writes. We let it write
//     into a memfd once, keep those bytes, and for each new file write them
//     with a checked write, then dup2() the new file onto the handle's fd: one
//     rte_pcapng handle serves the whole series and rotation needs no ethdev
//     call (rte_eth_link_get may wait) on the worker.
//   - rte_pcapng_close() closes the fd.
#include "rxinto/capture/pcapng_writer.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_pcapng.h>
#include <rte_version.h>

#include "rxinto/base/write_all.hpp"

namespace rxinto::capture {

namespace {

constexpr std::uint64_t ns_per_s = 1'000'000'000ULL;
/// Bytes a copy needs past the snap length: padding to 4 (3), flags option
/// (8), queue option (8), RSS hash option (12), block length trailer (4).

std::atomic<std::uint32_t> g_rotate_epoch{0};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<bool>::is_always_lock_free);


std::uint64_t realtime_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * ns_per_s + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool write_all(int fd, const unsigned char* p, std::size_t len, int& err) noexcept {
    while (len > 0) {
        const ssize_t r = ::write(fd, p, len);
        if (r < 0) {
            if (errno == EINTR) continue;
            err = errno;
            return false;
        }
        if (r == 0) {
            err = ENOSPC;
            return false;
        }
        p += r;
        len -= static_cast<std::size_t>(r);
    }
    return true;
}

std::uint32_t load_u32(const unsigned char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

void store_ts(unsigned char* p, std::uint64_t ns) noexcept {
    const auto hi = static_cast<std::uint32_t>(ns >> 32);
    const auto lo = static_cast<std::uint32_t>(ns);
    std::memcpy(p, &hi, 4);
    std::memcpy(p + 4, &lo, 4);
}

// Offsets in an enhanced packet block / interface statistics block.
constexpr std::size_t block_length_off = 4;
constexpr std::size_t isb_timestamp = 12;

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

// ---------------------------------------------------------------------------
// tsc_clock

tsc_clock::tsc_clock() noexcept {
    hz_ = rte_get_tsc_hz();
    std::uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; ++i) {
        const std::uint64_t t1 = rte_rdtsc();
        const std::uint64_t ns = realtime_ns();
        const std::uint64_t t2 = rte_rdtsc();
        if (t2 - t1 < best) {
            best = t2 - t1;
            tsc0_ = t1 + (t2 - t1) / 2;
            ns0_ = ns;
        }
    }
}

std::uint64_t tsc_clock::to_ns(std::uint64_t tsc) const noexcept {
    if (hz_ == 0) return realtime_ns();  // EAL not initialised: no TSC rate
    const auto conv = [this](std::uint64_t d) {
        return d / hz_ * ns_per_s + d % hz_ * ns_per_s / hz_;  // no overflow below 18 GHz
    };
    return tsc >= tsc0_ ? ns0_ + conv(tsc - tsc0_) : ns0_ - conv(tsc0_ - tsc);
}

std::uint64_t tsc_clock::now_ns() const noexcept { return to_ns(rte_rdtsc()); }

// ---------------------------------------------------------------------------
// open

void pcapng_writer::request_rotate_all() noexcept {
    g_rotate_epoch.fetch_add(1, std::memory_order_relaxed);
}

Result<std::unique_ptr<pcapng_writer>> pcapng_writer::open(const pcapng_options& opt,
                                                          unsigned worker_index,
                                                          unsigned worker_count,
                                                          std::vector<pcapng_port> ports) {
    if (opt.path.empty())
        return make_error("pcapng: no output path: give one with -w PATH");
    if (worker_count == 0 || worker_index >= worker_count)
        return make_error("pcapng: worker ", std::to_string(worker_index), " of ",
                          std::to_string(worker_count), ": the index must be below the count");
    if (ports.empty()) return make_error("pcapng: no capture port given");
    if (opt.frame_max < 64 || opt.frame_max > max_frame)
        return make_error("pcapng: frame_max ", std::to_string(opt.frame_max), " out of range: use 64..",
                          std::to_string(max_frame));

    const bool to_stdout = opt.path == "-";
    if (to_stdout && (opt.rotate_bytes != 0 || opt.rotate_seconds != 0 || opt.ring_files != 0 || worker_count != 1))
        return make_error("pcapng: -w - writes one stream to standard output: no rotation (-C, -G, -W),"
                          " one writer");
    std::unique_ptr<pcapng_writer> w(new pcapng_writer());
    w->opt_ = opt;
    w->to_stdout_ = to_stdout;
    w->worker_index_ = worker_index;
    w->worker_count_ = worker_count;
    w->port_slot_.assign(RTE_MAX_ETHPORTS, -1);
    w->if_index_.assign(RTE_MAX_ETHPORTS, 0);
    for (auto& p : ports) {
        if (!rte_eth_dev_is_valid_port(p.port_id))
            return make_error("pcapng: port ", std::to_string(p.port_id), " (", p.name,
                              ") is not a valid ethdev port: open the ports before the writer");
        if (w->port_slot_[p.port_id] >= 0)
            return make_error("pcapng: port ", std::to_string(p.port_id), " given twice");
        w->port_slot_[p.port_id] = static_cast<std::int16_t>(w->ports_.size());
        w->ports_.push_back(port_state{std::move(p), 0, 0});
    }
    // rte_pcapng_fdopen writes one interface block per ethdev port, in
    // RTE_ETH_FOREACH_DEV order: an enhanced packet block names its port by
    // that position.
    std::uint32_t idb = 0;
    for (std::uint64_t pid = rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER); pid < RTE_MAX_ETHPORTS;
         pid = rte_eth_find_next_owned_by(static_cast<std::uint16_t>(pid + 1), RTE_ETH_DEV_NO_OWNER))
        w->if_index_[pid] = idb++;
    w->snap_ = opt.snaplen == 0 ? opt.frame_max : std::min(opt.snaplen, opt.frame_max);
    w->epb_.resize(max_batch);
    w->iov_.resize(iov_max);
    w->rx_time_field_ = rx_time_dynfield();

    w->rotate_epoch_seen_ = g_rotate_epoch.load(std::memory_order_relaxed);
    w->ts_dynfield_ = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
    const int flag = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
    w->ts_dynflag_ = flag >= 0 ? (1ULL << static_cast<unsigned>(flag)) : 0;
    if (w->ts_dynflag_ == 0) w->ts_dynfield_ = -1;

    // Prefix of the file names.
    std::string prefix = opt.path;
    struct stat st{};
    if (::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        w->path_is_dir_ = true;
        if (prefix.back() != '/') prefix += '/';
        prefix += "rxinto";
    } else {
        for (const char* ext : {".pcapng", ".pcap"}) {
            const std::size_t el = std::strlen(ext);
            if (prefix.size() > el && prefix.compare(prefix.size() - el, el, ext) == 0) {
                prefix.resize(prefix.size() - el);
                break;
            }
        }
    }
    if (worker_count > 1) prefix += "-w" + std::to_string(worker_index);
    w->prefix_ = prefix;
    // "-YYYYmmddTHHMMSS.mmm-" + 20 digits + ".pcapng" + NUL, or PATH itself.
    w->name_cap_ = std::max(prefix.size() + 64, opt.path.size() + 1);
    w->ring_slots_ = std::max<std::size_t>(1, opt.ring_files);
    w->names_.assign(w->ring_slots_ * w->name_cap_, '\0');
    w->scratch_.assign(w->name_cap_, '\0');

    // Section header + interface blocks, written once by rte_pcapng into a memfd.
    utsname u{};
    std::string os = "Linux";
    std::string hw;
    if (uname(&u) == 0) {
        os = std::string(u.sysname) + " " + u.release;
        hw = u.machine;
    }
    const std::string app = std::string("rxinto ") + "(" + rte_version() + ")";
    std::string comment = "rxinto capture, worker " + std::to_string(worker_index) + " of " +
                          std::to_string(worker_count);
    for (const auto& ps : w->ports_) {
        comment += "; port " + std::to_string(ps.port.port_id) + " = " + ps.port.name;
        if (!ps.port.description.empty()) comment += " (" + ps.port.description + ")";
    }
    if (comment.size() > 1000) comment.resize(1000);

    const int mfd = memfd_create("rxinto-pcapng", MFD_CLOEXEC);
    if (mfd < 0) return make_error("pcapng: memfd_create: ", errno_text(errno));
    w->handle_ = rte_pcapng_fdopen(mfd, os.c_str(), hw.empty() ? nullptr : hw.c_str(), app.c_str(),
                                   comment.c_str());
    if (w->handle_ == nullptr) {
        ::close(mfd);
        return make_error("pcapng: rte_pcapng_fdopen failed: ", rte_strerror(rte_errno));
    }
    w->handle_fd_ = mfd;
    const off_t hlen = ::lseek(mfd, 0, SEEK_CUR);
    if (hlen <= 0) return make_error("pcapng: rte_pcapng_fdopen wrote no header");
    w->header_.resize(static_cast<std::size_t>(hlen));
    if (::pread(mfd, w->header_.data(), w->header_.size(), 0) != hlen)
        return make_error("pcapng: cannot read back the pcapng header: ", errno_text(errno));

    w->last_ts_ns_ = w->clock_.now_ns();
    if (!w->open_next(w->last_ts_ns_)) {
        const int e = static_cast<int>(w->c_.last_errno.get());
        return make_error("pcapng: cannot create ", w->scratch_.data(), ": ", errno_text(e),
                          "; check that the directory exists and is writable");
    }
    return w;
}

pcapng_writer::~pcapng_writer() { close(); }

std::string pcapng_writer::current_file() const {
    if (!file_open_ || ring_head_ == 0) return {};
    return std::string(&names_[((ring_head_ - 1) % ring_slots_) * name_cap_]);
}

pcapng_writer::position_t pcapng_writer::position() const noexcept {
    if (!file_open_ || ring_head_ == 0) return {};
    return {ring_head_, &names_[((ring_head_ - 1) % ring_slots_) * name_cap_], file_bytes_};
}

// ---------------------------------------------------------------------------
// files

bool pcapng_writer::format_name(std::uint64_t ts_ns, std::uint64_t seq) noexcept {
    if (exact_first() && seq == 1) {
        // No rotation, one worker: the file is PATH itself, as tcpdump -w writes it.
        if (opt_.path.size() + 1 > scratch_.size()) return false;
        std::memcpy(scratch_.data(), opt_.path.c_str(), opt_.path.size() + 1);
        return true;
    }
    const auto secs = static_cast<time_t>(ts_ns / ns_per_s);
    const auto ms = static_cast<unsigned>(ts_ns % ns_per_s / 1'000'000);
    tm t{};
    gmtime_r(&secs, &t);
    const int r = std::snprintf(scratch_.data(), scratch_.size(),
                                "%s-%04d%02d%02dT%02d%02d%02d.%03u-%04llu.pcapng", prefix_.c_str(),
                                t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                                t.tm_sec, ms, static_cast<unsigned long long>(seq));
    return r > 0 && static_cast<std::size_t>(r) < scratch_.size();
}

bool pcapng_writer::open_next(std::uint64_t ts_ns) noexcept {
    int fd = -1;
    int err = 0;
    if (to_stdout_) {
        // -w -: the one "file" is standard output (a pipe, say): written
        // once, never rotated, never cut back.
        if (seq_ != 0) {
            next_open_ns_ = UINT64_MAX;
            return false;
        }
        fd = ::dup(STDOUT_FILENO);
        if (fd < 0) err = errno;
        else ++seq_;
        std::snprintf(scratch_.data(), scratch_.size(), "-");
    }
    for (int attempt = 0; attempt < 100 && fd < 0 && !to_stdout_; ++attempt) {
        if (!format_name(ts_ns, seq_ + 1)) {
            err = ENAMETOOLONG;
            break;
        }
        ++seq_;
        // O_RDWR: close_file() reads back the last block's length to check it.
        // PATH itself (no rotation) is replaced as tcpdump does; numbered names
        // are never overwritten (O_EXCL: the number is bumped).
        const int excl = exact_first() && seq_ == 1 ? O_TRUNC : O_EXCL;
        fd = ::open(scratch_.data(), O_RDWR | O_CREAT | excl | O_CLOEXEC, 0644);
        if (fd < 0) {
            err = errno;
            if (err != EEXIST) break;
        }
    }
    const auto fail = [&](int e) {
        c_.last_errno.set(static_cast<std::uint64_t>(e));
        c_.open_failures.add();
        next_open_ns_ = ts_ns + opt_.retry_open_ns;
        return false;
    };
    if (fd < 0) {
        if (err != EEXIST && !to_stdout_) --seq_;  // the number was not used
        return fail(err);
    }
    if (!write_all(fd, header_.data(), header_.size(), err)) {
        ::close(fd);
        if (!to_stdout_) ::unlink(scratch_.data());
        --seq_;
        return fail(err);
    }
    // The new file is ready: finish the old one, then move the handle over.
    if (file_open_) close_file();
    if (::dup2(fd, handle_fd_) < 0) {
        err = errno;
        ::close(fd);
        ::unlink(scratch_.data());
        --seq_;
        return fail(err);
    }
    ::close(fd);
    file_open_ = true;
    file_bytes_ = header_.size();
    file_packets_ = 0;
    file_start_ns_ = ts_ns;
    for (auto& ps : ports_) ps.file_recv = ps.file_drop = 0;
    c_.files.add();
    c_.file_bytes.add(header_.size());

    // Ring: the slot of the new name holds the oldest name when the ring is full.
    char* slot = &names_[(ring_head_ % ring_slots_) * name_cap_];
    if (opt_.ring_files != 0 && ring_head_ >= opt_.ring_files && slot[0] != '\0')
        ::unlink(slot);
    std::memcpy(slot, scratch_.data(), name_cap_);
    ++ring_head_;
    return true;
}

void pcapng_writer::cut_back(std::uint64_t good, int err) noexcept {
    c_.last_errno.set(static_cast<std::uint64_t>(err));
    if (to_stdout_) return;  // a stream cannot be cut back: the reader sees it end there
    const auto off = static_cast<off_t>(good);
    if (::ftruncate(handle_fd_, off) != 0 || ::lseek(handle_fd_, off, SEEK_SET) != off)
        rotate_pending_ = true;  // the file may be damaged: move on as soon as possible
}

void pcapng_writer::close_file() noexcept {
    const std::uint64_t end = std::max(last_ts_ns_, file_start_ns_);
    for (const auto& ps : ports_) {
        const std::uint64_t good = file_bytes_;
        const ssize_t r = rte_pcapng_write_stats(handle_, ps.port.port_id, nullptr, file_start_ns_,
                                                 end, ps.file_recv, ps.file_drop);
        if (to_stdout_) {
            // Written in one go to a stream: no read-back, and its time stays
            // rte_pcapng's (see the notes above: wrong by years, but a stream
            // cannot be rewritten).
            if (r > 0) {
                file_bytes_ += static_cast<std::uint64_t>(r);
                c_.file_bytes.add(static_cast<std::uint64_t>(r));
            }
            continue;
        }
        std::array<unsigned char, 8> ts{};
        unsigned char len[4];
        const bool ok = r > 0 &&
                        ::pread(handle_fd_, len, sizeof len, static_cast<off_t>(good + block_length_off)) == 4 &&
                        load_u32(len) == static_cast<std::uint64_t>(r);
        if (!ok) {
            cut_back(good, r < 0 ? errno : ENOSPC);
            continue;
        }
        store_ts(ts.data(), end);
        if (::pwrite(handle_fd_, ts.data(), ts.size(), static_cast<off_t>(good + isb_timestamp)) != 8) {
            cut_back(good, errno);
            continue;
        }
        file_bytes_ += static_cast<std::uint64_t>(r);
        c_.file_bytes.add(static_cast<std::uint64_t>(r));
    }
    file_open_ = false;
}

void pcapng_writer::close() noexcept {
    if (closed_) return;
    closed_ = true;
    if (file_open_) close_file();
    if (handle_ != nullptr) rte_pcapng_close(handle_);  // closes handle_fd_
    handle_ = nullptr;
    handle_fd_ = -1;
}

// ---------------------------------------------------------------------------
// data path
//
// Enhanced packet blocks are written straight from the packet buffers with
// writev: a 28-byte head and a trailer (padding and the block length) of our
// own around the packet's bytes, no copy. Not rte_pcapng_copy() +
// rte_pcapng_write_packets(): they copy every packet into a second mbuf first
// (and have the bugs listed at the top of this file); the block format is
// three fields of the pcapng specification (section 4.3).

void pcapng_writer::flush_batch(port_state& ps, unsigned npkt, int niov, std::uint64_t bytes,
                                std::uint64_t orig) noexcept {
    if (npkt == 0) return;
    const std::uint64_t good = file_bytes_;
    int err = 0;
    const std::uint64_t done = writev_all(handle_fd_, iov_.data(), niov, err);
    if (done != bytes) {
        // A full or failing disk: cut the file back to its last complete
        // block, so that it stays valid; the batch is lost (counted).
        cut_back(good, err != 0 ? err : ENOSPC);
        c_.write_errors.add(npkt);
        ps.file_drop += npkt;
        return;
    }
    file_bytes_ += bytes;
    file_packets_ += npkt;
    ps.file_recv += npkt;
    c_.packets.add(npkt);
    c_.bytes.add(orig);
    c_.file_bytes.add(bytes);
}

void pcapng_writer::write_burst(std::uint16_t port_id, std::uint16_t /*queue*/, rte_mbuf* const* pkts,
                                std::uint16_t n, std::uint64_t ts_ns) noexcept {
    if (n == 0) return;
    if (closed_) {
        c_.write_errors.add(n);
        return;
    }
    if (port_id >= port_slot_.size() || port_slot_[port_id] < 0) {
        c_.bad_port.add(n);
        return;
    }
    port_state& ps = ports_[static_cast<std::size_t>(port_slot_[port_id])];
    // Rotation (-G) and file names follow the wall clock, as tcpdump's do
    // (a replay of hours of packets written in seconds makes one file); the
    // blocks carry each packet's own time.
    const std::uint64_t now = ts_ns != 0 ? ts_ns : clock_.now_ns();
    const std::uint64_t ts = now;

    // Rotation requests: signal (per writer or all), time, damaged file.
    const std::uint32_t epoch = g_rotate_epoch.load(std::memory_order_relaxed);
    if (epoch != rotate_epoch_seen_) {
        rotate_epoch_seen_ = epoch;
        rotate_pending_ = true;
    }
    if (rotate_flag_.load(std::memory_order_relaxed) && rotate_flag_.exchange(false))
        rotate_pending_ = true;
    if (opt_.rotate_seconds != 0 && file_open_ && ts >= file_start_ns_ &&
        ts - file_start_ns_ >= std::uint64_t{opt_.rotate_seconds} * ns_per_s)
        rotate_pending_ = true;
    if ((rotate_pending_ || !file_open_) && ts >= next_open_ns_ && open_next(ts))
        rotate_pending_ = false;

    const bool whole = opt_.snaplen == 0 || opt_.snaplen > snap_;
    const std::uint32_t ifx = if_index_[port_id];
    unsigned npkt = 0;   // packets in the batch
    int niov = 0;
    std::uint64_t bytes = 0, orig = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        const rte_mbuf* pkt = pkts[i];
        if (!file_open_) {
            flush_batch(ps, npkt, niov, bytes, orig);
            npkt = 0;
            niov = 0;
            bytes = orig = 0;
            c_.write_errors.add(n - i);
            ps.file_drop += n - i;
            return;
        }
        const std::uint32_t caplen = std::min(rte_pktmbuf_pkt_len(pkt), snap_);
        const std::uint32_t pad = (4 - caplen % 4) % 4;
        const std::uint32_t block = 28 + caplen + pad + 4;
        // -C: a new file before the block that would take this one past the size.
        if (opt_.rotate_bytes != 0 && file_packets_ + npkt > 0 &&
            file_bytes_ + bytes + block > opt_.rotate_bytes && ts >= next_open_ns_) {
            flush_batch(ps, npkt, niov, bytes, orig);
            npkt = 0;
            niov = 0;
            bytes = orig = 0;
            if (open_next(ts)) rotate_pending_ = false;
        }
        if (npkt == max_batch || niov + static_cast<int>(pkt->nb_segs) + 2 > static_cast<int>(iov_max)) {
            flush_batch(ps, npkt, niov, bytes, orig);
            npkt = 0;
            niov = 0;
            bytes = orig = 0;
        }
        if (whole && pkt->pkt_len > snap_) c_.truncated.add();
        const std::uint64_t t = ts_ns != 0 ? ts_ns : packet_time(ps, pkt, now);
        last_ts_ns_ = std::max(last_ts_ns_, t);
        epb_frame& f = epb_[npkt];
        const std::uint32_t head[7] = {0x00000006U, block, ifx, static_cast<std::uint32_t>(t >> 32),
                                       static_cast<std::uint32_t>(t), caplen, rte_pktmbuf_pkt_len(pkt)};
        std::memcpy(f.head, head, sizeof head);
        std::memset(f.tail, 0, sizeof f.tail);
        std::memcpy(f.tail + pad, &block, 4);
        iov_[static_cast<std::size_t>(niov++)] = iovec{f.head, sizeof f.head};
        std::uint32_t left = caplen;
        for (const rte_mbuf* seg = pkt; seg != nullptr && left != 0; seg = seg->next) {
            const std::uint32_t k = std::min<std::uint32_t>(left, seg->data_len);
            iov_[static_cast<std::size_t>(niov++)] = iovec{const_cast<char*>(rte_pktmbuf_mtod(seg, const char*)), k};
            left -= k;
        }
        iov_[static_cast<std::size_t>(niov++)] = iovec{f.tail, pad + 4};
        bytes += block;
        orig += rte_pktmbuf_pkt_len(pkt);
        ++npkt;
    }
    flush_batch(ps, npkt, niov, bytes, orig);
}

std::uint64_t pcapng_writer::packet_time(const port_state& ps, const rte_mbuf* pkt,
                                         std::uint64_t now) const noexcept {
    std::uint64_t t = 0;
    if (ps.port.nic_timestamps && ts_dynfield_ >= 0 && (pkt->ol_flags & ts_dynflag_) != 0)
        std::memcpy(&t, reinterpret_cast<const unsigned char*>(pkt) + ts_dynfield_, sizeof t);
    else if (rx_time_field_ >= 0)
        std::memcpy(&t, reinterpret_cast<const unsigned char*>(pkt) + rx_time_field_, sizeof t);
    return t != 0 ? t : now;
}

int rx_time_dynfield() noexcept {
    static const rte_mbuf_dynfield desc = {"rxinto_rx_time_ns", sizeof(std::uint64_t), alignof(std::uint64_t), 0};
    return rte_mbuf_dynfield_register(&desc);
}

}  // namespace rxinto::capture
