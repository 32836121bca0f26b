#!/usr/bin/env python3
"""Writes Results/bf16.md and Results/bf16-latency.svg from the whole-model results of one run of
Benchmarks/replknet_results.sh: dwbench fp32 and bf16 (Results/replknet-31b[-bf16]-<T>t-b<N>.json) and the peers
measured right before them (Results/peers-replknet31b-<T>t-b<N>.json: OpenVINO f32 and bf16, ONNX Runtime, PyTorch),
plus the accuracy record (Results/bf16-accuracy.json) when present. Standard library only.

    python3 Benchmarks/bf16/page.py
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "Results")
SETTINGS = [(1, 1), (2, 1), (1, 8), (2, 8)]


def load(name):
    path = os.path.join(RESULTS, name)
    return json.load(open(path)) if os.path.exists(path) else None


def pointwise_share(report):
    """1×1 layers that ran in bf16: their FLOPs / time as a share of the bf16 dot-product peak, and their time."""
    layers = [l for l in report["layers"] if l["op"] == "pointwise" and l["precision"] == "bf16"]
    if not layers or not report.get("bf16_peak_gflops"):
        return None, None
    flops = sum(l["flops"] for l in layers)
    ms = sum(l["measured_ms"] for l in layers)
    return flops / (ms / 1e3) / 1e9 / report["bf16_peak_gflops"], ms


def main():
    rows, bars = [], []
    for t, n in SETTINGS:
        fp32 = load(f"replknet-31b-{t}t-b{n}.json")
        bf16 = load(f"replknet-31b-bf16-{t}t-b{n}.json")
        peers = {p["engine"]: p for p in (load(f"peers-replknet31b-{t}t-b{n}.json") or [])}
        if not fp32 or not bf16:
            continue
        ov32 = next((p for e, p in peers.items() if e.startswith("openvino") and "bf16" not in e), None)
        ov16 = next((p for e, p in peers.items() if e.startswith("openvino") and "bf16" in e), None)
        ort = next((p for e, p in peers.items() if e.startswith("onnxruntime")), None)
        torch = next((p for e, p in peers.items() if e.startswith("pytorch")), None)
        share, pw_ms = pointwise_share(bf16)
        rows.append(dict(t=t, n=n, fp32=fp32, bf16=bf16, ov32=ov32, ov16=ov16, ort=ort, torch=torch, share=share, pw_ms=pw_ms))
    if not rows:
        raise SystemExit("page.py: no Results/replknet-31b-bf16-*.json: run bash Benchmarks/replknet_results.sh first")

    def ms(r):
        return f"{r['median_ms']:.1f}" if r else "—"

    def ratio(a, b):
        return f"{a['median_ms'] / b['median_ms']:.2f}×" if a and b else "—"

    machine = load("machine.json") or {}
    fp = machine.get("fingerprint", {})
    speed = machine.get("speed", {})
    md = ["# bf16: RepLKNet-31B in both precisions, dwbench and OpenVINO\n",
          f"Machine: {fp.get('cpuModel', '?')} (family {fp.get('family', '?')}, model {fp.get('model', '?')}); one core: "
          f"{speed.get('peakGflopsOneCore', 0):.0f} GFLOP/s fp32 FMA, {speed.get('bf16PeakGflopsOneCore', 0):.0f} GFLOP/s "
          f"bf16 dot products (`vdpbf16ps`). Made by `bash Benchmarks/replknet_results.sh` (the peers, then dwbench fp32 "
          "and bf16, per setting, in one run) and `python3 Benchmarks/bf16/page.py`. Deployed RepLKNet-31B, 224², seeded "
          "random weights; median of 10 passes (dwbench) or 5 (peers). dwbench bf16 = `dwbench replknet --precision bf16` "
          "with its own tuned plan: 1×1 layers and the stem's GEMM in bf16 (fp32 accumulation), depthwise layers fp32. "
          "OpenVINO bf16 = `INFERENCE_PRECISION_HINT=bf16`, its default on this CPU.\n",
          "| threads | batch | dwbench fp32 ms | dwbench bf16 ms | OpenVINO f32 ms | OpenVINO bf16 ms | ONNX Runtime ms | "
          "PyTorch ms | dwbench bf16 / OpenVINO bf16 | dwbench fp32 / OpenVINO f32 |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['t']} | {r['n']} | {r['fp32']['median_ms']:.1f} | **{r['bf16']['median_ms']:.1f}** | {ms(r['ov32'])} | "
                  f"{ms(r['ov16'])} | {ms(r['ort'])} | {ms(r['torch'])} | **{ratio(r['bf16'], r['ov16'])}** | "
                  f"{ratio(r['fp32'], r['ov32'])} |")
    md.append("\nThroughput at batch 8 (images/s):\n")
    md.append("| threads | dwbench fp32 | dwbench bf16 | OpenVINO f32 | OpenVINO bf16 | dwbench bf16 / OpenVINO bf16 |")
    md.append("|---|---|---|---|---|---|")
    for r in rows:
        if r["n"] != 8:
            continue
        ips = lambda x: f"{x['images_per_s']:.2f}" if x else "—"  # noqa: E731
        tp = f"{r['bf16']['images_per_s'] / r['ov16']['images_per_s']:.2f}×" if r["ov16"] else "—"
        md.append(f"| {r['t']} | {ips(r['fp32'])} | {ips(r['bf16'])} | {ips(r['ov32'])} | {ips(r['ov16'])} | **{tp}** |")
    md.append("\n1×1 layers in the bf16 network (all of them, in layer order, as the model runs them): their FLOPs per "
              "second as a share of the measured bf16 dot-product peak for that thread count.\n")
    md.append("| threads | batch | 1×1 time ms | share of bf16 peak |")
    md.append("|---|---|---|---|")
    for r in rows:
        if r["share"] is not None:
            md.append(f"| {r['t']} | {r['n']} | {r['pw_ms']:.1f} | {100 * r['share']:.0f}% |")
    md.append("\n![latency per image](bf16-latency.svg)\n")
    accuracy = load("bf16-accuracy.json")
    if accuracy:
        md.append("## Accuracy\n")
        md.append("Against PyTorch float64 on the same inputs (the four fixture photos at 224²; details in "
                  "[bf16-accuracy.md](bf16-accuracy.md)). Error = max|Δlogits| / max|logits|, the worst image.\n")
        md.append("| model | dwbench fp32 | dwbench bf16 | OpenVINO f32 | OpenVINO bf16 | bf16 top-1 (dwbench / OpenVINO) | "
                  "dwbench bf16 / OpenVINO bf16 error |")
        md.append("|---|---|---|---|---|---|---|")
        for c in accuracy["cases"]:
            e = c["engines"]
            ov32 = next(v for k, v in e.items() if k.startswith("openvino") and k.endswith("f32"))
            ov16 = next(v for k, v in e.items() if k.startswith("openvino") and k.endswith("bf16"))
            md.append(f"| {c['case']} | {e['dwbench fp32']['max_rel_error']:.1e} | {e['dwbench bf16']['max_rel_error']:.1e} | "
                      f"{ov32['max_rel_error']:.1e} | {ov16['max_rel_error']:.1e} | "
                      f"{e['dwbench bf16']['top1_agreement']:.2f} / {ov16['top1_agreement']:.2f} | "
                      f"**{c['ratio_to_openvino_bf16']:.2f}** ({'met' if c['contract_met'] else 'not met'}; ≤ {accuracy['factor']}) |")
    with open(os.path.join(RESULTS, "bf16.md.tmp"), "w") as f:
        f.write("\n".join(md) + "\n")
    os.replace(os.path.join(RESULTS, "bf16.md.tmp"), os.path.join(RESULTS, "bf16.md"))
    write_svg(rows)


def write_svg(rows):
    """Grouped bars: ms per image for each setting and engine."""
    engines = [("dwbench fp32", "fp32", "#1f77b4"), ("dwbench bf16", "bf16", "#0b3d91"),
               ("OpenVINO f32", "ov32", "#ff7f0e"), ("OpenVINO bf16", "ov16", "#a84300")]
    values = [[(r[key]["median_ms"] / r["n"]) if r[key] else None for _, key, _ in engines] for r in rows]
    top = max(v for vs in values for v in vs if v) * 1.15
    width, height, left, bottom, group = 760, 360, 60, 60, 170
    bar = 32
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">RepLKNet-31B, 224²: ms per image (lower is better)</text>']
    plot_h = height - bottom - 40
    for i in range(5):
        v = top * i / 4
        y = height - bottom - plot_h * i / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for g, (r, vs) in enumerate(zip(rows, values)):
        x0 = left + 20 + g * group
        for k, v in enumerate(vs):
            if v is None:
                continue
            h = plot_h * v / top
            x = x0 + k * bar
            out.append(f'<rect x="{x}" y="{height - bottom - h:.1f}" width="{bar - 4}" height="{h:.1f}" fill="{engines[k][2]}"/>')
            out.append(f'<text x="{x + (bar - 4) / 2}" y="{height - bottom - h - 4:.1f}" text-anchor="middle" font-size="10">{v:.0f}</text>')
        out.append(f'<text x="{x0 + 2 * bar - 2}" y="{height - bottom + 18}" text-anchor="middle">{r["t"]} thread{"s" if r["t"] > 1 else ""}, batch {r["n"]}</text>')
    for k, (name, _, color) in enumerate(engines):
        x = left + k * 160
        out.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{x + 18}" y="{height - 12}">{name}</text>')
    out.append("</svg>")
    with open(os.path.join(RESULTS, "bf16-latency.svg.tmp"), "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(os.path.join(RESULTS, "bf16-latency.svg.tmp"), os.path.join(RESULTS, "bf16-latency.svg"))


if __name__ == "__main__":
    main()
