// The demo: an Android app (:app) on top of a plain Java library (:core) that holds every rule
// shared with the Python pipeline (tokenizer, manifest, top-k, recommendation rules).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()        // AGP's own dependencies
        mavenCentral()  // org.tensorflow:tensorflow-lite*
    }
}

rootProject.name = "OnDeviceDemo"
include(":app", ":core")
