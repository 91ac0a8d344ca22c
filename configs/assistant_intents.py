"""Voice-assistant intents, English + Chinese, 11 classes: the project's shipped dataset.

Runs offline on a fresh machine in a few minutes:
  python -m pipeline.train --config=configs/assistant_intents.py --workdir=runs/intents

`:tiny` is the CI conversion gate's student (.ci/run), about 30 s to train on 2 cores: the same
data and architecture family, one small layer, no pretraining, 100 steps; it learns enough
(accuracy ~0.8) for the parity and int8 checks to mean something:
  python -m pipeline.train --config=configs/assistant_intents.py:tiny --workdir=runs/ci
  python -m export.convert --workdir=runs/ci
  python -m export.check runs/ci/export --require=nnapi=30,parity,metadata,size
"""

from pipeline.config_defaults import sized
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.update(name="assistant_intents", train_file="train.jsonl", test_file="test.jsonl")
    c.tokenizer.update(vocabulary_size=2000, sequence_length=32)
    c.model.update(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=256)
    c.stages.update(teacher=False, pretrain=True, finetune=True, distill=False)
    c.train.update(batch_size=32, epochs=30, learning_rate=1e-3)
    c.pretrain.epochs = 30
    c.teacher.update(epochs=6, learning_rate=1e-4, max_train_examples=0)
    if not (arg or "").strip():
        # The recipe chosen on a held-out 20 % of train (benchmarks/recipe_ablation_*.md):
        # MiniLM reads the Chinese half badly (0.80 there, below the student's 0.857), a
        # TF-IDF + logistic regression teacher reaches 0.904, and the student distilled from
        # it on 8 augmented copies a text, with MiniLM's token embeddings, 0.900.
        c.stages.update(teacher=True, distill=True)
        c.teacher.kind = "tfidf_logreg"
        c.distill.update(augment_copies=8, epochs=10)
        c.model.init_embeddings_from_teacher = True
    c.export.update(
        name="Assistant intents (EN/ZH)",
        description="Classifies a short voice-assistant command into one of 11 phone intents.")
    sized(c, arg, tiny)
    if (arg or "").strip():  # `sized` accepted it: the CI gate's build
        c.export.name = "Assistant intents (EN/ZH), CI build"
    return c
