"""Schemas shared by several resources."""

from __future__ import annotations

from pydantic import BaseModel


class ModelRef(BaseModel):
    """A registered model: its name and version in the MLflow registry."""

    name: str
    version: str
