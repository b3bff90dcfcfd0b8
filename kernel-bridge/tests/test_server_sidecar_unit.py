"""The server extension's pieces without a server: where the store goes, how a sidecar that
cannot start is reported (restarting, then failed, with the reason), and where a sidecar's stderr
goes."""

import asyncio
import logging
import os
import shutil
from types import SimpleNamespace

import pytest
from cusprun.server import _store_and_cwd
from cusprun.sidecar_process import SidecarProcess
from kernel_helpers import SIDECAR_JS


def _app(root, config=None):
    return SimpleNamespace(root_dir=str(root), config=config or {})


def test_the_store_defaults_to_the_root_and_follows_env_then_config(tmp_path, monkeypatch):
    monkeypatch.delenv("CUSPRUN_STORE", raising=False)
    assert _store_and_cwd(_app(tmp_path)) == (str(tmp_path / ".cusprun"), str(tmp_path))
    monkeypatch.setenv("CUSPRUN_STORE", "runs")
    assert _store_and_cwd(_app(tmp_path))[0] == str(tmp_path / "runs")
    monkeypatch.setenv("CUSPRUN_STORE", "runs/../other/")
    assert _store_and_cwd(_app(tmp_path))[0] == str(tmp_path / "other")
    monkeypatch.setenv("CUSPRUN_STORE", "/abs/store")
    assert _store_and_cwd(_app(tmp_path))[0] == "/abs/store"
    config = {"Cusprun": {"store": "configured"}}
    assert _store_and_cwd(_app(tmp_path, config))[0] == str(tmp_path / "configured")


def test_a_sidecar_that_cannot_start_is_retried_then_reported_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("CUSPRUN_SIDECAR_JS", str(tmp_path / "missing-cli.js"))
    url_before = os.environ.get("CUSPRUN_SIDECAR_URL")

    async def scenario():
        process = SidecarProcess(str(tmp_path / ".cusprun"), str(tmp_path), logging.getLogger())
        process.max_attempts = 2
        process.start()
        states = []
        for _ in range(100):
            states.append(process.state)
            if process.state == "failed":
                break
            await asyncio.sleep(0.05)
        failed = (process.info(), process.unavailable(), process.running())
        await process.stop()
        return process, states, failed

    process, states, (info, unavailable, running) = asyncio.run(scenario())
    assert "restarting" in states and states[-1] == "failed", states
    assert info["state"] == "failed" and "missing-cli.js" in info["message"], info
    assert "pid" not in info and "url" not in info
    assert "failed to start" in unavailable and "missing-cli.js" in unavailable
    assert running is None
    assert process.state == "stopped"
    assert os.environ.get("CUSPRUN_SIDECAR_URL") == url_before  # never set without a sidecar


@pytest.mark.skipif(
    not SIDECAR_JS.is_file() or shutil.which("node") is None,
    reason="needs node and the built sidecar (npm run build:node)",
)
def test_the_sidecars_stderr_goes_to_the_log_line_by_line(tmp_path, caplog):
    log = logging.getLogger("cusprun-test-server")

    async def scenario():
        process = SidecarProcess(str(tmp_path / "store"), str(tmp_path), log, set_environ=False)
        process.start()
        for _ in range(200):
            if process.state == "running":
                break
            await asyncio.sleep(0.05)
        state = process.state
        await process.stop()  # closes its stdin: the sidecar says so on stderr as it goes
        return state

    with caplog.at_level(logging.INFO, logger=log.name):
        assert asyncio.run(scenario()) == "running"
    lines = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert "cusprun sidecar: stopping (stdin closed)" in lines, lines
