"""How the kernel shows the numbers of a plan, by the rules the CLI, the charts and the panel use
(src/core/format.ts, through the generated constants): σ with four decimals, ratios as
percentages with two, perplexity with two decimals and accuracies with three, relative changes
as signed percentages with one, '-' for none."""

from __future__ import annotations

import math
from typing import Any

from .contract import (
    CHANGE_DECIMALS,
    NOT_APPLICABLE,
    PERCENT_DECIMALS,
    PERPLEXITY_DECIMALS,
    SCORE_DECIMALS,
    SIGMA_DECIMALS,
    STUDY_COMPARED,
)


def format_sigma(sigma: float | None) -> str:
    return NOT_APPLICABLE if sigma is None else f"{sigma:.{SIGMA_DECIMALS}f}"


def format_ratio(ratio: float | None) -> str:
    return NOT_APPLICABLE if ratio is None else f"{100 * ratio:.{PERCENT_DECIMALS}f}%"


def format_metric(metric: str, value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    decimals = PERPLEXITY_DECIMALS if metric == "perplexity" else SCORE_DECIMALS
    return f"{value:.{decimals}f}"


def format_change(change: float | None) -> str:
    """A relative change (−0.018) as "−1.8%" (a minus sign, not a hyphen), "+0.6%"."""
    if change is None:
        return NOT_APPLICABLE
    percent = f"{100 * abs(change):.{CHANGE_DECIMALS}f}%"
    return f"−{percent}" if change < 0 else f"+{percent}"


# Table columns whose numbers follow a rule of their own; the tables' metric columns end in the
# metric's name ("expert perplexity").
_COLUMN_RULES = {
    "sigma": format_sigma,
    "ratio": format_ratio,
    # a study's greedy texts: shares in [0, 1], as the CLI's study table writes them
    "greedy rep3": lambda v: NOT_APPLICABLE if v is None else f"{v:.{SCORE_DECIMALS}f}",
    "greedy match": lambda v: NOT_APPLICABLE if v is None else f"{v:.{SCORE_DECIMALS}f}",
}
_METRICS = ("perplexity", "accuracy_norm", "accuracy")
# a study expert's change against a baseline at its counts ("expert perplexity vs general")
_CHANGE_SUFFIXES = tuple(f" vs {method}" for method in STUDY_COMPARED)


def format_cell(column: str, value: Any) -> str:
    """A table cell as the CLI's tables write it."""
    if column in _COLUMN_RULES:
        return _COLUMN_RULES[column](value)
    if column.endswith(_CHANGE_SUFFIXES):
        return format_change(value)
    if value is None:
        return ""
    if isinstance(value, float):
        metric = next((m for m in _METRICS if column.endswith(m)), None)
        return format_metric(metric, value) if metric else f"{value:.4g}"
    return str(value)
