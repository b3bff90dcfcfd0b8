"""`export()`: a model in, a checked ONNX folder out. The CLI, the magic and `Session.export` all
call this one function."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._version import __version__
from ..session import CusprunError

DTYPES = ("float32", "float16")
#: the modules the export extra brings (import names)
EXTRA_MODULES = ("torch", "transformers", "gguf", "onnx", "onnxruntime", "accelerate")
INSTALL_EXTRA = "pip install 'cusprun[export]'"
#: written last into every export folder: what was exported and how it checked; it also marks
#: the folder as cusprun's own, the only kind --overwrite replaces
RECORD_FILE = "cusprun-export.json"


@dataclass(frozen=True)
class ExportReport:
    out: Path
    source: Path
    model_type: str
    kv: bool
    dtype: str
    external_data: bool
    #: max |logit difference| onnxruntime vs torch on the check prompts, and its bound
    max_diff: float
    bound: float
    size_bytes: int
    #: wall seconds of each step: load, export, check
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        kind = "with KV cache" if self.kv else "logits only"
        return (
            f"wrote {self.out} ({self.model_type}, {kind}, {self.dtype}, "
            f"{self.size_bytes / 2**20:.1f} MiB) in {sum(self.seconds.values()):.1f} s; "
            f"max |logit difference| onnxruntime vs torch: {self.max_diff:.2e} "
            f"(bound {self.bound:.2e})"
        )


def export(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    kv: bool = False,
    dtype: str = "float32",
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> ExportReport:
    """Exports `source` (a Hugging Face folder, a .gguf file or a model id in the local hub cache)
    to the ONNX folder `out`, checks onnxruntime against torch and returns what it did. Raises
    CusprunError (one line) on anything the user can fix; writes nothing on failure."""
    require_extra()
    if dtype not in DTYPES:
        raise CusprunError(f"dtype '{dtype}': expected one of {', '.join(DTYPES)}")
    say = log or (lambda _message: None)
    out = _writable(Path(out).expanduser().resolve(), overwrite)

    from . import check, graph, sources, tokenizer

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    found = sources.find(source)
    say(f"loading {found.path}")
    loaded = sources.load(found)
    model = loaded.model.half() if dtype == "float16" else loaded.model
    seconds["load"] = time.perf_counter() - start

    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        start = time.perf_counter()
        prompt_ids = tokenizer.write_tokenizer(loaded.tokenizer, stage, list(check.PROMPTS))
        _write_configs(model, stage, dtype)
        say(f"exporting {'with KV cache' if kv else 'logits only'} ({dtype})")
        external = graph.export_graph(model, stage, kv, found.path)
        seconds["export"] = time.perf_counter() - start

        start = time.perf_counter()
        say("checking onnxruntime against torch")
        checked = check.check_export(stage, model, prompt_ids, kv, dtype, out / graph.MODEL_FILE)
        seconds["check"] = time.perf_counter() - start
        report = ExportReport(
            out, found.path, found.model_type, kv, dtype, external,
            checked.max_diff, checked.bound, _size(stage), seconds,
        )  # fmt: skip
        _write_record(stage, report, checked.max_logit)
        _replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return report


def require_extra() -> None:
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise CusprunError(
            f"export: the export extra is not installed (no module named '{missing[0]}'): "
            f"{INSTALL_EXTRA}"
        )


def _writable(out: Path, overwrite: bool) -> Path:
    """`out` if cusprun may write there: absent, an empty folder, or (with overwrite) a folder
    holding an earlier export."""
    if out.exists() and not out.is_dir():
        raise CusprunError(f"{out}: exists and is not a folder: choose another output folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / RECORD_FILE).is_file():
            raise CusprunError(
                f"{out}: not empty and not a cusprun export: cusprun export writes into a new "
                "or empty folder, or over an earlier export of its own (--overwrite)"
            )
        if not overwrite:
            raise CusprunError(f"{out}: holds an earlier export: pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _write_configs(model, stage: Path, dtype: str) -> None:
    config = model.config.to_dict()
    config.update(architectures=[type(model).__name__], dtype=dtype)
    (stage / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    model.generation_config.save_pretrained(stage)


def _write_record(stage: Path, report: ExportReport, max_logit: float) -> None:
    import onnxruntime
    import torch
    import transformers

    record = {
        "source": str(report.source),
        "model_type": report.model_type,
        "kv_cache": report.kv,
        "dtype": report.dtype,
        "external_data": report.external_data,
        "check": {"max_diff": report.max_diff, "bound": report.bound, "max_logit": max_logit},
        "seconds": {k: round(v, 2) for k, v in report.seconds.items()},
        "versions": {
            "cusprun": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }
    (stage / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")


def _replace(stage: Path, out: Path) -> None:
    # _writable allowed only an empty folder or an earlier export here
    if out.exists():
        shutil.rmtree(out)
    os.chmod(stage, 0o755)  # mkdtemp makes it 0700
    stage.rename(out)


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
