"""The IPython extension: `%load_ext cusprun` registers `%cusprun` (line) and `%%cusprun` (cell).

The magics are a thin layer over `cusprun.Session`: they parse the line, ask the sidecar, and
display what it answers (live while a job runs). A mistake in the input, or a refusal from the
sidecar, raises a `CusprunError` that IPython shows as one line (`cusprun: …`, no traceback): the
cell fails, so Run All and `nbconvert --execute` stop there. Only the standard library and
IPython are needed to import and register them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shlex
from collections.abc import Callable
from pathlib import Path

from ._version import __version__
from .contract import (
    COMPENSATIONS,
    DEFAULT_PRUNE_COMPENSATION,
    MAX_GRID_POINTS,
    SWEEP_MIME_TYPE,
)
from .errors import CusprunError
from .formats import format_ratio, format_sigma

# σ steps of 0.01 in the sweep output's rank data: a slider's resolution, compact in the file.
SWEEP_RANK_BINS = 100

COMMANDS = {
    "export": "export SOURCE --out DIR [--kv] [--dtype float32|float16] [--overwrite] — export a "
    "model (HF folder, .gguf, cached id) to a checked ONNX folder and open it",
    "model": "model PATH — open an ONNX model (a folder with model.onnx)",
    "corpus": "corpus MANIFEST | language=FILE domain=FILE task=FILE [--documents N] "
    "[--truncation N] [--seed N] [--name NAME]; or a %%cusprun corpus cell (YAML or JSON)",
    "score": "score [--run ID] [--batch-size N] [--threads N] [--ray auto|HOST:PORT [--shards N] "
    "[--ship-limit SIZE]] — score the model on the corpus (on a Ray cluster, in N shards; model "
    "and corpus shipped to its nodes up to SIZE, e.g. 256M, 0: never)",
    "plan": "plan --sigma S | --target-ratio R [--dims a,b] [--rule RULE] [--q Q] "
    "[--keep-attention] — the pruning plan and charts",
    "sweep": "sweep --sigma A:B:STEP | --target-ratio R1,R2 --eval FILE[,…] [--methods m1,m2] "
    "[--compensation none|bias|regression] [--baseline-run ID] [--ray auto|HOST:PORT [--shards N] "
    "[--ship-limit SIZE]] — evaluate the methods over σ (the baselines calibrated on another "
    "run's documents; the evaluations spread over a Ray cluster first)",
    "ablate": "ablate --target-ratio R --eval FILE[,…] [--dims a,b] "
    "[--compensation none|bias|regression] [--baseline-run ID] "
    "[--ray auto|HOST:PORT [--shards N] [--ship-limit SIZE]] — the 1D/2D/3D dimension ablation "
    "and general calibration at the 3D expert's counts (calibrated on another run's documents; "
    "its evaluations spread over a Ray cluster first)",
    "study": "study --target-ratio R1,R2 --eval FILE[,…] [--q 1,0.75] "
    "[--rules pooled-intersect,rank-mean] [--allocations sigma,sensitivity] "
    "[--attention prune,keep] [--compensation none,bias,regression] [--methods m1,m2] "
    "[--seed-runs ID,…] "
    "[--baseline-run ID] [--prompts FILE] [--max-new-tokens N] — is the expert worth it: q, "
    "rules, allocation, attention groups, compensation and the baselines on one or more seeds",
    "prune": "prune --sigma S | --target-ratio R --out DIR [--overwrite] "
    "[--compensation none|bias|regression] [--keep-attention] — write the pruned model "
    f"(removed units compensated by {DEFAULT_PRUNE_COMPENSATION} unless told)",
    "verify": "verify DIR [--model PATH] — check a pruned model against its original with the "
    "same units zeroed or compensated",
    "eval": "eval [MODEL …] --eval FILE[,…] — evaluate models (default: the open one)",
    "runs": "runs — the runs of the store",
    "help": "help — this help",
    "version": "version — the cusprun version",
}


def _help() -> str:
    lines = ["usage: %cusprun <command> [options]", "", "commands:"]
    lines += [f"  {name:8s} {text.split(' — ')[-1]}" for name, text in COMMANDS.items()]
    lines += ["", "forms:"]
    lines += [f"  %cusprun {text.split(' — ')[0]}" for text in COMMANDS.values()]
    lines += [
        "",
        "The sidecar comes from $CUSPRUN_SIDECAR_URL and $CUSPRUN_SIDECAR_TOKEN when set (the",
        "Jupyter server extension sets them); otherwise a private one starts and stops with the",
        "kernel. In Python: `from cusprun import Session`.",
    ]
    return "\n".join(lines)


class UsageError(CusprunError):
    """A mistake in what the user typed: shown as one line, as a refusal from the sidecar is."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status=0, message=None):
        raise UsageError(message.strip() if message else f"{self.prog}: bad arguments")


def _parser(command: str) -> _Parser:
    return _Parser(prog=f"%cusprun {command}", add_help=False, allow_abbrev=False)


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {text!r}") from None


#: the suffixes --ship-limit takes: binary multiples, as `du -h` prints them
SIZE_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


def _size(text: str | None, what: str) -> int | None:
    """A byte count such as 500000, 300K, 256M or 2G (binary multiples), or None if not given."""
    if text is None:
        return None
    digits, suffix = text.strip().upper().rstrip("B"), ""
    if digits[-1:] in SIZE_SUFFIXES:
        digits, suffix = digits[:-1], digits[-1]
    if not digits.isdigit():
        raise UsageError(
            f"{what} takes a size in bytes such as 0, 500000, 300K, 256M or 2G, got {text!r}"
        )
    return int(digits) * SIZE_SUFFIXES[suffix]


def _ray_args(p: _Parser) -> None:
    """--ray, and --shards and --ship-limit, which go with it (score, sweep, ablate)."""
    p.add_argument("--ray")
    p.add_argument("--shards", type=int)
    p.add_argument("--ship-limit")


def _ray_options(ns, command: str) -> dict:
    """What `_ray_args` parsed, as the Session's keyword arguments (the ship limit in bytes)."""
    for flag, value in (("--shards N", ns.shards), ("--ship-limit SIZE", ns.ship_limit)):
        if value is not None and ns.ray is None:
            raise UsageError(f"%cusprun {command}: {flag} goes with --ray auto|HOST:PORT")
    return dict(ray=ns.ray, shards=ns.shards, ship_limit=_size(ns.ship_limit, "--ship-limit"))


def _fraction(text: str, what: str) -> float:
    """σ or a target ratio: strictly between 0 and 1, as the engine asks."""
    value = _number(text, what)
    if not 0 < value < 1:
        raise UsageError(f"{what} must lie strictly between 0 and 1, got {text}")
    return value


def _grid(text: str, what: str) -> list[float]:
    """`START:STOP:STEP` (STOP included, within rounding) or `v1,v2,…`, read as the engine's
    parseGrid reads them, with its messages."""
    if ":" in text:
        values = _range(text, what)
    else:
        values = [_number(v, what) for v in text.split(",") if v.strip()]
        if len(values) > MAX_GRID_POINTS:
            raise UsageError(
                f"{what}: {len(values):,} values, more than the {MAX_GRID_POINTS:,} a grid may have"
            )
    if not values:
        raise UsageError(f"{what}: the grid '{text}' has no values")
    for value in values:
        if not 0 < value < 1:
            raise UsageError(
                f"{what}: every value must lie strictly between 0 and 1, got {value:.10g}"
            )
    return values


def _range(text: str, what: str) -> list[float]:
    bounds = [_number(part, what) for part in text.split(":")]
    if (
        len(bounds) != 3
        or not all(map(math.isfinite, bounds))
        or not (bounds[2] > 0 and bounds[1] >= bounds[0])
    ):
        raise UsageError(
            f"{what}: '{text}' is not a range START:STOP:STEP with STEP > 0 and STOP ≥ START"
        )
    start, stop, step = bounds
    # The engine's count, floor((stop - start) / step + 1e-9) + 1, bounded before it is made.
    span = (stop - start) / step + 1e-9
    if span >= MAX_GRID_POINTS:
        raise UsageError(
            f"{what}: '{text}' makes more than {MAX_GRID_POINTS:,} points, the most a grid may "
            "have: take a larger STEP"
        )
    return [round(start + i * step, 10) for i in range(math.floor(span) + 1)]


@contextlib.contextmanager
def _failure_shown(live, job: str, rows: Callable[[], list[dict]] = list):
    """When the job fails, its live output (else left at "submitting" or a progress line) says
    so above the error; the rows streamed so far stay on show."""
    try:
        yield
    except BaseException:
        from .display import progress_bundle, table_bundle

        shown, text = rows(), f"cusprun {job}: failed (see below)"
        live.update(table_bundle(shown, text) if shown else progress_bundle(text))
        raise


class _LiveRows:
    """A job's rows shown in one live table as they stream in, progress lines in between."""

    def __init__(self, job: str, event_type: str, field: str, noun: str, to_rows):
        from .display import Live

        self.job, self.event_type, self.field, self.noun = job, event_type, field, noun
        self.to_rows = to_rows
        self.rows = []
        self.table = Live({"text/plain": f"cusprun {job}: submitting"})

    def so_far(self) -> list[dict]:
        return self.to_rows(self.rows)

    def on_event(self, event) -> None:
        from .display import table_bundle

        if event["type"] == self.event_type:
            self.rows.append(event[self.field])
            text = f"cusprun {self.job}: {len(self.rows)} {self.noun} so far"
            self.table.update(table_bundle(self.so_far(), text))
        elif event["type"] == "progress":
            self.table.update({"text/plain": f"cusprun {self.job}: " + _progress_words(event)})

    def failure_shown(self):
        return _failure_shown(self.table, self.job, self.so_far)


def _list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [v.strip() for v in text.split(",") if v.strip()]


class CusprunMagics:
    """The state of the magics in one kernel: the session (made on first use) and the display."""

    def __init__(self, shell=None):
        self.shell = shell
        self.session = None

    # -- plumbing --

    def _session(self):
        if self.session is None:
            from .session import Session

            self.session = Session()
        return self.session

    def line(self, line: str) -> None:
        self._dispatch(line, None)

    def cell(self, line: str, cell: str) -> None:
        self._dispatch(line, cell)

    def _dispatch(self, line: str, cell: str | None) -> None:
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"cannot read the line: {error}") from None
        command = words[0] if words else "help"
        handler = getattr(self, f"do_{command}", None)
        if handler is None or command not in COMMANDS:
            raise UsageError(f"unknown command '{command}' (known: {', '.join(COMMANDS)})")
        if cell is not None and command != "corpus":
            raise UsageError("a %%cusprun cell holds a corpus manifest: %%cusprun corpus")
        try:
            if cell is not None:
                self.corpus_cell(words[1:], cell)
            else:
                handler(words[1:])
        except KeyboardInterrupt:
            # One line, and the cell still fails (Run All stops), without KeyboardInterrupt's
            # traceback through the magic's frames.
            raise CusprunError(
                "interrupted (the job is cancelled at its next checkpoint)", "interrupted"
            ) from None

    # -- commands --

    def do_help(self, args):
        print(_help())

    def do_version(self, args):
        print(f"cusprun {__version__}")

    def do_model(self, args):
        p = _parser("model")
        p.add_argument("path")
        ns = p.parse_args(args)
        if not Path(ns.path).exists():
            raise UsageError(
                f"{ns.path}: no such model (a folder with model.onnx, or a .onnx file)"
            )
        model = self._session().model(ns.path)
        layers = model.get("layers", [])
        ffn = {layer["ffn"]["width"] for layer in layers if layer.get("ffn")}
        heads = {layer["attention"].get("heads") for layer in layers if layer.get("attention")}
        print(
            f"model {model.get('file')}: {model.get('family')} ({model.get('dtype')}), "
            f"{len(layers)} layers, hidden {model.get('hidden')}, FFN width "
            f"{'/'.join(map(str, sorted(ffn)))}, heads {'/'.join(map(str, sorted(heads)))}, "
            f"vocab {model.get('vocab')}"
        )

    def do_export(self, args):
        from .display import Live, progress_bundle
        from .export import DTYPES
        from .export_process import export_model

        p = _parser("export")
        p.add_argument("source")
        p.add_argument("--out", required=True)
        p.add_argument("--kv", action="store_true")
        p.add_argument("--dtype", choices=DTYPES, default="float32")
        p.add_argument("--overwrite", action="store_true")
        ns = p.parse_args(args)
        line = Live(progress_bundle("cusprun export: starting"))
        # Not the session's: a sidecar starts only once there is a model to open.
        with _failure_shown(line, "export"):
            report = export_model(
                ns.source,
                ns.out,
                kv=ns.kv,
                dtype=ns.dtype,
                overwrite=ns.overwrite,
                on_line=lambda text: line.update(progress_bundle(text)),
            )
        line.update(progress_bundle(f"cusprun export: {report['summary']}"))
        self.do_model([report["out"]])

    def do_corpus(self, args):
        p = _parser("corpus")
        p.add_argument("items", nargs="*")
        p.add_argument("--name")
        p.add_argument("--documents", type=int)
        p.add_argument("--truncation", type=int)
        p.add_argument("--seed", type=int)
        ns = p.parse_args(args)
        pairs = [i for i in ns.items if "=" in i]
        plain = [i for i in ns.items if "=" not in i]
        if pairs and plain or len(plain) > 1 or not ns.items:
            raise UsageError(
                "corpus: give one MANIFEST, or dimension=FILE pairs (language=… domain=… task=…)"
            )
        options = dict(name=ns.name, documents=ns.documents, truncation=ns.truncation, seed=ns.seed)
        if plain:
            if any(v is not None for k, v in options.items() if k != "name"):
                raise UsageError("corpus: --documents/--truncation/--seed go with dimension=FILE")
            info = self._session().corpus(plain[0], name=ns.name)
        else:
            dims = {}
            for pair in pairs:
                key, _, value = pair.partition("=")
                if not key or not value:
                    raise UsageError(f"corpus: {pair!r} is not dimension=FILE")
                dims.setdefault(key, []).extend(v for v in value.split(",") if v)
            info = self._session().corpus(**options, **dims)
        self._show_corpus(info)

    def corpus_cell(self, args, text: str):
        p = _parser("corpus")
        p.add_argument("--name", default="cell")
        ns = p.parse_args(args)
        text = text.strip()
        if not text:
            raise UsageError("the %%cusprun corpus cell is empty: write a manifest (YAML or JSON)")
        is_json = text.startswith("{")
        if is_json:
            try:
                json.loads(text)
            except ValueError as error:
                raise UsageError(f"the cell is not valid JSON: {error}") from None
        # Written next to the notebook, so that relative sources are the notebook folder's.
        path = Path(f".cusprun-corpus-{ns.name}.{'json' if is_json else 'yaml'}")
        path.write_text(text + "\n")
        self._show_corpus(self._session().corpus(path, name=ns.name))

    def _show_corpus(self, info):
        from IPython.display import display

        from .display import table_bundle

        rows = [
            {
                "dimension": d["dimension"],
                "name": d["name"],
                "sources": ", ".join(d["sources"]),
                "documents": d["documents"],
                "available": d["available"],
            }
            for d in info["dimensions"]
        ]
        caption = (
            f"corpus '{info['name']}': {info['documentsPerDimension']} documents per dimension, "
            f"truncation {info['truncation']} tokens, seed {info['seed']}"
        )
        display(table_bundle(rows, caption), raw=True)

    def do_score(self, args):
        from .display import (
            Live,
            chart_bundle,
            progress_bundle,
            progress_text,
        )

        p = _parser("score")
        p.add_argument("--run")
        p.add_argument("--batch-size", type=int)
        p.add_argument("--threads", type=int)
        p.add_argument("--score-form", choices=["paper", "code"])
        _ray_args(p)
        ns = p.parse_args(args)
        on_ray = _ray_options(ns, "score")
        session = self._session()
        line = Live(progress_bundle("cusprun score: submitting"))
        chart = Live()
        state = {"progress": None}

        def on_event(event):
            kind = event["type"]
            if kind == "progress":
                state["progress"] = event["progress"]
                line.update(progress_bundle(progress_text("score", event["progress"], "running")))
            elif kind == "histogram":
                chart.update(chart_bundle({"name": "relevance-histogram", "spec": event["spec"]}))
            elif "info" in event:
                info = event["info"]
                progress = info.get("progress") or state["progress"]
                line.update(progress_bundle(progress_text("score", progress, info["state"])))

        with _failure_shown(line, "score"):
            result = session.score(
                ns.run,
                batch_size=ns.batch_size,
                threads=ns.threads,
                score_form=ns.score_form,
                **on_ray,
                on_event=on_event,
            )
        where = f" on Ray ({result['ray']['shards']} shards)" if "ray" in result else ""
        line.update(
            progress_bundle(
                f"cusprun score: run '{result['run']}': {result['scored']} documents scored, "
                f"{result['skipped']} skipped, {result['tokens']} tokens in "
                f"{result['seconds']:.1f} s{where}"
            )
        )
        # The final chart is the sidecar's, with its SVG, σ marked at the preview's 0.5.
        charts = session.charts("plan", sigma=0.5)["charts"]
        histogram = next(c for c in charts if c["name"] == "relevance-histogram")
        chart.update(chart_bundle(histogram))

    def _plan_query(self, p, args):
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--sigma")
        group.add_argument("--target-ratio")
        p.add_argument("--dims")
        p.add_argument("--rule")
        p.add_argument("--q")
        p.add_argument("--min-keep", type=int)
        p.add_argument("--multiple-of", type=int)
        p.add_argument("--keep-attention", action="store_true")
        p.add_argument("--run")
        ns = p.parse_args(args)
        query = {
            "sigma": None if ns.sigma is None else _fraction(ns.sigma, "--sigma"),
            "target_ratio": (
                None if ns.target_ratio is None else _fraction(ns.target_ratio, "--target-ratio")
            ),
            "dims": _list(ns.dims),
            "rule": ns.rule,
            "q": None if ns.q is None else _number(ns.q, "--q"),
            "min_keep": ns.min_keep,
            "multiple_of": ns.multiple_of,
            "keep_attention": ns.keep_attention or None,
        }
        return ns, {k: v for k, v in query.items() if v is not None}

    def do_plan(self, args):
        ns, query = self._plan_query(_parser("plan"), args)
        session = self._session()
        answer = session.sigma(run=ns.run, **query)
        print(_plan_line(answer["plan"]))
        charts = session.charts("plan", run=ns.run, **query)["charts"]
        self._display_with_sweep(charts, answer, ns.run, None)

    def _display_with_sweep(
        self, charts: list[dict], answer: dict, run: str | None, file: str | None
    ) -> None:
        """Displays `charts`, the first one carrying the interactive σ-sweep entry (SWEEP_MIME_TYPE)
        around `answer` (a sigma answer): the ranks of every non-empty subset of its plan's
        dimensions, so that a σ slider and dimension toggles redraw without the sidecar. `file`
        names the sweep record the charts come from, if any."""
        from IPython.display import display

        from .display import chart_bundle, sweep_payload

        session = self._session()
        plan = answer["plan"]
        dimensions = plan["dimensions"]
        subsets = [
            session.ranks(
                run=run,
                dims=[d for i, d in enumerate(dimensions) if mask >> i & 1],
                bins=SWEEP_RANK_BINS,
                # the plan's own settings, so the slider counts as the plan did
                rule=plan.get("rule"),
                q=plan["q"],
                min_keep=plan["minKeep"],
                multiple_of=plan["multipleOf"],
                keep_attention=plan.get("keepAttention"),
            )
            for mask in range(1, 1 << len(dimensions))
        ]
        run = session.run if run is None else session.run_id(run)
        payload = sweep_payload(run, file, answer, subsets)
        for i, chart in enumerate(charts):
            bundle = chart_bundle(chart)
            if i == 0:
                bundle[SWEEP_MIME_TYPE] = payload
            display(bundle, raw=True)

    def do_prune(self, args):
        p = _parser("prune")
        p.add_argument("--out", required=True)
        p.add_argument("--overwrite", action="store_true")
        p.add_argument("--compensation", choices=COMPENSATIONS)
        ns, query = self._plan_query(p, args)
        from .display import Live, progress_bundle, progress_text

        # The compensation's pass over the run's documents (minutes on a real model), as score's.
        line = Live(progress_bundle("cusprun prune: submitting"))
        state = {"progress": None}

        def on_event(event):
            if event["type"] == "progress":
                state["progress"] = event["progress"]
                line.update(progress_bundle(progress_text("prune", event["progress"], "running")))

        with _failure_shown(line, "prune"):
            result = self._session().prune(
                ns.out,
                run=ns.run,
                overwrite=ns.overwrite or None,
                compensation=ns.compensation,
                on_event=on_event,
                **query,
            )
        line.update(progress_bundle(progress_text("prune", state["progress"], "done")))
        before, after = result["bytesBefore"], result["bytesAfter"]
        verification = result["verification"]
        print(
            f"pruned model written to {result['out']}: {_plan_line(result['plan'])}; "
            f"{before / 1e6:.2f} MB → {after / 1e6:.2f} MB; checked against the original with "
            f"the units {verification['removedUnits']}: {verification['description']}"
        )

    def do_verify(self, args):
        p = _parser("verify")
        p.add_argument("pruned")
        p.add_argument("--model")
        p.add_argument("--run")
        ns = p.parse_args(args)
        result = self._session().verify(ns.pruned, model=ns.model, run=ns.run)
        print(
            f"verified {ns.pruned}: the same logits as the original with the units "
            f"{result['removedUnits']}: {result['description']}"
        )

    def _eval_args(self, p):
        p.add_argument("--eval", required=True, action="append", help="FILE or NAME=FILE")
        p.add_argument("--truncation", type=int)
        p.add_argument("--batch-size", type=int)
        p.add_argument("--threads", type=int)

    def _eval_options(self, ns):
        """What `_eval_args` parsed, as the Session's keyword arguments; the sets checked."""
        sets = [s for chunk in ns.eval for s in _list(chunk)]
        for spec in sets:
            file = spec.rpartition("=")[2]
            if not Path(file).is_file():
                raise UsageError(f"{file}: no such evaluation set")
        return dict(
            eval_sets=sets, truncation=ns.truncation, batch_size=ns.batch_size, threads=ns.threads
        )

    def do_sweep(self, args):
        from .display import table_bundle
        from .tables import compensation_note, sweep_rows

        p = _parser("sweep")
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--sigma")
        group.add_argument("--target-ratio")
        p.add_argument("--methods")
        p.add_argument("--seed", type=int)
        p.add_argument("--compensation", choices=COMPENSATIONS)
        p.add_argument("--baseline-run")
        p.add_argument("--dims")
        p.add_argument("--run")
        _ray_args(p)
        self._eval_args(p)
        ns = p.parse_args(args)
        on_ray = _ray_options(ns, "sweep")
        grid = (
            {"sigmas": _grid(ns.sigma, "--sigma")}
            if ns.sigma is not None
            else {"target_ratios": _grid(ns.target_ratio, "--target-ratio")}
        )
        evaluation = self._eval_options(ns)
        session = self._session()
        live = _LiveRows(
            "sweep",
            "sweep-point",
            "point",
            "points",
            lambda points: sweep_rows({"dense": [], "points": points})[1:],
        )
        with live.failure_shown():
            result = session.sweep(
                **grid,
                **evaluation,
                methods=_list(ns.methods),
                seed=ns.seed,
                compensation=ns.compensation,
                baseline_run=ns.baseline_run,
                dims=_list(ns.dims),
                run=ns.run,
                **on_ray,
                on_event=live.on_event,
            )
        record, file = result["record"], result["file"]
        caption = f"σ sweep ({file}); {compensation_note(record)}"
        live.table.update(table_bundle(sweep_rows(record), caption))
        charts = session.charts("sweep", run=ns.run, file=Path(file).name)["charts"]
        answer = session.sigma(record["points"][0]["sigma"], run=ns.run, dims=_list(ns.dims))
        self._display_with_sweep(charts, answer, ns.run, file)

    def do_ablate(self, args):
        from IPython.display import display

        from .display import chart_bundle, table_bundle
        from .tables import ablation_rows, compensation_note

        p = _parser("ablate")
        p.add_argument("--target-ratio", required=True)
        p.add_argument("--compensation", choices=COMPENSATIONS)
        p.add_argument("--baseline-run")
        p.add_argument("--dims")
        p.add_argument("--run")
        _ray_args(p)
        self._eval_args(p)
        ns = p.parse_args(args)
        ratio = _fraction(ns.target_ratio, "--target-ratio")
        on_ray = _ray_options(ns, "ablate")
        evaluation = self._eval_options(ns)
        session = self._session()
        live = _LiveRows(
            "ablate",
            "ablation-row",
            "row",
            "rows",
            lambda rows: ablation_rows({"dense": [], "rows": rows})[1:],
        )
        with live.failure_shown():
            result = session.ablate(
                ratio,
                **evaluation,
                compensation=ns.compensation,
                baseline_run=ns.baseline_run,
                dims=_list(ns.dims),
                run=ns.run,
                **on_ray,
                on_event=live.on_event,
            )
        record, file = result["record"], result["file"]
        caption = f"dimension ablation ({file}); {compensation_note(record)}"
        live.table.update(table_bundle(ablation_rows(record), caption))
        for chart in session.charts("ablation", run=ns.run, file=Path(file).name)["charts"]:
            display(chart_bundle(chart), raw=True)

    def do_study(self, args):
        from IPython.display import display

        from .display import chart_bundle, table_bundle
        from .tables import study_rows

        p = _parser("study")
        p.add_argument("--target-ratio", required=True)
        p.add_argument("--q")
        p.add_argument("--rules")
        p.add_argument("--allocations")
        p.add_argument("--attention")
        p.add_argument("--compensation")
        p.add_argument("--methods")
        p.add_argument("--seed-runs")
        p.add_argument("--baseline-run")
        p.add_argument("--prompts")
        p.add_argument("--max-new-tokens", type=int)
        p.add_argument("--dims")
        p.add_argument("--run")
        self._eval_args(p)
        ns = p.parse_args(args)
        ratios = _grid(ns.target_ratio, "--target-ratio")
        qs = None if ns.q is None else [_number(q, "--q") for q in _list(ns.q)]
        if ns.prompts is not None and not Path(ns.prompts).is_file():
            raise UsageError(f"{ns.prompts}: no such prompts file")
        evaluation = self._eval_options(ns)
        session = self._session()
        live = _LiveRows(
            "study",
            "study-row",
            "row",
            "models",
            lambda rows: study_rows({"dense": [], "rows": rows})[1:],
        )
        with live.failure_shown():
            result = session.study(
                ratios,
                **evaluation,
                seed_runs=_list(ns.seed_runs),
                baseline_run=ns.baseline_run,
                qs=qs,
                rules=_list(ns.rules),
                allocations=_list(ns.allocations),
                attentions=_list(ns.attention),
                compensations=_list(ns.compensation),
                methods=_list(ns.methods),
                prompts=ns.prompts,
                max_new_tokens=ns.max_new_tokens,
                dims=_list(ns.dims),
                run=ns.run,
                on_event=live.on_event,
            )
        record, file = result["record"], result["file"]
        text = f"study ({file}, {record['seconds']:.0f} s)"
        live.table.update(table_bundle(study_rows(record), text))
        for chart in session.charts("study", run=ns.run, file=Path(file).name)["charts"]:
            display(chart_bundle(chart), raw=True)

    def do_eval(self, args):
        from IPython.display import display

        from .display import table_bundle

        p = _parser("eval")
        p.add_argument("models", nargs="*")
        self._eval_args(p)
        ns = p.parse_args(args)
        session = self._session()
        models = ns.models or ([session.model_path] if session.model_path else [])
        if not models:
            raise UsageError("eval: name a model, or open one first with %cusprun model PATH")
        for model in models:
            if not Path(model).exists():
                raise UsageError(f"{model}: no such model")
        result = session.evaluate(models, **self._eval_options(ns))
        rows = []
        for m in result["models"]:
            row = {"model": m["model"], "MB": m["bytes"] / 1e6}
            row.update({f"{x['evalSet']} {x['metric']}": x["value"] for x in m["metrics"]})
            rows.append(row)
        display(table_bundle(rows, "evaluation"), raw=True)

    def do_runs(self, args):
        from IPython.display import display

        from .display import table_bundle
        from .tables import runs_rows

        _parser("runs").parse_args(args)
        display(table_bundle(runs_rows(self._session().runs()), "cusprun runs"), raw=True)


def _progress_words(event) -> str:
    progress = event.get("progress") or {}
    unit = progress.get("unit", "documents")  # a sweep on Ray counts its shards
    return f"{progress.get('done', 0)}/{progress.get('total', 0)} {unit}"


def _plan_line(plan: dict) -> str:
    return (
        f"σ = {format_sigma(plan['sigma'])}: ratio {format_ratio(plan['ratio'])} of prunable "
        f"parameters ({plan['removedParams']:,} of {plan['prunableParams']:,}), "
        f"{format_ratio(plan.get('wholeModelRatio', 0))} of the whole model, dimensions "
        f"{'+'.join(plan.get('dimensions', []))}"
    )


_magics: CusprunMagics | None = None


def _line_magic(line: str) -> None:
    _magics.line(line)


def _cell_magic(line: str, cell: str) -> None:
    _magics.cell(line, cell)


def load_ipython_extension(ipython):
    global _magics
    if _magics is None:
        _magics = CusprunMagics(ipython)
    ipython.register_magic_function(_line_magic, magic_kind="line", magic_name="cusprun")
    ipython.register_magic_function(_cell_magic, magic_kind="cell", magic_name="cusprun")


def unload_ipython_extension(ipython):
    ipython.magics_manager.magics["line"].pop("cusprun", None)
    ipython.magics_manager.magics["cell"].pop("cusprun", None)


def session():
    """The magics' session (started on first use), for mixing magics and the Python API."""
    if _magics is None:
        raise RuntimeError("run %load_ext cusprun first")
    return _magics._session()
