"""Where Numba keeps its compiled-function cache: beside the sources, else a per-user temp folder.

``@njit(cache=True)`` fails at import ("cannot cache function ...: no locator
available") when neither the package folder nor the user's cache folder
(``$HOME/.cache``) is writable, e.g. a read-only install with an unwritable
HOME. :func:`ensure_cache_dir` runs once when ``kernels`` is imported, before
Numba is: in that case it points ``NUMBA_CACHE_DIR`` at a private folder under
the system temp dir and warns once.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path


def _writable(folder: Path) -> bool:
    while not folder.exists():  # a folder that can be made is as good as a writable one
        if folder.parent == folder:
            return False
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def ensure_cache_dir(package_dir: Path | None = None) -> str | None:
    """Set ``NUMBA_CACHE_DIR`` to a temp folder when Numba could not cache anywhere; return it (else None)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    package_dir = package_dir or Path(__file__).resolve().parent
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path(os.path.expanduser("~")) / ".cache")
    if _writable(package_dir / "__pycache__") or _writable(user_cache):
        return None
    folder = Path(tempfile.gettempdir()) / f"convbench-numba-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:  # already imported: its config is read when a function is decorated
        import numba

        numba.config.CACHE_DIR = str(folder)
    warnings.warn(f"neither {package_dir} nor {user_cache} is writable; Numba caches compiled kernels in {folder}",
                  RuntimeWarning, stacklevel=2)
    return str(folder)
