package org.ondevice.demo

import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config

/** A classifier bundle whose fp32.tflite was changed after export (run.sh flips its bits): refused on screen, no crash. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [36])
class TamperedModelTest {
    @Before
    fun runtime() = Screens.useLiteRt()

    @Test
    fun changedModelIsRefusedWithItsSha256() {
        val activity = Robolectric.buildActivity(ClassifyActivity::class.java).setup().get()
        val status = Screens.loaded(activity)
        assertTrue(status, status.startsWith("Refused: fp32.tflite: sha256 "))
        assertTrue(status, status.contains("the file was changed or belongs to another export"))
        // Still usable: classifying without a model is an error line, not a crash.
        Screens.input(activity).setText("wake me up at 7")
        Screens.button(activity, activity.getString(R.string.classify)).performClick()
        val output = Screens.all(activity).filterIsInstance<android.widget.TextView>().last()
        Screens.await(activity, "classify without a model") { output.text.isNotEmpty() }
        assertTrue(output.text.toString(), output.text.toString() == "Error: no model loaded")
        assertTrue(!activity.isFinishing)
    }
}
