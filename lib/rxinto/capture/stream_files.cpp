#include "rxinto/capture/stream_files.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "rxinto/capture/capture_sink.hpp"
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

stream_files::stream_files(std::shared_ptr<stream_index> index, tcp::reassembler* r,
                           fleet::exporter* exporter, unsigned worker)
    : index_(std::move(index)), r_(r), exporter_(exporter), worker_(worker) {}

stream_files::~stream_files() = default;

stream_files::conn_files* stream_files::files_of(tcp::connection& c) noexcept {
    if (c.user == nullptr) c.user = new (std::nothrow) conn_files();
    return static_cast<conn_files*>(c.user);
}

void stream_files::drain(tcp::connection& c, int d) noexcept {
    conn_files* cf = files_of(c);
    if (cf == nullptr) {
        errors_.add();
        return;
    }
    direction& dir = cf->d[d];
    if (exporter_ != nullptr) note_pcap_last(*cf);
    if (!index_ && (exporter_ == nullptr || !exporter_->streams())) {
        // Export records only: no copy is needed to learn bytes and gaps.
        for (;;) {
            const std::uint64_t n = c.dir[d].readable();
            if (n != 0) r_->consume(c, d, n);
            const std::uint64_t at = c.dir[d].offset();
            const std::uint64_t gap = r_->skip_gap(c, d);
            if (gap != 0) {
                if (!dir.gaps.empty() && dir.gaps.back().first + dir.gaps.back().second == at)
                    dir.gaps.back().second += gap;
                else
                    dir.gaps.emplace_back(at, gap);
            }
            if (n == 0 && gap == 0) break;
        }
        return;
    }
    for (;;) {
        const std::uint64_t before = c.dir[d].delivered();
        const tcp::recv_result r = r_->recv_into(c, d, buf_);
        if (r.bytes != 0) {
            if (index_ && dir.f == nullptr && dir.file.empty()) {
                dir.file = std::to_string(c.id) + "-" + c.label(d) + ".bin";
                dir.f = std::fopen((index_->dir() + "/" + dir.file).c_str(), "w");
                if (dir.f == nullptr) errors_.add();
            }
            if (dir.f != nullptr && std::fwrite(buf_.data(), 1, r.bytes, dir.f) != r.bytes) errors_.add();
            written_.add(r.bytes);
            if (exporter_ != nullptr) export_chunk(c, d, dir, before, r.bytes);
        }
        if (r.gap != 0) {
            // Adjacent gaps (declared in steps) are one gap to the reader.
            const std::uint64_t at = c.dir[d].offset();
            if (!dir.gaps.empty() && dir.gaps.back().first + dir.gaps.back().second == at)
                dir.gaps.back().second += r.gap;
            else
                dir.gaps.emplace_back(at, r.gap);
            r_->skip_gap(c, d);
            continue;
        }
        if (r.end != tcp::end_reason::none) dir.end = r.end;
        if (r.bytes == 0) break;
    }
}

void stream_files::drain_events() noexcept {
    for (const tcp::event& e : r_->events()) {
        if (e.conn == nullptr || e.kind == tcp::event_kind::opened) continue;
        drain(*e.conn, 0);
        drain(*e.conn, 1);
    }
}

void stream_files::on_release(tcp::connection& c) noexcept {
    drain(c, 0);
    drain(c, 1);
    conn_files* cf = files_of(c);
    if (cf == nullptr) return;
    // Both directions get a line, in a stable order: the client's first when known.
    const int first = c.client_dir >= 0 ? c.client_dir : c.first_dir;
    for (int k = 0; k < 2; ++k) {
        const int d = k == 0 ? first : 1 - first;
        direction& dir = cf->d[d];
        if (!index_) continue;  // no --streams-dir: only the export records (below)
        if (dir.file.empty()) {
            // No byte delivered: an empty file keeps every index line pointing at one.
            dir.file = std::to_string(c.id) + "-" + c.label(d) + ".bin";
            dir.f = std::fopen((index_->dir() + "/" + dir.file).c_str(), "w");
            if (dir.f == nullptr) errors_.add();
        }
        if (dir.f != nullptr && std::fclose(dir.f) != 0) errors_.add();
        dir.f = nullptr;
        std::string src, dst;
        std::uint16_t sport = 0, dport = 0;
        c.endpoints(d, src, sport, dst, dport);
        const tcp::stream& s = c.dir[d];
        tcp::end_reason end = dir.end != tcp::end_reason::none ? dir.end : s.ended();
        stats::JsonWriter j;
        j.begin_object();
        j.value("conn", c.id);
        j.value("dir", c.label(d));
        j.value("src", src);
        j.value("sport", std::uint64_t{sport});
        j.value("dst", dst);
        j.value("dport", std::uint64_t{dport});
        j.begin_array("vlan");
        for (std::size_t i = 0; i < c.key.vlan_count; ++i) j.element(std::uint64_t{c.key.vlan[i]});
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
    if (exporter_ != nullptr) export_end(c, cf);
    delete cf;
    c.user = nullptr;
}

// ---------------------------------------------------------------------------
// Fleet export call site: records when a connection opens and ends, chunks of
// the delivered bytes (--export-streams). Kept together here so that it moves
// with the stream writing onto the writer thread. exporter::submit() copies
// into ring slots and never blocks; what does not fit is counted there.

void stream_files::on_open(tcp::connection& c) noexcept {
    if (exporter_ == nullptr) return;
    conn_files* cf = files_of(c);
    if (cf != nullptr && capture_ != nullptr && capture_->burst_start().file != nullptr) {
        cf->pcap_first_file = capture_->burst_start().file;
        cf->pcap_first_offset = capture_->burst_start().offset;
        cf->pcap_last_file = cf->pcap_first_file;
        cf->pcap_last_offset = capture_->burst_end().offset;
    }
    fleet::direction_info d[2];
    for (int i = 0; i < 2; ++i) {
        d[i].dir = c.label(i);
        d[i].midstream = c.dir[i].midstream();
        d[i].packets = c.packets[i];
    }
    (void)exporter_->submit_open(export_info(c), d);  // false: counted by the exporter (ring_full)
}

fleet::conn_info stream_files::export_info(const tcp::connection& c) const noexcept {
    fleet::conn_info info;
    info.worker = static_cast<std::uint16_t>(worker_);
    info.conn = c.id;
    info.ip_version = c.key.ip_version;
    info.addr_a = c.key.addr_a.data();
    info.addr_b = c.key.addr_b.data();
    info.port_a = c.key.port_a;
    info.port_b = c.key.port_b;
    info.vlan = std::span<const std::uint16_t>(c.key.vlan.data(), c.key.vlan_count);
    info.first_ns = c.first_ns;
    info.last_ns = c.last_ns;
    const auto* cf = static_cast<const conn_files*>(c.user);
    if (cf != nullptr && !cf->pcap_first_file.empty()) {
        info.pcap_first = {cf->pcap_first_file.c_str(), cf->pcap_first_offset};
        info.pcap_last = {cf->pcap_last_file.c_str(), cf->pcap_last_offset};
    }
    return info;
}

void stream_files::export_end(tcp::connection& c, const conn_files* cf) noexcept {
    fleet::direction_info d[2];
    for (int i = 0; i < 2; ++i) {
        const direction& dir = cf->d[i];
        const tcp::stream& s = c.dir[i];
        const tcp::end_reason end = dir.end != tcp::end_reason::none ? dir.end : s.ended();
        d[i].dir = c.label(i);
        d[i].midstream = s.midstream();
        d[i].packets = c.packets[i];
        d[i].end = tcp::to_string(end == tcp::end_reason::none ? tcp::end_reason::eof : end);
        d[i].bytes = s.delivered();
        d[i].overlap_conflicts = s.overlap_conflicts();
        d[i].file = dir.file;
        d[i].gaps = std::span<const std::pair<std::uint64_t, std::uint64_t>>(dir.gaps.data(), dir.gaps.size());
        d[i].chunk_bytes_lost = dir.chunk_lost;
    }
    (void)exporter_->submit_end(export_info(c), d);  // false: counted by the exporter (ring_full)
}

void stream_files::note_pcap_last(conn_files& cf) noexcept {
    if (capture_ == nullptr) return;
    const fleet::pcap_position& e = capture_->burst_end();
    if (e.file == nullptr) return;
    // Only a change of file costs a copy (a rotation), not every burst.
    if (cf.pcap_last_file != e.file) cf.pcap_last_file = e.file;
    if (cf.pcap_first_file.empty()) {
        cf.pcap_first_file = capture_->burst_start().file;
        cf.pcap_first_offset = capture_->burst_start().offset;
    }
    cf.pcap_last_offset = e.offset;
}

void stream_files::export_chunk(tcp::connection& c, int d, direction& dir, std::uint64_t offset,
                                std::size_t n) noexcept {
    if (!exporter_->streams()) return;
    fleet::chunk_ref ref;
    ref.worker = static_cast<std::uint16_t>(worker_);
    ref.conn = c.id;
    ref.d = static_cast<std::uint8_t>(d);
    ref.dir = c.label(d);
    ref.offset = offset;
    const std::size_t sent = exporter_->submit_chunk(ref, std::span<const std::byte>(buf_.data(), n));
    dir.chunk_lost += n - sent;
}

}  // namespace rxinto::capture
