"""The ONNX graph: torch.onnx's TorchScript exporter at opset 17 for both kinds, logits-only and
with a KV cache in Optimum's naming (as the `kv` fixtures). It is the path the fixtures and the
demo model were made and checked with, for every family cusprun maps, and it needs no
onnxscript. The dynamo exporter works too but is slower and shares shape nodes across layers
(see shared/toolchain.md); Optimum is not used: optimum-onnx needs transformers < 4.58, and its
own check passed an export whose logits were wrong.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from ..session import CusprunError

OPSET = 17
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx_data"
#: weights above this go to model.onnx_data (protobuf caps a file at 2 GiB; keep well clear)
EXTERNAL_DATA_ABOVE = 1 << 30


def export_graph(model, out: Path, kv: bool, source: Path) -> bool:
    """Writes out/model.onnx (+ model.onnx_data when the weights are large); True if external."""
    import onnx

    forward, args, names, axes = _kv_interface(model) if kv else _logits_interface()
    with tempfile.TemporaryDirectory(dir=out) as tmp, _forward_as(model, forward):
        traced = Path(tmp) / MODEL_FILE
        try:
            _trace(model, args, traced, names, axes)
        except Exception as error:  # tracing runs the model's own code: its errors are this model's
            what = "with a KV cache" if kv else "logits only"
            raise CusprunError(
                f"{source}: torch.onnx cannot export this model {what} "
                f"({type(error).__name__}: {first_line(error)})"
                + ("; try it without --kv" if kv else "")
            ) from error
        proto = onnx.load(str(traced))
    external = sum(len(t.raw_data) for t in proto.graph.initializer) > EXTERNAL_DATA_ABOVE
    onnx.save_model(
        proto,
        str(out / MODEL_FILE),
        save_as_external_data=external,
        all_tensors_to_one_file=True,
        location=DATA_FILE,
        size_threshold=1024,
    )
    if external:
        os.chmod(out / DATA_FILE, 0o644)  # onnx creates it 0600
    return external


def _trace(model, args, path: Path, names, axes) -> None:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=names[0],
            output_names=names[1],
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "no message"


@contextmanager
def _forward_as(model, forward: Callable):
    """The model with another forward, as a subclass of its own class: the export keeps the
    Hugging Face module paths (`model.layers.0…`, `lm_head`) in its node and weight names."""
    base = type(model)
    model.__class__ = type(f"Export{base.__name__}", (base,), {"forward": forward})
    try:
        yield model
    finally:
        model.__class__ = base


def _logits_forward(self, input_ids, attention_mask):
    out = super(type(self), self).forward(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
    )
    return out.logits


def _logits_interface():
    import torch

    ids = torch.tensor([[5, 6, 7, 8, 9], [9, 8, 7, 6, 5]], dtype=torch.long)
    axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
    }
    names = (["input_ids", "attention_mask"], ["logits"])
    return _logits_forward, (ids, torch.ones_like(ids)), names, axes


def _kv_forward(self, input_ids, attention_mask, position_ids, *past):
    """(input_ids, attention_mask, position_ids, past.0.key, past.0.value, …) →
    (logits, present.0.key, present.0.value, …)."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    cache = DynamicCache(config=self.config)
    # Full layers everywhere: a sliding-window layer keeps its length as Python state, which the
    # tracer would bake in; with a full layer the attention mask alone applies the window (the
    # same logits; the presents keep every position).
    cache.layers = [DynamicLayer() for _ in cache.layers]
    for i, layer in enumerate(cache.layers):
        key, value = past[2 * i], past[2 * i + 1]
        # Filled directly: update() on an empty layer concatenates with a 1-D empty tensor,
        # which does not trace to valid ONNX.
        layer.lazy_initialization(key, value)
        layer.keys, layer.values = key, value
    out = super(type(self), self).forward(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        cache=cache,
        use_cache=True,
    )
    flat = [out.logits]
    for layer in out.cache.layers:
        flat += [layer.keys, layer.values]
    return tuple(flat)


def kv_shape(config) -> tuple[int, int, int]:
    """(layers, KV heads, head size) of a decoder config, GPT-2's names included."""
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return layers, kv_heads, getattr(config, "head_dim", None) or hidden // heads


def _kv_interface(model):
    import torch

    layers, kv_heads, head_size = kv_shape(model.config)
    past_len, cur_len = 3, 2
    ids = torch.tensor([[5, 6]], dtype=torch.long)
    mask = torch.ones(1, past_len + cur_len, dtype=torch.long)
    position_ids = torch.arange(past_len, past_len + cur_len, dtype=torch.long)[None]
    generator = torch.Generator().manual_seed(7)
    dtype = next(model.parameters()).dtype
    inputs, outputs = ["input_ids", "attention_mask", "position_ids"], ["logits"]
    axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "past_sequence+sequence"},
        "position_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
    }
    past = []
    for i in range(layers):
        for part in ("key", "value"):
            shape = (1, kv_heads, past_len, head_size)
            past.append(torch.randn(shape, generator=generator).to(dtype))
            inputs.append(f"past_key_values.{i}.{part}")
            outputs.append(f"present.{i}.{part}")
            axes[inputs[-1]] = {0: "batch", 2: "past_sequence"}
            axes[outputs[-1]] = {0: "batch", 2: "past_sequence+sequence"}
    return _kv_forward, (ids, mask, position_ids, *past), (inputs, outputs), axes
