package org.ondevice.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An action the assistant model writes, {@code intent(slot=value, ...)}, as data, with its
 * parser and formatter: the Java port of {@code pipeline/tasks/action/actions.py}
 * ({@code parse_action}, {@code format_action}; its docstring is the grammar) and of the slot
 * schema of {@code pipeline/tasks/action/schema.py}.
 *
 * <pre>{@code
 * Action a = Action.parse("set_alarm(time=06:30, day=tomorrow)");
 * a.intent;               // "set_alarm"
 * a.slots.get("time");    // "06:30"  (a duration slot holds a Long: seconds)
 * a.toString();           // the same text back
 * }</pre>
 *
 * Positions in error messages count code points, as Python's do. One difference: Python's
 * int has no bound, so a duration of more than 18 digits parses there and is an error here.
 */
public final class Action {
    /** One slot of an intent: its name, whether the action needs it, its kind, its values. */
    public static final class Slot {
        public final String name;
        public final boolean required;
        /** time, day, duration, language, enum or verbatim. */
        public final String kind;
        /** The allowed values of a day, language or enum slot; empty for the other kinds. */
        public final List<String> values;

        Slot(String name, boolean required, String kind, List<String> values) {
            this.name = name;
            this.required = required;
            this.kind = kind;
            this.values = values;
        }
    }

    public static final List<String> DAYS = List.of("today", "tomorrow", "day_after_tomorrow",
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
            "weekdays", "weekend", "every_day", "this_week", "next_week");
    /** schema.LANGUAGES' codes, sorted (the language slots' values). */
    public static final List<String> LANGUAGES = List.of("am", "ar", "cs", "da", "de", "el", "en",
            "es", "fa", "fi", "fr", "ga", "he", "hi", "hu", "id", "it", "ja", "ko", "ms", "nl",
            "no", "pl", "pt", "ro", "ru", "sv", "sw", "th", "tl", "tr", "uk", "vi", "yo", "yue",
            "zh");
    public static final List<String> TRAVEL_MODES = List.of("driving", "walking", "cycling", "transit");
    /** Intent -> its slots in the order an action writes them (schema.SCHEMA, same order). */
    public static final Map<String, List<Slot>> SCHEMA = schema();
    /** The characters a value escapes with a backslash. */
    public static final String SPECIAL = "\\,()=";

    private static Map<String, List<Slot>> schema() {
        Map<String, List<Slot>> s = new LinkedHashMap<>();
        List<String> none = List.of();
        s.put("set_alarm", List.of(new Slot("time", true, "time", none), new Slot("day", false, "day", DAYS),
                new Slot("label", false, "verbatim", none)));
        s.put("set_timer", List.of(new Slot("duration", true, "duration", none),
                new Slot("label", false, "verbatim", none)));
        s.put("weather", List.of(new Slot("location", false, "verbatim", none),
                new Slot("day", false, "day", DAYS)));
        s.put("play_music", List.of(new Slot("song", false, "verbatim", none),
                new Slot("artist", false, "verbatim", none), new Slot("query", false, "verbatim", none),
                new Slot("app", false, "verbatim", none)));
        s.put("call_contact", List.of(new Slot("contact", true, "verbatim", none),
                new Slot("app", false, "verbatim", none)));
        s.put("send_message", List.of(new Slot("contact", true, "verbatim", none),
                new Slot("app", false, "verbatim", none), new Slot("text", false, "verbatim", none)));
        s.put("navigate", List.of(new Slot("destination", true, "verbatim", none),
                new Slot("mode", false, "enum", TRAVEL_MODES)));
        s.put("news", List.of(new Slot("topic", false, "verbatim", none),
                new Slot("source", false, "verbatim", none)));
        s.put("translate", List.of(new Slot("text", true, "verbatim", none),
                new Slot("source", false, "language", LANGUAGES),
                new Slot("target", false, "language", LANGUAGES)));
        s.put("reminder", List.of(new Slot("text", true, "verbatim", none), new Slot("day", false, "day", DAYS),
                new Slot("time", false, "time", none), new Slot("delay", false, "duration", none)));
        s.put("none", List.of());
        return Collections.unmodifiableMap(s);
    }

    public final String intent;
    /** Slot name -> value (String, or Long seconds for a duration), in schema order. */
    public final Map<String, Object> slots;

    public Action(String intent, Map<String, Object> slots) {
        this.intent = intent;
        this.slots = Collections.unmodifiableMap(new LinkedHashMap<>(slots));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Action && ((Action) o).intent.equals(intent)
                && new ArrayList<>(((Action) o).slots.entrySet()).equals(new ArrayList<>(slots.entrySet()));
    }

    @Override
    public int hashCode() {
        return Objects.hash(intent, slots);
    }

    /** The action's one spelling ({@code format_action}); IllegalArgumentException as there. */
    @Override
    public String toString() {
        return format(intent, slots);
    }

    private static String quote(String text) {
        return "'" + text + "'";
    }

    /** The schema's slots of {@code intent} by name; checks that {@code names} are some of them, in order. */
    private static Map<String, Slot> slotOrder(String intent, List<String> names, String where) {
        List<Slot> spec = SCHEMA.get(intent);
        if (spec == null) {
            throw new IllegalArgumentException(where + ": unknown intent " + quote(intent)
                    + " (intents: " + String.join(", ", SCHEMA.keySet()) + ")");
        }
        Map<String, Slot> byName = new LinkedHashMap<>();
        List<String> order = new ArrayList<>();
        for (Slot s : spec) {
            byName.put(s.name, s);
            if (names.contains(s.name)) {
                order.add(s.name);
            }
        }
        for (String name : names) {
            if (!byName.containsKey(name)) {
                String known = byName.isEmpty() ? "none" : String.join(", ", byName.keySet());
                throw new IllegalArgumentException(where + ": " + intent + " has no slot "
                        + quote(name) + " (its slots: " + known + ")");
            }
        }
        if (!names.equals(order)) {
            throw new IllegalArgumentException(where + ": slots of " + intent
                    + " must come in the order " + String.join(", ", byName.keySet()));
        }
        return byName;
    }

    private static String escape(String value) {
        StringBuilder b = new StringBuilder();
        for (int k = 0; k < value.length(); k++) {
            char c = value.charAt(k);
            if (SPECIAL.indexOf(c) >= 0) {
                b.append('\\');
            }
            b.append(c);
        }
        return b.toString();
    }

    private static boolean hasEdgeSpaces(String v) {
        return v.startsWith(" ") || v.endsWith(" ");
    }

    /**
     * {@code format_action}: slots written in schema order whatever the map's order;
     * IllegalArgumentException for an unknown intent or slot, or a value that cannot be written
     * (empty, edge spaces, a line break, a duration that is not a positive integer).
     */
    public static String format(String intent, Map<String, ?> given) {
        String where = "action " + intent + given;
        List<String> names = new ArrayList<>();
        slotOrder(intent, List.of(), where);
        for (Slot s : SCHEMA.get(intent)) {
            if (given.containsKey(s.name)) {
                names.add(s.name);
            }
        }
        for (String n : given.keySet()) {
            if (!names.contains(n)) {
                names.add(n);
            }
        }
        Map<String, Slot> spec = slotOrder(intent, names, where);
        List<String> parts = new ArrayList<>();
        for (Slot s : spec.values()) {
            if (!given.containsKey(s.name)) {
                continue;
            }
            Object value = given.get(s.name);
            String text;
            if (s.kind.equals("duration")) {
                if (!(value instanceof Long || value instanceof Integer) || ((Number) value).longValue() <= 0) {
                    throw new IllegalArgumentException(where + ": " + s.name + " must be a positive int (seconds)");
                }
                text = String.valueOf(((Number) value).longValue());
            } else if (value instanceof String) {
                text = (String) value;
            } else {
                throw new IllegalArgumentException(where + ": " + s.name + " must be a string");
            }
            if (text.isEmpty() || hasEdgeSpaces(text) || text.indexOf('\n') >= 0 || text.indexOf('\r') >= 0) {
                throw new IllegalArgumentException(where + ": " + s.name + "=" + quote(text)
                        + " is empty, has edge spaces or a line break");
            }
            parts.add(s.name + "=" + escape(text));
        }
        return intent + "(" + String.join(", ", parts) + ")";
    }

    private static boolean isNameChar(int c) {
        return (c >= 'a' && c <= 'z') || c == '_';
    }

    private static boolean startsWith(int[] cps, int i, String s) {
        if (i + s.length() > cps.length) {
            return false;
        }
        for (int k = 0; k < s.length(); k++) {
            if (cps[i + k] != s.charAt(k)) {
                return false;
            }
        }
        return true;
    }

    /** The end of {@code [a-z_]+<terminator>} matched at {@code i}, or -1. */
    private static int matchName(int[] cps, int i, char terminator) {
        int k = i;
        while (k < cps.length && isNameChar(cps[k])) {
            k++;
        }
        return k > i && k < cps.length && cps[k] == terminator ? k + 1 : -1;
    }

    private static String str(int[] cps, int from, int to) {
        return new String(cps, from, to - from);
    }

    /**
     * {@code parse_action}: {@code set_alarm(time=06:30, day=tomorrow)} -> the action.
     * IllegalArgumentException naming the position and what was expected when the text breaks
     * the grammar, names an unknown intent or slot, or puts slots out of schema order.
     */
    public static Action parse(String text) {
        String where = "action " + quote(text);
        int[] cps = text.codePoints().toArray();
        int n = cps.length;
        int end = matchName(cps, 0, '(');
        if (end < 0) {
            throw new IllegalArgumentException(where + ": expected an intent name and '(' at the start");
        }
        String intent = str(cps, 0, end - 1);
        int i = end;
        Map<String, String> slots = new LinkedHashMap<>();
        if (!SCHEMA.containsKey(intent)) {
            slotOrder(intent, List.of(), where);
        }
        while (!startsWith(cps, i, ")") || !slots.isEmpty()) {
            end = matchName(cps, i, '=');
            if (end < 0) {
                throw new IllegalArgumentException(where + ": at " + i + ": expected a slot name and '='"
                        + (slots.isEmpty() ? " or ')'" : ""));
            }
            String name = str(cps, i, end - 1);
            i = end;
            StringBuilder value = new StringBuilder();
            while (i < n && ",()=\r\n".indexOf(cps[i]) < 0) {
                if (cps[i] == '\\') {
                    if (i + 1 >= n || SPECIAL.indexOf(cps[i + 1]) < 0) {
                        throw new IllegalArgumentException(where + ": at " + i
                                + ": '\\' must be followed by one of " + SPECIAL);
                    }
                    i++;
                }
                value.appendCodePoint(cps[i]);
                i++;
            }
            String v = value.toString();
            if (v.isEmpty() || hasEdgeSpaces(v)) {
                throw new IllegalArgumentException(where + ": at " + i + ": " + name
                        + " has an empty value or edge spaces");
            }
            if (slots.containsKey(name)) {
                throw new IllegalArgumentException(where + ": slot " + quote(name) + " given twice");
            }
            slots.put(name, v);
            if (startsWith(cps, i, ", ")) {
                i += 2;
            } else if (startsWith(cps, i, ")")) {
                break;
            } else {
                String found = i < n ? quote(str(cps, i, i + 1)) : "the end";
                throw new IllegalArgumentException(where + ": at " + i + ": expected ', ' or ')' after "
                        + name + ", found " + found
                        + (i < n && SPECIAL.indexOf(cps[i]) >= 0 ? " (escape it with '\\')" : ""));
            }
        }
        if (i + 1 != n) {
            throw new IllegalArgumentException(where + ": at " + (i + 1) + ": text after the closing ')'");
        }
        Map<String, Slot> spec = slotOrder(intent, new ArrayList<>(slots.keySet()), where);
        Map<String, Object> values = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : slots.entrySet()) {
            String v = e.getValue();
            if (spec.get(e.getKey()).kind.equals("duration")) {
                if (!v.matches("[1-9][0-9]*")) {
                    throw new IllegalArgumentException(where + ": " + e.getKey() + "=" + v
                            + " is not a number of seconds");
                }
                try {
                    values.put(e.getKey(), Long.parseLong(v));
                } catch (NumberFormatException tooLong) {
                    throw new IllegalArgumentException(where + ": " + e.getKey() + "=" + v
                            + " is more seconds than a long holds", tooLong);
                }
            } else {
                values.put(e.getKey(), v);
            }
        }
        return new Action(intent, values);
    }
}
