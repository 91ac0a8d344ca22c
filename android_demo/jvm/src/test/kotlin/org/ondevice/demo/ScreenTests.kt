package org.ondevice.demo

import kotlin.system.exitProcess
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure

/**
 * Runs the screen test classes named on the command line (run.sh picks them per APK), prints
 * each failure and a count, exits 1 on any failure. A class with no bundle for it fails: run.sh
 * only names the screens whose exports it was given.
 */
object ScreenTests {
    @JvmStatic
    fun main(args: Array<String>) {
        if (args.isEmpty()) { System.err.println("error: name the test classes to run"); exitProcess(2) }
        val classes = args.map { Class.forName("org.ondevice.demo.$it") }
        val result = JUnitCore().run(*classes.toTypedArray())
        result.failures.forEach { f: Failure -> System.err.println("FAIL ${f.testHeader}: ${f.trace}") }
        println("screen tests ${args.joinToString(" ")}: ${result.runCount} run, ${result.failureCount} failed, " +
            "${result.ignoreCount} skipped (${result.runTime / 1000} s)")
        exitProcess(if (result.wasSuccessful()) 0 else 1)
    }
}
