package org.ondevice.core;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Top-k selection with Python's tie rule, shared by the classifier and the recommender.
 *
 * <p>Order: higher score first; exact ties go to the lower index (what numpy's stable
 * {@code argsort(-scores)} gives); NaN ranks after every number. {@code -0.0} and {@code 0.0}
 * are equal, as in numpy (so this never uses {@link Float#compare}).
 *
 * <pre>{@code
 * Ranking.topIndices(new float[] {0.1f, 0.5f, 0.5f}, 2, null);  // [1, 2]
 * }</pre>
 */
public final class Ranking {
    private Ranking() {}

    /** True when (score a at index i) ranks before (score b at index j). */
    static boolean before(float a, int i, float b, int j) {
        boolean nanA = Float.isNaN(a);
        boolean nanB = Float.isNaN(b);
        if (nanA != nanB) {
            return nanB;
        }
        if (!nanA && a != b) {
            return a > b;
        }
        return i < j;
    }

    /**
     * Indices of the {@code k} best scores, best first; indices with {@code excluded[i]} true
     * are skipped ({@code excluded} may be null). Fewer than k when fewer are left.
     */
    public static int[] topIndices(float[] scores, int k, boolean[] excluded) {
        if (k <= 0) {
            return new int[0];
        }
        // A heap of the current best k whose head is the worst of them.
        PriorityQueue<Integer> heap = new PriorityQueue<>(k + 1,
                (x, y) -> x.equals(y) ? 0 : (before(scores[x], x, scores[y], y) ? 1 : -1));
        for (int i = 0; i < scores.length; i++) {
            if (excluded != null && excluded[i]) {
                continue;
            }
            if (heap.size() < k) {
                heap.add(i);
            } else if (before(scores[i], i, scores[heap.peek()], heap.peek())) {
                heap.poll();
                heap.add(i);
            }
        }
        List<Integer> best = new ArrayList<>(heap);
        best.sort((x, y) -> x.equals(y) ? 0 : (before(scores[x], x, scores[y], y) ? -1 : 1));
        int[] out = new int[best.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = best.get(i);
        }
        return out;
    }
}
