package org.ondevice.demo

import android.app.Activity
import android.os.Bundle
import android.widget.EditText
import android.widget.ScrollView

/**
 * Classify screen: type or paste a text, pick the model variant and the accelerator; shows the
 * top labels with probabilities, the inference time and what actually ran it (with the reason
 * of a fallback). "Check golden.json" replays the export's golden cases on this device.
 */
class ClassifyActivity : Activity() {
    private val thread = ModelThread("classifier")
    private var assets: ModelAssets? = null
    private var classifier: TextClassifier? = null  // touched on the model thread only
    private var variant: String? = null
    private var accelerator = Accelerator.GPU
    private lateinit var status: android.widget.TextView
    private lateinit var output: android.widget.TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val root = Ui.column(this)
        status = Ui.text(this, "", 14f)
        output = Ui.text(this, "", 18f)
        val input = EditText(this).apply { hint = "Type or paste a text"; minLines = 2 }
        setContentView(ScrollView(this).apply { addView(root) })

        val bundled = try {
            ModelAssets.open(this, "classifier")
        } catch (e: Exception) {
            root.addView(Ui.text(this, "Refused: ${e.message}")); return
        }
        if (bundled == null || bundled.variants.isEmpty()) {
            root.addView(Ui.text(this, "No classifier in assets/classifier/. Run:\npython -m export.bundle " +
                "--workdir=<workdir> --to android_demo/app/src/main/assets"))
            return
        }
        assets = bundled
        variant = bundled.variants.first()
        root.addView(Ui.text(this, "${bundled.manifest.name()} · ${bundled.manifest.labels().size} labels", 14f))
        root.addView(Ui.spinner(this, bundled.variants, { it }) { variant = it; reload() })
        root.addView(Ui.spinner(this, Accelerator.values().toList(), { it.label }) { accelerator = it; reload() })
        root.addView(input)
        root.addView(Ui.button(this, getString(R.string.classify)) { classify(input.text.toString()) })
        root.addView(Ui.button(this, "Check golden.json") { goldenCheck() })
        root.addView(status)
        root.addView(output)
    }

    /** Closes the current model and opens the chosen variant on the chosen accelerator. */
    private fun reload() {
        val bundled = assets ?: return
        val file = variant ?: return
        val wanted = accelerator
        status.text = "Loading $file on ${wanted.label}…"
        thread.submit({
            classifier?.close()
            classifier = null
            TextClassifier(bundled, file, wanted).also { classifier = it }
        }, onResult = {
            status.text = "$file: ${Ui.acceleratorLine(it.model.accelerator, it.model.fallbackReason)}"
        }, onError = { status.text = "Refused: ${it.message}" })
    }

    private fun classify(text: String) {
        thread.submit({
            (classifier ?: throw IllegalStateException("no model loaded")).classify(text)
        }, onResult = { r ->
            output.text = r.predictions.joinToString("\n") { "%s  %.3f".format(it.label, it.score) } +
                "\n\n%.2f ms, %s".format(r.millis, Ui.acceleratorLine(r.accelerator, r.fallbackReason))
        }, onError = { output.text = "Error: ${it.message}" })
    }

    private fun goldenCheck() {
        output.text = "Checking golden.json…"
        thread.submit({
            (classifier ?: throw IllegalStateException("no model loaded")).goldenCheck()
        }, onResult = { output.text = it }, onError = { output.text = "Error: ${it.message}" })
    }

    override fun onDestroy() {
        thread.shutdown { classifier?.close() }
        super.onDestroy()
    }
}
