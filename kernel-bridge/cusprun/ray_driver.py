"""The Ray driver the sidecar runs for a job on Ray (`ray` in a score, sweep or ablate request), as
a child process of its own: `python -m cusprun.ray_driver score|sweep|ablate …`. It calls
`score_on_ray` or `evaluations_on_ray` (cusprun.distributed) and prints one JSON object a line on
its standard output: `{"type": "progress", "progress": {...}}` as the shards go, then `{"type":
"result", "result": {...}}` (the protocol's ScoreResult, or the sweep's or ablation's
RayOutcome), or `{"type": "error", "message": …, "code": …}`: a refusal in one line.

It is a module of its own, not `python -m cusprun.distributed`: Ray pickles the task functions by
their module's name, and a module run as `__main__` would be pickled whole, its error classes
then differing from cusprun.distributed's.

The sidecar kills the driver's process group to cancel the job (Ray then ends the job's tasks);
the driver also stops once its standard input closes, so that it does not outlive a sidecar that
died without cancelling it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import TextIO

from .contract import METHODS
from .errors import CusprunError

#: what a sweep and an ablation share: the expert's settings and the evaluation's
EXPERT_FLAGS = {
    "dims": "--dims",
    "rule": "--rule",
    "q": "--q",
    "minKeep": "--min-keep",
    "multipleOf": "--multiple-of",
    "keepAttention": "--keep-attention",
    "compensation": "--compensation",
    "truncation": "--truncation",
    "threads": "--threads",
}

#: each request's fields as its command's flags (a list: one comma-joined value; true: a bare flag)
COMMAND_FLAGS = {
    "sweep": {
        "sigmas": "--sigma",
        "targetRatios": "--target-ratios",
        "methods": "--methods",
        "seed": "--seed",
        **EXPERT_FLAGS,
    },
    "ablate": {"targetRatio": "--target-ratio", **EXPERT_FLAGS},
}


def cli_args(command: str, request: dict) -> list[str]:
    """A sweep or ablate request's settings as the `cusprun sweep|ablate` arguments that make the
    same evaluations (`repr` of a float reads back as the same number in JavaScript)."""
    args = [arg for spec in request["evalSets"] for arg in ("--eval", spec)]
    for field, flag in COMMAND_FLAGS[command].items():
        value = request.get(field)
        if isinstance(value, bool):
            args += [flag] if value else []
        elif value is not None:
            args += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return args


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cusprun.ray_driver")
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score")
    score.add_argument("--model", required=True)
    score.add_argument("--corpus", required=True, help="the corpus manifest")
    score.add_argument("--batch-size", type=int)
    score.add_argument("--threads", type=int)
    score.add_argument("--score-form")
    sweep = commands.add_parser("sweep")
    ablate = commands.add_parser("ablate")
    for command in (sweep, ablate):
        command.add_argument("--request", required=True, help="the job's request (JSON)")
        command.add_argument(
            "--baseline-run", help="the folder of the run calibrating the baselines"
        )
    for command in (score, sweep, ablate):
        command.add_argument("--run", required=True, help="the run folder")
        command.add_argument("--address", required=True)
        command.add_argument("--shards", type=int)
        command.add_argument("--ship-limit", type=int)
    return parser


def _score(ns: argparse.Namespace, shipping: dict, on_event) -> dict:
    from .distributed import score_on_ray

    result = score_on_ray(
        ns.run,
        ns.model,
        ns.corpus,
        ns.shards,
        ns.address,
        batch_size=ns.batch_size,
        threads=ns.threads,
        score_form=ns.score_form,
        on_event=on_event,
        **shipping,
    )
    ray = {k: result[k] for k in ("shards", "retries", "shipped")}
    return {k: result[k] for k in ("scored", "skipped", "tokens", "seconds")} | {
        "complete": True,
        "ray": ray,
    }


def _evaluations(ns: argparse.Namespace, request: dict) -> int:
    """How many evaluations the sweep or ablation makes."""
    from .distributed import ablation_evaluations, sweep_evaluations

    if ns.command == "ablate":
        return ablation_evaluations(ns.run, request.get("dims"))
    grid = request.get("sigmas") or request.get("targetRatios") or []
    return sweep_evaluations(len(grid), len(request.get("methods") or METHODS))


def _spread(ns: argparse.Namespace, shipping: dict, on_event) -> dict:
    """A sweep's or ablation's evaluations on Ray, into the run's evaluation cache."""
    from .distributed import evaluations_on_ray

    request = json.loads(ns.request)
    result = evaluations_on_ray(
        ns.command,
        ns.run,
        cli_args(ns.command, request),
        _evaluations(ns, request),
        ns.shards,
        ns.address,
        baseline=ns.baseline_run,
        on_event=on_event,
        **shipping,
    )
    return {k: result[k] for k in ("shards", "retries", "shipped", "evaluations")}


def _stop_when_orphaned() -> None:
    """Stops this driver once its standard input closes: the sidecar that started it is gone."""

    def wait() -> None:
        # Unbuffered: a buffered reader's lock held here would abort the interpreter's exit.
        while os.read(sys.stdin.fileno(), 1 << 16):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="cusprun-ray-driver-stdin", daemon=True).start()


def _events_out() -> TextIO:
    """This driver's event stream: the standard output as it was, which then goes to the standard
    error, so that whatever else prints there (Ray, a library) cannot mix with the events."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return out


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    out = _events_out()
    _stop_when_orphaned()

    def emit(event: dict) -> None:
        out.write(json.dumps(event, ensure_ascii=False) + "\n")

    shipping = {} if ns.ship_limit is None else {"ship_limit": ns.ship_limit}
    try:
        result = (_score if ns.command == "score" else _spread)(ns, shipping, emit)
    except CusprunError as error:
        message = str(error)
        if error.code == "ray-missing":
            message += f" (for {sys.executable})"
        emit({"type": "error", "message": message, "code": error.code})
        return 1
    emit({"type": "result", "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
