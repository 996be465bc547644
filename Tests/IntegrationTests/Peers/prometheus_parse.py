"""Parses Prometheus text exposition files with an independent parser (prometheus_client's
text_string_to_metric_families, the reference client library's own) and prints what it read
as JSON, one object per file in order.

Usage: prometheus_parse.py FILE...
Prints [{"families": {NAME: {"type": TYPE, "samples": [{"name", "labels", "value"}]}}}, ...]
and exits 0; a file the parser refuses exits 1 with the parser's reason on stderr. Family
names are the parser's: a counter's family drops the `_total` of its samples' name."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def parse(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    families = {}
    for family in text_string_to_metric_families(text):
        if family.name in families:
            raise ValueError(f"family {family.name} appears twice")
        families[family.name] = {
            "type": family.type,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": s.value if math.isfinite(s.value) else str(s.value)}
                for s in family.samples
            ],
        }
    return {"families": families}


def main():
    results = []
    for path in sys.argv[1:]:
        try:
            results.append(parse(path))
        except Exception as error:  # the parser's reason is the test's failure message
            print(f"{path}: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
