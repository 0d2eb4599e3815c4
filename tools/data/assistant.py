"""Assistant-style API families: calendars, reminders, messages, accounts, tasks, bookings, home.

The same compact entries as tools/data/apis.py (`F` of `P`s), for the requests a personal
assistant gets rather than a calculator: every value is composed at random from small pools
(names, titles, bodies, ids), so no literal recurs across records and a model cannot learn a
value instead of reading it from the request. The services are fakes with deterministic answers
(an id or a number derived from the arguments by CRC-32), so a record's tool result is the same
for the same call, on every machine.

Parameters whose wording the conversation can supply are marked for tools/data/compose.py:
`RELATIVE_DATES` (a date the request says as "tomorrow" or "next Friday", resolved from a stated
current date), `HERE` (a city the context states), `CARRY` (a fact from an earlier turn: "my
account" after "my account number is ...").
"""

from __future__ import annotations

import datetime as dt
import random
import zlib

from tunepilot.tools.data.params import Enum, F, Int, Num, P, Q, _date

FIRST = ("Ana", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena", "Mateo",
         "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf",
         "Zoe", "Aiko", "Bruno", "Carmen", "Dario", "Esme", "Felix", "Gita", "Hana", "Ivo", "Jada", "Kofi", "Lucia")
LAST = ("Almeida", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen",
        "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quintero", "Rossi", "Sato", "Tanaka",
        "Unal", "Varga", "Weber", "Xu", "Yilmaz", "Zhou", "Bauer", "Novak", "Silva", "Kim", "Mendes", "Horvat")
ACTIVITIES = ("standup", "design review", "lunch", "dentist appointment", "budget sync", "1:1", "yoga class",
              "sprint planning", "parent-teacher meeting", "code review", "coffee chat", "interview", "demo",
              "board game night", "quarterly review", "gym session", "onboarding call", "retro")
THINGS = ("the slides", "the invoice", "the keys", "the charger", "the contract", "the tickets", "the report",
          "the laptop", "the receipts", "the umbrella", "the samples", "the passport", "the cake", "the cables")
CHORES = ("renew the car insurance", "water the plants", "pay the electricity bill", "book a haircut",
          "call the plumber", "return the library books", "back up the photos", "order printer ink",
          "submit the expense report", "pick up the dry cleaning", "update the resume", "cancel the gym trial")
ADJ = ("Blue", "Golden", "Little", "Old", "Green", "Red", "Silver", "Hidden", "Happy", "Wild", "Quiet", "Lucky")
NOUN = ("Olive", "Lantern", "Fig", "Anchor", "Sparrow", "Oak", "Harbor", "Pepper", "Tulip", "Barrel", "Kettle")
CITIES = ("Lisbon", "Porto", "Oslo", "Bergen", "Denver", "Austin", "Hanoi", "Osaka", "Cape Town", "Nairobi",
          "Reykjavik", "Vienna", "Krakow", "Seville", "Bogota", "Lima", "Perth", "Halifax", "Tunis", "Tbilisi",
          "Ghent", "Turin", "Leeds", "Quebec City", "Montevideo", "Da Nang", "Chiang Mai", "Cork", "Split", "Riga")
ROOMS = ("living room", "bedroom", "kitchen", "office", "nursery", "basement", "guest room", "hallway")
PRODUCTS = ("oat milk", "AA batteries", "dish soap", "coffee beans", "printer paper", "tennis balls", "olive oil",
            "paper towels", "green tea", "dog food", "notebooks", "sunscreen", "rice", "light bulbs")
DOMAINS = ("example.com", "mail.test", "corp.example.org", "inbox.example.net")


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def _title(rng: random.Random) -> str:
    return rng.choice((f"{rng.choice(ACTIVITIES)} with {rng.choice(FIRST)}", rng.choice(ACTIVITIES).capitalize(),
                       f"{rng.choice(ACTIVITIES)} ({rng.choice(LAST)} project)"))


def _body(rng: random.Random) -> str:
    return rng.choice((f"I'm running {rng.randint(5, 40)} minutes late", f"Can you bring {rng.choice(THINGS)}?",
                       f"{rng.choice(THINGS).capitalize()} are on my desk", f"See you at {_time(rng)}",
                       f"Don't forget {rng.choice(THINGS)} tomorrow", f"Call me after {_time(rng)} please"))


def _time(rng: random.Random) -> str:
    return f"{rng.randint(7, 20):02d}:{rng.choice((0, 15, 30, 45)):02d}"


def _restaurant(rng: random.Random) -> str:
    return f"The {rng.choice(ADJ)} {rng.choice(NOUN)}"


def _account(rng: random.Random) -> str:
    return f"{rng.randint(10, 99)}-{rng.randint(100000, 999999)}"


def _username(rng: random.Random) -> str:
    return f"{rng.choice(FIRST).lower()}{rng.choice(('', '.', '_'))}{rng.choice(LAST).lower()[:4]}{rng.randint(1, 999)}"


def _code(*parts) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _id(prefix: str, *parts) -> str:
    return f"{prefix}_{_code(*parts) % 16 ** 6:06x}"


def _end(start: str, minutes: int) -> str:
    h, m = map(int, start.split(":"))
    t = h * 60 + m + minutes
    return f"{t // 60 % 24:02d}:{t % 60:02d}"


def _events(date: str) -> list[dict]:
    c = _code("events", date)
    return [{"title": ACTIVITIES[(c >> (4 * i)) % len(ACTIVITIES)], "start": f"{8 + (c >> (3 * i)) % 9:02d}:00"}
            for i in range(c % 4)]


DATE = dict(unit=("on {}",), label="date")
TIME = dict(unit=("at {}",), label="time")
CITY = dict(unit=("in {}",), label="city")


def S(key, desc, gen, **kw):  # a free string drawn from a composing generator
    return P(key, "string", desc, gen, **kw)


FAMILIES: list[F] = [
    F("calendar_event", "calendar", "create add schedule", ("Create an event in the user's calendar.", "Add a calendar entry."),
      [S("title", "Event title.", _title, names=("title", "summary", "event_name"), unit=Q),
       S("date", "Date as YYYY-MM-DD.", lambda r: _date(r, 2025, 2027), names=("date", "event_date", "day"), **DATE),
       S("start_time", "Start time as HH:MM (24 h).", _time, names=("start_time", "start", "time"), **TIME),
       Int("duration_minutes", "Length in minutes.", 15, 180, names=("duration_minutes", "duration", "minutes"),
           opt=(" for {v} minutes", ", lasting {v} minutes"), default=60),
       S("location", "Where it takes place.", lambda r: rng_place(r), names=("location", "place", "where"),
         opt=(" at {v}", ", location {v}"))],
      lambda title, date, start_time, duration_minutes, location: {
          "event_id": _id("evt", title, date, start_time), "title": title, "date": date, "start": start_time,
          "end": _end(start_time, duration_minutes), "location": location},
      "add an event to the calendar",
      ("Put {title} in my calendar {date} {start_time}{opt}.", "Schedule {title} {date} {start_time}{opt}.",
       "Add an event called {title} {date} {start_time}{opt}."),
      ("Added {title} on {date} from {start_time} to {r}.", "Done: {title} is in your calendar on {date}, {start_time}-{r}."),
      key="end", noun="calendar_event"),
    F("list_events", "calendar", "list get fetch", ("List the events in the user's calendar on one day.", "What is on the calendar for a date."),
      [S("date", "Day to list, YYYY-MM-DD.", lambda r: _date(r, 2025, 2027), names=("date", "day", "on_date"), **DATE)],
      lambda date: {"date": date, "events": _events(date)},
      "list the calendar events of a day", ("What's on my calendar {date}?", "Do I have anything scheduled {date}?",
                                            "List my meetings {date}."),
      lambda v, r: (f"You have {len(r['events'])} event(s) on {v['date']}: "
                    + ", ".join(f"{e['title']} at {e['start']}" for e in r["events"]) + "."
                    if r["events"] else f"Your calendar is free on {v['date']}."),
      key="date", noun="day_events"),
    F("reminder", "reminders", "create set add", ("Set a reminder that notifies the user at a date and time.", "Create a timed reminder."),
      [S("text", "What to remind about.", lambda r: r.choice(CHORES), names=("text", "message", "note"), unit=Q),
       S("date", "Date as YYYY-MM-DD.", lambda r: _date(r, 2025, 2027), names=("date", "remind_date", "day"), **DATE),
       S("time", "Time as HH:MM (24 h).", _time, names=("time", "remind_at", "at_time"), **TIME)],
      lambda text, date, time: {"reminder_id": _id("rem", text, date, time), "when": f"{date} {time}"},
      "set a reminder", ("Remind me to {text} {date} {time}.", "Set a reminder {date} {time}: {text}.",
                         "Can you remind me {date} {time} to {text}?"),
      ("Reminder set for {r}: {text}.", "OK, I'll remind you at {r}."),
      key="when", noun="reminder"),
    F("chat_message", "messages", "send post", ("Send a chat message to a contact.", "Message someone in the chat app."),
      [S("recipient", "Contact's full name.", _person, names=("recipient", "to", "contact"), label="recipient"),
       S("body", "Message text.", _body, names=("body", "text", "message"), unit=Q),
       Enum("channel", "Where to send it.", ("chat", "sms", "whatsapp"), {"chat": ("by chat",), "sms": ("by SMS", "as a text"),
                                                                            "whatsapp": ("on WhatsApp",)},
            names=("channel", "via", "app"), opt=(" {v}",), default="chat")],
      lambda recipient, body, channel: {"message_id": _id("msg", recipient, body), "delivered": True, "channel": channel},
      "send a message", ("Send {recipient} a message{opt}: {body}", "Tell {recipient}{opt}: {body}", "Message {recipient}{opt} saying {body}"),
      ("Sent to {recipient} via {r}.", "Your {r} message to {recipient} was delivered."), key="channel", noun="chat_message"),
    F("email", "messages", "send compose", ("Send an email.", "Compose and send an email to an address."),
      [S("to", "Recipient email address.", _email, names=("to", "recipient_email", "address")),
       S("subject", "Subject line.", lambda r: f"{rng_topic(r)}", names=("subject", "title"), unit=Q),
       S("body", "Email body.", _body, names=("body", "content", "text"), unit=Q)],
      lambda to, subject, body: {"email_id": _id("eml", to, subject), "status": "sent"},
      "send an email", ("Email {to} with the subject {subject} and the text {body}.",
                        "Send an email to {to}, subject {subject}, body {body}."),
      ("Email sent to {to}; its id is {r}.", "Sent {subject} to {to} (id {r})."), key="email_id", noun="email"),
    F("account_balance", "accounts", "get check fetch", ("Current balance of a bank account.", "Look up an account's balance."),
      [S("account_id", "Account number.", _account, names=("account_id", "account", "account_number"), unit=("account {}",),
         label="account number")],
      lambda account_id: {"account_id": account_id, "balance": round(_code("bal", account_id) % 900000 / 100 + 50, 2), "currency": "USD"},
      "check an account balance", ("What's the balance of {account_id}?", "Check the balance on {account_id}.", "How much money is in {account_id}?"),
      ("The balance is ${r}.", "{account_id} holds {r} USD."), key="balance", noun="account_balance"),
    F("transfer", "accounts", "create make send", ("Transfer money between two accounts.", "Move funds from one account to another."),
      [S("from_account", "Account to take the money from.", _account, names=("from_account", "source_account", "from_id"),
         unit=("account {}",), label="source account"),
       S("to_account", "Account to pay into.", _account, names=("to_account", "destination_account", "to_id"),
         unit=("account {}",), label="destination account"),
       Num("amount", "Amount to move.", 5, 5000, 2, names=("amount", "value", "sum"), unit=("${}", "{} dollars")),
       Enum("currency", "Currency code.", ("USD", "EUR", "GBP"), {"USD": ("in USD",), "EUR": ("in euros", "in EUR"), "GBP": ("in pounds", "in GBP")},
            names=("currency", "ccy"), opt=(" {v}",), default="USD")],
      lambda from_account, to_account, amount, currency: {"transfer_id": _id("trf", from_account, to_account, amount), "status": "completed"},
      "transfer money", ("Transfer {amount} from {from_account} to {to_account}{opt}.", "Move {amount}{opt} from {from_account} into {to_account}.",
                         "Send {amount} from {from_account} to {to_account}{opt}."),
      ("Transferred {amount} from {from_account} to {to_account} (transfer {r}).", "Done, the transfer is complete ({r})."),
      key="transfer_id", noun="funds_transfer"),
    F("password_reset", "accounts", "request send start", ("Send a password-reset link for a user account.", "Start a password reset."),
      [S("username", "Login name.", _username, names=("username", "login", "user"), unit=("user {}", "{}"), label="username"),
       Enum("method", "Where to send the link.", ("email", "sms"), {"email": ("by email",), "sms": ("by text", "by SMS")},
            names=("method", "delivery"), opt=(" {v}",), default="email")],
      lambda username, method: {"request_id": _id("pwr", username), "sent_via": method},
      "reset a password", ("Reset the password for {username}{opt}.", "I forgot the password of {username}; send a reset link{opt}."),
      ("A reset link for {username} is on its way (request {r}).",), key="request_id", noun="password_reset"),
    F("todo", "tasks", "add create", ("Add an item to the user's to-do list.", "Create a task."),
      [S("title", "What needs doing.", lambda r: r.choice(CHORES), names=("title", "task", "item"), unit=Q),
       Enum("priority", "Priority.", ("low", "normal", "high"), {"low": ("low priority",), "normal": ("normal priority",), "high": ("high priority", "urgent")},
            names=("priority", "importance"), opt=(", {v}", " ({v})"), default="normal"),
       S("due_date", "Due date, YYYY-MM-DD.", lambda r: _date(r, 2025, 2027), names=("due_date", "due", "deadline"),
         opt=(", due {v}", " by {v}"), label="due date")],
      lambda title, priority, due_date: {"task_id": _id("tsk", title, due_date), "priority": priority, "due": due_date},
      "add a to-do item", ("Add {title} to my to-do list{opt}.", "New task: {title}{opt}.", "Put {title} on my list{opt}."),
      ("Added: {title} ({r}).", "It's on your list as {r}."), key="task_id", noun="todo_item"),
    F("table_booking", "reservations", "book reserve make", ("Reserve a table at a restaurant.", "Book a restaurant table."),
      [S("restaurant", "Restaurant name.", _restaurant, names=("restaurant", "venue", "restaurant_name")),
       S("date", "Date, YYYY-MM-DD.", lambda r: _date(r, 2025, 2027), names=("date", "booking_date", "day"), **DATE),
       S("time", "Time, HH:MM.", _time, names=("time", "booking_time", "at"), **TIME),
       Int("party_size", "Number of guests.", 1, 12, names=("party_size", "guests", "people"), unit=("{} people", "{} guests"))],
      lambda restaurant, date, time, party_size: {"booking_id": _id("bk", restaurant, date, time), "confirmed": True},
      "book a table", ("Book a table at {restaurant} {date} {time} for {party_size}.", "Reserve {restaurant} for {party_size} {date} {time}.",
                       "Get me a table for {party_size} at {restaurant}, {date} {time}."),
      ("Booked {restaurant} for {party_size} on {date} at {time}; confirmation {r}.",), key="booking_id", noun="table_booking"),
    F("current_weather", "weather", "get fetch check", ("Current weather conditions in a city.", "Live temperature and sky for a city."),
      [S("city", "City name.", lambda r: r.choice(CITIES), names=("city", "location", "place"), **CITY),
       Enum("units", "Temperature unit.", ("metric", "imperial"), {"metric": ("in Celsius",), "imperial": ("in Fahrenheit",)},
            names=("units", "unit_system"), opt=(" {v}",), default="metric")],
      lambda city, units: {"city": city, "temperature": (_code("t", city) % 35 - 5) if units == "metric" else (_code("t", city) % 35 - 5) * 9 // 5 + 32,
                           "sky": ("clear", "cloudy", "rain", "windy")[_code("s", city) % 4]},
      "get the current weather", ("What's the weather like {city}{opt}?", "How warm is it {city} right now{opt}?", "Current conditions {city}{opt}?"),
      ("It's {r} degrees and {res[sky]} in {city}.",), key="temperature", noun="weather_now"),
    F("ride", "travel", "request book order", ("Request a ride from a pickup point to a destination.", "Book a car ride."),
      [S("pickup", "Pickup address or place.", lambda r: rng_place(r), names=("pickup", "from_location", "origin")),
       S("destination", "Where to go.", lambda r: rng_place(r), names=("destination", "to_location", "dropoff")),
       Enum("ride_type", "Kind of car.", ("standard", "xl", "comfort"), {"standard": ("a standard car",), "xl": ("an XL car",), "comfort": ("a comfort car",)},
            names=("ride_type", "car_type", "tier"), opt=(", {v}", " with {v}"), default="standard")],
      lambda pickup, destination, ride_type: {"ride_id": _id("ride", pickup, destination), "eta_minutes": 3 + _code(pickup) % 12},
      "book a ride", ("Get me a ride from {pickup} to {destination}{opt}.", "Book a car from {pickup} to {destination}{opt}."),
      ("Your ride arrives in {res[eta_minutes]} minutes.",), key="eta_minutes", noun="ride_request"),
    F("thermostat", "home", "set adjust", ("Set the target temperature of a room's thermostat.", "Change a room's heating setpoint."),
      [S("room", "Room name.", lambda r: r.choice(ROOMS), names=("room", "zone", "area")),
       Num("temperature", "Target temperature in °C.", 15, 27, 1, names=("temperature", "target", "setpoint"), unit=("{} degrees", "{}°C")),
       Enum("mode", "Mode.", ("heat", "cool", "auto"), {"heat": ("on heat",), "cool": ("on cooling",), "auto": ("on auto",)},
            names=("mode", "hvac_mode"), opt=(", {v}",), default="auto")],
      lambda room, temperature, mode: {"room": room, "target": temperature, "mode": mode, "ok": True},
      "set the thermostat", ("Set the {room} to {temperature}{opt}.", "Make the {room} {temperature}{opt}.", "Thermostat in the {room}: {temperature}{opt}."),
      ("The {room} is set to {temperature}.",), key="target", noun="room_thermostat"),
    F("shopping_cart", "shopping", "add put", ("Add a product to the shopping cart.", "Put items in the online cart."),
      [S("product", "Product name.", lambda r: r.choice(PRODUCTS), names=("product", "item", "product_name")),
       Int("quantity", "How many.", 1, 24, names=("quantity", "qty", "count"))],
      lambda product, quantity: {"cart_size": 1 + _code(product, quantity) % 9, "added": quantity},
      "add something to the cart", ("Add {quantity} {product} to my cart.", "Put {product} in the cart, {quantity} of them.",
                                    "I need {quantity} {product}; add them to the basket."),
      ("Added {quantity} {product}; the cart has {r} items.",), key="cart_size", noun="cart_item"),
]


def rng_place(r: random.Random) -> str:
    return r.choice((f"{r.randint(1, 250)} {r.choice(NOUN)} Street", f"{r.choice(CITIES)} airport",
                     f"{r.choice(CITIES)} central station", f"the {r.choice(ADJ)} {r.choice(NOUN)} hotel"))


def rng_topic(r: random.Random) -> str:
    return r.choice((f"{r.choice(ACTIVITIES).capitalize()} notes", f"Re: {r.choice(THINGS)}", f"Invoice {r.randint(1000, 9999)}",
                     f"Plans for {r.choice(CITIES)}", f"Question about {r.choice(THINGS)}"))


# What the conversation can supply instead of the request (tools/data/compose.py).
RELATIVE_DATES = {"date", "due_date"}
HERE = {"city"}
CARRY = {  # parameter key -> (how the later request refers to it, how the earlier turn states it)
    "account_id": (("my account", "my usual account"), ("My account number is {v}.", "For reference, my account is {v}.")),
    "from_account": (("my account", "my checking account"), ("My checking account is {v}.",)),
    "username": (("my account", "my login"), ("My username is {v}.", "I log in as {v}.")),
    "recipient": (("her", "him", "them"), ("I'm working with {v} this week.", "{v} is my project partner.")),
    "to": (("that address", "them"), ("Their email is {v}.", "You can reach them at {v}.")),
    "restaurant": (("that place", "that restaurant"), ("My favourite restaurant is {v}.", "Everyone liked {v} last time.")),
}


def relative_date(today: dt.date, rng: random.Random) -> tuple[str, str]:
    """(phrase, YYYY-MM-DD): a date the user says relative to `today`."""
    k = rng.choice(("today", "tomorrow", "after", "in", "next", "this"))
    if k == "today":
        return "today", today.isoformat()
    if k == "tomorrow":
        return "tomorrow", (today + dt.timedelta(days=1)).isoformat()
    if k == "after":
        return "the day after tomorrow", (today + dt.timedelta(days=2)).isoformat()
    if k == "in":
        n = rng.randint(3, 12)
        return f"in {n} days", (today + dt.timedelta(days=n)).isoformat()
    wd = rng.randint(0, 6)
    ahead = (wd - today.weekday()) % 7 or 7
    name = dt.date(2024, 1, 1 + wd).strftime("%A")  # 2024-01-01 was a Monday
    return (f"next {name}" if k == "next" else f"on {name}"), (today + dt.timedelta(days=ahead)).isoformat()
