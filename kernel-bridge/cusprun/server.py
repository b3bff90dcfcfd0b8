"""The Jupyter server extension. It will own the sidecar; for now it announces itself."""

from ._version import __version__


def _load_jupyter_server_extension(server_app):
    server_app.log.info("cusprun %s server extension loaded", __version__)
