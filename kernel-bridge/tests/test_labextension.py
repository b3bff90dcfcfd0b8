import json
import re
import subprocess

import cusprun
from conftest import plain


def test_jupyter_lists_the_labextension_enabled_and_ok(venv_bin, package_json):
    result = subprocess.run(
        [venv_bin / "jupyter", "labextension", "list"], capture_output=True, text=True, check=True
    )
    listing = plain(result.stdout + result.stderr)
    assert re.search(rf"cusprun v{re.escape(package_json['version'])} enabled OK", listing), listing


def test_the_installed_labextension_is_the_built_one(root):
    installed = cusprun._jupyter_labextension_paths()[0]
    source = root / "kernel-bridge" / "cusprun" / installed["src"] / "package.json"
    built = json.loads(source.read_text())
    assert built["name"] == installed["dest"] == "cusprun"
    assert built["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
