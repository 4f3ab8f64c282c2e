// [tcp] settings -> the reassembler's configuration, and [endpoint] settings
// -> the endpoint's: the one mapping each, used by
// the appliance and by the Python module (python/), so that a setting added to
// TcpSettings reaches every program that reassembles.
#pragma once

#include "rxinto/base/result.hpp"
#include "rxinto/config/settings.hpp"
#include "rxinto/endpoint/endpoint.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxinto::capture {

/// The reassembler configuration for these [tcp] settings (timeouts in ns of
/// packet time, names mapped to their enums). replay: every port replays a
/// capture file (gap_grace auto then waits as long as memory allows). Pure.
[[nodiscard]] tcp::tcp_config tcp_config_of(const config::TcpSettings& t, bool replay);

/// The endpoint configuration for these [endpoint] settings (and [tcp]
/// checksum), without its port bindings: the one mapping, used by the
/// appliance and by the Python module. Fails on an address it cannot parse.
[[nodiscard]] Result<endpoint::endpoint_config> endpoint_config_of(const config::Settings& s);

}  // namespace rxinto::capture
