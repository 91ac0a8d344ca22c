// Plain Java 17 library, no Android imports: compiled and tested on any JVM.
// Off-device it needs an org.json implementation (Android has its own): Android's, from Maven.
// Golden files from the Python export: ./gradlew :core:test -Pgolden=/path/golden.json[:more.json]
plugins {
    `java-library`
}

java {
    toolchain {
        languageVersion = JavaLanguageVersion.of(17)
    }
}

dependencies {
    compileOnly(libs.android.json)  // provided by Android at run time
    testImplementation(libs.android.json)
    testImplementation(libs.junit)
}

tasks.test {
    systemProperty("golden", (findProperty("golden") as String?) ?: "")
    testLogging {
        showStandardStreams = true
        events("passed", "skipped", "failed")
    }
}
