"""A PromQL subset, evaluated over series that are functions of time (see fleetlab.metrics.usage).

Enough for what the tuning runbook and krr send: selectors with `=`, `!=`, `=~`, `!~`; range
selectors; subqueries `expr[14d:30s]`; rate, irate, increase, max/min/avg/sum/count/quantile/last
_over_time; sum/max/min/avg/count aggregations with `by`/`without`; arithmetic with scalars and
between vectors with the same labels. Evaluation is vectorised with numpy over the query's
timestamps; Prometheus' rate extrapolation is reproduced.

    result = evaluate(parse('max(rate(container_cpu_usage_seconds_total{pod=~"kustomize.*"}[5m])) by (pod)'),
                      source, np.array([t]))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

SCRAPE = 30.0
LOOKBACK = 300.0

Labels = dict[str, str]


class PromQLError(ValueError):
    """A query the subset cannot parse or evaluate; the API answers 400 bad_data."""


@dataclass(frozen=True)
class Series:
    labels: Labels
    sample: Callable[[np.ndarray], np.ndarray]
    """Values at scrape timestamps (multiples of 30 s)."""


class Source(Protocol):
    def select(self, name: str | None, matchers: Sequence[Matcher]) -> list[Series]: ...


def scrape_interval(source: Source) -> float:
    """The source's sampling grid in seconds (the sandbox's model is sampled every 30 s; a scraped store says its
    own interval)."""
    return float(getattr(source, "scrape_interval", SCRAPE))


# --- AST -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def __call__(self, labels: Labels) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        full = re.fullmatch(self.value, v) is not None
        return full if self.op == "=~" else not full


@dataclass(frozen=True)
class Selector:
    name: str | None
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class Ranged:
    inner: Any
    range: float
    step: float | None  # None: a range selector; a number: a subquery step
    subquery: bool = False


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: Any
    by: tuple[str, ...] | None = None
    without: tuple[str, ...] | None = None
    param: Any = None


@dataclass(frozen=True)
class Binary:
    op: str
    left: Any
    right: Any


# --- parser --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<dur>(?:\d+(?:ms|[smhdwy]))+)(?![a-zA-Z_\d])|(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![a-zA-Z_\d])
    |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<id>[a-zA-Z_][a-zA-Z0-9_:]*)|(?P<op>=~|!~|!=|==|[-+*/{}()\[\],:=]))""",
                    re.X)
_AGGS = {"sum", "max", "min", "avg", "count", "quantile"}
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration(text: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+)(ms|[smhdwy])", text):
        total += int(amount) * _UNITS[unit]
    return total


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    pos: int = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise PromQLError(f"unexpected {tok[1] or 'end of input'!r}, expected {value!r}")
        self.pos += 1
        return tok

    def expr(self, level: int = 0) -> Any:
        ops = [("+", "-"), ("*", "/")]
        if level == len(ops):
            return self.postfix(self.term())
        left = self.expr(level + 1)
        while self.peek()[1] in ops[level]:
            op = self.take()[1]
            left = Binary(op, left, self.expr(level + 1))
        return left

    def postfix(self, node: Any) -> Any:
        if self.peek()[1] == "[":
            self.take("[")
            rng = duration(self.take()[1])
            if self.peek()[1] == ":":
                self.take(":")
                step = duration(self.take()[1]) if self.peek()[1] != "]" else SCRAPE
                self.take("]")
                return Ranged(node, rng, step, subquery=True)
            self.take("]")
            if not isinstance(node, Selector):
                raise PromQLError("ranges only allowed for vector selectors")
            return Ranged(node, rng, None)
        return node

    def labels(self) -> tuple[str, ...]:
        self.take("(")
        out = []
        while self.peek()[1] != ")":
            out.append(self.take()[1])
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return tuple(out)

    def term(self) -> Any:
        kind, value = self.peek()
        if kind == "num":
            self.take()
            return Number(float(value))
        if value == "(":
            self.take("(")
            node = self.expr()
            self.take(")")
            return node
        if value == "-":
            self.take()
            return Binary("*", Number(-1), self.term())
        if kind == "id" and value in _AGGS and self.peek(1)[1] in ("(", "by", "without"):
            self.take()
            by = without = None
            if self.peek()[1] in ("by", "without"):
                which = self.take()[1]
                by, without = (self.labels(), None) if which == "by" else (None, self.labels())
            self.take("(")
            param = None
            if value == "quantile":
                param = self.expr()
                self.take(",")
            inner = self.expr()
            self.take(")")
            if self.peek()[1] in ("by", "without"):
                which = self.take()[1]
                by, without = (self.labels(), None) if which == "by" else (None, self.labels())
            return Aggregate(value, inner, by, without, param)
        if kind == "id" and self.peek(1)[1] == "(":
            self.take()
            self.take("(")
            args = []
            while self.peek()[1] != ")":
                args.append(self.expr())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take(")")
            return Call(value, tuple(args))
        if kind == "id" or value == "{":
            name = self.take()[1] if kind == "id" else None
            matchers: list[Matcher] = []
            if self.peek()[1] == "{":
                self.take("{")
                while self.peek()[1] != "}":
                    label = self.take()[1]
                    op = self.take()[1]
                    text = self.take()
                    if text[0] != "str" or op not in ("=", "!=", "=~", "!~"):
                        raise PromQLError(f"bad matcher for label {label!r}")
                    matchers.append(Matcher(label, op, bytes(text[1][1:-1], "utf-8").decode("unicode_escape")))
                    if self.peek()[1] == ",":
                        self.take(",")
                self.take("}")
            if name is None and not matchers:
                raise PromQLError("vector selector must contain at least one non-empty matcher")
            return Selector(name, tuple(matchers))
        raise PromQLError(f"unexpected {value or 'end of input'!r}")


def parse(text: str) -> Any:
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise PromQLError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup or "op"
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    p = _Parser(tokens)
    node = p.expr()
    if p.peek()[0] != "end":
        raise PromQLError(f"unexpected {p.peek()[1]!r} after the expression")
    return node


# --- evaluation ----------------------------------------------------------------------------------


@dataclass
class Result:
    labels: Labels
    values: np.ndarray  # aligned to the evaluation timestamps; NaN where absent
    scalar: bool = False


def _drop_name(labels: Labels) -> Labels:
    return {k: v for k, v in labels.items() if k != "__name__"}


def _instant(series: Series, ts: np.ndarray, scrape: float = SCRAPE) -> np.ndarray:
    return series.sample(np.floor(ts / scrape) * scrape)


@dataclass
class _Windows:
    """Values of one series on a regular grid, and for each evaluation time the [lo, hi] window."""

    labels: Labels
    grid: np.ndarray
    values: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rng: float
    ts: np.ndarray


def _windows(node: Ranged, source: Source, ts: np.ndarray) -> list[_Windows]:
    step = node.step if node.subquery else scrape_interval(source)
    assert step
    first = np.floor((ts.min() - node.range) / step) * step + step
    grid = np.arange(first, ts.max() + step / 2, step)
    lo = np.searchsorted(grid, ts - node.range, side="right")
    hi = np.searchsorted(grid, ts, side="right") - 1
    out = []
    if node.subquery:
        for r in evaluate(node.inner, source, grid):
            out.append(_Windows(r.labels, grid, r.values, lo, hi, node.range, ts))
    else:
        assert isinstance(node.inner, Selector)
        for s in source.select(node.inner.name, node.inner.matchers):
            out.append(_Windows(s.labels, grid, s.sample(grid), lo, hi, node.range, ts))
    return out


def _present(w: _Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per window: the first and last grid index holding a sample, how many there are, and the values with counter
    resets undone (a scraped process that restarted starts its counters again at zero)."""
    has = ~np.isnan(w.values)
    last = len(w.grid) - 1
    index = np.arange(len(w.grid))
    next_valid = np.minimum.accumulate(np.where(has, index, last + 1)[::-1])[::-1]
    prev_valid = np.maximum.accumulate(np.where(has, index, -1))
    lo, hi = np.clip(w.lo, 0, last), np.clip(w.hi, 0, last)
    first, final = next_valid[lo], prev_valid[hi]
    counts = np.concatenate([[0], np.cumsum(has)])
    n = np.where(w.hi >= w.lo, counts[np.clip(w.hi + 1, 0, last + 1)] - counts[np.clip(w.lo, 0, last + 1)], 0)
    filled = np.where(has, w.values, np.nan)
    seen = filled[has]
    drops = np.concatenate([[0.0], np.where(np.diff(seen) < 0, seen[:-1], 0.0)]) if seen.size else seen
    corrected = filled.copy()
    corrected[has] = seen + np.cumsum(drops)
    return first, final, n, corrected


def _reduce(w: _Windows, func: str, q: float | None = None) -> np.ndarray:
    n = w.hi - w.lo + 1
    out = np.full(w.lo.shape, np.nan)
    valid = n >= (2 if func in ("rate", "increase", "irate") else 1)
    if func in ("rate", "increase"):
        # Prometheus' extrapolatedRate over the samples present: extend the sampled interval towards the edges
        first_i, last_i, n, values = _present(w)
        valid = (n >= 2) & (last_i > first_i)
        last = len(w.grid) - 1
        first_t, last_t = w.grid[np.clip(first_i, 0, last)], w.grid[np.clip(last_i, 0, last)]
        first_v, last_v = values[np.clip(first_i, 0, last)], values[np.clip(last_i, 0, last)]
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = last_v - first_v
            sampled = last_t - first_t
            average = sampled / np.maximum(n - 1, 1)
            threshold = average * 1.1
            to_start = first_t - (w.ts - w.rng)
            to_end = w.ts - last_t
            to_zero = np.where((delta > 0) & (first_v >= 0), sampled * first_v / np.where(delta > 0, delta, 1), np.inf)
            to_start = np.minimum(to_start, to_zero)
            extend = sampled + np.where(to_start < threshold, to_start, average / 2) \
                + np.where(to_end < threshold, to_end, average / 2)
            result = delta * extend / np.where(sampled > 0, sampled, np.nan)
            if func == "rate":
                result = result / w.rng
        out[valid] = result[valid]
        return out
    if func == "irate":
        last = w.values[np.clip(w.hi, 0, None)]
        prev = w.values[np.clip(w.hi - 1, 0, None)]
        step = float(w.grid[1] - w.grid[0]) if len(w.grid) > 1 else np.inf  # one sample: no rate (0)
        out[valid] = ((last - prev) / step)[valid]
        return out
    # *_over_time: equal-length windows on a regular grid, so a sliding view reduces them at once
    width = int(np.max(n)) if n.size else 0
    if width <= 0:
        return out
    padded = np.concatenate([np.full(width, np.nan), w.values])
    view = np.lib.stride_tricks.sliding_window_view(padded, width)  # view[i] ends at grid index i - 1
    windows = view[np.clip(w.hi + 1, 0, len(view) - 1)]
    mask = np.arange(width)[None, :] >= (width - n)[:, None]
    windows = np.where(mask, windows, np.nan)
    with np.errstate(all="ignore"):
        reducers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "max_over_time": lambda a: np.nanmax(a, axis=1), "min_over_time": lambda a: np.nanmin(a, axis=1),
            "avg_over_time": lambda a: np.nanmean(a, axis=1), "sum_over_time": lambda a: np.nansum(a, axis=1),
            "count_over_time": lambda a: np.sum(~np.isnan(a), axis=1).astype(float),
            "last_over_time": lambda a: a[:, -1],
            "quantile_over_time": lambda a: np.nanquantile(a, q if q is not None else 0.5, axis=1),
        }
        if func not in reducers:
            raise PromQLError(f"unknown function {func!r}")
        values = reducers[func](windows)
    has = np.sum(~np.isnan(windows), axis=1) > 0
    out[has] = values[has]
    return out


def evaluate(node: Any, source: Source, ts: np.ndarray) -> list[Result]:
    if isinstance(node, Number):
        return [Result({}, np.full(ts.shape, node.value), scalar=True)]
    if isinstance(node, Selector):
        return [Result(s.labels, _instant(s, ts, scrape_interval(source))) for s in source.select(node.name, node.matchers)]
    if isinstance(node, Ranged):
        raise PromQLError("a range vector must be the argument of a function such as rate or max_over_time")
    if isinstance(node, Call):
        func, args = node.func, node.args
        if func in ("rate", "increase", "irate") or func.endswith("_over_time"):
            q = None
            if func == "quantile_over_time":
                if len(args) != 2 or not isinstance(args[0], Number):
                    raise PromQLError("quantile_over_time(q, range) needs a number and a range")
                q, args = args[0].value, args[1:]
            if len(args) != 1 or not isinstance(args[0], Ranged):
                raise PromQLError(f"{func} expects a range vector")
            return [Result(_drop_name(w.labels), _reduce(w, func, q)) for w in _windows(args[0], source, ts)]
        if func in ("abs", "ceil", "floor"):
            fn = {"abs": np.abs, "ceil": np.ceil, "floor": np.floor}[func]
            return [Result(_drop_name(r.labels), fn(r.values)) for r in evaluate(args[0], source, ts)]
        if func == "vector" and args and isinstance(args[0], Number):
            return [Result({}, np.full(ts.shape, args[0].value))]
        raise PromQLError(f"unknown function {func!r}")
    if isinstance(node, Aggregate):
        groups: dict[tuple[tuple[str, str], ...], list[np.ndarray]] = {}
        for r in evaluate(node.expr, source, ts):
            labels = _drop_name(r.labels)
            if node.by is not None:
                key = tuple(sorted((k, labels[k]) for k in node.by if k in labels))
            elif node.without is not None:
                key = tuple(sorted((k, v) for k, v in labels.items() if k not in node.without))
            else:
                key = ()
            groups.setdefault(key, []).append(r.values)
        out = []
        with np.errstate(all="ignore"):
            for key, arrays in groups.items():
                stack = np.vstack(arrays)
                present = np.sum(~np.isnan(stack), axis=0)
                if node.op == "quantile":
                    q = node.param.value if isinstance(node.param, Number) else 0.5
                    values = np.nanquantile(stack, q, axis=0)
                else:
                    values = _AGGREGATE.get(node.op, _count)(stack, axis=0)
                values = np.where(present > 0, values, np.nan)
                out.append(Result(dict(key), values))
        return out
    if isinstance(node, Binary):
        left, right = evaluate(node.left, source, ts), evaluate(node.right, source, ts)
        op = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[node.op]
        with np.errstate(all="ignore"):
            if len(right) == 1 and right[0].scalar:
                return [Result(_drop_name(r.labels), op(r.values, right[0].values), r.scalar) for r in left]
            if len(left) == 1 and left[0].scalar:
                return [Result(_drop_name(r.labels), op(left[0].values, r.values)) for r in right]
            index = {tuple(sorted(_drop_name(r.labels).items())): r for r in right}
            out = []
            for r in left:
                other = index.get(tuple(sorted(_drop_name(r.labels).items())))
                if other is not None:
                    out.append(Result(_drop_name(r.labels), op(r.values, other.values)))
            return out
    raise PromQLError(f"cannot evaluate {type(node).__name__}")


def fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) or abs(value) >= 1e15 else str(int(value))


def _count(stack: np.ndarray, axis: int) -> np.ndarray:
    return np.sum(~np.isnan(stack), axis=axis).astype(float)


_AGGREGATE: dict[str, Callable[..., np.ndarray]] = {"sum": np.nansum, "max": np.nanmax, "min": np.nanmin,
                                                    "avg": np.nanmean, "count": _count}
