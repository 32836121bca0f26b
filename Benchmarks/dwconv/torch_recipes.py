#!/usr/bin/env python3
"""dwconv inside PyTorch against PyTorch's strongest CPU inference recipes (torch.compile, Inductor freezing,
channels_last, bf16 autocast), on RepLKNet-31B and three timm models with depthwise convolutions.

    swift build -c release
    /work/tvenv/bin/python Benchmarks/dwconv/torch_recipes.py                       # everything, Results/dwconv-torch-recipes.*
    /work/tvenv/bin/python Benchmarks/dwconv/torch_recipes.py --models convnext_tiny --threads 1 --batches 1 \\
        --engines eager-cl,compile-freeze-cl --rounds 1 --repeat 1 --resolution 64 --output /tmp/smoke   # a smoke test
    /work/tvenv/bin/python Benchmarks/dwconv/torch_recipes.py --render-only         # md + svg again from the json

Replaces the comparison of Benchmarks/dwconv/torch_convert.py, whose only PyTorch engine was NCHW eager.
Needs a Python with torch, timm and numpy (openvino and onnx for the OpenVINO engines); the dwconv package is
taken from --dwconv-src (Python/dwconv/src) and the library and CLI from --build (.build/release).

Models: replknet31b (Benchmarks/peers/replknet_torch.py, build("31B").deploy(): large kernels merged),
timm convnext_tiny, edgenext_small, inception_next_tiny (timm.create_model(name, pretrained=False)); all with
seeded random weights (torch.manual_seed(0) before building), eval mode, input seeded uniform(-1, 1) at
--resolution² (224), batches 1 and 8 (batch 1 is the first image of batch 8).

Engines (one configuration string each):
  eager-cl                        channels_last model and input, eager, under torch.inference_mode()
  compile                         torch.compile(model), default mode, NCHW
  compile-freeze-cl               torch._inductor.config.freezing = True, channels_last model and input, torch.compile
  compile-freeze-cl-bf16          the same under torch.autocast("cpu", dtype=torch.bfloat16)
  dwconv-eager-cl                 dwconv.torch.convert(channels_last model, pointwise=True, linear=True, example_input=x), eager
  dwconv-compile-freeze-cl        the converted model with the compile-freeze-cl recipe
  dwconv-compile-freeze-cl-bf16   the same under bf16 autocast
  RepLKNet only:
  dwbench-replknet[-bf16]         `dwbench replknet --precision fp32|bf16` with the same weights (a .pth of the
                                  PyTorch model's state dict) and input, the committed model plan
  openvino-f32, openvino-bf16     OpenVINO CPU on the model exported to ONNX (opset 17), LATENCY hint,
                                  INFERENCE_PRECISION_HINT f32 / bf16 (bf16 refused where the plugin lacks it)
RepLKNet's dwconv engines use the committed model plan (Results/plan-replknet31b-model[-bf16]-<T>t-b<N>.json) at
224² unless --no-plans; the timm models run on dwconv's heuristic.

Isolation: every (model, engine, threads, batch) measurement is its own fresh Python process (OMP_NUM_THREADS
and torch.set_num_threads = threads), so no engine inherits another's threads, caches or compiled code. Rounds
are interleaved: the configurations are shuffled once (fixed seed) and each round runs all of them in that
order. A child builds the model, converts/compiles it, warms up (2 calls eager and OpenVINO, 3 compiled; the first
compiled call's time is reported as compile seconds), times --repeat calls with time.perf_counter and prints
JSON. One extra child per model computes float64 reference logits (model.double()) of the same input; every
child reports its max relative logits error (max |y - ref| / max |ref|) against them. A configuration that
fails records its one-line error, and the page shows it.

Writes <output>.json (every sample, machine and versions), <output>.md (per model: median ms per engine and
thread/batch column, speed-ups of the dwconv paths over the best PyTorch recipe of the same precision,
accuracy, goals) and <output>.svg (batch 1, speed-up over the best PyTorch fp32 recipe).
"""
import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

MODELS = ["replknet31b", "convnext_tiny", "edgenext_small", "inception_next_tiny"]
PYTORCH_FP32 = ["eager-cl", "compile", "compile-freeze-cl"]
PYTORCH_BF16 = ["compile-freeze-cl-bf16"]
DWCONV = ["dwconv-eager-cl", "dwconv-compile-freeze-cl", "dwconv-compile-freeze-cl-bf16"]
REPLKNET_ONLY = ["dwbench-replknet", "dwbench-replknet-bf16", "openvino-f32", "openvino-bf16"]
ENGINES = PYTORCH_FP32 + PYTORCH_BF16 + DWCONV + REPLKNET_ONLY
# The large-kernel family's official models (issue 26), built from the official code by the builders of
# Benchmarks/shapes/family_shapes.py (the code at its pinned commits, in DWBENCH_MODEL_CODE: SLaK/, LSKNet/, UniRepLKNet/).
FAMILY = {"slak_t": "slak-t", "lsknet_s": "lsknet-s", "unireplknet_t": "unireplknet-t", "unireplknet_t_deploy": "unireplknet-t-deploy"}
MODEL_NAMES = {"replknet31b": "RepLKNet-31B (deployed)", "convnext_tiny": "ConvNeXt-T (timm convnext_tiny)",
               "edgenext_small": "EdgeNeXt-S (timm edgenext_small)",
               "inception_next_tiny": "InceptionNeXt-T (timm inception_next_tiny)",
               "slak_t": "SLaK-T (official code; iGEMM layers as the nn.Conv2d they compute)",
               "lsknet_s": "LSKNet-S backbone (official code; its four feature maps)",
               "unireplknet_t": "UniRepLKNet-T, training form (official code)",
               "unireplknet_t_deploy": "UniRepLKNet-T, deployed (official code)"}


def is_bf16(engine):
    return engine.endswith("bf16")


def applies(model, engine):
    return model == "replknet31b" or engine not in REPLKNET_ONLY


# ---------------------------------------------------------------------------------------------------------------
# Child: one measurement (or the reference) in a fresh process.

class _Flat:
    """Wraps a model whose output is a list or tuple of tensors (LSKNet's backbone) into one of flattened, concatenated
    outputs, so that every engine's output is compared as one vector."""

    @staticmethod
    def wrap(model):
        import torch

        class Flat(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return torch.cat([y.flatten(1) for y in self.inner(x)], 1)
        return Flat(model)


def _slak_plain_convs(model):
    """SLaK's depthwise layers are DepthWiseConv2dImplicitGEMM, a CUDA-only extension whose kernel pads K/2 on each axis
    while the module says padding 0; on a CPU they are exactly nn.Conv2d(padding=K/2) with the same weights."""
    import torch
    for name, m in list(model.named_modules()):
        if type(m).__name__ == "DepthWiseConv2dImplicitGEMM":
            k = m.kernel_size
            plain = torch.nn.Conv2d(m.in_channels, m.out_channels, k, 1, (k[0] // 2, k[1] // 2), groups=m.groups,
                                    bias=m.bias is not None)
            plain.load_state_dict(m.state_dict())
            parent_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, attr, plain)
    return model


def build_family(name):
    code = os.environ.get("DWBENCH_MODEL_CODE")
    if not code:
        raise RuntimeError(f"{name} is built from its official code: set DWBENCH_MODEL_CODE to a directory holding "
                           "SLaK/, LSKNet/ and UniRepLKNet/ at the commits pinned in Benchmarks/shapes/family_shapes.py")
    sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "shapes"))
    import family_shapes as fs
    spec = fs.MODELS[FAMILY[name]]
    root = os.path.join(code, fs.PINNED[spec.repo]["dir"])
    fs.verify_code(spec.repo, root)
    model = spec.build(root)
    if isinstance(model, tuple):         # the deployed UniRepLKNet builder returns (model, its training-form twin)
        model = model[0]
    if name == "slak_t":
        model = _slak_plain_convs(model)
    if name == "lsknet_s":
        model = _Flat.wrap(model)
    return model.eval()


def build_model(name):
    import torch
    torch.manual_seed(0)
    if name in FAMILY:
        return build_family(name)
    if name == "replknet31b":
        sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "peers"))
        from replknet_torch import build
        return build("31B").deploy().eval()
    import timm
    return timm.create_model(name, pretrained=False).eval()


def child(cfg):
    """Runs one configuration; returns the result dict (raises on failure, the caller reports it)."""
    import warnings
    import numpy as np
    import torch
    t, b, engine = cfg["threads"], cfg["batch"], cfg["engine"]
    # Denormals flushed for every PyTorch engine alike, before any thread starts (PyTorch's OpenMP workers,
    # created later, inherit the setting): the seeded random weights put denormal activations in RepLKNet's
    # stem, which cost both PyTorch's and dwconv's kernels time that real weights would not.
    torch.set_flush_denormal(True)
    torch.set_num_threads(t)
    x_np = np.ascontiguousarray(np.load(cfg["input"])[:b])
    out = {"warnings": []}
    model = build_model(cfg["model"])
    x = torch.from_numpy(x_np)

    if engine == "reference":
        with torch.inference_mode():
            y = model.double()(x.double())
        np.save(cfg["reference"], y.numpy())
        return out

    caught = warnings.catch_warnings(record=True)
    log = caught.__enter__()
    warnings.simplefilter("always")
    try:
        fn, compiled, grad_ctx, logits_of = setup(engine, cfg, model, x, out)
    finally:
        caught.__exit__(None, None, None)
    out["warnings"] += sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}" for w in log
                               if issubclass(w.category, UserWarning) and "dwconv" in (w.category.__module__ + str(w.message)).lower()})

    if fn is None:      # dwbench-replknet: timed by the CLI itself
        y = logits_of(None)
    else:
        warm = 3 if compiled else 2
        with grad_ctx():
            t0 = time.perf_counter()
            y = fn()
            first = time.perf_counter() - t0
            for _ in range(warm - 1):
                y = fn()
            samples = []
            for _ in range(cfg["repeat"]):
                t0 = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t0)
        out["samples_ms"] = [s * 1e3 for s in samples]
        out["first_call_s"] = first
        if compiled:
            out["compile_s"] = first
            import torch._dynamo.utils as du
            out["graph_breaks"] = int(sum(du.counters["graph_break"].values()))
        y = logits_of(y)
    y = np.asarray(y, dtype=np.float64).reshape(b, -1)
    ref = np.load(cfg["reference"])[:b]
    out["relative_error"] = float(np.abs(y - ref).max() / np.abs(ref).max())
    out["same_top1"] = float((y.argmax(1) == ref.argmax(1)).mean())
    out["checksum"] = float(y.sum())
    out["finite"] = bool(np.isfinite(y).all())
    return out


def setup(engine, cfg, model, x, out):
    """(fn, compiled, grad context factory, logits_of) for an engine."""
    import torch
    t, b = cfg["threads"], cfg["batch"]
    as_np = lambda y: y.float().numpy()  # noqa: E731
    if engine.startswith("dwbench-replknet"):
        return dwbench_setup(engine, cfg, model, x, out)
    if engine.startswith("openvino"):
        return openvino_setup(engine, cfg, model, x, out)
    cl = engine.endswith("-cl") or "-cl-" in engine
    compiled = "compile" in engine
    bf16 = is_bf16(engine)
    if cl:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if engine.startswith("dwconv-"):
        import dwconv.torch as dwt
        # example_input: each depthwise layer (and nn.Linear over NHWC: linear=True) keeps libdwconv only where it measured faster than PyTorch
        # on this input, per dtype (the convert-time measurement is outside the timed calls).
        kwargs = {"pointwise": True, "linear": True, "example_input": x}
        plan = cfg.get("plan_bf16" if bf16 else "plan")
        if plan:
            kwargs["plan"] = plan
        t0 = time.perf_counter()
        converted = dwt.convert(model, **kwargs)
        out["convert_s"] = time.perf_counter() - t0
        report = converted.dwconv_report
        model = converted
        out["depthwise_left"] = sum(1 for m in converted.modules() if isinstance(m, torch.nn.Conv2d)
                                    and m.groups == m.in_channels == m.out_channels)
        if report is not None:
            out["replaced"] = len(getattr(report, "replaced", []))
            out["left"] = len(getattr(report, "left", []))
            out["left_reasons"] = sorted({str(why)[:160] for _, why in getattr(report, "left", [])})[:8]
        out["plan"] = os.path.relpath(plan, ROOT) if plan else None
    if compiled:
        if "freeze" in engine:
            import torch._inductor.config as ic
            ic.freezing = True
        model = torch.compile(model)
    if bf16:
        def grad_ctx():
            import contextlib
            stack = contextlib.ExitStack()
            stack.enter_context(torch.no_grad())
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
            return stack
    else:
        grad_ctx = torch.no_grad if compiled else torch.inference_mode
    return (lambda: model(x)), compiled, grad_ctx, as_np


def dwbench_setup(engine, cfg, model, x, out):
    import numpy as np
    import torch
    dwbench = os.path.join(cfg["build"], "dwbench")
    tmp = cfg["tmp"]
    tag = f"{os.getpid()}"
    ckpt, xin, yout = (os.path.join(tmp, f"{tag}-{n}") for n in ("weights.pth", "input.npy", "logits.npy"))
    torch.save(model.state_dict(), ckpt)
    np.save(xin, x.numpy())
    precision = "bf16" if is_bf16(engine) else "fp32"
    cmd = [dwbench, "replknet", "--checkpoint", ckpt, "--input", xin, "--output", yout, "--threads", str(cfg["threads"]),
           "--repeat", str(cfg["repeat"]), "--precision", precision, "--format", "json"]
    plan = cfg.get("plan_bf16" if precision == "bf16" else "plan")
    if plan:
        cmd += ["--plan", plan]
        out["plan"] = os.path.relpath(plan, ROOT)
    p = subprocess.run(cmd, capture_output=True, text=True)
    for f in (ckpt, xin):
        os.remove(f)
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        raise RuntimeError(f"dwbench replknet exit {p.returncode}: {lines[-1] if lines else ''}")
    r = json.loads(p.stdout)
    out["samples_ms"] = [r["median_ms"]]
    out["cli"] = {"median_ms": r["median_ms"], "min_ms": r["min_ms"], "max_ms": r["max_ms"], "repeat": cfg["repeat"],
                  "precision": r.get("precision"), "setup_s": r.get("setup_seconds")}
    out["warnings"] += [ln[:200] for ln in p.stderr.splitlines() if ln.startswith("warning:") and "plan" in ln]

    def logits(_):
        y = np.load(yout)
        os.remove(yout)
        return y
    return None, False, None, logits


def openvino_setup(engine, cfg, model, x, out):
    import torch
    import openvino as ov
    core = ov.Core()
    precision = "bf16" if is_bf16(engine) else "f32"
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise RuntimeError("this CPU's OpenVINO plugin has no BF16 capability")
    path = os.path.join(cfg["tmp"], f"model-{os.getpid()}.onnx")
    with torch.no_grad():
        torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    t0 = time.perf_counter()
    compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_NUM_THREADS": cfg["threads"],
                                                                 "PERFORMANCE_HINT": "LATENCY",
                                                                 "INFERENCE_PRECISION_HINT": precision})
    out["compile_s"] = time.perf_counter() - t0
    for f in os.listdir(cfg["tmp"]):
        if f.startswith(f"model-{os.getpid()}"):
            os.remove(os.path.join(cfg["tmp"], f))
    out["openvino"] = {"version": ov.__version__, "precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()}
    request = compiled.create_infer_request()
    xn = x.numpy()
    import contextlib
    return (lambda: request.infer({0: xn})[0]), False, contextlib.nullcontext, lambda y: y


def child_main(path):
    with open(path) as f:
        cfg = json.load(f)
    try:
        out = child(cfg)
        out["ok"] = True
    except Exception as e:  # noqa: BLE001 — any failure is the measurement's result
        import traceback
        traceback.print_exc(file=sys.stderr)
        first = (str(e).strip().splitlines() or [""])[0]
        frames = traceback.extract_tb(e.__traceback__)
        where = ""
        if frames:      # the innermost frame: an assert's message is often empty
            f = frames[-1]
            short = "/".join(f.filename.split(os.sep)[-2:])
            where = f" (at {short}:{f.lineno} in {f.name})"
        out = {"ok": False, "error": (f"{type(e).__name__}: {first}"[:260] + where)[:400]}
    sys.stdout.flush()
    print("\nRESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Parent.

def run_child(cfg, tmp, python, timeout):
    path = os.path.join(tmp, "cfg.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, OMP_NUM_THREADS=str(cfg["threads"]), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([cfg["dwconv_src"]] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("DWCONV_LIBRARY", os.path.join(cfg["build"], "libdwconv.so"))
    t0 = time.perf_counter()
    try:
        p = subprocess.run([python, os.path.abspath(__file__), "--child", path], capture_output=True, text=True, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s", "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            out = json.loads(line[len("RESULT "):])
            break
    else:
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        out = {"ok": False, "error": f"process exit {p.returncode}: {lines[-1][:250] if lines else 'no output'}"}
    out["wall_s"] = wall
    return out


def plans(model, threads, batch, resolution, use):
    if not use or model != "replknet31b" or resolution != 224:
        return None, None
    found = []
    for kind in ("", "-bf16"):
        p = os.path.join(ROOT, "Results", f"plan-replknet31b-model{kind}-{threads}t-b{batch}.json")
        found.append(p if os.path.exists(p) else None)
    return found[0], found[1]


def machine_info(build):
    info = {"cpu": "?", "family": None, "model": None, "cores": os.cpu_count(), "avx512_bf16": False,
            "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and info["cpu"] == "?":
                    info["cpu"] = value
                elif key == "cpu family" and info["family"] is None:
                    info["family"] = int(value)
                elif key == "model" and info["model"] is None:
                    info["model"] = int(value)
                elif key == "flags":
                    info["avx512_bf16"] = "avx512_bf16" in value.split()
    except OSError:
        pass
    import torch
    info["torch"] = torch.__version__
    info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["torch_parallel"] = next((ln.strip() for ln in torch.__config__.parallel_info().splitlines()
                                   if "backend" in ln.lower()), None)
    for mod in ("timm", "numpy", "openvino"):
        try:
            info[mod] = __import__(mod).__version__.split("-")[0]
        except Exception:  # noqa: BLE001
            info[mod] = None
    try:
        info["dwbench"] = subprocess.run([os.path.join(build, "dwbench"), "--version"], capture_output=True, text=True,
                                         timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001
        info["dwbench"] = None
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="timed calls per measurement (after the warm-up)")
    ap.add_argument("--resolution", type=int, default=224, help="input side (a multiple of 32; smaller for smoke tests)")
    ap.add_argument("--output", default=os.path.join(ROOT, "Results", "dwconv-torch-recipes"))
    ap.add_argument("--build", default=os.path.join(ROOT, ".build", "release"), help="where dwbench and libdwconv.so are")
    ap.add_argument("--dwconv-src", default=os.path.join(ROOT, "Python", "dwconv", "src"), help="the dwconv package's source root")
    ap.add_argument("--no-plans", action="store_true", help="RepLKNet's dwconv/dwbench engines without the committed plans")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a child is killed and recorded as failed")
    ap.add_argument("--seed", type=int, default=2024, help="seed of the configuration order")
    ap.add_argument("--render-only", action="store_true", help="re-render <output>.md and .svg from <output>.json")
    ap.add_argument("--append", action="store_true",
                    help="add this run's rounds to <output>.json (same CPU, repeat and resolution) instead of replacing it: "
                         "more rounds for a noisy model without re-measuring the others")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(args.child)
    if args.render_only:
        with open(args.output + ".json") as f:
            write_pages(json.load(f), args.output, json_too=False)
        return

    models = [m for m in args.models.split(",") if m]
    engines = [e for e in args.engines.split(",") if e]
    for e in engines:
        if e not in ENGINES:
            sys.exit(f"torch_recipes.py: unknown engine '{e}' (engines: {', '.join(ENGINES)})")
    threads = [int(v) for v in args.threads.split(",")]
    batches = [int(v) for v in args.batches.split(",")]
    if args.resolution % 32:
        sys.exit("torch_recipes.py: --resolution must be a multiple of 32")
    import numpy as np
    python = sys.executable
    command = " ".join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:])
    result = {"schema": "dwconv-torch-recipes", "schema_version": 1, "command": command,
              "machine": machine_info(args.build), "models": models, "engines": engines, "threads": threads,
              "batches": batches, "resolution": args.resolution, "rounds": args.rounds, "repeat": args.repeat,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "references": {}, "records": []}
    first_round = {}
    if args.append:
        result, first_round = appended(args, result)
    with tempfile.TemporaryDirectory(prefix="dwconv-recipes-") as tmp:
        x = np.random.default_rng(1).uniform(-1, 1, (max(batches), 3, args.resolution, args.resolution)).astype(np.float32)
        xpath = os.path.join(tmp, "input.npy")
        np.save(xpath, x)
        base = {"input": xpath, "tmp": tmp, "build": os.path.abspath(args.build), "dwconv_src": os.path.abspath(args.dwconv_src),
                "repeat": args.repeat, "resolution": args.resolution}
        refs = {}
        for m in models:
            refs[m] = os.path.join(tmp, f"reference-{m}.npy")
            cfg = dict(base, model=m, engine="reference", threads=max(threads), batch=max(batches), reference=refs[m])
            r = run_child(cfg, tmp, python, args.timeout)
            result["references"][m] = {k: r.get(k) for k in ("ok", "error", "wall_s")}
            print(f"reference {m}: {'ok' if r['ok'] else r['error']} ({r['wall_s']:.0f} s)", file=sys.stderr)
        configs = [(m, e, t, b) for m in models for e in engines if applies(m, e) for t in threads for b in batches
                   if result["references"][m]["ok"]]
        random.Random(args.seed).shuffle(configs)
        result["order"] = [list(c) for c in configs]
        total, done, t_start = len(configs) * args.rounds, 0, time.perf_counter()
        for rnd in range(args.rounds):
            for m, e, t, b in configs:
                plan, plan_bf16 = plans(m, t, b, args.resolution, not args.no_plans)
                cfg = dict(base, model=m, engine=e, threads=t, batch=b, reference=refs[m], plan=plan, plan_bf16=plan_bf16)
                r = run_child(cfg, tmp, python, args.timeout)
                r.update({"model": m, "engine": e, "threads": t, "batch": b, "round": first_round.get(m, 0) + rnd})
                result["records"].append(r)
                done += 1
                eta = (time.perf_counter() - t_start) / done * (total - done)
                what = (f"median {statistics.median(r['samples_ms']):8.1f} ms, error {r['relative_error']:.1e}" if r["ok"]
                        else f"FAILED: {r['error']}")
                print(f"[{done}/{total}, ~{eta / 60:.0f} min left] round {rnd + 1} {m} {e} {t}T b{b}: {what} "
                      f"({r['wall_s']:.0f} s)", file=sys.stderr)
                write_pages(result, args.output, quiet=True)      # partial results survive an interrupted run
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if args.append:
        result["runs"][-1]["finished"] = result["finished"]
    write_pages(result, args.output)


def appended(args, new):
    """(the existing <output>.json with this run entered in its "runs", {model: its first new round}) for --append.
    Refused, with the reason, when the file is missing or was measured on another CPU, or with another repeat count
    or resolution: their samples would not be comparable."""
    path = args.output + ".json"
    if not os.path.exists(path):
        sys.exit(f"torch_recipes.py: --append: {path} does not exist")
    with open(path) as f:
        old = json.load(f)
    for what, a, b in (("CPU", [old["machine"].get(k) for k in ("cpu", "family", "model")], [new["machine"].get(k) for k in ("cpu", "family", "model")]),
                       ("repeat", old["repeat"], new["repeat"]), ("resolution", old["resolution"], new["resolution"])):
        if a != b:
            sys.exit(f"torch_recipes.py: --append: {path} has {what} {a}, this run {b}")
    runs = old.get("runs") or [{k: old.get(k) for k in ("command", "started", "finished", "models", "rounds")}]
    runs.append({"command": new["command"], "started": new["started"], "finished": None, "models": new["models"], "rounds": new["rounds"]})
    old["runs"] = runs
    for key in ("models", "engines", "threads", "batches"):
        old[key] += [v for v in new[key] if v not in old[key]]
    first = {m: 1 + max([rec["round"] for rec in old["records"] if rec["model"] == m], default=-1) for m in new["models"]}
    return old, first


# ---------------------------------------------------------------------------------------------------------------
# Pages.

def summarize(r):
    """{(model, engine, threads, batch): summary} over every round."""
    groups = {}
    for rec in r["records"]:
        groups.setdefault((rec["model"], rec["engine"], rec["threads"], rec["batch"]), []).append(rec)
    out = {}
    for key, recs in groups.items():
        ok = [x for x in recs if x.get("ok")]
        s = {"runs": len(recs), "ok": len(ok), "errors": sorted({x["error"] for x in recs if not x.get("ok")})}
        if ok:
            samples = [v for x in ok for v in x["samples_ms"]]
            s.update(median_ms=statistics.median(samples), min_ms=min(samples), max_ms=max(samples), samples=len(samples),
                     relative_error=max(x["relative_error"] for x in ok), same_top1=min(x["same_top1"] for x in ok),
                     finite=all(x.get("finite", True) for x in ok))
            for k in ("compile_s", "graph_breaks", "replaced", "left", "convert_s", "depthwise_left"):
                vals = [x[k] for x in ok if x.get(k) is not None]
                if vals:
                    s[k] = statistics.median(vals) if k.endswith("_s") else max(vals)
            s["left_reasons"] = sorted({w for x in ok for w in x.get("left_reasons", [])})
            s["warnings"] = sorted({w for x in ok for w in x.get("warnings", [])})
        out[key] = s
    return out


def engines_of(r):
    """The engines asked for, then any other engine the records name (nothing measured is left off the page)."""
    seen = list(r["engines"])
    for rec in r["records"]:
        if rec["engine"] not in seen:
            seen.append(rec["engine"])
    return seen


def best_pytorch(summary, model, t, b, precision):
    names = PYTORCH_BF16 if precision == "bf16" else PYTORCH_FP32
    cands = [(summary[(model, e, t, b)]["median_ms"], e) for e in names
             if summary.get((model, e, t, b), {}).get("median_ms") is not None]
    return min(cands) if cands else (None, None)


def speed(a, b):
    return b / a if a and b else None


def write_pages(result, output, json_too=True, quiet=False):
    name = os.path.basename(output)
    files = [(output + ".md", markdown(result, name + ".svg")), (output + ".svg", svg(result))]
    if json_too:
        files.insert(0, (output + ".json", json.dumps(result, indent=1) + "\n"))
    for path, text in files:
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    if not quiet:
        print(f"wrote {output}{'.json, ' if json_too else ''}.md, .svg", file=sys.stderr)


def fmt_err(e):
    return f"{e:.1e}" if e is not None else "—"


def rounds_text(r):
    """'2 round(s)', or the rounds of each model where they differ (runs added with --append)."""
    per = {m: len({rec["round"] for rec in r["records"] if rec["model"] == m}) for m in r["models"]}
    if len(set(per.values())) <= 1:
        return f"{next(iter(per.values()), r['rounds'])} round(s)"
    return "rounds: " + ", ".join(f"{MODEL_NAMES.get(m, m)} {n}" for m, n in per.items())


def markdown(r, svg_name):
    m = r["machine"]
    summary = summarize(r)
    columns = [(t, b) for t in r["threads"] for b in r["batches"]]
    md = ["# dwconv inside PyTorch against PyTorch's strongest CPU inference recipes\n",
          "Made by " + "; then ".join(f"`{run['command']}` ({run.get('started') or '?'} – {run.get('finished') or 'unfinished'})"
                                      for run in r.get("runs") or [r]) + f". Machine: {m['cpu']} "
          f"(family {m['family']}, model {m['model']}, {m['cores']} cores, avx512_bf16 {'yes' if m['avx512_bf16'] else 'no'}); "
          f"PyTorch {m['torch']} (CPU capability {m.get('torch_cpu_capability')}), timm {m.get('timm')}, OpenVINO "
          f"{m.get('openvino') or 'not installed'}, {m.get('dwbench') or 'dwbench ?'}.\n",
          f"Input {r['resolution']}², seeded random weights, eval mode. Every (model, engine, threads, batch) is measured in a "
          f"fresh Python process (OMP_NUM_THREADS = threads); {rounds_text(r)}, each run interleaved in one fixed shuffled order, "
          f"each timing {r['repeat']} call(s) after the warm-up (2 calls; 3 for compiled models; `dwbench replknet` its own 1). Each cell is the median "
          "of all its calls in ms; in parentheses, the speed-up over the best PyTorch recipe of the same precision "
          "(fp32: the fastest of eager-cl, compile, compile-freeze-cl; bf16: compile-freeze-cl-bf16) in that column. "
          "Engines: `eager-cl` channels_last eager; `compile` torch.compile, NCHW; `compile-freeze-cl` Inductor freezing, "
          "channels_last, torch.compile; `-bf16` the same under `torch.autocast(\"cpu\", dtype=torch.bfloat16)`; "
          "`dwconv-…` the model converted by `dwconv.torch.convert(model, pointwise=True, linear=True, example_input=x)` first (each depthwise layer, and each nn.Linear over NHWC, kept on libdwconv only for the dtypes where it measured faster than PyTorch's own); `dwbench-replknet` the CLI "
          "with the same weights and input; `openvino-…` OpenVINO CPU on the ONNX export, LATENCY hint.\n",
          f"![speed-up over the best PyTorch fp32 recipe, batch 1]({svg_name})\n"]
    footnotes = []
    for model in r["models"]:
        engines = [e for e in engines_of(r) if applies(model, e)]
        ref = r["references"].get(model, {})
        md.append(f"## {MODEL_NAMES.get(model, model)}\n")
        if not ref.get("ok", True):
            md += [f"The float64 reference failed, so nothing was measured: {ref.get('error')}\n"]
            continue
        md += ["| engine | " + " | ".join(f"{t}T b{b} ms" for t, b in columns) + " |",
               "|---" * (len(columns) + 1) + "|"]
        for e in engines:
            cells = []
            for t, b in columns:
                s = summary.get((model, e, t, b))
                if s is None:
                    cells.append("—")
                elif "median_ms" not in s:
                    footnotes.append(f"{MODEL_NAMES.get(model, model)}, {e}, {t}T b{b}: " + "; ".join(s["errors"]))
                    cells.append(f"failed [{len(footnotes)}]")
                else:
                    cell = f"{s['median_ms']:.1f}"
                    if e not in PYTORCH_FP32 + PYTORCH_BF16:
                        base, _ = best_pytorch(summary, model, t, b, "bf16" if is_bf16(e) else "fp32")
                        sp = speed(s["median_ms"], base)
                        if sp:
                            cell += f" ({sp:.2f}×)"
                    if s["errors"]:
                        footnotes.append(f"{MODEL_NAMES.get(model, model)}, {e}, {t}T b{b}: {s['runs'] - s['ok']} of {s['runs']} "
                                         "runs failed: " + "; ".join(s["errors"]))
                        cell += f" [{len(footnotes)}]"
                    cells.append(cell)
            md.append(f"| {e} | " + " | ".join(cells) + " |")
        md.append("")
        md += ["| engine | max relative logits error vs float64 | same top-1 | compile s | graph breaks | dwconv layers (replaced / left) | notes |",
               "|---|---|---|---|---|---|---|"]
        for e in engines:
            ss = [summary[(model, e, t, b)] for t, b in columns if (model, e, t, b) in summary and "median_ms" in summary[(model, e, t, b)]]
            if not ss:
                ran = any((model, e, t, b) in summary for t, b in columns)
                md.append(f"| {e} | — | — | — | — | — | {'no successful run' if ran else 'not measured'} |")
                continue
            err = max(s["relative_error"] for s in ss)
            top1 = min(s["same_top1"] for s in ss)
            comp = [s["compile_s"] for s in ss if "compile_s" in s]
            gb = [s["graph_breaks"] for s in ss if "graph_breaks" in s]
            layers = "—"
            if any("replaced" in s for s in ss):
                layers = f"{max(s.get('replaced', 0) for s in ss)} / {max(s.get('left', 0) for s in ss)}"
            notes = sorted({w for s in ss for w in s.get("warnings", [])})
            left = sorted({w for s in ss for w in s.get("left_reasons", [])})
            if left:
                notes.append("left in PyTorch: " + ", ".join(left[:3]) + (", …" if len(left) > 3 else ""))
            if not all(s.get("finite", True) for s in ss):
                notes.insert(0, "**non-finite logits**")
            md.append(f"| {e} | {fmt_err(err)} | {top1 * 100:.0f}% | {f'{statistics.median(comp):.0f}' if comp else '—'} | "
                      f"{max(gb) if gb else '—'} | {layers} | {'; '.join(n.replace('|', '/') for n in notes[:4])} |")
        md.append("")
    if footnotes:
        md += ["Failures (one line each, as the child reported it):", ""] + [f"{i + 1}. {f}" for i, f in enumerate(footnotes)] + [""]
    md += ["## Goals", ""] + goals(r, summary) + [""]
    return "\n".join(md)


def goals(r, summary):
    out = []

    def verdict(ok):
        return "n/a (not measured)" if ok is None else ("met" if ok else "**missed**")
    model = "replknet31b"
    if model in r["models"]:
        for t in r["threads"]:
            for b in r["batches"]:
                where = f"{t}T b{b}"
                dw = summary.get((model, "dwconv-compile-freeze-cl", t, b), {}).get("median_ms")
                base, which = best_pytorch(summary, model, t, b, "fp32")
                target = 1.2 if t == 1 else 1.5
                sp = speed(dw, base)
                out.append(f"- RepLKNet-31B fp32, {where}: dwconv-compile-freeze-cl {sp:.2f}× the best PyTorch fp32 recipe ({which}) "
                           f"(goal ≥ {target}×: {verdict(sp >= target)})" if sp else
                           f"- RepLKNet-31B fp32, {where}: dwconv-compile-freeze-cl vs the best PyTorch fp32 recipe (goal ≥ {target}×): {verdict(None)}")
                dwb = summary.get((model, "dwconv-compile-freeze-cl-bf16", t, b), {}).get("median_ms")
                base = summary.get((model, "compile-freeze-cl-bf16", t, b), {}).get("median_ms")
                sp = speed(dwb, base)
                out.append(f"- RepLKNet-31B bf16, {where}: dwconv-compile-freeze-cl-bf16 {sp:.2f}× compile-freeze-cl-bf16 "
                           f"(goal ≥ 1.25×: {verdict(sp >= 1.25)})" if sp else
                           f"- RepLKNet-31B bf16, {where}: dwconv-compile-freeze-cl-bf16 vs compile-freeze-cl-bf16 (goal ≥ 1.25×): {verdict(None)}")
                for eng, cli in (("dwconv-compile-freeze-cl", "dwbench-replknet"), ("dwconv-compile-freeze-cl-bf16", "dwbench-replknet-bf16")):
                    a = summary.get((model, eng, t, b), {}).get("median_ms")
                    c = summary.get((model, cli, t, b), {}).get("median_ms")
                    ratio = a / c if a and c else None
                    out.append(f"- RepLKNet-31B, {where}: {eng} takes {ratio:.2f}× the time of {cli} (goal ≤ 1.1×: {verdict(ratio <= 1.1)})"
                               if ratio else f"- RepLKNet-31B, {where}: {eng} within 1.1× of {cli}: {verdict(None)}")
    for model in r["models"]:
        if model == "replknet31b":
            continue
        worst, measured, missing = None, 0, 0
        for t in r["threads"]:
            for b in r["batches"]:
                a = summary.get((model, "dwconv-compile-freeze-cl", t, b), {}).get("median_ms")
                c = summary.get((model, "compile", t, b), {}).get("median_ms")
                if a and c:
                    measured += 1
                    worst = c / a if worst is None else min(worst, c / a)
                else:
                    missing += 1
        name = MODEL_NAMES.get(model, model)
        lefts = [s.get("depthwise_left") for (m, e, _, _), s in summary.items() if m == model and e.startswith("dwconv-")]
        lefts = [v for v in lefts if v is not None]
        if lefts:
            out.append(f"- {name}: converts with no depthwise convolution left — at most {max(lefts)} left "
                       f"(goal 0: {verdict(max(lefts) == 0)})")
        if measured:
            out.append(f"- {name}: dwconv-compile-freeze-cl never slower than `compile` — worst {worst:.2f}× over {measured} column(s)"
                       f"{f', {missing} not measured' if missing else ''} (goal ≥ 1.0×: {verdict(worst >= 1.0)})")
        else:
            out.append(f"- {name}: dwconv-compile-freeze-cl never slower than `compile`: {verdict(None)}")
    # Accuracy: fp32 paths within 1e-4 of float64; bf16 dwconv paths no worse than PyTorch's own bf16 autocast.
    fp32 = [(k, s) for k, s in summary.items() if not is_bf16(k[1]) and "relative_error" in s]
    if fp32:
        (wm, we, wt, wb), ws = max(fp32, key=lambda kv: kv[1]["relative_error"])
        out.append(f"- fp32 logits within 1e-4 relative of float64: worst {ws['relative_error']:.1e} ({wm}, {we}, {wt}T b{wb}) "
                   f"({verdict(ws['relative_error'] <= 1e-4)})")
    for model in r["models"]:
        ratios = []
        for (m, e, t, b), s in summary.items():
            if m == model and e == "dwconv-compile-freeze-cl-bf16" and "relative_error" in s:
                p = summary.get((m, "compile-freeze-cl-bf16", t, b), {}).get("relative_error")
                if p:
                    ratios.append(s["relative_error"] / p)
        if ratios:
            out.append(f"- {MODEL_NAMES.get(model, model)} bf16 logits error: dwconv-compile-freeze-cl-bf16 at worst {max(ratios):.2f}× "
                       f"PyTorch's own bf16 autocast error (compile-freeze-cl-bf16) (goal ≤ 1×: {verdict(max(ratios) <= 1.0)})")
    return out or ["- nothing measured that a goal is about"]


def svg(r):
    """Batch 1: one group per model × threads, one bar per engine: speed-up over the best PyTorch fp32 recipe."""
    summary = summarize(r)
    b = 1 if 1 in r["batches"] else min(r["batches"])
    groups = [(m, t) for m in r["models"] for t in r["threads"]]
    engines = engines_of(r)
    colors = {"eager-cl": "#9aa5b1", "compile": "#6c7a89", "compile-freeze-cl": "#3d4a57", "compile-freeze-cl-bf16": "#1f2a36",
              "dwconv-eager-cl": "#a6cee3", "dwconv-compile-freeze-cl": "#1f78b4", "dwconv-compile-freeze-cl-bf16": "#08306b",
              "dwbench-replknet": "#33a02c", "dwbench-replknet-bf16": "#0b5d1e", "openvino-f32": "#fdbf6f", "openvino-bf16": "#ff7f00"}
    vals = {}
    for m, t in groups:
        base, _ = best_pytorch(summary, m, t, b, "fp32")
        for e in engines:
            s = summary.get((m, e, t, b))
            if s is not None:
                vals[(m, t, e)] = speed(s.get("median_ms"), base) if "median_ms" in s else "failed"
    nums = [v for v in vals.values() if isinstance(v, float)]
    top = max([1.0] + nums) * 1.1
    top = math.ceil(top * 2) / 2
    width, height, left, bottom, topm = max(900, 90 + 120 * len(groups)), 460, 60, 90, 40
    plot_h = height - bottom - topm
    gw = (width - left - 200) / max(1, len(groups))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{(width - 180) / 2}" y="18" text-anchor="middle" font-size="14">Batch {b}, {r["resolution"]}²: speed-up over the best '
           'PyTorch fp32 recipe (higher is better)</text>']
    y_of = lambda v: topm + plot_h * (1 - v / top)  # noqa: E731
    steps = 5
    for i in range(steps + 1):
        v = top * i / steps
        out.append(f'<line x1="{left}" y1="{y_of(v):.1f}" x2="{width - 190}" y2="{y_of(v):.1f}" stroke="#e3e3e3"/>'
                   f'<text x="{left - 6}" y="{y_of(v) + 4:.1f}" text-anchor="end">{v:.1f}×</text>')
    out.append(f'<line x1="{left}" y1="{y_of(1):.1f}" x2="{width - 190}" y2="{y_of(1):.1f}" stroke="#c00" stroke-dasharray="4,3"/>')
    for g, (m, t) in enumerate(groups):
        present = [e for e in engines if (m, t, e) in vals]
        bw = gw * 0.85 / max(1, len(present))
        x0 = left + g * gw + gw * 0.075
        for k, e in enumerate(present):
            v = vals[(m, t, e)]
            x = x0 + k * bw
            if v == "failed":
                out.append(f'<text x="{x + bw / 2:.1f}" y="{y_of(0) - 4:.1f}" text-anchor="middle" fill="#c00" font-size="10">×'
                           f'<title>{e}, {m}, {t}T: failed</title></text>')
            elif v is None:
                continue
            else:
                out.append(f'<rect x="{x:.1f}" y="{y_of(v):.1f}" width="{max(1, bw - 1.5):.1f}" height="{y_of(0) - y_of(v):.1f}" '
                           f'fill="{colors.get(e, "#888")}"><title>{e}, {m}, {t}T b{b}: {v:.2f}×</title></rect>')
        label = MODEL_NAMES.get(m, m).split(" (")[0]
        out.append(f'<text x="{left + (g + 0.5) * gw:.1f}" y="{y_of(0) + 16:.1f}" text-anchor="middle">{label}</text>'
                   f'<text x="{left + (g + 0.5) * gw:.1f}" y="{y_of(0) + 30:.1f}" text-anchor="middle">{t} thread{"s" if t > 1 else ""}</text>')
    out.append(f'<line x1="{left}" y1="{y_of(0):.1f}" x2="{width - 190}" y2="{y_of(0):.1f}" stroke="black"/>')
    for k, e in enumerate(engines):
        y = topm + 16 * k
        out.append(f'<rect x="{width - 180}" y="{y}" width="12" height="12" fill="{colors.get(e, "#888")}"/>'
                   f'<text x="{width - 162}" y="{y + 10}">{e}</text>')
    out.append(f'<text x="{width - 180}" y="{topm + 16 * len(engines) + 14}" fill="#c00">× failed (see the page)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
