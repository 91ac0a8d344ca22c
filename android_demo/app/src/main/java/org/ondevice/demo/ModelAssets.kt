package org.ondevice.demo

import android.content.Context
import java.io.FileInputStream
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import org.ondevice.core.ModelManifest
import org.ondevice.core.ModelMismatchException

/**
 * One bundled export in the app's assets (`assets/<folder>/`, written by
 * `python -m export.bundle`): its manifest, and its files checked against it.
 *
 * ```
 * val assets = ModelAssets.open(context, "classifier")
 * val bytes = assets.mapModel("int8_dynamic.tflite")   // sha256 checked, memory-mapped
 * ```
 * Every mismatch is a [ModelMismatchException] whose message names the file and the problem.
 */
class ModelAssets private constructor(
    private val context: Context,
    val folder: String,
    val manifest: ModelManifest,
) {
    /** Model files listed in the manifest and present in the assets. */
    val variants: List<String> =
        manifest.fileNames().filter { exists(it) }

    fun exists(name: String): Boolean =
        context.assets.list(folder)?.contains(name) == true

    fun open(name: String) = context.assets.open("$folder/$name")

    /** The model file memory-mapped from the APK, after its sha256 was checked. */
    @Throws(ModelMismatchException::class)
    fun mapModel(name: String): MappedByteBuffer {
        if (!exists(name)) {
            throw ModelMismatchException("$folder/$name: not in the app's assets; run python -m export.bundle")
        }
        open(name).use { manifest.verifySha256(name, it) }
        // Stored uncompressed (build.gradle.kts: noCompress "tflite"), so it maps from the APK.
        return context.assets.openFd("$folder/$name").use { fd ->
            FileInputStream(fd.fileDescriptor).use {
                it.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }
    }

    companion object {
        /** The export bundled in `assets/<folder>/`, or null when there is none. */
        @Throws(ModelMismatchException::class)
        fun open(context: Context, folder: String): ModelAssets? {
            if (context.assets.list(folder)?.contains("manifest.json") != true) {
                return null
            }
            val manifest = context.assets.open("$folder/manifest.json").use {
                ModelManifest.read(it, "$folder/manifest.json")
            }
            return ModelAssets(context, folder, manifest)
        }
    }
}
