package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The rules of pipeline/tasks/action/tokenizer.py on a small vocabulary (values from Python). */
public class ByteLevelBpeTokenizerTest {
    /** Specials, the 256 byte symbols (ids 4..259), then one token per merge (260..266). */
    static final String[][] MERGES = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"},
        {"Ġ", "Ġ"}, {"å", "¦"}, {"å¦", "Ī"}};

    static Map<String, Integer> vocabulary() {
        Map<String, Integer> v = new HashMap<>();
        for (String s : ByteLevelBpeTokenizer.SPECIAL_TOKENS) {
            v.put(s, v.size());
        }
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            v.put(String.valueOf(printable ? (char) b : (char) (256 + countNotPrintable(b))), v.size());
        }
        for (String[] m : MERGES) {
            v.put(m[0] + m[1], v.size());
        }
        return v;
    }

    static int countNotPrintable(int below) {
        int n = 0;
        for (int b = 0; b < below; b++) {
            if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))) {
                n++;
            }
        }
        return n;
    }

    final ByteLevelBpeTokenizer tok = new ByteLevelBpeTokenizer(vocabulary(), Arrays.asList(MERGES));

    @Test
    public void pretokenizesSpacesLettersAndEachOtherCodePoint() {
        assertEquals(List.of("hello", "  ", "hello"), ByteLevelBpeTokenizer.pretokenize("hello  hello"));
        assertEquals(List.of("I", "'", "ll"), ByteLevelBpeTokenizer.pretokenize("I'll"));
        assertEquals(List.of("妈", "妈"), ByteLevelBpeTokenizer.pretokenize("妈妈"));
        assertEquals(List.of("Lucía"), ByteLevelBpeTokenizer.pretokenize("Lucía"));
        assertEquals(List.of("e", "\u0301"), ByteLevelBpeTokenizer.pretokenize("e\u0301"));
        assertEquals(List.of("😀", "!"), ByteLevelBpeTokenizer.pretokenize("😀!"));
        assertEquals(List.of("0", "6", ":", "3", "0"), ByteLevelBpeTokenizer.pretokenize("06:30"));
        assertEquals(List.of("tab", "\t", "here"), ByteLevelBpeTokenizer.pretokenize("tab\there"));
        assertEquals(List.of(), ByteLevelBpeTokenizer.pretokenize(""));
    }

    @Test
    public void mergesByRankWithinPieces() {
        assertArrayEquals(new int[] {263}, tok.encode("hello"));
        assertArrayEquals(new int[] {263, 264, 263}, tok.encode("hello  hello"));
        assertArrayEquals(new int[] {263, 263}, tok.encode("hellohello"));
        assertArrayEquals(new int[] {77, 43, 261}, tok.encode("I'll"));
        assertArrayEquals(new int[] {266, 266}, tok.encode("妈妈"));
        assertArrayEquals(new int[] {80, 121, 103, 199, 177, 101}, tok.encode("Lucía"));
        assertArrayEquals(new int[] {105, 208, 133}, tok.encode("e\u0301"));
        assertArrayEquals(new int[] {244, 163, 156, 132, 37}, tok.encode("😀!"));
        assertArrayEquals(new int[] {120, 101, 102, 13, 260, 118, 105}, tok.encode("tab\there"));
        assertArrayEquals(new int[] {1, 263, 3}, tok.encodeExample("hello"));
        assertArrayEquals(new int[] {1, 3}, tok.encodeExample(""));
    }

    @Test
    public void decodeSkipsSpecialsAndReplacesBrokenUtf8AsPython() {
        assertEquals("hello  hello", tok.decode(tok.encode("hello  hello")));
        assertEquals("Zoë's café 妈 😀", tok.decode(tok.encode("Zoë's café 妈 😀")));
        assertEquals("\uFFFDa", tok.decode(new int[] {0, 1, 4 + 0xE5, 4 + 0xA6, 2, 4 + 'a'}));
        assertEquals("\uFFFD\uFFFD\uFFFD", tok.decode(new int[] {4 + 0xED, 4 + 0xA0, 4 + 0x80}));  // a surrogate
        assertEquals("\uFFFDx", tok.decode(new int[] {4 + 0xF0, 4 + 0x9F, 4 + 'x'}));
        assertEquals("\uFFFD\uFFFD", ByteLevelBpeTokenizer.decodeUtf8(new byte[] {(byte) 0xC0, (byte) 0xAF}));
        assertArrayEquals("妈".getBytes(StandardCharsets.UTF_8), tok.tokenBytes(266));
        assertEquals(0, tok.tokenBytes(ByteLevelBpeTokenizer.EOS).length);
    }

    @Test
    public void readsTheTwoFilesAndNamesTheBrokenOne() throws Exception {
        Path dir = Files.createTempDirectory("bpe");
        try {
            StringBuilder json = new StringBuilder("{");
            for (Map.Entry<String, Integer> e : vocabulary().entrySet()) {
                json.append(json.length() > 1 ? "," : "").append(org.json.JSONObject.quote(e.getKey()))
                        .append(':').append(e.getValue());
            }
            Files.write(dir.resolve("vocabulary.json"), (json + "}").getBytes(StandardCharsets.UTF_8));
            StringBuilder merges = new StringBuilder();
            for (String[] m : MERGES) {
                merges.append(m[0]).append(' ').append(m[1]).append("\r\n\n");
            }
            Files.write(dir.resolve("merges.txt"), merges.toString().getBytes(StandardCharsets.UTF_8));
            ByteLevelBpeTokenizer read = ByteLevelBpeTokenizer.fromFolder(dir);
            assertEquals(267, read.vocabularySize());
            assertArrayEquals(new int[] {263, 264, 266}, read.encode("hello  妈"));

            Files.write(dir.resolve("merges.txt"), "h x\n".getBytes(StandardCharsets.UTF_8));
            Exception e = assertThrows(java.io.IOException.class, () -> ByteLevelBpeTokenizer.fromFolder(dir));
            assertTrue(e.getMessage(), e.getMessage().contains("vocabulary.json") && e.getMessage().contains("'h x'"));
            Files.write(dir.resolve("vocabulary.json"), "[1, 2]".getBytes(StandardCharsets.UTF_8));
            e = assertThrows(java.io.IOException.class, () -> ByteLevelBpeTokenizer.fromFolder(dir));
            assertTrue(e.getMessage(), e.getMessage().startsWith(dir.resolve("vocabulary.json").toString()));
        } finally {
            for (String f : new String[] {"vocabulary.json", "merges.txt"}) {
                Files.deleteIfExists(dir.resolve(f));
            }
            Files.delete(dir);
        }
    }

    @Test
    public void rejectsInconsistentVocabularies() {
        Map<String, Integer> v = vocabulary();
        v.put("<|sep|>", 300);
        assertThrows(IllegalArgumentException.class, () -> new ByteLevelBpeTokenizer(v, List.of()));
        Map<String, Integer> w = vocabulary();
        w.remove("he");
        assertThrows(IllegalArgumentException.class, () -> new ByteLevelBpeTokenizer(w, Arrays.asList(MERGES)));
    }
}
