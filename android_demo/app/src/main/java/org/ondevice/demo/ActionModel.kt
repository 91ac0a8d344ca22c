package org.ondevice.demo

import android.content.Context
import android.os.SystemClock
import java.io.ByteArrayInputStream
import java.io.Closeable
import java.io.File
import java.io.FileOutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.json.JSONObject
import org.ondevice.core.Action
import org.ondevice.core.ActionDecoder
import org.ondevice.core.ActionGrammar
import org.ondevice.core.ByteLevelBpeTokenizer
import org.ondevice.core.ModelManifest
import org.ondevice.core.ModelMismatchException
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter

/**
 * The bundled action model (`assets/assistant/`): a `.tflite` with `prefill` and `decode`
 * signatures run through LiteRT's signature API, its KV cache kept here between calls, the
 * core's byte-level BPE tokenizer, greedy loop ([ActionDecoder]) and grammar ([ActionGrammar]).
 *
 * Not thread-safe by design: create, run and close it on one thread ([ModelThread]).
 * ```
 * val model = ActionModel.create(context, assets, "int8_dynamic.tflite", Accelerator.GPU)
 * val r = model.act("wake me up at 6:30") { text -> show(text) }   // streamed as it is decoded
 * r.parsed        // Action set_alarm(time=06:30), or null when the raw model's text does not parse
 * ```
 * Accelerators follow [LiteRtModel]: GPU after `CompatibilityList`, NNAPI from API 27, else
 * the CPU (XNNPACK), with the reason of a fallback in [fallbackReason]. A delegate that builds
 * but cannot run the signatures also falls back: one prefill runs before the model is handed out.
 */
class ActionModel private constructor(
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    private val layout: Layout,
    val tokenizer: ByteLevelBpeTokenizer,
    val fileName: String,
    val accelerator: Accelerator,
    val fallbackReason: String?,
) : ActionDecoder.CachedLm, Closeable {

    data class Result(
        val command: String,
        /** The text of the generated ids (special tokens skipped). */
        val action: String,
        /** The parsed action; null when [action] does not parse (only without the grammar). */
        val parsed: Action?,
        val promptTokens: Int,
        val generatedTokens: Int,
        val prefillMillis: Double,
        /** Mean time of one decode call (0 when there was none). */
        val decodeMillisPerToken: Double,
        val totalMillis: Double,
        val accelerator: Accelerator,
        val fallbackReason: String?,
    )

    /** What the manifest says about the two signatures, checked against the file. */
    private class Layout(val promptLength: Int, val maxLength: Int, val vocabularySize: Int,
                         val cacheNames: List<String>)

    private val grammar = ActionGrammar(tokenizer)
    private val decoder = ActionDecoder(tokenizer, this)
    // One direct buffer per cache tensor, fed to each call and overwritten by its outputs.
    private val caches: Map<String, ByteBuffer> = layout.cacheNames.associateWith {
        val bytes = interpreter.getInputTensorFromSignature(it, PREFILL).numBytes()
        ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())
    }
    private val zeros = ByteArray(caches.values.maxOf { it.capacity() })
    private val logits = Array(1) { FloatArray(layout.vocabularySize) }

    // Per act(): the streaming callback, the ids generated so far, and the time spent.
    private var onText: ((String) -> Unit)? = null
    private val generated = ArrayList<Int>()
    private var prefillNanos = 0L
    private var decodeNanos = 0L
    private var decodeCalls = 0

    override fun prefillLength() = layout.promptLength

    override fun maxLength() = layout.maxLength

    override fun reset() {
        for (buffer in caches.values) {
            buffer.clear()
            buffer.put(zeros, 0, buffer.capacity())
        }
        generated.clear()
    }

    override fun prefill(tokens: IntArray, length: Int, start: Int): FloatArray {
        val began = SystemClock.elapsedRealtimeNanos()
        val out = run(PREFILL, mapOf("tokens" to arrayOf(tokens), "length" to intArrayOf(length),
            "start" to intArrayOf(start)))
        prefillNanos += SystemClock.elapsedRealtimeNanos() - began
        return out
    }

    override fun decode(token: Int, position: Int): FloatArray {
        // The decoder calls this right after choosing `token`: the moment to show it.
        generated.add(token)
        onText?.invoke(completeText(tokenizer.decodeBytes(generated.toIntArray())))
        val began = SystemClock.elapsedRealtimeNanos()
        val out = run(DECODE, mapOf("token" to arrayOf(intArrayOf(token)), "position" to intArrayOf(position)))
        decodeNanos += SystemClock.elapsedRealtimeNanos() - began
        decodeCalls++
        return out
    }

    /** One signature call: `inputs` plus the caches in, logits and the new caches out. */
    private fun run(signature: String, inputs: Map<String, Any>): FloatArray {
        val outputs = HashMap<String, Any>(caches)
        outputs[LOGITS] = logits
        // Inputs are read before outputs are written, so one buffer serves as both; an output
        // is copied with ByteBuffer.put, which moves the position: rewind before every call.
        for (buffer in caches.values) buffer.rewind()
        interpreter.runSignature(inputs + caches, outputs, signature)
        return logits[0].copyOf()
    }

    /**
     * The action for `command`, greedy and, when `constrained`, limited by the grammar (the
     * output then always parses). `onText` gets the action's text so far after each token, on
     * this (the model's) thread.
     */
    fun act(command: String, constrained: Boolean = true, onText: ((String) -> Unit)? = null): Result {
        this.onText = onText
        prefillNanos = 0L
        decodeNanos = 0L
        decodeCalls = 0
        val began = SystemClock.elapsedRealtimeNanos()
        try {
            val r = decoder.act(command, if (constrained) grammar.maskFor(command) else null)
            val totalMillis = (SystemClock.elapsedRealtimeNanos() - began) / 1e6
            return Result(command, r.action, r.parsed, r.promptIds.size, r.generatedIds.size,
                prefillNanos / 1e6, if (decodeCalls == 0) 0.0 else decodeNanos / 1e6 / decodeCalls,
                totalMillis, accelerator, fallbackReason)
        } finally {
            this.onText = null
        }
    }

    override fun close() {
        interpreter.close()
        (delegate as? AutoCloseable)?.close()
    }

    companion object {
        const val PREFILL = "prefill"
        const val DECODE = "decode"
        private const val LOGITS = "logits"
        private val PREFILL_INPUTS = setOf("tokens", "length", "start")
        private val DECODE_INPUTS = setOf("token", "position")
        private const val CPU_THREADS = 2

        /**
         * Opens `fileName` of the bundled action export on `requested` (falling back to the CPU).
         * @throws ModelMismatchException when a file, its digest, a signature or a tensor differs
         *     from `manifest.json`, or the manifest is not an action model's
         */
        @Throws(ModelMismatchException::class)
        fun create(context: Context, assets: ModelAssets, fileName: String, requested: Accelerator): ActionModel {
            val manifest = assets.open("manifest.json").use { JSONObject(it.readBytes().toString(Charsets.UTF_8)) }
            val where = "${assets.folder}/manifest.json"
            if (manifest.optString("task") != "action") {
                throw ModelMismatchException("$where: task '${manifest.optString("task")}' is not an action model's; " +
                    "bundle an export of configs/assistant_actions.py")
            }
            val tokenizer = loadTokenizer(context, assets, manifest, where)
            checkSpecialIds(manifest, where)
            val buffer = assets.mapModel(fileName)
            var reason: String? = null
            if (requested != Accelerator.CPU) {
                var delegate: Delegate? = null
                var interpreter: Interpreter? = null
                try {
                    delegate = LiteRtModel.createDelegate(requested)
                    interpreter = Interpreter(buffer, Interpreter.Options().addDelegate(delegate))
                    val layout = checkSignatures(interpreter, manifest, fileName, where)
                    return ActionModel(interpreter, delegate, layout, tokenizer, fileName, requested, null)
                        .also { it.warmUp() }
                } catch (e: ModelMismatchException) {
                    interpreter?.close()
                    (delegate as? AutoCloseable)?.close()
                    throw e
                } catch (e: Exception) {  // unsupported device, driver, op or signature: the CPU runs it
                    interpreter?.close()
                    (delegate as? AutoCloseable)?.close()
                    val why = e.message?.lineSequence()?.firstOrNull() ?: e.javaClass.simpleName
                    reason = "${requested.label} unavailable: $why"
                }
            }
            val interpreter = Interpreter(buffer, Interpreter.Options().setNumThreads(CPU_THREADS).setUseXNNPACK(true))
            try {
                val layout = checkSignatures(interpreter, manifest, fileName, where)
                return ActionModel(interpreter, null, layout, tokenizer, fileName, Accelerator.CPU, reason)
            } catch (e: Exception) {
                interpreter.close()
                throw e
            }
        }

        /** The prompt format the core's decoder writes (bos 1, eos 2, sep 3, pad 0) must be the manifest's. */
        private fun checkSpecialIds(manifest: JSONObject, where: String) {
            val ids = manifest.optJSONObject("special_ids")
                ?: throw ModelMismatchException("$where: no \"special_ids\"")
            val want = mapOf("pad" to ByteLevelBpeTokenizer.PAD, "bos" to ByteLevelBpeTokenizer.BOS,
                "eos" to ByteLevelBpeTokenizer.EOS, "sep" to ByteLevelBpeTokenizer.SEP)
            for ((name, id) in want) {
                if (ids.optInt(name, -1) != id) {
                    throw ModelMismatchException("$where: special id $name is ${ids.opt(name)}; this app writes $id")
                }
            }
        }

        /**
         * vocabulary.json and merges.txt, digests checked against the manifest's `tokenizer`,
         * copied out of the APK (the core reads files) and parsed by the core.
         */
        private fun loadTokenizer(context: Context, assets: ModelAssets, manifest: JSONObject,
                                  where: String): ByteLevelBpeTokenizer {
            val spec = manifest.optJSONObject("tokenizer")
                ?: throw ModelMismatchException("$where: no \"tokenizer\" section")
            val digests = spec.optJSONObject("sha256") ?: JSONObject()
            val dir = File(context.cacheDir, assets.folder).apply { mkdirs() }
            val files = listOf(spec.optString("vocabulary_file", ByteLevelBpeTokenizer.VOCABULARY_FILE),
                spec.optString("merges_file", ByteLevelBpeTokenizer.MERGES_FILE)).map { name ->
                if (!assets.exists(name)) {
                    throw ModelMismatchException("${assets.folder}/$name: not in the app's assets; run python -m export.bundle")
                }
                val bytes = assets.open(name).use { it.readBytes() }
                val want = digests.optString(name, "")
                val got = ModelManifest.sha256Hex(ByteArrayInputStream(bytes))
                if (want.isNotEmpty() && !want.equals(got, ignoreCase = true)) {
                    throw ModelMismatchException("${assets.folder}/$name: sha256 $got differs from $where ($want); " +
                        "run python -m export.bundle again")
                }
                writeAtomically(File(dir, name), bytes)
            }
            return ByteLevelBpeTokenizer.fromFiles(files[0].toPath(), files[1].toPath())
        }

        /** Temp file in the same folder, fsync, rename: a reader never sees half a file. */
        private fun writeAtomically(target: File, bytes: ByteArray): File {
            val temp = File(target.parentFile, ".${target.name}.tmp-${android.os.Process.myPid()}")
            FileOutputStream(temp).use { it.write(bytes); it.fd.sync() }
            if (!temp.renameTo(target)) {
                temp.delete()
                throw java.io.IOException("$target: could not be written")
            }
            return target
        }

        /**
         * Both signatures with exactly the manifest's inputs and outputs (names, dtypes, shapes),
         * the caches shared by both, and sizes that agree with prompt_length, max_length and the
         * vocabulary.
         */
        private fun checkSignatures(interpreter: Interpreter, manifest: JSONObject, fileName: String,
                                    where: String): Layout {
            val signatures = manifest.optJSONObject("signatures")
                ?: throw ModelMismatchException("$where: no \"signatures\"")
            val keys = interpreter.signatureKeys.toSet()
            for (key in listOf(PREFILL, DECODE)) {
                val spec = signatures.optJSONObject(key)
                    ?: throw ModelMismatchException("$where: no \"$key\" signature")
                if (key !in keys) {
                    throw ModelMismatchException("$fileName: signatures are $keys; $where expects $key")
                }
                checkTensors(fileName, key, "inputs", spec.getJSONObject("inputs"),
                    interpreter.getSignatureInputs(key).toSet()) { interpreter.getInputTensorFromSignature(it, key) }
                checkTensors(fileName, key, "outputs", spec.getJSONObject("outputs"),
                    interpreter.getSignatureOutputs(key).toSet()) { interpreter.getOutputTensorFromSignature(it, key) }
            }
            val prefillInputs = interpreter.getSignatureInputs(PREFILL).toSet()
            val cacheNames = (prefillInputs - PREFILL_INPUTS).sorted()
            val decodeInputs = interpreter.getSignatureInputs(DECODE).toSet()
            val missing = (PREFILL_INPUTS - prefillInputs) + (DECODE_INPUTS - decodeInputs)
            if (missing.isNotEmpty() || cacheNames.toSet() != decodeInputs - DECODE_INPUTS || cacheNames.isEmpty()) {
                throw ModelMismatchException("$fileName: not a KV-cache model: prefill takes $prefillInputs, " +
                    "decode $decodeInputs")
            }
            for (key in listOf(PREFILL, DECODE)) {
                val outs = interpreter.getSignatureOutputs(key).toSet()
                if (outs != cacheNames.toSet() + LOGITS) {
                    throw ModelMismatchException("$fileName: $key writes $outs; expected $LOGITS and the caches $cacheNames")
                }
            }
            val promptLength = interpreter.getInputTensorFromSignature("tokens", PREFILL).shape()[1]
            val maxLength = interpreter.getInputTensorFromSignature(cacheNames[0], PREFILL).shape()[1]
            val vocabulary = interpreter.getOutputTensorFromSignature(LOGITS, DECODE).shape()[1]
            val sizes = listOf("prompt_length" to promptLength, "max_length" to maxLength,
                "vocabulary_size" to vocabulary)
            for ((field, size) in sizes) {
                if (manifest.optInt(field, size) != size) {
                    throw ModelMismatchException("$fileName: $field is $size in the file, ${manifest.opt(field)} in $where")
                }
            }
            return Layout(promptLength, maxLength, vocabulary, cacheNames)
        }

        private fun checkTensors(fileName: String, key: String, side: String, spec: JSONObject, names: Set<String>,
                                 tensor: (String) -> org.tensorflow.lite.Tensor) {
            val expected = spec.keys().asSequence().toSet()
            if (expected != names) {
                throw ModelMismatchException("$fileName: $key $side are ${names.sorted()}; " +
                    "manifest.json expects ${expected.sorted()}")
            }
            for (name in names) {
                val t = tensor(name)
                val want = spec.getJSONObject(name)
                val wantShape = want.getJSONArray("shape").let { a -> IntArray(a.length()) { a.getInt(it) } }
                val dtype = t.dataType().name.lowercase()
                if (dtype != want.getString("dtype") || !t.shape().contentEquals(wantShape)) {
                    throw ModelMismatchException("$fileName: $key $side $name is $dtype ${t.shape().contentToString()}; " +
                        "manifest.json expects ${want.getString("dtype")} ${wantShape.contentToString()}")
                }
            }
        }

        /**
         * `bytes` as text without a character cut at its end (a CJK character or an emoji spans
         * several tokens): the streamed text never flickers a U+FFFD that the next token completes.
         */
        internal fun completeText(bytes: ByteArray): String {
            var end = bytes.size
            // Walk back over at most 3 continuation bytes to the last lead byte.
            var k = end - 1
            while (k >= 0 && end - k <= 3 && (bytes[k].toInt() and 0xC0) == 0x80) k--
            if (k >= 0) {
                val lead = bytes[k].toInt() and 0xFF
                val need = when {
                    lead >= 0xF0 -> 4
                    lead >= 0xE0 -> 3
                    lead >= 0xC0 -> 2
                    else -> 1
                }
                if (end - k < need) end = k
            }
            return String(bytes, 0, end, Charsets.UTF_8)
        }
    }

    /** One prefill of bos, so a delegate that builds but cannot run the signatures fails here. */
    private fun warmUp() {
        val tokens = IntArray(layout.promptLength).also { it[0] = ByteLevelBpeTokenizer.BOS }
        reset()
        prefill(tokens, 1, 0)
        reset()
    }
}
