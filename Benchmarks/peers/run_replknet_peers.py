#!/usr/bin/env python3
"""Times a whole RepLKNet forward pass on PyTorch (eager), ONNX Runtime and OpenVINO.

    python3 Benchmarks/peers/run_replknet_peers.py --config 31B --threads 1 --batch 1 --output peers.json
    python3 Benchmarks/peers/run_replknet_peers.py --threads 2 --batch 8 --engines onnxruntime,openvino,openvino-bf16

The model is Benchmarks/peers/replknet_torch.py with seeded random weights, re-parameterized the official way
(large kernels merged), in eval mode, fp32; exported to ONNX (opset 17) for ONNX Runtime (all graph
optimizations, which fuse each conv with its BN) and OpenVINO (CPU, LATENCY hint, f32 inference precision; engine
`openvino-bf16`: bf16 inference precision, what OpenVINO uses by default on CPUs with native bf16 — refused, with a
message, on a CPU whose OpenVINO plugin does not offer it).
Timing: one warm-up, then --repeat runs, median/min/max. Writes a JSON list of records
{engine, config, threads, batch, resolution, median_ms, min_ms, max_ms, images_per_s}. Creates the same virtual
environment as run_peers.py on first use; not part of CI.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_peers import ensure_venv  # noqa: E402


def timed(fn, repeat):
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[len(samples) // 2], samples[0], samples[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="31B")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--engines", default="onnxruntime,openvino,pytorch")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--output", help="write JSON here (default: stdout)")
    args = ap.parse_args()
    ensure_venv()
    import numpy as np
    import torch
    from replknet_torch import build

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = build(args.config).deploy().eval()
    x = np.random.default_rng(1).uniform(-1, 1, (args.batch, 3, args.resolution, args.resolution)).astype(np.float32)
    engines = args.engines.split(",")
    records = []

    def record(engine, fn):
        median, lo, hi = timed(fn, args.repeat)
        records.append({"engine": engine, "config": args.config, "threads": args.threads, "batch": args.batch,
                        "resolution": args.resolution, "median_ms": median * 1e3, "min_ms": lo * 1e3, "max_ms": hi * 1e3,
                        "images_per_s": args.batch / median})
        print(f"{engine:24} {args.threads}T batch {args.batch}: {median * 1e3:9.1f} ms", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "replknet.onnx")
        with torch.no_grad():
            torch.onnx.export(model, torch.from_numpy(x), path, input_names=["x"], output_names=["y"], opset_version=17,
                              dynamo=False)
        if "onnxruntime" in engines:
            import onnxruntime as ort
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = args.threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            record(f"onnxruntime-{ort.__version__}", lambda: sess.run(None, {"x": x}))
            del sess
        for engine in ("openvino", "openvino-bf16"):
            if engine not in engines:
                continue
            import openvino as ov
            core = ov.Core()
            precision = "bf16" if engine.endswith("bf16") else "f32"
            if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
                print(f"{engine}: this CPU's OpenVINO plugin has no BF16 capability; not measured", file=sys.stderr)
                continue
            compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_NUM_THREADS": args.threads,
                                                                         "PERFORMANCE_HINT": "LATENCY",
                                                                         "INFERENCE_PRECISION_HINT": precision})
            # What the compiled model really uses (an ov.Type such as bf16): a silent fall-back to f32 shows in the name.
            actual = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            request = compiled.create_infer_request()
            suffix = "" if precision == "f32" else f"-{actual}"
            record(f"openvino-{ov.__version__.split('-')[0]}{suffix}", lambda: request.infer({0: x}))
            del request, compiled
    if "pytorch" in engines:
        tx = torch.from_numpy(x)

        def run_torch():
            with torch.no_grad():
                model(tx)
        record(f"pytorch-{torch.__version__.split('+')[0]}-eager", run_torch)
    text = json.dumps(records, indent=2) + "\n"
    if args.output:
        with open(args.output + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.output + ".tmp", args.output)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
