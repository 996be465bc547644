"""An independent operator for edgegate's tests: paho-mqtt over mutual TLS (hostname checked)
waits for one telemetry message, sends one command and prints both as JSON on one line.
Usage: paho_operator.py HOST PORT CERTS_DIR GATEWAY COMMAND_JSON"""
import json
import ssl
import sys
import threading

import paho.mqtt.client as mqtt


def main():
    host, port, certs, gateway, command = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    command_id = json.loads(command)["id"]
    prefix = f"edgegate/{gateway}"
    result = {}
    done = threading.Event()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-operator")
    client.tls_set(ca_certs=f"{certs}/ca.pem", certfile=f"{certs}/operator.pem",
                   keyfile=f"{certs}/operator.key", tls_version=ssl.PROTOCOL_TLS_CLIENT)

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe([(f"{prefix}/telemetry", 1), (f"{prefix}/responses", 1)])

    def on_message(client, userdata, message):
        body = json.loads(message.payload)
        if message.topic.endswith("/telemetry") and "telemetry" not in result:
            result["telemetry"] = body
            client.publish(f"{prefix}/commands", command, qos=1)
        elif message.topic.endswith("/responses") and body.get("id") == command_id:
            result["response"] = body
            done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    finished = done.wait(20)
    client.disconnect()
    client.loop_stop()
    print(json.dumps(result))
    sys.exit(0 if finished else 1)


if __name__ == "__main__":
    main()
