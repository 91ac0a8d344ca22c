package org.ondevice.demo

import android.app.Activity
import android.os.Looper
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import java.io.File
import org.json.JSONObject
import org.junit.Assert.fail
import org.robolectric.Shadows.shadowOf

/** What the screen tests share: the real runtime, the bundles' golden files, finding widgets, waiting. */
object Screens {
    /** libLiteRt.so through JNA, behind the app's own ModelRuntime; set before a screen starts. */
    fun useLiteRt() {
        val lib = System.getProperty("litert.lib") ?: error("-Dlitert.lib=<libLiteRt.so> not set (run.sh sets it)")
        ModelRuntimes.current = LiteRtJnaRuntime(lib)
    }

    /** The bundled folder's golden.json (export.bundle copied it next to the model), or null without that bundle. */
    fun golden(folder: String): JSONObject? {
        val file = File(System.getProperty("assets") ?: error("-Dassets not set"), "$folder/golden.json")
        return if (file.isFile) JSONObject(file.readText()) else null
    }

    fun assetFile(folder: String, name: String) = File(System.getProperty("assets"), "$folder/$name")

    fun views(root: View): List<View> =
        if (root is ViewGroup) listOf(root) + (0 until root.childCount).flatMap { views(root.getChildAt(it)) }
        else listOf(root)

    /** The screen's own views (not the window's title bar), in layout order. */
    fun all(activity: Activity): List<View> = views(activity.findViewById(android.R.id.content))

    inline fun <reified T : View> first(activity: Activity): T =
        all(activity).filterIsInstance<T>().firstOrNull() ?: throw AssertionError("no ${T::class.simpleName} on screen")

    fun button(activity: Activity, label: String): Button =
        all(activity).filterIsInstance<Button>().firstOrNull { it.text.toString() == label }
            ?: throw AssertionError("no button '$label' on screen; texts: ${texts(activity)}")

    fun input(activity: Activity): EditText = first(activity)

    /** Every plain text shown (not buttons or inputs), in screen order. */
    fun texts(activity: Activity): List<String> =
        all(activity).filter { it is TextView && it !is Button && it !is EditText }.map { (it as TextView).text.toString() }

    /**
     * Runs the main looper (where ModelThread posts its results) until `done` holds; the model
     * itself runs on its own thread meanwhile. Fails with what the screen shows after `seconds`.
     */
    fun await(activity: Activity, what: String, seconds: Int = 60, done: () -> Boolean) {
        val end = System.nanoTime() + seconds * 1_000_000_000L
        while (true) {
            shadowOf(Looper.getMainLooper()).idle()
            if (done()) return
            if (System.nanoTime() > end) fail("$what: not reached in $seconds s; the screen shows ${texts(activity)}")
            Thread.sleep(10)
        }
    }

    /** Waits for the first model load (the spinners pick the first variant and GPU) and returns its status line. */
    fun loaded(activity: Activity): String {
        var line = ""
        await(activity, "model loaded") {
            line = texts(activity).firstOrNull { it.contains(".tflite: ran on") || it.startsWith("Refused:") } ?: ""
            line.isNotEmpty()
        }
        return line
    }
}
