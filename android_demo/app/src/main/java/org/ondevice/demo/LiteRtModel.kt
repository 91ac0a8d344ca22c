package org.ondevice.demo

import android.os.Build
import java.io.Closeable
import org.ondevice.core.ModelManifest
import org.ondevice.core.ModelMismatchException
import org.ondevice.core.TensorSpec
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate

/**
 * A `.tflite` file opened with the LiteRT Interpreter on the requested accelerator, falling back
 * to the CPU (XNNPACK) with the reason kept in [fallbackReason], and refused when its tensors
 * differ from the manifest.
 *
 * Not thread-safe by design: create, run and close it on one thread ([ModelThread]).
 * ```
 * val model = LiteRtModel.create(assets, "fp32.tflite", Accelerator.GPU)
 * model.accelerator     // GPU, or CPU after a fallback
 * val probabilities = model.run(arrayOf(ids, mask, segments))
 * ```
 */
class LiteRtModel private constructor(
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    val fileName: String,
    val requested: Accelerator,
    val accelerator: Accelerator,
    val fallbackReason: String?,
    val outputSize: Int,
) : Closeable {

    /** One invoke; `inputs` in the manifest's input order, each shaped like its tensor. */
    fun run(inputs: Array<Any>): FloatArray {
        val output = Array(1) { FloatArray(outputSize) }
        interpreter.runForMultipleInputsOutputs(inputs, mapOf(0 to output))
        return output[0]
    }

    override fun close() {
        interpreter.close()
        (delegate as? AutoCloseable)?.close()
    }

    companion object {
        private const val CPU_THREADS = 2

        /** @throws ModelMismatchException when the file or its tensors do not match the manifest */
        @Throws(ModelMismatchException::class)
        fun create(assets: ModelAssets, fileName: String, requested: Accelerator): LiteRtModel {
            val buffer = assets.mapModel(fileName)
            var reason: String? = null
            var delegate: Delegate? = null
            var interpreter: Interpreter? = null
            if (requested != Accelerator.CPU) {
                try {
                    delegate = createDelegate(requested)
                    interpreter = Interpreter(buffer, Interpreter.Options().addDelegate(delegate))
                } catch (e: Exception) {  // unsupported device, driver or op: fall back to the CPU
                    (delegate as? AutoCloseable)?.close()
                    delegate = null
                    reason = "${requested.label} unavailable: ${e.message?.lineSequence()?.firstOrNull() ?: e.javaClass.simpleName}"
                }
            }
            if (interpreter == null) {
                interpreter = Interpreter(buffer, Interpreter.Options().setNumThreads(CPU_THREADS).setUseXNNPACK(true))
            }
            try {
                checkTensors(interpreter, assets.manifest, fileName)
            } catch (e: ModelMismatchException) {
                interpreter.close()
                (delegate as? AutoCloseable)?.close()
                throw e
            }
            val outputSize = interpreter.getOutputTensor(0).numElements()
            return LiteRtModel(interpreter, delegate, fileName, requested,
                if (delegate != null) requested else Accelerator.CPU, reason, outputSize)
        }

        /** The delegate of `accelerator` (the Assistant's [ActionModel] makes its own the same way). */
        internal fun createDelegate(accelerator: Accelerator): Delegate = when (accelerator) {
            Accelerator.GPU -> {
                val compatibility = CompatibilityList()
                try {
                    if (!compatibility.isDelegateSupportedOnThisDevice) {
                        throw IllegalStateException("the GPU delegate does not support this device's GPU")
                    }
                    GpuDelegate(compatibility.bestOptionsForThisDevice)
                } finally {
                    compatibility.close()
                }
            }
            Accelerator.NNAPI -> {
                if (Build.VERSION.SDK_INT < Build.VERSION_CODES.O_MR1) {
                    throw IllegalStateException("NNAPI needs Android 8.1 (API 27)")
                }
                // No NNAPI CPU reference path: ops NNAPI cannot accelerate run on LiteRT's CPU.
                NnApiDelegate(NnApiDelegate.Options().setUseNnapiCpu(false))
            }
            Accelerator.CPU -> throw IllegalArgumentException("the CPU needs no delegate")
        }

        private fun spec(tensor: org.tensorflow.lite.Tensor) =
            TensorSpec(tensor.name(), tensor.dataType().name.lowercase(), tensor.shape())

        private fun checkTensors(interpreter: Interpreter, manifest: ModelManifest, fileName: String) {
            val inputs = (0 until interpreter.inputTensorCount).map { spec(interpreter.getInputTensor(it)) }
            val outputs = (0 until interpreter.outputTensorCount).map { spec(interpreter.getOutputTensor(it)) }
            manifest.checkTensors(fileName, inputs, outputs)
        }
    }
}
