"""Validates YAML device maps against edgegate's JSON Schema with an independent validator
(python-jsonschema, draft 2020-12). Usage: check_schema.py SCHEMA FILE...
Prints one line per file, "ok FILE" or "invalid FILE: reason"; exit 0 when all are valid."""
import json
import sys

import jsonschema
import yaml


def main():
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = False
    for path in sys.argv[2:]:
        with open(path) as f:
            document = yaml.safe_load(f)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        if errors:
            failed = True
            print(f"invalid {path}: {errors[0].message}")
        else:
            print(f"ok {path}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
