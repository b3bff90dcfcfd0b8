"""The `cusprun` command, every way it is installed: npm's bin (`npx cusprun`,
`node_modules/.bin/cusprun`) and the Python package's console script (`.venv/bin/cusprun`) run
the same Node CLI as `npm run -s cusprun -- …`, with the same output and exit status."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from kernel_helpers import ROOT, SIDECAR_JS

pytestmark = pytest.mark.skipif(
    not SIDECAR_JS.is_file() or shutil.which("node") is None or shutil.which("npm") is None,
    reason="needs node, npm and the built CLI (npm run build:node)",
)

COMMANDS = [["--help"], ["inspect", "demo/model"], ["inspect", "missing-model"]]


def run(args: list[str], **options) -> subprocess.CompletedProcess:
    options = {"cwd": ROOT, "capture_output": True, "text": True, "timeout": 120, **options}
    return subprocess.run(args, **options)


@pytest.fixture(scope="module")
def console_script(venv_bin):
    script = venv_bin / "cusprun"
    assert script.is_file(), f"{script}: the package's console script is not installed"
    return str(script)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_cusprun_command_is_the_npm_script(args, console_script):
    expected = run(["npm", "run", "-s", "cusprun", "--", *args])
    # the reference itself: help and a model map succeed, a missing model is one line, status 1
    assert (expected.returncode == 0) == (args[-1] != "missing-model"), expected
    if expected.returncode:
        assert expected.stdout == "" and expected.stderr == (
            "cusprun: missing-model: no such file or folder\n"
        )
    else:
        assert expected.stdout.strip() and expected.stderr == ""
    for command in (["npx", "cusprun"], ["node_modules/.bin/cusprun"], [console_script]):
        got = run([*command, *args])
        assert (got.returncode, got.stdout, got.stderr) == (
            expected.returncode,
            expected.stdout,
            expected.stderr,
        ), command


def test_the_console_script_becomes_node_and_keeps_its_stdin(console_script, tmp_path):
    # `serve` prints its pid when ready and stops when its stdin closes: the pid is the script's
    # own (the Python process was replaced, not made a parent), and stdin is the caller's.
    serve = subprocess.Popen(
        [console_script, "serve", "--store", str(tmp_path / "store")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        ready = json.loads(serve.stdout.readline())
        assert ready["pid"] == serve.pid
    finally:
        serve.stdin.close()
        assert serve.wait(30) == 0
        serve.stdout.close()


@pytest.mark.parametrize(
    "env, line",
    [
        ({"PATH": "/nonexistent"}, "cusprun: no `node` on the PATH: install Node ≥ 20, or set "),
        ({"CUSPRUN_NODE": "/no/node"}, "cusprun: /no/node: cannot run it (No such file"),
        ({"CUSPRUN_SIDECAR_JS": "/no/cli.js"}, "cusprun: CUSPRUN_SIDECAR_JS=/no/cli.js: no such"),
    ],
    ids=["no node", "bad CUSPRUN_NODE", "no build"],
)
def test_a_missing_node_or_build_is_one_line_and_status_1(env, line, console_script):
    got = run([console_script, "inspect", "demo/model"], env={"PATH": os.environ["PATH"], **env})
    assert got.returncode == 1 and got.stdout == ""
    assert got.stderr.count("\n") == 1 and got.stderr.startswith(line), got.stderr


EXPORT = """
import sys, types
from importlib.machinery import ModuleSpec
class Missing:  # cusprun.export fails to import, short of module {missing!r}
    def find_spec(self, name, path=None, target=None):
        if name == "cusprun.export":
            raise ModuleNotFoundError(f"No module named {missing!r}", name={missing!r})
if {missing!r}:
    sys.meta_path.insert(0, Missing())
else:  # an export package that echoes its arguments
    sys.modules["cusprun.export"] = types.SimpleNamespace(main=lambda argv: print(argv) or 3)
from cusprun.cli import main
sys.argv = ["cusprun", "export", "--model", "m", "--out", "o"]
sys.exit(main())
"""


@pytest.mark.parametrize("missing", ["cusprun.export", "torch"])
def test_export_without_its_extra_says_what_to_install(missing):
    got = run([sys.executable, "-c", EXPORT.format(missing=missing)])
    assert (got.returncode, got.stdout) == (1, "")
    assert got.stderr == (
        f"cusprun: export: the export extra is not installed (no module named '{missing}'): "
        "pip install 'cusprun[export]'\n"
    )


def test_export_runs_the_python_export_command_with_the_rest_of_the_line():
    got = run([sys.executable, "-c", EXPORT.format(missing="")])
    assert (got.returncode, got.stdout, got.stderr) == (3, "['--model', 'm', '--out', 'o']\n", "")
