"""What `cusprun export` reads: a Hugging Face folder, a local hub-cache id or a GGUF file.

Every refusal is a `CusprunError` naming the input and what to do. Loading goes through
transformers (GGUF files dequantised to fp32 by the `gguf` package), offline only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..session import CusprunError
from .graph import first_line

#: config.json model_type values of the decoder families cusprun maps (src/engine/arch).
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma3_text", "gpt2")
#: GGUF general.architecture values whose transformers model is one of FAMILIES.
GGUF_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3", "gpt2")
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Found:
    """An input that passed every check that needs no weights."""

    folder: Path
    #: the .gguf file's name in `folder`, or None for a Hugging Face folder
    gguf_name: str | None
    model_type: str
    #: what is read: the folder, or the .gguf file
    path: Path


@dataclass
class Loaded:
    """A model ready to export: eager attention, fp32, eval mode, no quantizer attached."""

    model: object  # transformers PreTrainedModel
    tokenizer: object  # transformers tokenizer


def find(source: str | os.PathLike) -> Found:
    """Checks `source`: a folder with config.json, a .gguf file, or an id in the local hub cache."""
    folder, gguf_name = _resolve(source)
    if gguf_name is None:
        return Found(folder, None, _folder_model_type(folder), folder)
    path = folder / gguf_name
    return Found(folder, gguf_name, _gguf_model_type(path), path)


def _resolve(source: str | os.PathLike) -> tuple[Path, str | None]:
    """(folder, GGUF file name or None) for a folder, a .gguf file or a hub-cache id."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve(), None
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise CusprunError(
                f"{path}: not a model: pass a Hugging Face model folder (with config.json), "
                "a .gguf file, or a model id in the local Hugging Face cache"
            )
        return path.resolve().parent, path.name
    if path.suffix.lower() == ".gguf" or str(source).startswith((".", "/", "~")):
        raise CusprunError(f"{path}: no such file or folder")
    return _from_hub_cache(str(source)), None


def _from_hub_cache(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError):
        raise CusprunError(
            f"{repo_id}: no such file or folder, nor a model in the local Hugging Face cache "
            "($HF_HUB_CACHE): pass a model folder or a .gguf file, or download the model into "
            "the cache first (cusprun export never downloads)"
        ) from None


def _folder_model_type(folder: Path) -> str:
    config = folder / "config.json"
    if not config.is_file():
        ggufs = sorted(p.name for p in folder.glob("*.gguf"))
        hint = (
            f"pass the .gguf file itself ({folder / ggufs[0]})" if ggufs else "pass a model folder"
        )
        raise CusprunError(f"{config}: missing: not a Hugging Face model folder; {hint}")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (ValueError, UnicodeDecodeError, AttributeError) as error:
        raise CusprunError(f"{config}: not a JSON object ({error})") from None
    if model_type not in FAMILIES:
        raise CusprunError(
            f"{config}: model_type '{model_type}': not a decoder family cusprun prunes "
            f"({', '.join(FAMILIES)})"
        )
    return model_type


def _gguf_model_type(path: Path) -> str:
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise CusprunError(f"{path}: not a GGUF file (no GGUF magic at its start)")
    from gguf import GGUFReader

    try:
        field = GGUFReader(path).fields.get("general.architecture")
        arch = field.contents() if field is not None else None
    except (ValueError, IndexError, OSError) as error:
        raise CusprunError(f"{path}: a damaged GGUF file ({error})") from None
    if arch not in GGUF_ARCHITECTURES:
        raise CusprunError(
            f"{path}: general.architecture '{arch}': cusprun export reads GGUF files of "
            f"{', '.join(GGUF_ARCHITECTURES)}; convert the model to one of them, or export a "
            "Hugging Face folder"
        )
    return {"gemma3": "gemma3_text"}.get(arch, arch)


def load(found: Found) -> Loaded:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"local_files_only": True}
    if found.gguf_name is not None:
        kwargs["gguf_file"] = found.gguf_name
    try:
        tokenizer = AutoTokenizer.from_pretrained(found.folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            found.folder, dtype=torch.float32, attn_implementation="eager", **kwargs
        )
    except (OSError, ValueError, KeyError) as error:
        raise CusprunError(
            f"{found.path}: transformers cannot load it ({type(error).__name__}: "
            f"{first_line(error)})"
        ) from None
    if found.gguf_name is not None:
        model = _without_quantizer(model)
    return Loaded(model.eval(), tokenizer)


def _without_quantizer(model):
    """The same weights in a plain model: a GGUF-loaded one keeps its quantizer (and refuses to
    be serialised); a model rebuilt from its config, minus quantization_config, does not."""
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(model).__name__]
    plain = type(model)(config)
    plain.load_state_dict(model.state_dict())
    plain.generation_config = model.generation_config
    return plain
