package org.ondevice.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a classifier's output row into labelled predictions: softmax (for models that output
 * logits; the export's "probabilities" output is already one) and top-k with the labels.
 *
 * <pre>{@code
 * List<Classification.Prediction> top = Classification.topK(probabilities, labels, 3);
 * top.get(0).label;  // "set_alarm"
 * top.get(0).score;  // 0.93
 * }</pre>
 */
public final class Classification {
    private Classification() {}

    /** One label with its score and its index in labels.txt. */
    public static final class Prediction {
        public final int index;
        public final String label;
        public final float score;

        public Prediction(int index, String label, float score) {
            this.index = index;
            this.label = label;
            this.score = score;
        }

        @Override
        public String toString() {
            return label + "=" + score;
        }
    }

    /** Numerically stable softmax in float32 (max subtracted first). */
    public static float[] softmax(float[] logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        float[] out = new float[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            out[i] = (float) Math.exp(logits[i] - max);
            sum += out[i];
        }
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (out[i] / sum);
        }
        return out;
    }

    /** Index of the largest score; the lower index on exact ties (numpy's argmax). */
    public static int argmax(float[] scores) {
        int best = 0;
        for (int i = 1; i < scores.length; i++) {
            if (scores[i] > scores[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The {@code k} best labels, highest score first, exact ties to the lower index.
     *
     * @throws IllegalArgumentException when the number of scores differs from the labels'
     */
    public static List<Prediction> topK(float[] scores, List<String> labels, int k) {
        if (scores.length != labels.size()) {
            throw new IllegalArgumentException("the model gives " + scores.length
                    + " scores but there are " + labels.size() + " labels");
        }
        List<Prediction> out = new ArrayList<>();
        for (int index : Ranking.topIndices(scores, k, null)) {
            out.add(new Prediction(index, labels.get(index), scores[index]));
        }
        return out;
    }
}
