"""The whole large-kernel family from Python: rectangular kernels, per-axis stride and padding, dilation, and
PyTorch's padding='same' (with its one more row or column at the bottom or right) and 'valid', through
dwconv.depthwise_conv2d, dwconv.Depthwise and torch.ops.dwconv.depthwise_conv2d, against F.conv2d; convert and a
fullgraph torch.compile of models that have them (timm's InceptionNeXt: its 1×11 and 11×1 bands).

    pip install ./Python/dwconv pytest torch timm && pytest Python/dwconv/tests/test_large_kernel_family.py
"""
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dwconv
import dwconv.torch as dwt
from test_torch_ops import timm_model  # noqa: E402  (one seeded timm builder for both files)

CL = torch.channels_last
# PyTorch's own note, when the original model runs an asymmetric 'same', that it copies the input too.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")

# (id, channels, height, width, kernel (kh, kw), stride, padding, dilation): odd channel counts (below, across and
# above 16, libdwconv's channel block), small maps.
CASES = [
    ("51x5", 7, 20, 12, (51, 5), 1, (25, 2), 1),
    ("5x51", 17, 12, 20, (5, 51), 1, (2, 25), 1),
    ("1x11", 13, 9, 14, (1, 11), 1, (0, 5), 1),
    ("11x1", 13, 14, 9, (11, 1), 1, (5, 0), 1),
    ("3x13", 33, 10, 15, (3, 13), 1, (1, 6), 1),
    ("7x7-d3", 9, 16, 13, (7, 7), 1, 9, 3),
    ("5x5-d2", 21, 11, 12, (5, 5), 1, 4, 2),
    ("3x3-d1x2", 5, 10, 11, (3, 3), 1, (1, 2), (1, 2)),
    ("3x5-s2x1", 19, 13, 11, (3, 5), (2, 1), (1, 2), 1),
    ("5x3-s1x2", 19, 11, 13, (5, 3), (1, 2), (2, 1), 1),
    ("5x3-pad2x0", 11, 12, 10, (5, 3), 1, (2, 0), 1),
    ("3x3-pad0x3", 11, 9, 8, (3, 3), 1, (0, 3), 1),
    ("7x7-same", 15, 10, 9, (7, 7), 1, "same", 1),
    ("4x4-same", 15, 10, 9, (4, 4), 1, "same", 1),            # total 3 per axis: one more row and column
    ("2x6-same", 7, 8, 11, (2, 6), 1, "same", 1),             # totals 1 and 5
    ("4x4-same-d3", 17, 13, 12, (4, 4), 1, "same", 3),        # total 9
    ("4x4-same-d2", 17, 13, 12, (4, 4), 1, "same", 2),        # total 6: symmetric
    ("2x6-same-d1x2", 9, 8, 11, (2, 6), 1, "same", (1, 2)),   # totals 1 and 10
    ("3x5-valid", 13, 9, 12, (3, 5), 1, "valid", 1),
    ("5x7-valid-s2-d2", 13, 17, 19, (5, 7), 2, "valid", 2),
    ("13x9-larger-than-map", 3, 5, 6, (13, 9), 1, (6, 4), 1),
    ("9x17-same-larger-than-map", 5, 4, 6, (9, 17), 1, "same", 1),
    ("8x8-same-larger-than-map-d2", 5, 3, 4, (8, 8), 1, "same", 2),
]
IDS = [case[0] for case in CASES]


def problem(case, batch=2, seed=0):
    _, c, h, w, kernel, stride, padding, dilation = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, c, h, w, generator=g)
    weight = torch.randn(c, 1, *kernel, generator=g)
    bias = torch.randn(c, generator=g)
    return x, weight, bias, stride, padding, dilation


def reference(x, weight, bias, stride, padding, dilation):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # PyTorch's own note that it copies for an asymmetric 'same'
        return F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), stride, padding, dilation, x.shape[1])


def rel(got, want):
    got, want = torch.as_tensor(got).double(), torch.as_tensor(want).double()
    assert got.shape == want.shape, (tuple(got.shape), tuple(want.shape))
    return float((got - want).abs().max() / want.abs().max())


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


# --- dwconv.depthwise_conv2d and dwconv.Depthwise ----------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_depthwise_conv2d_matches_pytorch_numpy_and_torch(case):
    x, weight, bias, stride, padding, dilation = problem(case)
    want = reference(x, weight, bias, stride, padding, dilation)
    y = dwconv.depthwise_conv2d(x.numpy(), weight.numpy(), bias.numpy(), stride, padding, dilation)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert rel(torch.from_numpy(y), want) < 1e-5
    with torch.no_grad():
        t = dwconv.depthwise_conv2d(x, weight, None, stride=stride, padding=padding, dilation=dilation)
    assert isinstance(t, torch.Tensor)
    assert rel(t, reference(x, weight, None, stride, padding, dilation)) < 1e-5


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_depthwise_layer_in_both_layouts_is_pytorchs_conv2d_and_the_same_bits(case):
    """A Depthwise layer, NCHW and NHWC (torch channels_last and numpy (N, H, W, C)), reused across batch sizes:
    F.conv2d's result, and one layout's bits are the other's."""
    x, weight, bias, stride, padding, dilation = problem(case, batch=3)
    h, w = x.shape[2:]
    ctx = dwconv.Context(threads=2, spin_us=0)
    nchw = dwconv.Depthwise(weight, bias, stride, padding, dilation, height=h, width=w, context=ctx)
    nhwc = dwconv.Depthwise(weight, bias, stride, padding, dilation, height=h, width=w, context=ctx, layout="nhwc")
    with torch.no_grad():
        a = nchw(x)
        b = nhwc(x.contiguous(memory_format=CL))
        one = nchw(x[:1])
    assert b.is_contiguous(memory_format=CL)
    assert rel(a, reference(x, weight, bias, stride, padding, dilation)) < 1e-5
    assert torch.equal(a, b) and torch.equal(one, a[:1])
    numpy_nhwc = nhwc(np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1)))
    assert np.array_equal(numpy_nhwc, a.numpy().transpose(0, 2, 3, 1))
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    assert nchw.extra == (tuple(di * (k - 1) % 2 for di, k in zip(d, weight.shape[2:])) if padding == "same" else (0, 0))


def test_depthwise_same_with_an_odd_total_is_made_for_the_enlarged_map():
    """PyTorch pads the odd row/column of 'same' at the bottom/right: the layer is made for the map enlarged by it
    (extra, input_size), execute_pointers takes such an input, and __call__ makes it (one copy)."""
    weight = torch.randn(6, 1, 4, 2)
    layer = dwconv.Depthwise(weight, None, padding="same", dilation=(1, 3), height=7, width=5, context=dwconv.Context(threads=1, spin_us=0))
    assert layer.extra == (1, 1) and layer.input_size == (8, 6) and layer.padding == "same"
    x = torch.randn(2, 6, 7, 5)
    wide = F.pad(x, (0, 1, 0, 1))
    out = torch.empty(2, 6, 7, 5)
    layer.execute_pointers(2, wide.data_ptr(), out.data_ptr())
    want = reference(x, weight, None, 1, "same", (1, 3))
    assert rel(out, want) < 1e-5
    with torch.no_grad():
        assert torch.equal(layer(x), out)
    with pytest.raises(ValueError, match=r"this layer takes \(N, 6, 7, 5\)"):
        layer(wide)


@pytest.mark.parametrize("call, fragment", [
    (lambda: dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 1, 3, 4), np.float32), stride=(1, 2), padding="same"),
     "padding='same' needs stride 1, got stride (1, 2)"),
    (lambda: dwconv.Depthwise(np.zeros((4, 1, 3, 4), np.float32), stride=2, padding="same", height=8, width=8),
     "padding='same' needs stride 1"),
    (lambda: dwconv.Depthwise(np.zeros((4, 1, 3, 4), np.float32), padding="half", height=8, width=8), "'same' or 'valid', got 'half'"),
    (lambda: dwconv.Depthwise(np.zeros((4, 1, 3, 4), np.float32), padding=(1, 2, 3, 4), height=8, width=8), "an (h, w) pair"),
    (lambda: dwconv.Depthwise(np.zeros((4, 1, 3, 4), np.float32), stride=(1, 1, 1), height=8, width=8), "stride must be an int or an (h, w) pair"),
    (lambda: dwconv.Depthwise(np.zeros((4, 1, 3, 4), np.float32), dilation=0, height=8, width=8), "dilation must be in [1,"),
    (lambda: dwconv.Depthwise(np.zeros((4, 1, 3, 4), np.float32), padding=(0, -1), height=8, width=8), "padding must be in [0,"),
    (lambda: dwconv.Depthwise(np.zeros((4, 2, 3, 4), np.float32), height=8, width=8), "(C, 1, KH, KW)"),
])
def test_bad_geometry_is_one_clear_value_error(call, fragment):
    with pytest.raises(ValueError) as info:
        call()
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_dilated_kernel_wider_than_the_padded_map_is_the_librarys_one_line_error():
    with pytest.raises(dwconv.DwconvError, match="smaller than the kernel") as info:
        dwconv.depthwise_conv2d(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 1, 3, 3), np.float32), padding=1, dilation=(1, 5))
    assert "\n" not in str(info.value)


# --- the torch op ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_op_matches_pytorch_in_fp32_and_bf16_keeping_the_memory_format(case, fmt):
    """torch.ops.dwconv.depthwise_conv2d (the .padding overload for 'same'/'valid'): F.conv2d's result in fp32; in
    bf16 the fp32 result on the widened input rounded once (read and written as bf16, no copy through fp32)."""
    x, weight, bias, stride, padding, dilation = problem(case)
    x = x.contiguous(memory_format=fmt)
    y = torch.ops.dwconv.depthwise_conv2d(x, weight, bias, stride, padding, dilation, 0, 0)
    assert y.dtype == torch.float32 and y.is_contiguous(memory_format=fmt)
    assert rel(y, reference(x, weight, bias, stride, padding, dilation)) < 1e-5
    xb = x.bfloat16()
    yb = torch.ops.dwconv.depthwise_conv2d(xb, weight, bias, stride, padding, dilation, 0, 1)
    assert yb.dtype == torch.bfloat16 and yb.is_contiguous(memory_format=fmt)
    assert torch.equal(yb, torch.ops.dwconv.depthwise_conv2d(xb.float(), weight, bias, stride, padding, dilation, 0, 0).bfloat16())
    assert rel(yb, reference(xb.float(), weight, bias, stride, padding, dilation)) < 1e-2


@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_opcheck_rectangular_dilated_and_same(fmt, dtype):
    x = torch.randn(2, 19, 13, 11).to(dtype=dtype, memory_format=fmt)
    torch.library.opcheck(torch.ops.dwconv.depthwise_conv2d.default, (x, torch.randn(19, 1, 3, 7), torch.randn(19), (2, 1), (2, 5), (2, 1), 0, 0))
    torch.library.opcheck(torch.ops.dwconv.depthwise_conv2d.padding, (x, torch.randn(19, 1, 4, 2), None, 1, "same", (3, 1), 0, 1))
    torch.library.opcheck(torch.ops.dwconv.depthwise_conv2d.padding, (x, torch.randn(19, 1, 5, 3), None, (1, 2), "valid", 2, 0, 2))


def test_op_refuses_same_with_a_stride_as_pytorch_does():
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        torch.ops.dwconv.depthwise_conv2d(torch.randn(1, 4, 8, 8), torch.randn(4, 1, 3, 3), None, 2, "same", 1, 0, 0)


# --- convert and torch.compile ---------------------------------------------------------------------------------

def family_model():
    """One depthwise conv of each kind (each a block of its own channel count), with the two convert must refuse."""
    def dw(c, kernel, **kw):
        return torch.nn.Conv2d(c, c, kernel, groups=c, **kw)
    return torch.nn.Sequential(
        dw(12, (1, 11), padding=(0, 5)), dw(12, (11, 1), padding=(5, 0)), dw(12, (51, 5), padding=(25, 2)),
        dw(12, 7, padding=9, dilation=3), dw(12, 5, padding="same", dilation=2), dw(12, (3, 3), padding=(1, 2), dilation=(1, 2)),
        dw(12, 4, padding="same"), dw(12, (2, 6), padding="same", dilation=(1, 2)), torch.nn.GELU(),
        dw(12, 3, stride=(2, 1), padding=1), dw(12, (3, 5), stride=(1, 2), padding="valid"),
        torch.nn.Conv2d(12, 12, 3, padding=1, groups=12, padding_mode="reflect"),
        torch.nn.Conv2d(12, 24, 3, padding=1, groups=12),
    ).eval()


def depthwise_convs(model):
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels == m.out_channels
            and m.padding_mode == "zeros"]


@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL], ids=["nchw", "channels_last"])
def test_convert_replaces_every_kind_and_refuses_only_what_it_cannot_do(fmt):
    model = family_model()
    fast = dwt.convert(model).to(memory_format=fmt)
    report = fast.dwconv_report
    assert [n for n, _ in report.replaced] == depthwise_convs(model) and len(report.replaced) == 10
    assert not depthwise_convs(fast)
    reasons = dict(report.left)
    assert list(reasons) == ["11", "12"] and "reflect" in reasons["11"] and "channel multiplier 2" in reasons["12"]
    assert "1×11, stride 1, padding 0×5" in dict(report.replaced)["0"] and "dilation 3" in dict(report.replaced)["3"]
    x = torch.randn(2, 12, 18, 14).contiguous(memory_format=fmt)
    with torch.no_grad():
        want = model.double()(x.double())
        got = fast(x)
    assert got.is_contiguous(memory_format=fmt)
    assert rel(got, want) < 1e-5


def test_example_input_measures_every_kind_against_pytorchs_conv2d():
    """convert(example_input=...) times the new kinds against F.conv2d with their own stride, padding (string or
    pair) and dilation; whichever way each goes (not asserted: it depends on the machine), the model computes the
    same function."""
    model = family_model()
    x = torch.randn(1, 12, 16, 20)
    fast = dwt.convert(model, example_input=x)
    lines = [what for _, what in fast.dwconv_report.replaced]
    assert len(lines) == 10 and all("measured float32" in w for w in lines), lines
    with torch.no_grad():
        want = model.double()(x.double())
        assert rel(fast(x), want) < 1e-5
        for m in fast.modules():
            if isinstance(m, dwt.DepthwiseConv2d):
                m.dtypes = frozenset()                 # every layer back on PyTorch's conv2d, with the same geometry
        assert rel(fast(x), want) < 1e-5


def test_fullgraph_compile_of_rectangular_and_dilated_layers_has_no_graph_break():
    """After convert, one graph with no break (explain), fullgraph with freezing on channels_last, and bf16 autocast:
    the ops' fake kernels give the shapes, the 'same' layers with one more row or column included."""
    model = family_model()
    fast = dwt.convert(model).to(memory_format=CL)
    x = torch.randn(1, 12, 16, 20).contiguous(memory_format=CL)
    with torch.no_grad():
        want = model.double()(x.double())
        explained = torch._dynamo.explain(fast)(x)
        assert explained.graph_break_count == 0 and explained.graph_count == 1
        torch._dynamo.reset()
        compiled = torch.compile(fast, fullgraph=True)
        with torch._inductor.config.patch(freezing=True):
            got = compiled(x)
        assert got.is_contiguous(memory_format=CL) and rel(got, want) < 1e-5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = compiled(x)
    assert low.dtype == torch.bfloat16 and rel(low, want) < 5e-2


def test_inception_next_tiny_converts_completely_and_matches():
    """InceptionNeXt's 1×11 and 11×1 depthwise bands (refused before, as rectangular) are replaced: no depthwise
    Conv2d is left, and the logits are the original model's within 1e-4, NCHW and channels_last."""
    model = timm_model("inception_next_tiny")
    bands = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size in ((1, 11), (11, 1))]
    assert bands
    fast = dwt.convert(model)
    assert not depthwise_convs(fast)
    assert set(bands) <= {n for n, _ in fast.dwconv_report.replaced}
    assert all("not depthwise" in why for _, why in fast.dwconv_report.left)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        want = model(x)
        assert rel(fast(x), want) < 1e-4
        fast = fast.to(memory_format=CL)
        assert rel(fast(x.contiguous(memory_format=CL)), want) < 1e-4


def test_tune_records_the_problems_libdwconv_runs_and_the_plan_applies(tmp_path, monkeypatch):
    """dwconv.torch.shapes writes rectangular, strided, dilated and 'same' problems in dwbench's text form (an odd
    'same' as the enlarged map the layer is made for); a plan tuned on them (estimate mode) covers every layer."""
    dwbench = os.path.join(os.path.dirname(__file__), "..", "..", "..", ".build", "release", "dwbench")
    if not os.path.exists(dwbench):
        pytest.skip("no release build of dwbench next to these tests")
    monkeypatch.setenv("DWBENCH", dwbench)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 16, (1, 11), padding=(0, 5), groups=16),
                                torch.nn.Conv2d(16, 16, 7, padding=9, dilation=3, groups=16),
                                torch.nn.Conv2d(16, 16, (4, 2), padding="same", dilation=(1, 3), groups=16),
                                torch.nn.Conv2d(16, 16, 3, stride=(2, 1), padding=(1, 0), groups=16)).eval()
    x = torch.randn(1, 16, 12, 10)
    assert [text for _, text, _ in dwt.shapes(model, x)] == ["n1c16h12w10k1x11s1p0x5", "n1c16h12w10k7s1p9d3", "n1c16h13w11k4x2s1p1d1x3",
                                                            "n1c16h12w10k3s2x1p1x0"]
    plan = dwconv.tune(model, x, tmp_path / "plan.json", mode="estimate")
    fast = dwt.convert(model, plan=plan, plan_only=True)
    with torch.no_grad():
        assert rel(fast(x), model.double()(x.double())) < 1e-5
    choices = [layer.algorithm(batch=1)[1] for (_, _, layer) in fast.dwconv_runtime._layers.values()]
    assert len(choices) == 4 and all(c.startswith("plan") for c in choices), choices


class PadsInside(torch.nn.Conv2d):
    """Like SLaK's DepthWiseConv2dImplicitGEMM: says padding 0, computes with padding K/2 on each axis."""

    def forward(self, x):
        k = self.kernel_size
        return torch.nn.functional.conv2d(x, self.weight, self.bias, 1, (k[0] // 2, k[1] // 2), 1, self.groups)


def test_a_conv2d_subclass_with_its_own_forward_is_left_with_the_reason():
    model = torch.nn.Sequential(PadsInside(8, 8, (9, 3), groups=8), torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)).eval()
    fast = dwt.convert(model)
    reasons = dict(fast.dwconv_report.left)
    assert [n for n, _ in fast.dwconv_report.replaced] == ["1"]
    assert "own forward" in reasons["0"] and "PadsInside" in reasons["0"]
    x = torch.randn(1, 8, 12, 10)
    with torch.no_grad():
        assert rel(fast(x), model.double()(x.double())) < 1e-5
