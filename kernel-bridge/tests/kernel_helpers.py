"""Helpers for the tests that drive a real kernel and a real sidecar."""

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
SIDECAR_JS = ROOT / "dist" / "sidecar" / "cli.js"
MODEL = ROOT / "fixtures" / "models" / "llama" / "torchscript"
CORPUS = ROOT / "fixtures" / "corpora" / "corpus.yaml"
MC = ROOT / "fixtures" / "eval" / "mc.jsonl"
QA = ROOT / "fixtures" / "corpora" / "task" / "qa.jsonl"

VEGALITE = "application/vnd.vegalite.v5+json"
SVG = "image/svg+xml"
SWEEP = "application/vnd.cusprun.sweep+json"


def kernel_env(**extra: str) -> dict:
    """The kernel's environment: no sidecar named unless the test names one. The kernel imports
    the installed cusprun (`make setup`), which finds this checkout's sidecar by itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSPRUN_SIDECAR_")}
    env.update(extra)
    return env


def execute(
    notebook, cwd: Path, env: dict | None = None, timeout: int = 120, allow_errors: bool = False
):
    """Runs a notebook in a real kernel (as nbconvert --execute does); returns it executed. A
    failing cell raises CellExecutionError unless `allow_errors` (then every cell runs)."""
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=env or kernel_env())
    return notebook


def notebook_of(*sources: str):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return notebook


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def chart_outputs(notebook) -> list[dict]:
    """The data of every output that holds a chart (a Vega-Lite spec or an SVG)."""
    return [
        o["data"]
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if o.get("data") and (VEGALITE in o["data"] or SVG in o["data"])
    ]


def check_chart(data: dict) -> None:
    """One chart bundle: the Vega-Lite spec, a text fallback, and an SVG with marks."""
    assert VEGALITE in data and SVG in data and "text/plain" in data, sorted(data)
    spec = data[VEGALITE]
    assert spec["$schema"].endswith("/vega-lite/v5.json")
    root = ET.fromstring(data[SVG])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    marks = [
        e for e in root.iter() if "role-mark" in e.get("class", "") and "mark-" in e.get("class")
    ]
    assert marks, "the SVG has no marks"
    # A mark group with drawn children (bars, lines, points, rules).
    assert any(len(list(m)) > 0 for m in marks)


def error_lines(cell) -> list[list[str]]:
    """The traceback lines of each error output of a cell."""
    return [o.traceback for o in cell.outputs if o.output_type == "error"]


def no_errors(notebook) -> None:
    errors = [
        o for cell in notebook.cells for o in cell.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors, errors


def process_gone(pid: int) -> bool:
    """True when the process is gone (or a zombie nobody has reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" in status
