package org.ondevice.demo

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config

/** The Classify screen on the bundled classifier: what it shows equals the export's golden.json. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [36])
class ClassifyScreenTest {
    @Before
    fun runtime() = Screens.useLiteRt()

    private fun launch() = Robolectric.buildActivity(ClassifyActivity::class.java).setup().get()

    @Test
    fun noGpuOnTheJvmFallsBackToTheCpuAndSaysWhy() {
        val activity = launch()
        val status = Screens.loaded(activity)
        assertEquals("fp32.tflite: ran on CPU (XNNPACK) (fallback: GPU unavailable: " +
            "no GPU on this machine (libLiteRt.so on the JVM runs the CPU only))", status)
    }

    @Test
    fun pickedAcceleratorIsWhatRunsOrWhyNot() {
        val activity = launch()
        Screens.loaded(activity)
        // The second spinner is the accelerator's (GPU, NNAPI, CPU).
        val spinner = Screens.all(activity).filterIsInstance<android.widget.Spinner>()[1]
        val status = Screens.all(activity).filterIsInstance<android.widget.TextView>().dropLast(1).last()
        for ((position, expected) in listOf(
            2 to "fp32.tflite: ran on CPU (XNNPACK)",
            1 to "fp32.tflite: ran on CPU (XNNPACK) (fallback: NNAPI unavailable: no NNAPI on this machine " +
                "(libLiteRt.so on the JVM runs the CPU only))",
        )) {
            spinner.setSelection(position)
            Screens.await(activity, "accelerator ${spinner.selectedItem}") { status.text.toString() == expected }
        }
    }

    @Test
    fun typedTextShowsPythonsTopLabelsAndProbabilities() {
        val golden = Screens.golden("classifier")?.getJSONObject("classifier") ?: error("no classifier bundle")
        val labels = golden.getJSONArray("labels").let { a -> List(a.length()) { a.getString(it) } }
        val cases = golden.getJSONArray("cases").let { a -> List(a.length()) { a.getJSONObject(it) } }
            .filter { it.getString("text").isNotBlank() }
        // Spread over the file: short, long, other scripts.
        val picked = listOf(0, cases.size / 4, cases.size / 2, 3 * cases.size / 4, cases.size - 1).map { cases[it] }
        val activity = launch()
        Screens.loaded(activity)
        val output = Screens.all(activity).filterIsInstance<android.widget.TextView>().last()  // the result view
        for (case in picked) {
            val text = case.getString("text")
            val probabilities = case.getJSONArray("probabilities").let { a -> DoubleArray(a.length()) { a.getDouble(it) } }
            val top3 = probabilities.indices.sortedByDescending { probabilities[it] }.take(3)
            output.text = ""  // so that the wait below sees this case's result, not the last one
            Screens.input(activity).setText(text)
            Screens.button(activity, activity.getString(R.string.classify)).performClick()
            var shown = ""
            Screens.await(activity, "classify '$text'") {
                shown = output.text.toString()
                shown.contains(" ms, ran on")
            }
            val lines = shown.lines().takeWhile { it.isNotBlank() }
            assertEquals("labels for '$text': $shown", top3.map { labels[it] }, lines.map { it.substringBefore("  ") })
            for ((line, index) in lines.zip(top3)) {
                val value = line.substringAfterLast("  ").toDouble()
                assertEquals("probability of ${labels[index]} for '$text'", probabilities[index], value, 0.0015)
            }
            assertTrue(shown, shown.trimEnd().endsWith("ran on CPU (XNNPACK) (fallback: GPU unavailable: " +
                "no GPU on this machine (libLiteRt.so on the JVM runs the CPU only))"))
        }
    }
}
