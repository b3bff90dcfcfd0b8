#!/usr/bin/env python3
"""Build the demo's multilingual corpus from Debian packages: training text, the three dimension
corpora (language, domain, task) and the held-out eval sets.

Run by hand (not in CI), after installing the source packages (see demo/README.md):

    .venv-fixtures/bin/python demo/make_corpus.py            # writes demo/data/

Everything is deterministic: every source unit (a man page, a Debian Reference section, a Bible
chapter, one fortune, one licence chunk, ...) is put into a split by a salted SHA-256 of a
language-independent key, so translations of the same page or chapter land in the same split and
adding or removing one package does not reshuffle the others. All other choices use
random.Random(SEED).

Outputs (under demo/data/):
  corpora/{language,domain,task}/<value>.jsonl    {"text": ...}   (committed)
  eval/ppl-<dim>-<value>.jsonl, ppl-general.jsonl  {"text": ...}   (committed)
  eval/ppl-cell-<lang>-<domain>-<task>.jsonl       {"text": ...}   (committed)
  eval/mc-*.jsonl        {"question", "choices": [4], "answer": i} (committed)
  train.jsonl            {"text", "lang", "domain", "task", "source"} (NOT committed; regenerated)
  manifest.json          counts, characters, composition and SHA-256 of every file
  sources.json           every package used (version, licence), the lock for regeneration

If sources.json exists, the script uses exactly the packages recorded there (and fails if one is
missing), so other packages installed later on the machine do not change the output;
--relock re-derives the package list from the machine.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import hashlib
import html
import html.parser
import json
import os
import random
import re
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261129
SALT = "cusprun-demo-v1"
LANGS = ["en", "de", "fr", "es"]
DOMAINS = ["computing", "humour", "legal", "religious"]
TASKS = ["text", "qa"]

MAXC = 750  # max characters of one document (fits ~256 tokens of the demo tokenizer)
MINC = 120  # shorter chunks are dropped (or merged)

# held-out bands of the split hash u in [0, 1): [0, EVAL) eval pool, [EVAL, EVAL+CORPUS) corpus pool
BANDS = {
    "default": (0.07, 0.07),
    "legal-de": (0.2, 0.2),  # GPL-Deutsch only: few chunks
    "riddle": (0.2, 0.2),  # ~120 English Q/A riddles
    "qa": (
        0.2,
        0.15,
    ),  # question/answer pairs with their own split key (man NAME lines, packages, licences)
}
QA_MC_SHARE = 0.3  # share of the eval pool's Q/A pairs kept apart for the Q/A multiple-choice set
QA_MAXC = 320  # Q/A documents are shorter: a few pairs each
MANNAME_MC = 0.25  # man NAME pairs: [0, 0.25) multiple-choice pool, then eval, corpus bands

# training text caps in characters per (source, lang); None: no cap
TRAIN_CAP = {
    ("man", "en"): 3_200_000,
    ("man", "de"): 3_200_000,
    ("man", "fr"): 3_200_000,
    ("man", "es"): 3_200_000,
    ("fortune", "en"): 2_200_000,
    ("bible", "en"): 1_600_000,
    ("bible", "es"): 1_600_000,
    ("copyright", "en"): 1_800_000,
}

# dimension corpora and eval sets: documents per file
N_CORPUS = 200
N_PPL = 100
N_PPL_GENERAL = 200
N_CELL = 50
MIN_CELL = (
    40  # an eval cell file is written only if the eval pool has this many documents of the cell
)
N_MC = 100

APT_PACKAGES = [
    "manpages", "manpages-de", "manpages-fr", "manpages-es",
    "debian-reference-en", "debian-reference-de", "debian-reference-fr", "debian-reference-es",
    "fortunes", "fortunes-min", "fortunes-de", "fortunes-es",
    "sword-text-web", "sword-text-sparv", "diatheke", "mandoc",
]  # fmt: skip

# ------------------------------------------------------------------------------------------------
# text helpers

_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(s: str) -> str:
    s = unicodedata.normalize("NFC", s)
    s = re.sub(r".\x08", "", s)  # overstrike (bold/underline in man and fortune files)
    s = s.replace("\t", "    ").replace("\r", "")
    s = _CTRL.sub("", s)
    s = "\n".join(line.rstrip() for line in s.split("\n"))
    s = re.sub(r"\n{3,}", "\n\n", s)
    return s.strip()


def norm_key(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    return re.sub(r"\s+", " ", s).strip()


def nhash(s: str) -> str:
    return hashlib.sha256(norm_key(s).encode()).hexdigest()[:20]


def u01(key: str) -> float:
    h = hashlib.sha256(f"{SALT}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def split_long(block: str, maxc: int) -> list[str]:
    """Split one over-long block at line, then sentence, then word boundaries."""
    if len(block) <= maxc:
        return [block]
    for sep_re in (r"(?<=\n)", r"(?<=[.!?;:])\s+", r"\s+"):
        parts = [p for p in re.split(sep_re, block) if p.strip()]
        if len(parts) > 1:
            break
    else:
        return [block[i : i + maxc] for i in range(0, len(block), maxc)]
    out, cur = [], ""
    for p in parts:
        p = p.strip("\n") if sep_re == r"(?<=\n)" else p.strip()
        if len(p) > maxc:
            if cur:
                out.append(cur)
                cur = ""
            out.extend(split_long(p, maxc))
            continue
        joiner = "\n" if sep_re == r"(?<=\n)" else " "
        if cur and len(cur) + 1 + len(p) > maxc:
            out.append(cur)
            cur = p
        else:
            cur = cur + joiner + p if cur else p
    if cur:
        out.append(cur)
    return out


def chunk_blocks(
    blocks: list[str], prefix: str = "", maxc: int = MAXC, minc: int = MINC
) -> list[str]:
    """Greedy packing of paragraphs into documents of at most maxc characters (prefix included)."""
    budget = maxc - len(prefix)
    pieces = []
    for b in blocks:
        b = b.strip()
        if b:
            pieces.extend(split_long(b, budget))
    chunks, cur = [], ""
    for p in pieces:
        if cur and len(cur) + 2 + len(p) > budget:
            chunks.append(cur)
            cur = p
        else:
            cur = cur + "\n\n" + p if cur else p
    if cur:
        if chunks and len(cur) < minc and len(chunks[-1]) + 2 + len(cur) <= budget:
            chunks[-1] += "\n\n" + cur
        else:
            chunks.append(cur)
    return [prefix + c for c in chunks if len(c) >= minc]


# ------------------------------------------------------------------------------------------------
# units


@dataclass
class Unit:
    key: str  # split key (language-independent where translations exist)
    lang: str
    domain: str
    source: str  # man, debref, fortune, bible, license, copyright
    task: str  # text or qa
    docs: list[str] = field(default_factory=list)  # task text: ready documents
    pair: tuple[str, str] | None = None  # task qa: (question, answer)
    band: str = "default"
    meta: dict = field(default_factory=dict)


class Sources:
    """Package bookkeeping: which packages contributed, and their versions and licences."""

    def __init__(self, lock: dict | None):
        self.lock = lock
        self.used: dict[str, set] = collections.defaultdict(set)
        self._owner: dict[str, str] | None = None
        self.missing: list[str] = []

    def owner_map(self) -> dict[str, str]:
        if self._owner is None:
            own = {}
            for f in sorted(glob.glob("/var/lib/dpkg/info/*.list")):
                pkg = os.path.basename(f)[:-5].split(":")[0]
                for line in open(f, errors="replace"):
                    own[line.rstrip("\n")] = pkg
            self._owner = own
        return self._owner

    def allowed(self, pkg: str) -> bool:
        return self.lock is None or pkg in self.lock["packages"]

    def use(self, pkg: str, what: str):
        self.used[pkg].add(what)

    def describe(self) -> dict:
        out = {}
        for pkg in sorted(self.used):
            out[pkg] = {
                "version": pkg_version(pkg),
                "licence": pkg_licence(pkg),
                "used_for": sorted(self.used[pkg]),
            }
        return out


def pkg_version(pkg: str) -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(
            f"package {pkg} is not installed (see demo/README.md for the apt-get line)"
        )
    return r.stdout.strip()


def pkg_licence(pkg: str) -> str:
    p = Path(f"/usr/share/doc/{pkg}/copyright")
    if not p.exists():
        return "?"
    t = p.read_text(errors="replace")
    if t.startswith("Format:"):
        for st in re.split(r"\n\s*\n", t):
            if re.search(r"^Files:\s*\*\s*$", st, re.M):
                m = re.search(r"^License:\s*(.+)$", st, re.M)
                if m:
                    return m.group(1).strip()
        m = re.search(r"^License:\s*(.+)$", t, re.M)
        return m.group(1).strip() if m else "?"
    for name, pat in [
        ("GPL-3+", r"GNU General Public License.{0,80}version 3"),
        ("GPL-2+", r"GNU General Public License.{0,80}version 2"),
        ("LGPL", r"GNU Lesser General Public License|GNU Library General Public License"),
        ("BSD", r"Redistribution and use in source and binary forms"),
        ("public-domain", r"public domain"),
    ]:
        if re.search(pat, t, re.S | re.I):
            return name + " (detected in free-form copyright file)"
    return "see copyright file"


# ------------------------------------------------------------------------------------------------
# man pages

MAN_QUESTIONS = {
    "en": {"cmd": "What does the command {n} do?", "fn": "What does the function {n} do?",
           "dev": "What is the special file {n}?", "file": "What is the file {n}?", "topic": "What is {n} about?"},
    "de": {"cmd": "Was macht der Befehl {n}?", "fn": "Was macht die Funktion {n}?",
           "dev": "Was ist die Gerätedatei {n}?", "file": "Was ist die Datei {n}?", "topic": "Worum geht es in {n}?"},
    "fr": {"cmd": "Que fait la commande {n} ?", "fn": "Que fait la fonction {n} ?",
           "dev": "Qu'est-ce que le fichier spécial {n} ?", "file": "Qu'est-ce que le fichier {n} ?",
           "topic": "De quoi traite {n} ?"},
    "es": {"cmd": "¿Qué hace la orden {n}?", "fn": "¿Qué hace la función {n}?",
           "dev": "¿Qué es el archivo especial {n}?", "file": "¿Qué es el archivo {n}?", "topic": "¿De qué trata {n}?"},
}  # fmt: skip
OPTION_Q = {
    "en": "What does the option {o} of {n} do?",
    "de": "Was bewirkt die Option {o} von {n}?",
    "fr": "Que fait l'option {o} de {n} ?",
    "es": "¿Qué hace la opción {o} de {n}?",
}
OPTIONS_PER_PAGE = 6
SECTION_KIND = {
    "1": "cmd",
    "6": "cmd",
    "8": "cmd",
    "2": "fn",
    "3": "fn",
    "4": "dev",
    "5": "file",
    "7": "topic",
}

# sections that are boilerplate (authors, bug reporting, translators, colophons, cross references)
MAN_SKIP_HEADINGS = {
    "AUTHOR", "AUTHORS", "REPORTING BUGS", "SEE ALSO", "COPYRIGHT", "COLOPHON", "BUGS", "AVAILABILITY",
    "AUTOR", "AUTOREN", "FEHLER MELDEN", "SIEHE AUCH", "ÜBERSETZUNG", "KOLOPHON", "FEHLER",
    "AUTEUR", "AUTEURS", "SIGNALER DES BOGUES", "VOIR AUSSI", "TRADUCTION", "BOGUES",
    "AUTORES", "INFORMAR DE ERRORES", "VÉASE TAMBIÉN", "TRADUCCIÓN", "COLOFÓN", "ERRORES", "DISPONIBILIDAD",
}  # fmt: skip
MAN_SKIP_PAGES = {"systemd.directives", "systemd.index"}  # generated indexes, no prose
NAME_HEADINGS = {"NAME", "BEZEICHNUNG", "NOM", "NOMBRE"}


def render_man(path: str) -> str | None:
    cwd = os.path.dirname(os.path.dirname(path))  # for .so includes (man1/foo.1)
    r = subprocess.run(
        ["mandoc", "-T", "utf8", "-O", "width=1000", path], capture_output=True, cwd=cwd
    )
    if r.returncode > 2 or not r.stdout:
        return None
    return r.stdout.decode("utf-8", errors="replace")


def parse_man(text: str):
    """-> (name_line, [(heading, [paragraphs])]) from mandoc output rendered without wrapping."""
    text = re.sub(r".\x08", "", text)
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 4:
        return None, []
    lines = lines[1:-1]  # header and footer
    sections, cur = [], None
    for line in lines:
        if line and not line[0].isspace():
            cur = [line.strip(), []]
            sections.append(cur)
        elif cur is not None:
            cur[1].append(line)
    name_line, out = None, []
    for heading, body in sections:
        ind = [len(x) - len(x.lstrip()) for x in body if x.strip()]
        base = min(ind) if ind else 0
        paras, para = [], []
        for x in body:
            if not x.strip():
                if para:
                    paras.append("\n".join(para))
                    para = []
                continue
            lvl = min((len(x) - len(x.lstrip()) - base) // 7, 2)
            para.append("  " * max(lvl, 0) + re.sub(r" {2,}", " ", x.strip()))
        if para:
            paras.append("\n".join(para))
        if heading.upper() in NAME_HEADINGS and name_line is None:
            name_line = " ".join(p.strip() for p in paras)
            continue
        out.append((heading, paras))
    return name_line, out


def split_name_line(line: str):
    m = re.match(r"^(.+?)\s+[-–—‐]+\s+(.+)$", line)
    if not m:
        return None
    desc = re.sub(r"\s+", " ", m.group(2)).strip()
    if len(desc) < 8 or len(desc) > 200:
        return None
    return m.group(1).strip(), desc


def man_units(src: Sources) -> list[Unit]:
    own = src.owner_map()
    pages: dict[str, dict[str, str]] = collections.defaultdict(dict)  # "ls.1" -> lang -> path
    for lang in ["de", "fr", "es"]:
        pkg = f"manpages-{lang}"
        for p in sorted(glob.glob(f"/usr/share/man/{lang}/man*/*.gz")):
            if own.get(p) == pkg and not os.path.islink(p):
                pages[os.path.basename(p)[:-3]][lang] = p
    # English: the manpages package, and the English originals of every translated page
    for p in sorted(glob.glob("/usr/share/man/man*/*.gz")):
        base = os.path.basename(p)[:-3]
        o = own.get(p)
        if os.path.islink(p) or o is None:
            continue
        if o == "manpages" or (base in pages and src.allowed(o)):
            pages[base]["en"] = p
    units: list[Unit] = []
    seen_para: dict[str, set] = collections.defaultdict(set)
    for base in sorted(pages):
        m = re.match(r"^(.+)\.(\d)[a-z]*$", base)
        if not m:
            continue
        name, sec = m.group(1), m.group(2)
        if name in MAN_SKIP_PAGES:
            continue
        for lang in LANGS:
            path = pages[base].get(lang)
            if not path:
                continue
            pkg = own[path]
            if not src.allowed(pkg):
                continue
            txt = render_man(path)
            if not txt:
                continue
            name_line, sections = parse_man(txt)
            prefix = f"{name}({sec})\n\n"
            blocks = []
            for heading, paras in sections:
                if heading.upper() in MAN_SKIP_HEADINGS:
                    continue
                first = True
                for para in paras:
                    h = nhash(para)
                    if h in seen_para[lang]:  # boilerplate repeated across pages
                        continue
                    seen_para[lang].add(h)
                    blocks.append(heading + "\n" + para if first else para)
                    first = False
            docs = chunk_blocks([clean(b) for b in blocks], prefix)
            # option descriptions as question/answer pairs (same split key as the page text, so a
            # held-out page's options are held out too)
            opts = []
            for _heading, paras in sections:
                for para in paras:
                    mo = re.match(r"^(-{1,2}[^\s\n][^\n]{0,50})\n  (\S[^\n]*)", para)
                    if mo:
                        desc = clean(mo.group(2))
                        desc = re.split(r"(?<=[.!?])\s", desc)[0]
                        if 10 <= len(desc) <= 220:
                            opts.append((clean(mo.group(1)), desc))
            rng_o = random.Random(f"{SEED}:opt:{base}:{lang}")
            for o, desc in rng_o.sample(opts, min(OPTIONS_PER_PAGE, len(opts))):
                q = OPTION_Q[lang].format(o=o, n=name)
                units.append(
                    Unit(
                        f"man:{base}",
                        lang,
                        "computing",
                        "man",
                        "qa",
                        pair=(q, desc),
                        meta={"kind": "option"},
                    )
                )
            used = False
            if docs:
                units.append(
                    Unit(
                        f"man:{base}",
                        lang,
                        "computing",
                        "man",
                        "text",
                        docs=docs,
                        meta={"page": base},
                    )
                )
                used = True
            nl = split_name_line(name_line) if name_line else None
            if nl:
                q = MAN_QUESTIONS[lang][SECTION_KIND.get(sec, "topic")].format(n=name)
                units.append(
                    Unit(f"manname:{base}", lang, "computing", "man", "qa", pair=(q, nl[1]), band="qa",
                         meta={"page": base, "kind": SECTION_KIND.get(sec, "topic")})
                )  # fmt: skip
                used = True
            if used:
                src.use(pkg, f"man pages ({lang})")
    return units


# ------------------------------------------------------------------------------------------------
# Debian Reference (HTML)

BLOCK_TAGS = {
    "p",
    "li",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "dt",
    "dd",
    "tr",
    "title",
    "th",
    "td",
    "div",
}
PKG_Q = {
    "en": "What is the package {p} for?",
    "de": "Wozu dient das Paket {p}?",
    "fr": "À quoi sert le paquet {p} ?",
    "es": "¿Para qué sirve el paquete {p}?",
}
PKG_HEAD = {"package", "paket", "paquet", "paquete"}
DESC_HEAD = {"description", "beschreibung", "descripción"}
NOISE_COLS = {
    "popcon",
    "size",
    "größe",
    "taille",
    "tamaño",
    "popularidad",
}  # package table statistics


class DocbookText(html.parser.HTMLParser):
    """Flattens a DocBook HTML chapter into events: ("h", level, anchor, text), ("p", text),
    ("pre", text), ("row", [cells], is_header)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.events = []
        self.buf: list[str] = []
        self.pre = 0
        self.anchor = None
        self.cells: list[str] | None = None
        self.cell: list[str] | None = None
        self.row_header = False
        self.skip = 0
        self.head_level = 0

    def flush(self):
        t = "".join(self.buf)
        self.buf = []
        if self.pre:
            return
        t = re.sub(r"\s+", " ", t).strip()
        if t:
            if self.head_level:
                self.events.append(("h", self.head_level, self.anchor, t))
            else:
                self.events.append(("p", t))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style", "head"):
            self.skip += 1
            return
        if tag == "a" and a.get("id"):
            if self.anchor is None or not self.head_level:
                self.anchor = a["id"]
        if tag == "div" and a.get("class") in ("navheader", "navfooter", "toc", "list-of-tables"):
            self.skip += 1
            self._skipdiv = getattr(self, "_skipdiv", []) + [0]
            return
        if tag == "div" and getattr(self, "_skipdiv", None):
            self._skipdiv[-1] += 1
        if self.skip:
            return
        if tag == "tr":
            self.flush()
            self.cells, self.row_header = [], False
            return
        if tag in ("td", "th") and self.cells is not None:
            self.cell = []
            self.row_header = self.row_header or tag == "th"
            return
        if tag == "pre":
            self.flush()
            self.pre += 1
            self.buf = []
            return
        if tag in ("h1", "h2", "h3", "h4", "h5"):
            self.flush()
            self.head_level = int(tag[1])
            self.anchor = None
            return
        if tag == "br":
            self.buf.append("\n" if self.pre else " ")
        if tag in BLOCK_TAGS and self.cells is None:
            self.flush()

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self.skip -= 1
            return
        if tag == "div" and getattr(self, "_skipdiv", None):
            if self._skipdiv[-1] == 0:
                self._skipdiv.pop()
                self.skip -= 1
                return
            self._skipdiv[-1] -= 1
        if self.skip:
            return
        if tag in ("td", "th") and self.cell is not None and self.cells is not None:
            self.cells.append(re.sub(r"\s+", " ", "".join(self.cell)).strip())
            self.cell = None
            return
        if tag == "tr" and self.cells is not None:
            if any(self.cells):
                self.events.append(("row", self.cells, self.row_header))
            self.cells = None
            return
        if tag == "pre" and self.pre:
            t = "".join(self.buf).strip("\n")
            self.buf = []
            self.pre -= 1
            if t.strip():
                self.events.append(("pre", t))
            return
        if tag in ("h1", "h2", "h3", "h4", "h5"):
            self.flush()
            self.head_level = 0
            return
        if tag in BLOCK_TAGS and self.cells is None:
            self.flush()

    def handle_data(self, data):
        if self.skip:
            return
        if self.cell is not None:
            self.cell.append(data)
        else:
            self.buf.append(data)


def debref_units(src: Sources) -> list[Unit]:
    units = []
    for lang in LANGS:
        pkg = f"debian-reference-{lang}"
        if not src.allowed(pkg):
            raise SystemExit(f"{pkg} missing from the lock")
        files = sorted(glob.glob(f"/usr/share/debian-reference/ch*.{lang}.html")) + sorted(
            glob.glob(f"/usr/share/debian-reference/ap*.{lang}.html")
        )
        if not files:
            raise SystemExit(f"no Debian Reference HTML for {lang}: apt-get install {pkg}")
        seen_pkg = set()
        for f in files:
            p = DocbookText()
            p.feed(open(f, encoding="utf-8").read())
            p.close()
            sections: list[list] = []  # [anchor, title, blocks]
            header: list[str] | None = None
            for ev in p.events:
                if ev[0] == "h":
                    if ev[1] <= 3 or not sections:
                        sections.append(
                            [ev[2] or f"{os.path.basename(f)}:{len(sections)}", ev[3], []]
                        )
                    else:
                        sections[-1][2].append(ev[3])
                    header = None
                    continue
                if not sections:
                    continue
                if ev[0] == "row":
                    cells, is_head = ev[1], ev[2]
                    if is_head:
                        header = [c.lower() for c in cells]
                        continue
                    if (
                        header
                        and header[0] in PKG_HEAD
                        and header[-1] in DESC_HEAD
                        and len(cells) == len(header)
                    ):
                        pname, desc = cells[0], cells[-1]
                        if (
                            re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", pname)
                            and len(desc) >= 8
                            and pname not in seen_pkg
                        ):
                            seen_pkg.add(pname)
                            desc = (
                                desc[0].lower() + desc[1:]
                                if lang == "en" and desc[:2].istitle()
                                else desc
                            )
                            units.append(
                                Unit(f"debrefpkg:{pname}", lang, "computing", "debref", "qa",
                                     pair=(PKG_Q[lang].format(p=pname), desc), band="qa")
                            )  # fmt: skip
                    keep = [
                        c
                        for i, c in enumerate(cells)
                        if not header or i >= len(header) or header[i] not in NOISE_COLS
                    ]
                    sections[-1][2].append(" | ".join(c for c in keep if c))
                elif ev[0] == "pre":
                    sections[-1][2].append(ev[1])
                else:
                    sections[-1][2].append(ev[1])
            for anchor, title, blocks in sections:
                docs = chunk_blocks([clean(b) for b in blocks], clean(title) + "\n\n")
                if docs:
                    units.append(
                        Unit(f"debref:{anchor}", lang, "computing", "debref", "text", docs=docs)
                    )
        src.use(pkg, f"Debian Reference ({lang})")
    return units


# ------------------------------------------------------------------------------------------------
# fortunes

FORTUNE_DIRS = {
    "en": ("/usr/share/games/fortunes", {"art", "ascii-art"}),
    "de": ("/usr/share/games/fortunes/de", {"asciiart"}),
    "es": ("/usr/share/games/fortunes/es", set()),
}


def fortune_units(src: Sources) -> list[Unit]:
    own = src.owner_map()
    units = []
    seen = set()
    for lang, (d, skip) in FORTUNE_DIRS.items():
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if (
                os.path.islink(p)
                or not os.path.isfile(p)
                or f.endswith((".dat", ".u8"))
                or f in skip
            ):
                continue
            pkg = own.get(p)
            if pkg is None or not src.allowed(pkg):
                continue
            raw = open(p, "rb").read().decode("utf-8", errors="replace")
            n_used = 0
            for i, fort in enumerate(re.split(r"\n%\n", "\n" + raw + "\n")):
                t = clean(fort)
                if len(t) < 20:
                    continue
                letters = sum(c.isalpha() for c in t)
                if letters < 0.55 * len(t.replace(" ", "").replace("\n", "")):  # ASCII art
                    continue
                h = nhash(t)
                if h in seen:
                    continue
                seen.add(h)
                key = f"fortune:{lang}:{f}:{i}"
                qa = re.match(r"^Q:\s*(.+?)\s*\n\s*A:\s*(.+)$", t, re.S)
                if lang == "en" and qa:
                    q, a = (re.sub(r"\s+", " ", x).strip() for x in qa.groups())
                    if len(q) + len(a) < 400:
                        units.append(
                            Unit(key, lang, "humour", "fortune", "qa", pair=(q, a), band="riddle")
                        )
                        n_used += 1
                        continue
                docs = [t] if len(t) <= MAXC else chunk_blocks(t.split("\n\n"), minc=20)
                units.append(
                    Unit(key, lang, "humour", "fortune", "text", docs=docs, meta={"pack": True})
                )
                n_used += 1
            if n_used:
                src.use(pkg, f"fortunes ({lang})")
    return units


# ------------------------------------------------------------------------------------------------
# Bible (SWORD modules through diatheke)

BOOKS_EN = [
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth", "I Samuel",
    "II Samuel", "I Kings", "II Kings", "I Chronicles", "II Chronicles", "Ezra", "Nehemiah", "Esther", "Job",
    "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel",
    "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai",
    "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "I Corinthians",
    "II Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "I Thessalonians",
    "II Thessalonians", "I Timothy", "II Timothy", "Titus", "Philemon", "Hebrews", "James", "I Peter",
    "II Peter", "I John", "II John", "III John", "Jude", "Revelation of John",
]  # fmt: skip
BOOKS_ES = [
    "Génesis", "Éxodo", "Levítico", "Números", "Deuteronomio", "Josué", "Jueces", "Rut", "1 Samuel",
    "2 Samuel", "1 Reyes", "2 Reyes", "1 Crónicas", "2 Crónicas", "Esdras", "Nehemías", "Ester", "Job",
    "Salmos", "Proverbios", "Eclesiastés", "Cantares", "Isaías", "Jeremías", "Lamentaciones", "Ezequiel",
    "Daniel", "Oseas", "Joel", "Amós", "Abdías", "Jonás", "Miqueas", "Nahúm", "Habacuc", "Sofonías", "Hageo",
    "Zacarías", "Malaquías", "Mateo", "Marcos", "Lucas", "Juan", "Hechos", "Romanos", "1 Corintios",
    "2 Corintios", "Gálatas", "Efesios", "Filipenses", "Colosenses", "1 Tesalonicenses", "2 Tesalonicenses",
    "1 Timoteo", "2 Timoteo", "Tito", "Filemón", "Hebreos", "Santiago", "1 Pedro", "2 Pedro", "1 Juan",
    "2 Juan", "3 Juan", "Judas", "Apocalipsis",
]  # fmt: skip
BIBLES = {"en": ("engWEB2015eb", "sword-text-web"), "es": ("spaRV1909eb", "sword-text-sparv")}
VERSE_Q = {"en": "What does {ref} say?", "es": "¿Qué dice {ref}?"}
VERSES_QA_PER_CHAPTER = 3


def english_book_name(b: str) -> str:
    b = re.sub(r"^III ", "3 ", re.sub(r"^II ", "2 ", re.sub(r"^I ", "1 ", b)))
    return {"Revelation of John": "Revelation"}.get(b, b)


def read_bible(module: str) -> dict[tuple[int, int], list[tuple[int, str]]]:
    r = subprocess.run(
        ["diatheke", "-b", module, "-f", "OSIS", "-k", "Genesis 1:1-Revelation 22:21"],
        capture_output=True,
        check=True,
    )
    text = r.stdout.decode("utf-8", errors="replace")
    alt = "|".join(re.escape(b) for b in sorted(BOOKS_EN, key=len, reverse=True))
    rx = re.compile(rf"(?:^|\s)({alt}) (\d+):(\d+): (.*)$")
    out: dict = collections.defaultdict(list)
    for line in text.split("\n"):
        m = rx.search(line)
        if not m:
            continue
        body = m.group(4)
        body = re.sub(r"<title[^>]*>.*?</title>", " ", body)
        body = re.sub(r"<note[^>]*>.*?</note>", " ", body)
        body = re.sub(r"</w>\s*<w", "</w> <w", body)  # WEB joins some words without a space
        body = re.sub(r"([,;:.!?”’])<w", r"\1 <w", body)
        body = html.unescape(re.sub(r"<[^>]+>", "", body))
        body = re.sub(r"\s+", " ", body).strip()
        body = re.sub(r"\s+([,;:.!?])", r"\1", body)
        if body:
            out[(BOOKS_EN.index(m.group(1)), int(m.group(2)))].append((int(m.group(3)), body))
    return out


def bible_units(src: Sources) -> list[Unit]:
    units = []
    for lang, (module, pkg) in BIBLES.items():
        if not src.allowed(pkg):
            raise SystemExit(f"{pkg} missing from the lock")
        chapters = read_bible(module)
        names = [english_book_name(b) for b in BOOKS_EN] if lang == "en" else BOOKS_ES
        rng = random.Random(f"{SEED}:bible:{lang}")
        for (bi, ch), verses in sorted(chapters.items()):
            book = names[bi]
            key = f"bible:{BOOKS_EN[bi]}:{ch}"
            # running text: verses packed into documents headed by their reference range
            docs, cur, first = [], [], None
            for v, t in verses:
                if cur and sum(len(x) + 1 for x in cur) + len(t) > MAXC - 30:
                    docs.append(f"{book} {ch}:{first}-{v - 1}\n\n" + " ".join(cur))
                    cur, first = [], None
                if first is None:
                    first = v
                cur.append(t)
            if cur:
                docs.append(f"{book} {ch}:{first}-{verses[-1][0]}\n\n" + " ".join(cur))
            docs = [d for d in docs if len(d) >= MINC]
            units.append(Unit(key, lang, "religious", "bible", "text", docs=docs))
            for v, t in rng.sample(verses, min(VERSES_QA_PER_CHAPTER, len(verses))):
                if len(t) <= 300:
                    q = VERSE_Q[lang].format(ref=f"{book} {ch}:{v}")
                    units.append(Unit(key, lang, "religious", "bible", "qa", pair=(q, t)))
        src.use(pkg, f"Bible ({lang})")
        src.use("diatheke", "Bible text extraction")
    return units


# ------------------------------------------------------------------------------------------------
# licences

LICENSE_Q = "Under which licence is the package {p} distributed?"


def dep5_license_text(stanza: str) -> tuple[str, str] | None:
    m = re.search(r"^License:[ \t]*(.*)\n((?:[ \t].*\n?)*)", stanza, re.M)
    if not m:
        return None
    body = []
    for line in m.group(2).split("\n"):
        line = line[1:] if line.startswith(" ") else line
        body.append("" if line.strip() == "." else line)
    return m.group(1).strip(), "\n".join(body).strip()


def reflow(p: str) -> str:
    """Join the hard-wrapped lines of one licence paragraph (keeps list items on their own line)."""
    lines = [x.strip() for x in p.split("\n") if x.strip()]
    out = []
    for x in lines:
        if out and not re.match(r"^([-*•]|\(?[0-9a-z]{1,3}[.)])\s", x):
            out[-1] += " " + x
        else:
            out.append(x)
    return "\n".join(out)


def license_units(src: Sources) -> list[Unit]:
    units = []
    seen_para = set()
    # 1. /usr/share/common-licenses (base-files), each distinct file chunked; one split key per chunk
    seen_file = set()
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        real = os.path.realpath(f)
        t = clean(open(real, errors="replace").read())
        h = nhash(t)
        if h in seen_file:
            continue
        seen_file.add(h)
        paras = [reflow(p) for p in re.split(r"\n\s*\n", t)]
        for p in paras:
            seen_para.add(nhash(p))
        for i, d in enumerate(chunk_blocks(paras)):
            units.append(
                Unit(
                    f"license:{os.path.basename(f)}:{i}", "en", "legal", "license", "text", docs=[d]
                )
            )
    src.use("base-files", "licence texts (/usr/share/common-licenses)")
    # 2. German GPL translation shipped with fortunes-de
    p = "/usr/share/doc/fortunes-de/GPL-Deutsch.gz"
    if os.path.exists(p) and src.allowed("fortunes-de"):
        t = clean(gzip.open(p).read().decode("utf-8", errors="replace"))
        paras = [reflow(p) for p in re.split(r"\n\s*\n", t)]
        for i, d in enumerate(chunk_blocks(paras)):
            units.append(
                Unit(f"license-de:{i}", "de", "legal", "license", "text", docs=[d], band="legal-de")
            )
        src.use("fortunes-de", "German GPL translation (GPL-Deutsch)")
    # 3. /usr/share/doc/<pkg>/copyright of the locked package set: licence paragraphs (deduplicated)
    #    as running text, and the licence of "Files: *" as a question/answer pair
    pkgs = (
        sorted(src.lock["copyright_packages"]) if src.lock else sorted(os.listdir("/usr/share/doc"))
    )
    used_pkgs = []
    own = src.owner_map()
    for pkg in pkgs:
        f = f"/usr/share/doc/{pkg}/copyright"
        if not os.path.isfile(f) or os.path.islink(f) or own.get(f) != pkg:
            if src.lock:
                src.missing.append(pkg)
            continue
        t = open(f, "rb").read().decode("utf-8", errors="replace")
        if not t.strip():
            continue
        used_pkgs.append(pkg)
        blocks = []
        if t.startswith("Format:"):
            for st in re.split(r"\n[ \t]*\n(?=\S)", t):
                lt = dep5_license_text(st)
                if not lt:
                    continue
                short, body = lt
                if re.search(r"^Files:\s*\*\s*$", st, re.M) and short and len(short) < 80:
                    units.append(
                        Unit(f"copyrightqa:{pkg}", "en", "legal", "copyright", "qa",
                             pair=(LICENSE_Q.format(p=pkg), short), band="qa")
                    )  # fmt: skip
                if body:
                    blocks.extend(re.split(r"\n\s*\n", body))
        else:
            blocks = re.split(r"\n\s*\n", t)
        keep = []
        for b in blocks:
            b = reflow(clean(b))
            if len(b) < 40:
                continue
            h = nhash(b)
            if h in seen_para:
                continue
            seen_para.add(h)
            keep.append(b)
        docs = chunk_blocks(keep)
        if docs:
            units.append(Unit(f"copyright:{pkg}", "en", "legal", "copyright", "text", docs=docs))
    src.copyright_packages = used_pkgs
    return units


# ------------------------------------------------------------------------------------------------
# splitting and assembling

QA_SEP = "\n\n"


def qa_text(q: str, a: str) -> str:
    return f"Q: {q}\nA: {a}"


def pack_pairs(pairs: list[tuple[str, str]], rng: random.Random, maxc: int = QA_MAXC) -> list[str]:
    pairs = list(pairs)
    rng.shuffle(pairs)
    docs, cur = [], ""
    for q, a in pairs:
        t = qa_text(q, a)
        if cur and len(cur) + len(QA_SEP) + len(t) > maxc:
            docs.append(cur)
            cur = t
        else:
            cur = cur + QA_SEP + t if cur else t
    if cur:
        docs.append(cur)
    return [d for d in docs if len(d) >= 60]


def pack_texts(texts: list[str], rng: random.Random, maxc: int = MAXC) -> list[str]:
    """Short independent texts (fortunes) packed into documents, blank line between them."""
    texts = list(texts)
    rng.shuffle(texts)
    docs, cur = [], ""
    for t in texts:
        if cur and len(cur) + 2 + len(t) > maxc:
            docs.append(cur)
            cur = t
        else:
            cur = cur + "\n\n" + t if cur else t
    if cur:
        docs.append(cur)
    return [d for d in docs if len(d) >= 60]


@dataclass
class Doc:
    text: str
    lang: str
    domain: str
    task: str
    source: str
    u: float  # order key

    def cell(self):
        return (self.lang, self.domain, self.task)


def assign(units: list[Unit]):
    """-> pools {"train", "corpus", "eval"} of Doc, the man NAME pairs for the command multiple
    choice (per language), and held-out Q/A pairs for the Q/A multiple choice (per cell)."""
    pools = {"train": [], "corpus": [], "eval": []}
    mc_pairs: dict[str, list] = collections.defaultdict(list)
    qa_mc: dict[tuple, list] = collections.defaultdict(list)
    qa_groups: dict[tuple, list] = collections.defaultdict(list)
    pack_groups: dict[tuple, list] = collections.defaultdict(list)
    seen_pair = set()
    for un in units:
        u = u01(un.key)
        e, c = BANDS[un.band]
        if un.task == "qa":
            q, a = un.pair
            h = nhash(f"{un.lang}\x00{q}\x00{a}")
            if h in seen_pair:
                continue
            seen_pair.add(h)
            if un.key.startswith("manname:"):
                if u < MANNAME_MC:
                    mc_pairs[un.lang].append((u, un))
                    continue
                u = (u - MANNAME_MC) / (1 - MANNAME_MC)
        split = "eval" if u < e else "corpus" if u < e + c else "train"
        if un.task == "qa":
            qa_groups[(split, un.lang, un.domain, un.source)].append((u, un.pair))
        elif un.meta.get("pack"):
            for d in un.docs:
                pack_groups[(split, un.lang, un.domain, un.source)].append((u, d))
        else:
            for i, d in enumerate(un.docs):
                pools[split].append(Doc(d, un.lang, un.domain, "text", un.source, u + i * 1e-9))
    for (split, lang, domain, source), items in sorted(qa_groups.items()):
        items.sort(key=lambda x: x[0])
        pairs = [p for _, p in items]
        if split == "eval":
            k = int(len(pairs) * QA_MC_SHARE)
            qa_mc[(lang, domain, source)] = pairs[:k]
            pairs = pairs[k:]
        rng = random.Random(f"{SEED}:qa:{split}:{lang}:{domain}:{source}")
        for d in pack_pairs(pairs, rng):
            pools[split].append(Doc(d, lang, domain, "qa", source, rng.random()))
    for (split, lang, domain, source), items in sorted(pack_groups.items()):
        items.sort(key=lambda x: x[0])
        rng = random.Random(f"{SEED}:pack:{split}:{lang}:{domain}:{source}")
        for d in pack_texts([t for _, t in items], rng):
            pools[split].append(Doc(d, lang, domain, "text", source, rng.random()))
    for k in pools:
        pools[k].sort(key=lambda d: (d.u, d.text))
    return pools, mc_pairs, qa_mc


def dedupe(docs: list[Doc], taken: set) -> list[Doc]:
    out = []
    for d in docs:
        h = nhash(d.text)
        if h in taken:
            continue
        taken.add(h)
        out.append(d)
    return out


def stratified(pool: list[Doc], pred, n: int, used: set, rng: random.Random, other) -> list[Doc]:
    """Pick n unused docs matching pred, round-robin over cells keyed by `other(doc)` (sorted)."""
    cells: dict = collections.defaultdict(list)
    for i, d in enumerate(pool):
        if i not in used and pred(d):
            cells[other(d)].append(i)
    for k in cells:
        rng.shuffle(cells[k])
    keys = sorted(cells)
    picked = []
    while len(picked) < n and any(cells[k] for k in keys):
        for k in keys:
            if cells[k] and len(picked) < n:
                picked.append(cells[k].pop())
    for i in picked:
        used.add(i)
    return [pool[i] for i in picked]


def allocate(
    pool: list[Doc], specs: list[tuple], used: set, rng: random.Random, passes: int = 4
) -> dict:
    """Fill several files from one pool without replacement, in `passes` rounds (each round takes
    every file to pass/passes of its target), so that scarce cells are shared between files instead
    of going to whichever file is filled first. specs: (name, pred, n, other)."""
    got: dict[str, list[Doc]] = {name: [] for name, *_ in specs}
    for k in range(1, passes + 1):
        for name, pred, n, other in specs:
            need = round(n * k / passes) - len(got[name])
            if need > 0:
                got[name] += stratified(pool, pred, need, used, rng, other)
    return got


def dim_files():
    return (
        [("language", v) for v in LANGS]
        + [("domain", v) for v in DOMAINS]
        + [("task", v) for v in TASKS]
    )


def dim_pred(dim, value):
    attr = {"language": "lang", "domain": "domain", "task": "task"}[dim]
    return lambda d: getattr(d, attr) == value


def dim_other(dim):
    return {
        "language": lambda d: (d.domain, d.task),
        "domain": lambda d: (d.lang, d.task),
        "task": lambda d: (d.lang, d.domain),
    }[dim]


def by_scarcity(pool, files):
    return sorted(files, key=lambda f: (sum(1 for d in pool if dim_pred(*f)(d)), f))


def word_cut(s: str, pos: int) -> int:
    """Largest whitespace index <= pos (or pos)."""
    j = s.rfind(" ", 0, pos + 1)
    k = s.rfind("\n", 0, pos + 1)
    j = max(j, k)
    return j if j > 0 else pos


def continuation_items(docs: list[Doc], rng: random.Random, n: int) -> list[dict]:
    """Multiple choice: the right continuation of a held-out document among 4 (the other 3 are
    the continuations of other documents of the same set and the same language)."""
    cands = []
    for d in docs:
        t = d.text
        if len(t) < 300:
            continue
        cut = word_cut(t, min(int(len(t) * 0.6), 450))
        end = word_cut(t, cut + 110)
        ctx, cont = t[:cut], t[cut:end]
        if len(cont.strip()) < 40 or cont[:1] not in (" ", "\n"):
            continue
        cands.append((d, ctx, cont))
    items = []
    for idx, (d, ctx, cont) in enumerate(cands[:n]):
        same = [
            c
            for j, (e, _, c) in enumerate(cands)
            if j != idx and e.lang == d.lang and norm_key(c) != norm_key(cont)
        ]
        if len(same) < 3:
            continue
        distract = rng.sample(same, 3)
        choices = distract + [cont]
        rng.shuffle(choices)
        items.append({"question": ctx, "choices": choices, "answer": choices.index(cont)})
    return items


def command_items(pairs: list, lang: str, rng: random.Random, n: int) -> list[dict]:
    pairs = sorted(pairs, key=lambda x: x[0])
    # prefer commands (sections 1 and 8), then the other sections
    pairs.sort(key=lambda x: (x[1].meta["kind"] != "cmd", x[0]))
    pairs = pairs[:n]
    items = []
    for i, (_, un) in enumerate(pairs):
        q, a = un.pair
        others = [
            p.pair[1]
            for j, (_, p) in enumerate(pairs)
            if j != i and norm_key(p.pair[1]) != norm_key(a)
        ]
        distract = rng.sample(others, 3)
        choices = [" " + a] + [" " + x for x in distract]
        rng.shuffle(choices)
        items.append(
            {"question": f"Q: {q}\nA:", "choices": choices, "answer": choices.index(" " + a)}
        )
    return items


def qa_items(qa_mc: dict, rng: random.Random, n: int) -> list[dict]:
    """Multiple choice from held-out Q/A pairs of every source: the right answer among 4 (the
    others are answers of other held-out pairs of the same language and source). Round-robin over
    (language, domain, source) so that every kind of question is represented."""
    groups = {k: list(v) for k, v in sorted(qa_mc.items()) if len(v) >= 4}
    order = {k: rng.sample(range(len(v)), len(v)) for k, v in groups.items()}
    items, keys = [], sorted(groups)
    while len(items) < n and any(order[k] for k in keys):
        for k in keys:
            if not order[k] or len(items) >= n:
                continue
            i = order[k].pop()
            q, a = groups[k][i]
            others = [
                x[1] for j, x in enumerate(groups[k]) if j != i and norm_key(x[1]) != norm_key(a)
            ]
            others = list(dict.fromkeys(others))
            if len(others) < 3:
                continue
            choices = [" " + a] + [" " + x for x in rng.sample(others, 3)]
            rng.shuffle(choices)
            items.append(
                {"question": f"Q: {q}\nA:", "choices": choices, "answer": choices.index(" " + a)}
            )
    return items


def write_jsonl(path: Path, rows: list[dict]):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def composition(docs: list[Doc]) -> dict:
    c = collections.Counter(f"{d.lang}/{d.domain}/{d.task}" for d in docs)
    return dict(sorted(c.items()))


# ------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default=str(HERE / "data"))
    ap.add_argument(
        "--relock", action="store_true", help="derive the package list from this machine"
    )
    ap.add_argument(
        "--train-only", action="store_true",
        help="regenerate only train.jsonl; packages of the lock that are missing here are skipped with a warning "
        "(the split is per source unit, so held-out units stay held out), and the new training text is checked "
        "against the committed corpora and eval files",
    )  # fmt: skip
    args = ap.parse_args()
    out = Path(args.out)
    lock_path = out / "sources.json"
    lock = None
    if lock_path.exists() and not args.relock:
        lock = json.loads(lock_path.read_text())
        lock = {"packages": set(lock["packages"]), "copyright_packages": lock["copyright_packages"]}
        print(f"using the package lock {lock_path} ({len(lock['packages'])} packages)")
    src = Sources(lock)
    src.copyright_packages = []

    units = []
    for name, fn in [("man", man_units), ("debref", debref_units), ("fortune", fortune_units),
                     ("bible", bible_units), ("licences", license_units)]:  # fmt: skip
        us = fn(src)
        n_docs = sum(len(x.docs) for x in us)
        n_pairs = sum(1 for x in us if x.pair)
        print(
            f"{name:9s}: {len(us):6d} units, {n_docs:6d} text docs, {n_pairs:6d} Q/A pairs",
            flush=True,
        )
        units += us

    pools, mc_pairs, qa_mc = assign(units)

    # ---------------- eval sets
    rng = random.Random(SEED)
    taken: set = set()  # normalized hashes of every document already placed
    ev = dedupe(pools["eval"], taken)
    used: set = set()
    eval_files: dict[str, list[Doc]] = {}
    # specific cells first (small), then dimensions by scarcity, then the general set
    cell_counts = collections.Counter(d.cell() for d in ev)
    print(
        "eval pool:",
        dict(sorted(collections.Counter("-".join(c) for c in cell_counts.elements()).items())),
    )
    for cell in sorted(cell_counts):
        if cell_counts[cell] >= MIN_CELL:
            lang, domain, task = cell
            n = min(N_CELL, cell_counts[cell] // 3)  # leave two thirds for the dimension sets
            docs = stratified(ev, lambda d, c=cell: d.cell() == c, n, used, rng, lambda d: d.source)
            eval_files[f"ppl-cell-{lang}-{domain}-{task}"] = docs
    specs = []
    for dim, value in by_scarcity(ev, dim_files()):
        specs.append((f"ppl-{dim}-{value}", dim_pred(dim, value), N_PPL, dim_other(dim)))
    specs.append(("ppl-general", lambda d: True, N_PPL_GENERAL, lambda d: d.cell()))
    # continuation multiple choice: from running-text documents only (the Q/A multiple choice is
    # built from held-out pairs instead)
    for dim, value in by_scarcity(ev, dim_files()):
        if (dim, value) != ("task", "qa"):
            pred = dim_pred(dim, value)
            specs.append(
                (
                    f"mc-{dim}-{value}",
                    lambda d, p=pred: p(d) and d.task == "text",
                    N_MC + 40,
                    dim_other(dim),
                )
            )
    specs.append(("mc-general", lambda d: d.task == "text", N_MC + 60, lambda d: d.cell()))
    got = allocate(ev, specs, used, rng)
    mc_files: dict[str, list[dict]] = {}
    for lang in LANGS:
        mc_files[f"mc-command-{lang}"] = command_items(
            mc_pairs[lang], lang, random.Random(f"{SEED}:mc:{lang}"), N_MC
        )
    mc_files["mc-task-qa"] = qa_items(qa_mc, random.Random(f"{SEED}:mc:qa"), N_MC)
    for name, docs in got.items():
        if name.startswith("ppl-"):
            eval_files[name] = docs
        else:
            mc_files[name] = continuation_items(docs, random.Random(f"{SEED}:{name}"), N_MC)

    # ---------------- dimension corpora
    co = dedupe(pools["corpus"], taken)
    cused: set = set()
    specs = [
        ((dim, value), dim_pred(dim, value), N_CORPUS, dim_other(dim))
        for dim, value in by_scarcity(co, dim_files())
    ]
    corpora: dict[tuple, list[Doc]] = allocate(co, specs, cused, rng)

    # ---------------- training text (caps per source and language)
    tr = dedupe(pools["train"], taken)
    cap_used: collections.Counter = collections.Counter()
    train = []
    for d in tr:  # already in split-hash order: a cap keeps a uniform sample
        cap = TRAIN_CAP.get((d.source, d.lang))
        if d.task == "text" and cap is not None:
            if cap_used[(d.source, d.lang)] >= cap:
                continue
            cap_used[(d.source, d.lang)] += len(d.text)
        train.append(d)
    rng_t = random.Random(f"{SEED}:train")
    rng_t.shuffle(train)

    # ---------------- overlap checks
    h_train = [nhash(d.text) for d in train]
    h_corp = [nhash(d.text) for v in corpora.values() for d in v]
    h_eval = [nhash(d.text) for v in eval_files.values() for d in v]
    assert len(set(h_train)) == len(h_train), "duplicate documents in train"
    assert len(set(h_corp)) == len(h_corp), "duplicate documents across the dimension corpora"
    assert len(set(h_eval)) == len(h_eval), "duplicate documents across the eval sets"
    assert not set(h_train) & set(h_corp), "train/corpora overlap"
    assert not set(h_train) & set(h_eval), "train/eval overlap"
    assert not set(h_corp) & set(h_eval), "corpora/eval overlap"

    # question/answer pairs: none of a held-out pair, or an MC item, appears in training
    def pairs_of(docs):
        s = set()
        for d in docs:
            if d.task == "qa":
                for blk in d.text.split(QA_SEP):
                    s.add(nhash(blk))
        return s

    p_train = pairs_of(train)
    p_held = pairs_of([d for v in corpora.values() for d in v]) | pairs_of(
        [d for v in eval_files.values() for d in v]
    )
    assert not p_train & p_held, (
        f"{len(p_train & p_held)} Q/A pairs shared by train and held-out sets"
    )
    mc_pair_h = set()
    for k, items in mc_files.items():
        if k.startswith("mc-command-"):
            for it in items:
                mc_pair_h.add(nhash(it["question"] + it["choices"][it["answer"]]))
    assert not p_train & mc_pair_h, "a multiple-choice command item is a training pair"
    train_text = "\n\x00\n".join(d.text for d in train)
    # continuation items: their documents are held out by construction; count how many have the
    # first 120 characters of the context plus the right continuation's start in training text
    n_cont_in_train = sum(
        1 for k, items in mc_files.items() if not k.startswith(("mc-command-", "mc-task-qa"))
        for it in items if len(it["question"]) >= 120 and it["question"][-120:] + it["choices"][it["answer"]][:20] in train_text
    )  # fmt: skip
    leaks = 0
    for k, items in mc_files.items():
        if k.startswith("mc-command-"):
            for it in items:
                q = it["question"][3:].split("\n")[0]
                if (q + "\nA:" + it["choices"][it["answer"]]) in train_text:
                    leaks += 1
    assert leaks == 0, f"{leaks} command items appear verbatim in train"
    n_desc_in_train = sum(
        1 for k, items in mc_files.items() if k.startswith("mc-command-")
        for it in items if it["choices"][it["answer"]].strip() in train_text
    )  # fmt: skip
    print(
        f"overlap checks passed; {n_desc_in_train} command descriptions occur somewhere in train as plain text; "
        f"{n_cont_in_train} continuation items have their context end + answer start in train"
    )

    if args.train_only:
        committed = set()
        for p in sorted(out.glob("corpora/*/*.jsonl")) + sorted(out.glob("eval/ppl-*.jsonl")):
            committed |= {nhash(json.loads(line)["text"]) for line in open(p, encoding="utf-8")}
        assert committed, "no committed corpora/eval files to check against"
        bad = committed & set(h_train)
        assert not bad, f"{len(bad)} training documents are in the committed corpora/eval files"
        write_jsonl(
            out / "train.jsonl",
            [
                {
                    "text": d.text,
                    "lang": d.lang,
                    "domain": d.domain,
                    "task": d.task,
                    "source": d.source,
                }
                for d in train
            ],
        )
        sha = sha256_file(out / "train.jsonl")
        want = json.loads((out / "manifest.json").read_text())["files"]["train.jsonl"]["sha256"]
        print(
            f"train.jsonl: {len(train)} docs, sha256 {sha}: {'identical to' if sha == want else 'DIFFERS from'} the manifest's"
        )
        if src.missing:
            print(
                f"WARNING: {len(src.missing)} locked packages missing here: {' '.join(sorted(set(src.missing)))}"
            )
        return

    if src.missing:
        raise SystemExit(
            f"{len(src.missing)} locked packages are missing: {' '.join(sorted(set(src.missing)))}\n"
            "install them, or use --train-only to regenerate only the training text"
        )

    # ---------------- write
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"seed": SEED, "salt": SALT, "max_chars": MAXC, "files": {}}
    for (dim, value), docs in sorted(corpora.items()):
        p = out / "corpora" / dim / f"{value}.jsonl"
        write_jsonl(p, [{"text": d.text} for d in docs])
    for name, docs in sorted(eval_files.items()):
        write_jsonl(out / "eval" / f"{name}.jsonl", [{"text": d.text} for d in docs])
    for name, items in sorted(mc_files.items()):
        write_jsonl(out / "eval" / f"{name}.jsonl", items)
    write_jsonl(
        out / "train.jsonl",
        [
            {"text": d.text, "lang": d.lang, "domain": d.domain, "task": d.task, "source": d.source}
            for d in train
        ],
    )

    def entry(p: Path, docs=None, items=None):
        e = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        if docs is not None:
            e.update(
                docs=len(docs), chars=sum(len(d.text) for d in docs), composition=composition(docs)
            )
        if items is not None:
            e.update(items=len(items))
        return e

    for (dim, value), docs in sorted(corpora.items()):
        manifest["files"][f"corpora/{dim}/{value}.jsonl"] = entry(
            out / "corpora" / dim / f"{value}.jsonl", docs
        )
    for name, docs in sorted(eval_files.items()):
        manifest["files"][f"eval/{name}.jsonl"] = entry(out / "eval" / f"{name}.jsonl", docs)
    for name, items in sorted(mc_files.items()):
        manifest["files"][f"eval/{name}.jsonl"] = entry(out / "eval" / f"{name}.jsonl", items=items)
    manifest["files"]["train.jsonl"] = entry(out / "train.jsonl", train)
    manifest["train_by_source"] = dict(
        sorted(collections.Counter(f"{d.source}/{d.lang}/{d.task}" for d in train).items())
    )
    manifest["train_chars_by_source"] = dict(
        sorted(
            collections.Counter(
                {k: sum(len(d.text) for d in train if f"{d.source}/{d.lang}/{d.task}" == k)
                 for k in {f"{d.source}/{d.lang}/{d.task}" for d in train}}
            ).items()
        )
    )  # fmt: skip
    manifest["pools"] = {k: len(v) for k, v in pools.items()}
    manifest["mc_pairs_available"] = {k: len(v) for k, v in sorted(mc_pairs.items())}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    sources = src.describe()
    r = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Version}\n", *src.copyright_packages],
        capture_output=True,
        text=True,
    )
    cversions = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    sha = sha256_file(out / "train.jsonl")
    lock_out = {
        "note": "packages used by make_corpus.py; with this file present the script uses exactly these "
        "(--relock re-derives the lists from the machine)",
        "apt_packages": APT_PACKAGES,
        "packages": sorted(sources),
        "copyright_packages": src.copyright_packages,
        "train_sha256": sha,
        "details": sources,
        "copyright_versions": cversions,
    }
    if lock is not None:
        old = json.loads(lock_path.read_text())
        for pkg, d in sources.items():
            od = old["details"].get(pkg)
            if od and od["version"] != d["version"]:
                print(
                    f"WARNING: {pkg} is {d['version']} here, {od['version']} in the lock: output may differ"
                )
        missing = set(old["packages"]) - set(sources)
        if missing:
            raise SystemExit(f"locked packages contributed nothing here: {sorted(missing)}")
        if old.get("train_sha256", sha) != sha:
            print("WARNING: train.jsonl differs from the one recorded in sources.json")
    lock_path.write_text(json.dumps(lock_out, indent=1, ensure_ascii=False) + "\n")

    # ---------------- summary
    print("\nfile                                   docs/items    chars")
    for k, e in manifest["files"].items():
        n = e.get("docs", e.get("items"))
        print(f"  {k:38s} {n:8d} {e.get('chars', 0):10d}")
    print(
        f"train: {len(train)} docs, {sum(len(d.text) for d in train) / 1e6:.2f} M chars, sha256 {manifest['files']['train.jsonl']['sha256']}"
    )


if __name__ == "__main__":
    main()
