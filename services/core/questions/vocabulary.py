"""Names, things, places and events that the question families put into their stories.

The lists are long on purpose: together with numbers drawn from wide ranges they make the space of
prompts large enough that a question does not come back (see ``tests/unit/test_questions.py``).
No word here may hint at how a question was made or that it is a check ("test", "gold", ...).
"""

from __future__ import annotations

NAMES = (
    "Ana", "Omar", "Mia", "Kenji", "Priya", "Lucas", "Zara", "Mateo", "Aisha", "Noah",
    "Leila", "Ivan", "Sofia", "Chen", "Amara", "Diego", "Hana", "Felix", "Nadia", "Tomas",
    "Yuki", "Ravi", "Elena", "Kofi", "Ines", "Jonas", "Mei", "Samir", "Clara", "Tariq",
    "Lena", "Arjun", "Rosa", "Emeka", "Julia", "Hugo", "Fatima", "Pablo", "Anya", "Malik",
    "Greta", "Sven", "Lina", "Rafael", "Noor", "Oscar", "Keiko", "Bilal", "Marta", "Dev",
    "Eva", "Ali", "Nora", "Kai", "Lucia", "Idris", "Maya", "Theo", "Sara", "Jamal",
    "Ingrid", "Paulo", "Rania", "Finn", "Aiko", "Viktor", "Leo", "Amina", "Chloe", "Mohan",
    "Alma", "Tenzin", "Iris", "Bruno", "Selin", "Luka", "Zoe", "Hamza", "Freya", "Andre",
    "Mira", "Joel", "Laila", "Emil", "Nina", "Rohan", "Ada", "Milo", "Carmen", "Yusuf",
    "Elif", "Ruben", "Tala", "Gideon", "Vera", "Ayo", "Lars", "Asha", "Nico", "Dalia",
)  # fmt: skip

ITEMS = (
    "marbles", "stickers", "apples", "bolts", "books", "tickets", "coins", "seeds", "cards",
    "pencils", "eggs", "bricks", "tiles", "beads", "buttons", "stamps", "shells", "nails",
    "cups", "candles", "lemons", "screws", "postcards", "batteries", "envelopes", "crayons",
    "cookies", "muffins", "oranges", "plates", "jars", "socks", "balloons", "bottles",
    "notebooks", "ribbons", "magnets", "tulips", "potatoes", "paper clips",
)  # fmt: skip

CONTAINERS = (
    "boxes", "crates", "packs", "bags", "trays", "cartons", "bundles", "baskets", "cases", "tins",
)  # fmt: skip

PLACES = (
    "the shop", "the warehouse", "the market stall", "the school", "the club", "the workshop",
    "the community centre", "the depot", "the corner store", "the office", "the bakery",
    "the village hall", "the museum gift shop", "the youth hostel", "the print shop",
)  # fmt: skip

EVENTS = (
    "dentist appointment", "job interview", "wedding", "concert", "flight", "team meeting",
    "birthday party", "yoga class", "court hearing", "product launch", "garden show",
    "football match", "piano recital", "conference", "school trip", "reunion dinner",
    "bike race", "house move", "art exhibition", "vaccination", "car service",
    "book club meeting", "hackathon", "housewarming party", "graduation", "chess tournament",
    "marathon", "eye appointment", "parents' evening", "ferry crossing",
)  # fmt: skip

# things a named person may or may not have done: the atoms of the logic puzzles
STATEMENTS = (
    "{name} is at home", "{name} has a ticket", "{name} passed the exam", "{name} is on holiday",
    "{name} drinks coffee", "{name} took the train", "{name} has a key", "{name} is awake",
    "{name} finished the report", "{name} missed the bus", "{name} owns a bicycle",
    "{name} speaks French", "{name} is hungry", "{name} won the match",
    "{name} brought an umbrella", "{name} is in the garden", "{name} called the office",
    "{name} paid the bill", "{name} is reading", "{name} locked the door",
    "{name} fed the cat", "{name} watered the plants", "{name} is at the gym",
    "{name} has a cold", "{name} bought bread", "{name} plays the violin",
    "{name} answered the email", "{name} is abroad", "{name} lost a glove",
    "{name} booked a table", "{name} is asleep", "{name} cooked dinner",
    "{name} found the map", "{name} signed the form", "{name} is late",
    "{name} rode the ferry", "{name} charged the phone", "{name} knows the password",
    "{name} is on the night shift", "{name} returned the library book",
)  # fmt: skip

# ordinary nouns for lists to sort, reverse and count in
WORDS = (
    "apple", "anchor", "badger", "banana", "basket", "beacon", "bison", "blanket", "bottle",
    "bridge", "butter", "cabin", "camel", "candle", "canyon", "carpet", "castle", "cherry",
    "cobalt", "comet", "copper", "cotton", "crayon", "desert", "dolphin", "donkey", "dragon",
    "eagle", "engine", "falcon", "feather", "ferry", "fiddle", "forest", "fossil", "garden",
    "garlic", "ginger", "glacier", "goblet", "granite", "guitar", "hammer", "harbor", "hazel",
    "helmet", "honey", "island", "jacket", "jasmine", "jungle", "kettle", "kitten", "ladder",
    "lantern", "lemon", "lizard", "magnet", "mango", "marble", "meadow", "mirror", "monkey",
    "needle", "nickel", "oasis", "olive", "orange", "otter", "paddle", "parrot", "pebble",
    "pepper", "pillow", "planet", "pocket", "puzzle", "quartz", "rabbit", "radish", "raven",
    "ribbon", "rocket", "saddle", "salmon", "signal", "silver", "spider", "sponge", "squash",
    "summit", "tablet", "tiger", "timber", "tomato", "tunnel", "turtle", "velvet", "violin",
    "walnut", "wagon", "walrus", "willow", "window", "winter", "yogurt", "zebra", "zipper",
)  # fmt: skip

# pieces of made-up words: onset + vowel + optional coda, two to four syllables
ONSETS = (
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
    "br", "cr", "dr", "fl", "gr", "pl", "st", "tr",
)  # fmt: skip
VOWELS = ("a", "e", "i", "o", "u")
CODAS = ("", "", "", "n", "r", "l", "s")
