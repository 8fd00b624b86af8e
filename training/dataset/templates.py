"""Phrasings of the API-calling dataset: the surface forms of enum values (shared by both splits),
each API's train and test templates (written separately), the words before and after a request,
the fixed replies, the no-call turns, clarification questions and follow-ups."""
import re

# ----------------------------------------------------------------------------------------------
# Enum / boolean surface forms (shared by both splits: closed sets)
# ----------------------------------------------------------------------------------------------
APP_SURF = {"sms": ["SMS", "sms", "text message", "Sms"],
            "whatsapp": ["WhatsApp", "whatsapp", "Whatsapp", "WA"],
            "email": ["email", "e-mail", "Email", "mail"]}
MODE_ADJ = {"driving": ["driving", "car", "drive"], "walking": ["walking", "walk", "pedestrian"],
            "transit": ["transit", "public transport", "bus", "train", "subway"],
            "cycling": ["cycling", "bike", "bicycle"]}
MODE_BY = {"driving": ["by car", "driving", "in the car"], "walking": ["on foot", "walking", "by foot"],
           "transit": ["by public transport", "by bus", "by train", "on transit", "by subway", "by metro"],
           "cycling": ["by bike", "cycling", "by bicycle", "on my bike"]}
SETTING_SURF = {"wifi": ["wifi", "Wi-Fi", "wi-fi", "WiFi", "the wifi"],
                "bluetooth": ["bluetooth", "Bluetooth", "the bluetooth", "BT"],
                "flashlight": ["flashlight", "the flashlight", "torch", "the torch", "the flash light"],
                "do_not_disturb": ["do not disturb", "Do Not Disturb", "DND", "do-not-disturb",
                                   "dnd mode", "the do not disturb mode"],
                "airplane_mode": ["airplane mode", "flight mode", "Airplane Mode", "aeroplane mode",
                                  "plane mode"]}
SETTING_NAME = {"wifi": "Wi-Fi", "bluetooth": "Bluetooth", "flashlight": "Flashlight",
                "do_not_disturb": "Do not disturb", "airplane_mode": "Airplane mode"}
APP_NAME = {"sms": "by SMS", "whatsapp": "on WhatsApp", "email": "by email"}

# ----------------------------------------------------------------------------------------------
# Templates. Syntax: {slot} a slot, (a|b|c) alternatives, [ ... ] an optional part (its slots are
# given only when the part is used). Slot names: time day label duration text recipient app name
# city title location query level destination mode_adj mode_by setting. Each API has a TRAIN and a
# TEST list, written separately.
# ----------------------------------------------------------------------------------------------
T = {}
T["set_alarm"] = {
    "train": [
        "set an alarm for {time}[ {day}][ called {label}]",
        "(set|create|make) (an|a new) alarm (for|at) {time}[ on {day}]",
        "wake me up at {time}[ {day}]",
        "alarm {time}[ {day}]",
        "(can|could) you (set|put) an alarm for {time}[ {day}]?",
        "i need an alarm at {time}[ {day}][ labeled {label}]",
        "please wake me (up )?at {time}[ {day}]",
        "set (my|the) alarm to {time}[ for {day}]",
        "(add|schedule) an alarm at {time}[ for {day}][ named {label}]",
        "[{day} ]i have to get up at {time}, set an alarm",
        "alarm at {time}[ {day}][ for {label}]",
        "get me up at {time}[ {day}]",
        "(new|another) alarm: {time}[, {day}][, label {label}]",
        "make sure i wake up at {time}[ {day}]",
        "i want to wake up at {time}[ {day}]",
        "set a {label} alarm for {time}[ {day}]",
        "wake-up alarm at {time}[ on {day}], please",
        "put an alarm on for {time}[ {day}]",
    ],
    "test": [
        "could you please set up an alarm at {time}[ {day}]",
        "i'd like to be woken at {time}[ {day}][ - call it {label}]",
        "need to be up by {time}[ {day}], alarm please",
        "alarm for {time}[ on {day}][ with the label {label}] thx",
        "schedule a wake up alarm for {time}[ {day}]",
        "my alarm should ring at {time}[ {day}]",
        "remember to wake me at {time}[ {day}]",
        "go ahead and set an alarm, {time}[ {day}]",
        "ring me at {time}[ {day}] to wake up",
        "{label} alarm at {time}[ {day}]",
    ],
}
T["set_timer"] = {
    "train": [
        "set a timer for {duration}[ for {label}]",
        "(start|begin) a {duration} timer",
        "timer {duration}",
        "(can|could) you start a timer for {duration}?",
        "set a {label} timer for {duration}",
        "count down {duration}",
        "countdown (of|for) {duration}[ for the {label}]",
        "{duration} timer[ for {label}] please",
        "start a timer: {duration}[, {label}]",
        "time {duration} for me",
        "put a timer on for {duration}[ called {label}]",
        "i need a timer for {duration}",
        "set timer {duration}[ label {label}]",
        "give me a {duration} countdown",
        "timer for {duration}[ named {label}]",
        "let me know when {duration} are up",
    ],
    "test": [
        "could you time {duration} for the {label}",
        "please run a countdown of {duration}",
        "start counting down {duration}[ - it's for {label}]",
        "i need {duration} on a timer",
        "{duration} on the clock please",
        "kick off a timer, {duration}[, for {label}]",
        "a timer of {duration} would be great",
        "alert me in {duration}[, {label} timer]",
        "timer please, {duration}",
    ],
}
T["create_reminder"] = {
    "train": [
        "remind me to {text} at {time}[ {day}]",
        "remind me at {time}[ {day}] to {text}",
        "[{day} ]at {time} remind me to {text}",
        "(set|create|add) a reminder (to|for) {text} at {time}[ {day}]",
        "(can|could) you remind me to {text} at {time}[ on {day}]?",
        "don't let me forget to {text} at {time}[ {day}]",
        "reminder: {text} at {time}[ {day}]",
        "i need a reminder at {time}[ {day}] to {text}",
        "make a reminder to {text}, {time}[ {day}]",
        "at {time}[ on {day}] i have to {text}, remind me",
        "ping me at {time}[ {day}] to {text}",
        "new reminder {text} {time}[ {day}]",
        "please remind me to {text} at {time}[ {day}]",
        "remind me {day} at {time} to {text}",
    ],
    "test": [
        "i must {text} at {time}[ {day}], so remind me please",
        "nudge me at {time}[ {day}] about this: {text}",
        "could you add a reminder for {time}[ {day}] that says {text}",
        "at {time}[ {day}] tell me to {text}",
        "reminder please to {text} around {time}[ {day}]",
        "help me remember to {text} at {time}[ {day}]",
        "set up a reminder {day} at {time}: {text}",
        "i keep forgetting to {text}, remind me at {time}[ {day}]",
    ],
}
T["send_message"] = {
    "train": [
        "(send|text) {recipient} (saying|that) {text}",
        "send a message to {recipient}[ on {app}] saying {text}",
        "tell {recipient}[ on {app}] that {text}",
        "text {recipient}: {text}",
        "message {recipient}[ via {app}]: {text}",
        "(can|could) you text {recipient} (saying|that) {text}",
        "send {recipient} a[ {app}] message: {text}",
        "let {recipient} know[ by {app}] that {text}",
        "write to {recipient}[ on {app}] {text}",
        "send a text to {recipient} that says {text}",
        "[{app} ]message to {recipient} saying {text}",
        "msg {recipient} {text}",
        "shoot {recipient} a message[ on {app}]: {text}",
        "send this to {recipient}[ via {app}]: {text}",
        "({app}|send an {app} to) {recipient} saying {text}",
    ],
    "test": [
        "please drop {recipient} a line[ over {app}] saying {text}",
        "could you send {recipient} the following[ through {app}]: {text}",
        "i want to tell {recipient}[ using {app}] that {text}",
        "notify {recipient}[ by {app}]: {text}",
        "quick message for {recipient}[ via {app}] - {text}",
        "pass a message on to {recipient}[ over {app}] that says {text}",
        "text to {recipient} reading {text}",
        "{recipient} needs to hear this[ on {app}]: {text}",
    ],
}
T["call_contact"] = {
    "train": [
        "call {name}", "(phone|ring|dial) {name}", "(can|could) you call {name}?",
        "give {name} a call", "please call {name}", "start a call with {name}",
        "video call {name}{video}", "facetime {name}{video}", "start a video call with {name}{video}",
        "i want to talk to {name}, call them", "get {name} on the phone",
        "call {name} on video{video}", "make a video call to {name}{video}", "call up {name}",
        "ring up {name}", "place a call to {name}", "{name}, call",
        "i need to speak with {name}",
    ],
    "test": [
        "could you please get me {name} on the line",
        "i'd like to phone {name}",
        "connect me with {name}",
        "let's do a video chat with {name}{video}",
        "video {name} please{video}",
        "set up a call to {name}",
        "i wanna see {name} on video{video}",
        "try calling {name}",
    ],
}
T["get_weather"] = {
    "train": [
        "what's the weather (in|like in) {city}[ {day}]?",
        "weather (in|for) {city}[ {day}]",
        "(will|is) it (rain|going to rain) in {city}[ {day}]?",
        "how hot is it in {city}[ {day}]",
        "(show|give) me the forecast for {city}[ {day}]",
        "is it cold in {city}[ {day}]?",
        "forecast {city}[ {day}]",
        "do i need an umbrella in {city}[ {day}]?",
        "(can|could) you check the weather in {city}[ for {day}]?",
        "what's the temperature in {city}[ {day}]",
        "how's the weather looking in {city}[ {day}]?",
        "[{day} ]weather for {city}",
        "tell me the weather in {city}[ {day}]",
        "is it sunny in {city}[ {day}]?",
        "will it snow in {city}[ {day}]",
    ],
    "test": [
        "what kind of weather can i expect in {city}[ {day}]",
        "should i bring a jacket to {city}[ {day}]",
        "any rain expected for {city}[ {day}]?",
        "look up the forecast in {city}[ for {day}] please",
        "i'm heading to {city}[ {day}], how's the weather there",
        "is {city} going to be warm[ {day}]",
        "weather report for {city}[ {day}]",
        "check {city} weather[ {day}]",
    ],
}
T["create_event"] = {
    "train": [
        "add {title} to my calendar (on|for) {day}[ at {time}][ at {location}]",
        "schedule {title} (on|for) {day}[ at {time}][ at {location}]",
        "(create|make|put) an event {title} on {day}[ at {time}][ in {location}]",
        "put {title} on my calendar {day}[ at {time}]",
        "new event: {title}, {day}[, {time}][, {location}]",
        "(can|could) you schedule {title} for {day}[ at {time}]?",
        "i have {title} {day}[ at {time}][ at {location}], add it to the calendar",
        "calendar: {title} {day}[ {time}]",
        "book {title} in my calendar for {day}[ at {time}][, location {location}]",
        "(add|create) a calendar event called {title} on {day}[ at {time}][ at {location}]",
        "put down {title} for {day}[ at {time}]",
        "{day}[ at {time}] i've got {title}[ at {location}], put it in my calendar",
        "block {day}[ at {time}] for {title}",
        "save {title} on {day}[ at {time}][ at {location}] in my calendar",
    ],
    "test": [
        "please pencil in {title} for {day}[ around {time}][ at {location}]",
        "my calendar needs {title} on {day}[ at {time}]",
        "there's {title} {day}[ at {time}][ in {location}], note it in the calendar",
        "could you set up an event for {day}[ at {time}] called {title}",
        "log {title} in the calendar on {day}[ at {time}][ at {location}]",
        "calendar entry for {day}[ at {time}]: {title}",
        "don't let me double book {day}[ at {time}], i have {title}",
        "mark {day}[ at {time}] as {title} in my calendar",
    ],
}
T["play_music"] = {
    "train": [
        "play {query}", "play some {query}", "(put on|start playing) {query}",
        "i want to listen to {query}", "(can|could) you play {query}?", "shuffle {query}{shuffle}",
        "play {query} on shuffle{shuffle}", "play {query} shuffled{shuffle}",
        "let's hear some {query}", "music: {query}", "play me {query}",
        "throw on some {query}", "start {query}", "shuffle play {query}{shuffle}",
        "play {query} in random order{shuffle}", "i'm in the mood for {query}",
        "queue up {query}",
    ],
    "test": [
        "could i get some {query} going",
        "crank up {query}",
        "blast {query}",
        "i feel like listening to {query}, play it",
        "put {query} on random{shuffle}",
        "mix up {query} and play it{shuffle}",
        "spin {query} for me",
        "let me hear {query}",
        "{query} please, shuffled{shuffle}",
    ],
}
T["set_volume"] = {
    "train": [
        "set (the )?volume to {level}", "volume {level}", "(turn|put) the volume to {level}",
        "volume at {level} percent", "set volume {level}%", "change the volume to {level}",
        "(can|could) you set the volume to {level}?", "make the volume {level}",
        "i want the volume at {level}", "volume to {level} please", "media volume {level}",
        "adjust volume to {level}%", "turn it (up|down) to {level}",
    ],
    "test": [
        "bring the sound to {level}",
        "please put the media volume at {level} percent",
        "sound level {level}",
        "could the volume be {level}",
        "lower the volume to {level}",
        "raise volume up to {level}%",
        "make it louder, {level}",
    ],
}
T["navigate"] = {
    "train": [
        "(navigate|take me|directions) to {destination}",
        "get me (directions|a route) to {destination}[ {mode_by}]",
        "how do i get to {destination}[ {mode_by}]?",
        "(show|give) me {mode_adj} directions to {destination}",
        "start navigation to {destination}",
        "(can|could) you navigate to {destination}[ {mode_by}]?",
        "route to {destination}[ {mode_by}]",
        "i need to go to {destination}[ {mode_by}]",
        "{mode_adj} route to {destination}",
        "directions {destination}[ {mode_by}]",
        "find the way to {destination}[ {mode_by}]",
        "let's go to {destination}[ {mode_by}]",
        "guide me to {destination}[ {mode_by}]",
        "open maps to {destination}[ {mode_by}]",
    ],
    "test": [
        "what's the best way to reach {destination}[ {mode_by}]",
        "i'm trying to get to {destination}[ {mode_by}], help",
        "plot a course to {destination}[ {mode_by}]",
        "could you lead me to {destination}",
        "{mode_adj} directions for {destination} please",
        "head to {destination}[ {mode_by}]",
        "show the way to {destination}[ {mode_by}]",
        "which way to {destination}[ {mode_by}]?",
    ],
}
T["toggle_setting"] = {
    "train": [
        ("turn on {setting}", True), ("turn off {setting}", False), ("turn {setting} on", True),
        ("turn {setting} off", False), ("(enable|activate) {setting}", True),
        ("(disable|deactivate) {setting}", False), ("switch on {setting}", True),
        ("switch off {setting}", False), ("{setting} on", True), ("{setting} off", False),
        ("(can|could) you turn on {setting}?", True), ("(can|could) you turn off {setting}?", False),
        ("i need {setting} on", True), ("i want {setting} off", False),
        ("put {setting} on", True), ("shut off {setting}", False), ("kill {setting}", False),
        ("start {setting}", True), ("stop {setting}", False),
    ],
    "test": [
        ("please get {setting} going", True), ("could you flip {setting} on", True),
        ("flip {setting} off", False), ("i don't need {setting}, disable it", False),
        ("{setting} needs to be on", True), ("make sure {setting} is off", False),
        ("go ahead and enable {setting}", True), ("cut {setting}", False),
        ("i'd like {setting} activated", True), ("no more {setting}, turn it off", False),
    ],
}
T["search_web"] = {
    "train": [
        "search (for|the web for) {query}", "google {query}", "look up {query}",
        "search {query}", "(can|could) you look up {query}?", "find (out )?{query} online",
        "web search: {query}", "search online for {query}", "i want to know {query}, search it",
        "do a search for {query}", "bing {query}", "check the internet for {query}",
        "look online for {query}", "search the internet for {query}",
    ],
    "test": [
        "could you research {query}",
        "run a web search on {query}",
        "find me info on {query}",
        "i'm curious about {query}, look it up",
        "query the web: {query}",
        "what does the internet say about {query}",
        "do an online search about {query}",
    ],
}

# Free-text slots: no suffix wrapper is added right after one of these.
FREE_SLOTS = {"text", "query", "title", "location", "destination", "label"}

PREFIXES = {
    "train": ["hey", "hi", "ok", "please", "hey assistant,", "yo", "um", "so", "quick one:",
              "hello,", "excuse me,", "hey,", "ok so", "could you", "real quick,"],
    "test": ["hey there,", "okay so", "hmm", "right,", "listen,", "alright,", "assistant,",
             "oh and", "well,"],
}
SUFFIXES = {
    "train": ["please", "thanks", "thank you", "asap", "pls", "if you can", "cheers", "for me",
              "now", "thx"],
    "test": ["would you?", "ty", "right now", "if possible", "many thanks", "when you can"],
}
# "could you" as a prefix only fits imperative templates; applied only to those starting with a verb.
IMPERATIVE_START = re.compile(r"^(set|wake|call|play|send|text|turn|remind|add|start|get|put|tell|"
                              r"search|look|navigate|take|schedule|make|create|give|show|find)\b")

# ----------------------------------------------------------------------------------------------
# Replies
# ----------------------------------------------------------------------------------------------


def reply_for(call):
    n, a = call["name"], call["args"]
    if n == "set_alarm":
        return "Alarm set for %s%s%s." % (a["time"], " " + a["day"] if "day" in a else "",
                                          ", labeled " + a["label"] if "label" in a else "")
    if n == "set_timer":
        return "Timer set for %s%s." % (a["duration"], ", labeled " + a["label"] if "label" in a else "")
    if n == "create_reminder":
        return "Reminder set for %s%s: %s." % (a["time"], " " + a["day"] if "day" in a else "", a["text"])
    if n == "send_message":
        return "Message sent to %s%s." % (a["recipient"], " " + APP_NAME[a["app"]] if "app" in a else "")
    if n == "call_contact":
        return ("Starting a video call with %s." if a.get("video") else "Calling %s.") % a["name"]
    if n == "get_weather":
        return "Here's the forecast for %s%s." % (a["city"], " " + a["day"] if "day" in a else "")
    if n == "create_event":
        return "Added %s on %s%s%s." % (a["title"], a["day"], " at " + a["time"] if "time" in a else "",
                                        ", " + a["location"] if "location" in a else "")
    if n == "play_music":
        return ("Shuffling %s." if a.get("shuffle") else "Playing %s.") % a["query"]
    if n == "set_volume":
        return "Volume set to %d." % a["level"]
    if n == "navigate":
        return "Getting %sdirections to %s." % (a["mode"] + " " if "mode" in a else "", a["destination"])
    if n == "toggle_setting":
        return "%s turned %s." % (SETTING_NAME[a["setting"]], "on" if a["on"] else "off")
    if n == "search_web":
        return "Searching the web for %s." % a["query"]
    raise ValueError(n)


R_WELCOME = "You're welcome!"
R_HELLO = "Hi! How can I help?"
R_HOWAREYOU = "I'm doing well, thanks! How can I help?"
R_WHO = "I'm your phone assistant."
R_CAN = ("I can set alarms, timers and reminders, send messages, make calls, check the weather, "
         "add calendar events, play music, set the volume, give directions, change settings and "
         "search the web.")
R_CANT = "Sorry, I can't do that."
R_BYE = "Goodbye!"
R_OK = "Okay."
R_JOKE = "Why did the phone wear glasses? It lost its contacts!"

NOCALL = {  # category -> (train phrasings, test phrasings, reply)
    "thanks": (["thanks", "thank you", "thanks a lot", "great thanks", "cool thx", "perfect",
                "awesome, thank you", "ok thanks", "nice", "got it, thanks", "thank you so much",
                "thx", "great", "cool", "appreciate it", "you're the best", "sweet"],
               ["many thanks", "thank you very much", "cheers mate", "brilliant, thanks",
                "that's great", "sweet, ty", "much appreciated", "lovely, thank you"], R_WELCOME),
    "hello": (["hi", "hello", "hey", "good morning", "hey there", "hiya", "good evening",
               "hello assistant", "morning", "yo"],
              ["greetings", "good afternoon", "howdy", "hi assistant", "hey hey"], R_HELLO),
    "howareyou": (["how are you", "how's it going", "how are you doing?", "what's up",
                   "how are things", "you doing ok?"],
                  ["how have you been", "how's your day going?", "are you doing well?", "what's new"],
                  R_HOWAREYOU),
    "who": (["who are you", "what's your name", "are you a robot", "are you human?",
             "what are you", "who made you", "do you have a name?"],
            ["tell me about yourself", "introduce yourself", "are you a real person?",
             "what should i call you"], R_WHO),
    "can": (["what can you do", "help", "what are your features", "what can you help me with",
             "what do you do?", "list your skills", "how can you help me"],
            ["what are you able to do", "what kind of things can you do?", "show me your abilities",
             "what tasks do you handle"], R_CAN),
    "cant": (["order a pizza", "book a flight to {city}", "transfer money to {name}",
              "turn on the kitchen lights", "buy {item} on amazon", "take a selfie",
              "translate hello into French", "lock the front door", "order an uber to {destination}",
              "pay my electricity bill", "delete all my photos", "read my emails",
              "book a table for two tonight", "start the car", "open the garage door",
              "make me a coffee", "order groceries", "reserve a hotel in {city}",
              "turn up the heating", "record this call", "unlock my laptop", "water my plants",
              "do my homework", "send money to {name}", "cook dinner", "clean my room"],
             ["book me a taxi", "buy a train ticket to {city}", "dim the bedroom lights",
              "order sushi for delivery", "check my bank balance", "rent a car in {city}",
              "lower the thermostat", "scan this document", "pay {name} back", "feed my dog",
              "vacuum the house", "print my boarding pass", "buy concert tickets",
              "charge my car remotely"], R_CANT),
    "joke": (["tell me a joke", "say something funny", "make me laugh", "know any jokes?"],
             ["got a joke for me?", "entertain me with a joke", "i need a laugh"], R_JOKE),
    "bye": (["bye", "good night", "see you later", "goodbye", "that's all", "talk later"],
            ["catch you later", "night night", "that's everything, bye", "so long"], R_BYE),
    "nevermind": (["never mind", "forget it", "cancel that", "nothing", "no", "nah",
                   "ignore that", "actually no"],
                  ["scratch that", "don't bother", "no need", "not now"], R_OK),
}
NOCALL_WEIGHTS = {"thanks": 3, "hello": 1.2, "howareyou": 0.8, "who": 0.8, "can": 0.8, "cant": 3,
                  "joke": 0.4, "bye": 0.8, "nevermind": 0.8}

# Incomplete requests: the assistant asks; the next user turn gives the missing value(s) and the
# call follows. (train phrasings, test phrasings, question, api, follow-up slot)
CLARIFY = {
    "set_alarm": (["set an alarm", "i need an alarm", "alarm please",
                   "can you set an alarm for me"],
                  ["an alarm would be nice", "please create an alarm"],
                  "What time should I set the alarm for?", ["time"]),
    "set_timer": (["set a timer", "start a timer", "timer please", "i need a timer"],
                  ["a countdown please", "could you run a timer"],
                  "How long should the timer be?", ["duration"]),
    "get_weather": (["what's the weather", "how's the weather?", "weather please",
                     "what's the forecast"],
                    ["is it going to be nice out?", "what's it like outside"],
                    "Which city?", ["city"]),
    "navigate": (["give me directions", "navigate", "i need directions", "start navigation"],
                 ["help me get somewhere", "open directions"],
                 "Where do you want to go?", ["destination"]),
    "call_contact": (["make a call", "call someone", "i want to call someone", "phone call please"],
                     ["start a phone call", "dial a number"],
                     "Who should I call?", ["name"]),
    "set_volume": (["change the volume", "set the volume", "adjust volume"],
                   ["fix the volume", "the volume is wrong"],
                   "What level, from 0 to 100?", ["level"]),
    "search_web": (["search the web", "do a web search", "search something for me"],
                   ["look something up online", "i need a web search"],
                   "What should I search for?", ["query"]),
    "play_music": (["play music", "put on some music", "i want to hear a song"],
                   ["music please", "some tunes?"],
                   "What would you like to hear?", ["query"]),
    "send_message": (["send a message to {recipient}", "text {recipient}", "message {recipient}"],
                     ["write {recipient} a text", "i need to message {recipient}"],
                     "What should the message say?", ["text"]),
}
FOLLOWUP = {  # how the user gives the value after a question: train / test phrasings
    "time": (["{time}", "at {time}", "{time} please", "make it {time}", "for {time}"],
             ["let's say {time}", "{time} would be good"]),
    "duration": (["{duration}", "{duration} please", "for {duration}", "make it {duration}"],
                 ["let's do {duration}", "{duration} should do"]),
    "city": (["{city}", "in {city}", "{city} please", "for {city}"],
             ["i'm in {city}", "check {city}"]),
    "destination": (["{destination}", "to {destination}", "take me to {destination}"],
                    ["i'm going to {destination}", "{destination} please"]),
    "name": (["{name}", "call {name}", "{name} please"], ["i'd like {name}", "try {name}"]),
    "level": (["{level}", "{level} please", "to {level}", "make it {level}"],
              ["{level} percent", "set it at {level}"]),
    "query": (["{query}", "search for {query}", "{query} please"], ["look up {query}", "try {query}"]),
    "text": (["{text}", "say {text}", "tell them {text}"], ["write {text}", "it should say {text}"]),
}
MUSIC_FOLLOWUP = (["{query}", "play {query}", "some {query}"], ["how about {query}", "maybe {query}"])
WEATHER_AGAIN = (["what about {city}?", "and in {city}?", "how about {city}[ {day}]", "and {city}[ {day}]?"],
                 ["same for {city}[ {day}]", "now check {city}"])
