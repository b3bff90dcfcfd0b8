"""JupyterLab for the Galata tests: galata's test settings, isolated from the user's own.

playwright.config.js passes the port on the command line.
"""

from tempfile import mkdtemp

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

configure_jupyter_server(c)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.allow_root = True
c.LabApp.extension_manager = "readonly"
# The tests check the settings' defaults: keep the user's own settings out.
c.LabApp.user_settings_dir = mkdtemp(prefix="cusprun-galata-settings-")
