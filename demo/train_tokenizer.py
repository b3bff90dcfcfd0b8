#!/usr/bin/env python3
"""Train the demo's byte-level BPE tokenizer (vocabulary 8000) on demo/data/train.jsonl.

    .venv-fixtures/bin/python demo/train_tokenizer.py        # writes demo/model/tokenizer*.json

Special tokens: <pad> 0, <s> 1 (BOS), </s> 2 (EOS), <unk> 3. The post-processor prepends <s> to
every encoded text (like Llama tokenizers); </s> is not appended (training appends it between
documents). Standard Hugging Face `tokenizer.json` (loads with `tokenizers`, `transformers` and the
npm package `@huggingface/tokenizers`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent
VOCAB = 8000
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]
MAX_LEN = 256


def texts(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]


def build(train: Path) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        min_frequency=2,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts(train), trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", bos)]
            ),
        ]
    )
    return tok


def tokenizer_config() -> dict:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": MAX_LEN,
        "clean_up_tokenization_spaces": False,
        "padding_side": "left",
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--train", default=str(HERE / "data" / "train.jsonl"))
    ap.add_argument("--out", default=str(HERE / "model"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok = build(Path(args.train))
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    for i, s in enumerate(SPECIAL):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(
        json.dumps(
            {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"},
            indent=2,
        )
        + "\n"
    )

    # checks: round trip and the transformers wrapper agree
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(out))
    n_chars = n_tok = 0
    for i, t in enumerate(texts(Path(args.train))):
        if i >= 2000:
            break
        ids = tok.encode(t).ids
        assert ids[0] == 1
        assert tok.decode(ids, skip_special_tokens=True) == t, "round trip"
        assert hf(t)["input_ids"] == ids
        n_chars += len(t)
        n_tok += len(ids) - 1
    print(
        f"vocab {tok.get_vocab_size()}, {n_chars / n_tok:.2f} chars/token on the first 2000 training documents"
    )
    for t in [
        "Q: Was macht der Befehl ls?\nA: Verzeichnisinhalte auflisten",
        "¿Qué hace la orden rm?",
    ]:
        print(repr(t), "->", tok.encode(t).tokens)


if __name__ == "__main__":
    main()
