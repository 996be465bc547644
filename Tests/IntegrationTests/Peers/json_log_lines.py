"""Reads a log file written with `--log-format json` with Python's own json module, checks
every line against the documented shape (docs/operations.md, "Log format") and writes each
object back, keys sorted, one per line, so that the Swift test looks at what Python read.

Usage: json_log_lines.py LOG_FILE OUT_FILE. Exit 1 with the first offending line otherwise."""

import datetime
import json
import re
import sys

FIXED = ("ts", "level", "label", "source", "message")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LEVELS = {"trace", "debug", "info", "notice", "warning", "error", "critical"}


def fail(number, line, why):
    print(f"line {number}: {why}: {line!r}", file=sys.stderr)
    sys.exit(1)


def main():
    source, target = sys.argv[1], sys.argv[2]
    objects = []
    with open(source, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith("\n"):
                fail(number, line, "no newline at the end")
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                fail(number, line, f"not JSON ({error})")
            if not isinstance(entry, dict):
                fail(number, line, "not an object")
            for key in FIXED:
                if not isinstance(entry.get(key), str):
                    fail(number, line, f"{key} missing or not a string")
            if not TS.match(entry["ts"]):
                fail(number, line, "ts is not RFC 3339 UTC with milliseconds")
            datetime.datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
            if entry["level"] not in LEVELS:
                fail(number, line, "unknown level")
            extra = set(entry) - set(FIXED) - {"metadata"}
            if extra:
                fail(number, line, f"unexpected keys {sorted(extra)}")
            if "metadata" in entry and not isinstance(entry["metadata"], dict):
                fail(number, line, "metadata is not an object")
            objects.append(entry)
    with open(target, "w", encoding="utf-8") as f:
        for entry in objects:
            f.write(json.dumps(entry, sort_keys=True) + "\n")


main()
