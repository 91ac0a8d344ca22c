"""Train a model from a config file: data -> vocabulary -> stages -> metrics.

  python -m pipeline.train --config=configs/assistant_intents.py --workdir=runs/intents \\
      [--config.train.epochs=3 ...]
  python -m pipeline.train --config=configs/movielens.py --workdir=runs/movielens

`config.task` picks the pipeline: "text_classification" (stages, each switched on in the config,
each resumable: teacher, pretrain, finetune, distill) or "next_item" (a sequential recommender
per seed, stage `next_item_seed<seed>`, scored beside two baselines).
Run the same command again after an interruption and it resumes from the last checkpoint.
"""

import json
import os
import time

import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
from absl import flags
from ml_collections import config_flags

from pipeline import cli, metrics, ranking, tokenizer, training
from pipeline.config_defaults import STAGES, describe_fields
from pipeline.data import load_text_dataset
from pipeline.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None,
    "Task config file (configs/*.py); override any field with --config.<field>=<value>.\n"
    "Fields, with the defaults that task files start from (comments say what they do):\n"
    + describe_fields(), lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder; rerun with the same one to resume.")


def write_config(workdir, config):
    """Writes config.json; refuses a workdir trained with a different config."""
    os.makedirs(workdir, exist_ok=True)
    config_path = os.path.join(workdir, "config.json")
    resolved = json.loads(config.to_json_best_effort())
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            previous = json.load(f)
        if previous != resolved:
            raise UserError(f"{config_path}: this workdir was trained with a different config; "
                            "use a new --workdir (or delete this one) to start over")
    metrics.write_json(resolved, config_path)


def prepare_workdir(workdir, config, dataset, extra_texts):
    """Writes config.json, labels.txt, split.json and vocab.txt; refuses a different config."""
    write_config(workdir, config)
    tokenizer.write_vocabulary(dataset.label_names, os.path.join(workdir, "labels.txt"))
    metrics.write_json(dataset.split_info, os.path.join(workdir, "split.json"))
    vocab_path = os.path.join(workdir, "vocab.txt")
    if not os.path.exists(vocab_path):
        texts = dataset.train.texts + extra_texts
        tokenizer.write_vocabulary(
            tokenizer.learn_vocabulary(texts, config.tokenizer.vocabulary_size), vocab_path)
    return vocab_path


def read_extra_texts(file_list):
    from pipeline.data.readers import read_text
    texts = []
    for path in filter(None, (p.strip() for p in file_list.split(","))):
        texts += [line.strip() for line in read_text(path).split("\n") if line.strip()]
    return texts


def train_text_classifier(config, workdir, started):
    from pipeline.models import student
    from pipeline.stages import distill, encode, finetune, pretrain, teacher

    dataset = load_text_dataset(config.data, config.seed)
    extra_texts = read_extra_texts(config.data.extra_text_files)  # unlabeled, for pretraining
    vocab_path = prepare_workdir(workdir, config, dataset, extra_texts)
    tok = tokenizer.make_tokenizer(vocab_path)
    preprocessor = tokenizer.make_preprocessor(tok, config.tokenizer.sequence_length)
    x_train = encode(preprocessor, dataset.train.texts)
    x_test = encode(preprocessor, dataset.test.texts)
    y_train, y_test = dataset.train.labels, dataset.test.labels
    num_classes = len(dataset.label_names)
    eval_callback = training.EvalAccuracy(x_test, y_test)
    print(f"data: {len(y_train)} train / {len(y_test)} test examples, {num_classes} classes, "
          f"vocabulary {tok.vocabulary_size()}")

    if config.stages.teacher:
        teacher_indices, teacher_logits = teacher.run(
            workdir, config, num_classes, dataset.train.texts, y_train, dataset.test.texts, y_test)
    backbone = student.build_backbone(config.model, tok.vocabulary_size(),
                                      config.tokenizer.sequence_length)
    if config.model.init_embeddings_from_teacher:
        from pipeline.models.teacher import project_embeddings
        matrix, found = project_embeddings(tokenizer.read_vocabulary(vocab_path), config.model.preset,
                                           config.model.hidden_dim, config.seed)
        backbone.token_embedding.embeddings.assign(matrix)
        print(f"student: {found} of {len(matrix)} token embeddings initialised from the teacher")
    if config.stages.pretrain:
        x_unlabeled = (encode(preprocessor, dataset.train.texts + extra_texts) if extra_texts
                       else x_train)
        backbone = pretrain.run(workdir, config, backbone, tok, x_unlabeled)
    model = student.build_classifier(backbone, num_classes, config.model.dropout)
    if config.stages.finetune:
        model = finetune.run(workdir, config, backbone, num_classes, x_train, y_train, eval_callback)
    if config.stages.distill:
        if not config.stages.teacher:
            raise UserError("--config.stages.distill=True needs --config.stages.teacher=True")
        model = distill.run(workdir, config, model, x_train, y_train, teacher_indices,
                            teacher_logits, eval_callback)
    if not (config.stages.finetune or config.stages.distill):
        raise UserError("no classifier stage: enable stages.finetune or stages.distill")

    training.save_model(model, os.path.join(workdir, "model.keras"))
    metrics.plot_training_curves(workdir, STAGES, os.path.join(workdir, "training_curves.png"))
    result = metrics.evaluate_and_report(model, x_test, y_test, dataset.label_names, workdir, started)
    print(f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
          f"on {result['num_examples']} examples; wrote {workdir}/model.keras, metrics.json")


def train_next_item(config, workdir, started):
    from pipeline.data import movielens
    from pipeline.stages import next_item

    split = movielens.protocol_split(movielens.load_interactions(config.data), config.recs)
    write_config(workdir, config)
    metrics.write_json(split.split_info(), os.path.join(workdir, "split.json"))
    movielens.write_items_file(split, os.path.join(workdir, "items.csv"))
    print(f"data: {len(split.users)} users, {split.split_info()['train_interactions']} training "
          f"interactions, catalogue {split.catalogue_size}")
    seeds = [config.seed + i for i in range(config.recs.num_seeds)]
    scorers = {seed: next_item.run(workdir, config, split, seed) for seed in seeds}
    stages = [f"next_item_seed{seed}" for seed in seeds]
    metrics.plot_training_curves(workdir, stages, os.path.join(workdir, "training_curves.png"))
    result = ranking.evaluate_and_report(scorers, split, config, workdir, started)
    print(ranking.format_table(result))
    print(f"wrote {workdir}/model.keras (seed {result['model_seed']}, best validation HR@"
          f"{config.recs.top_k}), items.csv, metrics.json")


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    config, workdir = _CONFIG.value, _WORKDIR.value
    if not workdir:
        raise UserError("--workdir is required (the output folder)")
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same config + data -> same metrics
    tasks = {"text_classification": train_text_classifier, "next_item": train_next_item}
    if config.task not in tasks:
        raise UserError(f"--config.task='{config.task}' is not one of {', '.join(tasks)}")
    tasks[config.task](config, workdir, time.time())


if __name__ == "__main__":
    cli.run(main)
