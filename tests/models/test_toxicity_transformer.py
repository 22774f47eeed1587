"""MiniLM fine-tuning on a tiny budget, its serving exports, and routing English to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from features.text.corpora import load_simulated
from models.toxicity.backends import (
    PADDING_SLACK,
    SMALL_BATCH,
    TorchBackend,
    length_batches,
    load_backend,
    read_meta,
)
from models.toxicity.config import TransformerConfig
from models.toxicity.export import (
    BackendReport,
    Speed,
    batch_drift,
    choose_backend,
    pick_backend,
    write_transformer,
)
from models.toxicity.linear import LinearToxicity
from models.toxicity.scoring import ToxicityScorer
from models.toxicity.thresholds import Thresholds
from models.toxicity.tokens import base_model_path, encode
from models.toxicity.training import choose_route
from models.toxicity.transformer import TransformerFit, fit_transformer

LABELS = ["toxicity", "insult"]
TINY = TransformerConfig(max_len=24, unfreeze_top_layers=1, epochs=1.0, batch_size=16, lr_head=5e-3)


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    frame = load_simulated(members=300, days=20, seed=2)
    english = frame[frame["lang"] == "en"]
    toxic = english[english["toxicity"] == 1].head(60)
    return pd.concat(
        [toxic, english[english["toxicity"] == 0].head(100), frame[frame["lang"] == "zh"].head(80)]
    )


@pytest.fixture(scope="module")
def fit(corpus: pd.DataFrame) -> TransformerFit:
    english = corpus[corpus["lang"] == "en"]
    return fit_transformer(
        english["text"].tolist(), english[LABELS], english["lang"].tolist(), TINY, min_positives=5
    )


@pytest.fixture(scope="module")
def onnx_dir(fit: TransformerFit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_transformer(tmp_path_factory.mktemp("onnx"), fit, "onnx_int8")


def test_a_few_steps_already_separate_toxic_from_clean(
    fit: TransformerFit, corpus: pd.DataFrame
) -> None:
    english = corpus[corpus["lang"] == "en"]
    p = TorchBackend(
        base_model_path(),
        {"labels": fit.labels, "label_languages": fit.label_languages, "max_len": 24},
        model=fit.model,
    ).predict_proba(english["text"].tolist())
    toxic = english["toxicity"].to_numpy() == 1
    assert fit.labels == LABELS and fit.history["steps"] > 0
    assert p[toxic, 0].mean() > p[~toxic, 0].mean() + 0.1


def test_a_time_limit_stops_training_and_marks_it_incomplete(corpus: pd.DataFrame) -> None:
    english = corpus[corpus["lang"] == "en"].sample(60, random_state=0)
    spent = TINY.model_copy(update={"time_limit_minutes": 1e-6})
    fit = fit_transformer(
        english["text"].tolist(), english[LABELS], english["lang"].tolist(), spent, min_positives=5
    )
    assert fit.history["steps"] == 0 < fit.history["planned_steps"]
    assert fit.history["complete"] == 0.0


def test_the_same_config_and_data_give_the_same_model(
    fit: TransformerFit, corpus: pd.DataFrame
) -> None:
    english = corpus[corpus["lang"] == "en"]
    torch.set_num_threads(1)  # another thread count outside: training sets its own
    again = fit_transformer(
        english["text"].tolist(), english[LABELS], english["lang"].tolist(), TINY, min_positives=5
    )
    assert again.history["complete"] == fit.history["complete"] == 1.0
    assert again.history["train_loss"] == fit.history["train_loss"]
    ours, theirs = fit.model.state_dict(), again.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_budget_minutes_is_refused_with_what_replaced_it() -> None:
    with pytest.raises(ValueError, match="time_limit_minutes"):
        TransformerConfig.model_validate({"budget_minutes": 5})


def test_onnx_int8_export_scores_like_the_torch_model(
    fit: TransformerFit, onnx_dir: Path, corpus: pd.DataFrame
) -> None:
    texts = corpus[corpus["lang"] == "en"]["text"].tolist()[:40]
    onnx = load_backend(onnx_dir)
    meta = read_meta(onnx_dir)
    torch_fp32 = TorchBackend(onnx_dir, meta, model=fit.model)
    assert onnx.kind == "onnx_int8" and meta["max_len"] == 24
    assert np.abs(onnx.predict_proba(texts) - torch_fp32.predict_proba(texts)).max() < 0.05
    # Dynamic int8 scales activations per batch, so a score moves with its batch; fp32 does not.
    assert batch_drift(torch_fp32, texts) < 1e-5
    assert batch_drift(onnx, texts) < 0.1


def test_static_int8_scores_a_post_the_same_alone_or_in_a_batch(
    fit: TransformerFit, corpus: pd.DataFrame, tmp_path: Path
) -> None:
    english = corpus[corpus["lang"] == "en"]["text"].tolist()
    saved = write_transformer(tmp_path / "s", fit, "onnx_int8_static", calibration=english[:32])
    static = load_backend(saved)
    assert static.kind == "onnx_int8_static"
    assert batch_drift(static, english[:40]) < 1e-5
    torch_fp32 = TorchBackend(saved, read_meta(saved), model=fit.model)
    assert (
        np.abs(static.predict_proba(english[:40]) - torch_fp32.predict_proba(english[:40])).max()
        < 0.1
    )


def test_length_batches_hold_every_row_once_and_pad_little() -> None:
    lengths = np.random.default_rng(3).integers(3, 65, size=500)
    batches = length_batches(lengths, max_size=32)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))
    for batch in batches:
        assert 1 <= len(batch) <= 32
        assert list(lengths[batch]) == sorted(lengths[batch])
        if len(batch) > 1:
            assert lengths[batch].max() * len(batch) <= PADDING_SLACK * lengths[batch].sum()
    # Equal lengths batch fully: the slack splits by length, not by count.
    assert [len(b) for b in length_batches(np.full(70, 20), max_size=32)] == [32, 32, 6]


def test_backend_pads_each_batch_only_to_its_longest_text(
    fit: TransformerFit, onnx_dir: Path, corpus: pd.DataFrame
) -> None:
    texts = corpus["text"].tolist()[:120]
    backend = TorchBackend(onnx_dir, read_meta(onnx_dir), model=fit.model)
    run, padded, real = backend._run, [], []

    def recording_run(ids: np.ndarray, mask: np.ndarray, few: bool = False) -> np.ndarray:
        padded.append(ids.size)
        real.append(int(mask.sum()))
        assert mask[:, -1].any(), "a column of padding only"
        return run(ids, mask, few)

    backend._run = recording_run  # type: ignore[method-assign]
    probs = backend.predict_proba(texts)
    # Fixed batches of 32 sorted by length padded these posts to 1.15x their tokens (2,272 for
    # 1,979 at max_len 24); longer posts pad more.
    assert sum(padded) <= PADDING_SLACK * sum(real)
    alone = np.vstack([backend.predict_proba([t]) for t in texts[:20]])
    assert np.abs(alone - probs[:20]).max() < 1e-5


def test_onnx_scores_a_few_texts_on_one_thread_and_more_on_all(
    onnx_dir: Path, corpus: pd.DataFrame
) -> None:
    backend = load_backend(onnx_dir, threads=2)
    assert backend.session.get_session_options().intra_op_num_threads == 2
    assert backend.small_session.get_session_options().intra_op_num_threads == 1
    used: list[int] = []

    class Recording:
        def __init__(self, session: object, threads: int) -> None:
            self.session, self.threads = session, threads

        def run(self, *args: object) -> object:
            used.append(self.threads)
            return self.session.run(*args)  # type: ignore[attr-defined]

    backend.session, backend.small_session = (
        Recording(backend.session, 2),
        Recording(backend.small_session, 1),
    )
    texts = corpus["text"].tolist()
    few = backend.predict_proba(texts[:SMALL_BATCH])
    assert set(used) == {1}
    used.clear()
    backend.predict_proba(texts[: 4 * SMALL_BATCH])
    assert set(used) == {2}
    # The same model either way: one batch through both sessions scores the same.
    ids, mask = encode(backend.tokenizer, texts[:SMALL_BATCH])
    inputs = {"input_ids": ids, "attention_mask": mask}
    one, two = (s.run(None, inputs)[0] for s in (backend.small_session, backend.session))
    assert np.abs(np.asarray(one) - np.asarray(two)).max() < 1e-5
    assert few.shape == (SMALL_BATCH, len(LABELS))


def test_forced_torch_int8_is_saved_and_reloads(
    fit: TransformerFit, corpus: pd.DataFrame, tmp_path: Path
) -> None:
    english = corpus[corpus["lang"] == "en"]
    backend, reports = choose_backend(
        fit,
        english["text"].tolist(),
        english["toxicity"].to_numpy().astype(int),
        tmp_path / "t",
        forced="torch_int8",
    )
    assert backend.kind == "torch_int8" and [r.backend for r in reports] == [
        "torch_fp32",
        "torch_int8",
    ]
    again = load_backend(tmp_path / "t")
    texts = english["text"].tolist()[:10]
    assert again.predict_proba(texts) == pytest.approx(backend.predict_proba(texts), abs=1e-6)


def _report(name: str, auc: float, speed: float, qualifies: bool) -> BackendReport:
    return BackendReport(name, auc, Speed(speed, 1.0, 2.0), 0.0, qualifies)


def test_the_preferred_backend_wins_only_at_equal_auc_whatever_the_timing() -> None:
    fp32 = _report("torch_fp32", 0.95, 100, True)
    # Timings taken during training vary with the load: they never decide.
    assert (
        pick_backend(
            [fp32, _report("onnx_int8", 0.949, 200, True), _report("torch_int8", 0.95, 250, True)]
        )
        == "onnx_int8"
    )
    static = _report("onnx_int8_static", 0.95, 10, True)
    assert pick_backend([fp32, _report("onnx_int8", 0.95, 900, True), static]) == (
        "onnx_int8_static"
    )
    assert (
        pick_backend(
            [fp32, _report("onnx_int8", 0.90, 200, False), _report("torch_int8", 0.95, 50, True)]
        )
        == "torch_int8"
    )
    assert pick_backend([fp32, _report("onnx_int8", 0.90, 200, False)]) == "torch_fp32"


def test_scorer_sends_english_to_the_transformer_and_chinese_to_the_linear_model(
    fit: TransformerFit, onnx_dir: Path, corpus: pd.DataFrame, tmp_path: Path
) -> None:
    linear = LinearToxicity(labels=("toxicity", "insult"), min_df=1, min_positives=5).fit(
        corpus["text"].tolist(), corpus[LABELS], corpus["lang"].tolist()
    )
    transformer = load_backend(onnx_dir)
    limits = {"toxicity": {"*": Thresholds(0.5, 0.9)}}
    scorer = ToxicityScorer(linear, limits, "minilm-test", transformer, "transformer")
    texts = ["You are a pathetic idiot.", "你就是个白痴。"]
    probs, langs = scorer.predict_proba(texts)
    assert langs == ["en", "zh"]
    assert probs[0, 0] == pytest.approx(transformer.predict_proba(texts[:1])[0, 0])
    assert probs[1, 0] == pytest.approx(linear.predict_proba(texts[1:])[0, 0])
    spans = scorer.explain(texts[0], "en")  # leave-one-word-out through the transformer
    assert all(s.text == texts[0][s.begin : s.end] for s in spans)
    loaded = ToxicityScorer.load(scorer.save(tmp_path / "model"))
    assert loaded.kind == "minilm" and loaded.english_route == "transformer"
    np.testing.assert_allclose(loaded.predict_proba(texts)[0], probs, atol=1e-9, equal_nan=True)


class _Fixed:
    """A model whose toxicity score per text is given: the route rule is what is tested."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.labels = self.labels_ = ["toxicity"]
        self.label_languages = self.label_languages_ = {"toxicity": ["en"]}

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.array([[self.scores[t]] for t in texts])


def test_auto_route_serves_what_loses_least_on_the_worst_source() -> None:
    # Source "forum": the linear model ranks both clean posts above a toxic one, the
    # transformer ranks perfectly. Source "tweets": the transformer swaps a pair the linear
    # model gets right. Transformer alone has the better mean (the old rule's pick) but loses
    # on tweets; the average loses nowhere, so it is served.
    rows = [
        ("forum", "f1", 1, 0.6, 0.52),
        ("forum", "f2", 1, 0.4, 0.51),
        ("forum", "f3", 0, 0.5, 0.5),
        ("forum", "f4", 0, 0.45, 0.49),
        ("tweets", "t1", 1, 0.9, 0.6),
        ("tweets", "t2", 1, 0.8, 0.4),
        ("tweets", "t3", 0, 0.3, 0.5),
        ("tweets", "t4", 0, 0.1, 0.1),
    ]
    valid = pd.DataFrame(rows, columns=["source", "text", "toxicity", "lin", "tr"])
    linear = _Fixed(dict(zip(valid["text"], valid["lin"], strict=True)))
    transformer = _Fixed(dict(zip(valid["text"], valid["tr"], strict=True)))
    scorer = ToxicityScorer(linear, {}, "v", transformer, "transformer")  # type: ignore[arg-type]
    route, scores = choose_route(scorer, valid, "auto")
    assert scores["transformer"] > scores["ensemble"] >= scores["linear"]
    assert scores["transformer.worst_gain"] < 0 <= scores["ensemble.worst_gain"]
    assert route == "ensemble"
    assert choose_route(scorer, valid, "transformer")[0] == "transformer"


def test_ensemble_weighs_the_transformer_by_its_share_and_keeps_it_when_saved(
    fit: TransformerFit, onnx_dir: Path, corpus: pd.DataFrame, tmp_path: Path
) -> None:
    # The linear model knows insult in English; the transformer does not (trained on toxicity
    # only here): an English insult score stays the linear model's alone, whatever the weight.
    linear = LinearToxicity(labels=("toxicity", "insult"), min_df=1, min_positives=5).fit(
        corpus["text"].tolist(), corpus[LABELS], corpus["lang"].tolist()
    )
    english = corpus[corpus["lang"] == "en"]
    tox_only = fit_transformer(
        english["text"].tolist(), english[["toxicity"]], english["lang"].tolist(), TINY, 5
    )
    transformer = load_backend(write_transformer(tmp_path / "tr", tox_only, "torch_fp32"))
    scorer = ToxicityScorer(linear, {}, "v", transformer, "ensemble", transformer_weight=0.75)
    texts = ["You are a pathetic idiot.", "Thanks, see you at the meetup.", "你就是个白痴。"]
    probs, _ = scorer.predict_proba(texts)
    lin, tr = linear.predict_proba(texts), transformer.predict_proba(texts[:2])
    j = scorer.labels.index("toxicity")
    np.testing.assert_allclose(probs[:2, j], 0.25 * lin[:2, 0] + 0.75 * tr[:, 0], atol=1e-6)
    assert probs[2, j] == pytest.approx(lin[2, 0])  # Chinese: the linear model
    k = scorer.labels.index("insult")
    np.testing.assert_allclose(probs[:2, k], lin[:2, 1], atol=1e-9)
    loaded = ToxicityScorer.load(scorer.save(tmp_path / "model"))
    assert loaded.transformer_weight == 0.75
    np.testing.assert_allclose(loaded.predict_proba(texts)[0], probs, atol=1e-6)
