#!/usr/bin/env python3
"""Checkpoint loading speed and memory of dwbench, side by side in one run, into a Markdown record.

For the full-size RepLKNet-31B checkpoint (make it with make_full_checkpoint.py; ~320 MB, not committed):
  - reading its bytes: `cat FILE > /dev/null`, warm (page cache), median wall time of --runs runs;
  - dwbench's load: `dwbench checkpoint FILE --format json` -> open (ZIP directory + pickle, or the
    safetensors header) + load (every weight reached in the mapped file and summed), in-process medians;
    and the whole process's wall time;
  - peak RSS of `dwbench replknet --checkpoint FILE --repeat 1 --threads 1` (the model built from it),
    for the .pth and the .safetensors, and optionally for an earlier dwbench binary on a safetensors file
    it can read (--baseline-binary, --baseline-checkpoint: the loader before .pth support converted every
    tensor to float32 arrays up front and refused int64 counters).

    python3 Benchmarks/checkpoint/load_speed.py --dir /tmp/ckpt [--baseline-binary B --baseline-checkpoint F] \
        --record Results/checkpoint-loading.md
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wall(cmd, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True, help="folder with replknet31b.pth and replknet31b.safetensors")
    p.add_argument("--dwbench", default=os.path.join(ROOT, ".build/release/dwbench"))
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--baseline-binary")
    p.add_argument("--baseline-checkpoint")
    p.add_argument("--record")
    a = p.parse_args()
    files = {"pth": os.path.join(a.dir, "replknet31b.pth"), "safetensors": os.path.join(a.dir, "replknet31b.safetensors")}
    rows, rss = [], []
    for kind, f in files.items():
        for _ in range(3):
            subprocess.run(f"cat {f} > /dev/null", shell=True, check=True)  # warm the page cache
        cat = wall(f"cat {f} > /dev/null", a.runs)
        summaries = [json.loads(subprocess.run([a.dwbench, "checkpoint", f, "--format", "json"], check=True, capture_output=True, text=True).stdout)
                     for _ in range(a.runs)]
        opened = statistics.median(s["open_seconds"] for s in summaries)
        loaded = statistics.median(s["open_seconds"] + s["load_seconds"] for s in summaries)
        copied = statistics.median(s["copy_seconds"] for s in summaries)
        process = wall(f"{a.dwbench} checkpoint {f} --format json", a.runs)
        s = summaries[0]
        rows.append((kind, os.path.getsize(f), cat, opened, loaded, copied, process, s["zero_copy_tensors"], s["tensors"]))
        run = json.loads(subprocess.run([a.dwbench, "replknet", "--checkpoint", f, "--repeat", "1", "--threads", "1", "--format", "json"],
                                        check=True, capture_output=True, text=True).stdout)
        rss.append((f"dwbench (this revision), {kind}", run["peak_memory_bytes"], run["weight_bytes"], run["median_ms"]))
    if a.baseline_binary:
        run = json.loads(subprocess.run([a.baseline_binary, "replknet", "--checkpoint", a.baseline_checkpoint, "--repeat", "1", "--threads", "1",
                                         "--format", "json"], check=True, capture_output=True, text=True).stdout)
        rss.append(("dwbench before .pth support, safetensors without counters", run["peak_memory_bytes"], run["weight_bytes"], run["median_ms"]))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu}, {os.cpu_count()} cores",
             "",
             f"RepLKNet-31B state dict with random weights, made by the official model code and saved by torch.save / "
             f"safetensors.torch.save_file (`Benchmarks/checkpoint/make_full_checkpoint.py`). Medians of {a.runs} runs, "
             "page cache warm. *Load* = open (ZIP directory and pickle, or the safetensors header) + reach every weight "
             "in the mapped file and sum it; *copy* = additionally copying every weight into a new float32 array "
             "(what the model build does as it consumes the tensors).",
             "",
             "| file | MB | `cat > /dev/null` | open | open + load | load / cat | copy all to float32 | whole `dwbench checkpoint` process | tensors read in place |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, size, cat, opened, loaded, copied, process, zc, n in rows:
        lines.append(f"| .{kind} | {size / 1e6:.1f} | {cat * 1e3:.1f} ms | {opened * 1e3:.1f} ms | {loaded * 1e3:.1f} ms | "
                     f"**{loaded / cat:.2f}×** | {copied * 1e3:.1f} ms | {process * 1e3:.1f} ms | {zc} of {n} |")
    lines += ["", "Peak RSS of `dwbench replknet --checkpoint FILE --repeat 1 --threads 1` (224², batch 1), the model built "
              "from the file:", "", "| run | peak RSS | fp32 weights | peak / weights | forward ms |", "|---|---|---|---|---|"]
    for name, peak, weights, ms in rss:
        lines.append(f"| {name} | {peak / 1e6:.0f} MB | {weights / 1e6:.0f} MB | {peak / weights:.2f}× | {ms:.1f} |")
    if len(rss) > 2:
        lines += ["", f"The .pth path's peak is {rss[0][1] / rss[2][1]:.2f}× the earlier safetensors path's "
                  f"({(rss[0][1] - rss[2][1]) / rss[0][2]:+.2f}× the weights)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.record:
        header = "# Checkpoint loading\n\nMade by `python3 Benchmarks/checkpoint/load_speed.py`; newest run first.\n\n"
        old = ""
        if os.path.exists(a.record):
            with open(a.record) as f:
                old = f.read()
            old = old[len(header):] if old.startswith(header) else old
        tmp = a.record + ".tmp"
        with open(tmp, "w") as f:
            f.write(header + text + ("\n" + old if old else ""))
        os.replace(tmp, a.record)


main()
