"""TFLite model metadata for the Android libraries: `writer` packs it into a model, `reader`
reads it back and verifies it."""
