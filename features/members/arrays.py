"""The arrays engine: the features and labels of sql/member_features.sql, counted with NumPy.

Why a second engine: the SQL build spends two thirds of its CPU in hash aggregations and joins
over (member, bucket, event type) rows, and none of ten rewrites of it gained more than 10%,
far from the 5M events/s the feature build must reach on two cores (README, "Features").
Here the same cells are dense arrays indexed by integer codes: for each event type, one
bincount puts its events in (bucket, member) cells, where buckets are the day ranges between
window edges; a cumulative sum over buckets turns every window into the difference of two rows,
and nothing is hashed or joined. The SQL stays the definition (and what runs on Spark): the
tests build every case with both engines and require the same table.

The small, row-wise parts (open tickets, subscription coverage and its label, join days from
the members table) run as the SQL file's own steps, on a DuckDB connection of their own, so
each of those definitions exists once.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.members.definition import (
    ACTIVE_DAY_WINDOWS,
    AGE_COLUMN,
    COUNT_WINDOWS,
    FEATURE_COLUMNS,
    TREND_DAYS,
    TRENDS,
    FeatureConfig,
    custom_columns,
    feature_windows,
    output_schema,
    qualifying_types,
)
from features.members.event_codes import (
    CODES,
    OTHER,
    POINT_TYPES,
    CodedEvents,
    day_number,
    dictionary_codes,
    numpy_values,
)
from features.schemas import EVENT_TYPES

if TYPE_CHECKING:
    from concurrent.futures import Future

NO_DAY = np.iinfo(np.int32).min  # "no such event": the day arrays' NULL
CELL_BUDGET = 1 << 24  # (edges x members) cells per array: 128 MB of int64


@dataclass(frozen=True)
class SideTables:
    """What the SQL steps give the arrays engine: per-(member, as_of) rows and join days."""

    tickets: pa.Table  # member_id, as_of, tickets_open_unresolved, oldest_opened
    subscribed: pa.Table  # member_id, as_of, cov_end
    listed: pa.Table  # member_id, joined: MIN(joined_at) of the members table, born, as DATEs


@dataclass(frozen=True)
class Layout:
    """Observation dates, window edges and the buckets between them, as day numbers."""

    dates: np.ndarray  # int32 as_of day numbers, ascending
    edges: np.ndarray  # int32, ascending: every window edge of every date
    windows: dict[str, tuple[int, int]]  # name -> (start, end): days d with start <= T-d < end
    horizon: int
    data_end: int

    def at(self, t: int, offset: int) -> int:
        """The bucket index of the edge `offset` days before t (after, when negative)."""
        return int(np.searchsorted(self.edges, t - offset))


def _offsets(config: FeatureConfig) -> set[int]:
    """Days before a date where its feature windows start or end."""
    return {0, *(day for window in feature_windows(config).values() for day in window)}


def layout(dates: list[date], config: FeatureConfig, data_end: date) -> Layout:
    """The edges of every feature and label window of every date."""
    windows = feature_windows(config)
    offsets = _offsets(config)
    numbers = np.array([day_number(d) for d in dates], dtype=np.int32)
    edges = {int(t) - k for t in numbers for k in offsets} | {
        int(t) + config.horizon_days for t in numbers
    }
    return Layout(
        dates=numbers,
        edges=np.array(sorted(edges), dtype=np.int32),
        windows=windows,
        horizon=config.horizon_days,
        data_end=day_number(data_end),
    )


@dataclass(frozen=True)
class Grid:
    """Events placed on a layout: each event's bucket cell and date slot, one type at a time.

    Nothing here is as long as the events but the type column: a type's rows are found when
    it is counted, so every array made is as long as one type's events (memory traffic, page
    faults on fresh arrays, is what these passes cost most on a small machine).
    """

    events: CodedEvents
    kind: np.ndarray  # int8 event type, OTHER for days after the last edge
    bucket_of: np.ndarray  # day - first -> bucket * members
    slot_of: np.ndarray  # day - first -> slot * members (slot: the first date on or after it)
    first: int  # the first edge: earlier days fall in bucket 0
    after: int  # the day after the last edge
    members: int  # the stride of cells and slots: members with events
    buckets: int
    width: int = 0  # members in the arrays it returns (more, when some have no events)

    def rows(self, kinds: list[int]) -> np.ndarray:
        """The rows of events of these types up to the last edge."""
        if len(kinds) == 1:
            return np.flatnonzero(self.kind == kinds[0])
        wanted = np.zeros(CODES, dtype=bool)
        wanted[kinds] = True
        return np.flatnonzero(wanted[self.kind])

    def cells(self, rows: np.ndarray, *lookups: np.ndarray) -> list[np.ndarray]:
        """lookup[day] + member of these rows, for each lookup (bucket or slot offsets)."""
        index = np.clip(self.events.day[rows], self.first, self.after)
        index -= self.first
        member = self.events.member[rows]
        found = []
        for lookup in lookups:
            cells = lookup[index]
            cells += member
            found.append(cells)
        return found

    def cumulative(self, kinds: list[int], weighted: bool = False) -> np.ndarray:
        """(buckets, members): events of these types (or the sum of their values: points
        types only) on or before each edge."""
        rows = self.rows(kinds)
        events = self.events
        weights = (
            events.point_values[np.searchsorted(events.point_rows, rows)] if weighted else None
        )
        (cells,) = self.cells(rows, self.bucket_of)
        return self._counted(np.bincount(cells, weights, minlength=self.buckets * self.members))

    def by_type(self, kind: int, dates: int) -> tuple[np.ndarray, np.ndarray]:
        """One type's cumulative counts (as cumulative()) and (dates, members) the last day with
        such an event on or before each date (NO_DAY: none)."""
        rows = self.rows([kind])
        cells, slots = self.cells(rows, self.bucket_of, self.slot_of)
        counts = self._counted(np.bincount(cells, minlength=self.buckets * self.members))
        flat = np.full((dates + 1) * self.members, NO_DAY, dtype=np.int32)
        np.maximum.at(flat, slots, self.events.day[rows])
        last = np.maximum.accumulate(flat.reshape(dates + 1, self.members), axis=0)
        return counts, self._wide(last[:dates], NO_DAY)

    def _counted(self, found: np.ndarray) -> np.ndarray:
        """Per-cell totals as (buckets, members), cumulated over buckets."""
        return self._wide(np.cumsum(found.reshape(self.buckets, self.members), axis=0))

    def _wide(self, found: np.ndarray, fill: int = 0) -> np.ndarray:
        """found with a column (fill) for each member beyond those with events."""
        return _pad(found, self.width, 1, fill)


def place(events: CodedEvents, members: int, lay: Layout) -> Grid:
    """The lookups that place events on the layout's buckets and date slots; days after the
    last edge play no part (as in the SQL)."""
    edges = lay.edges
    first, after = int(edges[0]), int(edges[-1]) + 1
    # int32 cells whenever they fit (unless members x edges passes 2^31): half the memory.
    fits = max(len(edges), len(lay.dates) + 1) * members < np.iinfo(np.int32).max
    offset = np.int32 if fits else np.int64
    # Per-day lookups instead of a search per event: day -> bucket, day -> date slot.
    days = np.arange(first, after + 1, dtype=np.int32)
    kind = events.kind
    if len(events) and int(events.day.max()) >= after:
        kind = np.where(events.day < after, kind, np.int8(OTHER))
    return Grid(
        events=events,
        kind=kind,
        bucket_of=(np.searchsorted(edges, days) * members).astype(offset),
        slot_of=(np.searchsorted(lay.dates, days) * members).astype(offset),
        first=first,
        after=after,
        members=members,
        buckets=len(edges),
    )


def first_days(events: CodedEvents, lay: Layout, needed: np.ndarray) -> np.ndarray:
    """Each needed member's first event day up to the last edge (NO_DAY: none, or not needed)."""
    first = np.full(len(needed), np.iinfo(np.int32).max, dtype=np.int32)
    if needed.any():
        mine = needed[events.member] & (events.day <= lay.edges[-1])
        np.minimum.at(first, events.member[mine], events.day[mine])
    first[first == np.iinfo(np.int32).max] = NO_DAY
    return first


def active_days(events: CodedEvents, qualifying: np.ndarray, lay: Layout) -> tuple[np.ndarray, int]:
    """Distinct qualifying days per member with events, cumulated over a day range: (counts,
    first day); counts[m, j] is the number of days before first day + j with qualifying activity."""
    start = int(lay.dates.min()) - max(ACTIVE_DAY_WINDOWS) + 1
    end = int(lay.dates.max())
    mine = qualifying[events.kind] & (events.day >= start) & (events.day <= end)
    width = end - start + 2
    cells = len(events.members) * width
    flat = np.zeros(cells, dtype=np.int32)
    member = events.member[mine].astype(np.int64 if cells > np.iinfo(np.int32).max else np.int32)
    # Column j + 1 marks day start + j; a day seen twice is still one day.
    member *= width
    member += events.day[mine]
    member += 1 - start
    flat[member] = 1
    seen = flat.reshape(len(events.members), width)
    return np.cumsum(seen, axis=1, out=seen), start


def interactions_30d(events: CodedEvents, lay: Layout) -> np.ndarray:
    """(dates, members with events): distinct targets of each member's likes and comments on
    days T-29 .. T."""
    rows = events.interaction_rows
    targets = dictionary_codes(pa.chunked_array([events.interaction_targets]))
    target = numpy_values(targets.indices, np.int32, -1)
    known = target >= 0
    width = max(len(targets.dictionary), 1)
    pairs = events.member[rows[known]].astype(np.int64) * width + target[known]
    days = events.day[rows[known]]
    found = np.zeros((len(lay.dates), len(events.members)), dtype=np.int64)
    for i, t in enumerate(int(t) for t in lay.dates):
        ordered = np.sort(pairs[(days > t - 30) & (days <= t)])
        distinct = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered
        found[i] = np.bincount(distinct // width, minlength=len(events.members))
    return found


def _pad(found: np.ndarray, members: int, axis: int, fill: int = 0) -> np.ndarray:
    """found with entries (fill) along axis for members without events, up to members."""
    extra = members - found.shape[axis]
    if extra <= 0:
        return found
    widths = [(0, 0)] * found.ndim
    widths[axis] = (0, extra)
    return np.pad(found, widths, constant_values=fill)


def build(
    events: CodedEvents, dates: list[date], config: FeatureConfig, data_end: date,
    pending: Future[SideTables],
) -> pa.Table:  # fmt: skip
    """Features and labels at each date (ascending), ordered by as_of and member_id.

    Dates are taken a group at a time, so that a group's (edges x members) arrays stay within
    CELL_BUDGET whatever the number of dates: years of dates over a million members would
    otherwise need gigabytes per array.
    """
    per_date = len(_offsets(config)) + 1  # the most edges one more date can add
    group = max(1, CELL_BUDGET // max(per_date * len(events.members), 1))
    parts = [
        _build_group(events, dates[i : i + group], config, data_end, pending)
        for i in range(0, len(dates), group)
    ]
    return pa.concat_tables(parts) if parts else output_schema(config).empty_table()


def _build_group(
    events: CodedEvents, dates: list[date], config: FeatureConfig, data_end: date,
    pending: Future[SideTables],
) -> pa.Table:  # fmt: skip
    """build() for one group of dates.

    Active days, interactions and then each event type's counts run on two threads (NumPy's
    bincount, sorting and gathers let go of the GIL); the SQL's side tables are waited for
    once the events are placed.
    """
    lay = layout(dates, config, data_end)
    if config.custom_events != events.custom:
        raise ValueError("the config's custom event types are not the events' own")
    types = events.types
    qualifying = np.zeros(CODES, dtype=bool)
    qualifying[[types.index(k) for k in qualifying_types(config)]] = True
    with ThreadPoolExecutor(2) as pool:
        interacted = pool.submit(interactions_30d, events, lay)
        active = pool.submit(active_days, events, qualifying, lay)
        grid = place(events, len(events.members), lay)
        # Counted while DuckDB finishes the SQL steps (nothing here waits for them).
        quals = [k for k in range(len(types)) if qualifying[k]]
        qualifying_cum = grid.cumulative(quals)
        sql = pending.result()
        members = _universe(events.members, sql.subscribed["member_id"])
        grid = replace(grid, width=len(members))
        qualifying_cum = _pad(qualifying_cum, len(members), 1)
        listed = _by_member(sql.listed, members, "joined", NO_DAY)
        born = _by_member(sql.listed, members, "born", NO_DAY) if config.member_age else None
        first = first_days(events, lay, listed == NO_DAY)
        joined = np.where(listed != NO_DAY, listed, first)
        sides = [_side(sql, members, int(t)) for t in lay.dates]
        counted = _Counted(
            grid, lay, qualifying, qualifying_cum, joined, sides, _ranks(members), born
        )
        columns = counted.by_type(pool)
        counts, start = active.result()
        rest = _Rest(
            _pad(counts, len(members), 0), start, _pad(interacted.result(), len(members), 1)
        )
        list(pool.map(functools.partial(counted.finish, columns, rest), range(len(lay.dates))))
    schema = output_schema(config)
    parts = []
    # One table per date, put together without copying (the writer slices them apart again).
    for t, codes, found in zip(lay.dates, counted.rows, columns, strict=True):
        arrays = [
            members.take(pa.array(codes, pa.int64())),
            pa.array(np.full(len(codes), t, dtype=np.int32)).cast(pa.date32()),
            *(_nullable(n, found[n]).cast(schema.field(n).type) for n in schema.names[2:]),
        ]
        parts.append(pa.Table.from_arrays(arrays, schema=schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _ranks(members: pa.Array) -> np.ndarray:
    """Each member code's position in member_id order (the output's order within a date)."""
    rank = np.empty(len(members), dtype=np.int64)
    rank[pc.sort_indices(members).to_numpy()] = np.arange(len(members))
    return rank


class _Counted:
    """The per-date columns of one build, filled type by type, then the rest."""

    def __init__(
        self,
        grid: Grid,
        lay: Layout,
        qualifying: np.ndarray,
        qualifying_cum: np.ndarray,
        joined: np.ndarray,
        sides: list[Side],
        rank: np.ndarray,
        born: np.ndarray | None = None,
    ) -> None:
        self.grid, self.lay, self.qualifying, self.joined, self.sides = (
            grid, lay, qualifying, joined, sides,
        )  # fmt: skip
        self.born = born  # birth day numbers per member code, when the build has ages
        self.dates = [int(t) for t in lay.dates]
        age = [] if born is None else [AGE_COLUMN]
        self.columns = {*FEATURE_COLUMNS, *age, *custom_columns(grid.events.custom)}
        self.qualifying_cum = qualifying_cum  # (buckets, members): qualifying events by each edge
        weighted = {k: grid.cumulative([EVENT_TYPES.index(k)], weighted=True) for k in POINT_TYPES}
        self.earned, self.redeemed = weighted["points_earned"], weighted["points_redeemed"]
        self.lookback = [self.window(self.qualifying_cum, t, "lookback") for t in self.dates]
        self.rows: list[np.ndarray] = []
        for t, side, seen in zip(self.dates, sides, self.lookback, strict=True):
            with_row = ((seen > 0) | side.subscribed) & (joined != NO_DAY) & (joined <= t)
            codes = np.flatnonzero(with_row)
            self.rows.append(codes[np.argsort(rank[codes], kind="stable")])
        self.series: dict[str, np.ndarray] = {"qualifying": self.qualifying_cum}
        self.last_qualifying = np.full((len(self.dates), grid.width), NO_DAY, dtype=np.int32)

    def window(self, cum: np.ndarray, t: int, name: str) -> np.ndarray:
        """A window's total at date t from cumulative values at the edges."""
        start, end = self.lay.windows[name]
        return cum[self.lay.at(t, start)] - cum[self.lay.at(t, end)]

    def by_type(self, pool: ThreadPoolExecutor) -> list[dict[str, np.ndarray]]:
        """Counts per window and days since the last event, one event type per task (so only
        a type or two's cumulative counts are held at once; NumPy lets go of the GIL)."""
        columns: list[dict[str, np.ndarray]] = [{} for _ in self.dates]
        for k, found, last in pool.map(self._one_type, range(len(self.grid.events.types))):
            for i, mine in enumerate(found):
                columns[i].update(mine)
            if self.qualifying[k]:
                np.maximum(self.last_qualifying, last, out=self.last_qualifying)
        return columns

    def _one_type(self, k: int) -> tuple[int, list[dict[str, np.ndarray]], np.ndarray]:
        """One event type's columns at each date, and its last days (for the qualifying one)."""
        kind = self.grid.events.types[k]
        cum, last = self.grid.by_type(k, len(self.dates))
        found: list[dict[str, np.ndarray]] = []
        for i, (t, codes) in enumerate(zip(self.dates, self.rows, strict=True)):
            mine = {f"n_{kind}_{w}d": self.window(cum, t, f"{w}d")[codes] for w in COUNT_WINDOWS}
            mine[f"days_since_last_{kind}"] = _since(t, last[i][codes])
            found.append(mine)
        if kind in ("post", "login", "reply_received", "like_received"):
            self.series[kind] = cum
        return k, found, last

    def finish(self, columns: list[dict[str, np.ndarray]], rest: _Rest, i: int) -> None:
        """The remaining features and both labels of date i, into columns[i]."""
        t, codes, side, found = self.dates[i], self.rows[i], self.sides[i], columns[i]
        column = t - rest.active_start + 1
        for w in ACTIVE_DAY_WINDOWS:
            found[f"active_days_{w}d"] = rest.active[codes, column] - rest.active[codes, column - w]
        found["days_since_last_activity"] = _since(t, self.last_qualifying[i][codes])
        found["tenure_days"] = t - self.joined[codes]
        for name, s in TRENDS.items():
            recent = self.window(self.series[s], t, f"{TREND_DAYS}d")[codes]
            previous = self.window(self.series[s], t, f"previous_{TREND_DAYS}d")[codes]
            found[f"trend_{name}_{TREND_DAYS}d"] = (recent + 1.0) / (previous + 1.0)
        found["distinct_members_interacted_30d"] = rest.interacted[i][codes]
        posts = self.window(self.series["post"], t, "30d")[codes]
        for feature, kind in (("replies", "reply_received"), ("likes", "like_received")):
            received = self.window(self.series[kind], t, "30d")[codes]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(posts > 0, received / posts, np.nan)
            found[f"{feature}_received_per_post_30d"] = ratio
        found["tickets_open_unresolved"] = side.tickets[codes]
        found["oldest_open_ticket_days"] = _since(t, side.oldest_opened[codes])
        now = self.lay.at(t, 0)
        found["points_balance"] = (self.earned[now] - self.redeemed[now])[codes]
        found["points_redeemed_90d"] = self.window(self.redeemed, t, "90d")[codes]
        if self.born is not None:
            born = self.born[codes]
            # The SQL's arithmetic (whole days as a double over 365.25), so both agree exactly.
            days = t - born.astype(np.float64)
            found[AGE_COLUMN] = np.where((born != NO_DAY) & (born <= t), days / 365.25, np.nan)
        if set(found) != set(self.columns):  # the SQL's check, for the same reason
            raise RuntimeError("feature arrays and feature_columns() disagree")
        activity = _activity_label(t, self.lay, self.qualifying_cum, self.lookback[i])
        found["churned_activity"] = activity[codes]
        found["churned_subscription"] = _subscription_label(t, self.lay, side)[codes]


@dataclass(frozen=True)
class _Rest:
    """What the second thread counted for the remaining features."""

    active: np.ndarray  # (members, days + 1): qualifying days before active_start + j
    active_start: int
    interacted: np.ndarray  # (dates, members): distinct targets in the 30 days to each date


def _since(t: int, day: np.ndarray) -> np.ndarray:
    """Whole days from day to t, NO_DAY where there is no day."""
    return np.where(day == NO_DAY, NO_DAY, t - day)


@dataclass(frozen=True)
class Side:
    """SideTables at one date, as arrays over member codes."""

    subscribed: np.ndarray  # bool: coverage in force at the end of the date
    cov_end: np.ndarray  # int32 coverage end, or NO_DAY when open (or not subscribed)
    tickets: np.ndarray  # int64 tickets open and unresolved
    oldest_opened: np.ndarray  # int32, or NO_DAY


def _activity_label(
    t: int, lay: Layout, qualifying: np.ndarray, lookback: np.ndarray
) -> np.ndarray:
    """1 churned, 0 stayed, -1 NULL (not active at t, or the label window passes data_end)."""
    if t + lay.horizon > lay.data_end:
        return np.full(len(lookback), -1, dtype=np.int32)
    after = qualifying[lay.at(t, -lay.horizon)] - qualifying[lay.at(t, 0)]
    return np.where(lookback == 0, -1, np.where(after > 0, 0, 1)).astype(np.int32)


def _subscription_label(t: int, lay: Layout, side: Side) -> np.ndarray:
    """1 coverage ends in (t, t+horizon] by data_end, 0 runs past it, -1 NULL (as the SQL)."""
    label_end = t + lay.horizon
    ends = (side.cov_end != NO_DAY) & (side.cov_end <= label_end)
    label = np.where(
        ends,
        np.where(side.cov_end <= lay.data_end, 1, -1),
        np.where(label_end <= lay.data_end, 0, -1),
    )
    return np.where(side.subscribed, label, -1).astype(np.int32)


def _nullable(name: str, values: np.ndarray) -> pa.Array:
    """An Arrow array with the engine's NULL markers as nulls: -1 labels, NaN, NO_DAY."""
    if name in ("churned_activity", "churned_subscription"):
        return pa.array(values, mask=values == -1)
    if values.dtype.kind == "f":
        return pa.array(values, mask=np.isnan(values))
    return pa.array(values, mask=values == NO_DAY if values.dtype == np.int32 else None)


def _universe(event_members: pa.Array, subscribed: pa.ChunkedArray) -> pa.Array:
    """Member ids: the events' dictionary, then subscribed members without events."""
    ids = subscribed.combine_chunks() if subscribed.num_chunks else pa.array([], pa.string())
    extra = pc.unique(ids.filter(pc.invert(pc.is_in(ids, value_set=event_members))))
    return pa.concat_arrays([event_members.cast(pa.string()), extra.cast(pa.string())])


def _by_member(table: pa.Table, members: pa.Array, column: str, missing: int) -> np.ndarray:
    """A DATE column of (member_id, column) rows as day numbers per member code."""
    out = np.full(len(members), missing, dtype=np.int32)
    if table.num_rows:
        codes = pc.index_in(table["member_id"], value_set=members).to_numpy(zero_copy_only=False)
        days = table[column].cast(pa.int32()).fill_null(missing).to_numpy()
        known = ~np.isnan(codes.astype(np.float64))
        out[codes[known].astype(np.int64)] = days[known]
    return out


def _side(sql: SideTables, members: pa.Array, t: int) -> Side:
    """The SQL's per-(member, as_of) rows at day t, as arrays over member codes."""
    at = pa.scalar(t, pa.int32()).cast(pa.date32())
    subscribed = sql.subscribed.filter(pc.equal(sql.subscribed["as_of"], at))
    tickets = sql.tickets.filter(pc.equal(sql.tickets["as_of"], at))
    is_subscribed = np.zeros(len(members), dtype=bool)
    if subscribed.num_rows:
        is_subscribed[pc.index_in(subscribed["member_id"], value_set=members).to_numpy()] = True
    count = np.zeros(len(members), dtype=np.int64)
    if tickets.num_rows:
        codes = pc.index_in(tickets["member_id"], value_set=members).to_numpy()
        count[codes] = tickets["tickets_open_unresolved"].to_numpy()
    return Side(
        subscribed=is_subscribed,
        cov_end=_by_member(subscribed, members, "cov_end", NO_DAY),
        tickets=count,
        oldest_opened=_by_member(tickets, members, "oldest_opened", NO_DAY),
    )
