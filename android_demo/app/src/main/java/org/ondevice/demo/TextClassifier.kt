package org.ondevice.demo

import android.os.SystemClock
import java.io.Closeable
import org.json.JSONObject
import org.ondevice.core.Classification
import org.ondevice.core.ModelMismatchException
import org.ondevice.core.WordPieceTokenizer

/**
 * Text in, labels with probabilities out: the core's WordPiece tokenizer (the Python pipeline's
 * exact ids) feeding a [LiteRtModel]. Use it on its [ModelThread] only.
 * ```
 * val classifier = TextClassifier(assets, "int8_dynamic.tflite", Accelerator.NNAPI)
 * classifier.classify("wake me up at 7").predictions.first().label   // "set_alarm"
 * ```
 */
class TextClassifier(private val assets: ModelAssets, fileName: String, accelerator: Accelerator) : Closeable {
    data class Result(
        val predictions: List<Classification.Prediction>,
        val millis: Double,
        val accelerator: Accelerator,
        val fallbackReason: String?,
    )

    private val manifest = assets.manifest
    private val length = manifest.sequenceLength()
    private val labels = manifest.labels()
    private val tokenizer: WordPieceTokenizer = assets.open(manifest.vocabularyFile()).use {
        WordPieceTokenizer.fromStream(it, manifest.tokenizerOptions())
    }
    val model: LiteRtModel = LiteRtModel.create(assets, fileName, accelerator)

    init {
        if (model.outputSize != labels.size) {
            model.close()
            throw ModelMismatchException("$fileName: ${model.outputSize} outputs for ${labels.size} labels in manifest.json")
        }
    }

    fun probabilities(text: String): FloatArray {
        val e = tokenizer.encode(text, length)
        return model.run(listOf(e.tokenIds, e.paddingMask, e.segmentIds))  // the manifest's input order
    }

    fun classify(text: String, topK: Int = 3): Result {
        val start = SystemClock.elapsedRealtimeNanos()
        val probabilities = probabilities(text)
        val millis = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        return Result(Classification.topK(probabilities, labels, topK), millis, model.accelerator, model.fallbackReason)
    }

    /**
     * The bundled golden.json on this device: token ids equal to Python's, and top-1 agreement
     * of this model (this variant, this accelerator) with the Python fp32 run.
     */
    fun goldenCheck(): String {
        val golden = assets.open("golden.json").use { JSONObject(it.readBytes().toString(Charsets.UTF_8)) }
        val cases = golden.getJSONObject("classifier").getJSONArray("cases")
        var idsEqual = 0
        var top1Equal = 0
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val text = case.getString("text")
            val want = case.getJSONArray("token_ids")
            val got = tokenizer.encode(text, length).tokenIds
            if (got.size == want.length() && got.indices.all { got[it] == want.getInt(it) }) idsEqual++
            if (Classification.argmax(probabilities(text)) == case.getInt("top1_index")) top1Equal++
        }
        val n = cases.length()
        return "golden.json: token ids $idsEqual/$n equal; top-1 $top1Equal/$n equal to Python's fp32 " +
            "(${model.fileName} on ${model.accelerator.label})"
    }

    override fun close() = model.close()
}
