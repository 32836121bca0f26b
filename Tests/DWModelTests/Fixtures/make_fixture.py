#!/usr/bin/env python3
"""Makes the RepLKNet fixtures of Tests/DWModelTests with PyTorch's own modules.

The architecture (Benchmarks/peers/replknet_torch.py) is written from the RepLKNet paper and the official
RepLKNet-pytorch layout (module names give the state-dict keys: stem.0.conv.weight, stages.S.blocks.B.large_kernel.lkb_origin.conv.weight,
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

import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../Benchmarks/peers"))
from replknet_torch import RepLKNet, fuse, save_safetensors  # noqa: E402  (the shared architecture)

torch.manual_seed(7)
CHANNELS, BLOCKS, KERNELS, SMALL, DW_RATIO, FFN_RATIO, CLASSES = [16, 32, 48, 64], [1, 1, 1, 1], [7, 7, 5, 3], 3, 1.5, 4, 10


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


def main():
    model = RepLKNet(KERNELS, BLOCKS, CHANNELS, SMALL, DW_RATIO, FFN_RATIO, classes=CLASSES)
    randomise(model)
    model.eval()
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        logits = model.double()(x.double()).float()
    save_safetensors("tiny.safetensors", state)
    save_safetensors("tiny-f16.safetensors", state, "F16")
    deployed = {}
    for k, v in state.items():
        if ".large_kernel." not in k:
            deployed[k] = v
    for s, stage in enumerate(model.stages):
        for b, blk in enumerate(stage.blocks):
            if hasattr(blk, "large_kernel"):
                lw, lb = fuse(blk.large_kernel.lkb_origin)
                sw, sb = fuse(blk.large_kernel.small_conv)
                pad = (lw.shape[-1] - sw.shape[-1]) // 2
                lw = lw + nn.functional.pad(sw, [pad] * 4)
                deployed[f"stages.{s}.blocks.{b}.large_kernel.lkb_reparam.weight"] = lw.float()
                deployed[f"stages.{s}.blocks.{b}.large_kernel.lkb_reparam.bias"] = (lb + sb).float()
    save_safetensors("tiny-deployed.safetensors", {k: v.float() for k, v in deployed.items()})
    np.save("tiny-input.npy", x.numpy().astype("<f4"))
    np.save("tiny-logits.npy", logits.numpy().astype("<f4"))
    print("logits", logits)


main()
