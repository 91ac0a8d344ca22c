"""Text classification: a phone-sized WordPiece student (and optional teacher) on labelled texts.

Training: data -> vocabulary -> stages (teacher, pretrain, finetune, distill; each switched on
in the config, each resumable) -> model.keras and metrics.json. Export: export_spec.py. Golden
cases for app ports: golden.py.
"""

from __future__ import annotations

import os

from pipeline.tasks import base
from pipeline.tasks.text_classification.config import STAGES
from pipeline.tasks.text_classification.export_spec import INPUT_NAMES, OUTPUT_NAME


def _read_extra_texts(file_list: str) -> list:
    from pipeline.data.readers import read_text
    texts = []
    for path in filter(None, (p.strip() for p in file_list.split(","))):
        texts += [line.strip() for line in read_text(path).split("\n") if line.strip()]
    return texts


def _prepare_workdir(workdir, config, dataset, extra_texts) -> str:
    """Writes config.json, labels.txt, split.json and vocab.txt; refuses a different config."""
    from pipeline import metrics, tokenizer
    from pipeline.workdir import write_config

    write_config(workdir, config)
    tokenizer.write_vocabulary(dataset.label_names, os.path.join(workdir, "labels.txt"))
    metrics.write_json(dataset.split_info, os.path.join(workdir, "split.json"))
    vocab_path = os.path.join(workdir, "vocab.txt")
    if not os.path.exists(vocab_path):
        texts = dataset.train.texts + extra_texts
        tokenizer.write_vocabulary(
            tokenizer.learn_vocabulary(texts, config.tokenizer.vocabulary_size), vocab_path)
    return vocab_path


def _transfer_set(config, dataset) -> tuple:
    """(texts, labels) the student distils from: `distill.max_train_examples` train texts
    (0 = all; a seeded subset otherwise) with their labels, then `distill.augment_copies`
    augmented copies of each (pipeline/augment.py) with label -1: the teacher's top class
    stands in once its logits are known."""
    import numpy as np

    from pipeline.stages import subset

    n, d = len(dataset.train.texts), config.distill
    index = subset(n, d.max_train_examples, config.seed + 1)
    texts = [dataset.train.texts[i] for i in index]
    labels = np.asarray(dataset.train.labels)[index]
    if d.augment_copies:
        from pipeline import augment

        neighbours = (augment.embedding_neighbours(texts, config.model.preset)
                      if d.swap_rate else {})
        new, _ = augment.augment(texts, d.augment_copies, config.seed + 2, neighbours,
                                 mask_rate=d.mask_rate, swap_rate=d.swap_rate,
                                 ngram_rate=d.ngram_rate)
        print(f"distill: {len(new)} augmented texts ({d.augment_copies} per text, "
              f"{len(neighbours)} words with swap neighbours)")
        texts, labels = texts + new, np.concatenate([labels, np.full(len(new), -1)])
    return texts, labels


class TextClassification(base.Task):
    """Labels for short texts; exported with the tokenizer and labels packed in the files."""

    name = "text_classification"
    export_spec = "pipeline.tasks.text_classification.export_spec"
    app = "pipeline.tasks.text_classification.golden"
    input_names = INPUT_NAMES
    output_name = OUTPUT_NAME
    workdir_files = ("vocab.txt", "labels.txt")
    parity_rules = {
        "fp32": base.ParityRule("top1_agreement", ">=", 0.999, "top-1 agreement"),
        "fp16": base.ParityRule("top1_agreement", ">=", 0.995, "top-1 agreement"),
        "int8_dynamic": base.ParityRule("accuracy_drop_points", "<=", 1.0,
                                        "accuracy drop (points)"),
        "int8_full": base.ParityRule("accuracy_drop_points", "<=", 1.0, "accuracy drop (points)"),
    }
    gpu_relative = False
    bundle_name = "classifier"

    def default_config(self):
        from pipeline.tasks.text_classification import config
        return config.default_config()

    def train(self, config, workdir: str, started: float) -> None:
        from pipeline import metrics, tokenizer, training
        from pipeline.data import load_text_dataset
        from pipeline.models import student
        from pipeline.stages import distill, encode, finetune, predict_bucketed, pretrain, teacher

        dataset = load_text_dataset(config.data, config.seed)
        extra_texts = _read_extra_texts(config.data.extra_text_files)  # unlabeled, pretraining
        vocab_path = _prepare_workdir(workdir, config, dataset, extra_texts)
        tok = tokenizer.make_tokenizer(vocab_path)
        preprocessor = tokenizer.make_preprocessor(tok, config.tokenizer.sequence_length)
        x_train = encode(preprocessor, dataset.train.texts)
        x_test = encode(preprocessor, dataset.test.texts)
        y_train, y_test = dataset.train.labels, dataset.test.labels
        num_classes = len(dataset.label_names)
        eval_callback = training.EvalAccuracy(x_test, y_test, predict=predict_bucketed)
        print(f"data: {len(y_train)} train / {len(y_test)} test examples, {num_classes} "
              f"classes, vocabulary {tok.vocabulary_size()}")

        if config.stages.teacher and config.teacher.kind == "tfidf_logreg":
            transfer_texts, transfer_labels = _transfer_set(config, dataset)
            transfer_logits = teacher.tfidf_logits(config, dataset.train.texts, y_train,
                                                   dataset.test.texts, y_test, transfer_texts)
        elif config.stages.teacher:
            net, teacher_preprocessor = teacher.run(
                workdir, config, num_classes, dataset.train.texts, y_train, dataset.test.texts,
                y_test)
            transfer_texts, transfer_labels = _transfer_set(config, dataset)
            print(f"teacher: soft targets for {len(transfer_texts)} transfer texts")
            transfer_logits = teacher.logits(workdir, net, teacher_preprocessor, transfer_texts)
            del net
        if config.stages.teacher:  # augmented copies: the teacher's top class is their label
            unlabelled = transfer_labels < 0
            transfer_labels[unlabelled] = transfer_logits[unlabelled].argmax(axis=1)
        backbone = student.build_backbone(config.model, tok.vocabulary_size(),
                                          config.tokenizer.sequence_length)
        if config.model.init_embeddings_from_teacher:
            from pipeline.models.teacher import project_embeddings
            matrix, found = project_embeddings(tokenizer.read_vocabulary(vocab_path),
                                               config.model.preset, config.model.hidden_dim,
                                               config.seed)
            backbone.token_embedding.embeddings.assign(matrix)
            print(f"student: {found} of {len(matrix)} token embeddings initialised from the "
                  "teacher")
        if config.stages.pretrain:
            x_unlabeled = (encode(preprocessor, dataset.train.texts + extra_texts) if extra_texts
                           else x_train)
            backbone = pretrain.run(workdir, config, backbone, tok, x_unlabeled)
        model = student.build_classifier(backbone, num_classes, config.model.dropout)
        if config.stages.finetune:
            model = finetune.run(workdir, config, backbone, num_classes, x_train, y_train,
                                 eval_callback)
        if config.stages.distill:
            model = distill.run(workdir, config, model, encode(preprocessor, transfer_texts),
                                transfer_labels, transfer_logits, eval_callback)

        training.save_model(model, os.path.join(workdir, "model.keras"))
        metrics.plot_training_curves(workdir, STAGES, os.path.join(workdir, "training_curves.png"))
        result = metrics.evaluate_and_report(model, x_test, y_test, dataset.label_names, workdir,
                                             started)
        print(f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
              f"on {result['num_examples']} examples; wrote {workdir}/model.keras, metrics.json")

    def evaluate(self, config, workdir: str, started: float) -> None:
        from pipeline import metrics, tokenizer
        from pipeline.data import load_text_dataset
        from pipeline.errors import UserError
        from pipeline.stages import encode
        from pipeline.workdir import load_model, require_files

        require_files(workdir, self.workdir_files)
        dataset = load_text_dataset(config.data, config.seed)
        labels = tokenizer.read_vocabulary(os.path.join(workdir, "labels.txt"))
        if labels != dataset.label_names:
            raise UserError(f"{workdir}/labels.txt: labels differ from the dataset's "
                            f"{dataset.label_names}")
        preprocessor = tokenizer.make_preprocessor(
            tokenizer.make_tokenizer(os.path.join(workdir, "vocab.txt")),
            config.tokenizer.sequence_length)
        model = load_model(os.path.join(workdir, "model.keras"))
        result = metrics.evaluate_and_report(model, encode(preprocessor, dataset.test.texts),
                                             dataset.test.labels, labels, workdir, started)
        print(f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
              f"on {result['num_examples']} examples; wrote {workdir}/metrics.json")


TASK = TextClassification()
