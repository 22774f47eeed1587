"""One atomic-publish helper for every writer: write aside, fsync, rename over, fsync the folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from features.storage.failpoints import failpoint


def fsync_path(path: Path) -> None:
    """fsync a file, or a folder after a rename in it: published bytes must be on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, write: Callable[[Path], object], point: str | None = None) -> Path:
    """Write a file aside in path's folder with `write`, then rename it over path.

    Readers see the old file or the new one, never half; the bytes and the rename are fsynced
    (a power cut keeps one of the two); a link at path is replaced, never written through; the
    aside file (`.NAME.*.tmp`, which the next writer may sweep) is gone whatever happens.
    """
    aside = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(aside)
        fsync_path(aside)
        if point:
            failpoint(point)
        os.replace(aside, path)
        fsync_path(path.parent)
    finally:
        aside.unlink(missing_ok=True)
    return path
