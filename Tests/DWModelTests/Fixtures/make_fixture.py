#!/usr/bin/env python3
"""Makes the RepLKNet fixtures of Tests/DWModelTests with PyTorch's own modules.

The architecture is written here from the RepLKNet paper and the official RepLKNet-pytorch layout (module
names give the state-dict keys: stem.0.conv.weight, stages.S.blocks.B.large_kernel.lkb_origin.conv.weight,
...small_conv..., ...prelkb_bn..., transitions.S.1.bn.running_var, norm.*, head.*). A tiny configuration
(widths 16/32/48/64, one block pair per stage, kernels 7/7/5/3, small kernel 3, dw ratio 1.5, 10 classes)
keeps the files small. BatchNorm statistics are randomised, the model runs in eval mode in float64.

Writes (safetensors written by hand: 8-byte header length, JSON header, raw little-endian data):
  tiny.safetensors          training form, float32
  tiny-f16.safetensors      the same weights in float16
  tiny-deployed.safetensors deployed form: each large kernel re-parameterized (BN fused, small kernel merged)
  tiny-input.npy            (2, 3, 64, 64) float32
  tiny-logits.npy           (2, 10) float32 logits of PyTorch (float64 forward)

    python3 make_fixture.py      (needs torch and numpy)
"""
import json
import struct

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(7)
CHANNELS, BLOCKS, KERNELS, SMALL, DW_RATIO, FFN_RATIO, CLASSES = [16, 32, 48, 64], [1, 1, 1, 1], [7, 7, 5, 3], 3, 1.5, 4, 10


def conv_bn(cin, cout, k, stride, groups, relu):
    m = nn.Sequential()
    m.add_module("conv", nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False))
    m.add_module("bn", nn.BatchNorm2d(cout))
    if relu:
        m.add_module("nonlinear", nn.ReLU())
    return m


class LargeKernel(nn.Module):
    def __init__(self, c, k, small):
        super().__init__()
        self.lkb_origin = conv_bn(c, c, k, 1, c, False)
        self.small_conv = conv_bn(c, c, small, 1, c, False)

    def forward(self, x):
        return self.lkb_origin(x) + self.small_conv(x)


class RepLKBlock(nn.Module):
    def __init__(self, c, d, k, small):
        super().__init__()
        self.pw1 = conv_bn(c, d, 1, 1, 1, True)
        self.pw2 = conv_bn(d, c, 1, 1, 1, False)
        self.large_kernel = LargeKernel(d, k, small)
        self.lk_nonlinear = nn.ReLU()
        self.prelkb_bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return x + self.pw2(self.lk_nonlinear(self.large_kernel(self.pw1(self.prelkb_bn(x)))))


class ConvFFN(nn.Module):
    def __init__(self, c, f):
        super().__init__()
        self.preffn_bn = nn.BatchNorm2d(c)
        self.pw1 = conv_bn(c, f, 1, 1, 1, False)
        self.pw2 = conv_bn(f, c, 1, 1, 1, False)
        self.nonlinear = nn.GELU()  # exact erf form

    def forward(self, x):
        return x + self.pw2(self.nonlinear(self.pw1(self.preffn_bn(x))))


class Stage(nn.Module):
    def __init__(self, c, blocks, k):
        super().__init__()
        d = int(c * DW_RATIO)
        blks = []
        for _ in range(blocks):
            blks += [RepLKBlock(c, d, k, SMALL), ConvFFN(c, c * FFN_RATIO)]
        self.blocks = nn.ModuleList(blks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class RepLKNet(nn.Module):
    def __init__(self):
        super().__init__()
        c0 = CHANNELS[0]
        self.stem = nn.ModuleList([conv_bn(3, c0, 3, 2, 1, True), conv_bn(c0, c0, 3, 1, c0, True),
                                   conv_bn(c0, c0, 1, 1, 1, True), conv_bn(c0, c0, 3, 2, c0, True)])
        self.stages = nn.ModuleList([Stage(CHANNELS[i], BLOCKS[i], KERNELS[i]) for i in range(4)])
        self.transitions = nn.ModuleList([nn.Sequential(conv_bn(CHANNELS[i], CHANNELS[i + 1], 1, 1, 1, True),
                                                        conv_bn(CHANNELS[i + 1], CHANNELS[i + 1], 3, 2, CHANNELS[i + 1], True))
                                          for i in range(3)])
        self.norm = nn.BatchNorm2d(CHANNELS[-1])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(CHANNELS[-1], CLASSES)

    def forward(self, x):
        for s in self.stem:
            x = s(x)
        for i in range(4):
            x = self.stages[i](x)
            if i < 3:
                x = self.transitions[i](x)
        return self.head(torch.flatten(self.avgpool(self.norm(x)), 1))


def randomise(model):
    """BN statistics away from identity, and convs scaled up from PyTorch's default init so that the input
    still shapes the logits after 16 blocks (with the defaults both images give nearly the same logits)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data *= 2.0
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 0.75 + 0.5 * torch.rand(n)
            m.bias.data = 0.05 * torch.randn(n)
            m.running_mean.data = 0.2 * torch.randn(n)
            m.running_var.data = 0.5 + torch.rand(n)


def save(path, tensors, dtype="F32"):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name].detach().cpu().numpy()
        a = a.astype("<f2" if dtype == "F16" else "<f4")
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, sort_keys=True).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def fuse(seq):
    w, bn = seq.conv.weight, seq.bn
    std = (bn.running_var + bn.eps).sqrt()
    return w * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std


def main():
    model = RepLKNet()
    randomise(model)
    model.eval()
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        logits = model.double()(x.double()).float()
    save("tiny.safetensors", state)
    save("tiny-f16.safetensors", state, "F16")
    deployed = {}
    for k, v in state.items():
        if ".large_kernel." not in k:
            deployed[k] = v
    for s, stage in enumerate(model.stages):
        for b, blk in enumerate(stage.blocks):
            if isinstance(blk, RepLKBlock):
                lw, lb = fuse(blk.large_kernel.lkb_origin)
                sw, sb = fuse(blk.large_kernel.small_conv)
                pad = (lw.shape[-1] - sw.shape[-1]) // 2
                lw = lw + nn.functional.pad(sw, [pad] * 4)
                deployed[f"stages.{s}.blocks.{b}.large_kernel.lkb_reparam.weight"] = lw.float()
                deployed[f"stages.{s}.blocks.{b}.large_kernel.lkb_reparam.bias"] = (lb + sb).float()
    save("tiny-deployed.safetensors", {k: v.float() for k, v in deployed.items()})
    np.save("tiny-input.npy", x.numpy().astype("<f4"))
    np.save("tiny-logits.npy", logits.numpy().astype("<f4"))
    print("logits", logits)


main()
