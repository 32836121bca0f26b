#!/usr/bin/env python3
"""bf16 accuracy contract: dwbench --precision bf16 against OpenVINO's bf16, both against a float64 reference.

    python3 Benchmarks/bf16/accuracy.py --official /work/.mirror/DingXiaoH+RepLKNet-pytorch/repo [--skip-31b]

Models and inputs (the same for every engine):
  - the checkpoint fixtures of Tests/DWModelTests (a tiny RepLKNet made by the official code and torch.save): the
    training checkpoint's 'model' and 'model_ema' weights (two different networks), and its deployed form;
  - RepLKNet-31B built by the official create_RepLKNet31B with seeded random weights and BatchNorm statistics
    (make_fixtures.randomise), saved with safetensors as a user would (no trained 31B weights are reachable here);
  - the four fixture photos (rocket.jpg, chelsea.png, camera.png, logo.png), preprocessed once by dwbench with the
    official evaluation transform at 224² (`--save-input`), and fed as that array to every engine.

Engines: dwbench fp32 and bf16 (`dwbench replknet --checkpoint … --precision …`), OpenVINO f32 and bf16
(INFERENCE_PRECISION_HINT, from the official model exported to ONNX), PyTorch float64 (the reference).

Per engine and case: the logits' relative error, max|l − ref| / max|ref| per image (worst and median over images),
top-1 agreement (images whose arg-max equals the reference's) and top-5 overlap (|top5 ∩ top5_ref| / 5, mean).
The contract: dwbench bf16's worst error ≤ 1.2 × OpenVINO bf16's, on every case.

Writes Results/bf16-accuracy.{json,md} and Tests/DWModelTests/Fixtures/bf16-contract.json (the tiny cases'
OpenVINO bf16 errors and float64 reference logits, which BF16ModelTests holds dwbench to on every CPU with
avx512_bf16). Uses Benchmarks/peers/.venv (torch, onnx, openvino; timm and safetensors added on first use).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "Tests", "DWModelTests", "Fixtures")
sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "peers"))
from run_peers import ensure_venv  # noqa: E402

PHOTOS = ["photos/rocket.jpg", "photos/chelsea.png", "photos/camera.png", "photos/logo.png"]
RESOLUTION = 224
FACTOR = 1.2


def metrics(logits, ref):
    import numpy as np
    errors = [float(np.abs(l - r).max() / np.abs(r).max()) for l, r in zip(logits, ref)]
    top1 = [int(np.argmax(l) == np.argmax(r)) for l, r in zip(logits, ref)]
    k = min(5, ref.shape[1])
    top5 = [len(set(np.argsort(-l)[:k]) & set(np.argsort(-r)[:k])) / k for l, r in zip(logits, ref)]
    return {"max_rel_error": max(errors), "median_rel_error": float(np.median(errors)), "per_image": errors,
            "top1_agreement": sum(top1) / len(top1), "top5_overlap": sum(top5) / len(top5)}


def dwbench(binary, checkpoint, key, precision, out, save_input=None):
    cmd = [binary, "replknet", "--checkpoint", checkpoint, "--resolution", str(RESOLUTION), "--precision", precision,
           "--repeat", "1", "--output", out] + [a for p in PHOTOS for a in ("--image", os.path.join(FIXTURES, p))]
    if key:
        cmd += ["--model-key", key]
    if save_input:
        cmd += ["--save-input", save_input]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def openvino_logits(model, x, precision, tmp):
    import openvino as ov
    import torch
    path = os.path.join(tmp, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(model.float(), torch.from_numpy(x), path, input_names=["x"], output_names=["y"], opset_version=17,
                          dynamo=False)
    core = ov.Core()
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        sys.exit("accuracy.py: this CPU's OpenVINO has no BF16: the contract needs a CPU with native bf16")
    compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": precision})
    return compiled.create_infer_request().infer({0: x})[0].copy(), f"openvino-{ov.__version__.split('-')[0]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", required=True, help="DingXiaoH/RepLKNet-pytorch: a checkout or its bare git directory")
    ap.add_argument("--dwbench", default=os.path.join(ROOT, ".build", "release", "dwbench"))
    ap.add_argument("--skip-31b", action="store_true", help="only the tiny fixture checkpoints")
    args = ap.parse_args()
    ensure_venv()
    try:
        import timm  # noqa: F401  (the official replknet.py imports it)
        import safetensors  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "timm", "safetensors"])
    import numpy as np
    import torch
    import safetensors.torch
    sys.path.insert(0, FIXTURES)
    import make_fixtures  # the fixtures' official-code loader, tiny configuration and randomisation

    replknet = make_fixtures.official_module(args.official, "replknet")
    tmp = tempfile.mkdtemp()
    cases = []

    def tiny(state_key, deployed):
        def build():
            ck = torch.load(os.path.join(FIXTURES, "tiny-deployed.pth" if deployed else "tiny-train.pth"), weights_only=False)
            state = ck if deployed else ck[state_key]
            m = replknet.RepLKNet(**make_fixtures.CONFIG, small_kernel_merged=deployed)
            m.load_state_dict(state)
            return m.eval()
        return build

    cases.append(dict(name="tiny (training checkpoint, model)", checkpoint=os.path.join(FIXTURES, "tiny-train.pth"), key="model",
                      build=tiny("model", False), fixture=True))
    cases.append(dict(name="tiny (training checkpoint, model_ema)", checkpoint=os.path.join(FIXTURES, "tiny-train.pth"),
                      key="model_ema", build=tiny("model_ema", False), fixture=True))
    cases.append(dict(name="tiny (deployed checkpoint)", checkpoint=os.path.join(FIXTURES, "tiny-deployed.pth"), key=None,
                      build=tiny(None, True), fixture=True))
    if not args.skip_31b:
        torch.manual_seed(31)
        big = replknet.create_RepLKNet31B(drop_path_rate=0.0, num_classes=1000, use_checkpoint=False)
        make_fixtures.randomise(big, torch.Generator().manual_seed(31))
        big.eval()
        path = os.path.join(tmp, "replknet31b.safetensors")
        safetensors.torch.save_file(big.state_dict(), path)
        cases.append(dict(name="RepLKNet-31B (official code, seeded random weights)", checkpoint=path, key=None,
                          build=lambda: big, fixture=False))

    records, contract = [], []
    for case in cases:
        x_path = os.path.join(tmp, "x.npy")
        logits = {}
        for precision in ("fp32", "bf16"):
            out = os.path.join(tmp, f"{precision}.npy")
            dwbench(args.dwbench, case["checkpoint"], case["key"], precision, out, save_input=x_path if precision == "fp32" else None)
            logits[f"dwbench {precision}"] = np.load(out)
        x = np.load(x_path)
        model = case["build"]()
        with torch.no_grad():
            ref = model.double()(torch.from_numpy(x).double()).numpy()
        model.float()
        for precision in ("f32", "bf16"):
            values, engine = openvino_logits(model, x, precision, tmp)
            logits[f"{engine} {precision}"] = values
        row = {"case": case["name"], "images": len(PHOTOS), "resolution": RESOLUTION, "classes": int(ref.shape[1]),
               "engines": {name: metrics(v.astype(np.float64), ref) for name, v in logits.items()}}
        ov_bf16 = next(v for k, v in row["engines"].items() if k.startswith("openvino") and k.endswith("bf16"))
        ours = row["engines"]["dwbench bf16"]
        row["ratio_to_openvino_bf16"] = ours["max_rel_error"] / ov_bf16["max_rel_error"]
        row["contract_met"] = row["ratio_to_openvino_bf16"] <= FACTOR
        records.append(row)
        print(f"{case['name']}: dwbench bf16 {ours['max_rel_error']:.2e}, OpenVINO bf16 {ov_bf16['max_rel_error']:.2e} "
              f"(ratio {row['ratio_to_openvino_bf16']:.2f}); top-1 {ours['top1_agreement']:.2f} vs {ov_bf16['top1_agreement']:.2f}",
              file=sys.stderr)
        if case["fixture"]:
            name = "bf16-reference-" + case["name"].split("(")[1].rstrip(")").replace(", ", "-").replace(" ", "-") + ".npy"
            np.save(os.path.join(FIXTURES, "photos", name), ref.astype("<f4"))  # float32 of the float64 reference
            contract.append({"checkpoint": os.path.basename(case["checkpoint"]), "model_key": case["key"], "photos": PHOTOS,
                             "resolution": RESOLUTION, "reference_logits": "photos/" + name,
                             "openvino_bf16_max_rel_error": ov_bf16["max_rel_error"], "factor": FACTOR})

    import platform
    doc = {"generator": "Benchmarks/bf16/accuracy.py", "cpu": platform.processor() or platform.machine(),
           "factor": FACTOR, "cases": records}
    write(os.path.join(ROOT, "Results", "bf16-accuracy.json"), json.dumps(doc, indent=1) + "\n")
    write(os.path.join(FIXTURES, "bf16-contract.json"), json.dumps({"cases": contract}, indent=1) + "\n")
    write(os.path.join(ROOT, "Results", "bf16-accuracy.md"), markdown(records))


def markdown(records):
    md = ["# bf16 accuracy: dwbench against OpenVINO, both against float64\n",
          "Made by `python3 Benchmarks/bf16/accuracy.py --official <RepLKNet-pytorch>`. Inputs: the four fixture photos "
          f"(rocket, chelsea, camera, logo) through the official evaluation transform at {RESOLUTION}², the same array for "
          "every engine. Reference: PyTorch float64 on the official model. Error = max|logits − reference| / "
          "max|reference| per image (the worst image shown, the median in brackets); top-1 = images whose arg-max "
          "matches the reference's; top-5 = mean overlap of the top-5 sets.\n",
          f"The contract (issue 18): dwbench bf16's error at most {FACTOR}× OpenVINO bf16's on every case.\n"]
    for r in records:
        md.append(f"## {r['case']}\n")
        md.append("| engine | error (worst, [median]) | top-1 | top-5 |")
        md.append("|---|---|---|---|")
        for name, m in r["engines"].items():
            md.append(f"| {name} | {m['max_rel_error']:.2e} [{m['median_rel_error']:.2e}] | {m['top1_agreement']:.2f} | "
                      f"{m['top5_overlap']:.2f} |")
        md.append(f"\ndwbench bf16 / OpenVINO bf16 error: **{r['ratio_to_openvino_bf16']:.2f}** "
                  f"({'met' if r['contract_met'] else 'NOT met'}; at most {FACTOR}).\n")
    md.append("dwbench bf16 rounds the operands of the 1×1 convolutions and the stem's GEMM to bf16 (round to nearest "
              "even) and accumulates in fp32; depthwise layers, epilogues and activations stay fp32. OpenVINO's bf16 mode "
              "also keeps activations in bf16 between layers.\n")
    return "\n".join(md)


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
