"""`cusprun export`: a Hugging Face folder, a .gguf file or a local hub-cache id → an ONNX folder
cusprun can prune, checked against torch.

The export extra (`pip install 'cusprun[export]'`) brings torch, transformers and gguf. This is
the one place in cusprun that imports torch, and only while `export()` runs: importing this
package costs nothing and works without the extra.
"""

import os

# onnxruntime's Linux build records telemetry (and leaves `.ses` in the temporary folder) from its
# import on, unless told otherwise before it: off unless the user set it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from .api import DTYPES, ExportReport, export
from .cli import main

__all__ = ["DTYPES", "ExportReport", "export", "main"]
