"""The runs table the magics and `Session.runs_frame` show."""

from cusprun.tables import runs_rows


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
