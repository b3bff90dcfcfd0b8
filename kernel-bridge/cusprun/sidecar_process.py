"""The Jupyter server's own sidecar: started with the server, restarted when it dies or when the
run store changes, stopped at shutdown. It reuses the kernel bridge's `PrivateSidecar` (node
`cli.js serve`), logs what the sidecar writes on stderr to the server's log, and keeps the
sidecar's port and token across restarts, so kernels that already read
``CUSPRUN_SIDECAR_URL``/``CUSPRUN_SIDECAR_TOKEN`` keep working after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from typing import Any

from .errors import CusprunError
from .private_sidecar import ENV_TOKEN, ENV_URL, PrivateSidecar

#: where the server extension keeps its `SidecarProcess` in the tornado settings
SETTINGS_KEY = "cusprun_sidecar"

#: the run store kernels inherit (the server's, absolute)
ENV_STORE = "CUSPRUN_STORE"

#: the prefix of the sidecar's stderr lines in the server's log
STDERR_PREFIX = "cusprun sidecar: "

STARTING, RUNNING, RESTARTING, FAILED, STOPPED = (
    "starting",
    "running",
    "restarting",
    "failed",
    "stopped",
)


def resolve_store(root: str, store: str) -> str:
    """A run store as the server names it: relative to the server's root folder (`root`), ``~``
    expanded; an absolute path stays as it is."""
    return os.path.abspath(os.path.join(root, os.path.expanduser(store)))


class SidecarProcess:
    """One supervised sidecar. All methods run on the server's event loop; the blocking start and
    stop of `PrivateSidecar` run in a worker thread."""

    #: consecutive failed starts (or deaths within `stable_after` s) before giving up
    max_attempts = 6
    #: a sidecar that ran this long resets the attempt count when it dies
    stable_after = 30.0
    poll_interval = 0.25

    def __init__(
        self,
        store: str,
        cwd: str,
        log: logging.Logger | None = None,
        *,
        set_environ: bool = True,
        start_timeout: float = 30,
    ):
        self.store = store
        #: the store the server was configured with, which `restart("")` comes back to
        self.own_store = store
        self.cwd = cwd
        self.log = log or logging.getLogger("cusprun")
        self.set_environ = set_environ
        self.start_timeout = start_timeout
        self.token = secrets.token_urlsafe(32)
        self.port: int | None = None
        self.sidecar: PrivateSidecar | None = None
        self.state = STARTING  # `start` is due as soon as the server's loop runs
        self.message: str | None = None
        self.restarts = 0
        self._attempts = 0
        self._started_at = 0.0
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._restarting = asyncio.Lock()

    # -- what the handlers read --

    @property
    def url(self) -> str | None:
        return self.sidecar.url if self.sidecar is not None else None

    @property
    def pid(self) -> int | None:
        return self.sidecar.pid if self.sidecar is not None else None

    def running(self) -> PrivateSidecar | None:
        """The sidecar if it is up (and has not died since the watcher last looked)."""
        sidecar = self.sidecar
        if self.state != RUNNING or sidecar is None or sidecar.process.poll() is not None:
            return None
        return sidecar

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"state": self.state, "restarts": self.restarts}
        if self.state == RUNNING and self.sidecar is not None:
            info["url"] = self.sidecar.url
            info["pid"] = self.sidecar.pid
            info["store"] = self.sidecar.ready.get("store", self.store)
        if self.message:
            info["message"] = self.message
        return info

    def unavailable(self) -> str:
        """Why there is no sidecar to talk to right now, as a message for the user."""
        if self.state == STARTING:
            return "the cusprun sidecar is starting; try again in a moment"
        if self.state == STOPPED:
            return "the cusprun sidecar is stopped (the Jupyter server is shutting down)"
        if self.state == RUNNING:  # it died a moment ago: the watcher is about to restart it
            return "the cusprun sidecar stopped; it is restarting, try again in a moment"
        if self.state == RESTARTING:
            why = f" ({self.message})" if self.message else ""
            return f"the cusprun sidecar is restarting{why}; try again in a moment"
        return (
            f"the cusprun sidecar failed to start: {self.message or 'unknown reason'}; "
            "see the Jupyter server's log, fix the cause and restart JupyterLab"
        )

    # -- lifecycle --

    def start(self) -> asyncio.Task:
        """Starts the sidecar and its watcher (returns the watcher task)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self.state = STARTING
            self._task = asyncio.ensure_future(self._supervise())
        return self._task

    async def restart(self, store: str | None = None) -> bool:
        """Starts the sidecar again if it gave up (failed, stopped), or on another run store `store`
        (an absolute path; a running sidecar is stopped first), and waits for the outcome of the
        first try: running, restarting (with the reason) or failed. Port and token stay. Returns
        whether it started one (False: it runs on that store already)."""
        async with self._restarting:  # two requests at once must not interleave stop and start
            switch = store is not None and store != self.store
            if switch:
                await self.stop()
                self.log.info(
                    "cusprun: the sidecar's run store goes from %s to %s", self.store, store
                )
                self.store = store
            elif self.state not in (FAILED, STOPPED):
                return False
            self._attempts = 0
            self.start()
            deadline = time.monotonic() + self.start_timeout + 5
            while self.state == STARTING and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return True

    async def stop(self) -> None:
        """Stops the watcher and the sidecar (closing its stdin; killing it if it lingers)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        sidecar, self.sidecar = self.sidecar, None
        if sidecar is not None:
            await asyncio.get_running_loop().run_in_executor(None, sidecar.stop)
            self.log.info("cusprun sidecar (pid %s) stopped", sidecar.pid)
        self.state = STOPPED

    def stop_now(self) -> None:
        """Synchronous stop, for an exit hook without an event loop."""
        self._stopping = True
        sidecar, self.sidecar = self.sidecar, None
        if sidecar is not None:
            sidecar.stop()
        self.state = STOPPED

    # -- the supervisor --

    async def _launch(self) -> PrivateSidecar:
        loop = asyncio.get_running_loop()

        def make(port: int | None) -> PrivateSidecar:
            return PrivateSidecar(
                store=self.store,
                cwd=self.cwd,
                timeout=self.start_timeout,
                port=port,
                token=self.token,
                on_stderr=self._log_stderr,
            )

        try:
            return await loop.run_in_executor(None, make, self.port)
        except CusprunError:
            if self.port is None:
                raise
            # the old port may be taken now: any free port will do (the URL then changes)
            self.log.warning("cusprun sidecar: port %s unavailable, taking another", self.port)
            return await loop.run_in_executor(None, make, None)

    def _log_stderr(self, line: str) -> None:
        # from the sidecar's reader thread (logging is thread-safe); its own lines mostly carry the
        # prefix already
        self.log.info("%s%s", STDERR_PREFIX, line.removeprefix(STDERR_PREFIX))

    async def _supervise(self) -> None:
        while not self._stopping:
            try:
                sidecar = await self._launch()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure to start is reported
                self.sidecar = None
                self._attempts += 1
                self.message = str(error)
                self.log.error("cusprun sidecar failed to start: %s", error)
                if self._attempts >= self.max_attempts:
                    self.state = FAILED
                    return
                self.state = RESTARTING
                await asyncio.sleep(self._backoff())
                continue
            if self._stopping:
                await asyncio.get_running_loop().run_in_executor(None, sidecar.stop)
                return
            self.sidecar = sidecar
            self.port = sidecar.ready.get("port")
            self._started_at = time.monotonic()
            if self.set_environ:
                os.environ[ENV_URL] = sidecar.url
                os.environ[ENV_TOKEN] = sidecar.token
                os.environ[ENV_STORE] = self.store
            self.state = RUNNING
            self.message = None
            self.log.info(
                "cusprun sidecar running at %s (pid %s, store %s)",
                sidecar.url,
                sidecar.pid,
                sidecar.ready.get("store", self.store),
            )
            while sidecar.process.poll() is None:
                await asyncio.sleep(self.poll_interval)
            if self._stopping:
                return
            # it died: say why (its last stderr lines may take a moment), clean up, and start
            # another after a pause
            loop = asyncio.get_running_loop()
            why = await loop.run_in_executor(None, sidecar._why, "")
            code = sidecar.process.returncode
            await loop.run_in_executor(None, sidecar.stop)
            self.sidecar = None
            self.restarts += 1
            if time.monotonic() - self._started_at >= self.stable_after:
                self._attempts = 0
            self._attempts += 1
            self.message = why if why.startswith("it exited") else f"exit status {code}: {why}"
            self.log.warning("cusprun sidecar (pid %s) died: %s", sidecar.pid, self.message)
            if self._attempts >= self.max_attempts:
                self.state = FAILED
                return
            self.state = RESTARTING
            await asyncio.sleep(self._backoff())

    def _backoff(self) -> float:
        return min(0.5 * 2 ** max(self._attempts - 1, 0), 10.0)
