#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into Tests/Fuzz/corpus/<target>/ (the pickle and zip seeds
are written by torch.save itself, so this needs PyTorch; everything else is standard library only).

Seeds are small valid files of each format plus a few near-misses, so that the fuzzer starts from inputs
that reach deep into each reader: .npy arrays of several versions and ranks, safetensors files holding a
complete micro RepLKNet (training and deployed form, F32/F16/BF16, with metadata), the same micro RepLKNet
saved by torch.save (a plain state dict, a training checkpoint with optimizer state and argparse args, a
DDP-prefixed, a BF16 and a legacy non-ZIP file) and the pickles inside them plus Python's own pickles of
protocols 0-5, trimmed copies of the
committed plans and gate baseline, and the committed shape files. Rerun after a format changes:

    python3 Tests/Fuzz/make_seeds.py
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))


def out(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- npy -------------------------------------------------------------------------------------------
def npy(shape, values, version=1, descr="<f4", fortran=False):
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    prefix = 10 if version == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode("latin-1") + struct.pack("<%df" % len(values), *values)


out("npy", "seed-4d", npy([1, 2, 3, 3], [float(i) - 8 for i in range(18)]))
out("npy", "seed-1d", npy([5], [0.5, -1, 2, 1e30, -0.0]))
out("npy", "seed-scalar", npy([], [3.25]))
out("npy", "seed-empty", npy([0, 4], []))
out("npy", "seed-v2", npy([2, 2], [1, 2, 3, 4], version=2))
out("npy", "seed-v3", npy([3], [1, 2, 3], version=3))
out("npy", "seed-f8", npy([2], [1, 2], descr="<f8")[:-8] + struct.pack("<2d", 1, 2))
out("npy", "seed-fortran", npy([2, 2], [1, 2, 3, 4], fortran=True))
with open(os.path.join(REPO, "Tests/DWModelTests/Fixtures/logits-tiny-state-pth.npy"), "rb") as f:
    out("npy", "seed-fixture-logits", f.read())


# --- safetensors: a micro RepLKNet in the official key layout ---------------------------------------
def micro_replknet(deployed, channels=(4, 8), kernels=(5, 3), blocks=(1, 1), small=3, ffn=2, dw=1, classes=3, inc=1):
    """Tensor name -> shape, mirroring RepLKNetConfig.expectedTensors."""
    e = {}

    def bn(n, c):
        for p in ("weight", "bias", "running_mean", "running_var"):
            e["%s.%s" % (n, p)] = [c]

    def conv_bn(n, o, i, k):
        e[n + ".conv.weight"] = [o, i, k, k]
        bn(n + ".bn", o)

    c0 = channels[0]
    conv_bn("stem.0", c0, inc, 3)
    conv_bn("stem.1", c0, 1, 3)
    conv_bn("stem.2", c0, c0, 1)
    conv_bn("stem.3", c0, 1, 3)
    for s, c in enumerate(channels):
        d, f = c * dw, c * ffn
        for b in range(blocks[s]):
            lk, fb = "stages.%d.blocks.%d" % (s, 2 * b), "stages.%d.blocks.%d" % (s, 2 * b + 1)
            bn(lk + ".prelkb_bn", c)
            conv_bn(lk + ".pw1", d, c, 1)
            if deployed:
                e[lk + ".large_kernel.lkb_reparam.weight"] = [d, 1, kernels[s], kernels[s]]
                e[lk + ".large_kernel.lkb_reparam.bias"] = [d]
            else:
                conv_bn(lk + ".large_kernel.lkb_origin", d, 1, kernels[s])
                if small:
                    conv_bn(lk + ".large_kernel.small_conv", d, 1, small)
            conv_bn(lk + ".pw2", c, d, 1)
            bn(fb + ".preffn_bn", c)
            conv_bn(fb + ".pw1", f, c, 1)
            conv_bn(fb + ".pw2", c, f, 1)
        if s + 1 < len(channels):
            conv_bn("transitions.%d.0" % s, channels[s + 1], c, 1)
            conv_bn("transitions.%d.1" % s, channels[s + 1], 1, 3)
    bn("norm", channels[-1])
    e["head.weight"] = [classes, channels[-1]]
    e["head.bias"] = [classes]
    return e


def safetensors(shapes, dtype="F32", metadata=None):
    size = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for i, name in enumerate(sorted(shapes)):
        count = 1
        for d in shapes[name]:
            count *= d
        values = [((j * 7 + i) % 13 - 6) / 8 + (1.0 if name.endswith("running_var") else 0.0) for j in range(count)]
        if dtype == "F32":
            blob = struct.pack("<%df" % count, *values)
        elif dtype == "F16":
            blob = struct.pack("<%de" % count, *values)
        else:
            blob = b"".join(struct.pack("<f", v)[2:] for v in values)
        header[name] = {"dtype": dtype, "shape": shapes[name], "data_offsets": [offset, offset + count * size]}
        blobs.append(blob)
        offset += count * size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


out("safetensors", "seed-replknet-training", safetensors(micro_replknet(False)))
out("safetensors", "seed-replknet-deployed-f16", safetensors(micro_replknet(True), "F16", {"format": "pt"}))
out("safetensors", "seed-replknet-nosmall-bf16", safetensors(micro_replknet(False, small=0, channels=(4,), kernels=(7,), dw=2), "BF16"))
out("safetensors", "seed-tensors", safetensors({"a": [2, 3], "b": [0], "c": []}))
out("safetensors", "seed-empty", safetensors({}))
counter_header = json.dumps({"n.num_batches_tracked": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]},
                             "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, separators=(",", ":")).encode().ljust(104)
out("safetensors", "seed-counter-i64", struct.pack("<Q", len(counter_header)) + counter_header + struct.pack("<q2f", 7, 1, 2))


# --- zip / pickle: torch.save of the micro RepLKNet, as users save checkpoints ----------------------
def torch_seeds():
    import argparse
    import io
    import pickle
    import zipfile

    import torch

    def state(deployed=False, dtype=torch.float32, **kw):
        g = torch.Generator().manual_seed(3)
        d = {k: (torch.rand(v, generator=g) + (1.0 if k.endswith("running_var") else 0.0)).to(dtype) for k, v in micro_replknet(deployed, **kw).items()}
        for k in list(d):
            if k.endswith("running_var"):
                d[k[: -len("running_var")] + "num_batches_tracked"] = torch.tensor(5)
        return d

    def saved(obj, **kw):
        buffer = io.BytesIO()
        torch.save(obj, buffer, **kw)
        return buffer.getvalue()

    files = {
        "seed-state": saved(state()),
        "seed-deployed-bf16": saved(state(True, torch.bfloat16)),
        "seed-training": saved({"model": state(), "optimizer": {"state": {0: {"step": torch.tensor(2.0)}}, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
                                "scaler": {"scale": 65536.0}, "epoch": 3, "args": argparse.Namespace(model="micro", lr=1e-3, model_ema=False)}),
        "seed-ddp": saved({"module." + k: v for k, v in state().items()}),
        "seed-protocol4": saved({"state_dict": state(small=0, channels=(4,), kernels=(7,), blocks=(1,))}, pickle_protocol=4),
    }
    for name, data in files.items():
        out("zip", name, data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            out("pickle", name + "-data.pkl", z.read(pkl))
    out("zip", "seed-legacy", saved(state(), _use_new_zipfile_serialization=False))
    sample = {"a": [1, 2.5, None, True, "text", b"bytes", (1, (2, 3))], "b": {1, 2}, "c": frozenset([3]), "d": -2**70, "e": bytearray(b"xy")}
    for protocol in range(0, 6):
        out("pickle", "seed-python-protocol%d" % protocol, pickle.dumps(sample, protocol=protocol))
    out("pickle", "seed-namespace", pickle.dumps(argparse.Namespace(lr=0.1, name="x"), protocol=2))


torch_seeds()

# --- plans: the committed plans, trimmed to a few entries ------------------------------------------
for name, keep in (("plan-replknet31b-1t.json", 3), ("plan-replknet31b-pointwise-1t.json", 2), ("plan-sweep-1t-estimate.json", 2)):
    with open(os.path.join(REPO, "Results", name)) as f:
        plan = json.load(f)
    plan["entries"] = {k: plan["entries"][k] for k in sorted(plan["entries"])[:keep]}
    out("plan", "seed-" + name.replace(".json", ""), json.dumps(plan, indent=1, sort_keys=True))
    if keep == 3:
        bad = dict(plan, schema_version=3)
        out("plan", "seed-bad-version", json.dumps(bad, sort_keys=True))

# --- shape files -----------------------------------------------------------------------------------
for name in sorted(n for n in os.listdir(os.path.join(REPO, "Benchmarks/shapes")) if n.endswith(".txt")):
    with open(os.path.join(REPO, "Benchmarks/shapes", name)) as f:
        out("shapes", "seed-" + name.replace(".txt", ""), f.read())
out("shapes", "seed-crlf", "# Windows line ends\r\nstem n1c3h224w224k3s2p1\r\nlarge n2c512h14w14k27s1p13 18\r\npw n1c512h14w14o2048 3\r\n")
out("shapes", "seed-edges", "one n1c1h1w1k1s1p0\nbig-k n1c17h5w5k31s2p15\npad0\tn3c16h8w8k3s1p0\t2 # comment\n")

# --- gate baseline ---------------------------------------------------------------------------------
with open(os.path.join(REPO, "Results/check-baseline-1t.json")) as f:
    baseline = json.load(f)
out("baseline", "seed-committed", json.dumps(baseline, indent=2, sort_keys=True))
short = dict(baseline, entries=[dict(e, ratios=e["ratios"][:3]) for e in baseline["entries"][:2]])
out("baseline", "seed-short", json.dumps(short, sort_keys=True))
out("baseline", "seed-no-entries", json.dumps(dict(baseline, entries=[]), sort_keys=True))

# --- output: file-system scenarios for the output-path writer (see Tests/Fuzz/Bodies/OutputBody.swift) ---
# Byte 0 picks the scenario (OutputScene.Kind, in order), byte 1 the name (bits 2-4), relative links (bit 0)
# and the old file's mode (bits 5-7), byte 2 the link chain's length; the rest is the payload.
OUTPUT_KINDS = ["missing", "regular", "link-chain", "dangling-link", "dangling-into-missing-directory", "directory",
                "link-to-directory", "fifo-with-reader", "fifo-without-reader", "missing-parent", "null-device",
                "full-device", "link-to-null-device", "link-loop", "trailing-slash"]
npy_payload = npy([1, 2, 2, 2], [float(i) for i in range(8)])
for k, kind in enumerate(OUTPUT_KINDS):
    options = (k * 0x25) & 0xff          # names, modes and relative links vary across the seeds
    out("output", "seed-%02d-%s" % (k, kind), bytes([k, options, k % 4]) + npy_payload)
out("output", "seed-full-device-empty", bytes([OUTPUT_KINDS.index("full-device"), 0, 0]))
out("output", "seed-long-name-chain", bytes([OUTPUT_KINDS.index("link-chain"), 2 << 2 | 1, 3]) + b"x" * 60000)
