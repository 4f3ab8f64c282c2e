// The fleet exporter (see exporter.hpp): ring producers, the export thread,
// JetStream asynchronous publishing with acknowledgement accounting, and the
// spool for what cannot be sent.
#include "rxinto/export/exporter.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <pthread.h>
#include <cstring>
#include <mutex>
#include <thread>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek_zc.h>

#include "rxinto/export/nats.hpp"
#include "rxinto/stats/json.hpp"
#include "spool.hpp"

namespace rxinto::fleet {

const char* to_string(drop_reason r) noexcept {
    switch (r) {
    case drop_reason::ring_full: return "ring_full";
    case drop_reason::spool_full: return "spool_full";
    case drop_reason::no_spool: return "no_spool";
    case drop_reason::rejected: return "rejected";
    case drop_reason::unacked_at_end: return "unacked_at_end";
    case drop_reason::count_: break;
    }
    return "unknown";
}

namespace {

// ---------------------------------------------------------------- wire format
// A message in the ring: a header, a fixed part, then variable bytes; it
// spans ceil(len / slot_bytes) consecutive slots, enqueued in one bulk
// operation (all or nothing), so the consumer finds it whole.

constexpr unsigned slot_bytes = 64;  // rte_ring element size: a cache line
enum class wire_type : std::uint8_t { conn = 1, chunk = 2 };

struct wire_header {
    std::uint32_t len;  ///< bytes of the whole message, header included
    std::uint8_t type;
    std::uint8_t pad[3];
};

/// A connection event (open or end): one message, both directions.
struct wire_conn {
    std::uint64_t conn, first_ns, last_ns, pcap_first_offset, pcap_last_offset;
    std::uint16_t worker, port_a, port_b;
    std::uint16_t vlan[3];
    std::uint16_t pcap_first_len, pcap_last_len;
    std::uint8_t kind, ip_version, vlan_count, has_pcap;
    std::uint8_t addr_a[16];
    std::uint8_t addr_b[16];
};

/// Per direction, in an open message.
struct wire_dir_open {
    std::uint64_t packets;
    char dir[4];
    std::uint8_t midstream;
    std::uint8_t pad[3];
};

/// Per direction, in an end message; its file name and gaps follow the
/// fixed parts (direction 0's, then direction 1's).
struct wire_dir_end {
    std::uint64_t bytes, overlap_conflicts, packets, chunk_bytes_lost, gaps_total;
    std::uint64_t delivered, lost_total;
    std::uint32_t ngaps;  ///< gaps that follow (at most max_gaps of gaps_total)
    std::uint32_t nlost;  ///< lost ranges after the gaps (at most max_gaps - ngaps of lost_total)
    std::uint16_t file_len;
    std::uint8_t midstream;
    char dir[4];
    char end[8];
    std::uint8_t pad;
};

struct wire_chunk {
    std::uint64_t conn, offset;
    std::uint32_t len;
    std::uint16_t worker;
    std::uint8_t d;
    char dir[4];
    std::uint8_t pad;
};

constexpr std::size_t max_name = 4096;  // PATH_MAX: longer names are cut (never happens for ours)

/// Writes a message into the slots rte_ring_enqueue_zc_*_start reserved: a
/// first run of slots and, when the reservation wraps, a second one.
struct zc_writer {
    std::byte* p1;
    std::size_t n1;  // bytes in the first run
    std::byte* p2;
    std::size_t at = 0;
    void put(const void* src, std::size_t n) noexcept {
        const auto* s = static_cast<const std::byte*>(src);
        if (at < n1) {
            const std::size_t k = std::min(n, n1 - at);
            std::memcpy(p1 + at, s, k);
            s += k;
            n -= k;
            at += k;
        }
        if (n != 0) {
            std::memcpy(p2 + (at - n1), s, n);
            at += n;
        }
    }
};

constexpr std::uint32_t slots_for(std::size_t bytes) noexcept {
    return static_cast<std::uint32_t>((bytes + slot_bytes - 1) / slot_bytes);
}

void copy_label(char* dst, std::size_t cap, std::string_view s) noexcept {
    std::memset(dst, 0, cap);
    std::memcpy(dst, s.data(), std::min(s.size(), cap - 1));
}

std::string_view label(const char* s, std::size_t cap) noexcept { return {s, strnlen(s, cap)}; }

std::string addr_text(const std::uint8_t* a, std::uint8_t ipver) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a, buf, sizeof buf);
    return buf;
}

bool is_chunk_subject(const char* subject) noexcept {
    return subject != nullptr && std::strstr(subject, ".data.") != nullptr;
}

using steady = std::chrono::steady_clock;

struct returned_msg {
    natsMsg* msg;
    natsStatus err;
    jsErrCode code;
    steady::time_point when;
};

}  // namespace

// ---------------------------------------------------------------- state

struct exporter::impl {
    exporter_options o;
    std::string node;
    std::uint64_t run = 0;
    std::string conn_subject;  // rxinto.<node>.conn
    connection_ptr nc;
    js_ptr js;
    rte_ring* ring = nullptr;
    std::uint32_t ring_slots = 0;
    std::uint32_t max_msg_slots = 0;
    std::uint32_t chunk_bytes = 0;
    std::int64_t max_payload = 0;
    std::unique_ptr<spool> sp;
    pthread_t thread{};
    bool started = false;
    bool stopped = false;
    std::atomic<bool> stopping{false};
    steady::time_point deadline;

    struct alignas(64) class_atomics {
        std::atomic<std::uint64_t> exported{0}, acked{0}, duplicates{0}, spooled{0};
        std::atomic<std::uint64_t> drops[static_cast<int>(drop_reason::count_)] = {};
    };
    class_atomics cls[2];
    std::atomic<std::uint64_t> chunk_bytes_out{0}, records_truncated{0}, in_spool{0}, spool_file{0};
    std::atomic<std::int64_t> inflight{0};
    std::atomic<std::uint64_t> retries{0}, disconnects{0}, reconnects{0};
    std::atomic<bool> connected{false};
    std::atomic<bool> closing{false};

    std::mutex ret_mu;
    std::vector<returned_msg> returned;  // under ret_mu: failed publishes handed back by the library
    std::mutex text_mu;
    std::string last_error;  // under text_mu

    ~impl() {
        // The library's threads call on_ack() and the connection handlers with
        // this object: they go first, before any member they touch.
        js.reset();
        nc.reset();
        for (auto& r : returned) natsMsg_Destroy(r.msg);
        if (ring != nullptr) rte_ring_free(ring);
    }

    class_atomics& of(msg_class c) noexcept { return cls[static_cast<int>(c)]; }
    void drop(msg_class c, drop_reason r, std::uint64_t n = 1) noexcept {
        of(c).drops[static_cast<int>(r)].fetch_add(n, std::memory_order_relaxed);
    }
    void note_error(std::string t) {
        std::lock_guard<std::mutex> l(text_mu);
        last_error = std::move(t);
    }

    // -------------------------------------------------- producers

    bool enqueue(std::uint32_t len, wire_type type, const void* fixed, std::size_t fixed_len,
                 const std::initializer_list<std::pair<const void*, std::size_t>>& tail) noexcept {
        const std::uint32_t n = slots_for(len);
        rte_ring_zc_data zcd{};
        if (n > max_msg_slots || rte_ring_enqueue_zc_bulk_elem_start(ring, slot_bytes, n, &zcd, nullptr) != n)
            return false;
        zc_writer w{static_cast<std::byte*>(zcd.ptr1), std::size_t{zcd.n1} * slot_bytes,
                    static_cast<std::byte*>(zcd.ptr2)};
        wire_header h{len, static_cast<std::uint8_t>(type), {}};
        w.put(&h, sizeof h);
        w.put(fixed, fixed_len);
        for (const auto& [p, k] : tail)
            if (k != 0) w.put(p, k);
        rte_ring_enqueue_zc_elem_finish(ring, n);
        return true;
    }

    // -------------------------------------------------- export thread

    static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
        auto* self = static_cast<impl*>(closure);
        const msg_class c = is_chunk_subject(natsMsg_GetSubject(msg)) ? msg_class::chunk : msg_class::record;
        self->inflight.fetch_sub(1, std::memory_order_relaxed);
        if (pa != nullptr) {
            self->of(c).acked.fetch_add(1, std::memory_order_relaxed);
            if (pa->Duplicate) self->of(c).duplicates.fetch_add(1, std::memory_order_relaxed);
            natsMsg_Destroy(msg);
            return;
        }
        // Kept: the export thread retries it, spools it or counts it dropped.
        std::lock_guard<std::mutex> l(self->ret_mu);
        self->returned.push_back({msg, pae != nullptr ? pae->Err : NATS_ERR,
                                  pae != nullptr ? pae->ErrCode : static_cast<jsErrCode>(0), steady::now()});
    }
    static void on_disconnected(natsConnection*, void* closure) {
        auto* self = static_cast<impl*>(closure);
        self->connected.store(false);
        if (!self->closing.load()) self->disconnects.fetch_add(1);  // our own close is no outage
    }
    static void on_reconnected(natsConnection*, void* closure) {
        auto* self = static_cast<impl*>(closure);
        self->connected.store(true);
        self->reconnects.fetch_add(1);
    }
    static void on_connected(natsConnection*, void* closure) {
        static_cast<impl*>(closure)->connected.store(true);
    }

    bool can_publish() const noexcept {
        return natsConnection_Status(nc.get()) == NATS_CONN_STATUS_CONNECTED && stream_ready;
    }
    bool stream_ready = false;  // export thread: the stream was checked/created
    bool published_any = false; // export thread: js_PublishMsgAsync succeeded once

    /// Takes ownership of *m (destroys it, or hands it to the library or to keep()).
    void publish_or_keep(natsMsg*& m, msg_class c, bool retry) {
        if (can_publish()) {
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MaxWait = ack_wait_ms;  // an ack that does not come back in time: handed back (on_ack)
            const natsStatus s = js_PublishMsgAsync(js.get(), &m, &po);
            if (s == NATS_OK) {
                published_any = true;
                inflight.fetch_add(1, std::memory_order_relaxed);
                if (retry) retries.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            if (s == NATS_MAX_PAYLOAD) {
                note_error("a message is larger than the server's max_payload: " + status_text(s));
                drop(c, drop_reason::rejected);
                natsMsg_Destroy(m);
                m = nullptr;
                return;
            }
        }
        keep(m, c);
    }

    /// A message that cannot be published now (no server, a stalled
    /// publish): to the spool; without one, kept in memory (bounded by
    /// max_inflight) and retried, dropped (counted) past that.
    void keep(natsMsg*& m, msg_class c) {
        if (sp) {
            spool_or_drop(m, c, drop_reason::no_spool);
            return;
        }
        std::lock_guard<std::mutex> l(ret_mu);
        if (returned.size() >= o.max_inflight) {
            drop(c, drop_reason::no_spool);
            natsMsg_Destroy(m);
        } else {
            returned.push_back({m, NATS_OK, static_cast<jsErrCode>(0), steady::now()});
        }
        m = nullptr;
    }

    void spool_or_drop(natsMsg*& m, msg_class c, drop_reason without_spool) {
        if (!sp) {
            drop(c, without_spool);
        } else {
            spool_msg sm;
            sm.subject = natsMsg_GetSubject(m);
            const char** keys = nullptr;
            int nkeys = 0;
            if (natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
                for (int i = 0; i < nkeys; ++i) {
                    const char* v = nullptr;
                    if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK && v != nullptr) sm.headers.emplace_back(keys[i], v);
                }
                std::free(static_cast<void*>(keys));
            }
            sm.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
            if (sp->append(sm)) {
                of(c).spooled.fetch_add(1, std::memory_order_relaxed);
            } else {
                drop(c, drop_reason::spool_full);
            }
            update_spool_counts();
        }
        natsMsg_Destroy(m);
        m = nullptr;
    }

    void update_spool_counts() noexcept {
        in_spool.store(sp ? sp->entries() : 0, std::memory_order_relaxed);
        spool_file.store(sp ? sp->file_bytes() : 0, std::memory_order_relaxed);
    }

    natsMsg* make_msg(const std::string& subject, const std::string& id, const char* data, std::size_t len) {
        natsMsg* m = nullptr;
        if (natsMsg_Create(&m, subject.c_str(), nullptr, data, static_cast<int>(len)) != NATS_OK) return nullptr;
        if (natsMsgHeader_Set(m, msg_id_header, id.c_str()) != NATS_OK) {
            natsMsg_Destroy(m);
            return nullptr;
        }
        return m;
    }

    /// A chunk message out of the ring -> its natsMsg (the raw bytes).
    natsMsg* decode_chunk(const std::byte* q, std::uint32_t avail) {
        wire_chunk w;
        std::memcpy(&w, q, sizeof w);
        q += sizeof w;
        if (sizeof w + w.len > avail) return nullptr;
        const std::string dir(label(w.dir, sizeof w.dir));
        const std::string conn = std::to_string(w.conn);
        const std::string subject = "rxinto." + node + ".data." + conn + "." + dir;
        const std::string id = node + "." + std::to_string(run) + "." + conn + "." + std::to_string(w.d) + ".c" +
                               std::to_string(w.offset);
        natsMsg* m = make_msg(subject, id, reinterpret_cast<const char*>(q), w.len);
        if (m == nullptr) return nullptr;
        natsMsgHeader_Set(m, "Rxinto-Run", std::to_string(run).c_str());
        natsMsgHeader_Set(m, "Rxinto-D", std::to_string(w.d).c_str());
        natsMsgHeader_Set(m, "Rxinto-Offset", std::to_string(w.offset).c_str());
        chunk_bytes_out.fetch_add(w.len, std::memory_order_relaxed);
        return m;
    }

    /// A connection message out of the ring -> the JSON records of its two
    /// directions (out[0], out[1]; null where one could not be built).
    bool decode_conn(const std::byte* q, std::uint32_t avail, natsMsg* (&out)[2]) {
        out[0] = out[1] = nullptr;
        const std::byte* const end_of_msg = q + avail;
        wire_conn c;
        if (avail < sizeof c) return false;
        std::memcpy(&c, q, sizeof c);
        q += sizeof c;
        const auto kind = static_cast<record_kind>(c.kind);
        wire_dir_open dopen[2]{};
        wire_dir_end dend[2]{};
        if (kind == record_kind::open) {
            if (q + sizeof dopen > end_of_msg) return false;
            std::memcpy(dopen, q, sizeof dopen);
            q += sizeof dopen;
        } else {
            if (q + sizeof dend > end_of_msg) return false;
            std::memcpy(dend, q, sizeof dend);
            q += sizeof dend;
        }
        const auto take = [&](std::size_t n, std::string& sv) {
            if (q + n > end_of_msg) return false;
            sv.assign(reinterpret_cast<const char*>(q), n);
            q += n;
            return true;
        };
        std::string pfirst, plast, file[2];
        if (!take(c.pcap_first_len, pfirst) || !take(c.pcap_last_len, plast)) return false;
        if (kind == record_kind::end)
            for (int d = 0; d < 2; ++d)
                if (!take(dend[d].file_len, file[d])) return false;
        // Direction 0's gaps, then its lost ranges, then direction 1's.
        const std::byte* gaps[2] = {q, q};
        const std::byte* lost[2] = {q, q};
        if (kind == record_kind::end) {
            lost[0] = gaps[0] + std::size_t{dend[0].ngaps} * 16;
            gaps[1] = lost[0] + std::size_t{dend[0].nlost} * 16;
            lost[1] = gaps[1] + std::size_t{dend[1].ngaps} * 16;
            if (lost[1] + std::size_t{dend[1].nlost} * 16 > end_of_msg) return false;
        }
        const auto ranges = [](stats::JsonWriter& j, const char* key, const std::byte* g, std::uint32_t n) {
            j.begin_array(key);
            for (std::uint32_t i = 0; i < n; ++i, g += 16) {
                std::uint64_t v[2];
                std::memcpy(v, g, sizeof v);
                j.begin_array();
                j.element(v[0]);
                j.element(v[1]);
                j.end_array();
            }
            j.end_array();
        };
        const std::string a = addr_text(c.addr_a, c.ip_version), b = addr_text(c.addr_b, c.ip_version);
        for (int d = 0; d < 2; ++d) {
            const bool a_sends = d == 0;
            const std::string id = node + "." + std::to_string(run) + "." + std::to_string(c.conn) + "." +
                                   std::to_string(d) + "." + to_string(kind);
            stats::JsonWriter j;
            j.begin_object();
            j.value("id", id);
            j.value("kind", to_string(kind));
            j.value("node", node);
            j.value("run", run);
            j.value("worker", std::uint64_t{c.worker});
            j.value("conn", c.conn);
            j.value("d", std::uint64_t(d));
            j.value("dir", kind == record_kind::open ? label(dopen[d].dir, 4) : label(dend[d].dir, 4));
            j.value("src", a_sends ? a : b);
            j.value("sport", std::uint64_t{a_sends ? c.port_a : c.port_b});
            j.value("dst", a_sends ? b : a);
            j.value("dport", std::uint64_t{a_sends ? c.port_b : c.port_a});
            j.begin_array("vlan");
            for (unsigned i = 0; i < c.vlan_count && i < 3; ++i) j.element(std::uint64_t{c.vlan[i]});
            j.end_array();
            if (file[d].empty()) j.null_value("file");
            else j.value("file", file[d]);
            j.value("bytes", kind == record_kind::end ? dend[d].bytes : 0);
            ranges(j, "gaps", gaps[d], kind == record_kind::end ? dend[d].ngaps : 0);
            if (kind == record_kind::end && dend[d].gaps_total > dend[d].ngaps)
                j.value("gaps_truncated", dend[d].gaps_total - dend[d].ngaps);
            j.value("midstream", (kind == record_kind::open ? dopen[d].midstream : dend[d].midstream) != 0);
            const std::string_view end = kind == record_kind::end ? label(dend[d].end, 8) : std::string_view();
            if (end.empty()) j.null_value("end");
            else j.value("end", end);
            j.value("overlap_conflicts", kind == record_kind::end ? dend[d].overlap_conflicts : 0);
            // index.jsonl's own additions: what the reassembler delivered, and
            // the ranges of it that did not reach the stream file.
            j.value("delivered", kind == record_kind::end ? dend[d].delivered : 0);
            ranges(j, "lost", lost[d], kind == record_kind::end ? dend[d].nlost : 0);
            if (kind == record_kind::end && dend[d].lost_total > dend[d].nlost)
                j.value("lost_truncated", dend[d].lost_total - dend[d].nlost);
            j.value("packets", kind == record_kind::end ? dend[d].packets : dopen[d].packets);
            j.value("first_ns", c.first_ns);
            j.value("last_ns", c.last_ns);
            if (o.streams_dir.empty()) j.null_value("streams_dir");
            else j.value("streams_dir", o.streams_dir);
            if (c.has_pcap != 0) {
                j.begin_object("pcap");
                j.value("first_file", pfirst);
                j.value("first_offset", c.pcap_first_offset);
                j.value("last_file", plast);
                j.value("last_offset", c.pcap_last_offset);
                j.end_object();
            } else {
                j.null_value("pcap");
            }
            j.value("chunks", o.streams);
            j.value("chunk_bytes_lost", kind == record_kind::end ? dend[d].chunk_bytes_lost : 0);
            j.end_object();
            const std::string& json = j.str();
            out[d] = make_msg(conn_subject, id, json.data(), json.size());
        }
        return true;
    }

    void handle(const std::byte* p, std::uint32_t len) {
        wire_header h;
        std::memcpy(&h, p, sizeof h);
        const std::byte* q = p + sizeof h;
        const std::uint32_t avail = len - static_cast<std::uint32_t>(sizeof h);
        if (h.type == static_cast<std::uint8_t>(wire_type::chunk)) {
            of(msg_class::chunk).exported.fetch_add(1, std::memory_order_relaxed);
            natsMsg* m = decode_chunk(q, avail);
            if (m == nullptr) {
                note_error("a stream chunk from the ring could not be built (out of memory?)");
                drop(msg_class::chunk, drop_reason::rejected);
                return;
            }
            publish_or_keep(m, msg_class::chunk, false);
            return;
        }
        natsMsg* m[2];
        const bool ok = decode_conn(q, avail, m);
        of(msg_class::record).exported.fetch_add(2, std::memory_order_relaxed);
        for (natsMsg*& x : m) {
            if (!ok || x == nullptr) {
                note_error("a record from the ring could not be built (out of memory?)");
                drop(msg_class::record, drop_reason::rejected);
                if (x != nullptr) natsMsg_Destroy(x);
                continue;
            }
            publish_or_keep(x, msg_class::record, false);
        }
    }

    /// Dequeues up to `burst` slots and handles every message in them.
    std::size_t drain_ring(std::vector<std::byte>& buf, std::uint32_t burst) {
        unsigned n = rte_ring_sc_dequeue_burst_elem(ring, buf.data(), slot_bytes, burst, nullptr);
        std::size_t handled = 0;
        unsigned pos = 0;
        while (pos < n) {
            wire_header h;
            std::memcpy(&h, buf.data() + std::size_t{pos} * slot_bytes, sizeof h);
            const std::uint32_t k = slots_for(h.len);
            if (k == 0 || k > max_msg_slots) {  // cannot happen: our producers wrote it
                note_error("corrupt message in the export ring");
                break;
            }
            if (pos + k > n) {
                // The rest of this message is in the ring already (a bulk
                // enqueue becomes visible whole): fetch exactly that.
                const unsigned need = pos + k - n;
                while (rte_ring_sc_dequeue_bulk_elem(ring, buf.data() + std::size_t{n} * slot_bytes, slot_bytes,
                                                     need, nullptr) != need)
                    std::this_thread::yield();
                n += need;
            }
            handle(buf.data() + std::size_t{pos} * slot_bytes, h.len);
            ++handled;
            pos += k;
        }
        return handled;
    }

    /// Failed publishes handed back by the library: retried when a server
    /// answers (after a short pause), spooled or dropped otherwise.
    std::size_t handle_returned(bool final) {
        std::vector<returned_msg> mine;
        {
            std::lock_guard<std::mutex> l(ret_mu);
            if (returned.empty()) return 0;
            const auto now = steady::now();
            auto it = std::stable_partition(returned.begin(), returned.end(), [&](const returned_msg& r) {
                return final || now - r.when >= std::chrono::milliseconds(200);
            });
            mine.assign(returned.begin(), it);
            returned.erase(returned.begin(), it);
        }
        for (auto& r : mine) {
            const msg_class c = is_chunk_subject(natsMsg_GetSubject(r.msg)) ? msg_class::chunk : msg_class::record;
            // JetStream answered with an error of its own (other than "not
            // available right now"): the message will not be stored by retrying.
            const bool refused = r.code != 0 && r.code != JSClusterNotAvailErr;
            if (refused) {
                note_error("JetStream refused a message: " + status_text(r.err) + " (error " +
                           std::to_string(r.code) + ")");
                drop(c, drop_reason::rejected);
                natsMsg_Destroy(r.msg);
            } else if (final) {
                spool_or_drop(r.msg, c, drop_reason::unacked_at_end);
            } else {
                publish_or_keep(r.msg, c, true);
            }
        }
        return mine.size();
    }

    /// After a reconnect, what waits for an acknowledgement from the old
    /// server is published again at once (same ids: stored once).
    void republish_pending(bool final) {
        // cnats 3.4 dereferences its pending map, made by the first async
        // publish, without checking it: nothing published, nothing pending.
        if (!published_any) return;
        natsMsgList pending{};
        if (js_PublishAsyncGetPendingList(&pending, js.get()) != NATS_OK) return;
        inflight.fetch_sub(pending.Count, std::memory_order_relaxed);
        for (int i = 0; i < pending.Count; ++i) {
            natsMsg*& m = pending.Msgs[i];
            const msg_class c = is_chunk_subject(natsMsg_GetSubject(m)) ? msg_class::chunk : msg_class::record;
            if (final) spool_or_drop(m, c, drop_reason::unacked_at_end);
            else publish_or_keep(m, c, true);
        }
        natsMsgList_Destroy(&pending);
    }

    /// Sends up to `n` spooled messages.
    std::size_t drain_spool(std::size_t n) {
        if (!sp || sp->entries() == 0) return 0;
        std::size_t done = 0;
        spool_msg sm;
        while (done < n && sp->take(sm)) {
            const msg_class c = is_chunk_subject(sm.subject.c_str()) ? msg_class::chunk : msg_class::record;
            natsMsg* m = nullptr;
            if (natsMsg_Create(&m, sm.subject.c_str(), nullptr, sm.data.data(), static_cast<int>(sm.data.size())) ==
                NATS_OK) {
                for (const auto& [k, v] : sm.headers) natsMsgHeader_Set(m, k.c_str(), v.c_str());
                publish_or_keep(m, c, true);
            } else {
                drop(c, drop_reason::rejected);
            }
            ++done;
        }
        update_spool_counts();
        return done;
    }

    void ensure_stream_once() {
        if (stream_ready || natsConnection_Status(nc.get()) != NATS_CONN_STATUS_CONNECTED) return;
        std::string what;
        if (auto st = ensure_stream(nc.get(), js.get(), o.replicas, 0.5, what); st) stream_ready = true;
        else note_error(st.error().message);
    }

    void run_thread() {
        std::vector<std::byte> buf((std::size_t{burst_slots} + max_msg_slots) * slot_bytes);
        std::uint64_t seen_reconnects = reconnects.load();
        for (;;) {
            ensure_stream_once();
            const bool up = can_publish();
            const bool final_phase = stopping.load(std::memory_order_acquire) && steady::now() >= deadline;
            if (const auto r = reconnects.load(); r != seen_reconnects) {
                seen_reconnects = r;
                if (up) republish_pending(false);
            }
            std::size_t work = handle_returned(final_phase);
            const auto inflight_now = inflight.load(std::memory_order_relaxed);
            const bool room = inflight_now < static_cast<std::int64_t>(o.max_inflight);
            if (up && room && !final_phase) work += drain_spool(std::min<std::size_t>(256, o.max_inflight));
            // The ring: published when a server answers and there is room;
            // otherwise it is the buffer, until it is half full: then what
            // cannot be sent goes to the spool (or is counted as dropped).
            const unsigned used = rte_ring_count(ring);
            if (used != 0 && ((up && room) || used > ring_slots / 2 || final_phase))
                work += drain_ring(buf, burst_slots);
            if (stopping.load(std::memory_order_acquire)) {
                const bool idle = rte_ring_count(ring) == 0 && inflight.load() <= 0 && returned_empty() &&
                                  (!sp || sp->entries() == 0 || !up);
                const bool all_sent = idle && (!sp || sp->entries() == 0);
                if (all_sent) break;
                if (final_phase) {
                    // The wait is over: what has no acknowledgement stays in
                    // the spool, or is counted as dropped.
                    if (up || natsConnection_Status(nc.get()) != NATS_CONN_STATUS_CLOSED) republish_pending(true);
                    handle_returned(true);
                    while (rte_ring_count(ring) != 0) drain_ring(buf, burst_slots);
                    handle_returned(true);
                    inflight.store(0);
                    break;
                }
            }
            if (work == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        update_spool_counts();
    }

    bool returned_empty() {
        std::lock_guard<std::mutex> l(ret_mu);
        return returned.empty();
    }

    static constexpr std::int64_t ack_wait_ms = 5000;
    static constexpr std::uint32_t burst_slots = 4096;
};

// ---------------------------------------------------------------- public

exporter::exporter(std::unique_ptr<impl> p) noexcept : p_(std::move(p)) {}

exporter::~exporter() { stop(); }

Result<std::unique_ptr<exporter>> exporter::create(const exporter_options& o, std::vector<std::string>& notes) {
    auto p = std::make_unique<impl>();
    p->o = o;
    p->node = o.node.empty() ? host_node_name() : o.node;
    if (!valid_node_name(p->node)) {
        Error e = make_error("export: ", o.node.empty() ? "the host name does not make a node name" : "node name",
                             " '", p->node, "' is not valid: set --node NAME ([export] node), with letters,"
                             " digits, '_' and '-' only (at most 64)");
        e.usage = true;
        return e;
    }
    p->run = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    p->conn_subject = "rxinto." + p->node + ".conn";

    connect_options co;
    co.urls = o.urls;
    co.name = "rxinto " + p->node;
    co.timeout_s = o.connect_timeout_s;
    co.retry_on_failed_connect = !o.require_server;
    co.disconnected = &impl::on_disconnected;
    co.reconnected = &impl::on_reconnected;
    co.connected = &impl::on_connected;
    co.closure = p.get();
    auto nc = connect(co);
    if (!nc) return Error{"--export: " + nc.error().message, nc.error().usage};
    p->nc = std::move(nc.value());
    const bool up = natsConnection_Status(p->nc.get()) == NATS_CONN_STATUS_CONNECTED;
    p->connected.store(up);

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = static_cast<std::int64_t>(o.max_inflight) * 2 + impl::burst_slots;
    jo.PublishAsync.AckHandler = &impl::on_ack;
    jo.PublishAsync.AckHandlerClosure = p.get();
    jo.PublishAsync.StallWait = 1;  // never wait long in a publish: the export thread has other work
    auto js = jetstream(p->nc.get(), &jo);
    if (!js) return std::move(js).error();
    p->js = std::move(js.value());

    // The largest chunk fits the server's max_payload with room for headers.
    constexpr std::uint32_t header_room = 1024;
    constexpr std::int64_t min_payload = 8192;  // a record with its fixed fields and a few hundred gap bytes
    p->chunk_bytes = o.chunk_bytes;
    if (up) {
        char url[256] = {};
        natsConnection_GetConnectedUrl(p->nc.get(), url, sizeof url);
        p->max_payload = natsConnection_GetMaxPayload(p->nc.get());
        if (p->max_payload < min_payload) {
            Error e = make_error("--export: the NATS server at ", url, " accepts messages of at most ",
                                 std::to_string(p->max_payload), " bytes (max_payload): a connection record"
                                 " needs up to ", std::to_string(min_payload), "; raise max_payload in the"
                                 " server's configuration");
            e.usage = true;
            return e;
        }
        p->chunk_bytes = static_cast<std::uint32_t>(
            std::min<std::int64_t>(o.chunk_bytes, p->max_payload - header_room));
        std::string what;
        if (auto st = ensure_stream(p->nc.get(), p->js.get(), o.replicas, std::max(5.0, o.connect_timeout_s), what);
            !st) {
            Error e = make_error("--export: ", st.error().message);
            e.usage = st.error().usage;
            return e;
        }
        p->stream_ready = true;
        notes.push_back("export: node " + p->node + ", connected to " + url + "; " + what);
    } else {
        notes.push_back("export: node " + p->node + ", no NATS server answered at start-up (" + o.urls +
                        "): records are spooled or dropped until one does");
    }
    // Gaps carried by one record: what fits the payload with the fixed
    // fields (a gap is at most ~44 bytes of JSON).
    const std::int64_t payload = p->max_payload > 0 ? p->max_payload : 1 << 20;
    const auto gap_room = static_cast<std::uint32_t>(std::max<std::int64_t>(16, (payload - 4096) / 44));
    p->o.max_gaps = std::min(o.max_gaps, gap_room);

    if (!o.spool_dir.empty()) {
        auto sp = spool::open(o.spool_dir, p->node, o.spool_bytes);
        if (!sp) return Error{"--export-spool: " + sp.error().message, sp.error().usage};
        p->sp = std::move(sp.value());
        if (p->sp->found_at_open() != 0)
            notes.push_back("export: " + std::to_string(p->sp->found_at_open()) + " messages from an earlier run are"
                            " in the spool " + p->sp->path() + ": sent first");
        if (p->sp->cut_at_open() != 0)
            notes.push_back("export: the spool " + p->sp->path() + " ended in a torn entry (" +
                            std::to_string(p->sp->cut_at_open()) + " bytes): cut off");
        p->update_spool_counts();
    }

    // The ring: a power of two of 64-byte slots, multi-producer with
    // head/tail sync (the zero-copy enqueue needs it), single consumer.
    const std::uint64_t want = std::max<std::uint64_t>(o.ring_bytes / slot_bytes, 1024);
    std::uint32_t slots = 1024;
    while (slots < want && slots < (1U << 26)) slots <<= 1;
    const std::size_t max_record = sizeof(wire_header) + sizeof(wire_conn) + 2 * sizeof(wire_dir_end) + 4 * max_name +
                                   2 * std::size_t{p->o.max_gaps} * 16;
    const std::size_t max_chunk = sizeof(wire_header) + sizeof(wire_chunk) + p->chunk_bytes;
    p->max_msg_slots = slots_for(std::max(max_record, max_chunk));
    if (p->max_msg_slots > slots / 4) {
        Error e = make_error("--export: the ring ([export] ring_mb) is too small for one message of ",
                             std::to_string(std::size_t{p->max_msg_slots} * slot_bytes), " bytes");
        e.usage = true;
        return e;
    }
    static std::atomic<unsigned> seq{0};
    const std::string name = "rxinto_export" + std::to_string(seq.fetch_add(1));
    // count - 1 usable slots with RING_F_EXACT_SZ off: ask for slots, get slots - 1.
    p->ring = rte_ring_create_elem(name.c_str(), slot_bytes, slots, SOCKET_ID_ANY, RING_F_MP_HTS_ENQ | RING_F_SC_DEQ);
    if (p->ring == nullptr)
        return make_error("--export: cannot create the export ring (", std::to_string(slots), " slots of ",
                          std::to_string(slot_bytes), " bytes): ", rte_strerror(rte_errno),
                          " (lower [export] ring_mb or raise [eal] memory_mb)");
    p->ring_slots = rte_ring_get_capacity(p->ring);
    return std::unique_ptr<exporter>(new exporter(std::move(p)));
}

Status exporter::start() {
    if (p_->started) return {};
    // A DPDK control thread: it runs on the CPUs of the main lcore and those
    // no lcore uses, never on a worker's.
    const int rc = rte_ctrl_thread_create(
        &p_->thread, "rxinto-export", nullptr,
        [](void* arg) -> void* {
            static_cast<impl*>(arg)->run_thread();
            return nullptr;
        },
        p_.get());
    if (rc != 0) return make_error("export: cannot start the export thread: ", std::strerror(rc));
    p_->started = true;
    return {};
}

void exporter::stop() noexcept {
    if (!p_ || p_->stopped) return;
    p_->stopped = true;
    p_->deadline = steady::now() + std::chrono::milliseconds(static_cast<std::int64_t>(p_->o.wait_s * 1000.0));
    p_->stopping.store(true, std::memory_order_release);
    if (p_->started) {
        pthread_join(p_->thread, nullptr);
    } else if (p_->ring != nullptr) {
        // Never started: whatever was submitted is dropped (counted).
        p_->deadline = steady::now();
        p_->run_thread();
    }
    // Late acknowledgements after this point are not counted; make the
    // connection quiet before the counters are read for the summary.
    p_->closing.store(true);
    if (p_->nc) natsConnection_Close(p_->nc.get());
}

namespace {

void fill_conn(wire_conn& w, const conn_info& c, record_kind kind, std::string_view pf, std::string_view pl) noexcept {
    w.conn = c.conn;
    w.first_ns = c.first_ns;
    w.last_ns = c.last_ns;
    w.worker = c.worker;
    w.port_a = c.port_a;
    w.port_b = c.port_b;
    w.vlan_count = static_cast<std::uint8_t>(std::min<std::size_t>(c.vlan.size(), 3));
    for (std::size_t i = 0; i < w.vlan_count; ++i) w.vlan[i] = c.vlan[i];
    w.kind = static_cast<std::uint8_t>(kind);
    w.ip_version = c.ip_version;
    if (c.addr_a != nullptr) std::memcpy(w.addr_a, c.addr_a, 16);
    if (c.addr_b != nullptr) std::memcpy(w.addr_b, c.addr_b, 16);
    w.has_pcap = c.pcap_first.file != nullptr || c.pcap_last.file != nullptr ? 1 : 0;
    w.pcap_first_offset = c.pcap_first.offset;
    w.pcap_last_offset = c.pcap_last.offset;
    w.pcap_first_len = static_cast<std::uint16_t>(pf.size());
    w.pcap_last_len = static_cast<std::uint16_t>(pl.size());
}

std::string_view name_of(const pcap_position& p) noexcept {
    return p.file != nullptr ? std::string_view(p.file).substr(0, max_name) : std::string_view();
}

}  // namespace

bool exporter::submit_open(const conn_info& c, const direction_info (&d)[2]) noexcept {
    auto& p = *p_;
    const std::string_view pf = name_of(c.pcap_first), pl = name_of(c.pcap_last);
    struct {
        wire_conn c;
        wire_dir_open d[2];
    } w{};
    fill_conn(w.c, c, record_kind::open, pf, pl);
    for (int i = 0; i < 2; ++i) {
        w.d[i].packets = d[i].packets;
        w.d[i].midstream = d[i].midstream ? 1 : 0;
        copy_label(w.d[i].dir, sizeof w.d[i].dir, d[i].dir);
    }
    const auto len = static_cast<std::uint32_t>(sizeof(wire_header) + sizeof w + pf.size() + pl.size());
    const bool ok = p.enqueue(len, wire_type::conn, &w, sizeof w, {{pf.data(), pf.size()}, {pl.data(), pl.size()}});
    if (!ok) p.drop(msg_class::record, drop_reason::ring_full, 2);
    return ok;
}

bool exporter::submit_end(const conn_info& c, const direction_info (&d)[2]) noexcept {
    auto& p = *p_;
    const std::string_view pf = name_of(c.pcap_first), pl = name_of(c.pcap_last);
    struct {
        wire_conn c;
        wire_dir_end d[2];
    } w{};
    static_assert(sizeof(std::pair<std::uint64_t, std::uint64_t>) == 16);
    fill_conn(w.c, c, record_kind::end, pf, pl);
    std::string_view file[2];
    std::size_t gap_bytes[2], lost_bytes[2];
    bool truncated = false;
    for (int i = 0; i < 2; ++i) {
        auto& x = w.d[i];
        x.bytes = d[i].bytes;
        x.overlap_conflicts = d[i].overlap_conflicts;
        x.packets = d[i].packets;
        x.chunk_bytes_lost = d[i].chunk_bytes_lost;
        x.gaps_total = d[i].gaps.size();
        x.ngaps = static_cast<std::uint32_t>(std::min<std::size_t>(d[i].gaps.size(), p.o.max_gaps));
        x.delivered = d[i].delivered;
        x.lost_total = d[i].lost.size();
        x.nlost = static_cast<std::uint32_t>(std::min<std::size_t>(d[i].lost.size(), p.o.max_gaps - x.ngaps));
        truncated = truncated || x.ngaps < x.gaps_total || x.nlost < x.lost_total;
        file[i] = d[i].file.substr(0, max_name);
        x.file_len = static_cast<std::uint16_t>(file[i].size());
        x.midstream = d[i].midstream ? 1 : 0;
        copy_label(x.dir, sizeof x.dir, d[i].dir);
        copy_label(x.end, sizeof x.end, d[i].end);
        gap_bytes[i] = std::size_t{x.ngaps} * 16;
        lost_bytes[i] = std::size_t{x.nlost} * 16;
    }
    const auto len = static_cast<std::uint32_t>(sizeof(wire_header) + sizeof w + pf.size() + pl.size() +
                                                file[0].size() + file[1].size() + gap_bytes[0] + gap_bytes[1] +
                                                lost_bytes[0] + lost_bytes[1]);
    const bool ok = p.enqueue(len, wire_type::conn, &w, sizeof w,
                              {{pf.data(), pf.size()}, {pl.data(), pl.size()}, {file[0].data(), file[0].size()},
                               {file[1].data(), file[1].size()}, {d[0].gaps.data(), gap_bytes[0]},
                               {d[0].lost.data(), lost_bytes[0]}, {d[1].gaps.data(), gap_bytes[1]},
                               {d[1].lost.data(), lost_bytes[1]}});
    if (!ok) p.drop(msg_class::record, drop_reason::ring_full, 2);
    else if (truncated) p.records_truncated.fetch_add(1, std::memory_order_relaxed);
    return ok;
}

std::size_t exporter::submit_chunk(const chunk_ref& c, std::span<const std::byte> data) noexcept {
    auto& p = *p_;
    if (!p.o.streams) return 0;
    std::size_t done = 0;
    while (done < data.size()) {
        const std::size_t n = std::min<std::size_t>(data.size() - done, p.chunk_bytes);
        wire_chunk w{};
        w.conn = c.conn;
        w.offset = c.offset + done;
        w.len = static_cast<std::uint32_t>(n);
        w.worker = c.worker;
        w.d = c.d;
        copy_label(w.dir, sizeof w.dir, c.dir);
        const auto len = static_cast<std::uint32_t>(sizeof(wire_header) + sizeof w + n);
        if (!p.enqueue(len, wire_type::chunk, &w, sizeof w, {{data.data() + done, n}})) {
            p.drop(msg_class::chunk, drop_reason::ring_full);
            break;
        }
        done += n;
    }
    return done;
}

export_counts exporter::counts() const noexcept {
    const auto& p = *p_;
    export_counts e;
    const auto fill = [](const impl::class_atomics& a, class_counts& c) {
        c.exported = a.exported.load(std::memory_order_relaxed);
        c.acked = a.acked.load(std::memory_order_relaxed);
        c.duplicates = a.duplicates.load(std::memory_order_relaxed);
        c.spooled = a.spooled.load(std::memory_order_relaxed);
        c.dropped = 0;
        for (int i = 0; i < static_cast<int>(drop_reason::count_); ++i) {
            c.drops[i] = a.drops[i].load(std::memory_order_relaxed);
            c.dropped += c.drops[i];
        }
    };
    fill(p.cls[0], e.records);
    fill(p.cls[1], e.chunks);
    e.chunk_bytes = p.chunk_bytes_out.load(std::memory_order_relaxed);
    e.records_truncated = p.records_truncated.load(std::memory_order_relaxed);
    e.in_spool = p.in_spool.load(std::memory_order_relaxed);
    e.spool_bytes = p.spool_file.load(std::memory_order_relaxed);
    const auto inf = p.inflight.load(std::memory_order_relaxed);
    e.inflight = inf > 0 ? static_cast<std::uint64_t>(inf) : 0;
    e.publish_retries = p.retries.load(std::memory_order_relaxed);
    e.disconnects = p.disconnects.load(std::memory_order_relaxed);
    e.reconnects = p.reconnects.load(std::memory_order_relaxed);
    e.connected = p.nc && natsConnection_Status(p.nc.get()) == NATS_CONN_STATUS_CONNECTED;
    return e;
}

const std::string& exporter::node() const noexcept { return p_->node; }

std::string exporter::last_error() const {
    std::lock_guard<std::mutex> l(p_->text_mu);
    return p_->last_error;
}
std::uint64_t exporter::run_id() const noexcept { return p_->run; }
bool exporter::streams() const noexcept { return p_->o.streams; }

std::string exporter::connected_url() const {
    char url[256] = {};
    if (!p_->nc || natsConnection_GetConnectedUrl(p_->nc.get(), url, sizeof url) != NATS_OK) return {};
    return url;
}

}  // namespace rxinto::fleet
