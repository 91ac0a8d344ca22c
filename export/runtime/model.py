"""An exported `.tflite` opened for inference: the one `Runner` plus the files packed in it.

    model = PackedModel("fp32.tflite", "text classifier", ("token_ids", ...), num_threads=2)
    model.runner.run({...}); model.packed_file("vocab.txt", "vocabulary")

export.convert packs the associated files (vocabulary, labels) as the TFLite metadata
convention does: a zip archive appended to the flatbuffer, read by
`export.metadata.reader.read_packed_files` (standard library only).
"""

from __future__ import annotations

from collections.abc import Sequence

from export.contract import EXPORT_HINT, UserError
from export.metadata.reader import read_packed_files
from export.tflite.runner import Runner


def text_lines(data: bytes, name: str, source: str) -> list[str]:
    """The lines of a packed text file; UserError when it is not UTF-8."""
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"{source}: packed {name} is not UTF-8 ({e})") from None


class PackedModel:
    """`runner` (inputs by signature key) and `packed` (the associated files) of one file,
    checked to have the inputs `input_names` of the kind of model `what` names."""

    def __init__(self, path: str, what: str, input_names: Sequence[str],
                 num_threads: int | None = None):
        self.runner = Runner(path, num_threads=num_threads, input_keys=input_names)
        self.path = self.runner.path
        missing = [n for n in input_names if n not in self.runner.inputs]
        if missing:
            raise UserError(f"{self.path}: not a {what} (inputs are {sorted(self.runner.inputs)}, "
                            f"expected {list(input_names)})")
        self.packed = {name: f.data for name, f in read_packed_files(self.path).items()}

    @property
    def output_width(self) -> int:
        return int(self.runner.outputs[0]["shape"][-1])

    def packed_file(self, name: str, what: str) -> bytes:
        if name not in self.packed:
            raise UserError(f"no {what} packed in {self.path} ({name} is not among its "
                            f"associated files); {EXPORT_HINT}")
        return self.packed[name]
