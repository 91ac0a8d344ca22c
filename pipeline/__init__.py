"""Training pipeline for on-device text models (keras-hub, Keras 3 on TensorFlow)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
