"""Home Assistant's Hue library (aiohue, its v1 API) against a bridge: the flow Home Assistant
runs, as an independent client of `sim hue`.

Usage: aiohue_flow.py HOST:PORT

Pairs (the link button must be pressed), initializes the bridge, lists its lights and sensors,
switches the first light on at brightness 200 and reads it back, then provokes the two errors
an integration handles: an invalid value (Hue error type 7) and an unknown username (type 1,
aiohue's Unauthorized). Prints one JSON object with what it saw; exits 0 once the whole flow
ran, whatever the bridge answered, so that the test can say what differed."""

import asyncio
import json
import sys

from aiohue import create_app_key
from aiohue.errors import AiohueException, LinkButtonNotPressed, Unauthorized
from aiohue.v1 import HueBridgeV1


async def flow(host):
    out = {"steps": []}
    try:
        key = await create_app_key(host, "aiohue#edgegate-test")
    except LinkButtonNotPressed as exc:
        out["pairing_error"] = f"link button not pressed: {exc}"
        return out
    out["steps"].append("paired")
    out["key_length"] = len(key)
    bridge = HueBridgeV1(host, key)
    try:
        await bridge.initialize()
        out["steps"].append("initialized")
        config = bridge.config
        out["config"] = {"bridge_id": config.bridge_id, "mac": config.mac_address, "name": config.name,
                         "model_id": config.model_id, "software_version": config.software_version,
                         "apiversion": config.apiversion}
        whitelist = config.raw.get("whitelist", {})
        out["whitelisted"] = key in whitelist
        out["whitelist_entry"] = whitelist.get(key)
        # aiohue's collections iterate over ids and index by id.
        out["lights"] = {lid: {"name": bridge.lights[lid].name, "type": bridge.lights[lid].type,
                               "on": bridge.lights[lid].state.get("on"),
                               "reachable": bridge.lights[lid].state.get("reachable")}
                         for lid in bridge.lights}
        out["sensors"] = {sid: {"name": bridge.sensors[sid].name, "type": bridge.sensors[sid].type}
                          for sid in bridge.sensors}
        first = sorted(bridge.lights)[0]
        light = bridge.lights[first]
        await light.set_state(on=True, bri=200)
        await bridge.lights.update()
        light = bridge.lights[first]
        out["after_set_state"] = {"id": first, "on": light.state.get("on"), "bri": light.state.get("bri")}
        out["steps"].append("set_state")
        try:
            await light.set_state(bri=300)
            out["invalid_value_error"] = None
        except AiohueException as exc:
            out["invalid_value_error"] = {"class": type(exc).__name__, "text": str(exc)}
        out["steps"].append("invalid value")
    finally:
        await bridge.close()
    stranger = HueBridgeV1(host, "not-a-paired-username")
    try:
        await stranger.initialize()
        out["unauthorized_error"] = None
    except Unauthorized as exc:
        out["unauthorized_error"] = {"class": type(exc).__name__, "text": str(exc)}
    except AiohueException as exc:
        out["unauthorized_error"] = {"class": type(exc).__name__, "text": str(exc)}
    finally:
        await stranger.close()
    out["steps"].append("unauthorized")
    return out


def main():
    result = asyncio.run(flow(sys.argv[1]))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
