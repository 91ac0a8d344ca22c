package org.ondevice.core;

import java.util.Arrays;

/**
 * Command -> action with an exported action model: the Java port of the greedy decode loop of
 * {@code export/runtime/generation.py} ({@code CachedLM.prefill_prompt}, {@code generate}) and
 * of {@code export/runtime/assistant.py} ({@code Assistant.act}), independent of the runtime:
 * the model is anything that implements {@link CachedLm} (LiteRT on the phone, the C API
 * through JNA in the tests).
 *
 * <pre>{@code
 * ActionDecoder d = new ActionDecoder(ByteLevelBpeTokenizer.fromFolder(dir), lm);
 * ActionDecoder.Result r = d.act("wake me up at 6:30");                  // the raw model
 * ActionDecoder.Result c = d.act("wake me up at 6:30", grammar.maskFor(command));  // constrained
 * r.action;   // its text; r.parsed: the Action, or null when it does not parse
 * }</pre>
 *
 * The prompt (bos, command, sep) is prefilled in chunks of P tokens, each written at its start
 * position and padded with zeros to P; then one decode call per new token. Generation stops
 * after eos (included in the ids), after {@code maxNewTokens}, when prompt and output fill
 * the cache, or when the mask allows nothing.
 */
public final class ActionDecoder {
    public static final int MAX_NEW_TOKENS = 64;

    /** A causal LM with a KV cache kept inside: the file's prefill and decode signatures. */
    public interface CachedLm {
        /** P: the tokens one prefill call takes. */
        int prefillLength();

        /** C: the positions the cache holds (prompt and generated tokens together). */
        int maxLength();

        /** Empties the cache (zeros): the next prefill starts a new sequence. */
        void reset();

        /**
         * Writes {@code tokens[0..length)} at positions {@code start..} into the cache;
         * {@code tokens} holds P ids, zero after {@code length}. Returns the logits [V] after
         * the last of them.
         */
        float[] prefill(int[] tokens, int length, int start);

        /** Writes one token at {@code position}; the logits [V] after it. */
        float[] decode(int token, int position);
    }

    /** The hook of a constrained decoder: which tokens may come next. */
    public interface LogitsMask {
        /**
         * Called before each token with the ids generated so far; a mask over the vocabulary
         * (true = allowed), or null for no constraint. A mask that allows nothing ends
         * generation. The decoder does not modify it.
         */
        boolean[] allowed(int[] generatedSoFar);
    }

    /** What {@link #act} returns. */
    public static final class Result {
        public final String command;
        /** The text of the generated ids (special tokens skipped). */
        public final String action;
        /** The parsed action, or null when {@link #action} does not parse. */
        public final Action parsed;
        public final int[] promptIds;
        /** The generated ids, eos included when it was reached. */
        public final int[] generatedIds;

        Result(String command, String action, Action parsed, int[] promptIds, int[] generatedIds) {
            this.command = command;
            this.action = action;
            this.parsed = parsed;
            this.promptIds = promptIds;
            this.generatedIds = generatedIds;
        }
    }

    private final ByteLevelBpeTokenizer tokenizer;
    private final CachedLm lm;

    public ActionDecoder(ByteLevelBpeTokenizer tokenizer, CachedLm lm) {
        this.tokenizer = tokenizer;
        this.lm = lm;
    }

    /** Resets the cache and prefills the whole prompt in chunks of P; its last logits. */
    public static float[] prefillPrompt(CachedLm lm, int[] prompt) {
        if (prompt.length < 1 || prompt.length >= lm.maxLength()) {
            throw new IllegalArgumentException("a prompt of " + prompt.length + " tokens: must hold 1.."
                    + (lm.maxLength() - 1) + " tokens (the model caches " + lm.maxLength() + " positions)");
        }
        lm.reset();
        int p = lm.prefillLength();
        float[] logits = null;
        for (int start = 0; start < prompt.length; start += p) {
            int length = Math.min(p, prompt.length - start);
            int[] chunk = new int[p];
            System.arraycopy(prompt, start, chunk, 0, length);
            logits = lm.prefill(chunk, length, start);
        }
        return logits;
    }

    /**
     * numpy's argmax of {@code logits} where {@code mask} allows (the others are -inf): the
     * first index of the largest value, a NaN counting as the largest; -1 when the mask
     * allows nothing.
     */
    static int choose(float[] logits, boolean[] mask) {
        if (mask != null) {
            if (mask.length != logits.length) {
                throw new IllegalArgumentException("the mask has " + mask.length
                        + " entries for a vocabulary of " + logits.length);
            }
            boolean any = false;
            for (boolean m : mask) {
                any |= m;
            }
            if (!any) {
                return -1;
            }
        }
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) {
            float v = mask == null || mask[i] ? logits[i] : Float.NEGATIVE_INFINITY;
            if (Float.isNaN(v)) {
                return i;
            }
            if (i == 0 || v > bestValue) {
                best = i;
                bestValue = v;
            }
        }
        return best;
    }

    /**
     * The greedy token ids after {@code prompt} ({@code generation.generate}): a stop id is
     * included, then generation ends; it also ends after {@code maxNewTokens}, when the cache
     * is full, or when {@code mask} (may be null) allows nothing.
     */
    public static int[] generate(CachedLm lm, int[] prompt, int maxNewTokens, int[] stopIds,
                                 LogitsMask mask) {
        float[] logits = prefillPrompt(lm, prompt);
        int[] generated = new int[Math.max(0, maxNewTokens)];
        int count = 0;
        int position = prompt.length;
        while (count < maxNewTokens) {
            int token = choose(logits, mask == null ? null : mask.allowed(Arrays.copyOf(generated, count)));
            if (token < 0) {
                break;
            }
            generated[count++] = token;
            boolean stop = false;
            for (int s : stopIds) {
                stop |= s == token;
            }
            if (stop || position + 1 >= lm.maxLength()) {  // prompt + generated fill the cache
                break;
            }
            logits = lm.decode(token, position);
            position++;
        }
        return Arrays.copyOf(generated, count);
    }

    /** bos, the command's ids, sep; IllegalArgumentException when it cannot fit the cache. */
    public int[] promptIds(String command) {
        if (command.codePoints().allMatch(UnicodeTables.get()::isPythonSpace)) {  // Python's strip()
            throw new IllegalArgumentException("an empty command: give the words of the command");
        }
        int[] ids = tokenizer.encodeExample(command);
        if (ids.length >= lm.maxLength()) {
            throw new IllegalArgumentException("the command is " + ids.length + " tokens; the model caches "
                    + lm.maxLength() + " positions, for it and its action");
        }
        return ids;
    }

    /** The raw model's action for {@code command} (no grammar). */
    public Result act(String command) {
        return act(command, null, MAX_NEW_TOKENS);
    }

    /** The action for {@code command} with {@code mask} (null: none), at most 64 tokens. */
    public Result act(String command, LogitsMask mask) {
        return act(command, mask, MAX_NEW_TOKENS);
    }

    public Result act(String command, LogitsMask mask, int maxNewTokens) {
        int[] prompt = promptIds(command);
        int[] ids = generate(lm, prompt, maxNewTokens, new int[] {ByteLevelBpeTokenizer.EOS}, mask);
        String action = tokenizer.decode(ids);
        Action parsed;
        try {
            parsed = Action.parse(action);
        } catch (IllegalArgumentException e) {
            parsed = null;
        }
        return new Result(command, action, parsed, prompt, ids);
    }
}
