#!/usr/bin/env python3
"""edgegate and the ThingsBoard IoT Gateway, side by side, on the same site.

Run it through Benchmarks/compare.sh, which makes the venv, builds the simulator and edgegate,
and passes --edgegate, --simulator and --tb-python. What it does (docs/benchmarks.md, "edgegate
and the ThingsBoard IoT Gateway side by side", says why each choice):

- one Modbus simulator process (modbus-sim.c) with the largest load's devices, 100 holding
  registers each, every value changing on every read; both gateways poll the first N devices;
- one mosquitto with mutual TLS and TCP_NODELAY on a free loopback port, PKI made here with
  openssl (CA, hub, one client certificate per party);
- for each load and each run: the gateway alone with the simulator and the hub, an independent
  subscriber process (paho-mqtt, its own certificate) counting readings, a warm-up after the
  first telemetry, a measured window, a few command round trips, then the stop.

`compare.py subscribe ...` is the subscriber; the driver starts it, one per run.
"""
import argparse
import collections
import datetime
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
REGISTERS = 100
POLL_MS = 100
GATEWAY_ID = "gw-1"
TB_RPC_SET = "setSetpoint"
TB_RPC_GET = "getSetpoint"


# ----------------------------------------------------------------------------- /proc figures

def cpu_seconds(pid):
    """utime + stime of a process, in seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid):
    """VmHWM and VmRSS in MiB and the thread count, from /proc/PID/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(value.split()[0]) / 1024
                elif key == "Threads":
                    out[key] = int(value)
    except OSError:
        pass
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) / 1024 / 1024
    except OSError:
        mem = 0
    return f"{os.cpu_count()} cores, {model}, {mem:.1f} GiB RAM, Linux {platform.release()}"


# ----------------------------------------------------------------------------- percentiles

def weighted_percentile(histogram, q):
    """Nearest-rank percentile of {value: count}."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, int(-(-q * total // 100)))  # ceil(q% of total)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None


def percentile(values, q):
    return weighted_percentile(collections.Counter(values), q) if values else None


# ----------------------------------------------------------------------------- subscriber

TS_RE = re.compile(rb'"ts":"([^"]+)"')
SEQ_RE = re.compile(rb'"seq":(\d+)')


class RFC3339:
    """ts of edgegate's readings (2026-11-23T14:00:00.123Z) to epoch seconds, cached per day."""

    def __init__(self):
        self.days = {}
        self.cache = {}

    def __call__(self, ts):
        value = self.cache.get(ts)
        if value is None:
            day = ts[:10]
            base = self.days.get(day)
            if base is None:
                base = datetime.datetime.strptime(day.decode(), "%Y-%m-%d").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                self.days[day] = base
            value = base + int(ts[11:13]) * 3600 + int(ts[14:16]) * 60 + float(ts[17:].rstrip(b"Z"))
            if len(self.cache) > 200_000:
                self.cache.clear()
            self.cache[ts] = value
        return value


def subscribe_main(argv):
    """The independent subscriber: counts what reaches the hub; driven by lines on stdin
    (`start`, `stop`, `quit`); prints `subscribed` and `first` on stdout, and at `quit` its
    figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="compare.py subscribe")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certs", required=True)
    parser.add_argument("--identity", default="subscriber")
    parser.add_argument("--gateway", choices=["edgegate", "thingsboard"], required=True)
    args = parser.parse_args(argv)
    import paho.mqtt.client as mqtt

    lock = threading.Lock()
    parse_ts = RFC3339()
    state = {
        "in_window": False, "window_start": None, "window_end": None, "first": None,
        "window_readings": 0, "window_messages": 0, "readings": 0, "messages": 0,
        "bad": 0, "window_bad": 0, "seqs": collections.Counter(), "per_device": collections.Counter(),
    }
    latency = collections.Counter()   # latency in ms (0.1 ms steps below 100 ms) -> readings

    def record_latency(age_ms, count):
        key = round(age_ms, 1) if age_ms < 100 else float(round(age_ms))
        latency[key] += count

    def on_connect(client, userdata, flags, reason_code, properties):
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        topic = f"edgegate/{GATEWAY_ID}/telemetry" if args.gateway == "edgegate" else "v1/gateway/telemetry"
        client.subscribe(topic, qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        print("subscribed", flush=True)

    def on_message(client, userdata, msg):
        now = time.time()
        payload = msg.payload
        with lock:
            if state["first"] is None:
                state["first"] = now
                print("first", flush=True)
            if args.gateway == "edgegate":
                head = SEQ_RE.search(payload, 0, 200)
                if head:
                    state["seqs"][int(head.group(1))] += 1
                # Every reading has one ts, and the readings of one poll share it and sit side by
                # side: runs of equal ts (groupby compares neighbours, no hashing) count them at a
                # fraction of a microsecond each, so the subscriber stays cheap at high loads.
                runs = [(ts, len(list(same))) for ts, same in itertools.groupby(TS_RE.findall(payload))]
                readings = sum(n for _, n in runs)
                bad = payload.count(b'"quality":"bad"')
                if state["in_window"]:
                    for ts, n in runs:
                        record_latency((now - parse_ts(ts)) * 1000, n)
            else:
                readings = 0
                bad = 0
                for device, entries in json.loads(payload).items():
                    for entry in entries:
                        n = len(entry.get("values", {}))
                        readings += n
                        state["per_device"][device] += n
                        if state["in_window"] and "ts" in entry:
                            record_latency(now * 1000 - entry["ts"], n)
            state["readings"] += readings
            state["messages"] += 1
            state["bad"] += bad
            if state["in_window"]:
                state["window_readings"] += readings
                state["window_messages"] += 1
                state["window_bad"] += bad

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"compare-subscriber-{os.getpid()}",
                         clean_session=True)
    client.tls_set(ca_certs=f"{args.certs}/ca.pem", certfile=f"{args.certs}/{args.identity}.pem",
                   keyfile=f"{args.certs}/{args.identity}.key")
    client.max_inflight_messages_set(100)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", args.port, keepalive=30)
    client.loop_start()
    for line in sys.stdin:
        command = line.strip()
        with lock:
            if command == "start":
                state["window_start"] = time.time()
                state["in_window"] = True
            elif command == "stop":
                state["window_end"] = time.time()
                state["in_window"] = False
            elif command == "quit":
                break
    client.disconnect()
    client.loop_stop()
    with lock:
        seqs = state["seqs"]
        out = {k: state[k] for k in ("window_start", "window_end", "first", "window_readings", "window_messages",
                                     "readings", "messages", "bad", "window_bad")}
        out["latency_p50_ms"] = weighted_percentile(latency, 50)
        out["latency_p99_ms"] = weighted_percentile(latency, 99)
        out["latency_max_ms"] = max(latency) if latency else None
        if seqs:
            first, last = min(seqs), max(seqs)
            missing = sorted(set(range(1, last + 1)) - set(seqs))
            gaps = sum(1 for i, s in enumerate(missing) if i == 0 or missing[i - 1] != s - 1)
            out["seq"] = {"first": first, "last": last, "missing": len(missing), "gaps": gaps,
                          "duplicates": sum(n - 1 for n in seqs.values() if n > 1)}
        if state["per_device"]:
            out["devices_seen"] = len(state["per_device"])
        out["cpu_seconds"] = cpu_seconds(os.getpid())
    print(json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- the plant

def log(text):
    print(f"compare: {text}", file=sys.stderr, flush=True)


def free_port():
    """A free loopback TCP port below the ephemeral range (so that no outgoing connection of
    the run can be handed it between now and its bind)."""
    low, high = 20000, 32000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            high = min(high, int(f.read().split()[0]) - 1)
    except OSError:
        pass
    import random
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free loopback port")


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def make_pki(folder, clients):
    """CA, hub certificate (127.0.0.1, localhost) and one client certificate per name, with
    openssl: the hub requires a certificate and takes its CN as the user name."""
    os.makedirs(folder, exist_ok=True)
    def key(name):
        run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{folder}/{name}.key"])
        os.chmod(f"{folder}/{name}.key", 0o600)
    key("ca")
    run(["openssl", "req", "-x509", "-new", "-key", f"{folder}/ca.key", "-subj", "/CN=compare-ca", "-days", "30",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-out", f"{folder}/ca.pem"])
    for name, ext in [("hub", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")] + \
            [(c, "extendedKeyUsage=clientAuth\n") for c in clients]:
        key(name)
        with open(f"{folder}/{name}.ext", "w") as f:
            f.write("basicConstraints=CA:FALSE\n" + ext)
        run(["openssl", "req", "-new", "-key", f"{folder}/{name}.key", "-subj", f"/CN={name}",
             "-out", f"{folder}/{name}.csr"])
        run(["openssl", "x509", "-req", "-in", f"{folder}/{name}.csr", "-CA", f"{folder}/ca.pem", "-CAkey",
             f"{folder}/ca.key", "-CAcreateserial", "-days", "30", "-extfile", f"{folder}/{name}.ext",
             "-out", f"{folder}/{name}.pem"])


def wait_port(port, proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} does not listen on {port} after {timeout} s")


class Children:
    """Every process the benchmark starts, so that none outlives it (also on Ctrl-C)."""

    def __init__(self):
        self.procs = []

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        """Signals proc, waits; kills it after timeout. Returns (seconds to exit, status, killed)."""
        if proc.poll() is not None:
            return 0.0, proc.returncode, False
        start = time.monotonic()
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
            return time.monotonic() - start, proc.returncode, False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return time.monotonic() - start, proc.returncode, True
        finally:
            if proc in self.procs:
                self.procs.remove(proc)

    def stop_all(self):
        for proc in reversed(list(self.procs)):
            self.stop(proc, timeout=5)


class Hub:
    """mosquitto with mutual TLS on loopback; no ACL (the two gateways use different topics)."""

    def __init__(self, work, certs, children):
        self.port = free_port()
        folder = f"{work}/hub"
        os.makedirs(folder, exist_ok=True)
        conf = f"{folder}/mosquitto.conf"
        lines = [
            "per_listener_settings true", "persistence false", f"log_dest file {folder}/mosquitto.log",
            "log_type error", "log_type warning", "log_type notice",
            "set_tcp_nodelay true", "max_inflight_messages 100", "max_queued_messages 100000",
            f"listener {self.port} 127.0.0.1", f"cafile {certs}/ca.pem", f"certfile {certs}/hub.pem",
            f"keyfile {certs}/hub.key", "require_certificate true", "use_identity_as_username true",
            "allow_anonymous false", "tls_version tlsv1.2",
        ]
        if os.geteuid() == 0:
            lines.insert(0, "user root")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = children.add(subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                                                  stderr=open(f"{folder}/stderr.log", "w")))
        wait_port(self.port, self.proc, "mosquitto")


class Simulator:
    def __init__(self, binary, devices, work, children):
        self.proc = children.add(subprocess.Popen([binary, str(devices), str(REGISTERS)], stdout=subprocess.PIPE,
                                                  stderr=open(f"{work}/simulator.log", "w"), text=True))
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ports" or len(line) != devices + 1:
            raise RuntimeError(f"the simulator did not say its ports (see {work}/simulator.log)")
        self.ports = [int(p) for p in line[1:]]


class Operator:
    """The driver's own MQTT connection (operator certificate): sends commands and RPCs, and
    plays the part of the ThingsBoard server that answers the gateway's getSessionLimits."""

    def __init__(self, port, certs, gateway):
        import paho.mqtt.client as mqtt
        self.gateway = gateway
        self.answers = {}
        self.cond = threading.Condition()
        self.session_limits_asked = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"compare-operator-{os.getpid()}",
                                  clean_session=True)
        self.client.tls_set(ca_certs=f"{certs}/ca.pem", certfile=f"{certs}/operator.pem",
                            keyfile=f"{certs}/operator.key")
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(20):
            raise RuntimeError("the operator could not subscribe at the hub")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.gateway == "edgegate":
            client.subscribe(f"edgegate/{GATEWAY_ID}/responses", qos=1)
        else:
            client.subscribe([("v1/gateway/rpc", 1), ("v1/devices/me/rpc/request/+", 1)])

    def _on_message(self, client, userdata, msg):
        now = time.monotonic()
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if msg.topic.startswith("v1/devices/me/rpc/request/"):
            if body.get("method") == "getSessionLimits":
                # What a ThingsBoard server answers when it sets no limits: without an answer the
                # gateway waits before it sends anything.
                no_limit = {"messages": "0:0,", "telemetryMessages": "0:0,", "telemetryDataPoints": "0:0,"}
                answer = {"rateLimits": no_limit, "gatewayRateLimits": no_limit,
                          "maxInflightMessages": 100, "maxPayloadSize": 65536}
                request_id = msg.topic.rsplit("/", 1)[1]
                client.publish(f"v1/devices/me/rpc/response/{request_id}", json.dumps(answer), qos=1)
                self.session_limits_asked += 1
            return
        if msg.topic == "v1/gateway/rpc" and "id" not in body:
            return   # our own request, echoed by the hub
        key = body.get("id")
        with self.cond:
            self.answers[key] = (now, body)
            self.cond.notify_all()

    def request(self, topic, payload, key, timeout):
        """Publishes and waits for the answer with this key: (round trip s, answer) or (None, None)."""
        start = time.monotonic()
        self.client.publish(topic, json.dumps(payload), qos=1)
        deadline = start + timeout
        with self.cond:
            while key not in self.answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self.cond.wait(left)
            arrived, body = self.answers.pop(key)
        return arrived - start, body

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


# ----------------------------------------------------------------------------- gateways

def device_name(i):
    return f"dev-{i + 1:03d}"


def edgegate_files(folder, ports, hub_port, certs):
    points = ['      setpoint: { table: holding, address: 0, type: int16, scale: 0.1, unit: "°C", '
              'access: readwrite, min: 5, max: 90 }']
    points += [f'      r{a:03d}: {{ table: holding, address: {a}, type: int16, scale: 0.1, unit: "°C" }}'
               for a in range(1, REGISTERS)]
    devices = []
    for i, port in enumerate(ports):
        devices += [f"  - id: {device_name(i)}", "    profile: bench-device",
                    f"    connection: {{ host: 127.0.0.1, port: {port}, unit_id: 1 }}", f"    poll: {POLL_MS}ms"]
    with open(f"{folder}/site.yaml", "w") as f:
        f.write("# Generated by Benchmarks/compare.sh\nprofiles:\n  bench-device:\n    protocol: modbus\n"
                "    points:\n" + "\n".join(points) + "\ndevices:\n" + "\n".join(devices) + "\n")
    with open(f"{folder}/gateway.yaml", "w") as f:
        f.write(f"""# Generated by Benchmarks/compare.sh
gateway:
  id: {GATEWAY_ID}
  devicemaps: ["{folder}/site.yaml"]
uplink:
  profile: mqtt
  url: mqtts://127.0.0.1:{hub_port}
  prefix: edgegate
  tls: {{ ca: "{certs}/ca.pem", cert: "{certs}/{GATEWAY_ID}.pem", key: "{certs}/{GATEWAY_ID}.key" }}
outbox:
  path: "{folder}/var/outbox.sqlite"
  max_bytes: 256MB
  sync: full
""")
    return f"{folder}/gateway.yaml"


def thingsboard_files(folder, ports, hub_port, certs, tb_python):
    config = f"{folder}/config"
    os.makedirs(config, exist_ok=True)
    os.makedirs(f"{folder}/logs", exist_ok=True)
    main = {
        "thingsboard": {
            "host": "127.0.0.1", "port": hub_port, "remoteShell": False, "remoteConfiguration": False,
            "latencyDebugMode": False,
            "statistics": {"enable": False, "statsSendPeriodInSeconds": 3600, "customStatsSendPeriodInSeconds": 3600},
            "deviceFiltering": {"enable": False, "filterFile": "list.json"},
            "maxPayloadSizeBytes": 65536, "minPackSendDelayMS": 50, "minPackSizeToSend": 500,
            "checkConnectorsConfigurationInSeconds": 60, "handleDeviceRenaming": False,
            "security": {"type": "tlsPrivateKey", "caCert": f"{certs}/ca.pem", "cert": f"{certs}/tb-gateway.pem",
                         "privateKey": f"{certs}/tb-gateway.key"},
            "qos": 1,
            "reportStrategy": {"type": "ON_RECEIVED"},
            "checkingDeviceActivity": {"checkDeviceInactivity": False, "inactivityTimeoutSeconds": 300,
                                       "inactivityCheckPeriodSeconds": 10},
            "rateLimits": "0:0,", "dpRateLimits": "0:0,", "messagesRateLimits": "0:0,",
            "deviceMessagesRateLimits": "0:0,", "deviceRateLimits": "0:0,", "deviceDpRateLimits": "0:0,",
        },
        "storage": {"type": "memory", "read_records_count": 100, "max_records_count": 100000},
        "grpc": {"enabled": False, "serverPort": 9595},
        "connectors": [{"type": "modbus", "name": "Modbus", "configuration": "modbus.json"}],
    }
    slaves = []
    for i, port in enumerate(ports):
        slaves.append({
            "host": "127.0.0.1", "port": port, "type": "tcp", "method": "socket", "unitId": 1,
            "deviceName": device_name(i), "deviceType": "bench-device", "timeout": 5,
            "byteOrder": "BIG", "wordOrder": "BIG", "retries": 1, "pollPeriod": POLL_MS,
            "attributes": [],
            # One range read of the 100 registers: a request per device per poll, as edgegate makes.
            "timeseries": [{"tag": "r${address}", "type": "16int", "functionCode": 3, "objectsCount": 1,
                            "address": f"0-{REGISTERS - 1}", "maxRegistersPerRequest": REGISTERS, "divider": 10}],
            "attributeUpdates": [],
            "rpc": [{"tag": TB_RPC_SET, "type": "16int", "functionCode": 6, "objectsCount": 1, "address": 0},
                    {"tag": TB_RPC_GET, "type": "16int", "functionCode": 3, "objectsCount": 1, "address": 0}],
        })
    with open(f"{config}/tb_gateway.json", "w") as f:
        json.dump(main, f, indent=2)
    with open(f"{config}/modbus.json", "w") as f:
        json.dump({"master": {"slaves": slaves}}, f, indent=2)
    # Its shipped logging (INFO, files under ./logs), without the copy of every line on stdout.
    shipped = subprocess.run([tb_python, "-c", "import thingsboard_gateway, os; "
                              "print(os.path.dirname(thingsboard_gateway.__file__))"],
                             check=True, capture_output=True, text=True, env=tb_env(None)).stdout.strip()
    with open(f"{shipped}/config/logs.json") as f:
        logs = json.load(f)
    for logger in logs.get("loggers", {}).values():
        logger["handlers"] = [h for h in logger.get("handlers", []) if h != "consoleHandler"]
    for handler in logs.get("handlers", {}).values():
        if "filename" in handler:
            handler["filename"] = f"{folder}/logs/" + os.path.basename(handler["filename"])
    with open(f"{config}/logs.json", "w") as f:
        json.dump(logs, f, indent=2)
    return config


def tb_env(config_dir, closed_port=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TB_") and k != "PYTHONPATH"}
    if config_dir:
        env["TB_GW_CONFIG_DIR"] = config_dir
    if closed_port:
        # It asks an update server at start and every 5 min: a proxy nobody listens on makes that
        # fail at once instead of reaching out of the machine.
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            env[name] = f"http://127.0.0.1:{closed_port}"
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
    return env


# ----------------------------------------------------------------------------- one run

class Sampler(threading.Thread):
    """VmRSS of the gateway every second while the window lasts."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            rss = proc_status(self.pid).get("VmRSS")
            if rss is not None:
                self.samples.append((time.monotonic(), rss))
            self.done.wait(1)


def one_run(args, gateway, devices, run_index, plant):
    work = f"{plant['work']}/{gateway}-{devices}-run{run_index}"
    os.makedirs(work, exist_ok=True)
    children, hub, sim, certs = plant["children"], plant["hub"], plant["sim"], plant["certs"]
    ports = sim.ports[:devices]
    result = {"gateway": gateway, "devices": devices, "run": run_index, "offered": devices * REGISTERS * 1000 / POLL_MS,
              "loadavg_before": loadavg(), "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    log(f"{gateway}, {devices} devices ({result['offered']:.0f} readings/s offered), run {run_index}; "
        f"load average {result['loadavg_before']}")

    subscriber = children.add(subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "subscribe", "--port", str(hub.port), "--certs", certs,
         "--gateway", gateway], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(f"{work}/subscriber.log", "w"), text=True))
    events = collections.defaultdict(threading.Event)
    final = {}

    def read_subscriber():
        for line in subscriber.stdout:
            line = line.strip()
            if line.startswith("{"):
                final.update(json.loads(line))
            else:
                events[line].set()
    threading.Thread(target=read_subscriber, daemon=True).start()
    if not events["subscribed"].wait(20):
        raise RuntimeError(f"the subscriber did not subscribe (see {work}/subscriber.log)")
    operator = Operator(hub.port, certs, gateway)

    if gateway == "edgegate":
        config = edgegate_files(work, ports, hub.port, certs)
        proc = children.add(subprocess.Popen(
            [args.edgegate, "run", "--config", config, "--log-level", "info"], stdin=subprocess.DEVNULL,
            stdout=open(f"{work}/gateway.log", "w"), stderr=subprocess.STDOUT))
    else:
        config = thingsboard_files(work, ports, hub.port, certs, args.tb_python)
        proc = children.add(subprocess.Popen(
            [args.tb_python, "-m", "thingsboard_gateway.tb_gateway"], cwd=work, stdin=subprocess.DEVNULL,
            env=tb_env(config, free_port()), stdout=open(f"{work}/gateway.log", "w"), stderr=subprocess.STDOUT))
    spawned = time.monotonic()
    try:
        if not events["first"].wait(args.first_timeout):
            raise RuntimeError(f"no telemetry from {gateway} within {args.first_timeout} s (see {work}/gateway.log)")
        result["first_telemetry_s"] = time.monotonic() - spawned
        time.sleep(args.warmup)
        if proc.poll() is not None:
            raise RuntimeError(f"{gateway} exited with status {proc.returncode} (see {work}/gateway.log)")

        pids = {"gateway": proc.pid, "simulator": sim.proc.pid, "mosquitto": hub.proc.pid, "subscriber": subscriber.pid}
        sampler = Sampler(proc.pid)
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        t0 = time.monotonic()
        sampler.start()
        subscriber.stdin.write("start\n")
        subscriber.stdin.flush()
        time.sleep(args.window)
        subscriber.stdin.write("stop\n")
        subscriber.stdin.flush()
        t1 = time.monotonic()
        cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
        sampler.done.set()
        sampler.join()
        elapsed = t1 - t0
        result["window_s"] = elapsed
        result["cpu_percent"] = {k: 100 * (cpu1[k] - cpu0[k]) / elapsed for k in pids
                                 if cpu0[k] is not None and cpu1[k] is not None}
        result["gateway_cpu_s"] = cpu1["gateway"] - cpu0["gateway"]
        status = proc_status(proc.pid)
        result["vmhwm_mib"] = status.get("VmHWM")
        result["threads"] = status.get("Threads")
        if sampler.samples:
            result["rss_window_start_mib"] = sampler.samples[0][1]
            result["rss_window_end_mib"] = sampler.samples[-1][1]

        result["commands"] = commands(args, gateway, devices, operator)
        result["vmhwm_after_commands_mib"] = proc_status(proc.pid).get("VmHWM")
    finally:
        sig = signal.SIGTERM if gateway == "edgegate" else signal.SIGINT   # what each stops on
        exit_s, status, killed = children.stop(proc, sig, timeout=args.stop_timeout)
        result["stop"] = {"signal": sig.name, "seconds": exit_s, "status": status, "killed": killed}
        time.sleep(1)   # what it sent while stopping reaches the subscriber
        operator.close()
        if subscriber.poll() is None:
            try:
                subscriber.stdin.write("quit\n")
                subscriber.stdin.flush()
                subscriber.wait(20)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        children.stop(subscriber, timeout=5)
        result["session_limits_answered"] = operator.session_limits_asked
    time.sleep(0.2)
    result["subscriber"] = final
    if final.get("window_start") and final.get("window_end"):
        sub_window = final["window_end"] - final["window_start"]
        result["delivered"] = final["window_readings"] / sub_window
        if final["window_readings"]:
            result["us_per_reading"] = result["gateway_cpu_s"] * 1e6 / final["window_readings"]
    with open(f"{work}/result.json", "w") as f:
        json.dump(result, f, indent=2)
    log("  " + summary_line(result))
    return result


def commands(args, gateway, devices, operator):
    """A few commands one after another: edgegate writes the setpoint and reads it back in one
    command; the ThingsBoard gateway's round trip is its write RPC alone (the read-back RPC that
    follows checks the value and is not timed)."""
    trips, failures, mismatches, first_failure = [], 0, 0, None
    for i in range(args.commands):
        device = device_name(i % devices)
        value = 5.0 + (i * 37 % 851) / 10   # 5.0 ... 90.0, a different value each time
        if gateway == "edgegate":
            cid = f"cmp-{os.getpid()}-{i}"
            rtt, answer = operator.request(f"edgegate/{GATEWAY_ID}/commands",
                                           {"id": cid, "device": device, "write": {"setpoint": value}}, cid,
                                           args.command_timeout)
            if answer is None or answer.get("status") != "ok":
                failures += 1
                first_failure = first_failure or (json.dumps(answer)[:200] if answer else "no answer")
                continue
            if abs(float(answer.get("values", {}).get("setpoint", "nan")) - value) > 1e-6:
                mismatches += 1
        else:
            raw = int(round(value * 10))
            rtt, answer = operator.request("v1/gateway/rpc", {"device": device, "data": {
                "id": 2 * i + 1, "method": TB_RPC_SET, "params": raw}}, 2 * i + 1, args.command_timeout)
            if answer is None or "error" in json.dumps(answer.get("data", {})):
                failures += 1
                first_failure = first_failure or (json.dumps(answer)[:200] if answer else "no answer")
                continue
            _, back = operator.request("v1/gateway/rpc", {"device": device, "data": {
                "id": 2 * i + 2, "method": TB_RPC_GET, "params": None}}, 2 * i + 2, args.command_timeout)
            read = (((back or {}).get("data") or {}).get("result") or {}).get("value")
            if read != raw:
                mismatches += 1
        trips.append(rtt * 1000)
    return {"sent": args.commands, "answered_ok": len(trips), "failed_or_timeout": failures,
            "readback_mismatches": mismatches, "first_failure": first_failure, "p50_ms": percentile(trips, 50), "max_ms": max(trips) if trips else None}


# ----------------------------------------------------------------------------- report

def fmt(value, spec="{:.0f}", none="—"):
    return none if value is None else spec.format(value)


def summary_line(r):
    return (f"delivered {fmt(r.get('delivered'))}/s of {r['offered']:.0f}, "
            f"{fmt(r.get('us_per_reading'), '{:.1f}')} µs CPU/reading, "
            f"gateway {fmt(r.get('cpu_percent', {}).get('gateway'), '{:.0f}')} % of a core, "
            f"VmHWM {fmt(r.get('vmhwm_mib'))} MiB, "
            f"p50/p99 {fmt(r.get('subscriber', {}).get('latency_p50_ms'), '{:.0f}')}/"
            f"{fmt(r.get('subscriber', {}).get('latency_p99_ms'), '{:.0f}')} ms, "
            f"stop {r['stop']['seconds']:.1f} s{' (killed)' if r['stop']['killed'] else ''}")


def table(results, gateway):
    rows = [r for r in results if r["gateway"] == gateway]
    if not rows:
        return ""
    edge = gateway == "edgegate"
    head = ["devices", "run", "offered/s", "delivered/s", "gateway CPU", "µs CPU/reading", "peak RSS",
            "RSS in window", "threads", "read→hub p50 / p99", "seq missing (gaps) / dup" if edge else "devices seen",
            "bad readings", "cmd p50 (ok/sent)", "stop → exit", "simulator CPU", "mosquitto CPU",
            "subscriber CPU", "load avg before"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r.get("subscriber", {})
        cpu = r.get("cpu_percent", {})
        seq = s.get("seq")
        if edge:
            seqtext = f"{seq['missing']} ({seq['gaps']}) / {seq['duplicates']}" if seq else "no telemetry"
            bad = fmt(s.get("bad"))
        else:
            seqtext = f"{s.get('devices_seen', 0)} of {r['devices']}"
            bad = "n/a"
        c = r.get("commands") or {}
        stop = r["stop"]
        stoptext = (f"> {stop['seconds']:.1f} s, killed" if stop["killed"]
                    else f"{stop['seconds']:.2f} s ({stop['signal']}, status {stop['status']})")
        rss = (f"{fmt(r.get('rss_window_start_mib'), '{:.0f}')} → {fmt(r.get('rss_window_end_mib'), '{:.0f}')} MiB")
        lines.append("| " + " | ".join([
            str(r["devices"]), str(r["run"]), f"{r['offered'] / 1000:.0f}k",
            f"{r['delivered'] / 1000:.1f}k" if r.get("delivered") is not None else "—",
            f"{fmt(cpu.get('gateway'))} %", fmt(r.get("us_per_reading"), "{:.1f}"),
            f"{fmt(r.get('vmhwm_after_commands_mib') or r.get('vmhwm_mib'))} MiB", rss, fmt(r.get("threads")),
            f"{fmt(s.get('latency_p50_ms'))} / {fmt(s.get('latency_p99_ms'))} ms", seqtext, bad,
            f"{fmt(c.get('p50_ms'), '{:.1f} ms')} ({c.get('answered_ok', 0)}/{c.get('sent', 0)})", stoptext,
            f"{fmt(cpu.get('simulator'))} %", f"{fmt(cpu.get('mosquitto'))} %", f"{fmt(cpu.get('subscriber'))} %",
            r["loadavg_before"]]) + " |")
    return "\n".join(lines)


def plot(results, meta, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5))
    offered = sorted({r["offered"] for r in results})
    top = max(offered) / 1000
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="ideal (delivered = offered)")
    for gateway, color, marker in (("edgegate", "tab:blue", "o"), ("thingsboard", "tab:orange", "s")):
        rows = [r for r in results if r["gateway"] == gateway and r.get("delivered") is not None]
        if not rows:
            continue
        xs = [r["offered"] / 1000 for r in rows]
        ys = [r["delivered"] / 1000 for r in rows]
        ax.scatter(xs, ys, color=color, marker=marker, alpha=0.6)
        means = []
        for x in sorted(set(xs)):
            same = [y for xx, y in zip(xs, ys) if xx == x]
            means.append((x, sum(same) / len(same)))
        label = "edgegate" if gateway == "edgegate" else "ThingsBoard IoT Gateway"
        ax.plot([m[0] for m in means], [m[1] for m in means], color=color, marker=marker, label=f"{label} (mean of runs)")
    ax.set_xlabel("offered load (thousand readings/s: devices × 100 registers every 100 ms)")
    ax.set_ylabel("delivered to the hub (thousand readings/s)")
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, top * 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title("Delivered vs offered load, mutual TLS, one Modbus simulator\n"
                 f"edgegate {meta['edgegate_commit']}, thingsboard-gateway {meta['tb_version']}, {meta['started']}, "
                 f"{os.cpu_count()} cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(results, meta):
    parts = [f"# edgegate vs ThingsBoard IoT Gateway — {meta['started']}", "",
             f"edgegate {meta['edgegate_commit']} ({meta['edgegate']}); thingsboard-gateway {meta['tb_version']}, "
             f"pymodbus {meta['pymodbus_version']}; {meta['machine']}.",
             f"Site: N Modbus TCP devices × {REGISTERS} holding registers polled every {POLL_MS} ms, one simulator "
             f"process; hub mosquitto with mutual TLS; warm-up {meta['warmup']} s after the first telemetry, "
             f"window {meta['window']} s; {meta['commands']} commands per run. Load average "
             f"{meta['loadavg_start']} at the start, {meta['loadavg_end']} at the end.", ""]
    for gateway, title in (("edgegate", "edgegate (durable outbox, sync full)"),
                           ("thingsboard", "ThingsBoard IoT Gateway (memory storage, range reads)")):
        text = table(results, gateway)
        if text:
            parts += [f"## {title}", "", text, ""]
    parts += [
        "Delivered: readings that reached the subscriber in the window ÷ its length. µs CPU/reading: the "
        "gateway's utime+stime in the window ÷ those readings. Peak RSS: VmHWM after the commands; RSS in "
        "window: VmRSS at its start and end. read→hub: arrival at the subscriber minus the reading's ts "
        "(edgegate stamps a reading when it is read; the ThingsBoard gateway when it converts a batch, up to "
        "~100 ms later, so its figure flatters it). Command round trip: edgegate, a write with read-back in one "
        "command; ThingsBoard, its write RPC alone (a read RPC after it checks the value, untimed). Stop: "
        "SIGTERM for edgegate, SIGINT (what it handles) for the ThingsBoard gateway; killed past the stop timeout. "
        "Seq and bad readings: edgegate's telemetry has them, ThingsBoard's has neither.", ""]
    return "\n".join(parts)


def merge(paths, out):
    """One report and plot from several sweeps: the later sweep's runs of a point replace the earlier ones'."""
    points, metas = {}, []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        metas.append(data["meta"])
        replaced = {}
        for r in data["results"]:
            key = (r["gateway"], r["devices"])
            replaced.setdefault(key, []).append(r)
        points.update(replaced)
    results = [r for key in sorted(points) for r in points[key]]
    meta = dict(metas[-1])
    commits = sorted({m["edgegate_commit"] for m in metas})
    meta["edgegate_commit"] = " / ".join(commits)
    meta["started"] = " + ".join(m["started"] for m in metas)
    meta["loadavg_start"] = metas[0]["loadavg_start"]
    meta["loadavg_end"] = metas[-1].get("loadavg_end", "?")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = out or f"{root}/Benchmarks/results/merged-{stamp}"
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/results.json", "w") as f:
        json.dump({"meta": meta, "results": results, "merged_from": paths}, f, indent=2)
    text = report(results, meta)
    with open(f"{out}/report.md", "w") as f:
        f.write(text)
    plot(results, meta, f"{out}/delivered-vs-offered.png")
    print(text)
    log(f"merged {len(paths)} sweeps into {out} (report.md, results.json, delivered-vs-offered.png)")
    return 0


# ----------------------------------------------------------------------------- main

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "subscribe":
        return subscribe_main(sys.argv[2:])
    parser = argparse.ArgumentParser(
        prog="Benchmarks/compare.sh",
        description="edgegate and the ThingsBoard IoT Gateway, one after the other, against the same "
                    "Modbus simulator and mutual-TLS mosquitto; a markdown table per gateway and a PNG plot.")
    parser.add_argument("--loads", default="10,50,100,150,200,300,500",
                        help="devices per point, comma-separated (each 100 registers @ 100 ms = 1,000 readings/s)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each point (each one reported)")
    parser.add_argument("--tb-runs", type=int, help="runs of each point for the ThingsBoard gateway (default: --runs)")
    parser.add_argument("--tb-loads", help="device counts for the ThingsBoard gateway, a subset of --loads (default: all)")
    parser.add_argument("--only", choices=["edgegate", "thingsboard"], help="one gateway only")
    parser.add_argument("--window", type=float, default=30, help="measured window, seconds")
    parser.add_argument("--warmup", type=float, default=10, help="seconds after the first telemetry before the window")
    parser.add_argument("--commands", type=int, default=10, help="command round trips per run")
    parser.add_argument("--command-timeout", type=float, default=10)
    parser.add_argument("--stop-timeout", type=float, default=15, help="seconds to wait for exit after the signal")
    parser.add_argument("--first-timeout", type=float, default=60, help="seconds to wait for the first telemetry")
    parser.add_argument("--quick", action="store_true",
                        help="try it out: loads 10,100, window 8 s, warm-up 4 s, 3 commands (unless given)")
    parser.add_argument("--out", help="results folder (default Benchmarks/results/compare-TIMESTAMP)")
    parser.add_argument("--merge", nargs="+", metavar="RESULTS_JSON",
                        help="run nothing: write one report and plot from sweeps' results.json files; a point "
                             "(gateway and devices) measured in a later file replaces it from the earlier ones")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (configurations, logs)")
    parser.add_argument("--edgegate", required=True, help="the edgegate executable, a release build (compare.sh passes it)")
    parser.add_argument("--simulator", required=True, help="the modbus-sim executable (compare.sh builds and passes it)")
    parser.add_argument("--tb-python", required=True, help="python of the venv with thingsboard-gateway (compare.sh passes it)")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    if args.quick:
        given = sys.argv[1:]
        if not any(a.startswith("--loads") for a in given):
            args.loads = "10,100"
        if not any(a.startswith("--window") for a in given):
            args.window = 8
        if not any(a.startswith("--warmup") for a in given):
            args.warmup = 4
        if not any(a.startswith("--commands") for a in given):
            args.commands = 3
    try:
        loads = [int(x) for x in args.loads.split(",") if x.strip()]
        if not loads or min(loads) < 1:
            raise ValueError
    except ValueError:
        parser.error(f"--loads wants device counts like 10,50,100, not {args.loads!r}")
    if args.runs < 1 or args.window <= 0:
        parser.error("--runs must be at least 1 and --window positive")
    for tool in ("mosquitto", "openssl"):
        if shutil.which(tool) is None:
            print(f"compare: {tool} is not installed (scripts/install-deps installs it)", file=sys.stderr)
            return 2
    gateways = [args.only] if args.only else ["edgegate", "thingsboard"]
    try:
        tb_loads = [int(x) for x in args.tb_loads.split(",")] if args.tb_loads else None
    except ValueError:
        parser.error(f"--tb-loads wants device counts like 10,50,100, not {args.tb_loads!r}")
    if args.tb_runs is not None and args.tb_runs < 1:
        parser.error("--tb-runs must be at least 1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or f"{root}/Benchmarks/results/compare-{stamp}"
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="edgegate-compare-")
    children = Children()

    def on_signal(signum, frame):
        children.stop_all()
        sys.exit(130)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    tb_versions = subprocess.run([args.tb_python, "-c", "import importlib.metadata as m; "
                                  "print(m.version('thingsboard-gateway'), m.version('pymodbus'))"],
                                 capture_output=True, text=True, env=tb_env(None)).stdout.split() or ["?", "?"]
    commit = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %s"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {"started": stamp, "edgegate": args.edgegate, "edgegate_commit": (commit.split(" ")[0] + (" + local changes" if dirty else "")) if commit else "?",
            "tb_version": tb_versions[0], "pymodbus_version": tb_versions[-1], "machine": machine(),
            "warmup": args.warmup, "window": args.window, "commands": args.commands, "loads": loads,
            "runs": args.runs, "tb_runs": args.tb_runs or args.runs, "tb_loads": tb_loads or loads, "loadavg_start": loadavg()}
    results = []
    status = 0
    try:
        certs = f"{work}/certs"
        make_pki(certs, [GATEWAY_ID, "tb-gateway", "operator", "subscriber"])
        hub = Hub(work, certs, children)
        sim = Simulator(args.simulator, max(loads), work, children)
        log(f"work folder {work}; hub on 127.0.0.1:{hub.port}; simulator pid {sim.proc.pid} with {max(loads)} devices")
        plant = {"work": work, "children": children, "hub": hub, "sim": sim, "certs": certs}
        for devices in loads:
            for gateway in gateways:
                runs = args.runs if gateway == "edgegate" or args.tb_runs is None else args.tb_runs
                if gateway == "thingsboard" and tb_loads is not None and devices not in tb_loads:
                    continue
                for run_index in range(1, runs + 1):
                    try:
                        results.append(one_run(args, gateway, devices, run_index, plant))
                    except RuntimeError as error:
                        log(f"  run failed: {error}")
                        status = 1
                    time.sleep(2)
    finally:
        children.stop_all()
        meta["loadavg_end"] = loadavg()
        with open(f"{out}/results.json", "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
        if results:
            text = report(results, meta)
            with open(f"{out}/report.md", "w") as f:
                f.write(text + "\n")
            plot(results, meta, f"{out}/delivered-vs-offered.png")
            print(text)
            log(f"results in {out} (report.md, results.json, delivered-vs-offered.png)")
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
