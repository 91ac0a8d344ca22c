"""Action task data and training: jsonl splits -> tokenizer -> `lm_pretrain` -> `finetune`.

    splits = stage.load_splits(config)                 # train / eval examples, split info
    tok = stage.prepare_tokenizer(workdir, config, splits.train, extra_texts)
    model = stage.run(workdir, config, tok, splits.train, extra_texts)

Examples are `bos command sep action eos` (tokenizer.encode_example), padded with pad (id 0)
to the longest one. Both stages are `pipeline.training.Stage`s (resumable, deterministic for a
seed):
  * `lm_pretrain`: a causal LM on unlabeled text, `bos text eos` for each training command,
    each training action and each line of `data.extra_text_files`; loss on every real token;
  * `finetune`: command -> action from the pretrained weights (or fresh ones), the loss on the
    action tokens and eos only: every target up to and including sep carries weight 0
    (`finetune_arrays`), so the model never learns to write commands.
"""

import dataclasses
import functools
import json
import os
import random
import re

import numpy as np

from pipeline.errors import UserError
from pipeline.tasks.action import actions
from pipeline.tasks.action import tokenizer as bpe

PRETRAIN, FINETUNE = "lm_pretrain", "finetune"
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "data",
                           "assistant_intents")
_FIELDS = ("text", "label", "lang", "action")


@dataclasses.dataclass
class Example:
    text: str
    label: str
    lang: str
    action: str


@dataclasses.dataclass
class Splits:
    train: list
    eval: list  # the test split, or the validation part of train (data.validation_fraction)
    info: dict


def data_dir(config) -> str:
    return config.data.dir or SHIPPED_DIR


def read_examples(path: str) -> list:
    """The rows of one jsonl file; UserError naming the file and line of a bad row (missing
    field, or an action that does not parse and validate against its command)."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found (set --config.data.dir to the folder holding "
                        "train.jsonl and test.jsonl)")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                missing = [k for k in _FIELDS if not isinstance(row.get(k), str)]
                if missing:
                    raise ValueError(f"no text field {', '.join(missing)}")
                actions.validate(row["action"], row["text"])
            except (ValueError, AttributeError) as e:
                raise UserError(f"{path}:{n}: {e}") from None
            rows.append(Example(*(row[k] for k in _FIELDS)))
    if not rows:
        raise UserError(f"{path}: no examples")
    return rows


def _seeded_subset(rows: list, limit: int, seed: int) -> list:
    if not limit or len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def load_splits(config) -> Splits:
    """Train and evaluation examples as `config.data` names them (seeded subsets, seeded
    validation part of train held out per label and language)."""
    from pipeline.data import stratified_split

    d, folder = config.data, data_dir(config)
    train = read_examples(os.path.join(folder, d.train_file))
    info = {"method": "given", "dir": folder}
    if d.validation_fraction > 0:
        keep, held = stratified_split([f"{r.label}/{r.lang}" for r in train],
                                      d.validation_fraction, config.seed)
        evaluation = [train[i] for i in held]
        train = [train[i] for i in keep]
        info = {"method": "validation", "seed": config.seed,
                "validation_fraction": d.validation_fraction, "dir": folder}
    else:
        evaluation = read_examples(os.path.join(folder, d.test_file))
    train = _seeded_subset(train, d.max_train_examples, config.seed)
    evaluation = _seeded_subset(evaluation, d.max_test_examples, config.seed + 1)
    info.update(train_examples=len(train), eval_examples=len(evaluation))
    return Splits(train, evaluation, info)


def read_extra_texts(file_list: str) -> list:
    from pipeline.data import check_extra_text_files
    from pipeline.data.readers import read_text

    check_extra_text_files(file_list)
    texts = []
    for path in filter(None, (p.strip() for p in file_list.split(","))):
        texts += [line.strip() for line in read_text(path).split("\n") if line.strip()]
    return texts


def prepare_tokenizer(workdir: str, config, train: list, extra_texts=()):
    """The workdir's tokenizer (vocabulary.json, merges.txt): the pretrained model's own
    (`model.pretrained`, copied the first time), or else trained on the training commands and
    actions (and the extra texts) the first time."""
    from pipeline.tasks.action import pretrained

    if config.model.pretrained:
        pretrained.copy_tokenizer(config.model.pretrained, workdir)
    elif not os.path.exists(os.path.join(workdir, bpe.VOCAB_FILENAME)):
        texts = [r.text for r in train] + [r.action for r in train] + list(extra_texts)
        tok = bpe.train(texts, config.tokenizer.vocabulary_size,
                        config.tokenizer.min_frequency, seed=config.seed)
        tok.save(workdir)
    return bpe.load(workdir)


def pad(sequences, length: int) -> np.ndarray:
    out = np.zeros((len(sequences), length), np.int32)  # pad id 0
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return out


def _check_fits(sequences, config, what: str) -> None:
    longest = max(len(s) for s in sequences)
    if longest > config.model.max_length:
        raise UserError(f"--config.model.max_length={config.model.max_length}: the longest "
                        f"{what} is {longest} tokens; raise it")


_SYLLABLES = ("ka", "lo", "mi", "ra", "ne", "zu", "ti", "vo", "sha", "ren", "dra", "el", "an",
              "or", "qui", "bé", "lü", "ño", "ç", "ø", "ä", "wen", "x", "y", "th", "gr")


def _synthetic_value(rng: random.Random, old: str, lang: str, words: list, chars: list) -> str:
    """A value no training command contains: for Chinese 1-4 characters drawn from the
    training commands' own; else 1-3 words, each a training word or a made-up one (accents
    included), capitalised as `old` is. Digits in `old` become other digits."""
    if any(c.isdigit() for c in old) and rng.random() < 0.5:
        return "".join(str(rng.randrange(10)) if c.isdigit() else c for c in old)
    if lang == "zh" and chars:
        return "".join(rng.choice(chars) for _ in range(rng.randint(1, 4)))
    picked = []
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        word = (rng.choice(words) if words and rng.random() < 0.5 else
                "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))))
        picked.append(word.capitalize() if old[:1].isupper() else word)
    return " ".join(picked)


def swap_values(examples: list, copies: int, seed: int, synthetic: float = 0.0) -> list:
    """`copies` new examples per example with verbatim slots: each verbatim value (written
    once in its command) swapped for the value of the same slot in another training example of
    the same language, or, with probability `synthetic`, for a made-up one
    (`_synthetic_value`), in the command and the action alike. Why: a value the context
    cannot predict can only be copied, so the model learns to copy rather than to recall the
    training values. Copies that no longer validate are dropped."""
    from pipeline.tasks.action.schema import SCHEMA

    verbatim = {i: {s.name for s in slots if s.kind == "verbatim"} for i, slots in SCHEMA.items()}
    pools = {}
    for ex in examples:
        parsed = actions.parse_action(ex.action)
        for name, value in parsed["slots"].items():
            if name in verbatim[parsed["intent"]]:
                pools.setdefault((ex.lang, parsed["intent"], name), []).append(value)
    pools = {k: sorted(set(v)) for k, v in pools.items()}
    words = sorted({w for ex in examples if ex.lang != "zh" for w in re.findall(r"[^\W\d_]+",
                                                                             ex.text)})
    chars = sorted({c for ex in examples if ex.lang == "zh" for c in ex.text
                    if "\u4e00" <= c <= "\u9fff"})
    rng, out = random.Random(seed), []
    for ex in examples:
        parsed = actions.parse_action(ex.action)
        names = [n for n in parsed["slots"] if n in verbatim[parsed["intent"]]]
        if not names:
            continue
        for _ in range(copies):
            text, slots = ex.text, dict(parsed["slots"])
            for name in names:
                old, pool = slots[name], pools[(ex.lang, parsed["intent"], name)]
                new = (_synthetic_value(rng, old, ex.lang, words, chars)
                       if rng.random() < synthetic else pool[rng.randrange(len(pool))])
                if text.count(old) == 1 and not any(
                        old in str(v) or str(v) in old for n, v in slots.items() if n != name):
                    text, slots[name] = text.replace(old, new), new
            action = actions.format_action({"intent": parsed["intent"], "slots": slots})
            if text != ex.text and not actions.problems(action, text):
                out.append(Example(text, ex.label, ex.lang, action))
    return out


def finetune_arrays(tok, examples, config) -> tuple:
    """(inputs, targets, weights) [N, T]: `prompt action eos` shifted by one (the prompt:
    `bos cmd sep`, or a pretrained model's ChatML turn); the weight is 1 on the targets after
    the prompt (the action's tokens and eos), 0 on the prompt's and pad."""
    sequences = [tok.encode_example(r.text, r.action) for r in examples]
    _check_fits(sequences, config, "training command + action")
    ids = pad(sequences, max(len(s) for s in sequences))
    inputs, targets = ids[:, :-1], ids[:, 1:]
    weights = np.zeros(targets.shape, np.float32)
    for i, (r, s) in enumerate(zip(examples, sequences)):
        last = len(tok.encode_example(r.text)) - 1  # the prompt's last token
        weights[i, last:len(s) - 1] = 1.0  # target t predicts token t+1: the action's
    return inputs, targets, weights


def pretrain_arrays(tok, texts, config) -> tuple:
    """(inputs, targets, weights) of `bos text eos` for each text (cut to model.max_length);
    every real target carries weight 1."""
    length = config.model.max_length
    sequences = [[tok.bos_id, *tok.encode(t), tok.eos_id][:length] for t in texts]
    ids = pad(sequences, max(len(s) for s in sequences))
    inputs, targets = ids[:, :-1], ids[:, 1:]
    weights = (np.arange(targets.shape[1])[None, :]
               < (np.array([len(s) for s in sequences]) - 1)[:, None]).astype(np.float32)
    return inputs, targets, weights


def model_config(config, vocabulary_size: int):
    from pipeline.models.causal_lm import CausalLMConfig

    m = config.model
    return CausalLMConfig(vocabulary_size=vocabulary_size, num_layers=m.num_layers,
                          hidden_dim=m.hidden_dim, num_heads=m.num_heads,
                          num_kv_heads=m.num_kv_heads, intermediate_dim=m.intermediate_dim,
                          max_length=m.max_length)


def _loss():
    import keras
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def bucketed_dataset(inputs, targets, weights, batch_size, seed):
    """Seeded, endless batches of (inputs, targets, weights), each cut to its longest sequence
    rounded up to 8 (`pipeline.stages.bucket_length`; pools of similar lengths,
    `epoch_batches`): most commands are far shorter than the longest, and attention costs the
    square of the padded length. The order depends only on (seed, epoch), so `.skip(step)`
    resumes exactly."""
    import tensorflow as tf

    from pipeline.stages import bucket_length, epoch_batches

    lengths = (inputs != 0).sum(axis=1)  # pad is the only id 0

    def batches():
        epoch = 0
        while True:
            for index in epoch_batches(lengths, batch_size, seed, epoch):
                n = bucket_length(lengths[index])
                yield inputs[index, :n], targets[index, :n], weights[index, :n]
            epoch += 1

    spec = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32),
            tf.TensorSpec((None, None), tf.float32))
    return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)


def _fit(stage, model, arrays, seed, merge=None):
    """`merge` (pretrained.add_lora's): the LoRA-free model written to model.keras, filled
    from the trained one after the last step."""
    import keras

    inputs, targets, weights = arrays
    stage.fit(model, functools.partial(bucketed_dataset, inputs, targets, weights,
                                       stage.batch_size, seed), len(inputs), loss=_loss(),
              weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
              save=None if merge is None else merge.model,
              finish=None if merge is None else merge)


def run(workdir: str, config, tok, train: list, extra_texts=()) -> object:
    """Trains (or loads) the stages; returns the finetuned CausalLM."""
    import keras

    from pipeline import training
    from pipeline.models import causal_lm
    from pipeline.tasks.action import pretrained

    seed = config.seed
    finetune = training.Stage(workdir, FINETUNE, config.finetune, config.train)
    pretrain = training.Stage(workdir, PRETRAIN, config.lm_pretrain, config.train)
    if finetune.done():
        return finetune.load()
    save = None
    if config.model.pretrained:
        model = pretrained.load_model(config.model.pretrained, config.model.max_length)
        print(f"{config.model.pretrained}: {causal_lm.count_params(model)} parameters, "
              f"{model.config.num_layers} layers")
        save = pretrained.add_lora(model, config.finetune.lora_rank)
    elif config.stages.lm_pretrain and pretrain.done():
        model = pretrain.load()
    else:
        model = causal_lm.build_causal_lm(model_config(config, tok.vocabulary_size), seed)
        if config.stages.lm_pretrain:
            texts = [r.text for r in train] + [r.action for r in train] + list(extra_texts)
            arrays = pretrain_arrays(tok, texts, config)
            print(f"{PRETRAIN}: {len(texts)} texts, {int(arrays[2].sum())} target tokens, "
                  f"{causal_lm.count_params(model)} parameters")
            _fit(pretrain, model, arrays, seed)
    keras.utils.set_random_seed(seed + 1)  # the finetune data order does not depend on pretrain
    swapped = swap_values(train, config.finetune.swap_copies, seed + 2,
                          config.finetune.synthetic_values)
    arrays = finetune_arrays(tok, train + swapped, config)
    print(f"{FINETUNE}: {len(train)} commands + {len(swapped)} with swapped values, "
          f"{int(arrays[2].sum())} action target tokens")
    _fit(finetune, model, arrays, seed + 1, save)
    return save.model if save is not None else model
