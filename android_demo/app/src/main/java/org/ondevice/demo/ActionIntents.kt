package org.ondevice.demo

import android.app.SearchManager
import android.content.Intent
import android.net.Uri
import android.provider.AlarmClock
import android.provider.CalendarContract
import android.provider.ContactsContract
import android.provider.MediaStore
import java.text.DateFormat
import java.util.Calendar
import java.util.Locale
import org.ondevice.core.Action
import org.ondevice.demo.ActionIntents.Plan.Launch
import org.ondevice.demo.ActionIntents.Plan.NoAction
import org.ondevice.demo.ActionIntents.Plan.PickContact

/**
 * An [Action] as the platform intent that performs it: no UI and no Context, so a Robolectric
 * test can check every intent's action, data and extras.
 * ```
 * when (val plan = ActionIntents.plan(Action.parse("set_timer(duration=600)"))) {
 *     is Plan.Launch -> startActivity(plan.intent)                    // the clock app's timer
 *     is Plan.PickContact -> startActivityForResult(plan.intent, PICK)  // then withNumber
 *     is Plan.NoAction -> show(plan.summary)
 * }
 * ```
 *
 * The mapping (android_demo/README.md has it as a table):
 * - set_alarm: `AlarmClock.ACTION_SET_ALARM` with EXTRA_HOUR, EXTRA_MINUTES, the label as
 *   EXTRA_MESSAGE; weekdays/weekend/every_day and a weekday name as EXTRA_DAYS (a weekday name
 *   repeats weekly: the intent has no date); today/tomorrow/... add nothing (it rings next time).
 * - set_timer: `AlarmClock.ACTION_SET_TIMER`, EXTRA_LENGTH seconds (1..86400, the documented
 *   range; longer is refused), the label as EXTRA_MESSAGE.
 * - call_contact: a number -> `ACTION_DIAL` `tel:` (the user presses call; no CALL_PHONE). A name
 *   -> the contacts app's phone picker (`ACTION_PICK` on `Phone.CONTENT_URI`, no READ_CONTACTS:
 *   the picker grants the picked row), then [withNumber]: `ACTION_DIAL` with that number.
 * - send_message: the same, then `ACTION_SENDTO` `smsto:` with `sms_body`.
 * - navigate: `ACTION_VIEW` `geo:0,0?q=<destination>` (any maps app; geo: has no travel mode).
 * - play_music: `MediaStore.INTENT_ACTION_MEDIA_PLAY_FROM_SEARCH` in song, artist or
 *   unstructured search mode (EXTRA_MEDIA_FOCUS, EXTRA_MEDIA_TITLE/ARTIST, SearchManager.QUERY).
 * - reminder: `ACTION_INSERT` on `CalendarContract.Events`, titled with the text, at its time,
 *   day or delay (weekdays/weekend/every_day as RRULE).
 * - weather, news, translate: `ACTION_WEB_SEARCH` with SearchManager.QUERY ("weather Paris
 *   tomorrow"): the platform has no weather, news or translation intent.
 * - none: nothing.
 *
 * A named `app` (WhatsApp, Spotify, 微信) is shown but not used: no public intent addresses a
 * contact or a song inside those apps by name, so the platform's dialer, SMS and media search run.
 */
object ActionIntents {
    /** What performing an action means: one of the three kinds below, with a line for the user. */
    sealed class Plan(val summary: String) {
        /** Start [intent] (an ActivityNotFoundException means no app on the device handles it). */
        class Launch(val intent: Intent, summary: String) : Plan(summary)

        /** Let the user pick [contact]'s number with [intent]; then start [withNumber] of [action]. */
        class PickContact(val action: Action, val contact: String, summary: String) : Plan(summary) {
            val intent: Intent
                get() = Intent(Intent.ACTION_PICK, ContactsContract.CommonDataKinds.Phone.CONTENT_URI)
        }

        /** Nothing to start; [summary] says why. */
        class NoAction(summary: String) : Plan(summary)
    }

    private const val MAX_TIMER_SECONDS = 86_400L
    private val WEEKDAY = linkedMapOf("monday" to Calendar.MONDAY, "tuesday" to Calendar.TUESDAY,
        "wednesday" to Calendar.WEDNESDAY, "thursday" to Calendar.THURSDAY, "friday" to Calendar.FRIDAY,
        "saturday" to Calendar.SATURDAY, "sunday" to Calendar.SUNDAY)
    private val REPEATING = mapOf(
        "weekdays" to listOf(Calendar.MONDAY, Calendar.TUESDAY, Calendar.WEDNESDAY, Calendar.THURSDAY, Calendar.FRIDAY),
        "weekend" to listOf(Calendar.SATURDAY, Calendar.SUNDAY),
        "every_day" to WEEKDAY.values.toList())
    private val RRULE = mapOf("weekdays" to "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        "weekend" to "FREQ=WEEKLY;BYDAY=SA,SU", "every_day" to "FREQ=DAILY")
    private val DAYS_AHEAD = mapOf("today" to 0, "tomorrow" to 1, "day_after_tomorrow" to 2)
    private val REPEAT_WORDS = mapOf("weekdays" to "on weekdays", "weekend" to "at weekends",
        "every_day" to "every day")

    /** What performing `action` means on this platform; `now` dates a reminder. */
    fun plan(action: Action, now: Calendar = Calendar.getInstance()): Plan = when (action.intent) {
        "set_alarm" -> alarm(action)
        "set_timer" -> timer(action)
        "call_contact", "send_message" -> contact(action)
        "navigate" -> navigate(action)
        "play_music" -> music(action)
        "reminder" -> reminder(action, now)
        "weather" -> search(listOfNotNull("weather", action.text("location"), action.text("day")?.let(::words)))
        "news" -> search(listOfNotNull(action.text("source"), action.text("topic"), "news"))
        "translate" -> translate(action)
        "none" -> NoAction("none(): not something this assistant does")
        else -> NoAction("${action.intent}: no platform action")
    }

    /** call_contact or send_message once the number is known (a number slot, or the picker's). */
    fun withNumber(action: Action, number: String): Intent =
        if (action.intent == "send_message") {
            Intent(Intent.ACTION_SENDTO, Uri.fromParts("smsto", number, null)).apply {
                action.text("text")?.let { putExtra("sms_body", it) }
            }
        } else {
            Intent(Intent.ACTION_DIAL, Uri.fromParts("tel", number, null))
        }

    /** A phone number as written in a command ("+44 20 7946 0958", "555-0199"), digits kept; else null. */
    fun phoneNumber(contact: String): String? {
        val compact = contact.filterNot { it == ' ' || it == '-' || it == '.' || it == '(' || it == ')' }
        return if (Regex("\\+?[0-9]{3,}").matches(compact)) compact else null
    }

    /** "06:30" -> (6, 30); null when it is not a 24-hour HH:MM (the raw model may write anything). */
    fun clock(time: String): Pair<Int, Int>? {
        val m = Regex("([01][0-9]|2[0-3]):([0-5][0-9])").matchEntire(time) ?: return null
        return m.groupValues[1].toInt() to m.groupValues[2].toInt()
    }

    private fun Action.text(slot: String): String? = slots[slot] as? String

    private fun Action.seconds(slot: String): Long? = (slots[slot] as? Number)?.toLong()

    private fun words(day: String) = day.replace('_', ' ')

    private fun appNote(action: Action) =
        action.text("app")?.let { " (app=$it: no public intent for it, the platform's app is used)" } ?: ""

    private fun alarm(action: Action): Plan {
        val time = action.text("time")
        val (hour, minute) = time?.let(::clock) ?: return NoAction("set_alarm: time=$time is not HH:MM")
        val intent = Intent(AlarmClock.ACTION_SET_ALARM)
            .putExtra(AlarmClock.EXTRA_HOUR, hour)
            .putExtra(AlarmClock.EXTRA_MINUTES, minute)
        val label = action.text("label")
        label?.let { intent.putExtra(AlarmClock.EXTRA_MESSAGE, it) }
        val day = action.text("day")
        val weekday = WEEKDAY[day]
        val days = weekday?.let { listOf(it) } ?: REPEATING[day]
        days?.let { intent.putIntegerArrayListExtra(AlarmClock.EXTRA_DAYS, ArrayList(it)) }
        val repeat = when {
            day == null -> ""
            weekday != null -> ", every ${words(day).replaceFirstChar { it.uppercase() }} (the alarm intent has no date)"
            days != null -> ", ${REPEAT_WORDS[day]}"
            else -> " (${words(day)}: the alarm intent has no date, it rings at the next $time)"
        }
        return Launch(intent, "Set an alarm at $time$repeat${label?.let { ", \"$it\"" } ?: ""}")
    }

    private fun timer(action: Action): Plan {
        val seconds = action.seconds("duration") ?: return NoAction("set_timer: no duration")
        if (seconds < 1 || seconds > MAX_TIMER_SECONDS) {
            return NoAction("set_timer: $seconds s is outside the 1..$MAX_TIMER_SECONDS s a timer intent takes")
        }
        val intent = Intent(AlarmClock.ACTION_SET_TIMER).putExtra(AlarmClock.EXTRA_LENGTH, seconds.toInt())
        val label = action.text("label")
        label?.let { intent.putExtra(AlarmClock.EXTRA_MESSAGE, it) }
        val h = seconds / 3600
        val m = seconds % 3600 / 60
        val s = seconds % 60
        val length = listOfNotNull(if (h > 0) "$h h" else null, if (m > 0) "$m min" else null, if (s > 0) "$s s" else null)
        return Launch(intent, "Start a ${length.joinToString(" ")} timer${label?.let { ", \"$it\"" } ?: ""}")
    }

    private fun contact(action: Action): Plan {
        val contact = action.text("contact") ?: return NoAction("${action.intent}: no contact")
        val verb = if (action.intent == "send_message") {
            "Text ${action.text("text")?.let { "\"$it\" " } ?: ""}to"
        } else {
            "Call"
        }
        val number = phoneNumber(contact)
        return if (number != null) {
            Launch(withNumber(action, number), "$verb $number${appNote(action)}")
        } else {
            PickContact(action, contact, "$verb $contact: pick their number${appNote(action)}")
        }
    }

    private fun navigate(action: Action): Plan {
        val destination = action.text("destination") ?: return NoAction("navigate: no destination")
        val intent = Intent(Intent.ACTION_VIEW, Uri.parse("geo:0,0?q=" + Uri.encode(destination)))
        val mode = action.text("mode")?.let { " ($it: choose it in the maps app)" } ?: ""
        return Launch(intent, "Show $destination on the map$mode")
    }

    private fun music(action: Action): Plan {
        val song = action.text("song")
        val artist = action.text("artist")
        val query = listOfNotNull(song, artist, action.text("query")).joinToString(" ")
        val intent = Intent(MediaStore.INTENT_ACTION_MEDIA_PLAY_FROM_SEARCH).putExtra(SearchManager.QUERY, query)
        // The search modes of the intent's documentation: song, artist, else unstructured ("any" when empty).
        when {
            song != null -> {
                intent.putExtra(MediaStore.EXTRA_MEDIA_FOCUS, MediaStore.Audio.Media.ENTRY_CONTENT_TYPE)
                intent.putExtra(MediaStore.EXTRA_MEDIA_TITLE, song)
                artist?.let { intent.putExtra(MediaStore.EXTRA_MEDIA_ARTIST, it) }
            }
            artist != null -> {
                intent.putExtra(MediaStore.EXTRA_MEDIA_FOCUS, MediaStore.Audio.Artists.ENTRY_CONTENT_TYPE)
                intent.putExtra(MediaStore.EXTRA_MEDIA_ARTIST, artist)
            }
            else -> intent.putExtra(MediaStore.EXTRA_MEDIA_FOCUS, "vnd.android.cursor.item/*")
        }
        return Launch(intent, "Play ${query.ifEmpty { "music" }}${appNote(action)}")
    }

    private fun search(terms: List<String>): Plan {
        val query = terms.joinToString(" ")
        return Launch(Intent(Intent.ACTION_WEB_SEARCH).putExtra(SearchManager.QUERY, query), "Search the web: $query")
    }

    private fun language(code: String): String =
        Locale.forLanguageTag(code).getDisplayLanguage(Locale.ENGLISH).ifEmpty { code }

    private fun translate(action: Action): Plan {
        val text = action.text("text") ?: return NoAction("translate: no text")
        return search(listOfNotNull("translate", "\"$text\"", action.text("source")?.let { "from ${language(it)}" },
            action.text("target")?.let { "to ${language(it)}" }))
    }

    private fun reminder(action: Action, now: Calendar): Plan {
        val text = action.text("text") ?: return NoAction("reminder: no text")
        val intent = Intent(Intent.ACTION_INSERT, CalendarContract.Events.CONTENT_URI)
            .putExtra(CalendarContract.Events.TITLE, text)
        val time = action.text("time")
        val clock = time?.let(::clock)
        if (time != null && clock == null) return NoAction("reminder: time=$time is not HH:MM")
        val day = action.text("day")
        val delay = action.seconds("delay")
        val start: Calendar? = when {
            delay != null -> (now.clone() as Calendar).apply { timeInMillis += delay * 1000 }
            day == null && clock == null -> null
            else -> reminderStart(day, clock, now)
        }
        var note = ""
        if (start != null) {
            intent.putExtra(CalendarContract.EXTRA_EVENT_BEGIN_TIME, start.timeInMillis)
            if (clock == null && delay == null) intent.putExtra(CalendarContract.EXTRA_EVENT_ALL_DAY, true)
            val format = if (clock == null && delay == null) DateFormat.getDateInstance(DateFormat.MEDIUM)
            else DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT)
            note = ", ${format.format(start.time)}"
        } else if (day != null) {
            note = " (${words(day)}: choose the day in the calendar)"
        }
        RRULE[day]?.let { intent.putExtra(CalendarContract.Events.RRULE, it); note += ", repeating ${REPEAT_WORDS[day]}" }
        return Launch(intent, "Add \"$text\" to the calendar$note")
    }

    /**
     * When a reminder of `day` at `clock` (null: all day) falls after `now`: today, tomorrow and
     * the day after as said; a weekday or a repeating set from today on, today only when its
     * clock time is still ahead; null for this_week and next_week (no one day).
     */
    private fun reminderStart(day: String?, clock: Pair<Int, Int>?, now: Calendar): Calendar? {
        val start = (now.clone() as Calendar).apply {
            set(Calendar.HOUR_OF_DAY, clock?.first ?: 0)
            set(Calendar.MINUTE, clock?.second ?: 0)
            set(Calendar.SECOND, 0)
            set(Calendar.MILLISECOND, 0)
        }
        DAYS_AHEAD[day]?.let { start.add(Calendar.DAY_OF_MONTH, it); return start }
        val allowed = if (day == null) REPEATING.getValue("every_day")
        else WEEKDAY[day]?.let { listOf(it) } ?: REPEATING[day] ?: return null
        if (clock != null && !start.after(now)) start.add(Calendar.DAY_OF_MONTH, 1)
        while (start.get(Calendar.DAY_OF_WEEK) !in allowed) start.add(Calendar.DAY_OF_MONTH, 1)
        return start
    }
}
