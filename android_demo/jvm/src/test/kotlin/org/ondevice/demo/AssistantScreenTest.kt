package org.ondevice.demo

import android.widget.TextView
import org.junit.Assert.assertEquals
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config

/** The Assistant screen on the bundled action model: the action shown = Python's greedy, constrained output. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [36])
class AssistantScreenTest {
    @Before
    fun runtime() = Screens.useLiteRt()

    @Test
    fun commandShowsPythonsConstrainedAction() {
        val golden = Screens.golden("assistant")?.getJSONObject("action") ?: error("no assistant bundle")
        val cases = golden.getJSONArray("cases").let { a -> List(a.length()) { a.getJSONObject(it) } }
        val picked = listOf(0, 1, cases.size / 2, cases.size - 1).distinct().map { cases[it] }
        val activity = Robolectric.buildActivity(AssistantActivity::class.java).setup().get()
        val status = Screens.loaded(activity)
        assertEquals(true, status.contains("fallback: GPU unavailable"))
        val texts = Screens.all(activity).filterIsInstance<TextView>()
        for (case in picked) {
            val command = case.getString("command")
            Screens.input(activity).setText(command)
            Screens.button(activity, "Act").performClick()
            val details = texts.first { it.text.toString() == "Decoding…" }
            Screens.await(activity, "act on '$command'", seconds = 120) { details.text.contains(" ms in all") }
            // The action view is the monospace one, just above the details.
            val action = texts[texts.indexOf(details) - 1].text.toString()
            assertEquals("action for '$command'", case.getString("constrained_action"), action)
        }
    }
}
