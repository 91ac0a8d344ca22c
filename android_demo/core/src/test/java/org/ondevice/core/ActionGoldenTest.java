package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.junit.Assume.assumeTrue;

import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/**
 * Exact equality with the action sections of golden.json files (pipeline/tasks/action/
 * golden.py): the byte-level BPE tokenizer's ids, prompts and decoded texts, the texts of the
 * generated ids, and the action parser. The files come from the system property
 * {@code golden}, as in {@link GoldenTest}; skipped when none has an action section. The model
 * itself runs in src/litertTest (ActionEndToEndTest).
 */
public class ActionGoldenTest {
    /** The golden files that hold {@code section}, each with its parsed JSON. */
    static List<Map.Entry<Path, JSONObject>> withSection(String section) throws Exception {
        List<Map.Entry<Path, JSONObject>> out = new ArrayList<>();
        for (Path path : GoldenTest.goldenFiles()) {
            JSONObject golden = GoldenTest.read(path);
            assertEquals(path + ": format_version", 1, golden.getInt("format_version"));
            JSONObject s = golden.optJSONObject(section);
            if (s != null) {
                out.add(Map.entry(path, s));
            }
        }
        return out;
    }

    /** The tokenizer of the export folder holding {@code golden}, its files' sha256 checked
     * against manifest.json when the folder has one. */
    static ByteLevelBpeTokenizer tokenizer(Path golden) throws Exception {
        Path folder = golden.toAbsolutePath().getParent();
        Path manifest = folder.resolve("manifest.json");
        if (Files.isRegularFile(manifest)) {
            JSONObject sha = GoldenTest.read(manifest).getJSONObject("tokenizer").getJSONObject("sha256");
            for (String name : new String[] {ByteLevelBpeTokenizer.VOCABULARY_FILE, ByteLevelBpeTokenizer.MERGES_FILE}) {
                try (InputStream in = new FileInputStream(folder.resolve(name).toFile())) {
                    assertEquals(folder.resolve(name) + ": sha256", sha.getString(name), ModelManifest.sha256Hex(in));
                }
            }
        }
        return ByteLevelBpeTokenizer.fromFolder(folder);
    }

    /** A parsed action as "intent(name=s:value, name=i:value)": types and order count. */
    static String describe(Action a) {
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, Object> e : a.slots.entrySet()) {
            parts.add(e.getKey() + "=" + (e.getValue() instanceof String ? "s:" : "i:") + e.getValue());
        }
        return a.intent + "(" + String.join(", ", parts) + ")";
    }

    static String describe(JSONObject parsed) throws Exception {
        List<String> parts = new ArrayList<>();
        JSONObject slots = parsed.getJSONObject("slots");
        for (Iterator<String> it = slots.keys(); it.hasNext(); ) {
            String name = it.next();
            Object v = slots.get(name);
            parts.add(name + "=" + (v instanceof String ? "s:" : "i:") + v);
        }
        return parsed.getString("intent") + "(" + String.join(", ", parts) + ")";
    }

    static String parseOrError(String text) {
        try {
            return describe(Action.parse(text));
        } catch (IllegalArgumentException e) {
            return "error";
        }
    }

    static void report(Path path, String what, List<String> mismatches, int total) {
        if (!mismatches.isEmpty()) {
            fail(path + ": " + mismatches.size() + " of " + total + " " + what + " differ, first: "
                    + String.join("; ", mismatches.subList(0, Math.min(5, mismatches.size()))));
        }
    }

    @Test
    public void tokenizerCasesMatchExactly() throws Exception {
        int checked = 0;
        for (Map.Entry<Path, JSONObject> entry : withSection("action_tokenizer")) {
            Path path = entry.getKey();
            ByteLevelBpeTokenizer tok = tokenizer(path);
            JSONArray cases = entry.getValue().getJSONArray("cases");
            List<String> mismatches = new ArrayList<>();
            for (int i = 0; i < cases.length(); i++) {
                JSONObject k = cases.getJSONObject(i);
                String text = k.getString("text");
                int[] want = GoldenTest.ints(k.getJSONArray("ids"));
                int[] ids = tok.encode(text);
                if (!Arrays.equals(want, ids)
                        || !Arrays.equals(GoldenTest.ints(k.getJSONArray("prompt_ids")), tok.encodeExample(text))
                        || !tok.decode(want).equals(k.getString("decoded"))) {
                    mismatches.add("case " + i + " '" + GoldenTest.escape(text) + "': python "
                            + Arrays.toString(want) + " java " + Arrays.toString(ids));
                }
                checked++;
            }
            report(path, "tokenizer cases", mismatches, cases.length());
        }
        assumeTrue("no action_tokenizer section in " + GoldenTest.goldenFiles(), checked > 0);
        System.out.println("ActionGoldenTest: " + checked + " tokenizer cases equal");
    }

    @Test
    public void actionTextsAndParsesMatchExactly() throws Exception {
        int checked = 0;
        for (Map.Entry<Path, JSONObject> entry : withSection("action")) {
            Path path = entry.getKey();
            JSONObject section = entry.getValue();
            ByteLevelBpeTokenizer tok = tokenizer(path);
            JSONObject special = section.getJSONObject("special_ids");
            assertEquals(ByteLevelBpeTokenizer.PAD, special.getInt("pad"));
            assertEquals(ByteLevelBpeTokenizer.BOS, special.getInt("bos"));
            assertEquals(ByteLevelBpeTokenizer.EOS, special.getInt("eos"));
            assertEquals(ByteLevelBpeTokenizer.SEP, special.getInt("sep"));
            assertEquals(ActionDecoder.MAX_NEW_TOKENS, section.getInt("max_new_tokens"));
            JSONArray cases = section.getJSONArray("cases");
            for (int i = 0; i < cases.length(); i++) {
                JSONObject k = cases.getJSONObject(i);
                String where = path + " action case " + i + " '" + GoldenTest.escape(k.getString("command")) + "'";
                assertArrayEquals(where + " prompt", GoldenTest.ints(k.getJSONArray("prompt_ids")),
                        tok.encodeExample(k.getString("command")));
                assertEquals(where + " action", k.getString("action"),
                        tok.decode(GoldenTest.ints(k.getJSONArray("generated_ids"))));
                String constrained = k.getString("constrained_action");
                assertEquals(where + " constrained action", constrained,
                        tok.decode(GoldenTest.ints(k.getJSONArray("constrained_ids"))));
                JSONObject parsed = k.optJSONObject("parsed");
                assertEquals(where + " parsed", parsed == null ? "error" : describe(parsed), parseOrError(constrained));
                checked++;
            }
        }
        assumeTrue("no action section in " + GoldenTest.goldenFiles(), checked > 0);
        System.out.println("ActionGoldenTest: " + checked + " action texts and parses equal");
    }

    @Test
    public void constrainedIdsAreWhatTheGrammarAllows() throws Exception {
        int checked = 0;
        for (Map.Entry<Path, JSONObject> entry : withSection("action")) {
            Path path = entry.getKey();
            ActionGrammar grammar = new ActionGrammar(tokenizer(path));
            JSONArray cases = entry.getValue().getJSONArray("cases");
            for (int i = 0; i < cases.length(); i++) {
                JSONObject k = cases.getJSONObject(i);
                String where = path + " action case " + i + " '" + GoldenTest.escape(k.getString("command")) + "'";
                ActionGrammar.State state = grammar.start(k.getString("command"));
                int[] ids = GoldenTest.ints(k.getJSONArray("constrained_ids"));
                for (int t = 0; t < ids.length; t++) {
                    assertTrue(where + ": token " + t + " (" + ids[t] + ") not allowed after '"
                            + state.text() + "'", grammar.allowed(state)[ids[t]]);
                    state = grammar.advance(state, ids[t]);
                }
                assertEquals(where + " text", k.getString("constrained_action"), state.text());
                assertTrue(where + ": no eos", grammar.done(state) || ids.length == ActionDecoder.MAX_NEW_TOKENS);
                checked++;
            }
        }
        assumeTrue("no action section in " + GoldenTest.goldenFiles(), checked > 0);
        System.out.println("ActionGoldenTest: " + checked + " constrained outputs follow the grammar");
    }

    @Test
    public void parserCasesMatchExactly() throws Exception {
        int checked = 0;
        int parsed = 0;
        for (Map.Entry<Path, JSONObject> entry : withSection("action_parser")) {
            Path path = entry.getKey();
            JSONArray cases = entry.getValue().getJSONArray("cases");
            List<String> mismatches = new ArrayList<>();
            for (int i = 0; i < cases.length(); i++) {
                JSONObject k = cases.getJSONObject(i);
                String text = k.getString("text");
                String want = k.optBoolean("error", false) ? "error" : describe(k.getJSONObject("parsed"));
                String got = parseOrError(text);
                if (!want.equals(got)) {
                    mismatches.add("case " + i + " '" + GoldenTest.escape(text) + "': python " + want + " java " + got);
                } else if (!got.equals("error")) {
                    // One spelling per action: formatting the parse gives the text back.
                    String again = Action.parse(text).toString();
                    if (!again.equals(text)) {
                        mismatches.add("case " + i + " '" + GoldenTest.escape(text) + "' formats as '"
                                + GoldenTest.escape(again) + "'");
                    }
                    parsed++;
                }
                checked++;
            }
            report(path, "parser cases", mismatches, cases.length());
        }
        assumeTrue("no action_parser section in " + GoldenTest.goldenFiles(), checked > 0);
        System.out.println("ActionGoldenTest: " + checked + " parser cases equal (" + parsed + " parsed)");
    }
}
