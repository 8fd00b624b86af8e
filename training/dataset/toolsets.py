"""Procedural tool sets for issue #39: conversations whose prompt lists tools made up for them.

A tool is a verb and a noun, each from a group of synonyms: its name uses one member of each
group, its description another, and a request any, so a model learns to match a request to the
listed tool whose name or description says the same thing, not to remember names. Parameters
come from a pool of typed arguments (string, integer, number, boolean, enum; ranges; required
or optional), each with the words a user says it with. A prompt lists 1 to 12 tools in random
order: the one the request needs and distractors, some of them sharing its verb or its noun.
Besides calls: small talk, and requests for an action that no listed tool does (its tool is
left out of the list), both answered without a call.

With a word list (`words`, Debian's wamerican: /usr/share/dict/american-english), 40 % of the
tools take their noun from it instead, said alike in name, description and request: thousands
of words, so that the embeddings of most word pieces are trained as parts of tool names, and a
model learns to find the request's words in the list rather than to know the words.

Nothing of the held-out tool set (training/heldout_tools.py) is made: a tool whose name holds a
held-out name, an argument named as a held-out one, a description equal to a held-out one are
drawn again; training/check_heldout_tools.py checks the written file as a whole.
"""
import random
import re

# Verb groups: the first member of each is also the past participle's stem for replies.
VERBS = [
    ["start", "begin", "launch", "kick off"], ["stop", "end", "halt", "cancel"],
    ["find", "search for", "look for", "locate"], ["send", "deliver", "dispatch"],
    ["reserve", "hold", "save a spot for"], ["remove", "delete", "erase", "get rid of"],
    ["add", "append", "insert", "put in"], ["show", "display", "bring up", "open"],
    ["inspect", "verify", "examine", "look over"], ["update", "change", "modify", "edit"],
    ["create", "make", "set up", "new"], ["share", "forward", "pass on"],
    ["archive", "store away", "file away"], ["rename", "relabel", "retitle"],
    ["mute", "silence", "quiet"], ["print", "print out", "output on paper"],
    ["upload", "push up", "put online"], ["download", "pull down", "fetch"],
    ["pause", "suspend", "put on hold"], ["resume", "continue", "pick up again"],
    ["schedule", "plan", "arrange"], ["approve", "accept", "okay"], ["reject", "decline", "turn down"],
    ["rate", "score", "grade"], ["count", "tally", "total up"], ["clean", "wash", "tidy"],
    ["charge", "recharge", "power up"], ["restart", "reboot", "reset"], ["sync", "synchronize", "match up"],
    ["subscribe to", "follow", "sign up for"], ["unsubscribe from", "unfollow", "leave"],
]
NOUNS = [
    ["meeting", "call", "conference"], ["invoice", "bill", "receipt"], ["song", "track", "tune"],
    ["podcast", "episode", "show"], ["ticket", "pass", "voucher"], ["document", "file", "paper"],
    ["photo", "picture", "image"], ["playlist", "mix", "queue"], ["note", "memo", "jotting"],
    ["task", "chore", "to-do"], ["subscription", "membership", "plan"], ["printer", "copier"],
    ["camera", "webcam"], ["battery", "power bank"], ["router", "modem", "network box"],
    ["car", "vehicle", "auto"], ["bike", "bicycle", "cycle"], ["order", "purchase"],
    ["contact", "friend", "person"], ["folder", "directory", "album"], ["password", "passcode", "login"],
    ["budget", "spending plan", "allowance"], ["medication", "medicine", "pills"],
    ["lesson", "class", "course"], ["recording", "clip", "video"], ["parking spot", "parking space", "bay"],
    ["appointment", "slot", "booking"], ["window", "blind", "shutter"], ["oven", "stove", "cooker"],
    ["fan", "ventilator", "air circulator"], ["speaker", "loudspeaker", "sound bar"],
    ["report", "summary", "digest"], ["coupon", "discount code", "promo"], ["route", "path", "itinerary"],
]

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira",
         "Leo", "Maya", "Nils", "Omar", "Petra", "Quinn", "Rosa", "Sami", "Tess", "Umar", "Vera",
         "Wes", "Xenia", "Yusuf", "Zoe"]
WORDS = ["quarterly plan", "spring sale", "blue notebook", "team offsite", "old laptop", "garden shed",
         "tax forms", "road trip", "piano practice", "weekly update", "summer photos", "invoice 17",
         "project alpha", "grocery run", "Main Street", "the north gate", "room 204", "level 3",
         "Harbor Road", "the city library", "west wing", "platform 6", "Oak Avenue 9", "gym bag"]

# name, type, extra, how a request says it ({v}: the value), value pool
ARGS = [
    ("subject", "string", {}, ["about {v}", "subject {v}", "on {v}"], WORDS),
    ("owner", "string", {}, ["for {v}", "owned by {v}", "belonging to {v}"], FIRST),
    ("recipient_name", "string", {}, ["to {v}", "for {v}"], FIRST),
    ("folder_name", "string", {}, ["in {v}", "inside {v}", "under {v}"], WORDS),
    ("nickname", "string", {}, ["called {v}", "named {v}", "nicknamed {v}"], FIRST + WORDS),
    ("place", "string", {}, ["at {v}", "near {v}", "by {v}"], WORDS),
    ("comment", "string", {}, ["with the note {v}", "saying {v}", "comment {v}"], WORDS),
    ("quantity", "integer", {"min": 1, "max": 50}, ["{v} of them", "x{v}", "quantity {v}"], None),
    ("copies", "integer", {"min": 1, "max": 20}, ["{v} copies", "{v} times over"], None),
    ("minutes_long", "integer", {"min": 1, "max": 240}, ["for {v} minutes", "{v} min long"], None),
    ("percent_level", "integer", {"min": 0, "max": 100}, ["at {v} percent", "to {v}%"], None),
    ("priority_rank", "integer", {"min": 1, "max": 5}, ["priority {v}", "rank {v}"], None),
    ("weight_kg", "number", {}, ["{v} kg", "weighing {v} kilos"], None),
    ("price", "number", {}, ["for {v} dollars", "at {v}"], None),
    ("distance_km", "number", {}, ["{v} km", "{v} kilometers away"], None),
    ("urgent", "boolean", {}, ["urgently", "as urgent", "it's urgent"], None),
    ("private", "boolean", {}, ["privately", "as private", "keep it private"], None),
    ("repeat_weekly", "boolean", {}, ["every week", "weekly"], None),
    ("color", "enum", {"values": ["red", "green", "blue", "black", "white"]}, ["in {v}", "{v} colored"], None),
    ("size", "enum", {"values": ["small", "medium", "large"]}, ["{v} size", "size {v}"], None),
    ("speed", "enum", {"values": ["slow", "normal", "fast"]}, ["at {v} speed", "{v}"], None),
    ("channel", "enum", {"values": ["email", "chat", "post"]}, ["by {v}", "via {v}"], None),
    ("quality", "enum", {"values": ["low", "standard", "high"]}, ["in {v} quality", "{v} quality"], None),
]

DESCRIPTIONS = ["{Verb} a {noun}.", "{Verb} the user's {noun}.", "Use this to {verb} a {noun}.",
                "{Verb} one {noun}.", "Lets the user {verb} a {noun}.", "{Verb} a {noun} right away."]
REQUESTS = ["{verb} the {noun}{args}", "please {verb} my {noun}{args}", "can you {verb} a {noun}{args}",
            "i want to {verb} the {noun}{args}", "{verb} {noun}{args}", "could you {verb} the {noun}{args} please",
            "time to {verb} the {noun}{args}", "go ahead and {verb} my {noun}{args}"]
SMALL_TALK = ["thanks", "thank you", "hello", "hi there", "how are you", "what can you do", "bye",
              "never mind", "ok", "good morning", "who are you", "nice"]
REPLY_NONE = "Sorry, none of my tools can do that."
REPLY_TALK = "Okay."


def nouns(group):
    """The words of a noun group: an index into NOUNS, or a word of the word list."""
    return NOUNS[group] if isinstance(group, int) else [group]


def _ident(words):
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


def _cap(s):
    return s[:1].upper() + s[1:]


class Generator:
    """Tools and conversations, from one seed; `held_out` is what must never be made."""

    def __init__(self, seed, held_names=(), held_params=(), held_descriptions=(), words=()):
        self.rng = random.Random(seed)
        self.words = [w for w in words if w.isalpha() and w.islower() and 4 <= len(w) <= 10]
        self.held_names = [n.lower() for n in held_names]
        self.held_params = set(held_params)
        self.held_descriptions = {d.strip().lower() for d in held_descriptions}
        self.args = [a for a in ARGS if a[0] not in self.held_params]

    def tool(self):
        rng = self.rng
        while True:
            vg = rng.randrange(len(VERBS))
            ng = rng.choice(self.words) if self.words and rng.random() < 0.4 else rng.randrange(len(NOUNS))
            verb, noun = rng.choice(VERBS[vg]), rng.choice(nouns(ng))
            name = _ident(verb) + "_" + _ident(noun) if rng.random() < 0.8 else _ident(noun) + "_" + _ident(verb)
            if len(name) > 40 or any(h in name for h in self.held_names):
                continue
            dverb, dnoun = rng.choice(VERBS[vg]), rng.choice(nouns(ng))
            desc = rng.choice(DESCRIPTIONS).format(Verb=_cap(dverb), verb=dverb, noun=dnoun)
            if desc.strip().lower() in self.held_descriptions:
                continue
            params = {}
            for a in rng.sample(self.args, rng.choice([0, 1, 1, 2, 2, 3])):
                spec = {"type": a[1]}
                spec.update(a[2])
                if rng.random() < 0.5:
                    spec["required"] = True
                params[a[0]] = spec
            return {"name": name, "description": desc, "parameters": params,
                    "_groups": (vg, ng)}

    def value(self, arg):
        rng = self.rng
        name, typ, extra, _says, pool = arg
        if typ == "string":
            return rng.choice(pool)
        if typ == "integer":
            return rng.randint(extra["min"], extra["max"])
        if typ == "number":
            return round(rng.uniform(0.5, 500), rng.choice([0, 1, 2])) if rng.random() < 0.7 else rng.randint(1, 99)
        if typ == "boolean":
            return True
        return rng.choice(extra["values"])

    def request(self, tool):
        """A request for `tool` and the call it wants."""
        rng = self.rng
        vg, ng = tool["_groups"]
        by_name = {a[0]: a for a in ARGS}
        args, phrases = {}, []
        for p, spec in tool["parameters"].items():
            if not spec.get("required") and rng.random() < 0.5:
                continue
            arg = by_name[p]
            v = self.value(arg)
            args[p] = v
            shown = ("%g" % v) if isinstance(v, float) else str(v)
            phrases.append(rng.choice(arg[3]).format(v=shown))
        rng.shuffle(phrases)
        text = rng.choice(REQUESTS).format(verb=rng.choice(VERBS[vg]), noun=rng.choice(nouns(ng)),
                                           args="".join(" " + ph for ph in phrases))
        ordered = {p: args[p] for p in tool["parameters"] if p in args}
        return text, {"name": tool["name"], "args": ordered}

    def tool_list(self, needed, n_tools):
        """needed (or nothing) among distractors, some sharing its verb or noun group."""
        rng = self.rng
        tools, names = ([needed] if needed else []), {needed["name"]} if needed else set()
        while len(tools) < n_tools:
            t = self.tool()
            if needed and rng.random() < 0.3:  # a near miss: same verb or same noun, not both
                vg, ng = needed["_groups"]
                t2 = self.tool()
                if t2["_groups"][0] == vg or t2["_groups"][1] == ng:
                    t = t2
            if t["name"] in names or (needed and t["_groups"] == needed["_groups"]):
                continue
            names.add(t["name"])
            tools.append(t)
        rng.shuffle(tools)
        return tools

    def conversation(self):
        rng = self.rng
        n_tools = rng.randint(1, 12)
        kind = rng.random()
        if kind < 0.78:
            needed = self.tool()
            tools = self.tool_list(needed, n_tools)
            text, call = self.request(needed)
            expected = {"call": call, "reply": "Done."}
        elif kind < 0.9:
            missing = self.tool()
            tools = self.tool_list(None, n_tools)
            tools = [t for t in tools if t["_groups"] != missing["_groups"]] or [self.tool_list(None, 1)[0]]
            text, _ = self.request(missing)
            expected = {"call": None, "reply": REPLY_NONE}
        else:
            tools = self.tool_list(None, n_tools)
            text = rng.choice(SMALL_TALK)
            expected = {"call": None, "reply": REPLY_TALK}
        clean = [{"name": t["name"], "description": t["description"], "parameters": t["parameters"]} for t in tools]
        return {"tools": clean, "messages": [{"role": "user", "content": text}], "expected": expected}
