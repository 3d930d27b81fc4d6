"""Off-policy estimators of a candidate policy's mean reward per decision from logged
decisions (contextual bandit feedback): inverse propensity scoring (IPS), self-normalised IPS
(SNIPS) and doubly robust (DR), each with a 95 % confidence interval, and the
diagnostics that say whether to believe them: the effective sample size of the weights, the
smallest logged propensity, and the support the log gives the candidate's choices.

Each logged step is a ``Step``: the logging policy's probability of the action it took (and,
where it was logged, of every candidate), the reward observed for that action, the
candidate policy's probabilities for every candidate, and a reward model's prediction for
every candidate (for DR; any model: DR is unbiased when either the propensities or the
model are right, and has less variance than IPS when the model is good).

The intervals. A normal interval (the mean ± 1.96 standard errors) assumes the sample shows
the tail of the weights; with a small exploration floor it does not: a few decisions carry
weights of hundreds, most seeds' samples hold none of the rarest, and the interval is too
narrow (over 30 seeds of S2 under the 1 % floor it held the truth at 83-87 %). So each
interval is the normal one widened by the range term of Bernstein's inequality,
``2 b ln(2/δ) / (3 n)``, where ``b`` is the largest value a term could have taken: the
largest weight the candidate could have received at any decision (from every candidate's
logged probability where the log has them, else the largest seen), times the reward's range.
The term fades as the decisions outnumber the largest weight; under the 1 % floor it about
doubles the interval, which then held the truth in every seed (docs/benchmarks.md, "Offline
policy evaluation").

References: Horvitz & Thompson (1952); Swaminathan & Joachims, "The self-normalized
estimator for counterfactual learning" (NeurIPS 2015); Dudík, Langford & Li, "Doubly robust
policy evaluation and learning" (ICML 2011).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
LOG_2_OVER_DELTA = math.log(2 / 0.05)  # Bernstein's range term, two-sided at 95 %
MIN_ESS = 500.0
"""Below this effective sample size the estimates are said to be unreliable: over 30 seeds of
S2 the normal intervals held the truth at 93-100 % from about 500 up, at 77-87 % at 321; the
widened ones hold it there too, but twice as wide (docs/benchmarks.md, "Offline policy
evaluation")."""


@dataclass(frozen=True, slots=True)
class Step:
    """One logged decision, as the estimators need it."""

    actions: tuple[str, ...]  # the candidates
    chosen: int  # index into ``actions`` of the action the logging policy took
    propensity: float  # the logging policy's probability of that action
    reward: float  # what was observed for it
    target: tuple[float, ...]  # the candidate policy's probabilities, per action
    predicted: tuple[float, ...]  # the reward model's prediction, per action
    # the logging policy's probability of every action, where the log has it (else None)
    logged: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """An estimate of the mean reward per decision, with its 95 % interval."""

    value: float
    low: float
    high: float
    std_error: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Every estimator's answer and the diagnostics."""

    decisions: int
    ips: Estimate
    snips: Estimate
    dr: Estimate
    logged: float  # the logging policy's own mean reward (on-policy, observed)
    effective_sample_size: float  # (sum of weights)^2 / sum of squared weights
    min_propensity: float  # the smallest logged probability of an action taken
    max_weight: float
    # the share of the candidate's probability that went to actions the logging policy gave
    # no probability (where the log has every action's), and the share of decisions where
    # that happened: the part of the candidate no estimator can see
    unsupported_mass: float
    unsupported_decisions: float
    warnings: tuple[str, ...]


def _interval(value: float, se: float, span: float, n: int) -> Estimate:
    """``value`` ± (1.96 ``se`` + Bernstein's range term for terms spanning ``span``)."""
    half = Z95 * se + 2.0 * span * LOG_2_OVER_DELTA / (3.0 * n)
    return Estimate(value, value - half, value + half, se)


def _mean_interval(terms: Sequence[float], span: float) -> Estimate:
    n = len(terms)
    mean = math.fsum(terms) / n
    var = math.fsum((t - mean) ** 2 for t in terms) / (n - 1) if n > 1 else 0.0
    return _interval(mean, math.sqrt(var / n), span, n)


def _weight_bound(s: Step, w: float) -> float:
    """The largest weight the candidate could have received at ``s``: over the actions it
    gives probability that the log gave some too (the rest is the unsupported share, said
    apart); the weight received where the log kept only the taken action's probability."""
    if s.logged is None:
        return w
    return max((p / mu for p, mu in zip(s.target, s.logged, strict=True) if mu > 0.0), default=w)


def evaluate(steps: Sequence[Step], min_ess: float = MIN_ESS) -> Evaluation:
    """IPS, SNIPS and DR estimates of the candidate's mean reward per decision over
    ``steps``, with their intervals and diagnostics; ValueError without a step."""
    if not steps:
        raise ValueError("no logged decision to evaluate on")
    weights: list[float] = []
    ips_terms: list[float] = []
    dr_terms: list[float] = []
    unsupported = 0.0
    unsupported_n = 0
    bound = 0.0  # the largest weight any decision could have carried
    for s in steps:
        if not 0.0 < s.propensity <= 1.0:
            raise ValueError(f"a logged propensity must be in (0, 1], got {s.propensity}")
        w = s.target[s.chosen] / s.propensity
        weights.append(w)
        bound = max(bound, w, _weight_bound(s, w))
        ips_terms.append(w * s.reward)
        direct = math.fsum(p * q for p, q in zip(s.target, s.predicted, strict=True))
        dr_terms.append(direct + w * (s.reward - s.predicted[s.chosen]))
        if s.logged is not None:
            lost = math.fsum(
                p for p, mu in zip(s.target, s.logged, strict=True) if mu <= 0.0 and p > 0.0
            )
            if lost > 1e-12:
                unsupported += lost
                unsupported_n += 1
    n = len(steps)
    total_w = math.fsum(weights)
    sq_w = math.fsum(w * w for w in weights)
    ess = total_w * total_w / sq_w if sq_w > 0 else 0.0
    # a reward is a conversion, 0 or 1 (less lambda x the price under the value goal)
    reward_span = max(1.0, max(s.reward for s in steps) - min(s.reward for s in steps))
    ips = _mean_interval(ips_terms, bound * reward_span)
    if total_w > 0:
        snips_value = math.fsum(ips_terms) / total_w
        mean_w = total_w / n
        # the delta method: the ratio's variance from its linearisation
        resid = [
            (w * s.reward - snips_value * w) / mean_w for w, s in zip(weights, steps, strict=True)
        ]
        var = math.fsum(r * r for r in resid) / (n * (n - 1)) if n > 1 else 0.0
        snips = _interval(snips_value, math.sqrt(var), bound * reward_span / mean_w, n)
    else:  # the candidate took nothing the log took: the log says nothing of its value
        rewards = [s.reward for s in steps]
        snips = Estimate(0.0, min(0.0, *rewards), max(1.0, *rewards), 0.0)
    warnings: list[str] = []
    if ess < min_ess:
        warnings.append(
            f"effective sample size {ess:.0f} (of {n} decisions) is below {min_ess:.0f}: the "
            "candidate chooses what the logging policy rarely did; the intervals are unreliable"
        )
    if unsupported_n:
        warnings.append(
            f"{unsupported_n / n:.1%} of decisions give {unsupported / n:.1%} of the "
            "candidate's probability to routes the logging policy never tried there: no "
            "estimator sees that part (more exploration in the logging policy would)"
        )
    min_p = min(s.propensity for s in steps)
    return Evaluation(
        decisions=n,
        ips=ips,
        snips=snips,
        # (a DR term is the model's value plus a weight times a residual: its span, the
        # model's range and the weight's)
        dr=_mean_interval(dr_terms, reward_span * (1.0 + bound)),
        logged=math.fsum(s.reward for s in steps) / n,
        effective_sample_size=ess,
        min_propensity=min_p,
        max_weight=max(weights),
        unsupported_mass=unsupported / n,
        unsupported_decisions=unsupported_n / n,
        warnings=tuple(warnings),
    )
