package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The action format of pipeline/tasks/action/actions.py (messages as Python writes them). */
public class ActionTest {
    static String error(String text) {
        return assertThrows(IllegalArgumentException.class, () -> Action.parse(text)).getMessage();
    }

    @Test
    public void parsesSlotsEscapesAndDurations() {
        Action a = Action.parse("set_alarm(time=06:30, day=tomorrow)");
        assertEquals("set_alarm", a.intent);
        assertEquals(List.of("time", "day"), List.copyOf(a.slots.keySet()));
        assertEquals("tomorrow", a.slots.get("day"));
        assertEquals(Map.of("text", "a, b (c=d) \\", "target", "fr"),
                Action.parse("translate(text=a\\, b \\(c\\=d\\) \\\\, target=fr)").slots);
        assertEquals(600L, Action.parse("set_timer(duration=600)").slots.get("duration"));
        assertEquals(Map.of("contact", "妈妈", "app", "微信", "text", "我晚点到"),
                Action.parse("send_message(contact=妈妈, app=微信, text=我晚点到)").slots);
        assertTrue(Action.parse("none()").slots.isEmpty());
    }

    @Test
    public void errorsSayWhereAndWhat() {
        assertEquals("action 'set_alarm(': at 10: expected a slot name and '=' or ')'", error("set_alarm("));
        assertTrue(error("unknown_intent()").contains("unknown intent 'unknown_intent' (intents: set_alarm, "));
        assertEquals("action 'set_alarm(time=06:30) trailing': at 21: text after the closing ')'",
                error("set_alarm(time=06:30) trailing"));
        assertEquals("action 'play_music(song=)': at 16: song has an empty value or edge spaces",
                error("play_music(song=)"));
        assertEquals("action 'set_alarm(day=today, time=06:30)': slots of set_alarm must come in the order "
                + "time, day, label", error("set_alarm(day=today, time=06:30)"));
        assertEquals("action 'set_timer(duration=0)': duration=0 is not a number of seconds",
                error("set_timer(duration=0)"));
        assertTrue(error("news(topic=a=b)").endsWith("expected ', ' or ')' after topic, found '=' (escape it with '\\')"));
        // Positions count code points, not UTF-16 units.
        assertEquals("action 'news(topic=😀,x)': at 12: expected ', ' or ')' after topic, found ',' (escape it with '\\')",
                error("news(topic=😀,x)"));
        assertTrue(error("").contains("expected an intent name and '(' at the start"));
        assertTrue(error("weather(location=a\\b)").contains("'\\' must be followed by one of"));
        assertTrue(error("navigate(destination=x, destination=y)").contains("slot 'destination' given twice"));
    }

    @Test
    public void formatsInSchemaOrderWithEscapes() {
        Map<String, Object> slots = new LinkedHashMap<>();
        slots.put("day", "tomorrow");
        slots.put("time", "06:30");
        assertEquals("set_alarm(time=06:30, day=tomorrow)", Action.format("set_alarm", slots));
        assertEquals("translate(text=a\\, b)", new Action("translate", Map.of("text", "a, b")).toString());
        assertEquals("set_timer(duration=90)", Action.format("set_timer", Map.of("duration", 90)));
        assertEquals("none()", Action.format("none", Map.of()));
        assertThrows(IllegalArgumentException.class, () -> Action.format("set_timer", Map.of("duration", "90")));
        assertThrows(IllegalArgumentException.class, () -> Action.format("news", Map.of("topic", " x")));
        assertThrows(IllegalArgumentException.class, () -> Action.format("news", Map.of("place", "x")));
        assertThrows(IllegalArgumentException.class, () -> Action.format("fly", Map.of()));
    }
}
