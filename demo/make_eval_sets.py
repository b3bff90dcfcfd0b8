#!/usr/bin/env python3
"""Short continuation multiple-choice sets for real models, from the committed held-out text.

Which of 4 continuations follows a passage: the true next words of a held-out document, or the
next words of 3 other documents of the same cell (the same language, domain and task), each cut
the same way. The distractors are fluent text of the same kind, so a model has to follow the
passage, not tell languages or topics apart; SmolLM2-135M answers them well above chance where the
demo's other multiple-choice sets (commands, Q/A answers) stay at chance (DATA.md).

    python3 demo/make_eval_sets.py            # writes demo/data/eval/cont-*.jsonl

Every item comes from a document of a `ppl-cell-<lang>-<domain>-<task>.jsonl` file (make_corpus.py's
eval pool: never in the dimension corpora or the training text). Output, lines
{"question", "choices": [4], "answer"}:
  cont-cell-<lang>-<domain>-<task>.jsonl   one item per document of the cell
  cont-<dim>-<value>.jsonl, cont-general.jsonl
                                           the items of the matching cells, round-robin over them
  quick/, table/                           the first lines of other sets, sized for the time
                                           they get: quick/ for the 15 minutes of `make demo`,
                                           table/ for the baseline table (docs/baselines.md)
Deterministic: the only choices are random.Random(SEED) draws.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261204
CONTEXT = 160  # at most this many characters of passage before the cut
CONTINUATION = 64  # characters of each choice, then to the end of the word (at most 16 more)
MIN_CONTEXT = 40
MIN_CONTINUATION = 24
CUT_AT = 0.6  # the cut's place in the document, moved to the nearest whitespace
DIMENSIONS = {"language": 0, "domain": 1, "task": 2}  # position in a cell's name
PER_DIMENSION = 40
GENERAL = 48
# NAME: the first COUNT lines of SOURCE (ppl-general starts with one document per cell, in turn).
HEADS = {
    "quick/ppl-general": ("ppl-general", 16),
    "quick/cont-general": ("cont-general", 16),  # one item per cell
    "quick/cont-cell-en-computing-qa": ("cont-cell-en-computing-qa", 12),
    "quick/cont-cell-de-computing-qa": ("cont-cell-de-computing-qa", 12),
    # The experts' dimensions one at a time (what each keeps, what it gives up): demo/results.sh.
    **{
        f"quick/ppl-{name}": (f"ppl-{name}", 16)
        for name in ["language-en", "language-de", "domain-computing", "task-qa"]
    },
    "table/ppl-general": ("ppl-general", 48),
    **{
        f"table/ppl-{name}": (f"ppl-{name}", 40)
        for name in ["language-en", "language-de", "domain-computing", "task-qa"]
    },
}


def cut_point(text: str) -> int | None:
    """The space nearest to CUT_AT of the text that leaves room on both sides: inside a line,
    so that every choice goes on with a word, not with a line break that gives it away."""
    spaces = [
        m.start()
        for m in re.finditer(" ", text)
        if m.start() >= MIN_CONTEXT and len(text) - m.start() >= MIN_CONTINUATION
    ]
    if not spaces:
        return None
    target = CUT_AT * len(text)
    return min(spaces, key=lambda i: (abs(i - target), i))


def passage(text: str, cut: int) -> str:
    """At most CONTEXT characters before the cut, from the document's start, else from the
    first line that starts in that window, else from its first word."""
    start = max(0, cut - CONTEXT)
    if start > 0:
        window = text[start:cut]
        line = window.find("\n")
        start += line + 1 if line >= 0 else window.find(" ") + 1
    return text[start:cut]


def continuation(text: str, cut: int) -> str:
    """From the cut's space, CONTINUATION characters and the rest of the last word."""
    end = min(len(text), cut + CONTINUATION)
    limit = min(len(text), end + 16)
    while end < limit and not text[end].isspace():
        end += 1
    return text[cut:end].rstrip()


def cell_items(texts: list[str], rng: random.Random) -> list[dict]:
    """One item per document that has a cut; distractors from the cell's other documents."""
    cuts = [(text, cut_point(text)) for text in texts]
    pieces = [(passage(t, c), continuation(t, c)) for t, c in cuts if c is not None]
    items = []
    for i, (context, right) in enumerate(pieces):
        others = sorted(
            {c for j, (_, c) in enumerate(pieces) if j != i and c.strip() != right.strip()}
        )
        choices = [right, *rng.sample(others, 3)]
        rng.shuffle(choices)
        items.append({"question": context, "choices": choices, "answer": choices.index(right)})
    return items


def round_robin(cells: dict[str, list[dict]], names: list[str], count: int) -> list[dict]:
    queues = {name: list(cells[name]) for name in names}
    out: list[dict] = []
    while len(out) < count and any(queues.values()):
        for name in names:
            if queues[name] and len(out) < count:
                out.append(queues[name].pop(0))
    return out


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).parent.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    print(f"{name:38s} {text.count(chr(10)):3d} lines  sha256 {digest}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--eval", default=str(HERE / "data" / "eval"), help="the eval folder")
    folder = Path(ap.parse_args().eval)
    cells: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("ppl-cell-*.jsonl")):
        name = path.stem.removeprefix("ppl-cell-")
        texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
        cells[name] = cell_items(texts, random.Random(f"{SEED}:{name}"))
    sets = {f"cont-cell-{name}": items for name, items in cells.items()}
    for dimension, position in DIMENSIONS.items():
        for value in sorted({name.split("-")[position] for name in cells}):
            names = [n for n in cells if n.split("-")[position] == value]
            sets[f"cont-{dimension}-{value}"] = round_robin(cells, names, PER_DIMENSION)
    sets["cont-general"] = round_robin(cells, list(cells), GENERAL)
    for name, items in sets.items():
        write(
            folder,
            f"{name}.jsonl",
            "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items),
        )
    for name, (source, count) in HEADS.items():
        lines = (folder / f"{source}.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        write(folder, f"{name}.jsonl", "".join(lines[:count]))


if __name__ == "__main__":
    main()
