"""Loaded by pytest before anything else, whichever tests or notebooks it is asked to run.

The same numbers on every x86 processor: strict nbval compares every printed number with
the committed one, and without these settings the kernels that torch, MKL and oneDNN pick
for the processor (AVX-512 or AVX2, Intel or AMD) change the last bits of matrix products,
which chaotic training runs (a diverging loss, a run on a knife edge) magnify. MKL's
COMPATIBLE mode is the one that gives the same results on Intel and AMD processors. They are
set before torch is imported, and the notebooks' kernels inherit them. The Makefile exports
the same values for every make target (``make notebooks`` included); Colab and Binder do
without them, so a learner's last digits may differ from the committed ones.
"""

import os

CPU_REPRODUCIBILITY = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
for name, value in CPU_REPRODUCIBILITY.items():
    os.environ.setdefault(name, value)
