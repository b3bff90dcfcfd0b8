"""Refuse to build a wheel or an sdist without the prebuilt labextension.

Hatchling would otherwise build a wheel that installs no frontend, silently. The sdist carries
the built labextension too, so that a wheel built from it ships the frontend.

A wheel also records where this checkout's Node sidecar is (`cusprun/_build_info.json`), so that
the kernel bridge installed from it can start a private sidecar without being told
(`CUSPRUN_SIDECAR_JS` overrides it).
"""

import json
import shutil
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class LabextensionBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name not in ("wheel", "sdist") or version == "editable":
            return
        if self.target_name == "wheel":
            self._record_sidecar(build_data)
        labextension = Path(self.root) / "kernel-bridge" / "cusprun" / "labextension"
        if not (labextension / "package.json").is_file() or not list(
            (labextension / "static").glob("remoteEntry.*.js")
        ):
            raise RuntimeError(
                f"the JupyterLab extension is not built: {labextension} has no package.json "
                "and static/remoteEntry.*.js. Run `npm ci && npm run build` (or `make build`) "
                "first."
            )

    def finalize(self, version, build_data, artifact_path):
        # The recorded file is in the wheel now; its temporary folder goes.
        if getattr(self, "_info_dir", None) is not None:
            shutil.rmtree(self._info_dir, ignore_errors=True)

    def _record_sidecar(self, build_data):
        sidecar = Path(self.root).resolve() / "dist" / "sidecar" / "cli.js"
        self._info_dir = Path(tempfile.mkdtemp(prefix="cusprun-build-"))
        info = self._info_dir / "_build_info.json"
        info.write_text(json.dumps({"sidecar_js": str(sidecar) if sidecar.is_file() else None}))
        build_data["force_include"][str(info)] = "cusprun/_build_info.json"
