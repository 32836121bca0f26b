"""libdwconv's handle checks through the raw C ABI (ctypes): a layer used after its destroy, a layer or a
context destroyed twice, a context passed as a layer and a layer as a context, a pointer the library never
returned, NULL: each is DWCONV_ERROR_INVALID_ARGUMENT with a message saying which, never a crash.

Each case runs in a child interpreter (this file run as a script), so that a library without the checks,
which dies of SIGSEGV on these calls, fails that case instead of ending the whole test run.
"""
import ctypes
import subprocess
import sys

import numpy as np
import pytest

import dwconv

INVALID_ARGUMENT = 1
CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


def refused(status, lib, fragment):
    """The call was refused as a misused handle, and the thread's last error says `fragment`."""
    message = lib.dwconv_last_error().decode()
    assert status == INVALID_ARGUMENT, f"status {status}, expected DWCONV_ERROR_INVALID_ARGUMENT ({message!r})"
    assert fragment in message, f"{message!r} lacks {fragment!r}"


def new_context(lib):
    options = dwconv._abi.ContextOptions()
    lib.dwconv_context_options_init_v2(ctypes.byref(options))
    options.threads, options.spin_us = 1, 0
    handle = ctypes.c_void_p()
    assert lib.dwconv_context_create_v2(ctypes.byref(options), ctypes.byref(handle)) == 0, lib.dwconv_last_error()
    return handle


WEIGHT = np.ones((4, 1, 3, 3), np.float32)
X = np.ones((1, 4, 8, 8), np.float32)
Y = np.empty((1, 4, 8, 8), np.float32)


def new_layer(lib, context):
    handle = ctypes.c_void_p()
    status = lib.dwconv_depthwise_create(context, 4, 8, 8, 3, 1, 1, dwconv._fptr(WEIGHT), None, 0, ctypes.byref(handle))
    assert status == 0, lib.dwconv_last_error()
    return handle


def execute(lib, layer):
    return lib.dwconv_layer_execute(layer, 1, dwconv._fptr(X), dwconv._fptr(Y), None)


@case
def layer_used_after_destroy(lib):
    layer = new_layer(lib, new_context(lib))
    assert execute(lib, layer) == 0
    assert lib.dwconv_layer_destroy(layer) == 0
    refused(execute(lib, layer), lib, "already destroyed")
    refused(lib.dwconv_layer_prepare(layer, 1), lib, "already destroyed")
    c = ctypes.c_int()
    refused(lib.dwconv_layer_output_size(layer, ctypes.byref(c), None, None), lib, "already destroyed")
    assert lib.dwconv_layer_algorithm(layer, 1) is None and lib.dwconv_layer_choice(layer, 1) is None
    assert lib.dwconv_layer_conversion_seconds(layer) < 0
    assert "already destroyed" in lib.dwconv_last_error().decode()


@case
def layer_destroyed_twice(lib):
    layer = new_layer(lib, new_context(lib))
    assert lib.dwconv_layer_destroy(layer) == 0
    refused(lib.dwconv_layer_destroy(layer), lib, "layer handle")
    refused(lib.dwconv_layer_destroy(layer), lib, "already destroyed")


@case
def context_destroyed_twice(lib):
    context = new_context(lib)
    assert lib.dwconv_context_destroy(context) == 0
    refused(lib.dwconv_context_destroy(context), lib, "context handle")
    refused(lib.dwconv_context_destroy(context), lib, "already destroyed")
    assert lib.dwconv_context_threads(context) == 0


@case
def context_passed_as_layer(lib):
    context = new_context(lib)
    refused(execute(lib, context), lib, "is a context, not a layer")
    refused(lib.dwconv_layer_prepare(context, 1), lib, "is a context, not a layer")
    refused(lib.dwconv_layer_destroy(context), lib, "is a context, not a layer")
    assert lib.dwconv_context_threads(context) == 1, "the context stopped working"
    assert lib.dwconv_context_destroy(context) == 0
    refused(lib.dwconv_layer_destroy(context), lib, "is a destroyed context, not a layer")


@case
def layer_passed_as_context(lib):
    layer = new_layer(lib, new_context(lib))
    made = ctypes.c_void_p()
    refused(lib.dwconv_depthwise_create(layer, 4, 8, 8, 3, 1, 1, dwconv._fptr(WEIGHT), None, 0, ctypes.byref(made)), lib,
            "is a layer, not a context")
    assert made.value is None
    assert lib.dwconv_context_threads(layer) == 0 and lib.dwconv_context_plan_warning(layer) is None
    refused(lib.dwconv_context_destroy(layer), lib, "is a layer, not a context")
    assert execute(lib, layer) == 0, "the layer stopped working"


@case
def foreign_pointer_and_null(lib):
    foreign = ctypes.cast(dwconv._fptr(X), ctypes.c_void_p)
    refused(execute(lib, foreign), lib, "not returned by this library")
    refused(lib.dwconv_context_destroy(foreign), lib, "not returned by this library")
    refused(execute(lib, None), lib, "layer is NULL")
    assert lib.dwconv_layer_destroy(None) == 0 and lib.dwconv_context_destroy(None) == 0


@case
def layer_outlives_its_context_handle(lib):
    context = new_context(lib)
    layer = new_layer(lib, context)
    assert lib.dwconv_context_destroy(context) == 0
    assert execute(lib, layer) == 0, lib.dwconv_last_error()
    refused(lib.dwconv_depthwise_create(context, 4, 8, 8, 3, 1, 1, dwconv._fptr(WEIGHT), None, 0, ctypes.byref(ctypes.c_void_p())),
            lib, "already destroyed")
    assert lib.dwconv_layer_destroy(layer) == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_misused_handle_is_an_error_not_a_crash(name):
    child = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True)
    assert child.returncode == 0, f"{name}: exit status {child.returncode}\n{child.stdout[-3000:]}{child.stderr[-3000:]}"


def test_the_python_layer_refuses_use_after_close():
    layer = dwconv.Depthwise(WEIGHT, padding=1, height=8, width=8, context=dwconv.Context(threads=1, spin_us=0))
    layer.close()
    layer.close()                                   # a second close is a no-op in Python
    with pytest.raises(dwconv.DwconvError, match="layer is NULL"):
        layer(X)


if __name__ == "__main__":
    CASES[sys.argv[1]](dwconv._library())
