package org.ondevice.core;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONObject;

/**
 * Runs the Java action pieces over a file so that tests/test_android_core.py can compare them
 * with Python on many inputs (code points and byte strings as hex, so no text encoding is
 * involved):
 *
 * <pre>
 * java org.ondevice.core.ActionReplayFile encode  EXPORT_DIR in.txt out.txt  # code points -> ids|piece lengths
 * java org.ondevice.core.ActionReplayFile decode  EXPORT_DIR in.txt out.txt  # line: bytes -> code points
 * java org.ondevice.core.ActionReplayFile grammar EXPORT_DIR in.txt out.txt
 * </pre>
 *
 * {@code grammar} lines are JSON {"command": text or null, "ids": [...]}; the output line holds
 * the allowed ids before each token and after the last, each mask's ids joined by ",", the masks
 * by ";". Test-only.
 */
public final class ActionReplayFile {
    private ActionReplayFile() {}

    static String join(int[] values, boolean hex) {
        StringBuilder b = new StringBuilder();
        for (int v : values) {
            b.append(b.length() > 0 ? " " : "").append(hex ? Integer.toHexString(v).toUpperCase() : String.valueOf(v));
        }
        return b.toString();
    }

    static int[] parseHex(String line) {
        return line.isBlank() ? new int[0]
                : java.util.Arrays.stream(line.trim().split(" ")).mapToInt(s -> Integer.parseInt(s, 16)).toArray();
    }

    static String mask(boolean[] allowed) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < allowed.length; i++) {
            if (allowed[i]) {
                b.append(b.length() > 0 ? "," : "").append(i);
            }
        }
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        ByteLevelBpeTokenizer tok = ByteLevelBpeTokenizer.fromFolder(Path.of(args[1]));
        ActionGrammar grammar = new ActionGrammar(tok);
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[2]), StandardCharsets.US_ASCII)) {
            switch (args[0]) {
                case "encode":
                    int[] cps = parseHex(line);
                    String text = new String(cps, 0, cps.length);
                    int[] lengths = ByteLevelBpeTokenizer.pretokenize(text).stream()
                            .mapToInt(piece -> piece.codePointCount(0, piece.length())).toArray();
                    out.add(join(tok.encode(text), false) + "|" + join(lengths, false));
                    break;
                case "decode":
                    int[] bytes = parseHex(line);
                    byte[] data = new byte[bytes.length];
                    for (int i = 0; i < data.length; i++) {
                        data[i] = (byte) bytes[i];
                    }
                    out.add(join(ByteLevelBpeTokenizer.decodeUtf8(data).codePoints().toArray(), true));
                    break;
                case "grammar":
                    JSONObject k = new JSONObject(line);
                    ActionGrammar.State state = grammar.start(k.isNull("command") ? null : k.getString("command"));
                    JSONArray ids = k.getJSONArray("ids");
                    List<String> masks = new ArrayList<>();
                    for (int i = 0; i <= ids.length(); i++) {
                        masks.add(mask(grammar.allowed(state)));
                        if (i < ids.length()) {
                            state = grammar.advance(state, ids.getInt(i));
                        }
                    }
                    out.add(String.join(";", masks));
                    break;
                default:
                    throw new IllegalArgumentException("mode " + args[0] + ": encode, decode or grammar");
            }
        }
        Files.write(Path.of(args[3]), out, StandardCharsets.US_ASCII);
    }
}
