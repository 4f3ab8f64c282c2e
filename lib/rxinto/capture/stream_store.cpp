#include "rxinto/capture/stream_store.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <rte_mbuf.h>

#include "rxinto/base/write_all.hpp"
#include "rxinto/stats/json.hpp"
#include "rxinto/tcp/stream.hpp"
#include "stream_msg.hpp"

namespace rxinto::capture {

namespace {

const char* label_of(std::int8_t client, std::uint8_t first_dir, int d) noexcept {
    if (client >= 0) return d == client ? "c2s" : "s2c";
    return d == first_dir ? "a2b" : "b2a";
}

/// Names an earlier run of rxinto leaves in a streams directory.
bool is_stream_output(const std::string& name) {
    if (name == "index.jsonl") return true;
    const std::size_t dash = name.find('-');
    if (dash == 0 || dash == std::string::npos) return false;
    for (std::size_t i = 0; i < dash; ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    const std::string rest = name.substr(dash + 1);
    return rest == "c2s.bin" || rest == "s2c.bin" || rest == "a2b.bin" || rest == "b2a.bin";
}

std::string addr_text(const std::array<std::uint8_t, 16>& a, std::uint8_t ipver) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a.data(), buf, sizeof buf);
    return buf;
}

/// Adds [off, off + len) to a sorted list of ranges, merging with the last one.
void add_range(std::vector<std::pair<std::uint64_t, std::uint64_t>>& v, std::uint64_t off, std::uint64_t len) {
    if (len == 0) return;
    if (!v.empty() && v.back().first + v.back().second == off) v.back().second += len;
    else v.emplace_back(off, len);
}

}  // namespace

void stream_store::set_capture_places(unsigned worker, const capture_places* p) {
    if (places_.size() <= worker) places_.resize(worker + 1, nullptr);
    places_[worker] = p;
}

std::string stream_file_name(std::uint64_t conn, const char* label) {
    return std::to_string(conn) + "-" + label + ".bin";
}

Result<std::unique_ptr<stream_store>> stream_store::open(const stream_store_options& opt) {
    const auto usage = [](Error e) {
        e.usage = true;
        return e;
    };
    if (opt.dir.empty()) {
        // No directory: nothing on disk, the observer alone (--export).
        std::unique_ptr<stream_store> s(new stream_store());
        s->opt_ = opt;
        s->opt_.write_files = false;
        return s;
    }
    if (::mkdir(opt.dir.c_str(), 0755) != 0 && errno != EEXIST)
        return usage(make_error("--streams-dir '", opt.dir, "': cannot create it: ", std::strerror(errno)));
    std::unique_ptr<stream_store> s(new stream_store());
    s->opt_ = opt;
    // The directory the user named (a link to it is theirs to make); every
    // file inside is made relative to this descriptor, never through a path.
    s->dirfd_ = ::open(opt.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd_ < 0)
        return usage(make_error("--streams-dir '", opt.dir, "': ", std::strerror(errno)));
    const int scan = ::dup(s->dirfd_);
    DIR* dp = scan >= 0 ? ::fdopendir(scan) : nullptr;
    if (dp == nullptr) {
        if (scan >= 0) ::close(scan);
        return usage(make_error("--streams-dir '", opt.dir, "': cannot list it: ", std::strerror(errno)));
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(dp)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(dp);
    if (!names.empty() && !opt.overwrite)
        return usage(make_error("--streams-dir '", opt.dir, "' is not empty (", std::to_string(names.size()),
                                " entries, e.g. '", names.front(), "'): give a new or empty directory, or"
                                " --streams-dir-overwrite to replace an earlier run's output there"));
    for (const std::string& n : names) {
        struct stat st{};
        const bool ours = is_stream_output(n) &&
                          ::fstatat(s->dirfd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode);
        if (!ours)
            return usage(make_error("--streams-dir-overwrite replaces only an earlier run's output"
                                    " (index.jsonl, <conn>-<dir>.bin); '", opt.dir, "/", n,
                                    "' is something else: remove it or choose another directory"));
        // unlinkat removes the name itself: a planted link is removed, not followed.
        if (::unlinkat(s->dirfd_, n.c_str(), 0) != 0)
            return make_error("--streams-dir '", opt.dir, "': cannot remove the earlier '", n,
                              "': ", std::strerror(errno));
    }
    s->index_fd_ = ::openat(s->dirfd_, "index.jsonl", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (s->index_fd_ < 0)
        return make_error("--streams-dir: cannot create '", opt.dir, "/index.jsonl': ", std::strerror(errno));
    if (opt.max_open_files != 0) {
        s->max_open_ = opt.max_open_files;
    } else {
        rlimit rl{};
        const rlim_t soft = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1024;
        s->max_open_ = static_cast<unsigned>(std::clamp<rlim_t>(soft / 2, 8, 65536));
    }
    return s;
}

stream_store::~stream_store() {
    finish();
    if (index_fd_ >= 0) ::close(index_fd_);
    if (dirfd_ >= 0) ::close(dirfd_);
}

void stream_store::close_fd(dir_out& x) noexcept {
    if (x.fd < 0) return;
    ::close(x.fd);
    x.fd = -1;
    lru_.erase(x.lru);
}

int stream_store::fd_for(std::uint64_t id, conn_out& c, int d) noexcept {
    dir_out& x = c.d[d];
    if (x.fd >= 0) {
        lru_.splice(lru_.end(), lru_, x.lru);  // most recently written
        return x.fd;
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        while (lru_.size() >= max_open_ && !lru_.empty()) {
            const auto [cid, cd] = lru_.front();
            close_fd(conns_[cid].d[cd]);
        }
        int fd = -1;
        if (x.file.empty()) {
            const std::string name = stream_file_name(id, label_of(c.client, c.first_dir, d));
            fd = ::openat(dirfd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                x.file = name;
                c_.files.add();
            }
        } else {
            // Reopened after the open-files limit closed it: append, never create, never follow.
            fd = ::openat(dirfd_, x.file.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) c_.reopened.add();
        }
        if (fd >= 0) {
            x.fd = fd;
            x.lru = lru_.insert(lru_.end(), {id, d});
            return fd;
        }
        if ((errno != EMFILE && errno != ENFILE) || lru_.empty()) break;
        // Out of descriptors (a lower limit than the one read at start): free half and retry.
        max_open_ = std::max<unsigned>(1, static_cast<unsigned>(lru_.size() / 2));
    }
    return -1;
}

bool stream_store::room_for(std::uint64_t bytes) noexcept {
    if (bytes + index_reserve <= room_) {
        room_ -= bytes;
        return true;
    }
    struct statvfs v{};
    if (::fstatvfs(dirfd_, &v) != 0) return true;  // cannot tell: let the write say
    room_ = static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
    if (bytes + index_reserve > room_) return false;
    room_ -= bytes;
    return true;
}

void stream_store::on_data(conn_out& c, const stream_msg& m) noexcept {
    dir_out& x = c.d[m.dir];
    std::uint64_t total = 0;
    for (unsigned i = 0; i < m.npieces; ++i) total += m.u.data.pieces[i].len;
    c.last_seq = std::max(c.last_seq, m.cap_seq);
    if (observer_ != nullptr && total != 0)
        observer_->data(m.conn, c.worker, m.dir, label_of(c.client, c.first_dir, m.dir), m.offset - x.gap_bytes,
                        m.u.data.pieces, m.npieces);
    if (m.offset > x.next) {
        // Messages dropped on the stream ring: a hole in the file.
        add_range(x.lost, x.next, m.offset - x.next);
        c_.bytes_lost.add(m.offset - x.next);
    }
    std::uint64_t written = 0;
    if (opt_.write_files && total != 0 && !room_for(total)) {
        c_.write_errors.add();  // the file system is (nearly) full: the index keeps its room
    } else if (opt_.write_files && total != 0) {
        const int fd = fd_for(m.conn, c, m.dir);
        // Straight from the packet buffers: one iovec per mbuf segment,
        // written in chunks of the array (a jumbo frame is a chain).
        iovec iov[64];
        int n = 0;
        int err = 0;
        bool failed = fd < 0;
        std::uint64_t queued = 0;
        const auto flush = [&] {
            if (!failed && n != 0) {
                const std::uint64_t w = writev_all(fd, iov, n, err);
                written += w;
                failed = w != queued;
            }
            n = 0;
            queued = 0;
        };
        for (unsigned i = 0; i < m.npieces && !failed; ++i) {
            const tcp::mbuf_piece& p = m.u.data.pieces[i];
            const rte_mbuf* seg = p.m;
            std::uint32_t off = p.off;
            std::uint32_t len = p.len;
            while (seg != nullptr && off >= seg->data_len) {
                off -= seg->data_len;
                seg = seg->next;
            }
            for (; seg != nullptr && len != 0; seg = seg->next) {
                if (n == static_cast<int>(std::size(iov))) flush();
                const std::uint32_t k = std::min<std::uint32_t>(len, seg->data_len - off);
                iov[n].iov_base = const_cast<char*>(rte_pktmbuf_mtod_offset(seg, const char*, off));
                iov[n].iov_len = k;
                ++n;
                queued += k;
                len -= k;
                off = 0;
            }
        }
        flush();
        if (written < total) c_.write_errors.add();
    }
    if (opt_.write_files && written < total) {
        add_range(x.lost, m.offset + written, total - written);
        c_.bytes_lost.add(total - written);
    }
    x.written += written;
    c_.bytes_written.add(written);
    x.next = m.offset + total;
    for (unsigned i = 0; i < m.npieces; ++i) rte_pktmbuf_free(m.u.data.pieces[i].m);
}

void stream_store::on_gap(conn_out& c, const stream_msg& m) noexcept {
    dir_out& x = c.d[m.dir];
    c.last_seq = std::max(c.last_seq, m.cap_seq);
    x.gap_bytes += m.u.gap.len;
    if (m.offset > x.next && opt_.data_messages) {
        add_range(x.lost, x.next, m.offset - x.next);
        c_.bytes_lost.add(m.offset - x.next);
    }
    add_range(x.gaps, m.offset, m.u.gap.len);
    x.next = m.offset + m.u.gap.len;
}

void stream_store::end_connection(std::uint64_t id, conn_out& c, const stream_msg* end) noexcept {
    connection_summary s;
    s.conn = id;
    s.worker = c.worker;
    s.key = c.key;
    s.first_ns = c.first_ns;
    s.pcap_first = c.pcap_first;
    if (const capture_places* p = places_of(c.worker); p != nullptr) s.pcap_last = p->at_or_after(c.last_seq);
    std::int8_t client = c.client;
    std::uint8_t first_dir = c.first_dir;
    if (end != nullptr) {
        client = end->client;
        first_dir = end->first_dir;
        s.last_ns = end->u.end.last_ns;
    }
    // The client's direction first when known, else the first packet's.
    const int first = client >= 0 ? client : first_dir;
    for (int k = 0; k < 2; ++k) {
        const int d = k == 0 ? first : 1 - first;
        s.d_of[k] = d;
        dir_out& x = c.d[d];
        direction_summary& o = s.dir[k];
        close_fd(x);
        o.label = label_of(client, first_dir, d);
        if (!x.file.empty()) {
            // The client became known after the file was named: the name follows the label.
            const std::string want = stream_file_name(id, o.label.c_str());
            if (want != x.file && ::renameat2(dirfd_, x.file.c_str(), dirfd_, want.c_str(), RENAME_NOREPLACE) == 0)
                x.file = want;
        }
        const bool a_sends = d == 0;
        o.src = addr_text(a_sends ? c.key.addr_a : c.key.addr_b, c.key.ip_version);
        o.dst = addr_text(a_sends ? c.key.addr_b : c.key.addr_a, c.key.ip_version);
        o.sport = a_sends ? c.key.port_a : c.key.port_b;
        o.dport = a_sends ? c.key.port_b : c.key.port_a;
        o.file = x.file;
        o.bytes = x.written;
        if (end != nullptr) {
            o.delivered = end->u.end.delivered[d];
            o.overlap_conflicts = end->u.end.conflicts[d];
            o.midstream = end->u.end.midstream[d];
            o.packets = end->u.end.packets[d];
            o.end = tcp::to_string(static_cast<tcp::end_reason>(end->u.end.end[d]));
            if (o.end == "none") o.end = "eof";
        } else {
            o.midstream = c.midstream;
            o.end = "eof";
        }
        if (end != nullptr && end->u.end.offset[d] > x.next && opt_.data_messages) {
            // Read after the last message that came (dropped on a full stream
            // ring): lost too.
            const std::uint64_t tail = end->u.end.offset[d] - x.next;
            add_range(x.lost, x.next, tail);
            c_.bytes_lost.add(tail);
        }
        if (end == nullptr) o.delivered = x.next - x.gap_bytes;  // all that is known of it
        // Without files (the observer alone), the bytes are those delivered.
        if (!opt_.write_files) o.bytes = o.delivered;
        o.gaps = std::move(x.gaps);
        o.lost = std::move(x.lost);
    }
    if (index_fd_ >= 0) write_index(s);
    if (observer_ != nullptr) observer_->ended(s);
}

void stream_store::write_index(const connection_summary& s) noexcept {
    std::string lines;
    for (const direction_summary& o : s.dir) {
        stats::JsonWriter j;
        j.begin_object();
        j.value("conn", s.conn);
        j.value("dir", o.label);
        j.value("src", o.src);
        j.value("sport", std::uint64_t{o.sport});
        j.value("dst", o.dst);
        j.value("dport", std::uint64_t{o.dport});
        j.begin_array("vlan");
        for (std::size_t i = 0; i < s.key.vlan_count && i < s.key.vlan.size(); ++i) j.element(std::uint64_t{s.key.vlan[i]});
        j.end_array();
        if (o.file.empty()) j.null_value("file");
        else j.value("file", o.file);
        j.value("bytes", o.bytes);
        j.begin_array("gaps");
        for (const auto& [off, len] : o.gaps) {
            j.begin_array();
            j.element(off);
            j.element(len);
            j.end_array();
        }
        j.end_array();
        j.value("midstream", o.midstream);
        j.value("end", o.end);
        j.value("overlap_conflicts", o.overlap_conflicts);
        j.value("delivered", o.delivered);
        j.begin_array("lost");
        for (const auto& [off, len] : o.lost) {
            j.begin_array();
            j.element(off);
            j.element(len);
            j.end_array();
        }
        j.end_array();
        j.end_object();
        lines += j.str();
        lines += '\n';
    }
    const char* p = lines.data();
    std::size_t left = lines.size();
    while (left != 0) {
        const ssize_t r = ::write(index_fd_, p, left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            c_.index_errors.add();
            return;
        }
        p += r;
        left -= static_cast<std::size_t>(r);
    }
}

void stream_store::handle(unsigned worker, const stream_msg& m) noexcept {
    auto it = conns_.find(m.conn);
    if (it == conns_.end()) {
        it = conns_.emplace(m.conn, conn_out{}).first;
        it->second.worker = worker;
    }
    conn_out& c = it->second;
    switch (m.kind) {
    case msg_kind::open:
        c.key = m.u.open.key;
        c.client = m.client;
        c.first_dir = m.first_dir;
        c.midstream = m.u.open.midstream;
        c.first_ns = m.u.open.first_ns;
        c.last_seq = m.u.open.cap_seq_end;
        if (const capture_places* p = places_of(worker); p != nullptr) c.pcap_first = p->at_or_before(m.cap_seq);
        if (observer_ != nullptr) {
            connection_open o;
            o.conn = m.conn;
            o.worker = worker;
            o.key = &c.key;
            o.label[0] = label_of(c.client, c.first_dir, 0);
            o.label[1] = label_of(c.client, c.first_dir, 1);
            o.midstream = c.midstream;
            o.first_ns = c.first_ns;
            o.pcap_first = c.pcap_first;
            observer_->opened(o);
        }
        return;
    case msg_kind::mark:
        c.last_seq = std::max(c.last_seq, m.cap_seq);
        return;
    case msg_kind::data:
        on_data(c, m);
        return;
    case msg_kind::gap:
        on_gap(c, m);
        return;
    case msg_kind::end:
        end_connection(m.conn, c, &m);
        conns_.erase(it);
        return;
    }
}

void stream_store::finish() noexcept {
    for (auto& [id, c] : conns_) end_connection(id, c, nullptr);
    conns_.clear();
}

}  // namespace rxinto::capture
