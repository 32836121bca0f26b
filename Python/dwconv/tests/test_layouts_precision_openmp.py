"""The additive ABI features from Python: NHWC (channels_last) layers bit for bit equal to NCHW ones, bf16 1×1
layers, the raw execute_pointers call, and contexts on PyTorch's own GNU OpenMP threads.

    pip install ./Python/dwconv pytest torch numpy && pytest Python/dwconv/tests
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dwconv

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("n,c,h,w,k,s,p", [(1, 16, 9, 11, 3, 1, 1), (2, 21, 12, 10, 5, 2, 2), (1, 40, 14, 14, 13, 1, 6), (1, 7, 5, 6, 31, 1, 15)])
def test_depthwise_nhwc_equals_nchw_bit_for_bit(n, c, h, w, k, s, p):
    ctx = dwconv.Context(threads=2, spin_us=0)
    x, wt, b = randn(n, c, h, w), randn(c, 1, k, k), randn(c)
    want = dwconv.Depthwise(wt, b, s, p, height=h, width=w, context=ctx)(x)
    layer = dwconv.Depthwise(wt, b, s, p, height=h, width=w, context=ctx, layout="nhwc")
    got = layer(nhwc(x))
    assert got.shape == nhwc(want).shape
    assert np.array_equal(got, nhwc(want))
    assert layer.conversion_seconds > 0   # the depthwise algorithms convert NHWC ↔ NCHW16c, and say what it cost


@pytest.mark.parametrize("n,c,o,h,w,act,residual", [(1, 32, 48, 14, 14, "gelu", True), (2, 21, 37, 9, 7, "relu", False),
                                                    (1, 600, 96, 7, 7, None, True), (1, 16, 5, 3, 3, "gelu", True)])
def test_pointwise_nhwc_equals_nchw_bit_for_bit_without_conversion(n, c, o, h, w, act, residual):
    ctx = dwconv.Context(threads=2, spin_us=0)
    x, wt, b = randn(n, c, h, w), randn(o, c, 1, 1), randn(o)
    r = randn(n, o, h, w) if residual else None
    want = dwconv.Pointwise(wt, b, height=h, width=w, activation=act, residual=residual, context=ctx)(x, r)
    layer = dwconv.Pointwise(wt, b, height=h, width=w, activation=act, residual=residual, context=ctx, layout="nhwc")
    got = layer(nhwc(x), None if r is None else nhwc(r))
    assert np.array_equal(got, nhwc(want))
    if layer.algorithm()[0].startswith("gemm-"):
        assert layer.conversion_seconds == 0   # the GEMMs read and write NHWC themselves


def test_torch_channels_last_in_channels_last_out():
    x = torch.randn(2, 24, 10, 10).contiguous(memory_format=torch.channels_last)
    wt, b = torch.randn(24, 1, 7, 7), torch.randn(24)
    y = dwconv.Depthwise(wt, b, padding=3, height=10, width=10, layout="nhwc")(x)
    assert y.shape == (2, 24, 10, 10) and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, F.conv2d(x, wt, b, padding=3, groups=24), rtol=1e-4, atol=1e-4)
    pw, pb = torch.randn(40, 24, 1, 1), torch.randn(40)
    layer = dwconv.Pointwise(pw, pb, height=10, width=10, activation="gelu", residual=True, layout="nhwc")
    res = torch.randn(2, 40, 10, 10)   # NCHW memory: taken as channels_last (a copy)
    z = layer(y, res)
    assert z.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(z, F.gelu(F.conv2d(y, pw, pb)) + res, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="layout must be one of"):
        dwconv.Pointwise(pw, pb, height=10, width=10, layout="chwn")


def test_execute_pointers_is_the_raw_call():
    x = torch.randn(1, 32, 8, 8).contiguous(memory_format=torch.channels_last)
    wt, b = torch.randn(16, 32, 1, 1), torch.randn(16)
    layer = dwconv.Pointwise(wt, b, height=8, width=8, layout="nhwc")
    out = torch.empty(1, 16, 8, 8).contiguous(memory_format=torch.channels_last)
    layer.execute_pointers(1, x.data_ptr(), out.data_ptr())
    assert torch.equal(out, layer(x))
    with pytest.raises(dwconv.DwconvError, match="input is NULL"):
        layer.execute_pointers(1, 0, out.data_ptr())


def test_bf16_pointwise_within_bf16_tolerance_of_fp32():
    if not dwconv.precision_supported("bf16"):
        pytest.skip("this CPU has no avx512_bf16 (the refusal is tested below)")
    assert dwconv.precision_supported("fp32")
    x, wt, b, r = randn(2, 64, 14, 14), randn(96, 64, 1, 1) / 8, randn(96), randn(2, 96, 14, 14)
    fp32 = dwconv.Pointwise(wt, b, height=14, width=14, activation="gelu", residual=True)(x, r)
    for layout, arg, res in [("nchw", x, r), ("nhwc", nhwc(x), nhwc(r))]:
        layer = dwconv.Pointwise(wt, b, height=14, width=14, activation="gelu", residual=True, layout=layout, precision="bf16")
        got = layer(arg, res)
        if layout == "nhwc":
            got = np.ascontiguousarray(got.transpose(0, 3, 1, 2))
        assert layer.algorithm()[0].startswith("gemm-bf16")
        err = np.abs(got - fp32).max() / np.abs(fp32).max()
        assert 0 < err < 2e-2, err


def test_bf16_is_refused_where_the_cpu_lacks_it():
    code = ("import numpy as np, dwconv\n"
            "assert not dwconv.precision_supported('bf16')\n"
            "try:\n"
            "    dwconv.Pointwise(np.ones((4, 4, 1, 1), np.float32), height=2, width=2, precision='bf16')\n"
            "except dwconv.DwconvError as e:\n"
            "    assert e.status == 2 and 'avx512_bf16' in str(e), e\n"
            "    print('refused')\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "DWBENCH_NO_BF16": "1"}, capture_output=True, text=True)
    assert out.returncode == 0 and "refused" in out.stdout, out.stderr


def _libgomp():
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libgomp" in line.split()[-1]}
    return sorted(paths)[0] if paths else None


def _tasks():
    return len(os.listdir("/proc/self/task"))


def test_openmp_context_runs_on_torchs_threads_bit_for_bit():
    torch.set_num_threads(2)
    torch.ones(1 << 22).mul_(2)   # torch's OpenMP team started (what any torch op at 2 threads does)
    library = _libgomp()
    if library is None:
        pytest.skip("this torch build does not use GNU OpenMP")
    x, dw, db = randn(2, 48, 20, 20), randn(48, 1, 9, 9), randn(48)
    pw, pb, r = randn(64, 48, 1, 1), randn(64), randn(2, 64, 20, 20)
    own = dwconv.Context(threads=2, spin_us=0)
    want_dw = dwconv.Depthwise(dw, db, padding=4, height=20, width=20, context=own)(x)
    want_pw = dwconv.Pointwise(pw, pb, height=20, width=20, activation="gelu", residual=True, context=own)(want_dw, r)
    before = _tasks()
    ctx = dwconv.openmp_context(library, threads=2)
    assert ctx.threads == 2
    got_dw = dwconv.Depthwise(dw, db, padding=4, height=20, width=20, context=ctx)(x)
    got_pw = dwconv.Pointwise(pw, pb, height=20, width=20, activation="gelu", residual=True, context=ctx)(got_dw, r)
    assert _tasks() == before   # no thread of the library's own, no second OpenMP runtime
    assert np.array_equal(got_dw, want_dw) and np.array_equal(got_pw, want_pw)
    with pytest.raises(dwconv.DwconvError, match="is not loaded in this process"):
        dwconv.openmp_context("/nonexistent/libgomp-not-loaded.so.1", threads=2)
