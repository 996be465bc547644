#!/usr/bin/env bash
# The gateway's own CPU and memory while it serves the demo's devices of every protocol
# (devicemaps/: Modbus plant and room climate, zigbee2mqtt doors over a site broker, a
# door-sim door, Hue lamps and a sensor), each simulator in its own process so that the
# figures are the daemon's alone. Usage, from the repository root, after a release build:
#   swift build -c release --product edgegate && Benchmarks/site-idle.sh [SECONDS]
# Prints CPU % of one core, peak and current RSS and threads of `edgegate run`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bin=$(swift build -c release --show-bin-path)/edgegate
work=$(mktemp -d /tmp/edgegate-site-idle-XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" certs init --dir "$work/certs" >/dev/null 2>&1
"$bin" hub --port 18883 --certs "$work/certs" --run-dir "$work/hub" >/dev/null 2>&1 & pids+=($!)
mosquitto -p 1884 >/dev/null 2>&1 & pids+=($!)            # the site broker of the zigbee2mqtt doors
"$bin" sim modbus --map devicemaps/ --port 1502 >/dev/null 2>&1 & pids+=($!)
"$bin" sim hue --port 8081 --username bench-user >/dev/null 2>&1 & pids+=($!)
sleep 2
"$bin" sim doors --broker mqtt://127.0.0.1:1884 --insecure --names front-door,garage-door --speed 4 --report-every 30s >/dev/null 2>&1 & pids+=($!)
cat > "$work/gateway.yaml" <<YAML
gateway: { id: gw-1, devicemaps: ["$PWD/devicemaps/"] }
uplink:
  profile: mqtt
  url: mqtts://127.0.0.1:18883
  tls: { ca: "$work/certs/ca.pem", cert: "$work/certs/gateway.pem", key: "$work/certs/gateway.key" }
outbox: { path: "$work/outbox.sqlite" }
YAML
HUE_USERNAME=bench-user "$bin" run --config "$work/gateway.yaml" >"$work/run.log" 2>&1 & gw=$!; pids+=($gw)
sleep 10   # start-up and first polls out of the window
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$gw/stat"; }
# What the hub receives meanwhile, as the operator: proof that every device reports.
timeout "$seconds" mosquitto_sub -h 127.0.0.1 -p 18883 --cafile "$work/certs/ca.pem" --cert "$work/certs/operator.pem" \
  --key "$work/certs/operator.key" -t 'edgegate/gw-1/telemetry' >"$work/telemetry.jsonl" 2>/dev/null & sub=$!
c0=$(cpu); t0=$(date +%s.%N)
sleep "$seconds"
c1=$(cpu); t1=$(date +%s.%N)
wait "$sub" || true
status=/proc/$gw/status
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" 'BEGIN { printf "cpu: %.2f %% of one core over %.0f s\n", 100 * (c1 - c0) / hz / (t1 - t0), t1 - t0 }'
grep -E '^(VmHWM|VmRSS|Threads)' "$status"
echo "telemetry messages: $(wc -l <"$work/telemetry.jsonl"), readings per device:"
grep -o '"device":"[^"]*"' "$work/telemetry.jsonl" | sort | uniq -c | sed 's/"device"://'
echo "bad readings: $(grep -o '"quality":"bad"' "$work/telemetry.jsonl" | wc -l)"
echo "warnings the daemon logged: $(grep -c ' warning ' "$work/run.log" || true)"
