"""Off-policy estimators of a candidate policy's mean reward per decision from logged
decisions (contextual bandit feedback): inverse propensity scoring (IPS), self-normalised IPS
(SNIPS) and doubly robust (DR), each with a normal-approximation confidence interval, and the
diagnostics that say whether to believe them: the effective sample size of the weights, the
smallest logged propensity, and the support the log gives the candidate's choices.

Each logged step is a ``Step``: the logging policy's probability of the action it took (and,
where it was logged, of every candidate), the reward observed for that action, the
candidate policy's probabilities for every candidate, and a reward model's prediction for
every candidate (for DR; any model: DR is unbiased when either the propensities or the
model are right, and has less variance than IPS when the model is good).

References: Horvitz & Thompson (1952); Swaminathan & Joachims, "The self-normalized
estimator for counterfactual learning" (NeurIPS 2015); Dudík, Langford & Li, "Doubly robust
policy evaluation and learning" (ICML 2011).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
MIN_ESS = 500.0
"""Below this effective sample size the intervals are said to be unreliable: over 30 seeds of
S2 they held the truth at 93-100 % from about 500 up, at 77-87 % at 321 (docs/benchmarks.md,
"Offline policy evaluation")."""


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


def _mean_interval(terms: Sequence[float]) -> Estimate:
    n = len(terms)
    mean = math.fsum(terms) / n
    var = math.fsum((t - mean) ** 2 for t in terms) / (n - 1) if n > 1 else 0.0
    se = math.sqrt(var / n)
    return Estimate(mean, mean - Z95 * se, mean + Z95 * se, se)


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
    for s in steps:
        if not 0.0 < s.propensity <= 1.0:
            raise ValueError(f"a logged propensity must be in (0, 1], got {s.propensity}")
        w = s.target[s.chosen] / s.propensity
        weights.append(w)
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
    ips = _mean_interval(ips_terms)
    if total_w > 0:
        snips_value = math.fsum(ips_terms) / total_w
        mean_w = total_w / n
        # the delta method: the ratio's variance from its linearisation
        resid = [
            (w * s.reward - snips_value * w) / mean_w for w, s in zip(weights, steps, strict=True)
        ]
        var = math.fsum(r * r for r in resid) / (n * (n - 1)) if n > 1 else 0.0
        se = math.sqrt(var)
        snips = Estimate(snips_value, snips_value - Z95 * se, snips_value + Z95 * se, se)
    else:
        snips = Estimate(0.0, 0.0, 0.0, 0.0)
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
        dr=_mean_interval(dr_terms),
        logged=math.fsum(s.reward for s in steps) / n,
        effective_sample_size=ess,
        min_propensity=min_p,
        max_weight=max(weights),
        unsupported_mass=unsupported / n,
        unsupported_decisions=unsupported_n / n,
        warnings=tuple(warnings),
    )
