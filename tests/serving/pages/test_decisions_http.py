"""Queue decisions and threshold recalibration through the pages, against the real server."""

from __future__ import annotations

import httpx
import pytest

from features.lake.moderation import SOURCE, ReviewQueue, new_item
from features.lake.store import Lake
from tests.serving.pages.conftest import MODEL, Pages, csrf_of


def _queue(pages: Pages, n: int) -> list[str]:
    """Put n posts on the review queue; their ids."""
    items = [new_item(f"queued post {i} of {n}", "en", "toxicity", 0.4, "v1") for i in range(n)]
    ReviewQueue(pages.queue).add(items)
    return [i.id for i in items]


def _decide(client: httpx.Client, item: str, decision: str) -> httpx.Response:
    token = csrf_of(client.get("/ui/moderation").text)
    return client.post(
        "/ui/moderation/decide", data={"csrf": token, "item": item, "decision": decision}
    )


def test_decisions_are_stored_once_and_the_counts_reconcile(
    pages: Pages, signed_in: dict[str, httpx.Client]
) -> None:
    from features.text.corpora import load_lake_moderation

    lake = Lake(pages.lake)
    rows = lake.read("moderation").num_rows
    console = sum(i["source"] == SOURCE for i in lake.manifest()["ingests"])
    ids = _queue(pages, 3)
    queued = len(ReviewQueue(pages.queue).items())
    moderator = signed_in["moderator"]
    for item, decision in zip(ids, ["agree", "disagree", "agree"], strict=True):
        answer = _decide(moderator, item, decision)
        assert answer.status_code == 303 and answer.headers["location"].endswith("#queue")
    again = _decide(moderator, ids[0], "disagree")
    assert again.status_code == 409
    assert lake.read("moderation").num_rows == rows + 3
    assert sum(i["source"] == SOURCE for i in lake.manifest()["ingests"]) == console + 3
    assert len(ReviewQueue(pages.queue).items()) == queued - 3
    page = moderator.get("/ui/moderation")
    assert f"Decisions stored: <strong>{console + 3}</strong>" in page.text
    labels = load_lake_moderation(lake).set_index("text")["toxicity"]
    assert labels["queued post 0 of 3"] == 1.0 and labels["queued post 1 of 3"] == 0.0


def test_a_failed_decision_write_changes_nothing(
    pages: Pages, signed_in: dict[str, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(pages.lake)
    (item,) = _queue(pages, 1)
    before = lake.snapshot_id()

    def disk_full(self: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr("features.lake.store.Transaction.close", disk_full)
    answer = _decide(signed_in["moderator"], item, "agree")
    assert answer.status_code == 500 and "Nothing was written" in answer.text
    assert lake.snapshot_id() == before and lake.unpublished() == []
    assert ReviewQueue(pages.queue).get(item) is not None


def _served(pages: Pages) -> str:
    return str(httpx.get(pages.url + "/readyz").json()["models"]["toxicity"]["version"])


def _champion() -> str:
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(MODEL, "champion").version)


@pytest.mark.slow  # ~19 s: re-scores 22k decided posts four times and logs two models
def test_recalibration_previews_then_applies_as_a_new_version(
    pages: Pages, signed_in: dict[str, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    lead = signed_in["lead"]
    preview = lead.get("/ui/moderation/recalibrate")
    assert preview.status_code == 200 and "Review proposed" in preview.text
    digest = re.search(r'name="digest" value="([^"]+)"', preview.text)
    assert digest, preview.text[:3000]
    token = csrf_of(preview.text)
    before, served = _champion(), _served(pages)
    stale = lead.post("/ui/moderation/recalibrate", data={"csrf": token, "digest": "stale"})
    assert stale.status_code == 409 and _champion() == before

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("registry unavailable")

    with monkeypatch.context() as patch:
        patch.setattr("mlflow.register_model", refuse)
        failed = lead.post("/ui/moderation/recalibrate", data={"csrf": token, "digest": digest[1]})
    assert failed.status_code == 500 and "still the served model" in failed.text, failed.text[
        -1500:
    ]
    assert _champion() == before and _served(pages) == served
    applied = lead.post("/ui/moderation/recalibrate", data={"csrf": token, "digest": digest[1]})
    assert applied.status_code == 200, applied.text
    assert _champion() == _served(pages) == str(int(before) + 1)
    from models.champions import load_toxicity_scorer

    old, new = (
        load_toxicity_scorer(f"models:/{MODEL}/{before}"),
        load_toxicity_scorer(f"models:/{MODEL}@champion"),
    )
    assert new.thresholds != old.thresholds and "+recal" in new.version
