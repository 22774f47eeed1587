"""A lake at an object-store URI: pushed there manifest last, read back the same, built on Spark.

The store is moto's S3 server in a child process (the s3 fixture in conftest.py). What is tested
is steward's side: the URIs, the manifest-last push, reading only what the manifest lists, and the
Spark build over it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from features.adapters.canonical import CanonicalFolderSource
from features.lake.store import Lake, LakeError
from features.lake.uri import UriLake, open_lake_at, push_lake
from features.members.build import build_member_features
from features.members.store import read_features
from features.schemas import TABLES
from features.synthetic.simulator import simulate, write_community
from pipelines.churn.score import member_attributes
from pipelines.ingest import ingest_source
from tests.features.conftest import SECRET
from tests.support.cli import steward_main
from tests.support.lakes import simulated_lake
from tests.support.spark import assert_same_build


def uri_in(s3: str, name: str) -> str:
    """The URI of a lake named name in the test bucket."""
    return s3.format(name)


def test_a_pushed_lake_reads_back_as_the_local_lake(tmp_path: Path, s3: str) -> None:
    lake = simulated_lake(tmp_path, members=300, days=60)
    uri = uri_in(s3, "pushed")
    listed = sum(len(f) for i in lake.manifest()["ingests"] for f in i["files"].values())
    report = push_lake(lake, uri)
    assert (report.files, report.skipped) == (listed, 0)
    remote = open_lake_at(uri)
    assert isinstance(remote, UriLake)
    assert remote.snapshot_id() == lake.snapshot_id() == report.snapshot
    for table in TABLES:
        assert remote.read(table).equals(lake.read(table)), table
    assert member_attributes(remote) == member_attributes(lake)
    # Parts are never rewritten in place: pushing again copies nothing.
    again = push_lake(lake, uri)
    assert (again.files, again.skipped) == (0, listed)
    # The secret given in the URI is never what a message shows.
    assert SECRET not in report.uri and SECRET not in remote.root and "***" in report.uri


def test_readers_at_the_uri_see_only_what_its_manifest_lists(tmp_path: Path, s3: str) -> None:
    lake = simulated_lake(tmp_path, members=200, days=40)
    uri = uri_in(s3, "growing")
    push_lake(lake, uri)
    remote = UriLake(uri)
    before, events = remote.snapshot_id(), remote.read("events").num_rows
    # A second source ingested locally is not at the URI until pushed...
    write_community(simulate(members=50, days=40, seed=3), tmp_path / "raw2")
    ingest_source(lake, CanonicalFolderSource(tmp_path / "raw2", name="second"))
    assert remote.snapshot_id() == before
    # ...and a push cut off after its parts but before the manifest changes nothing readers see.
    manifest = lake.manifest()
    new_parts = [rel for rel in manifest["ingests"][-1]["files"]["events"]]
    store, root = pafs.FileSystem.from_uri(uri)
    for rel in new_parts:
        pafs.copy_files(str(lake.root / rel), f"{root}/{rel}", destination_filesystem=store)
    assert remote.snapshot_id() == before and remote.read("events").num_rows == events
    # The whole push: the URI now shows the local lake, having copied only what was missing.
    report = push_lake(lake, uri)
    assert report.snapshot == lake.snapshot_id() == remote.snapshot_id() != before
    assert report.skipped >= len(new_parts) and report.files > 0
    assert remote.read("events").num_rows == lake.read("events").num_rows > events


def test_spark_builds_from_the_object_store_duckdbs_local_table(
    tmp_path: Path, s3: str, spark: Any
) -> None:
    from features.members.spark import build_member_features_spark

    lake = simulated_lake(tmp_path, members=1_000, days=90)
    uri = uri_in(s3, "spark")
    push_lake(lake, uri)
    out = tmp_path / "features"
    build_member_features(lake, out / "duckdb", every_days=14, engine="sql")
    report = build_member_features_spark(UriLake(uri), out / "spark", every_days=14, spark=spark)
    assert report.events == lake.read("events").num_rows and report.rows > 2_000
    meta = {e: json.loads((out / e / "_features.json").read_text()) for e in ("duckdb", "spark")}
    # The same lake snapshot, so the same _features.json: the manifest was copied unchanged.
    assert meta["spark"]["lake_snapshot"] == lake.snapshot_id()
    assert_same_build(read_features(out / "duckdb"), read_features(out / "spark"), meta)


def test_an_unknown_store_or_missing_manifest_says_what_is_wrong(s3: str) -> None:
    with pytest.raises(ValueError, match=r"^cannot read a lake at nosuch://bucket/lake"):
        UriLake("nosuch://bucket/lake").manifest()
    empty = UriLake(uri_in(s3, "never-pushed"))
    assert empty.manifest()["ingests"] == [] and empty.files("events") == []
    damaged = uri_in(s3, "damaged")
    store, root = pafs.FileSystem.from_uri(damaged)
    with store.open_output_stream(f"{root}/_manifest.json") as stream:
        stream.write(b'{"ingests": [')
    with pytest.raises(LakeError, match="is damaged") as error:
        UriLake(damaged).manifest()
    assert SECRET not in str(error.value) and "steward:***@lakes/damaged" in str(error.value)


def test_the_cli_pushes_and_refuses_a_uri_lake_for_the_local_engines(
    tmp_path: Path, s3: str
) -> None:
    home = tmp_path / "home"
    assert steward_main("simulate", "--members", "100", "--days", "30", home=home).returncode == 0
    uri = uri_in(s3, "cli")
    pushed = steward_main("lake", "push", uri, home=home)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed" in pushed.stdout and SECRET not in pushed.stdout
    assert UriLake(uri).snapshot_id() == Lake(home / "lake").snapshot_id()
    local = steward_main("lake", "push", str(tmp_path / "copy"), home=home)
    assert local.returncode == 1 and "is not a URI" in local.stderr
    refused = steward_main("features", "build", "--every", "14d", "--lake", uri, home=home)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "steward: error: --lake is read by --engine spark; the other engines read STEWARD_HOME/lake"
    )
