"""The one place where vitsim's numba kernels get their compiler flags.

Every kernel in :mod:`vitsim.simulator.kernels` is decorated with :data:`jit`, never with a
bare ``numba.njit``, so the flags below hold for all of them:

``cache=True``
    The compiled machine code is written beside the source (``__pycache__/*.nbi``/``*.nbc``,
    ignored by git) and reused by the next process. A CLI run pays the compile time (about a
    second per kernel) once; its second start loads the cached code in milliseconds. numba
    recompiles by itself when a kernel's source or the argument types change.
``nogil=True``
    Kernels release the GIL, so a sweep may run heads or configurations in threads.
``fastmath=False``
    Strict IEEE arithmetic: no reassociation, so sums (and hence golden cycle counts) are the
    same on every machine and numba version, and equal to the naive twins in the tests.
"""

from __future__ import annotations

import numba

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}

jit = numba.njit(cache=JIT_OPTIONS["cache"], nogil=JIT_OPTIONS["nogil"],
                 fastmath=JIT_OPTIONS["fastmath"])
"""Decorator for every vitsim kernel: ``numba.njit`` with :data:`JIT_OPTIONS`."""
