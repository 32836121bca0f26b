"""RepLKNet in PyTorch, written from the paper and the official RepLKNet-pytorch layout (module names give
the official state-dict keys). Used by run_replknet_peers.py (whole-model timing of PyTorch, ONNX Runtime and
OpenVINO). The test fixtures are made by the official model code itself (Tests/DWModelTests/Fixtures/make_fixtures.py).
"""
import torch
import torch.nn as nn

CONFIGS = {
    "31B": dict(kernels=[31, 29, 27, 13], blocks=[2, 2, 18, 2], channels=[128, 256, 512, 1024], small=5, dw_ratio=1.0),
    "31L": dict(kernels=[31, 29, 27, 13], blocks=[2, 2, 18, 2], channels=[192, 384, 768, 1536], small=5, dw_ratio=1.0),
    "XL": dict(kernels=[27, 27, 27, 13], blocks=[2, 2, 18, 2], channels=[256, 512, 1024, 2048], small=None, dw_ratio=1.5),
}


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
        if small is not None:
            self.small_conv = conv_bn(c, c, small, 1, c, False)

    def forward(self, x):
        if hasattr(self, "lkb_reparam"):
            return self.lkb_reparam(x)
        out = self.lkb_origin(x)
        if hasattr(self, "small_conv"):
            out = out + self.small_conv(x)
        return out

    def merge(self):
        """Structural re-parameterization: BN fused, the small kernel padded into the centre and added."""
        w, b = fuse(self.lkb_origin)
        if hasattr(self, "small_conv"):
            sw, sb = fuse(self.small_conv)
            pad = (w.shape[-1] - sw.shape[-1]) // 2
            w, b = w + nn.functional.pad(sw, [pad] * 4), b + sb
            del self.small_conv
        conv = self.lkb_origin.conv
        self.lkb_reparam = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                     groups=conv.groups, bias=True)
        self.lkb_reparam.weight.data, self.lkb_reparam.bias.data = w, b
        del self.lkb_origin


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
    def __init__(self, c, blocks, k, small, dw_ratio, ffn_ratio):
        super().__init__()
        d = int(c * dw_ratio)
        blks = []
        for _ in range(blocks):
            blks += [RepLKBlock(c, d, k, small), ConvFFN(c, c * ffn_ratio)]
        self.blocks = nn.ModuleList(blks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class RepLKNet(nn.Module):
    def __init__(self, kernels, blocks, channels, small, dw_ratio=1.0, ffn_ratio=4, in_channels=3, classes=1000):
        super().__init__()
        c0, n = channels[0], len(channels)
        self.stem = nn.ModuleList([conv_bn(in_channels, c0, 3, 2, 1, True), conv_bn(c0, c0, 3, 1, c0, True),
                                   conv_bn(c0, c0, 1, 1, 1, True), conv_bn(c0, c0, 3, 2, c0, True)])
        self.stages = nn.ModuleList([Stage(channels[i], blocks[i], kernels[i], small, dw_ratio, ffn_ratio) for i in range(n)])
        self.transitions = nn.ModuleList([nn.Sequential(conv_bn(channels[i], channels[i + 1], 1, 1, 1, True),
                                                        conv_bn(channels[i + 1], channels[i + 1], 3, 2, channels[i + 1], True))
                                          for i in range(n - 1)])
        self.norm = nn.BatchNorm2d(channels[-1])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels[-1], classes)

    def forward(self, x):
        for s in self.stem:
            x = s(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](x)
        return self.head(torch.flatten(self.avgpool(self.norm(x)), 1))

    def deploy(self):
        """The official structural re-parameterization (large kernels merged); returns self."""
        for m in self.modules():
            if isinstance(m, LargeKernel):
                m.merge()
        return self


def fuse(seq):
    w, bn = seq.conv.weight, seq.bn
    std = (bn.running_var + bn.eps).sqrt()
    return w * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std


def build(name):
    c = CONFIGS[name]
    return RepLKNet(c["kernels"], c["blocks"], c["channels"], c["small"], c["dw_ratio"])
