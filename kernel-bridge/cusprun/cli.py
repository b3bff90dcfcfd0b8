"""The `cusprun` console script: the Node CLI (`dist/sidecar/cli.js`) under the Python package.

`cusprun …` becomes the Node CLI with the same arguments, standard streams and exit status (the
process is replaced by Node), so it works like `npx cusprun …`. The exception is `cusprun export
…`, a Python command that needs the package's `export` extra.
"""

from __future__ import annotations

import os
import sys

from .errors import CusprunError
from .private_sidecar import find_node, find_sidecar_js

EXPORT_EXTRA = "pip install 'cusprun[export]'"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:
        return _export(argv[1:])
    try:
        node, js = find_node(), str(find_sidecar_js())
    except CusprunError as error:
        return _fail(str(error))
    try:
        os.execv(node, [node, js, *argv])
    except OSError as error:
        return _fail(
            f"{node}: cannot run it ({error.strerror}): install Node ≥ 20, or fix $CUSPRUN_NODE"
        )


def _export(argv: list[str]) -> int:
    try:
        # Lazy: the export extra's dependencies are heavy, and optional for every other command.
        from .export import main as export_main
    except ModuleNotFoundError as error:
        return _fail(
            f"export: the export extra is not installed (no module named '{error.name}'): "
            f"{EXPORT_EXTRA}"
        )
    return export_main(argv)


def _fail(message: str) -> int:
    print(f"cusprun: {message}", file=sys.stderr)
    return 1
