"""Moderators' review decisions as training labels: a durable review queue and lake writes.

A post the model sends to `review`, or blocks (so that a false block can be contested),
waits in the queue (one JSON file, replaced atomically).
A moderator's agree/disagree becomes one `moderation` row published by its own lake
transaction, so `steward train toxicity` with the `lake` source reads it as a label, and a
failed write leaves the lake (and the queue) exactly as before. Decisions are idempotent:
the transaction's fingerprint names the queue item, so a retried click stores nothing twice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from features.lake.store import Lake
from features.schemas import MODERATION_LABELS, TABLES
from features.storage.locks import exclusive_lock
from features.storage.publish import replace_file

SOURCE = "moderation-console"
QUEUE_FILE = "review_queue.json"
MAX_QUEUE = 5_000  # older items give way: the queue is a worklist, not an archive


class DecisionError(ValueError):
    """A decision that cannot be stored (unknown or already decided item)."""


@dataclass(frozen=True)
class ReviewItem:
    """One post waiting for a moderator: what the model said about it."""

    id: str
    text: str
    lang: str
    label: str
    probability: float
    model_version: str
    post_id: str | None = None
    queued_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    action: str = "review"  # what the model did: "review", or "block" (already hidden)


class ReviewQueue:
    """Posts waiting for review, in one JSON file under `folder` (atomic replace, flock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / QUEUE_FILE

    def items(self) -> list[ReviewItem]:
        """Pending items, oldest first."""
        if not self.path.exists():
            return []
        return [ReviewItem(**raw) for raw in json.loads(self.path.read_text())]

    def get(self, item_id: str) -> ReviewItem | None:
        """One pending item by id."""
        return next((i for i in self.items() if i.id == item_id), None)

    def add(self, items: Iterable[ReviewItem]) -> None:
        """Queue items (the oldest drop off past MAX_QUEUE)."""
        new = list(items)
        if new:
            self._update(lambda old: [*old, *new][-MAX_QUEUE:])

    def remove(self, item_id: str) -> None:
        """Take a decided item off the queue."""
        self._update(lambda old: [i for i in old if i.id != item_id])

    def _update(self, change: Any) -> None:
        """Read, change and atomically replace the file, one writer at a time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.folder):
            items = change(self.items())
            text = json.dumps([asdict(i) for i in items], ensure_ascii=False)
            replace_file(self.path, lambda aside: aside.write_text(text, encoding="utf-8"))


def new_item(
    text: str,
    lang: str,
    label: str,
    probability: float,
    model_version: str,
    post_id: str | None = None,
    action: str = "review",
) -> ReviewItem:
    """A queue item with a fresh random id."""
    return ReviewItem(
        secrets.token_urlsafe(12),
        text,
        lang,
        label,
        probability,
        model_version,
        post_id,
        action=action,
    )


def decision_labels(item: ReviewItem, agree: bool) -> dict[str, float | None]:
    """Labels a decision implies: agree marks toxicity and the flagged label; disagree marks
    the post clean on every label (a clean post is none of them)."""
    if not agree:
        return dict.fromkeys(MODERATION_LABELS, 0.0)
    labels: dict[str, float | None] = dict.fromkeys(MODERATION_LABELS, None)
    labels["toxicity"] = 1.0
    labels[item.label] = 1.0
    return labels


def decision_table(item: ReviewItem, agree: bool) -> pa.Table:
    """The decision as one row of the lake's `moderation` table."""
    row: dict[str, Any] = {"post_id": item.post_id, "text": item.text}
    row |= decision_labels(item, agree)
    return pa.Table.from_pylist([row], schema=TABLES["moderation"].schema)


class _AlreadyStored(Exception):
    """Raised inside the transaction to publish nothing for a decision stored before."""


def store_decision(
    lake: Lake, queue: ReviewQueue, item_id: str, agree: bool, moderator: str
) -> ReviewItem:
    """Publish the decision on a queued item to the lake, then take it off the queue."""
    item = queue.get(item_id)
    if item is None:
        raise DecisionError("this post is no longer in the queue (already decided?)")
    fingerprint = f"{SOURCE}:{item.id}"
    try:
        with lake.transaction(SOURCE, fingerprint) as txn:
            # Checked with the lake's writer lock held: two clicks cannot both store.
            if lake.find_ingest(fingerprint) is not None:
                raise _AlreadyStored
            txn.info = {
                "decision": "agree" if agree else "disagree",
                "moderator": moderator,
                "label": item.label,
                "model_version": item.model_version,
                "probability": item.probability,
            }
            txn.write("moderation", decision_table(item, agree))
    except _AlreadyStored:
        pass
    queue.remove(item.id)
    return item


@dataclass(frozen=True)
class DecisionCounts:
    """Decisions stored from the console, and moderation rows in the lake overall."""

    agree: int
    disagree: int
    lake_rows: int

    @property
    def stored(self) -> int:
        """All console decisions."""
        return self.agree + self.disagree


def decision_counts(lake: Lake) -> DecisionCounts:
    """Counts from the lake's manifest (what is published, nothing else)."""
    ingests = lake.manifest()["ingests"]
    console = [i for i in ingests if i["source"] == SOURCE]
    agree = sum(1 for i in console if i.get("decision") == "agree")
    rows = sum(int(i.get("rows", {}).get("moderation", 0)) for i in ingests)
    return DecisionCounts(agree, len(console) - agree, rows)
