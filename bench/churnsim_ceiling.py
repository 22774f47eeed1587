"""The book's simulator's own churn rule, as a ceiling for any model on the book's test rows.

socialnet7 (fightchurn 1.2.0, `churnsim/utility.py` and `customer.py`) decides churn at each
monthly renewal R from the customer's events since they started (the counts are never reset):

    u = sum_e c_e * (1 - exp(-2 * N_e(R) / m_e))       c_e = m_e * w_e (utility weight x mean)
    u' = u * p if u > 0 else u / p,    p = 2 ** (U(-1.5, 1.5) + 0.5 * (35 - age) / 70)
    P(churn at R) = 1 - sigmoid(0.135 * u' - 0.5)

Two things no model can see: each customer's draw U, and the events between the observation
date T and the renewal (the book observes 5 days before it). The ceiling integrates both out:
U over its uniform prior, weighted by the customer having survived every earlier renewal with
the utility its events then gave (a posterior: who stayed while getting little is easier to
satisfy), and the last days' events drawn at the customer's own daily rate so far.

No model trained on these rows should beat it by more than noise; where one does on a seed,
that seed's metric is noise-bound. It is a reference for the bench, never a steward model:
it reads the simulator's settings, which a real product does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

EVENTS: tuple[str, ...] = (
    "post", "newfriend", "like", "adview", "dislike", "unfriend", "message", "reply",
)  # fmt: skip
# conf/socialnet7.yaml's utility weights, in EVENTS order.
WEIGHTS = (1.0, 6.0, 0.5, -1.5, -1.0, -10.0, 1.0, 1.0)
# The channels' mean monthly rates (conf/socialnet7_{web,appstore1,appstore2}.csv) and their
# population shares; the utility's means are the shares' weighted average (setExpectations).
CHANNEL_MEANS: dict[str, tuple[tuple[float, ...], float]] = {
    "web": ((25, 6, 50, 24, 10, 1, 8, 2), 0.15),
    "appstore1": ((20, 5, 40, 20, 10, 1, 20, 5), 0.30),
    "appstore2": ((20, 5, 40, 20, 10, 1, 40, 20), 0.55),
}
GRID_POINTS = 61  # the hidden draw U, on an even grid over its range
CHUNK = 2048  # rows per step: bounds the draws x rows x grid array
DRAW_CHUNK = 100  # label draws per step in chance_at_least: bounds draws x rows


@dataclass(frozen=True)
class Socialnet7:
    """The rule's settings: conf/socialnet7.yaml and conf/default.yaml of fightchurn 1.2.0."""

    contrib_scale: float = 2.0  # util_contrib_scale
    churn_scale: float = 0.135  # transition.churn.scale
    churn_offset: float = 0.5  # transition.churn.offset
    satisfy_base: float = 2.0
    satisfy_scale: float = 1.5
    age_satisfy: float = 0.5
    min_age: float = 12.0
    max_age: float = 82.0

    def means(self) -> np.ndarray:
        """The utility's mean monthly count per event type."""
        return np.sum([np.asarray(m) * share for m, share in CHANNEL_MEANS.values()], axis=0)

    def terms(self, counts: np.ndarray) -> np.ndarray:
        """Each event type's share of the utility of cumulative counts (..., len(EVENTS))."""
        means = self.means()
        contribs = means * np.asarray(WEIGHTS)
        return np.asarray(contribs * (1 - np.exp(-self.contrib_scale * counts / means)))

    def utility(self, counts: np.ndarray) -> np.ndarray:
        """Utility of cumulative counts (..., len(EVENTS)), before the satisfaction multiplier."""
        return np.sum(self.terms(counts), axis=-1)

    def multipliers(self, ages: np.ndarray) -> np.ndarray:
        """Satisfaction multipliers (rows x grid of U) for customers' ages at their start."""
        # The simulator's "average age" is half the range (35), not the middle of it (47).
        neutral = (self.max_age - self.min_age) / 2
        coef = self.age_satisfy * (neutral - ages) / (self.max_age - self.min_age)
        grid = np.linspace(-self.satisfy_scale, self.satisfy_scale, GRID_POINTS)
        return np.power(self.satisfy_base, grid[None, :] + coef[:, None])

    def stay(self, u: np.ndarray, p: np.ndarray) -> np.ndarray:
        """P(no churn) at a renewal for utility u and multiplier p (broadcast)."""
        adjusted = np.where(u > 0, u * p, u / p)
        return 1 / (1 + np.exp(-(self.churn_scale * adjusted - self.churn_offset)))


@dataclass
class Customers:
    """What the rule needs per test row: cumulative counts and the customer's start and age."""

    cumulative: np.ndarray  # accounts x days+1 x events: events on days before d
    base: date  # day index 0
    start: pd.Series  # account id -> first subscription start (Timestamp)
    age: pd.Series  # account id -> age in years at the start (NaN unknown)
    index: pd.Series  # account id -> row of cumulative


def customers(
    counts: dict[str, np.ndarray],
    accounts: np.ndarray,
    base: date,
    subscriptions: pd.DataFrame,
    birth: pd.Series,
) -> Customers:
    """Cumulative counts per account and event type, starts, and ages at the start.

    counts: event name -> accounts x days (day 0 = base); subscriptions: account_id, start;
    birth: account id -> date of birth (Timestamp, NaT unknown)."""
    daily = np.stack([counts[name] for name in EVENTS], axis=-1)
    zeros = np.zeros((daily.shape[0], 1, daily.shape[2]), dtype=np.int32)
    cumulative = np.concatenate([zeros, np.cumsum(daily, axis=1, dtype=np.int32)], axis=1)
    start = subscriptions.groupby("account_id")["start"].min()
    born = birth.reindex(start.index)
    age = (start - born).dt.days / 365.25
    return Customers(cumulative, base, start, age, pd.Series(np.arange(len(accounts)), accounts))


def ceiling_scores(
    known: Customers,
    accounts: np.ndarray,
    observed: np.ndarray,
    lead_days: int,
    rule: Socialnet7 | None = None,
    draws: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """P(churn at the renewal lead_days after each observation date) under the rule.

    accounts, observed: the test rows' account ids and observation dates (datetime64[D])."""
    rule = rule or Socialnet7()
    rng = np.random.default_rng(seed)
    out = np.empty(len(accounts), dtype=np.float64)
    for lo in range(0, len(accounts), CHUNK):
        hi = lo + CHUNK
        out[lo:hi] = _chunk(known, accounts[lo:hi], observed[lo:hi], lead_days, rule, draws, rng)
    return out


def _chunk(
    known: Customers,
    accounts: np.ndarray,
    observed: np.ndarray,
    lead_days: int,
    rule: Socialnet7,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    rows = _rows(known, accounts)
    start = pd.DatetimeIndex(known.start.reindex(accounts).to_numpy())
    # An unknown age: the age range's middle, the simulator's mean age.
    ages = known.age.reindex(accounts).fillna((rule.min_age + rule.max_age) / 2).to_numpy()
    p = rule.multipliers(ages)
    base = pd.Timestamp(known.base)
    obs = pd.DatetimeIndex(observed)
    renewal = obs + pd.Timedelta(days=lead_days)
    log_stay = np.zeros_like(p)
    months = 1
    while True:  # every earlier renewal the customer survived
        earlier = start + pd.DateOffset(months=months)
        alive = np.asarray(earlier < renewal)
        if not alive.any():
            break
        day = np.clip((earlier - base).days.to_numpy(), 0, known.cumulative.shape[1] - 1)
        u = rule.utility(known.cumulative[rows[alive], day[alive]].astype(np.float64))
        log_stay[alive] += np.log(rule.stay(u[:, None], p[alive]) + 1e-300)
        months += 1
    weights = np.exp(log_stay - log_stay.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    t = (obs - base).days.to_numpy()
    now = known.cumulative[rows, t].astype(np.float64)
    days = np.maximum((obs - start).days.to_numpy(), 1)
    rest = rng.poisson(now / days[:, None] * lead_days, size=(draws, *now.shape))
    u = rule.utility(now[None] + rest)  # draws x rows
    churn = 1 - rule.stay(u[:, :, None], p[None]).mean(axis=0)  # rows x grid
    return np.asarray((churn * weights).sum(axis=1))


def _rows(known: Customers, accounts: np.ndarray) -> np.ndarray:
    """The accounts' rows of known.cumulative; an error for accounts it does not have."""
    rows = known.index.reindex(accounts).to_numpy()
    if np.isnan(rows.astype(np.float64)).any():
        raise ValueError("rows of accounts the events and subscriptions do not have")
    return rows.astype(np.int64)


def rule_terms(
    known: Customers, accounts: np.ndarray, observed: np.ndarray, rule: Socialnet7 | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The rule's utility terms c_e (1 - exp(-2 N_e / m_e)) of the events before each
    observation date (rows x events), and each account's age at its start (NaN unknown)."""
    rule = rule or Socialnet7()
    day = (observed - np.datetime64(known.base, "D")).astype(np.int64)
    day = np.clip(day, 0, known.cumulative.shape[1] - 1)
    counts = known.cumulative[_rows(known, accounts), day].astype(np.float64)
    return rule.terms(counts), known.age.reindex(accounts).to_numpy(np.float64)


def rule_learners(
    train: tuple[np.ndarray, np.ndarray], y: np.ndarray, test: tuple[np.ndarray, np.ndarray]
) -> dict[str, np.ndarray]:
    """Test scores of two learners given the rule's own features (rule_terms) on steward's
    training rows and labels: how much of steward's gap to the ceiling better features or a
    better-shaped model would close.

    rule_lgbm: steward's LightGBM settings on the utility u (the terms' sum) and age.
    rule_logreg: a logistic regression in the rule's shape (the terms, age, u x age, u above 0).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from models.churn.config import ChurnConfig, LgbmParams
    from models.churn.estimators import fit_lgbm

    def utility_age(terms: np.ndarray, age: np.ndarray) -> np.ndarray:
        return np.column_stack([terms.sum(axis=1), age])

    def shaped(terms: np.ndarray, age: np.ndarray) -> np.ndarray:
        u = terms.sum(axis=1)
        known_age = np.where(np.isnan(age), np.nanmean(train[1]), age)
        return np.column_stack([terms, known_age, u * known_age, np.maximum(u, 0)])

    seed = ChurnConfig().seed
    lgbm = fit_lgbm(utility_age(*train), y, ["utility", "age"], LgbmParams(), seed)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    logreg.fit(shaped(*train), y)
    return {
        "rule_lgbm": lgbm.raw_score(utility_age(*test)),
        "rule_logreg": logreg.decision_function(shaped(*test)),
    }


def expected_roc_auc(p: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC in expectation over labels drawn with probabilities p: the rule's coin flips
    averaged out, so that only the ranking is judged. Ties count a half, as roc_auc_fast; for
    labels (p of 0 and 1) it is the ROC-AUC."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(score, kind="stable")
    p, s = p[order], np.asarray(score)[order]
    q = 1 - p
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    group = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    q_group = np.add.reduceat(q, starts)
    below = np.r_[0.0, np.cumsum(q_group)[:-1]]
    wins = p * (below[group] + 0.5 * (q_group[group] - q))
    pairs = p.sum() * q.sum() - (p * q).sum()
    return float(wins.sum() / pairs) if pairs > 0 else float("nan")


def chance_at_least(
    p: np.ndarray, score: np.ndarray, reference: np.ndarray, draws: int = 2000, seed: int = 0
) -> dict[str, float]:
    """How often score's ROC-AUC, lift@10% and both are at least reference's on labels drawn
    with probabilities p, each row on its own: the chance that one run's coin flips on these
    rows find a ranking level with or ahead of another (ties count as level)."""
    rng = np.random.default_rng(seed)
    p = np.asarray(p, dtype=np.float64)
    roc, lift = [], []
    for lo in range(0, draws, DRAW_CHUNK):
        labels = rng.random((min(DRAW_CHUNK, draws - lo), len(p))) < p
        roc_ok, lift_ok = at_least(labels, score, reference)
        roc.append(roc_ok)
        lift.append(lift_ok)
    roc_all, lift_all = np.concatenate(roc), np.concatenate(lift)
    return {
        "roc_auc": float(roc_all.mean()),
        "lift10": float(lift_all.mean()),
        "both": float((roc_all & lift_all).mean()),
    }


def at_least(
    labels: np.ndarray, score: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of labels (draws x rows): is score's ROC-AUC at least reference's, and its
    lift@10% (models/churn/metrics.lift_at's top decile)?"""
    from scipy.stats import rankdata

    from models.churn.metrics import top_rows

    # Mid-rank ROC-AUC is (ranks of the churners - n1 (n1 + 1) / 2) / (n1 n0): the difference
    # of two is the churners' summed rank gap over a positive number, exact in float64 (ranks
    # are halves). Lift likewise: churners in one top decile less those in the other.
    rank_gap = rankdata(score) - rankdata(reference)
    top_gap = np.zeros(len(score))
    top_gap[top_rows(np.asarray(score))] += 1
    top_gap[top_rows(np.asarray(reference))] -= 1
    y = labels.astype(np.float64)
    return y @ rank_gap >= 0, y @ top_gap >= 0
