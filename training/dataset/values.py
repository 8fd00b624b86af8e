"""Slot values of the API-calling dataset. Each atomic list is split in two halves, train and test,
by a seeded shuffle (split_list); composite values (reminder texts, titles, destinations, music
queries, ...) are built from one split's halves only (build_values). The train-only vocabulary
words come from the tokenizer alone (coverage_words, pseudo_word_pieces)."""
import functools
import random
import re
import zlib

import chat_template

# ----------------------------------------------------------------------------------------------
# Value lists (atomic). Each is split in two halves, train / test, by split_list().
# ----------------------------------------------------------------------------------------------

FIRST_NAMES = """Ana Ben Carla David Elena Farid Grace Hiro Ines Jamal Kate Liam Mia Noah Olga Pedro
Quinn Rosa Sam Tara Umar Vera Will Xena Yusuf Zoe Aaron Bella Chloe Diego Emma Felix Gabriel Hannah
Ivan Julia Kai Laura Marco Nina Oscar Paula Raj Sara Tom Ursula Victor Wendy Yara Zack Alice Bruno
Clara Dan Eva Frank Gina Hugo Isla Jack Karen Leo Maya Nick Olivia Paul Rita Simon Tina Uma Vince
Amir Bianca Chen Dara Emil Fatima Gus Hana Igor Jonas Kenji Lucia Mateo Noor Omar Priya Rafael
Sofia Theo Valentina Wei Ximena Yuki Zain Adam Beth Carlos Daisy Eli Fiona George Holly Isaac Jade
Kevin Lily Max Nora Owen Pia Ruth Sean Tess Ryan Anna Luis Mark Jenny Alex Chris Maria Jose Ahmed
Aisha Daniel Sophie Lucas Chiara Matteo Lena Finn Astrid Nils Freya Mohammed Layla Tariq Sana Ravi
Anika Deepak Meera Arjun Kofi Ama Kwame Zara Thandi Sipho Mei Jun Lin Hyun Minji Akira Sakura Taro
Dmitri Natasha Boris Katya Pablo Camila Andres Lucia Jorge Elif Mehmet Yasmin Nadia Rami Joanna
Piotr Marta Tomas Hugo Henrik Ingrid Sven Greta Otto Klaus Heidi Yannick Amelie Louis Manon Jules
Brandon Tyler Megan Ashley Justin Kayla Dylan Morgan Jordan Taylor Casey Riley Avery Parker Logan
Ethan Ava Harper Mason Ella Jacob Abigail Michael Emily Elijah Scarlett James Aria Benjamin Luna
Henry Camille Leon Marie Ada Alan Edith Frida Gloria Hector Irene Joel Kira Lars Miguel Nadine
Orla Patrick Quentin Renata Stella Tobias Ulla Vito Walter Yvonne Zelda Basil Cora Dora Enzo Flora
""".split()
LAST_NAMES = """Silva Smith Jones Garcia Kim Patel Nguyen Rossi Muller Dubois Tanaka Cohen Okafor Novak
Larsen Brown Lopez Singh Wang Ivanova Costa Moreau Schmidt Yilmaz Haddad Mensah Park Sato Chen Khan
Murphy Kelly Walsh Byrne Fischer Weber Santos Pereira Ferreira Martin Bernard Lambert Romano Ricci
Bianchi Kowalski Nowak Horvat Popescu Petrov Sokolova Andersen Nielsen Johansson Berg Ali Hassan
Abbas Mendez Ortiz Reyes Cruz Morales Torres Flores Rivera Gomez Diaz Baker Carter Hughes Wood
Green Hall Wright Turner Walker Young King Scott Adams Clark Lewis""".split()
RELATIONS = """Mom Dad Grandma Grandpa Mum Papa Mama Nana Grandad Auntie Uncle Sis Bro Boss Honey
Babe Doc""".split()
TITLED = """Dr. Uncle Aunt Coach Professor Mr. Mrs. Ms. Father Sister""".split()

CITIES = """Lisbon Porto Madrid Barcelona Paris Lyon Marseille Berlin Munich Hamburg Vienna Zurich
Geneva Rome Milan Naples Venice Florence Athens Istanbul Cairo Nairobi Lagos Accra Johannesburg
Cape_Town Casablanca Tunis Dubai Doha Riyadh Tehran Karachi Mumbai Delhi Bangalore Chennai Kolkata
Dhaka Kathmandu Colombo Bangkok Hanoi Manila Jakarta Singapore Kuala_Lumpur Seoul Busan Tokyo Osaka
Kyoto Beijing Shanghai Shenzhen Hong_Kong Taipei Sydney Melbourne Brisbane Perth Auckland Wellington
Honolulu Anchorage Vancouver Toronto Montreal Ottawa Calgary Seattle Portland San_Francisco
Los_Angeles San_Diego Las_Vegas Phoenix Denver Dallas Houston Austin Chicago Detroit Boston
New_York Philadelphia Washington Atlanta Miami Orlando Nashville New_Orleans Minneapolis
Mexico_City Guadalajara Havana Bogota Lima Quito Santiago Buenos_Aires Montevideo Sao_Paulo
Rio_de_Janeiro Brasilia Caracas Panama_City Dublin Cork Edinburgh Glasgow London Manchester
Liverpool Bristol Cardiff Belfast Oslo Bergen Stockholm Gothenburg Copenhagen Helsinki Reykjavik
Tallinn Riga Vilnius Warsaw Krakow Prague Brno Budapest Bratislava Ljubljana Zagreb Belgrade
Sarajevo Sofia Bucharest Kyiv Odesa Minsk Tbilisi Yerevan Baku Almaty Tashkent Amsterdam Rotterdam
Brussels Antwerp Luxembourg Geneva Bern Basel Salzburg Seville Valencia Bilbao Malaga Granada
Bordeaux Nice Toulouse Nantes Strasbourg Cologne Frankfurt Stuttgart Dresden Leipzig Turin Bologna
Palermo Genoa Marrakech Addis_Ababa Dakar Kampala Kigali Lusaka Harare Windhoek Durban Pune
Jaipur Hyderabad Chiang_Mai Phuket Da_Nang Cebu Bali Kobe Sapporo Nagoya Fukuoka Quebec Halifax
Winnipeg Edmonton Boise Tucson Omaha Memphis Charlotte Raleigh Pittsburgh Cleveland Baltimore
Sacramento Oakland Tampa Savannah Cusco Medellin Cali Recife Salvador Fortaleza Asuncion La_Paz
""".split()
CITIES = sorted(set(c.replace("_", " ") for c in CITIES))

STREETS = """Main Oak Maple Pine Cedar Elm Park Lake Hill River Church Market High King Queen Bridge
Mill Station Spring Garden Victoria Harbor Sunset Broadway Chestnut Walnut Willow Cherry Birch
Forest Meadow Ocean Bay Valley Union Liberty Franklin Lincoln Jefferson Madison Washington
Grant Highland Prospect Ridge Summit Orchard Vine Rose Ivy Cliff Beacon Dock Ferry Canal""".split()
STREET_SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Boulevard", "Drive",
                   "Way", "Place", "Court", "Square", "Terrace"]

ALARM_LABELS = ["gym", "work", "meds", "school run", "flight", "yoga", "meeting", "wake up", "pills",
                "run", "study", "church", "bus", "train", "walk the dog", "early shift", "swim",
                "pickup", "medicine", "breakfast", "shower", "class", "exam", "interview", "prayer",
                "stretch", "laundry", "lunch", "nap", "coffee", "dentist", "doctor", "standup",
                "commute", "carpool", "daycare", "feed the cat", "morning run", "piano practice",
                "bike ride", "soccer practice", "hospital shift", "market trip", "water plants",
                "insulin", "vitamins", "taxi", "ferry", "check in", "call home", "bake", "homework",
                "night shift", "football", "tennis", "band practice", "meditation", "jog",
                "take pills", "trash day", "recycling", "payday", "lecture", "ballet", "choir"]
TIMER_LABELS = ["pasta", "eggs", "laundry", "pizza", "rice", "tea", "bread", "cookies", "nap",
                "workout", "oven", "steak", "plank", "parking", "cake", "soup", "potatoes",
                "noodles", "popcorn", "roast", "brownies", "muffins", "coffee", "hair dye",
                "face mask", "meditation", "homework", "break", "reading", "piano", "squats",
                "dryer", "dishwasher", "chicken", "salmon", "lasagna", "quinoa", "oatmeal",
                "boiled eggs", "cupcakes", "pie", "bath", "charging", "stretching", "study",
                "game time", "screen time", "tv", "sauna", "nails", "pancakes", "dough",
                "marinade", "broccoli", "fries", "wings", "tacos", "curry", "beans", "sprint"]

ITEMS = ["milk", "eggs", "bread", "butter", "coffee", "bananas", "apples", "cheese", "rice",
         "pasta", "tomatoes", "onions", "garlic", "toilet paper", "dish soap", "batteries",
         "dog food", "cat litter", "diapers", "shampoo", "toothpaste", "flowers", "a cake",
         "a birthday card", "stamps", "light bulbs", "chicken", "yogurt", "orange juice", "tea",
         "cereal", "olive oil", "sugar", "flour", "potatoes", "carrots", "lemons", "wine",
         "a present", "sunscreen", "painkillers", "vitamins", "paper towels", "trash bags",
         "spinach", "avocados", "honey", "salt", "peanut butter", "ice cream", "water bottles",
         "a charger", "headphones", "socks", "a gift card", "printer ink", "coffee filters"]
TASK_VERBS_OBJ = [
    "buy {item}", "pick up {item}", "get {item}", "grab {item}", "order {item}",
    "call {person}", "text {person}", "email {person}", "visit {person}", "pay {bill}",
    "take {med}", "water the plants", "feed the cat", "feed the dog", "walk the dog",
    "take out the trash", "do the laundry", "clean the kitchen", "book {booking}",
    "cancel {booking}", "renew {doc}", "send {doc} to {person}", "print {doc}", "sign {doc}",
    "check {thing}", "charge {device}", "back up {device}", "return {thing2}",
    "pick up {person} from {place}", "drop off {thing2}", "bring {item} to {place}",
    "submit {doc}", "prepare {doc}", "review {doc}", "finish {doc}", "call back {person}",
    "wish {person} happy birthday", "thank {person}", "ask {person} about {topic}",
    "tell {person} about {topic}", "practice {skill}", "study for {exam}", "stretch",
    "drink water", "go for a run", "go to bed", "lock the door", "close the windows",
    "move the car", "defrost the freezer", "vacuum the living room", "mow the lawn",
    "fill up the tank", "check the mail", "start dinner", "defrost {item}", "cook {item}",
]
PERSONS_GENERIC = ["the bank", "the dentist", "the doctor", "the landlord", "the plumber",
                   "the vet", "the school", "the insurance company", "my boss", "the mechanic",
                   "the pharmacy", "the office", "the electrician", "my sister", "my brother",
                   "my mom", "my dad", "grandma", "the kids", "my neighbor", "the babysitter"]
BILLS = ["the rent", "the electric bill", "the phone bill", "the water bill", "the credit card",
         "the internet bill", "the gas bill", "taxes", "the parking ticket", "the nanny",
         "the gardener", "the cleaner", "the gym membership", "the car loan", "the invoice"]
MEDS = ["my pills", "my medicine", "the antibiotics", "vitamins", "my insulin",
        "the blood pressure pills", "an aspirin", "my allergy pills", "the cough syrup",
        "my iron tablets"]
BOOKINGS = ["a haircut", "a table for two", "the hotel", "the flights", "a dentist appointment",
            "a car service", "the train tickets", "a massage", "the movie tickets",
            "a doctor's appointment", "the campsite", "a cleaning", "the restaurant",
            "a tennis court", "the vet appointment"]
DOCS = ["the report", "the invoice", "the contract", "my passport", "the slides", "the forms",
        "the tax return", "my driver's license", "the budget", "the essay", "the proposal",
        "the permission slip", "the lease", "the visa application", "the expense report",
        "my library books", "the homework", "the presentation", "the minutes", "the quote"]
THINGS = ["the oven", "the tire pressure", "the oil", "the smoke alarm", "the mailbox",
          "the stock price", "my email", "the bank account", "the weather", "the baby monitor",
          "the bus schedule", "the test results", "the parcel tracking", "the garden hose"]
THINGS2 = ["the library books", "the rental car", "the keys", "the package", "the drill",
           "the dress", "the shoes", "the laptop", "the ladder", "the blender", "the jacket",
           "the movie", "the camera", "the tent"]
DEVICES = ["my phone", "the laptop", "the car", "the tablet", "my watch", "the camera",
           "the headphones", "the drone", "the scooter", "the power bank"]
PLACES_SHORT = ["school", "the station", "the airport", "practice", "work", "the gym", "daycare",
                "the party", "the mall", "the office", "the library", "ballet", "the clinic",
                "camp", "the dentist"]
TOPICS = ["the party", "the trip", "the rent", "dinner", "the weekend", "the meeting",
          "the budget", "the wedding", "the holidays", "the car", "the project", "the move",
          "the concert", "the game", "the schedule", "the new job", "the recipe"]
SKILLS = ["piano", "guitar", "Spanish", "French", "the speech", "yoga", "violin", "drawing",
          "German", "the lines", "coding", "chess", "Japanese", "the presentation"]
EXAMS = ["the exam", "the math test", "the driving test", "the chemistry quiz", "finals",
         "the interview", "the history test", "the bar exam", "the SAT", "the biology exam"]

MESSAGE_TEXTS = [
    "running late", "I'm on my way", "see you at {time}", "can you call me back", "happy birthday!",
    "dinner is ready", "I'll be home by {time}", "don't forget {item}", "are we still on for {day}?",
    "love you", "meeting moved to {time}", "where are you?", "just landed", "stuck in traffic",
    "can you pick up {item}", "I'll be there in {duration}", "call me when you can", "good luck today",
    "thanks for everything", "I miss you", "let's meet at {place}", "the door code is {num}",
    "I left {item} at home", "can we talk later?", "good night", "congrats on the new job!",
    "I'm outside", "on the train now", "leaving work now", "bring {item} please",
    "did you feed the cat?", "the kids are asleep", "I'll call you {day}", "happy anniversary",
    "be there in {duration}", "lunch at {time}?", "can you send me the address", "sorry I missed your call",
    "the package arrived", "I'm at {place}", "I got the tickets", "please call the plumber",
    "parking is full, circling around", "the game starts at {time}", "we need more {item}",
    "what time is dinner?", "can you walk the dog", "I'll be late for dinner", "check your email",
    "do you want {item}?", "my phone is about to die", "I finished the report", "see you {day}",
    "how was the trip?", "feel better soon", "the meeting is cancelled", "on my way to {place}",
    "I'll bring {item}", "meet me at {place} at {time}", "can you lend me {item}",
    "the flight is delayed by {duration}", "keys are under the mat", "call grandma {day}",
    "text me when you get home", "traffic is terrible", "I'll pick you up at {time}",
    "happy new year", "we're out of {item}", "don't wait up", "almost there", "give me {duration}",
]
EVENT_TITLES = [
    "dentist", "team meeting", "lunch with {name}", "{name}'s birthday party", "yoga class",
    "parent-teacher conference", "haircut", "doctor's appointment", "job interview", "book club",
    "dinner with {name}", "coffee with {name}", "project review", "gym session", "soccer game",
    "piano lesson", "car service", "flight to {city}", "vet appointment", "date night",
    "budget meeting", "family dinner", "movie night", "study group", "physio", "eye exam",
    "call with {name}", "quarterly planning", "school play", "concert", "wedding rehearsal",
    "farmers market", "swim lesson", "{name}'s graduation", "housewarming at {name}'s",
    "one on one with {name}", "weekly sync", "board meeting", "tennis with {name}",
    "brunch with {name}", "trip to {city}", "dance class", "cooking class", "blood test",
    "pottery class", "volunteering", "open house", "tax appointment", "moving day",
    "guitar lesson", "chess club", "hiking with {name}", "baby shower", "interview with {name}",
]
VENUE_WORDS = ["Cafe", "Bistro", "Bakery", "Diner", "Bar", "Gym", "Studio", "Clinic", "Library",
               "Park", "Hall", "Center", "Plaza", "Hotel", "Market"]
LOCATIONS_FIXED = ["the office", "the community center", "home", "the main library",
                   "the town hall", "conference room B", "the school gym", "the city hospital",
                   "the north campus", "the old church", "the lake house", "the rooftop bar",
                   "the sports center", "the train station cafe", "the downtown clinic",
                   "the public pool", "the art museum", "the east wing", "the back office",
                   "the student union", "the boathouse", "the golf club", "the west campus"]
DESTINATIONS_FIXED = ["the airport", "downtown", "the mall", "the nearest gas station", "home",
                      "work", "the hospital", "the beach", "the train station", "the stadium",
                      "the zoo", "the museum", "the nearest pharmacy", "the closest supermarket",
                      "the university", "the city center", "the bus terminal", "the harbor",
                      "the nearest ATM", "the park", "the ferry terminal", "the nearest hospital",
                      "the aquarium", "the convention center", "the old town", "the ski resort",
                      "the nearest coffee shop", "the post office", "the library", "the hotel"]

ARTISTS = ["Taylor Swift", "Beyonce", "Adele", "Ed Sheeran", "Drake", "Coldplay", "Queen",
           "The Beatles", "Miles Davis", "Billie Eilish", "Bad Bunny", "Dua Lipa", "Bruno Mars",
           "Rihanna", "Kendrick Lamar", "Daft Punk", "Radiohead", "Nirvana", "Metallica",
           "Bob Marley", "Norah Jones", "Frank Sinatra", "Ella Fitzgerald", "Shakira", "BTS",
           "Stromae", "Rosalia", "Arctic Monkeys", "The Weeknd", "Lady Gaga", "Elton John",
           "David Bowie", "Madonna", "Prince", "Michael Jackson", "Whitney Houston", "ABBA",
           "Fleetwood Mac", "Pink Floyd", "Led Zeppelin", "Eminem", "Kanye West", "Lorde",
           "Sia", "Hozier", "Imagine Dragons", "Maroon 5", "Shawn Mendes", "Harry Styles",
           "Olivia Rodrigo", "SZA", "Doja Cat", "Post Malone", "Bon Iver", "Fela Kuti",
           "Burna Boy", "Wizkid", "Ludovico Einaudi", "Hans Zimmer", "Yo-Yo Ma", "Chopin",
           "Beethoven", "Mozart", "Bach", "Vivaldi", "Debussy", "John Coltrane", "Nina Simone",
           "Louis Armstrong", "Amy Winehouse", "Lana Del Rey", "The Cure", "U2", "Oasis",
           "Blur", "Gorillaz", "Tame Impala", "Khalid", "Sam Smith", "Celine Dion", "Enya",
           "Aretha Franklin", "Stevie Wonder", "Marvin Gaye", "Johnny Cash", "Dolly Parton",
           "Willie Nelson", "Kacey Musgraves", "Luke Combs", "Mac Miller", "Frank Ocean",
           "Tyler the Creator", "Solange", "Jorja Smith", "Cesaria Evora", "Caetano Veloso"]
SONGS = ["Bohemian Rhapsody", "Hey Jude", "Imagine", "Yesterday", "Hotel California",
         "Wonderwall", "Shape of You", "Blinding Lights", "Bad Guy", "Rolling in the Deep",
         "Halo", "Clocks", "Yellow", "Fix You", "Thriller", "Billie Jean", "Purple Rain",
         "Dancing Queen", "Let It Be", "Respect", "Superstition", "Hallelujah", "Africa",
         "Take On Me", "Sweet Caroline", "Levitating", "Uptown Funk", "Despacito", "Perfect",
         "Someone Like You", "Happy", "Smells Like Teen Spirit", "Creep", "Bitter Sweet Symphony",
         "Hey Ya", "Get Lucky", "Lose Yourself", "Stairway to Heaven", "Wish You Were Here",
         "Zombie", "Jolene", "Ring of Fire", "Redemption Song", "Clair de Lune", "Fur Elise",
         "Take Five", "So What", "Feeling Good", "At Last", "Fly Me to the Moon", "My Way",
         "Heroes", "Space Oddity", "Viva la Vida", "Riptide", "Pompeii", "Royals", "Chandelier",
         "Counting Stars", "Believer", "Drivers License", "As It Was", "Anti-Hero", "Flowers",
         "Kill Bill", "Golden Hour", "Heat Waves", "Stay", "Peaches", "Watermelon Sugar"]
GENRES = ["jazz", "lo-fi", "classical", "rock", "hip hop", "pop", "reggae", "country", "blues",
          "techno", "house music", "ambient", "salsa", "k-pop", "metal", "indie", "soul", "funk",
          "disco", "bossa nova", "afrobeats", "punk", "opera", "gospel", "r&b", "edm", "folk",
          "synthwave", "drum and bass", "chillhop", "piano music", "rain sounds", "white noise",
          "lullabies", "80s hits", "90s rock", "acoustic covers", "movie soundtracks",
          "christmas songs", "workout music", "flamenco", "tango", "samba", "trap",
          "bluegrass", "dubstep", "grunge", "swing", "baroque", "meditation music"]
ACTIVITIES = ["studying", "running", "cooking", "sleeping", "working", "the gym", "a party",
              "relaxing", "focus", "driving", "reading", "a dinner party", "yoga", "coding",
              "cleaning", "the beach", "a road trip", "meditation", "kids", "rainy days"]

WEB_QUERY_PATTERNS = [
    "how tall is {landmark}", "how old is {celebrity}", "what is the capital of {country}",
    "{dish} recipe", "how to make {dish}", "best {shop} near me", "when does {store} close",
    "how far is {city} from {city2}", "what time is it in {city}", "population of {country}",
    "who invented {invention}", "how to fix {problem}", "symptoms of {illness}",
    "{celebrity} net worth", "cheap flights to {city}", "news about {topic2}",
    "how many calories in {food}", "what does {word} mean", "how to say {phrase} in {language}",
    "reviews for {product}", "{team} score", "train times to {city}", "history of {landmark}",
    "how to {howto}", "where to buy {item}", "is {food} healthy", "currency of {country}",
    "best time to visit {country}", "what to do in {city}", "{product} price",
]
LANDMARKS = ["the eiffel tower", "the statue of liberty", "mount everest", "big ben",
             "the burj khalifa", "the colosseum", "the great wall of china", "machu picchu",
             "the golden gate bridge", "the leaning tower of pisa", "the taj mahal",
             "the empire state building", "the sydney opera house", "stonehenge",
             "the pyramids of giza", "christ the redeemer", "the cn tower", "angkor wat",
             "the space needle", "the kremlin", "mount fuji", "the acropolis"]
CELEBRITIES = ["Tom Hanks", "Meryl Streep", "Keanu Reeves", "Serena Williams", "Lionel Messi",
               "Cristiano Ronaldo", "Oprah Winfrey", "Barack Obama", "Elon Musk", "Zendaya",
               "Denzel Washington", "Greta Thunberg", "Roger Federer", "LeBron James",
               "Emma Watson", "Morgan Freeman", "Jackie Chan", "Usain Bolt", "Simone Biles",
               "Pedro Pascal", "Cate Blanchett", "Idris Elba", "Dev Patel", "Awkwafina"]
COUNTRIES = ["Peru", "Kenya", "Norway", "Vietnam", "Chile", "Portugal", "Egypt", "Canada",
             "Japan", "Mongolia", "Iceland", "Morocco", "Australia", "Brazil", "India",
             "Turkey", "Greece", "Mexico", "Nigeria", "Finland", "Thailand", "Argentina",
             "Ghana", "Poland", "Colombia", "Ireland", "Nepal", "Croatia", "Jordan", "Uruguay"]
DISHES = ["banana bread", "lasagna", "pad thai", "guacamole", "pancakes", "chicken curry",
          "sourdough", "ramen", "paella", "tiramisu", "hummus", "risotto", "chili", "falafel",
          "brownies", "carbonara", "tacos", "sushi rice", "french toast", "lentil soup",
          "apple pie", "fried rice", "shakshuka", "gazpacho", "moussaka", "jollof rice"]
SHOPS = ["pizza", "sushi", "coffee", "thai food", "tacos", "bakery", "ramen", "burgers",
         "ice cream", "brunch", "vegan food", "dim sum", "bookstore", "bike shop", "barber"]
STORES = ["target", "ikea", "the post office", "walmart", "the pharmacy", "costco",
          "the dmv", "the library", "home depot", "the bank", "trader joe's", "the apple store"]
INVENTIONS = ["the telephone", "the light bulb", "the internet", "the bicycle", "the radio",
              "penicillin", "the printing press", "the airplane", "the television", "velcro",
              "the microwave", "the zipper", "the compass", "the camera", "paper"]
PROBLEMS = ["a leaky faucet", "a flat tire", "a slow laptop", "a squeaky door", "a clogged drain",
            "wifi dropping", "a running toilet", "a stuck zipper", "a cracked phone screen",
            "a frozen pipe", "a jammed printer", "a dead car battery"]
ILLNESSES = ["flu", "strep throat", "covid", "migraine", "dehydration", "anemia", "food poisoning",
             "a concussion", "hay fever", "sinusitis", "tonsillitis", "shingles"]
TOPICS2 = ["the election", "climate change", "the stock market", "space exploration",
           "the olympics", "electric cars", "the world cup", "ai", "the housing market",
           "the mars mission", "the tour de france", "the oscars"]
FOODS = ["an avocado", "a banana", "a bagel", "peanut butter", "a glass of wine", "oatmeal",
         "a croissant", "an egg", "a beer", "brown rice", "quinoa", "dark chocolate", "popcorn"]
WORDS = ["serendipity", "ephemeral", "ubiquitous", "hygge", "schadenfreude", "quixotic",
         "petrichor", "saudade", "wanderlust", "zeitgeist", "nonchalant", "sonder", "limerence"]
PHRASES = ["thank you", "good morning", "where is the bathroom", "how much is this", "cheers",
           "I love you", "excuse me", "nice to meet you", "happy birthday", "good luck"]
LANGUAGES = ["Spanish", "Japanese", "German", "Italian", "Korean", "Portuguese", "Swahili",
             "Arabic", "Dutch", "Greek", "Hindi", "Turkish", "Polish", "Vietnamese"]
PRODUCTS = ["the new iphone", "airpods", "a kindle", "the steam deck", "a dyson vacuum",
            "the pixel 8", "a standing desk", "noise cancelling headphones", "an air fryer",
            "the switch 2", "a robot vacuum", "an electric toothbrush", "a smart watch"]
TEAMS = ["lakers", "real madrid", "yankees", "arsenal", "chelsea", "barcelona", "celtics",
         "patriots", "juventus", "bayern", "liverpool", "warriors", "benfica", "ajax"]
HOWTOS = ["tie a tie", "boil an egg", "change a tire", "fold a fitted sheet", "unclog a sink",
          "jump start a car", "remove a stain", "plant tomatoes", "do a handstand",
          "sharpen a knife", "wrap a present", "iron a shirt", "clean an oven", "braid hair"]

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
NUM_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
             "eleven", "twelve"]


def _crc(s):
    return zlib.crc32(s.encode("utf-8"))


def split_list(name, items, seed):
    """Deterministic two-way split of a list: (train half, test half)."""
    items = sorted(set(items))
    rng = random.Random(seed * 1000003 + _crc(name))
    rng.shuffle(items)
    k = (len(items) + 1) // 2
    return items[:k], items[k:]


def all_times():
    out = set()
    for h in range(1, 13):
        for m in [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 7, 12, 48]:
            mm = "%02d" % m
            for ap in ["am", "pm"]:
                out.add("%d:%s %s" % (h, mm, ap))
                out.add("%d:%s%s" % (h, mm, ap))
                out.add("%d:%s %s" % (h, mm, ap.upper()))
                if m == 0:
                    out.add("%d %s" % (h, ap))
                    out.add("%d%s" % (h, ap))
                    out.add("%d %s" % (h, ap.upper()))
                    out.add("%d %s" % (h, "p.m." if ap == "pm" else "a.m."))
            h24 = h % 12
            for hh in [h24, h24 + 12]:
                out.add("%02d:%s" % (hh, mm))
                if hh >= 10:
                    out.add("%d:%s" % (hh, mm))
            if m == 0:
                out.add("%d o'clock" % h)
                out.add("%s o'clock" % NUM_WORDS[h - 1])
        w = NUM_WORDS[h - 1]
        out.add("half past %s" % w)
        out.add("quarter past %s" % w)
        out.add("quarter to %s" % w)
        out.add("%d:30" % h)
        out.add(w + " thirty")
        out.add(w + " fifteen")
        out.add(w + " forty-five")
        out.add(w + " in the morning")
        out.add(w + " in the evening")
        out.add(w + " pm")
        out.add(w + " am")
    out.update(["noon", "midnight", "midday"])
    return sorted(out)


def bare_hours():
    """--variety 11: the hours said alone, "7" or "seven" ("wake me at 7"). all_times() has none
    (every time there has am/pm, minutes or o'clock), so a bare number was only ever a volume
    level and the model read "wake me at 7" as set_volume(level=7) (issue #36). Training only and
    not split: a closed set like the enum values, which the test file does not use."""
    return [str(h) for h in range(1, 13)] + NUM_WORDS


# Days said right after a bare hour ("at 7 tomorrow", "at 7 this evening"), all of all_days();
# only those of the training half are used (Gen.bare_hour_day), so a held-out day such as
# "tonight" stays held out.
RELATIVE_DAYS = ["today", "Today", "tonight", "tomorrow", "Tomorrow", "this afternoon", "this evening",
                 "tomorrow morning", "tomorrow afternoon", "tomorrow evening", "tomorrow night"]


def all_durations():
    out = set()
    for n in list(range(1, 61)) + [75, 90, 100, 120, 150, 180]:
        out.add("%d minutes" % n if n != 1 else "1 minute")
        out.add("%d min" % n)
        if n <= 12:
            out.add("%d mins" % n)
    for n in [5, 10, 15, 20, 25, 30, 40, 45, 50, 60, 90, 120]:
        out.add("%d seconds" % n)
        out.add("%d secs" % n)
        out.add("%d sec" % n)
    for n in range(1, 13):
        out.add("%d hours" % n if n != 1 else "1 hour")
        out.add("%dh" % n)
        out.add("%d and a half hours" % n)
        out.add("%s hours" % NUM_WORDS[n - 1] if n != 1 else "one hour")
        out.add("%s minutes" % NUM_WORDS[n - 1] if n != 1 else "one minute")
        for m in [10, 15, 20, 30, 45]:
            out.add("%d hour %d minutes" % (n, m) if n == 1 else "%d hours %d minutes" % (n, m))
            out.add("%dh %dm" % (n, m))
    for w in ["twenty", "thirty", "forty", "fifteen", "forty-five", "ninety", "fifty", "twenty-five"]:
        out.add(w + " minutes")
        out.add(w + " seconds")
    out.update(["an hour", "half an hour", "a minute", "a quarter of an hour", "an hour and a half",
                "a couple of minutes", "a few minutes", "90 secs", "an hour and 15 minutes",
                "two and a half hours", "a half hour", "30 s", "10 m", "one and a half hours"])
    return sorted(out)


def all_days():
    out = set()
    for w in WEEKDAYS:
        cap = w.capitalize()
        out.update([w, cap, "next " + w, "next " + cap, "this " + w, "this " + cap, w + " morning",
                    w + " evening", w + " night", "every " + w])
    for i, mo in enumerate(MONTHS):
        for d in [1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 14, 15, 17, 19, 20, 21, 22, 23, 25, 28, 30]:
            suf = "th"
            if d in (1, 21):
                suf = "st"
            elif d in (2, 22):
                suf = "nd"
            elif d in (3, 23):
                suf = "rd"
            out.add("%s %d" % (mo, d))
            out.add("%s %d%s" % (mo, d, suf))
            out.add("%s %d" % (mo.capitalize(), d))
            out.add("the %d%s of %s" % (d, suf, mo))
            out.add("%d/%d" % (i + 1, d))
    for d in range(1, 32):
        suf = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
        out.add("the %d%s" % (d, suf))
    out.update(["tomorrow", "today", "tonight", "the day after tomorrow", "Tomorrow", "Today",
                "this weekend", "next weekend", "tomorrow morning", "tomorrow night",
                "tomorrow evening", "tomorrow afternoon", "this afternoon", "this evening",
                "next week", "in two days", "in 3 days", "new year's eve", "christmas eve",
                "christmas day", "weekdays", "every day", "on weekends", "this saturday morning"])
    return sorted(out)


def build_values(split, seed):
    """All slot-value pools of one split ('train' or 'test')."""
    idx = 0 if split == "train" else 1
    S = lambda name, items: split_list(name, items, seed)[idx]  # noqa: E731
    v = {}
    first = S("first", FIRST_NAMES)
    last = S("last", LAST_NAMES)
    rel = S("rel", RELATIONS)
    titled = S("titled", TITLED)
    v["first"] = first
    contacts = set(first)
    r = random.Random(seed + 11 + idx)
    for _ in range(len(first) * 2):
        contacts.add(r.choice(first) + " " + r.choice(last))
    for _ in range(len(titled) * 6):
        contacts.add(r.choice(titled) + " " + r.choice(last + first))
    contacts.update(rel)
    v["contact"] = sorted(contacts)
    v["city"] = S("city", CITIES)
    v["time"] = S("time", all_times())
    v["duration"] = S("duration", all_durations())
    v["day"] = S("day", all_days())
    v["alarm_label"] = S("alabel", ALARM_LABELS)
    v["timer_label"] = S("tlabel", TIMER_LABELS)
    streets = S("street", STREETS)
    sufs = STREET_SUFFIXES
    items = S("items", ITEMS)
    persons = S("persons", PERSONS_GENERIC) + first[:30]
    fill = {
        "item": items, "person": persons, "bill": S("bills", BILLS), "med": S("meds", MEDS),
        "booking": S("bookings", BOOKINGS), "doc": S("docs", DOCS), "thing": S("things", THINGS),
        "thing2": S("things2", THINGS2), "device": S("devices", DEVICES),
        "place": S("placesshort", PLACES_SHORT), "topic": S("topics", TOPICS),
        "skill": S("skills", SKILLS), "exam": S("exams", EXAMS), "name": first,
        "city": v["city"], "city2": v["city"], "time": v["time"], "day": v["day"],
        "duration": v["duration"], "num": [str(n) for n in range(1000, 9999, 137)],
        "landmark": S("landmarks", LANDMARKS), "celebrity": S("celebs", CELEBRITIES),
        "country": S("countries", COUNTRIES), "dish": S("dishes", DISHES), "shop": S("shops", SHOPS),
        "store": S("stores", STORES), "invention": S("inventions", INVENTIONS),
        "problem": S("problems", PROBLEMS), "illness": S("illnesses", ILLNESSES),
        "topic2": S("topics2", TOPICS2), "food": S("foods", FOODS), "word": S("words", WORDS),
        "phrase": S("phrases", PHRASES), "language": S("languages", LANGUAGES),
        "product": S("products", PRODUCTS), "team": S("teams", TEAMS), "howto": S("howtos", HOWTOS),
    }

    def compose(name, patterns, n):
        rr = random.Random(seed * 7 + _crc(name))
        pats = patterns  # shared patterns; their fillers come from this split's halves
        out = set()
        tries = 0
        while len(out) < n and tries < n * 20:
            tries += 1
            p = rr.choice(pats)
            out.add(re.sub(r"\{(\w+)\}", lambda m: rr.choice(fill[m.group(1)]), p))
        return sorted(out)

    v["reminder_text"] = compose("task", TASK_VERBS_OBJ, 1500)
    v["message_text"] = compose("msg", MESSAGE_TEXTS, 1500)
    v["event_title"] = compose("event", EVENT_TITLES, 800)
    v["web_query"] = compose("web", WEB_QUERY_PATTERNS, 1500)
    rr = random.Random(seed + 23 + idx)
    locs = set(S("locfixed", LOCATIONS_FIXED))
    venue = S("venue", VENUE_WORDS)
    for _ in range(400):
        k = rr.random()
        if k < 0.35:
            locs.add("%s %s" % (rr.choice(streets + first), rr.choice(venue)))
        elif k < 0.7:
            locs.add("%d %s %s" % (rr.randint(1, 999), rr.choice(streets), rr.choice(sufs)))
        else:
            locs.add("%s %s %s" % (rr.choice(streets), rr.choice(sufs), rr.choice(venue).lower()))
    v["location"] = sorted(locs)
    dests = set(S("destfixed", DESTINATIONS_FIXED))
    for _ in range(500):
        k = rr.random()
        if k < 0.4:
            dests.add("%d %s %s" % (rr.randint(1, 999), rr.choice(streets), rr.choice(sufs)))
        elif k < 0.6:
            dests.add("%s %s" % (rr.choice(streets), rr.choice(sufs)))
        elif k < 0.75:
            dests.add("%s's house" % rr.choice(first))
        elif k < 0.9:
            dests.add("%s %s" % (rr.choice(v["city"]), rr.choice(["airport", "central station",
                                                                     "old town", "harbor", "zoo"])))
        else:
            dests.add("%s %s" % (rr.choice(streets + first), rr.choice(venue)))
    v["destination"] = sorted(dests)
    artists = S("artists", ARTISTS)
    songs = S("songs", SONGS)
    genres = S("genres", GENRES)
    acts = S("acts", ACTIVITIES)
    mus = set(artists) | set(songs) | set(genres)
    for _ in range(500):
        k = rr.random()
        if k < 0.35:
            mus.add("%s by %s" % (rr.choice(songs), rr.choice(artists)))
        elif k < 0.65:
            mus.add("%s for %s" % (rr.choice(genres), rr.choice(acts)))
        elif k < 0.8:
            mus.add("%s %s" % (rr.choice(artists), rr.choice(["radio", "greatest hits", "live"])))
        else:
            mus.add("my %s playlist" % rr.choice(genres + acts))
    v["music_query"] = sorted(mus)
    v["level"] = S("level", [str(i) for i in range(0, 101)])
    return v


@functools.lru_cache(maxsize=None)
def vocab_pieces():
    """The tokenizer's pieces in id order, read once (coverage_words and pseudo_word_pieces scan
    them)."""
    sp = chat_template.load_tokenizer()
    return tuple(sp.id_to_piece(i) for i in range(sp.get_piece_size()))


def coverage_words(seed):
    """Train-only extra values: capitalised / lower-case whole words of the tokenizer vocabulary.

    The model is trained from scratch. Inside a call a value's first word is tokenised without the
    leading space ('="Tokyo"' -> '="', 'T', 'ok', 'yo') while in the user's text it has it
    ('▁Tokyo'), so the model can only spell a first word it has seen spelt. These words widen the
    set of words whose spelling the training data shows; they come from the tokenizer alone, not
    from the test lists (exact test values are removed from training afterwards anyway).
    """
    cap, low, cont = [], [], []
    for p in vocab_pieces():
        if re.fullmatch("\u2581[A-Z][a-z]{1,11}", p):
            cap.append(p[1:])
        elif re.fullmatch("\u2581[a-z]{3,11}", p):
            low.append(p[1:])
        elif re.fullmatch("[a-z]{2,7}", p):
            cont.append(p)
    rng = random.Random(seed + 99)
    # capitalised pseudo-names: a vocabulary word followed by one or two lower-case continuation
    # pieces, so that the pieces which end long names ('bourg', 'iona') are seen after a word too
    names = [w + "".join(rng.choice(cont) for _ in range(rng.randint(1, 2))) for w in cap]
    cap = sorted(set(cap) | set(names))
    return cap, low


def pseudo_word_pieces():
    """--variety 5: every Latin-letter piece of the vocabulary, split into word starts ('▁Gar',
    kept without the '▁') and continuations ('ola'). 21.6k of the 24k such pieces occur at most
    30 times in the level-4 training conversations, so their tied embedding rows are barely
    trained and a held-out value made of them is cut short; pseudo-words built from them put each
    into some training values."""
    starts, conts = [], []
    for p in vocab_pieces():
        if re.fullmatch("\u2581[A-Za-z]{2,12}", p):
            starts.append(p[1:])
        elif re.fullmatch("[a-z]{2,8}", p):
            conts.append(p)
    return starts, conts
