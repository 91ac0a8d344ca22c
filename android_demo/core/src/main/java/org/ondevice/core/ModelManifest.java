package org.ondevice.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The export's {@code manifest.json} (export/manifest.py): the contract between the Python
 * export and the app. Tells which files exist, their sha256, the tensors each one must have,
 * the labels, the tokenizer options and the sequence length.
 *
 * <pre>{@code
 * ModelManifest m = ModelManifest.parse(jsonText, "manifest.json");
 * m.fileNames();                       // ["fp32.tflite", "int8_dynamic.tflite"]
 * m.verifySha256("fp32.tflite", in);   // ModelMismatchException if the bytes differ
 * m.checkTensors("fp32.tflite", runtimeInputs, runtimeOutputs);
 * }</pre>
 */
public final class ModelManifest {
    /** One exported model file. */
    public static final class FileEntry {
        public final String name;
        public final String variant;
        public final String sha256;
        public final long bytes;
        public final List<TensorSpec> inputs;
        public final List<TensorSpec> outputs;
        /** The gate found this file right on the GPU only in float32: see {@link #gpuNeedsFloat32(JSONObject)}. */
        public final boolean gpuNeedsFloat32;

        FileEntry(String name, String variant, String sha256, long bytes,
                  List<TensorSpec> inputs, List<TensorSpec> outputs, boolean gpuNeedsFloat32) {
            this.name = name;
            this.variant = variant;
            this.sha256 = sha256;
            this.bytes = bytes;
            this.inputs = Collections.unmodifiableList(inputs);
            this.outputs = Collections.unmodifiableList(outputs);
            this.gpuNeedsFloat32 = gpuNeedsFloat32;
        }
    }

    /**
     * True when a file entry's gate checks say its GPU run failed at default (float16)
     * precision but passed with float32 ({@code checks.gpu.ok} false, {@code checks.gpu_f32.ok}
     * true, written by {@code export.check --require=gpu}): the app must then ask the GPU
     * delegate for float32 (precision loss not allowed). False without those checks.
     */
    public static boolean gpuNeedsFloat32(JSONObject fileEntry) {
        JSONObject checks = fileEntry == null ? null : fileEntry.optJSONObject("checks");
        if (checks == null) {
            return false;
        }
        JSONObject fp16 = checks.optJSONObject("gpu");
        JSONObject fp32 = checks.optJSONObject("gpu_f32");
        return fp16 != null && fp32 != null && !fp16.optBoolean("ok", true) && fp32.optBoolean("ok", false);
    }

    private final String source;
    private final JSONObject json;
    private final Map<String, FileEntry> files;

    private ModelManifest(String source, JSONObject json, Map<String, FileEntry> files) {
        this.source = source;
        this.json = json;
        this.files = files;
    }

    public static ModelManifest read(InputStream in, String source)
            throws IOException, ModelMismatchException {
        return parse(new String(WordPieceTokenizer.readAll(in), StandardCharsets.UTF_8), source);
    }

    /** @param source what to name in messages (the asset or file path) */
    public static ModelManifest parse(String text, String source) throws ModelMismatchException {
        try {
            JSONObject json = new JSONObject(text);
            int version = json.optInt("format_version", -1);
            if (version != 1) {
                throw new ModelMismatchException(source + ": format_version " + version
                        + " is not supported (this app reads version 1)");
            }
            JSONObject filesJson = json.optJSONObject("files");
            if (filesJson == null) {
                throw new ModelMismatchException(source + ": no \"files\" object");
            }
            Map<String, FileEntry> files = new LinkedHashMap<>();
            List<String> names = new ArrayList<>();
            for (java.util.Iterator<String> it = filesJson.keys(); it.hasNext(); ) {
                names.add(it.next());
            }
            Collections.sort(names);
            for (String name : names) {
                JSONObject f = filesJson.getJSONObject(name);
                files.put(name, new FileEntry(name, f.optString("variant", ""),
                        f.getString("sha256"), f.optLong("bytes", -1),
                        tensors(f.getJSONArray("inputs")), tensors(f.getJSONArray("outputs")),
                        gpuNeedsFloat32(f)));
            }
            return new ModelManifest(source, json, files);
        } catch (JSONException e) {
            throw new ModelMismatchException(source + ": not a valid manifest (" + e.getMessage() + ")");
        }
    }

    private static List<TensorSpec> tensors(JSONArray array) throws JSONException {
        List<TensorSpec> out = new ArrayList<>();
        for (int i = 0; i < array.length(); i++) {
            JSONObject t = array.getJSONObject(i);
            JSONArray s = t.getJSONArray("shape");
            int[] shape = new int[s.length()];
            for (int j = 0; j < shape.length; j++) {
                shape[j] = s.getInt(j);
            }
            out.add(new TensorSpec(t.getString("name"), t.getString("dtype"), shape));
        }
        return out;
    }

    /** "text_classification", or the recommender's task name. */
    public String task() {
        return json.optString("task", "text_classification");
    }

    /** True when the manifest describes a next-item recommender (export/golden.py is_recommender). */
    public boolean isRecommender() {
        String task = task();
        return task.equals("next_item") || task.contains("recommend") || json.has("items_file");
    }

    public String name() {
        return json.optString("name", "");
    }

    public int sequenceLength() {
        return json.optInt("sequence_length", -1);
    }

    public List<String> labels() {
        JSONArray a = json.optJSONArray("labels");
        List<String> out = new ArrayList<>();
        if (a != null) {
            for (int i = 0; i < a.length(); i++) {
                out.add(a.optString(i));
            }
        }
        return Collections.unmodifiableList(out);
    }

    public String vocabularyFile() {
        JSONObject t = json.optJSONObject("tokenizer");
        return t == null ? "vocab.txt" : t.optString("vocabulary_file", "vocab.txt");
    }

    /** The items file of a recommender ("items.csv" unless the manifest names another). */
    public String itemsFile() {
        return json.optString("items_file", "items.csv");
    }

    /** Tokenizer options from the manifest's "tokenizer" section (pipeline defaults if absent). */
    public WordPieceTokenizer.Options tokenizerOptions() throws ModelMismatchException {
        WordPieceTokenizer.Options o = new WordPieceTokenizer.Options();
        JSONObject t = json.optJSONObject("tokenizer");
        if (t == null) {
            return o;
        }
        String kind = t.optString("kind", "bert_wordpiece");
        if (!kind.equals("bert_wordpiece")) {
            throw new ModelMismatchException(source + ": tokenizer kind '" + kind
                    + "' is not supported (only bert_wordpiece)");
        }
        o.lowercase = t.optBoolean("lowercase", true);
        o.stripAccents = t.optBoolean("strip_accents", true);
        o.splitOnCjk = t.optBoolean("split_on_cjk", true);
        o.suffixIndicator = t.optString("suffix_indicator", "##");
        o.maxWordBytes = t.optInt("max_word_bytes", 100);
        return o;
    }

    /** Model files, sorted by name. */
    public List<String> fileNames() {
        return new ArrayList<>(files.keySet());
    }

    public FileEntry file(String name) throws ModelMismatchException {
        FileEntry f = files.get(name);
        if (f == null) {
            throw new ModelMismatchException(source + ": no entry for " + name
                    + " (the manifest lists " + files.keySet() + ")");
        }
        return f;
    }

    /** Reads {@code in} to the end and checks its sha256 against the entry of {@code name}. */
    public void verifySha256(String name, InputStream in) throws IOException, ModelMismatchException {
        FileEntry f = file(name);
        String actual = sha256Hex(in);
        if (!actual.equalsIgnoreCase(f.sha256)) {
            throw new ModelMismatchException(name + ": sha256 " + actual + " differs from "
                    + source + " (" + f.sha256 + "); the file was changed or belongs to another "
                    + "export, run python -m export.bundle again");
        }
    }

    /** Checks that a runtime's inputs and outputs are exactly the manifest's (names, types, shapes, order). */
    public void checkTensors(String name, List<TensorSpec> inputs, List<TensorSpec> outputs)
            throws ModelMismatchException {
        FileEntry f = file(name);
        if (!f.inputs.equals(inputs)) {
            throw new ModelMismatchException(name + ": inputs are " + inputs + " but " + source
                    + " expects " + f.inputs);
        }
        if (!f.outputs.equals(outputs)) {
            throw new ModelMismatchException(name + ": outputs are " + outputs + " but " + source
                    + " expects " + f.outputs);
        }
    }

    public static String sha256Hex(InputStream in) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = in.read(buffer)) > 0) {
            digest.update(buffer, 0, n);
        }
        StringBuilder hex = new StringBuilder(64);
        for (byte b : digest.digest()) {
            hex.append(Character.forDigit((b >> 4) & 0xF, 16)).append(Character.forDigit(b & 0xF, 16));
        }
        return hex.toString();
    }
}
