package org.ondevice.core;

import java.util.ArrayList;
import java.util.List;

/**
 * The recommender's app-side rules: liked movies -> model input, model scores -> the movies
 * to show. The same rules as export/golden.py ({@code recommendation_input}, {@code recommend}),
 * which follow protocol P of the benchmarks.
 *
 * <ul>
 *   <li>Input: liked movieIds, oldest first, mapped to model indices (a movie outside the
 *       catalogue becomes OOV = 1); the last {@code historyLength} of them, newest last,
 *       left-padded with PAD = 0 to int32 [1, historyLength].
 *   <li>Output: the {@code k} best catalogue items by score, never PAD, OOV or any liked movie
 *       (the whole history, not only its last H); exact ties go to the lower index, i.e. the
 *       lower movieId; NaN scores rank last (see {@link Ranking}).
 * </ul>
 *
 * <pre>{@code
 * Recommendations recs = new Recommendations(catalogue, 50);
 * int[] input = recs.buildInput(List.of(1L, 260L, 1196L));  // feed as int32 [1, 50]
 * List<ItemCatalogue.Item> top = recs.topK(scores, List.of(1L, 260L, 1196L), 10);
 * }</pre>
 */
public final class Recommendations {
    private final ItemCatalogue catalogue;
    private final int historyLength;

    public Recommendations(ItemCatalogue catalogue, int historyLength) {
        if (historyLength < 1) {
            throw new IllegalArgumentException("historyLength must be at least 1");
        }
        this.catalogue = catalogue;
        this.historyLength = historyLength;
    }

    public int historyLength() {
        return historyLength;
    }

    public ItemCatalogue catalogue() {
        return catalogue;
    }

    /** Model indices of liked movieIds (OOV for unknown ones), same order. */
    public int[] indicesOf(List<Long> likedMovieIds) {
        int[] out = new int[likedMovieIds.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = catalogue.indexOf(likedMovieIds.get(i));
        }
        return out;
    }

    /** The int32 [historyLength] model input: last H indices, newest last, left-padded with 0. */
    public int[] buildInput(List<Long> likedMovieIds) {
        return buildInputFromIndices(indicesOf(likedMovieIds), historyLength);
    }

    public static int[] buildInputFromIndices(int[] history, int historyLength) {
        int[] input = new int[historyLength];
        int kept = Math.min(history.length, historyLength);
        System.arraycopy(history, history.length - kept, input, historyLength - kept, kept);
        return input;
    }

    /** Model indices of the k best items, excluding PAD, OOV and every liked movie. */
    public int[] topIndices(float[] scores, List<Long> likedMovieIds, int k) {
        if (scores.length != catalogue.size()) {
            throw new IllegalArgumentException("the model gives " + scores.length
                    + " scores but the items file has " + catalogue.size() + " rows");
        }
        return topIndicesExcluding(scores, indicesOf(likedMovieIds), k);
    }

    public static int[] topIndicesExcluding(float[] scores, int[] historyIndices, int k) {
        boolean[] excluded = new boolean[scores.length];
        excluded[ItemCatalogue.PAD] = true;
        if (scores.length > ItemCatalogue.OOV) {
            excluded[ItemCatalogue.OOV] = true;
        }
        for (int index : historyIndices) {
            if (index >= 0 && index < excluded.length) {
                excluded[index] = true;
            }
        }
        return Ranking.topIndices(scores, k, excluded);
    }

    /** The k best items to show (titles and genres from the items file). */
    public List<ItemCatalogue.Item> topK(float[] scores, List<Long> likedMovieIds, int k) {
        List<ItemCatalogue.Item> out = new ArrayList<>();
        for (int index : topIndices(scores, likedMovieIds, k)) {
            out.add(catalogue.item(index));
        }
        return out;
    }
}
