package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/** Top-k, softmax and labels with Python's tie rules. */
public class RankingTest {
    @Test
    public void tiesGoToTheLowerIndex() {
        float[] s = {0.1f, 0.5f, 0.5f, 0.2f, 0.5f};
        assertArrayEquals(new int[] {1, 2, 4, 3}, Ranking.topIndices(s, 4, null));
        assertArrayEquals(new int[] {1, 2, 4, 3, 0}, Ranking.topIndices(s, 10, null));
        assertArrayEquals(new int[] {}, Ranking.topIndices(s, 0, null));
    }

    @Test
    public void nanLastAndSignedZerosEqual() {
        float[] s = {Float.NaN, -0.0f, 0.0f, -1f, Float.NaN};
        assertArrayEquals(new int[] {1, 2, 3, 0, 4}, Ranking.topIndices(s, 5, null));
    }

    @Test
    public void exclusionSkipsIndices() {
        float[] s = {9f, 8f, 7f, 6f};
        assertArrayEquals(new int[] {1, 3}, Ranking.topIndices(s, 3, new boolean[] {true, false, true, false}));
    }

    @Test
    public void largeVectorsAgreeWithFullSort() {
        java.util.Random r = new java.util.Random(7);
        float[] s = new float[5000];
        for (int i = 0; i < s.length; i++) {
            s[i] = r.nextInt(50) / 50f;
        }
        Integer[] all = new Integer[s.length];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        Arrays.sort(all, (a, b) -> s[a] != s[b] ? (s[a] > s[b] ? -1 : 1) : Integer.compare(a, b));
        int[] want = new int[25];
        for (int i = 0; i < want.length; i++) {
            want[i] = all[i];
        }
        assertArrayEquals(want, Ranking.topIndices(s, 25, null));
    }

    @Test
    public void softmaxAndLabels() {
        float[] p = Classification.softmax(new float[] {1f, 2f, 3f});
        assertEquals(0.09003057f, p[0], 1e-7f);
        assertEquals(0.66524096f, p[2], 1e-7f);
        float[] big = Classification.softmax(new float[] {1000f, 1000f});
        assertEquals(0.5f, big[0], 0f);
        List<String> labels = Arrays.asList("a", "b", "c");
        List<Classification.Prediction> top = Classification.topK(new float[] {0.2f, 0.4f, 0.4f}, labels, 2);
        assertEquals("b", top.get(0).label);
        assertEquals("c", top.get(1).label);
        assertEquals(1, Classification.argmax(new float[] {0.2f, 0.4f, 0.4f}));
        assertThrows(IllegalArgumentException.class,
                () -> Classification.topK(new float[] {1f}, labels, 1));
    }
}
