#!/usr/bin/env bash
# edgegate and the ThingsBoard IoT Gateway side by side, on the same site: one Modbus simulator
# process (Benchmarks/compare/modbus-sim.c), one mosquitto with mutual TLS, the same devices,
# one gateway after the other. Prints a markdown table per gateway and draws a PNG plot of
# delivered vs offered load. Usage, from anywhere in the repository:
#   Benchmarks/compare.sh --quick                   # try it: 10 and 100 devices, short windows
#   Benchmarks/compare.sh --runs 3                  # the full comparison (--help for the knobs)
# Makes Benchmarks/.venv-compare on first use (thingsboard-gateway from PyPI with the pymodbus
# its Modbus connector needs, matplotlib, and paho-mqtt for the subscriber), compiles the
# simulator, and builds edgegate in release (--scratch-path .build-release) unless
# EDGEGATE=/path/to/edgegate is set. Needs python3 (venv), a C compiler, pkg-config,
# libmodbus-dev, mosquitto and openssl (scripts/install-deps).
set -euo pipefail
cd "$(dirname "$0")/.."
here=Benchmarks/compare
venv=Benchmarks/.venv-compare
tb_version=${TB_GATEWAY_VERSION:-3.8.5}

for arg in "$@"; do
  if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
    # The options are compare.py's; --edgegate, --simulator and --tb-python are filled in here.
    exec python3 "$here/compare.py" --help
  fi
done

if [ ! -f "$venv/.ready-$tb_version" ]; then
  echo "compare: making $venv (thingsboard-gateway $tb_version, pymodbus 3.9.2, pyserial, pyserial-asyncio, matplotlib, paho-mqtt)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "thingsboard-gateway==$tb_version" "pymodbus==3.9.2" pyserial pyserial-asyncio matplotlib
  # thingsboard-gateway brings its own fork of paho (tb-paho-mqtt-client) in the same `paho`
  # package folder; the subscriber's genuine paho-mqtt lives apart and only compare.py sees it.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --target "$venv/paho-mqtt" "paho-mqtt>=2,<3"
  touch "$venv/.ready-$tb_version"
fi

mkdir -p "$here/.build"
cc -O2 -Wall -o "$here/.build/modbus-sim" "$here/modbus-sim.c" $(pkg-config --cflags --libs libmodbus)

if [ -z "${EDGEGATE:-}" ]; then
  echo "compare: building edgegate (release, .build-release)" >&2
  swift build -c release --scratch-path .build-release --product edgegate >&2
  EDGEGATE=$(swift build -c release --scratch-path .build-release --show-bin-path)/edgegate
fi

PYTHONPATH="$PWD/$venv/paho-mqtt" exec "$venv/bin/python" "$here/compare.py" \
  --edgegate "$EDGEGATE" --simulator "$here/.build/modbus-sim" --tb-python "$PWD/$venv/bin/python" "$@"
