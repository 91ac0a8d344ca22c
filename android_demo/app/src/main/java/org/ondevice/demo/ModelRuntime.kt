package org.ondevice.demo

import java.io.Closeable
import java.nio.ByteBuffer
import org.ondevice.core.TensorSpec

/**
 * What the screens need of a `.tflite` runtime: open a model on an accelerator, list its
 * signatures' tensors, run a signature. On a device it is LiteRT's Interpreter
 * ([InterpreterRuntime]); the JVM screen tests (android_demo/jvm) put LiteRT's C library
 * (libLiteRt.so, through JNA) here instead, on the same exported files.
 * ```
 * val model = ModelRuntimes.current.load(mappedFile, Accelerator.CPU)
 * model.run("serving_default", mapOf("item_ids" to ids), mapOf("scores" to scores))
 * ```
 */
interface ModelRuntime {
    /**
     * Opens `model` (the file's bytes, e.g. memory-mapped) for `accelerator`; `gpuFloat32`:
     * ask the GPU for float32 arithmetic instead of its float16 default (the manifest's
     * `gpuNeedsFloat32`, from the gate: the file is right on the GPU only in float32).
     * @throws Exception when this runtime or device cannot run it there; [LiteRtModel] and
     *     [ActionModel] then fall back to [Accelerator.CPU] and show the message
     */
    fun load(model: ByteBuffer, accelerator: Accelerator, gpuFloat32: Boolean = false): LoadedModel
}

/** One opened model; not thread-safe (use it on its [ModelThread]). */
interface LoadedModel : Closeable {
    val signatureKeys: List<String>

    /** The signature's inputs and outputs by name: element type and shape. */
    fun inputs(signature: String): List<TensorSpec>

    fun outputs(signature: String): List<TensorSpec>

    /**
     * One call of `signature`. Every buffer is in native byte order and holds exactly its
     * tensor's bytes from index 0; inputs are all read before any output is written (so one
     * buffer may be both), and buffer positions are left at 0.
     */
    fun run(signature: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>)
}

/** The runtime the screens open their models with. */
object ModelRuntimes {
    /** LiteRT's Interpreter; replaced only by the JVM tests, before a screen starts. */
    @Volatile
    var current: ModelRuntime = InterpreterRuntime()
}
