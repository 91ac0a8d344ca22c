package org.ondevice.demo

import android.app.Activity
import android.content.Intent
import android.os.Bundle

/** Start screen: opens Classify, Recommend or Assistant. */
class MainActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val root = Ui.column(this)
        root.addView(Ui.text(this, "Text classification, movie recommendations and an assistant, on this device.", 18f))
        root.addView(Ui.button(this, getString(R.string.classify)) {
            startActivity(Intent(this, ClassifyActivity::class.java))
        })
        root.addView(Ui.button(this, getString(R.string.recommend)) {
            startActivity(Intent(this, RecommendActivity::class.java))
        })
        root.addView(Ui.button(this, getString(R.string.assistant)) {
            startActivity(Intent(this, AssistantActivity::class.java))
        })
        setContentView(root)
    }
}
