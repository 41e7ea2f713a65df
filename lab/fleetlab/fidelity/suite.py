"""Run scenarios on both sides at once and judge each: `same`, `known` (only documented differences remain),
`differs` (the first difference is shown) or `failed` (a side could not run it; its error is shown).

    outcomes = run_suite({"sandbox": sb, "local": lc}, SCENARIOS, say=print)
    print(render(outcomes))
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fleetlab.fidelity.harness import Case, Side
from fleetlab.fidelity.known import KNOWN
from fleetlab.fidelity.normalize import first_difference, normalize

Observation = dict[str, Any]
Run = Callable[[Case], Observation]


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str
    """kubectl, client, flux or helm."""
    run: Run
    doc: str


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, group: str) -> Callable[[Run], Run]:
    def register(fn: Run) -> Run:
        if name in REGISTRY:
            raise ValueError(f"scenario {name} defined twice")
        REGISTRY[name] = Scenario(name, group, fn, (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "")
        return fn
    return register


@dataclass
class Outcome:
    scenario: str
    group: str
    verdict: str
    difference: str | None = None
    reasons: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    """Normalised observations per side (or the side's error)."""

    def row(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "group": self.group, "verdict": self.verdict,
                "first difference": self.difference or "", "seconds": max(self.seconds.values(), default=0.0)}


def _one(side: Side, sc: Scenario) -> tuple[Observation | None, str | None, float]:
    started = time.monotonic()
    try:
        case = side.case(sc.name)
        observed = normalize(sc.run(case), side.substitutions())
        return observed, None, time.monotonic() - started
    except Exception as e:  # noqa: BLE001 - a scenario's failure is its verdict, with the side's error
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        return None, detail[:600], time.monotonic() - started


def judge(name: str, group: str, observed: Mapping[str, Observation | None], errors: Mapping[str, str | None]
          ) -> Outcome:
    """The verdict on one scenario from both sides' normalised observations."""
    failed = {t: e for t, e in errors.items() if e}
    if failed:
        return Outcome(name, group, "failed", "; ".join(f"{t}: {e}" for t, e in failed.items()))
    if len(observed) == 1:
        return Outcome(name, group, "ran", "one side only")
    a, b = dict(observed["sandbox"] or {}), dict(observed["local"] or {})
    known = {key: reason for (sc, key), reason in KNOWN.items() if sc == name}
    differing = [k for k in dict.fromkeys([*a, *b]) if a.get(k, "<missing>") != b.get(k, "<missing>")]
    if not differing:
        return Outcome(name, group, "same")
    unexplained = [k for k in differing if k not in known]
    if not unexplained:
        return Outcome(name, group, "known", first_difference({k: a.get(k) for k in differing},
                                                              {k: b.get(k) for k in differing}),
                       [known[k] for k in differing])
    key = unexplained[0]
    return Outcome(name, group, "differs", first_difference({key: a.get(key)}, {key: b.get(key)}))


def run_suite(sides: Mapping[str, Side], scenarios: Iterable[Scenario], *, say: Callable[[str], None] = print
              ) -> list[Outcome]:
    """Each scenario on both sides at the same time (one thread a side); outcomes in scenario order."""
    outcomes = []
    with ThreadPoolExecutor(len(sides), thread_name_prefix="fidelity") as pool:
        for sc in scenarios:
            futures = {t: pool.submit(_one, side, sc) for t, side in sides.items()}
            results = {t: f.result() for t, f in futures.items()}
            outcome = judge(sc.name, sc.group, {t: r[0] for t, r in results.items()},
                            {t: r[1] for t, r in results.items()})
            outcome.seconds = {t: round(r[2], 1) for t, r in results.items()}
            outcome.observed = {t: r[0] if r[0] is not None else {"error": r[1]} for t, r in results.items()}
            say(f"{_MARK[outcome.verdict]} {sc.name:<34} {outcome.verdict:<8} "
                f"{max(outcome.seconds.values()):5.1f} s  {outcome.difference or ''}"[:220])
            outcomes.append(outcome)
    return outcomes


_MARK = {"same": "✔", "known": "≈", "differs": "✗", "failed": "!", "ran": "·"}


def render(outcomes: list[Outcome]) -> str:
    """The table bench/fidelity.py prints: scenario, verdict and the first difference, then the totals."""
    width = max([len(o.scenario) for o in outcomes] + [8])
    lines = [f"{'SCENARIO':<{width}}  {'GROUP':<7}  {'VERDICT':<7}  FIRST DIFFERENCE"]
    for o in outcomes:
        detail = o.difference or ""
        if o.verdict == "known":
            detail = f"known: {'; '.join(o.reasons)}"
        lines.append(f"{o.scenario:<{width}}  {o.group:<7}  {o.verdict:<7}  {detail}"[:240])
    counts = {v: sum(1 for o in outcomes if o.verdict == v) for v in _MARK}
    lines.append(f"{len(outcomes)} scenarios: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)
