package org.ondevice.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The action task's byte-level BPE tokenizer: the exact Java port of
 * {@code pipeline/tasks/action/tokenizer.py}, whose module docstring is the specification
 * (pre-tokenisation, GPT-2's byte alphabet, merges by rank, ids). Reads the export's
 * {@code vocabulary.json} and {@code merges.txt} (keras-hub's file format).
 *
 * <pre>{@code
 * ByteLevelBpeTokenizer tok = ByteLevelBpeTokenizer.fromFolder(Path.of("export"));
 * int[] prompt = tok.encodeExample("wake me up at 6:30");  // bos, ids, sep
 * String action = tok.decode(generatedIds);                // specials skipped
 * }</pre>
 *
 * <p>Characters are code points. A letter is {@link Character#isLetter(int)} (the platform's
 * Unicode tables: Java 17 has Unicode 13, Python 3.11 Unicode 14, so a letter assigned in
 * Unicode 14 is a letter in Python and "other" here; golden texts use long-assigned ones).
 * A lone surrogate (which Python refuses to encode) is encoded as '?', as Java's UTF-8 encoder does.
 */
public final class ByteLevelBpeTokenizer {
    public static final String VOCABULARY_FILE = "vocabulary.json";
    public static final String MERGES_FILE = "merges.txt";
    public static final String[] SPECIAL_TOKENS = {"<|pad|>", "<|bos|>", "<|eos|>", "<|sep|>"};
    public static final int PAD = 0;
    public static final int BOS = 1;
    public static final int EOS = 2;
    public static final int SEP = 3;

    /** CJK code points: each one is a pre-token of its own (rule 1 of tokenizer.py). */
    private static final int[][] CJK_RANGES = {
        {0x3040, 0x30FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xF900, 0xFAFF},
        {0x20000, 0x3FFFF},
    };
    private static final char[] BYTE_TO_UNICODE = bytesToUnicode();
    private static final int CACHE_LIMIT = 100_000;

    private final String[] idToToken;
    private final Map<String, Integer> vocabulary;
    private final Map<String, Integer> ranks;  // "left right" -> rank (no symbol holds a space)
    private final byte[][] tokenBytes;
    private final Map<String, int[]> cache = new HashMap<>();

    /**
     * @param vocabulary symbol string -> id: specials at 0-3, every byte symbol, ids 0..size-1
     * @param merges (left, right) symbol pairs in rank order
     * @throws IllegalArgumentException when they are inconsistent (as tokenizer.py's ValueError)
     */
    public ByteLevelBpeTokenizer(Map<String, Integer> vocabulary, List<String[]> merges) {
        this.vocabulary = new HashMap<>(vocabulary);
        int size = vocabulary.size();
        idToToken = new String[size];
        String problem = null;
        for (Map.Entry<String, Integer> e : vocabulary.entrySet()) {
            int id = e.getValue();
            if (id < 0 || id >= size || idToToken[id] != null) {
                problem = "ids are not 0..size-1, each once";
                break;
            }
            idToToken[id] = e.getKey();
        }
        if (problem == null) {
            for (int i = 0; i < SPECIAL_TOKENS.length; i++) {
                if (!Integer.valueOf(i).equals(vocabulary.get(SPECIAL_TOKENS[i]))) {
                    problem = "the special tokens " + String.join(" ", SPECIAL_TOKENS)
                            + " must have ids 0-3";
                    break;
                }
            }
        }
        if (problem == null) {
            for (char c : BYTE_TO_UNICODE) {
                if (!vocabulary.containsKey(String.valueOf(c))) {
                    problem = "a byte symbol is missing";
                    break;
                }
            }
        }
        ranks = new HashMap<>(merges.size() * 2);
        if (problem == null) {
            for (int r = 0; r < merges.size(); r++) {
                String[] m = merges.get(r);
                if (m.length != 2 || !vocabulary.containsKey(m[0]) || !vocabulary.containsKey(m[1])
                        || !vocabulary.containsKey(m[0] + m[1])) {
                    problem = "merge '" + String.join(" ", m) + "' names a token not in the vocabulary";
                    break;
                }
                ranks.put(m[0] + " " + m[1], r);  // a repeated merge keeps its last rank, as in Python
            }
        }
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        tokenBytes = new byte[size][];
        int[] byteOf = new int[0x200];
        Arrays.fill(byteOf, -1);
        for (int b = 0; b < 256; b++) {
            byteOf[BYTE_TO_UNICODE[b]] = b;
        }
        for (int id = 0; id < size; id++) {
            if (id < SPECIAL_TOKENS.length) {
                tokenBytes[id] = new byte[0];
                continue;
            }
            String token = idToToken[id];
            byte[] out = new byte[token.length()];
            for (int k = 0; k < out.length; k++) {
                char c = token.charAt(k);
                if (c >= byteOf.length || byteOf[c] < 0) {
                    throw new IllegalArgumentException("token " + id + " holds '" + c
                            + "', not a byte symbol");
                }
                out[k] = (byte) byteOf[c];
            }
            tokenBytes[id] = out;
        }
    }

    /** Reads {@code vocabulary.json} and {@code merges.txt} from {@code folder}. */
    public static ByteLevelBpeTokenizer fromFolder(Path folder) throws IOException {
        return fromFiles(folder.resolve(VOCABULARY_FILE), folder.resolve(MERGES_FILE));
    }

    /** @throws IOException naming the file that is missing, not UTF-8 or not a tokenizer's */
    public static ByteLevelBpeTokenizer fromFiles(Path vocabularyFile, Path mergesFile)
            throws IOException {
        Map<String, Integer> vocabulary = new HashMap<>();
        try {
            JSONObject json = new JSONObject(utf8(Files.readAllBytes(vocabularyFile)));
            for (Iterator<String> it = json.keys(); it.hasNext(); ) {
                String key = it.next();
                Object id = json.get(key);
                if (!(id instanceof Integer)) {
                    throw new IOException(vocabularyFile + ": the id of '" + key + "' is not an int");
                }
                vocabulary.put(key, (Integer) id);
            }
        } catch (JSONException | CharacterCodingException e) {
            throw new IOException(vocabularyFile + ": not a vocabulary object (" + e.getMessage() + ")", e);
        }
        List<String[]> merges = new ArrayList<>();
        String text;
        try {
            text = utf8(Files.readAllBytes(mergesFile));
        } catch (CharacterCodingException e) {
            throw new IOException(mergesFile + ": not UTF-8", e);
        }
        // Python reads it in text mode: lines end at \n, \r or \r\n; blank lines are skipped.
        try (BufferedReader r = new BufferedReader(new StringReader(text))) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (!line.isBlank()) {
                    merges.add(line.split(" ", -1));
                }
            }
        }
        try {
            return new ByteLevelBpeTokenizer(vocabulary, merges);
        } catch (IllegalArgumentException e) {
            throw new IOException(vocabularyFile + ": not a tokenizer tokenizer.py wrote ("
                    + e.getMessage() + ")", e);
        }
    }

    private static String utf8(byte[] data) throws CharacterCodingException {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(data)).toString();
    }

    /** GPT-2's printable alphabet: byte b -> the char that stands for it (tokenizer.py rule 2). */
    private static char[] bytesToUnicode() {
        char[] map = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char) b : (char) (256 + extra++);
        }
        return map;
    }

    static boolean isCjk(int cp) {
        for (int[] r : CJK_RANGES) {
            if (cp >= r[0] && cp <= r[1]) {
                return true;
            }
        }
        return false;
    }

    static boolean isLetter(int cp) {
        return Character.isLetter(cp) && !isCjk(cp);
    }

    /** Rule 1: the pieces BPE merges within, in order; they join to {@code text}. */
    public static List<String> pretokenize(String text) {
        List<String> pieces = new ArrayList<>();
        int i = 0;
        int n = text.length();
        while (i < n) {
            int start = i;
            int c = text.codePointAt(i);
            if (c == ' ') {
                while (i < n && text.charAt(i) == ' ') {
                    i++;
                }
            } else if (isLetter(c)) {
                while (i < n && isLetter(text.codePointAt(i))) {
                    i += Character.charCount(text.codePointAt(i));
                }
            } else {
                i += Character.charCount(c);
            }
            pieces.add(text.substring(start, i));
        }
        return pieces;
    }

    public int vocabularySize() {
        return idToToken.length;
    }

    /** The symbol string of {@code id} as vocabulary.json spells it. */
    public String token(int id) {
        return idToToken[id];
    }

    /** The id of a symbol string, or -1. */
    public int idOf(String token) {
        Integer id = vocabulary.get(token);
        return id == null ? -1 : id;
    }

    private int[] bpe(String piece) {
        int[] cached = cache.get(piece);
        if (cached != null) {
            return cached;
        }
        byte[] utf8 = piece.getBytes(StandardCharsets.UTF_8);
        List<String> symbols = new ArrayList<>(utf8.length);
        for (byte b : utf8) {
            symbols.add(String.valueOf(BYTE_TO_UNICODE[b & 0xFF]));
        }
        while (symbols.size() > 1) {
            int best = -1;
            int at = -1;
            for (int k = 0; k + 1 < symbols.size(); k++) {
                Integer r = ranks.get(symbols.get(k) + " " + symbols.get(k + 1));
                if (r != null && (best < 0 || r < best)) {
                    best = r;
                    at = k;
                }
            }
            if (best < 0) {
                break;
            }
            symbols.set(at, symbols.get(at) + symbols.remove(at + 1));
        }
        int[] ids = new int[symbols.size()];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = vocabulary.get(symbols.get(k));
        }
        if (cache.size() < CACHE_LIMIT) {
            cache.put(piece, ids);
        }
        return ids;
    }

    /** The token ids of {@code text}, no special tokens (a text spelling one is plain text). */
    public int[] encode(String text) {
        List<int[]> parts = new ArrayList<>();
        int total = 0;
        for (String piece : pretokenize(text)) {
            int[] ids = bpe(piece);
            parts.add(ids);
            total += ids.length;
        }
        int[] out = new int[total];
        int at = 0;
        for (int[] ids : parts) {
            System.arraycopy(ids, 0, out, at, ids.length);
            at += ids.length;
        }
        return out;
    }

    /** The prompt the model continues: bos, {@code encode(command)}, sep. */
    public int[] encodeExample(String command) {
        int[] ids = encode(command);
        int[] out = new int[ids.length + 2];
        out[0] = BOS;
        System.arraycopy(ids, 0, out, 1, ids.length);
        out[out.length - 1] = SEP;
        return out;
    }

    /** The bytes token {@code id} stands for; empty for the special tokens. Not a copy. */
    public byte[] tokenBytes(int id) {
        return tokenBytes[id];
    }

    /** The bytes of {@code ids}, special tokens skipped (may end inside a UTF-8 character). */
    public byte[] decodeBytes(int[] ids) {
        int total = 0;
        for (int id : ids) {
            total += tokenBytes[id].length;
        }
        byte[] out = new byte[total];
        int at = 0;
        for (int id : ids) {
            System.arraycopy(tokenBytes[id], 0, out, at, tokenBytes[id].length);
            at += tokenBytes[id].length;
        }
        return out;
    }

    /**
     * The text of {@code ids}, special tokens skipped; invalid or incomplete UTF-8 (only a
     * model writes it) becomes U+FFFD, as in Python ({@link #decodeUtf8}).
     */
    public String decode(int[] ids) {
        return decodeUtf8(decodeBytes(ids));
    }

    /**
     * UTF-8 as Python's {@code bytes.decode("utf-8", errors="replace")}: each maximal
     * ill-formed subsequence becomes one U+FFFD (a surrogate's three bytes are three, where
     * Java's {@code new String(bytes, UTF_8)} writes one).
     */
    static String decodeUtf8(byte[] data) {
        StringBuilder out = new StringBuilder(data.length);
        int i = 0;
        while (i < data.length) {
            int b = data[i] & 0xFF;
            if (b < 0x80) {
                out.append((char) b);
                i++;
                continue;
            }
            int need = b >= 0xC2 && b <= 0xDF ? 1 : b >= 0xE0 && b <= 0xEF ? 2 : b >= 0xF0 && b <= 0xF4 ? 3 : 0;
            if (need == 0) {
                out.append('\uFFFD');
                i++;
                continue;
            }
            // The second byte's range excludes overlong forms, surrogates and > U+10FFFF.
            int lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
            int hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
            int cp = b & (0x3F >> need);
            int j = i + 1;
            int k = 0;
            for (; k < need && j < data.length; k++, j++) {
                int c = data[j] & 0xFF;
                if (c < (k == 0 ? lo : 0x80) || c > (k == 0 ? hi : 0xBF)) {
                    break;
                }
                cp = (cp << 6) | (c & 0x3F);
            }
            if (k == need) {
                out.appendCodePoint(cp);
            } else {
                out.append('\uFFFD');
            }
            i = j;
        }
        return out.toString();
    }
}
