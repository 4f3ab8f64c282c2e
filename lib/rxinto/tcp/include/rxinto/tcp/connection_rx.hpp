// The worker's side of a connection's identity, for a worker that owns
// connections without a reassembler: the endpoint layer (lib/rxinto/endpoint),
// whose connections are tcp::connection objects (so that the application reads
// them, and stream output writes them, exactly as watched ones) but whose TCP
// state is the endpoint's own. Not for applications.
//
// Lcore: the worker's that owns the connection.
#pragma once

#include <cstdint>

#include "rxinto/base/seq32.hpp"
#include "rxinto/flow/flow_key.hpp"
#include "rxinto/tcp/connection.hpp"

namespace rxinto::tcp {

class connection_rx {
public:
    explicit connection_rx(connection& c) noexcept : c_(c) {}

    /// Identity of a connection made by a listener: its key, its id, and
    /// which direction the client (the one that sent the SYN) sends.
    void set_identity(const flow::flow_key& key, std::uint64_t id, flow::direction client_dir,
                      seq32 client_isn) noexcept {
        c_.key_ = key;
        c_.id_ = id;
        c_.client_dir_ = static_cast<std::int8_t>(client_dir);
        c_.first_dir_ = client_dir;
        c_.syn_seen_[flow::index_of(client_dir)] = true;
        c_.isn_[flow::index_of(client_dir)] = client_isn;
    }
    /// One more packet that direction d sent was taken (connection::packets()).
    void count_packet(flow::direction d) noexcept { ++c_.packets_[flow::index_of(d)]; }
    void set_first_ns(std::uint64_t ns) noexcept { c_.first_ns_ = ns; }
    [[nodiscard]] stream& dir(flow::direction d) noexcept { return c_.dir_[flow::index_of(d)]; }

private:
    connection& c_;
};

}  // namespace rxinto::tcp
