"""A Ray job's inputs shipped through the object store (see `cusprun.distributed`).

The driver reads the files a job reads (the model folder's files, a corpus manifest and the source
files it resolves to, evaluation sets) into one `Shipped` mapping, keyed by each file's absolute
path here. A task writes them under a temporary folder of its own at that same path below it
(ROOT + path), so that every path keeps its place relative to the others, and hands the CLI the
copies' paths. The CLI records the paths it read in its JSON files (`run.json`, score stores),
so those are swapped back to the driver's paths before the files leave the task: the run is the
one the CLI writes reading the files here, byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .errors import CusprunError

#: a driver's absolute path → the bytes a task writes in its place
Shipped = dict[str, bytes]


def model_files(model: str) -> list[str]:
    """The files of the model's folder (the model is that folder, or a .onnx file in it): the
    graph, its external data, config.json and the tokenizer's files all lie there."""
    folder = Path(model if os.path.isdir(model) else os.path.dirname(model))
    return sorted(str(p) for p in folder.iterdir() if p.is_file())


def corpus_files(cli: str, manifest: str) -> tuple[list[str], Shipped]:
    """The source files of the corpus manifest as the CLI resolves them (`cusprun inspect --corpus
    --json`: folders expanded, paths relative to the manifest's folder or absolute), and the
    manifest to ship in the manifest's place (`portable_manifest`)."""
    listed = subprocess.run(
        [cli, "inspect", "--corpus", manifest, "--json"], capture_output=True, text=True
    )
    if listed.returncode != 0:
        lines = listed.stderr.strip().splitlines() or [f"exit {listed.returncode}"]
        raise CusprunError(lines[-1].removeprefix("cusprun: "), "bad-corpus")
    read = json.loads(listed.stdout)
    sources = sorted({f["file"] for d in read["dimensions"] for f in d["files"]})
    return sources, {read["file"]: portable_manifest(read)}


def portable_manifest(read: dict) -> bytes:
    """The manifest as the CLI read it (`read`), every source a file relative to the manifest's
    folder, so that a copy reads the copied sources even where the manifest names them by
    absolute path (as `%cusprun corpus dimension=FILE` writes it). JSON, which also parses as the
    YAML a .yaml manifest is read as. No hash covers the manifest's own bytes: the corpus hash
    is over the documents, the truncation and the seed."""
    dimensions = {}
    for d in read["dimensions"]:
        spec = {
            "name": d["name"],
            "sources": [f["relative"] for f in d["files"]],
            "textField": d["textField"],
        }
        dimensions[d["dimension"]] = spec | ({"format": d["format"]} if d.get("format") else {})
    settings = {k: read[k] for k in ("truncation", "seed", "documents")}
    return json.dumps({"dimensions": dimensions, **settings}).encode()


def read_if_small(files: list[str], replaced: Shipped, limit: int) -> tuple[Shipped | None, int]:
    """`files` (and `replaced`: files shipped with other bytes than they hold here) read for
    shipping if they total at most `limit` bytes, else None; and their total."""
    kept = [f for f in files if f not in replaced]
    total = sum(os.path.getsize(f) for f in kept) + sum(map(len, replaced.values()))
    if total > limit:
        return None, total
    return {f: Path(f).read_bytes() for f in kept} | replaced, total


def local_path(root: str, path: str) -> str:
    """Where a task keeps its copy of the driver's `path`."""
    return os.path.join(root, path.lstrip("/"))


def materialise(root: str, shipped: Shipped) -> None:
    """Writes the shipped files under `root` (each to a temporary name, then renamed: the CLI
    never reads half a file)."""
    for path, data in shipped.items():
        target = Path(local_path(root, path))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.part")
        staging.write_bytes(data)
        staging.replace(target)


def localise(root: str, arg: str, shipped: Shipped) -> str:
    """A CLI argument naming a shipped file, a folder of shipped files or NAME=FILE, as the task's
    copy; any other argument as it is."""
    if _holds(shipped, arg):
        return local_path(root, arg)
    name, sep, file = arg.rpartition("=")
    return f"{name}={local_path(root, file)}" if sep and _holds(shipped, file) else arg


def _holds(shipped: Shipped, path: str) -> bool:
    folder = path.rstrip("/") + "/"
    return path.startswith("/") and (path in shipped or any(f.startswith(folder) for f in shipped))


def swap_paths(files: dict[str, bytes], root: str, shipped: Shipped, back: bool) -> dict:
    """`files` with every JSON string that is a shipped file's path, or its folder's, swapped
    for the task's copy (`back`: the copy's for the driver's). Only whole JSON strings change,
    and the rest of each file keeps its bytes."""
    paths = set(shipped) | {os.path.dirname(p) for p in shipped}
    pairs = [(p, local_path(root, p)) for p in paths]
    pairs = [(new, old) for old, new in pairs] if back else pairs
    quoted = [(_quoted(old), _quoted(new)) for old, new in pairs]
    swapped = {}
    for name, data in files.items():
        if name.endswith(".json"):
            for old, new in quoted:
                data = data.replace(old, new)
        swapped[name] = data
    return swapped


def _quoted(path: str) -> bytes:
    """A path as JSON.stringify writes it (non-ASCII as it is, '/' unescaped)."""
    return json.dumps(path, ensure_ascii=False).encode()
