"""Lakes of simulated communities for tests, and a lake's files as bytes (to check "unchanged").

two_ingest_lake: 1,500 members written in two ingests with subscriptions (the feature engines'
parity); simulated_lake: one community ingested from its files (the Spark parity and URI lakes);
churn_lake: 3,000 members ingested with features built (the churn models, pipeline and serving).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from features.adapters.canonical import CanonicalFolderSource
from features.lake.store import Lake
from features.members.build import build_member_features
from features.schemas import EVENTS, MEMBERS, SUBSCRIPTIONS
from features.synthetic.simulator import simulate, write_community
from pipelines.ingest import ingest_source

# Small enough to keep the churn tests fast, big enough for a few hundred churners per date.
SIM_MEMBERS, SIM_DAYS, SIM_SEED = 3_000, 150, 7


def two_ingest_lake(root: Path) -> Lake:
    """A synthetic community of 1,500 members over 150 days in two ingests (two events files,
    each with its own dictionaries), 300 of them subscribed, one subscribed without any event."""
    community = simulate(members=1500, days=150, seed=5)
    events = pa.Table.from_pandas(community.events, preserve_index=False).cast(EVENTS.schema)
    members = pa.Table.from_pandas(community.members, preserve_index=False)
    members = members.select(MEMBERS.schema.names).cast(MEMBERS.schema)
    newcomer = {"member_id": "only-subscribed", "joined_at": datetime(2026, 3, 1, tzinfo=UTC)}
    members = pa.concat_tables([members, pa.Table.from_pylist([newcomer], MEMBERS.schema)])
    noon = datetime.combine(date(2026, 3, 1), time(12), UTC)
    subscriptions = pa.Table.from_pylist(
        [
            {"member_id": m, "start_at": noon + timedelta(days=i % 40), "end_at": end}
            for i, m in enumerate(members["member_id"].to_pylist()[:300])
            for end in [None if i % 3 else noon + timedelta(days=60 + i % 50)]
        ]
        + [{"member_id": "only-subscribed", "start_at": noon, "end_at": None}],
        schema=SUBSCRIPTIONS.schema,
    )
    lake = Lake(root)
    half = events.num_rows // 2
    with lake.transaction("test", "first half") as txn:
        txn.write("events", events.slice(0, half))
        txn.write("members", members)
        txn.write("subscriptions", subscriptions)
    with lake.transaction("test", "second half") as txn:
        txn.write("events", events.slice(half))
    return lake


def with_custom_events(lake: Lake) -> Lake:
    """lake with one more ingest of custom event types: each share again as x_share_link and
    each event joined as x_rsvp, a day later (so they follow the community's own rhythm; the
    new file's dictionary numbers them in its own order)."""
    events = lake.read("events")
    shifted = []
    for source, custom in (("event_joined", "x_rsvp"), ("share", "x_share_link")):
        picked = events.filter(pc.equal(events["event_type"], source))
        kinds = pa.array([custom] * picked.num_rows, pa.string())
        later = pc.add(picked["ts"], pa.scalar(timedelta(days=1), pa.duration("us")))
        shifted.append(picked.set_column(2, "event_type", kinds).set_column(1, "ts", later))
    with lake.transaction("test", "custom events") as txn:
        txn.write("events", pa.concat_tables(shifted).cast(EVENTS.schema))
    return lake


def with_birth_days(lake: Lake) -> Lake:
    """lake with one more ingest listing its members again with a date of birth (aged 24 to 76
    in 2026), except every seventh, who has none (half of them attributes that are not JSON)."""
    members = lake.read("members")
    births = [
        json.dumps({"date_of_birth": f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}"})
        if i % 7
        else (None if i % 14 else "premium member")
        for i in range(members.num_rows)
    ]
    with lake.transaction("test", "profiles") as txn:
        txn.write("members", members.set_column(2, "attributes", pa.array(births, pa.string())))
    return lake


def simulated_lake(root: Path, members: int, days: int, seed: int = 11) -> Lake:
    """A lake holding one simulated community."""
    write_community(simulate(members=members, days=days, seed=seed), root / "raw")
    lake = Lake(root / "lake")
    ingest_source(lake, CanonicalFolderSource(root / "raw", name="simulator"))
    return lake


def churn_lake(root: Path) -> tuple[Lake, Path]:
    """Simulate, ingest and build features every 14 days under root; returns (lake, features)."""
    raw = root / "raw"
    write_community(simulate(members=SIM_MEMBERS, days=SIM_DAYS, seed=SIM_SEED), raw)
    lake = Lake(root / "lake")
    ingest_source(lake, CanonicalFolderSource(raw, name="simulator"))
    features = root / "features"
    build_member_features(lake, features, every_days=14)
    return lake, features


def lake_state(root: Path) -> dict[str, bytes]:
    """Every file under the lake with its bytes: 'unchanged' means exactly this."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
