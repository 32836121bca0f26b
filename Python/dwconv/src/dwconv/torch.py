"""PyTorch integration: `convert` swaps an eval-mode model's depthwise (and, with pointwise=True, 1×1)
convolutions for libdwconv's, as torch.library custom ops that torch.compile traces as single graph nodes.

    import dwconv.torch
    model = dwconv.torch.convert(model.eval(), pointwise=True)     # returns the module, as ipex.optimize does
    print(model.dwconv_report)                                     # what was replaced, what was left and why
    model = model.to(memory_format=torch.channels_last)
    torch._inductor.config.freezing = True
    fast = torch.compile(model)                                    # fullgraph=True works too
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):   # optional: 1×1 layers on the bf16 engine
        logits = fast(images.to(memory_format=torch.channels_last))

The ops take tensors and plain numbers, have fake implementations (torch.library.opcheck passes), and read a
channels_last input as it is: the output has the input's memory format, as nn.Conv2d's has.

    torch.ops.dwconv.depthwise_conv2d(x, weight, bias, stride, padding, dilation, runtime, index)   # as aten::conv2d:
    torch.ops.dwconv.depthwise_conv2d.padding(x, weight, bias, stride, "same", dilation, runtime, index)  # (h, w) pairs
    torch.ops.dwconv.pointwise_conv2d(x, weight, bias, residual, activation, runtime, index)

Every depthwise nn.Conv2d is replaced: rectangular kernels (KH×KW), stride, padding and dilation per axis,
padding 'same' and 'valid'. A bf16 input (autocast) gives a bf16 output; the 1×1 layers then run on libdwconv's
bf16 engine where the CPU has avx512_bf16, the depthwise ones in fp32, and both read and write the bf16 tensors in
place (no float32 copies).

Threads: by default the layers run on PyTorch's own intra-op threads (its OpenMP runtime, through libdwconv's
host parallel-for), as many as torch.get_num_threads() says at each call; no second pool. `threads=N` gives the
layers a pool of their own instead, `context=` a context you made.

Weights are packed once per layer, input size and thread count, the first time a layer runs, and again only
when the weight tensor is replaced or modified in place (load_state_dict, freezing's constants): the cache lives
in the op's implementation, which torch.compile does not trace.

Inference only: the replaced layers compute no gradient, so a forward pass that would need one raises.
"""
import copy
import itertools
import json
import operator
import os
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.fx
from torch._prims_common import suggest_memory_format
from torch import nn

from . import Context, Depthwise, Pointwise, PlanWarning, precision_supported, _depthwise_geometry, _depthwise_output_size

__all__ = ["convert", "tune", "DepthwiseConv2d", "PointwiseConv2d", "PointwiseLinear", "ConvertReport", "Runtime"]


# ---------------------------------------------------------------------------------------------------------------
# The runtime: contexts and packed layers of one converted model, outside anything torch.compile traces.

def _openmp_runtime_path():
    """The GNU OpenMP runtime PyTorch runs its intra-op threads on (the libgomp it loaded), or None when its
    parallel backend is something else (a native pool, TBB) or the runtime is not GNU's."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if os.path.basename(path).startswith("libgomp") and ".so" in path:
                    return path
    except OSError:
        return None
    return None


def _plan_threads(path):
    """The thread count a plan file was tuned for, or None when it cannot be read (the library says why)."""
    try:
        with open(path) as f:
            return int(json.load(f)["threads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


_RUNTIMES = weakref.WeakValueDictionary()
_RUNTIME_IDS = itertools.count(1)


class Runtime:
    """What the layers of one converted model share: how contexts are made (PyTorch's threads, a pool of
    their own, or a given context), the plans, and the cache of packed libdwconv layers. Ops find it by the
    integer id they carry; a converted module keeps it alive."""

    def __init__(self, *, threads=None, plan=None, plan_only=False, spin_us=0, context=None):
        self.id = next(_RUNTIME_IDS)
        self.fixed_threads = threads
        self.plans = [] if plan is None else ([plan] if isinstance(plan, (str, os.PathLike)) else list(plan))
        self.plan_only = plan_only
        self.spin_us = spin_us
        self._given = context
        self._contexts = {}
        self._layers = {}
        self._lock = threading.Lock()
        self.openmp = None if (context is not None or threads is not None) else _openmp_runtime_path()
        _RUNTIMES[self.id] = self

    def __deepcopy__(self, memo):
        return self          # a copy of a converted model shares its runtime (ctypes handles are not copied)

    @property
    def executor(self):
        """One line: where the layers run."""
        if self._given is not None:
            return f"the given context ({self._given.threads} threads)"
        if self.fixed_threads is not None:
            return f"a pool of their own ({self.fixed_threads} threads)"
        if self.openmp is not None:
            return f"PyTorch's intra-op threads (OpenMP runtime {self.openmp})"
        return "a pool of their own, torch.get_num_threads() threads (PyTorch's runtime is not GNU OpenMP)"

    def _plan_for(self, threads):
        """The first plan tuned for `threads`, else the first plan (the library then says why not)."""
        for p in self.plans:
            if _plan_threads(p) == threads:
                return p
        return self.plans[0] if self.plans else None

    def context(self, threads=None):
        """The context for `threads` (default: PyTorch's current intra-op thread count), made on first use."""
        if self._given is not None:
            return self._given
        t = self.fixed_threads if self.fixed_threads is not None else (threads or torch.get_num_threads())
        ctx = self._contexts.get(t)
        if ctx is None:
            with self._lock:
                ctx = self._contexts.get(t)
                if ctx is None:
                    plan = self._plan_for(t)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", PlanWarning)
                        if self.openmp is not None and t > 1:
                            from . import openmp_context
                            ctx = openmp_context(self.openmp, t, plan=plan, plan_only=self.plan_only)
                        else:
                            ctx = Context(threads=t, plan=plan, plan_only=self.plan_only, spin_us=self.spin_us)
                    if ctx.plan_warning is not None:
                        warnings.warn(ctx.plan_warning, PlanWarning, stacklevel=3)
                    self._contexts[t] = ctx
        return ctx

    def layer(self, key, weight, make):
        """The packed layer cached under `key`, made by make(context) when missing or when `weight` is another
        tensor, or the same one modified in place, than the one it was packed from."""
        ctx = self.context()
        full = key + (id(ctx),)
        version = _version(weight)
        entry = self._layers.get(full)
        if entry is not None and entry[0]() is weight and entry[1] == version:
            return entry[2]
        with self._lock:
            layer = make(ctx)
            self._layers[full] = (weakref.ref(weight), version, layer)
        return layer


def _version(t):
    try:
        return t._version
    except RuntimeError:            # an inference tensor has no version counter
        return None


def _runtime(runtime_id):
    """The runtime an op names; a call from elsewhere (opcheck, a graph built by hand) gets a private one."""
    rt = _RUNTIMES.get(runtime_id)
    if rt is None:
        rt = _FALLBACK.get("rt")
        if rt is None:
            rt = _FALLBACK.setdefault("rt", Runtime())
    return rt


_FALLBACK = {}


# ---------------------------------------------------------------------------------------------------------------
# The custom ops.

def _format(x):
    """The memory format of the op's output and of the buffer its kernel reads: PyTorch's own rule for a
    convolution's output (suggest_memory_format: channels_last for NHWC strides, including a channel slice of an
    NHWC tensor, which is then packed densely), followed alike by the real and the fake kernels."""
    return suggest_memory_format(x)


# The element types libdwconv reads and writes itself (dwconv_dtype); others go through float32.
_IO_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16"}


def _io_input(x, fmt, dtype=None):
    """x dense in memory format `fmt` (a view when it already is), as `dtype`, or as x's own dtype where libdwconv
    reads it (float32, bfloat16), float32 otherwise. A bf16 tensor is passed as it is: the layer widens it on the
    fly and rounds its output once, with no float32 copy on either side."""
    dtype = dtype or (x.dtype if x.dtype in _IO_DTYPES else torch.float32)
    if x.dtype != dtype:
        x = x.to(dtype)
    return x.contiguous(memory_format=fmt)


def _execute(layer, n, x, out, residual):
    layer.execute_pointers(n, x.data_ptr(), out.data_ptr(), residual.data_ptr() if residual is not None else None,
                           dtype=_IO_DTYPES[x.dtype])


# Defined with torch.library.Library (the schema, a CPU kernel, a fake kernel) rather than the custom_op
# decorator: the same op for torch.compile and opcheck, at 7 µs of dispatch per call instead of 18 µs.
# depthwise_conv2d mirrors aten::conv2d and its .padding overload (padding 'same' or 'valid'): stride, padding and
# dilation per axis, an int standing for both axes.
_LIB = torch.library.Library("dwconv", "DEF")
_LIB.define("depthwise_conv2d(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, int[2] dilation, int runtime, "
            "int index) -> Tensor")
_LIB.define("depthwise_conv2d.padding(Tensor x, Tensor weight, Tensor? bias, int[2] stride, str padding, int[2] dilation, "
            "int runtime, int index) -> Tensor")
_LIB.define("pointwise_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor? residual, str activation, int runtime, int index) -> Tensor")


def depthwise_conv2d(x, weight, bias, stride, padding, dilation, runtime, index):
    """torch.ops.dwconv.depthwise_conv2d: conv2d(x, weight, bias, stride, padding, dilation, groups=C) on libdwconv;
    x (N, C, H, W) float32 or bfloat16, NCHW or channels_last; weight (C, 1, KH, KW); stride, dilation (and padding,
    rows above and below, columns left and right) per axis; the .padding overload takes padding 'same' (stride 1)
    or 'valid'. The output has x's dtype and memory format. A 'same' padding whose total d·(k − 1) is odd on an
    axis has PyTorch's one more zero row (column) at the bottom (right): the input is then copied into a tensor
    that has it (libdwconv pads symmetrically), the one copy of this op. `runtime`/`index` name the converted
    model's runtime and the layer in it (the cache of packed weights); other values work, uncached."""
    n, c, h, w = x.shape
    kernel = tuple(weight.shape[-2:])
    stride, pad, extra, dilation = _depthwise_geometry(kernel, stride, padding, dilation)
    fmt = _format(x)
    layout = "nhwc" if fmt is torch.channels_last else "nchw"
    rt = _runtime(runtime)
    layer = rt.layer(("dw", index, c, h, w, kernel, stride, pad, extra, dilation, layout), weight,
                     lambda ctx: Depthwise(weight.detach().float(), None if bias is None else bias.detach().float(), stride,
                                           pad if extra == (0, 0) else "same", dilation, height=h, width=w, context=ctx, layout=layout))
    if extra == (0, 0):
        xi = _io_input(x, fmt)
    else:
        eh, ew = extra
        xi = torch.empty((n, c, h + eh, w + ew), dtype=x.dtype if x.dtype in _IO_DTYPES else torch.float32, memory_format=fmt)
        xi[:, :, h:, :].zero_()
        xi[:, :, :h, w:].zero_()
        xi[:, :, :h, :w].copy_(x)
    oh, ow = _depthwise_output_size(h, w, kernel, stride, pad, extra, dilation)
    out = torch.empty((n, c, oh, ow), dtype=xi.dtype, memory_format=fmt)
    _execute(layer, n, xi, out, None)
    return out if out.dtype == x.dtype else out.to(x.dtype)


def _depthwise_fake(x, weight, bias, stride, padding, dilation, runtime, index):
    n, c, h, w = x.shape
    kernel = tuple(weight.shape[-2:])
    oh, ow = _depthwise_output_size(h, w, kernel, *_depthwise_geometry(kernel, stride, padding, dilation))
    return torch.empty((n, c, oh, ow), dtype=x.dtype, device=x.device, memory_format=_format(x))


def pointwise_conv2d(x, weight, bias, residual, activation, runtime, index):
    """torch.ops.dwconv.pointwise_conv2d: activation(conv2d(x, weight, bias)) (+ residual) for a 1×1 weight (O, C, 1,
    1) on libdwconv; activation 'none', 'relu' or 'gelu' (exact). x NCHW or channels_last, float32 or bfloat16
    (then the bf16 engine runs where the CPU has it); the output has x's dtype and memory format."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got {activation!r}")
    n, c, h, w = x.shape
    o = weight.shape[0]
    fmt = _format(x)
    layout = "nhwc" if fmt is torch.channels_last else "nchw"
    bf16 = x.dtype == torch.bfloat16 and _BF16[0]
    rt = _runtime(runtime)
    layer = rt.layer(("pw", index, c, o, h, w, activation, residual is not None, layout, bf16), weight,
                     lambda ctx: Pointwise(weight.detach().float(), None if bias is None else bias.detach().float(), height=h, width=w,
                                           activation=None if activation == "none" else activation, residual=residual is not None,
                                           context=ctx, layout=layout, precision="bf16" if bf16 else "fp32"))
    xi = _io_input(x, fmt)
    r = _io_input(residual, fmt, xi.dtype) if residual is not None else None
    out = torch.empty((n, o, h, w), dtype=xi.dtype, memory_format=fmt)
    _execute(layer, n, xi, out, r)
    return out if out.dtype == x.dtype else out.to(x.dtype)


def _pointwise_fake(x, weight, bias, residual, activation, runtime, index):
    n, c, h, w = x.shape
    return torch.empty((n, weight.shape[0], h, w), dtype=x.dtype, device=x.device, memory_format=_format(x))


_ACTIVATIONS = ("none", "relu", "gelu")
_BF16 = [precision_supported("bf16")]
_LIB.impl("depthwise_conv2d", depthwise_conv2d, "CPU")
_LIB.impl("depthwise_conv2d.padding", depthwise_conv2d, "CPU")
_LIB.impl("pointwise_conv2d", pointwise_conv2d, "CPU")
torch.library.register_fake("dwconv::depthwise_conv2d", _depthwise_fake, lib=_LIB)
torch.library.register_fake("dwconv::depthwise_conv2d.padding", _depthwise_fake, lib=_LIB)
torch.library.register_fake("dwconv::pointwise_conv2d", _pointwise_fake, lib=_LIB)


# ---------------------------------------------------------------------------------------------------------------
# The modules convert puts in.

def _refuse_grad(*tensors):
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        raise RuntimeError("dwconv layers are inference only and compute no gradient: run the model under "
                           "torch.no_grad() or torch.inference_mode()")


class DepthwiseConv2d(nn.Module):
    """A depthwise nn.Conv2d run by libdwconv through torch.ops.dwconv.depthwise_conv2d: any kernel (KH×KW), stride,
    zero padding (per axis, 'same' or 'valid') and dilation. Its weight and bias stay parameters (state_dict keys
    are unchanged). `dtypes` are the input dtypes it runs on libdwconv; for any other (those where convert's
    measurement found PyTorch faster) it is PyTorch's conv2d, as before. padding: the conv's own unless given.

    stride, padding and dilation are kept as (h, w) pairs; padding stays 'same' only when PyTorch's 'same' puts
    one more zero row or column at the bottom or right (an odd total d·(k − 1)), which the op's .padding overload
    computes (with a copy of the input, see the op); any other 'same', and 'valid', become their pairs."""

    def __init__(self, conv: nn.Conv2d, runtime: Runtime, index: int, padding=None):
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        padding = conv.padding if padding is None else padding
        self.stride, pad, extra, self.dilation = _depthwise_geometry(conv.kernel_size, conv.stride, padding, conv.dilation)
        self.padding = "same" if extra != (0, 0) else pad
        self.runtime = runtime
        self.runtime_id = runtime.id
        self.index = index
        self.dtypes = frozenset({torch.float32, torch.bfloat16})

    def extra_repr(self):
        c, _, kh, kw = self.weight.shape
        on = ", ".join(sorted(str(d).replace("torch.", "") for d in self.dtypes)) or "none"
        return (f"{c}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
                f"dwconv for {on}")

    def forward(self, x):
        if x.dtype not in self.dtypes:
            return nn.functional.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.weight.shape[0])
        _refuse_grad(x, self.weight)
        if isinstance(self.padding, str):
            return torch.ops.dwconv.depthwise_conv2d.padding(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                                             self.runtime_id, self.index)
        return torch.ops.dwconv.depthwise_conv2d.default(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                                         self.runtime_id, self.index)


def _call_ms(fn):
    """Milliseconds one call of fn takes."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def _captured_inputs(model, example_input, kinds):
    """{module name: its positional arguments} for every module of `kinds` that `model` calls on example_input
    (the first call of each). The hooks return None, so the modules' outputs are left as they are."""
    captured = {}

    def capture(name):
        def hook(module, args, output):
            captured.setdefault(name, tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args))
        return hook
    hooks = [m.register_forward_hook(capture(name)) for name, m in model.named_modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for h in hooks:
            h.remove()
    return captured


def _keep_where_faster(model, converted, example_input, report, repeat=7):
    """Times every replaced layer against PyTorch on the input it gets from `example_input`, in its memory format:
    a depthwise layer against conv2d, an nn.Linear over NHWC against linear (inputs captured from the original
    model), a fused 1×1 layer against conv2d followed by the same epilogue (inputs captured from the converted
    model). In float32 and, where the CPU runs bf16, in bfloat16 under autocast; the two sides alternate call by
    call. A layer keeps libdwconv only for the dtypes where it measured faster; the report's line for each gives
    both medians. PyTorch's side runs eager (oneDNN with its weights reordered per call, the epilogue unfused),
    which inductor freezing improves on: a layer within a few percent may go either way."""
    inputs = _captured_inputs(model, example_input, (nn.Conv2d, nn.Linear))
    fused = _captured_inputs(converted, example_input, PointwiseConv2d)
    dtypes = [torch.float32] + ([torch.bfloat16] if precision_supported("bf16") else [])
    notes = {}
    for name, layer in converted.named_modules():
        if isinstance(layer, PointwiseConv2d) and name in fused:
            args = fused[name]
        elif isinstance(layer, (DepthwiseConv2d, PointwiseLinear)) and name in inputs and inputs[name][0].dim() == 4:
            args = inputs[name][:1]
        else:
            continue
        keep, times = set(), []
        for dtype in dtypes:
            x = args[0].to(dtype)
            rest = tuple(a.to(dtype) if isinstance(a, torch.Tensor) else a for a in args[1:])
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
            ours = lambda: layer(x, *rest)  # noqa: E731
            if isinstance(layer, PointwiseConv2d):
                def theirs(layer=layer, x=x, rest=rest):
                    kept, layer.dtypes = layer.dtypes, frozenset()
                    try:
                        return layer(x, *rest)
                    finally:
                        layer.dtypes = kept
            elif isinstance(layer, PointwiseLinear):
                theirs = lambda: nn.functional.linear(x, layer.weight, layer.bias)  # noqa: E731
            else:
                theirs = lambda: nn.functional.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation,  # noqa: E731
                                                      layer.weight.shape[0])
            with torch.no_grad(), autocast:
                for _ in range(2):
                    ours(), theirs()
                pairs = [(_call_ms(ours), _call_ms(theirs)) for _ in range(repeat)]
                a = sorted(p[0] for p in pairs)[repeat // 2]
                b = sorted(p[1] for p in pairs)[repeat // 2]
            if a < b:
                keep.add(dtype)
            times.append(f"{str(dtype).replace('torch.', '')} {a:.3f} vs PyTorch {b:.3f} ms")
        layer.dtypes = frozenset(keep)
        notes[getattr(layer, "source", name)] = ("; measured " + ", ".join(times) + ("" if keep == set(dtypes) else
                       f" (PyTorch kept for {', '.join(str(d).replace('torch.', '') for d in dtypes if d not in keep)})"))
    report.replaced = [(n, what + notes.get(n, "")) for n, what in report.replaced]


class PointwiseConv2d(nn.Module):
    """A 1×1 nn.Conv2d run by libdwconv, with what followed it fused in: the BatchNorm before it (folded into
    its weights), the BatchNorm after it (folded), a ReLU or exact GELU, and a residual addition."""

    def __init__(self, weight, bias, activation, residual, runtime, index):
        super().__init__()
        self.register_buffer("weight", weight.detach().contiguous())
        self.register_buffer("bias", bias.detach().contiguous())
        self.activation = activation or "none"
        self.residual = residual
        self.runtime = runtime
        self.runtime_id = runtime.id
        self.index = index
        self.dtypes = frozenset({torch.float32, torch.bfloat16})

    def extra_repr(self):
        o, c = self.weight.shape[:2]
        return f"{c} → {o}, activation={self.activation}, residual={self.residual}, dwconv"

    def forward(self, x, residual=None):
        if x.dtype not in self.dtypes:      # PyTorch measured faster here: its conv2d and the same epilogue
            y = nn.functional.conv2d(x, self.weight, self.bias)
            y = nn.functional.relu(y) if self.activation == "relu" else nn.functional.gelu(y) if self.activation == "gelu" else y
            return y if residual is None else y + residual
        _refuse_grad(x)
        return torch.ops.dwconv.pointwise_conv2d(x, self.weight, self.bias, residual, self.activation, self.runtime_id, self.index)


class PointwiseLinear(nn.Module):
    """An nn.Linear applied over the channels of an (N, H, W, C) tensor (ConvNeXt's MLP on channels_last maps),
    run by libdwconv's 1×1 convolution on the NHWC view; any other input goes to F.linear unchanged."""

    def __init__(self, linear: nn.Linear, runtime: Runtime, index: int):
        super().__init__()
        self.weight = linear.weight
        self.bias = linear.bias
        self.runtime = runtime
        self.runtime_id = runtime.id
        self.index = index
        self.dtypes = frozenset({torch.float32, torch.bfloat16})

    def extra_repr(self):
        o, c = self.weight.shape
        return f"{c} → {o}, dwconv over NHWC"

    def forward(self, x):
        if x.dim() != 4 or not x.is_contiguous() or x.dtype not in self.dtypes:
            return nn.functional.linear(x, self.weight, self.bias)
        _refuse_grad(x, self.weight)
        o, c = self.weight.shape
        y = torch.ops.dwconv.pointwise_conv2d(x.permute(0, 3, 1, 2), self.weight.view(o, c, 1, 1), self.bias, None, "none",
                                              self.runtime_id, self.index)
        return y.permute(0, 2, 3, 1)


# ---------------------------------------------------------------------------------------------------------------
# convert

@dataclass
class ConvertReport:
    replaced: list = field(default_factory=list)
    left: list = field(default_factory=list)
    executor: str = ""

    def __str__(self):
        depthwise = sum(1 for _, what in self.replaced if not what.startswith(("1×1", "linear")))
        lines = [f"dwconv.torch.convert: {depthwise} depthwise and {len(self.replaced) - depthwise} 1×1 layers replaced, "
                 f"{len(self.left)} convolutions left; layers run on {self.executor}"]
        lines += [f"  replaced {name}: {what}" for name, what in self.replaced]
        lines += [f"  left     {name}: {why}" for name, why in self.left]
        return "\n".join(lines)


# Problem.Limits.maxKernel of Sources/DWCore/Problem.swift: the largest kernel extent d·(k − 1) + 1 (and padding + 1)
# libdwconv accepts on either axis.
_MAX_EXTENT = 1023


def _own_forward(conv: nn.Conv2d):
    """The name of a Conv2d subclass that computes something of its own (its forward or _conv_forward overridden), or
    None. Such a module's attributes need not describe what it computes: SLaK's DepthWiseConv2dImplicitGEMM says
    padding 0 and pads K/2 inside its CUDA kernel; timm's Conv2dSame pads at run time."""
    cls = type(conv)
    if cls.forward is nn.Conv2d.forward and cls._conv_forward is nn.Conv2d._conv_forward:
        return None
    return f"{cls.__module__}.{cls.__qualname__}"


def _why_not(conv: nn.Conv2d):
    """None when libdwconv computes this convolution exactly; otherwise the reason."""
    own = _own_forward(conv)
    if own is not None:
        return (f"a Conv2d subclass with its own forward ({own}): its stride, padding and dilation attributes need not be "
                f"what it computes, so it is left as it is")
    c_in, c_out, g = conv.in_channels, conv.out_channels, conv.groups
    if not (g == c_in == c_out):
        if g == c_in and c_out % c_in == 0:
            return (f"not depthwise with one filter per channel: channel multiplier {c_out // c_in} ({c_in} → {c_out} channels, "
                    f"groups {g}), libdwconv's depthwise layers have multiplier 1")
        return f"not depthwise (groups {g}, {c_in} → {c_out} channels)"
    if conv.padding_mode != "zeros":
        return f"padding mode '{conv.padding_mode}' (libdwconv pads with zeros only)"
    try:
        _, pad, _, dilation = _depthwise_geometry(conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    except (ValueError, TypeError) as e:
        return str(e)
    for axis, k, d, p in zip(("height", "width"), conv.kernel_size, dilation, pad):
        if d * (k - 1) + 1 > _MAX_EXTENT or p >= _MAX_EXTENT:
            return f"kernel {k} at dilation {d}, padding {p} along the {axis}: over libdwconv's limit of {_MAX_EXTENT}"
    if conv.weight.dtype != torch.float32 or conv.weight.device.type != "cpu":
        return f"weights are {conv.weight.dtype} on {conv.weight.device}; dwconv takes float32 on the CPU"
    return None


def _why_not_pointwise(conv: nn.Conv2d):
    """None when libdwconv can run `conv` as a 1×1 layer (the one rule, for convert and the fusion pass alike),
    otherwise why not."""
    own = _own_forward(conv)
    if own is not None:
        return f"a Conv2d subclass with its own forward ({own})"
    if conv.kernel_size != (1, 1) or conv.groups != 1:
        return f"not a 1×1 convolution (kernel {conv.kernel_size}, groups {conv.groups})"
    if conv.stride != (1, 1) or conv.padding not in ((0, 0), "valid") or conv.dilation != (1, 1):
        return f"stride {conv.stride}, padding {conv.padding}, dilation {conv.dilation}"
    if conv.padding_mode != "zeros":
        return f"padding mode '{conv.padding_mode}'"
    if conv.weight.dtype != torch.float32 or conv.weight.device.type != "cpu":
        return f"weights are {conv.weight.dtype} on {conv.weight.device}; dwconv takes float32 on the CPU"
    return None


def _axes(pair, sep="×"):
    """An (h, w) pair as the report writes it: one number when both axes agree."""
    return f"{pair[0]}" if pair[0] == pair[1] else f"{pair[0]}{sep}{pair[1]}"


def _describe(conv: nn.Conv2d):
    """The report's line for a depthwise conv convert replaces: '96 channels, 7×7, stride 1, padding 3',
    '12 channels, 1×11, stride 1, padding 0×5', '64 channels, 7×7, stride 1, padding 9, dilation 3'."""
    kh, kw = conv.kernel_size
    stride, pad, extra, dilation = _depthwise_geometry(conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    padding = _axes(pad)
    if extra != (0, 0):
        padding += " + " + " and ".join(what for n, what in zip(extra, ("1 zero row at the bottom", "1 zero column at the right")) if n) \
                   + " ('same', the input copied)"
    text = f"{conv.in_channels} channels, {kh}×{kw}, stride {_axes(stride)}, padding {padding}"
    return text + ("" if dilation == (1, 1) else f", dilation {_axes(dilation)}")


def _problem_text(n, c, h, w, conv: nn.Conv2d):
    """The dwbench problem (Problem's text form, n{N}c{C}h{H}w{W}k{K}s{S}p{P}[d{D}], each of k, s, p, d one number or
    {H}x{W}) of the layer libdwconv makes for `conv` on an (n, c, h, w) input: for a 'same' padding with an odd
    total, the map enlarged by the zero row or column that the op adds."""
    stride, pad, (eh, ew), dilation = _depthwise_geometry(conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    d = "" if dilation == (1, 1) else "d" + _axes(dilation, "x")
    return f"n{n}c{c}h{h + eh}w{w + ew}k{_axes(conv.kernel_size, 'x')}s{_axes(stride, 'x')}p{_axes(pad, 'x')}{d}"


def _single_user(node):
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _module_node(node, modules, kind):
    return node is not None and node.op == "call_module" and isinstance(modules.get(node.target), kind)


def _bn_affine(bn):
    """(scale, shift) of an eval-mode BatchNorm2d: y = x·scale + shift, per channel, in float64."""
    std = (bn.running_var.double() + bn.eps).sqrt()
    scale = (bn.weight.double() if bn.weight is not None else torch.ones_like(std)) / std
    shift = (bn.bias.double() if bn.bias is not None else torch.zeros_like(std)) - bn.running_mean.double() * scale
    return scale, shift


def _fuse_pointwise(gm, runtime, indices, report):
    """Replaces every 1×1 convolution (groups 1, stride 1, no padding) of a GraphModule by a PointwiseConv2d,
    folding a BatchNorm2d that feeds only it and one that follows it, and fusing a following ReLU or exact
    GELU and a residual addition (through an Identity, as a zero drop path is)."""
    modules = dict(gm.named_modules())
    names = {id(m): n for n, m in modules.items()}
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    count = 0
    for node in list(gm.graph.nodes):
        if not _module_node(node, modules, nn.Conv2d):
            continue
        conv = modules[node.target]
        if _why_not_pointwise(conv) is not None:
            continue
        w = conv.weight.detach().double().reshape(conv.out_channels, conv.in_channels)
        b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64)
        fused, chain, erase = [], [], []
        source = node.args[0]
        if _module_node(source, modules, nn.BatchNorm2d) and _single_user(source) is node:
            scale, shift = _bn_affine(modules[source.target])
            b = b + w @ shift
            w = w * scale
            node.args = (source.args[0],)
            erase.append(source)
            fused.append("preceding BatchNorm")
        last = node
        nxt = _single_user(last)
        if _module_node(nxt, modules, nn.BatchNorm2d):
            scale, shift = _bn_affine(modules[nxt.target])
            w, b = w * scale[:, None], b * scale + shift
            chain.append(nxt)
            last = nxt
            fused.append("BatchNorm")
            nxt = _single_user(last)
        activation = None
        if _module_node(nxt, modules, nn.ReLU):
            activation = "relu"
        elif _module_node(nxt, modules, nn.GELU) and modules[nxt.target].approximate == "none":
            activation = "gelu"
        if activation:
            chain.append(nxt)
            last = nxt
            fused.append(activation.upper())
            nxt = _single_user(last)
        through = []
        probe, following = last, nxt
        while _module_node(following, modules, nn.Identity) and _single_user(following) is not None:
            through.append(following)
            probe, following = following, _single_user(following)
        residual = None
        if following is not None and following.op == "call_function" and following.target in (operator.add, torch.add) \
                and len(following.args) == 2 and not following.kwargs and probe in following.args:
            other = following.args[1] if following.args[0] is probe else following.args[0]
            if isinstance(other, torch.fx.Node) and other is not probe and order[other] < order[node]:
                residual = other
                chain += through + [following]
                last = following
                fused.append("residual")
        name = f"dwconv_pw{count}"
        count += 1
        layer = PointwiseConv2d(w.float().reshape(conv.out_channels, conv.in_channels, 1, 1), b.float(), activation,
                                residual is not None, runtime, next(indices))
        layer.source = names[id(conv)]          # the report's name for it
        gm.add_submodule(name, layer)
        node.target = name
        if residual is not None:
            node.args = (node.args[0], residual)
        if last is not node:
            last.replace_all_uses_with(node)
        for n in reversed(chain):
            gm.graph.erase_node(n)
        for n in erase:
            gm.graph.erase_node(n)
        report.replaced.append((names[id(conv)], f"1×1 {conv.in_channels} → {conv.out_channels}" + (" + " + ", ".join(fused) if fused else "")))
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()


def convert(module: nn.Module, plan=None, threads=None, *, pointwise=False, linear=False, plan_only=False, spin_us=0,
            context=None, report=False, example_input=None):
    """A copy of eval-mode `module` in which every depthwise nn.Conv2d (groups == in == out channels, zero padding)
    runs on libdwconv: any kernel, square or not (RepLKNet's 31×31, InceptionNeXt's 1×11 and 11×1 bands), stride,
    padding and dilation per axis, padding 'same' or 'valid' (a 'same' with PyTorch's one more row or column at the
    bottom or right copies the input, see torch.ops.dwconv.depthwise_conv2d). Left, with the reason: another padding
    mode, a channel multiplier other than 1, a kernel extent over libdwconv's limit, weights not float32 on the CPU. Returns the module (its
    `dwconv_report` says what was replaced and what was left, with the reason); with report=True, the pair
    (module, report).

    pointwise=True: the model is traced with torch.fx and its 1×1 convolutions run on libdwconv too, with
    the BatchNorms around them folded and a following ReLU/GELU and residual addition fused (a model fx
    cannot trace keeps its 1×1 convolutions, with the reason in the report). linear=True: every nn.Linear
    runs on libdwconv when it is applied over the channels of an (N, H, W, C) tensor (ConvNeXt's MLP); it is
    off by default because PyTorch's own GEMM is as fast there (see Results/dwconv-torch-recipes.md).

    Where the layers run: by default on PyTorch's intra-op threads, torch.get_num_threads() of them at each
    call; threads=N gives them a pool of their own (idle workers spin `spin_us`); context= a Context you made.
    plan: a plan file from `dwbench tune` (or dwconv.torch.tune), or a list of them for several thread
    counts; each context uses the one tuned for its thread count. A plan that does not apply here (another
    machine, build or thread count) is not used: a dwconv.PlanWarning says why (an error with
    plan_only=True). The original module is not modified.

    example_input: an input of the model (in the memory format it will run in). Each depthwise layer is then
    timed against PyTorch's own conv2d on the input it gets, in float32 and (with avx512_bf16) in bfloat16 under
    autocast, and keeps libdwconv only where it measured faster (torch.backends.cudnn.benchmark's idea, per
    layer and dtype); the report gives both times. Without it every depthwise layer runs on libdwconv."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert takes an nn.Module, got {type(module).__name__}")
    if module.training:
        raise ValueError("convert takes an eval-mode module (call .eval() first): dwconv layers are inference only")
    if context is not None and (plan is not None or threads is not None or plan_only):
        raise ValueError("convert takes either a context or plan/threads/plan_only to make one, not both: the context's own would be used")
    runtime = Runtime(threads=threads, plan=plan, plan_only=plan_only, spin_us=spin_us, context=context)
    runtime.context()                 # made now, so that a plan that does not apply warns here
    out = copy.deepcopy(module)
    result = ConvertReport(executor=runtime.executor)
    indices = itertools.count()
    if pointwise and not isinstance(out, torch.fx.GraphModule):
        try:
            out = torch.fx.symbolic_trace(out)      # before any swap, so the tracer never enters a dwconv module
        except Exception as e:                      # noqa: BLE001 — any tracing failure leaves the 1×1s in PyTorch
            pointwise = False
            result.left.append(("(1×1 layers)", f"torch.fx cannot trace the model, so its 1×1 convolutions stay in PyTorch: "
                                                f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"))
    targets = []
    for name, child in out.named_modules():
        if isinstance(child, nn.Conv2d):
            why = _why_not(child)
            if pointwise and why is not None and _why_not_pointwise(child) is None:
                continue            # fused below
            if why is None:
                targets.append((name, child))
            else:
                result.left.append((name, why))
        elif linear and isinstance(child, nn.Linear) and child.weight.dtype == torch.float32:
            targets.append((name, child))
    for name, child in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        if isinstance(child, nn.Linear):
            setattr(parent, attr, PointwiseLinear(child, runtime, next(indices)))
            result.replaced.append((name, f"linear {child.in_features} → {child.out_features} over NHWC"))
            continue
        setattr(parent, attr, DepthwiseConv2d(child, runtime, next(indices)))
        result.replaced.append((name, _describe(child)))
    if pointwise:
        _fuse_pointwise(out, runtime, indices, result)
        left = {n for n, m in out.named_modules() if isinstance(m, nn.Conv2d)}
        result.left = [(n, why) for n, why in result.left if n in left or n.startswith("(")]
    out.dwconv_runtime = runtime
    if example_input is not None:
        _keep_where_faster(module, out, example_input, result)
    out.dwconv_report = result
    return (out, result) if report else out


# ---------------------------------------------------------------------------------------------------------------
# tune

def _dwbench():
    for candidate in (os.environ.get("DWBENCH"), shutil.which("dwbench"),
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", ".build", "release", "dwbench")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.normpath(candidate)
    raise FileNotFoundError("dwconv.torch.tune runs the dwbench CLI, which was not found: set DWBENCH=<checkout>/.build/release/dwbench, "
                            "or put dwbench on PATH (swift build -c release in the dwbench checkout)")


def shapes(model: nn.Module, example_input, *, pointwise=True):
    """The convolution problems `model` runs on `example_input`, as dwbench shape-file lines (name, problem,
    count): every depthwise Conv2d convert replaces and, with pointwise=True, every 1×1 Conv2d. bf16 1×1
    problems (a bfloat16 input, or autocast) are marked .bf16 so that the tuner times the bf16 engine."""
    seen, hooks = {}, []

    def hook(name, conv):
        def record(_, inputs, __):
            x = inputs[0]
            n, c, h, w = x.shape
            bf16 = x.dtype == torch.bfloat16 or torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
            if _why_not(conv) is None:
                text = _problem_text(n, c, h, w, conv)
            else:
                text = f"n{n}c{c}h{h}w{w}o{conv.out_channels}" + (".bf16" if bf16 else "")
            entry = seen.setdefault(text, [name, 0])
            entry[1] += 1
        return record

    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and (_why_not(m) is None or pointwise and _why_not_pointwise(m) is None):
            hooks.append(m.register_forward_hook(hook(name, m)))
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for h in hooks:
            h.remove()
    return [(name.replace(".", "_") or "layer", text, count) for text, (name, count) in seen.items()]


def tune(model: nn.Module, example_input, output, *, threads=None, pointwise=True, mode="measure", budget_seconds=None):
    """Tunes a plan for the convolutions `model` runs on `example_input` (`dwbench tune` on the shapes it
    records, see `shapes`) and writes it to `output`; returns `output`, ready for convert(plan=...).
    threads: the thread count to tune for (default: torch.get_num_threads(), what convert's layers use)."""
    threads = threads or torch.get_num_threads()
    lines = shapes(model, example_input, pointwise=pointwise)
    if not lines:
        raise ValueError("the model ran no convolution dwconv replaces on this input: nothing to tune")
    with tempfile.NamedTemporaryFile("w", suffix=".shapes", delete=False) as f:
        f.write("# recorded by dwconv.torch.shapes\n")
        for name, text, count in lines:
            f.write(f"{name} {text} {count}\n")
        shape_file = f.name
    try:
        cmd = [_dwbench(), "tune", "--shapes", shape_file, "--threads", str(threads), "--output", os.fspath(output), "--mode", mode]
        if budget_seconds is not None:
            cmd += ["--budget-seconds", str(budget_seconds)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"dwbench tune failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    finally:
        os.unlink(shape_file)
    return output
