package org.ondevice.demo

import android.widget.ListView
import android.widget.TextView
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.ondevice.core.ItemCatalogue
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config

/** The Recommend screen on the bundled recommender: search, like, recommend = the export's golden top-10. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [36])
class RecommendScreenTest {
    @Before
    fun runtime() = Screens.useLiteRt()

    @Test
    fun likedMoviesGivePythonsTopTenAndNoneOfThem() {
        val golden = Screens.golden("recommender")?.getJSONObject("recommendations") ?: error("no recommender bundle")
        val catalogue = Screens.assetFile("recommender", "items.csv").inputStream().use { ItemCatalogue.readCsv(it, "items.csv") }
        val cases = golden.getJSONArray("cases").let { a -> List(a.length()) { a.getJSONObject(it) } }
            .map { c -> c.getJSONArray("liked_movie_ids").let { a -> List(a.length()) { a.getLong(it) } } to c }
            // Liked through the screen: only movies of this catalogue can be searched and tapped.
            .filter { (liked, _) -> liked.isNotEmpty() && liked.all { catalogue.indexOf(it) > ItemCatalogue.OOV } }
            .take(3)
        assertTrue("golden.json has no case with liked movies of this catalogue", cases.isNotEmpty())

        val activity = Robolectric.buildActivity(RecommendActivity::class.java).setup().get()
        Screens.loaded(activity)
        val list = Screens.first<ListView>(activity)
        val textViews = Screens.all(activity).filterIsInstance<TextView>()
        val likedView = textViews.first { it.text.startsWith("Liked") }
        val output = textViews.last()
        for ((liked, case) in cases) {
            while (likedView.text.toString() != "Liked: none yet") likedView.performClick()  // removes the last liked
            val titles = liked.map { catalogue.item(catalogue.indexOf(it)).title }
            for ((id, title) in liked.zip(titles)) {
                Screens.input(activity).setText(title)
                Screens.await(activity, "search '$title'") { list.adapter.count > 0 }
                val row = (0 until list.adapter.count).firstOrNull { list.adapter.getItem(it).toString().startsWith("$title  (") }
                    ?: throw AssertionError("'$title' (movie $id) not in the search results")
                list.performItemClick(null, row, 0)
            }
            assertEquals("Liked (tap to remove the last): " + titles.joinToString("; "), likedView.text.toString())

            output.text = ""
            Screens.button(activity, activity.getString(R.string.recommend)).performClick()
            Screens.await(activity, "recommend for $liked") { output.text.contains(" ms, ran on") }
            val shown = output.text.lines().mapNotNull { Regex("""^\d+\. (.*)$""").find(it)?.groupValues?.get(1) }
            val expected = case.getJSONArray("top10_indices").let { a -> List(a.length()) { catalogue.item(a.getInt(it)).title } }
            assertEquals("top-10 for liked $liked", expected, shown)
            for (title in titles) assertFalse("liked '$title' recommended", title in shown)
        }
    }
}
