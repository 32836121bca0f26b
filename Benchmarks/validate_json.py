#!/usr/bin/env python3
"""Validates files dwbench writes against the schema it publishes for their format.

    python3 Benchmarks/validate_json.py plan FILE...     # Sources/DWTune/plan.schema.json
    python3 Benchmarks/validate_json.py bench FILE...    # Sources/dwbench/bench.schema.json (bench --format json, Results/bench-*.json)
    python3 Benchmarks/validate_json.py baseline FILE... # Sources/DWTune/baseline.schema.json (check --update)
    python3 Benchmarks/validate_json.py model-report FILE...  # Sources/dwbench/model-report.schema.json (replknet --format json)

Exit 0 when every file is valid; otherwise one line per invalid file on stderr and exit 1. The schemas
refer to each other by their $id (the bench records use the plan schema's machine, build and problem
definitions), so all of them are loaded into one registry.
"""
import json
import os
import sys

import jsonschema
from referencing import Registry, Resource

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMAS = {"plan": "Sources/DWTune/plan.schema.json", "bench": "Sources/dwbench/bench.schema.json",
           "baseline": "Sources/DWTune/baseline.schema.json", "model-report": "Sources/dwbench/model-report.schema.json"}


def validator(kind):
    loaded = {}
    for name, path in SCHEMAS.items():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            loaded[name] = json.load(f)
        jsonschema.Draft202012Validator.check_schema(loaded[name])
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in loaded.values())
    return jsonschema.Draft202012Validator(loaded[kind], registry=registry)


def main(argv):
    if len(argv) < 2 or argv[0] not in SCHEMAS:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    v = validator(argv[0])
    bad = 0
    for path in argv[1:]:
        try:
            with open(path, encoding="utf-8") as f:
                error = next(iter(v.iter_errors(json.load(f))), None)
        except (OSError, ValueError) as e:
            error = e
        if error is not None:
            bad += 1
            where = "/".join(map(str, getattr(error, "absolute_path", []))) or "top level"
            print(f"{path}: {where}: {getattr(error, 'message', error)}"[:400], file=sys.stderr)
    print(f"{len(argv) - 1 - bad} of {len(argv) - 1} files valid against the {argv[0]} schema")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
