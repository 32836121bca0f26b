#!/usr/bin/env python3
"""RepLKNet-31B in PyTorch with dwbench's kernels swapped in by `dwconv.torch.convert`, side by side with stock
PyTorch eager, `dwbench replknet` and OpenVINO, in one run; plus libdwconv's per-call overhead from Python.

    swift build -c release && python3 Benchmarks/dwconv/torch_convert.py --output Results/dwconv-torch

The model is Benchmarks/peers/replknet_torch.py (the official module layout) at 31B, deployed (large kernels
merged), seeded random weights, batch 1, 224², fp32, eval mode under torch.inference_mode(). For each thread
count (1 and 2) the engines run in turn, `--rounds` times round-robin, each round timing one warm-up and
`--repeat` passes; an engine's time is the median of all its passes. The converted models use the committed
model plans (Results/plan-replknet31b-model-<T>t-b1.json, tuned on this machine by `dwbench replknet --plan`)
and spin 0 (their idle workers sleep at once); at 2 threads the depthwise-only model is also run with the
library's default spin (2 ms), to measure what spinning workers cost a host that runs its own threads in
between. Logits of each converted model are compared with stock PyTorch's.

Writes <output>.json (every measurement) and <output>.md (the table and the goals); runs in the
Benchmarks/peers virtual environment (created on first use), with the dwconv package from Python/dwconv and
the library from .build/release.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "peers"))
from run_peers import ensure_venv  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--output", default=os.path.join(ROOT, "Results", "dwconv-torch"))
    ap.add_argument("--omp-wait-policy", choices=["default", "passive"], default="default",
                    help="passive: PyTorch's OpenMP workers sleep between parallel regions (OMP_WAIT_POLICY=PASSIVE) "
                         "instead of spinning on the core dwconv's workers need")
    ap.add_argument("--render-only", action="store_true", help="re-render <output>.md and .svg from <output>.json")
    args = ap.parse_args()
    if args.render_only:
        with open(args.output + ".json") as f:
            write_pages(json.load(f), args.output)
        return
    if args.omp_wait_policy == "passive":
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    ensure_venv()
    sys.path.insert(0, os.path.join(ROOT, "Python", "dwconv", "src"))
    os.environ.setdefault("DWCONV_LIBRARY", os.path.join(ROOT, ".build", "release", "libdwconv.so"))
    import numpy as np
    import torch
    import dwconv
    import dwconv.torch as dwt
    from replknet_torch import build

    torch.manual_seed(0)
    model = build("31B").deploy().eval()
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32))
    records, checks, overhead = [], [], {}
    dwbench = os.path.join(ROOT, ".build", "release", "dwbench")

    for t in [int(v) for v in args.threads.split(",")]:
        torch.set_num_threads(t)
        plan = os.path.join(ROOT, "Results", f"plan-replknet31b-model-{t}t-b1.json")
        plan = plan if os.path.exists(plan) else None
        with torch.inference_mode():
            reference = model(x).double()
        engines = {"pytorch-eager": lambda: model(x)}
        converted = {}
        for label, pointwise, spin in (("dwconv: depthwise", False, 0), ("dwconv: depthwise + 1×1", True, 0)) + \
                ((("dwconv: depthwise, spin 2 ms", False, 2000),) if t > 1 else ()):
            fast, report = dwt.convert(model, plan=plan, threads=t, pointwise=pointwise, spin_us=spin)
            converted[label] = (fast, report)
            engines[label] = (lambda m: (lambda: m(x)))(fast)
        # OpenVINO on the same model exported to ONNX.
        import openvino as ov
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "replknet.onnx")
            torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
            core = ov.Core()
            compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_NUM_THREADS": t, "PERFORMANCE_HINT": "LATENCY",
                                                                         "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        xn = x.numpy()
        engines[f"openvino-{ov.__version__.split('-')[0]}"] = lambda: request.infer({0: xn})
        samples = {name: [] for name in engines}
        dwbench_samples = []
        for _ in range(args.rounds):
            for name, fn in engines.items():
                with torch.inference_mode():
                    fn()
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        fn()
                        samples[name].append(time.perf_counter() - t0)
            # dwbench's own forward pass, same plan, in the same round-robin.
            cmd = [dwbench, "replknet", "--config", "31B", "--threads", str(t), "--repeat", str(args.repeat), "--format", "json"]
            if plan:
                cmd += ["--plan", plan]
            out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            dwbench_samples.append(out["median_ms"] / 1e3)
        for label, (fast, report) in converted.items():
            with torch.inference_mode():
                got = fast(x).double()
            err = float((got - reference).abs().max() / reference.abs().max())
            checks.append({"threads": t, "engine": label, "relative_error": err,
                           "same_top1": bool((got.argmax(1) == reference.argmax(1)).all()),
                           "replaced": len(report.replaced), "left": len(report.left)})
        eager = float(np.median(samples["pytorch-eager"]))
        for name, s in list(samples.items()) + [("dwbench replknet", dwbench_samples)]:
            med = float(np.median(s))
            records.append({"threads": t, "engine": name, "median_ms": med * 1e3, "min_ms": min(s) * 1e3, "max_ms": max(s) * 1e3,
                            "samples": len(s), "speedup_vs_eager": eager / med})
            print(f"{t}T {name:32} {med * 1e3:9.1f} ms  {eager / med:5.2f}× eager", file=sys.stderr)
        del request, compiled

    # Per-call overhead on a small layer: the C call through ctypes with prepared pointers, against the Python API.
    torch.set_num_threads(1)
    ctx = dwconv.Context(threads=1, spin_us=0)
    w = np.random.default_rng(2).standard_normal((32, 1, 3, 3)).astype(np.float32)
    layer = dwconv.Depthwise(w, padding=1, height=8, width=8, context=ctx)
    xs = np.random.default_rng(3).standard_normal((1, 32, 8, 8)).astype(np.float32)
    ys = np.empty_like(xs)
    lib = dwconv._library()
    fp = ctypes.POINTER(ctypes.c_float)
    px, py = xs.ctypes.data_as(fp), ys.ctypes.data_as(fp)
    tx = torch.from_numpy(xs)

    def per_call(fn, n=20000):
        for _ in range(1000):
            fn()
        best = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best.append((time.perf_counter() - t0) / n)
        return float(np.median(best))
    overhead["c_call_us"] = per_call(lambda: lib.dwconv_layer_execute(layer._handle, 1, px, py, None)) * 1e6
    overhead["python_numpy_us"] = per_call(lambda: layer(xs)) * 1e6
    overhead["python_torch_us"] = per_call(lambda: layer(tx)) * 1e6
    overhead["layer"] = "n1c32h8w8k3s1p1"
    print(f"per call: C {overhead['c_call_us']:.2f} µs, Python numpy {overhead['python_numpy_us']:.2f} µs, torch {overhead['python_torch_us']:.2f} µs",
          file=sys.stderr)

    machine = json.loads(subprocess.run([dwbench, "machine", "--format", "json"], check=True, capture_output=True, text=True).stdout)
    result = {"model": "RepLKNet-31B deployed, batch 1, 224², fp32 (Benchmarks/peers/replknet_torch.py, seeded random weights)",
              "torch": torch.__version__, "dwconv": dwconv.version(), "machine": machine, "records": records, "checks": checks,
              "overhead": overhead, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (GNU OpenMP: spin, then sleep)"),
              "command": " ".join(["python3", os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])}
    write_pages(result, args.output)


def write_pages(result, output):
    """<output>.json, .md and .svg, each written to a temporary file and renamed."""
    name = os.path.basename(output)
    for path, text in ((output + ".json", json.dumps(result, indent=2) + "\n"), (output + ".md", markdown(result, name + ".svg")),
                       (output + ".svg", svg(result))):
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    print(f"wrote {output}.json, .md, .svg", file=sys.stderr)


def svg(r):
    """Grouped bars: each engine's median ms, one bar per thread count."""
    threads = sorted({rec["threads"] for rec in r["records"]})
    engines = []
    for rec in r["records"]:
        if rec["engine"] not in engines:
            engines.append(rec["engine"])
    by = {(rec["threads"], rec["engine"]): rec["median_ms"] for rec in r["records"]}
    top = max(by.values())
    width, height, left, bottom = 900, 420, 70, 120
    group = (width - left - 20) / len(engines)
    bar = group * 0.8 / len(threads)
    colors = ["#4C72B0", "#DD8452", "#55A868"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">RepLKNet-31B, batch 1, 224²: median ms per forward pass (lower is better)</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="30" x2="{left}" y2="{height - bottom}" stroke="black"/>']
    for i in range(5):
        v = top * i / 4
        y = height - bottom - (height - bottom - 30) * i / 4
        out.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{v:.0f}</text>')
        out.append(f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#ddd"/>')
    for e, engine in enumerate(engines):
        x0 = left + e * group + group * 0.1
        for k, t in enumerate(threads):
            v = by.get((t, engine))
            if v is None:
                continue
            h = (height - bottom - 30) * v / top
            out.append(f'<rect x="{x0 + k * bar:.1f}" y="{height - bottom - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" fill="{colors[k % 3]}">'
                       f'<title>{engine}, {t} thread(s): {v:.1f} ms</title></rect>')
        cx = x0 + group * 0.4
        out.append(f'<text transform="translate({cx:.1f},{height - bottom + 12}) rotate(30)" text-anchor="start">{engine}</text>')
    for k, t in enumerate(threads):
        out.append(f'<rect x="{width - 160}" y="{34 + 16 * k}" width="12" height="12" fill="{colors[k % 3]}"/>'
                   f'<text x="{width - 142}" y="{44 + 16 * k}">{t} thread{"s" if t > 1 else ""}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(r, svg_name):
    fp, speed = r["machine"]["fingerprint"], r["machine"]["speed"]
    md = ["# RepLKNet-31B in PyTorch with dwbench's kernels (`dwconv.torch.convert`)\n",
          f"Made by `{r['command']}`. Model: {r['model']}; PyTorch {r['torch']}; {r['dwconv']}. Machine: {fp['cpuModel']} "
          f"(family {fp.get('family', '?')}, model {fp.get('model', '?')}), FMA peak {speed['peakGflopsOneCore']:.0f} GFLOP/s on one core. "
          "Engines run round-robin in one process; each figure is the median of all its passes. The converted models use the "
          f"committed model plans of this machine and spin 0 unless noted. PyTorch's OpenMP wait policy: {r['omp_wait_policy']}.\n",
          f"![median ms per engine]({svg_name})\n",
          "| threads | engine | median ms | min–max ms | vs PyTorch eager |", "|---|---|---|---|---|"]
    for rec in r["records"]:
        md.append(f"| {rec['threads']} | {rec['engine']} | {rec['median_ms']:.1f} | {rec['min_ms']:.1f}–{rec['max_ms']:.1f} | "
                  f"{rec['speedup_vs_eager']:.2f}× |")
    md += ["", "Logits of the converted models against stock PyTorch's (float32 eager, compared in float64):", "",
           "| threads | engine | layers replaced | left in PyTorch | max relative error | same top-1 |", "|---|---|---|---|---|---|"]
    for c in r["checks"]:
        md.append(f"| {c['threads']} | {c['engine']} | {c['replaced']} | {c['left']} | {c['relative_error']:.1e} | {'yes' if c['same_top1'] else 'NO'} |")
    o = r["overhead"]
    md += ["", f"Per-call cost on a small layer (`{o['layer']}`, 1 thread): the C call through ctypes {o['c_call_us']:.2f} µs, "
           f"the Python API with numpy {o['python_numpy_us']:.2f} µs (+{o['python_numpy_us'] - o['c_call_us']:.2f} µs), with a torch "
           f"tensor {o['python_torch_us']:.2f} µs (+{o['python_torch_us'] - o['c_call_us']:.2f} µs).", ""]
    goals = []
    by = {(rec["threads"], rec["engine"]): rec for rec in r["records"]}
    for t in sorted({rec["threads"] for rec in r["records"]}):
        dw = by.get((t, "dwconv: depthwise"))
        if dw:
            goals.append(f"- depthwise only, {t} thread{'s' if t > 1 else ''}: {dw['speedup_vs_eager']:.2f}× eager (goal ≥ 3×: "
                         f"{'met' if dw['speedup_vs_eager'] >= 3 else '**missed**'})")
        both = by.get((t, "dwconv: depthwise + 1×1"))
        if both and t == 1:
            goals.append(f"- depthwise + 1×1, 1 thread: {both['speedup_vs_eager']:.2f}× eager (goal ≥ 4.5×: "
                         f"{'met' if both['speedup_vs_eager'] >= 4.5 else '**missed**'})")
    worst = max(c["relative_error"] for c in r["checks"])
    goals.append(f"- logits within 1e-4 relative, same top-1: worst {worst:.1e}, "
                 f"{'met' if worst <= 1e-4 and all(c['same_top1'] for c in r['checks']) else '**missed**'}")
    extra = max(o["python_numpy_us"], o["python_torch_us"]) - o["c_call_us"]
    goals.append(f"- Python overhead per call under 20 µs: +{extra:.1f} µs, {'met' if extra < 20 else '**missed**'}")
    md += ["Goals:", ""] + goals + [""]
    return "\n".join(md)


if __name__ == "__main__":
    main()
