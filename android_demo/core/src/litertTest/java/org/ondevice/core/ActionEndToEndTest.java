package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assume.assumeTrue;

import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/**
 * The action model's whole Java path against Python: command -> ByteLevelBpeTokenizer ->
 * ActionDecoder's greedy loop over the fp32 .tflite's prefill and decode signatures through
 * LiteRT's C API (LiteRtC, JNA) -> generated ids and action text, unconstrained and with
 * ActionGrammar's mask, for every case of the golden files' {@code action} section. Needs the
 * system property {@code litert.lib} (path of libLiteRt.so); skipped without it.
 */
public class ActionEndToEndTest {
    /**
     * {@link ActionDecoder.CachedLm} over a .tflite with KV-cache signatures, the cache kept in
     * Java arrays and passed from each call's outputs to the next call's inputs, as
     * export/runtime/generation.py's CachedLM does.
     */
    static final class LiteRtLm implements ActionDecoder.CachedLm {
        private final LiteRtC.SignatureModel model;
        private final List<String> cacheNames = new ArrayList<>();
        private final Map<String, float[]> caches = new LinkedHashMap<>();
        private final int prefillLength;
        private final int maxLength;

        LiteRtLm(LiteRtC.SignatureModel model, int prefillLength, int maxLength) {
            this.model = model;
            this.prefillLength = prefillLength;
            this.maxLength = maxLength;
            for (String name : model.inputNames("decode")) {
                if (name.startsWith("key_") || name.startsWith("value_")) {
                    cacheNames.add(name);
                }
            }
            assertEquals("token ids bytes", 4L * prefillLength, model.inputBytes("prefill", "tokens"));
            reset();
        }

        @Override
        public int prefillLength() {
            return prefillLength;
        }

        @Override
        public int maxLength() {
            return maxLength;
        }

        @Override
        public void reset() {
            for (String name : cacheNames) {
                caches.put(name, new float[(int) (model.inputBytes("decode", name) / 4)]);
            }
        }

        private float[] step(String signature) {
            for (String name : cacheNames) {
                model.write(signature, name, caches.get(name));
            }
            model.run(signature);
            for (String name : cacheNames) {
                caches.put(name, model.readFloats(signature, name));
            }
            return model.readFloats(signature, "logits");
        }

        @Override
        public float[] prefill(int[] tokens, int length, int start) {
            model.write("prefill", "tokens", tokens);
            model.write("prefill", "length", new int[] {length});
            model.write("prefill", "start", new int[] {start});
            return step("prefill");
        }

        @Override
        public float[] decode(int token, int position) {
            model.write("decode", "token", new int[] {token});
            model.write("decode", "position", new int[] {position});
            return step("decode");
        }
    }

    @Test
    public void commandsToGeneratedIdsEqualPython() throws Exception {
        String lib = System.getProperty("litert.lib", "");
        assumeTrue("no libLiteRt.so given (LITERT_LIB=... run_tests.sh)", !lib.isEmpty());
        LiteRtC rt = LiteRtC.load(lib);
        int checked = 0;
        int tokens = 0;
        int constrainedTokens = 0;
        for (Map.Entry<Path, JSONObject> entry : ActionGoldenTest.withSection("action")) {
            Path path = entry.getKey();
            JSONObject section = entry.getValue();
            Path folder = path.toAbsolutePath().getParent();
            Path modelFile = folder.resolve(section.getString("model_file"));
            if (!Files.isRegularFile(modelFile)) {
                System.out.println("ActionEndToEndTest: " + modelFile + " not there (bundled without it), skipped");
                continue;
            }
            try (InputStream in = new FileInputStream(modelFile.toFile())) {
                assertEquals(modelFile + ": sha256", section.getString("model_sha256"), ModelManifest.sha256Hex(in));
            }
            JSONObject manifest = GoldenTest.read(folder.resolve("manifest.json"));
            ByteLevelBpeTokenizer tok = ActionGoldenTest.tokenizer(path);
            int maxNewTokens = section.getInt("max_new_tokens");
            try (LiteRtC.SignatureModel model = rt.openSignatures(modelFile.toString())) {
                LiteRtLm lm = new LiteRtLm(model, manifest.getInt("prompt_length"), manifest.getInt("max_length"));
                ActionDecoder decoder = new ActionDecoder(tok, lm);
                ActionGrammar grammar = new ActionGrammar(tok);
                JSONArray cases = section.getJSONArray("cases");
                for (int i = 0; i < cases.length(); i++) {
                    JSONObject k = cases.getJSONObject(i);
                    String where = path + " action case " + i + " '" + GoldenTest.escape(k.getString("command")) + "'";
                    ActionDecoder.Result r = decoder.act(k.getString("command"), null, maxNewTokens);
                    assertArrayEquals(where + " prompt", GoldenTest.ints(k.getJSONArray("prompt_ids")), r.promptIds);
                    assertArrayEquals(where + " generated ids", GoldenTest.ints(k.getJSONArray("generated_ids")),
                            r.generatedIds);
                    assertEquals(where + " action", k.getString("action"), r.action);
                    String command = k.getString("command");
                    ActionDecoder.Result c = decoder.act(command, grammar.maskFor(command), maxNewTokens);
                    assertArrayEquals(where + " constrained ids", GoldenTest.ints(k.getJSONArray("constrained_ids")),
                            c.generatedIds);
                    assertEquals(where + " constrained action", k.getString("constrained_action"), c.action);
                    JSONObject parsed = k.optJSONObject("parsed");
                    assertEquals(where + " parsed", parsed == null ? "error" : ActionGoldenTest.describe(parsed),
                            c.parsed == null ? "error" : ActionGoldenTest.describe(c.parsed));
                    tokens += r.generatedIds.length;
                    constrainedTokens += c.generatedIds.length;
                    checked++;
                }
            }
        }
        assumeTrue("no action section with its model in the golden files", checked > 0);
        System.out.println("ActionEndToEndTest: " + checked + " commands -> " + tokens
                + " generated ids and " + constrainedTokens + " constrained ids equal to Python through libLiteRt.so");
    }
}
