"""An independent Sparkplug B 3.0 host application for edgegate's tests of the sparkplug-b uplink:
payloads, metrics, datatypes and topics come from pysparkplug (and its bundled protobuf module for
what its Metric drops, the PropertySet); the MQTT transport is paho-mqtt 2.x over mutual TLS with
the hostname checked, MQTT 3.1.1, clean session.

Usage: sparkplug_host.py --port P --ca CA --cert CERT --key KEY --group G [--host 127.0.0.1]
                         [--client-id ID] [--commands FILE]

It subscribes to spBv1.0/G/# at QoS 1 and prints {"ready": true} once the SUBACK came. Then it
prints one JSON line (flushed) per message received:
  {"type", "topic", "node", "device", "qos", "retain", "timestamp", "seq",
   "metrics": [{"name", "alias", "datatype", "value", "timestamp", "is_null", "is_historical",
                "properties", "name_sent"}],
   "errors": [...]}
NDEATH lines add "bdseq" and "bdseq_matches_birth"; a line whose seq broke the node's sequence
adds "seq_expected". Names and datatypes that data and command messages leave out are resolved
through the last DBIRTH of the device (the NBIRTH for node metrics). Values are made JSON:
DATETIME as epoch milliseconds, bytes as hex, arrays as lists, non-finite floats as "NaN",
"Infinity" or "-Infinity".

Commands are read from stdin, or with --commands from FILE followed as it grows (the way a test
that cannot write to a child's stdin talks to it), one JSON object a line; after each is carried out (publish
acknowledged) it prints {"done": OP}:
  {"op": "dcmd", "node": N, "device": D, "metrics": [{"name": "setpoint", "value": 21.5},
                                                      {"alias": 7, "value": 3}]}
      (a metric may add "datatype": "DOUBLE" when no DBIRTH gives it; the command may add
       "include_datatype": false to leave the datatypes out of the payload)
  {"op": "rebirth", "node": N}
  {"op": "state", "host": H, "online": true}
  {"op": "raw", "topic": T, "hex": "0a0b", "qos": 0, "retain": false}
  {"op": "quit"}  (disconnects, prints {"done": "quit"} and exits 0)
A command that cannot be carried out prints {"command_error": MESSAGE, "command": LINE}.
End of input is taken as quit."""
import argparse
import copy
import datetime
import json
import math
import os
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pysparkplug as spb
from pysparkplug import _protobuf as spb_pb

NAMESPACE = "spBv1.0"
NODE_TYPES = {"NBIRTH", "NDATA", "NDEATH", "NCMD"}
DEVICE_TYPES = {"DBIRTH", "DDATA", "DDEATH", "DCMD"}
SEQUENCED = {"DBIRTH", "DDATA", "NDATA", "DDEATH"}
PUBLISH_TIMEOUT = 10

_print_lock = threading.Lock()


def emit(obj):
    with _print_lock:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def jsonable(value):
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime.datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def raw_field_value(pb_metric, field):
    """The undecoded value of a protobuf metric's oneof field, made JSON."""
    raw = getattr(pb_metric, field)
    if field in ("dataset_value", "template_value", "extension_value"):
        return raw.SerializeToString().hex()
    return jsonable(raw)


def datatype_name(code):
    try:
        return spb.DataType(code).name
    except ValueError:
        return f"UNDEFINED({code})"


def property_value(value):
    """The value of whichever oneof field of a protobuf PropertyValue is set."""
    if value.is_null:
        return None
    field = value.WhichOneof("value")
    if field is None:
        return None
    raw = getattr(value, field)
    if field == "propertyset_value":
        return property_set(raw)
    if field == "propertysets_value":
        return [property_set(s) for s in raw.propertyset]
    if field == "extension_value":
        return raw.SerializeToString().hex()
    try:  # signed integers travel as two's complement in the unsigned fields
        if field in ("int_value", "long_value") and value.type:
            decoded = spb.DataType(value.type).decode(raw)
            return jsonable(decoded)
    except Exception:
        pass
    return jsonable(raw)


def property_set(pset):
    if len(pset.keys) != len(pset.values):
        raise ValueError(f"PropertySet has {len(pset.keys)} keys but {len(pset.values)} values")
    return {key: property_value(val) for key, val in zip(pset.keys, pset.values)}


class Birth:
    """What one NBIRTH or DBIRTH defined: alias -> name, name -> DataType."""

    def __init__(self):
        self.names = {}
        self.dtypes = {}
        self.alive = True


class NodeState:
    def __init__(self):
        self.birth = None  # Birth of the last NBIRTH
        self.online = False
        self.seq = None  # last seq seen since the NBIRTH
        self.bdseq = None
        self.devices = {}  # device id -> Birth of its last DBIRTH


class Host:
    def __init__(self, group):
        self.group = group
        self.nodes = {}
        self.lock = threading.Lock()

    # ---- receiving -------------------------------------------------------------------------

    def on_message(self, client, userdata, message):
        line = {"type": None, "topic": message.topic, "node": None, "device": None,
                "qos": message.qos, "retain": bool(message.retain), "timestamp": None,
                "seq": None, "metrics": [], "errors": []}
        try:
            with self.lock:
                self.describe(message.topic, message.payload, line)
        except Exception as exc:  # never die on one bad message
            line["errors"].append(f"{type(exc).__name__}: {exc}")
        emit(line)

    def describe(self, topic, raw, line):
        errors = line["errors"]
        parts = topic.split("/")
        if len(parts) >= 3:
            line["type"] = parts[2]
            line["node"] = parts[3] if len(parts) > 3 else None
            line["device"] = parts[4] if len(parts) > 4 else None
        try:
            parsed = spb.Topic.from_str(topic)
            kind = str(parsed.message_type) if parsed.message_type is not None else None
            line["type"] = kind
            line["node"] = parsed.edge_node_id
            line["device"] = parsed.device_id
        except Exception as exc:
            errors.append(f"bad topic {topic!r}: {exc}")
            return
        if kind == "STATE":
            line["node"] = None
            try:
                state = spb.State.decode(raw)
                line["timestamp"] = state.timestamp
                line["online"] = state.online
            except Exception as exc:
                errors.append(f"bad STATE payload: {type(exc).__name__}: {exc}")
            return
        node, device = line["node"], line["device"]
        if node is None:
            errors.append(f"topic {topic!r} has no edge node id")
            return
        if kind in DEVICE_TYPES and device is None:
            errors.append(f"{kind} topic {topic!r} has no device id")
        if kind in NODE_TYPES and device is not None:
            errors.append(f"{kind} topic {topic!r} has a device id")
        if len(parts) > 5:
            errors.append(f"topic {topic!r} has more than five levels")

        try:
            payload = spb_pb.Payload.FromString(raw)
        except Exception as exc:
            errors.append(f"payload does not decode as a Sparkplug B Payload: {type(exc).__name__}: {exc}")
            if kind in SEQUENCED:
                self.check_sequence(kind, node, device, None, line)
            return
        if payload.HasField("timestamp"):
            line["timestamp"] = payload.timestamp
        elif kind != "NDEATH":
            errors.append(f"{kind} payload has no timestamp")
        if payload.HasField("seq"):
            line["seq"] = payload.seq
        elif kind in SEQUENCED or kind == "NBIRTH":
            errors.append(f"{kind} payload has no seq")
        if line["seq"] is not None and not 0 <= line["seq"] <= 255:
            errors.append(f"seq {line['seq']} is outside 0..255")

        state = self.nodes.setdefault(node, NodeState())
        if kind in ("NBIRTH", "DBIRTH"):
            birth, metrics = self.decode_birth(kind, payload, line)
            line["metrics"] = metrics
            if kind == "NBIRTH":
                state.birth = birth
                state.online = True
                state.seq = line["seq"]
                state.devices = {}
                bdseq = [m["value"] for m in metrics if m["name"] == "bdSeq"]
                state.bdseq = bdseq[0] if bdseq else None
                if not bdseq:
                    errors.append("NBIRTH has no bdSeq metric")
                if "Node Control/Rebirth" not in birth.dtypes:
                    errors.append("NBIRTH has no Node Control/Rebirth metric")
            else:
                self.check_sequence(kind, node, device, line["seq"], line)
                if device is not None:
                    state.devices[device] = birth
            return

        if kind == "NDEATH":
            self.describe_ndeath(payload, state, line)
            return

        birth = None
        if kind in ("NDATA", "NCMD"):
            birth = state.birth
        elif device is not None:
            birth = state.devices.get(device)
        if kind in SEQUENCED:
            self.check_sequence(kind, node, device, line["seq"], line)
        line["metrics"] = [self.decode_metric(m, birth, kind, node, device, errors)
                           for m in payload.metrics]
        if kind == "DDEATH" and birth is not None:
            birth.alive = False

    def decode_birth(self, kind, payload, line):
        errors = line["errors"]
        birth = Birth()
        metrics = []
        decoded = []
        for pb_metric in payload.metrics:
            entry, metric = self.metric_entry(pb_metric, errors)
            metrics.append(entry)
            if metric is not None:
                decoded.append(metric)
            name = pb_metric.name if pb_metric.HasField("name") else None
            if name is None:
                errors.append(f"{kind} metric "
                              + (f"with alias {pb_metric.alias} " if pb_metric.HasField("alias") else "")
                              + "has no name")
                continue
            if pb_metric.datatype == 0:
                errors.append(f"{kind} metric {name!r} has no datatype")
                continue
            if name in birth.dtypes:
                errors.append(f"{kind} defines metric {name!r} twice")
            try:
                birth.dtypes[name] = spb.DataType(pb_metric.datatype)
            except ValueError:
                birth.dtypes[name] = pb_metric.datatype
            if pb_metric.HasField("alias"):
                if pb_metric.alias in birth.names and birth.names[pb_metric.alias] != name:
                    errors.append(f"{kind} gives alias {pb_metric.alias} to both "
                                  f"{birth.names[pb_metric.alias]!r} and {name!r}")
                birth.names[pb_metric.alias] = name
        # pysparkplug's own checks of a birth (every metric named and typed), unless said above
        cls = spb.NBirth if kind == "NBIRTH" else spb.DBirth
        try:
            if len(decoded) == len(payload.metrics):
                cls(timestamp=line["timestamp"] or 0, seq=line["seq"] or 0, metrics=tuple(decoded))
        except Exception as exc:
            errors.append(f"{kind}: {exc}")
        return birth, metrics

    def describe_ndeath(self, payload, state, line):
        errors = line["errors"]
        line["metrics"] = [self.metric_entry(m, errors)[0] for m in payload.metrics]
        bdseq = [m["value"] for m in line["metrics"] if m["name"] == "bdSeq"]
        line["bdseq"] = bdseq[0] if bdseq else None
        if not bdseq:
            errors.append("NDEATH has no bdSeq metric")
        line["bdseq_matches_birth"] = state.birth is not None and line["bdseq"] is not None \
            and line["bdseq"] == state.bdseq
        if state.birth is None:
            errors.append("NDEATH from a node with no NBIRTH seen")
        if line["bdseq_matches_birth"]:  # a stale NDEATH (another session's) kills nothing
            state.online = False
            state.seq = None
            for dev in state.devices.values():
                dev.alive = False

    def check_sequence(self, kind, node, device, seq, line):
        errors = line["errors"]
        state = self.nodes.setdefault(node, NodeState())
        if state.birth is None or not state.online:
            errors.append(f"{kind} from node {node!r} with no NBIRTH seen"
                          + (" since its NDEATH" if state.birth is not None else ""))
        if kind == "DDATA":
            dev = state.devices.get(device)
            if dev is None or not dev.alive:
                errors.append(f"DDATA from device {device!r} of node {node!r} with no DBIRTH seen"
                              + (" since its DDEATH" if dev is not None else ""))
        if state.seq is None or seq is None:
            if seq is not None and state.online:
                state.seq = seq
            return
        expected = (state.seq + 1) % 256
        if seq != expected:
            line["seq_expected"] = expected
            errors.append(f"{kind} seq {seq}, expected {expected} after {state.seq}")
        state.seq = seq

    def metric_entry(self, pb_metric, errors, resolved_name=None, resolved_dtype=None):
        """One metric line entry from a protobuf metric, decoded by pysparkplug's Metric."""
        name = pb_metric.name if pb_metric.HasField("name") else resolved_name
        alias = pb_metric.alias if pb_metric.HasField("alias") else None
        code = pb_metric.datatype or (int(resolved_dtype) if resolved_dtype is not None else 0)
        entry = {"name": name, "alias": alias, "datatype": datatype_name(code), "value": None,
                 "timestamp": pb_metric.timestamp if pb_metric.HasField("timestamp") else None,
                 "is_null": pb_metric.is_null, "is_historical": pb_metric.is_historical,
                 "properties": {}, "name_sent": pb_metric.HasField("name")}
        label = name if name is not None else f"alias {alias}"
        if pb_metric.HasField("properties"):
            try:
                entry["properties"] = property_set(pb_metric.properties)
            except Exception as exc:
                errors.append(f"metric {label}: properties: {exc}")
        if pb_metric.is_transient:
            entry["is_transient"] = True
        metric = None
        field = pb_metric.WhichOneof("value")
        try:
            filled = copy.deepcopy(pb_metric)
            if name is not None:
                filled.name = name
            filled.datatype = code
            dtype = spb.DataType(code)
            if dtype == spb.DataType.UNKNOWN:  # unresolved: the line already says why
                if field is not None:
                    entry["value"] = raw_field_value(pb_metric, field)
                return entry, None
            if field is not None and dtype != spb.DataType.UNKNOWN:
                try:
                    expected_field = dtype.field
                except NotImplementedError:
                    expected_field = None
                if expected_field is not None and expected_field != field:
                    errors.append(f"metric {label}: {dtype.name} value in {field}, "
                                  f"expected in {expected_field}")
            if pb_metric.is_null and field is not None:
                errors.append(f"metric {label}: is_null but has a value in {field}")
            metric = spb.Metric.from_pb(filled)
            if dtype == spb.DataType.DATETIME and field == "long_value":
                entry["value"] = pb_metric.long_value
            elif dtype == spb.DataType.DATETIME_ARRAY and field == "bytes_value":
                entry["value"] = list(spb.DataType.UINT64_ARRAY.decode(pb_metric.bytes_value))
            else:
                entry["value"] = jsonable(metric.value)
        except Exception as exc:
            errors.append(f"metric {label}: {type(exc).__name__}: {exc}")
            if field is not None and entry["value"] is None:
                entry["value"] = raw_field_value(pb_metric, field)
        return entry, metric

    def decode_metric(self, pb_metric, birth, kind, node, device, errors):
        name = pb_metric.name if pb_metric.HasField("name") else None
        dtype = None
        where = f"node {node!r}" if kind in NODE_TYPES else f"device {device!r} of node {node!r}"
        defining = "NBIRTH" if kind in NODE_TYPES else "DBIRTH"
        if name is None:
            if not pb_metric.HasField("alias"):
                errors.append(f"{kind} metric has neither a name nor an alias")
            elif birth is None:
                errors.append(f"alias {pb_metric.alias}: no {defining} of {where} seen to resolve it")
            elif pb_metric.alias not in birth.names:
                errors.append(f"alias {pb_metric.alias} is defined by no {defining} of {where}")
            else:
                name = birth.names[pb_metric.alias]
        elif pb_metric.HasField("alias") and birth is not None \
                and birth.names.get(pb_metric.alias, name) != name:
            errors.append(f"metric {name!r} sent with alias {pb_metric.alias}, which the {defining} "
                          f"gave to {birth.names[pb_metric.alias]!r}")
        if name is not None and birth is not None:
            dtype = birth.dtypes.get(name)
            if dtype is None and kind not in ("NCMD", "DCMD"):
                errors.append(f"metric {name!r} is defined by no {defining} of {where}")
            elif dtype is not None and pb_metric.datatype and pb_metric.datatype != int(dtype):
                errors.append(f"metric {name!r} sent as {datatype_name(pb_metric.datatype)}, "
                              f"born as {datatype_name(int(dtype))}")
        return self.metric_entry(pb_metric, errors, name, dtype)[0]

    # ---- commanding ------------------------------------------------------------------------

    def command_metric(self, spec, birth, where):
        name = spec.get("name")
        alias = spec.get("alias")
        if name is None and alias is None:
            raise ValueError("a metric needs a name or an alias")
        dtype = None
        if "datatype" in spec:
            dtype = spb.DataType[spec["datatype"]]
        elif birth is not None:
            key = name if name is not None else birth.names.get(alias)
            dtype = birth.dtypes.get(key)
        if dtype is None:
            raise ValueError(f"no datatype for metric {name if name is not None else alias!r}: "
                             f"no DBIRTH of {where} defines it")
        dtype = spb.DataType(int(dtype))
        value = spec.get("value")
        if value is not None:
            value = command_value(dtype, value)
        return spb.Metric(timestamp=None, name=name, alias=alias, datatype=dtype, value=value,
                          is_null=value is None)


def command_value(dtype, value):
    if dtype in (spb.DataType.FLOAT, spb.DataType.DOUBLE):
        return float(value)
    if dtype == spb.DataType.DATETIME:
        return datetime.datetime.fromtimestamp(int(value) / 1000, datetime.timezone.utc)
    if dtype in (spb.DataType.BYTES, spb.DataType.FILE):
        return bytes.fromhex(value)
    if dtype == spb.DataType.DATETIME_ARRAY:
        return tuple(datetime.datetime.fromtimestamp(int(v) / 1000, datetime.timezone.utc)
                     for v in value)
    if isinstance(value, list):
        return tuple(value)
    return value


def publish(client, topic, payload, qos, retain=False):
    info = client.publish(topic, payload, qos=qos, retain=retain)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        raise RuntimeError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
    info.wait_for_publish(PUBLISH_TIMEOUT)
    if not info.is_published():
        raise RuntimeError(f"publish to {topic} not acknowledged in {PUBLISH_TIMEOUT}s")


def run_command(client, host, command):
    op = command.get("op")
    group = host.group
    if op == "dcmd":
        node, device = command["node"], command["device"]
        with host.lock:
            state = host.nodes.get(node)
            birth = state.devices.get(device) if state is not None else None
            metrics = tuple(host.command_metric(m, birth, f"device {device!r} of node {node!r}")
                            for m in command["metrics"])
        payload = spb.DCmd(timestamp=spb.get_current_timestamp(), metrics=metrics)
        raw = payload.encode(include_dtypes=command.get("include_datatype", True))
        publish(client, f"{NAMESPACE}/{group}/DCMD/{node}/{device}", raw, 0)
    elif op == "rebirth":
        node = command["node"]
        metric = spb.Metric(timestamp=None, name="Node Control/Rebirth",
                            datatype=spb.DataType.BOOLEAN, value=True)
        payload = spb.NCmd(timestamp=spb.get_current_timestamp(), metrics=(metric,))
        publish(client, f"{NAMESPACE}/{group}/NCMD/{node}", payload.encode(include_dtypes=True), 0)
    elif op == "state":
        state = spb.State(timestamp=spb.get_current_timestamp(), online=bool(command["online"]))
        raw = json.dumps({"online": state.online, "timestamp": state.timestamp}).encode()
        publish(client, f"{NAMESPACE}/STATE/{command['host']}", raw, 1, retain=True)
    elif op == "raw":
        publish(client, command["topic"], bytes.fromhex(command.get("hex", "")),
                int(command.get("qos", 0)), retain=bool(command.get("retain", False)))
    elif op == "quit":
        return False
    else:
        raise ValueError(f"unknown op {op!r}")
    emit({"done": op})
    return True


def follow(path):
    """The lines of a file as they are appended, until the parent that wrote them is gone."""
    parent = os.getppid()
    with open(path, "a+", encoding="utf-8") as f:
        f.seek(0)
        pending = ""
        while True:
            chunk = f.readline()
            if chunk:
                pending += chunk
                if pending.endswith("\n"):
                    yield pending
                    pending = ""
                continue
            if os.getppid() != parent:
                return
            time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--client-id", default=None)
    parser.add_argument("--commands", default=None, help="follow this file for commands instead of reading stdin")
    args = parser.parse_args()
    for stream in (sys.stdin, sys.stdout):
        stream.reconfigure(encoding="utf-8")

    host = Host(args.group)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=args.client_id or f"sparkplug-host-{os.getpid()}",
                         protocol=mqtt.MQTTv311, clean_session=True)
    client.tls_set(ca_certs=args.ca, certfile=args.cert, keyfile=args.key,
                   cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.tls_insecure_set(False)
    subscription = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            emit({"connect_failed": str(reason_code)})
            return
        result, mid = client.subscribe(f"{NAMESPACE}/{args.group}/#", qos=1)
        subscription["mid"] = mid

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if mid != subscription.get("mid"):
            return
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        emit({"ready": True} if not failed else {"subscribe_failed": failed})

    def on_disconnect(client, userdata, flags, reason_code, properties):
        emit({"disconnected": str(reason_code)})

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = host.on_message
    client.on_disconnect = on_disconnect
    try:
        client.connect(args.host, args.port, keepalive=30)
    except Exception as exc:
        print(f"sparkplug_host: cannot connect to {args.host}:{args.port}: {exc}", file=sys.stderr)
        sys.exit(2)
    client.loop_start()
    try:
        for line in (follow(args.commands) if args.commands else sys.stdin):
            line = line.strip()
            if not line:
                continue
            try:
                command = json.loads(line)
                if not isinstance(command, dict):
                    raise ValueError("a command is a JSON object")
                if not run_command(client, host, command):
                    break
            except Exception as exc:
                emit({"command_error": f"{type(exc).__name__}: {exc}", "command": line})
    finally:
        client.on_disconnect = None
        client.disconnect()
        client.loop_stop()
    emit({"done": "quit"})


if __name__ == "__main__":
    main()
