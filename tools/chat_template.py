#!/usr/bin/env python3
"""THE prompt format of the shipped API-calling model.

lua/mobilellm/chat.lua mirrors this byte for byte; change both or neither.

  prompt text = tools line + one line per message + "Assistant:"
    tools line        "Tools: " + " ".join(api_line(a) for a in apis) + "\n"
    api_line(a)       name + "(" + ",".join(param + ("" if required else "?")) + ")"
    user message      "User: " + content + "\n"
    assistant message "Assistant: " + render_assistant(call, content) + "\n"
  prompt ids = [1] + sp.encode(prompt text)              (1 = <s>)
  target ids = sp.encode(render_assistant(call, reply)) + [2]   (2 = </s>)

render_assistant(call, reply) = ("<tool_call>" + render_call(call) + "</tool_call> " if call else "") + reply
render_call(call) = name(k="v", n=3, b=true), args in apis.json parameter order, strings
double-quoted with backslash and double quote escaped, integers bare, booleans true/false.
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APIS_PATH = os.path.join(ROOT, "models", "mobilellm-tiny-api", "apis.json")
TOKENIZER_PATH = os.path.join(ROOT, "models", "llama2-tokenizer", "tokenizer.model")
BOS_ID = 1
EOS_ID = 2

_apis_cache = None


def load_apis(path=APIS_PATH):
    global _apis_cache
    if path == APIS_PATH and _apis_cache is not None:
        return _apis_cache
    with open(path, encoding="utf-8") as f:
        apis = json.load(f)["apis"]  # json keeps object key order (= parameter order)
    if path == APIS_PATH:
        _apis_cache = apis
    return apis


def api_parameters(name, apis=None):
    """The parameters object of the API called name (KeyError names an unknown one)."""
    for a in load_apis() if apis is None else apis:
        if a["name"] == name:
            return a["parameters"]
    raise KeyError("unknown API: %s" % name)


def api_line(a):
    return a["name"] + "(" + ",".join(
        p + ("" if spec.get("required") else "?") for p, spec in a["parameters"].items()) + ")"


def tools_line(apis=None, describe=False):
    """describe: each tool followed by ": " and its description (issue #39's format, not yet the
    shipped model's nor chat.lua's)."""
    apis = load_apis() if apis is None else apis
    if describe:
        return "Tools: " + " ".join(api_line(a) + (": " + a["description"] if a.get("description") else "")
                                    for a in apis) + "\n"
    return "Tools: " + " ".join(api_line(a) for a in apis) + "\n"


def _render_value(v):
    if isinstance(v, bool):  # before int: bool is an int subclass
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):  # as a request says it: 12.5, 500 (training/dataset/toolsets.py)
        return "%g" % v
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError("unsupported argument value %r" % (v,))


def render_call(call, apis=None):
    apis = load_apis() if apis is None else apis
    by_name = {a["name"]: a for a in apis}
    name, args = call["name"], call.get("args") or {}
    order = list(by_name[name]["parameters"].keys()) if name in by_name else []
    keys = [k for k in order if k in args] + [k for k in args if k not in order]
    return name + "(" + ", ".join(k + "=" + _render_value(args[k]) for k in keys) + ")"


def render_tool_call(call, apis=None):
    """The call as the model writes it, tags included."""
    return "<tool_call>" + render_call(call, apis) + "</tool_call>"


def render_assistant(call, reply, apis=None):
    head = (render_tool_call(call, apis) + " ") if call else ""
    return head + reply


def prompt_text(messages, apis=None, describe=False):
    parts = [tools_line(apis, describe)]
    for m in messages:
        if m["role"] == "user":
            parts.append("User: " + m["content"] + "\n")
        elif m["role"] == "assistant":
            parts.append("Assistant: " + render_assistant(m.get("call"), m["content"], apis) + "\n")
        else:
            raise ValueError("unknown role %r" % (m["role"],))
    parts.append("Assistant:")
    return "".join(parts)


def load_tokenizer(path=TOKENIZER_PATH):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=path)


def prompt_ids(sp, messages, apis=None, describe=False):
    return [BOS_ID] + sp.encode(prompt_text(messages, apis, describe))


def target_ids(sp, call, reply, apis=None):
    return sp.encode(render_assistant(call, reply, apis)) + [EOS_ID]


if __name__ == "__main__":
    sp = load_tokenizer()
    msgs = [{"role": "user", "content": "can you wake me up at 6:15 am tomorrow"}]
    print(repr(prompt_text(msgs)))
    print(prompt_ids(sp, msgs))
    call = {"name": "set_alarm", "args": {"day": "tomorrow", "time": "6:15 am"}}
    print(repr(render_assistant(call, "Alarm set for 6:15 am tomorrow.")))
    print(target_ids(sp, call, "Alarm set for 6:15 am tomorrow."))
