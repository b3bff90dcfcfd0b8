"""The Jupyter server's own sidecar: started with the server, restarted when it dies, stopped at
shutdown. It reuses the kernel bridge's `PrivateSidecar` (node `cli.js serve`), and keeps the
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

from .session import ENV_TOKEN, ENV_URL, CusprunError, PrivateSidecar

#: where the server extension keeps its `SidecarProcess` in the tornado settings
SETTINGS_KEY = "cusprun_sidecar"

STARTING, RUNNING, RESTARTING, FAILED, STOPPED = (
    "starting",
    "running",
    "restarting",
    "failed",
    "stopped",
)


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

    async def wait_running(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while self.state != RUNNING and time.monotonic() < deadline:
            if self.state == FAILED:
                return False
            await asyncio.sleep(0.05)
        return self.state == RUNNING

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
            )

        try:
            return await loop.run_in_executor(None, make, self.port)
        except CusprunError:
            if self.port is None:
                raise
            # the old port may be taken now: any free port will do (the URL then changes)
            self.log.warning("cusprun sidecar: port %s unavailable, taking another", self.port)
            return await loop.run_in_executor(None, make, None)

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
            # it died: say why, clean up, and start another after a pause
            why = sidecar._why("")
            code = sidecar.process.returncode
            await asyncio.get_running_loop().run_in_executor(None, sidecar.stop)
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
