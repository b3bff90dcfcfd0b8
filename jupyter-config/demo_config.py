"""JupyterLab for `make lab`: loopback only, no browser, no extension index, no news prompt."""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
c.ServerApp.allow_root = True
c.LabApp.extension_manager = "readonly"
# JupyterLab 4.6 reads settings overrides only from app_settings_dir/overrides.json; ours turns the
# "receive Jupyter news?" prompt off, since it covers the bottom of the cusprun panel.
c.LabApp.app_settings_dir = str(Path(__file__).parent / "lab-settings")
