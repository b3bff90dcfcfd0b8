"""Refuse to build a wheel or an sdist without the prebuilt labextension.

Hatchling would otherwise build a wheel that installs no frontend, silently. The sdist carries
the built labextension too, so that a wheel built from it ships the frontend.
"""

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class LabextensionBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name not in ("wheel", "sdist") or version == "editable":
            return
        labextension = Path(self.root) / "kernel-bridge" / "cusprun" / "labextension"
        if not (labextension / "package.json").is_file() or not list(
            (labextension / "static").glob("remoteEntry.*.js")
        ):
            raise RuntimeError(
                f"the JupyterLab extension is not built: {labextension} has no package.json "
                "and static/remoteEntry.*.js. Run `npm ci && npm run build` (or `make build`) "
                "first."
            )
