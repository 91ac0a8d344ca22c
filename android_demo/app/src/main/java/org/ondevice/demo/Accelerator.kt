package org.ondevice.demo

/** Where the app asks LiteRT to run a model; [CPU] (XNNPACK) is also every fallback's target. */
enum class Accelerator(val label: String) {
    GPU("GPU"),
    NNAPI("NNAPI"),
    CPU("CPU (XNNPACK)"),
}
