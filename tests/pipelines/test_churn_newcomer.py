"""A newcomer's default path on the fightchurn layout, through the real `steward` commands:
ingest, features build --from --to, train churn (no YAML), score members --from --to, at-risk,
score backtest. Nothing is configured; the defaults must fit the data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.lake.store import Lake
from features.members.eligibility import subscribed_on
from features.scores.at_risk import at_risk_path
from features.scores.history import history_dir
from models.champions import churn_labels_through
from models.churn.scored_backtest import backtest_history
from pipelines.cli.main import app
from pipelines.steps import features_dir
from tests.conftest import isolated_home, require_shared

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output} {result.exception!r}"
    return result.output


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = require_shared("fightchurn_socialnet7_sample")
    root = tmp_path_factory.mktemp("newcomer")
    with isolated_home(root) as patch:
        patch.setenv("COLUMNS", "240")  # rich wraps tables at the terminal's width
        out = {"ingest": run("ingest", "fightchurn", str(folder))}
        out["features"] = run(
            "features", "build", "--from", "2020-02-03", "--to", "2020-06-01", "--every", "7d"
        )
        out["train"] = run("train", "churn", "--set", "model.num_threads=1")
        out["score"] = run("score", "members", "--from", "2020-04-06", "--to", "2020-06-01")
        out["at_risk"] = run("at-risk", "--top", "20")
        out["backtest"] = run("score", "backtest")
        yield out


def test_data_end_and_label_fit_the_data(session: dict[str, str]) -> None:
    features = session["features"]
    # Subscriptions stop on 2020-06-01 while events run to 2020-06-30.
    assert "data end 2020-06-01: the earliest of the tables' last days" in features
    assert "events (2020-06-30) end after 2020-06-01" in features
    train = session["train"]
    assert "subscription churn (label: auto): the lake has subscriptions" in train


def test_training_uses_the_history_and_says_so(session: dict[str, str]) -> None:
    train = " ".join(session["train"].split())
    # Weekly dates from 2020-02-03; validation on 2020-04-27, the last whose 30 days closed by
    # 2020-06-01; training on every date whose window closed by then: 8 weekly dates.
    found = re.search(r"training: (\d+) dates \((\S+), [^)]* (\S+)\), ([\d,]+) rows", train)
    assert found is not None, train
    assert found[1] == "8" and found[2] == "2020-02-03" and found[3] == "2020-03-23"
    assert "validation: 2020-04-27" in train
    # The served model is refitted on every labelled date up to the validation date: 13 weekly
    # dates, the 5 the validation skipped (their windows reach past 04-27) among them.
    assert "served: refitted on 13 dates (2020-02-03 .. 2020-04-27)" in train
    # Behavioural cohorts of the top three features over the served rows. Measured: the most
    # churning cohorts 11-14% (e.g. no friends added in 90 days), the least 0.3-1.0%, all 3.6%.
    cohorts = re.findall(
        r"cohorts by (\S+): ([\d.]+)% \([^)]*\) of members .*? churned, ([\d.]+)% .*?; all "
        r"members ([\d.]+)%",
        train,
    )
    assert len(cohorts) == 3, train
    for _, worst, best, everyone in cohorts:
        assert float(worst) > 2 * float(everyone) > 4 * float(best)


def test_members_who_left_are_never_listed(session: dict[str, str]) -> None:
    lake = Lake.default()
    table = pd.read_parquet(at_risk_path())
    day = table["as_of"].iloc[0]
    assert day == date(2020, 6, 1)
    running = subscribed_on(lake.read("subscriptions"), day)
    assert set(table["member_id"]) <= running
    assert "left out" in session["score"] and "no running subscription" in session["score"]


def test_scored_history_and_backtest(session: dict[str, str]) -> None:
    dates = sorted(p.name for p in history_dir().glob("as_of=*"))
    assert dates[0] == "as_of=2020-04-06" and dates[-1] == "as_of=2020-06-01" and len(dates) == 9
    backtest = " ".join(session["backtest"].split())
    # Scored 2020-04-06 .. 2020-06-01; labels closed (30 days by the 2020-06-01 data end) up
    # to 2020-04-27 only, and v1 learned them (validation 2020-04-27, its window to 05-27): a
    # model trained at the data end scores those dates in hindsight, so none is judged.
    found = backtest_history(history_dir(), features_dir(), churn_labels_through)
    judged = {d.as_of: d for d in found}
    assert not any(d.metrics for d in judged.values())
    hindsight = [day for day, d in judged.items() if d.note.startswith("in hindsight")]
    assert hindsight == [date(2020, 4, 6), date(2020, 4, 13), date(2020, 4, 20), date(2020, 4, 27)]
    assert judged[date(2020, 4, 6)].note.startswith(
        "in hindsight: v1 learned labels up to 2020-05-27"
    )
    assert all(judged[d].note.startswith("labels not closed") for d in judged if d not in hindsight)
    assert "2020-04-06" in backtest and "labels not closed yet" in backtest
    assert "features build --data-end 2020-04-06" in backtest
