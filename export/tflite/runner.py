"""The one way this project runs a `.tflite` file: LiteRT's interpreter (CPU, XNNPACK) or, for
the GPU check, LiteRT's `CompiledModel`. Needs only a TFLite runtime and numpy.

    runner = Runner("fp32.tflite", num_threads=2)
    runner.inputs                         # {signature key: input detail}, e.g. "token_ids"
    runner.run({"token_ids": ids, ...})   # first output as float32 [1, C] (dequantized)
    runner.run_all({"token_ids": [n, L] ...})   # one invoke per row -> float32 [n, C]

The runtime is `ai_edge_litert`, else `tflite_runtime` (2.14, numpy<2), so the TensorFlow-free
predictor works with either.
"""

from __future__ import annotations

import os

import numpy as np

from export.contract import SIGNATURE_KEY, UserError

RUNTIME_HINT = "pip install ai-edge-litert (or tflite-runtime==2.14.* with numpy<2)"


def load_interpreter_class():
    """(Interpreter class, "runtime version"): ai_edge_litert, else tflite_runtime."""
    try:
        from ai_edge_litert import interpreter as module
        name = "ai-edge-litert"
    except ImportError:
        try:
            from tflite_runtime import interpreter as module
            name = "tflite-runtime"
        except ImportError:
            raise UserError(f"no TFLite runtime found: {RUNTIME_HINT}") from None
    try:
        from importlib import metadata
        version = metadata.version(name)
    except Exception:  # a runtime installed without dist-info still runs
        version = ""
    return module.Interpreter, f"{name} {version}".strip()


def signature_key(tensor_name: str, keys=()) -> str:
    """`token_ids` for `token_ids` or TFLite's default `serving_default_token_ids:0`."""
    name = tensor_name.split(":")[0]
    for key in keys:
        if name == key or name.endswith("_" + key):
            return key
    prefix = SIGNATURE_KEY + "_"
    return name[len(prefix):] if name.startswith(prefix) else name


class Runner:
    """A `.tflite` file loaded in the interpreter, its inputs by signature key."""

    def __init__(self, path: str, num_threads: int | None = None, input_keys=()):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise UserError(f"{self.path}: no such file")
        with open(self.path, "rb") as f:
            head = f.read(8)
        if len(head) < 8 or head[4:8] != b"TFL3":
            raise UserError(f"{self.path}: not a TFLite model (no TFL3 identifier)")
        interpreter_class, self.runtime = load_interpreter_class()
        try:
            self.interpreter = interpreter_class(model_path=self.path, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            reason = " ".join(str(e).split())[:200]
            raise UserError(f"{self.path}: truncated or corrupt TFLite model ({reason})") from None
        self.inputs = {signature_key(d["name"], input_keys): d
                       for d in self.interpreter.get_input_details()}
        self.outputs = self.interpreter.get_output_details()

    def input_shape(self, name: str) -> tuple:
        return tuple(int(d) for d in self.inputs[name]["shape"])

    def set_inputs(self, arrays: dict) -> None:
        for name, value in arrays.items():
            detail = self.inputs.get(name)
            if detail is None:
                raise UserError(f"{self.path}: the model has no input {name!r} (inputs are "
                                f"{sorted(self.inputs)})")
            self.interpreter.set_tensor(detail["index"], np.asarray(value, dtype=detail["dtype"]))

    def output(self) -> np.ndarray:
        """The first output of the last invoke, float32 (dequantized if it is integer)."""
        out = self.outputs[0]
        value = self.interpreter.get_tensor(out["index"])
        scale, zero_point = out.get("quantization", (0.0, 0))
        if np.issubdtype(value.dtype, np.integer) and scale:
            return (value.astype(np.float32) - zero_point) * np.float32(scale)
        return np.array(value, dtype=np.float32)

    def run(self, arrays: dict) -> np.ndarray:
        """One invoke on `arrays` (by signature key); the first output as float32."""
        self.set_inputs(arrays)
        self.interpreter.invoke()
        return self.output()

    def run_all(self, inputs: dict) -> np.ndarray:
        """float32 [n, C]: one invoke per row of the [n, ...] `inputs` (batch 1 files)."""
        n = len(next(iter(inputs.values())))
        rows = [self.run({name: value[i:i + 1] for name, value in inputs.items()})[0]
                for i in range(n)]
        return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


class CompiledRunner:
    """A file compiled by LiteRT's `CompiledModel` for one accelerator (the GPU check).

        runner = CompiledRunner(path, "gpu", enforce_f32=True)
        runner.fully_accelerated; runner.run({"token_ids": ids, ...}) -> {output: array}
    """

    def __init__(self, path: str, accelerator: str, enforce_f32: bool = False):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import GpuOptions, Options

        if accelerator == "gpu":
            options = Options(HardwareAccelerator.GPU,
                              gpu_options=GpuOptions(enforce_f32=enforce_f32))
        else:
            options = Options(HardwareAccelerator.CPU)
        self.model = CompiledModel.from_file(path, options=options)
        self.fully_accelerated = bool(self.model.is_fully_accelerated())
        self._buffers = None

    def _prepare(self) -> None:
        model = self.model
        signatures = model.get_signature_list()
        key = SIGNATURE_KEY if SIGNATURE_KEY in signatures else next(iter(signatures))
        self._key = key
        self._dtypes = ({n: np.dtype(d["dtype"])
                         for n, d in model.get_input_tensor_details(key).items()}
                        if key == SIGNATURE_KEY else {})
        self._ins = {n: model.create_input_buffer_by_name(key, n)
                     for n in signatures[key]["inputs"]}
        self._outs = {n: model.create_output_buffer_by_name(key, n)
                      for n in signatures[key]["outputs"]}
        self._shapes = {n: tuple(buf.get_tensor_details()["shape"])
                        for n, buf in self._outs.items()}
        self._buffers = True

    def run(self, example: dict) -> dict:
        """One run; `example` by input name (a single-input file takes any one array)."""
        if self._buffers is None:
            self._prepare()
        for name, buf in self._ins.items():
            value = example[name] if len(self._ins) > 1 or name in example \
                else next(iter(example.values()))
            if name in self._dtypes:
                value = value.astype(self._dtypes[name], copy=False)
            buf.write(value)
        self.model.run_by_name(self._key, self._ins, self._outs)
        return {n: self._outs[n].read(int(np.prod(shape)), np.float32).reshape(shape)
                for n, shape in self._shapes.items()}
