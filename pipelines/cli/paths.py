"""File arguments of the CLI, checked before anything is read or written.

An input must be a regular file (or folder) that exists: a FIFO or a device such as
/dev/zero would otherwise block or stream forever. An output must not land in steward's own
state under STEWARD_HOME (a `--csv` aimed at the lake's manifest would destroy the lake),
and is written aside and renamed in, so it never writes through a symlink or leaves half a file.
"""

from __future__ import annotations

import stat
from pathlib import Path

from features.storage.catalog import steward_home
from features.storage.publish import replace_file


def input_file(path: Path, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """path if it is an existing regular file (with one of suffixes, when given)."""
    found = _existing(path, what)
    if not stat.S_ISREG(found.stat().st_mode):
        raise ValueError(f"{what} {path} is not a regular file")
    if suffixes and not path.name.lower().endswith(suffixes):
        raise ValueError(f"{what} {path}: expected a {' or '.join(suffixes)} file")
    return path


def input_folder(path: Path, what: str) -> Path:
    """path if it is an existing folder."""
    if not _existing(path, what).is_dir():
        raise ValueError(f"{what} {path} is not a folder")
    return path


def _existing(path: Path, what: str) -> Path:
    """The resolved path, or a ValueError that says it does not exist."""
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise ValueError(f"{what} {path} does not exist")
    return resolved


def output_file(path: Path, what: str, suffix: str) -> Path:
    """path if a new `suffix` file may be written there: outside steward's state, in a folder."""
    resolved = Path(path).resolve()  # follows links: a link into STEWARD_HOME is caught too
    if not path.name.lower().endswith(suffix) or not resolved.name.lower().endswith(suffix):
        raise ValueError(f"{what} {path}: give a file name ending in {suffix}")
    if resolved.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file name ending in {suffix}")
    if not resolved.parent.is_dir():
        raise ValueError(f"{what} {path}: folder {resolved.parent} does not exist")
    home = steward_home().resolve()
    if resolved.is_relative_to(home):
        raise ValueError(
            f"{what} {path} is inside STEWARD_HOME ({home}), which holds steward's own "
            "lake, features, models and scores; write it somewhere else"
        )
    return path


def write_text(path: Path, text: str) -> Path:
    """Write text aside in path's folder, then rename it over path (a link is replaced, not
    followed)."""
    return replace_file(path, lambda aside: aside.write_text(text, encoding="utf-8"))
