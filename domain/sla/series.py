"""Time series as read from exports, and their merge across overlapping exports.

Timestamps are Unix seconds (floats, as Prometheus sends them); values are floats that may
be NaN or ±Inf. Exports are read into ``array("d")`` (16 bytes a sample); any sequence of
floats will do.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import lt

from opsledger.domain.text import UNKEEPABLE

Labels = tuple[tuple[str, str], ...]


def unkeepable(pairs: Iterable[tuple[str, str]]) -> str | None:
    """The first name whose name or value holds a NUL or an unpaired surrogate:
    text no record can keep (domain.text)."""
    for name, value in pairs:
        if UNKEEPABLE.search(name) or UNKEEPABLE.search(value):
            return ascii(name)[1:-1]
    return None


@dataclass(frozen=True, slots=True)
class Series:
    """One series of one export, in the order the export gave its samples."""

    source: str
    metric: str | None  # the ``__name__`` label, or the caller's hint for unnamed results
    labels: Labels  # sorted, without ``__name__``
    timestamps: Sequence[float]
    values: Sequence[float]
    out_of_order: int = 0  # samples earlier than their predecessor within this export


@dataclass(frozen=True, slots=True)
class MergedSeries:
    """All samples of one series across exports: sorted, one sample per timestamp."""

    metric: str | None
    labels: Labels
    timestamps: Sequence[float]
    values: Sequence[float]
    sources: tuple[str, ...]
    duplicates: int  # samples dropped because their timestamp was already present
    conflicts: int  # timestamps whose duplicates disagreed on the value
    out_of_order: int


def describe(metric: str | None, labels: Labels) -> str:
    inner = ",".join(f'{name}="{value}"' for name, value in labels)
    return f"{metric or '<unnamed>'}{{{inner}}}"


def merge_series(series: Iterable[Series]) -> list[MergedSeries]:
    """Merge series by (metric, labels); the result does not depend on the input order.

    When duplicates disagree, a number wins over NaN and otherwise the larger value wins,
    so that reading the same exports in another order yields the same breaches.
    """
    groups: dict[tuple[str | None, Labels], list[Series]] = {}
    for one in series:
        groups.setdefault((one.metric, one.labels), []).append(one)
    merged = [_merge_group(metric, labels, parts) for (metric, labels), parts in groups.items()]
    merged.sort(key=lambda m: (m.metric or "", m.labels))
    return merged


def _strictly_increasing(timestamps: Sequence[float]) -> bool:
    return all(map(lt, timestamps, timestamps[1:]))


def _merge_group(metric: str | None, labels: Labels, parts: list[Series]) -> MergedSeries:
    sources = tuple(sorted({p.source for p in parts}))
    parts = sorted((p for p in parts if p.timestamps), key=lambda p: (p.timestamps[0], p.source))
    out_of_order = sum(p.out_of_order for p in parts)
    # The common case (one export, or exports that follow each other) needs no dict.
    disjoint = all(_strictly_increasing(p.timestamps) for p in parts) and all(
        a.timestamps[-1] < b.timestamps[0] for a, b in zip(parts, parts[1:], strict=False)
    )
    if disjoint:
        if len(parts) == 1:
            timestamps, values = parts[0].timestamps, parts[0].values
        else:
            timestamps, values = array("d"), array("d")
            for p in parts:
                timestamps.extend(p.timestamps)
                values.extend(p.values)
        return MergedSeries(metric, labels, timestamps, values, sources, 0, 0, out_of_order)

    by_time: dict[float, float] = {}
    conflicting: set[float] = set()
    total = 0
    for part in parts:
        total += len(part.timestamps)
        for t, v in zip(part.timestamps, part.values, strict=True):
            if t not in by_time:
                by_time[t] = v
                continue
            old = by_time[t]
            if old == v or (math.isnan(old) and math.isnan(v)):
                continue
            conflicting.add(t)
            if math.isnan(old) or (not math.isnan(v) and v > old):
                by_time[t] = v
    timestamps = array("d", sorted(by_time))
    values = array("d", [by_time[t] for t in timestamps])
    return MergedSeries(
        metric,
        labels,
        timestamps,
        values,
        sources,
        total - len(timestamps),
        len(conflicting),
        out_of_order,
    )


def count_nan(values: Iterable[float]) -> int:
    return sum(map(math.isnan, values))
