"""Validates YAML device maps against edgegate's JSON Schema with an independent validator
(python-jsonschema, draft 2020-12), all files in one process.

Usage: check_schema.py SCHEMA [FILE...] [--invalid FILE...]
Files before --invalid are expected to be accepted, files after it to be rejected.
Prints one line per file, "ok FILE" or "invalid FILE: reason | reason ...", then exits 0 when
every file got the expected answer and 1 otherwise (naming the files that did not)."""
import json
import sys

import jsonschema
import yaml


class MapLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with mapping keys kept as the text written, as edgegate's loader
    keeps them: YAML 1.1 would turn an enum name such as `off:` into the key False."""


def construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    mapping = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


MapLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)


def problems(validator, path):
    """Every reason the file is not a valid device map, empty when it is one."""
    try:
        with open(path) as f:
            document = yaml.load(f, Loader=MapLoader)
    except yaml.YAMLError as e:
        return ["not YAML: " + " ".join(str(e).split())]
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [e.message for e in errors]


def main():
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    expect_valid = True
    unexpected = []
    for arg in sys.argv[2:]:
        if arg == "--invalid":
            expect_valid = False
            continue
        found = problems(validator, arg)
        print(f"invalid {arg}: {' | '.join(found)}" if found else f"ok {arg}")
        if bool(found) == expect_valid:
            unexpected.append(arg)
    for path in unexpected:
        print(f"unexpected: {path}")
    sys.exit(1 if unexpected else 0)


if __name__ == "__main__":
    main()
