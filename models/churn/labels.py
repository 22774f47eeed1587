"""Which churn label a config predicts: `auto` becomes subscription or activity, with why.

A lake with subscriptions defines churn the way the business does (a subscription that ends
without renewal); activity churn (no qualifying activity over the horizon) is the fallback for
communities without subscriptions. The feature build's label counts say which the data has.
"""

from __future__ import annotations

from typing import Any

from models.churn.config import ChurnConfig


def labelled_rows(metadata: dict[str, Any], label: str) -> int:
    """Rows of a feature build with a known (0 or 1) value of label (activity, subscription)."""
    counts = metadata.get("label_counts", {}).get(f"churned_{label}", {})
    return int(counts.get("1", 0)) + int(counts.get("0", 0))


def with_data_label(config: ChurnConfig, label_column: str) -> ChurnConfig:
    """The config with the label its training data was loaded with (auto made concrete)."""
    label = label_column.removeprefix("churned_")
    return config if config.label == label else config.model_copy(update={"label": label})


def choose_label(config: ChurnConfig, metadata: dict[str, Any]) -> tuple[ChurnConfig, str]:
    """The config with a concrete label, and one line saying which and why."""
    if config.label != "auto":
        return config, f"{config.label} churn (label: {config.label} in the config)"
    subscribed = labelled_rows(metadata, "subscription")
    if subscribed:
        chosen = config.model_copy(update={"label": "subscription"})
        why = (
            f"subscription churn (label: auto): the lake has subscriptions ({subscribed:,} "
            "labelled subscriber rows); give --set label=activity for activity churn"
        )
        return chosen, why
    chosen = config.model_copy(update={"label": "activity"})
    why = (
        "activity churn (label: auto): the lake has no subscription labels, so churn is "
        "no qualifying activity over the horizon"
    )
    return chosen, why
