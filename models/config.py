"""What every experiment config shares: strict sections and reading a YAML mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

# Names that become folder names (an MLflow experiment's artifacts live under
# STEWARD_HOME/mlartifacts/<experiment>): no separators, no "..", nothing hidden.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
SafeName = Annotated[
    str,
    Field(
        pattern=SAFE_NAME, description="letters, digits, '.', '_' and '-', starting alphanumeric"
    ),
]


class StrictConfig(BaseModel):
    """A config section: unknown keys are errors, so a typo names the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or a one-line ValueError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} not found: the file does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ValueError(f"config {path}: expected a mapping of settings at the top level")
    return raw
