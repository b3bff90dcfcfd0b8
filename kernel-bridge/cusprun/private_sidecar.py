"""Finding a sidecar: the running one the environment names, or Node and the built sidecar, and a
sidecar this Python process starts and stops itself.

Environment:

- ``CUSPRUN_SIDECAR_URL`` + ``CUSPRUN_SIDECAR_TOKEN``: a running sidecar.
- ``CUSPRUN_SIDECAR_JS``: the sidecar's ``dist/sidecar/cli.js`` (default: the one recorded when
  the package was built, or the source checkout's).
- ``CUSPRUN_NODE``: the Node executable (default: ``node`` on the PATH).
- ``CUSPRUN_PYTHON``: the Python a sidecar started here runs a job's Ray driver with (default:
  this one, ``sys.executable``).
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import CusprunError

#: a running sidecar: its URL and token (the Jupyter server extension sets both for its kernels)
ENV_URL = "CUSPRUN_SIDECAR_URL"
ENV_TOKEN = "CUSPRUN_SIDECAR_TOKEN"
ENV_JS = "CUSPRUN_SIDECAR_JS"
ENV_NODE = "CUSPRUN_NODE"
#: the Python the sidecar runs a job's Ray driver with (default: the one that starts it)
ENV_PYTHON = "CUSPRUN_PYTHON"

#: lines of a private sidecar's stderr kept to say why it stopped
STDERR_TAIL = 20
#: how long to wait for the rest of a stopped sidecar's stderr
STDERR_DRAIN_TIMEOUT = 2.0


def _recorded_sidecar_js() -> Path | None:
    """The cli.js the wheel's build recorded (`_build_info.json`), if any."""
    info = Path(__file__).with_name("_build_info.json")
    try:
        js = json.loads(info.read_text()).get("sidecar_js")
    except (OSError, ValueError):
        return None
    return Path(js) if js else None


def find_sidecar_js() -> Path:
    """The sidecar's cli.js: $CUSPRUN_SIDECAR_JS, the recorded build, or the source checkout."""
    given = os.environ.get(ENV_JS)
    if given:
        if not Path(given).is_file():
            raise CusprunError(f"{ENV_JS}={given}: no such file (point it at dist/sidecar/cli.js)")
        return Path(given)
    candidates = [
        _recorded_sidecar_js(),
        Path(__file__).resolve().parents[2] / "dist/sidecar/cli.js",
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise CusprunError(
        "cannot find the cusprun sidecar (dist/sidecar/cli.js): build it with `npm run build:node` "
        f"in the cusprun checkout, or set {ENV_JS} to its path"
    )


def find_node() -> str:
    """The Node executable: $CUSPRUN_NODE, else `node` on the PATH."""
    node = os.environ.get(ENV_NODE) or shutil.which("node")
    if not node:
        raise CusprunError(f"no `node` on the PATH: install Node ≥ 20, or set {ENV_NODE} to it")
    return node


class PrivateSidecar:
    """A sidecar this process started; it stops when this process exits (atexit, and the sidecar
    watches its stdin, so it also stops if this process dies)."""

    def __init__(
        self,
        store: str | None = None,
        cwd: str | None = None,
        timeout: float = 30,
        *,
        port: int | None = None,
        token: str | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ):
        """`port`/`token` pin the sidecar's port and token (the Jupyter server extension restarts
        its sidecar on the same ones); by default it picks a free port and makes up a token.
        `on_stderr` gets each line the sidecar writes on stderr, from a reader thread (the server
        extension logs them); the last few are kept anyway, to say why it stopped."""
        try:
            node = find_node()
        except CusprunError as error:
            raise CusprunError(
                f"cannot start the cusprun sidecar: {error}; or name a running sidecar with "
                f"{ENV_URL} and {ENV_TOKEN}"
            ) from None
        args = [node, str(find_sidecar_js()), "serve"]
        if store:
            args += ["--store", str(store)]
        if port:
            args += ["--port", str(port)]
        env = dict(os.environ)
        env.pop("CUSPRUN_TOKEN", None)  # let it make up its own token
        # The Python of its jobs' Ray drivers (`python -m cusprun.ray_driver`): this one.
        env.setdefault(ENV_PYTHON, sys.executable)
        if token:
            env["CUSPRUN_TOKEN"] = token
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, args=(on_stderr,), name=f"cusprun-sidecar-{self.pid}-stderr"
        )
        self._stderr_reader.daemon = True
        self._stderr_reader.start()
        line = self._ready_line(timeout)
        try:
            ready = json.loads(line)
        except ValueError:
            ready = None
        if not isinstance(ready, dict) or "port" not in ready or not (ready.get("token") or token):
            why = self._why(line)
            self.stop()
            raise CusprunError(f"the cusprun sidecar did not start: {why}")
        self.ready = ready
        self.url = f"http://127.0.0.1:{ready['port']}"
        self.token = ready.get("token") or token
        atexit.register(self.stop)

    def _ready_line(self, timeout: float) -> str:
        box: list[bytes] = []
        reader = threading.Thread(target=lambda: box.append(self.process.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        return box[0].decode("utf-8", "replace").strip() if box else ""

    def _read_stderr(self, on_stderr: Callable[[str], None] | None) -> None:
        # a pipe nobody reads would block the sidecar once it is full: read it to the end
        with self.process.stderr as stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip()
                if not line:
                    continue
                self.stderr_tail.append(line)
                if on_stderr is not None:
                    on_stderr(line)

    def _why(self, line: str) -> str:
        if self.process.poll() is not None:
            # its last words may still be in the pipe
            self._stderr_reader.join(STDERR_DRAIN_TIMEOUT)
        if self.stderr_tail:
            return self.stderr_tail[-1]
        if self.process.poll() is not None:
            return f"it exited with status {self.process.returncode}"
        return f"no ready line in time (got {line!r})"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 15) -> None:
        """Closes the sidecar's stdin (it then stops after its jobs' next checkpoint), waits, and
        kills it if it does not go."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        # its last lines (why it stopped) reach `on_stderr` before stop returns; the reader
        # closes the pipe at its end (later, if a child of the sidecar still holds it)
        self._stderr_reader.join(STDERR_DRAIN_TIMEOUT)
        atexit.unregister(self.stop)


# ---- The session ---------------------------------------------------------------------------
