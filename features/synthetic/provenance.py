"""Whether results are about real people: steward's simulator marks every member it invents.

The simulator writes `"synthetic": true` into each member's attributes (pipelines/simulate.py),
which the at-risk table carries for each member it scores: whatever shows members (the at-risk
page, `steward at-risk`, the demo) says so when they are made up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def is_synthetic(attributes: object) -> bool:
    """Whether a member's attributes (a dict or its JSON text) mark it as the simulator's."""
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except json.JSONDecodeError:
            return False
    return isinstance(attributes, dict) and attributes.get("synthetic") is True


def synthetic_note(members: Iterable[object]) -> str | None:
    """A sentence saying the members are synthetic (all or some), or None when none is."""
    flags = [is_synthetic(a) for a in members]
    made_up = sum(flags)
    if not made_up:
        return None
    if made_up == len(flags):
        return (
            "Synthetic data: these members and their activity come from steward's built-in "
            "simulator, not from a real community."
        )
    return (
        f"Partly synthetic data: {made_up:,} of these {len(flags):,} members come from "
        "steward's built-in simulator, not from a real community."
    )
