"""Events as integer codes: what the arrays engine (member_arrays.py) counts.

member_id and event_type become int32 and int8 codes, ts a UTC day number; value, target_id
and whole rows are kept only for the event types that need them (points, interactions,
tickets). Lake files are read a row group at a time, so no column but member_id is ever held
whole: on a small machine, fresh memory (page faults) is a large part of a build's time.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.schemas import (
    EVENT_TYPES,
    EVENTS,
    MAX_CUSTOM_EVENT_TYPES,
    is_custom_event,
    too_many_custom_events,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

EPOCH = date(1970, 1, 1)
INTERACTION_TYPES = ("like_given", "comment")  # distinct_members_interacted_30d's events
TICKET_TYPES = ("ticket_opened", "ticket_resolved")
OTHER = 127  # the code of a type neither steward's nor custom (int8's largest)
CODES = OTHER + 1  # lookups by type code are this long
TICKS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


@dataclass(frozen=True)
class CodedEvents:
    """Events as integer arrays (what the arrays engine counts), and the few columns that only
    some event types need, for those events alone."""

    member: np.ndarray  # int32 index into members
    day: np.ndarray  # int32 UTC day number (days since 1970-01-01)
    kind: np.ndarray  # int8 index into types; OTHER for any other type
    members: pa.Array  # member_id strings
    point_rows: np.ndarray  # int64 rows of points events, ascending
    point_values: np.ndarray  # float64 their value, 0 where NULL (SQL's SUM skips NULLs)
    interaction_rows: np.ndarray  # int64 rows of likes given and comments, ascending
    interaction_targets: pa.Array  # their target_id strings
    tickets: pa.Table  # ticket events, as the canonical events table (for the SQL's step)
    custom: tuple[str, ...] = ()  # the custom event types found, sorted

    @property
    def types(self) -> tuple[str, ...]:
        """The event type of each code: steward's types, then the custom ones."""
        return (*EVENT_TYPES, *self.custom)

    def __len__(self) -> int:
        return len(self.member)

    def day_range(self) -> tuple[date | None, date | None]:
        """The first and last event days."""
        if not len(self):
            return None, None
        return to_date(int(self.day.min())), to_date(int(self.day.max()))


STREAMED = ("ts", "event_type", "value", "target_id")  # read a row group at a time
POINT_TYPES = ("points_earned", "points_redeemed")
# Columns only some event types need, kept for those events alone.
KEPT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "points": (POINT_TYPES, ("value",)),
    "interactions": (INTERACTION_TYPES, ("target_id",)),
    "tickets": (TICKET_TYPES, ("ts", "event_type", "value", "target_id")),
}


Piece = tuple[int, "Callable[[], pa.Table]"]  # the row it starts at, and how to load it


def encode_table(table: pa.Table) -> CodedEvents:
    """encode_events over an events table already in memory."""
    batches = table.select(list(STREAMED)).to_batches()
    starts = np.cumsum([0, *(b.num_rows for b in batches)])
    pieces: list[Piece] = [
        (int(at), functools.partial(pa.Table.from_batches, [batch]))
        for at, batch in zip(starts, batches, strict=False)
    ]
    return encode_events(table["member_id"], pieces, table.num_rows)


def encode_files(files: Sequence[Path]) -> CodedEvents:
    """encode_events over Parquet events files: member_id is read whole, the rest a row group
    at a time into the coded arrays, so no other column is ever held whole (every fresh
    megabyte costs page faults, a large part of this build's time when memory is cold)."""
    if not files:
        return encode_table(EVENTS.schema.empty_table())
    # pyarrow imports pandas on its first pa.array() (to recognise pandas objects), a fifth of a
    # second: done on the side while the files are read.
    threading.Thread(target=_import_pandas, daemon=True).start()
    ids = read_parquet(files, ["member_id"], dictionary=["member_id"])
    pieces: list[Piece] = []
    at = 0
    for path in files:
        metadata = pq.read_metadata(path)
        for group in range(metadata.num_row_groups):
            pieces.append((at, functools.partial(_read_group, path, group)))
            at += metadata.row_group(group).num_rows
    return encode_events(ids["member_id"], pieces, ids.num_rows)


def _read_group(path: Path, group: int) -> pa.Table:
    """One row group's streamed columns, on the calling thread with a reader of its own: two
    threads reading one ParquetFile through Arrow's thread pool hung here once (a futex wait in
    Arrow's future that never ended); the row groups are what runs in parallel instead."""
    events = pq.ParquetFile(path, read_dictionary=["event_type", "target_id"])
    return events.read_row_group(group, columns=list(STREAMED), use_threads=False)


def _import_pandas() -> None:
    """Import pandas if it is there (pyarrow will)."""
    with contextlib.suppress(ImportError):
        importlib.import_module("pandas")


def read_parquet(
    paths: Sequence[Path], columns: list[str] | None = None, dictionary: list[str] | None = None
) -> pa.Table:
    """Parquet files as one table. ParquetFile, not pq.read_table: that one loads
    pyarrow.dataset, which loads pandas, a fifth of a second before anything is read."""
    parts = [pq.ParquetFile(p, read_dictionary=dictionary).read(columns=columns) for p in paths]
    return pa.concat_tables(parts, promote_options="default")


def encode_events(member_ids: pa.ChunkedArray, pieces: list[Piece], rows: int) -> CodedEvents:
    """Integer codes for member_id and event_type and UTC day numbers for ts, keeping value for
    points events, target_id for interactions, and ticket events whole.

    pieces: the other event columns, a row range each, loaded and coded on two threads (Arrow
    and NumPy let go of the GIL), each into its own rows of the coded arrays.
    """
    day = np.empty(rows, dtype=np.int32)
    kind = np.empty(rows, dtype=np.int8)
    masks = {name: _kind_mask(kinds) for name, (kinds, _) in KEPT.items()}
    codes = TypeCodes()

    def code(piece: Piece) -> dict[str, tuple[np.ndarray, pa.RecordBatch]]:
        at, load = piece
        batch = load().combine_chunks().to_batches()
        if not batch:
            return {}
        (part,) = batch
        end = at + part.num_rows
        day[at:end] = _days(part.column("ts"))
        kind[at:end] = codes.of(part.column("event_type"))
        found = {}
        for name, (_, columns) in KEPT.items():
            local = np.flatnonzero(masks[name][kind[at:end]])
            found[name] = (local + at, _take_decoded(part.select(list(columns)), local))
        return found

    with ThreadPoolExecutor(2) as pool:
        coded = list(pool.map(code, pieces))
        members = dictionary_codes(member_ids)
    member = numpy_values(members.indices, np.int32, 0)
    if len(member) != rows:
        raise ValueError(f"the events' columns disagree on their length: {len(member)} != {rows}")
    custom = codes.in_order(kind)
    kept = {name: [k[name] for k in coded if k] for name in KEPT}
    point_rows, points = _joined(kept["points"], KEPT["points"][1])
    interaction_rows, interactions = _joined(kept["interactions"], KEPT["interactions"][1])
    ticket_rows, tickets = _joined(kept["tickets"], KEPT["tickets"][1])
    return CodedEvents(
        member=member,
        day=day,
        kind=kind,
        members=members.dictionary,
        point_rows=point_rows,
        point_values=numpy_values(_one(points["value"], pa.float64()), np.float64, 0.0),
        interaction_rows=interaction_rows,
        interaction_targets=_one(interactions["target_id"], pa.string()),
        tickets=pa.table(
            {
                "member_id": members.dictionary.take(pa.array(member[ticket_rows])),
                **{name: tickets[name] for name in STREAMED},
            }
        ),
        custom=custom,
    )


class TypeCodes:
    """Event type names -> int8 codes, shared by the threads that code the pieces: steward's
    types are their index in EVENT_TYPES, custom types are numbered as they are first seen (and
    put in name order once every piece is coded), any other name is OTHER."""

    def __init__(self) -> None:
        self._codes = {name: i for i, name in enumerate(EVENT_TYPES)}
        self._lock = threading.Lock()

    def of(self, column: pa.Array) -> np.ndarray:
        """Each row's code: the column's few dictionary entries are looked up once."""
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        names = column.dictionary.to_pylist()
        with self._lock:
            lookup = np.array([self._code(k) for k in names] or [OTHER], np.int8)
        return lookup[column.indices.to_numpy()]

    def _code(self, name: str | None) -> int:
        """One name's code, numbering a custom type not seen before (under the lock)."""
        if name is None:
            return OTHER
        code = self._codes.get(name)
        if code is None and is_custom_event(name):
            if len(self._codes) - len(EVENT_TYPES) >= MAX_CUSTOM_EVENT_TYPES:
                raise ValueError(too_many_custom_events(f"more than {MAX_CUSTOM_EVENT_TYPES}"))
            code = self._codes[name] = len(self._codes)
        return OTHER if code is None else code

    def in_order(self, kind: np.ndarray) -> tuple[str, ...]:
        """The custom types in name order, with kind's codes renumbered to match (in place)."""
        custom = sorted(n for n in self._codes if n not in EVENT_TYPES)
        remap = np.arange(CODES, dtype=np.int8)
        for i, name in enumerate(custom):
            remap[self._codes[name]] = len(EVENT_TYPES) + i
        if custom and (remap != np.arange(CODES)).any():
            kind[:] = remap[kind]
        return tuple(custom)


def _kind_mask(kinds: tuple[str, ...]) -> np.ndarray:
    """A lookup from type code to whether it is one of these types."""
    mask = np.zeros(CODES, dtype=bool)
    mask[[EVENT_TYPES.index(k) for k in kinds]] = True
    return mask


def _take_decoded(batch: pa.RecordBatch, rows: np.ndarray) -> pa.RecordBatch:
    """These rows of a batch, dictionary columns decoded (to outlive the batch's dictionaries)."""
    taken = batch.take(_indices(rows))
    columns = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in taken]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _indices(rows: np.ndarray) -> pa.Array:
    """Row numbers as an Arrow array, built from the buffer: pa.array() would wait for pyarrow's
    first import of pandas, which runs on the side meanwhile."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)])


def _joined(
    parts: list[tuple[np.ndarray, pa.RecordBatch]], columns: tuple[str, ...]
) -> tuple[np.ndarray, pa.Table]:
    """Rows and batches kept from each batch, end to end (empty, as canonical columns)."""
    if not parts:
        empty = pa.schema([EVENTS.schema.field(c) for c in columns]).empty_table()
        return np.empty(0, np.int64), empty
    rows = np.concatenate([r for r, _ in parts]).astype(np.int64)
    return rows, pa.Table.from_batches([b for _, b in parts])


def _one(column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array:
    """A column as one array of this type."""
    return column.cast(kind).combine_chunks() if column.num_chunks else pa.array([], kind)


def numpy_values(array: pa.Array, dtype: type[np.generic], fill: float) -> np.ndarray:
    """A fixed-width Arrow array as NumPy without a conversion pass, fill where NULL."""
    data = array.buffers()[1]
    if data is None:  # an all-NULL array of the null type
        return np.full(len(array), fill, dtype=dtype)
    values = np.frombuffer(data, dtype=dtype)[array.offset : array.offset + len(array)]
    if array.null_count:
        return np.where(array.is_valid().to_numpy(zero_copy_only=False), values, fill)
    return values


def dictionary_codes(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """One dictionary-encoded array (read_dictionary chunks unified, plain strings encoded)."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    chunks = column.unify_dictionaries().chunks if column.num_chunks else []
    if not chunks:
        return pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
    combined = pa.chunked_array(chunks).combine_chunks()
    assert isinstance(combined, pa.DictionaryArray)
    if combined.indices.type != pa.int32():
        combined = pa.DictionaryArray.from_arrays(
            combined.indices.cast(pa.int32()), combined.dictionary
        )
    return combined


def _days(ts: pa.Array) -> np.ndarray:
    """UTC day numbers of a timestamp column (any unit, with or without a zone)."""
    raw = numpy_values(ts.view(pa.int64()), np.int64, 0)
    return np.floor_divide(raw, TICKS_PER_DAY[ts.type.unit]).astype(np.int32)


def day_number(day: date) -> int:
    """A date as a UTC day number."""
    return (day - EPOCH).days


def to_date(number: int) -> date:
    """A UTC day number as a date."""
    return EPOCH + timedelta(days=number)
