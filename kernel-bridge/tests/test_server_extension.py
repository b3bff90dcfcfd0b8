import json
import os
import re
import subprocess
import time
import urllib.request

import pytest
from conftest import plain

TOKEN = "cusprun-test-token"


@pytest.fixture
def jupyter_server(venv_bin, free_port, tmp_path):
    """A real jupyter_server on loopback, with the extensions the venv enables."""
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                venv_bin / "jupyter",
                "server",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={free_port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={tmp_path}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")},
        )
    url = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(
                    f"{url}/api/status", headers={"Authorization": f"token {TOKEN}"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    status = json.load(response)
                break
            except OSError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"jupyter server did not start:\n{log.read_text()}"
                    ) from error
                time.sleep(0.5)
        yield url, status, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_server_extension_loads_in_a_real_server(jupyter_server, package_json):
    _url, status, log = jupyter_server
    assert "started" in status
    assert f"cusprun {package_json['version']} server extension loaded" in log.read_text()


def test_server_lists_the_extension_as_enabled(venv_bin):
    result = subprocess.run(
        [venv_bin / "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    listing = plain(result.stdout + result.stderr)
    assert re.search(
        r"cusprun enabled\s+- Validating cusprun\.\.\.\s+cusprun [\d.]+ OK", listing
    ), listing
