#!/usr/bin/env python3
"""Validates tuning plans against the published schema (Sources/DWTune/plan.schema.json, with jsonschema)
and through the Python reader (dwplan.load_plan): both must accept every plan dwbench writes.

    python3 Benchmarks/plan/validate_plans.py                 # every Results/plan-*.json; exit 1 on any failure
    python3 Benchmarks/plan/validate_plans.py FILE ...        # these files
    python3 Benchmarks/plan/validate_plans.py --report FILE ...   # one JSON line per file, always exit 0:
                                                               # {"file", "schema": error or null, "dwplan": error or null}
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import dwplan  # noqa: E402
sys.path.insert(0, os.path.dirname(HERE))
from validate_json import validator as schema_validator  # noqa: E402


def check(path, validator):
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f, parse_constant=dwplan._not_json)   # as strict as the readers: no NaN or Infinity
        error = next(iter(validator.iter_errors(document)), None)
        schema = None if error is None else f"{'/'.join(map(str, error.absolute_path)) or 'top level'}: {error.message[:200]}"
    except (OSError, ValueError) as e:
        schema = f"not JSON: {e}"
    try:
        dwplan.load_plan(path)
        reader = None
    except dwplan.PlanError as e:
        reader = str(e)
    return schema, reader


def main(argv):
    report = "--report" in argv
    files = [a for a in argv if a != "--report"] or sorted(glob.glob(os.path.join(ROOT, "Results", "plan-*.json")))
    validator = schema_validator("plan")
    failures = 0
    for path in files:
        s, r = check(path, validator)
        if report:
            print(json.dumps({"file": path, "schema": s, "dwplan": r}))
        elif s or r:
            failures += 1
            print(f"{path}: schema: {s or 'ok'}; dwplan: {r or 'ok'}", file=sys.stderr)
    if not report:
        print(f"{len(files) - failures} of {len(files)} plans valid against plan.schema.json and dwplan.py")
    return 1 if failures and not report else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
