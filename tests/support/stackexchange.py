"""Stack Exchange dump files written from rows, for the adapter and hostile-file tests."""

from __future__ import annotations

from pathlib import Path


def dump_xml(folder: Path, name: str, rows: list[str]) -> None:
    """Write the dump file name (Users.xml, ...) in folder, one <row .../> per attribute string."""
    root = name.removesuffix(".xml").lower()
    body = "\n".join(f"  <row {r} />" for r in rows)
    folder.joinpath(name).write_text(
        f'\ufeff<?xml version="1.0" encoding="utf-8"?>\n<{root}>\n{body}\n</{root}>\n',
        encoding="utf-8",
    )
