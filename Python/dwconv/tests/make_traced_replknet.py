#!/usr/bin/env python3
"""Makes the RepLKNet fixtures of the `convert` test from the official model code.

The tiny RepLKNet of Tests/DWModelTests/Fixtures (same configuration, same weights: tiny-train.pth's 'model' and
tiny-deployed.pth) is built with the official replknet.py (DingXiaoH/RepLKNet-pytorch, not committed: pass a
checkout or its bare git directory with --official) and traced with torch.fx. A traced GraphModule keeps the
official module tree's standard layers (Conv2d, BatchNorm2d, ...) under their official names and saves its
forward as code, so torch.load reads it back without the official code: the test converts the real model
structure on a machine that has only torch.

    python3 Python/dwconv/tests/make_traced_replknet.py --official /path/to/RepLKNet-pytorch

Writes tests/fixtures/replknet-tiny-{train,deployed}.pt and the float64 logits of Tests/DWModelTests/Fixtures/
tiny-input.npy through each, logits-tiny-{train,deployed}.npy.
"""
import argparse
import importlib.util
import os
import sys

import numpy as np
import torch
import torch.fx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "DWModelTests", "Fixtures")


def load_make_fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(FIXTURES, "make_fixtures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True, help="DingXiaoH/RepLKNet-pytorch: a checkout or its bare git directory")
    args = parser.parse_args()
    mf = load_make_fixtures()
    replknet = mf.official_module(args.official, "replknet")
    x = torch.from_numpy(np.load(os.path.join(FIXTURES, "tiny-input.npy")))
    out = os.path.join(HERE, "fixtures")
    os.makedirs(out, exist_ok=True)
    train = torch.load(os.path.join(FIXTURES, "tiny-train.pth"), map_location="cpu", weights_only=False)["model"]
    deployed = torch.load(os.path.join(FIXTURES, "tiny-deployed.pth"), map_location="cpu", weights_only=False)
    for form, state in (("train", train), ("deployed", deployed)):
        model = replknet.RepLKNet(**mf.CONFIG, small_kernel_merged=form == "deployed")
        model.load_state_dict(state)
        model.eval()
        traced = torch.fx.symbolic_trace(model)
        with torch.no_grad():
            logits = traced.double()(x.double()).numpy()
        traced.float()
        torch.save(traced, os.path.join(out, f"replknet-tiny-{form}.pt"))
        np.save(os.path.join(out, f"logits-tiny-{form}.npy"), logits)
        print(f"{form}: {sum(1 for m in traced.modules() if isinstance(m, torch.nn.Conv2d))} convolutions, logits {logits.shape}")


if __name__ == "__main__":
    sys.exit(main())
