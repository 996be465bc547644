"""SAS tokens made by Microsoft's own Python device SDK (azure-iot-device), for comparison with
edgegate's. Usage: azure_sas.py CASES.json, where the file holds a list of
{"hub", "device", "key", "expiry"}; prints a JSON list of tokens in the same order.

The SDK's two modules are loaded from their files: importing the package would import its
MQTT client too, which needs paho-mqtt 1.x while our other peer needs 2.x (the package is
installed with --no-deps for that reason). The token code itself is the SDK's, unchanged."""
import importlib.util
import json
import os
import sys
import time
import urllib.parse  # sastoken.py uses urllib.parse but imports only urllib: the package did it

import azure  # namespace package, only to find the installed files


def load(name):
    for root in azure.__path__:
        path = os.path.join(root, "iot", "device", "common", "auth", name + ".py")
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise SystemExit(f"azure-iot-device's {name}.py not found")


sastoken = load("sastoken")
signing = load("signing_mechanism")


def token(case):
    ttl = 3600
    # RenewableSasToken takes its expiry from the clock: pin the clock so it is the case's.
    real = time.time
    time.time = lambda: case["expiry"] - ttl
    try:
        uri = f'{case["hub"]}/devices/{case["device"]}'
        return str(sastoken.RenewableSasToken(uri, signing.SymmetricKeySigningMechanism(case["key"]), ttl=ttl))
    finally:
        time.time = real


with open(sys.argv[1]) as f:
    print(json.dumps([token(c) for c in json.load(f)]))
