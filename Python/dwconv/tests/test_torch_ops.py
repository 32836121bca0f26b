"""dwconv inside PyTorch's fastest path: the custom ops (opcheck), torch.compile with fullgraph and freezing,
channels_last kept, bf16 autocast, PyTorch's own threads, and timm's models (model code only, random weights).

    pip install ./Python/dwconv pytest torch timm && pytest Python/dwconv/tests/test_torch_ops.py
"""
import copy
import os

import numpy as np
import pytest
import torch
import torch._inductor.config
import torch.nn.functional as F

import dwconv
import dwconv.torch as dwt

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
TINY_INPUT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Tests", "DWModelTests", "Fixtures", "tiny-input.npy")
CL = torch.channels_last


def rel(got, want):
    got, want = got.double(), want.double()
    return float((got - want).abs().max() / want.abs().max())


def tiny_replknet():
    return torch.load(os.path.join(FIXTURES, "replknet-tiny-deployed.pt"), weights_only=False).eval()


def tiny_input():
    return torch.from_numpy(np.load(TINY_INPUT))


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def count_packs(monkeypatch):
    """Counts the libdwconv layers the ops create (each packs its weights once)."""
    made = []
    for cls in (dwconv.Depthwise, dwconv.Pointwise):
        def init(self, *a, __orig=cls.__init__, **k):
            made.append(type(self).__name__)
            __orig(self, *a, **k)
        monkeypatch.setattr(cls, "__init__", init)
    return made


# --- the ops ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_opcheck_depthwise(fmt, dtype):
    x = torch.randn(2, 24, 13, 11).to(dtype=dtype, memory_format=fmt)
    w, b = torch.randn(24, 1, 5, 5), torch.randn(24)
    torch.library.opcheck(torch.ops.dwconv.depthwise_conv2d.default, (x, w, b, 2, 2, 1, 0, 0))
    torch.library.opcheck(torch.ops.dwconv.depthwise_conv2d.default, (x, w, None, 1, 2, 1, 0, 1))


@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_opcheck_pointwise(fmt, dtype):
    x = torch.randn(2, 20, 7, 9).to(dtype=dtype, memory_format=fmt)
    w, b = torch.randn(36, 20, 1, 1), torch.randn(36)
    r = torch.randn(2, 36, 7, 9).to(dtype=dtype, memory_format=fmt)
    torch.library.opcheck(torch.ops.dwconv.pointwise_conv2d.default, (x, w, b, None, "gelu", 0, 0))
    torch.library.opcheck(torch.ops.dwconv.pointwise_conv2d.default, (x, w, None, r, "relu", 0, 1))


@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL])
def test_ops_match_pytorch_in_float64_and_keep_the_memory_format(fmt):
    x = torch.randn(2, 40, 17, 15).to(memory_format=fmt)
    w, b = torch.randn(40, 1, 7, 7), torch.randn(40)
    y = torch.ops.dwconv.depthwise_conv2d(x, w, b, 1, 3, 1, 0, 0)
    assert y.is_contiguous(memory_format=fmt) and y.dtype == torch.float32
    assert rel(y, F.conv2d(x.double(), w.double(), b.double(), padding=3, groups=40)) < 1e-5
    pw, pb, r = torch.randn(24, 40, 1, 1), torch.randn(24), torch.randn(2, 24, 17, 15).to(memory_format=fmt)
    z = torch.ops.dwconv.pointwise_conv2d(x, pw, pb, r, "gelu", 0, 0)
    assert z.is_contiguous(memory_format=fmt)
    assert rel(z, F.gelu(F.conv2d(x.double(), pw.double(), pb.double())) + r.double()) < 1e-5


def test_a_strided_view_is_computed_and_gives_a_contiguous_output():
    x = torch.randn(1, 16, 20, 30)[:, :, :, ::2]
    w = torch.randn(16, 1, 3, 3)
    y = torch.ops.dwconv.depthwise_conv2d(x, w, None, 1, 1, 1, 0, 0)
    assert y.is_contiguous()
    assert rel(y, F.conv2d(x.double(), w.double(), padding=1, groups=16)) < 1e-5


# --- convert + torch.compile -----------------------------------------------------------------------------------

def test_convert_returns_the_module_with_its_report():
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.Conv2d(8, 4, 1)).eval()
    fast = dwt.convert(model)
    assert isinstance(fast, torch.nn.Module) and isinstance(fast.dwconv_report, dwt.ConvertReport)
    assert len(fast.dwconv_report.replaced) == 1 and "PyTorch's intra-op threads" in str(fast.dwconv_report)
    same, report = dwt.convert(model, report=True)
    assert isinstance(same, torch.nn.Module) and report.replaced == fast.dwconv_report.replaced


@pytest.mark.parametrize("freezing", [False, True])
def test_fullgraph_compile_of_a_converted_replknet_channels_last(freezing, monkeypatch):
    """The tiny RepLKNet of the fixtures, depthwise and 1×1 converted, channels_last, compiled with fullgraph (and
    freezing): one graph, no recompile on a second call, logits within 1e-4 of PyTorch's float64 ones, and each
    layer packed once (no pack after the first compiled call)."""
    model = tiny_replknet()
    x = tiny_input()
    with torch.no_grad():
        want = model.double()(x.double())
    model = tiny_replknet()
    fast = dwt.convert(model, pointwise=True).to(memory_format=CL)
    xc = x.contiguous(memory_format=CL)
    with torch.no_grad():
        explained = torch._dynamo.explain(fast)(xc)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    torch._dynamo.reset()
    compiled = torch.compile(fast, fullgraph=True)
    made = count_packs(monkeypatch)
    with torch.no_grad(), torch._inductor.config.patch(freezing=freezing):
        first = compiled(xc)
        packed = len(made)
        with torch._dynamo.config.patch(error_on_recompile=True):
            again = compiled(xc)
    assert packed == len(made), f"{len(made) - packed} layers packed again on the second call"
    assert packed <= len(fast.dwconv_report.replaced)
    assert rel(first, want) < 1e-4 and torch.equal(first, again)


def test_channels_last_reaches_the_kernels_without_a_copy(monkeypatch):
    """Inside a channels_last model, consecutive dwconv ops take NHWC tensors as they are: every layer is made
    with the NHWC layout, and every output is channels_last."""
    model = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 7, padding=3, groups=32), torch.nn.Conv2d(32, 32, 5, padding=2, groups=32),
                                torch.nn.Conv2d(32, 48, 1)).eval()
    fast = dwt.convert(model, pointwise=True).to(memory_format=CL)
    layouts = []
    for cls in (dwconv.Depthwise, dwconv.Pointwise):
        def init(self, *a, __orig=cls.__init__, **k):
            layouts.append(k.get("layout"))
            __orig(self, *a, **k)
        monkeypatch.setattr(cls, "__init__", init)
    copies = []
    real = torch.Tensor.contiguous

    def spy(t, *a, **k):
        out = real(t, *a, **k)
        if out.data_ptr() != t.data_ptr():
            copies.append(t.shape)
        return out
    x = torch.randn(1, 32, 20, 20).contiguous(memory_format=CL)
    with torch.no_grad():
        monkeypatch.setattr(torch.Tensor, "contiguous", spy)
        y = fast(x)
        monkeypatch.setattr(torch.Tensor, "contiguous", real)
    assert layouts == ["nhwc", "nhwc", "nhwc"] and copies == []
    assert y.is_contiguous(memory_format=CL)
    with torch.no_grad():
        assert rel(y, model.double()(x.double())) < 1e-5


@pytest.mark.parametrize("fmt", [CL, torch.contiguous_format])
def test_bf16_tensors_are_read_and_written_in_place(fmt, monkeypatch):
    """bf16 activations reach libdwconv as they are (dwconv_layer_execute_dtype): no conversion to float32 and back
    around any op, and each output is bit for bit the float32 path's on the widened input, rounded once."""
    model = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 7, padding=3, groups=32), torch.nn.Conv2d(32, 48, 1),
                                torch.nn.Conv2d(48, 48, 5, padding=2, groups=48)).eval()
    convs = [copy.deepcopy(m) for m in model]
    fast = dwt.convert(model, pointwise=True).to(memory_format=fmt)
    x = torch.randn(2, 32, 12, 10).to(dtype=torch.bfloat16, memory_format=fmt)
    conversions = []
    real = torch.Tensor.to

    def spy(t, *a, **k):
        out = real(t, *a, **k)
        if out.dtype != t.dtype:
            conversions.append((t.dtype, out.dtype))
        return out
    with torch.no_grad():
        monkeypatch.setattr(torch.Tensor, "to", spy)
        y = fast(x)
        monkeypatch.setattr(torch.Tensor, "to", real)
    assert conversions == [] and y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=fmt)
    # The same layers on float32 tensors, rounded after each (the 1×1 at the precision fast's runs at: the bf16
    # engine where the CPU has it, which rounds the widened bf16 input to itself).
    with torch.no_grad():
        h = x
        for i, conv in enumerate(convs):
            if conv.groups == 1:
                same = dwconv.Pointwise(conv.weight, conv.bias, height=h.shape[2], width=h.shape[3], layout="nhwc" if fmt is CL else "nchw",
                                        precision="bf16" if dwt._BF16[0] else "fp32")
                h = same(h.float())
            else:
                h = torch.ops.dwconv.depthwise_conv2d(h.float(), conv.weight, conv.bias, 1, conv.padding, 1, 0, 1000 + i)
            h = h.bfloat16()
    assert torch.equal(y, h)


def test_bf16_autocast_compiles_and_is_as_accurate_as_pytorchs_own():
    """Under torch.autocast("cpu", bfloat16) the converted model compiles with fullgraph, its 1×1 layers take bf16
    (the bf16 engine where the CPU has it), and its logits are no further from float64 than PyTorch's own
    bf16 autocast's (within 1.25×: both round activations to bf16 at different places)."""
    model = tiny_replknet()
    x = tiny_input()
    with torch.no_grad():
        want = tiny_replknet().double()(x.double())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            theirs = model(x)
    fast = torch.compile(dwt.convert(model, pointwise=True), fullgraph=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ours = fast(x)
    assert ours.dtype == theirs.dtype
    assert rel(ours, want) <= 1.25 * rel(theirs, want), (rel(ours, want), rel(theirs, want))


def test_inference_only():
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)).eval()
    fast = dwt.convert(model)
    with pytest.raises(RuntimeError, match="inference only"):
        fast(torch.randn(1, 8, 6, 6))


def test_weights_loaded_after_convert_are_used():
    """load_state_dict modifies the parameters in place: the next call packs the new weights."""
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)).eval()
    fast = dwt.convert(model)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        before = fast(x)
        fast.load_state_dict({"0.weight": torch.ones(8, 1, 3, 3), "0.bias": torch.zeros(8)})
        after = fast(x)
    assert not torch.equal(before, after)
    assert rel(after, F.conv2d(x.double(), torch.ones(8, 1, 3, 3, dtype=torch.float64), padding=1, groups=8)) < 1e-6


# --- threads ---------------------------------------------------------------------------------------------------

def test_layers_follow_pytorchs_thread_count_on_its_own_threads():
    model = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 9, padding=4, groups=32), torch.nn.Conv2d(32, 64, 1)).eval()
    fast = dwt.convert(model, pointwise=True)
    x = torch.randn(2, 32, 24, 24)
    old = torch.get_num_threads()
    try:
        results = {}
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            with torch.no_grad():
                results[t] = fast(x)
            assert fast.dwconv_runtime.context().threads == t
        assert torch.equal(results[1], results[2]) and torch.equal(results[1], results[3])
    finally:
        torch.set_num_threads(old)


def test_an_explicit_pool_is_still_available():
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 5, padding=2, groups=16)).eval()
    fast = dwt.convert(model, threads=2)
    assert "pool of their own (2 threads)" in str(fast.dwconv_report)
    with torch.no_grad():
        x = torch.randn(1, 16, 12, 12)
        assert rel(fast(x), model.double()(x.double())) < 1e-5


# --- timm ------------------------------------------------------------------------------------------------------

TIMM = ["convnext_tiny", "edgenext_small", "inception_next_tiny"]


def timm_model(name):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "gamma" in pname:           # layer scale starts at 1e-6: a block would change nothing measurable
                p.fill_(1.0)
    return model


@pytest.mark.parametrize("name", TIMM)
def test_timm_models_convert_and_compile_with_freezing_channels_last(name, monkeypatch):
    """timm's model code (random weights): every depthwise conv replaced (InceptionNeXt's 1×11 and 11×1 bands too),
    the rest left with a reason, fullgraph compile with freezing on channels_last, fp32 logits within 1e-4 of float64."""
    model = timm_model(name)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        want = timm_model(name).double()(x.double())
    fast = dwt.convert(model, pointwise=True).to(memory_format=CL)
    report = fast.dwconv_report
    depthwise = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels == m.out_channels]
    assert sorted(n for n, w in report.replaced if "channels" in w) == sorted(depthwise)
    assert all(why for _, why in report.left)
    compiled = torch.compile(fast, fullgraph=True)
    with torch.no_grad(), torch._inductor.config.patch(freezing=True):
        got = compiled(x.contiguous(memory_format=CL))
    assert rel(got, want) < 1e-4


# --- tune ------------------------------------------------------------------------------------------------------

def test_tune_makes_a_plan_for_the_models_shapes_that_convert_uses(tmp_path, monkeypatch):
    """dwconv.torch.tune records the model's problems on an example input, runs `dwbench tune` on them (estimate
    mode here: no timing in a test) and writes a plan that convert then applies without a warning: every
    layer's choice comes from the plan."""
    dwbench = os.path.join(os.path.dirname(__file__), "..", "..", "..", ".build", "release", "dwbench")
    if not os.path.exists(dwbench):
        pytest.skip("no release build of dwbench next to these tests")
    monkeypatch.setenv("DWBENCH", dwbench)
    model = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 13, padding=6, groups=32), torch.nn.Conv2d(32, 64, 1), torch.nn.ReLU(),
                                torch.nn.Conv2d(64, 64, 5, stride=2, padding=2, groups=64)).eval()
    x = torch.randn(2, 32, 28, 28)
    lines = dwt.shapes(model, x)
    assert [text for _, text, _ in lines] == ["n2c32h28w28k13s1p6", "n2c32h28w28o64", "n2c64h28w28k5s2p2"]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert dwt.shapes(model, x)[1][1] == "n2c32h28w28o64.bf16"
    plan = dwconv.tune(model, x, tmp_path / "plan.json", mode="estimate")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", dwconv.PlanWarning)
        fast = dwt.convert(model, plan=plan, pointwise=True, plan_only=True)
    with torch.no_grad():
        got = fast(x)
        want = model.double()(x.double())
    assert rel(got, want) < 1e-5
    choices = [layer.algorithm(batch=2)[1] for (_, _, layer) in fast.dwconv_runtime._layers.values()]
    assert len(choices) == 3 and all(c.startswith("plan") for c in choices), choices


def test_example_input_keeps_libdwconv_only_where_it_measured_faster():
    """convert(example_input=...) times each depthwise layer against PyTorch's conv2d; whichever way each goes
    (the outcome depends on the machine and its load, so it is not asserted), the report states both times,
    the model still computes the same function, in both dtypes, and compiles as one graph."""
    model = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 32, 13, padding=6, groups=32), torch.nn.Conv2d(32, 48, 1), torch.nn.BatchNorm2d(48)).eval()
    x = torch.randn(1, 32, 28, 28).contiguous(memory_format=CL)
    with torch.no_grad():
        want = model.double()(x.double())
    fast = dwt.convert(model.float(), pointwise=True, example_input=x)
    lines = [what for _, what in fast.dwconv_report.replaced]
    assert len(lines) == 3 and all("measured float32" in w and "vs PyTorch" in w for w in lines), lines
    layers = [m for m in fast.modules() if isinstance(m, (dwt.DepthwiseConv2d, dwt.PointwiseConv2d))]
    assert all(m.dtypes <= {torch.float32, torch.bfloat16} for m in layers)
    layers[0].dtypes = layers[-1].dtypes = frozenset()   # whatever was measured: a depthwise and the 1×1 back on PyTorch
    with torch.no_grad():
        assert rel(model(x), want) < 1e-5                # the measurement left the original model as it was
        assert rel(fast(x), want) < 1e-5
        compiled = torch.compile(fast, fullgraph=True)
        assert rel(compiled(x), want) < 1e-5
