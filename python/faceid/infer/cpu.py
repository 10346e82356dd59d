"""What this CPU offers the inference paths."""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["cpu_has_bf16"]


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX-BF16), which oneDNN's bf16 kernels need: where
    ``precision="auto"`` tries bf16 (Linux; elsewhere False)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
