"""The "Fighting Churn With Data" simulator layout: account, subscription, event CSVs.

Files: account.csv (id, channel, date_of_birth, country), subscription.csv (account_id, product,
start_date, end_date, mrr, ...), event.csv[.gz] (account_id, event_time, event_type_id, user_id,
event_value) and event_type.csv (event_type_id, event_type_name).

Accounting: each file's rows are counted in one table, one canonical row or Reject per row.
- account.csv -> members. The layout has no creation date, so joined_at is the account's
  first subscription start (a small first pass over subscription.csv keeps one date per
  account). An account with no subscription that has a valid start cannot be dated and is
  rejected; dating it by its first event would cost a whole extra pass over the event file.
  Attributes: channel, country, date_of_birth (those present).
- subscription.csv -> subscriptions (product and mrr kept; quantity, units, bill period and
  discount are not in the canonical model).
- event.csv[.gz] -> events, streamed. event_type_id -> name via event_type.csv -> canonical type
  (post, friend_added, like_given, ...); a name with no canonical type (the book's other
  products, such as crm5's add_contact) becomes a custom type (x_add_contact) with features of
  its own; an id event_type.csv does not name stays as read, so validation
  quarantines it as an unknown event_type. event_value -> value; user_id (the
  user within a multi-user account, always 0 in the simulator) is not a target, so target_id
  stays empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.adapters.base import ROW, RawBatch, Reject, SourceFile, hash_files
from features.adapters.readers import BATCH_ROWS, read_csv
from features.schemas import custom_event_name, is_custom_event

MAPPING_VERSION = "fightchurn/2"  # change it when the mapping changes: sources are re-read
EVENT_FILES = ("event.csv.gz", "event.csv")

# The simulator's event names -> canonical event types.
CANONICAL_EVENTS = {
    "post": "post",
    "newfriend": "friend_added",
    "like": "like_given",
    "adview": "ad_viewed",
    "dislike": "dislike_given",
    "unfriend": "friend_removed",
    "message": "message_sent",
    "reply": "comment",
}
_ACCOUNT_ATTRIBUTES = ("channel", "country", "date_of_birth")
_SUBSCRIPTIONS = {
    "account_id": "member_id",
    "start_date": "start_at",
    "end_date": "end_at",
    "product": "product",
    "mrr": "mrr",
}
_EVENTS = {
    "account_id": "member_id",
    "event_time": "ts",
    "event_type_id": "event_type",
    "event_value": "value",
}
NO_SUBSCRIPTION = "no subscription to date the account"


def _pick(frame: pd.DataFrame, rename: dict[str, str], path: Path) -> pd.DataFrame:
    """The renamed columns plus ROW; a column missing from the file is an error."""
    missing = [c for c in rename if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"{path.name}: columns {missing} are missing; expected {list(rename)}")
    return frame.reindex(columns=[*rename, ROW]).rename(columns=rename)


def load_event_types(path: Path) -> dict[str, str]:
    """event_type_id -> canonical event type (or a custom x_ type where none fits)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    names = {r["event_type_id"].strip(): r["event_type_name"].strip() for r in rows}
    mapped = {
        key: CANONICAL_EVENTS.get(name) or custom_event_name(name) for key, name in names.items()
    }
    _check_custom_names(path, names, mapped)
    return mapped


def _check_custom_names(path: Path, names: dict[str, str], mapped: dict[str, str]) -> None:
    """Two different names must not become one custom type ("Add Contact" and "add_contact"
    are both x_add_contact): their events would be counted as one kind without a word."""
    first: dict[str, str] = {}
    for key, custom in mapped.items():
        if is_custom_event(custom):
            other = first.setdefault(custom, names[key])
            if other != names[key]:
                raise ValueError(
                    f"{path.name}: event types {other!r} and {names[key]!r} would both become "
                    f"{custom}; rename one of them in {path.name}"
                )


def first_starts(path: Path, batch_rows: int) -> dict[str, str]:
    """Each account's earliest valid subscription start, as an ISO timestamp."""
    earliest: dict[str, pd.Timestamp] = {}
    for frame, _ in read_csv(path, batch_rows):
        if not len(frame):
            continue
        starts = pd.to_datetime(frame["start_date"], errors="coerce", utc=True, format="ISO8601")
        ids = frame["account_id"].astype("string").str.strip()
        found = pd.DataFrame({"id": ids, "start": starts}).dropna().groupby("id")["start"].min()
        for account, start in found.items():
            key = str(account)
            if key not in earliest or start < earliest[key]:
                earliest[key] = start
    return {account: start.isoformat() for account, start in earliest.items()}


def member_batches(path: Path, starts: dict[str, str], batch_rows: int) -> Iterator[RawBatch]:
    """account.csv as members rows; an account no subscription dates is rejected."""
    for frame, rejects in read_csv(path, batch_rows):
        if len(frame) and "id" not in frame.columns:
            raise ValueError(f"{path.name}: no id column")
        ids = frame.get("id", pd.Series(dtype="string")).astype("string").str.strip()
        joined = ids.map(starts)
        # An account with no id is left to validation, which names that problem.
        undated = (ids.notna() & (ids != "") & joined.isna()).fillna(False).to_numpy(dtype=bool)
        records = frame.drop(columns=[ROW]).to_dict("records")
        rejects = rejects + [
            Reject(int(row), NO_SUBSCRIPTION, json.dumps(_strings(records[i])))
            for i, row in enumerate(frame[ROW])
            if undated[i]
        ]
        out = pd.DataFrame(
            {
                "member_id": ids,
                "joined_at": joined,
                "attributes": [_attributes(r) for r in records],
                ROW: frame[ROW],
            }
        )
        # Quarantine shows the account row as read, not the mapped members row.
        original = frame.drop(columns=[ROW])[~undated].reset_index(drop=True)
        yield RawBatch(
            "members", path.name, out[~undated].reset_index(drop=True), rejects, original
        )


def _strings(record: Mapping[Hashable, object]) -> dict[str, str | None]:
    """A row as read: strings, and None for an empty field (read as a null of some kind)."""
    return {str(k): v if isinstance(v, str) else None for k, v in record.items()}


def _attributes(record: Mapping[Hashable, object]) -> str:
    """The account's attributes that are present, as a JSON object."""
    values = _strings(record)
    present = {k: values[k] for k in _ACCOUNT_ATTRIBUTES if values.get(k)}
    return json.dumps(present, sort_keys=True)


def subscription_batches(path: Path, batch_rows: int) -> Iterator[RawBatch]:
    """subscription.csv as subscriptions rows."""
    for frame, rejects in read_csv(path, batch_rows):
        out = _pick(frame, _SUBSCRIPTIONS, path)
        yield RawBatch("subscriptions", path.name, out, rejects, frame.drop(columns=[ROW]))


def event_batches(path: Path, types: dict[str, str], batch_rows: int) -> Iterator[RawBatch]:
    """The event file as events rows, streamed, with event types made canonical."""
    for frame, rejects in read_csv(path, batch_rows):
        out = _pick(frame, _EVENTS, path)
        kinds = out["event_type"].astype("string").str.strip()
        out["event_type"] = kinds.map(types).fillna(kinds)
        out["target_id"] = None
        # Quarantine shows the event row as read (its event_type_id, not the name mapped).
        yield RawBatch("events", path.name, out, rejects, frame.drop(columns=[ROW]))


@dataclass
class FightChurnSource:
    """A folder written by the Fighting Churn With Data simulator (or in its layout)."""

    folder: Path
    batch_rows: int = BATCH_ROWS
    name: str = "fightchurn"

    def files(self) -> dict[str, Path]:
        """account, subscription, event and event_type files; any missing one is an error."""
        folder = Path(self.folder)
        events = next((folder / n for n in EVENT_FILES if (folder / n).is_file()), None)
        found = {
            "account": folder / "account.csv",
            "subscription": folder / "subscription.csv",
            "event_type": folder / "event_type.csv",
        }
        missing = [p.name for p in found.values() if not p.is_file()]
        if events is None or missing:
            missing += [] if events else [" or ".join(EVENT_FILES)]
            raise FileNotFoundError(f"{folder}: no {', '.join(missing)} (Fighting Churn layout)")
        return {**found, "event": events}

    def fingerprint(self) -> str:
        """Content hash of the four files plus the mapping version."""
        return hash_files(self.files().values(), MAPPING_VERSION)

    def inventory(self) -> list[SourceFile]:
        """Every file of the folder: the four read, and the others with why they are skipped."""
        roles = {
            "account": "members (dated by their first subscription)",
            "subscription": "subscriptions, and the members' join dates",
            "event_type": "the names of the event types",
            "event": "events",
        }
        read = {path.name: roles[key] for key, path in self.files().items()}
        return [
            SourceFile(p.name, True, read[p.name])
            if p.name in read
            else SourceFile(p.name, False, "not a file of the Fighting Churn layout")
            for p in sorted(Path(self.folder).iterdir())
            if p.is_file() and not p.name.startswith(".")
        ]

    def batches(self) -> Iterator[RawBatch]:
        """Members (dated by subscriptions), then subscriptions, then events, streamed."""
        files = self.files()
        starts = first_starts(files["subscription"], self.batch_rows)
        yield from member_batches(files["account"], starts, self.batch_rows)
        yield from subscription_batches(files["subscription"], self.batch_rows)
        types = load_event_types(files["event_type"])
        yield from event_batches(files["event"], types, self.batch_rows)
