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
- ``CUSPRUN_STORE``: the run store of a private sidecar (default: the nearest existing
  ``.cusprun`` folder from the working folder up, as git finds a repository, else ``.cusprun`` in
  the working folder).

A run is named by its id (its folder's name in the store) or by the path of its folder, relative
to the working folder (``../.cusprun/NAME``), which must lie in the sidecar's run store.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .contract import EVENTS_PATH, FINAL_STATES, PROTOCOL_HEADER, PROTOCOL_VERSION
from .errors import CusprunError
from .export_process import export_model
from .inputs import absolute, eval_set_paths, new_run_id, write_manifest
from .private_sidecar import ENV_TOKEN, ENV_URL, PrivateSidecar
from .tables import runs_rows, to_frame

EventCallback = Callable[[dict], None]


def _camel(options: dict) -> dict:
    """snake_case keyword options as the protocol's camelCase fields, without the Nones."""
    out = {}
    for key, value in options.items():
        if value is None:
            continue
        head, *rest = key.split("_")
        out[head + "".join(word.title() for word in rest)] = value
    return out


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
        $CUSPRUN_STORE, else the nearest .cusprun from the working folder up, else .cusprun in
        the working folder)."""
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
        path = absolute(path)
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
        body = {"manifest": absolute(manifest)}
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
        """`_run_name`, quoted for a URL path."""
        return urllib.parse.quote(self._run_name(run), safe="")

    def _run_name(self, run: str | None) -> str:
        """The run named, else this session's, else the store's latest (after a restart)."""
        run = self.run_id(run) if run else self.run
        if not run:
            runs = sorted(self.runs(), key=lambda r: r.get("updated", ""))
            if not runs:
                raise CusprunError("no run yet: score a model first (or name a run)")
            run = self.run = runs[-1]["id"]
        return run

    def store(self) -> str:
        """The run store the sidecar uses (absolute)."""
        return str(self.health_info.get("store", ""))

    def run_id(self, run: str) -> str:
        """A run's id: `run` itself, or, for the path of a run folder (``../.cusprun/NAME``,
        relative to the working folder), its name, when it lies in the sidecar's run store."""
        if "/" not in run and os.sep not in run and run not in (".", ".."):
            return run
        folder = Path(absolute(run))
        for _ in range(2):  # the server may have moved its sidecar to another store since
            store = self.store()
            if store and os.path.realpath(folder.parent) == os.path.realpath(store):
                return folder.name
            self.health_info = self.health()
        raise CusprunError(
            f"{run}: not a run folder of the run store {store or '?'} this session's sidecar uses; "
            "name a run of that store (`%cusprun runs`), or use another store (CUSPRUN_STORE, "
            "then restart the kernel)",
            "not-found",
        )

    # -- cheap queries --

    def sigma(
        self,
        sigma: float | None = None,
        *,
        target_ratio: float | None = None,
        run: str | None = None,
        dims: list[str] | None = None,
        rule: str | None = None,
        q: float | None = None,
        min_keep: int | None = None,
        multiple_of: int | None = None,
        keep_attention: bool | None = None,
    ) -> dict:
        """The plan at σ (or solved for a target ratio) from the run's cached scores: plan summary,
        units pruned per layer, histograms, ratio against σ. `rule`: rank-mean (default), paper
        (the paper's rule), q or pooled-intersect (README, "Selection rules")."""
        query = _camel(
            dict(
                sigma=sigma,
                target_ratio=target_ratio,
                dims=dims,
                rule=rule,
                q=q,
                min_keep=min_keep,
                multiple_of=multiple_of,
                keep_attention=keep_attention,
            )
        )
        return self.request("POST", f"/api/runs/{self._run(run)}/sigma", query)

    def ranks(
        self,
        *,
        run: str | None = None,
        dims: list[str] | None = None,
        bins: int | None = None,
        rule: str | None = None,
        q: float | None = None,
        min_keep: int | None = None,
        multiple_of: int | None = None,
        keep_attention: bool | None = None,
    ) -> dict:
        """Per layer and unit kind, the units irrelevant to every requested dimension at each σ
        of a grid (σ = b / bins), with the guards the plan applies to them: what a σ slider
        needs to redraw per-layer counts itself, as the plan counts them."""
        query = _camel(
            dict(
                dims=dims,
                bins=bins,
                rule=rule,
                q=q,
                min_keep=min_keep,
                multiple_of=multiple_of,
                keep_attention=keep_attention,
            )
        )
        return self.request("POST", f"/api/runs/{self._run(run)}/ranks", query)

    def charts(
        self, source: str = "plan", *, run: str | None = None, svg: bool = True, **query
    ) -> dict:
        """Vega-Lite specs (and SVGs) of the plan view (needs sigma= or target_ratio=), or of the
        run's latest (or `file=`) sweep or ablation, or of its study."""
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
        ws_url = "ws" + self.url[len("http") :] + f"{EVENTS_PATH}?protocol={PROTOCOL_VERSION}"
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
        ray: str | None = None,
        shards: int | None = None,
        ship_limit: int | None = None,
        on_event: EventCallback | None = None,
    ) -> dict:
        """Scores the model (default: the last opened) on the corpus (default: the last
        registered) into a run (default: a new id); returns the ScoreResult. `on_event` gets every
        job event (progress, live histograms) as it arrives. With `ray` ('auto' or the head's
        HOST:PORT) the sidecar's score job runs a Ray driver that scores the corpus in `shards`
        Ray tasks (default: one per CPU of the cluster) and merges them into the new run (see
        `cusprun.distributed`); the model and corpus are shipped to the tasks when they total at
        most `ship_limit` bytes (default `cusprun.distributed.DEFAULT_SHIP_LIMIT`; 0: never, they
        lie on a path every node sees). The result then has `ray`: `{shards, retries,
        shipped}`."""
        on_ray = _ray_options(ray, shards, ship_limit)
        model = absolute(model) if model else self.model_path
        corpus = corpus or self.corpus_name
        if not model:
            raise CusprunError("no model: open one first (`model(PATH)`, `%cusprun model PATH`)")
        if not corpus:
            raise CusprunError("no corpus: register one first (`corpus(MANIFEST)`)")
        run = self.run_id(run) if run else new_run_id(model, corpus)
        request = {"type": "score", "run": run, "model": model, "corpus": corpus}
        request.update(_camel(dict(batch_size=batch_size, threads=threads, score_form=score_form)))
        request.update(on_ray)
        info = self.run_job(request, on_event)
        self.run = run
        return {"run": run, **info["result"]}

    def plan(self, sigma: float | None = None, *, run: str | None = None, **query) -> dict:
        """The plan job: the whole plan (units each layer loses), plus the σ answer's views."""
        request = {"type": "plan", "run": self._run_name(run), **_camel(dict(sigma=sigma, **query))}
        return self.run_job(request)["result"]

    def prune(
        self,
        out: str,
        sigma: float | None = None,
        *,
        target_ratio: float | None = None,
        run: str | None = None,
        overwrite: bool | None = None,
        compensation: str | None = None,
        on_event: EventCallback | None = None,
        **query,
    ) -> dict:
        """Writes the pruned model to `out`, which must lie in the sidecar's working folder.
        `compensation` (one of COMPENSATIONS; default DEFAULT_PRUNE_COMPENSATION, regression)
        says what becomes of the removed units: 'none' zeroes them (the paper's model), 'bias'
        folds each one's mean contribution over the run's documents into the bias after its
        projection (FLAP), 'regression' replaces each removed channel by its ridge prediction
        from the kept channels; verification replaces them the same way."""
        request = {"type": "prune", "run": self._run_name(run), "out": absolute(out)}
        options = dict(overwrite=overwrite, compensation=compensation, **query)
        request.update(_camel(dict(sigma=sigma, target_ratio=target_ratio, **options)))
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
        is now, if it moved) with the same units zeroed (or replaced by their stored means):
        `{ok, maxAbsDiff, boundUlps, worst, description, removedUnits, …}` (the bound is in ulps
        of the logits' type at each row's largest |logit|); a difference past the bound raises
        CusprunError. `run` names a run whose log gets the
        events."""
        request = {"type": "verify", "pruned": absolute(pruned)}
        if model is not None:
            request["model"] = absolute(model)
        if run:
            request["run"] = self.run_id(run)
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
            "models": [absolute(m) for m in models],
            "evalSets": eval_set_paths(eval_sets),
        }
        if run:
            request["run"] = self.run_id(run)
        request.update(_camel(options))
        return self.run_job(request, on_event)["result"]

    def sweep(
        self,
        sigmas: list[float] | None = None,
        *,
        target_ratios: list[float] | None = None,
        eval_sets: list[str],
        methods: list[str] | None = None,
        baseline_run: str | None = None,
        run: str | None = None,
        ray: str | None = None,
        shards: int | None = None,
        ship_limit: int | None = None,
        on_event: EventCallback | None = None,
        **options,
    ) -> dict:
        """A σ (or target-ratio) sweep with evaluations; returns `{file, record}`. The baselines
        calibrate on `baseline_run`'s documents when given (a run of the same model, e.g. on a
        general corpus), else on the run's own. `compensation` ('regression' or 'bias'; default
        'none') evaluates every method with its removed units compensated as `prune` does, one
        fit over the run's documents (also `ablate`'s). With `ray`
        ('auto' or the head's HOST:PORT) the sweep job first makes its evaluations in `shards`
        Ray tasks (default: one per evaluation) into the run's evaluation cache, and then reads
        them from there (`cusprun.distributed.evaluations_on_ray`; `ship_limit` as for `score`); the
        result then has `ray` too: `{evaluations, shards, retries, shipped}`."""
        on_ray = _ray_options(ray, shards, ship_limit)
        request = {
            "type": "sweep",
            "run": self._run_name(run),
            "evalSets": eval_set_paths(eval_sets),
        }
        if baseline_run:
            request["baselineRun"] = self.run_id(baseline_run)
        request.update(
            _camel(dict(sigmas=sigmas, target_ratios=target_ratios, methods=methods, **options))
        )
        request.update(on_ray)
        return self.run_job(request, on_event)["result"]

    def ablate(
        self,
        target_ratio: float,
        *,
        eval_sets: list[str],
        baseline_run: str | None = None,
        run: str | None = None,
        ray: str | None = None,
        shards: int | None = None,
        ship_limit: int | None = None,
        on_event: EventCallback | None = None,
        **options,
    ) -> dict:
        """The 1D/2D/3D ablation at a target ratio, and general calibration at the all-dimension
        expert's per-layer counts (calibrated on `baseline_run`'s documents when given, else the
        run's own, as a sweep's baselines); returns `{file, record}`. With `ray` the ablation's
        evaluations (the dense model, each subset of the dimensions and the general row) are made
        on Ray first, as a sweep's are (`shards`, `ship_limit` as for `sweep`); the result then
        has `ray` too: `{evaluations, shards, retries, shipped}`."""
        on_ray = _ray_options(ray, shards, ship_limit)
        request = {
            "type": "ablate",
            "run": self._run_name(run),
            "targetRatio": target_ratio,
            "evalSets": eval_set_paths(eval_sets),
        }
        if baseline_run:
            request["baselineRun"] = self.run_id(baseline_run)
        request.update(_camel(options))
        request.update(on_ray)
        return self.run_job(request, on_event)["result"]

    def study(
        self,
        target_ratios: list[float],
        *,
        eval_sets: list[str],
        seed_runs: list[str] | None = None,
        baseline_run: str | None = None,
        qs: list[float] | None = None,
        rules: list[str] | None = None,
        allocations: list[str] | None = None,
        attentions: list[str] | None = None,
        compensations: list[str] | None = None,
        methods: list[str] | None = None,
        prompts: str | os.PathLike | None = None,
        run: str | None = None,
        on_event: EventCallback | None = None,
        **options,
    ) -> dict:
        """`cusprun study` on `run` and the `seed_runs` (the same model and corpora scored from
        other document samples): every q of the relaxed rule (q 1: the paper's rule) and each of
        `rules` (pooled-intersect, rank-mean), under each of `allocations` (sigma: one σ for
        every layer; sensitivity: per-layer counts by the probe) and `attentions` (prune: attention
        groups may go; keep: every one kept), plain and bias-compensated,
        with the baselines at each expert's per-layer counts (calibrated on `baseline_run`'s
        documents when given), each model also decoding `prompts` greedily when given; returns
        `{file, record}` (the run's study/TIME.json; its .csv, .md and .svg beside it)."""
        request = {
            "type": "study",
            "run": self._run_name(run),
            "targetRatios": target_ratios,
            "evalSets": eval_set_paths(eval_sets),
        }
        if seed_runs:
            request["seedRuns"] = [self.run_id(r) for r in seed_runs]
        if baseline_run:
            request["baselineRun"] = self.run_id(baseline_run)
        if prompts is not None:
            request["prompts"] = absolute(prompts)
        request.update(
            _camel(
                dict(
                    qs=qs,
                    rules=rules,
                    allocations=allocations,
                    attentions=attentions,
                    compensations=compensations,
                    methods=methods,
                    **options,
                )
            )
        )
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


def _ray_options(address: str | None, shards: int | None, ship_limit: int | None) -> dict:
    """The request's `ray` (none without an address): where and in how many shards its Ray
    driver spreads the work, and up to how many bytes of inputs it ships."""
    for name, value in (("shards", shards), ("ship_limit", ship_limit)):
        if value is not None and address is None:
            raise CusprunError(f"{name} goes with ray='auto' or ray='HOST:PORT'")
    if ship_limit is not None and ship_limit < 0:
        raise CusprunError(f"ship_limit: takes a byte count ≥ 0 (0: never ship), got {ship_limit}")
    if address is None:
        return {}
    return {"ray": {"address": address, **_camel(dict(shards=shards, ship_limit=ship_limit))}}
