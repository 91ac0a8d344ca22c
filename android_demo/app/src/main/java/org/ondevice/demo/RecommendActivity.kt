package org.ondevice.demo

import android.app.Activity
import android.os.Bundle
import android.text.Editable
import android.text.TextWatcher
import android.widget.ArrayAdapter
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ListView
import org.ondevice.core.ItemCatalogue

/**
 * Recommend screen: search the catalogue, tap movies to like them (in order; tap a liked one to
 * remove it), then get ten recommendations with titles and genres, never a liked movie.
 */
class RecommendActivity : Activity() {
    private val thread = ModelThread("recommender")
    private var recommender: MovieRecommender? = null  // touched on the model thread only
    private var catalogue: ItemCatalogue? = null
    private var assets: ModelAssets? = null
    private var variant: String? = null
    private var accelerator = Accelerator.GPU
    private val liked = mutableListOf<ItemCatalogue.Item>()
    private lateinit var status: android.widget.TextView
    private lateinit var output: android.widget.TextView
    private lateinit var likedView: android.widget.TextView
    private lateinit var results: ArrayAdapter<String>
    private var shown: List<ItemCatalogue.Item> = emptyList()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val root = Ui.column(this)
        setContentView(root)
        status = Ui.text(this, "", 14f)
        output = Ui.text(this, "", 15f)
        likedView = Ui.text(this, "Liked: none yet", 14f)
        val bundled = try {
            ModelAssets.open(this, "recommender")
        } catch (e: Exception) {
            root.addView(Ui.text(this, "Refused: ${e.message}")); return
        }
        if (bundled == null || bundled.variants.isEmpty()) {
            root.addView(Ui.text(this, "No recommender in assets/recommender/. Run:\npython -m export.bundle " +
                "--workdir=<recommender workdir> --to android_demo/app/src/main/assets"))
            return
        }
        assets = bundled
        variant = bundled.variants.first()
        val search = EditText(this).apply { hint = "Search a movie title" }
        results = ArrayAdapter(this, android.R.layout.simple_list_item_1, mutableListOf())
        val list = ListView(this).apply {
            adapter = results
            setOnItemClickListener { _, _, position, _ -> like(shown[position]) }
        }
        likedView.setOnClickListener { if (liked.isNotEmpty()) { liked.removeAt(liked.size - 1); showLiked() } }
        root.addView(Ui.spinner(this, bundled.variants, { it }) { variant = it; reload() })
        root.addView(Ui.spinner(this, Accelerator.values().toList(), { it.label }) { accelerator = it; reload() })
        root.addView(search)
        root.addView(list, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        root.addView(likedView)
        root.addView(Ui.button(this, getString(R.string.recommend)) { recommend() })
        root.addView(status)
        root.addView(output)
        search.addTextChangedListener(object : TextWatcher {
            override fun afterTextChanged(s: Editable?) = filter(s.toString())
            override fun beforeTextChanged(s: CharSequence?, start: Int, count: Int, after: Int) = Unit
            override fun onTextChanged(s: CharSequence?, start: Int, before: Int, count: Int) = Unit
        })
    }

    private fun filter(query: String) {
        val items = catalogue ?: return
        shown = if (query.isBlank()) emptyList() else items.search(query, 50)
        results.clear()
        results.addAll(shown.map { "${it.title}  (${it.genres.replace("|", " ")})" })
    }

    private fun like(item: ItemCatalogue.Item) {
        liked.removeAll { it.movieId == item.movieId }
        liked.add(item)  // newest last
        showLiked()
    }

    private fun showLiked() {
        likedView.text = if (liked.isEmpty()) "Liked: none yet"
        else "Liked (tap to remove the last): " + liked.joinToString("; ") { it.title }
    }

    private fun reload() {
        val bundled = assets ?: return
        val file = variant ?: return
        val wanted = accelerator
        status.text = "Loading $file on ${wanted.label}…"
        thread.submit({
            recommender?.close()
            recommender = null
            MovieRecommender(bundled, file, wanted).also { recommender = it }
        }, onResult = {
            catalogue = it.catalogue
            status.text = "$file: ${Ui.acceleratorLine(it.model.accelerator, it.model.fallbackReason)}"
        }, onError = { status.text = "Refused: ${it.message}" })
    }

    private fun recommend() {
        val ids = liked.map { it.movieId }
        if (ids.isEmpty()) {
            output.text = "Like at least one movie first."
            return
        }
        thread.submit({
            (recommender ?: throw IllegalStateException("no model loaded")).recommend(ids)
        }, onResult = { r ->
            output.text = r.items.mapIndexed { i, it -> "${i + 1}. ${it.title}\n    ${it.genres.replace("|", " · ")}" }
                .joinToString("\n") + "\n\n%.2f ms, %s".format(r.millis, Ui.acceleratorLine(r.accelerator, r.fallbackReason))
        }, onError = { output.text = "Error: ${it.message}" })
    }

    override fun onDestroy() {
        thread.shutdown { recommender?.close() }
        super.onDestroy()
    }
}
