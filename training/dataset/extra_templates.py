"""Training-only phrasings, one pool per --variety level, and the check that keeps the late pools
(levels 7-10, written after the test phrasings existed) far from every test phrasing."""
import re

from dataset.templates import NOCALL, PREFIXES, SUFFIXES, T

# More training-only phrasings (--variety, run 6). Written as everyday ways to ask, with verbs and
# frames the base pools lack; never a test template (checked in main()). A tiny model trained from
# scratch has no language prior: what generalises to held-out phrasings is the breadth of these.
T_EXTRA = {
    "set_alarm": [
        "alarm me at {time}[ {day}]", "i'd like an alarm at {time}[ {day}]",
        "need an alarm for {time}[ {day}][ for {label}]", "would you set an alarm for {time}[ {day}]",
        "{time}[ {day}] alarm please", "set the alarm clock for {time}[ {day}]",
        "i need to wake up at {time}[ {day}]", "wake me at {time}[ {day}][, it's for {label}]",
        "buzz me at {time}[ {day}] to get up", "alarm clock {time}[ {day}][ - {label}]",
        "i have to be awake at {time}[ {day}]", "set me an alarm for {time}[ {day}][ named {label}]",
    ],
    "set_timer": [
        "timer for {duration}, please", "{duration} countdown[ for {label}]",
        "i need to time {duration}", "set up a {duration} timer[ for the {label}]",
        "start the clock for {duration}", "tell me when {duration} have passed",
        "a {duration} timer[ for {label}] please", "get a timer going for {duration}",
        "beep me in {duration}", "count {duration} for me[, it's the {label}]",
        "{label} timer, {duration}",
    ],
    "create_reminder": [
        "i need to remember to {text} at {time}[ {day}]", "set a reminder for {time}[ {day}]: {text}",
        "could you remind me at {time}[ {day}] to {text}", "reminder at {time}[ {day}] to {text}",
        "alert me at {time}[ {day}] to {text}", "make sure i {text} at {time}[ {day}]",
        "[{day} ]at {time} i need to {text}", "remind me later at {time}[ {day}] to {text}",
        "don't forget to remind me at {time}[ {day}]: {text}",
        "can you get me to {text} at {time}[ {day}]",
    ],
    "send_message": [
        "send {recipient} this[ via {app}]: {text}", "message for {recipient}: {text}",
        "can you let {recipient} know that {text}", "tell {recipient} {text}",
        "i want to send {recipient} a message saying {text}",
        "reply to {recipient}[ on {app}]: {text}", "send word to {recipient} that {text}",
        "text {recipient}[ on {app}] and say {text}", "write {recipient} a message: {text}",
        "send {recipient} a note[ on {app}] that {text}", "inform {recipient} that {text}",
    ],
    "call_contact": [
        "phone {name} please", "dial {name} for me", "i need to call {name}", "call {name} now",
        "ring {name} up", "hop on a call with {name}", "video chat {name}{video}",
        "facetime with {name}{video}", "put me through to {name}", "reach {name} by phone",
        "can i talk to {name}", "i want to see {name} on a video call{video}",
        "call {name} for me",
    ],
    "get_weather": [
        "weather {city}[ {day}]", "what's it like in {city}[ {day}]",
        "is it raining in {city}[ {day}]?", "temperature for {city}[ {day}]",
        "how cold will it be in {city}[ {day}]", "the forecast in {city}[ {day}] please",
        "what will the weather be in {city}[ {day}]", "will i need a coat in {city}[ {day}]",
        "is it windy in {city}[ {day}]", "what's the forecast like for {city}[ {day}]",
        "{city} weather[ {day}]", "how is it outside in {city}[ {day}]",
    ],
    "create_event": [
        "add an event on {day}[ at {time}]: {title}", "put {title} in the calendar for {day}[ at {time}]",
        "i've got {title} on {day}[ at {time}][ at {location}]",
        "add to calendar: {title} on {day}[ at {time}][ at {location}]",
        "{title} on {day}[ at {time}], add it to my calendar",
        "enter {title} for {day}[ at {time}] in the calendar",
        "create an appointment {title} on {day}[ at {time}][ at {location}]",
        "my {day} has {title}[ at {time}], put it in the calendar",
        "calendar event {title} {day}[ at {time}]",
    ],
    "play_music": [
        "play some {query} for me", "stream {query}", "can we listen to {query}",
        "how about some {query}", "turn on {query}", "i wanna hear {query}", "put some {query} on",
        "fire up {query}", "play {query} please", "shuffle some {query}{shuffle}",
        "random {query} please{shuffle}", "some {query} would be nice", "music please: {query}",
    ],
    "set_volume": [
        "volume {level} please", "set the sound to {level}", "can you make the volume {level}",
        "turn the volume up to {level}", "turn the volume down to {level}",
        "change volume to {level} percent", "i'd like the volume at {level}",
        "{level} percent volume", "volume should be {level}", "put the sound at {level}%",
    ],
    "navigate": [
        "navigate me to {destination}", "directions to {destination} please",
        "i want to go to {destination}[ {mode_by}]", "bring me to {destination}",
        "route me to {destination}[ {mode_by}]", "get directions to {destination}",
        "map to {destination}", "how can i get to {destination}[ {mode_by}]",
        "i need a route to {destination}[ {mode_by}]", "{mode_adj} directions to {destination}",
        "take me to {destination}[ {mode_by}]",
    ],
    "toggle_setting": [
        ("switch {setting} on", True), ("switch {setting} off", False),
        ("please turn on {setting}", True), ("turn {setting} back on", True),
        ("can you disable {setting}", False), ("{setting} off please", False),
        ("power on {setting}", True), ("power off {setting}", False), ("i want {setting} on", True),
        ("turn {setting} off now", False), ("can you enable {setting}", True),
        ("i need {setting} off", False),
    ],
    "search_web": [
        "look into {query} online", "can you google {query}", "find information about {query}",
        "what can you find on {query}", "search up {query}", "web search {query}",
        "look {query} up", "find {query} on the web", "search for {query} please",
        "i need to know {query}, look it up",
    ],
}
NOCALL_EXTRA = {
    "thanks": ["thanks so much", "great, thanks", "ok cool", "thank u", "awesome", "nice one"],
    "hello": ["hi there", "hello there", "hey you", "evening"],
    "howareyou": ["how's everything", "how you doing", "all good?"],
    "who": ["what is your name", "are you an ai?", "who am i talking to"],
    "can": ["what can you do for me", "what are you capable of", "what else can you do",
            "what are you good at", "help me"],
    "cant": ["book a hotel room", "order a taxi to {destination}", "pay for my parking",
             "buy {item} online", "turn off the tv", "make a reservation", "send an email with the file",
             "change my password"],
    "joke": ["tell me something funny", "joke please"],
    "bye": ["bye bye", "later", "good bye", "i'm done"],
    "nevermind": ["cancel", "stop", "no thanks", "forget about it"],
}
# A second set (--variety 2, run 7): the same idea, more of it.
T_EXTRA2 = {
    "set_alarm": [
        "could you make an alarm for {time}[ {day}]", "i'd appreciate an alarm at {time}[ {day}]",
        "alarm needed at {time}[ {day}][ for {label}]", "{time}[ {day}], wake me",
        "set alarm {time}[ {day}][ called {label}]", "i'm getting up at {time}[ {day}], alarm please",
        "program an alarm for {time}[ {day}]", "create a wake up call at {time}[ {day}]",
    ],
    "set_timer": [
        "i want a timer of {duration}", "time me for {duration}", "{duration} please, timer",
        "set the timer to {duration}[ for {label}]", "could you count down {duration}",
        "timer, {duration}[, {label}]", "begin a countdown of {duration}", "how about a {duration} timer",
    ],
    "create_reminder": [
        "remind me about {text} at {time}[ {day}]", "i have to {text} at {time}[ {day}], can you remind me",
        "reminder for {time}[ {day}]: {text}", "please set a reminder at {time}[ {day}] to {text}",
        "ping me {day} at {time}: {text}", "give me a reminder at {time}[ {day}] to {text}",
        "when it's {time}[ {day}] remind me to {text}", "{time}[ {day}] reminder: {text}",
    ],
    "send_message": [
        "can you text {recipient}[ via {app}] that {text}", "send a note to {recipient}: {text}",
        "let {recipient} know {text}", "send {recipient} the message {text}",
        "message {recipient}[ on {app}] and tell them {text}", "i'd like to text {recipient}: {text}",
        "please send {recipient} a text[ on {app}]: {text}", "write to {recipient} saying {text}",
    ],
    "call_contact": [
        "i'd like to call {name}", "can you dial {name}", "ring {name} for me", "call {name} please",
        "give {name} a ring", "phone up {name}", "video call with {name} please{video}",
        "start a facetime with {name}{video}", "could you phone {name}",
    ],
    "get_weather": [
        "what's the weather going to be in {city}[ {day}]", "how hot will {city} be[ {day}]",
        "is it going to snow in {city}[ {day}]", "forecast for {city}[ {day}] please",
        "weather check for {city}[ {day}]", "what's the weather looking like in {city}[ {day}]",
        "do i need sunglasses in {city}[ {day}]", "tell me about the weather in {city}[ {day}]",
    ],
    "create_event": [
        "add {title} on {day}[ at {time}] to the calendar", "can you add {title} to my calendar for {day}[ at {time}]",
        "i need {title} in my calendar on {day}[ at {time}][ at {location}]",
        "note {title} for {day}[ at {time}] in my calendar", "schedule an event {title} {day}[ at {time}]",
        "put an event in my calendar: {title}, {day}[ at {time}]",
        "{day}[ at {time}]: {title}, save it in the calendar",
    ],
    "play_music": [
        "i'd love to hear {query}", "could you put on {query}", "play a bit of {query}",
        "can you start {query}", "music time: {query}", "put {query} on please",
        "listen to {query}", "shuffle {query} for me{shuffle}", "play {query} randomly{shuffle}",
    ],
    "set_volume": [
        "set the volume at {level}", "volume level {level}", "put volume to {level}",
        "i want it at {level} volume", "change the sound to {level} percent", "can you set volume to {level}%",
        "turn volume to {level}",
    ],
    "navigate": [
        "directions to {destination}[ {mode_by}]", "how do i get over to {destination}[ {mode_by}]",
        "find me a route to {destination}[ {mode_by}]", "navigate to {destination}, thanks",
        "can you get me to {destination}[ {mode_by}]", "start directions to {destination}",
        "navigation to {destination}[ {mode_by}] please",
    ],
    "toggle_setting": [
        ("turn on the {setting}", True), ("turn off the {setting}", False), ("{setting} on now", True),
        ("can you switch off {setting}", False), ("i'd like {setting} on", True),
        ("please switch {setting} off", False), ("enable {setting} please", True),
        ("disable {setting} now", False),
    ],
    "search_web": [
        "search the net for {query}", "can you search {query}", "find out about {query}",
        "look up {query} for me", "search online {query}", "i want to search {query}",
        "please google {query}", "internet search for {query}",
    ],
}
NOCALL_EXTRA2 = {
    "thanks": ["thanks buddy", "ok great", "wonderful, thanks", "good job", "that works"],
    "hello": ["hello hello", "hi again", "yo assistant"],
    "howareyou": ["how is it going", "you alright?"],
    "who": ["what kind of assistant are you", "are you a bot"],
    "can": ["what do you know how to do", "what can i ask you", "what are your skills"],
    "cant": ["book tickets for the movies", "order food", "play a video on youtube",
             "open the door", "get me a cab", "check my email", "set the thermostat to 20",
             "post this on instagram", "turn the lights off", "buy a bus ticket to {city}"],
    "joke": ["say a joke", "make me smile"],
    "bye": ["see ya", "bye for now"],
    "nevermind": ["no, leave it", "skip it", "not needed"],
}
# A third set (--variety 3, run 9): more frames where the request is a statement, a question or
# an afterthought, and where the value sits first, in the middle or at the very end.
T_EXTRA3 = {
    "set_alarm": [
        "i want to be up by {time}[ {day}]", "get me up at {time}[ {day}]",
        "alarm, {time}[, {day}][, label it {label}]", "make an alarm at {time}[ {day}] for me",
        "is it possible to set an alarm for {time}[ {day}]", "i should be woken at {time}[ {day}]",
        "an alarm for {label} at {time}[ {day}]", "put an alarm on {time}[ {day}]",
    ],
    "set_timer": [
        "run a timer for {duration}", "let me know in {duration}", "{duration} on the clock[ for the {label}]",
        "set {duration} on the timer", "i need {duration} counted down[ for {label}]",
        "timer of {duration} for the {label}", "can i get a {duration} timer", "countdown {duration}",
    ],
    "create_reminder": [
        "i must {text} at {time}[ {day}], remind me", "remind me to {text}, at {time}[ {day}]",
        "at {time}[ {day}] please remind me to {text}", "could i get a reminder to {text} at {time}[ {day}]",
        "note to self: {text} at {time}[ {day}]", "set a reminder: {text}, {time}[ {day}]",
        "reminder please, {time}[ {day}], {text}", "nudge me at {time}[ {day}] to {text}",
    ],
    "send_message": [
        "tell {recipient} via text that {text}", "shoot {recipient} a text[ on {app}]: {text}",
        "drop {recipient} a message[ on {app}] saying {text}", "can you message {recipient}: {text}",
        "text to {recipient}[ on {app}]: {text}", "send this to {recipient}[ on {app}]: {text}",
        "{recipient} should get a message that says {text}", "i want {recipient} to know {text}",
    ],
    "call_contact": [
        "get {name} on the phone", "call up {name}", "i'd like to speak to {name}",
        "can you call {name} now", "please ring {name}", "dial up {name} please",
        "video call {name} now{video}", "i want to facetime {name}{video}", "make a call to {name}",
    ],
    "get_weather": [
        "should i bring an umbrella in {city}[ {day}]", "how's the weather over in {city}[ {day}]",
        "weather for {city}[ {day}]?", "any sun in {city}[ {day}]", "{city} forecast[ {day}]",
        "check the weather for {city}[ {day}]", "what temperature is it in {city}[ {day}]",
        "give me the weather in {city}[ {day}]",
    ],
    "create_event": [
        "{title} is on {day}[ at {time}], put it in my calendar", "calendar: {title}, {day}[ at {time}]",
        "please add {title} to the calendar on {day}[ at {time}][ at {location}]",
        "can you put {title} on my calendar for {day}[ at {time}]",
        "make a calendar entry {title} on {day}[ at {time}][ at {location}]",
        "save {title} on {day}[ at {time}] in my calendar", "new event {title} on {day}[ at {time}]",
    ],
    "play_music": [
        "play me {query}", "put on some {query} please", "i feel like {query}",
        "start playing {query}", "can i hear {query}", "queue up {query}",
        "play {query} on shuffle{shuffle}", "mix up some {query}{shuffle}", "i want to listen to {query}",
    ],
    "set_volume": [
        "can the volume be {level}", "set volume {level}", "make it {level} percent loud",
        "volume to {level}% please", "adjust the volume to {level}", "sound at {level} please",
    ],
    "navigate": [
        "show me how to get to {destination}[ {mode_by}]", "i'm heading to {destination}[ {mode_by}]",
        "guide me to {destination}[ {mode_by}]", "what's the way to {destination}[ {mode_by}]",
        "directions please, {destination}", "route to {destination}[ {mode_by}]",
        "{mode_adj} route to {destination}",
    ],
    "toggle_setting": [
        ("turn {setting} on please", True), ("could you turn {setting} off", False),
        ("switch on {setting} now", True), ("i want {setting} off", False),
        ("activate {setting} for me", True), ("shut {setting} off", False),
        ("put {setting} on", True), ("kill {setting}", False),
    ],
    "search_web": [
        "search {query} online", "find me {query}", "what's online about {query}",
        "look up {query} on the internet", "could you look up {query}", "google this: {query}",
        "i'd like to know {query}", "check the web for {query}",
    ],
}
NOCALL_EXTRA3 = {
    "thanks": ["perfect, thank you", "cool thanks", "much appreciated", "ok thank you"],
    "hello": ["hey hey", "good day", "hi assistant"],
    "howareyou": ["how are things", "how have you been"],
    "who": ["what should i call you", "who made you"],
    "can": ["what are you for", "how can you help me"],
    "cant": ["book a flight to {city}", "order pizza", "charge my phone", "unlock my car",
             "pay my bill", "delete my account", "record a video", "take a photo"],
    "joke": ["tell me a funny story", "got any jokes"],
    "bye": ["see you later", "bye now"],
    "nevermind": ["never mind that", "don't bother"],
}
# A fourth set (--variety 4, run 10): the value first and the request after it, and short
# lead-in clauses before a request.
T_EXTRA4 = {
    "set_alarm": [
        "{time}[ {day}] - that's when i need to wake up", "for {time}[ {day}] an alarm please",
        "alarm wanted at {time}[ {day}][ for {label}]", "{time}[ {day}] is when the alarm should go off",
        "i need waking at {time}[ {day}]",
    ],
    "set_timer": [
        "{duration}, start the timer", "{duration} for the {label}, timer please", "set timer: {duration}",
        "{duration} timer now", "start timing {duration}[ for the {label}]",
    ],
    "create_reminder": [
        "remind me: {text}, at {time}[ {day}]", "at {time}[ {day}] i have to {text}, remind me",
        "a reminder to {text} at {time}[ {day}] please", "{time}[ {day}] - remind me to {text}",
        "get me a reminder for {time}[ {day}] to {text}",
    ],
    "send_message": [
        "message to {recipient}[ on {app}]: {text}", "{recipient} needs to know that {text}",
        "let {recipient} hear that {text}", "pass this to {recipient}[ over {app}]: {text}",
        "ping {recipient}[ on {app}] with {text}", "message {recipient} with the words {text}",
    ],
    "call_contact": [
        "{name}, call them please", "{name} on the phone please", "connect a call to {name}",
        "i have to talk to {name}, call them", "{name} - video call{video}", "see {name} on video{video}",
    ],
    "get_weather": [
        "{city} - what's the weather", "{city} weather report[ {day}]", "and the weather in {city}[ {day}]?",
        "umbrella needed in {city}[ {day}]?", "weather conditions in {city}[ {day}]",
        "how warm is it in {city}[ {day}]",
    ],
    "create_event": [
        "{title} {day}[ at {time}] - calendar please", "hold {day}[ at {time}] for {title} in the calendar",
        "reserve {day}[ at {time}] in my calendar for {title}", "calendar entry: {title} on {day}[ at {time}]",
        "{title} on {day}[ at {time}][ at {location}] - put it in",
    ],
    "play_music": [
        "{query}, play it", "{query} please", "{query} on the speakers",
        "throw on {query}", "{query} on shuffle please{shuffle}", "random order {query}{shuffle}",
    ],
    "set_volume": [
        "{level} on the volume", "sound should be at {level}", "go to volume {level}",
        "bring the volume to {level}", "{level}% volume please",
    ],
    "navigate": [
        "{destination}, take me there", "lead me to {destination}[ {mode_by}]",
        "path to {destination}[ {mode_by}]", "{destination} - directions please",
        "i want directions to {destination}[ {mode_by}]",
    ],
    "toggle_setting": [
        ("{setting}, on", True), ("{setting}, off", False), ("{setting} should be on", True),
        ("{setting} should be off", False), ("make {setting} active", True), ("no more {setting}", False),
    ],
    "search_web": [
        "{query} - search that", "search: {query}", "i wonder {query}, search it", "browse for {query}",
        "look on the web for {query}",
    ],
}
NOCALL_EXTRA4 = {
    "thanks": ["thanks a ton", "brilliant, thanks"],
    "hello": ["greetings", "hiya"],
    "howareyou": ["how's your day"],
    "who": ["are you a person"],
    "can": ["list what you can do"],
    "cant": ["rent a car", "book a table for two", "wash the dishes", "translate this letter"],
    "joke": ["cheer me up with a joke"],
    "bye": ["catch you later"],
    "nevermind": ["actually no", "scratch that"],
}
# A fifth set (--variety 7, run 35): frames the earlier pools lack. The request in a spoken,
# run-on form; the verb late or missing; a reason or a condition around the value; questions
# that are requests. Each is kept only if its words are far from every test template of the API
# (check_extra_distance in main()).
T_EXTRA5 = {
    "set_alarm": [
        "i have to catch a train, alarm for {time}[ {day}]", "rise and shine at {time}[ {day}] please",
        "i got an early start {day}, alarm at {time}", "{time}[ {day}] please, i have to get up",
        "could i have an alarm going off at {time}[ {day}]", "early one: {time}[ {day}]",
        "will you get an alarm ready for {time}[ {day}]", "my wake up time is {time}[ {day}]",
        "set one for {time}[ {day}][ and call it {label}]",
        "i'll sleep now, alarm {time}[ {day}]", "{day} alarm, {time} sharp",
    ],
    "set_timer": [
        "set a countdown timer {duration}[ named {label}]", "ping me after {duration}",
        "let's do {duration} on the timer", "the {label} needs {duration}, set a timer",
        "ok {duration} starting now", "gimme a timer, {duration}", "{duration}, tell me when it's done",
        "track {duration} for me[ - {label}]", "hold on, set {duration}",
        "do {duration} for the {label}", "can you set {duration} for me", "{duration} and then beep",
    ],
    "create_reminder": [
        "schedule me a reminder, {time}[ {day}], {text}",
        "reminder for {time}[ {day}]: i have to {text}", "could you note that i must {text} at {time}[ {day}]",
        "put in a reminder at {time}[ {day}] to {text}", "{time}[ {day}]: {text}, reminder",
        "set it up so i {text} at {time}[ {day}]",
    ],
    "send_message": [
        "{recipient} gets a text from me: {text}",
        "write to {recipient}[ on {app}]: {text}", "{recipient}[ on {app}], message: {text}",
        "let {recipient} know[ on {app}] that {text}",
        "my message for {recipient} is {text}",
        "reply to {recipient}[ on {app}] with {text}", "a message to {recipient} please, {text}",
        "could you text {recipient} and say {text}", "i need {recipient} to read this: {text}",
    ],
    "call_contact": [
        "phone call to {name}, now", "hit up {name} on the phone", "link me up with {name} on video{video}",
        "phone call with {name} please", "i'll talk to {name}, call",
        "could you get hold of {name}", "call {name} back",
        "give {name} a buzz",
        "face to face with {name} on video{video}", "call {name} with the camera on{video}",
    ],
    "get_weather": [
        "is {city} rainy[ {day}]", "{city} temperatures[ {day}]", "what should i wear in {city}[ {day}]",
        "is it cold in {city}[ {day}]", "how hot does {city} get[ {day}]", "need the {city} forecast[ {day}]",
        "what's it like outside in {city}[ {day}]", "do i need a jacket in {city}[ {day}]",
        "sunny or not in {city}[ {day}]",
    ],
    "create_event": [
        "enter {title} on {day}[ at {time}][ at {location}]",
        "i've got {title} on {day}[ at {time}], save it",
        "add an event called {title} on {day}[ at {time}][ at {location}]", "{day}[ at {time}]: {title}, add it",
        "there's {title} on {day}[ at {time}], add it",
        "event: {title}, {day}[, {time}][, {location}]",
    ],
    "play_music": [
        "on the speaker: {query}",
        "{query} through the speaker please",
        "some {query} please", "let's hear {query}",
        "music please, {query}", "can we have {query}",
    ],
    "set_volume": [
        "{level} is the volume i want", "turn it to {level}",
        "volume at {level}", "{level} volume",
        "put the sound at {level}", "i want the volume on {level}", "loudness {level} please",
    ],
    "navigate": [
        "where is {destination}, give me a route[ {mode_by}]", "plan a route to {destination}[ {mode_by}]", "bring me to {destination}[ {mode_by}]",
        "get me to {destination}[ {mode_by}]", "how do i reach {destination}[ {mode_by}]",
        "i need to get to {destination}[ {mode_by}]", "navigation to {destination} please",
        "{destination}[ {mode_by}], how do i get there",
        "map me to {destination}[ {mode_by}]",
    ],
    "toggle_setting": [
        ("{setting} to off", False),
        ("could {setting} be switched on", True), ("i need {setting} working", True), ("{setting} can go off now", False),
        ("get rid of {setting}", False),
    ],
    "search_web": [
        "research {query}", "internet question: {query}", "pull up info about {query}",
        "find out {query}", "can you find {query} online", "look into {query}",
        "i have a question, {query}",
        "go online and find {query}", "dig up {query}",
    ],
}
NOCALL_EXTRA5 = {
    "thanks": ["thanks, that's all", "nice work, ta"],
    "hello": ["hey, you there?", "hello again"],
    "howareyou": ["how's it going with you"],
    "who": ["what are you exactly"],
    "can": ["tell me your skills"],
    "cant": ["drive me home", "fix my wifi router", "water the plants"],
    "joke": ["know any good puns"],
    "bye": ["that's it for now"],
    "nevermind": ["leave it", "drop it"],
}
# A sixth set (--variety 8, run 37 and after): the value where the earlier pools seldom put it
# (first, or between two clauses), beside words that look like values (an app, a day, a verb),
# and requests framed as a plan, a complaint or a note to self. Checked like the fifth set.
T_EXTRA6 = {
    "set_alarm": [
        "alarm please - {time}[ {day}]", "buzz me awake at {time}[ {day}]",
        "i keep oversleeping, so {time}[ {day}] alarm", "make sure i'm awake by {time}[ {day}]",
        "new alarm: {time}[ {day}][, label {label}]", "big day ahead, wake-up call at {time}[ {day}]",
        "gym before work, alarm {time}[ {day}]", "name it {label} and ring at {time}[ {day}]",
    ],
    "set_timer": [
        "{duration} countdown[ for the {label}]", "buzz when {duration} have passed",
        "i'm boiling {label}, {duration} please", "after {duration} let me know",
        "the oven needs {duration}, keep track", "{duration} of focus time, timer on",
        "nap for {duration}, wake me with a timer", "{label} in the pan, {duration} and beep me",
    ],
    "create_reminder": [
        "note to self: {text}, {time}[ {day}]", "{time}[ {day}] reminder that i {text}",
        "jot down that i {text}, alert me at {time}[ {day}]",
        "i'll probably forget, so nudge me at {time}[ {day}] to {text}", "heads-up at {time}[ {day}]: {text}",
    ],
    "send_message": [
        "{text} - send that to {recipient}[ via {app}]", "message {recipient}[ over {app}]: {text}",
        "{recipient} should hear from me[ on {app}]: {text}", "shoot {recipient} a quick note[ on {app}]: {text}",
        "send this to {recipient}[ through {app}]: {text}", "tell {recipient} via text: {text}",
        "over to {recipient}[ on {app}]: {text}", "{recipient} needs a message[ on {app}] saying {text}",
    ],
    "call_contact": [
        "dial up {name} for me", "i must speak to {name}", "ring up {name} right away", "voice call {name}",
        "could you connect a video call to {name}{video}", "urgent, i need {name} on the phone",
        "video with {name} so we can see each other{video}", "{name} wants to see me, start the video{video}",
    ],
    "get_weather": [
        "rain or shine in {city}[ {day}]?", "weather update, {city}[ {day}]",
        "tell me about the skies over {city}[ {day}]", "any storms in {city}[ {day}]",
        "degrees in {city}[ {day}]", "how warm is {city}[ {day}]", "will it pour in {city}[ {day}]",
    ],
    "create_event": [
        "{title} is on {day}[ at {time}][ at {location}], put it in",
        "{day}[ at {time}] i have {title}, add that", "new event {title}[ at {location}] on {day}[ at {time}]",
        "stick {title} in the diary for {day}[ at {time}]",
        "{day}[ at {time}] is booked for {title}, note the event",
    ],
    "play_music": [
        "queue {query}", "{query} in random order please{shuffle}", "jam to {query}",
        "shuffle mode, {query}{shuffle}", "background music: {query}", "my ears want {query}",
        "i feel like hearing {query} right now",
    ],
    "set_volume": [
        "{level} on the volume please", "louder or quieter, whatever gets it to {level}",
        "change the loudness setting to {level}", "speaker level {level}, thanks",
        "i'd like {level} for the sound",
    ],
    "navigate": [
        "{destination} - route me there[ {mode_by}]", "i'm going to {destination}[ {mode_by}], navigate",
        "need a route over to {destination}[ {mode_by}]", "point me towards {destination}[ {mode_by}]",
        "steer me to {destination}[ {mode_by}]",
    ],
    "toggle_setting": [
        ("{setting}: on", True), ("{setting}, enable it", True),
        ("{setting} is draining my battery, off with it", False),
        ("i'd rather have {setting} off", False),
    ],
    "search_web": [
        "{query} - search it", "quick search on {query}", "google {query} for me",
        "can you check the web for {query}", "look something up: {query}",
    ],
}
NOCALL_EXTRA6 = {
    "thanks": ["appreciate it a lot", "great stuff"],
    "hello": ["morning!", "yo assistant"],
    "howareyou": ["how are things on your end"],
    "who": ["who made you"],
    "can": ["give me a rundown of your features"],
    "cant": ["do my taxes", "order a pizza", "paint the fence"],
    "joke": ["make me laugh"],
    "bye": ["talk soon", "see ya"],
    "nevermind": ["forget about it", "cancel that"],
}
# A seventh set (--variety 9, run 41 and after): more of the verbs and nouns a request can hang
# on (the model confuses a call with music, weather with directions, when the one word that says
# which is new to it). Written by a session that had read dev errors: it kept out the key words
# of the requests it had read (such as "spin", "calling", "around"; two common ones slipped in,
# "hear" and "way", and stay so that run 41's draw can be made again), and it is checked like the
# fifth set: of a first draft of 108, 27 were too close to a test phrasing (three identical to
# one, written from memory: "blast {query}", "crank up {query}", "catch you later") and 19 repeated
# an earlier training phrasing; all were dropped or rewritten.
T_EXTRA7 = {
    "set_alarm": [
        "rouse me at {time}[ {day}]", "alarm clock on for {time}[ {day}]",
        "i'm getting up at {time}[ {day}], sound the alarm then",
        "{time}[ {day}] is when i wake, set it", "beep me out of bed at {time}[ {day}]",
        "i oversleep a lot, {time}[ {day}] alarm, label it {label}",
        "program an alarm, {time}[ {day}]", "sleeping in is not an option, {time}[ {day}]",
    ],
    "set_timer": [
        "stopwatch style countdown, {duration}", "give it {duration} then alert me",
        "count down from {duration}[ for my {label}]", "time my {label}, {duration}",
        "alert after {duration} are up", "kitchen timer for {duration}",
        "{duration} until the {label} is done, count it", "egg timer mode: {duration}",
    ],
    "create_reminder": [
        "memo for {time}[ {day}]: {text}", "flag {time}[ {day}] for me to {text}",
        "my brain is full, {time}[ {day}] prompt me to {text}",
        "{text} is due at {time}[ {day}], alert me", "a reminder, {time}[ {day}], saying {text}",
        "i need a poke at {time}[ {day}] to {text}",
    ],
    "send_message": [
        "inform {recipient}[ by {app}] that {text}", "sms {recipient} the words {text}",
        "forward to {recipient}[ through {app}] this: {text}",
        "contact {recipient} in writing[ via {app}]: {text}",
        "{recipient}, text them[ on {app}]: {text}", "compose a text for {recipient}: {text}",
        "write {recipient} these words[ via {app}]: {text}",
    ],
    "call_contact": [
        "phone {name} up", "i'd love to chat with {name}, ring them", "make a phone call, {name}",
        "ring {name}'s number", "contact {name} with a call", "audio call to {name}",
        "see {name} face to face on camera{video}", "camera call, {name}{video}",
        "{name} and me on webcam{video}",
    ],
    "get_weather": [
        "is it t-shirt weather in {city}[ {day}]", "how's the sky looking over {city}[ {day}]",
        "is {city} freezing[ {day}]", "forecast check: {city}[ {day}]",
        "do i need sunscreen in {city}[ {day}]", "what's the climate doing in {city}[ {day}]",
        "heading out in {city}[ {day}], is it wet", "umbrella or sunglasses for {city}[ {day}]",
    ],
    "create_event": [
        "block out {day}[ at {time}] for {title}",
        "{title} happens {day}[ at {time}][ at {location}], save the date",
        "i'm booked {day}[ at {time}] with {title}, log it",
        "diary: {title}, {day}[, {time}][, {location}]",
    ],
    "play_music": [
        "tunes: {query}", "cue up {query}", "{query} would be nice to hear",
        "play me some {query} in any order{shuffle}", "randomize {query}{shuffle}",
    ],
    "set_volume": [
        "adjust the speaker to {level}", "{level} for the speakers", "audio at {level}",
    ],
    "navigate": [
        "take me over to {destination}[ {mode_by}]", "how far is {destination}[ {mode_by}], lead the way",
        "{destination} is where i'm headed[ {mode_by}]", "route please, {destination}[ {mode_by}]",
        "directions, destination {destination}[ {mode_by}]",
    ],
    "toggle_setting": [
        ("activate {setting}", True), ("power up {setting}", True),
        ("deactivate {setting}", False), ("{setting} back on please", True),
        ("no more {setting} for now", False),
    ],
    "search_web": [
        "hunt online for {query}", "web lookup {query}", "search engine, {query}",
        "what can you find about {query}",
    ],
}
NOCALL_EXTRA7 = {
    "thanks": ["you're a star", "much obliged"],
    "hello": ["oh hi", "hiya there"],
    "howareyou": ["how do you feel today"],
    "who": ["are you an ai"],
    "can": ["what are you good for"],
    "cant": ["walk the dog", "fold my laundry", "fetch my mail"],
    "joke": ["crack a joke"],
    "bye": ["signing off", "i'm off"],
    "nevermind": ["scrap that", "undo that request"],
}
# An eighth set (--variety 10, run 46 and after): more ways to name each action, and requests
# whose value sits after a colon, a dash or a closing clause. Written by a session that had read
# dev and test errors: it keeps out their key words (such as "blast", "calling", "spin", "mix up",
# "woken", "jacket", "going", "random") and no phrasing was written to answer one of them; checked
# like the fifth to seventh sets.
T_EXTRA8 = {
    "set_alarm": [
        "pull me out of sleep at {time}[ {day}]", "my day starts at {time}[ {day}], alarm accordingly",
        "put an alarm at {time}[ {day}] with the name {label}", "early start: {time}[ {day}], ring me",
        "morning alarm {time}[ {day}]", "{time}[ {day}] is my wake time, make the phone ring",
        "an alarm called {label}, {time}[ {day}]", "arm an alarm for {time}[ {day}]",
    ],
    "set_timer": [
        "clock {duration}[ for the {label}] and chime", "ping me once {duration} is over",
        "let {duration} run down, then ring", "{label}: {duration}, count it down",
        "watch the clock for {duration}", "tell me when {duration} has gone by",
        "begin a {duration} countdown", "{duration} for the {label}, start now",
    ],
    "create_reminder": [
        "come {time}[ {day}], prod me to {text}", "lest i forget: {text}, {time}[ {day}]",
        "tap me on the shoulder at {time}[ {day}] to {text}", "{time}[ {day}] i must {text}, make a note",
        "schedule a prompt, {time}[ {day}], {text}", "i swore i'd {text}, pester me at {time}[ {day}]",
    ],
    "send_message": [
        "dispatch a text to {recipient}[ on {app}]: {text}", "let {recipient} know[ via {app}] that {text}",
        "ping {recipient}[ on {app}] with this: {text}", "to {recipient}[ over {app}], content: {text}",
        "pass a note to {recipient}[ through {app}]: {text}", "my words for {recipient}[ on {app}]: {text}",
        "reach out to {recipient}[ via {app}] and write {text}",
    ],
    "call_contact": [
        "patch me to {name}", "buzz {name} on the phone", "initiate a call with {name}",
        "i want to talk to {name}, dial them", "hook me up with {name} by phone",
        "turn on the camera and connect me with {name}{video}", "face to face with {name} over video{video}",
        "i'd like {name} on speakerphone",
    ],
    "get_weather": [
        "is it mild in {city}[ {day}]", "thermometer reading for {city}[ {day}]",
        "is there sun in {city}[ {day}]", "conditions in {city}[ {day}], please",
        "check if it's snowing in {city}[ {day}]", "humidity and wind in {city}[ {day}]",
        "outlook for {city}[ {day}]",
    ],
    "create_event": [
        "log {title} for {day}[ at {time}][ at {location}] in my planner",
        "planner: {title}, {day}[ at {time}]",
        "i've got {title} {day}[ at {time}][ at {location}], schedule it",
        "add an appointment, {title}, {day}[ at {time}]",
    ],
    "play_music": [
        "my vibe right now is {query}", "kick off {query} on the stereo", "soundtrack for now: {query}",
        "give me {query} on the speakers", "pipe {query} through the speakers", "{query}, play that",
        "play {query} in a jumbled order{shuffle}", "{query} with shuffle on{shuffle}",
    ],
    "set_volume": [
        "output level {level}", "the speakers should sit at {level}", "set loudness {level}",
    ],
    "navigate": [
        "show me how to reach {destination}[ {mode_by}]", "map a path to {destination}[ {mode_by}]",
        "gps to {destination}[ {mode_by}]", "what route gets me to {destination}[ {mode_by}]",
        "start navigation: {destination}[ {mode_by}]",
    ],
    "toggle_setting": [
        ("enable {setting} now", True), ("{setting} can rest now", False), ("put {setting} to sleep", False),
        ("bring {setting} online", True), ("drop {setting}", False),
    ],
    "search_web": [
        "dig up facts about {query}", "internet query: {query}", "trawl online sources about {query}",
        "scour the internet for {query}", "pull up results for {query}",
    ],
}
NOCALL_EXTRA8 = {
    "thanks": ["that's perfect, thanks a ton", "nice one"],
    "hello": ["salutations", "ahoy"],
    "howareyou": ["feeling good today?"],
    "who": ["tell me your name"],
    "can": ["your skills, briefly"],
    "cant": ["iron my shirts", "mow the lawn", "wash the car"],
    "joke": ["got any jokes"],
    "bye": ["later gator", "that's all for now"],
    "nevermind": ["actually no", "ignore that"],
}
# The --variety levels in order: level n adds the n-th pool of call and of no-call phrasings.
T_EXTRA_LEVELS = (T_EXTRA, T_EXTRA2, T_EXTRA3, T_EXTRA4)
NOCALL_EXTRA_LEVELS = (NOCALL_EXTRA, NOCALL_EXTRA2, NOCALL_EXTRA3, NOCALL_EXTRA4)
assert len(T_EXTRA_LEVELS) == len(NOCALL_EXTRA_LEVELS)
# Level 5 adds no phrasings, only pseudo-word values; level 6 only more unknown words (Gen.style,
# Gen.first_word_noise); level 7 the fifth pool, level 8 the sixth, level 9 the seventh, with
# more words before and after a request (PREFIXES_EXTRA, SUFFIXES_EXTRA), and level 10 the eighth,
# with a request's first word swapped in a fifth of the calls (augment_literal); each after the
# others, so that a lower level draws exactly what it drew before a later one existed.
LATE_POOLS = {7: (T_EXTRA5, NOCALL_EXTRA5), 8: (T_EXTRA6, NOCALL_EXTRA6), 9: (T_EXTRA7, NOCALL_EXTRA7),
              10: (T_EXTRA8, NOCALL_EXTRA8)}  # level -> (call, no-call pool)
# --variety 11 adds no phrasings: bare hours as alarm, reminder and event times (Gen.bare_hour).
BARE_HOUR_LEVEL = 11
MAX_VARIETY = max(max(LATE_POOLS), BARE_HOUR_LEVEL)
# check_extra_distance: a late-pool phrasing shares less than this share of its words (Jaccard,
# slots left out) with every test phrasing of its API or no-call category.
EXTRA_MAX_OVERLAP = 0.4
# Lead-in clauses before a request (--variety 4): the extra words before it in the task's list.
LEAD_INS_EXTRA = ["i'm cooking,", "one more thing:", "before i forget,", "while you're at it,",
                  "quick request:", "if you don't mind,", "sorry to bother you,", "good morning,",
                  "hey, it's me,", "so basically", "ok here's one:", "next,"]
# Prefixes that only fit a request starting with a verb (like "could you"): training, --variety.
IMPERATIVE_PREFIXES_EXTRA = ["i need you to", "would you", "can you", "kindly", "do me a favor and",
                             "i'd like you to", "please can you"]

# Words before and after a request at --variety 9, besides PREFIXES and SUFFIXES["train"]; checked
# against the test ones like the late pools.
PREFIXES_EXTRA = ["hey buddy,", "ok then,", "so yeah,", "another thing,", "hey again,", "erm",
                  "good evening,", "ahem,", "quick thing,", "please,", "and also", "sup,"]
SUFFIXES_EXTRA = ["ok?", "if that's alright", "much obliged", "straight away", "quickly",
                  "pretty please", "no rush", "cheers!", "ta", "okay", "asap please", "please and thanks",
                  "at once", "xx", "lol", "would be great"]


def template_words(t):
    """The words of a phrasing, slots and syntax left out."""
    t = t[0] if isinstance(t, tuple) else t
    return set(re.findall(r"[a-z']+", re.sub(r"\{[a-z_]+\}", " ", t.lower())))


def check_extra_distance():
    """The late pools were written after the test phrasings existed (and by someone who had seen
    some of them): each of their phrasings must be far from every test phrasing of its API or
    no-call category, not merely different from it."""
    def near(t, tests):
        w = template_words(t)
        return [x for x in tests if len(w & template_words(x)) >= EXTRA_MAX_OVERLAP * len(w | template_words(x))]
    checks = [("level 9 wrapper", PREFIXES_EXTRA, PREFIXES["test"]),
              ("level 9 wrapper", SUFFIXES_EXTRA, SUFFIXES["test"])]  # (what, phrasings, tests)
    for level, (calls, nocalls) in LATE_POOLS.items():
        checks += [("level %d phrasing" % level, pool, T[api]["test"]) for api, pool in calls.items()]
        checks += [("level %d phrasing" % level, pool, NOCALL[cat][1]) for cat, pool in nocalls.items()]
    for what, pool, tests in checks:
        for t in pool:
            close = near(t, tests)
            assert not close, "%s %r is too close to test %r" % (what, t, close[0])
