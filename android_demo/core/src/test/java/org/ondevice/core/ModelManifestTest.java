package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/** Reading manifest.json and refusing files that do not match it. */
public class ModelManifestTest {
    static final byte[] MODEL = "not really a model, but bytes with a known digest".getBytes(StandardCharsets.UTF_8);
    static final String SHA = "1ff38bc4cbd9bc3ec5bb3dc9e5a9b37fba4b2b5e54ff39e4f7d6e2f1c8b5c4c6";

    static String manifest(String sha) {
        return "{\"format_version\": 1, \"name\": \"Intents\", \"task\": \"text_classification\","
                + "\"sequence_length\": 32, \"labels\": [\"a\", \"b\"],"
                + "\"tokenizer\": {\"kind\": \"bert_wordpiece\", \"lowercase\": true, \"strip_accents\": false,"
                + " \"vocabulary_file\": \"vocab.txt\", \"max_word_bytes\": 100},"
                + "\"files\": {\"fp32.tflite\": {\"variant\": \"fp32\", \"sha256\": \"" + sha + "\", \"bytes\": 5,"
                + " \"inputs\": [{\"name\": \"token_ids\", \"shape\": [1, 32], \"dtype\": \"int32\"}],"
                + " \"outputs\": [{\"name\": \"probabilities\", \"shape\": [1, 2], \"dtype\": \"float32\"}]}}}";
    }

    @Test
    public void readsTheFields() throws Exception {
        String sha = ModelManifest.sha256Hex(new ByteArrayInputStream(MODEL));
        ModelManifest m = ModelManifest.parse(manifest(sha), "manifest.json");
        assertEquals(32, m.sequenceLength());
        assertEquals(Arrays.asList("a", "b"), m.labels());
        assertEquals(Arrays.asList("fp32.tflite"), m.fileNames());
        assertFalse(m.isRecommender());
        assertFalse(m.tokenizerOptions().stripAccents);
        assertEquals("vocab.txt", m.vocabularyFile());
        m.verifySha256("fp32.tflite", new ByteArrayInputStream(MODEL));
        m.checkTensors("fp32.tflite",
                List.of(new TensorSpec("token_ids", "int32", new int[] {1, 32})),
                List.of(new TensorSpec("probabilities", "FLOAT32", new int[] {1, 2})));
    }

    @Test
    public void gpuNeedsFloat32OnlyWhereTheGateFoundFloat16WrongAndFloat32Right() throws Exception {
        String withChecks = manifest(SHA).replace("\"bytes\": 5,",
                "\"bytes\": 5, \"checks\": {\"gpu\": {\"ok\": false}, \"gpu_f32\": {\"ok\": true}},");
        assertTrue(ModelManifest.parse(withChecks, "m").file("fp32.tflite").gpuNeedsFloat32);
        assertFalse(ModelManifest.parse(manifest(SHA), "m").file("fp32.tflite").gpuNeedsFloat32);
        String bothOk = withChecks.replace("{\"ok\": false}", "{\"ok\": true}");
        assertFalse(ModelManifest.parse(bothOk, "m").file("fp32.tflite").gpuNeedsFloat32);
        String bothWrong = withChecks.replace("{\"ok\": true}", "{\"ok\": false}");
        assertFalse(ModelManifest.parse(bothWrong, "m").file("fp32.tflite").gpuNeedsFloat32);
    }

    @Test
    public void sha256IsTheStandardDigest() throws Exception {
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ModelManifest.sha256Hex(new ByteArrayInputStream(new byte[0])));
    }

    @Test
    public void refusesMismatches() throws Exception {
        ModelManifest m = ModelManifest.parse(manifest(SHA), "manifest.json");
        ModelMismatchException e = assertThrows(ModelMismatchException.class,
                () -> m.verifySha256("fp32.tflite", new ByteArrayInputStream(MODEL)));
        assertTrue(e.getMessage(), e.getMessage().startsWith("fp32.tflite: sha256 "));
        e = assertThrows(ModelMismatchException.class, () -> m.checkTensors("fp32.tflite",
                List.of(new TensorSpec("token_ids", "int32", new int[] {1, 64})),
                List.of(new TensorSpec("probabilities", "float32", new int[] {1, 2}))));
        assertTrue(e.getMessage(), e.getMessage().contains("expects [token_ids int32 [1, 32]]"));
        e = assertThrows(ModelMismatchException.class, () -> m.checkTensors("fp32.tflite",
                List.of(new TensorSpec("token_ids", "int32", new int[] {1, 32})),
                List.of(new TensorSpec("logits", "float32", new int[] {1, 2}))));
        assertTrue(e.getMessage(), e.getMessage().contains("outputs are [logits"));
        assertThrows(ModelMismatchException.class, () -> m.file("int8.tflite"));
        assertThrows(ModelMismatchException.class, () -> ModelManifest.parse("{", "m.json"));
        assertThrows(ModelMismatchException.class,
                () -> ModelManifest.parse("{\"format_version\": 2, \"files\": {}}", "m.json"));
        assertTrue(ModelManifest.parse("{\"format_version\": 1, \"task\": \"next_item\", \"files\": {}}",
                "m.json").isRecommender());
    }
}
