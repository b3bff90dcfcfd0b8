#!/usr/bin/env python3
"""Scoring throughput on Ray against the single-process CLI, on the same documents, in one run.

Scores a model on a corpus manifest six ways, each into a fresh run folder, and prints tokens/s
and the ratio to the single-process CLI on one onnxruntime thread:

- `cusprun score --threads 1` and `--threads 2` (one process);
- `score_on_ray` on a local cluster of 1 node and of 2 nodes, one CPU each, one shard per node,
  each shard's CLI on one thread, first with the model and corpus read where they lie
  (`ship_limit=0`), then shipped through Ray's object store (the default limit): the difference
  is the cost of shipping. Wall time includes starting the CLIs, shipping the inputs and the
  shard folders back and `cusprun merge`, not the driver's one-off `ray.init`, done before the
  clock starts.

It prints the machine's cores and load average beside the figures: on a shared machine they
decide what the ratios can be.

The local cluster is the tests' (kernel-bridge/tests/ray_cluster.py); it needs the ray extra:

    .venv/bin/python bench/ray_scoring.py [MODEL] [MANIFEST]   (default: the demo's)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "kernel-bridge" / "tests"))

from cusprun.distributed import DEFAULT_SHIP_LIMIT, connect, score_on_ray  # noqa: E402
from ray_cluster import local_ray_cluster  # noqa: E402

CLI = str(Path(sys.executable).with_name("cusprun"))


def cli_score(model: Path, corpus: Path, threads: int) -> Callable[[Path], int]:
    def score(run: Path) -> int:
        command = [CLI, "score", str(model), "--corpus", str(corpus), "--run", str(run)]
        command += ["--threads", str(threads), "--progress", "json"]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])["summary"]["tokens"]

    return score


Row = tuple[str, float, int]

SHIPPED = {False: "read in place", True: "inputs shipped"}


def on_ray(
    model: Path, corpus: Path, nodes: int, address: str, shipped: bool
) -> Callable[[Path], int]:
    """One shard per node; the inputs read where they lie, or shipped through the object store
    (each task writes its own copy of the model and corpus first)."""

    def score(run: Path) -> int:
        limit = DEFAULT_SHIP_LIMIT if shipped else 0
        result = score_on_ray(run, model, corpus, nodes, address, threads=1, ship_limit=limit)
        return result["tokens"]

    return score


def timed(tmp: Path, name: str, score: Callable[[Path], int]) -> Row:
    """The label, wall seconds and tokens of one way of scoring."""
    start = time.monotonic()
    tokens = score(tmp / name)
    return name, time.monotonic() - start, tokens


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "demo" / "model")
    corpus = Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "demo/expert-de-computing-qa.yaml")
    with tempfile.TemporaryDirectory(prefix="cusprun-bench-ray-") as name:
        tmp = Path(name)
        rows = [
            timed(tmp, "CLI, 1 thread", cli_score(model, corpus, 1)),
            timed(tmp, "CLI, 2 threads", cli_score(model, corpus, 2)),
        ]
        for nodes in (1, 2):
            with local_ray_cluster(tmp / f"cluster{nodes}", extra_workers=nodes - 1) as address:
                connect(address)
                for shipped in (False, True):
                    label = f"Ray, {nodes} worker{'s' * (nodes > 1)}, {SHIPPED[shipped]}"
                    rows.append(timed(tmp, label, on_ray(model, corpus, nodes, address, shipped)))
    base = rows[0][2] / rows[0][1]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    shown = model.resolve().relative_to(ROOT) if model.resolve().is_relative_to(ROOT) else model
    print(f"scoring {shown} on {corpus.name}: {rows[0][2]} tokens each way")
    print(f"  ({os.cpu_count()} cores, load average {load} at the end)")
    for label, seconds, tokens in rows:
        rate = tokens / seconds
        print(
            f"  {label:33s} {seconds:6.1f} s {rate:8.0f} tokens/s"
            f"  {rate / base:5.2f}x the CLI on 1 thread"
        )


if __name__ == "__main__":
    main()
