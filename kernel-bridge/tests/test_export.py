"""`cusprun export` end to end, through the console script: a tiny random Llama saved as a Hugging
Face folder, and the same weights and tokenizer written here as a GGUF file with the gguf
package's writer. Each export passes its own onnxruntime-vs-torch check, `cusprun inspect` maps
it, and the folder and the GGUF give the same logits; bad inputs are one line and exit status 1.
"""

import importlib.util
import json
import os
import shutil
import subprocess

import pytest
from cusprun.export.api import EXTRA_MODULES, INSTALL_EXTRA, RECORD_FILE
from kernel_helpers import ROOT, SIDECAR_JS

MISSING = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
pytestmark = [
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"the export extra is not installed (no {', '.join(MISSING)}): {INSTALL_EXTRA}",
    ),
    pytest.mark.skipif(
        not SIDECAR_JS.is_file() or shutil.which("npm") is None,
        reason="needs npm and the built CLI (npm run build:node) for cusprun inspect",
    ),
]

LAYERS, HIDDEN, FFN, HEADS, KV_HEADS = 2, 48, 80, 6, 2
ROPE_THETA = 100_000.0  # not the default 10,000: an export that loses it fails the comparison
TEXTS = ["The capital of France is Paris.", "def add(a, b):\n    return a + b", "Der Hund schläft."]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env}
    return subprocess.run(args, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def export(console: str, source, out, *options: str) -> str:
    done = run([console, "export", str(source), "--out", str(out), *options])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out} (llama, "), done.stdout
    assert "max |logit difference| onnxruntime vs torch" in done.stdout
    return done.stdout


def inspect(folder) -> str:
    done = run(["npm", "run", "-s", "cusprun", "--", "inspect", str(folder)])
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def console(venv_bin) -> str:
    script = venv_bin / "cusprun"
    assert script.is_file(), f"{script}: the package's console script is not installed"
    return str(script)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random Llama with a byte-level BPE tokenizer that adds <s>: (folder, .gguf path)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("tiny")
    backend = train_tokenizer()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")
    config = LlamaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=128,
        rope_theta=ROPE_THETA,
        bos_token_id=0,
        eos_token_id=1,
        tie_word_embeddings=False,
    )
    torch.manual_seed(17)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # norms of all ones would hide a lost norm weight
            parameter.add_(torch.randn(parameter.shape) * 0.05)
    folder = root / "hf"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    gguf_path = root / "tiny-llama.gguf"
    write_gguf(gguf_path, model, backend)
    return folder, gguf_path


def train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TEXTS * 4, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    return tokenizer


def write_gguf(path, model, tokenizer) -> None:
    """The GGUF llama.cpp's converter would write for this model: F32 tensors under GGUF names,
    q/k rows in llama.cpp's rotary order, the BPE vocabulary with its merges."""
    import gguf

    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_rope_freq_base(ROPE_THETA)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([3 if token in ("<s>", "</s>") else 1 for token, _ in vocab])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    writer.add_add_bos_token(True)
    for name, tensor in model.state_dict().items():
        writer.add_tensor(gguf_name(name), gguf_order(name, tensor.numpy()))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


GGUF_NAMES = {
    "model.embed_tokens": "token_embd",
    "model.norm": "output_norm",
    "lm_head": "output",
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_name(name: str) -> str:
    module = name.removesuffix(".weight")
    if module.startswith("model.layers."):
        layer, rest = module.removeprefix("model.layers.").split(".", 1)
        return f"blk.{layer}.{GGUF_NAMES[rest]}.weight"
    return f"{GGUF_NAMES[module]}.weight"


def gguf_order(name: str, weight):
    """q and k rows as llama.cpp stores them (rotary halves interleaved); transformers undoes it."""
    heads = HEADS if "q_proj" in name else KV_HEADS if "k_proj" in name else None
    if heads is None:
        return weight
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, -1).swapaxes(1, 2).reshape(weight.shape)


def logits(folder, ids: list[int]):
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {"input_ids": np.array([ids]), "attention_mask": np.ones((1, len(ids)), np.int64)}
    return session.run(["logits"], feed)[0]


def test_a_folder_and_its_gguf_export_to_the_same_checked_model(console, tiny, tmp_path):
    import numpy as np

    folder, gguf_path = tiny
    export(console, folder, tmp_path / "from-folder")
    export(console, gguf_path, tmp_path / "from-gguf")
    for out in (tmp_path / "from-folder", tmp_path / "from-gguf"):
        mapped = inspect(out)
        assert "family   llama (config.json model_type 'llama')" in mapped
        assert "KV cache: no" in mapped and "pruning: ready" in mapped
        assert f"{LAYERS} layers, hidden {HIDDEN}" in mapped
        # the BOS the tokenizer adds (a post-processor here, add_bos_token in the GGUF) is
        # written where cusprun's Node side reads it
        tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
        assert tokenizer_config["add_bos_token"] is True
        assert tokenizer_config["bos_token"] == "<s>"
        record = json.loads((out / RECORD_FILE).read_text())
        assert record["check"]["max_diff"] <= record["check"]["bound"]
    ids = [0, 5, 77, 120, 3, 9, 200]
    a, b = logits(tmp_path / "from-folder", ids), logits(tmp_path / "from-gguf", ids)
    assert np.abs(a).max() > 0.1
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_kv_export_in_float16(console, tiny, tmp_path):
    folder, _ = tiny
    out = tmp_path / "kv16"
    summary = export(console, folder, out, "--kv", "--dtype", "float16")
    assert "with KV cache, float16" in summary
    mapped = inspect(out)
    assert "float16, external data: no, KV cache: yes" in mapped
    assert f"past_key_values.{LAYERS - 1}.value float16[batch, {KV_HEADS}, past_sequence, 8]" in (
        mapped
    )
    assert "pruning: ready" in mapped


def test_an_earlier_export_is_replaced_only_when_asked(console, tiny, tmp_path):
    folder, _ = tiny
    out = tmp_path / "out"
    export(console, folder, out)
    again = run([console, "export", str(folder), "--out", str(out)])
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr.endswith(
        f"cusprun: {out}: holds an earlier export: pass --overwrite to replace it\n"
    )
    export(console, folder, out, "--overwrite")


def test_a_failed_check_is_one_line_and_writes_nothing(console, tiny, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, _ = tiny
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.lm_head.weight.mul_(1e5)  # logits far past float16's 65,504
    loud = tmp_path / "loud"
    model.save_pretrained(loud)
    AutoTokenizer.from_pretrained(folder).save_pretrained(loud)
    out = tmp_path / "out"
    done = run([console, "export", str(loud), "--dtype", "float16", "--out", str(out)])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == (
        f"cusprun: {out / 'model.onnx'}: non-finite logits (inf or NaN) on the check prompts: "
        "the model overflows in this dtype; export it as float32"
    )
    assert list(tmp_path.iterdir()) == [loud]  # no output, no staging folder left


def test_a_model_id_from_the_local_hub_cache(console, tiny, tmp_path):
    folder, _ = tiny
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-llama"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    cache = str(tmp_path / "hub")
    out = tmp_path / "out"
    done = run([console, "export", "tiny-org/tiny-llama", "--out", str(out)], HF_HUB_CACHE=cache)
    assert done.returncode == 0, done.stderr
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["source"] == str(repo / "snapshots" / revision)
    # an id that is not there: cusprun export never downloads
    other = ["tiny-org/other", "--out", str(tmp_path / "other")]
    done = run([console, "export", *other], HF_HUB_CACHE=cache)
    assert done.returncode == 1
    assert done.stderr.startswith(
        "cusprun: tiny-org/other: no such file or folder, nor a model in the local Hugging Face "
    )
    assert len(done.stderr.splitlines()) == 1


def bad_inputs(tmp_path) -> dict:
    text = tmp_path / "notes.gguf"
    text.write_text("not a model\n")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me\n")
    missing = tmp_path / "missing"
    return {
        "missing": ([str(missing)], f"{missing}: no such file or folder"),
        "text-gguf": ([str(text)], f"{text}: not a GGUF file (no GGUF magic at its start)"),
        "unsupported": (
            [str(bert)],
            f"{bert / 'config.json'}: model_type 'bert': not a decoder family cusprun prunes",
        ),
        "no-config": ([str(busy)], f"{busy / 'config.json'}: missing: not a Hugging Face model"),
        "dtype": ([str(bert), "--dtype", "int8"], "argument --dtype: invalid choice: 'int8'"),
    }


@pytest.mark.parametrize("case", ["missing", "text-gguf", "unsupported", "no-config", "dtype"])
def test_a_bad_input_is_one_line(console, tmp_path, case):
    args, message = bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    done = run([console, "export", *args, "--out", str(out)])
    assert done.returncode == (2 if case == "dtype" else 1), done
    assert done.stdout == "" and not out.exists()
    errors = [line for line in done.stderr.splitlines() if line.startswith("cusprun:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_an_output_folder_holding_other_files_is_refused(console, tiny, tmp_path):
    folder, _ = tiny
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me\n")
    done = run([console, "export", str(folder), "--out", str(busy)])
    assert done.returncode == 1
    assert f"cusprun: {busy}: not empty and not a cusprun export" in done.stderr
    assert [p.name for p in busy.iterdir()] == ["mine.txt"]
