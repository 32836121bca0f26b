#!/usr/bin/env python3
"""Reads a dwbench tuning plan (schema_version 3, and 2 and 1) with the standard library only.

    python3 dwplan.py PLAN.json PROBLEM     # prints the chosen algorithm; exit 1 if absent, 2 if invalid

PROBLEM is a depthwise problem (n1c128h56w56k31s1p15; per axis n1c124h56w56k51x5s1p25x2, with dilation
n1c64h56w56k7s1p9d3) or a pointwise 1x1 one (n1c512h14w14o2048, or n1c512h14w14o2048.bf16 where bf16 arithmetic
is allowed).

As a module:

    from dwplan import load_plan, lookup, parse_problem
    plan = load_plan("plan.json")
    name = lookup(plan, "n1c128h56w56k31s1p15")           # registry name, or None if the problem is absent
    parse_problem("n1c512h14w14o2048")                    # {'kind': 'pointwise', 'n': 1, 'c': 512, ..., 'precision': 'fp32'}
    parse_problem("n1c64h56w56k7s1p9d3")                  # {'kind': 'depthwise', ..., 'kh': 7, 'kw': 7, ..., 'dh': 3, 'dw': 3}

A depthwise problem has kh, kw, sh, sw, ph, pw, dh and dw; a square one (one kernel size, stride and padding,
dilation 1: the only kind versions 1 and 2 hold) also has k, s and p. Version 3 keys may use the per-axis forms.
Version 2 entries record their `precision` (fp32 or bf16, equal to the problem's suffix); version-1 entries have
none and are read as fp32, so every entry this reader returns has it.

Every entry kind is read, and each entry is checked as Sources/DWTune/plan.schema.json checks it (required
fields and their types, the mode and status vocabularies, every number's range (LIMITS), canonical problem keys), plus what a schema cannot
say: each key equals its entry's problem. The plan records the machine fingerprint, build signature and
thread count it was tuned for; a tool that runs elsewhere should tune again (see `dwbench plan check`).
"""
import json
import re
import sys

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
_D = r"([1-9][0-9]{0,11})"
_Z = r"(0|[1-9][0-9]{0,11})"
# Each of k, s, p and d one number or a pair AxB; d optional. Canonical spelling is checked after the match.
DEPTHWISE = re.compile(rf"^n{_D}c{_D}h{_D}w{_D}k{_D}(?:x{_D})?s{_D}(?:x{_D})?p{_Z}(?:x{_Z})?(?:d{_D}(?:x{_D})?)?$")
POINTWISE = re.compile(rf"^n{_D}c{_D}h{_D}w{_D}o{_D}(\.bf16)?$")
PRECISIONS = {"fp32", "bf16"}
MODES = {"estimate", "measure", "exhaustive"}
STATUSES = {"measured", "dropped", "estimated", "refused"}
# The range of every number in a plan: (lower, lower included, upper), as Plan.Limits (Sources/DWTune/Plan.swift)
# and plan.schema.json state them. The upper bounds are far beyond any real value.
LIMITS = {
    "margin": (0, True, 1e6),
    "median_ms": (0, False, 1e9),
    "spread": (0, True, 1e6),
    "rate": (0, False, 1e9),            # peak_gflops, bf16_peak_gflops, bandwidth_gbs
    "efficiency": (0, False, 1e6),
    "threads": (1, True, 256),
    "cores": (1, True, 1 << 20),        # also a cache's sharedBy
    "numaNodes": (1, True, 1 << 16),
    "level": (1, True, 15),
    "bytes": (0, True, 1 << 50),
    "cpuid": (0, True, 0xFFFF),         # family, model, stepping
}


class PlanError(Exception):
    pass


def parse_problem(text):
    """The fields of a problem's text form, with its kind; PlanError when it is neither kind."""
    if not isinstance(text, str):
        raise PlanError(f"invalid problem {text!r}: not a string")
    m = DEPTHWISE.match(text)
    if m:
        g = [None if v is None else int(v) for v in m.groups()]
        n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw = g[:4] + [g[4], g[5] or g[4], g[6], g[7] or g[6], g[8],
                                                       g[9] if g[9] is not None else g[8], g[10] or 1, g[11] or g[10] or 1]
        pair = lambda a, b: f"{a}" if a == b else f"{a}x{b}"
        canonical = (f"n{n}c{c}h{h}w{w}k{pair(kh, kw)}s{pair(sh, sw)}p{pair(ph, pw)}"
                     + ("" if (dh, dw) == (1, 1) else f"d{pair(dh, dw)}"))
        if canonical != text:
            raise PlanError(f"invalid problem {text!r}: not canonical (write {canonical!r}: a pair only where the axes differ, "
                            f"d only where it is not 1)")
        fields = dict(kind="depthwise", precision="fp32", n=n, c=c, h=h, w=w, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=dh, dw=dw)
        if kh == kw and sh == sw and ph == pw and (dh, dw) == (1, 1):
            fields.update(k=kh, s=sh, p=ph)
        return fields
    m = POINTWISE.match(text)
    if m:
        return dict(kind="pointwise", precision="bf16" if m.group(6) else "fp32",
                    **dict(zip("nchwo", map(int, m.groups()[:5]))))
    raise PlanError(f"invalid problem {text!r}: expected n{{N}}c{{C}}h{{H}}w{{W}}k{{K}}s{{S}}p{{P}}[d{{D}}] (depthwise; each of k, s, p, d "
                    f"one number or {{H}}x{{W}}) "
                    f"or n{{N}}c{{C}}h{{H}}w{{W}}o{{O}}[.bf16] (pointwise), without leading zeros")


def _check_entry(path, key, entry, version):
    def bad(why):
        return PlanError(f"{path}: entry {key!r}: {why}")
    try:
        problem = parse_problem(key)
    except PlanError as e:
        raise PlanError(f"{path}: {e}")
    if not isinstance(entry, dict):
        raise bad("not an object")
    required = ("problem", "algorithm", "mode", "threads", "margin", "confident", "candidates") + (("precision",) if version >= 2 else ())
    for field in required:
        if field not in entry:
            raise bad(f"missing '{field}'")
    entry.setdefault("precision", "fp32")   # version 1: every entry is fp32
    if entry["precision"] not in PRECISIONS:
        raise bad(f"precision {entry['precision']!r} is not one of {sorted(PRECISIONS)}")
    if entry["precision"] != problem["precision"]:
        raise bad(f"precision {entry['precision']} differs from its problem's ({problem['precision']})")
    if version < 3 and problem["kind"] == "depthwise" and "k" not in problem:
        raise bad(f"a per-axis geometry, which needs schema_version 3 (this plan is version {version})")
    if entry["problem"] != key:
        raise bad(f"its problem {entry['problem']!r} differs from its key")
    if not isinstance(entry["algorithm"], str):
        raise bad("algorithm is not a string")
    if entry["mode"] not in MODES:
        raise bad(f"mode {entry['mode']!r} is not one of {sorted(MODES)}")
    if not _int_in(entry["threads"], "threads"):
        raise bad(f"threads {entry['threads']!r} is not an integer in {_text('threads')}")
    if not _number_in(entry["margin"], "margin"):
        raise bad(f"margin {entry['margin']!r} is not a number in {_text('margin')}")
    if type(entry["confident"]) is not bool:
        raise bad("confident is not a boolean")
    if not isinstance(entry["candidates"], list):
        raise bad("candidates is not a list")
    for c in entry["candidates"]:
        if not isinstance(c, dict) or not isinstance(c.get("algorithm"), str) or c.get("status") not in STATUSES:
            raise bad(f"malformed candidate {c!r}")
        for field in ("median_ms", "spread"):
            if field in c and not _number_in(c[field], field):
                raise bad(f"candidate {c['algorithm']}: {field} {c[field]!r} is not a number in {_text(field)}")


def _in(v, limit):
    lower, included, upper = LIMITS[limit]
    return (v >= lower if included else v > lower) and v <= upper


def _number_in(v, limit):
    """A JSON number (not a boolean) within LIMITS[limit]; inf (1e400 in the file) and NaN are not."""
    return type(v) in (int, float) and _in(v, limit)


def _int_in(v, limit):
    return type(v) is int and _in(v, limit)


def _text(limit):
    lower, included, upper = LIMITS[limit]
    return f"{'[' if included else '('}{lower:g}, {upper:g}]"


def _check_header(path, plan):
    """machine, threads and calibration, as the schema states them."""
    def bad(why):
        return PlanError(f"{path}: {why}")
    m = plan["machine"]
    if not isinstance(m, dict) or not isinstance(m.get("cpuModel"), str) or not isinstance(m.get("features"), list) \
            or not isinstance(m.get("caches"), list):
        raise bad("malformed machine fingerprint")
    for field, limit in (("cores", "cores"), ("numaNodes", "numaNodes")) + tuple((f, "cpuid") for f in ("family", "model", "stepping") if f in m):
        if not _int_in(m.get(field), limit):
            raise bad(f"machine.{field} {m.get(field)!r} is not an integer in {_text(limit)}")
    for i, c in enumerate(m["caches"]):
        if not isinstance(c, dict) or not isinstance(c.get("type"), str):
            raise bad(f"malformed cache {c!r}")
        for field, limit in (("level", "level"), ("bytes", "bytes"), ("sharedBy", "cores")):
            if not _int_in(c.get(field), limit):
                raise bad(f"machine.caches.{i}.{field} {c.get(field)!r} is not an integer in {_text(limit)}")
    b = plan["build"]
    if not isinstance(b, dict) or not all(isinstance(b.get(k), str) for k in ("package_version", "registry_hash", "compiler", "flags")):
        raise bad("malformed build signature")
    if not _int_in(plan["threads"], "threads"):
        raise bad(f"threads {plan['threads']!r} is not an integer in {_text('threads')}")
    c = plan["calibration"]
    if not isinstance(c, dict):
        raise bad("calibration is not an object")
    for field in ("peak_gflops", "bandwidth_gbs") + (("bf16_peak_gflops",) if "bf16_peak_gflops" in c else ()):
        if not _number_in(c.get(field), "rate"):
            raise bad(f"calibration.{field} {c.get(field)!r} is not a number in {_text('rate')}")
    for table in ("efficiency", "memory_efficiency"):
        if not isinstance(c.get(table), dict):
            raise bad(f"calibration.{table} is not an object")
        for name, v in c[table].items():
            if not _number_in(v, "efficiency"):
                raise bad(f"calibration.{table}.{name} {v!r} is not a number in {_text('efficiency')}")


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def load_plan(path):
    """Parses and checks a plan file; raises PlanError with one clear line on any problem."""
    try:
        with open(path, encoding="utf-8") as f:
            plan = json.load(f, parse_constant=_not_json)   # NaN and Infinity are Python's, not JSON
    except OSError as e:
        raise PlanError(f"{path}: cannot read: {e.strerror}")
    except ValueError as e:   # JSONDecodeError, UnicodeDecodeError, NaN or Infinity
        raise PlanError(f"{path}: not JSON: {e}")
    if not isinstance(plan, dict):
        raise PlanError(f"{path}: not a plan (top level is not an object)")
    version = plan.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise PlanError(f"{path}: unknown plan schema_version {version!r} (this reader knows {', '.join(map(str, READABLE_VERSIONS))})")
    for field in ("generator", "created", "machine", "build", "threads", "calibration"):
        if field not in plan:
            raise PlanError(f"{path}: missing '{field}'")
    if not isinstance(plan["generator"], str) or not isinstance(plan["created"], str):
        raise PlanError(f"{path}: generator and created must be strings")
    _check_header(path, plan)
    entries = plan.get("entries")
    if not isinstance(entries, dict):
        raise PlanError(f"{path}: missing 'entries'")
    for key, entry in entries.items():
        _check_entry(path, key, entry, version)
    return plan


def lookup(plan, problem):
    """The algorithm registry name chosen for `problem` (its text form, either kind), or None."""
    parse_problem(problem)
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
