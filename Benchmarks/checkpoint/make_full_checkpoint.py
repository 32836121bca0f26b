#!/usr/bin/env python3
"""Writes a full-size RepLKNet-31B checkpoint with random weights, built by the official model code
(replknet.create_RepLKNet31B of DingXiaoH/RepLKNet-pytorch; pass a checkout or its bare git directory with
--official, it is not committed) and saved as users save it: torch.save(model.state_dict()) to
OUT/replknet31b.pth and safetensors.torch.save_file to OUT/replknet31b.safetensors (about 320 MB each).
Used by Benchmarks/checkpoint/load_speed.sh; the files are not committed.

    python3 Benchmarks/checkpoint/make_full_checkpoint.py --official DIR --out /tmp/ckpt
"""
import argparse
import importlib.util
import os
import subprocess
import tempfile

import torch

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--official", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
source = os.path.join(args.official, "replknet.py")
if not os.path.isfile(source):
    source = os.path.join(tempfile.mkdtemp(), "replknet.py")
    with open(source, "wb") as f:
        f.write(subprocess.check_output(["git", "--git-dir", args.official, "show", "HEAD:replknet.py"]))
spec = importlib.util.spec_from_file_location("replknet", source)
replknet = importlib.util.module_from_spec(spec)
spec.loader.exec_module(replknet)
import safetensors.torch  # noqa: E402

torch.manual_seed(0)
model = replknet.create_RepLKNet31B(drop_path_rate=0.0, num_classes=1000, use_checkpoint=False)
state = model.state_dict()
os.makedirs(args.out, exist_ok=True)
torch.save(state, os.path.join(args.out, "replknet31b.pth"))
safetensors.torch.save_file(state, os.path.join(args.out, "replknet31b.safetensors"))
print("wrote", args.out, sum(v.numel() for v in state.values()), "elements")
