#!/usr/bin/env python3
"""Times the same depthwise problems on PyTorch, ONNX Runtime and OpenVINO, side by side with dwbench.

Usage (creates its own virtual environment on first use; not part of CI):
    python3 Benchmarks/peers/run_peers.py --shapes Benchmarks/shapes/headline.txt --threads 1 --output peers-1t.json
    python3 Benchmarks/peers/run_peers.py --shapes n1c384h32w32k31s1p15 --threads 2 --engines onnxruntime

Writes a JSON list of records in the record format of `dwbench bench --format json` (problem, algorithm, layout,
threads, status, median_ms, min_ms, max_ms, gflops, …), one per (engine × problem), so the two line up.
Timing mirrors dwbench: one warm-up run, iterations grown until a repetition lasts --min-time seconds,
--repetitions repetitions, median and min–max; warm caches; fp32; NCHW input as each engine takes it, and
PyTorch on channels_last tensors as a separate engine (`--engines pytorch-cl`, records `pytorch-…-cl`, layout
nhwc), its fastest CPU layout. To keep one engine's threads and caches from another's, run one engine per process
(Benchmarks/family/family_page.py does).
Problems take every form dwbench does (rectangular kernels, per-axis stride and padding, dilation), parsed by
Benchmarks/plan/dwplan.py's reader of the text form.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.environ.get("DWBENCH_PEERS_VENV", os.path.join(HERE, ".venv"))
PACKAGES = ["numpy", "torch", "onnx", "onnxruntime", "openvino"]
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "plan"))
from dwplan import PlanError, parse_problem  # noqa: E402  (the text form's one Python reader)


def ensure_venv():
    """Re-executes this script inside a virtual environment that has the peer packages."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {VENV} and installing {' '.join(PACKAGES)} (one time) ...", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([python, "-m", "pip", "install", "-q", *PACKAGES])
    os.execv(python, [python, *sys.argv])


def parse_shapes(spec):
    """A shape file path, or comma-separated problem text forms. Returns [(name, problem-text, dims)]."""
    if os.path.exists(spec):
        out = []
        for line in open(spec):
            fields = line.split("#", 1)[0].split()
            if fields:
                out.append((fields[0], fields[1]))
    else:
        out = [(p, p) for p in spec.split(",") if p]
    result = []
    seen = set()
    for name, text in out:
        try:
            dims = parse_problem(text)
        except PlanError as e:
            sys.exit(f"run_peers.py: {e}")
        if dims["kind"] != "depthwise":
            sys.exit(f"run_peers.py: {text} is not a depthwise problem")
        if text in seen:
            continue
        seen.add(text)
        result.append((name, text, dims))
    return result


def measure(fn, min_time, repetitions):
    fn()  # warm-up
    iterations, estimate = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(iterations):
            fn()
        estimate = (time.perf_counter() - t0) / iterations
        if estimate * iterations >= min_time:
            break
        iterations = max(iterations * 2, min(int(min_time / max(estimate, 1e-9)) + 1, iterations * 100))
    samples = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter() - t0) / iterations)
    samples.sort()
    mid = len(samples) // 2
    median = samples[mid] if len(samples) % 2 else 0.5 * (samples[mid - 1] + samples[mid])
    return median, samples[0], samples[-1], iterations, len(samples)


def output_size(d):
    return ((d["h"] + 2 * d["ph"] - d["dh"] * (d["kh"] - 1) - 1) // d["sh"] + 1,
            (d["w"] + 2 * d["pw"] - d["dw"] * (d["kw"] - 1) - 1) // d["sw"] + 1)


def onnx_model(d, weight):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=d["c"], kernel_shape=[d["kh"], d["kw"]], strides=[d["sh"], d["sw"]],
                            pads=[d["ph"], d["pw"], d["ph"], d["pw"]], dilations=[d["dh"], d["dw"]])
    oh, ow = output_size(d)
    graph = helper.make_graph([node], "dw",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [d["n"], d["c"], d["h"], d["w"]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [d["n"], d["c"], oh, ow])],
                              [numpy_helper.from_array(weight, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def runners(engines, threads, d, x, weight):
    """(engine, layout, function) for each engine asked for."""
    stride, padding, dilation = (d["sh"], d["sw"]), (d["ph"], d["pw"]), (d["dh"], d["dw"])
    if "pytorch" in engines or "pytorch-cl" in engines:
        import torch
        torch.set_num_threads(threads)
        version = torch.__version__.split('+')[0]
        layouts = [("nchw", torch.contiguous_format)] * ("pytorch" in engines) + [("nhwc", torch.channels_last)] * ("pytorch-cl" in engines)
        for layout, memory in layouts:
            tx = torch.from_numpy(x).contiguous(memory_format=memory)
            tw = torch.from_numpy(weight).contiguous(memory_format=memory)

            def run_torch(tx=tx, tw=tw):
                with torch.no_grad():
                    torch.nn.functional.conv2d(tx, tw, None, stride, padding, dilation, d["c"])
            yield f"pytorch-{version}" + ("-cl" if layout == "nhwc" else ""), layout, run_torch
    if "onnxruntime" in engines:
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(onnx_model(d, weight), opts, providers=["CPUExecutionProvider"])
        yield f"onnxruntime-{ort.__version__}", "nchw", lambda: sess.run(None, {"x": x})
    if "openvino" in engines:
        import openvino as ov
        core = ov.Core()
        model = core.read_model(onnx_model(d, weight))
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                      "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        yield f"openvino-{ov.__version__.split('-')[0]}", "nchw", lambda: request.infer({0: x})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", required=True, help="shape file or comma-separated problems")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--engines", default="pytorch,pytorch-cl,onnxruntime,openvino")
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--output", help="write JSON here (default: stdout)")
    args = ap.parse_args()
    ensure_venv()
    import numpy as np
    engines = set(args.engines.split(","))
    records = []
    for name, text, d in parse_shapes(args.shapes):
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, (d["n"], d["c"], d["h"], d["w"])).astype(np.float32)
        weight = rng.uniform(-1, 1, (d["c"], 1, d["kh"], d["kw"])).astype(np.float32)
        oh, ow = output_size(d)
        flops = 2.0 * d["n"] * d["c"] * oh * ow * d["kh"] * d["kw"]
        for engine, layout, fn in runners(engines, args.threads, d, x, weight):
            median, lo, hi, iters, reps = measure(fn, args.min_time, args.repetitions)
            records.append({"problem": text, "algorithm": engine, "layout": layout, "threads": args.threads,
                            "status": "ok", "median_ms": median * 1e3, "min_ms": lo * 1e3, "max_ms": hi * 1e3,
                            "gflops": flops / median / 1e9, "iterations": iters, "repetitions": reps,
                            "fastest": False, "layer": name})
            print(f"{text:28} {engine:24} {median * 1e3:9.3f} ms {flops / median / 1e9:8.1f} GFLOP/s", file=sys.stderr)
    text = json.dumps(records, indent=2) + "\n"
    if args.output:
        tmp = args.output + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.output)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
