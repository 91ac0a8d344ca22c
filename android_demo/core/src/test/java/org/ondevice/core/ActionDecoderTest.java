package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/**
 * The decode loop of export/runtime/generation.py: prefill chunks, positions and the stopping
 * rules, on a model that writes a fixed script (the real model: ActionEndToEndTest).
 */
public class ActionDecoderTest {
    /** Logits that make token {@code script[i]} the argmax after the i-th call; records calls. */
    static final class ScriptedLm implements ActionDecoder.CachedLm {
        final int p;
        final int c;
        final int[] script;
        final List<String> calls = new ArrayList<>();
        int next;

        ScriptedLm(int p, int c, int... script) {
            this.p = p;
            this.c = c;
            this.script = script;
        }

        @Override
        public int prefillLength() {
            return p;
        }

        @Override
        public int maxLength() {
            return c;
        }

        @Override
        public void reset() {
            calls.add("reset");
        }

        float[] logits() {
            float[] out = new float[8];
            out[script[Math.min(next++, script.length - 1)]] = 1f;
            return out;
        }

        @Override
        public float[] prefill(int[] tokens, int length, int start) {
            calls.add("prefill " + Arrays.toString(tokens) + " " + length + " @" + start);
            return logits();
        }

        @Override
        public float[] decode(int token, int position) {
            calls.add("decode " + token + " @" + position);
            return logits();
        }
    }

    @Test
    public void prefillsInChunksThenDecodesUntilEos() {
        ScriptedLm lm = new ScriptedLm(2, 16, 0, 0, 5, 6, 2, 7);
        int[] out = ActionDecoder.generate(lm, new int[] {1, 4, 4, 4, 3}, 64, new int[] {2}, null);
        assertArrayEquals(new int[] {5, 6, 2}, out);
        assertEquals(List.of("reset", "prefill [1, 4] 2 @0", "prefill [4, 4] 2 @2", "prefill [3, 0] 1 @4",
                "decode 5 @5", "decode 6 @6"), lm.calls);
    }

    @Test
    public void stopsAtMaxNewTokensAndAFullCache() {
        assertArrayEquals(new int[] {5, 5, 5}, ActionDecoder.generate(new ScriptedLm(4, 16, 5), new int[] {1, 3}, 3,
                new int[] {2}, null));
        // C = 6: prompt 3 + 3 generated fill the cache; the last one is not decoded.
        ScriptedLm lm = new ScriptedLm(4, 6, 5);
        assertArrayEquals(new int[] {5, 5, 5}, ActionDecoder.generate(lm, new int[] {1, 4, 3}, 64, new int[] {2}, null));
        assertEquals("decode 5 @4", lm.calls.get(lm.calls.size() - 1));
        assertThrows(IllegalArgumentException.class,
                () -> ActionDecoder.generate(new ScriptedLm(4, 6, 5), new int[6], 64, new int[] {2}, null));
        assertThrows(IllegalArgumentException.class,
                () -> ActionDecoder.generate(new ScriptedLm(4, 6, 5), new int[0], 64, new int[] {2}, null));
    }

    @Test
    public void theMaskChoosesAndAnEmptyMaskEnds() {
        boolean[] only7 = new boolean[8];
        only7[7] = true;
        List<String> seen = new ArrayList<>();
        ActionDecoder.LogitsMask mask = generated -> {
            seen.add(Arrays.toString(generated));
            return generated.length < 2 ? only7 : new boolean[8];
        };
        assertArrayEquals(new int[] {7, 7}, ActionDecoder.generate(new ScriptedLm(4, 16, 5), new int[] {1, 3}, 64,
                new int[] {2}, mask));
        assertEquals(List.of("[]", "[7]", "[7, 7]"), seen);
    }

    @Test
    public void choiceIsNumpysArgmax() {
        float ninf = Float.NEGATIVE_INFINITY;
        assertEquals(1, ActionDecoder.choose(new float[] {0f, 2f, 2f}, null));  // the first maximum
        assertEquals(2, ActionDecoder.choose(new float[] {0f, 2f, Float.NaN, 3f}, null));  // NaN is largest
        assertEquals(2, ActionDecoder.choose(new float[] {0f, 2f, 1f}, new boolean[] {true, false, true}));
        assertEquals(0, ActionDecoder.choose(new float[] {ninf, ninf, ninf}, new boolean[] {false, true, false}));
        assertEquals(-1, ActionDecoder.choose(new float[] {0f, 1f}, new boolean[] {false, false}));
        assertThrows(IllegalArgumentException.class, () -> ActionDecoder.choose(new float[] {0f}, new boolean[2]));
    }
}
