package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/**
 * The whole Java path against Python on the real model: text -> WordPieceTokenizer -> the fp32
 * .tflite through LiteRT's C API (LiteRtC, JNA) -> Classification top-1, and liked movies ->
 * Recommendations input -> model -> top-10, for every case of the golden files. Needs the
 * system property {@code litert.lib} (path of libLiteRt.so); skipped without it.
 */
public class LiteRtEndToEndTest {
    /** Largest |Java probability - Python probability| accepted (same library, same CPU kernels). */
    static final float PROBABILITY_TOLERANCE = 1e-5f;

    static LiteRtC runtime() {
        String lib = System.getProperty("litert.lib", "");
        assumeTrue("no libLiteRt.so given (LITERT_LIB=... run_tests.sh)", !lib.isEmpty());
        return LiteRtC.load(lib);
    }

    @Test
    public void textToLabelsEqualsPython() throws Exception {
        LiteRtC rt = runtime();
        int checked = 0;
        float worst = 0f;
        for (Path path : GoldenTest.goldenFiles()) {
            JSONObject c = GoldenTest.read(path).optJSONObject("classifier");
            if (c == null) {
                continue;
            }
            Path folder = path.toAbsolutePath().getParent();
            WordPieceTokenizer tok = WordPieceTokenizer.fromFile(folder.resolve(c.getString("vocabulary_file")));
            List<String> labels = new ArrayList<>();
            for (int i = 0; i < c.getJSONArray("labels").length(); i++) {
                labels.add(c.getJSONArray("labels").getString(i));
            }
            int length = c.getInt("sequence_length");
            JSONArray cases = c.getJSONArray("cases");
            Path modelFile = folder.resolve(c.getString("model_file"));
            if (!java.nio.file.Files.isRegularFile(modelFile)) {
                System.out.println("LiteRtEndToEndTest: " + modelFile + " not there (bundled without it), skipped");
                continue;
            }
            try (LiteRtC.Model model = rt.open(modelFile.toString())) {
                for (int i = 0; i < cases.length(); i++) {
                    JSONObject k = cases.getJSONObject(i);
                    WordPieceTokenizer.Encoded e = tok.encode(k.getString("text"), length);
                    float[] p = model.run(java.util.Map.of("token_ids", e.tokenIds,
                            "padding_mask", e.paddingMask, "segment_ids", e.segmentIds));
                    JSONArray want = k.getJSONArray("probabilities");
                    assertEquals(want.length(), p.length);
                    for (int j = 0; j < p.length; j++) {
                        worst = Math.max(worst, Math.abs(p[j] - (float) want.getDouble(j)));
                    }
                    assertEquals(path + " case " + i + " top-1", k.getString("top1"),
                            Classification.topK(p, labels, 1).get(0).label);
                    checked++;
                }
            }
        }
        assumeTrue("no classifier section in the golden files", checked > 0);
        System.out.println("LiteRtEndToEndTest: " + checked + " texts -> labels equal to Python "
                + "through libLiteRt.so; max |probability difference| " + worst);
        assertTrue("max |probability difference| " + worst, worst <= PROBABILITY_TOLERANCE);
    }

    @Test
    public void likedMoviesToRecommendationsEqualsPython() throws Exception {
        LiteRtC rt = runtime();
        int checked = 0;
        for (Path path : GoldenTest.goldenFiles()) {
            JSONObject r = GoldenTest.read(path).optJSONObject("recommendations");
            if (r == null) {
                continue;
            }
            Path folder = path.toAbsolutePath().getParent();
            Path items = folder.resolve(r.getString("items_file"));
            ItemCatalogue catalogue = ItemCatalogue.readCsv(new java.io.FileInputStream(items.toFile()), items.toString());
            Recommendations recs = new Recommendations(catalogue, r.getInt("history_length"));
            JSONArray cases = r.getJSONArray("cases");
            Path modelFile = folder.resolve(r.getString("model_file"));
            if (!java.nio.file.Files.isRegularFile(modelFile)) {
                System.out.println("LiteRtEndToEndTest: " + modelFile + " not there (bundled without it), skipped");
                continue;
            }
            try (LiteRtC.Model model = rt.open(modelFile.toString())) {
                for (int i = 0; i < cases.length(); i++) {
                    JSONObject k = cases.getJSONObject(i);
                    List<Long> liked = GoldenTest.longList(k.getJSONArray("liked_movie_ids"));
                    float[] scores = model.run(new int[][] {recs.buildInput(liked)});
                    assertArrayEquals(path + " case " + i + " top-10",
                            GoldenTest.ints(k.getJSONArray("top10_indices")), recs.topIndices(scores, liked, r.getInt("k")));
                    checked++;
                }
            }
        }
        assumeTrue("no recommendations section in the golden files", checked > 0);
        System.out.println("LiteRtEndToEndTest: " + checked + " histories -> top-10 equal to Python through libLiteRt.so");
    }
}
