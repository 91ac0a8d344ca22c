package org.ondevice.demo

import android.content.Context
import android.os.SystemClock
import java.io.ByteArrayInputStream
import java.io.Closeable
import java.io.File
import java.io.FileOutputStream
import java.nio.ByteBuffer
import org.json.JSONObject
import org.ondevice.core.Action
import org.ondevice.core.ActionDecoder
import org.ondevice.core.ActionGrammar
import org.ondevice.core.ByteLevelBpeTokenizer
import org.ondevice.core.ModelManifest
import org.ondevice.core.ModelMismatchException
import org.ondevice.core.TensorSpec

/**
 * The bundled action model (`assets/assistant/`): a `.tflite` with `prefill` and `decode`
 * signatures run through the [ModelRuntime]'s signature calls, its KV cache kept here between calls, the
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
    private val model: LoadedModel,
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
                         val cacheNames: List<String>, val inputBytes: Map<String, Map<String, Int>>)

    private val grammar = ActionGrammar(tokenizer)
    private val decoder = ActionDecoder(tokenizer, this)
    // One direct buffer per cache tensor, fed to each call and overwritten by its outputs.
    private val caches: Map<String, ByteBuffer> = layout.cacheNames.associateWith {
        LiteRtModel.direct(layout.inputBytes.getValue(PREFILL).getValue(it))
    }
    private val zeros = ByteArray(caches.values.maxOf { it.capacity() })
    private val logits = LiteRtModel.direct(4 * layout.vocabularySize)
    // The int32 inputs of each signature (tokens, length, start; token, position), reused.
    private val feeds: Map<String, Map<String, ByteBuffer>> = layout.inputBytes.mapValues { (_, sizes) ->
        sizes.filterKeys { it !in caches }.mapValues { LiteRtModel.direct(it.value) }
    }

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
        val out = run(PREFILL, mapOf("tokens" to tokens, "length" to intArrayOf(length),
            "start" to intArrayOf(start)))
        prefillNanos += SystemClock.elapsedRealtimeNanos() - began
        return out
    }

    override fun decode(token: Int, position: Int): FloatArray {
        // The decoder calls this right after choosing `token`: the moment to show it.
        generated.add(token)
        onText?.invoke(completeText(tokenizer.decodeBytes(generated.toIntArray())))
        val began = SystemClock.elapsedRealtimeNanos()
        val out = run(DECODE, mapOf("token" to intArrayOf(token), "position" to intArrayOf(position)))
        decodeNanos += SystemClock.elapsedRealtimeNanos() - began
        decodeCalls++
        return out
    }

    /** One signature call: `inputs` plus the caches in, logits and the new caches out. */
    private fun run(signature: String, values: Map<String, IntArray>): FloatArray {
        val feed = HashMap<String, ByteBuffer>(caches)
        for ((name, buffer) in feeds.getValue(signature)) {
            val v = values.getValue(name)
            require(4 * v.size == buffer.capacity()) { "$signature.$name takes ${buffer.capacity() / 4} values, got ${v.size}" }
            buffer.asIntBuffer().put(v)
            feed[name] = buffer
        }
        val outputs = HashMap<String, ByteBuffer>(caches)
        outputs[LOGITS] = logits
        // Inputs are read before outputs are written, so each cache buffer serves as both.
        model.run(signature, feed, outputs)
        return FloatArray(layout.vocabularySize).also { logits.asFloatBuffer().get(it) }
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

    override fun close() = model.close()

    companion object {
        const val PREFILL = "prefill"
        const val DECODE = "decode"
        private const val LOGITS = "logits"
        private val PREFILL_INPUTS = setOf("tokens", "length", "start")
        private val DECODE_INPUTS = setOf("token", "position")

        /**
         * Opens `fileName` of the bundled action export on `requested` (falling back to the CPU).
         * @throws ModelMismatchException when a file, its digest, a signature or a tensor differs
         *     from `manifest.json`, or the manifest is not an action model's
         */
        @Throws(ModelMismatchException::class)
        fun create(context: Context, assets: ModelAssets, fileName: String, requested: Accelerator,
                   runtime: ModelRuntime = ModelRuntimes.current): ActionModel {
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
                var model: LoadedModel? = null
                try {
                    val entry = manifest.optJSONObject("files")?.optJSONObject(fileName)
                    model = runtime.load(buffer, requested, ModelManifest.gpuNeedsFloat32(entry))
                    val layout = checkSignatures(model, manifest, fileName, where)
                    return ActionModel(model, layout, tokenizer, fileName, requested, null).also { it.warmUp() }
                } catch (e: ModelMismatchException) {
                    model?.close()
                    throw e
                } catch (e: Exception) {  // unsupported device, driver, op or signature: the CPU runs it
                    model?.close()
                    reason = "${requested.label} unavailable: ${LiteRtModel.firstLine(e)}"
                }
            }
            val model = runtime.load(buffer, Accelerator.CPU)
            try {
                val layout = checkSignatures(model, manifest, fileName, where)
                return ActionModel(model, layout, tokenizer, fileName, Accelerator.CPU, reason)
            } catch (e: Exception) {
                model.close()
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
            val type = spec.optString("type", "")
            if (type != "byte_level_bpe") {
                // e.g. "chatml_byte_level_bpe" (SmolLM2): another pre-tokeniser and prompt, not ported yet.
                throw ModelMismatchException("$where: tokenizer type \"$type\"; this app reads only \"byte_level_bpe\"")
            }
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
        private fun checkSignatures(model: LoadedModel, manifest: JSONObject, fileName: String,
                                    where: String): Layout {
            val signatures = manifest.optJSONObject("signatures")
                ?: throw ModelMismatchException("$where: no \"signatures\"")
            val keys = model.signatureKeys.toSet()
            val inputs = HashMap<String, Map<String, TensorSpec>>()
            val outputs = HashMap<String, Map<String, TensorSpec>>()
            for (key in listOf(PREFILL, DECODE)) {
                val spec = signatures.optJSONObject(key)
                    ?: throw ModelMismatchException("$where: no \"$key\" signature")
                if (key !in keys) {
                    throw ModelMismatchException("$fileName: signatures are $keys; $where expects $key")
                }
                inputs[key] = model.inputs(key).associateBy { it.name }
                outputs[key] = model.outputs(key).associateBy { it.name }
                checkTensors(fileName, key, "inputs", spec.getJSONObject("inputs"), inputs.getValue(key))
                checkTensors(fileName, key, "outputs", spec.getJSONObject("outputs"), outputs.getValue(key))
            }
            val prefillInputs = inputs.getValue(PREFILL).keys
            val cacheNames = (prefillInputs - PREFILL_INPUTS).sorted()
            val decodeInputs = inputs.getValue(DECODE).keys
            val missing = (PREFILL_INPUTS - prefillInputs) + (DECODE_INPUTS - decodeInputs)
            if (missing.isNotEmpty() || cacheNames.toSet() != decodeInputs - DECODE_INPUTS || cacheNames.isEmpty()) {
                throw ModelMismatchException("$fileName: not a KV-cache model: prefill takes $prefillInputs, " +
                    "decode $decodeInputs")
            }
            for (key in listOf(PREFILL, DECODE)) {
                val outs = outputs.getValue(key).keys
                if (outs != cacheNames.toSet() + LOGITS) {
                    throw ModelMismatchException("$fileName: $key writes $outs; expected $LOGITS and the caches $cacheNames")
                }
            }
            val promptLength = inputs.getValue(PREFILL).getValue("tokens").shape()[1]
            val maxLength = inputs.getValue(PREFILL).getValue(cacheNames[0]).shape()[1]
            val vocabulary = outputs.getValue(DECODE).getValue(LOGITS).shape()[1]
            val sizes = listOf("prompt_length" to promptLength, "max_length" to maxLength,
                "vocabulary_size" to vocabulary)
            for ((field, size) in sizes) {
                if (manifest.optInt(field, size) != size) {
                    throw ModelMismatchException("$fileName: $field is $size in the file, ${manifest.opt(field)} in $where")
                }
            }
            // Buffers are sized at 4 bytes an element: int32 and float32 only.
            val odd = (inputs.values + outputs.values).flatMap { it.values }.filter { it.dtype != "int32" && it.dtype != "float32" }
            if (odd.isNotEmpty()) {
                throw ModelMismatchException("$fileName: tensors of other types than int32 and float32: $odd")
            }
            val bytes = inputs.mapValues { (_, specs) -> specs.mapValues { 4 * it.value.elementCount() } }
            return Layout(promptLength, maxLength, vocabulary, cacheNames, bytes)
        }

        private fun checkTensors(fileName: String, key: String, side: String, spec: JSONObject,
                                 tensors: Map<String, TensorSpec>) {
            val expected = spec.keys().asSequence().toSet()
            val names = tensors.keys
            if (expected != names) {
                throw ModelMismatchException("$fileName: $key $side are ${names.sorted()}; " +
                    "manifest.json expects ${expected.sorted()}")
            }
            for (name in names) {
                val t = tensors.getValue(name)
                val want = spec.getJSONObject(name)
                val wantShape = want.getJSONArray("shape").let { a -> IntArray(a.length()) { a.getInt(it) } }
                val dtype = t.dtype
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
