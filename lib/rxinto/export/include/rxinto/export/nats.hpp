// The NATS/JetStream pieces that the exporter (rxinto), rxinto-index and
// rxinto-query share: connecting to a list of servers with reconnection, the
// stream every record goes to, and messages' error texts.
//
// Everything here is control path (it allocates, blocks on the network with
// bounded timeouts and returns Result); none of it runs on a worker lcore.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nats/nats.h>

#include "rxinto/base/result.hpp"

namespace rxinto::fleet {

/// The one JetStream stream of the fleet: records on rxinto.<node>.conn,
/// stream chunks on rxinto.<node>.data.<conn>.<dir>.
inline constexpr const char* stream_name = "RXINTO";
inline constexpr const char* stream_subjects = "rxinto.>";
/// JetStream de-duplicates on Nats-Msg-Id within this window: a record retried
/// after a lost acknowledgement within it is stored once. Longer than any
/// retry of the exporter (its spool may hold records longer: rxinto-index's
/// upsert on the record id makes those idempotent too).
inline constexpr std::int64_t duplicate_window_ns = 20LL * 60 * 1'000'000'000;
/// Records carry this header with their id (JetStream's de-duplication key).
inline constexpr const char* msg_id_header = "Nats-Msg-Id";

struct conn_closer {
    void operator()(natsConnection* c) const noexcept {
        natsConnection_Destroy(c);
    }
};
using connection_ptr = std::unique_ptr<natsConnection, conn_closer>;
struct js_closer {
    void operator()(jsCtx* j) const noexcept { jsCtx_Destroy(j); }
};
using js_ptr = std::unique_ptr<jsCtx, js_closer>;

/// "nats://a:1,nats://b:2" -> {"nats://a:1", "nats://b:2"} (no validation:
/// config::values::parse_nats_urls did it).
[[nodiscard]] std::vector<std::string> split_urls(std::string_view urls);

/// A node name as a subject token: [A-Za-z0-9_-], 1..64 characters.
[[nodiscard]] bool valid_node_name(std::string_view name) noexcept;

/// The host name's first label, if it is a valid node name; "" otherwise.
[[nodiscard]] std::string host_node_name();

/// natsStatus as text, with the library's last error detail when it has one.
[[nodiscard]] std::string status_text(natsStatus s);

struct connect_options {
    std::string urls;           ///< comma-joined nats:// URLs
    std::string name;           ///< the client name the server shows (monitoring)
    double timeout_s = 2;       ///< per server, at start-up
    /// false: no server reachable is an Error (usage = true: exit 2).
    /// true: the connection object is returned and keeps trying in the background.
    bool retry_on_failed_connect = false;
    natsConnectionHandler disconnected = nullptr;  ///< called on the library's thread
    natsConnectionHandler reconnected = nullptr;
    natsConnectionHandler connected = nullptr;     ///< with retry_on_failed_connect: the first connect
    void* closure = nullptr;
};

/// Connects with unlimited reconnection (every 200 ms, to any server of the
/// list or that the cluster announced). Errors say which URLs failed and why.
[[nodiscard]] Result<connection_ptr> connect(const connect_options& o);

/// A JetStream context with the library's defaults (5 s API timeout).
[[nodiscard]] Result<js_ptr> jetstream(natsConnection* nc, jsOptions* opts = nullptr);

/// Creates the stream if it does not exist (file storage, subjects rxinto.>,
/// de-duplication window as above). replicas 0: 3 when the connection knows
/// at least 3 servers (a cluster), else 1. Retries while the cluster has no
/// JetStream leader yet, up to wait_s. A server without JetStream, or a stream
/// config the cluster refuses, is an Error with usage = true. `what` says what
/// happened ("created RXINTO with 3 replicas", "RXINTO exists (R3)").
[[nodiscard]] Status ensure_stream(natsConnection* nc, jsCtx* js, unsigned replicas, double wait_s,
                                   std::string& what);

}  // namespace rxinto::fleet
