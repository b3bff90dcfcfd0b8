"""What the kernel sends the sidecar as files: paths made absolute (the sidecar may run in another
folder), evaluation sets checked, corpus manifests written from `dimension=FILE` pairs, run ids."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .errors import CusprunError


def absolute(path: str | os.PathLike) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def eval_set_path(spec: str) -> str:
    """`FILE` or `NAME=FILE`, with FILE made absolute (the sidecar may run elsewhere)."""
    name, sep, file = spec.rpartition("=")
    if not Path(file).is_file():
        raise CusprunError(f"{file}: no such evaluation set")
    return f"{name}={absolute(file)}" if sep else absolute(file)


def eval_set_paths(specs: list[str] | str) -> list[str]:
    specs = [specs] if isinstance(specs, str) else list(specs)
    if not specs:
        raise CusprunError("give at least one evaluation set (FILE or NAME=FILE)")
    return [eval_set_path(s) for s in specs]


def new_run_id(model: str, corpus: str) -> str:
    stem = Path(model).name if Path(model).suffix != ".onnx" else Path(model).parent.name
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in f"{stem}-{corpus}")
    return f"{base.lstrip('.-')[:60]}-{time.strftime('%Y%m%d-%H%M%S')}"


def write_manifest(
    dimensions: dict,
    *,
    name: str | None = None,
    documents: int | None = None,
    truncation: int | None = None,
    seed: int | None = None,
    folder: str | os.PathLike = ".",
) -> Path:
    """A JSON corpus manifest for `dimension=FILE` (or a list of files) pairs, with absolute
    source paths; the dimension's name is the first file's stem. Returns its path."""
    dims = {}
    for dimension, sources in dimensions.items():
        sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
        for source in sources:
            if not Path(source).exists():
                raise CusprunError(f"{source}: no such corpus file ({dimension})")
        spec: dict[str, Any] = {
            "name": Path(sources[0]).stem,
            "sources": [absolute(s) for s in sources],
        }
        if any(Path(s).suffix == ".txt" for s in sources):
            spec["format"] = "lines"
        dims[dimension] = spec
    manifest: dict[str, Any] = {"dimensions": dims}
    for key, value in (("truncation", truncation), ("seed", seed), ("documents", documents)):
        if value is not None:
            manifest[key] = value
    name = name or "-".join(spec["name"] for spec in dims.values())
    path = Path(folder) / f".cusprun-corpus-{name}.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path
