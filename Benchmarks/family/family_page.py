#!/usr/bin/env python3
"""The large-kernel family against its peers: every depthwise layer shape of SLaK-T, LSKNet-S, UniRepLKNet-T
(training and deployed form), InceptionNeXt-T and ConvNeXt-T, timed in dwbench (every algorithm) and in the
peers (PyTorch NCHW, PyTorch channels_last, ONNX Runtime, OpenVINO), with the tuner's choice, at 1 and 2 threads.

    python3 Benchmarks/family/family_page.py --run              # measure everything (~15 min on 2 cores), then render
    python3 Benchmarks/family/family_page.py --render           # Results/family*.md and .svg again from the JSON
    python3 Benchmarks/family/family_page.py --run --sets slak-t --threads 1

Per (set, T) --run runs --rounds (2) interleaved rounds of dwbench and the peers, and keeps for every algorithm and
engine alike its lowest median over the rounds (the second core is shared: a round can be slowed for everyone or for
one engine). It writes, each validated by Benchmarks/validate_json.py's schemas:
  Results/bench-family-SET-Tt.json   dwbench bench --shapes SET --format json (every algorithm, one process)
  Results/peers-family-SET-Tt.json   Benchmarks/peers/run_peers.py, one process per engine
  Results/plan-family-SET-Tt.json    dwbench tune --shapes SET (measure mode: the tuner's choice), after the rounds
Then it renders Results/family.md (the goals over all sets) and Results/family-SET.md + .svg per set.

Goals (issue 26): per distinct layer shape, the fastest dwbench algorithm at least 2× the fastest peer where the
kernel has 49 taps or more, 1.5× below; the tuner's choice within 5% of the fastest measured algorithm on at least
95% of the shapes (both read from the same bench run). The peers run with PEERS_PYTHON (default: the Python that
runs this script) through DWBENCH_PEERS_VENV if set, as run_peers.py documents.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "Results")
SETS = ["slak-t", "lsknet-s", "unireplknet-t", "unireplknet-t-deploy", "inceptionnext-t", "convnext-t"]
TITLES = {"slak-t": "SLaK-T", "lsknet-s": "LSKNet-S", "unireplknet-t": "UniRepLKNet-T (training form)",
          "unireplknet-t-deploy": "UniRepLKNet-T (deployed)", "inceptionnext-t": "InceptionNeXt-T (timm)",
          "convnext-t": "ConvNeXt-T (timm)"}
ENGINES = ["pytorch", "pytorch-cl", "onnxruntime", "openvino"]
sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "plan"))
from dwplan import parse_problem  # noqa: E402


def path(kind, name, t):
    return os.path.join(RESULTS, f"{kind}-family-{name}-{t}t.json")


def run(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def best_of(rounds):
    """Per (problem, algorithm), the record with the lowest median over the rounds (the same rule for every engine)."""
    best = {}
    for records in rounds:
        for r in records:
            key = (r["problem"], r["algorithm"])
            if r.get("status") == "ok" and (key not in best or r["median_ms"] < best[key]["median_ms"]):
                best[key] = r
            elif key not in best:
                best[key] = r
    order = list(dict.fromkeys((r["problem"], r["algorithm"]) for r in rounds[0]))
    return [best[k] for k in order if k in best]


def measure(sets, threads, dwbench, python, rounds):
    for name in sets:
        for t in threads:
            benches, peers = [], []
            for _ in range(rounds):     # interleaved: dwbench, then each peer engine in its own process, round after round
                out = json.loads(run([dwbench, "bench", "--shapes", name, "--threads", str(t), "--format", "json", "--min-time",
                                      "0.02", "--repetitions", "5"], stdout=subprocess.PIPE).stdout)
                benches.append(out)
                records = []
                for engine in ENGINES:   # one process per engine: no shared threads or caches
                    tmp = path("peers", name, t) + f".{engine}.tmp"
                    run([python, os.path.join(ROOT, "Benchmarks", "peers", "run_peers.py"), "--shapes",
                         os.path.join(ROOT, "Benchmarks", "shapes", name + ".txt"), "--threads", str(t), "--engines", engine,
                         "--min-time", "0.02", "--output", tmp])
                    with open(tmp) as f:
                        records += json.load(f)
                    os.remove(tmp)
                peers.append(records)
            bench = benches[0]
            bench["records"] = best_of([b["records"] for b in benches])
            write(path("bench", name, t), json.dumps(bench, indent=2) + "\n")
            write(path("peers", name, t), json.dumps(best_of(peers), indent=2) + "\n")
            run([dwbench, "tune", "--shapes", name, "--threads", str(t), "--output", path("plan", name, t)])


def write(file, text):
    tmp = file + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, file)


def layers(name):
    """[(layer name, problem, count)] of a shape file, in file order."""
    out = []
    for line in open(os.path.join(ROOT, "Benchmarks", "shapes", name + ".txt")):
        fields = line.split("#", 1)[0].split()
        if fields:
            out.append((fields[0], fields[1], int(fields[2]) if len(fields) > 2 else 1))
    return out


def load(name, t):
    files = [path(k, name, t) for k in ("bench", "plan", "peers")]
    if not all(os.path.exists(f) for f in files):
        return None
    bench, plan, peers = (json.load(open(f)) for f in files)
    return bench, plan, peers


def analyse(name, t):
    """Per distinct problem: best dwbench record, the plan's choice and its time, best peer, every peer's time."""
    data = load(name, t)
    if data is None:
        return None
    bench, plan, peers = data
    rows = []
    seen = set()
    for layer, problem, _ in layers(name):
        if problem in seen:
            continue
        seen.add(problem)
        count = sum(c for _, p, c in layers(name) if p == problem)
        ours = [r for r in bench["records"] if r["problem"] == problem and r["status"] == "ok" and r["algorithm"] != "naive"]
        theirs = [r for r in peers if r["problem"] == problem and r["status"] == "ok"]
        best = min(ours, key=lambda r: r["median_ms"]) if ours else None
        best_peer = min(theirs, key=lambda r: r["median_ms"]) if theirs else None
        choice = plan["entries"].get(problem, {}).get("algorithm")
        chosen = next((r for r in ours if r["algorithm"] == choice), None)
        d = parse_problem(problem)
        rows.append(dict(layer=layer, problem=problem, count=count, taps=d["kh"] * d["kw"], best=best, best_peer=best_peer,
                         peers={r["algorithm"]: r["median_ms"] for r in theirs}, choice=choice, chosen=chosen))
    return dict(bench=bench, rows=rows)


def speedup(row):
    return row["best_peer"]["median_ms"] / row["best"]["median_ms"] if row["best"] and row["best_peer"] else None


def need(row):
    return 2.0 if row["taps"] >= 49 else 1.5


def choice_ratio(row):
    return row["chosen"]["median_ms"] / row["best"]["median_ms"] if row["chosen"] and row["best"] else None


def kernel(problem):
    d = parse_problem(problem)
    pair = lambda a, b: f"{a}" if a == b else f"{a}×{b}"
    return pair(d["kh"], d["kw"]) + ("" if (d["dh"], d["dw"]) == (1, 1) else f" d{pair(d['dh'], d['dw'])}")


def machine_line(bench):
    m = bench["machine"]
    return (f"{m.get('cpuModel', '?')} (CPUID family {m.get('family')}, model {m.get('model')}, {m.get('cores')} cores), "
            f"{bench['threads']} thread(s), measured fp32 FMA peak {bench['peak_gflops']:.0f} GFLOP/s; {bench['generator']}, "
            f"{bench['created']}")


def set_page(name, threads):
    analyses = {t: analyse(name, t) for t in threads}
    analyses = {t: a for t, a in analyses.items() if a}
    if not analyses:
        return None
    md = [f"# {TITLES[name]}: every depthwise layer against the peers\n",
          f"Made by `python3 Benchmarks/family/family_page.py --run --sets {name}` from the shape set `{name}` "
          f"(`Benchmarks/shapes/{name}.txt`, read off the official model code). Medians of 5 repetitions, warm caches, "
          "batch 1, 224² input; dwbench's algorithms in one process, each peer engine in its own; all in one session, in "
          "interleaved rounds, each engine's best median over the rounds kept. "
          "Speed-up = the fastest peer's time / the fastest dwbench algorithm's (layout conversions not included, as "
          "for the peers' own layouts). The tuner's choice comes from `dwbench tune` in measure mode (the plan "
          "beside this page); its time here is from the same bench run as the fastest.\n",
          f"![speed-up over the fastest peer]({name}.svg)\n"]
    for t, a in sorted(analyses.items()):
        md.append(f"## {t} thread{'s' if t > 1 else ''}\n")
        md.append(f"Machine: {machine_line(a['bench'])}. Plan: `Results/plan-family-{name}-{t}t.json`.\n")
        engines = sorted({e for r in a["rows"] for e in r["peers"]})
        md.append("| layer | problem | kernel | × | fastest dwbench | ms | tuner's choice | vs fastest | "
                  + " | ".join(f"{e} ms" for e in engines) + " | speed-up | goal |")
        md.append("|---" * (10 + len(engines)) + "|")
        for r in a["rows"]:
            s, q = speedup(r), choice_ratio(r)
            goal = "—" if s is None else f"≥ {need(r):.1f}×: {'met' if s >= need(r) else '**missed**'}"
            md.append(f"| {r['layer']} | `{r['problem']}` | {kernel(r['problem'])} | {r['count']} | "
                      f"{r['best']['algorithm'] if r['best'] else '—'} | {r['best']['median_ms']:.3f} | "
                      f"{r['choice'] or '—'} | {'—' if q is None else f'{q:.2f}×'} | "
                      + " | ".join(f"{r['peers'][e]:.3f}" if e in r["peers"] else "—" for e in engines)
                      + f" | {'—' if s is None else f'{s:.2f}×'} | {goal} |")
        md.append("")
    return "\n".join(md) + "\n", svg(name, analyses)


def svg(name, analyses):
    rows = next(iter(analyses.values()))["rows"]
    colors = {1: "#3b6ea5", 2: "#e08a2e"}
    bar, gap = 9, 10
    group = bar * len(analyses) + gap
    width, top, left, bottom = 720, 30, 250, 40
    height = top + bottom + group * len(rows)
    values = [speedup(r) or 0 for a in analyses.values() for r in a["rows"]]
    xmax = max(values + [2.5]) * 1.1
    x = lambda v: left + (width - left - 20) * v / xmax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="16" font-size="13">{TITLES[name]}: speed-up of the fastest dwbench algorithm over the fastest peer</text>']
    for v in (1.0, 1.5, 2.0):
        out.append(f'<line x1="{x(v):.1f}" y1="{top - 4}" x2="{x(v):.1f}" y2="{height - bottom + 4}" stroke="#999" '
                   f'stroke-dasharray="{"" if v == 1 else "4,3"}"/>')
        out.append(f'<text x="{x(v):.1f}" y="{height - bottom + 16}" text-anchor="middle">{v:g}×</text>')
    for i, r in enumerate(rows):
        y0 = top + i * group
        out.append(f'<text x="{left - 6}" y="{y0 + group / 2:.1f}" text-anchor="end">{r["problem"]}</text>')
        for j, (t, a) in enumerate(sorted(analyses.items())):
            s = speedup(a["rows"][i]) or 0
            out.append(f'<rect x="{left}" y="{y0 + j * bar}" width="{max(0.5, x(s) - left):.1f}" height="{bar - 1}" fill="{colors.get(t, "#555")}"/>')
            out.append(f'<text x="{x(s) + 3:.1f}" y="{y0 + j * bar + bar - 2}" font-size="9">{s:.2f}</text>')
    for j, t in enumerate(sorted(analyses)):
        out.append(f'<rect x="{left + 120 * j}" y="{height - 14}" width="10" height="10" fill="{colors.get(t, "#555")}"/>'
                   f'<text x="{left + 120 * j + 14}" y="{height - 5}">{t} thread{"s" if t > 1 else ""}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def summary(sets, threads):
    md = ["# The large-kernel family against its peers\n",
          "Every depthwise layer shape of the models in `Benchmarks/shapes` (read off their official code), timed by "
          "`python3 Benchmarks/family/family_page.py --run`: dwbench's fastest algorithm against the fastest of PyTorch "
          "(NCHW and channels_last), ONNX Runtime and OpenVINO in the same session, and the tuner's choice against "
          "dwbench's fastest. Goals: speed-up ≥ 2× where the kernel has ≥ 49 taps, ≥ 1.5× below; the tuner within 5% of "
          "the fastest on ≥ 95% of the shapes.\n",
          "| set | threads | shapes | speed-up min / median | goal met | tuner within 5% | page |", "|---|---|---|---|---|---|---|"]
    totals = {}
    for name in sets:
        for t in threads:
            a = analyse(name, t)
            if not a:
                continue
            sp = sorted(s for s in (speedup(r) for r in a["rows"]) if s is not None)
            met = sum(1 for r in a["rows"] if speedup(r) is not None and speedup(r) >= need(r))
            close = sum(1 for r in a["rows"] if choice_ratio(r) is not None and choice_ratio(r) <= 1.05)
            n = len(a["rows"])
            tot = totals.setdefault(t, [0, 0, 0])
            tot[0] += n; tot[1] += met; tot[2] += close
            md.append(f"| {TITLES[name]} | {t} | {n} | {sp[0]:.2f}× / {sp[len(sp) // 2]:.2f}× | {met} of {n} | {close} of {n} | "
                      f"[family-{name}.md](family-{name}.md) |")
    md.append("")
    md.append("## Goals\n")
    for t, (n, met, close) in sorted(totals.items()):
        md.append(f"- {t} thread{'s' if t > 1 else ''}: speed-up goal met on {met} of {n} shapes "
                  f"({'met' if met == n else '**missed**'}); tuner within 5% of the fastest on {close} of {n} "
                  f"({100 * close / n:.0f}%; goal ≥ 95%: {'met' if close >= 0.95 * n else '**missed**'})")
    return "\n".join(md) + "\n"


def render(sets, threads):
    for name in sets:
        page = set_page(name, threads)
        if page:
            write(os.path.join(RESULTS, f"family-{name}.md"), page[0])
            write(os.path.join(RESULTS, f"family-{name}.svg"), page[1])
    write(os.path.join(RESULTS, "family.md"), summary(sets, threads))
    print("wrote Results/family.md and the per-set pages", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="store_true", help="measure, then render")
    ap.add_argument("--render", action="store_true", help="render from the committed JSON only")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each engine's best median over them is kept")
    ap.add_argument("--dwbench", default=os.path.join(ROOT, ".build", "release", "dwbench"))
    ap.add_argument("--peers-python", default=os.environ.get("PEERS_PYTHON", sys.executable))
    args = ap.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    for s in sets:
        if s not in SETS:
            sys.exit(f"family_page.py: unknown set {s!r} (known: {', '.join(SETS)})")
    threads = [int(t) for t in args.threads.split(",")]
    if not (args.run or args.render):
        sys.exit("family_page.py: give --run or --render")
    if args.run:
        measure(sets, threads, args.dwbench, args.peers_python, args.rounds)
    render(SETS, [1, 2])


if __name__ == "__main__":
    main()
