package org.ondevice.demo

import android.os.Build
import java.nio.ByteBuffer
import org.ondevice.core.TensorSpec
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate

/**
 * [ModelRuntime] on LiteRT's Interpreter (the app's dependency, `org.tensorflow:tensorflow-lite`):
 * GPU through `GpuDelegate` after `CompatibilityList`, NNAPI through `NnApiDelegate` (API 27+),
 * the CPU through XNNPACK. A delegate that is not supported or cannot take the graph throws, and
 * the caller falls back to the CPU.
 */
class InterpreterRuntime : ModelRuntime {
    override fun load(model: ByteBuffer, accelerator: Accelerator, gpuFloat32: Boolean): LoadedModel {
        if (accelerator == Accelerator.CPU) {
            return Loaded(Interpreter(model, Interpreter.Options().setNumThreads(CPU_THREADS).setUseXNNPACK(true)), null)
        }
        val delegate = createDelegate(accelerator, gpuFloat32)
        try {
            return Loaded(Interpreter(model, Interpreter.Options().addDelegate(delegate)), delegate)
        } catch (e: Exception) {
            (delegate as? AutoCloseable)?.close()
            throw e
        }
    }

    private class Loaded(private val interpreter: Interpreter, private val delegate: Delegate?) : LoadedModel {
        override val signatureKeys: List<String> get() = interpreter.signatureKeys.toList()

        override fun inputs(signature: String) =
            interpreter.getSignatureInputs(signature).map { spec(interpreter.getInputTensorFromSignature(it, signature)) }

        override fun outputs(signature: String) =
            interpreter.getSignatureOutputs(signature).map { spec(interpreter.getOutputTensorFromSignature(it, signature)) }

        private fun spec(tensor: Tensor) = TensorSpec(tensor.name(), tensor.dataType().name.lowercase(), tensor.shape())

        override fun run(signature: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
            // The Interpreter reads inputs from their position and writes outputs with put().
            for (b in inputs.values) b.rewind()
            for (b in outputs.values) b.rewind()
            interpreter.runSignature(inputs, outputs, signature)
            for (b in outputs.values) b.rewind()
            for (b in inputs.values) b.rewind()
        }

        override fun close() {
            interpreter.close()
            (delegate as? AutoCloseable)?.close()
        }
    }

    private companion object {
        const val CPU_THREADS = 2

        fun createDelegate(accelerator: Accelerator, gpuFloat32: Boolean): Delegate = when (accelerator) {
            Accelerator.GPU -> {
                val compatibility = CompatibilityList()
                try {
                    if (!compatibility.isDelegateSupportedOnThisDevice) {
                        throw IllegalStateException("the GPU delegate does not support this device's GPU")
                    }
                    val options = compatibility.bestOptionsForThisDevice
                    if (gpuFloat32) options.setPrecisionLossAllowed(false)  // float32, not float16
                    GpuDelegate(options)
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
    }
}
