"""The slot schema of every action: which slots an intent takes, in which order, of which kind.

Plain data, no TensorFlow: the action format (`actions.py`), the dataset generator, the
constrained decoder and the app all read it from here.

Value kinds (how a value is written inside an action):
  time      24-hour `HH:MM` (00:00 .. 23:59); "half past six in the evening" is 18:30.
  day       one word of `DAYS`: a named weekday means the next one (or each one, when the
            command says "every"); `this_week`/`next_week` are for forecasts, news and reminders.
  duration  whole seconds, digits only: "十分钟" is 600, "an hour and a half" is 5400.
  language  a code of `LANGUAGES` (ISO 639-1; Cantonese, which has none, is ISO 639-3 `yue`).
  enum      one of the slot's own `values`.
  verbatim  text copied exactly as it is written in the command (a substring of it): names,
            message text, songs, places, topics. Possessives and articles in front of a name
            ("my", "the", "我") are left out: "call my wife" is `contact=wife`.

Labels are intents, except `out_of_scope`, whose action is `none()`.
"""

import dataclasses

DAYS = ("today", "tomorrow", "day_after_tomorrow",
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "weekdays", "weekend", "every_day", "this_week", "next_week")

LANGUAGES = {  # code: English name (for the README and for people writing data)
    "am": "Amharic", "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "ms": "Malay",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "th": "Thai", "tl": "Tagalog",
    "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "yo": "Yoruba",
    "yue": "Cantonese", "zh": "Chinese (Mandarin)",
}

TRAVEL_MODES = ("driving", "walking", "cycling", "transit")

KINDS = ("time", "day", "duration", "language", "enum", "verbatim")


@dataclasses.dataclass(frozen=True)
class Slot:
    """One slot of an intent: its name, whether the action needs it, its value kind, and the
    allowed values of a `day`, `language` or `enum` slot (empty for the other kinds)."""
    name: str
    required: bool
    kind: str
    values: tuple = ()
    doc: str = ""


def _day(name="day", doc="when"):
    return Slot(name, False, "day", DAYS, doc)


def _verbatim(name, required, doc):
    return Slot(name, required, "verbatim", (), doc)


_LANGS = tuple(sorted(LANGUAGES))

# Intent -> its slots in the order an action writes them. Dict order is the intents' order.
SCHEMA = {
    "set_alarm": (
        Slot("time", True, "time", (), "when it rings"),
        _day(doc="which day(s); absent: the next time that clock time comes"),
        _verbatim("label", False, "the alarm's name, when the command gives one (\"called gym\")"),
    ),
    "set_timer": (
        Slot("duration", True, "duration", (), "how long, in seconds"),
        _verbatim("label", False, "the timer's name, when the command gives one"),
    ),
    "weather": (
        _verbatim("location", False, "a named place; absent: here"),
        _day(doc="which day; absent: now"),
    ),
    "play_music": (
        _verbatim("song", False, "a song title"),
        _verbatim("artist", False, "a singer, band or composer"),
        _verbatim("query", False, "anything else to play: genre, mood, album, playlist"),
        _verbatim("app", False, "a named music app (\"on Spotify\")"),
    ),
    "call_contact": (
        _verbatim("contact", True, "who (name, relation or number)"),
        _verbatim("app", False, "a named calling app (WhatsApp, FaceTime, 微信)"),
    ),
    "send_message": (
        _verbatim("contact", True, "to whom"),
        _verbatim("app", False, "a named messaging app (WhatsApp, Telegram, 微信); absent: SMS"),
        _verbatim("text", False, "what to send, without \"saying\"/\"that\"/\"说\" or quotes"),
    ),
    "navigate": (
        _verbatim("destination", True, "where to (\"nearest pharmacy\", \"home\", \"西湖\")"),
        Slot("mode", False, "enum", TRAVEL_MODES, "how, when the command says so"),
    ),
    "news": (
        _verbatim("topic", False, "what the news is about (a subject or a place)"),
        _verbatim("source", False, "a named outlet or programme (BBC, 新闻联播)"),
    ),
    "translate": (
        _verbatim("text", True, "what to translate, without its quotes"),
        Slot("source", False, "language", _LANGS, "its language, when the command says"),
        Slot("target", False, "language", _LANGS, "the language wanted, when the command says"),
    ),
    "reminder": (
        _verbatim("text", True, "what to be reminded of, without the time words"),
        _day(),
        Slot("time", False, "time", (), "at what clock time"),
        Slot("delay", False, "duration", (), "in how many seconds (\"in 20 minutes\")"),
    ),
    "none": (),
}

NONE_LABEL = "out_of_scope"  # the one label whose action has another name


def intent_of_label(label: str) -> str:
    """The action intent a classifier label stands for."""
    return "none" if label == NONE_LABEL else label


def label_of_intent(intent: str) -> str:
    """The classifier label of an action intent."""
    return NONE_LABEL if intent == "none" else intent


def markdown_table() -> str:
    """The schema as a markdown table (one row per slot), as the README shows it."""
    lines = ["| intent | slot | required | kind | values / meaning |", "| --- | --- | --- | --- | --- |"]
    for intent, slots in SCHEMA.items():
        name = "none (label out_of_scope)" if intent == "none" else intent
        if not slots:
            lines.append(f"| `{name}` | — | | | no slots: `none()` |")
        for slot in slots:
            values = {"day": "a day word", "language": "a language code"}.get(slot.kind)
            if slot.kind == "enum":
                values = " / ".join(slot.values)
            text = f"{values}: {slot.doc}" if values else slot.doc
            lines.append(f"| `{intent}` | `{slot.name}` | {'yes' if slot.required else 'no'} "
                         f"| {slot.kind} | {text.replace('|', '/')} |")
    return "\n".join(lines)
