"""`cusprun export` from a notebook: the export runs in a child process, so torch and the
gigabytes an export holds never stay in the kernel."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from .errors import CusprunError
from .inputs import absolute

#: the export child's progress lines start so; its refusal is its last line starting "cusprun: "
EXPORT_PREFIX = "cusprun export: "
#: lines of an export child's stderr kept to say why it failed when it said nothing itself
EXPORT_TAIL = 5
#: how long an interrupted export has to remove its staging folder before it is killed
EXPORT_STOP_TIMEOUT = 60


def export_model(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    kv: bool = False,
    dtype: str = "float32",
    overwrite: bool = False,
    on_line: Callable[[str], None] | None = None,
) -> dict:
    """Runs `python -m cusprun.export` in a child process, so that the gigabytes an export holds
    (torch, the model twice) are given back when it ends, not kept by the kernel. `on_line` gets
    each of its progress lines (`cusprun export: …`) as it comes. Returns the report as plain data:
    ExportReport's fields (paths as strings) and its `summary` line. A failed export raises
    CusprunError with the export's own one line; it leaves nothing behind."""
    from .export.api import DTYPES  # no torch: the child imports it

    if dtype not in DTYPES:
        raise CusprunError(f"dtype '{dtype}': expected one of {', '.join(DTYPES)}")
    args = [
        sys.executable,
        "-m",
        "cusprun.export",
        "--out",
        absolute(out),
        "--dtype",
        dtype,
        "--json",
    ]
    args += ["--kv"] * kv + ["--overwrite"] * overwrite + ["--", os.fspath(source)]
    # Its own session: a Ctrl-C reaches it once, from _interrupt, not also from the terminal or
    # Jupyter signalling the kernel's process group.
    with subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,  # universal newlines: a progress bar's \r frames come as lines
        errors="replace",
        start_new_session=True,
    ) as process:
        stdout: list[str] = []
        reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()))
        reader.daemon = True
        reader.start()
        tail: collections.deque[str] = collections.deque(maxlen=EXPORT_TAIL)
        try:
            for line in process.stderr:
                line = line.rstrip()
                if line.startswith(EXPORT_PREFIX) and on_line is not None:
                    on_line(line)
                elif line:
                    tail.append(line)
            process.wait()
        except KeyboardInterrupt:
            _interrupt(process)
            raise
        reader.join()
    if process.returncode != 0:
        raise CusprunError(_export_failure(process.returncode, tail))
    return json.loads(stdout[0].strip().splitlines()[-1])


def _interrupt(process: subprocess.Popen) -> None:
    """Stops an export as Ctrl-C would (it removes its staging folder on KeyboardInterrupt);
    killed if it does not go in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(EXPORT_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _export_failure(status: int, tail: collections.deque[str]) -> str:
    """The export's own refusal, else how its process ended and its last words (a crash)."""
    said = [line for line in tail if line.startswith("cusprun: ")]
    if said:
        return said[-1].removeprefix("cusprun: ")
    if status < 0:
        how = f"was killed by {signal.Signals(-status).name}"
        if -status == signal.SIGKILL:
            how += " (out of memory? an export holds the model in torch and in onnxruntime)"
    else:
        how = f"exited with status {status}"
    return f"export: the export process {how}" + (f": {tail[-1]}" if tail else "")
