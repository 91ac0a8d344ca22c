"""The action string a command turns into, and its parser: `intent(slot=value, slot=value)`.

TensorFlow-free (stdlib only): the phone's runtime, `export.predict` and the grammar-constrained
decoder use it as it is. An action as data is `{"intent": str, "slots": {name: value}}`, values
`str`, except durations, which are `int` seconds.

Grammar (exact: one action has exactly one spelling; `schema.SCHEMA` gives intents and slots):

    action  = intent "(" [ slot *( ", " slot ) ] ")"
    intent  = a key of SCHEMA                      e.g. set_alarm, none
    slot    = name "=" value                       no spaces around "="
    name    = a slot of that intent; slots appear in schema order, each at most once
    value   = 1*vchar, not starting or ending with a space
    vchar   = "\\" special | any character except special, CR and LF
    special = "\\" | "," | "(" | ")" | "="

Only those five characters are escaped (with a backslash), and only inside values; nothing
else is (no quotes, no \\n, no \\uXXXX). The separator is exactly a comma and one space. A
duration is `[1-9][0-9]*`. Nothing may precede the intent or follow the closing parenthesis.
Examples: `set_alarm(time=06:30, day=tomorrow)`, `none()`,
`send_message(contact=妈妈, app=微信, text=我晚点到)`, `send_message(contact=Rosa, text=sure\\, 7 works)`.

`parse_action` checks the grammar, the intent, the slot names and their order; `validate` then
checks an action against the schema and its command: required slots, allowed values, `HH:MM`
in range, durations > 0, verbatim values copied from the command.
"""

import re

from pipeline.tasks.action.schema import SCHEMA

SPECIAL = "\\,()="
_INTENT = re.compile(r"[a-z_]+\(")
_NAME = re.compile(r"[a-z_]+=")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DURATION = re.compile(r"[1-9][0-9]*")


def _escape(value: str) -> str:
    return "".join("\\" + c if c in SPECIAL else c for c in value)


def _slot_order(intent: str, names, where: str) -> dict:
    """The schema's slots of `intent` by name; ValueError unless `names` are some of them, in
    schema order, each once."""
    if intent not in SCHEMA:
        raise ValueError(f"{where}: unknown intent '{intent}' (intents: {', '.join(SCHEMA)})")
    slots = {s.name: s for s in SCHEMA[intent]}
    order = [n for n in slots if n in names]
    for name in names:
        if name not in slots:
            known = ", ".join(slots) or "none"
            raise ValueError(f"{where}: {intent} has no slot '{name}' (its slots: {known})")
    if list(names) != order:
        raise ValueError(f"{where}: slots of {intent} must come in the order {', '.join(slots)}")
    return slots


def format_action(action: dict) -> str:
    """`{"intent": "set_alarm", "slots": {"time": "06:30"}}` -> `set_alarm(time=06:30)`.

    Slots are written in schema order whatever the dict's order; ValueError for an unknown
    intent or slot, or a value that cannot be written (empty, edge spaces, a line break, a
    duration that is not a positive int)."""
    intent, given = action.get("intent"), action.get("slots") or {}
    where = f"action {action!r}"
    if not isinstance(intent, str):
        raise ValueError(f"{where}: 'intent' must be a string")
    if intent not in SCHEMA:
        _slot_order(intent, [], where)
    names = [s.name for s in SCHEMA[intent] if s.name in given]
    slots = _slot_order(intent, names + [n for n in given if n not in names], where)
    parts = []
    for name in slots:
        if name not in given:
            continue
        value = given[name]
        if slots[name].kind == "duration":
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{where}: {name} must be a positive int (seconds)")
            value = str(value)
        elif not isinstance(value, str):
            raise ValueError(f"{where}: {name} must be a string, not {type(value).__name__}")
        if not value or value != value.strip(" ") or "\n" in value or "\r" in value:
            raise ValueError(f"{where}: {name}={value!r} is empty, has edge spaces or a line break")
        parts.append(f"{name}={_escape(value)}")
    return f"{intent}({', '.join(parts)})"


def parse_action(text: str) -> dict:
    """`set_alarm(time=06:30, day=tomorrow)` -> `{"intent": "set_alarm", "slots": {...}}`.

    ValueError naming the position and what was expected when `text` breaks the grammar, names
    an unknown intent or slot, or puts slots out of schema order."""
    if not isinstance(text, str):
        raise ValueError(f"action must be a string, not {type(text).__name__}")
    where = f"action {text!r}"
    m = _INTENT.match(text)
    if not m:
        raise ValueError(f"{where}: expected an intent name and '(' at the start")
    intent, i, slots = m.group()[:-1], m.end(), {}
    if intent not in SCHEMA:
        _slot_order(intent, [], where)
    while not text.startswith(")", i) or slots:
        m = _NAME.match(text, i)
        if not m:
            raise ValueError(f"{where}: at {i}: expected a slot name and '='"
                             + (" or ')'" if not slots else ""))
        name, i, value = m.group()[:-1], m.end(), []
        while i < len(text) and text[i] not in ",()=\r\n":
            if text[i] == "\\":
                if i + 1 >= len(text) or text[i + 1] not in SPECIAL:
                    raise ValueError(f"{where}: at {i}: '\\' must be followed by one of {SPECIAL}")
                i += 1
            value.append(text[i])
            i += 1
        value = "".join(value)
        if not value or value != value.strip(" "):
            raise ValueError(f"{where}: at {i}: {name} has an empty value or edge spaces")
        if name in slots:
            raise ValueError(f"{where}: slot '{name}' given twice")
        slots[name] = value
        if text.startswith(", ", i):
            i += 2
        elif text.startswith(")", i):
            break
        else:
            found = repr(text[i]) if i < len(text) else "the end"
            raise ValueError(f"{where}: at {i}: expected ', ' or ')' after {name}, found {found}"
                             + (" (escape it with '\\')" if i < len(text) and text[i] in SPECIAL
                                else ""))
    if i + 1 != len(text):
        raise ValueError(f"{where}: at {i + 1}: text after the closing ')'")
    schema = _slot_order(intent, list(slots), where)
    for name, value in slots.items():
        if schema[name].kind == "duration":
            if not _DURATION.fullmatch(value):
                raise ValueError(f"{where}: {name}={value} is not a number of seconds")
            slots[name] = int(value)
    return {"intent": intent, "slots": slots}


def problems(action, command: str) -> list:
    """What is wrong with `action` (a string or a dict) as the action of `command`: [] if
    nothing. Unparseable strings give their parse error."""
    try:
        action = parse_action(action) if isinstance(action, str) else parse_action(
            format_action(action))
    except ValueError as e:
        return [str(e)]
    intent, given, found = action["intent"], action["slots"], []
    for slot in SCHEMA[intent]:
        if slot.name not in given:
            if slot.required:
                found.append(f"{intent}: the required slot '{slot.name}' is missing")
            continue
        value = given[slot.name]
        if slot.values and value not in slot.values:
            found.append(f"{intent}: {slot.name}={value} is not one of {', '.join(slot.values)}")
        elif slot.kind == "time" and not _TIME.fullmatch(value):
            found.append(f"{intent}: {slot.name}={value} is not a 24-hour HH:MM time")
        elif slot.kind == "verbatim" and value not in command:
            found.append(f"{intent}: {slot.name}={value!r} is not written in the command")
    return found


def validate(action, command: str) -> dict:
    """The parsed action if it fits the schema and `command`; ValueError listing what does not."""
    found = problems(action, command)
    if found:
        raise ValueError("; ".join(found))
    return parse_action(action) if isinstance(action, str) else parse_action(format_action(action))
