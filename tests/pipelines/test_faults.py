"""kill -9 at the dangerous moments of ingest, feature build, training and scoring, then rerun.

Every kill is a real SIGKILL of a real `steward` process: either at a named failpoint
(features/failpoints.py, `STEWARD_FAILPOINT=...`) or, in the slow tests, after a seeded random
delay. After each kill the home must be consistent (the lake, features, registry and at-risk
table are each the old state or the new one, never half), and after the same command runs
again it must equal a clean run: no row lost, none duplicated, no leftovers counted.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.adapters.generic import GenericSource
from features.lake.store import MANIFEST, Lake
from features.members.store import METADATA, read_features
from models.tracking import configure_tracking
from pipelines.ingest import ingest_source
from tests.conftest import ROOT, isolated_home
from tests.support.cli import STEWARD_SCRIPT, steward_env, steward_script

CONFIG = ROOT / "experiments" / "churn_lgbm.yaml"
MODEL = "steward-churn"
EVENT_MAP = ["member_id=uid", "ts=when", "event_type=what", "value=v", "target_id=to"]
TRAINING_POINTS = (
    "train.run_started",
    "train.model_logged",
    "registry.version_registered",
    "registry.alias_moved",
)


def assert_killed(result: subprocess.CompletedProcess[str]) -> None:
    """The process died of SIGKILL (not an exception, not a clean exit)."""
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-2000:])


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    """The process exited 0."""
    assert result.returncode == 0, result.stderr[-3000:]


def write_events_csv(path: Path, rows: int, seed: int) -> Path:
    """Events of members 0..299 (the simulated ones) with some malformed lines among them."""
    rng = random.Random(seed)
    kinds = ["login", "post", "reply", "like_given", "points_earned"]
    lines = ["uid,when,what,v,to"]
    for i in range(rows):
        day = f"2026-04-{1 + i % 28:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
        kind = rng.choice(kinds)
        value = f"{rng.randrange(1, 50)}" if kind == "points_earned" else ""
        lines.append(f"m{rng.randrange(300):05d},{day},{kind},{value},")
        if i % 97 == 0:  # quarantined: bad timestamp, unknown type, wrong field count
            lines += [f"m1,2026-13-{i % 40},login,,", f"m2,2026-04-01,teleport{i},,", "m3,x"]
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest_args(path: Path) -> list[str]:
    """`steward ingest generic` arguments for a file written by write_events_csv."""
    return ["ingest", "generic", str(path), "--table", "events"] + [
        arg for pair in EVENT_MAP for arg in ("--map", pair)
    ]


# ---------------------------------------------------------------- consistency checks


def assert_lake_consistent(root: Path) -> Lake:
    """Every listed part exists, is whole Parquet with the rows recorded, and counts reconcile."""
    lake = Lake(root)
    for ingest in lake.manifest()["ingests"]:
        for table, files in ingest["files"].items():
            rows = sum(pq.read_metadata(root / rel).num_rows for rel in files)
            assert rows == ingest["rows"][table], (ingest["id"], table)
        quarantined: dict[str, int] = {}
        for key, n in ingest.get("quarantined", {}).items():
            table = key.split(": ", 1)[0]
            quarantined[table] = quarantined.get(table, 0) + n
        for table, read in ingest.get("read", {}).items():
            assert read == ingest["kept"][table] + quarantined.get(table, 0), (ingest["id"], table)
    return lake


def features_state(out: Path) -> tuple[pd.DataFrame, dict[str, object]]:
    """The published feature table (sorted) and its metadata without the creation time."""
    table = read_features(out).to_pandas().sort_values(["as_of", "member_id"], ignore_index=True)
    metadata = json.loads((out / METADATA).read_text())
    metadata.pop("created_at")
    return table, metadata


def assert_champion_scores(home: Path) -> str:
    """The champion alias names a version whose model loads and scores the latest features."""
    from mlflow import MlflowClient

    from models.champions import load_churn_scorer
    from models.churn.dataset import load_scoring_rows

    with isolated_home(home):
        configure_tracking()  # MLflow keeps the last URI set in-process over the environment
        version = str(MlflowClient().get_model_version_by_alias(MODEL, "champion").version)
        frame, _ = load_scoring_rows(home / "features" / "member_features")
        probability = load_churn_scorer(f"models:/{MODEL}/{version}").probability(frame)
    assert len(probability) == len(frame) > 0
    assert np.all((probability >= 0) & (probability <= 1))
    return version


def registry_state(home: Path) -> dict[str, object]:
    """Versions (with their tags), runs by status, and the champion, read back whole."""
    from mlflow import MlflowClient

    with isolated_home(home):
        configure_tracking()
        client = MlflowClient()
        versions = {
            str(v.version): dict(v.tags) for v in client.search_model_versions(f"name = '{MODEL}'")
        }
        experiment = client.get_experiment_by_name("churn")
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        champion = str(client.get_model_version_by_alias(MODEL, "champion").version)
    return {
        "versions": versions,
        "runs": {r.info.run_id: (r.info.status, dict(r.data.tags)) for r in runs},
        "champion": champion,
    }


def at_risk_rows(home: Path) -> pd.DataFrame:
    """The at-risk table, without the time it was scored at."""
    table = pq.read_table(home / "scores" / "at_risk.parquet").to_pandas()
    return table.drop(columns=["scored_at"]).sort_values("member_id", ignore_index=True)


def leftovers(home: Path) -> list[str]:
    """Temporary files and folders that a killed step may leave: there must be none after a rerun."""
    found = [p.name for p in (home / "scores").glob(".*.tmp")]
    features = home / "features"
    current = (features / "member_features").resolve()
    found += [p.name for p in features.glob(".member_features.*") if p.resolve() != current]
    found += [p.name for p in (home / "lake").glob(f".{MANIFEST}.*.tmp")]
    found += [str(p) for p in Lake(home / "lake").unpublished()]
    return found


# ---------------------------------------------------------------- the trained home


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a lake, features, a churn champion and an at-risk table (built once)."""
    from models.churn.config import load_config
    from models.tracking import quiet_mlflow
    from pipelines.churn.score import score_members
    from pipelines.churn.train import train_churn
    from pipelines.steps import build_features_step, simulate_and_ingest

    root = tmp_path_factory.mktemp("faults") / "home"
    with isolated_home(root):
        quiet_mlflow()
        simulate_and_ingest(300, 120, 7)
        build_features_step(None, 14, 30, 30)
        train_churn(load_config(CONFIG))
        score_members()
    return root


@pytest.fixture
def home(trained: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the trained home for one test to damage.

    The copied MLflow store still names the trained home's artifact folder for new runs:
    harmless (run and model ids are unique) and it spares each test a training.
    """
    copy = tmp_path / "home"
    shutil.copytree(trained, copy, symlinks=True)
    yield copy


# ---------------------------------------------------------------- lake


@pytest.mark.parametrize("point", ["lake.parts_written", "lake.manifest_written"])
def test_ingest_killed_before_publish_then_rerun_keeps_each_row_once(
    home: Path, tmp_path: Path, point: str
) -> None:
    lake_root = home / "lake"
    before = (lake_root / MANIFEST).read_bytes()
    events_before = Lake(lake_root).read("events").num_rows
    source = write_events_csv(tmp_path / "extra.csv", rows=3_000, seed=1)

    assert_killed(steward_script(home, *ingest_args(source), failpoint=point))
    assert (lake_root / MANIFEST).read_bytes() == before  # nothing published
    assert Lake(lake_root).unpublished(), "the killed ingest's parts should be on disk, unlisted"
    assert assert_lake_consistent(lake_root).read("events").num_rows == events_before

    assert_ok(steward_script(home, *ingest_args(source)))
    lake = assert_lake_consistent(lake_root)
    assert leftovers(home) == []  # the killed ingest's parts and manifest are gone

    clean = Lake(tmp_path / "clean")
    clean_report = ingest_source(clean, GenericSource(source, "events", _mapping()))
    added = lake.manifest()["ingests"][-1]
    assert added["fingerprint"] == clean_report.fingerprint
    ours = pq.read_table(lake_root / added["files"]["events"][0]).to_pandas()
    pd.testing.assert_frame_equal(_sorted(ours), _sorted(clean.read("events").to_pandas()))
    assert lake.read("events").num_rows == events_before + clean_report.kept["events"]
    assert added["quarantined"] == clean.manifest()["ingests"][0]["quarantined"]

    again = steward_script(home, *ingest_args(source))  # and a third run adds nothing
    assert_ok(again)
    assert "already ingested" in again.stdout
    assert Lake(lake_root).read("events").num_rows == events_before + clean_report.kept["events"]


def _mapping() -> dict[str, str]:
    """The --map pairs as GenericSource's mapping."""
    return dict(pair.split("=", 1) for pair in EVENT_MAP)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order, so that two ingests of one file compare equal."""
    return frame.sort_values(list(frame.columns), ignore_index=True)


# ---------------------------------------------------------------- features


@pytest.mark.parametrize(
    ("point", "published"), [("features.written_aside", "old"), ("features.swapped", "new")]
)
def test_feature_build_killed_around_the_swap_shows_a_whole_build(
    home: Path, tmp_path: Path, point: str, published: str
) -> None:
    from features.members.build import build_member_features
    from features.members.definition import FeatureConfig

    out = home / "features" / "member_features"
    old = features_state(out)
    build = ["features", "build", "--every", "7d"]  # other dates than the 14-day build there

    assert_killed(steward_script(home, *build, failpoint=point))
    table, metadata = features_state(out)  # readable, and one whole build
    if published == "old":
        pd.testing.assert_frame_equal(table, old[0])
        assert metadata == old[1]
    else:
        assert metadata["as_of"] != old[1]["as_of"] and len(table) == metadata["rows"]

    assert_ok(steward_script(home, *build))
    assert leftovers(home) == []  # the killed build's folder (or the replaced one) is gone
    clean_out = tmp_path / "clean" / "member_features"
    with isolated_home(home):
        build_member_features(Lake(home / "lake"), clean_out, every_days=7, config=FeatureConfig())
    clean = features_state(clean_out)
    pd.testing.assert_frame_equal(features_state(out)[0], clean[0])
    assert features_state(out)[1] == clean[1]


# ---------------------------------------------------------------- training and registry


@pytest.mark.parametrize(
    "point",
    [
        "registry.version_registered",
        *(
            pytest.param(p, marks=pytest.mark.slow)
            for p in TRAINING_POINTS
            if p != "registry.version_registered"
        ),
    ],
)
def test_training_killed_then_rerun_leaves_a_registry_that_works(home: Path, point: str) -> None:
    from mlflow.entities import RunStatus

    before = registry_state(home)
    train = ["train", "churn", "--config", str(CONFIG)]

    # The alias moves only for a version that wins: --force makes this one win.
    forced = ["--force"] if point == "registry.alias_moved" else []
    assert_killed(steward_script(home, *train, *forced, failpoint=point))
    after_kill = registry_state(home)
    killed_runs = [r for r in after_kill["runs"] if r not in before["runs"]]  # type: ignore[operator]
    assert len(killed_runs) == 1
    assert after_kill["runs"][killed_runs[0]][0] == "RUNNING"  # type: ignore[index]
    new_versions = set(after_kill["versions"]) - set(before["versions"])  # type: ignore[arg-type]
    registered = point.startswith("registry.")
    assert len(new_versions) == (1 if registered else 0)
    # The same config on the same data cannot beat the champion: the alias stays, unless
    # forced, and then it names the killed training's version, whose model was whole.
    champion = max(new_versions, key=int) if forced else before["champion"]
    assert after_kill["champion"] == champion
    assert assert_champion_scores(home) == champion

    rerun = steward_script(home, *train)
    assert_ok(rerun)
    final = registry_state(home)
    runs = final["runs"]  # type: ignore[assignment]
    status, tags = runs[killed_runs[0]]
    assert status == RunStatus.to_string(RunStatus.KILLED)
    assert "process died" in tags["steward.closed"]
    assert [r for r, (s, _) in runs.items() if s == "RUNNING"] == []
    for version in new_versions:  # the killed training's version: marked as such
        assert final["versions"][version]["steward.incomplete"] == "training was killed"  # type: ignore[index]
    assert final["champion"] == champion  # the rerun ties and does not take the title
    assert len(final["versions"]) == len(before["versions"]) + len(new_versions) + 1  # type: ignore[arg-type]
    assert assert_champion_scores(home) == champion


# ---------------------------------------------------------------- batch scoring


def test_scoring_killed_before_the_swap_keeps_the_old_table(home: Path) -> None:
    path = home / "scores" / "at_risk.parquet"
    old_bytes = path.read_bytes()
    old_rows = at_risk_rows(home)

    assert_killed(steward_script(home, "score", "members", failpoint="score.written_aside"))
    assert path.read_bytes() == old_bytes
    assert len(list(path.parent.glob(".*.tmp"))) == 1  # the killed writer's table, aside

    assert_ok(steward_script(home, "score", "members"))
    assert leftovers(home) == []
    pd.testing.assert_frame_equal(at_risk_rows(home), old_rows)  # same champion, same features


# ---------------------------------------------------------------- on Spark


def require_spark_here() -> None:
    """Skip, saying why, where pyspark or Java is missing."""
    from features.members.spark_session import spark_problem

    problem = spark_problem()
    if problem is not None:
        pytest.skip(problem)


@pytest.mark.slow
def test_a_spark_build_killed_before_the_swap_keeps_the_old_build(
    home: Path, tmp_path: Path
) -> None:
    require_spark_here()
    out = home / "features" / "member_features"
    old = features_state(out)
    build = ["features", "build", "--every", "7d", "--engine", "spark"]

    # The executors have written every partition; the driver dies before the swap.
    assert_killed(steward_script(home, *build, failpoint="features.written_aside"))
    table, metadata = features_state(out)
    pd.testing.assert_frame_equal(table, old[0])
    assert metadata == old[1]

    assert_ok(steward_script(home, *build))
    assert leftovers(home) == []
    clean_out = tmp_path / "clean" / "member_features"
    with isolated_home(home):
        from features.members.build import build_member_features

        build_member_features(Lake(home / "lake"), clean_out, every_days=7)
    (table, metadata), clean = features_state(out), features_state(clean_out)
    pd.testing.assert_frame_equal(table, clean[0])  # the Spark rerun: the arrays engine's table
    assert metadata == clean[1]


@pytest.mark.slow
def test_spark_scoring_killed_while_executors_write_keeps_the_old_table(home: Path) -> None:
    require_spark_here()
    path = home / "scores" / "at_risk.parquet"
    old_bytes, old_rows = path.read_bytes(), at_risk_rows(home)
    score = [STEWARD_SCRIPT, "score", "members", "--engine", "spark"]

    # Killed once the executors' sorted parts are being written beside the table.
    with subprocess.Popen(
        score, env=steward_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        parts = f".{path.name}.*.tmp.parts.tmp"
        deadline = time.monotonic() + 240
        while not list(path.parent.glob(parts)) and process.poll() is None:
            assert time.monotonic() < deadline, "the executors never started writing"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    assert path.read_bytes() == old_bytes
    assert list(path.parent.glob(parts))  # the killed run's parts, left beside the table

    assert_killed(steward_script(home, *score[1:], failpoint="score.written_aside"))
    assert path.read_bytes() == old_bytes  # whole new table aside, the old one still served

    assert_ok(steward_script(home, *score[1:]))
    assert leftovers(home) == []  # both killed runs' files and folders swept
    pd.testing.assert_frame_equal(at_risk_rows(home), old_rows)  # the same scores as local


# ---------------------------------------------------------------- kills at random moments

# Seeded delays up to about each command's measured duration on this 2-core machine (ingest of
# 60k rows 1.5-2.5 s, features 1-2 s, training 8-15 s, scoring 5-12 s), so that kills land
# during imports, reading, writing and the swap alike.
RANDOM_KILLS = {"ingest": 3.0, "features": 2.5, "train": 12.0, "score": 8.0}
KILLS_PER_COMMAND = 4


def _kill_after(home: Path, args: list[str], delay: float) -> int:
    """Start `steward ARGS`, SIGKILL it after delay seconds (if still running); its exit code."""
    with subprocess.Popen(
        [STEWARD_SCRIPT, *args],
        env=steward_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            return process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            return process.wait()


def _assert_home_consistent(home: Path) -> None:
    """Lake, features, registry and at-risk table each whole and usable."""
    assert_lake_consistent(home / "lake")
    table, metadata = features_state(home / "features" / "member_features")
    assert len(table) == metadata["rows"]
    assert_champion_scores(home)
    assert len(at_risk_rows(home)) > 0


@pytest.mark.slow
def test_kills_at_seeded_random_moments_leave_every_step_consistent(
    home: Path, tmp_path: Path
) -> None:
    rng = random.Random(20261204)
    source = write_events_csv(tmp_path / "big.csv", rows=60_000, seed=2)
    commands = {
        "ingest": ingest_args(source),
        "features": ["features", "build", "--every", "7d"],
        "train": ["train", "churn", "--config", str(CONFIG)],
        "score": ["score", "members"],
    }
    events_before = Lake(home / "lake").read("events").num_rows
    killed = 0
    for name, args in commands.items():
        bound = RANDOM_KILLS[name]
        for _ in range(KILLS_PER_COMMAND):
            started = time.perf_counter()
            code = _kill_after(home, args, rng.uniform(0.2, bound))
            if code != -signal.SIGKILL:
                # It finished first (a quiet machine runs it faster than the bound assumes):
                # aim the next kills inside the time it took, so they land mid-command.
                bound = max(0.3, 0.8 * (time.perf_counter() - started))
            killed += code == -signal.SIGKILL
            _assert_home_consistent(home)
        assert_ok(steward_script(home, *args))
        _assert_home_consistent(home)
        assert leftovers(home) == [], name
    clean = Lake(tmp_path / "clean")
    report = ingest_source(clean, GenericSource(source, "events", _mapping()))
    lake = Lake(home / "lake")
    added = [i for i in lake.manifest()["ingests"] if i["fingerprint"] == report.fingerprint]
    assert len(added) == 1  # published once, whatever the kills
    assert lake.read("events").num_rows == events_before + report.kept["events"]
    running = [s for s, _ in registry_state(home)["runs"].values() if s == "RUNNING"]  # type: ignore[attr-defined]
    assert running == []
    print(f"{killed} of {KILLS_PER_COMMAND * len(commands)} random kills landed mid-command")
    # Most delays land while the command runs (measured: 13 of 16 under load; 5 of 16 on a
    # quiet machine before the bound adapted); a delay past the end finds it finished, which
    # must be consistent too.
    assert killed >= 8


# ---------------------------------------------------------------- two trainings at once


def _config_variant(tmp_path: Path, name: str, seed: int, **model: object) -> Path:
    """churn_lgbm.yaml with another seed and model settings (so that trainings score differently)."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    config["name"], config["seed"] = name, seed
    config["model"].update(model)
    config["reasons"]["interventions"] = str(CONFIG.parent / "interventions.yaml")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("store", ["fresh", "existing"])
def test_two_trainings_at_once_keep_the_registry_whole(
    home: Path, tmp_path: Path, store: str
) -> None:
    if store == "fresh":  # both processes create the store, the experiment and the model
        (home / "mlflow.db").unlink()
    else:  # a weak champion that both will beat: each then loads it, widening the race
        weak = _config_variant(tmp_path, "weak", seed=3, n_estimators=2, num_leaves=2)
        assert_ok(steward_script(home, "train", "churn", "--config", str(weak), "--force"))
    # The same work with other seeds: both reach the registry at about the same moment, with
    # different scores, which is when an unserialised compare-then-move goes wrong.
    configs = [_config_variant(tmp_path, f"seed{s}", seed=s, num_threads=1) for s in (1, 2)]
    processes = [
        subprocess.Popen(
            [STEWARD_SCRIPT, "train", "churn", "--config", str(c)],
            env=steward_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in configs
    ]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        assert "database is locked" not in out + err
    state = registry_state(home)
    versions = state["versions"]  # type: ignore[assignment]
    assert len(versions) == (2 if store == "fresh" else 4)
    assert all(s == "FINISHED" for s, _ in state["runs"].values())  # type: ignore[attr-defined]
    # The contenders: the forced weak champion (existing store) and the two trainings.
    first = 1 if store == "fresh" else 2
    scores = {v: float(t["valid_roc_auc"]) for v, t in versions.items() if int(v) >= first}
    best = max(scores.values())
    # The rule: the first version to reach the best score holds the title (a tie does not win).
    expected = min((v for v, s in scores.items() if s == best), key=int)
    assert state["champion"] == expected, scores
    assert assert_champion_scores(home) == expected
