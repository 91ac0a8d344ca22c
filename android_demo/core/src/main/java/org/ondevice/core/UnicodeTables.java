package org.ondevice.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Unicode 14.0 facts the WordPiece rules need, independent of the JVM's or Android's own
 * Unicode version.
 *
 * <p>Loaded once from the generated resource {@code unicode14.txt} (see
 * {@code android_demo/core/tools/generate_unicode_tables.py}), so categories and case folding
 * are those of Python 3.11's {@code unicodedata}, which export/wordpiece.py uses. Only
 * canonical normalisation is left to {@link java.text.Normalizer}, and only on stretches of
 * characters assigned in Unicode 14.0: an unassigned code point is a starter without a
 * decomposition, so normalising the pieces between such code points separately is exactly
 * normalising the whole text under Unicode 14.0 (and a newer platform database cannot change
 * the result).
 *
 * <pre>{@code
 * UnicodeTables u = UnicodeTables.get();
 * u.isPunctuationCategory('!');   // true
 * u.nfkcCasefold("Straße");       // "strasse"
 * }</pre>
 */
public final class UnicodeTables {
    private static final String RESOURCE = "unicode14.txt";
    private static volatile UnicodeTables instance;

    private final String unidataVersion;
    private final int[] assigned;
    private final int[] mn;
    private final int[] split;
    private final int[] punct;
    private final int[] isspace;
    private final Map<Integer, String> fold;

    private UnicodeTables(String version, Map<String, int[]> ranges, Map<Integer, String> fold) {
        this.unidataVersion = version;
        this.assigned = ranges.get("assigned");
        this.mn = ranges.get("mn");
        this.split = ranges.get("split");
        this.punct = ranges.get("punct");
        this.isspace = ranges.get("isspace");
        this.fold = fold;
        for (String name : new String[] {"assigned", "mn", "split", "punct", "isspace"}) {
            if (ranges.get(name) == null) {
                throw new IllegalStateException(RESOURCE + ": section [" + name + "] missing");
            }
        }
    }

    /** The shared instance (the resource is parsed on first use, about 100 KB). */
    public static UnicodeTables get() {
        UnicodeTables t = instance;
        if (t == null) {
            synchronized (UnicodeTables.class) {
                t = instance;
                if (t == null) {
                    t = load();
                    instance = t;
                }
            }
        }
        return t;
    }

    private static UnicodeTables load() {
        InputStream in = UnicodeTables.class.getResourceAsStream(RESOURCE);
        if (in == null) {
            throw new IllegalStateException(RESOURCE + " is not on the class path next to "
                    + UnicodeTables.class.getName());
        }
        Map<String, int[]> ranges = new HashMap<>();
        Map<Integer, String> fold = new HashMap<>(16384);
        String version = "";
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII))) {
            String section = null;
            List<int[]> current = null;
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                if (line.startsWith("unidata ")) {
                    version = line.substring(8).trim();
                } else if (line.startsWith("[")) {
                    if (current != null) {
                        ranges.put(section, flatten(current));
                    }
                    section = line.substring(1, line.indexOf(']'));
                    current = section.equals("fold") ? null : new ArrayList<>();
                } else if ("fold".equals(section)) {
                    String[] parts = line.split(" ");
                    StringBuilder b = new StringBuilder();
                    for (int i = 1; i < parts.length; i++) {
                        b.appendCodePoint(Integer.parseInt(parts[i], 16));
                    }
                    fold.put(Integer.parseInt(parts[0], 16), b.toString());
                } else if (current != null) {
                    int space = line.indexOf(' ');
                    current.add(new int[] {Integer.parseInt(line.substring(0, space), 16),
                            Integer.parseInt(line.substring(space + 1), 16)});
                }
            }
            if (current != null) {
                ranges.put(section, flatten(current));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(RESOURCE + ": cannot read", e);
        }
        return new UnicodeTables(version, ranges, fold);
    }

    private static int[] flatten(List<int[]> list) {
        int[] out = new int[list.size() * 2];
        for (int i = 0; i < list.size(); i++) {
            out[2 * i] = list.get(i)[0];
            out[2 * i + 1] = list.get(i)[1];
        }
        return out;
    }

    private static boolean in(int[] ranges, int cp) {
        int lo = 0;
        int hi = ranges.length / 2 - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (cp < ranges[2 * mid]) {
                hi = mid - 1;
            } else if (cp > ranges[2 * mid + 1]) {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        return false;
    }

    /** The Unicode version the tables were generated from ("14.0.0"). */
    public String unidataVersion() {
        return unidataVersion;
    }

    /** General category is not Cn. */
    public boolean isAssigned(int cp) {
        return in(assigned, cp);
    }

    /** General category Mn (non-spacing mark). */
    public boolean isNonSpacingMark(int cp) {
        return in(mn, cp);
    }

    /** General category Cc or Cf. */
    public boolean isControlOrFormat(int cp) {
        return in(split, cp);
    }

    /** General category P* (Pc Pd Ps Pe Pi Pf Po). */
    public boolean isPunctuationCategory(int cp) {
        return in(punct, cp);
    }

    /** Python's {@code str.isspace()} for one character. */
    public boolean isPythonSpace(int cp) {
        return in(isspace, cp);
    }

    /** NFKC_Casefold of one code point ("" for a default-ignorable one). */
    public String foldCodePoint(int cp) {
        String f = fold.get(cp);
        return f != null ? f : new String(Character.toChars(cp));
    }

    /** NFKC_Casefold of a word: each code point folded, then NFKC of the concatenation. */
    public String nfkcCasefold(String word) {
        boolean ascii = true;
        for (int i = 0; i < word.length(); i++) {
            if (word.charAt(i) >= 0x80) {
                ascii = false;
                break;
            }
        }
        if (ascii) {
            char[] chars = word.toCharArray();
            for (int i = 0; i < chars.length; i++) {
                if (chars[i] >= 'A' && chars[i] <= 'Z') {
                    chars[i] = (char) (chars[i] + 32);
                }
            }
            return new String(chars);
        }
        StringBuilder b = new StringBuilder(word.length() + 8);
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            String f = fold.get(cp);
            if (f != null) {
                b.append(f);
            } else {
                b.appendCodePoint(cp);
            }
            i += Character.charCount(cp);
        }
        return normalize(b.toString(), Normalizer.Form.NFKC);
    }

    /**
     * {@code Normalizer.normalize(text, form)} applied separately to the stretches between code
     * points unassigned in Unicode 14.0 (which are kept as they are).
     */
    public String normalize(String text, Normalizer.Form form) {
        int n = text.length();
        StringBuilder out = null;
        int start = 0;
        for (int i = 0; i < n; ) {
            int cp = text.codePointAt(i);
            int width = Character.charCount(cp);
            if (!isAssigned(cp)) {
                if (out == null) {
                    out = new StringBuilder(n + 8);
                }
                out.append(Normalizer.normalize(text.substring(start, i), form));
                out.appendCodePoint(cp);
                start = i + width;
            }
            i += width;
        }
        if (out == null) {
            return Normalizer.normalize(text, form);
        }
        out.append(Normalizer.normalize(text.substring(start), form));
        return out.toString();
    }
}
