"""The MiniLM model served: batch/API parity and micro-batching (slow: trains a tiny model)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import isolated_home
from tests.serving.conftest import auth, settings_for
from tests.serving.server import Running, start

pytestmark = pytest.mark.slow

ENGLISH = [
    "You are a pathetic idiot.",
    "Thanks for organising the meetup, it was great!",
    "Shut up, nobody wants you here, loser.",
    "Does anyone know when the next release is due?",
    "I will find you and hurt you.",
    "Great answer, this solved my problem.",
]


@pytest.fixture(scope="module")
def minilm(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Running, object, object, object]]:
    """A tiny MiniLM champion in a home of its own, and a server for it."""
    from models.toxicity.config import DataConfig, ToxicityConfig, TransformerConfig
    from pipelines.toxicity.train import train_from_config

    root = tmp_path_factory.mktemp("serving-minilm")
    with isolated_home(root):
        data = DataConfig(
            sources=["simulator", "seed"], eval_only=[], max_rows_per_source=2_000, min_positives=5
        )
        tiny = TransformerConfig(
            max_train_examples=600,
            max_valid_examples=200,
            max_len=32,
            epochs=1.0,
            threads=1,
            backend="onnx_int8_static",
            english_route="transformer",
            calibration_examples=64,
        )
        config = ToxicityConfig(name="serve-minilm", model="minilm", data=data, transformer=tiny)
        result = train_from_config(config, log=lambda _: None)
        home = type("H", (), {"root": root})()
        running = start(settings_for(home, components=["toxicity"]))  # type: ignore[arg-type]
        yield running, result.scorer, config, result
        running.stop()


def test_the_transformer_scores_match_the_batch_pipeline_alone_and_micro_batched(
    minilm: tuple[Running, object, object, object],
) -> None:
    running, scorer, _, _ = minilm
    assert scorer.kind == "minilm"  # type: ignore[attr-defined]
    batch = scorer.score(ENGLISH, spans="none")  # type: ignore[attr-defined]

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=running.url, timeout=120) as ac:
            calls = [
                ac.post(
                    "/v1/posts:score",
                    json={"posts": [{"id": str(i), "text": t}], "spans": "none"},
                    headers=auth("posts"),
                )
                for i, t in enumerate(ENGLISH * 4)
            ]
            return await asyncio.gather(*calls)

    answers = asyncio.run(fire())
    assert all(a.status_code == 200 for a in answers)
    served = [a.json()["posts"][0] for a in answers]
    for got, expected in zip(served, batch * 4, strict=True):
        # Static int8 is batch-invariant: dynamic int8 moved a post's score by 0.06-0.31 with its
        # batch. The server's two ONNX threads (the batch scorer has one) rounded a float32 by one
        # ulp once (3e-8, load average 5), hence 1e-6: four orders of magnitude under that effect.
        assert got["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
        assert got["action"] == expected.action
    with httpx.Client(base_url=running.url, timeout=60) as c:
        metrics = c.get("/metrics").text
        spans = c.post(
            "/v1/posts:score",
            json={"posts": [{"id": "x", "text": ENGLISH[0]}], "spans": "all"},
            headers=auth("posts"),
        ).json()["posts"][0]["spans"]
    count = next(ln for ln in metrics.splitlines() if ln.startswith("steward_batch_posts_count"))
    assert float(count.split()[-1]) < len(answers)  # concurrent posts shared batches
    assert all(ENGLISH[0][s["begin"] : s["end"]] == s["text"] for s in spans)
    # The server runs the transformer on its own thread count, not the one saved (1).
    served_model = running.app.state.steward.holder.current.toxicity.scorer
    assert served_model.transformer.threads == running.app.state.steward.settings.model_threads == 2


def test_the_same_file_trains_the_same_model_and_a_cut_short_run_is_never_champion(
    minilm: tuple[Running, object, object, object],
) -> None:
    import pandas as pd

    from models.registry import champion_version
    from models.tracking import INCOMPLETE_TAG
    from pipelines.toxicity.train import TrainResult, train_from_config

    running, _, config, first = minilm
    assert isinstance(first, TrainResult) and first.promotion is not None
    again = train_from_config(config, log=lambda _: None)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(again.metrics, first.metrics)
    assert again.promotion is not None and not again.promotion.promoted  # equal does not beat
    tc = config.transformer  # type: ignore[attr-defined]
    limited = config.model_copy(  # type: ignore[attr-defined]
        update={"transformer": tc.model_copy(update={"time_limit_minutes": 1e-6})}
    )
    cut = train_from_config(limited, force=True, log=lambda _: None)
    assert cut.promotion is not None and not cut.promotion.promoted
    assert "incomplete" in cut.promotion.reason
    name = cut.promotion.name
    assert champion_version(name) == first.promotion.version
    from mlflow import MlflowClient

    assert INCOMPLETE_TAG in MlflowClient().get_model_version(name, cut.promotion.version).tags
    with httpx.Client(base_url=running.url, timeout=60) as c:
        reloaded = c.post("/v1/admin/reload", headers=auth("admin"))  # keeps the complete champion
    assert reloaded.status_code == 200, reloaded.text
    served = running.app.state.steward.holder.current.toxicity
    assert served.version == first.promotion.version
