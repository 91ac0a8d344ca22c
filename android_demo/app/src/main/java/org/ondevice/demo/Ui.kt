package org.ondevice.demo

import android.app.Activity
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.LinearLayout
import android.widget.Spinner
import android.widget.TextView

/** Small helpers that build the demo's plain-widget screens in code (no layouts, no AndroidX). */
internal object Ui {
    fun column(activity: Activity): LinearLayout = LinearLayout(activity).apply {
        orientation = LinearLayout.VERTICAL
        val pad = (16 * activity.resources.displayMetrics.density).toInt()
        setPadding(pad, pad, pad, pad)
    }

    fun text(activity: Activity, value: String = "", size: Float = 16f) = TextView(activity).apply {
        text = value
        textSize = size
        setTextIsSelectable(true)
    }

    fun button(activity: Activity, label: String, onClick: () -> Unit) = Button(activity).apply {
        text = label
        setOnClickListener { onClick() }
    }

    fun <T> spinner(activity: Activity, values: List<T>, label: (T) -> String, onPick: (T) -> Unit) =
        Spinner(activity).apply {
            adapter = ArrayAdapter(activity, android.R.layout.simple_spinner_dropdown_item, values.map(label))
            onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
                override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) =
                    onPick(values[position])
                override fun onNothingSelected(parent: AdapterView<*>?) = Unit
            }
        }

    /** "GPU" or "CPU (XNNPACK) — GPU unavailable: <why>". */
    fun acceleratorLine(accelerator: Accelerator, fallbackReason: String?) =
        if (fallbackReason == null) "ran on ${accelerator.label}"
        else "ran on ${accelerator.label} (fallback: $fallbackReason)"
}
