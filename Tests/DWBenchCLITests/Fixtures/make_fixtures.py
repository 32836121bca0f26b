#!/usr/bin/env python3
"""Makes the PyTorch reference fixtures for `dwbench conv` (Tests/DWBenchCLITests).

Each case is a directory holding input.npy (N, C, H, W), weight.npy (C, 1, K, K), optionally
bias.npy (C,), and expected.npy = torch.nn.functional.conv2d(input, weight, bias, stride, padding,
groups=C), computed in float64 and stored as float32. cases.json lists stride and padding.
The problems are deliberately not ones any benchmark or tuner uses.

Run from this directory:  python3 make_fixtures.py   (needs torch and numpy)
"""
import json
import os

import numpy as np
import torch

CASES = [
    # name, N, C, H, W, K, stride, padding, bias
    ("n2c20h17w23k7s1p3", 2, 20, 17, 23, 7, 1, 3, True),
    ("n1c40h12w12k13s2p6", 1, 40, 12, 12, 13, 2, 6, False),
    ("n1c33h9w9k31s1p15", 1, 33, 9, 9, 31, 1, 15, True),
    ("n1c18h30w26k29s1p14", 1, 18, 30, 26, 29, 1, 14, True),
    ("n3c5h1w1k3s1p1", 3, 5, 1, 1, 3, 1, 1, True),
    ("n1c7h11w10k5s2p0", 1, 7, 11, 10, 5, 2, 0, False),
]


def main():
    rng = np.random.default_rng(20261122)
    index = []
    for name, n, c, h, w, k, s, p, with_bias in CASES:
        os.makedirs(name, exist_ok=True)
        x = rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)
        wt = rng.uniform(-1, 1, (c, 1, k, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (c,)).astype(np.float32) if with_bias else None
        y = torch.nn.functional.conv2d(
            torch.from_numpy(x).double(), torch.from_numpy(wt).double(),
            None if b is None else torch.from_numpy(b).double(), stride=s, padding=p, groups=c)
        np.save(os.path.join(name, "input.npy"), x)
        np.save(os.path.join(name, "weight.npy"), wt)
        if b is not None:
            np.save(os.path.join(name, "bias.npy"), b)
        np.save(os.path.join(name, "expected.npy"), y.numpy().astype(np.float32))
        index.append({"name": name, "stride": s, "padding": p, "bias": with_bias})
    with open("cases.json", "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
