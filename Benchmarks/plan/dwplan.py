#!/usr/bin/env python3
"""Reads a dwbench tuning plan (schema_version 1) with the standard library only.

    python3 dwplan.py PLAN.json n1c128h56w56k31s1p15      # prints the chosen algorithm; exit 1 if absent

As a module:

    from dwplan import load_plan, lookup
    plan = load_plan("plan.json")
    name = lookup(plan, "n1c128h56w56k31s1p15")           # registry name, or None if the problem is absent

The plan records the machine fingerprint, build signature and thread count it was tuned for; a tool
that runs elsewhere should tune again (see `dwbench plan check`). Schema: Sources/DWTune/plan.schema.json.
"""
import json
import re
import sys

SCHEMA_VERSION = 1
PROBLEM = re.compile(r"^n(\d+)c(\d+)h(\d+)w(\d+)k(\d+)s(\d+)p(\d+)$")


class PlanError(Exception):
    pass


def load_plan(path):
    """Parses and checks a plan file; raises PlanError with one clear line on any problem."""
    try:
        with open(path, encoding="utf-8") as f:
            plan = json.load(f)
    except OSError as e:
        raise PlanError(f"{path}: cannot read: {e.strerror}")
    except json.JSONDecodeError as e:
        raise PlanError(f"{path}: not JSON: {e.msg} at line {e.lineno}")
    if not isinstance(plan, dict):
        raise PlanError(f"{path}: not a plan (top level is not an object)")
    version = plan.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PlanError(f"{path}: unknown plan schema_version {version!r} (this reader knows {SCHEMA_VERSION})")
    entries = plan.get("entries")
    if not isinstance(entries, dict):
        raise PlanError(f"{path}: missing 'entries'")
    for key, entry in entries.items():
        if not PROBLEM.match(key) or not isinstance(entry, dict) or entry.get("problem") != key \
                or not isinstance(entry.get("algorithm"), str):
            raise PlanError(f"{path}: malformed entry {key!r}")
    return plan


def lookup(plan, problem):
    """The algorithm registry name chosen for `problem` (its text form), or None."""
    if not PROBLEM.match(problem):
        raise PlanError(f"invalid problem {problem!r}: expected n{{N}}c{{C}}h{{H}}w{{W}}k{{K}}s{{S}}p{{P}}")
    entry = plan["entries"].get(problem)
    return entry["algorithm"] if entry else None


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        plan = load_plan(argv[1])
        name = lookup(plan, argv[2])
    except PlanError as e:
        print(f"dwplan: {e}", file=sys.stderr)
        return 2
    if name is None:
        print(f"dwplan: {argv[2]} is not in {argv[1]}", file=sys.stderr)
        return 1
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
