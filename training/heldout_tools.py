#!/usr/bin/env python3
"""The held-out TOOL set of issue #39: tools no training data has, and requests for them.

Writes, seeded and byte-identical on every run,
  models/mobilellm-tiny-api/eval/tools.json         the tool schemas (the apis.json format)
  models/mobilellm-tiny-api/eval/tools_test.jsonl   the requests (the evaluation format, with
                                                    "tools": the names listed in that prompt)

Every request lists a random subset of 1 to 8 of the tools in random order: for a call, the
tool it needs and distractors; for a no-call request either small talk in phrasings the
training data never uses, or an action that none of the listed tools does (the tool that would
do it is left out of the list). String values are written in the request exactly as the call
must copy them; enum values are said as the enum's word; integers and numbers as digits.

    /usr/bin/python3 training/heldout_tools.py           # writes the two files
    /usr/bin/python3 training/heldout_tools.py --check   # also: nothing of them is in training

`--check` (training/check_heldout_tools.py does the work) reads the training data
(data/api-calling/train.jsonl, which `make dataset` writes) and fails when a held-out tool name, argument name, description or request phrasing occurs in it.
Measure a model on the set with
    bin/mobilellm eval DIR --data DIR/eval/tools_test.jsonl --apis DIR/eval/tools.json
"""
import argparse
import json
import os
import random
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "models", "mobilellm-tiny-api", "eval")
SEED = 3920261208
N_CALL_PER_TOOL = 22        # 22 tools x 22 = 484 call requests
N_SMALL_TALK = 40
N_UNAVAILABLE = 60


def S(required=False, **kw):
    return dict(type="string", required=required, **kw) if required else dict(type="string", **kw)


def I(lo, hi, required=False):
    d = {"type": "integer", "min": lo, "max": hi}
    if required:
        d["required"] = True
    return d


def N(required=False):
    return {"type": "number", "required": True} if required else {"type": "number"}


def E(values, required=False):
    d = {"type": "enum", "values": values}
    if required:
        d["required"] = True
    return d


def B():
    return {"type": "boolean"}


# name, description, parameters (in order), request templates, reply.
# A template's {slot} is a parameter's value; [..] is optional text holding slots of optional
# parameters (kept or dropped as a whole). Values per slot are in VALUES.
TOOLS = [
    ("book_table", "Reserve a table at a restaurant.",
     {"restaurant": S(True), "party_size": I(1, 20, True), "hour": S()},
     ["reserve a table at {restaurant} for {party_size}[ at {hour}]",
      "get us a table for {party_size} at {restaurant}[ around {hour}]",
      "can you book {restaurant} for {party_size} people[ at {hour}]",
      "i need a dinner reservation at {restaurant}, party of {party_size}[, {hour}]"],
     "Table reserved."),
    ("irrigate_garden", "Water a zone of the garden for some minutes.",
     {"zone": E(["lawn", "roses", "vegetables", "hedge"], True), "minutes": I(1, 60, True)},
     ["water the {zone} for {minutes} minutes",
      "run the sprinklers on the {zone} for {minutes} min",
      "give the {zone} {minutes} minutes of water",
      "the {zone} looks dry, irrigate it for {minutes} minutes"],
     "Watering started."),
    ("track_parcel", "Where a delivery is now, by its tracking code.",
     {"tracking_code": S(True)},
     ["where is my package {tracking_code}",
      "track parcel {tracking_code}",
      "any news on the delivery {tracking_code}?",
      "check shipment {tracking_code} for me"],
     "Here is the parcel's status."),
    ("translate_phrase", "Translate words into another language.",
     {"phrase": S(True), "language": E(["spanish", "german", "italian", "japanese"], True)},
     ["how do you say {phrase} in {language}",
      "{phrase} in {language}, please translate",
      "what is {phrase} in {language}?",
      "put {phrase} into {language} please"],
     "Here is the translation."),
    ("begin_workout", "Start tracking an exercise session.",
     {"activity": E(["running", "rowing", "yoga", "swimming"], True), "goal_minutes": I(5, 180)},
     ["start a {activity} session[ of {goal_minutes} minutes]",
      "track my {activity} workout[, goal {goal_minutes} minutes]",
      "i'm going {activity} now, log it[ for {goal_minutes} minutes]",
      "kick off a {activity} workout[ for {goal_minutes} min]"],
     "Workout started."),
    ("record_expense", "Note money spent, with a category.",
     {"amount": N(True), "category": E(["food", "transport", "rent", "fun"], True), "memo": S()},
     ["i spent {amount} on {category}[ for {memo}]",
      "log an expense of {amount}, category {category}[, note {memo}]",
      "add {amount} to my {category} spending[: {memo}]",
      "write down {amount} for {category}[, it was {memo}]"],
     "Expense recorded."),
    ("secure_door", "Lock one of the home's doors.",
     {"door": E(["front", "back", "garage", "patio"], True)},
     ["bolt the {door} door",
      "make sure the {door} door is locked",
      "is the {door} door open? lock it",
      "secure the {door} entrance"],
     "Door locked."),
    ("adjust_thermostat", "Set the heating to a temperature in degrees.",
     {"degrees": I(10, 30, True), "room_name": S()},
     ["set the heating to {degrees} degrees[ in the {room_name}]",
      "make it {degrees} degrees[ in the {room_name}]",
      "warm the house to {degrees}[, {room_name} only]",
      "thermostat {degrees} please[ for the {room_name}]"],
     "Temperature set."),
    ("hail_cab", "Order a car to pick the user up and drive them somewhere.",
     {"pickup": S(True), "dropoff": S(True), "seats": I(1, 6)},
     ["get me a cab from {pickup} to {dropoff}[ for {seats}]",
      "i need a ride from {pickup} to {dropoff}[, {seats} seats]",
      "send a car to {pickup}, going to {dropoff}[, {seats} passengers]",
      "order a taxi at {pickup} heading to {dropoff}"],
     "Car ordered."),
    ("suggest_recipe", "Find a recipe for a dish.",
     {"dish": S(True), "meatless": B()},
     ["find me a recipe for {dish}",
      "how do i cook {dish}?",
      "show a {dish} recipe",
      "i want to make {dish} tonight, any recipe?"],
     "Here is a recipe."),
    ("exchange_rate", "Convert an amount of money between currencies.",
     {"amount": N(True), "source": E(["usd", "eur", "gbp", "yen"], True),
      "target": E(["usd", "eur", "gbp", "yen"], True)},
     ["convert {amount} {source} to {target}",
      "how much is {amount} {source} in {target}",
      "what do {amount} {source} make in {target}?",
      "change {amount} {source} into {target}"],
     "Here is the conversion."),
    ("add_groceries", "Put an item on the shopping list.",
     {"item": S(True), "count": I(1, 99)},
     ["add {item} to the shopping list",
      "put[ {count}] {item} on my list",
      "we're out of {item}, note it for shopping",
      "remember to buy[ {count}] {item}"],
     "Added to the list."),
    ("flight_status", "Whether a flight is on time, by flight number.",
     {"flight": S(True)},
     ["is flight {flight} on time?",
      "status of {flight}",
      "has {flight} been delayed",
      "when does {flight} land?"],
     "Here is the flight's status."),
    ("dispense_food", "Give the pet some portions from the feeder.",
     {"pet": S(True), "portions": I(1, 5)},
     ["feed {pet}[ {portions} portions]",
      "give {pet} some food",
      "{pet} is hungry, use the feeder[, {portions} scoops]",
      "put out dinner for {pet}"],
     "Food dispensed."),
    ("voice_memo", "Record a short audio note with a title.",
     {"caption": S(True)},
     ["record a memo called {caption}",
      "start an audio note named {caption}",
      "voice note: {caption}",
      "capture a recording titled {caption}"],
     "Recording."),
    ("light_level", "Set how bright the lights of a room are, in percent.",
     {"room": E(["kitchen", "bedroom", "hallway", "office"], True), "percent": I(0, 100, True)},
     ["set the {room} lights to {percent} percent",
      "{room} brightness {percent}",
      "make the {room} {percent}% bright",
      "lights in the {room} at {percent} please"],
     "Lights set."),
    ("encyclopedia_lookup", "Look up a topic in the encyclopedia.",
     {"topic": S(True)},
     ["look up {topic} in the encyclopedia",
      "tell me about {topic} from the wiki",
      "search the encyclopedia for {topic}",
      "i want to read about {topic}"],
     "Here is what I found."),
    ("rate_track", "Give the song now playing a rating of 1 to 5 stars.",
     {"stars": I(1, 5, True)},
     ["rate this song {stars} stars",
      "give the current track {stars} out of 5",
      "{stars} stars for this one",
      "i'd rate this tune a {stars}"],
     "Rating saved."),
    ("barber_appointment", "Book a haircut for a day.",
     {"weekday": E(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"], True),
      "stylist": S()},
     ["book a haircut on {weekday}[ with {stylist}]",
      "i need a trim {weekday}[, ask for {stylist}]",
      "schedule the barber for {weekday}[ with {stylist}]",
      "get me a hair appointment on {weekday}"],
     "Haircut booked."),
    ("pulse_check", "Measure the user's heart rate now.",
     {},
     ["check my heart rate",
      "what's my pulse right now",
      "measure my heartbeat",
      "how fast is my heart beating?"],
     "Measuring your pulse."),
    ("share_whereabouts", "Let a contact see where the user is for a while.",
     {"friend": S(True), "hours": I(1, 24)},
     ["share my location with {friend}[ for {hours} hours]",
      "let {friend} see where i am[ for {hours} hours]",
      "send {friend} my live position",
      "show {friend} my location[, {hours} hours]"],
     "Location shared."),
    ("robot_vacuum", "Send the robot vacuum to clean a room.",
     {"area": E(["kitchen", "living_room", "bedroom", "stairs"], True), "quiet": B()},
     ["vacuum the {area}",
      "have the robot clean the {area}",
      "the {area} floor is dirty, send the vacuum",
      "start the cleaner in the {area}"],
     "Cleaning started."),
]

VALUES = {
    "restaurant": ["Luigi's", "the Blue Lotus", "Casa Verde", "Noma", "Sakura House", "the Oak Grill",
                   "Chez Marie", "Taqueria Sol"],
    "party_size": [2, 3, 4, 5, 6, 8, 10],
    "hour": ["7 pm", "8:30", "noon", "6:45 pm", "9"],
    "minutes": [5, 10, 12, 15, 20, 25, 30, 45],
    "tracking_code": ["ZX4471", "AB-90213", "1Z999AA10123", "TRK55821", "PK-7730-Q"],
    "phrase": ["good morning", "where is the station", "thank you very much", "two coffees",
               "i am lost", "happy birthday", "how much is it"],
    "goal_minutes": [15, 20, 30, 45, 60, 90],
    "amount": [12.5, 30, 7.25, 120, 45.9, 3, 64],
    "memo": ["lunch with Sam", "bus pass", "cinema", "groceries", "a birthday gift"],
    "degrees": [18, 19, 20, 21, 22, 23, 24],
    "room_name": ["living room", "nursery", "study", "attic"],
    "pickup": ["the hotel", "Central Station", "my office", "5th Avenue", "the museum"],
    "dropoff": ["the airport", "Elm Street 12", "the stadium", "downtown", "Grand Park"],
    "seats": [2, 3, 4],
    "dish": ["lasagna", "pad thai", "banana bread", "mushroom risotto", "chili", "shakshuka"],
    "item": ["eggs", "oat milk", "bread", "paper towels", "coffee beans", "apples"],
    "count": [2, 3, 6, 12],
    "flight": ["BA 117", "LH455", "UA 920", "AF1280", "KL 643"],
    "pet": ["Biscuit", "Luna", "Max", "Pepper", "Milo"],
    "portions": [1, 2, 3],
    "caption": ["project ideas", "shopping thoughts", "song lyrics", "meeting notes", "dream log"],
    "percent": [0, 10, 25, 40, 60, 75, 100],
    "topic": ["black holes", "the Roman empire", "photosynthesis", "jazz history", "volcanoes",
              "Marie Curie"],
    "stars": [1, 2, 3, 4, 5],
    "stylist": ["Jo", "Marco", "Aisha", "Ken"],
    "friend": ["Dana", "Oliver", "Mei", "Tom", "Grandpa"],
    "hours": [1, 2, 3, 8],
}

# Small talk in phrasings the training data never has; the expected reply is generic.
SMALL_TALK = ["good day to you", "what a lovely morning", "you are very helpful",
              "that was quick, nice work", "hmm, let me think", "sorry, wrong button",
              "i'll decide later", "are you still there?", "this is a test message",
              "ok that's enough for now"]
SMALL_TALK_REPLY = "Okay."

# Actions none of the listed tools does: the tool that would is left out of the prompt.
UNAVAILABLE = [("book_table", "reserve a table at Casa Verde for 4"),
               ("irrigate_garden", "water the roses for 10 minutes"),
               ("secure_door", "bolt the garage door"),
               ("hail_cab", "get me a cab from the hotel to the airport"),
               ("translate_phrase", "how do you say good morning in german"),
               ("record_expense", "i spent 20 on food"),
               ("light_level", "set the kitchen lights to 40 percent"),
               ("pulse_check", "check my heart rate"),
               ("robot_vacuum", "vacuum the bedroom"),
               ("flight_status", "is flight BA 117 on time?"),
               ("add_groceries", "add eggs to the shopping list"),
               ("dispense_food", "feed Luna")]
UNAVAILABLE_REPLY = "Sorry, none of my tools can do that."


def fill(template, values):
    """The template with its slots filled; [..] groups whose slots have no value are dropped."""
    def group(m):
        slots = re.findall(r"\{(\w+)\}", m.group(1))
        return m.group(1) if all(s in values for s in slots) else ""
    text = re.sub(r"\[([^\]]*)\]", group, template)
    return re.sub(r"\{(\w+)\}", lambda m: fmt(values[m.group(1)]), text)


def fmt(v):
    if isinstance(v, float):
        return ("%.2f" % v).rstrip("0").rstrip(".")
    return str(v)


def example(rng, tool, idx):
    name, _desc, params, templates, reply = tool
    template = templates[idx % len(templates)]
    args = {}
    for p, spec in params.items():
        in_template = "{" + p + "}" in template
        optional_slot = in_template and re.search(r"\[[^\]]*\{" + p + r"\}[^\]]*\]", template)
        if not in_template:
            continue
        if optional_slot and rng.random() < 0.5:
            continue
        if spec["type"] == "enum":
            args[p] = rng.choice(spec["values"])
        else:
            args[p] = rng.choice(VALUES[p])
    # two enums drawn alike (exchange_rate): draw the second again
    if name == "exchange_rate":
        while args["target"] == args["source"]:
            args["target"] = rng.choice(params["target"]["values"])
    text = fill(template, args)
    call_args = {}
    for p in params:  # in declared order
        if p in args:
            v = args[p]
            call_args[p] = float(v) if params[p]["type"] == "number" and isinstance(v, float) else v
    return text, {"name": name, "args": call_args}, reply


def tool_list(rng, names, must=None, leave_out=None):
    """1..8 names in random order, holding `must` and never `leave_out`."""
    k = rng.randint(1, 8)
    pool = [n for n in names if n != must and n != leave_out]
    picked = rng.sample(pool, k - (1 if must else 0))
    if must:
        picked.append(must)
    rng.shuffle(picked)
    return picked


def build():
    rng = random.Random(SEED)
    names = [t[0] for t in TOOLS]
    apis = [{"name": n, "description": d, "parameters": p} for n, d, p, _t, _r in TOOLS]
    examples = []
    for tool in TOOLS:
        for i in range(N_CALL_PER_TOOL):
            text, call, reply = example(rng, tool, i)
            examples.append({"messages": [{"role": "user", "content": text}],
                             "expected": {"call": call, "reply": reply},
                             "tools": tool_list(rng, names, must=tool[0])})
    for i in range(N_SMALL_TALK):
        examples.append({"messages": [{"role": "user", "content": SMALL_TALK[i % len(SMALL_TALK)]}],
                         "expected": {"call": None, "reply": SMALL_TALK_REPLY},
                         "tools": tool_list(rng, names)})
    for i in range(N_UNAVAILABLE):
        missing, text = UNAVAILABLE[i % len(UNAVAILABLE)]
        examples.append({"messages": [{"role": "user", "content": text}],
                         "expected": {"call": None, "reply": UNAVAILABLE_REPLY},
                         "tools": tool_list(rng, names, leave_out=missing)})
    rng.shuffle(examples)
    for i, ex in enumerate(examples):
        ex["id"] = "h%04d" % (i + 1)
    return apis, examples


def write(apis, examples, out_dir=OUT_DIR):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tools.json"), "w", encoding="utf-8") as f:
        f.write('{"syntax": "<tool_call>NAME(arg=\\"value\\", n=3, flag=true)</tool_call>",\n "apis": [\n')
        f.write(",\n".join("  " + json.dumps(a, ensure_ascii=False) for a in apis))
        f.write("\n]}\n")
    with open(os.path.join(out_dir, "tools_test.jsonl"), "w", encoding="utf-8") as f:
        for ex in examples:
            ordered = {"id": ex["id"], "tools": ex["tools"], "messages": ex["messages"], "expected": ex["expected"]}
            f.write(json.dumps(ordered, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT_DIR, help="directory of tools.json and tools_test.jsonl")
    ap.add_argument("--check", action="store_true", help="also check that training data has none of it")
    args = ap.parse_args()
    apis, examples = build()
    write(apis, examples, args.out)
    n_call = sum(1 for e in examples if e["expected"]["call"])
    print("%d tools, %d requests (%d calls, %d no-call) -> %s" % (
        len(apis), len(examples), n_call, len(examples) - n_call, args.out))
    if args.check:
        import check_heldout_tools
        raise SystemExit(check_heldout_tools.main(apis, examples))


if __name__ == "__main__":
    main()
