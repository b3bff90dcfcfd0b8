"""Scoring, sweeps and ablations on Ray (cusprun.distributed) on a real local cluster: a head and
an extra worker node, each its own `ray start` process, with the installed `cusprun` CLI doing
the work."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray", reason="the ray extra: make setup-ray")

from cusprun.distributed import (  # noqa: E402
    RayUnavailable,
    ShardFailed,
    evaluations_on_ray,
    score_on_ray,
)
from cusprun.errors import CusprunError  # noqa: E402
from cusprun.session import Session  # noqa: E402
from cusprun.tables import ablation_rows, sweep_rows  # noqa: E402
from cusprun.task_dirs import PREFIX as TASK_DIR_PREFIX  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402
from kernel_helpers import SIDECAR_JS, kernel_env  # noqa: E402
from ray_cluster import local_ray_cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "demo" / "model"
CORPUS = ROOT / "demo" / "expert-de-computing-qa.yaml"
CLI = str(Path(sys.executable).with_name("cusprun"))
QUICK = ROOT / "demo" / "data" / "eval" / "quick"
#: a sweep of 1 + 2 × 3 = 7 evaluations, the Wanda-style baseline's score store included
SWEEP = {
    "sigmas": [0.5, 0.8],
    "eval_sets": [f"ppl={QUICK / 'ppl-general.jsonl'}", f"mc={QUICK / 'cont-general.jsonl'}"],
    "methods": ["cus-prun", "random", "wanda"],
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    with local_ray_cluster(tmp_path_factory.mktemp("ray")) as address:
        yield address


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model scored by one `cusprun score` process."""
    run = tmp_path_factory.mktemp("single") / "run"
    command = [CLI, "score", str(MODEL), "--corpus", str(CORPUS), "--run", str(run)]
    subprocess.run(command, check=True, capture_output=True)
    return run


def _timeless(file: Path) -> str:
    return re.sub(r'"(created|updated)": "[^"]*"', r'"\1": "…"', file.read_text())


#: the record of what `cusprun merge` wrote, so that it replaces only its own output
MERGE_MARKER = Path(".cusprun-outputs.json")


def assert_same_folder(folder: Path, expected: Path, *extra: Path) -> None:
    """The same files (and the files `extra`), byte for byte but for their times."""
    names = sorted(p.relative_to(expected) for p in expected.rglob("*") if p.is_file())
    found = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert found == sorted([*names, *extra])
    for name in names:
        if name.suffix == ".json":
            assert _timeless(folder / name) == _timeless(expected / name), name
        else:
            assert (folder / name).read_bytes() == (expected / name).read_bytes(), name


def assert_same_run(run: Path, single: Path, *also: Path) -> None:
    """Byte for byte the run one process writes, but for its times and the merge's record (and
    the files `also`)."""
    assert_same_folder(run, single, MERGE_MARKER, *also)


def test_four_shards_on_ray_give_the_single_process_run(cluster, single_run, tmp_path):
    events: list[dict] = []
    result = score_on_ray(tmp_path / "run", MODEL, CORPUS, 4, cluster, on_event=events.append)
    assert_same_run(tmp_path / "run", single_run)
    assert result["scored"] == 96 and result["skipped"] == 0 and result["retries"] == 0
    assert events and all(e["type"] == "progress" for e in events)
    assert max(e["progress"]["done"] for e in events) <= 96


@pytest.fixture(scope="module")
def driver_copy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo model and corpus copied to a folder of their own, the manifest naming its sources
    by absolute path (as `%cusprun corpus dimension=FILE` writes it), and the run one `cusprun
    score` process writes reading that copy."""
    top = tmp_path_factory.mktemp("driver-only")
    model = top / "model"
    shutil.copytree(MODEL, model)
    manifest = yaml.safe_load(CORPUS.read_text())
    for spec in manifest["dimensions"].values():
        for source in spec["sources"]:
            (top / "corpus" / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(CORPUS.parent / source, top / "corpus" / source)
        spec["sources"] = [str(top / "corpus" / source) for source in spec["sources"]]
    corpus = top / "corpus" / "expert.yaml"
    corpus.write_text(yaml.safe_dump(manifest))
    run = top / "single"
    command = [CLI, "score", str(model), "--corpus", str(corpus), "--run", str(run)]
    subprocess.run(command, check=True, capture_output=True)
    return {"top": top, "model": model, "corpus": corpus, "single": run}


def test_the_model_and_corpus_shipped_through_the_object_store_give_the_single_process_run(
    cluster, driver_copy, tmp_path
):
    """On one machine every node sees every path, so the driver's copy cannot be hidden from the
    workers; what the test checks instead: each shard's CLI was given a model path in its task's
    own temporary folder (gone once the task ended), not the driver's copy; every byte of the
    model folder and the corpus was shipped; and the merged run is byte for byte the one a single
    process writes reading the driver's copy, the driver's paths recorded in it (the shards'
    copies' paths swapped back). The manifest names its sources by absolute path, which the
    tasks' copy of it must not: the sources it reads are the copies."""
    model, corpus = driver_copy["model"], driver_copy["corpus"]
    result = score_on_ray(tmp_path / "run", model, corpus, 4, cluster)
    assert_same_run(tmp_path / "run", driver_copy["single"])
    sources = [p for p in (driver_copy["top"] / "corpus" / "data").rglob("*") if p.is_file()]
    files = sum(p.stat().st_size for p in [*model.iterdir(), *sources])
    # Every byte of the model folder and the sources, and the manifest (as rewritten for copies).
    assert 0 < result["shipped"] - files < 4096
    assert len(result["model_paths"]) == 4
    for path in map(Path, result["model_paths"]):
        assert str(path) != str(model) and str(path).endswith(str(model))
        assert any(part.startswith(TASK_DIR_PREFIX) for part in path.parts)
        assert not path.exists()  # the task's folder was removed when it ended


def test_a_path_a_worker_cannot_see_is_one_line(cluster, tmp_path):
    # Not found here either, so not shipped: each worker looks for it where it was given.
    model = tmp_path / "elsewhere" / "model"
    with pytest.raises(ShardFailed) as caught:
        score_on_ray(tmp_path / "run", model, CORPUS, 2, cluster)
    message = str(caught.value)
    assert re.fullmatch(
        rf"shard [01]/2 on .+: {model}: not found on this node; put it on a path every node sees",
        message,
    )
    assert not (tmp_path / "run").exists()


def _busy_shard_worker() -> tuple[int, int] | None:
    """A Ray worker running a shard whose `cusprun score` child is under way (Ray titles the
    worker after its task; the child is the shard's work), and that child; or None."""
    parents = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes()
            parent = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents[int(proc.name)] = (title, parent)
    workers = {pid for pid, (title, _) in parents.items() if title.startswith(b"ray::_score")}
    busy = [(parent, pid) for pid, (_, parent) in parents.items() if parent in workers]
    return busy[0] if busy else None


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def test_a_worker_killed_mid_shard_is_retried_and_the_run_is_the_same(
    cluster, single_run, tmp_path
):
    outcome: dict = {}

    def score() -> None:
        # Read in place (ship_limit 0), as on a shared file system: the mode above the limit.
        outcome["result"] = score_on_ray(
            tmp_path / "run", MODEL, CORPUS, 4, cluster, max_retries=2, ship_limit=0
        )

    thread = threading.Thread(target=score)
    thread.start()
    deadline = time.monotonic() + 60
    while (busy := _busy_shard_worker()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert busy is not None, "no shard started"
    worker, cli = busy
    time.sleep(0.3)  # into the shard's scoring, past its start
    folders = f"cusprun-ray-*-{worker}-*"
    assert list(Path(tempfile.gettempdir()).glob(folders)), "the task's folder is not named so"
    os.kill(worker, signal.SIGKILL)
    # The killed worker's CLI does not score on for nobody…
    assert _gone(cli, within_s=10), f"the killed worker's CLI (pid {cli}) still runs"
    thread.join(timeout=120)
    assert outcome["result"]["retries"] >= 1, outcome
    assert outcome["result"]["shipped"] == 0 and outcome["result"]["model_paths"] == [str(MODEL)]
    assert_same_run(tmp_path / "run", single_run)
    # …and the retried task removed the killed worker's folder (the nodes share /tmp here).
    left = list(Path(tempfile.gettempdir()).glob(folders))
    assert left == [], left


def test_a_bad_address_is_one_line(free_port, single_run, tmp_path):
    address = f"127.0.0.1:{free_port}"
    for job in [
        lambda: score_on_ray(tmp_path / "run", MODEL, CORPUS, 2, address),
        lambda: evaluations_on_ray("sweep", single_run, ["--sigma", "0.5"], 2, None, address),
    ]:
        start = time.monotonic()
        with pytest.raises(RayUnavailable) as caught:
            job()
        message = str(caught.value)
        assert message.startswith(f"--ray {address}: no Ray cluster answers there (")
        assert "\n" not in message and time.monotonic() - start < 10
    assert not (tmp_path / "run").exists()
    assert not (single_run / "evaluations.jsonl").exists()


def test_the_score_sweep_and_ablate_magics_on_ray_write_into_the_store(
    cluster, single_run, tmp_path, monkeypatch
):
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=kernel_env())
    messages: list[dict] = []
    run = tmp_path / ".cusprun" / "onray"

    def execute(code: str) -> None:
        reply = kc.execute_interactive(code, timeout=180, output_hook=messages.append)
        assert reply["content"]["status"] == "ok", reply["content"]

    try:
        execute(f"%load_ext cusprun\n%cusprun model {MODEL}\n%cusprun corpus {CORPUS}")
        execute(f"%cusprun score --run onray --ray {cluster} --shards 4 --ship-limit 64M")
        execute("%cusprun plan --sigma 0.3 --run onray")
        # The score job's log, which the plan job's adds to, is the sidecar's own file.
        assert_same_run(run, single_run, Path("events.jsonl"))
        evaluation = SWEEP["eval_sets"][0]
        execute(
            f"%cusprun sweep --sigma 0.5 --methods cus-prun,random --eval {evaluation} "
            f"--run onray --ray {cluster} --shards 2"
        )
        execute(
            f"%cusprun ablate --target-ratio 0.2 --dims language,task --eval {evaluation} "
            f"--run onray --ray {cluster} --shards 2"
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    texts = [m["content"].get("data", {}).get("text/plain", "") for m in messages]
    assert any("/96 documents" in text for text in texts)
    assert any(
        "run 'onray': 96 documents scored" in text and "s on Ray (4 shards)" in text
        for text in texts
    )
    # The sweep's 3 evaluations were made on Ray, then the ablation's 3 subsets and its general
    # row (the dense model was the sweep's); the tables are theirs, from the cache.
    assert len((run / "evaluations.jsonl").read_text().splitlines()) == 7
    for job in ("sweep", "ablate"):
        assert any(text.startswith(f"cusprun {job}: ") and "shards" in text for text in texts)
    assert any("σ sweep (sweeps/" in text for text in texts)
    assert any("dimension ablation (ablations/" in text for text in texts)
    # The panel's history of the run (the sidecar's run detail) lists the Ray score like any job.
    monkeypatch.setenv("CUSPRUN_SIDECAR_JS", str(SIDECAR_JS))
    monkeypatch.delenv("CUSPRUN_SIDECAR_URL", raising=False)
    with Session(store=str(tmp_path / ".cusprun")) as session:
        jobs = session.run_detail("onray")["jobs"]
    states = [(j["type"], j["state"]) for j in jobs]
    assert states[0] == ("score", "done") and ("sweep", "done") in states
    assert ("ablate", "done") in states
    assert jobs[0]["result"]["scored"] == 96 and jobs[0]["request"]["model"] == str(MODEL)


@pytest.fixture
def session(tmp_path, monkeypatch, single_run):
    """A private sidecar whose store holds two copies of the single-process run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSPRUN_SIDECAR_URL", raising=False)
    monkeypatch.setenv("CUSPRUN_SIDECAR_JS", str(SIDECAR_JS))
    for name in ("onray", "local"):
        shutil.copytree(single_run, tmp_path / "store" / name)
    with Session(store=str(tmp_path / "store")) as s:
        yield s


def _cache_keys(run: Path) -> set[str]:
    lines = (run / "evaluations.jsonl").read_text().splitlines()
    return {json.loads(line)["key"] for line in lines}


def test_a_sweep_spread_over_ray_gives_the_local_sweeps_table(cluster, session, tmp_path):
    events: list[dict] = []
    on_ray = session.sweep(run="onray", ray=cluster, on_event=events.append, **SWEEP)
    local = session.sweep(run="local", **SWEEP)
    again = session.sweep(run="local", **SWEEP)
    assert on_ray["ray"]["evaluations"] == 7 and on_ray["ray"]["shards"] == 7
    assert on_ray["ray"]["retries"] == 0
    assert on_ray["ray"]["shipped"] > 0  # the model, corpus and evaluation sets: under the limit
    # Every evaluation was made on Ray: the sweep here found each in the cache.
    assert all(p["cached"] for p in on_ray["record"]["points"])
    assert sweep_rows(on_ray["record"]) == sweep_rows(local["record"])
    assert all(p["cached"] for p in again["record"]["points"])
    assert sweep_rows(again["record"]) == sweep_rows(local["record"])
    store = tmp_path / "store"
    assert _cache_keys(store / "onray") == _cache_keys(store / "local")
    # The store a shard made from shipped copies, the paths in it swapped back: as made here.
    assert_same_folder(
        store / "onray" / "baseline-scores" / "wanda", store / "local" / "baseline-scores" / "wanda"
    )
    shards = [e["progress"] for e in events if e["type"] == "progress" and "unit" in e["progress"]]
    assert shards and shards[-1]["done"] == 7 and shards[-1]["unit"] == "shards"


def test_a_regression_compensated_sweep_on_ray_gives_the_local_sweeps_table(
    cluster, session, tmp_path
):
    """The workers fit the same regression compensation from the shipped run: the cache keys
    (which carry the statistics' SHA-256) and the table are the local sweep's."""
    sweep = {**SWEEP, "sigmas": [0.5], "methods": ["cus-prun"], "compensation": "regression"}
    on_ray = session.sweep(run="onray", ray=cluster, **sweep)
    local = session.sweep(run="local", **sweep)
    assert on_ray["ray"]["evaluations"] == 2
    assert all(p["cached"] for p in on_ray["record"]["points"])
    assert on_ray["record"]["compensation"] == local["record"]["compensation"]
    assert on_ray["record"]["compensation"]["ridge"] == 0.1
    assert sweep_rows(on_ray["record"]) == sweep_rows(local["record"])
    store = tmp_path / "store"
    assert _cache_keys(store / "onray") == _cache_keys(store / "local")


#: an ablation of the demo run's 3 dimensions: 1 + 7 + 1 (general) = 9 evaluations
ABLATION = {"target_ratio": 0.2, "eval_sets": SWEEP["eval_sets"]}


def test_an_ablation_spread_over_ray_gives_the_local_ablations_table(cluster, session, tmp_path):
    events: list[dict] = []
    on_ray = session.ablate(run="onray", ray=cluster, on_event=events.append, **ABLATION)
    store = tmp_path / "store"
    cache = (store / "onray" / "evaluations.jsonl").read_bytes()
    local = session.ablate(run="local", **ABLATION)
    assert on_ray["ray"]["evaluations"] == 9 and on_ray["ray"]["shards"] == 9
    assert on_ray["ray"]["retries"] == 0 and on_ray["ray"]["shipped"] > 0
    # Every evaluation was made on Ray: the ablation here found each in the cache.
    made = [r for r in on_ray["record"]["rows"] if "unreachable" not in r]
    assert len(made) == 7 and all(r["cached"] for r in made)
    assert on_ray["record"]["general"]["cached"]
    assert not any(r["cached"] for r in local["record"]["rows"])
    assert ablation_rows(on_ray["record"]) == ablation_rows(local["record"])
    assert _cache_keys(store / "onray") == _cache_keys(store / "local")
    # one entry per evaluation and set
    assert len(_cache_keys(store / "onray")) == 9 * len(ABLATION["eval_sets"])
    # The local ablation afterwards computes nothing new: the run's cache is as Ray left it.
    again = session.ablate(run="onray", **ABLATION)
    assert all(r["cached"] for r in again["record"]["rows"])
    assert ablation_rows(again["record"]) == ablation_rows(local["record"])
    assert (store / "onray" / "evaluations.jsonl").read_bytes() == cache
    shards = [e["progress"] for e in events if e.get("progress", {}).get("unit") == "shards"]
    assert shards and shards[-1]["done"] == 9


def test_a_sweep_on_ray_calibrates_its_baselines_on_the_baseline_run(
    cluster, session, single_run, tmp_path
):
    """`baseline_run`: the workers get a copy of that run too, and the Wanda sums they make on its
    documents are kept in it, as a local sweep keeps them."""
    store = tmp_path / "store"
    for name in ("base-ray", "base-local"):
        shutil.copytree(single_run, store / name)
    sweep = {**SWEEP, "sigmas": [0.5], "methods": ["cus-prun", "wanda"]}
    events: list[dict] = []
    on_ray = session.sweep(
        run="onray", baseline_run="base-ray", ray=cluster, on_event=events.append, **sweep
    )
    local = session.sweep(run="local", baseline_run="base-local", **sweep)
    assert on_ray["ray"]["evaluations"] == 3 and on_ray["ray"]["shards"] == 3
    assert all(p["cached"] for p in on_ray["record"]["points"])
    assert sweep_rows(on_ray["record"]) == sweep_rows(local["record"])
    assert on_ray["record"]["baselineRun"] == str(store / "base-ray")
    # The sums were made on the baseline run's copy and kept in that run, its paths the store's.
    wanda = Path("baseline-scores", "wanda")
    assert not (store / "onray" / wanda).exists()
    assert_same_folder(store / "base-ray" / wanda, store / "base-local" / wanda)
    assert _cache_keys(store / "onray") == _cache_keys(store / "local")
    shards = [e["progress"] for e in events if e.get("progress", {}).get("unit") == "shards"]
    assert shards[-1]["done"] == 3


def test_a_sweep_or_ablation_shard_the_cli_refuses_is_one_line(cluster, session):
    # The sidecar checks a dimension only when the sweep runs: after its Ray part, here.
    with pytest.raises(CusprunError) as caught:
        session.sweep(
            run="onray",
            ray=cluster,
            shards=2,
            **{**SWEEP, "methods": ["cus-prun"], "dims": ["style"]},
        )
    message = str(caught.value)
    assert re.match(r"sweep shard [01]/2 on .+: ", message) and "\n" not in message
    with pytest.raises(CusprunError) as caught:
        session.ablate(run="onray", ray=cluster, shards=2, dims=["style"], **ABLATION)
    message = str(caught.value)
    assert re.match(r"ablate shard [01]/2 on .+: unknown dimension 'style'", message)
    assert "\n" not in message
    assert not (Path(session.store()) / "onray" / "evaluations.jsonl").exists()


class PanelView:
    """What the panel sees of the sidecar's jobs: `GET /api/jobs`, polled by a client of its own
    while the test's session waits for its job."""

    def __init__(self, session: Session):
        self.client = Session(session.url, session.token)
        self.seen: list[dict] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._poll)

    def _poll(self) -> None:
        while not self.stopped.is_set():
            self.seen += self.client.jobs()
            time.sleep(0.05)

    def __enter__(self) -> PanelView:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.seen += self.client.jobs()


def _logged(run: Path) -> list[tuple[str, str]]:
    """The run's event log: (type, job) of each event."""
    lines = (run / "events.jsonl").read_text().splitlines()
    return [(e["type"], e["job"]) for e in map(json.loads, lines)]


def test_a_score_on_ray_is_a_sidecar_job_the_panel_follows_live(cluster, session, single_run):
    session.model(str(MODEL))
    session.corpus(str(CORPUS))
    events: list[dict] = []
    with PanelView(session) as panel:
        result = session.score("fresh", ray=cluster, shards=2, on_event=events.append)
    store = Path(session.store())
    assert_same_run(store / "fresh", single_run, Path("events.jsonl"))
    assert not list((store / "fresh").glob(".ray-merge.cusprun-staging-*"))
    assert result["scored"] == 96 and result["complete"] is True
    assert result["ray"] == {"shards": 2, "retries": 0, "shipped": result["ray"]["shipped"]}
    # The panel's job list showed it running with its shards' summed progress, then done.
    job = next(j["id"] for j in panel.seen if j["request"].get("ray"))
    mine = [j for j in panel.seen if j["id"] == job]
    assert any(j["state"] == "running" and j.get("progress", {}).get("done", 0) > 0 for j in mine)
    assert mine[-1]["state"] == "done" and mine[-1]["result"]["scored"] == 96
    # Its events, on the socket as the panel gets them and in the run's log.
    kinds = [e["type"] for e in events if e.get("job") == job]
    assert kinds[:2] == ["job-queued", "job-started"] and kinds[-1] == "job-done"
    assert "progress" in kinds
    logged = _logged(store / "fresh")
    assert {j for _, j in logged} == {job}
    assert [k for k, _ in logged][:2] == ["job-queued", "job-started"]
    assert logged[-1][0] == "job-done" and ("progress", job) in logged
    assert [(j["type"], j["state"]) for j in session.run_detail("fresh")["jobs"]] == [
        ("score", "done")
    ]
    assert "fresh" in {r["id"] for r in session.runs()}


def _drivers(store: str) -> list[int]:
    """The Ray drivers (`python -m cusprun.ray_driver`) of runs in `store`: not another test
    run's on the same machine."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"cusprun.ray_driver" in cmdline and store.encode() in cmdline:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _shard_scores() -> list[int]:
    """The shards' `cusprun score --shard` processes running on this machine."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"score" in args and b"--shard" in args:
            found.append(int(proc.name))
    return found


def _wait_for(condition, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_cancelling_a_score_on_ray_kills_its_driver_and_leaves_no_run(cluster, session):
    session.model(str(MODEL))
    corpus = session.corpus(str(CORPUS))["name"]
    request = {"type": "score", "run": "stopped", "model": str(MODEL), "corpus": corpus}
    info = session.submit(request | {"ray": {"address": cluster, "shards": 4, "shipLimit": 0}})
    assert _wait_for(_busy_shard_worker), "no shard started"
    drivers = _drivers(session.store())
    assert len(drivers) == 1
    session.cancel(info["id"])  # the panel's cancel: DELETE /api/jobs/ID
    final = _wait_for(lambda: (j := session.job(info["id"]))["state"] != "running" and j)
    assert final["state"] == "cancelled" and "error" not in final
    assert _wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in drivers), 10)
    # Ray ends the job's tasks with its driver, and their `cusprun score` children with them.
    assert _wait_for(lambda: not _shard_scores(), 60), _shard_scores()
    run = Path(session.store()) / "stopped"
    assert sorted(p.name for p in run.iterdir()) == ["events.jsonl"]
    assert [k for k, _ in _logged(run)] == ["job-queued", "job-started", "job-cancelled"]


def test_a_score_on_ray_without_ray_fails_in_one_line(tmp_path, monkeypatch):
    """The sidecar's Python (CUSPRUN_PYTHON) lacks Ray: the job fails saying so, and for which."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    checked = subprocess.run([python, "-c", "import ray"], capture_output=True)
    if checked.returncode == 0:
        pytest.skip(f"{python} has Ray")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSPRUN_SIDECAR_URL", raising=False)
    monkeypatch.setenv("CUSPRUN_SIDECAR_JS", str(SIDECAR_JS))
    monkeypatch.setenv("CUSPRUN_PYTHON", python)
    # cusprun without its ray extra: the system Python reads the package from the source tree.
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "kernel-bridge"))
    with Session(store=str(tmp_path / "store")) as session:
        session.model(str(MODEL))
        session.corpus(str(CORPUS))
        with pytest.raises(CusprunError) as caught:
            session.score("noray", ray="auto")
    assert str(caught.value) == (
        f"scoring on Ray needs Ray: pip install 'cusprun[ray]' (for {python})"
    )
