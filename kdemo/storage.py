"""Where kdemo writes files, and how: the cache folder, folders that appear whole or not at all.

Every folder kdemo creates for others to read (a saved run, a converted model, an unpacked
student) is built in a hidden temporary sibling and renamed into place at the end, so a reader
never sees half of one; a crash leaves only a hidden ``.<name>.tmp-*`` folder, which
``remove_stale_temp`` clears at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kdemo.errors import KdemoError

logger = logging.getLogger(__name__)

TEMP_MARK = ".tmp-"


def cache_dir() -> Path:
    """Where kdemo keeps derived files (teacher targets, converted models): ``$KDEMO_CACHE``.

    Example:
        >>> cache_dir().is_dir()
        True
    """
    path = Path(os.environ.get("KDEMO_CACHE") or Path.home() / ".cache" / "kdemo").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Build a folder in a hidden temporary sibling; rename it to ``target`` when the block ends.

    On any error (or interrupt) the temporary folder is removed and ``target`` is untouched.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> with atomic_directory(root / "made") as tmp:
        ...     _ = (tmp / "a.txt").write_text("hi")
        >>> (root / "made" / "a.txt").read_text()
        'hi'
    """
    target = Path(target)
    if target.exists():
        raise KdemoError(f"{target} already exists; delete it or choose another name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TEMP_MARK}", dir=target.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError as exc:
            raise KdemoError(f"{target} appeared while it was being written; delete it and retry.") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temp(folder: Path, older_than: float = 3600.0) -> list[str]:
    """Delete hidden temporary folders left in ``folder`` by a killed write; return their names.

    Only folders older than ``older_than`` seconds go, so a write in progress in another process
    is never touched.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / ".run.tmp-x1").mkdir()
        >>> remove_stale_temp(root, older_than=0)
        ['.run.tmp-x1']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for path in folder.iterdir():
        if path.name.startswith(".") and TEMP_MARK in path.name and path.is_dir():
            if now - path.stat().st_mtime >= older_than:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    if removed:
        logger.warning("removed %d unfinished temporary folders in %s: %s", len(removed), folder, ", ".join(removed))
    return sorted(removed)
