"""cusprun: Cus-Prun pruning of decoder LLMs from JupyterLab.

This package holds the Python API (`cusprun.Session`), the IPython extension (`%load_ext
cusprun`), the Jupyter server extension, and ships the prebuilt JupyterLab extension.
"""

from ._version import __version__
from .errors import CusprunError
from .ipython import load_ipython_extension, unload_ipython_extension
from .server import _load_jupyter_server_extension
from .session import Session
from .tables import frame

__all__ = [
    "CusprunError",
    "Session",
    "__version__",
    "frame",
    "_load_jupyter_server_extension",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "cusprun"}]


def _jupyter_server_extension_points():
    return [{"module": "cusprun"}]
