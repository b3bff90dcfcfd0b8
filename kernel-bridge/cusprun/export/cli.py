"""`cusprun export …` on the command line (the console script dispatches here)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from ..session import CusprunError
from .api import DTYPES, export

DESCRIPTION = """\
Export a decoder LLM to an ONNX folder cusprun can prune: model.onnx (+ model.onnx_data when
large), config.json, tokenizer.json, tokenizer_config.json (BOS rule explicit),
generation_config.json and cusprun-export.json. SOURCE is a Hugging Face model folder, a .gguf
file (dequantised to fp32) or a model id in the local Hugging Face cache. The export is checked:
onnxruntime against torch on a few prompts, and a difference past the bound for the dtype fails
it (nothing is written then)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # one line, like every other cusprun refusal
        print(f"cusprun: export: {message} (see cusprun export --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cusprun export",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="SOURCE", help="model folder, .gguf file or cache id")
    parser.add_argument("--out", required=True, metavar="DIR", help="the ONNX folder to write")
    parser.add_argument(
        "--kv", action="store_true", help="with KV-cache inputs and outputs (Optimum's names)"
    )
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="default: float32")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier cusprun export in DIR"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as one JSON line, for programs"
    )
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    _quiet_transformers()
    try:
        report = export(
            args.source,
            args.out,
            kv=args.kv,
            dtype=args.dtype,
            overwrite=args.overwrite,
            log=lambda message: print(f"cusprun export: {message}", file=sys.stderr, flush=True),
        )
    except CusprunError as error:
        print(f"cusprun: {error}", file=sys.stderr)
        return 1
    if args.json:  # the notebook's export runs this in a child process and reads it back
        print(json.dumps({**dataclasses.asdict(report), "summary": report.summary()}, default=str))
    else:
        print(report.summary())
    return 0


def _quiet_transformers() -> None:
    """No progress bars or advice from transformers on a terminal: the steps are logged. Set in
    the environment, before anything imports them (the GGUF loader uses plain tqdm)."""
    for name, value in (
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TQDM_DISABLE", "1"),
    ):
        os.environ.setdefault(name, value)
