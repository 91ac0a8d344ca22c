package org.ondevice.demo

import android.app.Activity
import android.content.ActivityNotFoundException
import android.content.Intent
import android.graphics.Typeface
import android.os.Bundle
import android.provider.ContactsContract
import android.widget.Button
import android.widget.CheckBox
import android.widget.EditText
import android.widget.ScrollView
import android.widget.TextView
import org.ondevice.core.Action
import org.ondevice.demo.ActionIntents.Plan

/**
 * Assistant screen: type a command, pick the model variant and the accelerator; the action
 * streams in token by token (grammar-constrained unless unticked), then the timings, what ran
 * it, and what performing it means. "Perform" starts the platform's own intent for it
 * ([ActionIntents]: clock, dialer, SMS, maps, media search, calendar, web search).
 */
class AssistantActivity : Activity() {
    private val thread = ModelThread("assistant")
    private var assets: ModelAssets? = null
    private var model: ActionModel? = null  // touched on the model thread only
    private var variant: String? = null
    private var accelerator = Accelerator.GPU
    private var constrained = true
    private var plan: Plan? = null
    private var picking: Action? = null  // the call or message waiting for the contact picker
    private lateinit var status: TextView
    private lateinit var actionView: TextView
    private lateinit var details: TextView
    private lateinit var planView: TextView
    private lateinit var perform: Button

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        picking = savedInstanceState?.getString(KEY_PICKING)?.let { Action.parse(it) }
        val root = Ui.column(this)
        setContentView(ScrollView(this).apply { addView(root) })
        status = Ui.text(this, "", 14f)
        actionView = Ui.text(this, "", 18f).apply { typeface = Typeface.MONOSPACE }
        details = Ui.text(this, "", 14f)
        planView = Ui.text(this, "", 16f)
        perform = Ui.button(this, "Perform") { perform() }.apply { isEnabled = false }

        val bundled = try {
            ModelAssets.open(this, "assistant")
        } catch (e: Exception) {
            root.addView(Ui.text(this, "Refused: ${e.message}")); return
        }
        if (bundled == null || bundled.variants.isEmpty()) {
            root.addView(Ui.text(this, "No action model in assets/assistant/. Run:\npython -m export.bundle " +
                "--workdir=<actions workdir> --to android_demo/app/src/main/assets"))
            return
        }
        assets = bundled
        variant = bundled.variants.first()
        val input = EditText(this).apply { hint = "Type a command"; minLines = 2 }
        root.addView(Ui.text(this, bundled.manifest.name(), 14f))
        root.addView(Ui.spinner(this, bundled.variants, { it }) { variant = it; reload() })
        root.addView(Ui.spinner(this, Accelerator.values().toList(), { it.label }) { accelerator = it; reload() })
        root.addView(Ui.spinner(this, EXAMPLES, { "Example: $it" }) { input.setText(it) })
        root.addView(input)
        root.addView(CheckBox(this).apply {
            text = "Grammar-constrained (the action always parses)"
            isChecked = constrained
            setOnCheckedChangeListener { _, checked -> constrained = checked }
        })
        root.addView(Ui.button(this, "Act") { act(input.text.toString()) })
        root.addView(status)
        root.addView(actionView)
        root.addView(details)
        root.addView(planView)
        root.addView(perform)
    }

    /** Closes the current model and opens the chosen variant on the chosen accelerator. */
    private fun reload() {
        val bundled = assets ?: return
        val file = variant ?: return
        val wanted = accelerator
        val context = applicationContext
        status.text = "Loading $file on ${wanted.label}…"
        thread.submit({
            model?.close()
            model = null
            ActionModel.create(context, bundled, file, wanted).also { model = it }
        }, onResult = {
            status.text = "$file: ${Ui.acceleratorLine(it.accelerator, it.fallbackReason)}"
        }, onError = { status.text = "Refused: ${it.message}" })
    }

    private fun act(command: String) {
        if (command.isBlank()) {
            details.text = "Type a command first."
            return
        }
        val useGrammar = constrained
        actionView.text = ""
        details.text = "Decoding…"
        planView.text = ""
        plan = null
        perform.isEnabled = false
        thread.submit({
            (model ?: throw IllegalStateException("no model loaded")).act(command, useGrammar) { text ->
                runOnUiThread { actionView.text = text }  // posted before the result, so shown before it
            }
        }, onResult = { show(it) }, onError = { details.text = "Error: ${it.message}" })
    }

    private fun show(r: ActionModel.Result) {
        actionView.text = r.action
        details.text = "%d prompt + %d generated tokens: prefill %.1f ms, %.2f ms a token, %.1f ms in all; %s".format(
            r.promptTokens, r.generatedTokens, r.prefillMillis, r.decodeMillisPerToken, r.totalMillis,
            Ui.acceleratorLine(r.accelerator, r.fallbackReason))
        val parsed = r.parsed
        if (parsed == null) {
            planView.text = "The model's text is not an action (tick the grammar to constrain it)."
            return
        }
        val next = ActionIntents.plan(parsed)
        plan = next
        planView.text = next.summary
        perform.isEnabled = next !is Plan.NoAction
    }

    private fun perform() {
        when (val p = plan) {
            is Plan.Launch -> launch(p.intent)
            is Plan.PickContact -> try {
                picking = p.action
                startActivityForResult(p.intent, PICK_CONTACT)
            } catch (e: ActivityNotFoundException) {
                picking = null
                planView.text = "No contacts app on this device to pick ${p.contact} from."
            }
            is Plan.NoAction, null -> Unit
        }
    }

    private fun launch(intent: Intent) {
        try {
            startActivity(intent)
        } catch (e: ActivityNotFoundException) {
            planView.text = "No app on this device handles ${intent.action}."
        } catch (e: SecurityException) {  // e.g. a clock app that checks SET_ALARM differently
            planView.text = "Refused by the system: ${e.message}"
        }
    }

    /** The contact picker's answer: a phone row the picker grants this app read access to. */
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        if (requestCode != PICK_CONTACT) return
        val action = picking ?: return
        picking = null
        val uri = data?.data
        if (resultCode != RESULT_OK || uri == null) {
            planView.text = "No contact picked."
            return
        }
        val number = contentResolver.query(uri, arrayOf(ContactsContract.CommonDataKinds.Phone.NUMBER),
            null, null, null)?.use { if (it.moveToFirst()) it.getString(0) else null }
        if (number.isNullOrBlank()) {
            planView.text = "That contact has no phone number."
            return
        }
        launch(ActionIntents.withNumber(action, number))
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        picking?.let { outState.putString(KEY_PICKING, it.toString()) }
    }

    override fun onDestroy() {
        thread.shutdown { model?.close() }
        super.onDestroy()
    }

    private companion object {
        const val PICK_CONTACT = 1
        const val KEY_PICKING = "picking"
        val EXAMPLES = listOf(
            "wake me up at 6:30 tomorrow",
            "set a timer for 10 minutes",
            "call mom",
            "text Rosa saying sure, 7 works",
            "navigate to the nearest pharmacy",
            "play Bohemian Rhapsody by Queen",
            "what's the weather in Paris tomorrow",
            "remind me to buy milk at 6pm",
            "给妈妈发微信说我晚点到",
            "明早七点叫我起床",
        )
    }
}
