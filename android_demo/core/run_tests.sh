#!/usr/bin/env bash
# Compiles android_demo/core with javac and runs its JUnit 4 tests; no Gradle needed.
#
#   android_demo/core/run_tests.sh                       # unit tests only
#   android_demo/core/run_tests.sh runs/intents/export/golden.json [more golden files...]
#
# Golden files (python -m export.golden <export dir>) add exact-equality tests against Python.
# With LITERT_LIB=<path of libLiteRt.so> (shipped in the ai-edge-litert wheel) and Debian's JNA,
# the golden cases also run end to end: text -> Java tokenizer -> the .tflite through LiteRT's
# C API -> labels (src/litertTest).
# Needs a JDK (17+) and Debian's junit4, hamcrest and libandroid-json-java jars:
#   apt-get install -y default-jdk-headless junit4 libandroid-json-java [libjna-java]
# Jar locations can be overridden with JUNIT_JAR, HAMCREST_JAR, JSON_JAR and JNA_JAR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
json="${JSON_JAR:-/usr/share/java/com.android.json.jar}"
jna="${JNA_JAR:-/usr/share/java/jna.jar}"
litert="${LITERT_LIB:-}"

for jar in "$junit" "$hamcrest" "$json"; do
    if [[ ! -f "$jar" ]]; then
        echo "error: $jar not found; install it with: apt-get install -y junit4 libandroid-json-java" >&2
        exit 2
    fi
done
if ! command -v javac >/dev/null; then
    echo "error: javac not found; install a JDK 17+ (apt-get install -y default-jdk-headless)" >&2
    exit 2
fi

golden=()
for file in "$@"; do
    if [[ ! -f "$file" ]]; then
        echo "error: $file: no such golden file (write one with python -m export.golden <export dir>)" >&2
        exit 2
    fi
    golden+=("$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
done

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
classpath="$junit:$hamcrest:$json"

javac -Xlint:all -Werror --release 17 -encoding UTF-8 -cp "$json" -d "$build/main" \
    $(find "$here/src/main/java" -name '*.java')
cp -r "$here/src/main/resources/." "$build/main/"
javac -encoding UTF-8 --release 17 -cp "$classpath:$build/main" -d "$build/test" \
    $(find "$here/src/test/java" -name '*.java')

tests=$(cd "$here/src/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
extra=()
if [[ -n "$litert" ]]; then
    if [[ ! -f "$litert" ]]; then
        echo "error: LITERT_LIB=$litert: no such file (libLiteRt.so is in the ai-edge-litert wheel)" >&2
        exit 2
    fi
    if [[ ! -f "$jna" ]]; then
        echo "error: $jna not found; install it with: apt-get install -y libjna-java" >&2
        exit 2
    fi
    javac -encoding UTF-8 --release 17 -cp "$classpath:$jna:$build/main:$build/test" -d "$build/test" \
        $(find "$here/src/litertTest/java" -name '*.java')
    classpath="$classpath:$jna"
    tests="$tests $(cd "$here/src/litertTest/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)"
    extra=(-Dlitert.lib="$litert" -Djava.library.path=/usr/lib/x86_64-linux-gnu/jni:/usr/lib/jni)
fi
echo "golden files: ${golden[*]:-none (unit tests only)}; LiteRT end to end: ${litert:-no (set LITERT_LIB)}"
golden_property="$(IFS=:; echo "${golden[*]:-}")"
exec java -Dgolden="$golden_property" "${extra[@]}" -cp "$classpath:$build/main:$build/test" \
    org.junit.runner.JUnitCore $tests
