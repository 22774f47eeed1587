"""Review decisions stored as lake labels: idempotent, atomic, read back by the lake corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.lake.moderation import (
    DecisionError,
    ReviewQueue,
    decision_counts,
    decision_labels,
    new_item,
    store_decision,
)
from features.lake.store import Lake
from features.text.corpora import load_lake_moderation


def test_agree_labels_the_flagged_label_and_disagree_clears_every_label() -> None:
    item = new_item("you utter clown", "en", "insult", 0.6, "v1")
    agree = decision_labels(item, True)
    assert agree["toxicity"] == agree["insult"] == 1.0 and agree["threat"] is None
    assert set(decision_labels(item, False).values()) == {0.0}


def test_decisions_reach_the_lake_corpus_once_and_leave_the_queue(tmp_path: Path) -> None:
    lake, queue = Lake(tmp_path / "lake"), ReviewQueue(tmp_path / "queue")
    items = [new_item(f"post {i}", "en", "toxicity", 0.5, "v1") for i in range(3)]
    queue.add(items)
    store_decision(lake, queue, items[0].id, True, "mod")
    store_decision(lake, queue, items[1].id, False, "mod")
    with pytest.raises(DecisionError, match="no longer in the queue"):
        store_decision(lake, queue, items[0].id, False, "mod")
    assert [i.id for i in queue.items()] == [items[2].id]
    counts = decision_counts(lake)
    assert (counts.agree, counts.disagree, counts.lake_rows) == (1, 1, 2)
    corpus = load_lake_moderation(lake).set_index("text")
    assert corpus.loc["post 0", "toxicity"] == 1.0 and corpus.loc["post 1", "toxicity"] == 0.0


def test_a_failed_write_leaves_the_lake_and_the_queue_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, queue = Lake(tmp_path / "lake"), ReviewQueue(tmp_path / "queue")
    item = new_item("post", "en", "toxicity", 0.5, "v1")
    queue.add([item])
    before = lake.snapshot_id()

    def disk_full(self: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr("features.lake.store.Transaction.close", disk_full)
    with pytest.raises(OSError, match="no space"):
        store_decision(lake, queue, item.id, True, "mod")
    assert lake.snapshot_id() == before and lake.unpublished() == []
    assert [i.id for i in queue.items()] == [item.id]


def test_a_false_block_is_queued_and_contested_into_a_clean_label(tmp_path: Path) -> None:
    import json

    lake, queue = Lake(tmp_path / "lake"), ReviewQueue(tmp_path / "queue")
    blocked = new_item("just ribbing you a bit, man!", "en", "toxicity", 0.97, "v1", action="block")
    queue.add([blocked])
    assert queue.items()[0].action == "block"
    store_decision(lake, queue, blocked.id, False, "mod")  # the moderator disagrees
    corpus = load_lake_moderation(lake).set_index("text")
    assert corpus.loc["just ribbing you a bit, man!", "toxicity"] == 0.0
    # A queue file written before blocked posts were queued reads as review items.
    raw = [{k: v for k, v in blocked.__dict__.items() if k != "action"}]
    queue.path.write_text(json.dumps(raw))
    assert queue.items()[0].action == "review"
