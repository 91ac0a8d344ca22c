"""Grammar-constrained decoding of actions: which token ids may come next, so that the output
always parses (`actions.parse_action`) and validates against the schema and its command.

TF-free (numpy). A byte-level automaton follows the action format of `actions.py`:

    intent "(" [slot *(", " slot)] ")" eos      slot = name "=" value, names in schema order

with intent and slot names from the schema (required slots may not be skipped, optional ones
may), and a value by the slot's kind: one of its `values` (day, language, enum); `HH:MM` from
00:00 to 23:59 (time); `[1-9][0-9]*` with at most `max_duration_digits` digits (duration);
for verbatim, a substring of the command that starts and ends on a character boundary, with
no space at either end and no line break, written with `\\` before each of `\\ , ( ) =` (the
copy constraint; without a command, any such UTF-8 text of at most `max_free_bytes` bytes).
The language is finite, so every walk through allowed tokens ends with eos.

A token is allowed iff the automaton accepts all its bytes from the current state; the
vocabulary is kept as a byte trie so `allowed` walks only the accepted prefixes, and each
automaton state's mask is computed once (per command for the verbatim states).

    g = Grammar(schema.SCHEMA, tokenizer.vocab_bytes(), tokenizer.eos_id)
    state = g.start("wake me up at 6:30")
    while not g.done(state):
        token = int(np.argmax(np.where(g.allowed(state), logits, -np.inf)))
        state = g.advance(state, token)
"""

import numpy as np

SPECIAL = b"\\,()="  # escaped inside values (actions.SPECIAL, as bytes)
_DIGITS = frozenset(b"0123456789")
_END, _DONE = ("end",), ("done",)


class State:
    """Where decoding of one command stands: the automaton node and the bytes written so far.
    Immutable; `Grammar.advance` returns a new one."""

    __slots__ = ("context", "node", "output")

    def __init__(self, context, node, output: bytes):
        self.context, self.node, self.output = context, node, output

    @property
    def text(self) -> str:
        """The action written so far (an unfinished character shows as U+FFFD)."""
        return self.output.decode("utf-8", errors="replace")


class _Context:
    """One command's bytes, where a copied value may stand, and the caches of the states that
    depend on the command."""

    def __init__(self, command):
        self.command = None if command is None else command.encode("utf-8")
        cb = self.command or b""
        n = len(cb)
        boundary = [e == n or not 0x80 <= cb[e] < 0xC0 for e in range(n + 1)]
        self.starts = frozenset(i for i in range(n) if boundary[i])
        # live[e]: a value copied up to byte e can still be completed (ended on a character
        # boundary, not on a space, without crossing a line break): no walk gets stuck.
        live = [False] * (n + 2)
        for e in range(n, 0, -1):
            live[e] = (boundary[e] and cb[e - 1] != 0x20) or (
                e < n and cb[e] not in b"\r\n" and live[e + 1])
        self.live = frozenset(e for e in range(1, n + 1) if live[e])
        self.has_value = command is None or any(
            cb[i] not in b" \r\n" and i + 1 in self.live for i in self.starts)
        self.steps, self.masks = {}, {}


def _slots(schema) -> dict:
    """intent -> ((name, required, kind, escaped values), ...) from schema.SCHEMA-like data:
    slots with `name`, `required`, `kind`, `values` attributes (or dict keys)."""
    def get(slot, key, default=None):
        return slot.get(key, default) if isinstance(slot, dict) else getattr(slot, key, default)

    out = {}
    for intent, slots in schema.items():
        specs = []
        for slot in slots:
            values = tuple(get(slot, "values", ()) or ())
            kind = "enum" if values else get(slot, "kind")
            kind = None if kind == "enum" and not values else kind
            if kind not in ("enum", "time", "duration", "verbatim"):  # enum: no values given
                raise ValueError(f"slot {intent}.{get(slot, 'name')}: kind {kind!r} without "
                                 "values, or unknown")
            escaped = frozenset(_escape(v.encode("utf-8")) for v in values)
            specs.append((get(slot, "name"), bool(get(slot, "required")), kind, escaped))
        out[intent] = tuple(specs)
    return out


def _escape(value: bytes) -> bytes:
    return b"".join(b"\\" + bytes([c]) if c in SPECIAL else bytes([c]) for c in value)


class Grammar:
    """The allowed-token masks of the action format over a byte-level vocabulary."""

    def __init__(self, schema, vocab_bytes, eos_id: int, max_duration_digits: int = 7,
                 max_free_bytes: int = 64):
        """`schema`: intent -> its slots in order (`schema.SCHEMA`); `vocab_bytes[i]`: the bytes
        of token i (b"" for special tokens, which are never allowed except `eos_id`, allowed
        right after the closing parenthesis and only there)."""
        self.slots = _slots(schema)
        self.vocab_size, self.eos_id = len(vocab_bytes), int(eos_id)
        self.max_duration_digits, self.max_free_bytes = max_duration_digits, max_free_bytes
        self.vocab_bytes = [bytes(b) for b in vocab_bytes]
        self.trie = {}  # byte -> [children, token ids ending here]
        for token_id, data in enumerate(self.vocab_bytes):
            if not data or token_id == self.eos_id:
                continue
            node = None
            children = self.trie
            for b in data:
                node = children.setdefault(b, [{}, []])
                children = node[0]
            node[1].append(token_id)
        # Literal groups, keyed by v: whether verbatim slots can be filled (False for a command
        # with nothing to copy: the intents that require one are left out, the others skip it).
        self.groups = {}
        for v in (True, False):
            self.groups[("intent", v)] = {
                n.encode() + b"(": ("lit", (n, -1, v), b"") for n, specs in self.slots.items()
                if v or not any(req and kind == "verbatim" for _, req, kind, _ in specs)}
            for intent, specs in self.slots.items():
                for j in range(-1, len(specs)):
                    self.groups[(intent, j, v)] = self._alternatives(intent, j, v)
        self.prefixes = {key: self._prefix_bytes(alts) for key, alts in self.groups.items()}
        self.value_prefixes = {(intent, k): self._prefix_bytes(spec[3])
                               for intent, specs in self.slots.items()
                               for k, spec in enumerate(specs) if spec[2] == "enum"}
        self._steps, self._masks = {}, {}  # for the nodes that do not depend on the command

    def _alternatives(self, intent, j, v) -> dict:
        """What may follow slot j of `intent` (j = -1: the opening parenthesis): the next
        slots' `, name=` (no comma first) up to the first required one, and `)` if none is."""
        specs, alts = self.slots[intent], {}
        for k in range(j + 1, len(specs)):
            name, required, kind, _ = specs[k]
            if v or kind != "verbatim":
                alts[(b", " if j >= 0 else b"") + name.encode() + b"="] = (
                    "val", intent, k, self._value_start(kind), v)
            if required:
                return alts
        alts[b")"] = _END
        return alts

    @staticmethod
    def _prefix_bytes(alts) -> dict:
        """Each proper prefix of an alternative -> the bytes that may follow it."""
        nexts = {}
        for alt in alts:
            for i in range(len(alt)):
                nexts.setdefault(alt[:i], set()).add(alt[i])
        return {p: frozenset(bs) for p, bs in nexts.items()}

    @staticmethod
    def _value_start(kind):
        return {"enum": b"", "time": b"", "duration": 0}.get(kind, None)

    # -- the public API ------------------------------------------------------------------------

    def start(self, command: str | None = None) -> State:
        """The state before the first token; verbatim values must be copied from `command`."""
        context = _Context(command)
        return State(context, ("lit", ("intent", context.has_value), b""), b"")

    def done(self, state: State) -> bool:
        """True once eos was taken."""
        return state.node == _DONE

    def complete(self, state: State) -> bool:
        """True when the action is written and only eos may follow."""
        return state.node == _END

    def allowed(self, state: State) -> np.ndarray:
        """The boolean mask [vocab_size] of the tokens that may come next (all False once done).
        The caller must not modify it (it is cached)."""
        node, ctx = state.node, state.context
        mask = ctx.masks.get(node)
        if mask is None:
            mask = self._masks.get(node)
        if mask is None:
            mask = np.zeros(self.vocab_size, dtype=np.bool_)
            local = self._verbatim(node)  # then the mask depends on the command
            if node == _END:
                mask[self.eos_id] = True
            elif node != _DONE:
                ids = []
                stack = [(self.trie, node)]
                while stack:
                    children, at = stack.pop()
                    candidates = self._candidates(at, ctx)
                    if candidates is not None and len(candidates) < len(children):
                        items = ((b, children[b]) for b in candidates if b in children)
                    else:
                        items = children.items()
                    for b, child in items:
                        nxt = self._step(at, b, ctx)
                        if nxt is not None:
                            ids.extend(child[1])
                            if child[0]:
                                local = local or self._verbatim(nxt)
                                stack.append((child[0], nxt))
                mask[ids] = True
            mask.flags.writeable = False
            (ctx.masks if local else self._masks)[node] = mask
        return mask

    def advance(self, state: State, token_id: int) -> State:
        """The state after `token_id`; ValueError if the grammar does not allow it there."""
        token_id, node = int(token_id), state.node
        if token_id == self.eos_id:
            if node != _END:
                raise ValueError(f"eos is not allowed after {state.text!r}")
            return State(state.context, _DONE, state.output)
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id} is outside the vocabulary")
        data = self.vocab_bytes[token_id]
        for b in data:
            node = self._step(node, b, state.context) if node is not None else None
        if node is None or not data:
            raise ValueError(f"token {token_id} ({data!r}) is not allowed after {state.text!r}")
        return State(state.context, node, state.output + data)

    # -- the automaton -------------------------------------------------------------------------

    def _kind(self, node) -> str:
        return self.slots[node[1]][node[2]][2]

    def _verbatim(self, node) -> bool:
        return node[0] == "val" and self._kind(node) == "verbatim"

    def _step(self, node, b: int, ctx):
        """The node after byte `b`, or None; memoised (per command for verbatim nodes)."""
        cache = ctx.steps if self._verbatim(node) else self._steps
        key = (node, b)
        if key in cache:
            return cache[key]
        if node[0] == "lit":
            nxt = self._step_literal(node[1], node[2], b)
        elif node[0] == "val":
            nxt = self._step_value(node, b, ctx)
        else:
            nxt = None
        cache[key] = nxt
        return nxt

    def _step_literal(self, key, prefix: bytes, b: int):
        nexts = self.prefixes[key].get(prefix)
        if nexts is None or b not in nexts:
            return None
        prefix += bytes([b])
        return self.groups[key].get(prefix) or ("lit", key, prefix)

    def _close(self, node, b: int):
        """The value of `node` just ended with `,` or `)`: the separator or the end."""
        return self._step_literal((node[1], node[2], node[4]), b"", b)

    def _step_value(self, node, b: int, ctx):
        _, intent, k, sub, v = node
        kind, values = self.slots[intent][k][2], self.slots[intent][k][3]
        if kind == "enum":
            if b in self.value_prefixes[(intent, k)].get(sub, ()):
                return ("val", intent, k, sub + bytes([b]), v)
            return self._close(node, b) if b in b",)" and sub in values else None
        if kind == "time":
            pos = len(sub)
            ok = (pos == 0 and b in b"012" or pos == 1 and b in (b"0123" if sub == b"2" else _DIGITS)
                  or pos == 2 and b == ord(":") or pos == 3 and b in b"012345"
                  or pos == 4 and b in _DIGITS)
            if ok:
                return ("val", intent, k, sub + bytes([b]), v)
            return self._close(node, b) if pos == 5 and b in b",)" else None
        if kind == "duration":
            if b in _DIGITS and (sub > 0 or b != ord("0")) and sub < self.max_duration_digits:
                return ("val", intent, k, sub + 1, v)
            return self._close(node, b) if sub > 0 and b in b",)" else None
        return self._step_verbatim(node, b, ctx)

    def _step_verbatim(self, node, b: int, ctx):
        """Verbatim sub-state: (end positions of the copied bytes in the command, or the byte
        count and UTF-8 state without a command; escape pending; the last value byte or -1)."""
        sub = node[3]
        if sub is None:  # the value's first byte
            sub = (ctx.starts, False, -1) if ctx.command is not None else (0, 0, False, -1)
        if ctx.command is None:
            return self._step_free(node, sub, b)
        ends, escaping, last = sub
        cb, n = ctx.command, len(ctx.command)
        if not escaping:
            if b in b",)":
                closes = last not in (-1, 0x20) and any(
                    e == n or not 0x80 <= cb[e] < 0xC0 for e in ends)
                return self._close(node, b) if closes else None
            if b == 0x5C:  # a backslash: the next byte is a special one, copied
                if any(e < n and cb[e] in SPECIAL and e + 1 in ctx.live for e in ends):
                    return node[:3] + ((ends, True, last), node[4])
                return None
            if b in b"(=\r\n" or (last == -1 and b == 0x20):
                return None
        elif b not in SPECIAL:
            return None
        live = ctx.live
        moved = frozenset(e + 1 for e in ends if e < n and cb[e] == b and e + 1 in live)
        return node[:3] + ((moved, False, b), node[4]) if moved else None

    def _step_free(self, node, sub, b: int):
        """Without a command: any UTF-8 text (escaped, no line break, no edge space) of at most
        `max_free_bytes` bytes; a space only where a byte can still follow it."""
        size, pending, escaping, last = sub  # pending: (lo, hi, count) of continuation bytes
        room = self.max_free_bytes - size
        if pending:
            lo, hi, left = pending
            if not lo <= b <= hi:
                return None
            nxt = (0x80, 0xBF, left - 1) if left > 1 else 0
            return node[:3] + ((size + 1, nxt, False, b), node[4])
        if escaping:
            return node[:3] + ((size + 1, 0, False, b), node[4]) if b in SPECIAL else None
        if b in b",)":
            return self._close(node, b) if last not in (-1, 0x20) else None
        if b == 0x5C:
            return node[:3] + ((size + 1, 0, True, last), node[4]) if room >= 2 else None
        if b in b"(=\r\n" or (b == 0x20 and (last == -1 or room < 2)):
            return None
        need = 0 if b < 0x80 else 1 if 0xC2 <= b <= 0xDF else 2 if 0xE0 <= b <= 0xEF else \
            3 if 0xF0 <= b <= 0xF4 else -1
        if need < 0 or 1 + need > room:
            return None
        if need == 0:
            return node[:3] + ((size + 1, 0, False, b), node[4])
        lo, hi = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF),
                  0xF4: (0x80, 0x8F)}.get(b, (0x80, 0xBF))  # no overlong, surrogate, > U+10FFFF
        return node[:3] + ((size + 1, (lo, hi, need), False, b), node[4])

    def _candidates(self, node, ctx):
        """A superset of the bytes `node` accepts when it is small to list; None otherwise."""
        if node[0] == "lit":
            return self.prefixes[node[1]].get(node[2], ())
        if node[0] != "val":
            return ()
        kind = self._kind(node)
        if kind == "enum":
            return self.value_prefixes[node[1:3]].get(node[3], frozenset()) | {0x2C, 0x29}
        if kind in ("time", "duration"):
            return _DIGITS | {ord(":"), ord(","), ord(")")}
        if kind == "verbatim" and ctx.command is not None:
            sub = node[3]
            ends = ctx.starts if sub is None else sub[0]
            cb = ctx.command
            return {cb[e] for e in ends if e < len(cb)} | {0x5C, ord(","), ord(")")}
        return None
