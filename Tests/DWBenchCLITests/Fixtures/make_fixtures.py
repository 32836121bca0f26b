#!/usr/bin/env python3
"""Makes the PyTorch reference fixtures for `dwbench conv` (Tests/DWBenchCLITests).

Each case is a directory holding input.npy (N, C, H, W), weight.npy (C, 1, KH, KW), optionally
bias.npy (C,), and expected.npy = torch.nn.functional.conv2d(input, weight, bias, stride, padding,
dilation, groups=C), computed in float64 and stored as float32. cases.json lists stride, padding and
dilation as `dwbench conv` takes them ("S" or "SH,SW"; "P", "PH,PW", "same" or "valid"; "D" or "DH,DW").
A directory is named by the problem dwbench runs: for 'same' with an odd total padding (an even kernel),
that is the input enlarged by the extra bottom row or right column, as PyTorch pads it.
The problems are deliberately not ones any benchmark or tuner uses.

Run from this directory:  python3 make_fixtures.py   (needs torch and numpy)
"""
import json
import os

import numpy as np
import torch

CASES = [
    # name, N, C, H, W, (KH, KW), stride, padding, dilation, bias
    ("n2c20h17w23k7s1p3", 2, 20, 17, 23, (7, 7), 1, 3, 1, True),
    ("n1c40h12w12k13s2p6", 1, 40, 12, 12, (13, 13), 2, 6, 1, False),
    ("n1c33h9w9k31s1p15", 1, 33, 9, 9, (31, 31), 1, 15, 1, True),
    ("n1c18h30w26k29s1p14", 1, 18, 30, 26, (29, 29), 1, 14, 1, True),
    ("n3c5h1w1k3s1p1", 3, 5, 1, 1, (3, 3), 1, 1, 1, True),
    ("n1c7h11w10k5s2p0", 1, 7, 11, 10, (5, 5), 2, 0, 1, False),
    # The large-kernel family: a SLaK-like stripe, LSKNet's dilated 7×7, an InceptionNeXt band, mixed per-axis
    # stride and dilation, 'same' with an even kernel and dilation, 'valid'.
    ("n1c19h30w22k11x5s1p5x2", 1, 19, 30, 22, (11, 5), 1, (5, 2), 1, True),
    ("n1c17h20w20k7s1p9d3", 1, 17, 20, 20, (7, 7), 1, 9, 3, False),
    ("n2c12h16w16k1x11s1p0x5", 2, 12, 16, 16, (1, 11), 1, (0, 5), 1, True),
    ("n1c10h21w18k3x5s2x1p1x2d2x1", 1, 10, 21, 18, (3, 5), (2, 1), (1, 2), (2, 1), True),
    ("n1c9h14w15k4x6s1p1x2", 1, 9, 13, 14, (4, 6), 1, "same", 1, True),
    ("n1c11h16w13k2x3s1p1x2d3x2", 1, 11, 15, 13, (2, 3), 1, "same", (3, 2), False),
    ("n1c8h12w12k5x3s1p0", 1, 8, 12, 12, (5, 3), 1, "valid", 1, True),
]


def text(v):
    return v if isinstance(v, str) else ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def main():
    rng = np.random.default_rng(20261122)
    index = []
    for name, n, c, h, w, (kh, kw), s, p, d, with_bias in CASES:
        os.makedirs(name, exist_ok=True)
        x = rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)
        wt = rng.uniform(-1, 1, (c, 1, kh, kw)).astype(np.float32)
        b = rng.uniform(-1, 1, (c,)).astype(np.float32) if with_bias else None
        y = torch.nn.functional.conv2d(
            torch.from_numpy(x).double(), torch.from_numpy(wt).double(),
            None if b is None else torch.from_numpy(b).double(), stride=s, padding=p, dilation=d, groups=c)
        np.save(os.path.join(name, "input.npy"), x)
        np.save(os.path.join(name, "weight.npy"), wt)
        if b is not None:
            np.save(os.path.join(name, "bias.npy"), b)
        np.save(os.path.join(name, "expected.npy"), y.numpy().astype(np.float32))
        index.append({"name": name, "stride": text(s), "padding": text(p), "dilation": text(d), "bias": with_bias})
    with open("cases.json", "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
