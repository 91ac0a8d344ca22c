"""Length buckets (pipeline.stages), the teacher's logits cache and transfer-set augmentation."""

import os

import numpy as np
import pytest

from pipeline import augment, tokenizer
from pipeline.models import student
from pipeline.stages import bucket_length, bucketed_dataset, encode, epoch_batches, predict_bucketed
from pipeline.stages import teacher as teacher_stage
from pipeline.tasks.text_classification.config import default_config

TEXTS = [" ".join(f"w{j % 7}" for j in range(n)) for n in
         np.random.default_rng(0).integers(1, 40, 300)]
VOCAB = tokenizer.SPECIAL_TOKENS + [f"w{j}" for j in range(7)]


def _encoded(texts=TEXTS, length=48):
    return encode(tokenizer.make_preprocessor(tokenizer.make_tokenizer(VOCAB), length), texts)


def _classifier(length=48):
    cfg = default_config().model
    cfg.num_layers, cfg.hidden_dim, cfg.num_heads, cfg.intermediate_dim = 1, 32, 2, 64
    return student.build_classifier(student.build_backbone(cfg, len(VOCAB), length), 3)


def test_batches_are_cut_to_their_longest_text_rounded_to_8_and_cover_the_epoch():
    x = _encoded()
    lengths = x["padding_mask"].sum(1)
    batches = list(bucketed_dataset(x, np.zeros(len(TEXTS), "int32"), 16, seed=3)
                   .take(len(TEXTS) // 16).as_numpy_iterator())
    seen = []
    for inputs, _ in batches:
        cut = inputs["token_ids"].shape[1]
        longest = int(inputs["padding_mask"].sum(1).max())
        assert cut % 8 == 0 and longest <= cut < longest + 8 and cut <= 48
        assert inputs["padding_mask"].shape == inputs["segment_ids"].shape == (16, cut)
    for index in epoch_batches(lengths, 16, 3, 0):
        seen += list(index)
    assert len(seen) == len(set(seen)) == len(TEXTS) // 16 * 16
    # far less padding than the fixed length: the point of the buckets
    assert sum(b[0]["token_ids"].size for b in batches) < 0.7 * len(seen) * 48
    assert bucket_length([1]) == 8 and bucket_length([8, 9]) == 16


def test_bucketed_order_is_seeded_and_skip_resumes_it():
    x, y = _encoded(), np.arange(len(TEXTS))
    first = [b[1] for b in bucketed_dataset(x, y, 16, seed=1).take(40).as_numpy_iterator()]
    again = [b[1] for b in bucketed_dataset(x, y, 16, seed=1).take(40).as_numpy_iterator()]
    resumed = [b[1] for b in bucketed_dataset(x, y, 16, seed=1).skip(25).take(15)
               .as_numpy_iterator()]
    other = [b[1] for b in bucketed_dataset(x, y, 16, seed=2).take(40).as_numpy_iterator()]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(np.array_equal(a, b) for a, b in zip(first[25:], resumed))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    # epochs differ (reshuffled), 18 full batches an epoch here
    assert not np.array_equal(np.sort(np.concatenate(first[:18])), np.concatenate(first[18:36]))


def test_predict_bucketed_equals_fixed_length_predict():
    """The student's training graph gives the same logits for a text however far it is
    padded: the buckets change the speed, not the function."""
    model, x = _classifier(), _encoded()
    fixed = model.predict(x, batch_size=64, verbose=0)
    bucketed = predict_bucketed(model, x, batch_size=64)
    np.testing.assert_allclose(bucketed, fixed, atol=2e-5)


def test_teacher_logits_are_cached_by_model_and_texts_and_resume_by_shard(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(teacher_stage, "SHARD", 64)
    model = _classifier()
    preprocessor = tokenizer.make_preprocessor(tokenizer.make_tokenizer(VOCAB), 48)
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "model.keras").write_bytes(b"teacher one")
    logits = teacher_stage.logits(str(tmp_path), model, preprocessor, TEXTS)
    (folder,) = (tmp_path / "teacher" / "logits").iterdir()
    shards = sorted(folder.iterdir())
    assert len(shards) == 5 and logits.shape == (300, 3)
    np.testing.assert_allclose(logits, model.predict(_encoded(), verbose=0), atol=2e-5)

    # kill -9 after three shards: the next run computes only the missing ones
    os.remove(shards[3])
    os.remove(shards[4])
    times = [os.stat(s).st_mtime_ns for s in shards[:3]]
    again = teacher_stage.logits(str(tmp_path), model, preprocessor, TEXTS)
    np.testing.assert_array_equal(again, logits)
    assert [os.stat(s).st_mtime_ns for s in shards[:3]] == times and shards[4].exists()

    # other texts, or a retrained teacher, never read this cache
    teacher_stage.logits(str(tmp_path), model, preprocessor, TEXTS[:-1])
    (tmp_path / "teacher" / "model.keras").write_bytes(b"teacher two")
    teacher_stage.logits(str(tmp_path), model, preprocessor, TEXTS)
    assert len(list((tmp_path / "teacher" / "logits").iterdir())) == 3


def test_augmentation_is_seeded_and_applies_each_operation():
    texts = ["the film was a good and funny one with a great cast"] * 200
    neighbours = {"good": ["great"], "funny": ["hilarious"]}
    new, source = augment.augment(texts, 2, seed=5, neighbours=neighbours)
    assert augment.augment(texts, 2, seed=5, neighbours=neighbours)[0] == new
    assert augment.augment(texts, 2, seed=6, neighbours=neighbours)[0] != new
    assert len(new) == 400 and list(source[:4]) == [0, 0, 1, 1]
    assert any(augment.UNKNOWN_WORD in t for t in new)  # masking
    assert any("hilarious" in t for t in new)  # neighbour swaps
    assert any(len(t.split()) <= 5 for t in new)  # n-gram samples
    assert all(t != texts[0] for t in new)
    # the unknown word is [UNK] for a learned vocabulary
    ids = tokenizer.make_tokenizer(VOCAB)(augment.UNKNOWN_WORD)
    assert np.asarray(ids).tolist() == [VOCAB.index("[UNK]")]


def test_chinese_text_is_augmented_per_character_without_inserted_spaces():
    text = "给妈妈发微信说我晚点到"
    new, _ = augment.augment([text] * 50, 2, seed=1, mask_rate=0.2, swap_rate=0.0)
    masked = [t for t in new if augment.UNKNOWN_WORD in t]
    # a mask takes one character, not the whole sentence, and the rest stays as written
    assert any(len(t) == len(text) for t in masked)
    assert any(0 < len(t) < len(text) and augment.UNKNOWN_WORD not in t for t in new)  # n-grams
    kept = [t for t in new if augment.UNKNOWN_WORD not in t]
    assert kept and all(t in text for t in kept)  # an n-gram of characters, no spaces added
    # mixed text keeps its spaces between Latin words
    assert augment._join(augment._WORD.findall("导航到 Starbucks 上海店 now ok")) == \
        "导航到Starbucks上海店now ok"


@pytest.mark.parametrize("mask,swap", [(0.7, 0.4)])
def test_mask_and_swap_rates_must_leave_room_for_each_other(mask, swap):
    from pipeline import config_defaults
    from pipeline.errors import UserError

    c = default_config()
    c.data.name = "sst2"
    c.distill.update(mask_rate=mask, swap_rate=swap)
    with pytest.raises(UserError, match="distill.swap_rate"):
        config_defaults.validate(c)
