"""dwbench's tuned depthwise and 1×1 convolution kernels from Python, over libdwconv's C ABI (ctypes).

    import dwconv
    y = dwconv.depthwise_conv2d(x, weight, bias, stride=1, padding=15)      # numpy or CPU torch, float32 NCHW
    y = dwconv.depthwise_conv2d(x, w_51x5, padding=(25, 2))                 # rectangular kernels, per-axis geometry,
    y = dwconv.depthwise_conv2d(x, w_7x7, padding="same", dilation=3)       # 'same'/'valid' and dilation: PyTorch's conv2d
    ctx = dwconv.Context(threads=1, plan="plan.json", spin_us=0)            # a tuned plan, its own workers
    layer = dwconv.Depthwise(weight, bias, padding=15, height=56, width=56, context=ctx)   # weights packed once, reused
    y = layer(x)
    layer = dwconv.Pointwise(w, b, height=56, width=56, layout="nhwc", precision="bf16")   # channels_last, bf16
    ctx = dwconv.openmp_context(torch_libgomp_path, threads=4)             # on PyTorch's own OpenMP threads

The library is found through DWCONV_LIBRARY, then a copy inside the package (put there by
`pip install ./Python/dwconv` after `swift build -c release`), then the repository's .build/release. PyTorch
support (`dwconv.torch.convert`) is optional and imported on demand.
"""
import ctypes
import operator
import os
import threading
import warnings

import numpy as np

from . import _abi

__all__ = ["Context", "Depthwise", "Pointwise", "DwconvError", "PlanWarning", "depthwise_conv2d", "pointwise_conv2d", "library_path", "version", "tune",
           "openmp_context", "precision_supported"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = [os.path.join(_HERE, "libdwconv.so"),
               os.path.join(_HERE, "..", "..", "..", "..", ".build", "release", "libdwconv.so")]

# The ABI's facts come from include/dwconv.h through the generated _abi.py (Sources/DWConv/abi.py).
_STATUS = {code: name[len("DWCONV_ERROR_"):].lower().replace("_", " ") for name, code in _abi.STATUS.items() if code != 0}
_ACTIVATIONS = {None: _abi.ACTIVATION["DWCONV_ACTIVATION_NONE"],
                **{name[len("DWCONV_ACTIVATION_"):].lower(): code for name, code in _abi.ACTIVATION.items()}}
_LAYOUT_NCHW = _abi.LAYOUT["DWCONV_LAYOUT_NCHW"]
# The layouts a Python caller names: "nchw" (contiguous (N, C, H, W)) and "nhwc" (torch.channels_last; numpy (N, H, W, C)).
_DTYPES = {"float32": _abi.DTYPE["DWCONV_DTYPE_FLOAT32"], "bfloat16": _abi.DTYPE["DWCONV_DTYPE_BFLOAT16"]}
_LAYOUTS = {"nchw": _LAYOUT_NCHW, "nhwc": _abi.LAYOUT["DWCONV_LAYOUT_NHWC"]}
_PRECISIONS = {name[len("DWCONV_PRECISION_"):].lower(): code for name, code in _abi.PRECISION.items()}


class DwconvError(RuntimeError):
    """A libdwconv call failed: `status` is the dwconv_status code, the message its one-line reason."""

    def __init__(self, status, message):
        super().__init__(f"{message} ({_STATUS.get(status, status)})")
        self.status = status


class PlanWarning(UserWarning):
    """A plan given to a Context (or to dwconv.torch.convert) is not used: it was tuned on another machine, by
    another build or for another thread count. The message is the library's reason; the heuristic chooses."""


# Every size, count and option crosses the C ABI as a C int, and ctypes keeps only the low 32 bits of a
# Python int (2**32 + 1 would arrive as 1): each integer argument is checked here first, by this one function.
_C_INT_MAX = 2**31 - 1


def _c_int(value, name, minimum):
    """`value` as a Python int for a C int argument: an integer (a bool or a float is refused) in
    [minimum, 2**31 - 1]. Limits of the library's own (such as threads ≤ 256) are the library's to check."""
    if isinstance(value, (bool, np.bool_)) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if not minimum <= value <= _C_INT_MAX:
        raise ValueError(f"{name} must be in [{minimum}, {_C_INT_MAX}], got {value}")
    return value


def _positive(**named):
    """The values of `named` (sizes and counts), in order, each checked by _c_int as at least 1."""
    return tuple(_c_int(value, name, 1) for name, value in named.items())


def library_path():
    """The libdwconv.so this package loads."""
    env = os.environ.get("DWCONV_LIBRARY")
    if env:
        if not os.path.exists(env):
            raise DwconvError(0, f"DWCONV_LIBRARY={env}: no such file")
        return env
    for path in _CANDIDATES:
        if os.path.exists(path):
            return os.path.normpath(path)
    raise DwconvError(0, "libdwconv.so not found: build it with 'swift build -c release' in the dwbench checkout, "
                         "then set DWCONV_LIBRARY=<checkout>/.build/release/libdwconv.so or reinstall this package")


_lib = None
_lib_lock = threading.Lock()


def _library():
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.CDLL(library_path())
            P, I, F = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)
            sig = {
                "dwconv_version": ([], ctypes.c_char_p),
                "dwconv_abi_version": ([], I),
                "dwconv_last_error": ([], ctypes.c_char_p),
                "dwconv_context_options_init_v2": ([ctypes.POINTER(_abi.ContextOptions)], None),
                "dwconv_context_create_v2": ([ctypes.POINTER(_abi.ContextOptions), ctypes.POINTER(P)], I),
                "dwconv_context_destroy": ([P], I),
                "dwconv_context_threads": ([P], I),
                "dwconv_context_plan_warning": ([P], ctypes.c_char_p),
                "dwconv_depthwise_create": ([P, I, I, I, I, I, I, F, F, I, ctypes.POINTER(P)], I),
                "dwconv_depthwise_create_2d": ([P, I, I, I, I, I, I, I, I, I, I, I, F, F, I, ctypes.POINTER(P)], I),
                "dwconv_pointwise_create": ([P, I, I, I, I, F, F, I, I, I, ctypes.POINTER(P)], I),
                "dwconv_layer_output_size": ([P, ctypes.POINTER(I), ctypes.POINTER(I), ctypes.POINTER(I)], I),
                "dwconv_layer_prepare": ([P, I], I),
                "dwconv_layer_execute": ([P, I, F, F, F], I),
                "dwconv_layer_execute_dtype": ([P, I, I, P, P, P], I),
                "dwconv_layer_algorithm": ([P, I], ctypes.c_char_p),
                "dwconv_layer_choice": ([P, I], ctypes.c_char_p),
                "dwconv_layer_conversion_seconds": ([P], ctypes.c_double),
                "dwconv_layer_destroy": ([P], I),
                "dwconv_pointwise_create_precision": ([P, I, I, I, I, F, F, I, I, I, I, ctypes.POINTER(P)], I),
                "dwconv_precision_supported": ([I], I),
                "dwconv_openmp_parallel_for": ([P, _abi.TASK, P, ctypes.c_size_t], None),
            }
            for name, (args, res) in sig.items():
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = args, res
            if lib.dwconv_abi_version() != _abi.ABI_VERSION:
                raise DwconvError(0, f"{library_path()} has ABI version {lib.dwconv_abi_version()}, this package speaks {_abi.ABI_VERSION}")
            # dwconv_layer_execute once more, with plain addresses (Layer.execute_pointers): a second function object,
            # so the float-pointer one above keeps its argument checks.
            raw = lib["dwconv_layer_execute"]
            raw.argtypes, raw.restype = [P, I, P, P, P], I
            lib.execute_raw = raw
            _lib = lib
        return _lib


def _check(status):
    if status != 0:
        raise DwconvError(status, _library().dwconv_last_error().decode())


def version():
    """libdwconv's version line."""
    return _library().dwconv_version().decode()


def _choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return choices[value]


def precision_supported(precision):
    """Whether 1×1 layers of this precision ("fp32", "bf16") can be created on this CPU (bf16 needs avx512_bf16
    and is off under DWBENCH_NO_BF16)."""
    return _library().dwconv_precision_supported(_choice(precision, "precision", _PRECISIONS)) == 1


class Context:
    """Worker threads, idle policy and (optionally) a tuning plan. Layers made on a context run on its
    threads; contexts are independent and may be used from different Python threads at once.

    threads: None for every core. plan: a plan file from `dwbench tune`; one tuned elsewhere (another machine,
    build or thread count) is not used: a PlanWarning with the reason (also in `plan_warning`), or an error
    with plan_only=True. spin_us: how long idle workers spin before sleeping (None: the library's default,
    2000 µs; 0 inside a host with its own threads, such as PyTorch).

    parallel_for, parallel_for_host, host_threads: run on the host's threads instead (dwconv_context_options):
    parallel_for the address (an int) of a C dwconv_parallel_for, parallel_for_host the address passed back to it
    (the caller keeps what it points to alive), host_threads how many threads the host runs at once; threads is
    then ignored. `openmp_context` fills them for a GNU OpenMP runtime.
    """

    def __init__(self, threads=None, plan=None, plan_only=False, spin_us=None, parallel_for=None, parallel_for_host=None,
                 host_threads=None):
        lib = _library()
        opts = _abi.ContextOptions()
        lib.dwconv_context_options_init_v2(ctypes.byref(opts))
        if threads is not None:
            opts.threads = _c_int(threads, "threads", 1)
        if parallel_for is not None:
            address = _address(parallel_for, "parallel_for")
            if host_threads is None:
                raise ValueError("host_threads is required with parallel_for")
            self._parallel_for = _abi.PARALLEL_FOR(address)
            opts.parallel_for = self._parallel_for
            opts.parallel_for_host = _address(parallel_for_host, "parallel_for_host") if parallel_for_host is not None else None
            opts.host_threads = _c_int(host_threads, "host_threads", 1)
        elif parallel_for_host is not None or host_threads is not None:
            raise ValueError("parallel_for_host and host_threads go with parallel_for")
        if spin_us is not None:
            opts.spin_us = _c_int(spin_us, "spin_us", 0)
        self._plan = os.fsencode(plan) if plan is not None else None
        opts.plan = self._plan
        opts.plan_only = 1 if plan_only else 0
        handle = ctypes.c_void_p()
        _check(lib.dwconv_context_create_v2(ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle
        self._layers = []
        if self.plan_warning is not None:
            warnings.warn(self.plan_warning, PlanWarning, stacklevel=2)

    @property
    def threads(self):
        return _library().dwconv_context_threads(self._handle)

    @property
    def plan_warning(self):
        w = _library().dwconv_context_plan_warning(self._handle)
        return w.decode() if w else None

    def close(self):
        if getattr(self, "_handle", None) is not None and self._handle.value:
            handle, self._handle = self._handle, ctypes.c_void_p()
            _check(_library().dwconv_context_destroy(handle))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _address(value, name):
    """A C address given as a Python int (not a bool), nonzero."""
    if isinstance(value, (bool, np.bool_)) or not hasattr(type(value), "__index__") or operator.index(value) <= 0:
        raise TypeError(f"{name} must be an address (a positive int), got {value!r}")
    return operator.index(value)


def openmp_context(library, threads, plan=None, plan_only=False):
    """A Context whose layers run on the threads of a GNU OpenMP runtime already loaded in this process (PyTorch's
    CPU wheels: the libgomp in torch/lib, their intra-op threads), through libdwconv's dwconv_openmp_parallel_for.
    `library`: that runtime's path, as the process loaded it (see /proc/self/maps); it is looked up, never loaded
    (a second OpenMP runtime would start threads of its own). threads: how many of its threads a layer uses."""
    try:
        runtime = ctypes.CDLL(library, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
    except OSError as e:
        raise DwconvError(0, f"{library} is not loaded in this process: openmp_context runs on a runtime already loaded, "
                             f"never loads one ({e})") from None
    entries = _abi.OpenMP()
    for field, _ in _abi.OpenMP._fields_:
        symbol = "GOMP_parallel" if field == "gomp_parallel" else field
        try:
            setattr(entries, field, ctypes.cast(getattr(runtime, symbol), ctypes.c_void_p).value)
        except AttributeError:
            raise DwconvError(0, f"{library} has no {symbol}: not a GNU OpenMP runtime") from None
    parallel_for = ctypes.cast(_library().dwconv_openmp_parallel_for, ctypes.c_void_p).value
    context = Context(plan=plan, plan_only=plan_only, spin_us=0, parallel_for=parallel_for,
                      parallel_for_host=ctypes.addressof(entries), host_threads=threads)
    context._openmp = (entries, runtime)   # the struct the library reads, alive as long as the context
    return context


_default = None
_default_lock = threading.Lock()


def _default_context():
    """The context of calls that name none: every core, the library's defaults, no plan."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Context()
        return _default


def _pair(value, name, minimum):
    """(h, w) of an int (both axes) or an (h, w) pair, each checked by _c_int."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        return _c_int(value[0], name, minimum), _c_int(value[1], name, minimum)
    value = _c_int(value, name, minimum)
    return value, value


def _depthwise_geometry(kernel, stride=1, padding=0, dilation=1):
    """PyTorch's conv2d geometry, as libdwconv runs it: ((sh, sw), (ph, pw), (eh, ew), (dh, dw)) for a (kh, kw) kernel.
    stride and dilation: an int or an (h, w) pair; padding: an int, an (h, w) pair, 'same' or 'valid'. ph and pw are
    the symmetric zero padding libdwconv applies (rows above and below, columns left and right); eh and ew (0 or 1)
    the zero rows at the bottom and columns at the right added before it, for a 'same' padding whose total
    d·(k − 1) is odd on that axis (PyTorch puts the odd one there)."""
    sh, sw = _pair(stride, "stride", 1)
    dh, dw = _pair(dilation, "dilation", 1)
    if isinstance(padding, str):
        if padding == "valid":
            return (sh, sw), (0, 0), (0, 0), (dh, dw)
        if padding != "same":
            raise ValueError(f"padding must be an int, an (h, w) pair, 'same' or 'valid', got {padding!r}")
        if (sh, sw) != (1, 1):
            raise ValueError(f"padding='same' needs stride 1, got stride {(sh, sw)} (PyTorch refuses it for strided convolutions too)")
        th, tw = dh * (kernel[0] - 1), dw * (kernel[1] - 1)
        return (1, 1), (th // 2, tw // 2), (th % 2, tw % 2), (dh, dw)
    if isinstance(padding, (tuple, list)) and len(padding) != 2:
        raise ValueError(f"padding must be an int, an (h, w) pair, 'same' or 'valid', got {padding!r}")
    return (sh, sw), _pair(padding, "padding", 0), (0, 0), (dh, dw)


def _depthwise_output_size(h, w, kernel, stride, pad, extra, dilation):
    """(oh, ow) of the geometry _depthwise_geometry resolved, for an h×w map (also symbolic sizes, for fake tensors)."""
    return tuple((size + e + 2 * p - d * (k - 1) - 1) // s + 1
                 for size, k, s, p, e, d in zip((h, w), kernel, stride, pad, extra, dilation))


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _as_array(x, name, shape_len=None, nhwc=False):
    """A C-contiguous float32 numpy view or copy of x (numpy array or CPU torch tensor). With nhwc, a 4-D torch
    tensor (N, C, H, W) becomes its channels_last memory as an (N, H, W, C) array (a view when it is channels_last
    already); numpy arrays are taken as they are, (N, H, W, C)."""
    if _is_torch(x):
        if x.device.type != "cpu":
            raise TypeError(f"{name} is on {x.device}; dwconv runs on the CPU")
        if x.requires_grad and _grad_enabled():
            raise RuntimeError(f"{name} requires grad: dwconv is inference only (use torch.no_grad() or torch.inference_mode())")
        if str(x.dtype) != "torch.float32":
            raise TypeError(f"{name} has dtype {x.dtype}; dwconv takes float32")
        if nhwc and x.dim() == 4:
            import torch
            a = x.detach().contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).numpy()
        else:
            a = x.detach().contiguous().numpy()
    elif isinstance(x, np.ndarray):
        if x.dtype != np.float32:
            raise TypeError(f"{name} has dtype {x.dtype}; dwconv takes float32")
        a = np.ascontiguousarray(x)
    else:
        raise TypeError(f"{name} must be a numpy array or a CPU torch tensor, got {type(x).__name__}")
    if shape_len is not None and a.ndim != shape_len:
        raise ValueError(f"{name} must have {shape_len} dimensions, got shape {tuple(a.shape)}")
    return a


def _grad_enabled():
    import torch
    return torch.is_grad_enabled()


def _fptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) if a is not None else None


class _Layer:
    """A libdwconv layer: weights copied and packed once per batch size; calls run on the context."""

    def __init__(self, context, layout="nchw"):
        self.context = context if context is not None else _default_context()
        self._handle = ctypes.c_void_p()
        self.layout = layout
        self._layout = _choice(layout, "layout", _LAYOUTS)

    def _tensor_shape(self, chw):
        """The (C, H, W) of a tensor as this layer's arrays hold it: (H, W, C) for nhwc."""
        return (chw[1], chw[2], chw[0]) if self.layout == "nhwc" else chw

    def _out_size(self):
        c, h, w = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        _check(_library().dwconv_layer_output_size(self._handle, ctypes.byref(c), ctypes.byref(h), ctypes.byref(w)))
        return c.value, h.value, w.value

    def algorithm(self, batch=1):
        """(registry name, where the choice came from) for this batch size (prepared if needed)."""
        lib = _library()
        batch = _c_int(batch, "batch", 1)
        _check(lib.dwconv_layer_prepare(self._handle, batch))
        return lib.dwconv_layer_algorithm(self._handle, batch).decode(), lib.dwconv_layer_choice(self._handle, batch).decode()

    @property
    def conversion_seconds(self):
        return _library().dwconv_layer_conversion_seconds(self._handle)

    def execute_pointers(self, batch, input_ptr, output_ptr, residual_ptr=None, dtype="float32"):
        """dwconv_layer_execute(_dtype) on memory the caller allocated, given as integer addresses (such as
        tensor.data_ptr()): batch images in the layer's layout (nhwc: channels_last), every tensor of element type
        `dtype`: 'float32' or 'bfloat16' (read by exact widening, the output rounded once). Nothing is checked here
        but what the library checks; the buffers' sizes are the caller's to get right."""
        if dtype == "float32":
            status = _lib.execute_raw(self._handle, batch, input_ptr, output_ptr, residual_ptr)
        else:
            status = _lib.dwconv_layer_execute_dtype(self._handle, batch, _choice(dtype, "dtype", _DTYPES), input_ptr, output_ptr,
                                                     residual_ptr)
        if status != 0:
            _check(status)

    def _run(self, x, residual=None):
        torch_in = _is_torch(x)
        nhwc = self.layout == "nhwc"
        a = _as_array(x, "input", 4, nhwc=nhwc)
        in_shape, out_shape = self._tensor_shape(self._in_shape), self._tensor_shape(self._out_shape)
        if a.shape[1:] != in_shape:
            taken = f"(N, {', '.join(map(str, self._in_shape))}) in channels_last" if nhwc and torch_in else f"(N, {', '.join(map(str, in_shape))})"
            raise ValueError(f"input has shape {tuple(x.shape) if torch_in else tuple(a.shape)}, this layer takes {taken}")
        n = _c_int(a.shape[0], "batch", 1)
        a = self._library_input(a)
        out = np.empty((n,) + out_shape, dtype=np.float32)
        r = None
        if residual is not None:
            r = _as_array(residual, "residual", 4, nhwc=nhwc)
            if r.shape != out.shape:
                raise ValueError(f"residual has shape {tuple(r.shape)}, the output is {tuple(out.shape)}")
        _check(_library().dwconv_layer_execute(self._handle, n, _fptr(a), _fptr(out), _fptr(r)))
        if torch_in:
            import torch
            y = torch.from_numpy(out)
            return y.permute(0, 3, 1, 2) if nhwc else y   # (N, C, H, W), channels_last memory
        return out

    def _library_input(self, a):
        """The array the library reads for the checked input `a` (itself, unless a subclass widens it)."""
        return a

    def close(self):
        if self._handle.value:
            handle, self._handle = self._handle, ctypes.c_void_p()
            _check(_library().dwconv_layer_destroy(handle))

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Depthwise(_Layer):
    """PyTorch's conv2d(x, weight, bias, stride, padding, dilation, groups=C) with zero padding, for inputs of C×H×W
    (any batch): weight (C, 1, KH, KW), bias (C,) or None; stride and dilation an int or an (h, w) pair; padding an
    int, an (h, w) pair (rows above and below, columns left and right), 'valid' (0) or 'same' (stride 1 only, as
    in PyTorch). layout "nchw", or "nhwc": torch tensors (N, C, H, W) in torch.channels_last memory (the output
    too), numpy arrays (N, H, W, C).

    'same' with an odd total padding d·(k − 1) on an axis (an even kernel at odd dilation) has one more zero row
    (column) at the bottom (right), as PyTorch's: the library pads symmetrically, so the layer is made for the
    map enlarged by `extra` = (rows, columns) and each call copies the input into a zero-filled array of that
    size first (one copy of the input; none for any other padding). `execute_pointers` takes such an enlarged
    input, of `input_size`."""

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, *, height, width, context=None, layout="nchw"):
        super().__init__(context, layout)
        w = _as_array(weight, "weight", 4)
        c, one, kh, kw = w.shape
        if one != 1:
            raise ValueError(f"weight must have shape (C, 1, KH, KW), got {tuple(w.shape)}")
        b = _as_array(bias, "bias", 1) if bias is not None else None
        if b is not None and b.shape != (c,):
            raise ValueError(f"bias must have shape ({c},), got {tuple(b.shape)}")
        c, kh, kw, height, width = _positive(channels=c, kernel_height=kh, kernel_width=kw, height=height, width=width)
        (sh, sw), (ph, pw), (eh, ew), (dh, dw) = _depthwise_geometry((kh, kw), stride, padding, dilation)
        self.kernel_size, self.stride, self.dilation = (kh, kw), (sh, sw), (dh, dw)
        self.padding = padding if isinstance(padding, str) else (ph, pw)
        self.extra = (eh, ew)
        self.input_size = (_c_int(height + eh, "height", 1), _c_int(width + ew, "width", 1))
        _check(_library().dwconv_depthwise_create_2d(self.context._handle, c, *self.input_size, kh, kw, sh, sw, ph, pw, dh, dw,
                                                     _fptr(w), _fptr(b), self._layout, ctypes.byref(self._handle)))
        self._in_shape = (c, height, width)
        self._out_shape = self._out_size()

    def _library_input(self, a):
        eh, ew = self.extra
        if not (eh or ew):
            return a
        n, h, w = a.shape[0], self._in_shape[1], self._in_shape[2]
        if self.layout == "nhwc":
            wide = np.zeros((n, h + eh, w + ew, a.shape[3]), dtype=np.float32)
            wide[:, :h, :w, :] = a
        else:
            wide = np.zeros((n, a.shape[1], h + eh, w + ew), dtype=np.float32)
            wide[:, :, :h, :w] = a
        return wide

    def __call__(self, x):
        return self._run(x)


class Pointwise(_Layer):
    """A 1×1 convolution with its fused epilogue: activation(W·x + bias) (+ residual): weight (O, C, 1, 1),
    activation None, 'relu' or 'gelu' (exact), residual=True to add a tensor of the output's shape. layout as
    for Depthwise; precision "fp32", or "bf16" (input and weights rounded to bfloat16 inside, fp32 sums; needs
    precision_supported("bf16"), otherwise DwconvError)."""

    def __init__(self, weight, bias=None, *, height, width, activation=None, residual=False, context=None, layout="nchw",
                 precision="fp32"):
        super().__init__(context, layout)
        self.precision = precision
        precision_code = _choice(precision, "precision", _PRECISIONS)
        w = _as_array(weight, "weight", 4)
        o, c, kh, kw = w.shape
        if (kh, kw) != (1, 1):
            raise ValueError(f"weight must have shape (O, C, 1, 1), got {tuple(w.shape)}")
        b = _as_array(bias, "bias", 1) if bias is not None else None
        if b is not None and b.shape != (o,):
            raise ValueError(f"bias must have shape ({o},), got {tuple(b.shape)}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be None, 'relu' or 'gelu', got {activation!r}")
        self.residual = bool(residual)
        c, o, height, width = _positive(in_channels=c, out_channels=o, height=height, width=width)
        _check(_library().dwconv_pointwise_create_precision(self.context._handle, c, o, height, width, _fptr(w), _fptr(b),
                                                            _ACTIVATIONS[activation], 1 if residual else 0, self._layout,
                                                            precision_code, ctypes.byref(self._handle)))
        self._in_shape = (c, height, width)
        self._out_shape = self._out_size()

    def __call__(self, x, residual=None):
        if self.residual and residual is None:
            raise ValueError("this layer adds a residual: pass residual=")
        if not self.residual and residual is not None:
            raise ValueError("this layer has no residual (create it with residual=True)")
        return self._run(x, residual)


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *, context=None):
    """y = conv2d(x, weight, bias, stride, padding, dilation, groups=C) on float32 NCHW numpy arrays or CPU torch
    tensors (returns the same type), PyTorch's signature: weight (C, 1, KH, KW); stride and dilation an int or an
    (h, w) pair; padding an int, an (h, w) pair, 'same' (stride 1) or 'valid' (see `Depthwise`). Builds a layer per
    call: keep a `Depthwise` to reuse the packed weights."""
    a = _as_array(x, "input", 4)
    layer = Depthwise(weight, bias, stride, padding, dilation, height=a.shape[2], width=a.shape[3], context=context)
    try:
        return layer(x)
    finally:
        layer.close()


def pointwise_conv2d(x, weight, bias=None, *, activation=None, residual=None, context=None):
    """A 1×1 convolution with optional fused activation and residual, like `depthwise_conv2d`."""
    a = _as_array(x, "input", 4)
    layer = Pointwise(weight, bias, height=a.shape[2], width=a.shape[3], activation=activation,
                      residual=residual is not None, context=context)
    try:
        return layer(x, residual)
    finally:
        layer.close()


def tune(model, example_input, output, **options):
    """A plan tuned for the convolutions a PyTorch `model` runs on `example_input`, written to `output` and ready
    for dwconv.torch.convert(model, plan=output): dwconv.torch.tune (it runs `dwbench tune` on the recorded
    shapes; options: threads, pointwise, mode, budget_seconds)."""
    from .torch import tune as tune_model
    return tune_model(model, example_input, output, **options)
