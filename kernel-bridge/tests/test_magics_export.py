"""`%cusprun export` and `Session.export` end to end: the export runs in a child process (torch
never enters the kernel), its progress lines update the cell, the exported model is opened and
scored; a failed export is the export's own one line. The model is test_export's tiny random
Llama."""

import json
import re
from pathlib import Path

import pytest
import test_export
from cusprun.export.api import RECORD_FILE
from jupyter_client.manager import start_new_kernel
from kernel_helpers import (
    CORPUS,
    ROOT,
    error_lines,
    execute,
    kernel_env,
    notebook_of,
    stream_text,
)

#: the export tests' tiny random Llama: (Hugging Face folder, .gguf file)
tiny = test_export.tiny


def needs_the_export(test):
    """The export tests' skips: the export extra, node and the built sidecar."""
    for mark in test_export.pytestmark:
        test = mark(test)
    return test


@needs_the_export
def test_the_magic_exports_in_a_child_process_then_the_model_scores(tiny, tmp_path):
    folder, _ = tiny
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=kernel_env())
    try:
        messages = []

        def run(code):
            messages.clear()
            reply = kc.execute_interactive(code, timeout=300, output_hook=messages.append)
            assert reply["content"]["status"] == "ok", reply["content"]
            return [m for m in messages if m["msg_type"] != "status"]

        run("%load_ext cusprun\nimport sys")
        exported = run(f"%cusprun export {folder} --out exported")
        score = run(
            f"%cusprun corpus {CORPUS}\n%cusprun score --run exported --batch-size 2\n"
            "print('torch' in sys.modules)"
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)

    out = tmp_path / "exported"
    shown = [m["content"]["data"]["text/plain"] for m in exported if "data" in m["content"]]
    # one output, updated in place: the start, each step of the child, the summary
    assert [m["msg_type"] for m in exported if "data" in m["content"]] == ["display_data"] + [
        "update_display_data"
    ] * (len(shown) - 1)
    assert shown[:4] == [
        "cusprun export: starting",
        f"cusprun export: loading {folder}",
        "cusprun export: exporting logits only (float32)",
        "cusprun export: checking onnxruntime against torch",
    ]
    assert re.fullmatch(
        rf"cusprun export: wrote {out} \(llama, logits only, float32, [\d.]+ MiB\) in [\d.]+ s; "
        r"max \|logit difference\| onnxruntime vs torch: \S+ \(bound \S+\)",
        shown[-1],
    ), shown[-1]
    # then it is the session's model, as `%cusprun model` says it
    printed = "".join(m["content"]["text"] for m in exported if m["msg_type"] == "stream")
    assert printed.startswith(f"model {out / 'model.onnx'}: llama (float32), 2 layers, hidden 48")
    text = "".join(m["content"]["text"] for m in score if m["msg_type"] == "stream")
    assert text == "False\n", "torch was imported into the kernel"
    lines = [m["content"]["data"]["text/plain"] for m in score if "data" in m["content"]]
    assert any(re.match(r"cusprun score: run 'exported': \d+ documents scored", t) for t in lines)


@needs_the_export
def test_an_interrupted_export_stops_its_child_and_leaves_nothing(tiny, tmp_path):
    folder, _ = tiny
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=kernel_env())
    try:
        kc.execute_interactive("%load_ext cusprun", timeout=60)
        errors, staged = [], []

        def on_output(message):
            data = message["content"].get("data", {})
            if data.get("text/plain", "").startswith("cusprun export: exporting"):
                staged.extend(p.name for p in tmp_path.iterdir())
                km.interrupt_kernel()  # Ctrl-C, or the notebook's stop button
            if message["msg_type"] == "error":
                errors.append(message["content"]["traceback"])

        command = f"%cusprun export {folder} --out {tmp_path / 'out'}"
        reply = kc.execute_interactive(command, timeout=120, output_hook=on_output)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)

    assert reply["content"]["status"] == "error"
    assert errors == [["cusprun: interrupted (the job is cancelled at its next checkpoint)"]]
    # the child was stopped before the cell failed, and removed its staging folder
    assert [name.startswith(".out.") for name in staged] == [True]
    assert not any(str(tmp_path / "out") in cmdline for cmdline in command_lines())
    assert list(tmp_path.iterdir()) == []


def command_lines() -> list[str]:
    """The command line of every process of this machine."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass  # it ended
    return lines


@needs_the_export
def test_session_export_returns_the_report_as_plain_data(tiny, tmp_path):
    from cusprun import CusprunError, Session

    folder, gguf_path = tiny
    out = tmp_path / "kv16"
    lines = []
    with Session(store=str(tmp_path / "store")) as session:
        report = session.export(gguf_path, out, kv=True, dtype="float16", on_line=lines.append)
        assert json.loads(json.dumps(report)) == report
        assert session.model(report["out"])["family"] == "llama"
        with pytest.raises(CusprunError) as refused:
            session.export(folder, out)
    assert lines == [
        f"cusprun export: loading {gguf_path}",
        "cusprun export: exporting with KV cache (float16)",
        "cusprun export: checking onnxruntime against torch",
    ]
    assert {k: report[k] for k in ("out", "source", "model_type", "kv", "dtype")} == {
        "out": str(out),
        "source": str(gguf_path),
        "model_type": "llama",
        "kv": True,
        "dtype": "float16",
    }
    assert 0 <= report["max_diff"] <= report["bound"]
    # the same check as the record the export left in the folder (written after the report)
    record = json.loads((out / RECORD_FILE).read_text())
    assert (record["check"]["max_diff"], record["check"]["bound"]) == (
        report["max_diff"],
        report["bound"],
    )
    files = [f for f in out.iterdir() if f.name != RECORD_FILE]
    assert report["size_bytes"] == sum(f.stat().st_size for f in files)
    assert sorted(report["seconds"]) == ["check", "export", "load"]
    assert report["summary"].startswith(f"wrote {out} (llama, with KV cache, float16, ")
    assert str(refused.value) == f"{out}: holds an earlier export: pass --overwrite to replace it"


@needs_the_export
def test_a_failed_export_fails_the_cell_with_its_own_line(tmp_path):
    mistakes = {
        "%cusprun export /no/such/model --out x": "cusprun: /no/such/model: no such file or folder",
        f"%cusprun export {ROOT} --out x --dtype int8": "cusprun: %cusprun export: argument "
        "--dtype: invalid choice: 'int8'",
        f"%cusprun export {ROOT}": "cusprun: %cusprun export: the following arguments are "
        "required: --out",
    }
    notebook = execute(
        notebook_of(
            "%load_ext cusprun",
            *mistakes,
            "import cusprun.ipython\nprint(cusprun.ipython._magics.session)",
        ),
        tmp_path,
        allow_errors=True,
    )
    for cell, expected in zip(notebook.cells[1:-1], mistakes.values(), strict=True):
        [[line]] = error_lines(cell)
        assert "\n" not in line and line.startswith(expected), (cell.source, line)
    # the export ran and failed: its live output says so above the error
    assert notebook.cells[1].outputs[0].data["text/plain"] == "cusprun export: failed (see below)"
    assert not (tmp_path / "x").exists()
    # no model to open, so no sidecar was started
    assert stream_text(notebook.cells[-1]) == "None\n"


def test_without_the_export_extra_the_cell_says_how_to_install_it(tmp_path):
    # torch made unimportable in the kernel and so in its child (where it is installed)
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    notebook = execute(
        notebook_of("%load_ext cusprun", f"%cusprun export {ROOT} --out x"),
        tmp_path,
        kernel_env(PYTHONPATH=str(tmp_path)),
        allow_errors=True,
    )
    assert error_lines(notebook.cells[1]) == [
        [
            "cusprun: export: the export extra is not installed (no module named 'torch'): "
            "pip install 'cusprun[export]'"
        ]
    ]
