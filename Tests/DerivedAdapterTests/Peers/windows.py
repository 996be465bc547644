"""Every window of a recorded reading stream, computed from the definitions in
Sources/DerivedAdapter/WINDOWS.md by plain filtering of the sorted stream, for edgegate's
WindowPeerTests. Plain Python (math, statistics, fractions): no state machine, no panes.
Usage: windows.py STREAM.jsonl SPECS.json OUTPUT.json

STREAM.jsonl: one reading a line, in arrival order: stream (its name), t (source timestamp,
seconds since the epoch), value (a number, or null when bad), good (bool), arrival (the
wall-clock second it reaches the gateway).
SPECS.json: {"until": seconds, "specs": [{name, stream, agg, size, every, grace, modulus,
integer}]}; size, every and grace in seconds, modulus (absent or null: none) the counter's wrap.
OUTPUT.json: {name: {"late": n, "windows": [{end, value, kind, quality, percent}]}}, every
window from the first that holds the first reading to the last one due at `until`
(end + grace <= until). kind is "int", "double" or null (no value); quality "good",
"uncertain" or "bad"; percent the covered share of the window, rounded down.
"""
import bisect
import json
import math
import statistics
import sys
from fractions import Fraction


def increase(previous, current, modulus):
    """A counter's increase: a fall of more than half the modulus is a wrap, any other a reset."""
    if current >= previous:
        return current - previous
    if modulus is not None and previous - current > modulus / 2:
        return current + modulus - previous
    return max(0, current)


def first_end(t, every):
    """The end of the first window that holds a reading at t: the next multiple of every."""
    k = math.floor(t / every)
    while k * every > t:
        k -= 1
    while (k + 1) * every <= t:
        k += 1
    return k + 1


def accepted_readings(readings, every, grace):
    """The readings not late: a reading is late when it arrives once the first window that holds
    it is due (its end + grace), after some reading arrived before it (windows are emitted
    only from the first reading on)."""
    accepted, late = [], 0
    for i, r in enumerate(readings):
        if i > 0 and first_end(r["t"], every) * every + grace <= r["arrival"]:
            late += 1
        else:
            accepted.append(r)
    return accepted, late


def window(spec, ordered, times, good, good_times, start, end):
    agg, size, modulus = spec["agg"], spec["size"], spec.get("modulus")
    lo, hi = bisect.bisect_left(good_times, start), bisect.bisect_left(good_times, end)
    values = [r["value"] for r in good[lo:hi]]

    # Coverage: each reading holds from its timestamp to the next one's; the last one to the end.
    covered = Fraction(0)
    first = max(0, bisect.bisect_left(times, start) - 1)
    last = bisect.bisect_left(times, end)
    for i in range(first, last):
        if not ordered[i]["good"]:
            continue
        held_from = Fraction(ordered[i]["t"])
        held_to = Fraction(ordered[i + 1]["t"]) if i + 1 < len(ordered) else Fraction(end)
        overlap = min(held_to, Fraction(end)) - max(held_from, Fraction(start))
        if overlap > 0:
            covered += overlap
    percent = math.floor(covered * 100 / Fraction(size))

    value, kind = None, None
    integer = spec["integer"]
    if agg == "count":
        value, kind = len(values), "int"
    elif values:
        if agg == "avg":
            value = math.fsum(values) / len(values)
        elif agg == "sum":
            value = math.fsum(values)
        elif agg == "min":
            value = min(values)
        elif agg == "max":
            value = max(values)
        elif agg == "first":
            value = values[0]
        elif agg == "last":
            value = values[-1]
        elif agg == "stddev":
            value = statistics.stdev(values) if len(values) >= 2 else None
        elif agg == "rate":
            pairs = [(good[i - 1], good[i]) for i in range(max(lo, 1), hi)]
            seconds = math.fsum(c["t"] - p["t"] for p, c in pairs)
            if pairs and seconds > 0:
                value = math.fsum(increase(p["value"], c["value"], modulus) for p, c in pairs) / seconds
        if value is not None:
            kind = "int" if integer and agg in ("min", "max", "first", "last") else "double"
            value = int(value) if kind == "int" else float(value)

    if not values or value is None:
        quality = "bad"
    elif covered == size:
        quality = "good"
    else:
        quality = "uncertain"
    return {"end": end, "value": value, "kind": kind, "quality": quality, "percent": percent}


def main():
    stream_path, specs_path, output_path = sys.argv[1:4]
    with open(stream_path) as f:
        stream = [json.loads(line) for line in f if line.strip()]
    with open(specs_path) as f:
        config = json.load(f)
    until = config["until"]
    result = {}
    for spec in config["specs"]:
        size, every, grace = spec["size"], spec["every"], spec["grace"]
        arrived = [r for r in stream if r["stream"] == spec["stream"]]
        accepted, late = accepted_readings(arrived, every, grace)
        for order, r in enumerate(arrived):
            r["order"] = order
        ordered = sorted(accepted, key=lambda r: (r["t"], r["order"]))
        times = [r["t"] for r in ordered]
        good = [r for r in ordered if r["good"]]
        good_times = [r["t"] for r in good]
        windows = []
        e = first_end(times[0], every)
        while e * every + grace <= until:
            windows.append(window(spec, ordered, times, good, good_times, e * every - size, e * every))
            e += 1
        result[spec["name"]] = {"late": late, "windows": windows}
    with open(output_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
