package org.ondevice.demo

import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference
import java.nio.ByteBuffer
import org.ondevice.core.TensorSpec

/**
 * The app's [ModelRuntime] on LiteRT's C library (libLiteRt.so of the ai-edge-litert wheel, the
 * one Python's golden files come from), through JNA: `LiteRtCreateModelFromBuffer` on the very
 * buffer the app mapped from its assets, `LiteRtCreateCompiledModel` on the CPU, one managed
 * buffer per signature tensor. A JVM has no GPU delegate or NNAPI, so those requests throw, as
 * an unsupported device does, and the app falls back to the CPU.
 */
class LiteRtJnaRuntime(libraryPath: String) : ModelRuntime {
    /** The C functions used (ai-edge-litert 2.3 signatures; size_t and pointers are 64-bit). */
    @Suppress("FunctionName")
    interface Api : Library {
        fun LiteRtCreateEnvironment(numOptions: Int, options: Pointer?, env: PointerByReference): Int
        fun LiteRtDestroyEnvironment(env: Pointer)
        fun LiteRtCreateModelFromBuffer(env: Pointer, address: Pointer, size: Long, model: PointerByReference): Int
        fun LiteRtDestroyModel(model: Pointer)
        fun LiteRtGetNumModelSignatures(model: Pointer, count: LongArray): Int
        fun LiteRtGetModelSignature(model: Pointer, index: Long, signature: PointerByReference): Int
        fun LiteRtGetSignatureKey(signature: Pointer, key: PointerByReference): Int
        fun LiteRtGetNumSignatureInputs(signature: Pointer, count: LongArray): Int
        fun LiteRtGetNumSignatureOutputs(signature: Pointer, count: LongArray): Int
        fun LiteRtGetSignatureInputName(signature: Pointer, index: Long, name: PointerByReference): Int
        fun LiteRtGetSignatureOutputName(signature: Pointer, index: Long, name: PointerByReference): Int
        fun LiteRtGetSignatureInputTensorByIndex(signature: Pointer, index: Long, tensor: PointerByReference): Int
        fun LiteRtGetSignatureOutputTensorByIndex(signature: Pointer, index: Long, tensor: PointerByReference): Int
        fun LiteRtGetRankedTensorType(tensor: Pointer, type: Pointer): Int
        fun LiteRtCreateOptions(options: PointerByReference): Int
        fun LiteRtDestroyOptions(options: Pointer)
        fun LiteRtSetOptionsHardwareAccelerators(options: Pointer, accelerators: Int): Int
        fun LiteRtCreateCompiledModel(env: Pointer, model: Pointer, options: Pointer, compiled: PointerByReference): Int
        fun LiteRtDestroyCompiledModel(compiled: Pointer)
        fun LiteRtGetCompiledModelInputBufferRequirements(compiled: Pointer, signature: Long, index: Long,
                                                          requirements: PointerByReference): Int
        fun LiteRtGetCompiledModelOutputBufferRequirements(compiled: Pointer, signature: Long, index: Long,
                                                           requirements: PointerByReference): Int
        fun LiteRtCreateManagedTensorBufferFromRequirements(env: Pointer, type: Pointer, requirements: Pointer,
                                                            buffer: PointerByReference): Int
        fun LiteRtDestroyTensorBuffer(buffer: Pointer)
        fun LiteRtGetTensorBufferPackedSize(buffer: Pointer, size: LongArray): Int
        fun LiteRtLockTensorBuffer(buffer: Pointer, address: PointerByReference, mode: Int): Int
        fun LiteRtUnlockTensorBuffer(buffer: Pointer): Int
        fun LiteRtRunCompiledModel(compiled: Pointer, signature: Long, numInputs: Long, inputs: Array<Pointer>,
                                   numOutputs: Long, outputs: Array<Pointer>): Int
    }

    private val api: Api = Native.load(libraryPath, Api::class.java)

    override fun load(model: ByteBuffer, accelerator: Accelerator, gpuFloat32: Boolean): LoadedModel {
        if (accelerator != Accelerator.CPU) {
            throw IllegalStateException("no ${accelerator.label} on this machine (libLiteRt.so on the JVM runs the CPU only)")
        }
        require(model.isDirect) { "the model buffer must be direct (memory-mapped)" }
        return Compiled(model)
    }

    private fun check(status: Int, call: String) {
        if (status != 0) throw IllegalStateException("$call failed with LiteRtStatus $status")
    }

    private class Tensor(val spec: TensorSpec, val buffer: Pointer, val bytes: Long)

    private class Signature(val index: Long, val inputs: LinkedHashMap<String, Tensor>, val outputs: LinkedHashMap<String, Tensor>)

    private inner class Compiled(private val bytes: ByteBuffer) : LoadedModel {
        private var env: Pointer? = null
        private var model: Pointer? = null
        private var options: Pointer? = null
        private var compiled: Pointer? = null
        private val signatures = LinkedHashMap<String, Signature>()

        init {
            try {
                val ref = PointerByReference()
                check(api.LiteRtCreateEnvironment(0, null, ref), "LiteRtCreateEnvironment")
                env = ref.value
                // LiteRT keeps using the buffer: `bytes` (the app's mapping) lives as long as this.
                check(api.LiteRtCreateModelFromBuffer(env!!, Native.getDirectBufferPointer(bytes),
                    bytes.capacity().toLong(), ref), "LiteRtCreateModelFromBuffer")
                model = ref.value
                check(api.LiteRtCreateOptions(ref), "LiteRtCreateOptions")
                options = ref.value
                check(api.LiteRtSetOptionsHardwareAccelerators(options!!, HW_ACCELERATOR_CPU), "LiteRtSetOptionsHardwareAccelerators")
                check(api.LiteRtCreateCompiledModel(env!!, model!!, options!!, ref), "LiteRtCreateCompiledModel")
                compiled = ref.value
                val count = LongArray(1)
                check(api.LiteRtGetNumModelSignatures(model!!, count), "LiteRtGetNumModelSignatures")
                for (s in 0 until count[0]) {
                    check(api.LiteRtGetModelSignature(model!!, s, ref), "LiteRtGetModelSignature")
                    val signature = ref.value
                    check(api.LiteRtGetSignatureKey(signature, ref), "LiteRtGetSignatureKey")
                    val sig = Signature(s, LinkedHashMap(), LinkedHashMap())
                    signatures[ref.value.getString(0)] = sig
                    val n = LongArray(1)
                    check(api.LiteRtGetNumSignatureInputs(signature, n), "LiteRtGetNumSignatureInputs")
                    for (i in 0 until n[0]) {
                        check(api.LiteRtGetSignatureInputName(signature, i, ref), "LiteRtGetSignatureInputName")
                        val name = ref.value.getString(0)
                        check(api.LiteRtGetSignatureInputTensorByIndex(signature, i, ref), "LiteRtGetSignatureInputTensorByIndex")
                        sig.inputs[name] = tensor(name, ref.value, s, i, true)
                    }
                    check(api.LiteRtGetNumSignatureOutputs(signature, n), "LiteRtGetNumSignatureOutputs")
                    for (i in 0 until n[0]) {
                        check(api.LiteRtGetSignatureOutputName(signature, i, ref), "LiteRtGetSignatureOutputName")
                        val name = ref.value.getString(0)
                        check(api.LiteRtGetSignatureOutputTensorByIndex(signature, i, ref), "LiteRtGetSignatureOutputTensorByIndex")
                        sig.outputs[name] = tensor(name, ref.value, s, i, false)
                    }
                }
            } catch (e: RuntimeException) {
                close()
                throw e
            }
        }

        /** A managed buffer for the tensor, and its type read from LiteRtRankedTensorType. */
        private fun tensor(name: String, tensor: Pointer, signature: Long, index: Long, input: Boolean): Tensor {
            val type = Memory(RANKED_TENSOR_TYPE_BYTES.toLong()).apply { clear() }
            check(api.LiteRtGetRankedTensorType(tensor, type), "LiteRtGetRankedTensorType")
            val ref = PointerByReference()
            if (input) {
                check(api.LiteRtGetCompiledModelInputBufferRequirements(compiled!!, signature, index, ref), "LiteRtGetCompiledModelInputBufferRequirements")
            } else {
                check(api.LiteRtGetCompiledModelOutputBufferRequirements(compiled!!, signature, index, ref), "LiteRtGetCompiledModelOutputBufferRequirements")
            }
            check(api.LiteRtCreateManagedTensorBufferFromRequirements(env!!, type, ref.value, ref), "LiteRtCreateManagedTensorBufferFromRequirements")
            val buffer = ref.value
            val size = LongArray(1)
            check(api.LiteRtGetTensorBufferPackedSize(buffer, size), "LiteRtGetTensorBufferPackedSize")
            return Tensor(spec(name, type, size[0]), buffer, size[0])
        }

        override val signatureKeys: List<String> get() = signatures.keys.toList()

        private fun signature(key: String) =
            signatures[key] ?: throw IllegalArgumentException("no signature $key (signatures: ${signatures.keys})")

        override fun inputs(signature: String) = signature(signature).inputs.values.map { it.spec }

        override fun outputs(signature: String) = signature(signature).outputs.values.map { it.spec }

        override fun run(signature: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
            val sig = signature(signature)
            require(inputs.keys == sig.inputs.keys) { "$signature takes ${sig.inputs.keys}, given ${inputs.keys}" }
            require(outputs.keys.all { it in sig.outputs }) { "$signature writes ${sig.outputs.keys}, asked for ${outputs.keys}" }
            val address = PointerByReference()
            for ((name, t) in sig.inputs) {
                val src = inputs.getValue(name).duplicate().apply { clear() }
                require(src.capacity().toLong() == t.bytes) { "$signature.$name takes ${t.bytes} bytes, given ${src.capacity()}" }
                check(api.LiteRtLockTensorBuffer(t.buffer, address, LOCK_WRITE), "LiteRtLockTensorBuffer")
                address.value.getByteBuffer(0, t.bytes).put(src)
                check(api.LiteRtUnlockTensorBuffer(t.buffer), "LiteRtUnlockTensorBuffer")
            }
            check(api.LiteRtRunCompiledModel(compiled!!, sig.index, sig.inputs.size.toLong(),
                sig.inputs.values.map { it.buffer }.toTypedArray(), sig.outputs.size.toLong(),
                sig.outputs.values.map { it.buffer }.toTypedArray()), "LiteRtRunCompiledModel($signature)")
            for ((name, dst) in outputs) {
                val t = sig.outputs.getValue(name)
                require(dst.capacity().toLong() == t.bytes) { "$signature.$name writes ${t.bytes} bytes, buffer has ${dst.capacity()}" }
                check(api.LiteRtLockTensorBuffer(t.buffer, address, LOCK_READ), "LiteRtLockTensorBuffer")
                dst.duplicate().apply { clear() }.put(address.value.getByteBuffer(0, t.bytes))
                check(api.LiteRtUnlockTensorBuffer(t.buffer), "LiteRtUnlockTensorBuffer")
            }
        }

        override fun close() {
            for (sig in signatures.values) {
                for (t in sig.inputs.values + sig.outputs.values) api.LiteRtDestroyTensorBuffer(t.buffer)
            }
            signatures.clear()
            compiled?.let { api.LiteRtDestroyCompiledModel(it) }
            compiled = null
            options?.let { api.LiteRtDestroyOptions(it) }
            options = null
            model?.let { api.LiteRtDestroyModel(it) }
            model = null
            env?.let { api.LiteRtDestroyEnvironment(it) }
            env = null
        }
    }

    private companion object {
        const val HW_ACCELERATOR_CPU = 1
        const val LOCK_READ = 0
        const val LOCK_WRITE = 1
        const val RANKED_TENSOR_TYPE_BYTES = 256  // >= sizeof(LiteRtRankedTensorType)
        /** LiteRtElementType values (those of TfLiteType) and their manifest names and sizes. */
        val ELEMENT_TYPES = mapOf(1 to ("float32" to 4), 2 to ("int32" to 4), 3 to ("uint8" to 1),
            4 to ("int64" to 8), 6 to ("bool" to 1), 7 to ("int16" to 2), 9 to ("int8" to 1), 10 to ("float16" to 2))

        /**
         * LiteRtRankedTensorType is {element type; LiteRtLayout {uint32 rank; int32 dims[8]; ...}}
         * with the layout at offset 4 or, where it holds a pointer, 8 (it changed between LiteRT
         * releases): the offset taken is the one whose shape has exactly the buffer's bytes.
         */
        fun spec(name: String, type: Pointer, packedBytes: Long): TensorSpec {
            val (dtype, size) = ELEMENT_TYPES[type.getInt(0)]
                ?: throw IllegalStateException("$name: LiteRtElementType ${type.getInt(0)} not known here")
            for (offset in longArrayOf(4, 8)) {
                val rank = type.getInt(offset)
                if (rank !in 0..8) continue
                val shape = type.getIntArray(offset + 4, rank)
                if (shape.all { it > 0 } && shape.fold(size.toLong()) { p, d -> p * d } == packedBytes) {
                    return TensorSpec(name, dtype, shape)
                }
            }
            throw IllegalStateException("$name: no shape in LiteRtRankedTensorType matches its $packedBytes bytes")
        }
    }
}
