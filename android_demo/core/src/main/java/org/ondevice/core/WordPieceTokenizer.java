package org.ondevice.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * BERT WordPiece tokenizer and single-segment packer: the exact Java port of
 * {@code export/wordpiece.py}, whose docstring is the specification (steps 0-5 there).
 *
 * <p>Gives the same token ids as the Python pipeline that trained the model, for every code
 * point assigned in Unicode 14.0. Characters are code points (iterated with
 * {@code codePointAt}, never UTF-16 units); categories and case folding come from
 * {@link UnicodeTables}, not from the platform.
 *
 * <pre>{@code
 * WordPieceTokenizer tok = WordPieceTokenizer.fromFile(Path.of("vocab.txt"));
 * WordPieceTokenizer.Encoded x = tok.encode("Wake me up at 7!", 32);
 * x.tokenIds;     // [CLS] pieces [SEP] [PAD]...: int[32]
 * x.paddingMask;  // 1 for real tokens, 0 for padding
 * x.segmentIds;   // all 0
 * }</pre>
 */
public final class WordPieceTokenizer {
    /** Code point ranges keras-hub treats as CJK ideographs (from Google's BERT code). */
    private static final int[][] CJK_RANGES = {
        {0x4E00, 0x9FFF}, {0x3400, 0x4DBF}, {0x20000, 0x2A6DF}, {0x2A700, 0x2B73F},
        {0x2B740, 0x2B81F}, {0x2B820, 0x2CEAF}, {0xF900, 0xFAFF}, {0x2F800, 0x2FA1F},
    };

    /** The three int32 [sequenceLength] model inputs of one text. */
    public static final class Encoded {
        public final int[] tokenIds;
        public final int[] paddingMask;
        public final int[] segmentIds;

        Encoded(int[] tokenIds, int[] paddingMask, int[] segmentIds) {
            this.tokenIds = tokenIds;
            this.paddingMask = paddingMask;
            this.segmentIds = segmentIds;
        }
    }

    /** Options of the rules; defaults are the pipeline's (manifest "tokenizer" section). */
    public static final class Options {
        public boolean lowercase = true;
        public boolean stripAccents = true;
        public boolean splitOnCjk = true;
        public String unkToken = "[UNK]";
        public String suffixIndicator = "##";
        /** Longest word, in UTF-8 bytes, that is split into pieces; longer ones are [UNK]. */
        public int maxWordBytes = 100;
    }

    private final List<String> vocab;
    private final Map<String, Integer> tokenToId;
    private final Options options;
    private final int unkId;
    private final int maxTokenCodePoints;
    private final UnicodeTables unicode = UnicodeTables.get();

    public WordPieceTokenizer(List<String> vocabulary) {
        this(vocabulary, new Options());
    }

    /** @throws IllegalArgumentException on duplicate tokens or a missing unk token */
    public WordPieceTokenizer(List<String> vocabulary, Options options) {
        this.vocab = Collections.unmodifiableList(new ArrayList<>(vocabulary));
        this.options = options;
        this.tokenToId = new HashMap<>(vocabulary.size() * 2);
        int longest = 0;
        for (int i = 0; i < vocab.size(); i++) {
            String token = vocab.get(i);
            if (tokenToId.put(token, i) != null) {
                throw new IllegalArgumentException("Tokens in the vocabulary must be unique "
                        + "(duplicate " + quote(token) + " at line " + (i + 1) + ")");
            }
            longest = Math.max(longest, token.codePointCount(0, token.length()));
        }
        Integer unk = tokenToId.get(options.unkToken);
        if (unk == null) {
            throw new IllegalArgumentException("unk token " + quote(options.unkToken)
                    + " is not in the vocabulary");
        }
        this.unkId = unk;
        this.maxTokenCodePoints = longest;
    }

    public static WordPieceTokenizer fromFile(Path vocabFile) throws IOException {
        return fromFile(vocabFile, new Options());
    }

    public static WordPieceTokenizer fromFile(Path vocabFile, Options options) throws IOException {
        try {
            return new WordPieceTokenizer(readVocabulary(Files.readAllBytes(vocabFile)), options);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(vocabFile + ": " + e.getMessage(), e);
        }
    }

    public static WordPieceTokenizer fromStream(InputStream vocabFile, Options options)
            throws IOException {
        return new WordPieceTokenizer(readVocabulary(readAll(vocabFile)), options);
    }

    static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = in.read(buffer)) > 0) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    /**
     * vocab.txt as keras-hub reads it: strict UTF-8, lines end at \n, \r or \r\n, and each line
     * loses its trailing characters for which Python's {@code str.isspace()} is true.
     */
    public static List<String> readVocabulary(byte[] utf8) throws IOException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw new IOException("vocabulary is not valid UTF-8 (" + e + ")", e);
        }
        UnicodeTables u = UnicodeTables.get();
        List<String> tokens = new ArrayList<>();
        int start = 0;
        int n = text.length();
        int i = 0;
        while (i < n) {
            char c = text.charAt(i);
            if (c == '\n' || c == '\r') {
                tokens.add(rstrip(text.substring(start, i), u));
                i += (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') ? 2 : 1;
                start = i;
            } else {
                i++;
            }
        }
        if (start < n) {
            tokens.add(rstrip(text.substring(start), u));
        }
        return tokens;
    }

    private static String rstrip(String line, UnicodeTables u) {
        int end = line.length();
        while (end > 0) {
            int cp = line.codePointBefore(end);
            if (!u.isPythonSpace(cp)) {
                break;
            }
            end -= Character.charCount(cp);
        }
        return line.substring(0, end);
    }

    public List<String> vocabulary() {
        return vocab;
    }

    /** The id of a token, or -1 if it is not in the vocabulary. */
    public int idOf(String token) {
        Integer id = tokenToId.get(token);
        return id == null ? -1 : id;
    }

    // -- steps 0-3 -------------------------------------------------------------------------------

    /** Words after steps 0-3 (NUL cut, accent stripping, splitting, lowercasing). */
    public List<String> pretokenize(String text) {
        int nul = text.indexOf('\u0000');
        if (nul >= 0) {
            text = text.substring(0, nul);
        }
        if (options.stripAccents) {
            String nfd = unicode.normalize(text, Normalizer.Form.NFD);
            StringBuilder b = new StringBuilder(nfd.length());
            for (int i = 0; i < nfd.length(); ) {
                int cp = nfd.codePointAt(i);
                if (!unicode.isNonSpacingMark(cp)) {
                    b.appendCodePoint(cp);
                }
                i += Character.charCount(cp);
            }
            text = b.toString();
        }
        List<String> words = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (isWhitespace(cp)) {
                if (current.length() > 0) {
                    words.add(current.toString());
                    current.setLength(0);
                }
            } else if (isPunctuation(cp) || (options.splitOnCjk && isCjk(cp))) {
                if (current.length() > 0) {
                    words.add(current.toString());
                    current.setLength(0);
                }
                words.add(new String(Character.toChars(cp)));
            } else {
                current.appendCodePoint(cp);
            }
        }
        if (current.length() > 0) {
            words.add(current.toString());
        }
        if (options.lowercase) {
            for (int i = 0; i < words.size(); i++) {
                words.set(i, unicode.nfkcCasefold(words.get(i)));
            }
        }
        return words;
    }

    private boolean isWhitespace(int cp) {
        return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f'
                || unicode.isControlOrFormat(cp);
    }

    private boolean isPunctuation(int cp) {
        if ((cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40)
                || (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E)) {
            return true;
        }
        return unicode.isPunctuationCategory(cp);
    }

    static boolean isCjk(int cp) {
        for (int[] r : CJK_RANGES) {
            if (cp >= r[0] && cp <= r[1]) {
                return true;
            }
        }
        return false;
    }

    // -- step 4 ----------------------------------------------------------------------------------

    private void wordpiece(String word, List<Integer> out) {
        if (word.isEmpty()) {
            return;
        }
        if (word.getBytes(StandardCharsets.UTF_8).length > options.maxWordBytes) {
            out.add(unkId);
            return;
        }
        int[] cps = word.codePoints().toArray();
        int n = cps.length;
        int start = 0;
        String prefix = "";
        int before = out.size();
        while (start < n) {
            int end = Math.min(n, start + maxTokenCodePoints);
            Integer found = null;
            while (end > start) {
                found = tokenToId.get(prefix + new String(cps, start, end - start));
                if (found != null) {
                    break;
                }
                end--;
            }
            if (found == null) {
                out.subList(before, out.size()).clear();
                out.add(unkId);
                return;
            }
            out.add(found);
            start = end;
            prefix = options.suffixIndicator;
        }
    }

    /** Token ids of {@code text} without [CLS]/[SEP]/padding. */
    public int[] tokenize(String text) {
        List<Integer> ids = new ArrayList<>();
        for (String word : pretokenize(text)) {
            wordpiece(word, ids);
        }
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i);
        }
        return out;
    }

    // -- step 5 ----------------------------------------------------------------------------------

    private int specialId(String token) {
        Integer id = tokenToId.get(token);
        if (id == null) {
            throw new IllegalArgumentException(quote(token) + " is not in the vocabulary");
        }
        return id;
    }

    /** [CLS] first (sequenceLength - 2) tokens [SEP], padded with [PAD]; mask and segments. */
    public Encoded encode(String text, int sequenceLength) {
        if (sequenceLength < 2) {
            throw new IllegalArgumentException("sequence_length must be at least 2");
        }
        int cls = specialId("[CLS]");
        int sep = specialId("[SEP]");
        int pad = specialId("[PAD]");
        int[] pieces = tokenize(text);
        int kept = Math.min(pieces.length, sequenceLength - 2);
        int[] ids = new int[sequenceLength];
        int[] mask = new int[sequenceLength];
        ids[0] = cls;
        System.arraycopy(pieces, 0, ids, 1, kept);
        ids[kept + 1] = sep;
        for (int i = kept + 2; i < sequenceLength; i++) {
            ids[i] = pad;
        }
        for (int i = 0; i < sequenceLength; i++) {
            mask[i] = ids[i] == pad ? 0 : 1;
        }
        return new Encoded(ids, mask, new int[sequenceLength]);
    }

    private static String quote(String s) {
        return "'" + s + "'";
    }
}
