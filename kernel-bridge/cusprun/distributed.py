"""Scoring on a Ray cluster: `cusprun score --shard I/N` as Ray tasks, merged with `cusprun merge`.

Each task runs the `cusprun` CLI installed on its worker (`pip install 'cusprun[ray]'` there) into
a shard run folder of its own in the worker's temporary folder, and returns that folder's files
through Ray's object store; the run folder is written where this process runs. The model folder's
files and the corpus (its manifest and every source file it resolves to, as `cusprun inspect
--corpus --json` lists them) are shipped through the object store too when they total at most
`ship_limit` bytes (DEFAULT_SHIP_LIMIT): each task writes them into its own temporary folder and
the CLI reads them there. Larger inputs must lie at the same path on every node, as without
shipping. A task whose worker dies is retried (`max_retries`); a shard the CLI refuses fails the
whole job in one line.
Progress of the shards reaches the driver through a small actor and is summed into the usual
progress events (`{"type": "progress", "progress": {...}}`).
The sidecar runs these as its jobs' Ray part through `cusprun.ray_driver`, a child process of
its own; they can also be called from a script without a sidecar.

A sweep or an ablation spreads likewise (`evaluations_on_ray`): its evaluations (the dense model,
then each method at each grid value, or each subset of the dimensions) go to Ray tasks that run
`cusprun sweep|ablate … --points I/N` on a copy of the run folder shipped through the object
store, and the evaluation-cache lines they add are appended to the run's own cache, so that the
sweep or ablation run here afterwards finds every evaluation there. The model, the run's corpus
and the evaluation sets are shipped under the same limit.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from .contract import BASELINE_SCORES_DIR, EVAL_CACHE_FILE, SWEEP_INPUTS
from .distributed_inputs import (
    Shipped,
    corpus_files,
    localise,
    materialise,
    model_files,
    read_if_small,
    swap_paths,
)
from .errors import CusprunError
from .task_dirs import cli_env, task_dir

RAY_EXTRA = "pip install 'cusprun[ray]'"
#: seconds to wait for a Ray cluster's address to answer before giving up
CONNECT_TIMEOUT_S = 5.0
#: how often the driver sums the shards' progress
POLL_S = 0.25
#: inputs (model folder, corpus, evaluation sets) of at most this many bytes in all are shipped
#: through Ray's object store: it holds them in memory (by default 30% of a node's), and every
#: task writes its own copy to its worker's disk, so that larger ones are better read in place
DEFAULT_SHIP_LIMIT = 256 * 2**20

EventCallback = Callable[[dict], None]

#: the address this process's Ray driver connected to: Ray holds one connection per process
_connected: dict[str, str] = {}


class RayUnavailable(CusprunError):
    """Ray is not installed here, or the cluster at the address cannot be reached."""


class ShardFailed(CusprunError):
    """A shard's `cusprun score` refused its input, or its workers kept dying."""


def _ray() -> ModuleType:
    try:
        import ray  # the optional extra: imported only when a job asks for Ray
    except ModuleNotFoundError:
        raise RayUnavailable(f"scoring on Ray needs Ray: {RAY_EXTRA}", "ray-missing") from None
    return ray


def connect(address: str) -> ModuleType:
    """Ray, connected to the cluster at `address` ('auto': the one started on this machine).
    A host:port that does not answer within CONNECT_TIMEOUT_S is one line, not Ray's minute of
    retries."""
    ray = _ray()
    if ray.is_initialized():
        if _connected.get("address") == address:
            return ray
        ray.shutdown()
    if address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            raise RayUnavailable(
                f"--ray {address}: no Ray cluster answers there ({reason}); give the head's "
                "HOST:PORT (as 'ray start --head' printed it) or 'auto'",
                "ray-unreachable",
            ) from None
    try:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RayUnavailable(
            f"--ray {address}: cannot connect to a Ray cluster: {first}", "ray-unreachable"
        ) from None
    _connected["address"] = address
    return ray


def _cusprun_cli() -> str:
    """The `cusprun` console script of the Python running this worker (else the PATH's)."""
    beside = Path(sys.executable).with_name("cusprun")
    found = str(beside) if beside.is_file() else shutil.which("cusprun")
    if found is None:
        raise ShardFailed(f"no cusprun on Ray node {socket.gethostname()}: {RAY_EXTRA} there")
    return found


#: what a shard's task reads: the paths the CLI is given (checked on the worker when they are not
#: shipped) and the bytes they total here (None: not counted)
Needs = tuple[list[str], "int | None"]


def _inputs_here(
    root: str, args: list[str], shipped: Shipped | None, needs: Needs, shard: str
) -> list[str]:
    """The CLI's arguments reading the inputs on this node: the shipped files written under
    `root`, or (not shipped) the paths as given, once each is found here."""
    if shipped is not None:
        materialise(root, shipped)
        return [localise(root, arg, shipped) for arg in args]
    paths, total = needs
    for path in paths:
        if not os.path.exists(path):
            ship = f", or ship it (ship_limit ≥ {total} bytes)" if total else ""
            raise ShardFailed(
                f"{shard} on {socket.gethostname()}: {path}: not found on this node; "
                f"put it on a path every node sees{ship}"
            )
    return args


#: a shard's CLI summary, its run folder's files, and the model path its CLI read
ShardOutput = tuple[dict, dict[str, bytes], str]


def _score_shard(
    board: Any, index: int, count: int, args: list[str], shipped: Shipped | None, needs: Needs
) -> ShardOutput:
    """Ray task: `cusprun score … --shard index/count` into a temporary run folder; returns the
    CLI's summary and the folder's files (path → bytes), the paths in them the driver's.
    Progress goes to `board` as it comes."""
    import ray  # on the worker, where the task runs

    # Waited for: a worker killed right after sending it could lose it, and it counts retries.
    ray.get(board.started.remote(index))
    with task_dir() as tmp:
        run = Path(tmp, "run")
        inputs = _inputs_here(str(Path(tmp, "in")), args, shipped, needs, f"shard {index}/{count}")
        command = [_cusprun_cli(), "score", *inputs, "--run", str(run)]
        command += ["--shard", f"{index}/{count}", "--progress", "json"]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
        ) as child:
            assert child.stdout is not None and child.stderr is not None
            summary: dict = {}
            for line in child.stdout:
                message = json.loads(line)
                if message["type"] == "progress":
                    board.update.remote(index, message["progress"])
                else:
                    summary = message["summary"]
            stderr = child.stderr.read()
        if child.returncode != 0:
            last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {child.returncode}"
            raise ShardFailed(f"shard {index}/{count} on {socket.gethostname()}: {last}")
        files = {str(p.relative_to(run)): p.read_bytes() for p in run.rglob("*") if p.is_file()}
        if shipped is not None:
            files = swap_paths(files, str(Path(tmp, "in")), shipped, back=True)
        return summary, files, inputs[0]


class _Board:
    """Ray actor: the latest progress of each shard, and how often each shard's task started."""

    def __init__(self) -> None:
        self.progress: dict[int, dict] = {}
        self.starts: dict[int, int] = {}

    def started(self, index: int) -> None:
        self.starts[index] = self.starts.get(index, 0) + 1
        self.progress.pop(index, None)  # a retry starts its shard again

    def update(self, index: int, progress: dict) -> None:
        self.progress[index] = progress

    def snapshot(self) -> tuple[dict[int, dict], dict[int, int]]:
        return self.progress, self.starts


def _total(progress: dict[int, dict], elapsed_s: float) -> dict:
    """The shards' progress summed as one job's: counts add, the rate is the whole job's."""
    summed = {k: sum(p[k] for p in progress.values()) for k in ("done", "total", "skipped")}
    tokens = sum(p["tokens"] for p in progress.values())
    return {
        **summed,
        "tokens": tokens,
        "tokensPerSecond": tokens / elapsed_s if elapsed_s > 0 else 0.0,
        "elapsedMs": round(elapsed_s * 1000),
    }


def score_on_ray(
    run: str | os.PathLike,
    model: str | os.PathLike,
    corpus: str | os.PathLike,
    shards: int | None,
    address: str = "auto",
    *,
    batch_size: int | None = None,
    threads: int | None = None,
    score_form: str | None = None,
    max_retries: int = 3,
    ship_limit: int = DEFAULT_SHIP_LIMIT,
    on_event: EventCallback | None = None,
) -> dict:
    """Scores `model` on the corpus manifest `corpus` in `shards` Ray tasks and merges them into
    the new run folder `run` (shards None: one per CPU of the cluster). The model folder's files
    and the corpus are shipped to the tasks if they total at most `ship_limit` bytes (0: never).
    Returns `{scored, skipped, tokens, seconds, shards, retries, shipped, model_paths}`: the bytes
    shipped (0: read in place) and the model path each shard's CLI read."""
    if shards is not None and shards < 1:
        raise CusprunError(f"--shards: takes a count ≥ 1, got {shards}")
    model, corpus = os.path.abspath(model), os.path.abspath(corpus)
    args = [model, "--corpus", corpus]
    for flag, value in (("--batch", batch_size), ("--threads", threads)):
        args += [flag, str(value)] if value is not None else []
    args += ["--score-form", score_form] if score_form else []
    ray = connect(address)  # first: a wrong address is one line before anything is read
    shipped, total = _readable_inputs(model, (corpus,), ship_limit)
    shards = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
    start = time.monotonic()
    inputs = [args, _put(ray, shipped), ([model, corpus], total)]

    def progress(board: dict[int, dict], _done: int) -> dict | None:
        return _total(board, time.monotonic() - start) if board else None

    outputs, retries = _run_shards(
        ray, _score_shard, [inputs] * shards, max_retries, progress, on_event
    )
    seconds = time.monotonic() - start
    _merge(Path(run), [files for _, files, _ in outputs])
    summed = {k: sum(out[0][k] for out in outputs) for k in ("scored", "skipped", "tokens")}
    return {
        **summed,
        "seconds": seconds,
        "shards": shards,
        "retries": retries,
        "shipped": total if shipped is not None else 0,
        "model_paths": sorted({out[2] for out in outputs}),
    }


def _readable_inputs(
    model: str, manifests: tuple[str, ...], limit: int, more: tuple[str, ...] = ()
) -> tuple[Shipped | None, int | None]:
    """The files to ship (the model folder's, each corpus's whose manifest is found here, and
    `more`) if they total at most `limit` bytes, else None; and their total (None: not counted,
    as where shipping is off or the model or one of `more` is not found here)."""
    if limit <= 0 or not all(os.path.exists(path) for path in (model, *more)):
        return None, None
    sources: list[str] = []
    replaced: Shipped = {}
    for manifest in dict.fromkeys(m for m in manifests if os.path.isfile(m)):
        listed, rewritten = corpus_files(_cusprun_cli(), manifest)
        sources += listed
        replaced |= rewritten
    files = dict.fromkeys([*model_files(model), *sources, *more])
    return read_if_small(list(files), replaced, limit)


def _put(ray: ModuleType, shipped: Shipped | None) -> Any:
    """The shipped files in the object store, once for every task (None: nothing shipped)."""
    return ray.put(shipped) if shipped is not None else None


#: a job's progress from the shards' latest reports and the count of shards done (None: no event)
Progress = Callable[[dict[int, dict], int], "dict | None"]


def _run_shards(
    ray: ModuleType,
    function: Callable,
    shard_args: list[list],
    max_retries: int,
    progress: Progress,
    on_event: EventCallback | None,
) -> tuple[list, int]:
    """Runs `function(board, index, count, *shard_args[index])` as one Ray task per shard, one CPU
    each, emitting progress events until all are done. Returns their outputs and how many
    times a shard was started again."""
    board = ray.remote(num_cpus=0)(_Board).remote()
    task = ray.remote(num_cpus=1, max_retries=max_retries)(function)
    count = len(shard_args)
    refs = [task.remote(board, i, count, *args) for i, args in enumerate(shard_args)]
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
        reports, starts = ray.get(board.snapshot.remote())
        event = progress(reports, count - len(pending))
        if on_event is not None and event is not None:
            on_event({"type": "progress", "progress": event})
    return _shard_outputs(ray, refs), sum(starts.values()) - count


def _shard_outputs(ray: ModuleType, refs: list) -> list:
    """The shards' outputs, or the first failure as one line."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as error:
        cause = error.cause
        if isinstance(cause, CusprunError):
            raise ShardFailed(str(cause), "shard-failed") from None
        raise
    except ray.exceptions.WorkerCrashedError:
        raise ShardFailed(
            "a shard's Ray worker died more often than max_retries allows", "shard-failed"
        ) from None


def _merge(run: Path, shard_files: list[dict[str, bytes]]) -> None:
    """Writes the shards' folders here and joins them into `run` with `cusprun merge`."""
    with task_dir() as tmp:
        dirs = []
        for index, files in enumerate(shard_files):
            folder = Path(tmp, f"shard{index}")
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            dirs.append(str(folder))
        merged = subprocess.run(
            [_cusprun_cli(), "merge", "--run", str(run), *dirs], capture_output=True, text=True
        )
    if merged.returncode != 0:
        raise ShardFailed(merged.stderr.strip().removeprefix("cusprun: "), "merge-failed")


def _run_files(run: Path) -> dict[str, bytes]:
    """The files of the run folder a sweep or an ablation reads (SWEEP_INPUTS), by relative
    path."""
    return {
        str(p.relative_to(run)): p.read_bytes()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.relative_to(run).parts[0] in SWEEP_INPUTS
    }


def _copy_here(folder: Path, files: dict[str, bytes], root: str, shipped: Shipped | None) -> None:
    """A copy of a run folder's `files` at `folder`: its run.json names the model and corpus the
    sweep or ablation reads, so the shipped copies' paths take the driver's places."""
    copied = swap_paths(files, root, shipped, back=False) if shipped is not None else files
    for name, data in copied.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def _points_shard(
    board: Any,
    index: int,
    count: int,
    command: str,
    runs: dict[str, dict[str, bytes]],
    args: list[str],
    shipped: Shipped | None,
    needs: Needs,
) -> dict[str, bytes]:
    """Ray task: `cusprun COMMAND … --points index/count` (a sweep or an ablation) on a copy of the
    run folder (`runs["run"]`, and of its baseline run, `runs["baseline"]`, when there is
    one); returns the evaluation-cache lines it added and any baseline score store it made (in
    the run that calibrates them)."""
    import ray  # on the worker, where the task runs

    ray.get(board.started.remote(index))
    shard = f"{command} shard {index}/{count}"
    with task_dir() as tmp:
        root = str(Path(tmp, "in"))
        args = _inputs_here(root, args, shipped, needs, shard)
        for name, files in runs.items():
            _copy_here(Path(tmp, name), files, root, shipped)
        run = Path(tmp, "run")
        command_line = [_cusprun_cli(), command, "--run", str(run), *args]
        if "baseline" in runs:
            command_line += ["--baseline-run", str(Path(tmp, "baseline"))]
        points = [*command_line, "--points", f"{index}/{count}"]
        done = subprocess.run(points, capture_output=True, env=cli_env())
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip()
            last = stderr.splitlines()[-1] if stderr else f"exit {done.returncode}"
            raise ShardFailed(f"{shard} on {socket.gethostname()}: {last}")
        cache = run / EVAL_CACHE_FILE
        before = len(runs["run"].get(EVAL_CACHE_FILE, b""))
        added = cache.read_bytes()[before:] if cache.is_file() else b""
        calibration = "baseline" if "baseline" in runs else "run"
        had = {Path(n).parts[0] for n in runs[calibration]}
        made = {} if BASELINE_SCORES_DIR in had else _run_files(Path(tmp, calibration))
        stores = {n: d for n, d in made.items() if Path(n).parts[0] == BASELINE_SCORES_DIR}
        if shipped is not None:
            stores = swap_paths(stores, root, shipped, back=True)
        return {EVAL_CACHE_FILE: added} | stores


def sweep_evaluations(grid_values: int, methods: int) -> int:
    """How many evaluations a sweep makes: the dense model, and each method at each grid value."""
    return 1 + grid_values * methods


def ablation_evaluations(run: str | os.PathLike, dims: list[str] | None) -> int:
    """How many evaluations an ablation of the run folder `run` makes: the dense model, each
    non-empty subset of `dims` (None: every dimension the run scored), and general calibration
    at the all-dimension expert's counts."""
    scored = [d["dimension"] for d in _scored_run(Path(run))["corpus"]["dimensions"]]
    return 2 ** len(dims or scored) + 1


def evaluations_on_ray(
    command: str,
    run: str | os.PathLike,
    args: list[str],
    evaluations: int,
    shards: int | None,
    address: str = "auto",
    *,
    baseline: str | os.PathLike | None = None,
    max_retries: int = 3,
    ship_limit: int = DEFAULT_SHIP_LIMIT,
    on_event: EventCallback | None = None,
) -> dict:
    """Makes the evaluations of `cusprun COMMAND --run RUN *args`, a sweep or an ablation
    (`evaluations` of them, see `sweep_evaluations` and `ablation_evaluations`; a sweep's
    `--baseline-run BASELINE` when `baseline` names a run folder) in `shards` Ray tasks (None:
    one per evaluation) and adds their results to the run's evaluation cache, and the baseline
    score stores they made to the run that calibrates the baselines; the sweep or ablation
    itself is then run here, from the cache. The baseline run's files are copied to the tasks as
    the run's are. The run's model, its corpus (and the baseline run's) and the evaluation sets
    are shipped to the tasks if they total at most `ship_limit` bytes (0: never). Returns
    `{evaluations, shards, seconds, retries, shipped}`."""
    if shards is not None and shards < 1:
        raise CusprunError(f"--shards: takes a count ≥ 1, got {shards}")
    folders = {"run": Path(run)} | ({"baseline": Path(baseline)} if baseline else {})
    records = {name: _scored_run(folder) for name, folder in folders.items()}
    model = records["run"]["model"]["file"]
    manifests = tuple(r["corpus"]["manifest"] for r in records.values())
    sets = [spec.rpartition("=")[2] for flag, spec in itertools.pairwise(args) if flag == "--eval"]
    ray = connect(address)
    shipped, total = _readable_inputs(model, manifests, ship_limit, tuple(sets))
    shards = min(shards or evaluations, evaluations)
    start = time.monotonic()
    runs = ray.put({name: _run_files(folder) for name, folder in folders.items()})
    inputs = [command, runs, args, _put(ray, shipped), ([model, *sets], total)]

    def progress(_board: dict[int, dict], done: int) -> dict:
        counts = {"done": done, "total": shards, "skipped": 0, "tokens": 0, "tokensPerSecond": 0.0}
        return {**counts, "elapsedMs": _ms(start), "unit": "shards"}

    outputs, retries = _run_shards(
        ray, _points_shard, [inputs] * shards, max_retries, progress, on_event
    )
    _keep_in_run(folders["run"], outputs, folders.get("baseline", folders["run"]))
    seconds = time.monotonic() - start
    return {
        "evaluations": evaluations,
        "shards": shards,
        "seconds": seconds,
        "retries": retries,
        "shipped": total if shipped is not None else 0,
    }


def _scored_run(folder: Path) -> dict:
    """The run record of the run folder `folder`."""
    if not (folder / "run.json").is_file():
        raise CusprunError(f"{folder}: no scored run there: score it first")
    return json.loads((folder / "run.json").read_text())


def _ms(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


def _keep_in_run(run: Path, outputs: list[dict[str, bytes]], calibration: Path) -> None:
    """Appends the shards' new evaluation-cache lines (those whose key the cache lacks) to the
    run's cache, as the sidecar appends its own, and puts a baseline score store the run that
    calibrates the baselines (`calibration`) lacks in place (written beside it, then renamed: a
    half-written store is never seen)."""
    cache = run / EVAL_CACHE_FILE
    known = {_cache_key(line) for line in _lines(cache.read_bytes() if cache.is_file() else b"")}
    added = []
    for output in outputs:
        for line in _lines(output[EVAL_CACHE_FILE]):
            if _cache_key(line) not in known:
                known.add(_cache_key(line))
                added.append(line)
    if added:
        with open(cache, "ab") as out:
            out.write(b"".join(line + b"\n" for line in added))
    _keep_baseline_scores(calibration, outputs)


def _lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line.strip()]


def _cache_key(line: bytes) -> str | None:
    try:
        return json.loads(line)["key"]
    except (ValueError, KeyError, TypeError):
        return None  # a torn line, which the cache skips too


def _keep_baseline_scores(run: Path, outputs: list[dict[str, bytes]]) -> None:
    """Each baseline score store the run lacks, from the first shard that made it (whole: two
    shards' stores are not mixed)."""
    for output in outputs:
        stores: dict[str, dict[str, bytes]] = {}
        for name, data in output.items():
            if name != EVAL_CACHE_FILE:
                stores.setdefault(str(Path(*Path(name).parts[:2])), {})[name] = data
        for store, files in stores.items():
            if not (run / store).exists():
                _write_folder(
                    run / store, {str(Path(n).relative_to(store)): d for n, d in files.items()}
                )


def _write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """`folder` with `files`, written beside it and renamed: a half-written one is never seen."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cusprun-staging-", dir=folder.parent))
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    staging.rename(folder)
