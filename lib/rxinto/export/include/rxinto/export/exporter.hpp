// The fleet exporter: connection records (and optionally stream chunks) to
// NATS JetStream, from a thread of its own.
//
//   producers (the stream-output side, never a worker's rx loop when it can
//   be avoided) --submit_*()--> rte_ring (fixed slots, zero-copy enqueue)
//        --> export thread: JSON, js_PublishMsgAsync with Nats-Msg-Id,
//            acknowledgements counted; what cannot be sent goes to the spool
//            file (up to its budget) or is counted as dropped.
//
// Lcores and threads
//   - create(), start(), stop() and the destructor: control path.
//   - submit_open()/submit_end()/submit_chunk(): any thread or lcore, several
//     at once (the ring is multi-producer, head/tail synchronised). They never
//     block, never allocate, never log and make no system call: the record is
//     serialised straight into preallocated ring slots (rte_ring's zero-copy
//     enqueue) or, when the ring has no room, counted as dropped (ring_full).
//     The caller's pointers are not kept.
//   - counts(): any thread (relaxed atomics).
//
// Delivery
//   Every message carries a unique Nats-Msg-Id ("<node>.<run>.<conn>.<d>.<kind>"
//   for records, "...<d>.c<offset>" for chunks); the stream de-duplicates on it,
//   so a publish retried after a lost acknowledgement is stored once. A message
//   counts as acknowledged when JetStream said it stored it (or already had it).
//   Without a server (all down, reconnecting) or when more than max_inflight
//   wait for acknowledgements and the ring fills up, messages go to the spool
//   and are sent from it, oldest first, once a server answers. stop() waits at
//   most `wait_s` for every message to be acknowledged; what is still not then
//   stays in the spool (sent by the next run with the same spool and node) or
//   is counted as dropped (unacked_at_end).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rxinto/base/result.hpp"
#include "rxinto/export/record.hpp"

struct rte_ring;

namespace rxinto::fleet {

struct exporter_options {
    std::string urls;              ///< nats://H:P[,nats://H:P...]
    std::string node;              ///< subject token; "" = host_node_name()
    bool streams = false;          ///< chunks accepted by submit_chunk()
    std::string streams_dir;       ///< absolute --streams-dir, "" = none (said in records)
    std::string spool_dir;         ///< "" = no spool
    std::uint64_t spool_bytes = 1ULL << 30;
    double wait_s = 10;
    unsigned replicas = 0;         ///< 0 = auto
    std::uint64_t ring_bytes = 16ULL << 20;
    double connect_timeout_s = 2;
    bool require_server = true;
    std::uint32_t max_inflight = 4096;  ///< published, not yet acknowledged
    std::uint32_t chunk_bytes = 64 * 1024;  ///< largest chunk payload (capped by the server's max_payload)
    std::uint32_t max_gaps = 4096;  ///< gaps carried by one record (the rest: gaps_truncated)
};

/// What an exported message became, by class (records, chunks).
enum class drop_reason : std::uint8_t {
    ring_full,       ///< submit found no room in the ring
    spool_full,      ///< could not be sent and the spool was at its budget (or failed)
    no_spool,        ///< could not be sent and there is no spool
    rejected,        ///< the server refused it (an error other than a lost or late ack)
    unacked_at_end,  ///< not acknowledged when stop()'s wait ended, and no spool
    count_
};
[[nodiscard]] const char* to_string(drop_reason r) noexcept;

enum class msg_class : std::uint8_t { record, chunk, count_ };

struct class_counts {
    std::uint64_t exported = 0;   ///< taken from the ring by the export thread
    std::uint64_t acked = 0;      ///< stored by JetStream (acknowledged)
    std::uint64_t duplicates = 0; ///< of those, acknowledged as already stored (a retry)
    std::uint64_t spooled = 0;    ///< written to the spool (a message may be spooled more than once)
    std::uint64_t dropped = 0;    ///< sum of drops[]
    std::uint64_t drops[static_cast<int>(drop_reason::count_)] = {};
};

struct export_counts {
    class_counts records;
    class_counts chunks;
    std::uint64_t chunk_bytes = 0;        ///< stream bytes in exported chunks
    std::uint64_t records_truncated = 0;  ///< records that carry only max_gaps of their gaps
    std::uint64_t in_spool = 0;           ///< messages in the spool now
    std::uint64_t spool_bytes = 0;        ///< its size on disk now
    std::uint64_t inflight = 0;           ///< published, not yet acknowledged
    std::uint64_t publish_retries = 0;    ///< publishes of a message after an error or a timeout
    std::uint64_t disconnects = 0;
    std::uint64_t reconnects = 0;
    bool connected = false;
    [[nodiscard]] std::uint64_t dropped() const noexcept { return records.dropped + chunks.dropped; }
};

class exporter {
public:
    /// Connects (bounded by connect_timeout_s), checks the server (JetStream
    /// on, max_payload large enough for a record), creates the stream if
    /// absent, opens the spool (a file per node, locked) and creates the ring
    /// (EAL memory: needs the EAL). Errors that come from the settings (no
    /// server at the URLs, a server without JetStream, a bad node name, a
    /// max_payload too small, a spool in use) have usage = true (exit 2).
    /// `notes` gets one-line facts for the summary (server, stream, spool).
    [[nodiscard]] static Result<std::unique_ptr<exporter>> create(const exporter_options& o,
                                                                  std::vector<std::string>& notes);
    ~exporter();
    exporter(const exporter&) = delete;
    exporter& operator=(const exporter&) = delete;

    /// Starts the export thread.
    [[nodiscard]] Status start();
    /// Waits at most wait_s for the ring to empty and every message to be
    /// acknowledged (see Delivery above), then stops the thread and closes the
    /// connection. Call once the producers have stopped. Idempotent.
    void stop() noexcept;

    /// Both directions' open records (d[0]: a -> b). Any thread, never blocks
    /// (see the top of this file). false: both counted as dropped (ring_full).
    bool submit_open(const conn_info& c, const direction_info (&d)[2]) noexcept;
    /// Both directions' end records, with bytes, gaps and end reason.
    bool submit_end(const conn_info& c, const direction_info (&d)[2]) noexcept;
    /// A piece of a stream (needs options.streams). Split into chunks of at
    /// most chunk_bytes; returns the bytes accepted (the rest is counted
    /// dropped: ring_full, and the caller adds it to chunk_bytes_lost).
    std::size_t submit_chunk(const chunk_ref& c, std::span<const std::byte> data) noexcept;

    [[nodiscard]] export_counts counts() const noexcept;
    [[nodiscard]] const std::string& node() const noexcept;
    [[nodiscard]] std::uint64_t run_id() const noexcept;
    [[nodiscard]] bool streams() const noexcept;
    /// The last error the export thread met ("" when none), for the summary.
    [[nodiscard]] std::string last_error() const;
    /// The server the connection uses now ("" when none).
    [[nodiscard]] std::string connected_url() const;

    struct impl;

private:
    explicit exporter(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> p_;
};

}  // namespace rxinto::fleet
