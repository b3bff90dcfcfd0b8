"""The Jupyter server extension: it owns the server's cusprun sidecar and exposes it to the
frontend behind Jupyter's own authentication.

- On load it starts one sidecar (`sidecar_process.SidecarProcess`), on the run store
  ``c.Cusprun.store`` (config), else ``$CUSPRUN_STORE``, else ``<root_dir>/.cusprun`` (a relative
  store is relative to the server's root folder), with the server's root folder as its working
  folder; it restarts the sidecar when it dies and stops it at shutdown, and logs what the sidecar
  writes on stderr. It sets ``CUSPRUN_SIDECAR_URL``/``CUSPRUN_SIDECAR_TOKEN`` in the server's
  environment, which the kernels it starts inherit, and ``CUSPRUN_STORE`` (absolute) from the
  start: a notebook in any subfolder uses the server's run store, never one of its own.
- ``GET  {base_url}cusprun/version``: ``{"version", "protocol", "sidecar": {"state", ...}}``
  for the frontend's handshake (``sidecar.store``, while it runs: the run store in use).
- ``{base_url}cusprun/api/<path>``: the sidecar's ``/api/<path>`` (HTTP, any method), the
  sidecar's token added here, its answer streamed back as it comes;
  ``{base_url}cusprun/api/events``: its WebSocket, relayed. While the sidecar is (re)starting
  these answer 503 with a JSON error.
- ``POST {base_url}cusprun/sidecar/restart``, optional body ``{"store": PATH}``: start it again
  (after it gave up, say), or on the run store PATH (relative to the root folder or absolute;
  ``""`` is the store the server started with; a running sidecar is stopped first, port and
  token stay). Answers ``{"restarted", "sidecar": {"state", ...}}`` once the first try has an
  outcome (``restarted`` false: it already ran on that store); a bad ``store`` is a 400 with a
  JSON error.
"""

from __future__ import annotations

import asyncio
import os

from ._version import __version__
from .sidecar_process import ENV_STORE, SETTINGS_KEY, SidecarProcess, resolve_store


def _store_and_cwd(server_app) -> tuple[str, str]:
    root = os.path.abspath(os.path.expanduser(str(server_app.root_dir)))
    configured = server_app.config.get("Cusprun", {}).get("store")
    store = configured or os.environ.get("CUSPRUN_STORE") or ".cusprun"
    return resolve_store(root, str(store)), root


def _load_jupyter_server_extension(server_app):
    server_app.log.info("cusprun %s server extension loaded", __version__)
    # jupyter_server and tornado only here: `import cusprun` (the magics) must not need them
    from .server_handlers import handlers

    store, cwd = _store_and_cwd(server_app)
    # kernels inherit the store at once: one that starts before the sidecar runs (and so starts a
    # private sidecar) still uses the server's store, not one in its notebook's folder
    os.environ[ENV_STORE] = store
    sidecar = SidecarProcess(store=store, cwd=cwd, log=server_app.log)
    web_app = server_app.web_app
    web_app.settings[SETTINGS_KEY] = sidecar
    web_app.add_handlers(".*$", handlers(web_app.settings.get("base_url", "/")))

    # the loop is not running yet: start the sidecar as soon as it is
    server_app.io_loop.add_callback(sidecar.start)

    # stop it with the server's extensions (a module extension has no stop hook of its own);
    # PrivateSidecar's atexit hook and the sidecar's watch on its stdin are the backstops
    cleanup_extensions = server_app.cleanup_extensions

    async def cleanup_with_sidecar() -> None:
        try:
            await asyncio.wait_for(sidecar.stop(), timeout=20)
        except Exception as error:  # noqa: BLE001 - shutting down: log and go on
            server_app.log.warning("cusprun sidecar did not stop cleanly: %s", error)
        await cleanup_extensions()

    server_app.cleanup_extensions = cleanup_with_sidecar
