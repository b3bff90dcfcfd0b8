#!/usr/bin/env python3
"""Export the trained demo model (demo/build/hf/) to ONNX twice and check both against torch.

    .venv-fixtures/bin/python demo/export_model.py

  demo/model/     model.onnx without KV cache: inputs input_ids, attention_mask (int64
                  [batch, sequence]); output logits
  demo/model-kv/  model.onnx with KV cache, Optimum naming: inputs input_ids, attention_mask
                  ([batch, past_sequence+sequence]), position_ids, past_key_values.{i}.key|value
                  ([batch, 2, past_sequence, 16]); outputs logits, present.{i}.key|value

Both with config.json, generation_config.json, tokenizer.json, tokenizer_config.json and
special_tokens_map.json. TorchScript exporter (dynamo=False), opset 17, fp32, the same approach as
fixtures/make_fixtures.py. Checks (exit non-zero on failure): onnx.checker; onnxruntime vs torch
max |logits diff| <= 1e-4 on real held-out sentences (batch of 1, and a left-padded batch of 2),
and for the KV export a prefill followed by 2 single-token decode steps.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM
from transformers.cache_utils import DynamicCache

HERE = Path(__file__).resolve().parent
TOL = 1e-4
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def _with_forward(model, forward, name):
    """A copy of `model` whose class is a subclass of the HF class with `forward` replaced (keeps
    the HF state-dict names in the export: model.layers.0..., lm_head)."""
    base = type(model)
    sub = type(name + base.__name__, (base,), {"forward": forward})
    m = copy.deepcopy(model)
    m.__class__ = sub
    return m.eval()


def _logits_forward(self, input_ids, attention_mask):
    return (
        super(type(self), self)
        .forward(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        .logits
    )


def _kv_forward(self, input_ids, attention_mask, position_ids, *past):
    cache = DynamicCache(config=self.config)
    assert 2 * len(cache.layers) == len(past)
    for i, layer in enumerate(cache.layers):
        k, v = past[2 * i], past[2 * i + 1]
        layer.lazy_initialization(k, v)  # fill directly: update() on an empty layer does not trace
        layer.keys, layer.values = k, v
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


def export_plain(model, path: Path, example: list[int]):
    ids = torch.tensor([example], dtype=torch.long)
    axes = {n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask", "logits")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _with_forward(model, _logits_forward, "Logits"), (ids, torch.ones_like(ids)), str(path),
            dynamo=False, opset_version=17, input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes=axes, do_constant_folding=True,
        )  # fmt: skip


def export_kv(model, path: Path, example: list[int]):
    cfg = model.config
    n, kv, hs = cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.head_dim
    past_len, cur_len = 3, 2
    ids = torch.tensor([example[past_len : past_len + cur_len]], dtype=torch.long)
    mask = torch.ones(1, past_len + cur_len, dtype=torch.long)
    pos = torch.arange(past_len, past_len + cur_len, dtype=torch.long)[None]
    gen = torch.Generator().manual_seed(7)
    past, in_names, out_names = [], ["input_ids", "attention_mask", "position_ids"], ["logits"]
    axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "past_sequence+sequence"},
        "position_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
    }
    for i in range(n):
        for kind in ("key", "value"):
            past.append(torch.randn(1, kv, past_len, hs, generator=gen))
            in_names.append(f"past_key_values.{i}.{kind}")
            out_names.append(f"present.{i}.{kind}")
            axes[in_names[-1]] = {0: "batch", 2: "past_sequence"}
            axes[out_names[-1]] = {0: "batch", 2: "past_sequence+sequence"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _with_forward(model, _kv_forward, "KV"), (ids, mask, pos, *past), str(path), dynamo=False,
            opset_version=17, input_names=in_names, output_names=out_names, dynamic_axes=axes, do_constant_folding=True,
        )  # fmt: skip


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


@torch.no_grad()
def torch_logits(model, ids, mask=None) -> np.ndarray:
    t = torch.tensor(ids, dtype=torch.long)
    m = torch.ones_like(t) if mask is None else torch.tensor(mask, dtype=torch.long)
    return model(input_ids=t, attention_mask=m, use_cache=False).logits.float().numpy()


def verify_plain(path: Path, model, seqs: list[list[int]]) -> float:
    sess = session(path)
    worst = 0.0
    for s in seqs:
        a = np.array([s], dtype=np.int64)
        got = sess.run(["logits"], {"input_ids": a, "attention_mask": np.ones_like(a)})[0]
        worst = max(worst, float(np.abs(got - torch_logits(model, [s])).max()))
    # batch of 2, the shorter one left-padded (pad id 0, mask 0): compare the real positions
    a, b = seqs[0], seqs[1]
    n = max(len(a), len(b))
    ids = [[0] * (n - len(a)) + a, [0] * (n - len(b)) + b]
    mask = [[0] * (n - len(a)) + [1] * len(a), [0] * (n - len(b)) + [1] * len(b)]
    got = sess.run(
        ["logits"],
        {
            "input_ids": np.array(ids, dtype=np.int64),
            "attention_mask": np.array(mask, dtype=np.int64),
        },
    )[0]
    ref = torch_logits(model, ids, mask)
    for r, s in enumerate((a, b)):
        worst = max(worst, float(np.abs(got[r, n - len(s) :] - ref[r, n - len(s) :]).max()))
    return worst


def verify_kv(path: Path, model, seqs: list[list[int]]) -> float:
    cfg = model.config
    n, kv, hs = cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.head_dim
    sess = session(path)
    names = [i.name for i in sess.get_inputs()]
    outs = [o.name for o in sess.get_outputs()]
    empty = np.zeros((1, kv, 0, hs), dtype=np.float32)

    def feed(ids, start, pasts):
        total = start + len(ids)
        f = {
            "input_ids": np.array([ids], dtype=np.int64),
            "attention_mask": np.ones((1, total), dtype=np.int64),
            "position_ids": np.arange(start, total, dtype=np.int64)[None],
        }
        for i in range(n):
            f[f"past_key_values.{i}.key"] = pasts[2 * i]
            f[f"past_key_values.{i}.value"] = pasts[2 * i + 1]
        assert set(f) == set(names), (sorted(f), names)
        return sess.run(outs, f)

    worst = 0.0
    for s in seqs:
        ref = torch_logits(model, [s])[0]
        p = len(s) - 2  # prefill all but the last 2 tokens, then decode them one at a time
        r1 = feed(s[:p], 0, [empty] * (2 * n))
        worst = max(worst, float(np.abs(r1[0][0] - ref[:p]).max()))
        for t in r1[1:]:
            assert t.shape == (1, kv, p, hs), t.shape
        r2 = feed(s[p : p + 1], p, r1[1:])
        worst = max(worst, float(np.abs(r2[0][0, 0] - ref[p]).max()))
        r3 = feed(s[p + 1 : p + 2], p + 1, r2[1:])
        worst = max(worst, float(np.abs(r3[0][0, 0] - ref[p + 1]).max()))
        for t in r3[1:]:
            assert t.shape == (1, kv, p + 2, hs), t.shape
    return worst


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hf", default=str(HERE / "build" / "hf"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    model = LlamaForCausalLM.from_pretrained(args.hf, attn_implementation="eager").eval()
    tok = Tokenizer.from_file(str(HERE / "model" / "tokenizer.json"))
    # real held-out sentences, one per language and a Q/A one
    texts = []
    for f in [
        "ppl-language-en",
        "ppl-language-de",
        "ppl-language-fr",
        "ppl-language-es",
        "ppl-task-qa",
    ]:
        with open(HERE / "data" / "eval" / f"{f}.jsonl", encoding="utf-8") as fh:
            texts.append(json.loads(fh.readline())["text"][:200])
    seqs = [tok.encode(t).ids[:48] for t in texts]
    results = {}
    for folder, kind in [("model", "plain"), ("model-kv", "kv")]:
        out = HERE / folder
        out.mkdir(parents=True, exist_ok=True)
        path = out / "model.onnx"
        if kind == "plain":
            export_plain(model, path, seqs[0][:8])
        else:
            export_kv(model, path, seqs[0][:8])
        onnx.checker.check_model(str(path), full_check=True)
        m = onnx.load(str(path))
        assert {t.data_type for t in m.graph.initializer if t.data_type in (1, 10)} == {1}, (
            "fp32 weights"
        )
        diff = verify_plain(path, model, seqs) if kind == "plain" else verify_kv(path, model, seqs)
        cfg = model.config.to_dict()
        cfg.pop("_name_or_path", None)  # the local checkpoint path
        cfg["dtype"] = "float32"
        cfg["use_cache"] = kind == "kv"
        (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        shutil.copy(Path(args.hf) / "generation_config.json", out / "generation_config.json")
        if folder != "model":
            for f in TOKENIZER_FILES:
                shutil.copy(HERE / "model" / f, out / f)
        size = path.stat().st_size
        results[folder] = {"max_abs_diff": diff, "onnx_bytes": size}
        status = "ok" if diff <= TOL else "FAIL"
        print(
            f"{folder:9s} {status}  max|onnx - torch| = {diff:.2e}  model.onnx {size / 1e6:.2f} MB",
            flush=True,
        )
    total = sum(
        p.stat().st_size for d in ("model", "model-kv") for p in (HERE / d).iterdir() if p.is_file()
    )
    print(f"model folders together: {total / 1e6:.2f} MB ({total / 2**20:.2f} MiB)")
    rp = HERE / "model" / "training.json"
    if rp.exists():
        rep = json.loads(rp.read_text())
        rep["export"] = {
            "tolerance": TOL,
            **results,
            "folders_total_bytes": total,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        }
        rp.write_text(json.dumps(rep, indent=1) + "\n")
    if any(r["max_abs_diff"] > TOL for r in results.values()) or total > 25 * 10**6:
        sys.exit(1)


if __name__ == "__main__":
    main()
