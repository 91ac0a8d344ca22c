package org.ondevice.demo

import android.os.Handler
import android.os.Looper
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The one background thread a screen's model lives on: created, run and closed there, never on
 * the UI thread. Results come back on the main thread.
 * ```
 * val thread = ModelThread("classifier")
 * thread.submit({ classifier.classify(text) }, onResult = { show(it) }, onError = { showError(it) })
 * ```
 */
class ModelThread(name: String) {
    private val executor: ExecutorService = Executors.newSingleThreadExecutor { Thread(it, "model-$name") }
    private val main = Handler(Looper.getMainLooper())

    fun <T> submit(work: () -> T, onResult: (T) -> Unit, onError: (Throwable) -> Unit) {
        executor.execute {
            val outcome = runCatching(work)
            main.post { outcome.fold(onResult, onError) }
        }
    }

    /** Runs `cleanup` on the model thread after queued work, then stops the thread. */
    fun shutdown(cleanup: () -> Unit) {
        executor.execute(cleanup)
        executor.shutdown()
    }
}
