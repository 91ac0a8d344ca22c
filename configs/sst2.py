"""GLUE SST-2 binary sentiment (English). Evaluates on the dev split (872 sentences).

Offline: --config.data.dir=<folder with train.tsv, dev.tsv> or $PIPELINE_DATA_DIR/sst2.
Online: TFDS glue/sst2 (train / validation).
configs/sst2.py:tiny is the same made small (text_classification.config.tiny).
"""

from pipeline.config_defaults import sized
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.update(name="sst2", subdir="sst2", tfds_name="glue/sst2")
    c.tokenizer.update(vocabulary_size=8000, sequence_length=64)
    c.model.update(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512)
    c.stages.update(teacher=True, pretrain=True, finetune=True, distill=True)
    c.train.update(batch_size=64, epochs=3, learning_rate=1e-3)
    c.pretrain.epochs = 2
    # The teacher sees all 67,349 train sentences: length buckets make that ~15 min an epoch
    # here (benchmarks/teacher_speed.md), where fixed-length batches allowed 6,000.
    c.teacher.update(max_train_examples=0, epochs=2, batch_size=32)
    c.model.init_embeddings_from_teacher = True
    # Transfer set: every train sentence plus 2 augmented copies, all with teacher soft targets.
    c.distill.update(max_train_examples=0, augment_copies=2, epochs=3)
    c.export.update(name="SST-2 sentiment",
                    description="Classifies an English sentence as negative or positive.")
    return sized(c, arg, tiny)
