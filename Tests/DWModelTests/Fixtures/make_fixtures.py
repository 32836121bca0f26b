#!/usr/bin/env python3
"""Makes the checkpoint and photo fixtures of Tests/DWModelTests with the real producers.

Checkpoints: a tiny RepLKNet built by the official model code (replknet.py of DingXiaoH/RepLKNet-pytorch,
which is not committed here: pass a checkout, or the bare git directory of a snapshot, with --official),
saved with torch.save and safetensors.torch.save_file exactly as users save them, num_batches_tracked
counters and all. The tiny configuration (widths 8/16/24/32, one block pair per stage, kernels 7/7/5/3,
small kernel 3, dw ratio 1.5, 10 classes) keeps the files small; BatchNorm statistics are randomised so
re-parameterization has something to fuse.

  tiny-train.pth        a training checkpoint as the official main.py/utils.save_model writes it:
                        {'model', 'model_ema' (different weights), 'optimizer' (AdamW after two steps),
                        'scaler' (GradScaler), 'epoch', 'args' (argparse.Namespace)}
  tiny-ddp.pth          the state dict of the model wrapped in DistributedDataParallel ('module.' names)
  tiny-state.pth        a plain state dict
  tiny-state_dict.pth   {'state_dict': state dict}
  tiny-f16.pth          model.half().state_dict()
  tiny-bf16.pth         model.bfloat16().state_dict()
  tiny-deployed.pth     the state dict after the official structural_reparam() (lkb_reparam)
  tiny.safetensors, tiny-deployed.safetensors, tiny-bf16.safetensors   the same through save_file
  tiny-input.npy        (2, 3, 64, 64) float32 input
  cases.json            for each file: the --model-key to use, the logits file, and a tolerance
  logits-*.npy          PyTorch's logits (float64 forward of the weights as stored, eval mode)

Photos (photos/, from scikit-image's data folder, unmodified; their origins are in photos/README.md):
the official evaluation transform of datasets.build_transform (Resize(int(R/0.875), BICUBIC), CenterCrop(R),
ToTensor, Normalize(ImageNet mean/std); a plain Resize((R, R)) when R >= 384) applied by torchvision/PIL
to each photo, loaded as timm/torchvision do (PIL Image.open(...).convert('RGB')):
  photos/expected-<photo>-<R>.npy    (1, 3, R, R) float32; for R >= 384 every 4th row and column
  photos/logits-photos-64.npy        the tiny model's logits for rocket.jpg and chelsea.png at R = 64

    pip install torch timm safetensors pillow scikit-image numpy
    python3 make_fixtures.py --official /path/to/RepLKNet-pytorch
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = dict(large_kernel_sizes=[7, 7, 5, 3], layers=[1, 1, 1, 1], channels=[8, 16, 24, 32], drop_path_rate=0.0,
              small_kernel=3, dw_ratio=1.5, ffn_ratio=4, num_classes=10, use_sync_bn=False)
PHOTOS = {  # file in skimage/data: what it exercises
    "rocket.jpg": "RGB JPEG photo",
    "chelsea.png": "RGB PNG photo",
    "camera.png": "grayscale PNG photo",
    "logo.png": "RGBA PNG (alpha channel)",
}


def official_module(path, name):
    """Imports `name`.py from the official repository: a checkout, or a bare git directory (git show)."""
    tmp = tempfile.mkdtemp()
    target = os.path.join(tmp, name + ".py")
    if os.path.isfile(os.path.join(path, name + ".py")):
        shutil.copy(os.path.join(path, name + ".py"), target)
    else:
        with open(target, "wb") as f:
            f.write(subprocess.check_output(["git", "--git-dir", path, "show", f"HEAD:{name}.py"]))
    spec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomise(model, generator):
    """BN statistics away from identity and convs scaled up from PyTorch's default init, so that the input
    still shapes the logits after all blocks."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(1.5)
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.75 + 0.5 * torch.rand(n, generator=generator))
                m.bias.copy_(0.05 * torch.randn(n, generator=generator))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                m.num_batches_tracked.fill_(1234)


def logits_of(replknet, state, x):
    """PyTorch's logits for `state` (any dtype) in float64, eval mode, on a fresh official model."""
    deployed = any("lkb_reparam" in k for k in state)
    model = replknet.RepLKNet(**CONFIG, small_kernel_merged=deployed)
    model.load_state_dict({k.removeprefix("module."): v.double() if v.is_floating_point() else v for k, v in state.items()})
    model.double().eval()
    with torch.no_grad():
        return model(x.double()).float().numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True, help="DingXiaoH/RepLKNet-pytorch: a checkout or its bare git directory")
    args = parser.parse_args()
    os.chdir(HERE)
    replknet = official_module(args.official, "replknet")
    datasets = official_module(args.official, "datasets")
    import safetensors.torch

    g = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    model = replknet.RepLKNet(**CONFIG)
    randomise(model, g)

    # Two AdamW steps on random data (training mode), so the optimizer state is real; then eval.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu")
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        loss = model(torch.randn(2, 3, 64, 64, generator=g)).square().mean()
        loss.backward()
        optimizer.step()
    model.eval()
    randomise(model, g)  # training moved the BN statistics towards the random data; spread them again
    ema = replknet.RepLKNet(**CONFIG)
    ema.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    ema.eval()

    x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    np.save("tiny-input.npy", x.numpy().astype("<f4"))
    state = model.state_dict()
    training_args = argparse.Namespace(model="RepLKNet-tiny", input_size=64, batch_size=2, lr=1e-3, epochs=3,
                                       model_ema=True, model_key="model|module", output_dir="out", seed=0)
    cases = {}

    def case(file, logits, model_key=None, tolerance=1e-5):
        name = "logits-" + file.replace(".", "-") + ".npy"
        np.save(name, logits.astype("<f4"))
        cases[file] = {"model_key": model_key, "logits": name, "tolerance": tolerance}

    torch.save({"model": state, "model_ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "epoch": 3, "args": training_args}, "tiny-train.pth")
    case("tiny-train.pth", logits_of(replknet, state, x))
    np.save("logits-tiny-train-pth-ema.npy", logits_of(replknet, ema.state_dict(), x).astype("<f4"))
    cases["tiny-train.pth#model_ema"] = {"file": "tiny-train.pth", "model_key": "model_ema",
                                         "logits": "logits-tiny-train-pth-ema.npy", "tolerance": 1e-5}

    # DistributedDataParallel over one CPU process (gloo, rendezvous through a file).
    import torch.distributed as dist
    store = tempfile.mktemp()
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    ddp = nn.parallel.DistributedDataParallel(model)
    torch.save(ddp.state_dict(), "tiny-ddp.pth")
    dist.destroy_process_group()
    case("tiny-ddp.pth", logits_of(replknet, state, x))

    torch.save(state, "tiny-state.pth")
    case("tiny-state.pth", logits_of(replknet, state, x))
    torch.save({"state_dict": state}, "tiny-state_dict.pth")
    case("tiny-state_dict.pth", logits_of(replknet, state, x))
    safetensors.torch.save_file(state, "tiny.safetensors")
    case("tiny.safetensors", logits_of(replknet, state, x))

    half = replknet.RepLKNet(**CONFIG)
    half.load_state_dict(state)
    torch.save(half.half().state_dict(), "tiny-f16.pth")
    case("tiny-f16.pth", logits_of(replknet, half.state_dict(), x))
    bf = replknet.RepLKNet(**CONFIG)
    bf.load_state_dict(state)
    bf16_state = bf.bfloat16().state_dict()
    torch.save(bf16_state, "tiny-bf16.pth")
    case("tiny-bf16.pth", logits_of(replknet, bf16_state, x))
    safetensors.torch.save_file(bf16_state, "tiny-bf16.safetensors")
    case("tiny-bf16.safetensors", logits_of(replknet, bf16_state, x))

    deployed = replknet.RepLKNet(**CONFIG)
    deployed.load_state_dict(state)
    deployed.eval()
    deployed.structural_reparam()
    deployed_state = deployed.state_dict()
    torch.save(deployed_state, "tiny-deployed.pth")
    case("tiny-deployed.pth", logits_of(replknet, deployed_state, x))
    safetensors.torch.save_file(deployed_state, "tiny-deployed.safetensors")
    case("tiny-deployed.safetensors", logits_of(replknet, deployed_state, x))

    # Photos through the official evaluation transform.
    import skimage
    from PIL import Image
    os.makedirs("photos", exist_ok=True)
    source = os.path.join(os.path.dirname(skimage.__file__), "data")
    expected = {}
    sizes = {"rocket.jpg": [224, 64], "chelsea.png": [224, 64], "camera.png": [96, 384], "logo.png": [96]}
    for photo in PHOTOS:
        shutil.copy(os.path.join(source, photo), os.path.join("photos", photo))
        for r in sizes[photo]:
            t = datasets.build_transform(False, argparse.Namespace(input_size=r, test_size=r, crop_pct=None,
                                                                   imagenet_default_mean_and_std=True))
            with open(os.path.join("photos", photo), "rb") as f:
                image = Image.open(f).convert("RGB")
            out = t(image).unsqueeze(0).numpy().astype("<f4")
            if r >= 384:
                out = np.ascontiguousarray(out[:, :, ::4, ::4])  # every 4th row and column (the file stays small)
            name = f"photos/expected-{photo.replace('.', '-')}-{r}.npy"
            np.save(name, out)
            expected.setdefault(photo, {})[r] = name
    # JPEGs of the other colour spaces PIL writes: grayscale and (Adobe, inverted) CMYK, made by PIL itself
    # from the rocket photo at a small size (the decoder's gray and CMYK paths; PIL reads them back as the reference).
    with Image.open(os.path.join("photos", "rocket.jpg")) as im:
        small = im.resize((120, 80), Image.BICUBIC)
        small.convert("L").save("photos/rocket-gray.jpg", quality=90)
        small.convert("CMYK").save("photos/rocket-cmyk.jpg", quality=90)
    for photo in ("rocket-gray.jpg", "rocket-cmyk.jpg"):
        t = datasets.build_transform(False, argparse.Namespace(input_size=64, test_size=64, crop_pct=None, imagenet_default_mean_and_std=True))
        with open(os.path.join("photos", photo), "rb") as f:
            image = Image.open(f)
            mode = image.mode
            out = t(image.convert("RGB")).unsqueeze(0).numpy().astype("<f4")
        assert mode in ("L", "CMYK"), mode
        name = f"photos/expected-{photo.replace('.', '-')}-64.npy"
        np.save(name, out)
        expected.setdefault(photo, {})[64] = name
    batch = np.concatenate([np.load(expected["rocket.jpg"][64]), np.load(expected["chelsea.png"][64])])
    np.save("photos/logits-photos-64.npy", logits_of(replknet, state, torch.from_numpy(batch)).astype("<f4"))

    with open("cases.json", "w") as f:
        json.dump({"checkpoints": cases, "photos": {k: {str(r): v for r, v in d.items()} for k, d in expected.items()},
                   "photo_logits": {"files": ["photos/rocket.jpg", "photos/chelsea.png"], "resolution": 64,
                                    "checkpoint": "tiny-state.pth", "logits": "photos/logits-photos-64.npy"},
                   "torch": torch.__version__}, f, indent=1, sort_keys=True)
    print("wrote", len(cases), "checkpoint cases and", sum(len(v) for v in expected.values()), "photo cases")


if __name__ == "__main__":
    main()
