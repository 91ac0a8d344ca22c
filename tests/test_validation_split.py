"""`data.validation_fraction`: choices are made on a held-out part of train, not the test split."""

from configs.assistant_intents import get_config
from pipeline.data import load_text_dataset


def test_validation_split_is_held_out_of_train_and_never_touches_test():
    c = get_config()
    full = load_text_dataset(c.data, 0)
    c.data.validation_fraction = 0.2
    held = load_text_dataset(c.data, 0)
    assert held.split_info["method"] == "validation"
    assert len(held.train.texts) + len(held.test.texts) == len(full.train.texts)
    assert not set(held.test.texts) & set(full.test.texts) - set(full.train.texts)
    assert set(held.test.texts) <= set(full.train.texts)
    assert not set(held.test.sources) & set(held.train.sources)
    # stratified: every label is in the held-out part, near its share of train
    assert set(held.test.labels) == set(full.train.labels)
    assert abs(len(held.test.texts) / len(full.train.texts) - 0.2) < 0.02
    assert load_text_dataset(c.data, 0).test.texts == held.test.texts  # seeded
    assert load_text_dataset(c.data, 3).test.texts != held.test.texts
