"""Notebook outputs: chart bundles that render anywhere, HTML tables, and live displays.

Every chart is one output bundle: the sidecar's Vega-Lite spec (JupyterLab renders it), the
sidecar's static SVG (nbviewer, GitHub, VS Code render it without the extension) and a line of
text. A live output is displayed once with a display_id and updated as job events arrive, so a
saved notebook holds only the final state.
"""

from __future__ import annotations

import html
import uuid

from .contract import VEGALITE_MIME_TYPE as VEGALITE_MIME
from .formats import format_cell

SVG_MIME = "image/svg+xml"


def chart_bundle(chart: dict, title: str | None = None) -> dict:
    """One chart of a ChartsAnswer (`{name, spec, svg?}`) as a mime bundle."""
    spec = chart["spec"]
    text = title or spec.get("title", {})
    if isinstance(text, dict):
        text = text.get("text", chart.get("name", "chart"))
    bundle = {VEGALITE_MIME: spec, "text/plain": f"<cusprun chart: {text}>"}
    if chart.get("svg"):
        bundle[SVG_MIME] = chart["svg"]
    return bundle


def html_table(rows: list[dict], caption: str | None = None) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(format_cell(c, row.get(c)))}</td>" for c in columns)
        + "</tr>"
        for row in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="cusprun-table">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def text_table(rows: list[dict]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    cells = [[format_cell(c, row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def table_bundle(rows: list[dict], caption: str | None = None) -> dict:
    text = text_table(rows) if rows else "(none)"
    return {
        "text/html": html_table(rows, caption) if rows else "<p>(none)</p>",
        "text/plain": (caption + "\n" + text) if caption else text,
    }


class Live:
    """One output of a cell that is displayed once and then replaced as events arrive."""

    def __init__(self, bundle: dict | None = None):
        from IPython.display import display

        self.id = f"cusprun-{uuid.uuid4().hex}"
        self.shown = False
        if bundle is not None:
            display(bundle, raw=True, display_id=self.id)
            self.shown = True

    def update(self, bundle: dict) -> None:
        from IPython.display import display, update_display

        if self.shown:
            update_display(bundle, raw=True, display_id=self.id)
        else:
            display(bundle, raw=True, display_id=self.id)
            self.shown = True


def progress_text(job_type: str, progress: dict | None, state: str) -> str:
    if not progress:
        return f"cusprun {job_type}: {state}"
    done, total = progress.get("done", 0), progress.get("total", 0)
    width = 30
    filled = int(width * done / total) if total else 0
    bar = "█" * filled + "·" * (width - filled)
    parts = [f"cusprun {job_type}: {bar} {done}/{total} documents"]
    if progress.get("skipped"):
        parts.append(f"{progress['skipped']} skipped")
    parts.append(f"{progress.get('tokens', 0)} tokens")
    if progress.get("tokensPerSecond"):
        parts.append(f"{progress['tokensPerSecond']:.0f} tok/s")
    if state == "running" and progress.get("etaSeconds") is not None:
        parts.append(f"ETA {progress['etaSeconds']:.0f} s")
    elif state != "running":
        parts.append(f"{progress.get('elapsedMs', 0) / 1000:.1f} s, {state}")
    return ", ".join(parts)


def progress_bundle(text: str) -> dict:
    return {
        "text/plain": text,
        "text/html": f"<pre class='cusprun-progress'>{html.escape(text)}</pre>",
    }


def sweep_payload(run: str, file: str | None, answer: dict, ranks: list[dict]) -> dict:
    """The compact `application/vnd.cusprun.sweep+json` entry: the σ in use, the ratio-against-σ
    curve, the units pruned per layer at that σ, and for every non-empty subset of the run's
    dimensions the sidecar's ranks answer (per layer and unit kind, the units irrelevant to all
    of the subset's dimensions at each σ of a grid) — enough for a σ slider and dimension
    toggles to redraw without a sidecar or a kernel."""
    return {
        "format": "cusprun-sweep",
        "version": 1,
        "run": run,
        "file": file,
        "sigma": answer["plan"].get("sigma"),
        "prunableParams": answer["plan"].get("prunableParams"),
        "ratios": answer["ratios"]["points"],
        "layers": answer["layers"],
        "subsets": ranks,
    }
