"""Every shipped config loads, names a known data format, and every field is documented."""

import glob
import importlib.util
import os

import pytest

from pipeline.config_defaults import default_config, describe_fields
from pipeline.data import FORMATS
from tests.conftest import REPO

CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))


def leaf_keys(c, prefix=""):
    out = []
    for k, v in c.items():
        if hasattr(v, "items"):
            out += leaf_keys(v, f"{prefix}{k}.")
        else:
            out.append(prefix + k)
    return out


def test_shipped_configs_are_the_tasks():
    assert {os.path.basename(p) for p in CONFIGS} == {
        "assistant_intents.py", "sst2.py", "bbc_news.py", "thucnews_zh.py", "movielens.py",
        "ci_tiny.py"}


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_loads_and_keeps_the_default_fields(path):
    spec = importlib.util.spec_from_file_location("cfg", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    assert sorted(leaf_keys(config)) == sorted(leaf_keys(default_config()))
    if config.task == "next_item":
        from pipeline.data import movielens
        assert config.data.name in movielens.FORMATS
        assert config.recs.history_length > 0 and config.recs.num_seeds >= 1
        return
    assert config.task == "text_classification"
    assert config.data.name in FORMATS
    assert config.stages.finetune or config.stages.distill
    assert config.tokenizer.vocabulary_size <= 16000


def test_every_field_appears_in_the_help():
    text = describe_fields()
    for key in leaf_keys(default_config()):
        assert f"--config.{key}=" in text, key
