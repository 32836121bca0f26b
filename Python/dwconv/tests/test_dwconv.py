"""dwconv's numpy and PyTorch paths against PyTorch's conv2d in float64.

    pip install ./Python/dwconv pytest torch numpy && pytest Python/dwconv/tests
"""
import json
import os
import threading
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dwconv

# The labelled sweep: odd channel counts, kernels larger than the map, stride 2, padding 0, N > 1,
# a 1×1 map, and the large kernels RepLKNet uses.
SWEEP = [
    # (n, c, h, w, k, stride, padding)
    (1, 17, 9, 11, 3, 1, 1),
    (2, 33, 12, 10, 5, 2, 2),
    (1, 24, 5, 6, 13, 1, 6),      # kernel larger than the map
    (3, 7, 20, 13, 7, 2, 0),      # padding 0, stride 2
    (1, 16, 1, 1, 31, 1, 15),     # 1×1 map
    (1, 48, 28, 28, 29, 1, 14),
    (2, 40, 14, 14, 27, 1, 13),
    (1, 35, 19, 23, 1, 1, 0),
]


def reference(x, w, b, stride, padding):
    out = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), None if b is None else torch.from_numpy(b).double(),
                   stride=stride, padding=padding, groups=x.shape[1])
    return out.numpy()


def rel_error(got, want):
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-30))


@pytest.mark.parametrize("n,c,h,w,k,s,p", SWEEP)
def test_numpy_matches_pytorch_float64(n, c, h, w, k, s, p):
    rng = np.random.default_rng(c * 1000 + k)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((c, 1, k, k), dtype=np.float32)
    b = rng.standard_normal(c, dtype=np.float32) if k % 2 else None
    y = dwconv.depthwise_conv2d(x, wt, b, stride=s, padding=p)
    want = reference(x, wt, b, s, p)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == want.shape
    assert rel_error(y, want) < 1e-4


def test_torch_tensors_in_torch_tensors_out_and_non_contiguous_input():
    x = torch.randn(2, 16, 20, 30)[:, :, :, ::2]          # non-contiguous view
    wt = torch.randn(16, 1, 5, 5)
    with torch.no_grad():
        y = dwconv.depthwise_conv2d(x, wt, stride=1, padding=2)
    assert isinstance(y, torch.Tensor)
    want = F.conv2d(x.double(), wt.double(), padding=2, groups=16)
    assert float((y.double() - want).abs().max() / want.abs().max()) < 1e-5


def test_pointwise_with_fused_gelu_and_residual():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 40, 7, 9), dtype=np.float32)
    wt = rng.standard_normal((24, 40, 1, 1), dtype=np.float32)
    b = rng.standard_normal(24, dtype=np.float32)
    r = rng.standard_normal((2, 24, 7, 9), dtype=np.float32)
    y = dwconv.pointwise_conv2d(x, wt, b, activation="gelu", residual=r)
    z = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(wt).double(), torch.from_numpy(b).double())
    want = (F.gelu(z) + torch.from_numpy(r).double()).numpy()
    assert rel_error(y, want) < 1e-5


def test_layer_reports_its_choice_and_reuses_packed_weights():
    ctx = dwconv.Context(threads=1, spin_us=0)
    wt = np.ones((32, 1, 31, 31), dtype=np.float32)
    layer = dwconv.Depthwise(wt, padding=15, height=32, width=32, context=ctx)
    name, source = layer.algorithm(batch=1)
    assert name and source.startswith("heuristic")
    x = np.zeros((1, 32, 32, 32), dtype=np.float32)
    assert layer(x).shape == (1, 32, 32, 32)
    assert layer(np.ones((3, 32, 32, 32), dtype=np.float32)).shape == (3, 32, 32, 32)


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8)), np.zeros((4, 1, 3, 3), np.float32)), TypeError, "float32"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((4, 8, 8), np.float32), np.zeros((4, 1, 3, 3), np.float32)), ValueError, "4 dimensions"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 2, 3, 3), np.float32)), ValueError, "(C, 1, KH, KW)"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 5, 8, 8), np.float32), np.zeros((4, 1, 3, 3), np.float32)), ValueError, "takes (N, 4, 8, 8)"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 1, 3, 3), np.float32), padding=(1, 2, 3)), ValueError, "(h, w) pair"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 1, 3, 3), np.float32), stride=2, padding="same"), ValueError,
     "padding='same' needs stride 1"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 1, 3, 3), np.float32), padding="full"), ValueError,
     "'same' or 'valid'"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 1, 3, 3), np.float32), dilation=(1, 0)), ValueError,
     "dilation must be in [1,"),
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 2, 2), np.float32), np.zeros((4, 1, 7, 7), np.float32)), dwconv.DwconvError, "smaller than the kernel"),
    (lambda: dwconv.depthwise_conv2d([[1.0]], np.zeros((4, 1, 3, 3), np.float32)), TypeError, "numpy array"),
    (lambda: dwconv.Context(plan="/nonexistent/plan.json", plan_only=True), dwconv.DwconvError, "plan"),
    (lambda: dwconv.Context(threads=0), ValueError, "threads"),
])
def test_bad_input_is_one_clear_exception(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


X8 = np.ones((1, 4, 8, 8), np.float32)
W3 = np.ones((4, 1, 3, 3), np.float32)
INT_MAX = "2147483647"


@pytest.mark.parametrize("call, error, fragment", [
    # ctypes keeps the low 32 bits: these computed with stride 1, made a layer of height 9, 1 thread, no spin.
    (lambda: dwconv.depthwise_conv2d(X8, W3, None, 2**32 + 1, 1), ValueError, f"stride must be in [1, {INT_MAX}], got 4294967297"),
    (lambda: dwconv.Depthwise(W3, height=2**32 + 9, width=8), ValueError, f"height must be in [1, {INT_MAX}], got 4294967305"),
    (lambda: dwconv.Context(threads=2**32 + 1), ValueError, f"threads must be in [1, {INT_MAX}]"),
    (lambda: dwconv.Context(spin_us=2**32), ValueError, f"spin_us must be in [0, {INT_MAX}]"),
    (lambda: dwconv.depthwise_conv2d(X8, W3, padding=2**32 + 1), ValueError, f"padding must be in [0, {INT_MAX}]"),
    (lambda: dwconv.depthwise_conv2d(X8, W3, stride=(2**32 + 1, 2**32 + 1)), ValueError, "stride must be in"),
    (lambda: dwconv.Depthwise(W3, height=8, width=2**31), ValueError, "width must be in"),
    (lambda: dwconv.Pointwise(np.ones((3, 4, 1, 1), np.float32), height=8, width=2**33 + 8), ValueError, "width must be in"),
    (lambda: dwconv.Depthwise(W3, height=8, width=8).algorithm(batch=2**32 + 1), ValueError, "batch must be in"),
    # Below the range.
    (lambda: dwconv.depthwise_conv2d(X8, W3, padding=-1), ValueError, f"padding must be in [0, {INT_MAX}], got -1"),
    (lambda: dwconv.depthwise_conv2d(X8, W3, stride=0), ValueError, "stride must be in [1,"),
    (lambda: dwconv.Context(spin_us=-1), ValueError, "spin_us must be in [0,"),
    (lambda: dwconv.Depthwise(W3, height=0, width=8), ValueError, "height must be in [1,"),
    (lambda: dwconv.Depthwise(W3, height=8, width=8).algorithm(batch=0), ValueError, "batch must be in [1,"),
    # Not integers.
    (lambda: dwconv.depthwise_conv2d(X8, W3, stride=True), TypeError, "stride must be an int, got bool"),
    (lambda: dwconv.depthwise_conv2d(X8, W3, stride=np.bool_(True)), TypeError, "stride must be an int"),
    (lambda: dwconv.depthwise_conv2d(X8, W3, padding=1.0), TypeError, "padding must be an int, got float"),
    (lambda: dwconv.depthwise_conv2d(X8, W3, padding=(1.5, 1.5)), TypeError, "padding must be an int"),
    (lambda: dwconv.Depthwise(W3, height=8.0, width=8), TypeError, "height must be an int"),
    (lambda: dwconv.Context(threads=True), TypeError, "threads must be an int, got bool"),
    (lambda: dwconv.Context(spin_us=0.5), TypeError, "spin_us must be an int"),
    (lambda: dwconv.Depthwise(W3, height=8, width=8).algorithm(batch=1.0), TypeError, "batch must be an int"),
])
def test_integer_arguments_are_checked_before_the_call(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)


def test_numpy_integers_are_integers():
    y = dwconv.depthwise_conv2d(X8, W3, stride=np.int64(2), padding=(np.int32(1), np.int32(1)))
    assert y.shape == (1, 4, 4, 4)
    layer = dwconv.Depthwise(W3, padding=1, height=np.int64(8), width=np.uint16(8), context=dwconv.Context(threads=1, spin_us=np.int8(0)))
    assert layer(X8).shape == (1, 4, 8, 8)


def test_gradients_are_refused():
    x = torch.randn(1, 8, 10, 10, requires_grad=True)
    with pytest.raises(RuntimeError, match="inference only"):
        dwconv.depthwise_conv2d(x, torch.randn(8, 1, 3, 3), padding=1)


def test_two_contexts_from_two_threads():
    rng = np.random.default_rng(9)
    jobs = []
    for t in range(2):
        x = rng.standard_normal((2, 24, 30, 30), dtype=np.float32)
        wt = rng.standard_normal((24, 1, 13, 13), dtype=np.float32)
        jobs.append((x, wt, reference(x, wt, None, 1, 6)))
    errors, results = [], [None, None]

    def work(i):
        try:
            ctx = dwconv.Context(threads=1, spin_us=0)
            layer = dwconv.Depthwise(jobs[i][1], padding=6, height=30, width=30, context=ctx)
            for _ in range(20):
                results[i] = layer(jobs[i][0])
        except Exception as e:          # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for i in range(2):
        assert rel_error(results[i], jobs[i][2]) < 1e-4


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
TINY_INPUT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Tests", "DWModelTests", "Fixtures", "tiny-input.npy")
# A committed plan, opened with a thread count it was not tuned for, never applies here: whatever this machine
# and build, the library reports why (another machine, another build, or the thread count).
PLAN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Results", "plan-replknet31b-1t.json")


@pytest.mark.parametrize("form", ["train", "deployed"])
def test_convert_a_replknet_built_by_the_official_code(form):
    """The tiny RepLKNet of the checkpoint fixtures, built by the official replknet.py and traced
    (make_traced_replknet.py): every depthwise conv replaced, the 1×1 and dense convs left with a reason, the
    logits those of PyTorch in float64."""
    import os
    import dwconv.torch as dwt
    model = torch.load(os.path.join(FIXTURES, f"replknet-tiny-{form}.pt"), weights_only=False).eval()
    want = np.load(os.path.join(FIXTURES, f"logits-tiny-{form}.npy"))
    x = torch.from_numpy(np.load(TINY_INPUT))
    fast, report = dwt.convert(model, threads=1, report=True)
    depthwise = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels == m.out_channels]
    assert sorted(n for n, _ in report.replaced) == sorted(depthwise)
    assert len(depthwise) >= 6 and all("not depthwise" in why for _, why in report.left)
    assert any(isinstance(m, dwt.DepthwiseConv2d) for m in fast.modules())
    assert not any(isinstance(m, dwt.DepthwiseConv2d) for m in model.modules()), "the original was modified"
    with torch.inference_mode():
        got = fast(x).numpy()
    assert rel_error(got, want) < 1e-4
    assert (got.argmax(1) == want.argmax(1)).all()
    assert "replaced" in str(report)


def test_convert_refuses_training_mode_and_gradients():
    import dwconv.torch as dwt
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.ReLU())
    with pytest.raises(ValueError, match="eval"):
        dwt.convert(model)
    fast = dwt.convert(model.eval())
    assert len(fast.dwconv_report.replaced) == 1
    with pytest.raises(RuntimeError, match="inference only"):
        fast(torch.randn(1, 8, 6, 6))          # parameters require grad and grad mode is on
    with torch.no_grad():
        assert fast(torch.randn(1, 8, 6, 6)).shape == (1, 8, 6, 6)


def test_convert_leaves_what_it_cannot_run_and_says_why():
    """Dilated and rectangular depthwise convs are replaced now; another padding mode, a channel multiplier and a
    dense conv are left, each with its reason."""
    import dwconv.torch as dwt
    model = torch.nn.Sequential(
        torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, padding_mode="reflect"),
        torch.nn.Conv2d(8, 16, 1),
        torch.nn.Conv2d(16, 16, (3, 5), padding=(1, 2), groups=16),
        torch.nn.Conv2d(16, 32, 3, padding=1, groups=16),
    ).eval()
    report = dwt.convert(model).dwconv_report
    reasons = dict(report.left)
    assert [n for n, _ in report.replaced] == ["0", "3"]
    assert "reflect" in reasons["1"] and "not depthwise" in reasons["2"] and "channel multiplier 2" in reasons["4"]


@pytest.mark.parametrize("form", ["train", "deployed"])
def test_convert_with_pointwise_folds_and_fuses(form):
    """pointwise=True also moves the 1×1 convolutions, with the BatchNorms around them folded and the ReLU,
    GELU and residual fused; the logits still match PyTorch's in float64."""
    import os
    import dwconv.torch as dwt
    model = torch.load(os.path.join(FIXTURES, f"replknet-tiny-{form}.pt"), weights_only=False).eval()
    want = np.load(os.path.join(FIXTURES, f"logits-tiny-{form}.npy"))
    x = torch.from_numpy(np.load(TINY_INPUT))
    fast, report = dwt.convert(model, threads=2, pointwise=True, report=True)
    pointwise = [what for _, what in report.replaced if what.startswith("1×1")]
    ones = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(pointwise) == len(ones)
    assert any("GELU" in w and "preceding BatchNorm" in w for w in pointwise)
    assert any("residual" in w for w in pointwise) and any("RELU" in w for w in pointwise)
    assert [n for n, _ in report.left] == ["stem.0.conv"]     # the dense 3×3 stem stays in PyTorch
    with torch.inference_mode():
        got = fast(x).numpy()
    assert rel_error(got, want) < 1e-4
    assert (got.argmax(1) == want.argmax(1)).all()


def _foreign_threads():
    with open(PLAN) as f:
        return json.load(f)["threads"] + 1


def test_convert_warns_when_its_plan_does_not_apply():
    import dwconv.torch as dwt
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)).eval()
    with pytest.warns(dwconv.PlanWarning, match="not using the plan: it was tuned") as record:
        fast, report = dwt.convert(model, plan=PLAN, threads=_foreign_threads(), report=True)
    assert [str(w.message) for w in record if w.category is dwconv.PlanWarning] == [fast.dwconv_runtime.context().plan_warning]
    assert len(report.replaced) == 1
    with torch.no_grad():
        assert fast(torch.randn(1, 8, 6, 6)).shape == (1, 8, 6, 6)       # by the heuristic instead


def test_a_context_without_a_plan_does_not_warn_and_convert_takes_one_source_of_context():
    import dwconv.torch as dwt
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", dwconv.PlanWarning)
        ctx = dwconv.Context(threads=1, spin_us=0)
        dwt.convert(model, context=ctx)
    with pytest.raises(ValueError, match="not both"):
        dwt.convert(model, plan=PLAN, context=ctx)
