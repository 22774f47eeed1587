"""steward's churn model against the method of "Fighting Churn With Data", on the same test rows.

The book's method, rebuilt from its listings (fightchurn 1.2.0, socialnet7 settings):
- Active periods (listings 4.1, 4.2): subscriptions of an account chained when a new one starts
  within 7 days of the previous end; the period churns at its last end if that is on or before
  the data end, else it is ongoing.
- Observations (listing 4.4): at start + k months - 5 days (lead time), k = 1, 2, ..., while the
  period is active, between obs_start and obs_end; is_churn when the churn date falls in
  [observation, next observation).
- Metrics (listings 3.3, 3.13, 7.1-7.8) on a weekly grid of metric dates m; each observation takes
  the metric date in (obs - 7 days, obs]: counts per 28 days of each event type (days m-28 ..
  m-1), account tenure (days since the start of the subscription chain, 31-day gaps allowed),
  ratios (adview/post, reply/message, like/post, post/message, unfriend/newfriend, dislike
  percent of opinions, unfriend 28-day average over 84 days per newfriend), the newfriend
  percent change over 4 weeks, days since the last newfriend, unfriend per 28 days averaged over
  84 days (and scaled by tenure). A metric the book has no row for is 0, as in its dataset SQL.
- Models: L1 logistic regression (listings 7.5, 6.4, 6.3, 8.2, 9.5) on fat-tail-transformed,
  standardised metrics grouped by correlation (0.65), C chosen by time-series cross-validation;
  XGBoost (listing 9.6) on the raw metrics, its grid searched by time-series cross-validation
  on log-loss. Both train on the observations before the cut, whose labels run up to a month
  past it (the book's workflow), and again "strict": on the observations known at the cut whose
  labels were decided by then (window closed, chain gap passed), steward's information.

steward runs a newcomer's default path with strict settings: its own code ingests the folder
into a temporary lake, builds features every 7 days from the lake as it stood at the end of the
cut day (data end = the cut), trains as `steward train churn` does with no settings (label auto,
here subscription; validation on the latest date whose label window closed by the cut; the served
LightGBM refitted on every labelled date up to it), and scores its features built at each test
observation date with the served model.

All models are judged on the same rows: the book's test observations (obs_start.. obs_end on or
after the cut), the book's labels. Confidence intervals: paired bootstrap over accounts.

Beside them, not a model: the ceiling, the simulator's own churn rule with what no model can see
integrated out (bench/churnsim_ceiling.py). A second table judges every ranking against the
ceiling's probabilities instead of the labels (ROC-AUC and lift in expectation), which takes
the coin flips of who happened to churn out of a seed's comparison. And how often the rule's
coin flips on these rows would put steward (and the ceiling) at least level with the book's
XGBoost on labels: the chance that a comparison such as issue 20's holds on one run. With
--rule-learners, two more references trained on steward's own training rows and labels but given
the rule's own features (its utility terms and ages): LightGBM on the utility and age, and a
logistic regression in the rule's shape; how much of steward's gap to the ceiling better
features, or a model of the rule's form, would close.

Run: `python -m bench.churn_book` (the shared sample) or `--data DIR ...` (simulator runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.churnsim_ceiling import (
    Customers,
    ceiling_scores,
    chance_at_least,
    customers,
    expected_roc_auc,
    rule_learners,
    rule_terms,
)

SAMPLE = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fightchurn_socialnet7_sample"
)
BOOK_EVENTS: tuple[str, ...] = (
    "like", "newfriend", "post", "adview", "dislike", "unfriend", "message", "reply",
)  # fmt: skip
COUNT_DAYS = 28
LONG_DAYS = 84  # listing 7.7: unfriends over 84 days, as a 28-day average
MIN_TENURE = 14  # listing 7.8
TENURE_GAP_DAYS = 31  # listing 3.13
CHANGE_WEEKS = 4  # listing 7.4
RATIOS: dict[str, tuple[str, str]] = {  # listing 7.1 with the socialnet7 settings
    "adview_per_post": ("adview_per_month", "post_per_month"),
    "reply_per_message": ("reply_per_month", "message_per_month"),
    "like_per_post": ("like_per_month", "post_per_month"),
    "post_per_message": ("post_per_month", "message_per_month"),
    "unfriend_per_newfriend": ("unfriend_per_month", "newfriend_per_month"),
    "dislike_pcnt": ("dislike_per_month", "total_opinions"),
    "unfriend_per_newfriend_scaled": ("unfriend_28day_avg_84day_obs", "newfriend_per_month"),
}
BOOK_METRICS: list[str] = [
    *(f"{e}_per_month" for e in BOOK_EVENTS),
    "account_tenure",
    *RATIOS,
    "newfriend_pcnt_chng",
    "days_since_newfriend",
    "unfriend_28day_avg_84day_obs",
    "unfriend_28day_avg_84day_obs_scaled",
]
LOGREG_C = (0.64, 0.32, 0.16, 0.08, 0.04, 0.02, 0.01, 0.005, 0.0025)  # listing 9.5
XGB_GRID: dict[str, list[Any]] = {  # listing 9.6
    "max_depth": [1, 2, 4, 6],
    "learning_rate": [0.1, 0.2, 0.3, 0.4],
    "n_estimators": [20, 40, 80, 120],
    "min_child_weight": [3, 6, 9, 12],
}
XGB_GRIDS: dict[str, dict[str, list[Any]]] = {
    "book": XGB_GRID,
    "lite": {
        "max_depth": [1, 2, 4, 6],
        "learning_rate": [0.1, 0.3],
        "n_estimators": [40, 120],
        "min_child_weight": [3, 12],
    },
    "small": {
        "max_depth": [2, 4],
        "learning_rate": [0.1, 0.3],
        "n_estimators": [40, 120],
        "min_child_weight": [6],
    },
}
GROUP_CORR = 0.65  # the socialnet7 listings' group_corr_thresh
SKEW = 4.0


@dataclass(frozen=True)
class Scheme:
    """The book's observation scheme (socialnet7 listings' dates) and the train/test cut."""

    obs_start: date = date(2020, 2, 9)
    obs_end: date = date(2020, 5, 10)
    cut: date = date(2020, 4, 10)
    metric_start: date = date(2020, 2, 2)
    lead_days: int = 5
    gap_days: int = 7
    data_end: date | None = None  # the periods' end of observation; None: the last event day


@dataclass
class BookData:
    """One simulator folder read for the book: daily counts per account and event type."""

    accounts: np.ndarray  # account ids (strings), the rows of counts
    base: date  # day index 0 of counts
    counts: dict[str, np.ndarray]  # event name -> accounts x days
    subscriptions: pd.DataFrame  # account_id (str), start, end (Timestamps)
    last_event_day: date


def read_book_folder(folder: Path, base: date) -> BookData:
    """Events as daily counts per account (from base on) and the subscriptions of a folder."""
    folder = Path(folder)
    names = pd.read_csv(folder / "event_type.csv")
    type_name = dict(zip(names["event_type_id"], names["event_type_name"], strict=True))
    path = next(p for p in (folder / "event.csv.gz", folder / "event.csv") if p.is_file())
    events = pd.read_csv(path, usecols=["account_id", "event_time", "event_type_id"])
    days = pd.to_datetime(events["event_time"].str.slice(0, 10)).to_numpy("datetime64[D]")
    subs = pd.read_csv(
        folder / "subscription.csv", usecols=["account_id", "start_date", "end_date"]
    )
    subs = pd.DataFrame(
        {
            "account_id": subs["account_id"].astype(str),
            "start": pd.to_datetime(subs["start_date"]),
            "end": pd.to_datetime(subs["end_date"]),
        }
    )
    ids = np.array(sorted(set(events["account_id"].astype(str)) | set(subs["account_id"])))
    index = pd.Series(np.arange(len(ids)), index=ids)
    row = index[events["account_id"].astype(str)].to_numpy()
    day = (days - np.datetime64(base, "D")).astype(np.int64)
    last = date.fromisoformat(str(days.max()))
    width = int(day.max()) + 2
    keep = day >= 0
    counts = {}
    for type_id, name in type_name.items():
        chosen = keep & (events["event_type_id"].to_numpy() == type_id)
        flat = np.bincount(row[chosen] * width + day[chosen], minlength=len(ids) * width)
        counts[str(name)] = flat.reshape(len(ids), width)
    return BookData(ids, base, counts, subs, last)


def births(folder: Path) -> pd.Series:
    """account.csv's dates of birth by account id; NaT where missing or where two accounts
    share an id; none without an account.csv (the ceiling then takes the mean age)."""
    path = Path(folder) / "account.csv"
    if not path.is_file():
        return pd.Series(dtype="datetime64[ns]", index=pd.Index([], dtype=str))
    accounts = pd.read_csv(path, dtype={"id": str})
    accounts = accounts.drop_duplicates("id", keep=False).set_index("id")
    return pd.to_datetime(accounts["date_of_birth"], errors="coerce")


def book_ages(born: pd.Series, obs: pd.DataFrame) -> np.ndarray:
    """Each observation's account age in years at its date (chapter 10's demographic), from
    account.csv's date_of_birth; NaN where missing or where two accounts share an id."""
    at = born.reindex(obs["account_id"].astype(str)).to_numpy()
    days = (pd.to_datetime(obs["observation_date"]).to_numpy() - at) / np.timedelta64(1, "D")
    return np.asarray(days / 365.25, dtype=np.float64)


def known_customers(born: pd.Series, data: BookData) -> Customers:
    """What the simulator's rule reads per account: cumulative counts, start and age."""
    return customers(data.counts, data.accounts, data.base, data.subscriptions, born)


def ceiling(known: Customers, rows: pd.DataFrame, lead_days: int) -> np.ndarray:
    """The simulator's churn rule's probabilities for rows (account_id, observation_date)."""
    observed = pd.to_datetime(rows["observation_date"]).to_numpy("datetime64[D]")
    return ceiling_scores(known, rows["account_id"].astype(str).to_numpy(), observed, lead_days)


def ceiling_calibration(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """How well the rule's probabilities, fitted to nothing, match who churned: its mean
    against the churn rate, Brier and ECE, and the top decile's mean against its churn rate."""
    from models.churn.metrics import calibration_metrics

    # The top decile as lift10 picks it: its rate is the lift times the overall rate.
    return {
        "mean": float(p.mean()),
        "rate": float(y.mean()),
        "top_decile_mean": lift10(p, p) * float(p.mean()),
        "top_decile_rate": lift10(y, p) * float(y.mean()),
        **calibration_metrics(y, p),
    }


def check_socialnet7(folder: Path, data: BookData, scheme: Scheme) -> None:
    """Stop with what is wrong unless the folder is a socialnet7 run covering the scheme's
    dates: the metrics and dates here are that model's (another model, such as crm5, has
    listings of its own that this bench does not rebuild)."""
    missing = [name for name in BOOK_EVENTS if name not in data.counts]
    if missing:
        have = ", ".join(sorted(data.counts)[:6]) + (", ..." if len(data.counts) > 6 else "")
        raise SystemExit(
            f"{folder}: not a socialnet7 run (no {', '.join(missing)} events; it has {have}): "
            "bench.churn_book rebuilds the book's socialnet7 listings only"
        )
    if data.last_event_day < scheme.obs_end:
        raise SystemExit(
            f"{folder}: its events end on {data.last_event_day}, before the book's last "
            f"observation date {scheme.obs_end}: make the run with the simulator's socialnet7 "
            "dates (its default end_date)"
        )


def _chains(subs: pd.DataFrame, gap_days: int) -> pd.DataFrame:
    """Subscriptions chained per account when one starts within gap_days of the latest end."""
    out = []
    gap = pd.Timedelta(days=gap_days)
    for account, part in subs.sort_values(["account_id", "start"]).groupby("account_id"):
        start = end = None
        for s, e in zip(part["start"], part["end"], strict=True):
            e = e if pd.notna(e) else pd.Timestamp.max
            if start is None or s > end + gap:
                if start is not None:
                    out.append((account, start, end))
                start, end = s, e
            else:
                end = max(end, e)
        out.append((account, start, end))
    return pd.DataFrame(out, columns=["account_id", "start", "end"])


def observations(subs: pd.DataFrame, scheme: Scheme, data_end: date) -> pd.DataFrame:
    """The book's observations (listings 4.1, 4.2, 4.4): account_id, observation_date, is_churn,
    and decided: the day its label is known (the next observation's date plus the chain gap)."""
    periods = _chains(subs, scheme.gap_days)
    end = pd.Timestamp(data_end)
    first, last = pd.Timestamp(scheme.obs_start), pd.Timestamp(scheme.obs_end)
    lead = pd.Timedelta(days=scheme.lead_days)
    gap = pd.Timedelta(days=scheme.gap_days)
    rows = []
    for account, start, stop in periods.itertuples(index=False):
        churn = stop if stop <= end else None
        if churn is not None and churn < first:
            continue  # a period that ended before the observation window has no observations
        k = 1
        while True:
            obs = start + pd.DateOffset(months=k) - lead
            if obs > last or (churn is not None and obs >= churn):
                break
            following = start + pd.DateOffset(months=k + 1) - lead
            if obs >= first:
                is_churn = churn is not None and obs <= churn < following
                rows.append((account, obs.date(), bool(is_churn), (following + gap).date()))
            k += 1
    frame = pd.DataFrame(rows, columns=["account_id", "observation_date", "is_churn", "decided"])
    return frame.sort_values(["observation_date", "account_id"], ignore_index=True)


def strict_observations(subs: pd.DataFrame, scheme: Scheme) -> pd.DataFrame:
    """The book's observations as known at the end of the cut day, keeping only those whose
    label was decided by then: the book's method with no label past the cut, as steward runs.

    A label is decided once its window [observation, next observation) has closed and the
    chain gap after it has passed: a period that ended in the window and was not renewed
    within the gap is churn, whatever starts later.
    """
    known = subs[subs["start"] <= pd.Timestamp(scheme.cut)]
    obs = observations(known, scheme, scheme.cut)
    return obs[obs["decided"] <= scheme.cut].reset_index(drop=True)


def _window(cum: np.ndarray, rows: np.ndarray, stop: np.ndarray, days: int) -> np.ndarray:
    """Counts on days stop-days .. stop-1 from cumulative counts (cum[:, d] = days < d)."""
    return (cum[rows, stop] - cum[rows, np.maximum(stop - days, 0)]).astype(np.float64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else 0 (listing 7.1: no denominator row means no metric)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def book_metrics(data: BookData, obs: pd.DataFrame, scheme: Scheme) -> pd.DataFrame:
    """The book's dataset2 metrics for each observation, at its weekly metric date."""
    step = (
        pd.to_datetime(obs["observation_date"]) - pd.Timestamp(scheme.metric_start)
    ).dt.days.to_numpy()
    if (step < 0).any():
        raise ValueError("observations before the first metric date: move metric_start earlier")
    metric_day = (step - step % 7) + (scheme.metric_start - data.base).days
    index = pd.Series(np.arange(len(data.accounts)), index=data.accounts)
    rows = index[obs["account_id"]].to_numpy()
    out: dict[str, np.ndarray] = {}
    cums = {}
    width = max(int(metric_day.max()) + 1, *(c.shape[1] for c in data.counts.values()))
    daily = {  # days after the last event count 0
        name: np.pad(c, ((0, 0), (0, width - c.shape[1]))) for name, c in data.counts.items()
    }
    for name in BOOK_EVENTS:
        cum = np.zeros((len(data.accounts), width + 1), dtype=np.int64)
        np.cumsum(daily[name], axis=1, out=cum[:, 1:])
        cums[name] = cum
        out[f"{name}_per_month"] = _window(cum, rows, metric_day, COUNT_DAYS)
    out["account_tenure"] = _tenure(data, obs["account_id"].to_numpy(), metric_day)
    out["total_opinions"] = out["like_per_month"] + out["dislike_per_month"]
    unfriends = _window(cums["unfriend"], rows, metric_day, LONG_DAYS)
    out["unfriend_28day_avg_84day_obs"] = COUNT_DAYS / LONG_DAYS * unfriends
    tenure = out["account_tenure"]
    scaled = COUNT_DAYS / np.maximum(np.minimum(LONG_DAYS, tenure), 1) * unfriends
    out["unfriend_28day_avg_84day_obs_scaled"] = np.where(tenure >= MIN_TENURE, scaled, 0.0)
    for name, (num, den) in RATIOS.items():
        out[name] = _ratio(out[num], out[den])
    before = _window(cums["newfriend"], rows, metric_day - 7 * CHANGE_WEEKS, COUNT_DAYS)
    out["newfriend_pcnt_chng"] = np.where(
        before > 0, _ratio(out["newfriend_per_month"], before) - 1.0, 0.0
    )
    # Listing 7.6 counts events on the metric day itself (event_time::date <= metric date).
    seen = daily["newfriend"] > 0
    last = np.where(seen, np.arange(seen.shape[1]), -1)
    last = np.maximum.accumulate(last, axis=1)[rows, metric_day]
    out["days_since_newfriend"] = np.where(last >= 0, metric_day - last, 0).astype(np.float64)
    frame = obs[["account_id", "observation_date", "is_churn"]].copy()
    for name in BOOK_METRICS:
        frame[name] = out[name]
    return frame


def _tenure(data: BookData, accounts: np.ndarray, metric_day: np.ndarray) -> np.ndarray:
    """Days from the start of the subscription chain active at the metric date (else 0)."""
    chains = _chains(data.subscriptions, TENURE_GAP_DAYS)
    by_account = {a: part for a, part in chains.groupby("account_id")}
    subs = {a: part for a, part in data.subscriptions.groupby("account_id")}
    out = np.zeros(len(accounts), dtype=np.float64)
    base = pd.Timestamp(data.base)
    for i, (account, day) in enumerate(zip(accounts, metric_day, strict=True)):
        when = base + pd.Timedelta(days=int(day))
        own = subs.get(account)
        if own is None:
            continue
        active = (own["start"] <= when) & ((own["end"] > when) | own["end"].isna())
        if not active.any():
            continue
        part = by_account[account]
        chain = part[(part["start"] <= when) & (part["end"] >= when)]
        out[i] = (when - chain["start"].min()).days
    return out


# --- the book's models ---------------------------------------------------------------------


@dataclass
class BookLogistic:
    """Listings 7.5, 6.4, 6.3, 8.2: fat-tail scores, correlated metrics grouped, L1 regression."""

    C: float = 0.04
    skewed: list[str] = field(default_factory=list)
    fattail: list[str] = field(default_factory=list)
    mean: pd.Series | None = None
    std: pd.Series | None = None
    load: np.ndarray | None = None
    model: Any = None

    def _scores(self, x: pd.DataFrame) -> pd.DataFrame:
        x = x.astype(np.float64).copy()
        for c in self.skewed:
            x[c] = np.log(1.0 + x[c])
        for c in self.fattail:
            x[c] = np.log(x[c] + np.sqrt(np.power(x[c], 2) + 1.0))
        assert self.mean is not None and self.std is not None
        return ((x - self.mean) / self.std.replace(0.0, 1.0)).fillna(0.0)

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> BookLogistic:
        """Transform, group and fit on training rows only."""
        from sklearn.linear_model import LogisticRegression

        skew, low = x.skew(), x.min()
        self.skewed = [c for c in x.columns if skew[c] > SKEW and low[c] >= 0]
        self.fattail = [c for c in x.columns if skew[c] > SKEW and low[c] < 0]
        self.mean, self.std = None, None
        transformed = x.astype(np.float64).copy()
        for c in self.skewed:
            transformed[c] = np.log(1.0 + transformed[c])
        for c in self.fattail:
            transformed[c] = np.arcsinh(transformed[c])
        self.mean, self.std = transformed.mean(), transformed.std()
        scores = self._scores(x)
        self.load = metric_groups(scores, GROUP_CORR)
        grouped = scores.to_numpy() @ self.load
        with warnings.catch_warnings():  # sklearn 1.8 renames penalty="l1"; the fit is the same
            warnings.simplefilter("ignore", (FutureWarning, UserWarning))
            self.model = LogisticRegression(penalty="l1", solver="liblinear", C=self.C)
            self.model.fit(grouped, y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Churn probability per row."""
        assert self.load is not None
        return np.asarray(self.model.predict_proba(self._scores(x).to_numpy() @ self.load)[:, 1])


def metric_groups(scores: pd.DataFrame, threshold: float) -> np.ndarray:
    """Listing 6.4's loading matrix: single-linkage clusters of correlation > threshold."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    corr = scores.corr().fillna(0.0).to_numpy()
    np.fill_diagonal(corr, 1.0)
    dissimilarity = np.clip(1.0 - corr, 0.0, None)
    dissimilarity = (dissimilarity + dissimilarity.T) / 2
    labels = fcluster(
        linkage(squareform(dissimilarity, checks=False), "single"), 1 - threshold, "distance"
    )
    groups = sorted(set(labels))
    load = np.zeros((scores.shape[1], len(groups)))
    for j, g in enumerate(groups):
        members = labels == g
        n = int(members.sum())
        load[members, j] = 1.0 if n == 1 else 1.0 / (np.sqrt(threshold) * n)
    return load


def fit_book_logistic(x: pd.DataFrame, y: np.ndarray, folds: int = 2) -> BookLogistic:
    """Listing 9.5: C chosen by time-series cross-validation (rows in date order) on ROC-AUC."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import TimeSeriesSplit

    best, best_auc = LOGREG_C[0], -1.0
    for c in LOGREG_C:
        aucs = []
        for train, test in TimeSeriesSplit(n_splits=folds).split(x):
            if len(set(y[train])) < 2 or len(set(y[test])) < 2:
                continue
            model = BookLogistic(C=c).fit(x.iloc[train], y[train])
            aucs.append(roc_auc_score(y[test], model.predict(x.iloc[test])))
        if aucs and float(np.mean(aucs)) > best_auc:
            best, best_auc = c, float(np.mean(aucs))
    return BookLogistic(C=best).fit(x, y)


def fit_book_models(frame: pd.DataFrame, grid: dict[str, list[Any]]) -> tuple[BookLogistic, Any]:
    """The book's L1 logistic regression and XGBoost fitted on its metrics."""
    x, y = frame[BOOK_METRICS], frame["is_churn"].to_numpy(dtype=np.int64)
    return fit_book_logistic(x, y), fit_book_xgb(x, y, grid)


def fit_book_xgb(x: pd.DataFrame, y: np.ndarray, grid: dict[str, list[Any]], folds: int = 2) -> Any:
    """Listing 9.6: XGBoost on the raw metrics, grid-searched by time-series CV on log-loss."""
    import xgboost as xgb
    from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

    # One thread: on a shared machine, two threads per fit ran 8x slower (measured).
    model = xgb.XGBClassifier(
        objective="binary:logistic", eval_metric="logloss", n_jobs=1, random_state=0
    )
    search = GridSearchCV(
        model, grid, scoring="neg_log_loss", cv=TimeSeriesSplit(n_splits=folds), refit=True
    )
    search.fit(x.to_numpy(dtype=np.float64), y)
    return search.best_estimator_


# --- steward, through its own code -----------------------------------------------------------


@dataclass
class StewardRun:
    """steward's scores on the test rows and what it trained on."""

    scores: pd.DataFrame  # member_id, as_of, score
    train_dates: list[date]
    train_rows: int
    train_churners: int
    seconds: float
    valid_date: date  # the date the held-out model was validated on (itself trained on earlier)
    validated_dates: list[date]  # the held-out model's training dates
    metrics: dict[str, float]  # the held-out model's validation metrics
    view: str = "all"  # the feature view train churn chose (feature_view: auto), and why
    view_reason: str = ""
    refit_rows: pd.DataFrame | None = None  # member_id, as_of, label of the served refit


# Candidate book-style features from steward's own columns (ratios and changes), tried here
# before any goes into steward's feature definition.
EXTRA_RATIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "x_unfriend_per_friend_30d": ("n_friend_removed_30d", ("n_friend_added_30d",)),
    "x_ads_per_post_30d": ("n_ad_viewed_30d", ("n_post_30d",)),
    "x_dislike_share_30d": ("n_dislike_given_30d", ("n_dislike_given_30d", "n_like_given_30d")),
    "x_comment_per_message_30d": ("n_comment_30d", ("n_message_sent_30d",)),
    "x_post_per_message_30d": ("n_post_30d", ("n_message_sent_30d",)),
    "x_like_per_post_30d": ("n_like_given_30d", ("n_post_30d",)),
}
EXTRA_CHANGES = ("friend_added", "friend_removed", "message_sent", "like_given", "ad_viewed")


def extra_features(rows: pd.DataFrame) -> pd.DataFrame:
    """The candidate features: 30-day ratios, and the last 14 days against the 16 before."""
    out = rows.copy()
    for name, (num, dens) in EXTRA_RATIOS.items():
        den = sum(rows[d].astype(np.float64) for d in dens)
        out[name] = np.where(den > 0, rows[num].astype(np.float64) / den.where(den > 0, 1), np.nan)
    for t in EXTRA_CHANGES:
        recent = rows[f"n_{t}_14d"].astype(np.float64)
        before = rows[f"n_{t}_30d"].astype(np.float64) - recent
        out[f"x_change_{t}"] = (recent / 14 + 1 / 30) / (before / 16 + 1 / 30)
    return out


def steward_scores(
    folder: Path, test_dates: Sequence[date], cut: date, work: Path, extra: bool = False
) -> StewardRun:
    """A newcomer's default path, strictly: ingest, features from the lake as of the cut, train
    churn with no settings, score the test dates with the served model.

    extra: also fit with the candidate features (score column "score_extra").
    """
    from features.adapters.fightchurn import FightChurnSource
    from features.lake.store import Lake
    from features.members.build import build_member_features
    from features.members.definition import FEATURE_COLUMNS, FeatureConfig
    from features.members.store import read_features
    from models.churn.config import ChurnConfig
    from models.churn.dataset import feature_matrix
    from models.churn.labels import with_data_label
    from models.churn.train import fit_churn_model
    from pipelines.churn.train import load_training_data
    from pipelines.ingest import ingest_source
    from tests.support.leakage import cut_lake

    started = time.perf_counter()
    lake = Lake(work / "home" / "lake")
    ingest_source(lake, FightChurnSource(Path(folder)))
    # The lake as it stood at the end of the cut day: nothing later can reach training.
    known = cut_lake(lake, cut, work / "cut_lake")
    train_out = work / "features_train"
    build_member_features(known, train_out, every_days=7, config=FeatureConfig(data_end=cut))
    # `steward train churn` with no YAML: label auto (subscription here), validation on the
    # latest complete date, the served model refitted on every labelled date up to it.
    config = ChurnConfig(features=train_out)
    data = load_training_data(config)
    config = with_data_label(config, data.label)
    assert data.refit is not None
    test_out = work / "features_test"
    build_member_features(lake, test_out, as_of=sorted(set(test_dates)))
    rows = read_features(test_out).to_pandas()
    scores = pd.DataFrame({"member_id": rows["member_id"], "as_of": rows["as_of"]})
    fitted = fit_churn_model(config, data)
    columns = fitted.scorer.feature_columns  # the view train churn chose (feature_view)
    scores["score"] = fitted.scorer.estimator.raw_score(feature_matrix(rows, columns))
    # Probabilities of the served refit and of the validated model it was refitted from, to see
    # what the refit changes (ranking and calibration) on rows neither saw.
    scores["probability"] = fitted.scorer.probability(rows)
    assert fitted.held_out is not None
    scores["probability_validated"] = fitted.held_out.probability(rows)
    if extra:
        columns = [*FEATURE_COLUMNS, *EXTRA_RATIOS, *(f"x_change_{t}" for t in EXTRA_CHANGES)]
        wider = replace(
            data,
            train=extra_features(data.train),
            valid=extra_features(data.valid),
            refit=extra_features(data.refit),
            feature_columns=columns,
        )
        candidate = fit_churn_model(config, wider).scorer.estimator
        scores["score_extra"] = candidate.raw_score(feature_matrix(extra_features(rows), columns))
    return StewardRun(
        scores,
        data.refit_dates,
        len(data.refit),
        int(data.refit[data.label].sum()),
        time.perf_counter() - started,
        data.valid_date,
        data.train_dates,
        fitted.metrics,
        fitted.view.name if fitted.view else "all",
        fitted.view.reason if fitted.view else "",
        data.refit[["member_id", "as_of", data.label]].set_axis(
            ["member_id", "as_of", "label"], axis=1
        ),
    )


# --- paired bootstrap ------------------------------------------------------------------------


def roc_auc_fast(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by mid-ranks (ties count a half), as sklearn's roc_auc_score."""
    from scipy.stats import rankdata

    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def paired_bootstrap(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    groups: np.ndarray,
    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]],
    reference: str,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    pairs: Sequence[tuple[str, str]] = (),
) -> dict[str, dict[str, Any]]:
    """Each model's metric with a CI, and its difference to reference with a CI.

    Paired: every resample draws the same groups (accounts) for all models, so the difference's
    interval reflects only how the models disagree on the same rows. pairs: more (model, other)
    differences from the same resamples, as out[model][f"{metric}_vs_{other}"].
    """
    codes, uniques = pd.factorize(groups)
    rows_of = [np.flatnonzero(codes == g) for g in range(len(uniques))]
    rng = np.random.default_rng(seed)
    draws: dict[tuple[str, str], list[float]] = {}
    for _ in range(n_boot):
        picked = rng.integers(0, len(uniques), len(uniques))
        rows = np.concatenate([rows_of[g] for g in picked])
        for m, f in metrics.items():
            values = {name: f(y[rows], s[rows]) for name, s in scores.items()}
            for name, v in values.items():
                draws.setdefault((name, m), []).append(v)
                draws.setdefault((name, f"{m}_diff"), []).append(v - values[reference])
            for name, other in pairs:
                draws.setdefault((name, f"{m}_vs_{other}"), []).append(values[name] - values[other])
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    out: dict[str, dict[str, Any]] = {}
    for name, s in scores.items():
        out[name] = {}
        for m, f in metrics.items():
            point = f(y, s)
            d = np.asarray(draws[(name, m)])
            diff = np.asarray(draws[(name, f"{m}_diff")])
            out[name][m] = (point, *np.nanquantile(d, [lo, hi]))
            out[name][f"{m}_diff"] = (
                point - f(y, scores[reference]),
                *np.nanquantile(diff, [lo, hi]),
            )
    for name, other in pairs:
        for m, f in metrics.items():
            diff = np.asarray(draws[(name, f"{m}_vs_{other}")])
            out[name][f"{m}_vs_{other}"] = (
                f(y, scores[name]) - f(y, scores[other]),
                *np.nanquantile(diff, [lo, hi]),
            )
    return out


def lift10(y: np.ndarray, score: np.ndarray) -> float:
    """Top-decile lift as steward measures it (models/churn/metrics.lift_at)."""
    from models.churn.metrics import lift_at

    return lift_at(y, score, 0.1)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": roc_auc_fast,
    "lift10": lift10,
}


# Against probabilities, not labels: lift_at's churn rates are then expected rates.
EXPECTED_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": expected_roc_auc,
    "lift10": lift10,
}


# --- one dataset -----------------------------------------------------------------------------


def refit_effect(joined: pd.DataFrame) -> dict[str, dict[str, float]]:
    """ROC-AUC, Brier and ECE on the test rows of the served refit and the validated model."""
    from models.churn.metrics import calibration_metrics

    y = joined["is_churn"].to_numpy(dtype=np.int64)
    out = {}
    for name, column in (("served", "probability"), ("validated", "probability_validated")):
        p = joined[column].to_numpy(dtype=np.float64)
        out[name] = {"roc_auc": roc_auc_fast(y, p), **calibration_metrics(y, p)}
    return out


def run_dataset(
    folder: Path,
    scheme: Scheme,
    grid: dict[str, list[Any]],
    n_boot: int,
    work: Path,
    extra: bool = False,
    book_age: bool = False,
    rule_fits: bool = False,
) -> dict[str, Any]:
    """The book's dataset, models and steward on one folder; metrics on the same test rows.

    book_age: also fit the book's XGBoost with the account's age added (its chapter 10), on its
    own training rows (labels past the cut), as steward has members' ages.
    rule_fits: also the rule-feature learners (churnsim_ceiling.rule_learners) on steward's
    training rows.
    """
    from pipelines.churn.train import champion_blocker  # `train churn`'s rule

    started = time.perf_counter()
    base = scheme.metric_start - timedelta(days=LONG_DAYS + 7 * CHANGE_WEEKS + 7)
    data = read_book_folder(folder, base)
    check_socialnet7(folder, data, scheme)
    born = births(folder)  # account.csv, read once: the book's ages and the ceiling
    data_end = scheme.data_end or data.last_event_day
    obs = observations(data.subscriptions, scheme, data_end)
    dataset = book_metrics(data, obs, scheme)
    is_test = dataset["observation_date"] >= scheme.cut
    train, test = dataset[~is_test].reset_index(drop=True), dataset[is_test].reset_index(drop=True)
    # The same method with steward's information: observations whose labels were decided by
    # the cut, so the comparison with steward is also made on equal terms.
    strict = book_metrics(data, strict_observations(data.subscriptions, scheme), scheme)
    book_seconds = time.perf_counter() - started
    _say(
        f"{folder}: {len(train):,} book training rows ({len(strict):,} strict), {len(test):,} "
        "test rows; fitting its models"
    )
    book = {"": fit_book_models(train, grid), "_strict": fit_book_models(strict, grid)}
    aged = [*BOOK_METRICS, "age"]
    if book_age:
        train = train.assign(age=book_ages(born, train))
        xgb_age = fit_book_xgb(train[aged], train["is_churn"].to_numpy(np.int64), grid)
    fit_seconds = time.perf_counter() - started - book_seconds
    _say(f"{folder}: the book's models fitted in {fit_seconds:.0f} s; steward next")
    test_dates = sorted(set(test["observation_date"]))
    run = steward_scores(folder, test_dates, scheme.cut, work, extra)
    keyed = test.assign(member_id=test["account_id"].astype(str), as_of=test["observation_date"])
    joined = keyed.merge(run.scores, on=["member_id", "as_of"], how="left")
    missing = int(joined["score"].isna().sum())
    joined = joined[joined["score"].notna()].reset_index(drop=True)
    y = joined["is_churn"].to_numpy(dtype=np.int64)
    x_test = joined[BOOK_METRICS]
    scores = {"steward": joined["score"].to_numpy(dtype=np.float64)}
    for suffix, (logistic, xgb_model) in book.items():
        scores[f"book_xgb{suffix}"] = xgb_model.predict_proba(x_test.to_numpy(np.float64))[:, 1]
        scores[f"book_logreg{suffix}"] = logistic.predict(x_test)
    if extra:
        scores["steward_extra"] = joined["score_extra"].to_numpy(dtype=np.float64)
    if book_age:
        x_aged = joined.assign(age=book_ages(born, joined))[aged].to_numpy(np.float64)
        scores["book_xgb_age"] = xgb_age.predict_proba(x_aged)[:, 1]
    # Not a model: the simulator's own rule, what no model trained on these rows can beat
    # but by noise (bench/churnsim_ceiling.py).
    known = known_customers(born, data)  # read by the ceiling and the rule learners
    scores["ceiling"] = ceiling(known, joined, scheme.lead_days)
    if rule_fits:
        assert run.refit_rows is not None
        scores.update(_rule_scores(known, run.refit_rows, joined))
    # "At least the book's on labels" is one run's coin flips: how often would another run's,
    # for these rows, find steward (or the ceiling) level or ahead?
    chance = {
        name: chance_at_least(scores["ceiling"], scores[name], scores["book_xgb"])
        for name in ("steward", "rule_lgbm", "rule_logreg", "ceiling")
        if name in scores
    }
    aged_pair = [("steward", "book_xgb_age")] if book_age else []
    result = paired_bootstrap(
        y,
        scores,
        joined["account_id"].to_numpy(),
        METRICS,
        "book_xgb",
        n_boot,
        pairs=[("steward", "book_xgb_strict"), ("steward", "ceiling"), *aged_pair],
    )
    # The same rankings judged against the rule's probabilities instead of its coin flips:
    # what a model is worth in expectation on these customers, with far less noise.
    expected = paired_bootstrap(
        scores["ceiling"],
        scores,
        joined["account_id"].to_numpy(),
        EXPECTED_METRICS,
        "book_xgb",
        n_boot,
        pairs=[("steward", "book_xgb_strict"), *aged_pair],
    )
    return {
        "dataset": str(folder),
        "cut": scheme.cut.isoformat(),
        "train_rows_book": len(train),
        "train_churn_rate_book": float(train["is_churn"].mean()),
        "train_rows_book_strict": len(strict),
        "train_churn_rate_book_strict": float(strict["is_churn"].mean()),
        "test_rows": len(test),
        "test_rows_scored": len(joined),
        "test_rows_steward_lacks": missing,
        "test_churn_rate": float(y.mean()),
        "steward_train_dates": [d.isoformat() for d in run.train_dates],
        "steward_train_rows": run.train_rows,
        "steward_train_churners": run.train_churners,
        "steward_valid_date": run.valid_date.isoformat(),
        "steward_validated_dates": [d.isoformat() for d in run.validated_dates],
        "steward_valid_roc_auc": run.metrics["roc_auc"],
        "steward_valid_lift10": run.metrics["lift_top_decile"],
        "steward_champion_blocker": champion_blocker(run.metrics),
        "steward_feature_view": run.view,
        "steward_feature_view_reason": run.view_reason,
        "steward_refit_effect": refit_effect(joined),
        **{f"logreg_C{suffix}": logistic.C for suffix, (logistic, _) in book.items()},
        **{
            f"xgb_params{suffix}": {k: getattr(xgb_model, k) for k in grid}
            for suffix, (_, xgb_model) in book.items()
        },
        "seconds": {
            "book_metrics": round(book_seconds, 1),
            "book_fits": round(fit_seconds, 1),
            "steward": round(run.seconds, 1),
        },
        "metrics": result,
        "expected": expected,
        "ceiling_calibration": ceiling_calibration(y, scores["ceiling"]),
        "chance_at_least_book_xgb": chance,
    }


def _rule_scores(
    known: Customers, train: pd.DataFrame, test: pd.DataFrame
) -> dict[str, np.ndarray]:
    """rule_learners' test scores, trained on steward's rows (member_id, as_of, label)."""

    def features(accounts: pd.Series, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        day = pd.to_datetime(dates).to_numpy("datetime64[D]")
        return rule_terms(known, accounts.astype(str).to_numpy(), day)

    return rule_learners(
        features(train["member_id"], train["as_of"]),
        train["label"].to_numpy(np.int64),
        features(test["account_id"], test["observation_date"]),
    )


def _say(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)


NAMES = {
    "steward": "steward LightGBM, strict",
    "book_xgb": "book XGBoost",
    "book_logreg": "book L1 logistic",
    "book_xgb_strict": "book XGBoost, strict",
    "book_logreg_strict": "book L1 logistic, strict",
    "steward_extra": "steward + candidates",
    "book_xgb_age": "book XGBoost + age (ch. 10)",
    "rule_lgbm": "LightGBM on the rule's utility",
    "rule_logreg": "logistic in the rule's shape",
    "ceiling": "ceiling (simulator rule)",
}


def show(result: dict[str, Any]) -> None:
    """Print one dataset's comparison side by side."""
    from rich.console import Console

    console = Console(width=120)
    console.print(
        _table(
            f"{result['dataset']}: cut {result['cut']}, {result['test_rows_scored']:,} test rows "
            f"(churn {result['test_churn_rate']:.1%}); 95% paired bootstrap CIs over accounts",
            result["metrics"],
        )
    )
    if "expected" in result:
        console.print(
            _table(
                "The same rankings in expectation: labels drawn with the ceiling's probabilities "
                "instead of the simulator's coin flips",
                result["expected"],
            )
        )
    print(
        "  strict: no label past the cut (steward, and the book's method refitted on its "
        f"{result['train_rows_book_strict']:,} observations decided by the cut); the book's "
        "models train on labels up to a month past it"
    )
    equal = result["metrics"]["steward"]
    print(
        "  steward against the book's XGBoost, strict (the same information): ROC-AUC "
        f"{_ci(equal['roc_auc_vs_book_xgb_strict'], 3, signed=True)}, lift@10% "
        f"{_ci(equal['lift10_vs_book_xgb_strict'], 2, signed=True)}"
    )
    if "roc_auc_vs_ceiling" in equal:
        print(
            "  ceiling: the simulator's own churn rule with the hidden draw and the last days' "
            "events integrated out (bench/churnsim_ceiling.py), not a model; steward against "
            f"it: ROC-AUC {_ci(equal['roc_auc_vs_ceiling'], 3, signed=True)}, lift@10% "
            f"{_ci(equal['lift10_vs_ceiling'], 2, signed=True)}"
        )
    for title, metrics in (("", result["metrics"]), (", in expectation", result.get("expected"))):
        aged = (metrics or {}).get("steward", {})
        if "roc_auc_vs_book_xgb_age" in aged:
            print(
                f"  steward against the book's XGBoost with ages{title}: ROC-AUC "
                f"{_ci(aged['roc_auc_vs_book_xgb_age'], 3, signed=True)}, lift@10% "
                f"{_ci(aged['lift10_vs_book_xgb_age'], 2, signed=True)}"
            )
    chance = result.get("chance_at_least_book_xgb")
    if chance:
        print(
            "  how often the rule's coin flips on these rows (labels drawn with the ceiling's "
            "probabilities) put a ranking at least level with the book's XGBoost on "
            f"ROC-AUC / lift@10% / both: steward {_chances(chance['steward'])}, "
            + "".join(
                f"{NAMES[name]} {_chances(chance[name])}, "
                for name in ("rule_lgbm", "rule_logreg")
                if name in chance
            )
            + f"the ceiling {_chances(chance['ceiling'])}"
        )
    fit = result.get("ceiling_calibration")
    if fit:
        print(
            f"  the ceiling's probabilities, fitted to nothing: mean {fit['mean']:.2%} where "
            f"{fit['rate']:.2%} churned; top decile {fit['top_decile_mean']:.2%} where "
            f"{fit['top_decile_rate']:.2%} churned; Brier {fit['brier']:.4f}, ECE {fit['ece']:.4f}"
        )
    print(
        f"  steward (`train churn` defaults) validated on {result['steward_valid_date']} "
        f"(ROC-AUC {result['steward_valid_roc_auc']:.3f}, lift@10% "
        f"{result['steward_valid_lift10']:.2f}, a model trained on "
        f"{len(result['steward_validated_dates'])} earlier dates), served a refit on "
        f"{len(result['steward_train_dates'])} dates "
        f"{result['steward_train_dates'][0]}..{result['steward_train_dates'][-1]} "
        f"({result['steward_train_rows']:,} rows, {result['steward_train_churners']:,} churners); "
        f"{_champion_note(result.get('steward_champion_blocker'))}; "
        f"features: {result.get('steward_feature_view', 'all')} "
        f"({result.get('steward_feature_view_reason', '')}); "
        f"{_refit_note(result.get('steward_refit_effect'))}; "
        f"the book on {result['train_rows_book']:,} observations before the cut; "
        f"test rows steward has no features for: {result['test_rows_steward_lacks']}; "
        f"seconds {result['seconds']}"
    )


def _table(title: str, metrics: dict[str, dict[str, Any]]) -> Any:
    """Each model's ROC-AUC and lift@10% with CIs, and their differences to the book's XGBoost."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("model", "ROC-AUC", "vs book XGB", "lift@10%", "vs book XGB "):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, label in NAMES.items():
        if name not in metrics:
            continue
        m = metrics[name]
        table.add_row(
            label,
            _ci(m["roc_auc"], 3),
            _ci(m["roc_auc_diff"], 3, signed=True) if name != "book_xgb" else "",
            _ci(m["lift10"], 2),
            _ci(m["lift10_diff"], 2, signed=True) if name != "book_xgb" else "",
        )
    return table


def _refit_note(effect: dict[str, dict[str, float]] | None) -> str:
    """The served refit against the validated model on the test rows."""
    if not effect:
        return "no refit figures"
    served, validated = effect["served"], effect["validated"]
    return (
        f"on the test rows the served refit has ROC-AUC {served['roc_auc']:.3f}, Brier "
        f"{served['brier']:.4f}, ECE {served['ece']:.4f} (the validated model "
        f"{validated['roc_auc']:.3f}, {validated['brier']:.4f}, {validated['ece']:.4f})"
    )


def _champion_note(blocker: str | None) -> str:
    """What `train churn`'s champion rule would make of the validated model."""
    return "it would be made champion" if blocker is None else f"never made champion: {blocker}"


def _chances(chance: dict[str, float]) -> str:
    return " / ".join(f"{chance[k]:.0%}" for k in ("roc_auc", "lift10", "both"))


def _ci(value: Sequence[float], digits: int, signed: bool = False) -> str:
    sign = "+" if signed else ""
    point, lo, hi = value
    return f"{point:{sign}.{digits}f} [{lo:{sign}.{digits}f}, {hi:{sign}.{digits}f}]"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the comparison on each folder and print (and optionally save) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", type=Path, default=[SAMPLE.resolve()])
    parser.add_argument("--cut", type=date.fromisoformat, default=Scheme.cut)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument(
        "--xgb-grid", choices=tuple(XGB_GRIDS), default="book",
        help="book: listing 9.6's 256 settings; lite: 32 of them spanning its range; small: 8",
    )  # fmt: skip
    parser.add_argument("--extra", action="store_true", help="also try the candidate features")
    parser.add_argument(
        "--book-age", action="store_true", help="also the book's XGBoost with account age added"
    )
    parser.add_argument(
        "--rule-learners", action="store_true",
        help="also learners given the simulator rule's own features (how much of the gap to "
        "the ceiling is features, how much the model's shape)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="append results as JSON lines")
    args = parser.parse_args(argv)
    grid = XGB_GRIDS[args.xgb_grid]
    scheme = Scheme(cut=args.cut)
    for folder in args.data:
        with tempfile.TemporaryDirectory(prefix="steward-churn-book-") as tmp:
            result = run_dataset(
                folder,
                scheme,
                grid,
                args.boot,
                Path(tmp),
                args.extra,
                args.book_age,
                args.rule_learners,
            )
        show(result)
        if args.json is not None:
            with args.json.open("a") as fh:
                fh.write(json.dumps(result, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


if __name__ == "__main__":
    main()
