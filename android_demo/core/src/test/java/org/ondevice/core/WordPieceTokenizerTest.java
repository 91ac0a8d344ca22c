package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/** The WordPiece rules of export/wordpiece.py on a small vocabulary (values checked in Python). */
public class WordPieceTokenizerTest {
    static final List<String> VOCAB = Arrays.asList("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
            "hello", "world", "##s", "creme", "brulee", "!", "我", "们", "un", "##aff", "##able",
            "😀", "a", "##a", "strasse", "123", ",", "σοφος", "ς", "σ", "e");
    final WordPieceTokenizer tok = new WordPieceTokenizer(VOCAB);

    @Test
    public void splitsLowercasesAndStripsAccents() {
        assertArrayEquals(new int[] {5, 6, 7, 10}, tok.tokenize("Hello worlds!"));
        assertArrayEquals(new int[] {8, 9}, tok.tokenize("Crème brûlée"));
        assertArrayEquals(new int[] {25}, tok.tokenize("e\u0301"));
        assertArrayEquals(new int[] {13, 14, 15}, tok.tokenize("unaffable"));
    }

    @Test
    public void cjkIdeographsAreWordsOfTheirOwn() {
        assertArrayEquals(new int[] {11, 12, 1}, tok.tokenize("我们你"));
        assertEquals(Arrays.asList("我", "们", "你"), tok.pretokenize("我们你"));
    }

    @Test
    public void caseFoldingIsNfkcCasefold() {
        assertArrayEquals(new int[] {19, 19}, tok.tokenize("STRASSE straße"));
        assertArrayEquals(new int[] {20}, tok.tokenize("１２３"));
        assertEquals(Arrays.asList("ff"), tok.pretokenize("ﬀ"));
        // Final sigma folds to σ, so "σοφός" is not the vocabulary's "σοφος".
        assertArrayEquals(new int[] {1, 1}, tok.tokenize("ΣΟΦΟΣ σοφός"));
    }

    @Test
    public void codePointsNotUtf16Units() {
        // One emoji is one character: "😀😀" would need "##😀", so the word is [UNK].
        assertArrayEquals(new int[] {1}, tok.tokenize("😀😀"));
        assertArrayEquals(new int[] {16}, tok.tokenize("😀"));
    }

    @Test
    public void wordLongerThan100Utf8BytesIsUnknown() {
        int[] hundred = tok.tokenize("a".repeat(100));
        assertEquals(100, hundred.length);
        assertEquals(17, hundred[0]);
        assertArrayEquals(new int[] {1}, tok.tokenize("a".repeat(101)));
        // 34 Cyrillic letters = 68 bytes; 51 of them = 102 bytes.
        assertEquals(Arrays.asList("д".repeat(51)), tok.pretokenize("Д".repeat(51)));
        assertArrayEquals(new int[] {1}, tok.tokenize("д".repeat(51)));
    }

    @Test
    public void whitespaceRules() {
        assertArrayEquals(new int[] {5}, tok.tokenize("hello\u0000world"));  // cut at NUL
        assertArrayEquals(new int[] {5, 6}, tok.tokenize("hello\u200bworld"));  // Cf splits
        assertEquals(Arrays.asList("hello world"), tok.pretokenize("hello\u00a0world"));  // no split
        assertArrayEquals(new int[] {1}, tok.tokenize("hello\u00a0world"));
        assertArrayEquals(new int[] {}, tok.tokenize(" \t\n\r\f "));
        assertArrayEquals(new int[] {1, 1, 1}, tok.tokenize("[CLS]"));  // not a special token
    }

    @Test
    public void encodeTruncatesKeepingSepAndPads() {
        WordPieceTokenizer.Encoded e = tok.encode("hello world hello world hello", 5);
        assertArrayEquals(new int[] {2, 5, 6, 5, 3}, e.tokenIds);
        assertArrayEquals(new int[] {1, 1, 1, 1, 1}, e.paddingMask);
        e = tok.encode("", 4);
        assertArrayEquals(new int[] {2, 3, 0, 0}, e.tokenIds);
        assertArrayEquals(new int[] {1, 1, 0, 0}, e.paddingMask);
        assertArrayEquals(new int[] {0, 0, 0, 0}, e.segmentIds);
        assertThrows(IllegalArgumentException.class, () -> tok.encode("x", 1));
    }

    @Test
    public void vocabularyFileRules() throws Exception {
        byte[] file = "[PAD]\r\n[UNK] \u3000\rfoo\u00a0\nbar baz\n\n".getBytes(StandardCharsets.UTF_8);
        assertEquals(Arrays.asList("[PAD]", "[UNK]", "foo", "bar baz", ""),
                WordPieceTokenizer.readVocabulary(file));
        assertEquals(Arrays.asList("a", "b"),
                WordPieceTokenizer.readVocabulary("a\nb".getBytes(StandardCharsets.UTF_8)));
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class,
                () -> new WordPieceTokenizer(Arrays.asList("[UNK]", "a", "a")));
        assertTrue(dup.getMessage().contains("unique"));
        assertThrows(IllegalArgumentException.class, () -> new WordPieceTokenizer(Arrays.asList("a")));
        assertThrows(java.io.IOException.class,
                () -> WordPieceTokenizer.readVocabulary(new byte[] {'a', (byte) 0xff, '\n'}));
    }

    @Test
    public void optionsOff() {
        WordPieceTokenizer.Options o = new WordPieceTokenizer.Options();
        o.lowercase = false;
        o.stripAccents = false;
        WordPieceTokenizer cased = new WordPieceTokenizer(VOCAB, o);
        assertEquals(Arrays.asList("Crème", "!"), cased.pretokenize("Crème!"));
        o = new WordPieceTokenizer.Options();
        o.splitOnCjk = false;
        assertEquals(Arrays.asList("我们你"), new WordPieceTokenizer(VOCAB, o).pretokenize("我们你"));
    }

    @Test
    public void unicodeTablesAreVersion14() {
        UnicodeTables u = UnicodeTables.get();
        assertEquals("14.0.0", u.unidataVersion());
        assertTrue(u.isNonSpacingMark(0x0301));
        assertTrue(u.isPunctuationCategory(0xFF01));  // full-width "！"
        assertTrue(u.isControlOrFormat(0x200B));
        assertTrue(u.isAssigned(0x10570));  // Vithkuqi, new in Unicode 14 (unknown to Java 17)
        assertEquals("\ud801\udd97", u.foldCodePoint(0x10570));  // its lower case, U+10597
        assertEquals("", u.foldCodePoint(0x00AD));  // soft hyphen: default ignorable
    }
}
