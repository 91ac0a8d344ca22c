#!/usr/bin/env bash
# The Android app compiled against the real Android 16 (API 36) and TensorFlow Lite classes and
# its screens tested on the JVM with Robolectric, the models run by libLiteRt.so; no Gradle,
# no Android SDK. Fetches what it needs from Maven Central into the Maven cache (~/.m2, or
# MAVEN_REPO=<dir>) on first use.
#
#   android_demo/jvm/run.sh [EXPORT_DIR ...]     # the `export/` folders of trained workdirs
#
# Each export (python -m export.convert) is bundled into the test APK's assets with
# python -m export.bundle, as the app's are: a classifier export feeds the Classify screen, a
# recommender the Recommend screen, an action export the Assistant screen; each screen's
# tests compare what it shows with that export's golden.json. Without exports only the compile
# runs. Needs: JDK 17 (kotlinc), a JDK 21+ (javac against API 36 class files and Robolectric's
# SDK 36: TEST_JAVA_HOME, else the first under /usr/lib/jvm), Maven, Debian's aapt, and
# for the tests python with the project installed (export.bundle, ai_edge_litert's libLiteRt.so,
# or LITERT_LIB=<path>).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
demo="$(dirname "$here")"
repo="$(dirname "$demo")"
build="${BUILD_DIR:-$here/build}"
fail() { echo "error: $*" >&2; exit 2; }

# --- tools --------------------------------------------------------------------------------
command -v mvn >/dev/null || fail "mvn not found (apt-get install -y maven)"
command -v aapt >/dev/null || fail "aapt not found (apt-get install -y aapt)"
command -v java >/dev/null || fail "java not found (apt-get install -y openjdk-17-jdk-headless)"
java_major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
hi="${TEST_JAVA_HOME:-}"
if [[ -z "$hi" ]]; then
    for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
        if [[ -n "$candidate" && -x "$candidate/bin/javac" && "$(java_major "$candidate/bin/java")" -ge 21 ]]; then
            hi="$candidate"; break
        fi
    done
fi
[[ -n "$hi" && -x "$hi/bin/javac" ]] || fail "no JDK 21+ found; set TEST_JAVA_HOME (Robolectric runs SDK 36 on Java 21+)"

exports=()
for dir in "$@"; do
    [[ -f "$dir/manifest.json" ]] || fail "$dir: not an export folder (no manifest.json; python -m export.convert writes one)"
    [[ "$(basename "$(cd "$dir" && pwd)")" == export ]] || fail "$dir: name the workdir's export/ folder (export.bundle reads <workdir>/export)"
    exports+=("$(cd "$dir" && pwd)")
done
if (( ${#exports[@]} )); then
    litert="${LITERT_LIB:-$(python -c 'import ai_edge_litert, os; print(os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so"))' 2>/dev/null || true)}"
    [[ -f "$litert" ]] || fail "libLiteRt.so not found; pip install ai-edge-litert or set LITERT_LIB"
fi

# --- classpaths from Maven Central ----------------------------------------------------------
start=$SECONDS
rm -rf "$build" && mkdir -p "$build/cp" "$build/aar"
mvn_args=(-B -q -Dstyle.color=never)
[[ -n "${MAVEN_REPO:-}" ]] && mvn_args+=("-Dmaven.repo.local=$MAVEN_REPO")
classpath() {  # pom scope name
    mvn "${mvn_args[@]}" -f "$1" dependency:build-classpath -DincludeScope="$2" -Dmdep.outputFile="$build/cp/$3.txt" >/dev/null \
        || fail "Maven could not resolve $1 ($2); is Maven Central reachable?"
    # An AAR's code is its classes.jar.
    local out=() jar
    IFS=: read -r -a jars < "$build/cp/$3.txt" || true  # no newline at the end
    for jar in "${jars[@]}"; do
        if [[ "$jar" == *.aar ]]; then
            unzip -p "$jar" classes.jar > "$build/aar/$(basename "$jar" .aar).jar"
            jar="$build/aar/$(basename "$jar" .aar).jar"
        fi
        out+=("$jar")
    done
    (IFS=:; echo "${out[*]}") > "$build/cp/$3.txt"
}
classpath "$here/kotlinc/pom.xml" runtime kotlinc  # its POM (Gradle-published) lists its own deps as runtime
classpath "$here/framework-res/pom.xml" compile framework
classpath "$here/pom.xml" compile app
classpath "$here/pom.xml" test test
cp_kotlinc="$(cat "$build/cp/kotlinc.txt")"
cp_app="$(cat "$build/cp/app.txt")"
cp_test="$(cat "$build/cp/test.txt")"
android_jar="$(tr : '\n' < "$build/cp/app.txt" | grep '/android-all-[0-9]')"
# Robolectric loads Android into its sandbox from the instrumented jar (robolectric.dependency.dir);
# the tests' own classpath has the plain one, as AGP puts android.jar there (@Config names
# android.app.Application).
sdk_jar="$(tr : '\n' < "$build/cp/test.txt" | grep '/android-all-instrumented-')"
cp_run="$(tr : '\n' < "$build/cp/test.txt" | grep -v '/android-all-instrumented-' | paste -sd:)"
echo "jvm: classpaths resolved in $((SECONDS - start)) s"

# --- R and the resource APK (aapt) ------------------------------------------------------------
# AGP puts the namespace into the manifest as its package; the same here.
mkdir -p "$build/res" "$build/gen" "$build/assets"
sed 's|<manifest xmlns:android="http://schemas.android.com/apk/res/android">|<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.ondevice.demo">|' \
    "$demo/app/src/main/AndroidManifest.xml" > "$build/res/AndroidManifest.xml"
grep -q 'package="org.ondevice.demo"' "$build/res/AndroidManifest.xml" || fail "could not set the manifest's package"
screens=()  # the screen test classes of the exports given
for dir in "${exports[@]}"; do
    task="$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["task"])' "$dir/manifest.json")"
    case "$task" in
        text_classification) name=classifier; screens+=(ClassifyScreenTest) ;;
        next_item) name=recommender; screens+=(RecommendScreenTest) ;;
        action) name=assistant; screens+=(AssistantScreenTest) ;;
        *) fail "$dir: task $task has no screen" ;;
    esac
    python -m export.bundle --workdir="$(dirname "$dir")" --to="$build/assets" --name="$name" --variants=fp32 >/dev/null
done
aapt_package() {  # assets dir, output apk
    aapt package -f -M "$build/res/AndroidManifest.xml" -S "$demo/app/src/main/res" -A "$1" \
        -I "$(cat "$build/cp/framework.txt")" -J "$build/gen" -F "$2" \
        --min-sdk-version 26 --target-sdk-version 36 --version-code 1 --version-name 1.0 -0 tflite
}
aapt_package "$build/assets" "$build/app.ap_"

# --- compile: core (javac), app (kotlinc, every file), R, tests -------------------------------
"$hi/bin/javac" --release 17 -Xlint:all,-classfile -Werror -encoding UTF-8 -cp "$android_jar" -d "$build/core" \
    $(find "$demo/core/src/main/java" -name '*.java')
cp -r "$demo/core/src/main/resources/." "$build/core/"
kotlinc() { java -Xss8m -cp "$cp_kotlinc" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler -jvm-target 17 -no-stdlib -no-reflect "$@"; }
kotlinc -Werror -cp "$cp_app:$build/core" -d "$build/app" \
    $(find "$demo/app/src/main/java" -name '*.kt') "$build/gen"
"$hi/bin/javac" --release 17 -encoding UTF-8 -d "$build/app" $(find "$build/gen" -name '*.java')
echo "jvm: compiled $(find "$demo/app/src/main/java" -name '*.kt' | wc -l) Kotlin files of app/ with" \
     "$(find "$demo/core/src/main/java" -name '*.java' | wc -l) Java files of core/ against $(basename "$android_jar")" \
     "and $(tr : '\n' <<<"$cp_app" | grep -c tensorflow-lite) TensorFlow Lite jars ($((SECONDS - start)) s)"
(( ${#exports[@]} )) || { echo "jvm: no export given, no screen test run"; exit 0; }

kotlinc -cp "$cp_test:$build/app:$build/core" -d "$build/test" $(find "$here/src/test/kotlin" -name '*.kt')

# --- screen tests (Robolectric, offline, SDK 36) -------------------------------------------------
# A copy of the classifier bundle whose model lost one byte's worth of bits, in its own APK:
# the screen must refuse it (sha256) with a message, not crash.
tampered=none
if [[ -d "$build/assets/classifier" ]]; then
    cp -r "$build/assets" "$build/assets-tampered"
    python - "$build/assets-tampered/classifier/fp32.tflite" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0xFF
open(path, "wb").write(bytes(data))
PY
    aapt_package "$build/assets-tampered" "$build/tampered.ap_"
    tampered="$build/tampered.ap_"
fi
sdk_dir="$(dirname "$sdk_jar")"
run_tests() {  # apk, test classes...
    local apk="$1" config="$build/config-$(basename "$1")"; shift
    mkdir -p "$config/com/android/tools"
    printf 'android_resource_apk=%s\nandroid_merged_manifest=%s\nandroid_custom_package=org.ondevice.demo\n' \
        "$apk" "$build/res/AndroidManifest.xml" > "$config/com/android/tools/test_config.properties"
    # The opens: Robolectric's file descriptors and buffers (AssetFileDescriptor, the mapped model).
    "$hi/bin/java" --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
        --add-opens=java.base/java.lang=ALL-UNNAMED --enable-native-access=ALL-UNNAMED -Drobolectric.offline=true -Drobolectric.dependency.dir="$sdk_dir" \
        -Drobolectric.logging.enabled=false -Dlitert.lib="$litert" -Dexports="$(IFS=:; echo "${exports[*]}")" \
        -Dassets="$build/assets" -cp "$config:$build/test:$build/app:$build/core:$cp_run" \
        org.ondevice.demo.ScreenTests "$@" 2> >(grep -v '^INFO: ' >&2)  # libLiteRt.so's per-model log lines
}
status=0
run_tests "$build/app.ap_" "${screens[@]}" || status=1
if [[ "$tampered" != none ]]; then
    run_tests "$tampered" TamperedModelTest || status=1
fi
echo "jvm: done in $((SECONDS - start)) s"
exit $status
