"""onnxruntime against torch on the exported folder: every export is checked before it is kept.

Exporters can be silently wrong (an Optimum export of SmolLM2 ran with rope_theta 10,000 instead
of 100,000 and passed Optimum's own check, off by 3.7 in the logits), so the check compares the
logits of the written model.onnx, on ids read the way cusprun reads them, with the torch model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..session import CusprunError
from .graph import MODEL_FILE, kv_shape

#: Short prompts in a few scripts; their ids come from the exported tokenizer.
PROMPTS = (
    "The capital of France is",
    "def fibonacci(n):\n    return",
    "Die Katze sitzt auf der Matte, und der Hund schläft.",
)

#: The bound, as a fraction of the largest |logit| torch gives on the prompts: a different
#: summation order over a whole model, not a fixed number (real logits reach 40 and more).
RELATIVE_BOUND = {"float32": 1e-4, "float16": 1e-2}


@dataclass(frozen=True)
class Check:
    max_diff: float
    max_logit: float
    bound: float


def check_export(
    folder: Path, model, prompt_ids: list[list[int]], kv: bool, dtype: str, name: Path
) -> Check:
    """Compares onnxruntime's logits on folder/model.onnx with the torch model's; raises a
    CusprunError, about `name` (where the model was to go), past the bound."""
    import numpy as np

    session = _session(folder / MODEL_FILE)
    diffs, peaks = [], []
    for ids in prompt_ids:
        ref = _torch_logits(model, [ids], [[1] * len(ids)])[0]
        got = (
            _kv_logits(session, model.config, ids, dtype) if kv else _ort_logits(session, [ids])[0]
        )
        diffs.append(_diff(name, got, ref))
        peaks.append(float(np.abs(ref).max()))
    if not kv:
        diffs.append(_padded_batch_diff(name, session, model, prompt_ids[:2]))
    max_logit = max(peaks)
    check = Check(max(diffs), max_logit, RELATIVE_BOUND[dtype] * max(1.0, max_logit))
    if check.max_diff > check.bound:
        raise CusprunError(
            f"{name}: onnxruntime's logits differ from torch's by "
            f"{check.max_diff:.3g} (bound {check.bound:.3g} for {dtype} logits up to "
            f"{max_logit:.3g}): this export is wrong; please report it with the model's config"
        )
    return check


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _torch_logits(model, ids: list[list[int]], mask: list[list[int]]):
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), use_cache=False)
    return out.logits.float().numpy()


def _ort_logits(session, ids: list[list[int]], mask: list[list[int]] | None = None):
    import numpy as np

    ids_array = np.array(ids, dtype=np.int64)
    mask_array = np.ones_like(ids_array) if mask is None else np.array(mask, dtype=np.int64)
    feed = {"input_ids": ids_array, "attention_mask": mask_array}
    return session.run(["logits"], feed)[0].astype(np.float32)


def _kv_logits(session, config, ids: list[int], dtype: str):
    """Logits of a prefill of the first half of `ids`, then one decode step per token."""
    import numpy as np

    layers, kv_heads, head_size = kv_shape(config)
    empty = np.zeros((1, kv_heads, 0, head_size), dtype=np.dtype(dtype))
    past = [empty] * (2 * layers)
    outputs = [o.name for o in session.get_outputs()]
    split = max(1, len(ids) // 2)
    steps = [ids[:split]] + [[t] for t in ids[split:]]
    rows, start = [], 0
    for step in steps:
        end = start + len(step)
        feed = {
            "input_ids": np.array([step], dtype=np.int64),
            "attention_mask": np.ones((1, end), dtype=np.int64),
            "position_ids": np.arange(start, end, dtype=np.int64)[None],
        }
        for i in range(layers):
            feed[f"past_key_values.{i}.key"] = past[2 * i]
            feed[f"past_key_values.{i}.value"] = past[2 * i + 1]
        logits, *past = session.run(outputs, feed)
        rows.append(logits[0].astype(np.float32))
        start = end
    return np.concatenate(rows)


def _padded_batch_diff(name: Path, session, model, two: list[list[int]]) -> float:
    """A batch of two, the shorter left-padded: the engine scores batches like this."""
    width = max(len(ids) for ids in two)
    ids = [[0] * (width - len(row)) + row for row in two]
    mask = [[0] * (width - len(row)) + [1] * len(row) for row in two]
    ref, got = _torch_logits(model, ids, mask), _ort_logits(session, ids, mask)
    # padded query rows are garbage in torch too: compare the real positions only
    real = [
        (g[width - len(r) :], f[width - len(r) :]) for g, f, r in zip(got, ref, two, strict=True)
    ]
    return max(_diff(name, g, f) for g, f in real)


def _diff(name: Path, got, ref) -> float:
    import numpy as np

    if not np.isfinite(got).all() or not np.isfinite(ref).all():
        raise CusprunError(
            f"{name}: non-finite logits (inf or NaN) on the check prompts: the "
            "model overflows in this dtype; export it as float32"
        )
    return float(np.abs(got - ref).max())
