plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "org.ondevice.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "org.ondevice.demo"
        minSdk = 26        // Android 8.0; NNAPI is offered from API 27 (falls back to CPU below)
        targetSdk = 36     // Android 16
        versionCode = 1
        versionName = "1.0"
    }

    // Models are memory-mapped straight from the APK: they must be stored uncompressed.
    androidResources {
        noCompress += "tflite"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.tflite)
    implementation(libs.tflite.api)
    implementation(libs.tflite.gpu)
    implementation(libs.tflite.gpu.api)
}
