package org.ondevice.demo

import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.ondevice.core.ModelManifest
import org.ondevice.core.ModelMismatchException
import org.ondevice.core.TensorSpec

/**
 * A classifier's or recommender's `.tflite` (one signature, int32 inputs, one float32 output)
 * opened by the [ModelRuntime] on the requested accelerator, falling back to the CPU (XNNPACK)
 * with the reason kept in [fallbackReason], and refused when its sha256 or tensors differ from
 * the manifest.
 *
 * Not thread-safe by design: create, run and close it on one thread ([ModelThread]).
 * ```
 * val model = LiteRtModel.create(assets, "fp32.tflite", Accelerator.GPU)
 * model.accelerator     // GPU, or CPU after a fallback
 * val probabilities = model.run(listOf(ids, mask, segments))   // the manifest's input order
 * ```
 */
class LiteRtModel private constructor(
    private val model: LoadedModel,
    private val signature: String,
    private val inputs: List<TensorSpec>,
    private val output: TensorSpec,
    val fileName: String,
    val requested: Accelerator,
    val accelerator: Accelerator,
    val fallbackReason: String?,
) : Closeable {
    val outputSize: Int = output.elementCount()
    private val inputBuffers = inputs.map { direct(4 * it.elementCount()) }
    private val outputBuffer = direct(4 * outputSize)

    /** One call; `values` in the manifest's input order, each flattened. */
    fun run(values: List<IntArray>): FloatArray {
        require(values.size == inputs.size) { "${values.size} inputs given, $fileName has ${inputs.size}" }
        val feed = HashMap<String, ByteBuffer>()
        for ((i, spec) in inputs.withIndex()) {
            require(values[i].size == spec.elementCount()) { "${spec.name} takes ${spec.elementCount()} values, got ${values[i].size}" }
            inputBuffers[i].asIntBuffer().put(values[i])
            feed[spec.name] = inputBuffers[i]
        }
        model.run(signature, feed, mapOf(output.name to outputBuffer))
        return FloatArray(outputSize).also { outputBuffer.asFloatBuffer().get(it) }
    }

    override fun close() = model.close()

    companion object {
        internal fun direct(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())

        /** @throws ModelMismatchException when the file or its tensors do not match the manifest */
        @Throws(ModelMismatchException::class)
        fun create(assets: ModelAssets, fileName: String, requested: Accelerator,
                   runtime: ModelRuntime = ModelRuntimes.current): LiteRtModel {
            val buffer = assets.mapModel(fileName)
            val entry = assets.manifest.file(fileName)
            val (model, accelerator, reason) = loadWithFallback(runtime, buffer, requested, entry.gpuNeedsFloat32)
            try {
                val signature = model.signatureKeys.singleOrNull()
                    ?: throw ModelMismatchException("$fileName: signatures ${model.signatureKeys}; expected one")
                val inputs = inManifestOrder(model.inputs(signature), entry.inputs)
                val outputs = inManifestOrder(model.outputs(signature), entry.outputs)
                assets.manifest.checkTensors(fileName, inputs, outputs)
                if (inputs.any { it.dtype != "int32" } || outputs.size != 1 || outputs[0].dtype != "float32") {
                    throw ModelMismatchException("$fileName: needs int32 inputs and one float32 output, has $inputs -> $outputs")
                }
                return LiteRtModel(model, signature, inputs, outputs[0], fileName, requested, accelerator, reason)
            } catch (e: Exception) {
                model.close()
                throw e
            }
        }

        /**
         * `requested` if the runtime can open the model there, else the CPU; the reason of a
         * fallback is its first message line.
         */
        internal fun loadWithFallback(runtime: ModelRuntime, buffer: ByteBuffer, requested: Accelerator,
                                      gpuFloat32: Boolean = false): Triple<LoadedModel, Accelerator, String?> {
            var reason: String? = null
            if (requested != Accelerator.CPU) {
                try {
                    return Triple(runtime.load(buffer, requested, gpuFloat32), requested, null)
                } catch (e: Exception) {  // unsupported device, driver or op: fall back to the CPU
                    reason = "${requested.label} unavailable: ${firstLine(e)}"
                }
            }
            return Triple(runtime.load(buffer, Accelerator.CPU), Accelerator.CPU, reason)
        }

        internal fun firstLine(e: Throwable): String =
            e.message?.lineSequence()?.firstOrNull() ?: e.javaClass.simpleName

        /** The runtime's tensors (a signature lists them by name) in the manifest's order. */
        private fun inManifestOrder(tensors: List<TensorSpec>, manifest: List<TensorSpec>): List<TensorSpec> {
            val rank = manifest.withIndex().associate { it.value.name to it.index }
            return tensors.sortedBy { rank[it.name] ?: Int.MAX_VALUE }
        }
    }
}
