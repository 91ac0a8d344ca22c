package org.ondevice.core;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;

/**
 * Steps 0-3 of the WordPiece rules on a file of texts, for the every-code-point comparison with
 * Python in tests/test_android_core.py.
 *
 * <pre>
 * java -cp ... org.ondevice.core.PretokenizeFile in.txt out.txt [lowercase strip_accents]
 * </pre>
 * Each input line is one text as space-separated hexadecimal code points (an empty line is the
 * empty text); each output line holds its words, separated by "/", each word as its code points
 * in hexadecimal separated by ".".
 */
public final class PretokenizeFile {
    private PretokenizeFile() {}

    public static void main(String[] args) throws IOException {
        WordPieceTokenizer.Options options = new WordPieceTokenizer.Options();
        if (args.length >= 4) {
            options.lowercase = Boolean.parseBoolean(args[2]);
            options.stripAccents = Boolean.parseBoolean(args[3]);
        }
        WordPieceTokenizer tok = new WordPieceTokenizer(Collections.singletonList("[UNK]"), options);
        try (BufferedReader in = Files.newBufferedReader(Path.of(args[0]), StandardCharsets.US_ASCII);
             BufferedWriter out = Files.newBufferedWriter(Path.of(args[1]), StandardCharsets.US_ASCII)) {
            String line;
            StringBuilder text = new StringBuilder();
            StringBuilder row = new StringBuilder();
            while ((line = in.readLine()) != null) {
                text.setLength(0);
                if (!line.isEmpty()) {
                    for (String hex : line.split(" ")) {
                        text.appendCodePoint(Integer.parseInt(hex, 16));
                    }
                }
                List<String> words = tok.pretokenize(text.toString());
                row.setLength(0);
                for (int w = 0; w < words.size(); w++) {
                    if (w > 0) {
                        row.append('/');
                    }
                    String word = words.get(w);
                    for (int i = 0, k = 0; i < word.length(); k++) {
                        int cp = word.codePointAt(i);
                        if (k > 0) {
                            row.append('.');
                        }
                        row.append(Integer.toHexString(cp).toUpperCase());
                        i += Character.charCount(cp);
                    }
                }
                out.write(row.toString());
                out.newLine();
            }
        }
    }
}
