package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/**
 * Exact equality with golden.json files written by export/golden.py (Python's tokenizer, the
 * fp32 model's outputs, the recommendation rules). The files come from the system property
 * {@code golden} (paths separated by the platform's path separator), which run_tests.sh sets;
 * without it these tests are skipped and the unit tests alone run.
 */
public class GoldenTest {
    static List<Path> goldenFiles() {
        String value = System.getProperty("golden", "");
        List<Path> out = new ArrayList<>();
        for (String p : value.split(File.pathSeparator)) {
            if (!p.isEmpty()) {
                out.add(Path.of(p));
            }
        }
        return out;
    }

    static JSONObject read(Path path) throws Exception {
        return new JSONObject(new String(Files.readAllBytes(path), StandardCharsets.UTF_8));
    }

    static int[] ints(JSONArray a) throws Exception {
        int[] out = new int[a.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.getInt(i);
        }
        return out;
    }

    static long[] longs(JSONArray a) throws Exception {
        long[] out = new long[a.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.getLong(i);
        }
        return out;
    }

    static List<Long> longList(JSONArray a) throws Exception {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < a.length(); i++) {
            out.add(a.getLong(i));
        }
        return out;
    }

    static float[] floats(String base64) {
        ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(base64)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().limit(80).forEach(cp -> {
            if (cp < 0x20 || cp > 0x7E) {
                b.append(String.format("\\u{%X}", cp));
            } else {
                b.appendCodePoint(cp);
            }
        });
        return b.toString();
    }

    @Test
    public void classifierCasesMatchExactly() throws Exception {
        List<Path> files = goldenFiles();
        assumeTrue("no golden.json given (run_tests.sh <golden.json>)", !files.isEmpty());
        int checked = 0;
        for (Path path : files) {
            JSONObject golden = read(path);
            assertEquals(path + ": format_version", 1, golden.getInt("format_version"));
            JSONObject c = golden.optJSONObject("classifier");
            if (c == null) {
                continue;
            }
            Path folder = path.toAbsolutePath().getParent();
            Path vocab = folder.resolve(c.getString("vocabulary_file"));
            try (InputStream in = new FileInputStream(vocab.toFile())) {
                assertEquals(vocab + ": sha256", c.getString("vocabulary_sha256"),
                        ModelManifest.sha256Hex(in));
            }
            JSONObject t = c.getJSONObject("tokenizer");
            WordPieceTokenizer.Options options = new WordPieceTokenizer.Options();
            options.lowercase = t.getBoolean("lowercase");
            options.stripAccents = t.getBoolean("strip_accents");
            options.splitOnCjk = t.getBoolean("split_on_cjk");
            options.maxWordBytes = t.getInt("max_word_bytes");
            options.suffixIndicator = t.getString("suffix_indicator");
            WordPieceTokenizer tok = WordPieceTokenizer.fromFile(vocab, options);
            int length = c.getInt("sequence_length");
            List<String> labels = new ArrayList<>();
            JSONArray l = c.getJSONArray("labels");
            for (int i = 0; i < l.length(); i++) {
                labels.add(l.getString(i));
            }
            JSONArray cases = c.getJSONArray("cases");
            List<String> mismatches = new ArrayList<>();
            for (int i = 0; i < cases.length(); i++) {
                JSONObject k = cases.getJSONObject(i);
                String text = k.getString("text");
                WordPieceTokenizer.Encoded e = tok.encode(text, length);
                int[] want = ints(k.getJSONArray("token_ids"));
                if (!Arrays.equals(want, e.tokenIds)
                        || !Arrays.equals(ints(k.getJSONArray("padding_mask")), e.paddingMask)
                        || !Arrays.equals(new int[length], e.segmentIds)) {
                    mismatches.add("case " + i + " '" + escape(text) + "': python "
                            + Arrays.toString(want) + " java " + Arrays.toString(e.tokenIds));
                }
                JSONArray p = k.getJSONArray("probabilities");
                float[] probabilities = new float[p.length()];
                for (int j = 0; j < probabilities.length; j++) {
                    probabilities[j] = (float) p.getDouble(j);
                }
                Classification.Prediction top = Classification.topK(probabilities, labels, 1).get(0);
                if (top.index != k.getInt("top1_index") || !top.label.equals(k.getString("top1"))) {
                    mismatches.add("case " + i + " top-1 " + top.label + " != " + k.getString("top1"));
                }
                checked++;
            }
            if (!mismatches.isEmpty()) {
                fail(path + ": " + mismatches.size() + " of " + cases.length()
                        + " cases differ, first: " + String.join("; ", mismatches.subList(0,
                        Math.min(5, mismatches.size()))));
            }
            Path manifestPath = folder.resolve("manifest.json");
            if (Files.isRegularFile(manifestPath)) {
                ModelManifest m = ModelManifest.read(new FileInputStream(manifestPath.toFile()),
                        manifestPath.toString());
                assertEquals(labels, m.labels());
                assertEquals(length, m.sequenceLength());
                String model = c.getString("model_file");  // a bundle may leave it out
                if (m.fileNames().contains(model)) {
                    assertEquals(c.getString("model_sha256"), m.file(model).sha256);
                    Path modelPath = folder.resolve(model);
                    if (Files.isRegularFile(modelPath)) {
                        m.verifySha256(model, new FileInputStream(modelPath.toFile()));
                    }
                }
            }
        }
        System.out.println("GoldenTest: " + checked + " classifier cases equal");
        assumeTrue("no classifier section in " + files, checked > 0);
    }

    @Test
    public void recommendationCasesMatchExactly() throws Exception {
        List<Path> files = goldenFiles();
        assumeTrue("no golden.json given (run_tests.sh <golden.json>)", !files.isEmpty());
        int checked = 0;
        int withScores = 0;
        for (Path path : files) {
            JSONObject golden = read(path);
            for (String section : new String[] {"recommendations", "recommendation_rules"}) {
                JSONObject r = golden.optJSONObject(section);
                if (r == null) {
                    continue;
                }
                assertEquals(ItemCatalogue.PAD, r.getInt("pad_id"));
                assertEquals(ItemCatalogue.OOV, r.getInt("oov_id"));
                int k = r.getInt("k");
                ItemCatalogue shared = null;
                if (r.has("items_file")) {
                    Path items = path.toAbsolutePath().getParent().resolve(r.getString("items_file"));
                    shared = ItemCatalogue.readCsv(new FileInputStream(items.toFile()), items.toString());
                }
                JSONArray cases = r.getJSONArray("cases");
                for (int i = 0; i < cases.length(); i++) {
                    JSONObject c = cases.getJSONObject(i);
                    ItemCatalogue catalogue = shared != null ? shared
                            : ItemCatalogue.ofMovieIds(longs(c.getJSONArray("catalogue_movie_ids")));
                    int h = c.has("history_length") ? c.getInt("history_length") : r.getInt("history_length");
                    Recommendations recs = new Recommendations(catalogue, h);
                    List<Long> liked = longList(c.getJSONArray("liked_movie_ids"));
                    String where = path + " " + section + " case " + i;
                    assertArrayEquals(where + " input", ints(c.getJSONArray("input_ids")),
                            recs.buildInput(liked));
                    if (c.has("scores_f32le_base64")) {
                        float[] scores = floats(c.getString("scores_f32le_base64"));
                        int[] top = recs.topIndices(scores, liked, k);
                        assertArrayEquals(where + " top indices", ints(c.getJSONArray("top10_indices")), top);
                        long[] movies = new long[top.length];
                        for (int j = 0; j < top.length; j++) {
                            movies[j] = catalogue.item(top[j]).movieId;
                        }
                        assertArrayEquals(where + " top movieIds", longs(c.getJSONArray("top10_movie_ids")), movies);
                        withScores++;
                    }
                    checked++;
                }
            }
        }
        System.out.println("GoldenTest: " + checked + " recommendation inputs equal, "
                + withScores + " top-k lists equal");
        assumeTrue("no recommendations section in " + files, checked > 0);
    }
}
