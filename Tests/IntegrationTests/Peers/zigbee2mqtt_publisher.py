"""An independent device side for edgegate's MQTT adapter tests: paho-mqtt publishes what
zigbee2mqtt publishes for two door contact sensors, payloads as zigbee2mqtt's device pages
show them (SONOFF SNZB-04 and Aqara MCCGQ11LM), QoS 1, each acknowledged before exit.
Usage: zigbee2mqtt_publisher.py HOST PORT PHASE
  PHASE state: retained availability (current JSON form for front_door, the legacy plain
               `online` for back_door) and retained state with both doors closed
  PHASE open:  front_door opens (contact false), as a new state message"""
import json
import sys

import paho.mqtt.client as mqtt

FRONT = {"battery": 100, "battery_low": False, "contact": True, "linkquality": 102, "tamper": False, "voltage": 3100}
BACK = {"battery": 91, "contact": True, "device_temperature": 24, "linkquality": 87, "power_outage_count": 4,
        "voltage": 2985}


def main():
    host, port, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"zigbee2mqtt-peer-{phase}")
    client.connect(host, port)
    client.loop_start()
    if phase == "state":
        messages = [
            ("zigbee2mqtt/front_door/availability", json.dumps({"state": "online"}), True),
            ("zigbee2mqtt/back_door/availability", "online", True),
            ("zigbee2mqtt/front_door", json.dumps(FRONT), True),
            ("zigbee2mqtt/back_door", json.dumps(BACK), True),
        ]
    elif phase == "open":
        messages = [("zigbee2mqtt/front_door", json.dumps(dict(FRONT, contact=False, linkquality=99)), False)]
    else:
        sys.exit(f"unknown phase {phase}")
    for topic, payload, retain in messages:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    print(f"published {len(messages)}")


if __name__ == "__main__":
    main()
