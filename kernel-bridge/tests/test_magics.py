"""The magics in a real kernel (nbclient) against a real sidecar: the example notebook, live
updates, finding the sidecar, and user mistakes."""

import ast
import hashlib
import itertools
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from cusprun.formats import format_change
from jupyter_client.manager import start_new_kernel
from kernel_helpers import (
    CORPUS,
    MC,
    MODEL,
    QA,
    ROOT,
    SIDECAR_JS,
    SWEEP,
    VEGALITE,
    chart_outputs,
    check_chart,
    error_lines,
    execute,
    kernel_env,
    no_errors,
    notebook_of,
    process_gone,
    stream_text,
)

pytestmark = pytest.mark.skipif(
    not SIDECAR_JS.is_file() or shutil.which("node") is None,
    reason="needs node and the built sidecar (npm run build:node)",
)

EXAMPLE = ROOT / "examples" / "cusprun-quickstart.ipynb"
SIDECAR_PID = "import cusprun.ipython; print(cusprun.ipython.session().sidecar.pid)"


def test_the_example_notebook_executes_and_every_chart_renders_anywhere(tmp_path):
    # A copy beside a link to demo/, so that its relative paths hold and its store is tmp_path's.
    (tmp_path / "examples").mkdir()
    (tmp_path / "demo").symlink_to(ROOT / "demo")
    notebook = nbformat.read(EXAMPLE, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(SIDECAR_PID))
    execute(notebook, tmp_path / "examples", timeout=300)
    no_errors(notebook)
    nbformat.write(notebook, tmp_path / "executed.ipynb")
    saved = nbformat.read(tmp_path / "executed.ipynb", as_version=4)

    charts = chart_outputs(saved)
    # score: 1 histogram; plan: 3; sweep: 2; ablate: 1.
    assert len(charts) >= 7
    for data in charts:
        check_chart(data)
    sweeps = [d[SWEEP] for d in charts if SWEEP in d]
    # The plan's first chart and the sweep's: the plan's names no sweep record.
    assert [sweep["file"] is None for sweep in sweeps] == [True, False]
    for sweep in sweeps:
        assert sweep["format"] == "cusprun-sweep" and sweep["ratios"] and sweep["layers"]
        # Every non-empty subset of the 3 dimensions, each per layer and unit kind on a σ grid.
        subsets = sweep["subsets"]
        assert sorted(len(s["dimensions"]) for s in subsets) == [1, 1, 1, 2, 2, 2, 3]
        for subset in subsets:
            assert {(g["layer"], g["kind"]) for g in subset["groups"]} == {
                (layer["layer"], layer["kind"]) for layer in sweep["layers"]
            }
            for group in subset["groups"]:
                cumulative = group["cumulative"]
                assert len(cumulative) == subset["bins"] + 1
                assert cumulative[0] == 0 and cumulative[-1] == group["units"]
                assert cumulative == sorted(cumulative)
        assert len(json.dumps(sweep)) < 80_000
    assert (tmp_path / "examples/.cusprun/experts/de-computing-qa/model.onnx").is_file()

    pid = int(stream_text(saved.cells[-1]).strip())
    # The kernel is gone (nbclient shut it down): so is the private sidecar it started.
    deadline = time.monotonic() + 20
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process_gone(pid), f"sidecar {pid} outlived its kernel"


def test_a_score_job_updates_its_display_live(tmp_path):
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=kernel_env())
    try:
        messages = []

        def run(code):
            reply = kc.execute_interactive(code, timeout=120, output_hook=messages.append)
            assert reply["content"]["status"] == "ok", reply["content"]

        run("%load_ext cusprun")
        run(f"%cusprun model {MODEL}\n%cusprun corpus {CORPUS}")
        messages.clear()
        run("%cusprun score --run live --batch-size 2")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)

    kinds = [m["msg_type"] for m in messages]
    assert "error" not in kinds
    updates = [m for m in messages if m["msg_type"] == "update_display_data"]
    by_id = {}
    for m in updates:
        by_id.setdefault(m["content"]["transient"]["display_id"], []).append(m)
    # The progress line is replaced at every event; the histogram chart at every live histogram.
    assert max(len(v) for v in by_id.values()) >= 5, {k: len(v) for k, v in by_id.items()}
    progress = [
        m["content"]["data"]["text/plain"]
        for m in updates
        if "documents" in m["content"]["data"]["text/plain"]
    ]
    assert any("/24 documents" in text for text in progress)
    charts = [m["content"]["data"] for m in updates if "image/svg+xml" in m["content"]["data"]]
    assert charts, "the final histogram (with the sidecar's SVG) replaces the live one"
    check_chart(charts[-1])


def test_plan_carries_the_interactive_sweep_entry_on_its_first_chart(tmp_path):
    notebook = execute(
        notebook_of(
            "%load_ext cusprun",
            f"%cusprun model {MODEL}\n%cusprun corpus {CORPUS}",
            "%cusprun score --run planned",
            "%cusprun score --run other",
            "%cusprun plan --run planned --sigma 0.5",
        ),
        tmp_path,
    )
    no_errors(notebook)
    displays = [o["data"] for o in notebook.cells[4].outputs if o.output_type == "display_data"]
    # histogram, ratios, layers: every one a chart that renders anywhere, the first interactive
    assert len(displays) == 3
    for data in displays:
        check_chart(data)
    assert [SWEEP in data for data in displays] == [True, False, False]
    sweep = displays[0][SWEEP]
    assert sweep["format"] == "cusprun-sweep" and sweep["version"] == 1
    # the run named, not the session's latest
    assert (sweep["run"], sweep["file"], sweep["sigma"]) == ("planned", None, 0.5)
    assert sweep["ratios"] and sweep["layers"] and sweep["prunableParams"] > 0
    dimensions = ["language", "domain", "task"]
    subsets = {tuple(sorted(subset["dimensions"])) for subset in sweep["subsets"]}
    assert len(sweep["subsets"]) == 7 and subsets == {
        tuple(sorted(c)) for n in (1, 2, 3) for c in itertools.combinations(dimensions, n)
    }
    for subset in sweep["subsets"]:
        assert subset["bins"] == 100 and subset["groups"]


def test_the_sidecar_named_by_the_environment_is_used(tmp_path):
    sidecar = subprocess.Popen(
        ["node", str(SIDECAR_JS), "serve", "--store", str(tmp_path / "store")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        ready = json.loads(sidecar.stdout.readline())
        env = kernel_env(
            CUSPRUN_SIDECAR_URL=f"http://127.0.0.1:{ready['port']}",
            CUSPRUN_SIDECAR_TOKEN=ready["token"],
        )
        notebook = execute(
            notebook_of(
                "%load_ext cusprun",
                f"%cusprun model {MODEL}",
                "import cusprun.ipython\n"
                "s = cusprun.ipython.session()\n"
                "print(s.sidecar is None, s.health_info['pid'], s.health_info['store'])",
            ),
            tmp_path,
            env,
        )
        no_errors(notebook)
        private, pid, store = stream_text(notebook.cells[2]).split()
        assert private == "True"
        assert int(pid) == ready["pid"] and store == str(tmp_path / "store")
        assert sidecar.poll() is None, "the kernel must not stop a sidecar it did not start"
    finally:
        sidecar.stdin.close()
        sidecar.wait(20)


def test_user_mistakes_fail_the_cell_with_one_line(tmp_path):
    mistakes = {
        "%cusprun frobnicate": "cusprun: unknown command 'frobnicate' (known: ",
        "%cusprun model /no/such/model": "cusprun: /no/such/model: no such model",
        "%cusprun corpus /no/such/corpus.yaml": "cusprun: /no/such/corpus.yaml: no such corpus",
        "%cusprun corpus language=/no/de.txt": "cusprun: /no/de.txt: no such corpus file",
        "%cusprun plan --sigma 1.5": "cusprun: --sigma must lie strictly between 0 and 1, got 1.5",
        "%cusprun plan --target-ratio 0": "cusprun: --target-ratio must lie strictly between 0 "
        "and 1, got 0",
        "%cusprun prune --sigma abc --out x": "cusprun: --sigma must be a number, got 'abc'",
        "%cusprun plan": "cusprun: %cusprun plan: one of the arguments --sigma --target-ratio",
        "%cusprun sweep --sigma 0.5:0.1:0.1 --eval x": "cusprun: --sigma: '0.5:0.1:0.1' is not a "
        "range START:STOP:STEP with STEP > 0 and STOP ≥ START",
        "%cusprun sweep --sigma 0:0.5:0.1 --eval x": "cusprun: --sigma: every value must lie "
        "strictly between 0 and 1, got 0",
        "%cusprun sweep --sigma 0.1:0.9:1e-9 --eval x": "cusprun: --sigma: '0.1:0.9:1e-9' makes "
        "more than 1,000 points, the most a grid may have: take a larger STEP",
        f"%cusprun sweep --sigma 0.1:0.3:0.1 --eval {MC}": "cusprun: no run yet",
        f"%cusprun ablate --target-ratio 0.2 --eval {tmp_path}/none.jsonl": "cusprun: ",
        "%cusprun score": "cusprun: no model: open one first",
        "%cusprun score --ship-limit 1G": "cusprun: %cusprun score: --ship-limit SIZE goes with "
        "--ray auto|HOST:PORT",
        "%cusprun score --ray auto --ship-limit lots": "cusprun: --ship-limit takes a size in "
        "bytes such as 0, 500000, 300K, 256M or 2G, got 'lots'",
        f"%cusprun ablate --target-ratio 0.2 --eval {MC} --shards 2": "cusprun: %cusprun "
        "ablate: --shards N goes with --ray auto|HOST:PORT",
        "%cusprun model 'unclosed": "cusprun: cannot read the line",
        "%%cusprun corpus\n{not json": "cusprun: the cell is not valid JSON",
        "%%cusprun score\nx": "cusprun: a %%cusprun cell holds a corpus manifest",
        # the Python API's refusals (here the sidecar's) read the same in a notebook
        "cusprun.ipython.session().model('/no/such/model')": "cusprun: /no/such/model: ",
    }
    notebook = execute(
        notebook_of("%load_ext cusprun\nimport cusprun.ipython", *mistakes),
        tmp_path,
        allow_errors=True,
    )
    for cell, expected in zip(notebook.cells[1:], mistakes.values(), strict=True):
        # one error output, its "traceback" the one line; nothing printed, and a job's live
        # output (shown before the refusal came) says it failed
        kinds = [o.output_type for o in cell.outputs]
        assert kinds[-1:] == ["error"] and set(kinds) <= {"error", "display_data"}, cell
        for output in cell.outputs[:-1]:
            assert output.data["text/plain"].endswith(": failed (see below)"), cell
        [[line]] = error_lines(cell)
        assert "\n" not in line and line.startswith(expected), (cell.source, line)


def test_a_failing_magic_fails_its_request_and_what_was_queued_behind_it_is_aborted(tmp_path):
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=kernel_env())
    try:
        kc.execute_interactive("%load_ext cusprun", timeout=60)
        # Run All: the next cell is queued before the first one answers (the pause makes sure
        # it has arrived when the error comes: the kernel aborts only what is queued then).
        failing = kc.execute("import time\ntime.sleep(1)\n%cusprun plan --sigma 1.5")
        queued = kc.execute("print('ran')")
        replies = {}
        while len(replies) < 2:
            reply = kc.get_shell_msg(timeout=60)
            replies[reply["parent_header"]["msg_id"]] = reply["content"]
        outputs = []
        while True:
            message = kc.get_iopub_msg(timeout=60)
            if message["parent_header"].get("msg_id") == failing:
                outputs.append(message)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                if message["parent_header"].get("msg_id") == queued:
                    break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)

    line = "cusprun: --sigma must lie strictly between 0 and 1, got 1.5"
    assert replies[failing]["status"] == "error"
    assert replies[failing]["traceback"] == [line]
    assert replies[queued]["status"] == "aborted"
    shown = [(m["msg_type"], m["content"]) for m in outputs if m["msg_type"] in ("error", "stream")]
    assert shown == [
        (
            "error",
            {
                "ename": "UsageError",
                "evalue": "--sigma must lie strictly between 0 and 1, got 1.5",
                "traceback": [line],
            },
        )
    ]


def nbconvert_execute(notebook, folder):
    """`jupyter nbconvert --execute` on the notebook, saved in `folder` (its working folder)."""
    nbformat.write(notebook, folder / "notebook.ipynb")
    return subprocess.run(
        [
            Path(sys.executable).with_name("jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "notebook.ipynb",
        ],
        cwd=folder,
        env=kernel_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_nbconvert_execute_stops_at_a_failing_magic_and_exits_non_zero(tmp_path):
    result = nbconvert_execute(
        notebook_of(
            "%load_ext cusprun",
            f"%cusprun model {tmp_path}",
            "open('the-next-cell-ran', 'w').close()",
        ),
        tmp_path,
    )
    assert result.returncode != 0
    # nbclient shows the failing cell, then its error output: the sidecar's one line
    cell, shown = result.stderr.rsplit("------------------\n", 2)[-2:]
    assert cell == f"%cusprun model {tmp_path}\n"
    assert shown.strip() == (
        f"cusprun: {tmp_path}: the folder holds no model.onnx (nor any other .onnx file)"
    )
    assert not (tmp_path / "the-next-cell-ran").exists()
    assert not (tmp_path / "notebook.nbconvert.ipynb").exists()


def test_nbconvert_execute_runs_a_good_notebook(tmp_path):
    result = nbconvert_execute(
        notebook_of("%load_ext cusprun", f"%cusprun model {MODEL}", "%cusprun runs"),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    executed = nbformat.read(tmp_path / "notebook.nbconvert.ipynb", as_version=4)
    no_errors(executed)
    assert stream_text(executed.cells[1]).startswith("model ")


def test_corpus_by_dimensions_and_by_cell_then_runs(tmp_path):
    yaml_cell = (
        "%%cusprun corpus --name from-cell\n"
        "dimensions:\n"
        f"  task: {{name: qa, sources: [{QA}], textField: text}}\n"
        "truncation: 32\n"
        "documents: 4\n"
    )
    notebook = execute(
        notebook_of(
            "%load_ext cusprun",
            f"%cusprun corpus language={ROOT}/fixtures/corpora/language/de.txt task={QA} "
            "--documents 4 --truncation 32 --name dims",
            yaml_cell,
            f"%cusprun model {MODEL}",
            "%cusprun score --run cell-run",
            "%cusprun plan --target-ratio 0.02",
            f"%cusprun prune --target-ratio 0.02 --out pruned/cell-run\n%cusprun eval --eval {MC}",
            "%cusprun runs",
        ),
        tmp_path,
    )
    no_errors(notebook)
    dims = notebook.cells[1].outputs[0]["data"]["text/plain"]
    assert "corpus 'dims': 4 documents per dimension" in dims and "language" in dims
    cell = notebook.cells[2].outputs[0]["data"]["text/html"]
    assert "from-cell" in cell and "<td>task</td>" in cell
    assert "cell-run" in notebook.cells[4].outputs[0]["data"]["text/plain"]
    for data in chart_outputs(notebook):
        check_chart(data)
    assert "pruned model written to" in stream_text(notebook.cells[6])
    assert (tmp_path / "pruned/cell-run/model.onnx").is_file()
    assert "mc accuracy" in notebook.cells[6].outputs[-1]["data"]["text/plain"]
    assert "<td>cell-run</td>" in notebook.cells[7].outputs[0]["data"]["text/html"]


DEMO = ROOT / "demo"
DEMO_CORPUS = "\n".join(
    ["%%cusprun corpus --name demo-small", "dimensions:"]
    + [
        f"  {dimension}: {{name: {name}, sources: [{DEMO}/data/corpora/{dimension}/{name}.jsonl], "
        "textField: text}"
        for dimension, name in (("language", "de"), ("domain", "computing"), ("task", "qa"))
    ]
    + ["truncation: 32", "documents: 4"]
)


def test_prune_then_verify_and_an_altered_pruned_model_fails_verify(tmp_path):
    notebook = execute(
        notebook_of(
            "%load_ext cusprun\nimport cusprun.ipython",
            DEMO_CORPUS,
            f"%cusprun model {DEMO / 'model'}\n%cusprun score --run demo",
            "%cusprun prune --target-ratio 0.2 --out expert",
            "%cusprun verify expert",
            "print(cusprun.ipython.session().verify('expert', run='demo'))",
            # the original, unpruned, in the pruned folder's place: a real model, not the one
            # the plan says
            f"import shutil\nshutil.copy('{DEMO}/model/model.onnx', 'expert/model.onnx')",
            "%cusprun verify expert",
        ),
        tmp_path,
        timeout=300,
        allow_errors=True,
    )
    assert [error_lines(cell) for cell in notebook.cells[:-1]] == [[]] * 7
    assert "pruned model written to" in stream_text(notebook.cells[3])
    line = stream_text(notebook.cells[4])
    assert re.fullmatch(
        r"verified expert: the same logits as the original with the units replaced by their ridge "
        r"predictions: max \|logit "
        r"difference\| \S+ \(worst [\d.]+ ulps at \|logit\| [\d.]+; bound 512 float32 ulps\)\n",
        line,
    ), line
    answer = ast.literal_eval(stream_text(notebook.cells[5]))
    assert answer["ok"] is True and answer["boundUlps"] == 512
    assert 0 <= answer["worst"]["ulps"] <= answer["boundUlps"]
    failed = notebook.cells[-1].outputs
    assert [(o.output_type, o.ename) for o in failed] == [("error", "CusprunError")]
    [[line]] = error_lines(notebook.cells[-1])
    assert "\n" not in line and line.startswith(
        f"cusprun: {tmp_path}/expert/model.onnx: the pruned model differs from the original with "
        "the same units replaced by their ridge predictions: max |logit difference| "
    ), line


@pytest.mark.parametrize(
    "flag, replaced, stored",
    [
        ("--compensation bias", "their means", "cusprun-means.bin"),
        ("", "their ridge predictions", "cusprun-regression.bin"),
    ],
    ids=["bias", "the default, regression"],
)
def test_a_compensated_prune_is_verified_against_the_units_replaced(
    tmp_path, flag, replaced, stored
):
    notebook = execute(
        notebook_of(
            "%load_ext cusprun",
            DEMO_CORPUS,
            f"%cusprun model {DEMO / 'model'}\n%cusprun score --run demo",
            f"%cusprun prune --target-ratio 0.2 --out expert {flag}",
            "%cusprun verify expert",
        ),
        tmp_path,
        timeout=300,
    )
    assert f"checked against the original with the units replaced by {replaced}: max |logit" in (
        stream_text(notebook.cells[3])
    )
    # the compensation's pass over the run's documents, shown live as score's, left done
    [shown] = [o.data["text/plain"] for o in notebook.cells[3].outputs if "data" in o]
    assert re.fullmatch(r"cusprun prune: █+ (\d+)/\1 documents, \d+ tokens, .*, done", shown), shown
    assert re.fullmatch(
        rf"verified expert: the same logits as the original with the units replaced by "
        rf"{replaced}: max \|logit difference\| .*\n",
        stream_text(notebook.cells[4]),
    )
    record = json.loads((tmp_path / ".cusprun" / "demo" / "run.json").read_text())
    [prune] = record["prunes"]
    statistics = (tmp_path / "expert" / stored).read_bytes()
    assert prune["compensation"]["sha256"] == hashlib.sha256(statistics).hexdigest()
    assert prune["compensation"]["dimensions"] == ["language", "domain", "task"]


def test_the_magics_register_with_only_the_standard_library_and_ipython(tmp_path):
    # Every third-party module but IPython (and what IPython itself imports) is refused.
    script = """
import sys
BLOCKED = ("websocket", "pandas", "jupyter_server", "tornado", "ipykernel", "nbformat",
           "jupyter_client", "zmq")
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
ip.run_line_magic("load_ext", "cusprun")
ip.run_line_magic("cusprun", "version")
assert not ip.run_cell("%cusprun nonsense").success
assert "cusprun" in ip.magics_manager.magics["cell"]
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=kernel_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        f"cusprun {_version()}",
        "cusprun: unknown command 'nonsense' (known: export, model, corpus, score, plan, sweep, "
        "ablate, study, prune, verify, eval, runs, help, version)",
    ]


def _version() -> str:
    return json.loads((ROOT / "package.json").read_text())["version"]


def test_no_sidecar_starts_until_one_is_needed(tmp_path):
    # help needs none, and a grid past the bound is refused before any request, at once
    notebook = execute(
        notebook_of(
            "%load_ext cusprun\n%cusprun help",
            "import time\nstarted = time.monotonic()",
            f"%cusprun sweep --sigma 0.1:0.9:1e-9 --eval {MC}",
            "import cusprun.ipython\n"
            "print(cusprun.ipython._magics.session, time.monotonic() - started < 10)",
        ),
        tmp_path,
        allow_errors=True,
    )
    assert "usage: %cusprun <command>" in stream_text(notebook.cells[0])
    assert error_lines(notebook.cells[2]) == [
        [
            "cusprun: --sigma: '0.1:0.9:1e-9' makes more than 1,000 points, the most a grid may "
            "have: take a larger STEP"
        ]
    ]
    assert stream_text(notebook.cells[3]).strip() == "None True"


def _cli_run_at(root: Path, name: str) -> None:
    """A run the CLI makes from `root` into its store, as a researcher does in a terminal."""
    subprocess.run(
        [
            "node",
            str(SIDECAR_JS),
            "score",
            str(MODEL),
            "--corpus",
            str(CORPUS),
            "--run",
            f".cusprun/{name}",
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )


SUBFOLDER_CELLS = (
    "%load_ext cusprun",
    "import cusprun.ipython\nprint(cusprun.ipython.session().store())",
    "%cusprun runs",
    "%cusprun plan --sigma 0.3 --run ../../.cusprun/root-run",
    "%cusprun plan --sigma 0.3 --run root-run",
)


def _check_subfolder_notebook(notebook, root: Path) -> None:
    no_errors(notebook)
    assert stream_text(notebook.cells[1]).strip() == str(root / ".cusprun")
    assert "<td>root-run</td>" in notebook.cells[2].outputs[0]["data"]["text/html"]
    for cell in notebook.cells[3:]:
        charts = [o["data"] for o in cell.outputs if o.get("data", {}).get(SWEEP)]
        assert charts and charts[0][SWEEP]["run"] == "root-run", cell.outputs
    assert not (root / "notes" / "week1" / ".cusprun").exists()


def test_a_notebook_in_a_subfolder_uses_the_servers_store(tmp_path):
    """The Jupyter server's sidecar runs in the server's root; a kernel of a notebook two folders
    down lists and plans the run the CLI made at the root, by name or by its folder's path."""
    _cli_run_at(tmp_path, "root-run")
    sub = tmp_path / "notes" / "week1"
    sub.mkdir(parents=True)
    sidecar = subprocess.Popen(
        ["node", str(SIDECAR_JS), "serve", "--store", str(tmp_path / ".cusprun")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        ready = json.loads(sidecar.stdout.readline())
        env = kernel_env(
            CUSPRUN_SIDECAR_URL=f"http://127.0.0.1:{ready['port']}",
            CUSPRUN_SIDECAR_TOKEN=ready["token"],
        )
        notebook = execute(notebook_of(*SUBFOLDER_CELLS), sub, env)
        _check_subfolder_notebook(notebook, tmp_path)
        refused = execute(
            notebook_of("%load_ext cusprun", "%cusprun plan --sigma 0.3 --run ../elsewhere/x"),
            sub,
            env,
            allow_errors=True,
        )
        (lines,) = error_lines(refused.cells[1])
        assert "not a run folder of the run store" in lines[-1] and str(tmp_path) in lines[-1]
    finally:
        sidecar.stdin.close()
        sidecar.wait(20)


def test_without_a_server_a_kernel_finds_the_store_above_as_git_finds_a_repo(tmp_path):
    _cli_run_at(tmp_path, "root-run")
    sub = tmp_path / "notes" / "week1"
    sub.mkdir(parents=True)
    env = kernel_env()
    env.pop("CUSPRUN_STORE", None)
    notebook = execute(notebook_of(*SUBFOLDER_CELLS), sub, env)
    _check_subfolder_notebook(notebook, tmp_path)


def _demo_corpus(name: str, seed: int) -> str:
    """DEMO_CORPUS as the document sample `seed`, registered as `name`."""
    lines = DEMO_CORPUS.split("\n")
    return "\n".join([f"%%cusprun corpus --name {name}", *lines[1:], f"seed: {seed}"])


def test_a_study_over_two_seeds_shows_its_table_and_chart_and_reruns_from_the_cache(tmp_path):
    eval_dir = DEMO / "data" / "eval"
    # The first 6 of the demo's German command questions: a small multiple-choice set.
    commands = tmp_path / "commands.jsonl"
    lines = (eval_dir / "mc-command-de.jsonl").read_text().splitlines()
    commands.write_text("\n".join(lines[:6]) + "\n")
    sets = f"--eval expert={eval_dir}/ppl-cell-de-computing-qa.jsonl --eval commands={commands}"
    prompts = DEMO / "data" / "prompts-de.jsonl"
    notebook = execute(
        notebook_of(
            "%load_ext cusprun\nimport cusprun.ipython",
            f"%cusprun model {DEMO / 'model'}",
            _demo_corpus("seed0", 0),
            "%cusprun score --run seed0",
            _demo_corpus("seed1", 1),
            "%cusprun score --run seed1",
            # the longest command question + choice needs 64 tokens
            f"%cusprun study --run seed0 --seed-runs seed1 --target-ratio 0.2 --q 1 "
            f"--methods cus-prun,general {sets} --truncation 64 --prompts {prompts} "
            "--max-new-tokens 3",
            # the Python API, a part of the same grid: every model from the evaluation cache
            "r = cusprun.ipython.session().study([0.2], run='seed0', seed_runs=['seed1'], "
            f"qs=[1], compensations=['regression'], methods=['general'], "
            f"eval_sets={sets.split()[1::2]},"
            f" truncation=64, prompts='{prompts}', max_new_tokens=3)\n"
            "print(r['file'], len(r['record']['rows']), all(x['cached'] for x in "
            "r['record']['rows']))",
            f"%cusprun study --target-ratio 0.2 --q 1.5 {sets}",
            f"%cusprun study --target-ratio 0.2 --seed-runs nosuch {sets}",
            # a rule beside the paper's, each expert's counts allocated by sensitivity, attention
            # groups kept
            f"%cusprun study --run seed1 --target-ratio 0.2 --q 1 --rules rank-mean "
            f"--allocations sensitivity --attention keep --methods cus-prun,general "
            "--compensation none "
            f"--eval expert={eval_dir}/ppl-cell-de-computing-qa.jsonl --truncation 64",
        ),
        tmp_path,
        timeout=600,
        allow_errors=True,
    )
    assert [error_lines(cell) for cell in notebook.cells[:8]] == [[]] * 8
    study = notebook.cells[6]
    [table] = [
        o.data["text/plain"]
        for o in study.outputs
        if o.get("data", {}).get("text/plain", "").startswith("study (")
    ]
    assert re.match(r"study \(study/\d{4}-[\dT-]+Z\.json, ", table), table
    header, *rows = table.split("\n")[1:]
    for column in ("seed", "variant", "expert perplexity", "commands accuracy", "greedy rep3"):
        assert column in header, header
    # dense, then 2 seeds × 2 compensations × 2 methods
    assert len([r for r in rows if r.strip() and not set(r) <= {"-", " "}]) == 1 + 8, table
    assert any("general @ paper" in r for r in rows)
    charts = [o.data for o in study.outputs if o.get("data", {}).get(VEGALITE)]
    assert len(charts) == 1
    check_chart(charts[0])
    folder = tmp_path / ".cusprun" / "seed0" / "study"
    # each study keeps its own files, named by its time: the magic's, then the Python call's
    stems = sorted({p.stem for p in folder.iterdir()})
    assert len(stems) == 2 and sorted(p.name for p in folder.iterdir()) == [
        f"{stem}{extension}" for stem in stems for extension in (".csv", ".json", ".md", ".svg")
    ]
    # each expert's change against general calibration at its counts, as the CLI writes it
    assert "  expert perplexity vs general  greedy rep3  " in header, header
    first_record = json.loads((folder / f"{stems[0]}.json").read_text())
    expert, general = (
        next(
            r["metrics"][0]["value"]
            for r in first_record["rows"]
            if (r["seed"], r["compensation"], r["method"]) == (1, "none", method)
        )
        for method in ("cus-prun", "general")
    )
    [paper] = [r for r in rows if re.match(r"1 .* none +paper ", r)]
    assert f" {format_change(expert / general - 1)} " in paper, (paper, expert, general)
    # the latest study: the Python call's general @ paper, regression-compensated
    record = json.loads((folder / f"{stems[-1]}.json").read_text())
    assert [r["seed"] for r in record["runs"]] == [0, 1]
    assert [(r["seed"], r["compensation"], r["method"]) for r in record["rows"]] == [
        (0, "regression", "general"),
        (1, "regression", "general"),
    ]
    for row in record["rows"]:
        assert [s["prompt"] for s in row["generation"]["samples"]] == [
            json.loads(line)["prompt"] for line in prompts.read_text().splitlines()
        ]
    assert stream_text(notebook.cells[7]) == f"study/{stems[-1]}.json 2 True\n"
    [[line]] = error_lines(notebook.cells[8])
    assert line == 'cusprun: a study job: every "qs" value must lie in (0, 1], got 1.5', line
    [[line]] = error_lines(notebook.cells[9])
    assert "\n" not in line and line.startswith("cusprun: ") and "nosuch" in line, line
    assert error_lines(notebook.cells[10]) == []
    [ruled] = [
        o.data["text/plain"]
        for o in notebook.cells[10].outputs
        if o.get("data", {}).get("text/plain", "").startswith("study (")
    ]
    assert "general @ cus-prun rank-mean +sensitivity +keep-attention" in ruled, ruled
    [ruled_file] = (tmp_path / ".cusprun" / "seed1" / "study").glob("*.json")
    record = json.loads(ruled_file.read_text())
    assert (record["rules"], record["allocations"], record["attentions"]) == (
        ["rank-mean"],
        ["sensitivity"],
        ["keep"],
    )
    rows = [(r["variant"], r["rule"], r["allocation"], r["attention"]) for r in record["rows"]]
    assert rows == [
        ("paper +sensitivity +keep-attention", "paper", "sensitivity", "keep"),
        ("general", "paper", "sensitivity", "keep"),
        ("cus-prun rank-mean +sensitivity +keep-attention", "rank-mean", "sensitivity", "keep"),
        ("general", "rank-mean", "sensitivity", "keep"),
    ], rows
    # allocation reaches the target; each baseline removes its expert's counts
    for expert, baseline in zip(record["rows"][::2], record["rows"][1::2], strict=True):
        assert abs(expert["ratio"] - 0.2) < 0.01, expert["ratio"]
        assert baseline["ratio"] == expert["ratio"]
