#!/usr/bin/env python3
"""Validates files dwbench writes against the schema it publishes for their format.

    python3 Benchmarks/validate_json.py plan FILE...     # Sources/DWTune/plan.schema.json
    python3 Benchmarks/validate_json.py bench FILE...    # Sources/DWBench/bench.schema.json (bench --format json, Results/bench-*.json)
    python3 Benchmarks/validate_json.py baseline FILE... # Sources/DWBench/baseline.schema.json (check --update)
    python3 Benchmarks/validate_json.py model-report FILE...  # Sources/DWBench/model-report.schema.json (replknet --format json)
    python3 Benchmarks/validate_json.py results DIR      # every JSON file in DIR (Results/), each against the schema its
                                                         # name selects (RESULTS below); a file no schema claims fails

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
SCHEMAS = {"plan": "Sources/DWTune/plan.schema.json", "bench": "Sources/DWBench/bench.schema.json",
           "baseline": "Sources/DWBench/baseline.schema.json", "model-report": "Sources/DWBench/model-report.schema.json",
           "results": "Sources/DWBench/results.schema.json"}

# Results/ file names → the schema (and definition) that describes them; first match wins.
RESULTS = [
    (r"^plan-.*\.json$", "plan", None),
    (r"^bench-.*-epilogues\.json$", "results", "epilogueRecords"),
    (r"^bench-.*\.json$", "bench", None),
    (r"^check-baseline.*\.json$", "baseline", None),
    (r"^replknet-.*\.json$", "model-report", None),
    (r"^peers-replknet.*\.json$", "results", "modelPeerRecords"),
    (r"^peers-.*\.json$", "results", "peerRecords"),
    (r"^machine\.json$", "results", "machineReport"),
    (r"^dwconv-torch-recipes.*\.json$", "results", "dwconvTorchRecipes"),
    (r"^bf16-accuracy\.json$", "results", "bf16Accuracy"),
]


def validator(kind, definition=None):
    loaded = {}
    for name, path in SCHEMAS.items():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            loaded[name] = json.load(f)
        jsonschema.Draft202012Validator.check_schema(loaded[name])
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in loaded.values())
    schema = loaded[kind] if definition is None else {"$ref": f"{loaded[kind]['$id']}#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def first_error(v, path):
    try:
        with open(path, encoding="utf-8") as f:
            return next(iter(v.iter_errors(json.load(f))), None)
    except (OSError, ValueError) as e:
        return e


def report(path, error):
    where = "/".join(map(str, getattr(error, "absolute_path", []))) or "top level"
    print(f"{path}: {where}: {getattr(error, 'message', error)}"[:400], file=sys.stderr)


def check_results(directory):
    """Every JSON file of a Results directory against the schema its name selects."""
    import re
    names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    bad = 0
    for name in names:
        match = next(((k, d) for pattern, k, d in RESULTS if re.match(pattern, name)), None)
        if match is None:
            bad += 1
            print(f"{directory}/{name}: no schema claims this file name (add it to RESULTS in Benchmarks/validate_json.py)", file=sys.stderr)
            continue
        error = first_error(validator(*match), os.path.join(directory, name))
        if error is not None:
            bad += 1
            report(os.path.join(directory, name), error)
    print(f"{len(names) - bad} of {len(names)} JSON files in {directory} valid against their schemas")
    return 1 if bad else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "results" and os.path.isdir(argv[1]):
        return check_results(argv[1])
    if len(argv) < 2 or argv[0] not in SCHEMAS or argv[0] == "results":
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    v = validator(argv[0])
    bad = 0
    for path in argv[1:]:
        error = first_error(v, path)
        if error is not None:
            bad += 1
            report(path, error)
    print(f"{len(argv) - 1 - bad} of {len(argv) - 1} files valid against the {argv[0]} schema")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
