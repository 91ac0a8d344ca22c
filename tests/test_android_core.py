"""android_demo/core (plain Java) against the Python pipeline: its JUnit tests on golden.json
written from the shared `small_export`, a corrupted golden file that must fail them, and the
tokenizer's steps 0-3 on every Unicode 14.0 code point compared with export/runtime/wordpiece.py.
The action task likewise: JUnit on the golden.json of the shared `action_export` (tokenizer,
parser, grammar; the decode loop through libLiteRt.so), and the byte-level BPE tokenizer, UTF-8
decoding and grammar masks compared with pipeline/tasks/action/ on many inputs.

Needs a JDK and Debian's junit4 / libandroid-json-java jars (apt-get install -y junit4
libandroid-json-java), and libjna-java for the end-to-end run through libLiteRt.so; skips with
the reason when they are absent.
"""

import json
import os
import re
import shutil
import subprocess
import unicodedata

import pytest

from export.app import golden as golden_lib
from export.contract import OOV_ID
from export.runtime import postprocess
from export.runtime.wordpiece import WordPieceTokenizer
from tests.conftest import REPO

CORE = os.path.join(REPO, "android_demo", "core")
RUN_TESTS = os.path.join(CORE, "run_tests.sh")
JARS = ("/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar",
        "/usr/share/java/com.android.json.jar")

# Java 17 ships Unicode 13 normalisation data; with strip_accents=False (not the pipeline's
# setting) these marks, new or changed in Unicode 14, compose differently after a letter.
JDK17_NO_STRIP_DIFFERENCES = {0x0899, 0x089A, 0x089B, 0x08CF, 0x08D0, 0x08D1, 0x08D2, 0x0C3C,
                              0x1715, 0x1AC3, 0x1AC4, 0x1ACA, 0x1DFA, 0x10F83, 0x10F85, 0x11070}


def _require_java():
    missing = [j for j in JARS if not os.path.isfile(j)]
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("javac/java not found: install a JDK 17+ to test android_demo/core")
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: apt-get install -y junit4 "
                    "libandroid-json-java to test android_demo/core")


def _run_tests(*golden_files):
    return subprocess.run(["bash", RUN_TESTS, *map(str, golden_files)], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def golden_files(small_export, tmp_path_factory):
    """(golden.json of a copy of small_export, the model-free recommendation rules file)."""
    _require_java()
    export_dir, _ = small_export
    workdir = tmp_path_factory.mktemp("android_core") / "intents"
    workdir.mkdir()
    shutil.copy(export_dir.parent / "config.json", workdir / "config.json")
    shutil.copytree(export_dir, workdir / "export")
    golden = golden_lib.write_golden(str(workdir / "export"))
    rules = golden_lib.write_rules_golden(str(workdir / "rules.json"))
    return golden, rules


def test_unit_tests_need_no_export():
    _require_java()
    r = _run_tests()
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "OK (" in r.stdout and "GoldenTest:" not in r.stdout


def test_golden_cases_are_equal_in_java(golden_files):
    golden, rules = golden_files
    with open(golden, encoding="utf-8") as f:
        cases = json.load(f)["classifier"]["cases"]
    kinds = [c["kind"] for c in cases]
    assert kinds.count("eval") == 200 and kinds.count("hard") == 150
    texts = [c["text"] for c in cases]
    assert "" in texts and any("\u4e00" <= ch <= "\u9fff" for t in texts for ch in t)
    assert any(c["padding_mask"][-1] == 1 for c in cases)  # over-long inputs were truncated
    r = _run_tests(golden, rules)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "GoldenTest: 350 classifier cases equal" in r.stdout
    assert "GoldenTest: 200 recommendation inputs equal, 200 top-k lists equal" in r.stdout


def test_a_wrong_golden_value_fails(golden_files, tmp_path):
    golden, rules = golden_files
    folder = tmp_path / "export"
    shutil.copytree(os.path.dirname(golden), folder)
    data = json.loads((folder / "golden.json").read_text(encoding="utf-8"))
    data["classifier"]["cases"][7]["token_ids"][1] += 1
    (folder / "golden.json").write_text(json.dumps(data), encoding="utf-8")
    data = json.loads(open(rules, encoding="utf-8").read())
    case = data["recommendation_rules"]["cases"][3]
    case["top10_indices"] = case["top10_indices"][::-1]
    (tmp_path / "rules.json").write_text(json.dumps(data), encoding="utf-8")
    r = _run_tests(folder / "golden.json", tmp_path / "rules.json")
    assert r.returncode != 0
    assert "1 of 350 cases differ, first: case 7 " in r.stdout
    assert "recommendation_rules case 3 top indices" in r.stdout
    assert re.search(r"Tests run: \d+,  Failures: 2\n", r.stdout), r.stdout[-500:]  # these two


def _litert_library():
    """libLiteRt.so of the ai-edge-litert wheel, or skip (with JNA's jar missing too)."""
    if not os.path.isfile("/usr/share/java/jna.jar"):
        pytest.skip("/usr/share/java/jna.jar not found: apt-get install -y libjna-java")
    import ai_edge_litert
    library = os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so")
    if not os.path.isfile(library):
        pytest.skip(f"{library} not found: this ai-edge-litert wheel ships no LiteRT C library")
    return library


def test_text_to_labels_through_litert_c_api(golden_files):
    """Java tokenizer -> the fp32 .tflite through libLiteRt.so's C API (JNA) -> labels."""
    library = _litert_library()
    golden, _ = golden_files
    r = subprocess.run(["bash", RUN_TESTS, str(golden)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "LITERT_LIB": library})
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    found = re.search(r"LiteRtEndToEndTest: 350 texts -> labels equal to Python through "
                      r"libLiteRt.so; max \|probability difference\| (\S+)", r.stdout)
    assert found, r.stdout[-3000:]
    assert float(found.group(1)) <= 1e-5  # measured here: 0.0 (same CPU kernels)


def test_recommendation_input_is_the_training_padding():
    """postprocess.history_input == the recommender's own left_pad (what the model saw)."""
    recommender = pytest.importorskip("pipeline.models.sequential_recommender")
    cases = golden_lib.rules_section(count=60)["cases"]
    for case in cases:
        index_of = {m: i + 2 for i, m in enumerate(case["catalogue_movie_ids"])}
        history = [index_of.get(m, OOV_ID) for m in case["liked_movie_ids"]]
        expected = recommender.left_pad([history], case["history_length"])[0].tolist()
        assert postprocess.history_input(history, case["history_length"]) == expected
        assert case["input_ids"] == expected


def _pretokenize_in_java(texts, tmp_path, lowercase, strip_accents):
    build = tmp_path / "classes"
    sources = [os.path.join(d, f) for sub in ("main", "test") for d, _, fs in
               os.walk(os.path.join(CORE, "src", sub, "java")) for f in fs
               if f.endswith(".java") and (sub == "main" or f == "PretokenizeFile.java")]
    subprocess.run(["javac", "-encoding", "UTF-8", "-cp", JARS[2], "-d", str(build), *sources],
                   check=True, capture_output=True)
    shutil.copytree(os.path.join(CORE, "src", "main", "resources"), build, dirs_exist_ok=True)
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("".join(" ".join(f"{ord(c):X}" for c in t) + "\n" for t in texts),
                      encoding="ascii")
    subprocess.run(["java", "-cp", str(build), "org.ondevice.core.PretokenizeFile", str(source),
                    str(target), str(lowercase).lower(), str(strip_accents).lower()],
                   check=True, timeout=300)
    return target.read_text(encoding="ascii").split("\n")[:-1]


def _words(words):
    return "/".join(".".join(f"{ord(c):X}" for c in w) for w in words)


@pytest.mark.parametrize("lowercase,strip_accents,every_template", [
    (True, True, False), pytest.param(True, True, True, marks=pytest.mark.slow),
    (True, False, True)])
def test_every_code_point_pretokenizes_as_in_python(tmp_path, lowercase, strip_accents,
                                                    every_template):
    """Steps 0-3 on "e<c>\u0301" (the combining mark the accent strip removes) for every
    assigned code point, and in the slow tier also "a<c>b" and "<c>é" (3x the texts)."""
    _require_java()
    if unicodedata.unidata_version != "14.0.0":
        pytest.skip(f"Python's Unicode database is {unicodedata.unidata_version}; the Java tables "
                    "(and keras-hub parity) are Unicode 14.0.0, Python 3.11's")
    cps = [c for c in range(1, 0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    cps += [0x0378, 0x10FFFF]  # unassigned: plain word characters
    templates = ("a{}b", "{}\u00e9", "e{}\u0301") if strip_accents and every_template \
        else ("e{}\u0301",)
    texts = [t.format(chr(c)) for t in templates for c in cps]
    tokenizer = WordPieceTokenizer(["[UNK]"], lowercase=lowercase, strip_accents=strip_accents)
    got = _pretokenize_in_java(texts, tmp_path, lowercase, strip_accents)
    assert len(got) == len(texts)
    different = {ord(t[1]) for t, g in zip(texts, got) if _words(tokenizer._pretokenize(t)) != g}
    if strip_accents:
        assert not different, [hex(c) for c in sorted(different)][:20]
    else:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
        assert different <= JDK17_NO_STRIP_DIFFERENCES, [hex(c) for c in sorted(different)][:20]
        if '"17.' in java:
            assert different == JDK17_NO_STRIP_DIFFERENCES


def test_golden_command_errors_are_one_line(small_export, tmp_path):
    from tests.conftest import assert_one_line_error, run
    assert_one_line_error(run("export.golden", str(tmp_path / "nope")), "nope",
                          "no such export folder")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run("export.golden", str(tmp_path / "empty")), "manifest.json",
                          "export.convert")
    export_dir, _ = small_export
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(export_dir.parent / "config.json", work / "config.json")
    shutil.copytree(export_dir, work / "export")
    (work / "export" / "golden.json").unlink(missing_ok=True)  # export.convert wrote one
    manifest = json.loads((work / "export" / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]["fp32.tflite"]
    (work / "export" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert_one_line_error(run("export.golden", str(work / "export")), "no fp32 .tflite")
    assert not (work / "export" / "golden.json").exists()
    r = run("export.golden", f"--rules_to={tmp_path / 'rules.json'}")
    assert r.returncode == 0, r.stderr[-2000:]
    rules = json.loads((tmp_path / "rules.json").read_text(encoding="utf-8"))
    assert len(rules["recommendation_rules"]["cases"]) == 200


# -- the action task --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def action_golden(action_export):
    """golden.json of the shared action export (export.convert writes it) and its sections."""
    _require_java()
    export_dir, _ = action_export
    golden = export_dir / "golden.json"
    with open(golden, encoding="utf-8") as f:
        return golden, json.load(f)


def test_action_golden_cases_are_equal_in_java(action_golden):
    golden, data = action_golden
    counts = {k: len(data[k]["cases"]) for k in ("action_tokenizer", "action", "action_parser")}
    assert counts["action"] == 40 and counts["action_tokenizer"] >= 40
    r = _run_tests(golden)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    parsed = sum("parsed" in c for c in data["action_parser"]["cases"])
    assert f"ActionGoldenTest: {counts['action_tokenizer']} tokenizer cases equal" in r.stdout
    assert f"ActionGoldenTest: {counts['action']} action texts and parses equal" in r.stdout
    assert f"ActionGoldenTest: {counts['action']} constrained outputs follow the grammar" in r.stdout
    assert (f"ActionGoldenTest: {counts['action_parser']} parser cases equal ({parsed} parsed)"
            in r.stdout)


def test_a_wrong_action_golden_value_fails(action_golden, tmp_path):
    golden, data = action_golden
    folder = tmp_path / "export"
    shutil.copytree(os.path.dirname(golden), folder)
    data = json.loads(json.dumps(data))
    data["action_tokenizer"]["cases"][5]["ids"][0] += 1
    case = data["action_parser"]["cases"][0]  # set_alarm(time=06:30, day=tomorrow)
    case["parsed"]["slots"]["day"] = "today"
    (folder / "golden.json").write_text(json.dumps(data), encoding="utf-8")
    r = _run_tests(folder / "golden.json")
    assert r.returncode != 0
    tokenizer_cases, parser_cases = (len(data[k]["cases"]) for k in ("action_tokenizer",
                                                                      "action_parser"))
    assert f"1 of {tokenizer_cases} tokenizer cases differ, first: case 5 " in r.stdout
    assert f"1 of {parser_cases} parser cases differ, first: case 0 " in r.stdout
    assert "Failures: 2" in r.stdout


def test_action_commands_to_ids_through_litert_c_api(action_golden):
    """Java tokenizer -> ActionDecoder over fp32.tflite's prefill/decode through libLiteRt.so
    -> the generated ids, unconstrained and with the grammar, equal to Python's."""
    library = _litert_library()
    golden, data = action_golden
    r = subprocess.run(["bash", RUN_TESTS, str(golden)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "LITERT_LIB": library})
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    cases = data["action"]["cases"]
    free = sum(len(c["generated_ids"]) for c in cases)
    bound = sum(len(c["constrained_ids"]) for c in cases)
    assert (f"ActionEndToEndTest: 40 commands -> {free} generated ids and {bound} constrained ids "
            "equal to Python through libLiteRt.so") in r.stdout, r.stdout[-3000:]


@pytest.fixture(scope="module")
def action_replay(action_export, tmp_path_factory):
    """run(mode, lines) -> the output lines of ActionReplayFile on the action export."""
    _require_java()
    export_dir, _ = action_export
    work = tmp_path_factory.mktemp("action_replay")
    build = work / "classes"
    sources = [os.path.join(d, f) for sub in ("main", "test") for d, _, fs in
               os.walk(os.path.join(CORE, "src", sub, "java")) for f in fs
               if f.endswith(".java") and (sub == "main" or f == "ActionReplayFile.java")]
    subprocess.run(["javac", "-encoding", "UTF-8", "-cp", JARS[2], "-d", str(build), *sources],
                   check=True, capture_output=True)
    shutil.copytree(os.path.join(CORE, "src", "main", "resources"), build, dirs_exist_ok=True)

    def replay(mode, lines):
        source, target = work / f"{mode}.in", work / f"{mode}.out"
        source.write_text("".join(line + "\n" for line in lines), encoding="ascii")
        subprocess.run(["java", "-cp", f"{build}{os.pathsep}{JARS[2]}",
                        "org.ondevice.core.ActionReplayFile", mode, str(export_dir), str(source),
                        str(target)], check=True, timeout=300)
        return target.read_text(encoding="ascii").split("\n")[:-1]

    return replay


def test_action_tokenizer_encodes_every_code_point_as_python(action_export, action_replay):
    """Ids and pre-tokens of "a<c>b" and "<c><c> 7" for every assigned code point (private
    use left out); the only differences allowed are letters new in Unicode 14, which Java
    17's tables (Unicode 13) lack."""
    from pipeline.tasks.action import tokenizer as bpe
    if unicodedata.unidata_version != "14.0.0":
        pytest.skip(f"Python's Unicode database is {unicodedata.unidata_version}, not 14.0.0")
    export_dir, _ = action_export
    tok = bpe.BPETokenizer.load(str(export_dir))
    cps = [c for c in range(1, 0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")]
    texts = [t.format(chr(c)) for t in ("a{0}b", "{0}{0} 7") for c in cps]
    got = action_replay("encode", [" ".join(f"{ord(ch):X}" for ch in t) for t in texts])
    assert len(got) == len(texts)
    want = [" ".join(map(str, tok.encode(t))) + "|" + " ".join(str(len(p)) for p in
            bpe.pretokenize(t)) for t in texts]
    different = {ord(t[1] if t.startswith("a") else t[0]) for t, g, w in zip(texts, got, want)
                 if g != w}
    assert all(unicodedata.category(chr(c))[0] == "L" for c in different), sorted(different)[:20]
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    assert len(different) < 900  # Unicode 14.0 added 838 characters
    if '"17.' in java:
        assert len(different) == 506  # measured with OpenJDK 17.0.15


def test_action_utf8_decoding_replaces_as_python(action_replay):
    """decode's U+FFFD rule on 20000 seeded byte strings around the UTF-8 boundaries."""
    import random
    rng = random.Random(0)
    alphabet = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
    data = [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(20000)]
    got = action_replay("decode", [" ".join(f"{b:X}" for b in d) for d in data])
    want = [" ".join(f"{ord(ch):X}" for ch in d.decode("utf-8", errors="replace")) for d in data]
    different = [d.hex() for d, g, w in zip(data, got, want) if g != w]
    assert not different, different[:10]


def test_action_grammar_masks_equal_python(action_export, action_replay):
    """ActionGrammar's allowed ids before every token of 600 seeded random walks through
    Python's grammar (the check commands, hard texts, escapes, and no command at all)."""
    import random

    from pipeline.tasks.action import golden as action_golden_lib
    from pipeline.tasks.action import schema
    from pipeline.tasks.action import tokenizer as bpe
    from pipeline.tasks.action.grammar import Grammar
    export_dir, _ = action_export
    tok = bpe.BPETokenizer.load(str(export_dir))
    grammar = Grammar(schema.SCHEMA, tok.vocab_bytes(), tok.eos_id)
    with open(export_dir / "check_commands.json", encoding="utf-8") as f:
        commands = json.load(f)["commands"]
    commands += [*action_golden_lib.HARD_TEXTS, "tell Rosa sure, 7 works (a=b) \\ ok", None]
    rng = random.Random(0)
    walks, want = [], []
    for _ in range(600 // len(commands) + 1):
        for command in commands:
            state, ids, masks = grammar.start(command), [], []
            while True:
                allowed = grammar.allowed(state)
                masks.append(",".join(map(str, allowed.nonzero()[0].tolist())))
                if grammar.done(state) or len(ids) == 64 or not allowed.any():
                    break
                ids.append(rng.choice(allowed.nonzero()[0].tolist()))
                state = grammar.advance(state, ids[-1])
            walks.append(json.dumps({"command": command, "ids": ids}))
            want.append(";".join(masks))
    got = action_replay("grammar", walks)
    different = [(w, g[:200]) for w, g, x in zip(walks, got, want) if g != x]
    assert len(got) == len(want) and not different, different[:3]
    assert sum(len(json.loads(w)["ids"]) for w in walks) > 5000
