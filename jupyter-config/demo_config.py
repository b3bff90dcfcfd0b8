"""JupyterLab for `make lab`: loopback only, no browser, no extension-manager index."""

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
c.ServerApp.allow_root = True
c.LabApp.extension_manager = "readonly"
