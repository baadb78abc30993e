"""numba compilation for the domain core's byte loops (dedup/kernel.py, regions/kernel.py).

mypyc compiles the rest of the core (streams/native.py), but a loop over every byte of a 3 KB
article still pays a Python object per byte there; numba runs it as machine code over the buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit

F = TypeVar("F", bound=Callable[..., Any])


def compiled(**options: Any) -> Callable[[F], F]:
    """``njit`` cached on disk where numba finds a writable place, else compiled per process: a
    read-only root file system with no writable home (a locked-down container) must cost a ~2.5 s
    compile at start, not a crash at import (numba raises when no cache location is writable)."""

    def wrap(fn: F) -> F:
        try:
            return cast(F, njit(cache=True, nogil=True, **options)(fn))
        except RuntimeError:
            return cast(F, njit(nogil=True, **options)(fn))

    return wrap
