package org.ondevice.core;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Grammar-constrained decoding of actions: which token ids may come next so that the output
 * always parses ({@link Action#parse}) and fits the schema and its command. The Java port of
 * {@code pipeline/tasks/action/grammar.py} (its docstring is the specification): a byte-level
 * automaton over {@code intent "(" [slot *(", " slot)] ")" eos}, intent and slot names from
 * {@link Action#SCHEMA} (required slots may not be skipped), values by kind (one of the
 * slot's values; {@code HH:MM} 00:00-23:59; {@code [1-9][0-9]*} of at most 7 digits; for
 * verbatim slots a substring of the command on character boundaries, no edge space, no line
 * break, with {@code \} before each of {@code \ , ( ) =}).
 *
 * <pre>{@code
 * ActionGrammar g = new ActionGrammar(tokenizer);
 * ActionDecoder.Result r = decoder.act(command, g.maskFor(command));
 * }</pre>
 *
 * A token is allowed iff the automaton accepts all its bytes from the current state; the
 * vocabulary is walked as a byte trie, so only accepted prefixes are visited. States are
 * immutable; {@link #advance} returns a new one.
 */
public final class ActionGrammar {
    private static final byte[] SPECIAL = "\\,()=".getBytes(StandardCharsets.US_ASCII);
    static final int MAX_DURATION_DIGITS = 7;
    static final int MAX_FREE_BYTES = 64;

    /** Where decoding of one command stands: the automaton node and the bytes written so far. */
    public static final class State {
        final Context context;
        final Object node;
        final byte[] output;

        State(Context context, Object node, byte[] output) {
            this.context = context;
            this.node = node;
            this.output = output;
        }

        /** The action written so far (an unfinished character shows as U+FFFD). */
        public String text() {
            return ByteLevelBpeTokenizer.decodeUtf8(output);
        }
    }

    // Automaton nodes. A literal group is what may follow a point of the action (key), a
    // literal node a proper prefix of one of its alternatives; a value node is inside slot k.
    private record Key(String intent, int j, boolean v) {}  // intent null: the intent names

    private record Lit(Key key, String prefix) {}  // prefix: bytes as ISO-8859-1 chars

    private record Val(String intent, int k, boolean v, Object sub) {}

    private record Verbatim(BitSet ends, boolean escaping, int last) {}  // copying from the command

    private record Free(int size, int[] pending, boolean escaping, int last) {}  // no command

    private static final Object END = "end";
    private static final Object DONE = "done";

    /** One command's bytes and where a copied value may stand (grammar.py's _Context). */
    static final class Context {
        final byte[] command;  // null: verbatim values are any text
        final BitSet starts = new BitSet();
        final BitSet live = new BitSet();
        final boolean hasValue;

        Context(String text) {
            command = text == null ? null : text.getBytes(StandardCharsets.UTF_8);
            byte[] cb = command == null ? new byte[0] : command;
            int n = cb.length;
            boolean[] boundary = new boolean[n + 1];
            for (int e = 0; e <= n; e++) {
                boundary[e] = e == n || !isContinuation(cb[e]);
                if (e < n && boundary[e]) {
                    starts.set(e);
                }
            }
            // live[e]: a value copied up to byte e can still be completed (ends on a character
            // boundary, not on a space, without crossing a line break).
            boolean[] alive = new boolean[n + 2];
            for (int e = n; e > 0; e--) {
                alive[e] = (boundary[e] && cb[e - 1] != ' ')
                        || (e < n && cb[e] != '\r' && cb[e] != '\n' && alive[e + 1]);
                if (alive[e]) {
                    live.set(e);
                }
            }
            boolean any = command == null;
            for (int i = starts.nextSetBit(0); i >= 0 && !any; i = starts.nextSetBit(i + 1)) {
                any = cb[i] != ' ' && cb[i] != '\r' && cb[i] != '\n' && live.get(i + 1);
            }
            hasValue = any;
        }
    }

    private static boolean isContinuation(byte b) {
        return (b & 0xC0) == 0x80;
    }

    private static boolean isSpecial(int b) {
        for (byte s : SPECIAL) {
            if (s == b) {
                return true;
            }
        }
        return false;
    }

    private static final class Trie {
        final Map<Integer, Trie> children = new HashMap<>();
        final List<Integer> tokens = new ArrayList<>();
    }

    private static final class SlotSpec {
        final String name;
        final boolean required;
        final String kind;  // enum (any slot with values), time, duration or verbatim
        final List<String> escaped;  // enum values, escaped, as ISO-8859-1 byte strings
        final Map<String, BitSet> valuePrefixes = new HashMap<>();

        SlotSpec(Action.Slot slot) {
            name = slot.name;
            required = slot.required;
            kind = slot.values.isEmpty() ? slot.kind : "enum";
            escaped = new ArrayList<>();
            for (String v : slot.values) {
                escaped.add(escape(v));
            }
            prefixes(escaped, valuePrefixes);
        }
    }

    private final Map<String, List<SlotSpec>> slots = new LinkedHashMap<>();
    private final byte[][] vocabBytes;
    private final int eosId;
    private final Trie trie = new Trie();
    private final Map<Key, Map<String, Object>> groups = new HashMap<>();
    private final Map<Key, Map<String, BitSet>> groupPrefixes = new HashMap<>();

    /** The grammar of {@link Action#SCHEMA} over the tokenizer's vocabulary. */
    public ActionGrammar(ByteLevelBpeTokenizer tokenizer) {
        this(vocabBytes(tokenizer), ByteLevelBpeTokenizer.EOS);
    }

    /**
     * @param vocabBytes the bytes of each token (empty for special tokens, which are never
     *     allowed except {@code eosId}, allowed right after the closing parenthesis and only there)
     */
    public ActionGrammar(byte[][] vocabBytes, int eosId) {
        for (Map.Entry<String, List<Action.Slot>> e : Action.SCHEMA.entrySet()) {
            List<SlotSpec> specs = new ArrayList<>();
            for (Action.Slot s : e.getValue()) {
                specs.add(new SlotSpec(s));
            }
            slots.put(e.getKey(), specs);
        }
        this.vocabBytes = vocabBytes.clone();
        this.eosId = eosId;
        for (int id = 0; id < vocabBytes.length; id++) {
            if (vocabBytes[id].length == 0 || id == eosId) {
                continue;
            }
            Trie node = trie;
            for (byte b : vocabBytes[id]) {
                node = node.children.computeIfAbsent(b & 0xFF, x -> new Trie());
            }
            node.tokens.add(id);
        }
        // Keyed by v: whether verbatim slots can be filled (false for a command with nothing to
        // copy: intents that require one are left out, the others skip their verbatim slots).
        for (boolean v : new boolean[] {true, false}) {
            Map<String, Object> intents = new LinkedHashMap<>();
            for (Map.Entry<String, List<SlotSpec>> e : slots.entrySet()) {
                boolean needsCopy = false;
                for (SlotSpec s : e.getValue()) {
                    needsCopy |= s.required && s.kind.equals("verbatim");
                }
                if (v || !needsCopy) {
                    intents.put(e.getKey() + "(", new Lit(new Key(e.getKey(), -1, v), ""));
                }
            }
            groups.put(new Key(null, -1, v), intents);
            for (String intent : slots.keySet()) {
                for (int j = -1; j < slots.get(intent).size(); j++) {
                    groups.put(new Key(intent, j, v), alternatives(intent, j, v));
                }
            }
        }
        for (Map.Entry<Key, Map<String, Object>> e : groups.entrySet()) {
            Map<String, BitSet> p = new HashMap<>();
            prefixes(e.getValue().keySet(), p);
            groupPrefixes.put(e.getKey(), p);
        }
    }

    private static byte[][] vocabBytes(ByteLevelBpeTokenizer tokenizer) {
        byte[][] out = new byte[tokenizer.vocabularySize()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = tokenizer.tokenBytes(i);
        }
        return out;
    }

    private static String escape(String value) {
        StringBuilder b = new StringBuilder();
        for (byte x : value.getBytes(StandardCharsets.UTF_8)) {
            if (isSpecial(x)) {
                b.append('\\');
            }
            b.append((char) (x & 0xFF));
        }
        return b.toString();
    }

    /** Each proper prefix of an alternative -> the bytes that may follow it. */
    private static void prefixes(Iterable<String> alternatives, Map<String, BitSet> out) {
        for (String alt : alternatives) {
            for (int i = 0; i < alt.length(); i++) {
                out.computeIfAbsent(alt.substring(0, i), x -> new BitSet()).set(alt.charAt(i));
            }
        }
    }

    /** What may follow slot j of intent (j = -1: the opening parenthesis): the next slots'
     * {@code , name=} (no comma first) up to the first required one, and ")" if none is. */
    private Map<String, Object> alternatives(String intent, int j, boolean v) {
        List<SlotSpec> specs = slots.get(intent);
        Map<String, Object> alts = new LinkedHashMap<>();
        for (int k = j + 1; k < specs.size(); k++) {
            SlotSpec s = specs.get(k);
            if (v || !s.kind.equals("verbatim")) {
                Object start = s.kind.equals("duration") ? Integer.valueOf(0)
                        : s.kind.equals("verbatim") ? null : "";
                alts.put((j >= 0 ? ", " : "") + s.name + "=", new Val(intent, k, v, start));
            }
            if (s.required) {
                return alts;
            }
        }
        alts.put(")", END);
        return alts;
    }

    /** The state before the first token; verbatim values must be copied from {@code command}
     * (null: any text of at most 64 bytes). */
    public State start(String command) {
        Context context = new Context(command);
        return new State(context, new Lit(new Key(null, -1, context.hasValue), ""), new byte[0]);
    }

    /** True once eos was taken. */
    public boolean done(State state) {
        return state.node == DONE;
    }

    /** True when the action is written and only eos may follow. */
    public boolean complete(State state) {
        return state.node == END;
    }

    /** The mask [vocabulary] of the tokens that may come next (all false once done). */
    public boolean[] allowed(State state) {
        boolean[] mask = new boolean[vocabBytes.length];
        if (state.node == END) {
            mask[eosId] = true;
        } else if (state.node != DONE) {
            List<Object[]> stack = new ArrayList<>();
            stack.add(new Object[] {trie, state.node});
            while (!stack.isEmpty()) {
                Object[] top = stack.remove(stack.size() - 1);
                for (Map.Entry<Integer, Trie> child : ((Trie) top[0]).children.entrySet()) {
                    Object next = step(top[1], child.getKey(), state.context);
                    if (next != null) {
                        for (int id : child.getValue().tokens) {
                            mask[id] = true;
                        }
                        if (!child.getValue().children.isEmpty()) {
                            stack.add(new Object[] {child.getValue(), next});
                        }
                    }
                }
            }
        }
        return mask;
    }

    /** The state after {@code tokenId}; IllegalArgumentException if the grammar does not allow it. */
    public State advance(State state, int tokenId) {
        Object node = state.node;
        if (tokenId == eosId) {
            if (node != END) {
                throw new IllegalArgumentException("eos is not allowed after '" + state.text() + "'");
            }
            return new State(state.context, DONE, state.output);
        }
        if (tokenId < 0 || tokenId >= vocabBytes.length) {
            throw new IllegalArgumentException("token id " + tokenId + " is outside the vocabulary");
        }
        byte[] data = vocabBytes[tokenId];
        for (byte b : data) {
            node = node == null ? null : step(node, b & 0xFF, state.context);
        }
        if (node == null || data.length == 0) {
            throw new IllegalArgumentException("token " + tokenId + " is not allowed after '" + state.text() + "'");
        }
        byte[] output = new byte[state.output.length + data.length];
        System.arraycopy(state.output, 0, output, 0, state.output.length);
        System.arraycopy(data, 0, output, state.output.length, data.length);
        return new State(state.context, node, output);
    }

    /**
     * The hook for {@link ActionDecoder}: before each token it advances over the last generated
     * one and returns the allowed mask. One per command (it keeps the state).
     */
    public ActionDecoder.LogitsMask maskFor(String command) {
        State[] state = {start(command)};
        return generated -> {
            if (generated.length > 0) {
                state[0] = advance(state[0], generated[generated.length - 1]);
            }
            return allowed(state[0]);
        };
    }

    // -- the automaton ------------------------------------------------------------------------

    /** The node after byte {@code b}, or null. */
    private Object step(Object node, int b, Context ctx) {
        if (node instanceof Lit) {
            return stepLiteral(((Lit) node).key(), ((Lit) node).prefix(), b);
        }
        if (node instanceof Val) {
            return stepValue((Val) node, b, ctx);
        }
        return null;
    }

    private Object stepLiteral(Key key, String prefix, int b) {
        BitSet nexts = groupPrefixes.get(key).get(prefix);
        if (nexts == null || !nexts.get(b)) {
            return null;
        }
        String longer = prefix + (char) b;
        Object target = groups.get(key).get(longer);
        return target != null ? target : new Lit(key, longer);
    }

    /** The value of {@code node} just ended with ',' or ')': the separator or the end. */
    private Object close(Val node, int b) {
        return stepLiteral(new Key(node.intent(), node.k(), node.v()), "", b);
    }

    private Val with(Val node, Object sub) {
        return new Val(node.intent(), node.k(), node.v(), sub);
    }

    private Object stepValue(Val node, int b, Context ctx) {
        SlotSpec spec = slots.get(node.intent()).get(node.k());
        boolean closing = b == ',' || b == ')';
        switch (spec.kind) {
            case "enum": {
                String sub = (String) node.sub();
                BitSet nexts = spec.valuePrefixes.get(sub);
                if (nexts != null && nexts.get(b)) {
                    return with(node, sub + (char) b);
                }
                return closing && spec.escaped.contains(sub) ? close(node, b) : null;
            }
            case "time": {
                String sub = (String) node.sub();
                int pos = sub.length();
                boolean digit = b >= '0' && b <= '9';
                boolean ok = pos == 0 && b >= '0' && b <= '2'
                        || pos == 1 && (sub.equals("2") ? b >= '0' && b <= '3' : digit)
                        || pos == 2 && b == ':'
                        || pos == 3 && b >= '0' && b <= '5'
                        || pos == 4 && digit;
                if (ok) {
                    return with(node, sub + (char) b);
                }
                return pos == 5 && closing ? close(node, b) : null;
            }
            case "duration": {
                int sub = (Integer) node.sub();
                if (b >= '0' && b <= '9' && (sub > 0 || b != '0') && sub < MAX_DURATION_DIGITS) {
                    return with(node, sub + 1);
                }
                return sub > 0 && closing ? close(node, b) : null;
            }
            default:
                return ctx.command == null ? stepFree(node, b) : stepVerbatim(node, b, ctx);
        }
    }

    private Object stepVerbatim(Val node, int b, Context ctx) {
        Verbatim sub = node.sub() == null ? new Verbatim(ctx.starts, false, -1) : (Verbatim) node.sub();
        byte[] cb = ctx.command;
        int n = cb.length;
        BitSet ends = sub.ends();
        if (!sub.escaping()) {
            if (b == ',' || b == ')') {
                boolean onBoundary = false;
                for (int e = ends.nextSetBit(0); e >= 0 && !onBoundary; e = ends.nextSetBit(e + 1)) {
                    onBoundary = e == n || !isContinuation(cb[e]);
                }
                return sub.last() != -1 && sub.last() != ' ' && onBoundary ? close(node, b) : null;
            }
            if (b == '\\') {  // the next byte is a special one, copied
                for (int e = ends.nextSetBit(0); e >= 0; e = ends.nextSetBit(e + 1)) {
                    if (e < n && isSpecial(cb[e]) && ctx.live.get(e + 1)) {
                        return with(node, new Verbatim(ends, true, sub.last()));
                    }
                }
                return null;
            }
            if (b == '(' || b == '=' || b == '\r' || b == '\n' || (sub.last() == -1 && b == ' ')) {
                return null;
            }
        } else if (!isSpecial(b)) {
            return null;
        }
        BitSet moved = new BitSet();
        for (int e = ends.nextSetBit(0); e >= 0; e = ends.nextSetBit(e + 1)) {
            if (e < n && (cb[e] & 0xFF) == b && ctx.live.get(e + 1)) {
                moved.set(e + 1);
            }
        }
        return moved.isEmpty() ? null : with(node, new Verbatim(moved, false, b));
    }

    /** Without a command: any UTF-8 text (escaped, no line break, no edge space) of at most
     * 64 bytes; a space only where a byte can still follow it. */
    private Object stepFree(Val node, int b) {
        Free sub = node.sub() == null ? new Free(0, null, false, -1) : (Free) node.sub();
        int size = sub.size();
        int room = MAX_FREE_BYTES - size;
        int[] pending = sub.pending();  // {lo, hi, continuation bytes left}
        if (pending != null) {
            if (b < pending[0] || b > pending[1]) {
                return null;
            }
            int[] next = pending[2] > 1 ? new int[] {0x80, 0xBF, pending[2] - 1} : null;
            return with(node, new Free(size + 1, next, false, b));
        }
        if (sub.escaping()) {
            return isSpecial(b) ? with(node, new Free(size + 1, null, false, b)) : null;
        }
        if (b == ',' || b == ')') {
            return sub.last() != -1 && sub.last() != ' ' ? close(node, b) : null;
        }
        if (b == '\\') {
            return room >= 2 ? with(node, new Free(size + 1, null, true, sub.last())) : null;
        }
        if (b == '(' || b == '=' || b == '\r' || b == '\n' || (b == ' ' && (sub.last() == -1 || room < 2))) {
            return null;
        }
        int need = b < 0x80 ? 0 : b >= 0xC2 && b <= 0xDF ? 1 : b >= 0xE0 && b <= 0xEF ? 2
                : b >= 0xF0 && b <= 0xF4 ? 3 : -1;
        if (need < 0 || 1 + need > room) {
            return null;
        }
        if (need == 0) {
            return with(node, new Free(size + 1, null, false, b));
        }
        // No overlong forms, surrogates or code points above U+10FFFF.
        int lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
        int hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        return with(node, new Free(size + 1, new int[] {lo, hi, need}, false, b));
    }
}
