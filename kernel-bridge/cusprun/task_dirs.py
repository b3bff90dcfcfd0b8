"""A Ray task's working folder (the shipped inputs, the shard's run folder) on its worker, and
the driver's while it merges the shards.

Its name holds the node's host name and the process's pid, so that a worker killed mid-task
(SIGKILL, out of memory) leaves a folder the next task or driver on that node recognises and
removes. A live process's folder, another host's (a temporary folder shared between nodes) and
any name not made here are left alone. The CLI a task starts gets EXIT_WITH_PARENT_ENV: it exits
once its worker is gone instead of scoring on into a removed folder.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from .contract import EXIT_WITH_PARENT_ENV

PREFIX = "cusprun-ray-"


def _prefix() -> str:
    return f"{PREFIX}{socket.gethostname()}-"


@contextmanager
def task_dir() -> Iterator[str]:
    """A fresh folder for this task, removed when it ends; first, dead workers' folders go."""
    parent = tempfile.gettempdir()
    remove_stale(parent)
    with tempfile.TemporaryDirectory(prefix=f"{_prefix()}{os.getpid()}-", dir=parent) as tmp:
        yield tmp


def remove_stale(parent: str) -> None:
    """Removes this host's task folders in `parent` whose worker is no longer running."""
    prefix = _prefix()
    for entry in os.scandir(parent):
        found = re.fullmatch(r"(\d+)-[a-z0-9_]{8}", entry.name.removeprefix(prefix))
        if entry.name.startswith(prefix) and found and not _alive(int(found[1])):
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def cli_env() -> dict[str, str]:
    """The environment of a CLI a task starts: this one, and exit when the worker is gone."""
    return {**os.environ, EXIT_WITH_PARENT_ENV: "1"}
