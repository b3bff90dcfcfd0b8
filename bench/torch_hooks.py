#!/usr/bin/env python3
"""The PyTorch peer of cusprun's scoring, timed on the same token sequences, batches and threads.

Forward hooks on every layer's down and o projections compute the sums cusprun's scoring graph
returns: sum over real tokens of h^2 per FFN channel (h the down projection's input), and per
attention group j of ||a_j W_j||^2 (a the o projection's input), in the form cusprun picks for
the layer's shapes (the o projection's output for one group, the Gram form while a group is
narrower than the hidden size, else the direct form). The base model runs without its lm_head.
It needs the export extra (`make setup-export`: torch, transformers, gguf):

    .venv/bin/python bench/torch_hooks.py MODEL.gguf DOCUMENTS.json [--threads 2]
        [--batch 8] [--rounds 2]

DOCUMENTS.json is a list of token-id lists (in the order to batch them). After one untimed pass
(torch's first call at each new shape is slow), each timed pass runs every batch twice, with and
without the hooks, taking turns; prints one JSON line with the seconds of each pass, both ways.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def load(gguf: Path):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
    )
    return model.eval()


class Hooks:
    """The relevance sums of one batch, computed in hooks into `sums` (a hook that returned a
    value would replace the module's input or output); `mask` is set before each forward, None
    for a plain forward."""

    def __init__(self, model):
        config = model.config
        heads, groups = config.num_attention_heads, config.num_key_value_heads
        head = getattr(config, "head_dim", None) or config.hidden_size // heads
        self.group_width = heads // groups * head
        self.groups = groups
        self.mask = None
        self.sums = []
        self.forms = []
        for layer in model.model.layers:
            layer.mlp.down_proj.register_forward_pre_hook(self.ffn)
            self.forms.append(self.attention_hooks(layer.self_attn.o_proj, config))

    def attention_hooks(self, o_proj, config) -> str:
        if self.groups == 1 and o_proj.bias is None:
            o_proj.register_forward_hook(lambda _m, _args, y: self.output(y))
            return "output"
        # W_j: the group's rows of y = a·W, W = weightᵀ ([in, out]).
        w = o_proj.weight.detach().t().reshape(self.groups, self.group_width, -1)
        if self.group_width < config.hidden_size:
            gram = w @ w.transpose(1, 2)
            o_proj.register_forward_pre_hook(lambda _m, args: self.gram(args[0], gram))
            return "gram"
        o_proj.register_forward_pre_hook(lambda _m, args: self.direct(args[0], w))
        return "direct"

    def keep(self, per_token):
        """Σ over real tokens of a [..., T] value, the mask broadcast over its leading axes."""
        mask = self.mask.view(self.mask.shape[0], *([1] * (per_token.dim() - 2)), -1)
        self.sums.append((per_token * mask).sum(-1))

    def ffn(self, _module, args):
        if self.mask is not None:
            h = args[0]
            self.sums.append((h * h * self.mask[:, :, None]).sum(1))

    def by_group(self, a):
        b, t, _ = a.shape
        return a.reshape(b, t, self.groups, self.group_width).transpose(1, 2)

    def output(self, y):
        if self.mask is not None:
            self.keep((y * y).sum(-1))

    def gram(self, a, gram):
        if self.mask is not None:
            a = self.by_group(a)
            self.keep(((a @ gram) * a).sum(-1))

    def direct(self, a, w):
        if self.mask is not None:
            self.keep((self.by_group(a) @ w).pow(2).sum(-1))


def batches(documents: list[list[int]], size: int):
    import torch

    for start in range(0, len(documents), size):
        batch = documents[start : start + size]
        width = max(len(d) for d in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for row, doc in enumerate(batch):
            ids[row, : len(doc)] = torch.tensor(doc)
            mask[row, : len(doc)] = 1
        yield ids, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", type=Path)
    parser.add_argument("documents", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()

    import torch

    torch.set_num_threads(options.threads)
    documents = json.loads(options.documents.read_text())
    model = load(options.gguf)
    hooks = Hooks(model)
    prepared = list(batches(documents, options.batch))
    seconds = {"hooks": [], "plain": []}

    def forward(ids, mask, hooked: bool) -> float:
        hooks.mask = mask.to(torch.float32) if hooked else None
        hooks.sums = []
        started = time.perf_counter()
        model.model(input_ids=ids, attention_mask=mask)
        return time.perf_counter() - started

    with torch.inference_mode():
        for ids, mask in prepared:
            forward(ids, mask, True)
        for round_ in range(options.rounds):
            spent = {"hooks": 0.0, "plain": 0.0}
            for i, (ids, mask) in enumerate(prepared):
                for hooked in (True, False) if (i + round_) % 2 else (False, True):
                    spent["hooks" if hooked else "plain"] += forward(ids, mask, hooked)
            for key, value in spent.items():
                seconds[key].append(value)
    print(
        json.dumps(
            {
                "seconds": seconds["hooks"],
                "plainSeconds": seconds["plain"],
                "documents": len(documents),
                "tokens": sum(len(d) for d in documents),
                "forms": sorted(set(hooks.forms)),
                "torch": torch.__version__,
                "threads": options.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
