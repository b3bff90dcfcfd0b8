"""Table rows of what the sidecar answers (runs, sweeps, ablations, studies), and pandas
DataFrames of them when pandas is installed."""

from __future__ import annotations

import json
from pathlib import Path

from .contract import (
    ABLATION_GENERAL_LABEL,
    DEFAULT_PRUNE_COMPENSATION,
    REMOVED_UNITS,
    STUDY_COMPARED,
)
from .errors import CusprunError


def runs_rows(runs: list) -> list[dict]:
    return [
        {
            "run": r["id"],
            "model": Path(r["model"]["file"]).parent.name,
            "family": r["model"].get("family", ""),
            "dimensions": ", ".join(r["corpus"].get("dimensions", [])),
            "scored": f"{r['scored']}/{r['documents']}",
            "last job": _last_job(r.get("lastJob")),
            # the later of run.json's time and its latest job's, as the panel shows it
            "updated": max(r["updated"], (r.get("lastJob") or {}).get("at", "")),
        }
        for r in runs
    ]


def _last_job(job: dict | None) -> str:
    """The latest job, whoever ran it: "prune done", "sweep done (CLI)"."""
    if not job:
        return ""
    return f"{job['type']} {job['state']}" + (" (CLI)" if job.get("origin") == "cli" else "")


def _metric_columns(metrics: list[dict]) -> dict:
    return {f"{m['evalSet']} {m['metric']}": m["value"] for m in metrics}


def compensation_note(record: dict) -> str:
    """What became of a sweep's or ablation's removed units, as `cusprun sweep` and `cusprun
    ablate` print it below their table."""
    c = record.get("compensation")
    if not c:
        default = REMOVED_UNITS[DEFAULT_PRUNE_COMPENSATION]
        return f"removed units {REMOVED_UNITS['none']} (cusprun prune's default: {default})"
    how = (
        REMOVED_UNITS["bias"]
        if c.get("ridge") is None
        else f"{REMOVED_UNITS['regression']} from the kept channels (ρ {c['ridge']})"
    )
    return f"removed units {how}, fitted on {c['tokens']} tokens of {', '.join(c['dimensions'])}"


def sweep_rows(record: dict) -> list[dict]:
    rows = [{"method": "dense", "sigma": None, "ratio": 0.0, **_metric_columns(record["dense"])}]
    for p in record["points"]:
        rows.append(
            {
                "method": p["method"],
                "sigma": p["sigma"],
                "ratio": p["ratio"],
                **_metric_columns(p["metrics"]),
            }
        )
    return rows


def ablation_rows(record: dict) -> list[dict]:
    """The dense model, each dimension subset, then (when the record has it) general calibration
    at the all-dimension expert's counts, labelled as the CLI's table labels it."""
    rows = [
        {"dimensions": "dense", "sigma": None, "ratio": 0.0, **_metric_columns(record["dense"])}
    ]
    shown = [("+".join(r["dimensions"]), r) for r in record["rows"]]
    if record.get("general"):
        general = record["general"]
        label = ABLATION_GENERAL_LABEL.format(n=len(general["dimensions"]))
        shown.append((label, general))
    for label, r in shown:
        rows.append(
            {
                "dimensions": label,
                "sigma": r.get("sigma"),
                "ratio": r.get("ratio"),
                **_metric_columns(r["metrics"]),
                **({"unreachable": r["unreachable"]} if r.get("unreachable") else {}),
            }
        )
    return rows


def _greedy(generation: dict | None) -> dict:
    """A row's greedy texts as columns: repetition, exact match when given, and the first text
    quoted (newlines escaped, so that it stays one table line)."""
    if not generation:
        return {}
    samples = generation["samples"]
    return {
        "greedy rep3": generation["repetitionRate"],
        **({"greedy match": generation["exactMatch"]} if "exactMatch" in generation else {}),
        **({"greedy text": json.dumps(samples[0]["text"], ensure_ascii=False)} if samples else {}),
    }


def _versus(record: dict, row: dict | None) -> dict:
    """Per baseline the study compared its experts with, the row's change against it at the same
    counts on the study's first set ("expert perplexity vs general"); None where there is none."""
    if not record["dense"]:
        return {}
    first = record["dense"][0]
    versus = (row or {}).get("versus") or {}
    return {
        f"{first['evalSet']} {first['metric']} vs {method}": versus.get(method)
        for method in STUDY_COMPARED
        if method in record.get("methods", [])
    }


def study_rows(record: dict) -> list[dict]:
    """The dense model, then one row per evaluated model (seed, ratio, compensation, variant),
    each expert with its change against the baselines at its counts."""
    rows = [
        {
            "seed": None,
            "ratio": 0.0,
            "sigma": None,
            "compensation": None,
            "variant": "dense",
            **_metric_columns(record["dense"]),
            **_versus(record, None),
            **_greedy(record.get("denseGeneration")),
        }
    ]
    for r in record["rows"]:
        rows.append(
            {
                "seed": r["seed"],
                "ratio": r["ratio"],
                "sigma": r["sigma"],
                "compensation": r["compensation"],
                "variant": study_label(r),
                **_metric_columns(r["metrics"]),
                **_versus(record, r),
                **_greedy(r.get("generation")),
            }
        )
    return rows


def _expert_variant(row: dict) -> str:
    """As src/core/experiment.ts `studyVariant` for the expert: its rule, or the paper's rule
    (q 1) or the relaxed rule, then how its counts were allocated and its attention groups."""
    suffix = (" +sensitivity" if row.get("allocation") == "sensitivity" else "") + (
        " +keep-attention" if row.get("attention") == "keep" else ""
    )
    if row.get("rule") not in (None, "paper", "q"):
        return f"cus-prun {row['rule']}{suffix}"
    return ("paper" if row["q"] == 1 else f"cus-prun q{row['q']:g}") + suffix


def study_label(row: dict) -> str:
    """As src/core/experiment.ts `studyLabel`: a baseline says whose per-layer counts it removes."""
    if row["method"] == "cus-prun":
        return row["variant"]
    return f"{row['variant']} @ {_expert_variant(row)}"


def rows_of(data) -> list[dict]:
    """Table rows of what the API returned: a sweep or ablation result (or record), or runs."""
    record = data.get("record", data) if isinstance(data, dict) else None
    if isinstance(record, dict) and record.get("kind") == "sweep":
        return sweep_rows(record)
    if isinstance(record, dict) and record.get("kind") == "ablation":
        return ablation_rows(record)
    if isinstance(record, dict) and record.get("kind") == "study":
        return study_rows(record)
    if isinstance(data, list) and all(isinstance(r, dict) and "corpus" in r for r in data):
        return runs_rows(data)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    raise CusprunError(
        "frame() takes a sweep, ablation or study result, the runs, or a list of rows"
    )


def frame(data):
    """A sweep, ablation or study result, the runs, or rows, as a pandas DataFrame."""
    return to_frame(rows_of(data))


def to_frame(rows: list[dict]):
    """Rows as a pandas DataFrame; a clear error when pandas is not installed."""
    try:
        import pandas
    except ImportError:
        raise CusprunError("pandas is not installed: `pip install pandas` for DataFrames") from None
    return pandas.DataFrame(rows)
