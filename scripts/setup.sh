#!/usr/bin/env bash
# Sets up a Debian 12 machine for rxinto and builds it. Run as root (or with sudo).
#   - installs the Debian packages rxinto builds and tests with (only if missing),
#   - reserves 2 MiB hugepages and mounts hugetlbfs when the kernel lets it
#     (rxinto falls back to --no-huge by itself and says so when it cannot),
#   - configures and builds the release build in build/.
# Environment: RXINTO_HUGEPAGES (default 512 pages = 1 GiB), RXINTO_NATIVE=1 to
# build with -march=native.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ clang libclang-rt-14-dev meson ninja-build pkg-config python3
  dpdk dpdk-dev libdpdk-dev libpcap-dev libgtest-dev libgmock-dev
  tcpdump tshark tcpflow iproute2 ethtool procps liburing-dev strace
  python3-dev pybind11-dev python3-numpy
  nats-server libnats-dev postgresql libpq-dev
  iperf3 netcat-openbsd socat iputils-ping
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # iperf3 asks whether to run a daemon; no (the tests start their own).
  echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Hugepages: best effort. A VM or container may refuse; rxinto then runs with --no-huge.
want=${RXINTO_HUGEPAGES:-512}
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -w "$nr" ]; then
  have=$(cat "$nr")
  if [ "$have" -lt "$want" ]; then
    echo "$want" > "$nr" 2>/dev/null || true
  fi
  echo "setup: 2 MiB hugepages reserved: $(cat "$nr") (free: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages))"
else
  echo "setup: cannot reserve hugepages here ($nr not writable); rxinto will use --no-huge"
fi
if ! grep -q ' hugetlbfs ' /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null \
    && echo "setup: mounted hugetlbfs on /dev/hugepages" \
    || echo "setup: cannot mount hugetlbfs; rxinto will use --no-huge"
fi

native=false
[ "${RXINTO_NATIVE:-0}" = 1 ] && native=true
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release -Doptimization=3 -Dnative=$native
fi
ninja -C build
echo "setup: built build/app/rxinto, build/app/rxinto-gen and the Python module (PYTHONPATH=build/python)"
