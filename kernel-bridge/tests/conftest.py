import json
import re
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def package_json() -> dict:
    return json.loads((ROOT / "package.json").read_text())


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """The bin folder of the interpreter running the tests (the project venv)."""
    return Path(sys.executable).parent


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    """Terminal output without its colour codes."""
    return ANSI.sub("", text)
