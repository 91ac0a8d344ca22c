"""Configs: every shipped one (and its `:tiny`) is valid, every field has a documented range,
values outside it are one UserError naming the field, and a broken config file is one line."""

import glob
import importlib
import importlib.util
import math
import os

import pytest

from pipeline import config_defaults
from pipeline.config_defaults import describe_fields, leaves, validate
from pipeline.errors import UserError
from tests.conftest import REPO, assert_one_line_error, run

CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))
INTENTS = os.path.join(REPO, "configs", "assistant_intents.py")
MOVIELENS = os.path.join(REPO, "configs", "movielens.py")


def load(path, arg=""):
    spec = importlib.util.spec_from_file_location("cfg", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def task_module(task):
    return importlib.import_module(f"pipeline.tasks.{task}.config")


def with_values(config, values: dict):
    """`config` with dotted-path values set, types unchecked (as a config file could write)."""
    with config.ignore_type():
        for path, value in values.items():
            *parents, key = path.split(".")
            section = config
            for p in parents:
                section = section[p]
            section[key] = value
    return config


def test_shipped_configs_are_the_tasks():
    assert {os.path.basename(p) for p in CONFIGS} == {
        "assistant_intents.py", "sst2.py", "bbc_news.py", "thucnews_zh.py", "movielens.py",
        "assistant_actions.py", "assistant_actions_smollm2.py"}


@pytest.mark.parametrize("arg", ["", "tiny"])
@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_shipped_config_is_valid_and_has_its_tasks_fields(path, arg):
    config = load(path, arg)
    validate(config)
    expected = task_module(config.task).default_config()
    assert sorted(leaves(config)) == sorted(leaves(expected))


def test_intents_tiny_is_the_ci_student():
    """The CI gate's student: the intents config with one small layer, no pretraining, 100 steps."""
    full, tiny = load(INTENTS), load(INTENTS, "tiny")
    assert (tiny.stages.pretrain, tiny.train.max_steps, tiny.train.learning_rate) == (False, 100, 0.003)
    assert (tiny.model.num_layers, tiny.model.hidden_dim, tiny.model.intermediate_dim) == (1, 64, 128)
    assert (tiny.data.name, tiny.tokenizer.to_dict()) == (full.data.name, full.tokenizer.to_dict())


def test_movielens_tiny_has_the_ci_settings():
    tiny = load(MOVIELENS, "tiny")
    assert (tiny.recs.num_seeds, tiny.train.max_steps, tiny.model.num_layers,
            tiny.model.hidden_dim, tiny.model.intermediate_dim) == (1, 30, 1, 32, 64)


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_unknown_config_argument_names_the_accepted_ones(path):
    with pytest.raises(UserError, match="unknown config argument 'huge'.*tiny"):
        load(path, "huge")


@pytest.mark.parametrize("task", config_defaults.task_names())
def test_every_field_has_a_range_and_every_range_a_field(task):
    module = task_module(task)
    fields = set(leaves(module.default_config()))
    assert fields == set(config_defaults.RULES) | set(module.RULES)


def test_every_field_appears_in_the_help_with_its_range():
    shared, *blocks = describe_fields().split("\nTask ")
    for task in config_defaults.task_names():
        module = task_module(task)
        block = next(b for b in blocks if b.startswith(repr(task)))
        rules = {**config_defaults.RULES, **module.RULES}
        for key in leaves(module.default_config()):
            where = block if key in module.RULES else shared  # a task's own and narrowed fields
            line = next(t for t in where.splitlines() if t.startswith(f"  --config.{key}="))
            assert rules[key].help in line, line


TEXT_BAD = [
    ("task", "translation"),
    ("seed", -1),
    ("seed", 1.5),
    ("data.name", "nope"),
    ("data.name", "movielens"),
    ("data.text_column", ""),
    ("data.test_fraction", 1.5),
    ("data.test_fraction", 0.0),
    ("data.test_fraction", 1.0),
    ("data.max_train_examples", -1),
    ("data.dir", None),
    ("tokenizer.vocabulary_size", 5),
    ("tokenizer.sequence_length", 0),
    ("tokenizer.sequence_length", 1),
    ("tokenizer.sequence_length", 2),
    ("model.num_layers", 0),
    ("model.hidden_dim", 0),
    ("model.intermediate_dim", -4),
    ("model.num_heads", 0),
    ("model.num_heads", 3),  # 128 % 3
    ("model.activation", "swish2"),
    ("model.dropout", 1.5),
    ("model.dropout", 1.0),
    ("model.dropout", -0.1),
    ("model.preset", ""),
    ("model.init_embeddings_from_teacher", "yes"),
    ("stages.teacher", 1),
    ("stages.distill", True),  # without the teacher
    ("stages.finetune", False),  # and no distill: nothing trains the classifier
    ("train.batch_size", 0),
    ("train.epochs", -1),
    ("train.epochs", 0),
    ("train.epochs", 2.5),
    ("train.epochs", True),
    ("train.max_steps", -5),
    ("train.learning_rate", math.nan),
    ("train.learning_rate", math.inf),
    ("train.learning_rate", 0.0),
    ("train.learning_rate", -1e-3),
    ("train.learning_rate", 3.0),
    ("train.warmup_fraction", 1.5),
    ("train.weight_decay", -0.01),
    ("train.checkpoint_every_steps", 0),
    ("pretrain.epochs", 0),
    ("pretrain.max_steps", -1),
    ("pretrain.learning_rate", math.nan),
    ("pretrain.mask_rate", 0.0),
    ("pretrain.mask_rate", 1.0),
    ("teacher.epochs", 0),
    ("teacher.batch_size", 0),
    ("teacher.learning_rate", 0.0),
    ("teacher.max_train_examples", -1),
    ("distill.temperature", 0.0),
    ("distill.alpha", 1.5),
    ("distill.max_steps", -1),
    ("export.int8_budget_mb", 0.0),
    ("export.check_examples", 10),
    ("export.version", 1),
]


def labels_only():
    """The intents config without its teacher and distillation (the cases below assume them off)."""
    return with_values(load(INTENTS), {"stages.teacher": False, "stages.distill": False})


@pytest.mark.parametrize("field,value", TEXT_BAD, ids=[f"{f}={v!r}" for f, v in TEXT_BAD])
def test_text_value_out_of_range_is_one_line_naming_the_field(field, value):
    with pytest.raises(UserError) as e:
        validate(with_values(labels_only(), {field: value}))
    message = str(e.value)
    assert message.startswith(f"--config.{field}="), message
    assert "\n" not in message


@pytest.mark.parametrize("values,field", [
    ({"stages.pretrain": False, "stages.finetune": False}, "stages.finetune"),  # all stages off
    ({"stages.teacher": True, "tokenizer.sequence_length": 1024}, "tokenizer.sequence_length"),
    ({"model.init_embeddings_from_teacher": True, "model.hidden_dim": 512}, "model.hidden_dim"),
], ids=["stages_all_off", "teacher_sequence_length", "teacher_embeddings_width"])
def test_fields_that_do_not_fit_together_name_one(values, field):
    with pytest.raises(UserError, match=f"^--config.{field}="):
        validate(with_values(labels_only(), values))


def test_messages_state_the_range():
    with pytest.raises(UserError) as e:
        validate(with_values(load(INTENTS), {"train.epochs": -1}))
    assert str(e.value) == "--config.train.epochs=-1: must be an integer >= 1"
    with pytest.raises(UserError) as e:
        validate(with_values(load(INTENTS), {"tokenizer.sequence_length": 1}))
    assert "an integer >= 3" in str(e.value)


def test_distill_with_teacher_passes():
    validate(with_values(load(INTENTS), {"stages.teacher": True, "stages.distill": True,
                                         "stages.finetune": False, "stages.pretrain": False}))


RECS_BAD = [
    ("data.name", "sst2"),
    ("data.user_column", ""),
    ("recs.history_length", 0),
    ("recs.min_rating", -1.0),
    ("recs.min_user_interactions", 2),
    ("recs.num_seeds", 0),
    ("recs.top_k", 0),
    ("recs.window_stride", 0),
    ("recs.label_smoothing", 1.0),
    ("recs.init_embeddings", "zeros"),
    ("recs.init_scale", 0.0),
    ("recs.exclude_seen_in_loss", "no"),
    ("recs.patience", 0),
    ("recs.cooc_last_items", 0),
    ("recs.cooc_window", 0),
    ("model.num_heads", 5),
    ("train.epochs", 0),
]


@pytest.mark.parametrize("field,value", RECS_BAD, ids=[f"{f}={v!r}" for f, v in RECS_BAD])
def test_recs_value_out_of_range_is_one_line_naming_the_field(field, value):
    with pytest.raises(UserError, match=f"^--config.{field}=") as e:
        validate(with_values(load(MOVIELENS), {field: value}))
    assert "\n" not in str(e.value)


def test_seeds_past_the_largest_seed_name_num_seeds():
    config = with_values(load(MOVIELENS), {"seed": config_defaults.SEED_MAX})
    with pytest.raises(UserError, match="^--config.recs.num_seeds="):
        validate(config)


def test_unknown_and_missing_fields_are_named():
    config = load(INTENTS)
    config.train.epoch = 3  # a config file's typo adds a field
    with pytest.raises(UserError, match=r"^--config.train.epoch: not a field"):
        validate(config)
    config = load(MOVIELENS)
    del config.recs["top_k"]
    with pytest.raises(UserError, match=r"^--config.recs.top_k: missing"):
        validate(config)
    # Another task's config: its fields are not this task's.
    config = load(MOVIELENS)
    other = next(t for t in config_defaults.task_names() if t != config.task)
    config = with_values(config, {"task": other})
    with pytest.raises(UserError, match=r"^--config\.\w+\.\w+: (not a field|missing)"):
        validate(config)


BAD_FILES = {
    "syntax_error": ("def get_config(:\n    pass\n", "SyntaxError"),
    "get_config_raises": ("def get_config():\n    raise RuntimeError('boom')\n", "boom, line 2"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_broken_config_file_is_one_line_naming_it(tmp_path, name):
    text, needle = BAD_FILES[name]
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    r = run("pipeline.train", f"--config={path}", f"--workdir={tmp_path / 'w'}", timeout=300)
    assert_one_line_error(r, str(path), needle)


def test_unknown_config_argument_on_the_command_line(tmp_path):
    r = run("pipeline.train", f"--config={INTENTS}:huge", f"--workdir={tmp_path}", timeout=300)
    assert_one_line_error(r, f"{INTENTS}: unknown config argument 'huge'", "tiny")


def test_a_workdir_from_before_a_field_was_added_resumes_only_at_its_default(tmp_path):
    import json

    from configs.assistant_intents import get_config
    from pipeline.errors import UserError
    from pipeline.workdir import write_config

    config = get_config("tiny")
    write_config(str(tmp_path), config)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["teacher"]["kind"]  # as written before teacher.kind existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    write_config(str(tmp_path), config)  # the new field holds its default: the same run
    (tmp_path / "config.json").write_text(json.dumps(saved))
    config.teacher.kind = "tfidf_logreg"
    with pytest.raises(UserError, match="different config"):
        write_config(str(tmp_path), config)
    config.teacher.kind = "transformer"
    config.train.epochs += 1  # a changed old field is still refused
    with pytest.raises(UserError, match="different config"):
        write_config(str(tmp_path), config)
