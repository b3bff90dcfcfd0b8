#!/usr/bin/env python3
"""Train the demo model: a small Llama (GQA) on demo/data/train.jsonl, on CPU, seeded.

    nice -n 19 .venv-fixtures/bin/python demo/train_model.py --trial      # ~1 min: measures steps/s
    nice -n 19 .venv-fixtures/bin/python demo/train_model.py --steps N    # the real run
    .venv-fixtures/bin/python demo/export_model.py                        # ONNX exports + checks

Writes demo/build/hf/ (the trained Hugging Face model, not committed), demo/model/training.json
(config, curve, held-out perplexity and multiple-choice accuracy) and demo/TRAINING.md's numbers
are taken from training.json. Uses 2 threads (torch.set_num_threads(2)).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

HERE = Path(__file__).resolve().parent
SEED = 5
CTX = 256
BOS, EOS, PAD = 1, 2, 0


def model_config() -> LlamaConfig:
    # 8 query heads of size 16 share 2 KV heads (GQA, group 4). Untied embeddings: the TorchScript
    # export stores a tied lm_head as a second copy anyway, so untying costs no file size and
    # gives the output layer its own 1M parameters. Sizes: 2.89M parameters = 11.8 MB per fp32
    # export; two exports + tokenizers fit in 25 MB.
    return LlamaConfig(
        vocab_size=8000,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=6,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=CTX,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        initializer_range=0.02,
        tie_word_embeddings=False,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        use_cache=False,
        attn_implementation="sdpa",
        architectures=["LlamaForCausalLM"],
    )


def read_jsonl(p: Path) -> list[dict]:
    with open(p, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def encode_docs(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch(texts)]  # each starts with <s>


def make_stream(tok: Tokenizer, train_path: Path) -> tuple[np.ndarray, dict]:
    rows = read_jsonl(train_path)
    ids = encode_docs(tok, [r["text"] for r in rows])
    lens = np.array([len(x) for x in ids])
    stream = np.fromiter((t for x in ids for t in x + [EOS]), dtype=np.int64)
    stats = {
        "documents": len(rows),
        "tokens": int(stream.size),
        "chars": int(sum(len(r["text"]) for r in rows)),
        "doc_tokens_p50": int(np.percentile(lens, 50)),
        "doc_tokens_p99": int(np.percentile(lens, 99)),
        "doc_tokens_max": int(lens.max()),
        "docs_over_ctx": int((lens > CTX).sum()),
    }
    return stream, stats


# ------------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def doc_nll(model, seqs: list[list[int]], batch: int = 16) -> tuple[float, int]:
    """Summed NLL and predicted-token count over documents ([<s>] + ids, truncated to CTX)."""
    total, count = 0.0, 0
    seqs = [s[:CTX] for s in seqs if len(s) > 1]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for b in range(0, len(order), batch):
        group = [seqs[i] for i in order[b : b + batch]]
        n = max(len(s) for s in group)
        ids = torch.full((len(group), n), PAD, dtype=torch.long)
        mask = torch.zeros((len(group), n), dtype=torch.long)
        for i, s in enumerate(group):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        lp = torch.log_softmax(logits[:, :-1], -1)
        tgt = ids[:, 1:]
        nll = -lp.gather(-1, tgt[..., None])[..., 0]
        m = mask[:, 1:].bool()
        total += float(nll[m].sum())
        count += int(m.sum())
    return total, count


def perplexity(model, tok, texts: list[str]) -> dict:
    seqs = encode_docs(tok, texts)
    nll, n = doc_nll(model, seqs)
    return {"ppl": math.exp(nll / n), "nll_per_token": nll / n, "tokens": n, "docs": len(texts)}


@torch.no_grad()
def mc_accuracy(model, tok, items: list[dict]) -> dict:
    """Summed log-likelihood of each choice given the question (plain concatenation question +
    choice); acc, and acc_norm (log-likelihood per character of the choice)."""
    correct = correct_norm = 0
    for it in items:
        q = it["question"]
        q_ids = tok.encode(q).ids
        scores, norm = [], []
        seqs = []
        for ch in it["choices"]:
            full = tok.encode(q + ch).ids
            k = len(q_ids)
            while k > 0 and full[:k] != q_ids[:k]:
                k -= 1  # BPE merged across the boundary: score from the first differing token
            seqs.append((full[-CTX:], len(full) - max(k, 1)))
        n = max(len(s) for s, _ in seqs)
        ids = torch.full((len(seqs), n), PAD, dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, (s, _) in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        lp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        for i, (s, nc) in enumerate(seqs):
            L = len(s)
            tgt = torch.tensor(s[L - nc :])
            ll = float(lp[i, L - nc - 1 : L - 1].gather(-1, tgt[:, None]).sum())
            scores.append(ll)
            norm.append(ll / max(1, len(it["choices"][i])))
        correct += int(int(np.argmax(scores)) == it["answer"])
        correct_norm += int(int(np.argmax(norm)) == it["answer"])
    n = max(1, len(items))
    return {"acc": correct / n, "acc_norm": correct_norm / n, "items": len(items)}


def evaluate_all(model, tok, eval_dir: Path) -> dict:
    model.eval()
    out = {"ppl": {}, "mc": {}}
    for p in sorted(eval_dir.glob("ppl-*.jsonl")):
        out["ppl"][p.stem] = perplexity(model, tok, [r["text"] for r in read_jsonl(p)])
    for p in sorted(eval_dir.glob("mc-*.jsonl")):
        out["mc"][p.stem] = mc_accuracy(model, tok, read_jsonl(p))
    return out


# ------------------------------------------------------------------------------------------------


def lr_at(step: int, progress: float, peak: float, warmup: int, floor: float) -> float:
    """Linear warmup over `warmup` steps, then cosine from the peak to floor*peak as `progress`
    goes from the end of warmup to 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return floor * peak + (1 - floor) * peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def versions() -> dict:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "machine": platform.processor() or platform.machine(),
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16, help="sequences of 256 tokens per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument(
        "--lr-floor", type=float, default=0.1, help="final lr as a fraction of the peak"
    )
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument(
        "--max-minutes", type=float, default=40.0,
        help="time budget of the training loop: the schedule's progress is max(step/steps, elapsed/budget), "
        "so a slower (shared) machine ends earlier with a complete decay instead of overrunning",
    )  # fmt: skip
    ap.add_argument("--trial", action="store_true", help="run ~60 s, print steps/s, save nothing")
    ap.add_argument(
        "--eval-only", action="store_true", help="re-evaluate the saved model, update training.json"
    )
    ap.add_argument("--data", default=str(HERE / "data"))
    ap.add_argument("--out", default=str(HERE / "build" / "hf"))
    ap.add_argument("--report", default=str(HERE / "model" / "training.json"))
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    transformers.logging.set_verbosity_error()
    data = Path(args.data)
    tok = Tokenizer.from_file(str(HERE / "model" / "tokenizer.json"))
    if args.eval_only:
        model = LlamaForCausalLM.from_pretrained(args.out).eval()
        te = time.time()
        ev = evaluate_all(model, tok, data / "eval")
        rp = Path(args.report)
        rep = json.loads(rp.read_text())
        rep["eval"] = ev
        rep["time"]["eval_s"] = round(time.time() - te, 1)
        rp.write_text(json.dumps(rep, indent=1) + "\n")
        for k, v in ev["ppl"].items():
            print(f"  {k:36s} ppl {v['ppl']:8.2f}  ({v['tokens']} tokens)")
        for k, v in ev["mc"].items():
            print(
                f"  {k:36s} acc {v['acc']:.3f}  acc_norm {v['acc_norm']:.3f}  ({v['items']} items)"
            )
        return
    stream, stats = make_stream(tok, data / "train.jsonl")
    print(f"train stream: {json.dumps(stats)}  ({time.time() - t_start:.1f}s)", flush=True)

    # non-overlapping windows of CTX+1 tokens, reshuffled every epoch
    n_win = (stream.size - 1) // CTX
    windows = torch.from_numpy(stream[: n_win * CTX + 1])
    rng = torch.Generator().manual_seed(SEED)
    perm, pos, epoch = torch.randperm(n_win, generator=rng), 0, 0

    def next_batch():
        nonlocal perm, pos, epoch
        rows = []
        for _ in range(args.batch):
            if pos >= n_win:
                perm, pos, epoch = torch.randperm(n_win, generator=rng), 0, epoch + 1
            s = int(perm[pos]) * CTX
            rows.append(windows[s : s + CTX + 1])
            pos += 1
        b = torch.stack(rows)
        return b[:, :-1].contiguous(), b[:, 1:].contiguous()

    cfg = model_config()
    model = LlamaForCausalLM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    val_rows = read_jsonl(data / "eval" / "ppl-general.jsonl")[:64]
    val_seqs = encode_docs(tok, [r["text"] for r in val_rows])

    curve, val_curve = [], []
    t0 = time.time()
    budget = 60.0 if args.trial else args.max_minutes * 60
    acc_loss, acc_n, step, stopped_early = 0.0, 0, 0, False
    model.train()
    warm_t = None
    while True:
        el = time.time() - t0
        if step >= args.warmup and warm_t is None:
            warm_t = (step, el)
        if warm_t is None:
            progress = 0.0
        else:
            s0, e0 = warm_t
            progress = max(
                (step - s0) / max(1, args.steps - s0), (el - e0) / max(1e-9, budget - e0)
            )
        if step >= args.steps or progress >= 1.0:
            stopped_early = step < args.steps and not args.trial
            break
        lr = lr_at(step, progress, args.lr, args.warmup, args.lr_floor)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = next_batch()
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        opt.step()
        step += 1
        acc_loss += float(loss.detach())
        acc_n += 1
        if step % args.log_every == 0 or step == args.steps:
            el = time.time() - t0
            curve.append(
                {"step": step, "tokens": step * args.batch * CTX, "loss": acc_loss / acc_n, "lr": lr,
                 "grad_norm": gnorm, "elapsed_s": round(el, 1), "epoch": epoch + pos / n_win, "progress": progress}
            )  # fmt: skip
            print(
                f"step {step:5d}  loss {acc_loss / acc_n:.4f}  lr {lr:.2e}  gnorm {gnorm:.2f}  "
                f"{step / el:.3f} steps/s  {el / 60:.1f} min  epoch {epoch + pos / n_win:.2f}",
                flush=True,
            )
            acc_loss, acc_n = 0.0, 0
        if not args.trial and (step % args.val_every == 0 or step == args.steps):
            model.eval()
            nll, n = doc_nll(model, val_seqs)
            model.train()
            val_curve.append({"step": step, "val_loss": nll / n, "val_ppl": math.exp(nll / n)})
            print(
                f"  val (64 docs of ppl-general): loss {nll / n:.4f}  ppl {math.exp(nll / n):.2f}",
                flush=True,
            )
    train_s = time.time() - t0
    sps = step / train_s
    print(
        f"trained {step} steps in {train_s / 60:.2f} min: {sps:.3f} steps/s, {sps * args.batch * CTX:.0f} tokens/s"
    )
    if args.trial:
        print(f"for a 40-minute loop: --steps {int(sps * 40 * 60)}")
        return

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(str(out))
    GenerationConfig(
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, do_sample=False, max_new_tokens=64
    ).save_pretrained(str(out))
    te = time.time()
    ev = evaluate_all(model, tok, data / "eval")
    eval_s = time.time() - te
    report = {
        "seed": SEED,
        "config": {k: v for k, v in cfg.to_dict().items() if not k.startswith("_")},
        "parameters": n_params,
        "parameters_non_embedding": n_params - 2 * cfg.vocab_size * cfg.hidden_size,
        "context": CTX,
        "hyper": {"steps": args.steps, "steps_done": step, "batch_sequences": args.batch, "batch_tokens": args.batch * CTX,
                  "lr_peak": args.lr, "warmup": args.warmup, "lr_floor": args.lr_floor, "schedule": "linear warmup, cosine",
                  "optimizer": "AdamW(0.9, 0.95), clip 1.0", "weight_decay": args.weight_decay, "threads": 2},
        "train_data": stats,
        "train_tokens_seen": step * args.batch * CTX,
        "epochs": step * args.batch * CTX / stats["tokens"],
        "time": {"train_loop_s": round(train_s, 1), "total_s": round(time.time() - t_start, 1), "eval_s": round(eval_s, 1),
                 "stopped_by_time_limit": stopped_early},
        "curve": curve,
        "val_curve": val_curve,
        "eval": ev,
        "versions": versions(),
    }  # fmt: skip
    rp = Path(args.report)
    rp.parent.mkdir(parents=True, exist_ok=True)
    rp.write_text(json.dumps(report, indent=1) + "\n")
    print(f"final train loss {curve[-1]['loss']:.4f}; eval in {eval_s:.0f}s")
    for k, v in ev["ppl"].items():
        print(f"  {k:36s} ppl {v['ppl']:8.2f}  ({v['tokens']} tokens)")
    for k, v in ev["mc"].items():
        print(f"  {k:36s} acc {v['acc']:.3f}  acc_norm {v['acc_norm']:.3f}  ({v['items']} items)")
    print(f"wrote {out} and {rp}; total {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
