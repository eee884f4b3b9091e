"""How fast a step earns autonomy, how rarely a bad one does, and how fast a step gone bad is revoked.

Synthetic graded streams through ``model.autonomy`` (``grade``, ``GradedClaim``, ``evaluate_path``) under the
shipped CN policy reduced to its strictest step, switched on automatically (no admin in the loop), with the
policy's blind-review rate (only blind reviews count) and audit rate. Each stream is a sequence of claims
the step would settle, each wrong with the stated probability:

  (a) true wrong rate 1 %: counted (blind) reviews until the step is autonomous, median and 90th percentile;
  (b) true rate 10 %, and 5 % (the target itself, the hardest case): share of runs granted within the horizon;
  (c) 1 % until autonomy, 1 % for the next ``--settled-before-switch`` claims it would settle, then 10 %:
      audited claims after the switch until revocation; and with no switch, the share of runs revoked.

The switch-on rule depends on the counts only, so the grant figures are also computed exactly (dynamic
programming over the number wrong), free of simulation noise. Beside them, for contrast, the share of 5 % runs
a Clopper-Pearson bound read after every review would grant (valid only when read once). The last line is one
JSON object.

    .venv/bin/python benchmarks/bench_autonomy.py --runs 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from model.autonomy import AdjusterDecision, GradedClaim, Grading, Proposal, evaluate_path, grade  # noqa: E402
from model.autonomy.bounds import grant_reached  # noqa: E402
from model.decision import Policy, load_policy  # noqa: E402


def bench_policy() -> Policy:
    cn = load_policy("CN")
    return cn.model_copy(update={"threshold_path": cn.threshold_path[:1], "autonomy": "automatic"})


def gradings(policy: Policy) -> dict[tuple[bool, bool], Grading]:
    """(blind, wrong) -> a grading made by ``grade``: agreed, or the adjuster paid twice the proposal."""
    proposal = Proposal({"Bumper": 800.0}, 800.0, policy.currency)
    out = {}
    for blind in (False, True):
        for wrong in (False, True):
            final = AdjusterDecision("edit" if wrong else "approve", {"Bumper": 1600.0 if wrong else 800.0},
                                     1600.0 if wrong else 800.0)
            out[(blind, wrong)] = grade(proposal, final, policy, blind=blind)
    return out


class Streams:
    """Builds graded streams for one policy from a random generator."""

    def __init__(self, policy: Policy, rng: np.random.Generator) -> None:
        self.policy, self.rng, self.graded = policy, rng, gradings(policy)

    def shadow(self, rate: float, reviews: int) -> list[GradedClaim]:
        """Every claim the step would settle reviewed; a share of them blind."""
        blind = self.rng.random(reviews) < self.policy.blind_review_rate
        wrong = self.rng.random(reviews) < rate
        pairs = zip(blind, wrong, strict=True)
        return [GradedClaim.settled(self.graded[(bool(b), bool(w))], (True,)) for b, w in pairs]

    def audits(self, rates: npt.NDArray[np.float64]) -> list[GradedClaim]:
        """Once autonomous only audited claims reach an adjuster, blind; ``rates``: one per audit."""
        wrong = self.rng.random(len(rates)) < rates
        return [GradedClaim.settled(self.graded[(True, bool(w))], (True,), autonomous=True, audit_drawn=True)
                for w in wrong]


def counted_upto(claims: list[GradedClaim], index: int) -> int:
    """Counted (blind, sampled) gradings among ``claims[: index + 1]``."""
    return sum(1 for c in claims[: index + 1] if c.blind and c.sampled())


def grant_runs(
    streams: Streams, rate: float, reviews: int, runs: int
) -> tuple[list[int | None], list[list[GradedClaim]]]:
    """Per run, counted reviews when the step was proven (None: not within ``reviews``), and the stream."""
    out: list[int | None] = []
    kept = []
    for _ in range(runs):
        claims = streams.shadow(rate, reviews)
        at = evaluate_path(claims, streams.policy).steps[0].proven_at
        out.append(None if at is None else counted_upto(claims, at))
        kept.append(claims[: at + 1] if at is not None else [])
    return out, kept


def revoke_runs(streams: Streams, granted: list[list[GradedClaim]], before: int, after_rate: float,
                audits: int) -> list[int | None]:
    """Per granted run: audits after the switch until revocation (None: not within ``audits``; -1: before it)."""
    audit_rate = streams.policy.audit_rate
    out: list[int | None] = []
    for shadow in granted:
        if not shadow:
            continue
        settled = streams.rng.random(before) < audit_rate  # which of the next claims are audited
        calm = int(settled.sum())
        rates = np.r_[np.full(calm, 0.01), np.full(audits, after_rate)]
        claims = shadow + streams.audits(rates)
        step = evaluate_path(claims, streams.policy).steps[0]
        switch = len(shadow) + calm
        if step.revoked_at is None:
            out.append(None)
        elif step.revoked_at < switch:
            out.append(-1)
        else:
            out.append(step.revoked_at - switch + 1)
    return out


def peeking_clopper_pearson(rate: float, counted: int, runs: int, alpha: float, rng: np.random.Generator) -> float:
    """Share of runs a Clopper-Pearson bound read after every counted review would put under ``rate``."""
    pmf = np.zeros(counted + 2)
    pmf[0] = 1.0
    cdf = np.ones((counted + 1, counted + 2))
    for t in range(1, counted + 1):
        pmf = np.r_[pmf[0] * (1 - rate), pmf[1:] * (1 - rate) + pmf[:-1] * rate]
        cdf[t] = np.cumsum(pmf)
    k = np.cumsum(rng.random((runs, counted)) < rate, axis=1)
    n = np.arange(1, counted + 1)
    return float((cdf[n[None, :], k] <= alpha).any(axis=1).mean())


def exact_grants(policy: Policy, rate: float, counted: int) -> npt.NDArray[np.float64]:
    """P(granted by the n-th counted review), n = 1 .. ``counted``, for a true rate ``rate``, computed exactly."""
    target, confidence = policy.autonomy_target, policy.autonomy_confidence
    ks = np.arange(counted + 1)
    alive = np.zeros(counted + 2)  # P(k wrong so far and not yet granted)
    alive[0] = 1.0
    granted = np.zeros(counted)
    for n in range(1, counted + 1):
        alive = np.r_[alive[0] * (1 - rate), alive[1:] * (1 - rate) + alive[:-1] * rate]
        small = ks[: min(n, int(target * n) + 2) + 1]  # a grant needs fewer than target * n wrong
        reached = small[grant_reached(small, n, target, confidence)]
        if reached.size:
            granted[n - 1] = alive[: reached[-1] + 1].sum()
            alive[: reached[-1] + 1] = 0.0
    cumulative: npt.NDArray[np.float64] = np.cumsum(granted)
    return cumulative


def exact_quantile(cumulative: npt.NDArray[np.float64], q: float) -> int | None:
    hit = np.flatnonzero(cumulative >= q)
    return int(hit[0]) + 1 if hit.size else None


def quantile(values: list[int], q: float) -> float:
    return float(np.quantile(np.array(values), q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reviews", type=int, default=4000, help="horizon: reviews of would-settle claims per run")
    parser.add_argument("--settled-before-switch", type=int, default=200)
    parser.add_argument("--audits", type=int, default=2000, help="horizon after the switch, in audited claims")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    policy = bench_policy()
    streams = Streams(policy, np.random.default_rng(args.seed))
    alpha = 1 - policy.autonomy_confidence
    start = time.perf_counter()
    good, granted = grant_runs(streams, 0.01, args.reviews, args.runs)
    bad, _ = grant_runs(streams, 0.10, args.reviews, args.runs)
    edge, _ = grant_runs(streams, policy.autonomy_target, args.reviews, args.runs)
    revoked = revoke_runs(streams, granted, args.settled_before_switch, 0.10, args.audits)
    kept = revoke_runs(streams, granted, args.settled_before_switch, 0.01, args.audits)
    elapsed = time.perf_counter() - start

    counted_horizon = round(args.reviews * policy.blind_review_rate)
    to_autonomy = [c for c in good if c is not None]
    to_revoke = [a for a in revoked if a is not None and a >= 0]
    early = sum(a == -1 for a in revoked) / max(len(revoked), 1)
    false_grant = sum(c is not None for c in bad) / args.runs
    false_grant_edge = sum(c is not None for c in edge) / args.runs
    false_revocation = sum(a is not None for a in kept) / max(len(kept), 1)
    peeking = peeking_clopper_pearson(policy.autonomy_target, counted_horizon, args.runs, alpha,
                                      np.random.default_rng(args.seed + 1))
    no_error_share = sum(c == 63 for c in to_autonomy) / args.runs
    exact_good = exact_grants(policy, 0.01, counted_horizon)
    exact_bad = float(exact_grants(policy, 0.10, counted_horizon)[-1])
    exact_edge = float(exact_grants(policy, policy.autonomy_target, counted_horizon)[-1])
    exact_median, exact_p90 = exact_quantile(exact_good, 0.5), exact_quantile(exact_good, 0.9)

    print(f"policy {policy.label}, step {policy.threshold_path[0].name}: target {policy.autonomy_target:.0%} at "
          f"{policy.autonomy_confidence:.0%}, blind reviews {policy.blind_review_rate:.0%} (only they count), "
          f"audits {policy.audit_rate:.0%}")
    print(f"{args.runs} runs per row, horizon {args.reviews} reviews (~{counted_horizon} counted), seed {args.seed}, "
          f"{elapsed:.0f} s\n")
    rows = [
        ("(a) 1%: counted reviews to autonomy, median / p90",
         f"{quantile(to_autonomy, 0.5):.0f} / {quantile(to_autonomy, 0.9):.0f}"),
        ("    exact, median / p90", f"{exact_median} / {exact_p90}"),
        ("    the same in reviews (blind and not), median",
         f"{quantile(to_autonomy, 0.5) / policy.blind_review_rate:.0f}"),
        ("    granted within the horizon", f"{len(to_autonomy) / args.runs:.1%}"),
        ("    granted on the first 63 counted, no error", f"{no_error_share:.1%}"),
        ("(b) 10%: granted within the horizon (false grants)", f"{false_grant:.1%}  (exact {exact_bad:.2%})"),
        ("    5% (the target): granted within the horizon", f"{false_grant_edge:.1%}  (exact {exact_edge:.2%})"),
        ("    5%: Clopper-Pearson read after every review", f"{peeking:.1%}  (not anytime-valid)"),
        ("(c) 1% -> 10%: audits after the switch to revoke, median / p90",
         f"{quantile(to_revoke, 0.5):.0f} / {quantile(to_revoke, 0.9):.0f}"),
        ("    revoked within the horizon", f"{len(to_revoke) / max(len(revoked), 1):.1%}"),
        ("    revoked before the switch (at 1%)", f"{early:.1%}"),
        ("    1% throughout: revoked within the horizon", f"{false_revocation:.1%}"),
    ]
    for name, value in rows:
        print(f"  {name:<64} {value}")
    print("\nexact fixed-sample floor (read once): 59 counted reviews with no error; the bound here is anytime-valid")
    print(json.dumps({
        "false_grant_rate": false_grant,
        "median_claims_to_autonomy": quantile(to_autonomy, 0.5),
        "p90_claims_to_autonomy": quantile(to_autonomy, 0.9),
        "median_audits_to_revoke": quantile(to_revoke, 0.5),
        "p90_audits_to_revoke": quantile(to_revoke, 0.9),
        "median_reviews_to_autonomy": quantile(to_autonomy, 0.5) / policy.blind_review_rate,
        "granted_share_at_1pct": len(to_autonomy) / args.runs,
        "false_grant_rate_at_target": false_grant_edge,
        "exact_false_grant_rate": exact_bad,
        "exact_false_grant_rate_at_target": exact_edge,
        "exact_median_claims_to_autonomy": exact_median,
        "exact_p90_claims_to_autonomy": exact_p90,
        "peeking_clopper_pearson_at_target": peeking,
        "false_revocation_rate": false_revocation,
        "runs": args.runs,
        "horizon_reviews": args.reviews,
        "horizon_counted": counted_horizon,
        "audits_horizon": args.audits,
        "settled_before_switch": args.settled_before_switch,
        "blind_review_rate": policy.blind_review_rate,
        "audit_rate": policy.audit_rate,
        "policy": policy.label,
        "step": policy.threshold_path[0].name,
        "seed": args.seed,
    }))


if __name__ == "__main__":
    main()
