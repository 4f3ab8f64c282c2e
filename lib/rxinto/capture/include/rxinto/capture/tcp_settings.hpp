// [tcp] settings -> the reassembler's configuration: the one mapping, used by
// the appliance and by the Python module (python/), so that a setting added to
// TcpSettings reaches every program that reassembles.
#pragma once

#include "rxinto/config/settings.hpp"
#include "rxinto/tcp/reassembler.hpp"

namespace rxinto::capture {

/// The reassembler configuration for these [tcp] settings (timeouts in ns of
/// packet time, names mapped to their enums). replay: every port replays a
/// capture file (gap_grace auto then waits as long as memory allows). Pure.
[[nodiscard]] tcp::tcp_config tcp_config_of(const config::TcpSettings& t, bool replay);

}  // namespace rxinto::capture
