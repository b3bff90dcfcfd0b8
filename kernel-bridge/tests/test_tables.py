"""The runs and ablation tables the magics and `Session.runs_frame` show."""

import json
import shutil
import subprocess

import pytest
from cusprun.contract import REMOVED_UNITS
from cusprun.tables import ablation_rows, compensation_note, runs_rows
from kernel_helpers import ROOT, SIDECAR_JS


def _run(run_id, updated, last_job=None):
    run = {
        "id": run_id,
        "model": {"file": f"/m/{run_id}/model.onnx", "family": "llama"},
        "corpus": {"dimensions": ["language", "task"]},
        "scored": 4,
        "documents": 4,
        "updated": updated,
    }
    if last_job:
        run["lastJob"] = last_job
    return run


def test_the_last_job_of_any_origin_and_the_latest_time():
    cli = {"type": "prune", "state": "done", "at": "2026-01-03T00:00:00.000Z", "origin": "cli"}
    sidecar = {
        "id": "j1",
        "type": "plan",
        "state": "done",
        "at": "2026-01-01T00:00:00.000Z",
        "origin": "sidecar",
    }
    rows = runs_rows(
        [
            _run("a", "2026-01-02T00:00:00.000Z", cli),
            _run("b", "2026-01-02T00:00:00.000Z", sidecar),
            _run("c", "2026-01-02T00:00:00.000Z"),
        ]
    )
    assert [(r["last job"], r["updated"]) for r in rows] == [
        ("prune done (CLI)", "2026-01-03T00:00:00.000Z"),
        ("plan done", "2026-01-02T00:00:00.000Z"),
        ("", "2026-01-02T00:00:00.000Z"),
    ]


def test_a_study_row_per_model_labelled_as_the_cli_labels_it():
    from cusprun.tables import study_rows

    metric = [{"evalSet": "expert", "metric": "perplexity", "value": 40.0, "count": 9}]
    greedy = {"repetitionRate": 0.5, "samples": [{"prompt": "Q:", "text": "a\nb"}]}

    def row(method, q, variant):
        return {
            "method": method,
            "q": q,
            "variant": variant,
            "seed": 1,
            "ratio": 0.25,
            "sigma": 0.6,
            "compensation": "bias",
            "metrics": metric,
            "generation": greedy,
        }

    record = {
        "kind": "study",
        "dense": metric,
        "rows": [row("cus-prun", 0.75, "cus-prun q0.75"), row("wanda", 0.75, "wanda")],
    }
    ruled = {"rule": "rank-mean", "allocation": "sensitivity", "attention": "keep"}
    record["rows"].append({**row("general", 1, "general"), **ruled})
    rows = study_rows(record)
    assert [r["variant"] for r in rows] == [
        "dense",
        "cus-prun q0.75",
        "wanda @ cus-prun q0.75",
        "general @ cus-prun rank-mean +sensitivity +keep-attention",
    ]
    assert rows[1]["expert perplexity"] == 40.0 and rows[1]["greedy rep3"] == 0.5
    # the first text quoted, so that a newline cannot break the table's line
    assert rows[1]["greedy text"] == '"a\\nb"'
    assert "greedy rep3" not in rows[0]


def _ablation_row(dimensions, ratio, ppl):
    metric = {"evalSet": "expert", "metric": "perplexity", "value": ppl, "count": 9}
    return {"dimensions": dimensions, "sigma": 0.5, "ratio": ratio, "metrics": [metric]}


def test_the_ablations_general_row_comes_last_and_an_old_record_reads_without_it():
    old = {
        "kind": "ablation",
        "dense": [{"evalSet": "expert", "metric": "perplexity", "value": 10.0, "count": 9}],
        "rows": [_ablation_row(["language"], 0.25, 12.0), _ablation_row(["task"], 0.24, 13.0)],
    }
    assert [r["dimensions"] for r in ablation_rows(old)] == ["dense", "language", "task"]
    new = old | {"general": _ablation_row(["language", "task"], 0.26, 14.0)}
    rows = ablation_rows(new)
    assert [r["dimensions"] for r in rows] == ["dense", "language", "task", "general (2D counts)"]
    assert rows[-1]["ratio"] == 0.26 and list(rows[-1].values())[-1] == 14.0


def test_a_study_expert_shows_its_change_against_each_baseline_as_the_cli_writes_it():
    from cusprun.display import text_table
    from cusprun.tables import study_rows

    def row(method, value, versus=None):
        return {
            "method": method,
            "q": 1,
            "variant": method if method != "cus-prun" else "paper",
            "seed": 0,
            "ratio": 0.25,
            "sigma": 0.9,
            "compensation": "none",
            "metrics": [{"evalSet": "expert", "metric": "perplexity", "value": value}],
            **({"versus": versus} if versus else {}),
        }

    record = {
        "kind": "study",
        "methods": ["cus-prun", "general", "wanda"],
        "dense": [{"evalSet": "expert", "metric": "perplexity", "value": 30.0}],
        "rows": [
            row("cus-prun", 62.02, {"general": -0.0488, "wanda": 0.0061}),
            row("general", 65.2),
        ],
    }
    rows = study_rows(record)
    assert rows[1]["expert perplexity vs general"] == -0.0488
    lines = text_table(rows).split("\n")
    assert lines[0].split("  ")[-2:] == [
        "expert perplexity vs general",
        "expert perplexity vs wanda",
    ]
    # a minus sign, as formatChange writes it; '-' for the dense model and a baseline
    assert lines[2].split()[-2:] == ["−4.9%", "+0.6%"]
    assert lines[1].split()[-2:] == ["-", "-"] and lines[3].split()[-2:] == ["-", "-"]


@pytest.mark.skipif(
    not SIDECAR_JS.is_file() or shutil.which("node") is None,
    reason="needs node and the built CLI (npm run build:node)",
)
@pytest.mark.parametrize("how", ["none", "bias", "regression"])
def test_a_compensated_sweeps_caption_says_what_the_cli_prints(how, tmp_path):
    """The magics caption a compensated sweep with the line `cusprun sweep` prints below it."""
    cli = ["node", str(SIDECAR_JS)]
    fixture = ROOT / "fixtures" / "models" / "qwen2" / "torchscript"
    corpus = ROOT / "fixtures" / "corpora" / "corpus.yaml"
    run = tmp_path / "run"
    options = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 300}
    scored = subprocess.run(
        [*cli, "score", str(fixture), "--corpus", str(corpus), "--run", str(run)], **options
    )
    assert scored.returncode == 0, scored.stderr
    record = tmp_path / "sweep.json"
    swept = subprocess.run(
        [*cli, "sweep", "--run", str(run), "--sigma", "0.3", "--methods", "cus-prun"]
        + ["--eval", str(corpus.parent / "task" / "qa.jsonl"), "--compensation", how]
        + ["--json", str(record)],
        **options,
    )
    assert swept.returncode == 0, swept.stderr
    note = compensation_note(json.loads(record.read_text()))
    assert note.startswith(f"removed units {REMOVED_UNITS[how]}")
    assert f"\n{note}\n" in swept.stdout
