"""The Python API: a `Session` talks to a cusprun sidecar and returns plain data (dicts, lists).

The kernel bridge computes no science: every answer comes from the sidecar (see
`src/sidecar/README.md` for its protocol), but for `export`, which runs `cusprun export` (torch)
in a child process. A session either connects to a running sidecar named
by the environment, or starts a private one and stops it when the Python process exits.

Environment:

- ``CUSPRUN_SIDECAR_URL`` + ``CUSPRUN_SIDECAR_TOKEN``: a running sidecar (the Jupyter server
  extension sets both for its kernels); e.g. ``http://127.0.0.1:41234``.
- ``CUSPRUN_SIDECAR_JS``: the sidecar's ``dist/sidecar/cli.js``, for a private sidecar (default:
  the one recorded when the package was built, or the source checkout's).
- ``CUSPRUN_NODE``: the Node executable (default: ``node`` on the PATH).
- ``CUSPRUN_STORE``: the run store of a private sidecar (default: ``.cusprun`` in the working
  folder).
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-Cusprun-Protocol"
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")

ENV_URL = "CUSPRUN_SIDECAR_URL"
ENV_TOKEN = "CUSPRUN_SIDECAR_TOKEN"
ENV_JS = "CUSPRUN_SIDECAR_JS"
ENV_NODE = "CUSPRUN_NODE"

#: lines of a private sidecar's stderr kept to say why it stopped
STDERR_TAIL = 20
#: how long to wait for the rest of a stopped sidecar's stderr
STDERR_DRAIN_TIMEOUT = 2.0
#: the export child's progress lines start so; its refusal is its last line starting "cusprun: "
EXPORT_PREFIX = "cusprun export: "
#: lines of an export child's stderr kept to say why it failed when it said nothing itself
EXPORT_TAIL = 5
#: how long an interrupted export has to remove its staging folder before it is killed
EXPORT_STOP_TIMEOUT = 60

EventCallback = Callable[[dict], None]


class CusprunError(Exception):
    """A refusal with a one-line message fit to show the user as it is."""

    def __init__(self, message: str, code: str = "error", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines in place of a traceback: a refusal is the user's to fix, not
        # a bug, and its one line says how.
        return [f"cusprun: {self}"]


# ---- Finding and starting a sidecar --------------------------------------------------------


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


def _camel(options: dict) -> dict:
    """snake_case keyword options as the protocol's camelCase fields, without the Nones."""
    out = {}
    for key, value in options.items():
        if value is None:
            continue
        head, *rest = key.split("_")
        out[head + "".join(word.title() for word in rest)] = value
    return out


def _abs(path: str | os.PathLike) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


class Session:
    """A connection to a cusprun sidecar. Every method returns the sidecar's JSON as plain data.

    >>> s = Session()                        # the environment's sidecar, or a private one
    >>> s.model("demo/model")                # the model map
    >>> s.corpus("demo/expert-de-computing-qa.yaml")
    >>> s.score()                            # scores the current model on the current corpus
    >>> s.sigma(0.3)["plan"]["ratio"]
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        store: str | None = None,
        start: bool | None = None,
    ):
        """`url`/`token` (else $CUSPRUN_SIDECAR_URL/$CUSPRUN_SIDECAR_TOKEN) name a running sidecar;
        without them (or with start=True) a private sidecar starts, on `store` (else
        $CUSPRUN_STORE, else .cusprun in the working folder)."""
        url = url or os.environ.get(ENV_URL)
        token = token or os.environ.get(ENV_TOKEN)
        self.sidecar: PrivateSidecar | None = None
        if start or not url:
            self.sidecar = PrivateSidecar(store=store or os.environ.get("CUSPRUN_STORE"))
            url, token = self.sidecar.url, self.sidecar.token
        elif not token:
            raise CusprunError(f"{ENV_URL} is set but {ENV_TOKEN} is not: the sidecar needs both")
        self.url = url.rstrip("/")
        self.token = token
        self.model_path: str | None = None
        self.corpus_name: str | None = None
        self.run: str | None = None
        self.health_info = self.health()

    # -- transport --

    def request(self, method: str, path: str, body: Any = None, timeout: float = 600) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"token {self.token}", PROTOCOL_HEADER: str(PROTOCOL_VERSION)}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                err = json.loads(raw)["error"]
                raise CusprunError(err["message"], err.get("code", "error"), error.code) from None
            except (ValueError, KeyError, TypeError):
                text = raw.decode("utf-8", "replace").strip()
                raise CusprunError(
                    f"the sidecar answered {error.code}: {text[:200]}", status=error.code
                ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CusprunError(
                f"cannot reach the cusprun sidecar at {self.url}: {reason}"
            ) from None

    def health(self) -> dict:
        """`GET /api/health`; raises if the sidecar speaks another protocol version."""
        health = self.request("GET", "/api/health")
        if health.get("protocol") != PROTOCOL_VERSION:
            raise CusprunError(
                f"this cusprun kernel bridge speaks protocol {PROTOCOL_VERSION}, but the sidecar "
                f"at {self.url} speaks protocol {health.get('protocol')}: the two come from "
                "different cusprun installs; restart JupyterLab (or the kernel) after upgrading",
                "protocol-mismatch",
            )
        return health

    def close(self) -> None:
        """Stops the private sidecar, if this session started one."""
        if self.sidecar is not None:
            self.sidecar.stop()
            self.sidecar = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- models, corpora, runs --

    def model(self, path: str | os.PathLike) -> dict:
        """Opens a model (a folder with model.onnx, or a .onnx file): its model map."""
        path = _abs(path)
        answer = self.request("POST", "/api/models/open", {"model": path})
        self.model_path = path
        return answer

    def corpus(
        self,
        manifest: str | os.PathLike | None = None,
        *,
        name: str | None = None,
        documents: int | None = None,
        truncation: int | None = None,
        seed: int | None = None,
        **dimensions: str | os.PathLike | list,
    ) -> dict:
        """Registers a corpus: a manifest file (YAML or JSON), or its dimensions as keywords
        (e.g. ``language="de.txt", domain="legal.jsonl"``; a ``.txt`` holds one document a line).
        A manifest is then written next to the working folder as
        ``.cusprun-corpus-NAME.json``. Returns the sidecar's CorpusInfo."""
        if manifest is not None and dimensions:
            raise CusprunError("give a corpus manifest or dimensions (language=FILE …), not both")
        if manifest is None:
            if not dimensions:
                raise CusprunError("a corpus needs a manifest or at least one dimension=FILE")
            manifest = write_manifest(
                dimensions, name=name, documents=documents, truncation=truncation, seed=seed
            )
        elif not Path(manifest).is_file():
            raise CusprunError(f"{manifest}: no such corpus manifest")
        body = {"manifest": _abs(manifest)}
        if name:
            body["name"] = name
        info = self.request("POST", "/api/corpora", body)
        self.corpus_name = info["name"]
        return info

    def corpora(self) -> list:
        return self.request("GET", "/api/corpora")

    def runs(self) -> list:
        """`GET /api/runs`: a summary of every run of the store."""
        return self.request("GET", "/api/runs")

    def run_detail(self, run: str | None = None) -> dict:
        return self.request("GET", f"/api/runs/{self._run(run)}")

    def jobs(self) -> list:
        return self.request("GET", "/api/jobs")

    def _run(self, run: str | None) -> str:
        """The run named, else this session's, else the store's latest (after a restart)."""
        run = run or self.run
        if not run:
            runs = sorted(self.runs(), key=lambda r: r.get("updated", ""))
            if not runs:
                raise CusprunError("no run yet: score a model first (or name a run)")
            run = self.run = runs[-1]["id"]
        return urllib.parse.quote(run, safe="")

    # -- cheap queries --

    def sigma(
        self,
        sigma: float | None = None,
        *,
        target_ratio: float | None = None,
        run: str | None = None,
        dims: list[str] | None = None,
        q: float | None = None,
        min_keep: int | None = None,
        multiple_of: int | None = None,
    ) -> dict:
        """The plan at σ (or solved for a target ratio) from the run's cached scores: plan summary,
        units pruned per layer, histograms, ratio against σ."""
        query = _camel(
            dict(
                sigma=sigma,
                target_ratio=target_ratio,
                dims=dims,
                q=q,
                min_keep=min_keep,
                multiple_of=multiple_of,
            )
        )
        return self.request("POST", f"/api/runs/{self._run(run)}/sigma", query)

    def ranks(
        self,
        *,
        run: str | None = None,
        dims: list[str] | None = None,
        bins: int | None = None,
        q: float | None = None,
    ) -> dict:
        """Per layer and unit kind, the units irrelevant to every requested dimension at each σ
        of a grid (σ = b / bins): what a σ slider needs to redraw per-layer ratios itself."""
        query = _camel(dict(dims=dims, bins=bins, q=q))
        return self.request("POST", f"/api/runs/{self._run(run)}/ranks", query)

    def charts(
        self, source: str = "plan", *, run: str | None = None, svg: bool = True, **query
    ) -> dict:
        """Vega-Lite specs (and SVGs) of the plan view (needs sigma= or target_ratio=), or of the
        run's latest (or `file=`) sweep or ablation."""
        body = {"source": source, "svg": svg, **_camel(query)}
        return self.request("POST", f"/api/runs/{self._run(run)}/charts", body)

    # -- jobs --

    def submit(self, request: dict) -> dict:
        """Submits a job (`POST /api/jobs`); returns its JobInfo without waiting."""
        return self.request("POST", "/api/jobs", request)

    def job(self, job_id: str) -> dict:
        return self.request("GET", f"/api/jobs/{urllib.parse.quote(job_id, safe='')}")

    def cancel(self, job_id: str) -> dict:
        return self.request("DELETE", f"/api/jobs/{urllib.parse.quote(job_id, safe='')}")

    def run_job(self, request: dict, on_event: EventCallback | None = None) -> dict:
        """Submits a job, follows its events (to `on_event`) until it ends, and returns its final
        JobInfo; a failed job raises CusprunError with the sidecar's message. Events come over
        the WebSocket when `websocket-client` is installed, else the job is polled."""
        socket = self._socket(request.get("run"))
        try:
            info = self.submit(request)
            if socket is not None:
                info = self._follow_socket(socket, info, on_event)
            else:
                info = self._follow_polling(info, on_event)
        except KeyboardInterrupt:
            # Ctrl-C in a notebook: ask the sidecar to stop the job at its next checkpoint.
            if "info" in locals():
                try:
                    self.cancel(info["id"])
                except CusprunError:
                    pass
            raise
        finally:
            if socket is not None:
                socket.close()
        if info["state"] != "done":
            error = info.get("error") or {}
            message = error.get("message") or f"the {info['type']} job ended {info['state']}"
            raise CusprunError(message, error.get("code", info["state"]))
        return info

    def _socket(self, run: str | None):
        try:
            import websocket  # websocket-client
        except ImportError:
            return None
        ws_url = "ws" + self.url[len("http") :] + f"/api/events?protocol={PROTOCOL_VERSION}"
        try:
            socket = websocket.create_connection(
                ws_url, header=[f"Authorization: token {self.token}"], timeout=600
            )
            hello = json.loads(socket.recv())
        except Exception as error:  # noqa: BLE001 - any failure: fall back to polling
            del error
            return None
        if hello.get("type") != "hello":
            socket.close()
            message = (hello.get("error") or {}).get("message", "the sidecar refused the socket")
            raise CusprunError(message, "protocol-mismatch")
        if run:
            socket.send(json.dumps({"type": "subscribe", "runs": [run]}))
        return socket

    def _follow_socket(self, socket, info: dict, on_event: EventCallback | None) -> dict:
        job = info["id"]
        if info["state"] in FINAL_STATES:
            return info
        while True:
            try:
                text = socket.recv()
            except Exception:  # noqa: BLE001 - the socket broke: poll the rest
                return self._follow_polling(self.job(job), on_event)
            if not text:
                return self._follow_polling(self.job(job), on_event)
            message = json.loads(text)
            if message.get("type") != "event":
                continue
            event = message["event"]
            if event.get("job") != job:
                continue
            if on_event is not None:
                on_event(event)
            if "info" in event and event["info"]["state"] in FINAL_STATES:
                return event["info"]

    def _follow_polling(self, info: dict, on_event: EventCallback | None) -> dict:
        last = None
        while info["state"] not in FINAL_STATES:
            progress = info.get("progress")
            if on_event is not None and progress and progress != last:
                last = progress
                on_event({"type": "progress", "job": info["id"], "progress": progress})
            time.sleep(0.25)
            info = self.job(info["id"])
        if on_event is not None:
            on_event({"type": f"job-{info['state']}", "job": info["id"], "info": info})
        return info

    def score(
        self,
        run: str | None = None,
        *,
        model: str | None = None,
        corpus: str | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
        score_form: str | None = None,
        on_event: EventCallback | None = None,
    ) -> dict:
        """Scores the model (default: the last opened) on the corpus (default: the last
        registered) into a run (default: a new id); returns the ScoreResult. `on_event` gets every
        job event (progress, live histograms) as it arrives."""
        model = _abs(model) if model else self.model_path
        corpus = corpus or self.corpus_name
        if not model:
            raise CusprunError("no model: open one first (`model(PATH)`, `%cusprun model PATH`)")
        if not corpus:
            raise CusprunError("no corpus: register one first (`corpus(MANIFEST)`)")
        run = run or new_run_id(model, corpus)
        request = {"type": "score", "run": run, "model": model, "corpus": corpus}
        request.update(_camel(dict(batch_size=batch_size, threads=threads, score_form=score_form)))
        info = self.run_job(request, on_event)
        self.run = run
        return {"run": run, **info["result"]}

    def plan(self, sigma: float | None = None, *, run: str | None = None, **query) -> dict:
        """The plan job: the whole plan (units each layer loses), plus the σ answer's views."""
        request = {"type": "plan", "run": self._run(run), **_camel(dict(sigma=sigma, **query))}
        return self.run_job(request)["result"]

    def prune(
        self,
        out: str,
        sigma: float | None = None,
        *,
        target_ratio: float | None = None,
        run: str | None = None,
        overwrite: bool | None = None,
        on_event: EventCallback | None = None,
        **query,
    ) -> dict:
        """Writes the pruned model to `out`, which must lie in the sidecar's working folder."""
        request = {"type": "prune", "run": self._run(run), "out": _abs(out)}
        request.update(
            _camel(dict(sigma=sigma, target_ratio=target_ratio, overwrite=overwrite, **query))
        )
        return self.run_job(request, on_event)["result"]

    def verify(
        self,
        pruned: str | os.PathLike,
        *,
        model: str | os.PathLike | None = None,
        run: str | None = None,
        on_event: EventCallback | None = None,
    ) -> dict:
        """Checks a folder `prune` wrote against the model it was pruned from (`model`: where that
        is now, if it moved) with the same units zeroed: `{ok, maxAbsDiff, boundUlps, worst,
        description, …}` (the bound is in ulps of the logits' type at each row's largest |logit|);
        a difference past the bound raises CusprunError. `run` names a run whose log gets the
        events."""
        request = {"type": "verify", "pruned": _abs(pruned)}
        if model is not None:
            request["model"] = _abs(model)
        if run:
            request["run"] = run
        return self.run_job(request, on_event)["result"]

    def evaluate(
        self,
        models: list[str],
        eval_sets: list[str],
        *,
        run: str | None = None,
        on_event: EventCallback | None = None,
        **options,
    ) -> dict:
        """Evaluates models on evaluation sets (perplexity, multiple choice)."""
        request = {
            "type": "eval",
            "models": [_abs(m) for m in models],
            "evalSets": [_eval_set(e) for e in eval_sets],
        }
        if run:
            request["run"] = run
        request.update(_camel(options))
        return self.run_job(request, on_event)["result"]

    def sweep(
        self,
        sigmas: list[float] | None = None,
        *,
        target_ratios: list[float] | None = None,
        eval_sets: list[str],
        methods: list[str] | None = None,
        run: str | None = None,
        on_event: EventCallback | None = None,
        **options,
    ) -> dict:
        """A σ (or target-ratio) sweep with evaluations; returns `{file, record}`."""
        request = {"type": "sweep", "run": self._run(run), "evalSets": _eval_sets(eval_sets)}
        request.update(
            _camel(dict(sigmas=sigmas, target_ratios=target_ratios, methods=methods, **options))
        )
        return self.run_job(request, on_event)["result"]

    def ablate(
        self,
        target_ratio: float,
        *,
        eval_sets: list[str],
        run: str | None = None,
        on_event: EventCallback | None = None,
        **options,
    ) -> dict:
        """The 1D/2D/3D ablation at a target ratio; returns `{file, record}`."""
        request = {
            "type": "ablate",
            "run": self._run(run),
            "targetRatio": target_ratio,
            "evalSets": _eval_sets(eval_sets),
        }
        request.update(_camel(options))
        return self.run_job(request, on_event)["result"]

    # -- exporting --

    def export(
        self,
        source: str | os.PathLike,
        out: str | os.PathLike,
        *,
        kv: bool = False,
        dtype: str = "float32",
        overwrite: bool = False,
        on_line: Callable[[str], None] | None = None,
    ) -> dict:
        """`cusprun export` in a child process (see `export_model`): `source` (a Hugging Face
        folder, a .gguf file or a model id in the local hub cache) to the checked ONNX folder
        `out`. Returns the export's report as plain data; opens nothing (`model(report["out"])`
        does)."""
        return export_model(source, out, kv=kv, dtype=dtype, overwrite=overwrite, on_line=on_line)

    # -- tables --

    def runs_frame(self):
        """The runs as a pandas DataFrame (pandas must be installed)."""
        return to_frame(runs_rows(self.runs()))


# ---- Exporting: a child process, not the sidecar ------------------------------------------


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
    args = [sys.executable, "-m", "cusprun.export", "--out", _abs(out), "--dtype", dtype, "--json"]
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


def _eval_set(spec: str) -> str:
    """`FILE` or `NAME=FILE`, with FILE made absolute (the sidecar may run elsewhere)."""
    name, sep, file = spec.rpartition("=")
    if not Path(file).is_file():
        raise CusprunError(f"{file}: no such evaluation set")
    return f"{name}={_abs(file)}" if sep else _abs(file)


def _eval_sets(specs: list[str] | str) -> list[str]:
    specs = [specs] if isinstance(specs, str) else list(specs)
    if not specs:
        raise CusprunError("give at least one evaluation set (FILE or NAME=FILE)")
    return [_eval_set(s) for s in specs]


def new_run_id(model: str, corpus: str) -> str:
    stem = Path(model).name if Path(model).suffix != ".onnx" else Path(model).parent.name
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in f"{stem}-{corpus}")
    return f"{base.lstrip('.-')[:60]}-{time.strftime('%Y%m%d-%H%M%S')}"


def write_manifest(
    dimensions: dict,
    *,
    name: str | None = None,
    documents: int | None = None,
    truncation: int | None = None,
    seed: int | None = None,
    folder: str | os.PathLike = ".",
) -> Path:
    """A JSON corpus manifest for `dimension=FILE` (or a list of files) pairs, with absolute
    source paths; the dimension's name is the first file's stem. Returns its path."""
    dims = {}
    for dimension, sources in dimensions.items():
        sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
        for source in sources:
            if not Path(source).exists():
                raise CusprunError(f"{source}: no such corpus file ({dimension})")
        spec: dict[str, Any] = {
            "name": Path(sources[0]).stem,
            "sources": [_abs(s) for s in sources],
        }
        if any(Path(s).suffix == ".txt" for s in sources):
            spec["format"] = "lines"
        dims[dimension] = spec
    manifest: dict[str, Any] = {"dimensions": dims}
    for key, value in (("truncation", truncation), ("seed", seed), ("documents", documents)):
        if value is not None:
            manifest[key] = value
    name = name or "-".join(spec["name"] for spec in dims.values())
    path = Path(folder) / f".cusprun-corpus-{name}.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


# ---- Tables ---------------------------------------------------------------------------------


def runs_rows(runs: list) -> list[dict]:
    return [
        {
            "run": r["id"],
            "model": Path(r["model"]["file"]).parent.name,
            "family": r["model"].get("family", ""),
            "dimensions": ", ".join(r["corpus"].get("dimensions", [])),
            "scored": f"{r['scored']}/{r['documents']}",
            "last job": (
                f"{r['lastJob']['type']} {r['lastJob']['state']}" if r.get("lastJob") else ""
            ),
            "updated": r["updated"],
        }
        for r in runs
    ]


def _metric_columns(metrics: list[dict]) -> dict:
    return {f"{m['evalSet']} {m['metric']}": m["value"] for m in metrics}


def sweep_rows(record: dict) -> list[dict]:
    rows = [{"method": "dense", "sigma": None, "ratio": 0.0, **_metric_columns(record["dense"])}]
    for p in record["points"]:
        rows.append(
            {
                "method": p["method"],
                "sigma": p["sigma"],
                "ratio": p["ratio"],
                **_metric_columns(p["metrics"]),
            }
        )
    return rows


def ablation_rows(record: dict) -> list[dict]:
    rows = [
        {"dimensions": "dense", "sigma": None, "ratio": 0.0, **_metric_columns(record["dense"])}
    ]
    for r in record["rows"]:
        rows.append(
            {
                "dimensions": "+".join(r["dimensions"]),
                "sigma": r.get("sigma"),
                "ratio": r.get("ratio"),
                **_metric_columns(r["metrics"]),
                **({"unreachable": r["unreachable"]} if r.get("unreachable") else {}),
            }
        )
    return rows


def rows_of(data) -> list[dict]:
    """Table rows of what the API returned: a sweep or ablation result (or record), or runs."""
    record = data.get("record", data) if isinstance(data, dict) else None
    if isinstance(record, dict) and record.get("kind") == "sweep":
        return sweep_rows(record)
    if isinstance(record, dict) and record.get("kind") == "ablation":
        return ablation_rows(record)
    if isinstance(data, list) and all(isinstance(r, dict) and "corpus" in r for r in data):
        return runs_rows(data)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    raise CusprunError("frame() takes a sweep or ablation result, the runs, or a list of rows")


def frame(data):
    """A sweep or ablation result, the runs, or rows, as a pandas DataFrame."""
    return to_frame(rows_of(data))


def to_frame(rows: list[dict]):
    """Rows as a pandas DataFrame; a clear error when pandas is not installed."""
    try:
        import pandas
    except ImportError:
        raise CusprunError("pandas is not installed: `pip install pandas` for DataFrames") from None
    return pandas.DataFrame(rows)
