"""glibc's allocator, set for the CPU paths: no ``mmap`` per large tensor, no trimming.

By default glibc serves every allocation over its ``mmap`` threshold (128 KiB, raised only as
freed blocks show larger sizes) with a fresh ``mmap`` and gives it back with ``munmap`` when it
is freed, and trims the heap's free top back to the kernel. A small model on a CPU allocates and
frees tensors of hundreds of KiB thousands of times a second (activations, KV caches, gradients),
so every one of them costs a page fault per page touched: on this project's 2-core machine the
kernel's share of a rollout was as large as the model's (``benchmarks/allocator_bench.py``).
With both thresholds out of reach the freed memory is reused instead; the process keeps its peak
heap until it exits, which a training or evaluation job reaches early anyway.

The settings are glibc tunables, read only when a process starts, so ``nanosearch`` runs itself
again with them (:func:`run_with_tuned_allocator`) unless ``GLIBC_TUNABLES`` is already set (a
user's own setting wins, and the second start sees it) or ``NANOSEARCH_SYSTEM_MALLOC`` is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

VARIABLE = "GLIBC_TUNABLES"
OPT_OUT = "NANOSEARCH_SYSTEM_MALLOC"
NEVER = 2**32  # bytes: above any single allocation of these jobs
TUNABLES = f"glibc.malloc.mmap_threshold={NEVER}:glibc.malloc.trim_threshold={NEVER}"


def uses_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not Linux, or a libc without the name
        return False


def tuned_environment(environ: Mapping[str, str], glibc: bool) -> dict[str, str] | None:
    """The environment to start this process again with, or None where none is needed: not
    glibc, the tunables already set (by the user, or by the first start), or opted out."""
    if not glibc or VARIABLE in environ or environ.get(OPT_OUT):
        return None
    return {**environ, VARIABLE: TUNABLES}


def run_with_tuned_allocator() -> None:
    """Replace this process with the same command line under :data:`TUNABLES` (same pid, same
    file descriptors); return at once where :func:`tuned_environment` needs no second start.
    Call it first thing in an entry point, before anything is allocated that would be lost."""
    environment = tuned_environment(os.environ, uses_glibc())
    if environment is None:
        return
    os.execve(sys.executable, sys.orig_argv, environment)
