"""The server extension's sidecar, end to end: a real `jupyter server` (the installed wheel's
extension), its sidecar, the proxied HTTP API (streamed) and WebSocket, Jupyter's authentication
in front, the sidecar's stderr in the server's log, a switch of the run store, a restart after the
sidecar is killed, the kernels' environment, and a clean shutdown."""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
import websocket  # websocket-client
from kernel_helpers import CORPUS, MODEL, SIDECAR_JS

TOKEN = "cusprun-sidecar-test-token"
AUTH = {"Authorization": f"token {TOKEN}"}


class Server:
    def __init__(self, process, url, root, log):
        self.process, self.url, self.root, self.log = process, url, root, log

    def request(self, method, path, body=None, headers=AUTH, timeout=30):
        """(status, parsed JSON or text) — HTTP errors are answers too."""
        data = None if body is None else json.dumps(body).encode()
        status, _, raw = raw_request(method, self.url + path, data, headers, timeout)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def version(self):
        status, body = self.request("GET", "/cusprun/version")
        assert status == 200, body
        return body

    def wait_running(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            sidecar = self.version()["sidecar"]
            if sidecar["state"] == "running":
                return sidecar
            assert time.monotonic() < deadline, f"sidecar not running: {sidecar}"
            time.sleep(0.1)

    def ws(self, path, headers=(), timeout=10):
        return websocket.create_connection(
            "ws" + self.url[len("http") :] + path, header=list(headers), timeout=timeout
        )

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def raw_request(method, url, data=None, headers=AUTH, timeout=30):
    """(status, headers, body bytes) — HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, method=method)
    for name, value in {
        **headers,
        **({"Content-Type": "application/json"} if data else {}),
    }.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@contextlib.contextmanager
def _running_server(venv_bin, root, **env_extra):
    """A `jupyter server` on `root` with its sidecar running; stopped, sidecar too, at the end."""
    port = _free_port()
    log = root.parent / f"{root.name}.log"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root.parent / "runtime"), **env_extra}
    for name in ("CUSPRUN_STORE", "CUSPRUN_SIDECAR_URL", "CUSPRUN_SIDECAR_TOKEN"):
        env.pop(name, None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                venv_bin / "jupyter",
                "server",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={root}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    srv = Server(process, f"http://127.0.0.1:{port}", root, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                srv.wait_running(timeout=30)
                break
            except (OSError, AssertionError) as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"no server or sidecar:\n{log.read_text()}") from error
                time.sleep(0.3)
        yield srv
    finally:
        pid = None
        try:
            pid = srv.version()["sidecar"].get("pid")
        except Exception:  # noqa: BLE001 - the server may be stopped already
            pass
        srv.stop()
        if pid:
            assert not _alive(pid)


@pytest.fixture(scope="module")
def server(venv_bin, tmp_path_factory):
    with _running_server(venv_bin, tmp_path_factory.mktemp("jupyter-root")) as srv:
        yield srv


# A stand-in for the sidecar that answers badly on purpose: /api/cut breaks off in the middle of
# an answer, any other path is closed before an answer.
BAD_SIDECAR_JS = r"""
const net = require('net');
const at = process.argv.indexOf('--port');
const server = net.createServer(socket => {
  socket.once('data', data => {
    if (!data.toString().split(' ')[1].startsWith('/api/cut')) {
      return socket.destroy();
    }
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n');
    socket.write('Content-Length: 1000000\r\n\r\n[' + '1,'.repeat(50000));
    setTimeout(() => socket.destroy(), 200);
  });
});
server.listen(at > 0 ? Number(process.argv[at + 1]) : 0, '127.0.0.1', () => {
  const ready = { port: server.address().port, pid: process.pid, protocol: 1, store: 'none' };
  console.log(JSON.stringify(ready));
});
process.stdin.on('end', () => process.exit(0)).resume();
"""


@pytest.fixture(scope="module")
def bad_sidecar_server(venv_bin, tmp_path_factory):
    js = tmp_path_factory.mktemp("bad-sidecar") / "cli.js"
    js.write_text(BAD_SIDECAR_JS)
    root = tmp_path_factory.mktemp("bad-sidecar-root")
    with _running_server(venv_bin, root, CUSPRUN_SIDECAR_JS=str(js)) as srv:
        yield srv


def test_version_reports_a_running_sidecar(server, package_json):
    version = server.version()
    assert version["version"] == package_json["version"]
    assert version["protocol"] == 1
    sidecar = version["sidecar"]
    assert sidecar["state"] == "running"
    assert sidecar["url"].startswith("http://127.0.0.1:")
    assert _alive(sidecar["pid"])
    assert sidecar["store"] == str(server.root / ".cusprun")


def test_proxied_http_passes_status_and_json(server):
    status, health = server.request("GET", "/cusprun/api/health")
    assert status == 200, health
    assert health["status"] == "ok" and health["protocol"] == 1
    assert health["pid"] == server.version()["sidecar"]["pid"]
    assert server.request("GET", "/cusprun/api/runs") == (200, [])
    status, body = server.request("GET", "/cusprun/api/jobs")
    assert status == 200 and isinstance(body, (list, dict)), body
    # the sidecar's own errors come back as they are: status and JSON
    status, body = server.request("POST", "/cusprun/api/models/open", {"model": "no/such/model"})
    assert status == 404 and body["error"]["code"], body
    status, body = server.request("POST", "/cusprun/api/models/open", {"bogus": 1})
    assert status == 400 and body["error"]["message"], body
    status, body = server.request("DELETE", "/cusprun/api/jobs/no-such-job")
    assert status == 404 and "error" in body, body
    status, body = server.request("GET", "/cusprun/api/no-such-endpoint")
    assert status == 404 and body["error"]["code"] == "no-route", body


def test_http_without_jupyter_token_is_refused(server):
    for headers in ({}, {"Authorization": "token wrong"}):
        for method, path, body in (
            ("GET", "/cusprun/version", None),
            ("GET", "/cusprun/api/health", None),
            ("GET", "/cusprun/api/runs", None),
            ("POST", "/cusprun/api/jobs", {"type": "score"}),
            ("DELETE", "/cusprun/api/jobs/x", None),
            ("POST", "/cusprun/sidecar/restart", None),
        ):
            status, _ = server.request(method, path, body, headers=headers)
            assert status in (401, 403, 302), (method, path, headers, status)


def test_websocket_without_jupyter_token_is_refused(server):
    for headers, query in (([], ""), (["Authorization: token wrong"], ""), ([], "&token=wrong")):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            server.ws(f"/cusprun/api/events?protocol=1{query}", headers)
        assert refused.value.status_code in (401, 403)


def test_websocket_relays_both_ways(server):
    for headers, query in (([f"Authorization: token {TOKEN}"], ""), ([], f"&token={TOKEN}")):
        ws = server.ws(f"/cusprun/api/events?protocol=1{query}", headers)
        try:
            hello = json.loads(ws.recv())
            assert hello["type"] == "hello" and hello["protocol"] == 1
            ws.send(
                json.dumps({"type": "request", "id": 7, "method": "GET", "path": "/api/health"})
            )
            answer = json.loads(ws.recv())
            assert answer["type"] == "response" and answer["id"] == 7
            assert answer["status"] == 200 and answer["body"]["status"] == "ok"
        finally:
            ws.close()


@pytest.fixture(scope="module")
def scored_store(tmp_path_factory):
    """A run store outside the server's root holding one scored run, `r1` (scored by the CLI)."""
    store = tmp_path_factory.mktemp("scored-store")
    subprocess.run(
        ["node", SIDECAR_JS, "score", MODEL, "--corpus", CORPUS, "--run", store / "r1"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return store


@pytest.fixture
def on_scored_store(server, scored_store):
    """The server's sidecar on `scored_store`, and back on the default store afterwards."""
    status, answer = server.request("POST", RESTART, {"store": str(scored_store)})
    assert status == 200 and answer["sidecar"]["state"] == "running", answer
    yield scored_store
    status, answer = server.request("POST", RESTART, {"store": ".cusprun"})
    assert status == 200 and answer["sidecar"]["store"] == str(server.root / ".cusprun"), answer


RESTART = "/cusprun/sidecar/restart"


def test_the_run_store_switches_live(server, scored_store):
    before = server.wait_running()
    status, answer = server.request("POST", RESTART, {"store": str(scored_store)})
    # the answer says where it came to: running on the new store, same URL (port and token)
    assert status == 200, answer
    assert answer["restarted"] is True and answer["sidecar"]["state"] == "running", answer
    assert answer["sidecar"]["store"] == str(scored_store)
    after = server.version()["sidecar"]
    assert after["store"] == str(scored_store) and after["pid"] == answer["sidecar"]["pid"]
    assert after["pid"] != before["pid"] and after["url"] == before["url"]
    assert not _alive(before["pid"])
    status, runs = server.request("GET", "/cusprun/api/runs")
    assert status == 200 and [run["id"] for run in runs] == ["r1"], runs

    # the same store again (named another way) restarts nothing
    relative = os.path.relpath(scored_store, server.root)
    status, answer = server.request("POST", RESTART, {"store": relative + "/"})
    assert status == 200 and answer["sidecar"]["pid"] == after["pid"], answer
    assert answer["restarted"] is False

    # a store relative to the server's root folder, not there yet: an empty one
    status, answer = server.request("POST", RESTART, {"store": "runs/elsewhere"})
    assert status == 200 and answer["sidecar"]["state"] == "running", answer
    assert answer["sidecar"]["store"] == str(server.root / "runs/elsewhere")
    assert server.request("GET", "/cusprun/api/runs") == (200, [])

    # what the stopped sidecars said on stderr is in the server's log, once prefixed
    log = server.log.read_text()
    assert "cusprun sidecar: stopping (stdin closed)" in log, log
    assert "cusprun sidecar: cusprun sidecar:" not in log

    # "" is the store the server started with (the frontend setting's default)
    status, answer = server.request("POST", RESTART, {"store": ""})
    assert status == 200 and answer["restarted"] is True, answer
    assert answer["sidecar"]["store"] == before["store"], answer
    assert server.request("GET", "/cusprun/api/runs") == (200, [])


def test_a_bad_run_store_is_refused_and_changes_nothing(server):
    before = server.wait_running()
    a_file = server.root / "not-a-folder"
    a_file.write_text("a file\n")
    for body, words in (
        ({"store": "not-a-folder"}, ["store:", str(a_file), "is not a folder"]),
        ({"store": 3}, ["store:", "must be a string", "got 3"]),
        ({"store": ["x"]}, ["store:", "must be a string"]),
        (["x"], ["must be a JSON object"]),
    ):
        status, answer = server.request("POST", RESTART, body)
        assert status == 400, (body, answer)
        message = answer["error"]["message"]
        assert answer["error"]["code"] == "bad-request", answer
        assert all(word in message for word in words), (body, message)
    status, _, raw = raw_request("POST", server.url + RESTART, b"{store", AUTH)
    assert status == 400 and "not JSON" in json.loads(raw)["error"]["message"]
    # without Jupyter's token, a store is not even looked at
    for headers in ({}, {"Authorization": "token wrong"}):
        status, _ = server.request("POST", RESTART, {"store": "elsewhere"}, headers=headers)
        assert status in (401, 403), status
    assert not (server.root / "elsewhere").exists()
    after = server.version()["sidecar"]
    assert (after["pid"], after["store"]) == (before["pid"], before["store"])


def _sidecar_token(pid):
    """The token the server gave its sidecar (in the sidecar's environment)."""
    environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    return next(e for e in environ if e.startswith(b"CUSPRUN_TOKEN=")).split(b"=", 1)[1].decode()


def test_a_large_answer_streams_through_intact(server, on_scored_store):
    sidecar = server.wait_running()
    direct = {"Authorization": f"token {_sidecar_token(sidecar['pid'])}"}
    query = json.dumps({"source": "plan", "svg": True, "sigma": 0.5}).encode()
    status, headers, proxied = raw_request(
        "POST", server.url + "/cusprun/api/runs/r1/charts", query, AUTH
    )
    assert status == 200, proxied[:500]
    expected_status, _, expected = raw_request(
        "POST", sidecar["url"] + "/api/runs/r1/charts", query, direct
    )
    assert expected_status == 200 and len(expected) > 100_000  # charts with their SVGs
    assert proxied == expected
    # passed on as it came, in chunks, not buffered whole
    assert headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in headers
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"

    # the sidecar's errors on the same path still come back as JSON with their status
    status, answer = server.request("POST", "/cusprun/api/runs/r1/charts", {"sigma": 0.5})
    assert status == 400 and "source" in answer["error"]["message"], answer
    status, answer = server.request(
        "POST", "/cusprun/api/runs/no-such-run/charts", {"source": "plan", "sigma": 0.5}
    )
    assert status == 404 and answer["error"]["code"], answer


def test_a_sidecar_that_breaks_off_is_an_error_not_an_answer(bad_sidecar_server):
    # no answer at all: the 503 JSON error, as when the sidecar is down
    status, answer = bad_sidecar_server.request("GET", "/cusprun/api/health")
    assert status == 503, answer
    assert answer["error"]["code"] == "sidecar-unavailable" and answer["sidecar"], answer
    # an answer cut off midway: the client's connection is cut too, not ended as if complete
    with pytest.raises(http.client.IncompleteRead) as cut:
        raw_request("GET", bad_sidecar_server.url + "/cusprun/api/cut")
    assert cut.value.partial.startswith(b"[1,1,")
    assert "cusprun proxy: GET" in bad_sidecar_server.log.read_text()


def _execute_in_kernel(server, code, timeout=60, path=None):
    """Runs `code` in a new kernel of the server (working folder: `path` under the root)."""
    body = {"name": "python3", **({"path": path} if path else {})}
    status, kernel = server.request("POST", "/api/kernels", body)
    assert status == 201, kernel
    try:
        ws = server.ws(f"/api/kernels/{kernel['id']}/channels", [f"Authorization: token {TOKEN}"])
        try:
            msg_id = uuid.uuid4().hex
            ws.send(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "username": "test",
                            "session": uuid.uuid4().hex,
                            "msg_type": "execute_request",
                            "version": "5.3",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {"code": code, "silent": False, "stop_on_error": True},
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            out, deadline = [], time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    raise AssertionError("\n".join(msg["content"]["traceback"]))
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return "".join(out)
            raise AssertionError("the kernel did not answer in time")
        finally:
            ws.close()
    finally:
        server.request("DELETE", f"/api/kernels/{kernel['id']}")


def test_kernels_inherit_the_sidecar_url_and_token(server):
    code = (
        "import os, json, urllib.request\n"
        "url, token = os.environ['CUSPRUN_SIDECAR_URL'], os.environ['CUSPRUN_SIDECAR_TOKEN']\n"
        "req = urllib.request.Request(url + '/api/health',"
        " headers={'Authorization': 'token ' + token})\n"
        "print(json.dumps({'url': url, 'health': json.load(urllib.request.urlopen(req))}))\n"
    )
    seen = json.loads(_execute_in_kernel(server, code))
    sidecar = server.version()["sidecar"]
    assert seen["url"] == sidecar["url"]
    assert seen["health"]["pid"] == sidecar["pid"]


def test_a_notebook_in_a_subfolder_uses_the_servers_store(server):
    """A kernel of a notebook in a subfolder inherits the server's store (CUSPRUN_STORE, set before
    its sidecar runs) and its sidecar: it lists and plans the run the CLI made at the root."""
    store = server.wait_running()["store"]
    subprocess.run(
        [
            "node",
            str(SIDECAR_JS),
            "score",
            str(MODEL),
            "--corpus",
            str(CORPUS),
            "--run",
            os.path.join(store, "root-run"),
        ],
        cwd=server.root,
        check=True,
        capture_output=True,
    )
    (server.root / "notes").mkdir(exist_ok=True)
    folder = os.path.relpath(os.path.join(store, "root-run"), server.root / "notes")
    code = (
        "import os, json\n"
        "from cusprun import Session\n"
        "s = Session()\n"
        "print(json.dumps({'cwd': os.getcwd(), 'env': os.environ['CUSPRUN_STORE'],"
        " 'store': s.store(), 'private': s.sidecar is not None,"
        " 'runs': [r['id'] for r in s.runs()],"
        f" 'ratio': s.sigma(0.3, run={folder!r})['plan']['ratio']}}))\n"
    )
    seen = json.loads(_execute_in_kernel(server, code, path="notes"))
    assert seen["cwd"] == str(server.root / "notes")
    assert seen["env"] == seen["store"] == store and not seen["private"]
    assert "root-run" in seen["runs"] and 0 < seen["ratio"] < 1
    assert not (server.root / "notes" / ".cusprun").exists()


def test_a_killed_sidecar_restarts_and_works_again(server):
    before = server.wait_running()
    ws = server.ws("/cusprun/api/events?protocol=1", [f"Authorization: token {TOKEN}"])
    assert json.loads(ws.recv())["type"] == "hello"
    os.kill(before["pid"], signal.SIGKILL)

    states, refusals = [], []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sidecar = server.version()["sidecar"]
        states.append(sidecar["state"])
        if sidecar["state"] == "running" and sidecar["pid"] != before["pid"]:
            break
        if sidecar["state"] == "restarting":
            status, body = server.request("GET", "/cusprun/api/health")
            if status == 503:
                refusals.append(body)
        time.sleep(0.05)
    assert "restarting" in states, states
    after = server.version()["sidecar"]
    assert after["state"] == "running" and after["pid"] != before["pid"], states
    assert after["restarts"] >= 1
    assert after["url"] == before["url"]  # same port and token: kernels keep working
    for body in refusals:
        assert "restarting" in body["error"]["message"], body
        assert body["sidecar"]["state"] in ("restarting", "running")

    # the open socket was closed when the sidecar died; a new one works
    with pytest.raises(Exception):  # noqa: B017 - closed, however websocket-client says it
        for _ in range(100):
            ws.recv()
    ws.close()
    status, health = server.request("GET", "/cusprun/api/health")
    assert status == 200 and health["pid"] == after["pid"]
    ws = server.ws("/cusprun/api/events?protocol=1", [f"Authorization: token {TOKEN}"])
    try:
        assert json.loads(ws.recv())["type"] == "hello"
    finally:
        ws.close()


def test_server_shutdown_stops_the_sidecar(server):
    pid = server.wait_running()["pid"]
    server.stop()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
    assert "cusprun sidecar (pid" in server.log.read_text()
