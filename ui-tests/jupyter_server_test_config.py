"""JupyterLab for the Galata tests: galata's test settings, on a port of our own."""

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

configure_jupyter_server(c)
c.ServerApp.port = 8899
c.ServerApp.allow_root = True
c.LabApp.extension_manager = "readonly"
