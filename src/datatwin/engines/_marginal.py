"""A Bayesian network learned from noisy marginals: the engine for small privacy budgets.

Under differential privacy the data is read only through noisy counts (Gaussian mechanism,
each recorded in the fit's ledger), and everything after them is post-processing:

1. all one-way marginals (10 % of the engine's budget);
2. all two-way marginals (15 %, a seeded subset of pairs for very wide tables); an unbiased
   estimate of each pair's dependence from them (observed squared deviation from independence
   minus the noise's expected share) picks a network: greedily, each sub-column gets the one
   or two earlier parents that explain it best, among those whose joint table is small enough
   to be measured above the noise;
3. each sub-column's family marginal (itself and its parents; 75 %, larger tables getting
   more); a family that repeats an earlier measurement (a root is a one-way marginal, a
   single parent a pair) is averaged with it by inverse variance; the counts are projected
   onto non-negative tables with the right total, and the conditional tables shrink towards
   the pair's (or the one-way) estimate where a parent configuration holds few rows.

Sampling is ancestral (parents first), vectorised per sub-column. Conditions are met exactly by
importance resampling: candidates are drawn with the conditioned codes kept and weighted by
their likelihood. Without a privacy budget the same engine fits exact counts (a fast, simple
baseline). This follows PrivBayes (Zhang et al. 2017) and MST/AIM's select-measure-generate
(McKenna et al. 2021, 2022) with a closed-form model in place of a graphical-model fit.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .._exceptions import ConditionError, InputError
from .._privacy import PrivacyLedger
from .._progress import ProgressCallback, report
from ..encoding import SubColumn
from ._base import CONDITIONS, DIFFERENTIAL_PRIVACY, Engine

__all__ = ["MarginalEngine"]

SHARES = (0.1, 0.15, 0.75)  # one-way, two-way, families
MAX_PAIRS = 1500
RAKE_ROUNDS, RAKE_ROWS = 3, 200_000
BATCH = 8192  # rows sampled at once (memory: BATCH x candidates x widest table row)


class MarginalEngine(Engine):
    """Bayesian network over the sub-columns, fitted from (noisy) marginals.

    Parameters:
        max_parents: parents per sub-column (1 or 2; 2 keeps three-way relations).
        candidates: draws per row when sampling under conditions (importance resampling).
        min_signal: a family table is measured only if it holds at least this many rows per
            cell per unit of noise (more cells: finer relations but noisier counts).

    Example:
        >>> import numpy as np
        >>> from datatwin.encoding import SubColumn
        >>> codes = np.random.default_rng(0).integers(0, 3, size=(500, 2))
        >>> eng = MarginalEngine().fit(codes, [SubColumn(0, "a", 3), SubColumn(1, "b", 3)], seed=0)
        >>> eng.sample(4, seed=1, forbidden=[np.array([], int)] * 2).shape
        (4, 2)
    """

    name: ClassVar[str] = "marginal"
    capabilities: ClassVar[frozenset[str]] = frozenset({CONDITIONS, DIFFERENTIAL_PRIVACY})

    def __init__(self, *, max_parents: int = 2, candidates: int = 32, min_signal: float = 2.0) -> None:
        self.max_parents = max_parents
        self.candidates = candidates
        self.min_signal = min_signal

    def get_params(self) -> dict[str, Any]:
        return {"max_parents": self.max_parents, "candidates": self.candidates, "min_signal": self.min_signal}

    # ------------------------------------------------------------------ fit
    def fit(self, codes: np.ndarray, subcolumns: list[SubColumn], *, seed: int,
            progress: ProgressCallback | None = None, n_context: int = 0,
            privacy: PrivacyLedger | None = None) -> MarginalEngine:
        if n_context:
            raise InputError("the marginal engine cannot condition on context columns; use engine='argn'")
        if self.max_parents not in (0, 1, 2, 3) or not isinstance(self.candidates, int) or self.candidates < 1:
            raise InputError("marginal engine: max_parents must be 0 to 3 and candidates a positive integer")
        rng = np.random.default_rng(seed)
        s = codes.shape[1]
        # Under DP the row count is the ledger's noisy one: every total below uses it.
        n = privacy.rows if privacy is not None and privacy.rows is not None else codes.shape[0]
        cards = [int(sc.cardinality) for sc in subcolumns]
        self.cards_ = cards
        self.subcolumns_ = list(subcolumns)
        if s == 0:
            self.order_, self.parents_, self.tables_ = [], [], []
            return self
        if privacy is not None:
            rho = privacy.remaining_rho()
            if rho <= 0:
                raise InputError("the privacy budget is spent before the engine could learn anything; "
                                 "raise epsilon, or declare value ranges and categories in the metadata")
            sig = [math.sqrt(1.0 / (2.0 * share * rho)) for share in SHARES]  # per unit of sensitivity
        else:
            sig = [0.0, 0.0, 0.0]
        codes = codes.astype(np.int64, copy=False)

        # 1. one-way marginals
        s1 = sig[0] * math.sqrt(s)  # s histograms, one cell per row each: L2 sensitivity sqrt(s)
        raw_one = [np.bincount(codes[:, j], minlength=cards[j]) + _noise(rng, s1, cards[j]) for j in range(s)]
        one = [_project(o, n) for o in raw_one]
        if privacy is not None:
            privacy.gaussian("engine: one-way marginals", s1, math.sqrt(s))
        present = [o > 1.0 * s1 if (o > 1.0 * s1).any() else o >= o.max() for o in one]
        one_p = [_normalise(np.where(ok, o, 0.0)) for o, ok in zip(one, present, strict=True)]
        report(progress, "fit", 1, 4)

        # 2. two-way marginals, and each pair's dependence
        pairs = [(a, b) for b in range(s) for a in range(b)]
        if len(pairs) > MAX_PAIRS:
            pick = np.sort(rng.choice(len(pairs), MAX_PAIRS, replace=False))
            pairs = [pairs[i] for i in pick]
        s2 = sig[1] * math.sqrt(len(pairs))
        two: dict[tuple[int, int], np.ndarray] = {}
        raw_two: dict[tuple[int, int], np.ndarray] = {}
        score = np.zeros((s, s))
        for a, b in pairs:
            joint = _joint(codes, [a, b], cards).reshape(cards[a], cards[b]) + _noise(rng, s2, (cards[a], cards[b]))
            expected = np.outer(one_p[a], one_p[b]) * n
            # E[(J + noise - E)^2] = (J - E)^2 + s2^2 per cell: subtract the noise's share.
            dev = float(((joint - expected) ** 2).sum() - joint.size * s2 ** 2)
            raw_two[(a, b)] = joint
            two[(a, b)] = _project(joint, n)
            score[a, b] = score[b, a] = math.sqrt(max(dev, 0.0)) / n
        if privacy is not None and pairs:
            privacy.gaussian("engine: two-way marginals", s2, math.sqrt(len(pairs)))
        report(progress, "fit", 2, 4)

        # 3. the network, from the scores (post-processing)
        s3 = sig[2] * math.sqrt(s)
        max_cells = n / (self.min_signal * s3) if s3 > 0 else max(n / 5.0, 64.0)
        order, parents = self._structure(score, cards, max_cells)

        # 4. family marginals -> conditional tables
        tables = []
        # Every measurement that covers a sub-column also estimates its one-way marginal (summed
        # over the other columns, with the summed noise): averaged by inverse variance, they give
        # a better one-way marginal than any alone, which the network is raked to at the end.
        # Without a budget the counts are exact and there is nothing to pool.
        pooled: list[list[Any]] = [[np.zeros(cards[j]), 0.0] for j in range(s)]  # sum of counts/var, of 1/var

        def pool(j: int, counts: np.ndarray, var: float) -> None:
            if privacy is not None:
                pooled[j][0] = pooled[j][0] + counts / var
                pooled[j][1] += 1.0 / var

        for j in range(s):
            pool(j, raw_one[j], s1 ** 2)
        for (a, b), joint in raw_two.items():
            for j, axis, other in ((a, 1, b), (b, 0, a)):
                pool(j, joint.sum(axis=axis), s2 ** 2 * cards[other])
        sizes = np.array([float(np.prod([cards[j] for j in [*ps, v]])) for v, ps in zip(order, parents, strict=True)])
        # Larger tables get more of the budget: with L1 error ~ cells x sigma, sigma ~ cells^(-1/3)
        # minimises the total error for a fixed rho (sum of 1 / (2 sigma^2)).
        weights = sizes ** (2.0 / 3.0)
        sigmas = [sig[2] * math.sqrt(weights.sum() / w) for w in weights]
        for (v, ps), s_fam in zip(zip(order, parents, strict=True), sigmas, strict=True):
            fam = [*ps, v]
            counts = _joint(codes, fam, cards) + _noise(rng, s_fam, int(np.prod([cards[j] for j in fam])))
            pool(v, counts.reshape(-1, cards[v]).sum(axis=0), s_fam ** 2 * (len(counts) // cards[v]))
            earlier, s_earlier = (raw_one[v], s1) if not ps else (raw_two.get((min(ps[0], v), max(ps[0], v))), s2)
            if len(ps) <= 1 and earlier is not None and s_fam > 0:
                if ps and ps[0] > v:
                    earlier = earlier.T
                w = s_earlier ** 2 / (s_earlier ** 2 + s_fam ** 2)  # inverse-variance weight of this one
                counts = w * counts + (1 - w) * earlier.ravel()
            counts = _project(counts, n).reshape(-1, cards[v])
            # A code whose one-way estimate does not stand out of the noise (the missing code of a
            # column that has none, mostly) stays out of every row, as MST compresses its domain:
            # the family table's own noise would bring it back.
            counts[:, ~present[v]] = 0.0
            prior = self._prior(v, ps, one_p, two, cards)
            weight = s_fam * math.sqrt(cards[v]) if s_fam > 0 else 1e-9
            tables.append((counts + weight * prior) / (counts.sum(axis=1, keepdims=True) + weight))
        if privacy is not None:
            # One Gaussian step of L2 sensitivity 1 per family: rho = sum of 1 / (2 sigma_i^2).
            privacy.gaussian("engine: family marginals", 1.0 / math.sqrt(sum(1.0 / sg ** 2 for sg in sigmas)))
        self.order_, self.parents_, self.tables_ = order, parents, tables
        if privacy is not None:
            target = [_normalise(np.where(present[j], _project(total / weight, n), 0.0))
                      for j, (total, weight) in enumerate(pooled)]
            self._rake(target, rng)
        report(progress, "fit", 4, 4)
        return self

    def _rake(self, target: list[np.ndarray], rng: np.random.Generator, rounds: int = RAKE_ROUNDS,
              m: int = RAKE_ROWS) -> None:
        """Scale each conditional table by target / current one-way marginal (the network's own,
        estimated from ``m`` sampled rows), a few rounds: post-processing that makes the
        network's one-way marginals agree with the best estimate of them."""
        for _ in range(rounds):
            cdfs = [np.cumsum(t, axis=1) for t in self.tables_]
            drawn, _ = self._draw(m, rng, cdfs, {}, {})
            for i, v in enumerate(self.order_):
                now = np.bincount(drawn[:, v], minlength=self.cards_[v]) / m
                ratio = np.where(now > 0, target[v] / np.maximum(now, 1e-12), 1.0)
                t = self.tables_[i] * ratio[None, :]
                total = t.sum(axis=1, keepdims=True)
                self.tables_[i] = np.where(total > 0, t / np.where(total > 0, total, 1.0), self.tables_[i])

    def _structure(self, score: np.ndarray, cards: list[int], max_cells: float) -> tuple[list[int], list[list[int]]]:
        """Greedy network: each step places the sub-column (with up to two placed parents) that
        gains the most dependence; a family whose table would exceed ``max_cells`` is skipped."""
        s = len(cards)
        column = [sc.column for sc in self.subcolumns_]
        placed: list[int] = []
        parents: list[list[int]] = []
        left = set(range(s))

        def ready(v: int) -> bool:  # a column's sub-columns go in order (the fine bin after the coarse)
            return all(u in placed for u in range(v) if column[u] == column[v])

        while left:
            best: tuple[float, int, list[int]] | None = None
            for v in sorted(left):
                if not ready(v):
                    continue
                options: list[tuple[float, list[int]]] = [(0.0, [])]
                near = sorted(placed, key=lambda u: -score[v, u])[:8]
                for i, p in enumerate(near):
                    if self.max_parents >= 1 and cards[v] * cards[p] <= max_cells:
                        options.append((score[v, p], [p]))
                    if self.max_parents >= 2:
                        for jq, q in enumerate(near[i + 1:], start=i + 1):
                            if cards[v] * cards[p] * cards[q] <= max_cells:
                                gain = score[v, p] + score[v, q] - min(score[v, p], score[v, q], score[p, q])
                                options.append((gain, [p, q]))
                                if self.max_parents >= 3:
                                    for r in near[jq + 1:]:
                                        if cards[v] * cards[p] * cards[q] * cards[r] <= max_cells:
                                            extra = score[v, r] - min(score[v, r], max(score[p, r], score[q, r]))
                                            options.append((gain + extra, [p, q, r]))
                gain, ps = max(options, key=lambda o: o[0])
                if not placed:  # the first: the sub-column most tied to all the others
                    gain = float(score[v].sum())
                if best is None or gain > best[0] + 1e-12:
                    best = (gain, v, ps)
            assert best is not None
            _, v, ps = best
            placed.append(v)
            parents.append(sorted(ps))
            left.remove(v)
        return placed, parents

    @staticmethod
    def _prior(v: int, ps: list[int], one_p: list[np.ndarray], two: dict[tuple[int, int], np.ndarray],
               cards: list[int]) -> np.ndarray:
        """What a family's rows shrink towards: P(v | strongest parent) from its pair table, or P(v)."""
        n_rows = int(np.prod([cards[p] for p in ps])) if ps else 1
        if not ps:
            return one_p[v][None, :]
        p = ps[0]
        pair = two.get((min(p, v), max(p, v)))
        if pair is None:
            return np.tile(one_p[v], (n_rows, 1))
        pair = np.maximum(pair if p < v else pair.T, 0.0)  # rows: parent code, columns: v
        cond = (pair + 1e-9 + one_p[v][None, :] * pair.sum() * 1e-3) / (pair.sum(axis=1, keepdims=True) + 1e-9 +
                                                                           pair.sum() * 1e-3)
        cond = cond / cond.sum(axis=1, keepdims=True)
        if len(ps) == 1:
            return cond
        # More parents: rows are parent configurations in C order, the first parent slowest.
        return np.repeat(cond, int(np.prod([cards[q] for q in ps[1:]])), axis=0)

    # ------------------------------------------------------------------ sample
    def sample(self, n: int, *, seed: int, forbidden: list[np.ndarray],
               fixed: dict[int, np.ndarray] | None = None, allowed: dict[int, np.ndarray] | None = None,
               return_log_weights: bool = False) -> Any:
        fixed, allowed = fixed or {}, allowed or {}
        rng = np.random.default_rng(seed)
        s = len(self.cards_)
        probs = []
        for v, table in zip(self.order_, self.tables_, strict=True):
            t = table.copy()
            if len(forbidden[v]):
                t[:, forbidden[v]] = 0.0
                dead = t.sum(axis=1) <= 0
                t[dead] = table[dead]  # nothing else left: better the rare code than no row
            probs.append(np.cumsum(t / t.sum(axis=1, keepdims=True), axis=1))
        out = np.empty((n, s), dtype=np.int32)
        logw = np.zeros(n)
        conditioned = bool(fixed or allowed)
        k = self.candidates if conditioned and not return_log_weights else 1
        for start in range(0, n, BATCH):
            b = min(BATCH, n - start)
            fx = {j: np.repeat(np.asarray(c[start:start + b], dtype=np.int64), k) for j, c in fixed.items()}
            codes, w = self._draw(b * k, rng, probs, fx, allowed)
            if k > 1:
                w = w.reshape(b, k)
                if not np.isfinite(w.max(axis=1)).all():
                    raise ConditionError("the conditions cannot be met together under the learned data; relax them")
                p = np.exp(w - w.max(axis=1, keepdims=True))
                u = rng.random(b) * p.sum(axis=1)
                pick = np.minimum((np.cumsum(p, axis=1) < u[:, None]).sum(axis=1), k - 1)
                codes = codes.reshape(b, k, s)[np.arange(b), pick]
                w = np.zeros(b)
            out[start:start + b] = codes
            logw[start:start + b] = w
        return (out, logw) if return_log_weights else out

    def _draw(self, m: int, rng: np.random.Generator, cdfs: list[np.ndarray], fixed: dict[int, np.ndarray],
              allowed: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        s = len(self.cards_)
        codes = np.zeros((m, s), dtype=np.int64)
        logw = np.zeros(m)
        for v, ps, cdf in zip(self.order_, self.parents_, cdfs, strict=True):
            row = np.zeros(m, dtype=np.int64)
            for p in ps:
                row = row * self.cards_[p] + codes[:, p]
            c = cdf[row]
            if v in fixed or v in allowed:
                pmf = np.diff(c, axis=1, prepend=0.0)
                if v in fixed:
                    got = fixed[v]
                    with np.errstate(divide="ignore"):
                        logw += np.log(pmf[np.arange(m), got])
                    codes[:, v] = got
                    continue
                keep = np.asarray(allowed[v], dtype=bool)
                if keep.ndim == 2:  # depends on the previous sub-column of the same column
                    keep = keep[codes[:, v - 1]]
                pmf = pmf * keep
                mass = pmf.sum(axis=1)
                with np.errstate(divide="ignore"):
                    logw += np.log(mass)
                c = np.cumsum(pmf / np.where(mass > 0, mass, 1.0)[:, None], axis=1)
            u = rng.random(m) * c[:, -1]
            codes[:, v] = np.minimum((c < u[:, None]).sum(axis=1), self.cards_[v] - 1)
        return codes.astype(np.int32), logw

    # ------------------------------------------------------------------ state
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {"order": [int(v) for v in self.order_], "parents": [[int(p) for p in ps] for ps in self.parents_],
                 "cards": [int(c) for c in self.cards_]}
        return state, {f"table.{i}": t for i, t in enumerate(self.tables_)}

    def set_state(self, subcolumns: list[SubColumn], state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.subcolumns_ = list(subcolumns)
        self.cards_ = [int(c) for c in state["cards"]]
        if self.cards_ != [sc.cardinality for sc in subcolumns]:
            raise InputError("the marginal engine's tables do not match the encoders")
        self.order_ = [int(v) for v in state["order"]]
        self.parents_ = [[int(p) for p in ps] for ps in state["parents"]]
        # Untrusted file: a permutation of the sub-columns, each parent drawn before its child.
        if sorted(self.order_) != list(range(len(self.cards_))) or len(self.parents_) != len(self.order_) or any(
                p not in self.order_[:i] for i, ps in enumerate(self.parents_) for p in ps):
            raise InputError("the marginal engine's order or parents are malformed")
        self.tables_ = [arrays[f"table.{i}"].astype(np.float64) for i in range(len(self.order_))]
        for v, ps, t in zip(self.order_, self.parents_, self.tables_, strict=True):
            rows = int(np.prod([self.cards_[p] for p in ps])) if ps else 1
            if (t.shape != (rows, self.cards_[v]) or not np.isfinite(t).all() or (t < 0).any()
                    or (t.sum(axis=1) <= 0).any()):
                raise InputError(f"the marginal engine's table for sub-column {v} is malformed")


def _noise(rng: np.random.Generator, sigma: float, shape: Any) -> np.ndarray | float:
    return rng.normal(0.0, sigma, shape) if sigma > 0 else 0.0


def _project(noisy: np.ndarray, total: float) -> np.ndarray:
    """The closest non-negative counts (least squares) that add up to ``total`` (the row count,
    public): subtract one constant from every cell and clip at zero. Plain clipping would leave
    every empty cell about 0.4 sigma of false mass, which adds up over a large table."""
    x = np.asarray(noisy, dtype=np.float64)
    if not isinstance(noisy, np.ndarray) or x.size == 0:
        return x
    flat = np.sort(x.ravel())[::-1]
    csum = np.cumsum(flat)
    k = np.arange(1, len(flat) + 1)
    shift = (csum - total) / k
    ok = flat - shift > 0
    c = shift[np.flatnonzero(ok)[-1]] if ok.any() else flat[0] - total
    return np.maximum(x - c, 0.0)


def _normalise(x: np.ndarray) -> np.ndarray:
    total = x.sum()
    return x / total if total > 0 else np.full(len(x), 1.0 / len(x))


def _joint(codes: np.ndarray, cols: list[int], cards: list[int]) -> np.ndarray:
    """Counts of each combination of ``cols`` (C order), as a flat array."""
    idx = np.zeros(len(codes), dtype=np.int64)
    size = 1
    for j in cols:
        idx = idx * cards[j] + codes[:, j]
        size *= cards[j]
    return np.bincount(idx, minlength=size).astype(np.float64)
