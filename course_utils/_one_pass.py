"""One C loop that reads a gradient once for all five of its statistics.

PyTorch computes each reduction in its own pass over the tensor: sum of squares, sum, largest
|g|, nonzero count and sum of |g| make five passes (and a sixth to write |g|). On a CPU that
costs a recorded step of a 48-layer MLP about as much as a sixth of the training step. The
loop below does all five in one pass, vectorised by the C compiler. It is the optional
``GradientMonitor(..., compile=True)`` path: compiled once per process with the system's C
compiler (``$CC``, else ``cc``) in a temporary folder, in a fraction of a second, for this
machine's processor. Without a compiler, :func:`summarise_into` raises :class:`CompileError`
(every time, without trying again) and the monitor goes on without it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["SOURCE", "CompileError", "load", "summarise_into"]

SOURCE = r"""
#include <stdint.h>
#include <string.h>

enum { BLOCK = 1024 };

/* Sum of squares, sum, largest |x|, nonzero count and sum of |x| of n numbers, into out[5].
   |x| is x with its sign bit cleared. For numbers that are not negative, the order of their
   bits as unsigned integers is their order (NaN above Inf), and a number is 0 exactly when
   its bits are (-0.0 too). Blocks of BLOCK numbers are summed in the numbers' own type,
   which the compiler vectorises; the blocks' sums are added in double. */
#define SUMMARISE(NAME, REAL, BITS, SIGN)                                          \
void NAME(const REAL *x, int64_t n, double *out) {                                 \
    double squares = 0.0, total = 0.0, absolute = 0.0;                             \
    BITS largest = 0;                                                              \
    int64_t nonzero = 0;                                                           \
    for (int64_t start = 0; start < n; start += BLOCK) {                           \
        int64_t end = start + BLOCK < n ? start + BLOCK : n;                       \
        REAL block_squares = 0, block_total = 0, block_absolute = 0;               \
        int32_t block_nonzero = 0;                                                 \
        for (int64_t i = start; i < end; i++) {                                    \
            BITS bits;                                                             \
            memcpy(&bits, &x[i], sizeof bits);                                     \
            bits &= ~SIGN;                                                         \
            REAL magnitude;                                                        \
            memcpy(&magnitude, &bits, sizeof magnitude);                           \
            block_squares += x[i] * x[i];                                          \
            block_total += x[i];                                                   \
            block_absolute += magnitude;                                           \
            largest = bits > largest ? bits : largest;                             \
            block_nonzero += bits != 0;                                            \
        }                                                                          \
        squares += block_squares;                                                  \
        total += block_total;                                                      \
        absolute += block_absolute;                                                \
        nonzero += block_nonzero;                                                  \
    }                                                                              \
    REAL most;                                                                     \
    memcpy(&most, &largest, sizeof most);                                          \
    out[0] = squares;                                                              \
    out[1] = total;                                                                \
    out[2] = most;                                                                 \
    out[3] = (double)nonzero;                                                      \
    out[4] = absolute;                                                             \
}

SUMMARISE(summarise_float, float, uint32_t, 0x80000000u)
SUMMARISE(summarise_double, double, uint64_t, 0x8000000000000000u)
"""

# Reassociating sums lets the compiler vectorise them; NaN and Inf still propagate.
_FLAGS = ["-O3", "-fno-math-errno", "-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math"]
_ARGUMENTS = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]


_DTYPES = (torch.float32, torch.float64)


class CompileError(RuntimeError):
    """The C compiler is missing or failed."""


@functools.cache
def load() -> dict[torch.dtype, ctypes._CFuncPtr] | CompileError:
    """Compile :data:`SOURCE` (once per process) and return its function for each dtype,
    or the :class:`CompileError` saying why it could not (kept, so as not to try again)."""
    compiler = os.environ.get("CC", "cc")
    errors = []
    with tempfile.TemporaryDirectory(prefix="course_utils_", ignore_cleanup_errors=True) as folder:
        source, library = Path(folder) / "one_pass.c", Path(folder) / "one_pass.so"
        source.write_text(SOURCE)
        for tuning in (["-march=native"], []):  # for this processor if the compiler can
            command = [compiler, *_FLAGS, *tuning, "-shared", "-fPIC", "-o", library, source]
            try:
                subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
                break
            except (OSError, subprocess.SubprocessError) as error:
                details = (getattr(error, "stderr", None) or str(error)).strip()
                errors.append(details.splitlines()[0] if details else repr(error))
        else:
            return CompileError(
                f"could not compile the one-pass statistics with {compiler}: {errors[0]}"
            )
        shared = ctypes.CDLL(str(library))  # loaded: the file can go
    functions = {torch.float32: shared.summarise_float, torch.float64: shared.summarise_double}
    for function in functions.values():
        function.argtypes = _ARGUMENTS
        function.restype = None
    return functions


def summarise_into(tensor: torch.Tensor, row: np.ndarray) -> bool:
    """Write the five numbers of ``tensor`` into ``row`` (float64, 5 contiguous numbers) and
    return True, or return False if the loop cannot read it (not a dense, contiguous float32
    or float64 tensor on the CPU). Raises :class:`CompileError` if the loop could not be
    built. Only the tensor's memory is read: its shape does not matter.
    """
    if (
        tensor.device.type != "cpu"
        or tensor.dtype not in _DTYPES
        or tensor.layout != torch.strided
        or not tensor.is_contiguous()
    ):
        return False
    functions = load()
    if isinstance(functions, CompileError):
        raise functions
    functions[tensor.dtype](tensor.data_ptr(), tensor.numel(), row.ctypes.data)
    return True
