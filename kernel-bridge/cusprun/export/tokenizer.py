"""The exported folder's tokenizer files, with the BOS rule written out.

cusprun's Node side (src/engine/corpus/tokenizer.ts) encodes raw text with tokenizer.json and no
special tokens, and prepends `bos_token` exactly when tokenizer_config.json says
`"add_bos_token": true`. transformers does not always write that field (version 5 drops it on
save), and a converted tokenizer.json may not add BOS although the model needs it (Gemma 3 from
GGUF): so the field is written from what transformers' tokenizer actually does, and the result
is checked token for token.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..session import CusprunError

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
#: how the tokenizer was loaded here, which transformers saves along; not the model's settings
LOADING_KEYS = ("is_local", "local_files_only")


def write_tokenizer(tokenizer, out: Path, prompts: list[str]) -> list[list[int]]:
    """Saves the tokenizer into `out` with add_bos_token/add_eos_token explicit; returns the ids of
    `prompts` as cusprun will read them, after checking they equal transformers' own ids."""
    tokenizer.save_pretrained(out)
    if not (out / TOKENIZER_FILE).is_file():
        raise CusprunError(
            f"{TOKENIZER_FILE}: transformers wrote none for this tokenizer "
            f"({type(tokenizer).__name__}); cusprun needs a fast tokenizer's {TOKENIZER_FILE}"
        )
    probe = tokenizer("a").input_ids
    add_bos = tokenizer.bos_token_id is not None and probe[:1] == [tokenizer.bos_token_id]
    add_eos = tokenizer.eos_token_id is not None and probe[-1:] == [tokenizer.eos_token_id]
    config_path = out / CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in LOADING_KEYS:
        config.pop(key, None)
    config.update(
        add_bos_token=add_bos,
        add_eos_token=add_eos,
        bos_token=tokenizer.bos_token,
        eos_token=tokenizer.eos_token,
    )
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", "utf-8")

    expected = [
        _without_eos(tokenizer(p).input_ids, add_eos, tokenizer.eos_token_id) for p in prompts
    ]
    got = [cusprun_ids(out, p) for p in prompts]
    _same_ids(
        out / TOKENIZER_FILE, "cusprun's rule (tokenizer.json + add_bos_token)", got, expected
    )
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(out, local_files_only=True)
    again = [_without_eos(reloaded(p).input_ids, add_eos, tokenizer.eos_token_id) for p in prompts]
    _same_ids(out / CONFIG_FILE, "transformers reloading the folder", again, expected)
    return got


def cusprun_ids(folder: Path, text: str) -> list[int]:
    """The ids cusprun's Node side gives `text`: raw encoding, BOS first iff add_bos_token."""
    from tokenizers import Tokenizer

    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    if config.get("add_bos_token") is True:
        bos = config["bos_token"]
        ids = [tokenizer.token_to_id(bos if isinstance(bos, str) else bos["content"]), *ids]
    return ids


def _without_eos(ids: list[int], add_eos: bool, eos_id: int | None) -> list[int]:
    # cusprun never appends EOS to a document; a tokenizer that does is compared without it.
    return ids[:-1] if add_eos and ids[-1:] == [eos_id] else ids


def _same_ids(where: Path, how: str, got: list[list[int]], expected: list[list[int]]) -> None:
    for g, e in zip(got, expected, strict=True):
        if g != e:
            raise CusprunError(
                f"{where}: {how} gives ids {g[:8]}… where transformers gives {e[:8]}…; "
                "this tokenizer cannot be written so that cusprun reads it the same way"
            )
