"""PyTorch integration: `convert` swaps an eval-mode model's depthwise convolutions for libdwconv's.

    import dwconv.torch
    fast, report = dwconv.torch.convert(model.eval(), plan="plan.json", threads=1)
    with torch.inference_mode():
        logits = fast(images)
    print(report)                      # what was replaced, what was left and why

Inference only: the replaced layers compute no gradient, so a forward pass that would need one raises.
"""
import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.fx
from torch import nn

from . import Context, Depthwise, Pointwise

__all__ = ["convert", "DepthwiseConv2d", "PointwiseConv2d", "ConvertReport"]


class DepthwiseConv2d(nn.Module):
    """A depthwise nn.Conv2d run by libdwconv. Its weight and bias stay parameters (state_dict keys are
    unchanged); a libdwconv layer is built per input size on first use and packs the weights once."""

    def __init__(self, conv: nn.Conv2d, context: Context, padding: int):
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride = conv.stride[0]
        self.padding = padding
        self.context = context
        self._layers = {}

    def extra_repr(self):
        c, _, k, _ = self.weight.shape
        return f"{c}, kernel_size={k}, stride={self.stride}, padding={self.padding}, dwconv"

    def forward(self, x):
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            raise RuntimeError("dwconv layers are inference only and compute no gradient: run the model under "
                               "torch.no_grad() or torch.inference_mode()")
        key = (x.shape[2], x.shape[3])
        layer = self._layers.get(key)
        if layer is None:
            layer = Depthwise(self.weight.detach(), None if self.bias is None else self.bias.detach(), self.stride, self.padding,
                              height=key[0], width=key[1], context=self.context)
            self._layers[key] = layer
        return layer(x)


class PointwiseConv2d(nn.Module):
    """A 1×1 nn.Conv2d run by libdwconv, with what followed it fused in: the BatchNorm before it (folded into
    its weights), the BatchNorm after it (folded), a ReLU or exact GELU, and a residual addition."""

    def __init__(self, weight, bias, activation, residual, context):
        super().__init__()
        self.register_buffer("weight", weight.detach().contiguous())
        self.register_buffer("bias", bias.detach().contiguous())
        self.activation = activation
        self.residual = residual
        self.context = context
        self._layers = {}

    def extra_repr(self):
        o, c = self.weight.shape[:2]
        return f"{c} → {o}, activation={self.activation}, residual={self.residual}, dwconv"

    def forward(self, x, residual=None):
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError("dwconv layers are inference only and compute no gradient: run the model under "
                               "torch.no_grad() or torch.inference_mode()")
        key = (x.shape[2], x.shape[3])
        layer = self._layers.get(key)
        if layer is None:
            layer = Pointwise(self.weight, self.bias, height=key[0], width=key[1], activation=self.activation,
                              residual=self.residual, context=self.context)
            self._layers[key] = layer
        return layer(x, residual)


@dataclass
class ConvertReport:
    replaced: list = field(default_factory=list)
    left: list = field(default_factory=list)

    def __str__(self):
        lines = [f"dwconv.torch.convert: {len(self.replaced)} depthwise convolutions replaced, {len(self.left)} convolutions left"]
        lines += [f"  replaced {name}: {what}" for name, what in self.replaced]
        lines += [f"  left     {name}: {why}" for name, why in self.left]
        return "\n".join(lines)


def _why_not(conv: nn.Conv2d):
    """None when libdwconv computes this convolution exactly; otherwise the reason."""
    c_in, c_out, g = conv.in_channels, conv.out_channels, conv.groups
    if not (g == c_in == c_out):
        return f"not depthwise (groups {g}, {c_in} → {c_out} channels)"
    k = conv.kernel_size
    if k[0] != k[1]:
        return f"kernel {k[0]}×{k[1]} is not square"
    if conv.dilation != (1, 1):
        return f"dilation {conv.dilation}"
    if conv.stride[0] != conv.stride[1]:
        return f"stride {conv.stride} differs per axis"
    if conv.padding_mode != "zeros":
        return f"padding mode '{conv.padding_mode}'"
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return None
        if conv.padding == "same" and k[0] % 2 == 1 and conv.stride[0] == 1:
            return None
        return f"padding '{conv.padding}' with kernel {k[0]}, stride {conv.stride[0]}"
    if conv.padding[0] != conv.padding[1]:
        return f"padding {conv.padding} differs per axis"
    if conv.weight.dtype != torch.float32 or conv.weight.device.type != "cpu":
        return f"weights are {conv.weight.dtype} on {conv.weight.device}; dwconv takes float32 on the CPU"
    return None


def _why_not_pointwise(conv: nn.Conv2d):
    """None when libdwconv can run `conv` as a 1×1 layer (the one rule, for convert and the fusion pass alike),
    otherwise why not."""
    if conv.kernel_size != (1, 1) or conv.groups != 1:
        return f"not a 1×1 convolution (kernel {conv.kernel_size}, groups {conv.groups})"
    if conv.stride != (1, 1) or conv.padding not in ((0, 0), "valid") or conv.dilation != (1, 1):
        return f"stride {conv.stride}, padding {conv.padding}, dilation {conv.dilation}"
    if conv.padding_mode != "zeros":
        return f"padding mode '{conv.padding_mode}'"
    if conv.weight.dtype != torch.float32 or conv.weight.device.type != "cpu":
        return f"weights are {conv.weight.dtype} on {conv.weight.device}; dwconv takes float32 on the CPU"
    return None


def _padding(conv: nn.Conv2d):
    if isinstance(conv.padding, str):
        return 0 if conv.padding == "valid" else conv.kernel_size[0] // 2
    return conv.padding[0]


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


def _fuse_pointwise(gm, ctx, report):
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
        gm.add_submodule(name, PointwiseConv2d(w.float().reshape(conv.out_channels, conv.in_channels, 1, 1), b.float(), activation,
                                               residual is not None, ctx))
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


def convert(module: nn.Module, plan=None, threads=None, *, pointwise=False, plan_only=False, spin_us=0, context=None):
    """A copy of eval-mode `module` in which every depthwise nn.Conv2d (groups == in == out channels,
    dilation 1, zero padding, square kernel and stride) runs on libdwconv, and a report of what was replaced
    and what was left, with the reason. With pointwise=True the model is traced with torch.fx and its 1×1
    convolutions run on libdwconv too, with the BatchNorms around them folded and a following ReLU/GELU and
    residual addition fused. `plan`/`threads`/`spin_us` make the context the layers share (spin 0: its idle
    workers sleep at once, leaving the cores to PyTorch); or pass a `context`. A plan that does not apply
    here (tuned on another machine, by another build or for another thread count) is not used: a
    dwconv.PlanWarning says why (an error with plan_only=True). The original module is not modified."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert takes an nn.Module, got {type(module).__name__}")
    if module.training:
        raise ValueError("convert takes an eval-mode module (call .eval() first): dwconv layers are inference only")
    if context is not None and (plan is not None or threads is not None or plan_only):
        raise ValueError("convert takes either a context or plan/threads/plan_only to make one, not both: the context's own would be used")
    ctx = context if context is not None else Context(threads=threads, plan=plan, plan_only=plan_only, spin_us=spin_us)
    out = copy.deepcopy(module)
    if pointwise and not isinstance(out, torch.fx.GraphModule):
        out = torch.fx.symbolic_trace(out)      # before any swap, so the tracer never enters a dwconv module
    report = ConvertReport()
    targets = []
    for name, child in out.named_modules():
        if isinstance(child, nn.Conv2d):
            why = _why_not(child)
            if pointwise and why is not None and _why_not_pointwise(child) is None:
                continue            # fused below
            if why is None:
                targets.append((name, child))
            else:
                report.left.append((name, why))
    for name, conv in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        replacement = DepthwiseConv2d(conv, ctx, _padding(conv))
        setattr(parent, attr, replacement)
        k = conv.kernel_size[0]
        report.replaced.append((name, f"{conv.in_channels} channels, {k}×{k}, stride {conv.stride[0]}, padding {_padding(conv)}"))
    if pointwise:
        _fuse_pointwise(out, ctx, report)
        left = {n for n, m in out.named_modules() if isinstance(m, nn.Conv2d)}
        report.left = [(n, why) for n, why in report.left if n in left]
    out.dwconv_context = ctx
    return out, report
