package org.ondevice.demo

import android.os.SystemClock
import java.io.Closeable
import org.ondevice.core.ItemCatalogue
import org.ondevice.core.ModelMismatchException
import org.ondevice.core.Recommendations

/**
 * Liked movies in, ten recommendations out: the core's [Recommendations] rules (input building,
 * excluding what was liked, ties to the lower movieId) around a [LiteRtModel] that scores every
 * catalogue item. Use it on its [ModelThread] only.
 * ```
 * val recommender = MovieRecommender(assets, "fp32.tflite", Accelerator.GPU)
 * recommender.recommend(listOf(1L, 260L, 1196L)).items.map { it.title }
 * ```
 */
class MovieRecommender(assets: ModelAssets, fileName: String, accelerator: Accelerator) : Closeable {
    data class Result(
        val items: List<ItemCatalogue.Item>,
        val millis: Double,
        val accelerator: Accelerator,
        val fallbackReason: String?,
    )

    val catalogue: ItemCatalogue = assets.open(assets.manifest.itemsFile()).use {
        ItemCatalogue.readCsv(it, "${assets.folder}/${assets.manifest.itemsFile()}")
    }
    val model: LiteRtModel = LiteRtModel.create(assets, fileName, accelerator)
    private val rules: Recommendations

    init {
        val input = assets.manifest.file(fileName).inputs.single().shape()
        rules = Recommendations(catalogue, input[input.size - 1])
        if (model.outputSize != catalogue.size()) {
            model.close()
            throw ModelMismatchException("$fileName: ${model.outputSize} scores but the items file has ${catalogue.size()} rows")
        }
    }

    fun recommend(likedMovieIds: List<Long>, k: Int = 10): Result {
        val start = SystemClock.elapsedRealtimeNanos()
        val scores = model.run(listOf(rules.buildInput(likedMovieIds)))
        val items = rules.topK(scores, likedMovieIds, k)
        val millis = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        return Result(items, millis, model.accelerator, model.fallbackReason)
    }

    override fun close() = model.close()
}
