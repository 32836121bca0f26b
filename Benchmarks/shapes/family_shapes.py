#!/usr/bin/env python3
"""Shape sets of large-kernel CNN families, read off the official model code: every depthwise Conv2d
(groups == in_channels == out_channels, any kernel, stride, padding, dilation) of each model at 224×224,
batch 1, eval mode, random weights, recorded by forward hooks.

    # official repositories cloned (or extracted) under one directory as SLaK/, LSKNet/, UniRepLKNet/:
    python3 Benchmarks/shapes/family_shapes.py --write --code DIR
    python3 Benchmarks/shapes/family_shapes.py --check --code DIR      # exit 1, one line per mismatch
    # or one directory per repository, or let the script clone the pinned commits (needs git and network):
    python3 Benchmarks/shapes/family_shapes.py --check --slak /x/SLaK --lsknet /x/LSKNet --unireplknet /x/UniRepLKNet
    python3 Benchmarks/shapes/family_shapes.py --check --fetch [--code DIR]   # DIR keeps the clones
    # only some models (the timm ones need no checkout):
    python3 Benchmarks/shapes/family_shapes.py --check --models convnext-t,inceptionnext-t

Needs torch and timm. The official files are executed unmodified; the frameworks they import and this
machine lacks (mmcv, mmrotate's registry, the iGEMM CUDA extension, timm's model registry) are stand-ins put
into sys.modules only while a model is loaded and built (see the build_* functions). Each official file must
be the pinned one (its git blob id is checked), so a file written from other code cannot claim the pin.
By default the forward pass runs on the meta device (shapes only, no arithmetic); --device cpu runs it.
"""
import argparse
import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
import warnings
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))

# The official repositories: the commit the shape files were written from, and the git blob id (at that
# commit) of every file the script executes.
PINNED = {
    "slak": {
        "repo": "VITA-Group/SLaK",
        "dir": "SLaK",
        "commit": "44b4aab0611dff0023873ed6af8e0eefcea6f056",
        "files": {
            "models/SLaK.py": "34a918729019d485c00047b92275c34e8f1a2bd8",
            "cutlass/examples/19_large_depthwise_conv2d_torch_extension/depthwise_conv2d_implicit_gemm.py":
                "3f94b123f8539ca9d12f6b456417d3c1be8a2ac4",
        },
    },
    "lsknet": {
        "repo": "zcablii/LSKNet",
        "dir": "LSKNet",
        "commit": "cbe06cabcb0be0dd94ee48b8ffcd12a9f95c85ad",
        "files": {"mmrotate/models/backbones/lsknet.py": "71ed37cc8ff0a7718c8d7281b9016e564a5fb31b"},
    },
    "unireplknet": {
        "repo": "AILab-CVC/UniRepLKNet",
        "dir": "UniRepLKNet",
        "commit": "b5677d8fb0e7b8af61eac39c1bf02727f5afc1d5",
        "files": {"unireplknet.py": "0046c11672609a96efd8b8e4f8fd98b6ccb14ba9"},
    },
}

RESOLUTION = 224


# --- the problem text -------------------------------------------------------------------------------

def pair_text(v):
    """One number when both axes agree (`7`), else `HxW` (`51x5`)."""
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


@dataclass(frozen=True)
class DWProblem:
    n: int
    c: int
    h: int
    w: int
    k: tuple
    s: tuple
    p: tuple
    d: tuple = (1, 1)

    def __str__(self):
        text = f"n{self.n}c{self.c}h{self.h}w{self.w}k{pair_text(self.k)}s{pair_text(self.s)}p{pair_text(self.p)}"
        return text if self.d == (1, 1) else text + f"d{pair_text(self.d)}"

    def output(self):
        """(OH, OW) by the usual rule: ⌊(H + 2P − D(K − 1) − 1) / S⌋ + 1 per axis."""
        return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1
                     for size, k, s, p, d in zip((self.h, self.w), self.k, self.s, self.p, self.d))


_NUM = r"(\d+)(?:x(\d+))?"
PROBLEM_RE = re.compile(rf"n(\d+)c(\d+)h(\d+)w(\d+)k{_NUM}s{_NUM}p{_NUM}(?:d{_NUM})?")


def parse_problem(text):
    """The grammar n{N}c{C}h{H}w{W}k{K|KHxKW}s{S|SHxSW}p{P|PHxPW}[d{D|DHxDW}]; None if `text` is not in it."""
    m = PROBLEM_RE.fullmatch(text)
    if not m:
        return None
    g = m.groups()
    pair = lambda a, b: (int(a), int(b if b is not None else a))  # noqa: E731
    return DWProblem(int(g[0]), int(g[1]), int(g[2]), int(g[3]), pair(g[4], g[5]), pair(g[6], g[7]),
                     pair(g[8], g[9]), pair(g[10], g[11]) if g[10] is not None else (1, 1))


# --- stand-ins for what the official files import -------------------------------------------------

def _module(name, package=False, **attrs):
    m = types.ModuleType(name)
    if package:
        m.__path__ = []
    m.__dict__.update(attrs)
    return m


@contextlib.contextmanager
def patched_modules(entries):
    """Puts `entries` (name → module, or None to make importing it fail) into sys.modules, restores
    sys.modules' previous entries for those names and sys.path afterwards."""
    saved = {name: sys.modules.get(name, _ABSENT) for name in entries}
    saved_path = list(sys.path)
    sys.modules.update(entries)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is _ABSENT:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
        sys.path[:] = saved_path


_ABSENT = object()


def load_file(module_name, path):
    """Executes a source file as module `module_name` (the name gives relative imports their package),
    without registering it in sys.modules."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def registry_stand_in():
    """timm.models.registry with a register_model that registers nothing (timm's own registry stays as it is)."""
    return _module("timm.models.registry", register_model=lambda fn: fn)


def git_blob_id(path):
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def verify_code(key, root):
    """Raises unless every pinned file of repository `key` under `root` is the pinned version."""
    spec = PINNED[key]
    for rel, blob in spec["files"].items():
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            raise SystemExit(f"{spec['repo']}: {path} does not exist (expected a checkout of {spec['commit']})")
        found = git_blob_id(path)
        if found != blob:
            raise SystemExit(f"{spec['repo']}: {path} is blob {found[:12]}, not the pinned {blob[:12]} of commit "
                             f"{spec['commit'][:12]} (check out the pinned commit, or use --fetch)")


# --- the models -----------------------------------------------------------------------------------

def _igemm_forward(x, w):
    """What the iGEMM CUDA kernel computes (SLaK cutlass/examples/19_large_depthwise_conv2d_torch_extension/
    forward_fp32.cu: padding = filter_size / 2 on each axis, stride 1, dilation 1, groups = channels)."""
    import torch.nn.functional as F
    return F.conv2d(x, w, None, 1, (w.shape[2] // 2, w.shape[3] // 2), 1, x.shape[1])


def _igemm_no_backward(*_):
    raise NotImplementedError("stand-in for the iGEMM extension: forward only")


def build_slak_t(code):
    """SLaK_tiny with the README's ImageNet-1K SLaK-T settings: --kernel_size 51 49 47 13 5 --width_factor 1.3
    --Decom True (bn defaults to True in main.py). The sparse-training flags only mask weights.
    Every depthwise conv of models/SLaK.py is the iGEMM extension's DepthWiseConv2dImplicitGEMM (the official
    Python wrapper, executed here); only its compiled part, _depthwise_conv2d_implicit_gemm_C, is a stand-in."""
    ext = _module("_depthwise_conv2d_implicit_gemm_C", forward_fp32=_igemm_forward, forward_fp16=_igemm_forward,
                  backward_data_fp32=_igemm_no_backward, backward_filter_fp32=_igemm_no_backward,
                  backward_data_fp16=_igemm_no_backward, backward_filter_fp16=_igemm_no_backward)
    wrapper = os.path.join(code, "cutlass/examples/19_large_depthwise_conv2d_torch_extension/depthwise_conv2d_implicit_gemm.py")
    with patched_modules({"_depthwise_conv2d_implicit_gemm_C": ext, "timm.models.registry": registry_stand_in()}):
        igemm = load_file("depthwise_conv2d_implicit_gemm", wrapper)
        with patched_modules({"depthwise_conv2d_implicit_gemm": igemm}):
            slak = load_file("dwbench_official_slak", os.path.join(code, "models/SLaK.py"))
            return slak.SLaK_tiny(kernel_size=[51, 49, 47, 13, 5], width_factor=1.3, Decom=True, bn=True)


class _Registry:
    def register_module(self, *args, **kwargs):
        return lambda cls: cls


def _build_norm_layer(cfg, num_features):
    """mmcv.cnn.build_norm_layer for the two types LSKNet's configs use."""
    import torch.nn as nn
    kinds = {"BN": ("bn", nn.BatchNorm2d), "SyncBN": ("bn", nn.SyncBatchNorm)}
    if cfg.get("type") not in kinds:
        raise NotImplementedError(f"norm type {cfg.get('type')!r}")
    name, cls = kinds[cfg["type"]]
    return name, cls(num_features)


def _unused(*_, **__):
    raise NotImplementedError("mmcv stand-in: not used when only shapes are recorded")


def build_lsknet_s(code):
    """LSKNet backbone as configs/lsknet/lsk_s_fpn_1x_dota_le90.py builds it (LSKNet-S): embed_dims
    [64, 128, 320, 512], depths [2, 2, 4, 2], mlp_ratios default [8, 8, 4, 4], SyncBN; no checkpoint."""
    import torch.nn as nn

    class BaseModule(nn.Module):
        def __init__(self, init_cfg=None):
            super().__init__()
            self.init_cfg = init_cfg

    stand_ins = {
        "mmcv": _module("mmcv", package=True),
        "mmcv.cnn": _module("mmcv.cnn", package=True, build_norm_layer=_build_norm_layer),
        "mmcv.cnn.utils": _module("mmcv.cnn.utils", package=True),
        "mmcv.cnn.utils.weight_init": _module("mmcv.cnn.utils.weight_init", constant_init=_unused,
                                              normal_init=_unused, trunc_normal_init=_unused),
        "mmcv.runner": _module("mmcv.runner", BaseModule=BaseModule),
        "mmrotate": _module("mmrotate", package=True),
        "mmrotate.models": _module("mmrotate.models", package=True),
        "mmrotate.models.backbones": _module("mmrotate.models.backbones", package=True),
        "mmrotate.models.builder": _module("mmrotate.models.builder", ROTATED_BACKBONES=_Registry()),
    }
    with patched_modules(stand_ins):
        lsk = load_file("mmrotate.models.backbones.lsknet", os.path.join(code, "mmrotate/models/backbones/lsknet.py"))
        return lsk.LSKNet(embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2], drop_rate=0.1, drop_path_rate=0.1,
                          norm_cfg=dict(type="SyncBN", requires_grad=True))


@contextlib.contextmanager
def _unireplknet(code):
    """unireplknet.py with mmseg and the iGEMM extension absent (its own fallback: nn.Conv2d with padding k//2)."""
    with patched_modules({"timm.models.registry": registry_stand_in(), "mmseg": None, "mmcv": None,
                          "depthwise_conv2d_implicit_gemm": None}):
        yield load_file("dwbench_official_unireplknet", os.path.join(code, "unireplknet.py"))


def build_unireplknet_t(code):
    """unireplknet_t(), training form: each 13×13 DilatedReparamBlock with its parallel dilated branches."""
    with _unireplknet(code) as m:
        return m.unireplknet_t(deploy=False)


def build_unireplknet_t_deploy(code):
    """unireplknet_t(deploy=True), the inference structure; it must have the layers that
    reparameterize_unireplknet() leaves in a training-form model (checked)."""
    with _unireplknet(code) as m:
        deployed = m.unireplknet_t(deploy=True)
        converted = m.unireplknet_t(deploy=False)
        converted.eval()
        converted.reparameterize_unireplknet()
    return deployed, converted


def build_timm(name):
    import timm
    return timm.create_model(name, pretrained=False)


@dataclass
class Model:
    name: str
    repo: str               # key of PINNED, or "timm"
    build: object           # code dir (or None for timm) -> nn.Module, or (model, model that must match)
    stage: str              # regex: group 1 is the stage prefix; the block index after it is dropped
    about: list = field(default_factory=list)


MODELS = {m.name: m for m in [
    Model("slak-t", "slak", build_slak_t, r"^(stages\.\d+)\.\d+\.", [
        "SLaK-T: models/SLaK.py SLaK_tiny with the README's ImageNet-1K settings (--kernel_size 51 49 47 13 5",
        "--width_factor 1.3 --Decom True, bn on). Widths int(1.3 × [96, 192, 384, 768]) = 124/249/499/998. Each large",
        "kernel K is decomposed into two stripes, LoRA1 K×5 and LoRA2 5×K, plus a 5×5 small_conv (the code has no",
        "merged form for Decom). Every depthwise conv is the iGEMM extension's DepthWiseConv2dImplicitGEMM,",
        "whose CUDA kernel pads K/2 on each axis at stride 1 (forward_fp32.cu); that padding is the one written.",
        "Stem and downsampling layers are dense convolutions (not listed).",
    ]),
    Model("lsknet-s", "lsknet", build_lsknet_s, r"^(block\d+)\.\d+\.", [
        "LSKNet-S backbone: mmrotate/models/backbones/lsknet.py LSKNet as configs/lsknet/lsk_s_fpn_1x_dota_le90.py",
        "builds it (embed_dims 64/128/320/512, depths 2/2/4/2, mlp_ratios 8/8/4/4, SyncBN). Per block: the LSK",
        "attention's 5×5 conv0 and 7×7 dilation-3 conv_spatial, and the MLP's 3×3 on the widened channels.",
    ]),
    Model("unireplknet-t", "unireplknet", build_unireplknet_t, r"^(stages\.\d+)\.\d+\.", [
        "UniRepLKNet-T, training form: unireplknet.py unireplknet_t() (dims 80/160/320/640, depths 3/3/18/3,",
        "default kernel sizes: 3 in stage 0, 13 in stages 1 and 3, 13 and 3 alternating in stage 2). Each 13×13",
        "Dilated Reparam Block has lk_origin plus parallel dilated branches k5d1, k7d2, k3d3, k3d4, k3d5.",
        "No iGEMM extension: the code's own fallback, nn.Conv2d with padding K/2. Stem and downsampling are dense.",
    ]),
    Model("unireplknet-t-deploy", "unireplknet", build_unireplknet_t_deploy, r"^(stages\.\d+)\.\d+\.", [
        "UniRepLKNet-T, deployed form: unireplknet.py unireplknet_t(deploy=True), the structure",
        "reparameterize_unireplknet() leaves (checked to have the same depthwise layers): each Dilated Reparam",
        "Block is one 13×13 conv. No iGEMM extension: nn.Conv2d with padding K/2. Stem and downsampling are dense.",
    ]),
    Model("inceptionnext-t", "timm", lambda _: build_timm("inception_next_tiny"),
          r"^(stages\.\d+\.blocks)\.\d+\.", [
        "InceptionNeXt-T: timm inception_next_tiny. Each token mixer's depthwise convs act on 1/8 of the channels",
        "each: dwconv_hw 3×3, dwconv_w 1×11 and dwconv_h 11×1 (the last 5/8 pass through). Stem and downsampling are dense.",
    ]),
    Model("convnext-t", "timm", lambda _: build_timm("convnext_tiny"), r"^(stages\.\d+\.blocks)\.\d+\.", [
        "ConvNeXt-T: timm convnext_tiny. One 7×7 depthwise conv per block. Stem and downsampling are dense.",
    ]),
]}


# --- recording ------------------------------------------------------------------------------------

@dataclass
class Layer:
    name: str
    problem: DWProblem


@dataclass
class Recording:
    layers: list            # Layer, in forward order
    unrepresentable: list   # "name: reason"


def _depthwise_problem(module, x, y):
    """The problem of a depthwise conv module run on x giving y, or a string saying why it has no problem text."""
    n, c, h, w = x.shape
    k, s, d = tuple(module.kernel_size), tuple(module.stride), tuple(module.dilation)
    if type(module).__name__ == "DepthWiseConv2dImplicitGEMM":
        # Its nn.Conv2d attributes say padding 0; the CUDA kernel pads K/2 per axis (stride 1, dilation 1).
        if s != (1, 1) or d != (1, 1):
            return f"iGEMM conv with stride {s}, dilation {d}"
        p = (k[0] // 2, k[1] // 2)
    elif module.padding_mode != "zeros":
        return f"padding_mode {module.padding_mode!r}"
    elif module.padding == "valid":
        p = (0, 0)
    elif module.padding == "same":
        total = [di * (ki - 1) for ki, di in zip(k, d)]
        if any(t % 2 for t in total):
            return f"padding='same' with effective kernel {[t + 1 for t in total]}: asymmetric padding"
        p = (total[0] // 2, total[1] // 2)
    else:
        p = tuple(module.padding)
    problem = DWProblem(n, c, h, w, k, s, p, d)
    if problem.output() != tuple(y.shape[2:]):
        return f"{problem} gives {problem.output()}, the layer gave {tuple(y.shape[2:])}"
    return problem


def record(module, device):
    """Runs `module` on a 1×3×224×224 input, returning every depthwise Conv2d in forward order."""
    import torch
    import torch.nn as nn
    layers, unrepresentable, hooks = [], [], []
    for name, m in module.named_modules():
        if not isinstance(m, nn.Conv2d) or m.groups == 1:
            continue
        if not (m.groups == m.in_channels == m.out_channels):
            unrepresentable.append(f"{name}: groups {m.groups}, in {m.in_channels}, out {m.out_channels} (not depthwise)")
            continue

        def hook(mod, inputs, output, name=name):
            result = _depthwise_problem(mod, inputs[0], output)
            if isinstance(result, str):
                unrepresentable.append(f"{name}: {result}")
            else:
                layers.append(Layer(name, result))
        hooks.append(m.register_forward_hook(hook))
    module.eval()
    module.to(device)
    with torch.no_grad():
        module(torch.zeros(1, 3, RESOLUTION, RESOLUTION, device=device))
    for h in hooks:
        h.remove()
    return Recording(layers, unrepresentable)


def record_model(model, code, device):
    import torch
    torch.manual_seed(0)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        built = model.build(code)
        if isinstance(built, tuple):
            main, twin = built
            rec, twin_rec = record(main, device), record(twin, device)
            a = [(l.name, str(l.problem)) for l in rec.layers]
            b = [(l.name, str(l.problem)) for l in twin_rec.layers]
            if a != b:
                raise SystemExit(f"{model.name}: the two ways of building it disagree ({len(a)} vs {len(b)} layers)")
            return rec
        return record(built, device)


# --- shape files ----------------------------------------------------------------------------------

def group(model, layers):
    """(name, problem, count) rows: the block index dropped from each name, identical problems under one
    name in a stage merged, in order of first appearance."""
    stage_re = re.compile(model.stage)
    rows, index = [], {}
    for layer in layers:
        m = stage_re.match(layer.name)
        name = stage_re.sub(lambda g: g.group(1) + ".", layer.name, count=1) if m else layer.name
        key = (name, layer.problem)
        if key in index:
            rows[index[key]][2] += 1
        else:
            index[key] = len(rows)
            rows.append([name, layer.problem, 1])
    names = {}
    for row in rows:
        names.setdefault(row[0], []).append(row)
    for name, same in names.items():
        if len(same) > 1:   # one name, different problems (blocks of a stage differ): tell them apart
            for row in same:
                row[0] = f"{name}.k{pair_text(row[1].k)}"
    if len({r[0] for r in rows}) != len(rows):
        raise SystemExit(f"{model.name}: layer names are not unique after merging")
    return [tuple(r) for r in rows]


def source_line(model):
    if model.repo == "timm":
        return "# Source: timm (github.com/huggingface/pytorch-image-models), timm.create_model, eval mode, random weights."
    spec = PINNED[model.repo]
    return f"# Source: github.com/{spec['repo']} at commit {spec['commit']}, eval mode, random weights."


def written_with_line():
    import torch
    import timm
    return f"# Written with torch {torch.__version__.split('+')[0]}, timm {timm.__version__}."


def render(model, rows, unrepresentable):
    layers = sum(r[2] for r in rows)
    lines = [f"# {text}" for text in model.about]
    lines.append(f"# Every depthwise Conv2d at {RESOLUTION}×{RESOLUTION}, batch 1: {layers} layers, "
                 f"{len({r[1] for r in rows})} distinct problems.")
    for item in unrepresentable:
        lines.append(f"# Not representable, left out: {item}")
    lines.append(source_line(model))
    lines.append(written_with_line())
    lines.append("# Written by Benchmarks/shapes/family_shapes.py --write; --check compares this file with the model.")
    lines.append("# Format: layer-name  problem  [count]   (count = how many layers of the model have this problem)")
    name_width = max(len(r[0]) for r in rows) + 2
    problem_width = max(len(str(r[1])) for r in rows) + 2
    for name, problem, count in rows:
        lines.append(f"{name:<{name_width}}{str(problem):<{problem_width}}{count}".rstrip())
    return "\n".join(lines) + "\n"


def parse_rows(text):
    """(name, problem text, count) rows of a shape file, as ShapeFile.swift reads them; and header lines."""
    rows, header = [], []
    for line in text.splitlines():
        body = line.split("#", 1)[0]
        fields = body.split()
        if not fields:
            if line.strip():
                header.append(line)
            continue
        if len(fields) not in (2, 3):
            raise ValueError(f"expected 'name problem [count]': {line!r}")
        rows.append((fields[0], fields[1], int(fields[2]) if len(fields) == 3 else 1))
    return rows, header


def _is_volatile(line):
    return line.startswith("# Written with ")


def compare(path, expected_text):
    """One line per difference between the file at `path` and `expected_text`."""
    label = os.path.basename(path)
    if not os.path.exists(path):
        return [f"{label}: missing (run --write)"]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        have, have_header = parse_rows(text)
    except ValueError as e:
        return [f"{label}: {e}"]
    want, want_header = parse_rows(expected_text)
    out = []
    have_by, want_by = {r[0]: r for r in have}, {r[0]: r for r in want}
    for name, problem, count in want:
        if name not in have_by:
            out.append(f"{label}: {name}: model has {problem} ×{count}, the file has no such layer")
        elif have_by[name][1:] != (problem, count):
            out.append(f"{label}: {name}: file {have_by[name][1]} ×{have_by[name][2]}, model {problem} ×{count}")
    for name, problem, count in have:
        if name not in want_by:
            out.append(f"{label}: {name}: file has {problem} ×{count}, the model has no such layer")
    if not out and [r[0] for r in have] != [r[0] for r in want]:
        out.append(f"{label}: layers in another order than the model's")
    if not out and [l for l in have_header if not _is_volatile(l)] != [l for l in want_header if not _is_volatile(l)]:
        out.append(f"{label}: header differs from the generated one (run --write)")
    return out


# --- code directories -----------------------------------------------------------------------------

def fetch(key, parent, url_base):
    """Clones repository `key` at its pinned commit into parent/<dir> (depth 1); reuses a checkout there
    that already holds the pinned files."""
    spec = PINNED[key]
    dest = os.path.join(parent, spec["dir"])
    if os.path.isdir(dest):
        try:
            verify_code(key, dest)
            return dest
        except SystemExit:
            if not os.path.isdir(os.path.join(dest, ".git")):
                raise
    else:
        subprocess.run(["git", "init", "-q", dest], check=True)
    url = f"{url_base.rstrip('/')}/{spec['repo']}.git"
    print(f"fetching {url} {spec['commit'][:12]} into {dest}", file=sys.stderr)
    subprocess.run(["git", "-C", dest, "fetch", "-q", "--depth", "1", url, spec["commit"]], check=True)
    subprocess.run(["git", "-C", dest, "checkout", "-q", "--detach", "FETCH_HEAD"], check=True)
    return dest


def code_dirs(args, needed):
    """{repository key: checkout} for the `needed` repositories, verified; and the temporary directory made
    for --fetch without --code (None otherwise), for the caller to remove."""
    given = {"slak": args.slak, "lsknet": args.lsknet, "unireplknet": args.unireplknet}
    parent, temporary = args.code, None
    if args.fetch and parent is None and any(given[k] is None for k in needed):
        parent = temporary = tempfile.mkdtemp(prefix="dwbench-model-code-")
    dirs, missing = {}, []
    for key in needed:
        if given[key] is not None:
            dirs[key] = given[key]
        elif parent is not None and args.fetch:
            os.makedirs(parent, exist_ok=True)
            dirs[key] = fetch(key, parent, args.git_url_base)
        elif parent is not None:
            dirs[key] = os.path.join(parent, PINNED[key]["dir"])
        else:
            missing.append(key)
    if missing:
        names = ", ".join(f"--{k} ({PINNED[k]['repo']})" for k in missing)
        raise SystemExit(f"no code for {names}: pass it, --code DIR holding {', '.join(PINNED[k]['dir'] for k in missing)}/, or --fetch")
    for key in needed:
        verify_code(key, dirs[key])
    return dirs, temporary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the shape files")
    mode.add_argument("--check", action="store_true", help="compare the shape files with the models; exit 1 on a difference")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    ap.add_argument("--code", help="directory holding the official clones as SLaK/, LSKNet/, UniRepLKNet/")
    ap.add_argument("--slak", help="VITA-Group/SLaK checkout")
    ap.add_argument("--lsknet", help="zcablii/LSKNet checkout")
    ap.add_argument("--unireplknet", help="AILab-CVC/UniRepLKNet checkout")
    ap.add_argument("--fetch", action="store_true",
                    help="clone missing repositories at their pinned commits (into --code, else a temporary directory)")
    ap.add_argument("--git-url-base", default="https://github.com", help="where --fetch clones from (default %(default)s)")
    ap.add_argument("--dir", default=HERE, help="where the shape files are (default: this script's directory)")
    ap.add_argument("--device", default="meta", choices=["meta", "cpu"],
                    help="run the forward pass on the meta device (shapes only, default) or really on the CPU")
    args = ap.parse_args(argv)

    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    needed = sorted({MODELS[n].repo for n in names} - {"timm"})
    dirs, temporary = code_dirs(args, needed)
    try:
        problems = []
        for name in names:
            model = MODELS[name]
            rec = record_model(model, dirs.get(model.repo), args.device)
            text = render(model, group(model, rec.layers), rec.unrepresentable)
            path = os.path.join(args.dir, f"{name}.txt")
            for item in rec.unrepresentable:
                print(f"{name}: not representable: {item}", file=sys.stderr)
            if args.write:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                print(f"wrote {path}: {len(rec.layers)} layers", file=sys.stderr)
            else:
                problems += compare(path, text)
        for line in problems:
            print(line)
        if args.check and not problems:
            print(f"ok: {', '.join(names)}", file=sys.stderr)
        return 1 if problems else 0
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
