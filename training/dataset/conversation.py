"""Conversations: template expansion, the noise on literal words (typos, casing, training-only
fillers, drops and vocabulary-word swaps), and Gen, which draws whole conversations of one split
(single requests, clarifications, follow-ups, no-call turns) with their expected call and reply."""
import random
import re

import chat_template
from dataset.extra_templates import (BARE_HOUR_LEVEL, IMPERATIVE_PREFIXES_EXTRA, LATE_POOLS, LEAD_INS_EXTRA,
                                     NOCALL_EXTRA_LEVELS, PREFIXES_EXTRA, SUFFIXES_EXTRA, T_EXTRA_LEVELS)
from dataset.templates import (APP_SURF, CLARIFY, FOLLOWUP, FREE_SLOTS, IMPERATIVE_START, MODE_ADJ, MODE_BY,
                               MUSIC_FOLLOWUP, NOCALL, NOCALL_WEIGHTS, PREFIXES, SETTING_SURF, SUFFIXES, T,
                               WEATHER_AGAIN, reply_for)
from dataset.values import RELATIVE_DAYS, VENUE_WORDS, bare_hours, build_values, pseudo_word_pieces

# ----------------------------------------------------------------------------------------------
# Template expansion
# ----------------------------------------------------------------------------------------------
TOKEN_RE = re.compile(r"\{(\w+)\}")


def expand_alternatives(s, rng):
    return re.sub(r"\(([^()]*\|[^()]*)\)", lambda m: rng.choice(m.group(1).split("|")), s)


def expand_optionals(s, rng, p_keep):
    """Returns the text with [..] parts kept or dropped."""
    return re.sub(r"\[([^\[\]]*)\]", lambda m: m.group(1) if rng.random() < p_keep else "", s)


def typo(word, rng):
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    k = rng.random()
    if k < 0.3:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if k < 0.55:
        return word[:i] + word[i + 1:]
    if k < 0.8:
        return word[:i] + word[i] + word[i:]
    near = {"a": "s", "s": "a", "e": "r", "r": "e", "i": "o", "o": "i", "n": "m", "m": "n",
            "t": "y", "l": "k", "u": "i", "h": "j", "d": "s", "c": "v"}
    return word[:i] + near.get(word[i], word[i]) + word[i + 1:]


FILLERS = ["um", "uh", "like", "just", "so", "actually", "ok", "hmm", "er", "well"]
# Words a --variety swap never replaces: they decide an argument (on/off, video, shuffle).
KEEP_WORDS = {"video", "facetime", "shuffle", "shuffled", "random", "enable", "disable", "activate",
              "deactivate", "switch", "turn", "shut", "kill", "start", "stop", "power"}


def augment_literal(text, style, first=False):
    """Training-only noise on a literal piece (never on a slot value), drawn from the style's own
    generator so that the rest of the data, and the whole test split, stay as they were: one
    filler word inserted between two words, or one short word dropped, at most once a message;
    with --variety also one word swapped for a random vocabulary word (an unknown word the model
    must read past, as it meets in held-out phrasings). With --variety 10 the first word of a
    request (first: the piece starts the template) may be swapped the same way: a held-out request often
    opens with a verb the model never saw, capitalised like a name ("Check Cebu weather"), and
    the model took it for the value's first word."""
    aug = style.get("aug")
    if not aug:
        return text
    words = text.split(" ")
    if first and style.get("swap_first"):
        if words[0].isalpha() and len(words[0]) >= 3 and words[0].lower() not in KEEP_WORDS:
            words[0] = aug.choice(style["swap_words"])
        style["swap_first"] = False
    inner = [i for i in range(1, len(words)) if words[i - 1] and words[i]]
    if style.get("filler") and inner:
        i = aug.choice(inner)
        words.insert(i, aug.choice(FILLERS))
        style["filler"] = False
    elif style.get("drop") and sum(1 for w in words if w) >= 3:
        short = [i for i, w in enumerate(words) if 0 < len(w) <= 4 and w.isalpha()]
        if short:
            del words[aug.choice(short)]
            style["drop"] = False
    if style.get("swap") and sum(1 for w in words if w) >= 3:
        cands = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha() and w.lower() not in KEEP_WORDS]
        if cands:
            words[aug.choice(cands)] = aug.choice(style["swap_words"])
            style["swap"] = False
    if style.get("insert") and inner:
        words.insert(aug.choice(inner), aug.choice(style["swap_words"]))
        style["insert"] = False
    return " ".join(words)


def style_literal(text, rng, style, first=False):
    """Casing / typos on a literal (non-slot) piece of a user message."""
    text = augment_literal(text, style, first)
    if style.get("typo") and rng.random() < 0.5:
        words = text.split(" ")
        cands = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if cands:
            i = rng.choice(cands)
            words[i] = typo(words[i], rng)
            text = " ".join(words)
            style["typo"] = False  # at most one typo per message
    return text


def fill_template(tmpl, slots, rng, style):
    """Fill {slot}s with values (dict slot -> surface string); literal text gets the style."""
    parts = TOKEN_RE.split(tmpl)
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(style_literal(part, rng, style, first=(i == 0)))
        else:
            out.append(slots[part])
    return "".join(out)


def finish_message(text, rng, split, last_slot, style, variety=0):
    """Wrappers, casing and punctuation around a filled user message."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ([,:?!.])", r"\1", text)
    if variety and rng.random() < 0.08 and IMPERATIVE_START.match(text):
        text = rng.choice(IMPERATIVE_PREFIXES_EXTRA) + " " + text
    elif variety >= 4 and rng.random() < 0.08:
        text = rng.choice(LEAD_INS_EXTRA) + " " + text
    elif rng.random() < 0.18:
        pre = rng.choice(PREFIXES[split] + (PREFIXES_EXTRA if variety >= 9 else []))
        if pre == "could you" and not IMPERATIVE_START.match(text):
            pre = "hey"
        text = pre + " " + text
    if rng.random() < 0.18 and last_slot not in FREE_SLOTS and not text.endswith("?"):
        suffixes = SUFFIXES[split] + (SUFFIXES_EXTRA if variety >= 9 else [])
        text = text + (", " if rng.random() < 0.5 else " ") + rng.choice(suffixes)
    if style.get("cap") and text[:1].isalpha() and text[:1].islower():
        text = text[0].upper() + text[1:]
    if not text.endswith(("?", "!", ".", ":")) and last_slot not in FREE_SLOTS:
        k = rng.random()
        if k < 0.12:
            text += "."
        elif k < 0.17:
            text += "!"
    return text


def make_style(rng):
    return {"typo": rng.random() < 0.12, "cap": rng.random() < 0.4}


# --variety 11: the share of the time-taking calls whose time is a bare hour ("wake me at 7"), and of
# the bare-hour alarms and reminders with a day slot whose day is a relative one ("at 7 tomorrow";
# an event's day comes first, "on friday at 7", and keeps its usual draw).
BARE_HOUR_SHARE = {"set_alarm": 0.3, "create_reminder": 0.2, "create_event": 0.2}
BARE_HOUR_RELATIVE_DAY = {"set_alarm": 0.5, "create_reminder": 0.5}


class Gen:
    def __init__(self, split, seed, n_seed_offset=0, coverage=None, augment=False, variety=0, values=None):
        """split picks the phrasings and the random streams; values (default: split) the value
        pools, which only training/cross_split.py sets to the other split."""
        self.split = split
        # 0-5: which extra pools (3 and up: value noise; 5: pseudo-words in values)
        self.variety = variety if split == "train" else 0
        self.rng = random.Random(seed * 31 + (1 if split == "test" else 0) + n_seed_offset)
        # training-only phrasing noise (augment_literal, --augment) has a generator of its own
        self.aug = random.Random(seed * 97 + 5 + n_seed_offset) if augment and split == "train" else None
        self.v = build_values(values or split, seed)
        self.coverage = coverage  # (cap_words, low_words) for train only
        self.pieces = pseudo_word_pieces() if self.variety >= 5 else None
        self.excluded = set()

    def style(self, r):
        """make_style, plus in the training split the noise of augment_literal."""
        st = make_style(r)
        if self.aug:
            st.update(aug=self.aug, filler=self.aug.random() < 0.25, drop=self.aug.random() < 0.15)
            if self.variety:
                st.update(swap=self.aug.random() < 0.12, swap_words=self.coverage[1])
            if self.variety >= 6:
                # level 6: a held-out phrasing is mostly known words around one or two the model
                # never saw; more messages get a swapped word, and some an inserted one
                st.update(swap=st["swap"] or self.aug.random() < 0.2, insert=self.aug.random() < 0.12)
        return st

    def extra(self, key, levels):
        """The --variety phrasings for key: those of every level up to self.variety, in order."""
        out = [x for pool in levels[:self.variety] for x in pool[key]]
        for level, pools in sorted(LATE_POOLS.items()):
            if self.variety >= level:
                out += pools[0 if levels is T_EXTRA_LEVELS else 1][key]
        return out

    # ---- slot values -------------------------------------------------------------------------
    def _maybe_lower(self, s, p=0.12):
        return s.lower() if self.rng.random() < p else s

    def value(self, slot):
        r, v = self.rng, self.v
        cov = self.coverage
        if slot == "time":
            return r.choice(v["time"])
        if slot == "day":
            return r.choice(v["day"])
        if slot == "duration":
            return r.choice(v["duration"])
        if slot in ("recipient", "name"):
            if cov and r.random() < 0.5:
                w = r.choice(cov[0])
                val = w if r.random() < 0.6 else w + " " + r.choice(cov[0])
            else:
                val = r.choice(v["contact"])
            return self._maybe_lower(val, 0.08)
        if slot == "city":
            if cov and r.random() < 0.5:
                val = r.choice(cov[0])
                if r.random() < 0.4:
                    val += " " + r.choice(["City", "Beach", "Springs", "Falls", "Heights", "Hills",
                                           "Bay", "Valley", "Harbor", "Park", "Island", "Lake"])
            else:
                val = r.choice(v["city"])
            return self._maybe_lower(val, 0.1)
        if slot == "alarm_label":
            if cov and r.random() < 0.4:
                return r.choice(cov[1]) + (" " + r.choice(cov[1]) if r.random() < 0.4 else "")
            return r.choice(v["alarm_label"])
        if slot == "timer_label":
            if cov and r.random() < 0.4:
                return r.choice(cov[1]) + (" " + r.choice(cov[1]) if r.random() < 0.4 else "")
            return r.choice(v["timer_label"])
        if slot == "text_reminder":
            return r.choice(v["reminder_text"])
        if slot == "text_message":
            if cov and r.random() < 0.3:
                return " ".join(r.choice(cov[1]) for _ in range(r.randint(1, 4)))
            return r.choice(v["message_text"])
        if slot == "title":
            if cov and r.random() < 0.35:
                return r.choice(cov[1]) + (" " + r.choice(cov[1]) if r.random() < 0.5 else "")
            return r.choice(v["event_title"])
        if slot == "location":
            if cov and r.random() < 0.4:
                return r.choice(cov[0]) + " " + r.choice(VENUE_WORDS)
            return r.choice(v["location"])
        if slot == "destination":
            if cov and r.random() < 0.4:
                return r.choice(cov[0]) + " " + r.choice(["Street", "Park", "Station", "Mall", "Square"])
            return r.choice(v["destination"])
        if slot == "music_query":
            if cov and r.random() < 0.45:
                return r.choice(cov[0]) + (" " + r.choice(cov[0]) if r.random() < 0.5 else "")
            return r.choice(v["music_query"])
        if slot == "web_query":
            if cov and r.random() < 0.3:
                return " ".join(r.choice(cov[1]) for _ in range(r.randint(1, 4)))
            return r.choice(v["web_query"])
        if slot == "level":
            return int(r.choice(v["level"]))
        raise KeyError(slot)

    # Slot kinds whose value --variety 3 may lengthen by a word; names and places get capitalised words.
    NOISY_KINDS = {"text_message", "text_reminder", "title", "web_query", "music_query", "location",
                   "destination", "alarm_label", "timer_label", "recipient", "name", "city"}
    PROPER_KINDS = {"recipient", "name", "city", "music_query", "location", "destination"}

    def value_noise(self, kind, val):
        """--variety 3: in a quarter of the free-text values one vocabulary word is added at the
        end, put first, or replaces the last word. Held-out values end in words the model has never
        seen (names, places), and it tends to close the string one word early; this shows it that
        an unknown word inside a value still belongs to it. Drawn from the noise generator.
        --variety 5: in 40 % of them, and the word is most often a pseudo-word (pseudo_word)."""
        a = self.aug
        if kind not in self.NOISY_KINDS or a.random() >= (0.4 if self.variety >= 5 else 0.25):
            return val
        proper = kind in self.PROPER_KINDS
        if self.variety >= 5 and a.random() < 0.6:
            w = self.pseudo_word(proper or a.random() < 0.3)
        else:
            cap, low = self.coverage
            w = a.choice(cap if proper or a.random() < 0.5 else low)
        k = a.random()
        words = val.split(" ")
        if k < 0.5:
            return val + " " + w
        if k < 0.75 and proper:
            return w + " " + val
        if len(words) >= 2:
            return " ".join(words[:-1] + [w])
        return val + " " + w

    def first_word_noise(self, kind, val):
        """--variety 6: in 15 % of the names, places and songs the first word becomes a
        pseudo-word. Inside a call the first word is spelt without its leading space ('="Tobias'
        -> 'T', 'ob', 'ias' where the user's text has '▁Tob', 'ias'), so the model must know each
        word-start piece's spelling; a held-out value whose first word it cannot spell is
        started one word late ("King" for "Tobias King"). Pseudo-words spread that spelling
        over the rare pieces."""
        a = self.aug
        if kind not in self.PROPER_KINDS or not isinstance(val, str) or a.random() >= 0.15:
            return val
        words = val.split(" ")
        words[0] = self.pseudo_word(not words[0][:1].islower())
        return " ".join(words)

    def pseudo_word(self, capital):
        """A word start piece and zero to two continuation pieces of the vocabulary, drawn
        uniformly (most are rare in the rest of the data): 'Garshipola'."""
        a = self.aug
        starts, conts = self.pieces
        w = a.choice(starts) + "".join(a.choice(conts) for _ in range(a.choice((0, 1, 1, 2))))
        return w[0].upper() + w[1:] if capital else w.lower()

    def bare_hour_time(self, api):
        """--variety 11: whether this call's time is a bare hour (BARE_HOUR_SHARE), drawn from the
        noise generator so that the lower levels' files come out byte for byte."""
        return self.variety >= BARE_HOUR_LEVEL and self.aug.random() < BARE_HOUR_SHARE.get(api, 0.0)

    def bare_hour(self):
        """An hour said alone, in digits four times out of five ("7", "seven"): the value is the
        user's words, time="7", and the reply "Alarm set for 7."."""
        hours = bare_hours()
        return self.aug.choice(hours[:12] if self.aug.random() < 0.8 else hours[12:])

    def bare_hour_day(self):
        """A relative day of the training half for a bare hour ("at 7 tomorrow")."""
        days = [d for d in RELATIVE_DAYS if d in self.v["day"] and d not in self.excluded]
        return self.aug.choice(days)

    def safe_value(self, slot):
        for _ in range(50):
            val = self.value(slot)
            if not isinstance(val, str) or val not in self.excluded:
                return val
        raise RuntimeError("cannot find a value for %s" % slot)

    # ---- one call turn -----------------------------------------------------------------------
    def call_turn(self, api):
        r = self.rng
        entry = T[api][self.split] + self.extra(api, T_EXTRA_LEVELS)
        tmpl = r.choice(entry)
        on = None
        if isinstance(tmpl, tuple):
            tmpl, on = tmpl
        tmpl = expand_alternatives(tmpl, r)
        tmpl = expand_optionals(tmpl, r, 0.45)
        args = {}
        surf = {}
        slot_kind = {"label": "alarm_label" if api == "set_alarm" else "timer_label",
                     "text": "text_reminder" if api == "create_reminder" else "text_message",
                     "query": "music_query" if api == "play_music" else "web_query"}
        slots = TOKEN_RE.findall(tmpl)
        bare = "time" in slots and self.bare_hour_time(api)
        for s in slots:
            if s in surf:
                continue
            if s == "video":
                args["video"] = True
                surf[s] = ""
            elif s == "shuffle":
                args["shuffle"] = True
                surf[s] = ""
            elif s == "app":
                e = r.choice(sorted(APP_SURF))
                args["app"] = e
                surf[s] = r.choice(APP_SURF[e])
            elif s in ("mode_adj", "mode_by"):
                e = r.choice(sorted(MODE_ADJ))
                args["mode"] = e
                surf[s] = r.choice((MODE_ADJ if s == "mode_adj" else MODE_BY)[e])
            elif s == "setting":
                e = r.choice(sorted(SETTING_SURF))
                args["setting"] = e
                surf[s] = r.choice(SETTING_SURF[e])
            else:
                kind = slot_kind.get(s, s)
                if bare and s == "time":
                    val = self.bare_hour()
                elif bare and s == "day" and self.aug.random() < BARE_HOUR_RELATIVE_DAY.get(api, 0.0):
                    val = self.bare_hour_day()
                else:
                    val = self.safe_value(kind)
                if self.variety >= 3 and isinstance(val, str):
                    val = self.value_noise(kind, val)
                if self.variety >= 6:
                    val = self.first_word_noise(kind, val)
                args[s] = val
                surf[s] = str(val)
        if api == "toggle_setting":
            args["on"] = on
        style = self.style(r)
        if self.variety >= 10:
            style["swap_first"] = self.aug.random() < 0.2
        text = fill_template(tmpl, surf, r, style)
        core = re.sub(r"(\{video\}|\{shuffle\})$", "", tmpl.rstrip(" ?!.,"))
        m = re.search(r"\{(\w+)\}$", core)
        last = m.group(1) if m else None
        text = finish_message(text, r, self.split, last, style, self.variety)
        call = {"name": api, "args": args}
        return text, call, reply_for(call)

    # ---- no-call turn ------------------------------------------------------------------------
    def nocall_turn(self, cat=None):
        r = self.rng
        if cat is None:
            cats = sorted(NOCALL)
            cat = r.choices(cats, weights=[NOCALL_WEIGHTS[c] for c in cats])[0]
        tr, te, reply = NOCALL[cat]
        extra = self.extra(cat, NOCALL_EXTRA_LEVELS)
        tmpl = r.choice(tr + extra if self.split == "train" else te)
        slots = {}
        for s in TOKEN_RE.findall(tmpl):
            kind = {"name": "recipient", "item": None}.get(s, s)
            if s == "item":
                slots[s] = r.choice(self.v["reminder_text"]).split(" ")[-1]
            else:
                slots[s] = str(self.safe_value(kind))
        style = self.style(r)
        text = fill_template(tmpl, slots, r, style)
        if r.random() < 0.1 and cat not in ("thanks", "hello", "bye", "nevermind"):
            text = r.choice(PREFIXES[self.split]).replace("could you", "hey") + " " + text
        if style.get("cap"):
            text = text[0].upper() + text[1:]
        if r.random() < 0.15 and not text.endswith("?"):
            text += r.choice(["!", ".", "?"]) if cat in ("howareyou", "who", "can") else r.choice(["!", "."])
        return text, None, reply

    # ---- clarification pair ------------------------------------------------------------------
    def clarify_pair(self):
        r = self.rng
        api = r.choice(sorted(CLARIFY))
        tr, te, question, (slot,) = CLARIFY[api]
        tmpl = r.choice(tr if self.split == "train" else te)
        args = {}
        surf = {}
        if "{recipient}" in tmpl:
            args["recipient"] = self.safe_value("recipient")
            surf["recipient"] = args["recipient"]
        first = fill_template(tmpl, surf, r, self.style(r))
        if r.random() < 0.4:
            first = first[0].upper() + first[1:]
        if api == "play_music":
            ftr, fte = MUSIC_FOLLOWUP
        else:
            ftr, fte = FOLLOWUP[slot]
        ftmpl = r.choice(ftr if self.split == "train" else fte)
        kind = {"text": "text_message", "query": "music_query" if api == "play_music" else "web_query",
                "name": "recipient"}.get(slot, slot)
        val = self.bare_hour() if slot == "time" and self.bare_hour_time(api) else self.safe_value(kind)
        args[slot] = val
        second = fill_template(ftmpl, {slot: str(val)}, r, self.style(r))
        if r.random() < 0.3:
            second = second[0].upper() + second[1:]
        # order args as apis.json does (render_call orders anyway; keep dicts tidy)
        order = list(chat_template.api_parameters(api))
        args = {k: args[k] for k in order if k in args}
        call = {"name": api, "args": args}
        return [(first, None, question), (second, call, reply_for(call))]

    def weather_again_pair(self):
        r = self.rng
        first = self.call_turn("get_weather")
        tr, te = WEATHER_AGAIN
        tmpl = expand_optionals(r.choice(tr if self.split == "train" else te), r, 0.4)
        args = {}
        surf = {}
        for s in TOKEN_RE.findall(tmpl):
            args[s] = self.safe_value(s)
            surf[s] = args[s]
        second = fill_template(tmpl, surf, r, self.style(r))
        call = {"name": "get_weather", "args": {k: args[k] for k in ("city", "day") if k in args}}
        return [first, (second, call, reply_for(call))]

    # ---- conversations -----------------------------------------------------------------------
    def single_turn(self, p_call):
        if self.rng.random() < p_call:
            api = self.rng.choice([a["name"] for a in chat_template.load_apis()])
            return self.call_turn(api)
        return self.nocall_turn()

    def conversation(self):
        """A list of (user text, call or None, reply); the last turn is the one to predict."""
        r = self.rng
        n_turns = r.choices([1, 2, 3], weights=[0.5, 0.33, 0.17])[0]
        kind = r.random()
        turns = []
        # how the conversation ends
        if n_turns >= 2 and kind < 0.12:
            ending = self.clarify_pair()
        elif n_turns >= 2 and kind < 0.17:
            ending = self.weather_again_pair()
        elif n_turns >= 2 and kind < 0.30:
            # thanks / bye after an action
            api = r.choice([a["name"] for a in chat_template.load_apis()])
            ending = [self.call_turn(api), self.nocall_turn(r.choice(["thanks", "thanks", "bye"]))]
        else:
            ending = [self.single_turn(0.72)]
        while len(turns) + len(ending) < n_turns:
            if r.random() < 0.15 and len(turns) + len(ending) + 2 <= n_turns:
                turns.extend(self.clarify_pair())
            else:
                turns.append(self.single_turn(0.7))
        turns = turns + ending
        return turns


def copy_values_verbatim(turns):
    """A message that starts with a string value gets a capital first letter ("Prayer alarm at
    2:20 PM") after the value was chosen ("prayer"). The task copies values verbatim from the
    user's words, so such a value takes the capital too (the reply keeps the word as it was)."""
    out, seen = [], []
    for text, call, reply in turns:
        seen.append(text)
        if call is not None:
            params = chat_template.api_parameters(call["name"])
            args = dict(call["args"])
            for k, v in args.items():
                p = params[k]
                if isinstance(v, str) and v and p.get("type") == "string" and not any(v in t for t in seen):
                    cap = v[0].upper() + v[1:]
                    if any(t.startswith(cap) for t in seen):
                        args[k] = cap
            call = {"name": call["name"], "args": args}
        out.append((text, call, reply))
    return out


def to_record(cid, turns):
    msgs = []
    for text, call, reply in turns[:-1]:
        msgs.append({"role": "user", "content": text})
        m = {"role": "assistant", "content": reply}
        if call is not None:
            m["call"] = call
        msgs.append(m)
    text, call, reply = turns[-1]
    msgs.append({"role": "user", "content": text})
    return {"id": cid, "messages": msgs, "expected": {"call": call, "reply": reply}}
