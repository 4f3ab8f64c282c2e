#include "rxinto/capture/stream_files.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "rxinto/stats/json.hpp"

namespace rxinto::capture {

Result<std::shared_ptr<stream_index>> stream_index::open(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return make_error("--streams-dir '", dir, "': cannot create it: ", std::strerror(errno));
    auto idx = std::make_shared<stream_index>();
    idx->dir_ = dir;
    const std::string path = dir + "/index.jsonl";
    idx->f_ = std::fopen(path.c_str(), "w");
    if (idx->f_ == nullptr)
        return make_error("--streams-dir: cannot write '", path, "': ", std::strerror(errno));
    return idx;
}

stream_index::~stream_index() {
    if (f_ != nullptr) std::fclose(f_);
}

void stream_index::append(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::fputs(line.c_str(), f_) < 0 || std::fflush(f_) != 0) ++errors_;  // under mu_, read at the end
}

stream_files::stream_files(std::shared_ptr<stream_index> index, tcp::reassembler* r)
    : index_(std::move(index)), r_(r) {}

stream_files::~stream_files() = default;

stream_files::conn_files* stream_files::files_of(tcp::connection& c) noexcept {
    if (c.user.empty()) c.user.set(new (std::nothrow) conn_files());
    return c.user.get<conn_files>();
}

std::uint64_t stream_files::drain_some(tcp::connection& c, flow::direction d, std::uint64_t max_bytes) noexcept {
    return drain(c, d, max_bytes);
}

std::uint64_t stream_files::drain(tcp::connection& c, flow::direction dd, std::uint64_t max_bytes) noexcept {
    conn_files* cf = files_of(c);
    if (cf == nullptr) {
        errors_.add();
        return 0;
    }
    const auto d = flow::index_of(dd);
    direction& dir = cf->d[d];
    tcp::stream& s = c.in(dd);
    std::uint64_t total = 0;
    for (;;) {
        const std::size_t room = static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), max_bytes - total));
        const tcp::recv_result r = s.recv_into(std::span<std::byte>(buf_.data(), room));
        total += r.bytes;
        if (r.bytes != 0) {
            if (dir.f == nullptr && dir.file.empty()) {
                dir.file = std::to_string(c.id()) + "-" + c.label(dd) + ".bin";
                dir.f = std::fopen((index_->dir() + "/" + dir.file).c_str(), "w");
                if (dir.f == nullptr) errors_.add();
            }
            if (dir.f != nullptr && std::fwrite(buf_.data(), 1, r.bytes, dir.f) != r.bytes) errors_.add();
            written_.add(r.bytes);
        }
        if (r.gap != 0) {
            // Adjacent gaps (declared in steps) are one gap to the reader.
            const std::uint64_t at = s.offset();
            if (!dir.gaps.empty() && dir.gaps.back().first + dir.gaps.back().second == at)
                dir.gaps.back().second += r.gap;
            else
                dir.gaps.emplace_back(at, r.gap);
            s.skip_gap();
            continue;
        }
        if (r.end != tcp::end_reason::none) dir.end = r.end;
        if (r.bytes == 0 || total >= max_bytes) break;
    }
    return total;
}

void stream_files::drain_events() noexcept { drain(r_->events()); }

void stream_files::drain(std::span<const tcp::event> events) noexcept {
    for (const tcp::event& e : events) {
        if (e.kind != tcp::event_kind::readable) continue;
        drain(*e.conn, flow::direction::a2b);
        drain(*e.conn, flow::direction::b2a);
    }
}

void stream_files::on_release(tcp::connection& c) noexcept {
    drain(c, flow::direction::a2b);
    drain(c, flow::direction::b2a);
    conn_files* cf = files_of(c);
    if (cf == nullptr) return;
    // Both directions get a line, in a stable order: the client's first when known.
    const flow::direction first = c.client().value_or(c.first());
    for (flow::direction dd : {first, flow::opposite(first)}) {
        const auto d = flow::index_of(dd);
        direction& dir = cf->d[d];
        if (dir.file.empty()) {
            // No byte delivered: an empty file keeps every index line pointing at one.
            dir.file = std::to_string(c.id()) + "-" + c.label(dd) + ".bin";
            dir.f = std::fopen((index_->dir() + "/" + dir.file).c_str(), "w");
            if (dir.f == nullptr) errors_.add();
        }
        if (dir.f != nullptr && std::fclose(dir.f) != 0) errors_.add();
        dir.f = nullptr;
        std::string src, dst;
        std::uint16_t sport = 0, dport = 0;
        c.endpoints(dd, src, sport, dst, dport);
        const tcp::stream& s = c.in(dd);
        tcp::end_reason end = dir.end != tcp::end_reason::none ? dir.end : s.ended();
        stats::JsonWriter j;
        j.begin_object();
        j.value("conn", c.id());
        j.value("dir", c.label(dd));
        j.value("src", src);
        j.value("sport", std::uint64_t{sport});
        j.value("dst", dst);
        j.value("dport", std::uint64_t{dport});
        j.begin_array("vlan");
        for (std::size_t i = 0; i < c.key().vlan_count; ++i) j.element(std::uint64_t{c.key().vlan[i]});
        j.end_array();
        j.value("file", dir.file);
        j.value("bytes", s.delivered());
        j.begin_array("gaps");
        for (const auto& [off, len] : dir.gaps) {
            j.begin_array();
            j.element(off);
            j.element(len);
            j.end_array();
        }
        j.end_array();
        j.value("midstream", s.midstream());
        j.value("end", tcp::to_string(end == tcp::end_reason::none ? tcp::end_reason::eof : end));
        j.value("overlap_conflicts", s.overlap_conflicts());
        j.end_object();
        index_->append(j.str() + "\n");
    }
    delete cf;
    c.user.reset();
}

}  // namespace rxinto::capture
