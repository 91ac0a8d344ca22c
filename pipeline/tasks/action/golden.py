"""The action task's part of the app support: its golden.json sections and bundle files.

`Task.golden` and `Task.bundle_files` call `golden` and `bundle_files` here; export.app.golden
writes the file. Sections (what a port of the tokenizer, decode loop and parser must give):

  action_tokenizer  {"cases": [{"text", "ids" (tokenizer.encode), "prompt_ids" (bos text
                    sep), "decoded" (decode(ids) == text)}]}: the evaluation commands and hard
                    texts (accents, CJK, emoji, digits, runs of spaces, tabs, control bytes).
  action            {"model_file", "model_sha256", "max_new_tokens", "special_ids",
                    "cases": [{"command", "prompt_ids", "generated_ids" (greedy, no grammar,
                    eos included when reached), "action" (their text), "constrained_ids" and
                    "constrained_action" (with the grammar mask), "parsed"}]}: from the fp32
                    file on the CPU, as `export.runtime.assistant` decodes.
  action_parser     {"cases": [{"text", "parsed" ({"intent", "slots"}) or "error": true}]}:
                    `actions.parse_action` on well-formed and broken action strings.
"""

from __future__ import annotations

import os
import random

from export import contract

HARD_TEXTS = ("", " ", "  two  spaces ", "tab\there", "Ana Lucía", "Zoë's café 9:45",
              "给妈妈发微信说我晚点到", "提醒我 3点 开会", "emoji 🎵 and ☕", "ÅÄÖ åäö ß",
              "line\nbreak", "control \x07 byte", "mixed 中文 and English 123",
              "a\u00a0no-break space", "naïve résumé", "١٢٣ arabic digits", "O'Brien-Smith")
PARSER_TEXTS = ("set_alarm(time=06:30, day=tomorrow)", "none()",
                "send_message(contact=妈妈, app=微信, text=我晚点到)",
                "call_contact(contact=Ana Lucía)", "translate(text=a\\, b, target=fr)",
                "set_timer(duration=600)", "weather()", "set_alarm(", "play_music(song=)",
                "unknown_intent()", "set_alarm(time=6:30)", "navigate(destination=home, mode=fly)",
                "set_alarm(time=06:30) trailing", "")


def _tokenizer_cases(tok, texts) -> list:
    from export.contract import UserError

    cases = []
    for text in texts:
        try:
            ids = tok.encode(text)
        except UserError:  # a pretrained vocabulary may lack a byte (SmolLM2: 0x04): no case
            continue
        cases.append({"text": text, "ids": ids, "prompt_ids": tok.encode_example(text),
                      "decoded": tok.decode(ids)})
    return cases


def _parser_cases(extra) -> list:
    from pipeline.tasks.action import actions

    cases = []
    for text in (*PARSER_TEXTS, *extra):
        try:
            cases.append({"text": text, "parsed": actions.parse_action(text)})
        except ValueError:
            cases.append({"text": text, "error": True})
    return cases


def golden(export_dir: str, manifest: contract.Manifest, seed: int, eval_texts=None,
           count: int = 40) -> dict:
    """`Task.golden`: the three sections, on `count` seeded evaluation commands (`eval_texts`,
    else the export's check_commands.json)."""
    from export.app import golden as app_golden
    from export.runtime.assistant import Assistant

    model_name, _ = app_golden.fp32_model(export_dir, manifest)
    assistant = Assistant(os.path.join(export_dir, model_name))
    tok = assistant.tok
    if not eval_texts:  # `python -m export.golden <dir>`: the commands saved beside the files
        from pipeline.tasks.action.export_spec import CHECK_COMMANDS, read_check_commands
        eval_texts = read_check_commands(os.path.join(export_dir, CHECK_COMMANDS))["commands"]
    commands = list(eval_texts)
    commands = random.Random(seed).sample(commands, min(count, len(commands)))
    cases, actions_written = [], []
    for command in commands:
        free = assistant.act(command, constrained=False)
        bound = assistant.act(command)
        actions_written += [free["action"], bound["action"]]
        cases.append({"command": command, "prompt_ids": bound["prompt_ids"],
                      "generated_ids": free["generated_ids"], "action": free["action"],
                      "constrained_ids": bound["generated_ids"],
                      "constrained_action": bound["action"], "parsed": bound["parsed"]})
    return {
        "action_tokenizer": {"cases": _tokenizer_cases(tok, [*HARD_TEXTS, *commands])},
        "action": {"model_file": model_name, "model_sha256": manifest.files[model_name].sha256,
                   "max_new_tokens": 64,
                   "special_ids": {"pad": tok.pad_id, "bos": tok.bos_id, "eos": tok.eos_id,
                                   "sep": tok.sep_id}, "cases": cases},
        "action_parser": {"cases": _parser_cases(actions_written)},
    }


def bundle_files(manifest: contract.Manifest) -> list:
    """`Task.bundle_files`: the tokenizer's files, with their digests from the manifest."""
    from pipeline.tasks.action.export_spec import manifest_tokenizer_files

    sha = (manifest.get("tokenizer") or {}).get("sha256", {})
    return [(name, sha.get(name)) for name in manifest_tokenizer_files(manifest)]
