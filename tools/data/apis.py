"""Procedural generator of diverse, executable function APIs with natural-language requests.

Each *family* below is one compact data entry: a function (module, verbs, descriptions), typed
parameters (with name synonyms, units, optional clauses and defaults), a pure-Python
implementation, a task phrase, request templates and final-answer templates. A sample picks a
family, a function-name style, parameter-name synonyms and values, renders a request that states
exactly the argument values, calls the implementation for the real result, and wraps it in a
record (see tunepilot/chat.py).

Public API:
    sample_api_record(rng, agent_role, kind="single", family=None) -> dict
        kind: "single" (one correct call), "ask" (a required argument is missing: ask for it),
              "no_tool" (no offered tool fits: answer directly).
    family_count() -> int
    all_function_names() -> set[str]
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import posixpath
import random
import re
import statistics
import urllib.parse
from collections import Counter
from typing import Any

from tunepilot.tools.data.params import (OPT_DEC, U_KG, U_LEN, U_MONEY, U_MS, U_PCT, U_SEC, WEEKDAYS, WORDS, Arr,  # noqa: F401
                                          Bool, Enum, F, Int, Num, Obj, P, Pick, Q, _date, _num, yesno)


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def _mins(s: str) -> int:
    h, m = s.split(":")
    return int(h) * 60 + int(m)


def _ints(lo, hi):
    return lambda r: r.randint(lo, hi)


def _nums(lo, hi, nd=1):
    return lambda r: _num(r, lo, hi, nd)


# built-in tables (lookups; the small fictional ones are labelled as such in descriptions)
COUNTRIES = {  # capital, currency, calling code, continent
    "Japan": ("Tokyo", "JPY", "+81", "Asia"), "France": ("Paris", "EUR", "+33", "Europe"),
    "Brazil": ("Brasília", "BRL", "+55", "South America"), "Canada": ("Ottawa", "CAD", "+1", "North America"),
    "Kenya": ("Nairobi", "KES", "+254", "Africa"), "Australia": ("Canberra", "AUD", "+61", "Oceania"),
    "India": ("New Delhi", "INR", "+91", "Asia"), "Germany": ("Berlin", "EUR", "+49", "Europe"),
    "Mexico": ("Mexico City", "MXN", "+52", "North America"), "Egypt": ("Cairo", "EGP", "+20", "Africa"),
    "Norway": ("Oslo", "NOK", "+47", "Europe"), "Argentina": ("Buenos Aires", "ARS", "+54", "South America"),
    "South Korea": ("Seoul", "KRW", "+82", "Asia"), "Peru": ("Lima", "PEN", "+51", "South America"),
}
CITY_COORDS = {
    "Tokyo": (35.68, 139.69), "Paris": (48.86, 2.35), "New York": (40.71, -74.01), "London": (51.51, -0.13),
    "Sydney": (-33.87, 151.21), "Cairo": (30.04, 31.24), "Lima": (-12.05, -77.04), "Toronto": (43.65, -79.38),
    "Mumbai": (19.08, 72.88), "Berlin": (52.52, 13.40), "Nairobi": (-1.29, 36.82), "Seoul": (37.57, 126.98),
}
MOVIES = {
    "Jaws": ("Steven Spielberg", 1975), "The Godfather": ("Francis Ford Coppola", 1972),
    "Casablanca": ("Michael Curtiz", 1942), "Psycho": ("Alfred Hitchcock", 1960), "Alien": ("Ridley Scott", 1979),
    "Titanic": ("James Cameron", 1997), "Inception": ("Christopher Nolan", 2010),
    "Pulp Fiction": ("Quentin Tarantino", 1994), "Spirited Away": ("Hayao Miyazaki", 2001),
    "Parasite": ("Bong Joon-ho", 2019),
}
BOOKS = {
    "Pride and Prejudice": ("Jane Austen", 1813), "Moby-Dick": ("Herman Melville", 1851),
    "Nineteen Eighty-Four": ("George Orwell", 1949), "The Hobbit": ("J. R. R. Tolkien", 1937),
    "Frankenstein": ("Mary Shelley", 1818), "Dracula": ("Bram Stoker", 1897),
    "War and Peace": ("Leo Tolstoy", 1869), "The Great Gatsby": ("F. Scott Fitzgerald", 1925),
    "To Kill a Mockingbird": ("Harper Lee", 1960), "Don Quixote": ("Miguel de Cervantes", 1605),
}
OLYMPIC_HOSTS = {1992: "Barcelona", 1996: "Atlanta", 2000: "Sydney", 2004: "Athens", 2008: "Beijing",
                 2012: "London", 2016: "Rio de Janeiro", 2020: "Tokyo", 2024: "Paris"}
HTTP_CODES = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
              304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
              404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
              502: "Bad Gateway", 503: "Service Unavailable"}
ELEMENTS = {"H": ("Hydrogen", 1), "He": ("Helium", 2), "C": ("Carbon", 6), "N": ("Nitrogen", 7),
            "O": ("Oxygen", 8), "Na": ("Sodium", 11), "Mg": ("Magnesium", 12), "Cl": ("Chlorine", 17),
            "K": ("Potassium", 19), "Ca": ("Calcium", 20), "Fe": ("Iron", 26), "Cu": ("Copper", 29),
            "Ag": ("Silver", 47), "Au": ("Gold", 79)}
ATOMIC_MASS = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "Na": 22.99, "Mg": 24.305, "P": 30.974,
               "S": 32.06, "Cl": 35.45, "K": 39.098, "Ca": 40.078, "Fe": 55.845}
FORMULAS = ["H2O", "CO2", "NaCl", "C6H12O6", "CH4", "NH3", "H2SO4", "CaCO3", "KCl", "MgO", "C2H5OH", "Fe2O3"]
FX_PER_USD = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.0, "CAD": 1.36, "INR": 83.0, "CHF": 0.9}
TZ_OFFSETS = {"UTC": 0, "EST": -5, "PST": -8, "CET": 1, "IST": 5.5, "JST": 9, "AEST": 10}
CITY_BASE_TEMP = {"Lisbon": 19, "Oslo": 6, "Denver": 14, "Hanoi": 29, "Cape Town": 21, "Reykjavik": 4,
                  "Chicago": 11, "Dubai": 34, "Auckland": 17, "Montreal": 8}
DAY_SHIFT = [0, 1.5, -1, 2, 0.5, -2, 1]
CITY_AQI = {"Lisbon": 38, "Oslo": 22, "Denver": 57, "Hanoi": 142, "Cape Town": 31, "Reykjavik": 12,
            "Chicago": 64, "Dubai": 103, "Auckland": 19, "Montreal": 45}
STOCK = {  # fictional warehouse table
    "SKU-1042": ("USB-C cable", {"north": 120, "south": 45, "east": 0}),
    "SKU-2210": ("desk lamp", {"north": 8, "south": 31, "east": 14}),
    "SKU-3307": ("wireless mouse", {"north": 64, "south": 0, "east": 22}),
    "SKU-4415": ("A5 notebook", {"north": 300, "south": 150, "east": 95}),
    "SKU-5120": ("steel water bottle", {"north": 17, "south": 42, "east": 60}),
}
SHIP_RATES = {"domestic": (5.0, 1.2), "regional": (9.5, 2.1), "international": (18.0, 4.75)}
ROAST = {"chicken": (40, 20), "beef": (35, 20), "pork": (55, 25), "lamb": (45, 20)}  # min/kg, extra min
DONENESS = {"rare": 0.85, "medium": 1.0, "well_done": 1.15}
RECIPES = {
    "pancakes": ["flour", "milk", "eggs", "sugar", "butter"],
    "guacamole": ["avocado", "lime", "onion", "cilantro", "salt"],
    "hummus": ["chickpeas", "tahini", "lemon", "garlic", "olive oil"],
    "tomato soup": ["tomatoes", "onion", "garlic", "stock", "cream"],
    "omelette": ["eggs", "butter", "salt", "chives", "cheese"],
    "pesto": ["basil", "pine nuts", "garlic", "parmesan", "olive oil"],
}
TEXTS = ["seven purple kites drifted over the harbor", "never odd or even", "a stitch in time saves nine",
         "Was it a car or a cat I saw", "deploy the service before friday", "racecar", "step on no pets",
         "green tea keeps me awake", "data beats opinions", "the meeting moved to room four", "Hello world",
         "keep calm and carry on", "Madam in Eden Im Adam", "rivers carve deep canyons slowly"]
PHRASES = ["portable network graphics", "as soon as possible", "frequently asked questions",
           "random access memory", "application programming interface", "graphics processing unit",
           "continuous integration pipeline", "rest in peace"]
TITLES = ["My First Blog Post", "Ten Tips for Faster Builds", "Why Tests Matter", "Release Notes 2024",
          "Hello World Again", "Notes From The Road", "A Guide to Clean Code"]
HOSTS = ["example.com", "api.example.org", "shop.test", "docs.internal.net", "localhost", "data.example.io"]
URL_PATHS = ["/users", "/api/v2/items", "/search", "/static/img/logo.png", "/health", "/orders/latest"]
URLS = ["https://shop.example.com/cart?id=42", "http://api.test.org/v1/users", "ftp://files.example.com/pub/readme.txt",
        "https://docs.example.net/guide/intro.html", "https://news.example.io/world/today"]
FILE_PATHS = ["/home/ana/notes/todo.txt", "C:/data/report.final.xlsx", "src/app/main.py", "backup/archive.tar.gz",
              "/var/log/nginx/access.log", "images/cat.jpeg", "docs/README.md", "build/output.json"]
PATH_PARTS = ["home", "ana", "projects", "data", "src", "tests", "logs", "2024", "backup", "images"]
FRUITS = ["apple", "banana", "kiwi", "mango", "pear", "plum", "grape", "lemon", "cherry", "fig"]
ENCODE_TEXTS = ["hello world", "a&b=c", "café au lait", "50% off!", "path/to file", "tom & jerry"]


def _molar_mass(formula: str) -> float:
    return round(sum(ATOMIC_MASS[el] * int(n or 1) for el, n in re.findall(r"([A-Z][a-z]?)(\d*)", formula)), 3)


def _roman(number: int) -> str:
    out, n = "", number
    for v, s in [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                 (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]:
        while n >= v:
            out, n = out + s, n - v
    return out


def _prime_factors(n: int) -> list:
    out, d = [], 2
    while d * d <= n:
        while n % d == 0:
            out, n = out + [d], n // d
        d += 1
    return out + ([n] if n > 1 else [])


def _fib(count: int, start_at_zero: bool) -> list:
    a, b = (0, 1) if start_at_zero else (1, 1)
    out = []
    for _ in range(count):
        out.append(a)
        a, b = b, a + b
    return out


def _percentile(values, percentile):
    xs = sorted(values)
    k = (len(xs) - 1) * percentile / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 3)


def _pearson(x, y):
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sx, sy = math.sqrt(sum((a - mx) ** 2 for a in x)), math.sqrt(sum((b - my) ** 2 for b in y))
    return round(sxy / (sx * sy), 4) if sx and sy else 0.0


def _haversine(city_a, city_b, unit):
    (la1, lo1), (la2, lo2) = CITY_COORDS[city_a], CITY_COORDS[city_b]
    p1, p2, dp, dl = map(math.radians, (la1, la2, la2 - la1, lo2 - lo1))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    km = 2 * 6371.0 * math.asin(math.sqrt(h))
    return round(km if unit == "km" else km / 1.609344, 1)


def _convert(table, value, src, dst, nd=4):
    return round(value * table[src] / table[dst], nd)


LENGTH_M = {"meters": 1, "kilometers": 1000, "miles": 1609.344, "feet": 0.3048, "inches": 0.0254, "centimeters": 0.01}
MASS_G = {"kilograms": 1000, "pounds": 453.59237, "ounces": 28.349523, "grams": 1}
SPEED_MS = {"km/h": 1 / 3.6, "mph": 0.44704, "m/s": 1, "knots": 0.514444}
VOLUME_ML = {"liters": 1000, "milliliters": 1, "us_gallons": 3785.411784, "cups": 236.588}
DATA_EXP = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4}


def _temperature(value, from_unit, to_unit):
    c = {"celsius": value, "fahrenheit": (value - 32) * 5 / 9, "kelvin": value - 273.15}[from_unit]
    return round({"celsius": c, "fahrenheit": c * 9 / 5 + 32, "kelvin": c + 273.15}[to_unit], 2)


def _human_size(size_bytes, binary):
    base, units = (1024, ["B", "KiB", "MiB", "GiB", "TiB"]) if binary else (1000, ["B", "KB", "MB", "GB", "TB"])
    i = 0
    x = float(size_bytes)
    while x >= base and i < len(units) - 1:
        x, i = x / base, i + 1
    return f"{round(x, 1)} {units[i]}"


def _nth_weekday(year, month, weekday, occurrence):
    first = dt.date(year, month, 1)
    offset = (WEEKDAYS.index(weekday) - first.weekday()) % 7
    return (first + dt.timedelta(days=offset + 7 * (occurrence - 1))).isoformat()


def _forecast(city, days, units):
    temps = [CITY_BASE_TEMP[city] + s for s in DAY_SHIFT[:days]]
    return [round(t * 9 / 5 + 32 if units == "fahrenheit" else t, 1) for t in temps]


def _aqi(city):
    a = CITY_AQI[city]
    cat = "good" if a <= 50 else "moderate" if a <= 100 else "unhealthy for sensitive groups" if a <= 150 else "unhealthy"
    return {"aqi": a, "category": cat}


def _caesar(text, shift, decode):
    s = -shift if decode else shift
    out = []
    for ch in text:
        if ch.isalpha() and ch.isascii():
            base = ord("A") if ch.isupper() else ord("a")
            out.append(chr((ord(ch) - base + s) % 26 + base))
        else:
            out.append(ch)
    return "".join(out)


def _loan(principal, annual_rate, months):
    i = annual_rate / 100 / 12
    return round(principal / months if i == 0 else principal * i / (1 - (1 + i) ** -months), 2)


def _fix_distinct(a, b, pool):
    def fix(v, rng):
        v[b] = rng.choice([x for x in pool if x != v[a]])
    return fix


def _fix_same_len(src, dst, gen_item):
    def fix(v, rng):
        v[dst] = [gen_item(rng) for _ in v[src]]
    return fix


def _fix_data_units(v, rng):
    units = list(DATA_EXP)
    i = units.index(v["from_unit"])
    v["to_unit"] = units[rng.choice([j for j in (i + 1, i - 1, i - 2) if 0 <= j < len(units)])]


def _fix_two_dates(a, b):
    def fix(v, rng):
        x, y = sorted([_d(v[a]), _d(v[b])])
        if x == y:
            y += dt.timedelta(days=rng.randint(1, 400))
        v[a], v[b] = x.isoformat(), y.isoformat()
    return fix


def _fix_quadratic(v, rng):
    a, r1, r2 = rng.choice([1, 1, 2, -1, 3]), rng.randint(-9, 9), rng.randint(-9, 9)
    v.update(a=a, b=-a * (r1 + r2), c=a * r1 * r2)


def _fix_gcd(v, rng):
    f = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 12, 15])
    v["numbers"] = [f * rng.randint(1, 20) for _ in v["numbers"]]


def _fix_meetings(v, rng):
    s1 = rng.randrange(8 * 60, 16 * 60, 15)
    s2 = s1 + rng.randrange(-90, 120, 15)
    v.update(first_start=_hhmm(s1), first_end=_hhmm(s1 + rng.randrange(30, 150, 15)),
             second_start=_hhmm(s2), second_end=_hhmm(s2 + rng.randrange(15, 120, 15)))


def _fix_char(v, rng):
    v["character"] = rng.choice([c for c in v["text"] if c.isalpha()])


def _fix_dupes(v, rng):
    v["items"] = v["items"] + rng.sample(v["items"], k=min(2, len(v["items"])))
    rng.shuffle(v["items"])


def _fix_exclude(v, rng):
    v["exclude"] = rng.sample(RECIPES[v["dish"]], k=rng.randint(1, 2))


def _fix_overlap_lists(v, rng):
    v["first"] = rng.sample(FRUITS, 4)
    v["second"] = rng.sample(v["first"], 2) + rng.sample([f for f in FRUITS if f not in v["first"]], 2)
    rng.shuffle(v["second"])


def _pt(v, rng):
    return f"({v['x']}, {v['y']})"


def _dims(v, rng):
    if rng.random() < 0.5:
        return f"{v['length']} x {v['width']} x {v['height']}"
    return f"length {v['length']}, width {v['width']} and height {v['height']}"


def _query(v, rng):
    return f"search term \"{v['q']}\", page {v['page']}, {v['per_page']} results per page"


PT = [Num("x", "X coordinate.", -20, 20), Num("y", "Y coordinate.", -20, 20)]
DIMS = [Num(k, f"{k.capitalize()} of the box.", 1, 30) for k in ("length", "width", "height")]
DEC = dict(names=("decimals", "precision", "round_to"), opt=OPT_DEC, default=2)
UNIT_SAY = {"meters": ("meters", "m"), "kilometers": ("kilometers", "km"), "miles": ("miles",), "feet": ("feet", "ft"),
            "inches": ("inches",), "centimeters": ("centimeters", "cm"), "kilograms": ("kilograms", "kg"),
            "pounds": ("pounds", "lb"), "ounces": ("ounces", "oz"), "grams": ("grams", "g"),
            "km/h": ("km/h", "kilometers per hour"), "mph": ("mph", "miles per hour"),
            "m/s": ("m/s", "meters per second"), "knots": ("knots",), "liters": ("liters", "L"),
            "milliliters": ("milliliters", "ml"), "us_gallons": ("US gallons", "gallons"), "cups": ("cups",),
            "celsius": ("degrees Celsius", "°C", "Celsius"), "fahrenheit": ("degrees Fahrenheit", "°F", "Fahrenheit"),
            "kelvin": ("kelvin", "K")}


def _unit_pair(units, what):
    return [Enum("from_unit", f"Unit of the input {what}.", units, UNIT_SAY, names=("from_unit", "source_unit", "unit_in"), label="source unit"),
            Enum("to_unit", f"Unit to convert the {what} to.", units, UNIT_SAY, names=("to_unit", "target_unit", "unit_out"), label="target unit")]


CONVERT_QS = ("Convert {value} {from_unit} to {to_unit}.", "How many {to_unit} is {value} {from_unit}?",
              "I have {value} {from_unit}; express that in {to_unit}.")
CONVERT_SAYS = ("{value} {from_unit} is {r} {to_unit}.", "That comes to {r} {to_unit}.")

FAMILIES: list[F] = [
    # ------------------------------------------------------------------ geometry
    F("triangle_area", "geometry", "calculate compute get",
      ("Compute the area of a triangle from its base and perpendicular height.",
       "Returns the surface covered by a triangle given base length and height."),
      [Num("base", "Length of the base side.", 1, 60, names=("base", "base_length", "b"), unit=U_LEN),
       Num("height", "Perpendicular height to that base.", 1, 60, names=("height", "h", "altitude"), unit=U_LEN)],
      lambda base, height: round(base * height / 2, 3), "find the area of a triangle",
      ("What's the area of a triangle whose base is {base} and whose height is {height}?",
       "A triangular garden bed has a base of {base} and an altitude of {height}. How much area is that?",
       "Triangle with base {base} and height {height}: what area does it enclose?"),
      ("The triangle's area is {r}.", "It encloses an area of {r}.")),
    F("circle_area", "geometry", "calculate compute get",
      ("Area enclosed by a circle of the given radius.", "Computes pi times the squared radius of a circle."),
      [Num("radius", "Radius of the circle.", 0.5, 50, names=("radius", "r", "circle_radius"), unit=U_LEN),
       Int("decimals", "Number of decimal places in the result.", 0, 4, **DEC)],
      lambda radius, decimals: round(math.pi * radius ** 2, decimals), "work out the area of a circle",
      ("How much area does a circle with radius {radius} have{opt}?", "Give me the area of a circle of radius {radius}{opt}.",
       "A round table top has a radius of {radius}. What's its area{opt}?"),
      ("The circle's area is {r}.", "Area = {r}.")),
    F("rectangle_perimeter", "geometry", "calculate compute get find",
      ("Perimeter of a rectangle from its length and width.", "Total boundary length of a rectangle."),
      [Num("length", "Length of the rectangle.", 1, 200, names=("length", "long_side", "len"), unit=U_LEN),
       Num("width", "Width of the rectangle.", 1, 200, names=("width", "short_side", "w"), unit=U_LEN)],
      lambda length, width: round(2 * (length + width), 3), "get the perimeter of a rectangle",
      ("What's the perimeter of a rectangle that is {length} long and {width} wide?",
       "I'm fencing a rectangular yard measuring {length} by {width}. How much fence goes around it?",
       "Perimeter of a {length} by {width} rectangle?"),
      ("The perimeter is {r}.", "You need {r} of fence.")),
    F("cylinder_volume", "geometry", "calculate compute get",
      ("Volume of a right circular cylinder.", "Computes how much a cylinder holds from its radius and height."),
      [Num("radius", "Radius of the circular base.", 0.5, 30, names=("radius", "base_radius", "r"), unit=U_LEN),
       Num("height", "Height of the cylinder.", 0.5, 80, names=("height", "h", "cylinder_height"), unit=U_LEN),
       Int("decimals", "Decimal places to round to.", 0, 4, **DEC)],
      lambda radius, height, decimals: round(math.pi * radius ** 2 * height, decimals), "compute the volume of a cylinder",
      ("What volume does a cylinder with radius {radius} and height {height} hold{opt}?",
       "A tank is a cylinder, radius {radius}, height {height}. Volume{opt}?",
       "Find the volume of a cylindrical can: radius {radius}, height {height}{opt}."),
      ("The cylinder holds {r}.", "Its volume is {r}.")),
    F("sphere_surface_area", "geometry", "calculate compute get",
      ("Surface area of a sphere from its radius.", "Returns 4*pi*r^2 for a ball of radius r."),
      [Num("radius", "Radius of the sphere.", 0.5, 40, names=("radius", "r", "sphere_radius"), unit=U_LEN)],
      lambda radius: round(4 * math.pi * radius ** 2, 2), "find the surface area of a sphere",
      ("How much surface does a sphere of radius {radius} have?", "What's the surface area of a ball whose radius is {radius}?",
       "Sphere, radius {radius}: surface area?"),
      ("The sphere's surface area is {r}.", "Surface area: {r}.")),
    F("hypotenuse", "geometry", "calculate compute find get",
      ("Length of the hypotenuse of a right triangle given both legs.", "Pythagorean theorem: the longest side from the two shorter ones."),
      [Num("leg_a", "First leg of the right triangle.", 1, 50, names=("leg_a", "side_a", "leg1"), unit=U_LEN),
       Num("leg_b", "Second leg of the right triangle.", 1, 50, names=("leg_b", "side_b", "leg2"), unit=U_LEN)],
      lambda leg_a, leg_b: round(math.hypot(leg_a, leg_b), 3), "find the hypotenuse of a right triangle",
      ("A right triangle has legs of {leg_a} and {leg_b}. How long is the hypotenuse?",
       "What's the longest side of a right triangle with the two short sides {leg_a} and {leg_b}?",
       "Hypotenuse for legs {leg_a} and {leg_b}?"),
      ("The hypotenuse is {r} long.", "It measures {r}.")),
    F("polygon_interior_angle", "geometry", "calculate compute get",
      ("Interior angle (in degrees) of a regular polygon.", "Degrees inside a regular polygon with n sides."),
      [Int("sides", "Number of sides (at least 3).", 3, 12, names=("sides", "n_sides", "num_sides"), unit=("{}",)),
       Bool("total", "Return the sum of all interior angles instead of one angle.",
            ("the sum of all the angles", "the total of all interior angles"), ("just one angle", "each single angle"),
            names=("total", "sum_all"), opt=(" (I want {v})", " - give me {v}"), default=False)],
      lambda sides, total: (sides - 2) * 180 if total else round((sides - 2) * 180 / sides, 2),
      "work out the interior angle of a regular polygon",
      ("What's the interior angle of a regular polygon with {sides} sides{opt}?",
       "A regular shape has {sides} sides. How many degrees is its interior angle{opt}?",
       "Regular polygon, {sides} sides: how big is the interior angle{opt}?"),
      ("That comes to {r} degrees.", "The answer is {r}°.")),
    F("point_distance", "geometry", "calculate compute get find",
      ("Euclidean distance between two points in the plane.", "Straight-line distance between 2D points."),
      [Obj("point_a", "First point as {x, y}.", PT, _pt, names=("point_a", "start", "p1"), label="first point"),
       Obj("point_b", "Second point as {x, y}.", PT, _pt, names=("point_b", "end", "p2"), label="second point")],
      lambda point_a, point_b: round(math.dist((point_a["x"], point_a["y"]), (point_b["x"], point_b["y"])), 3),
      "measure the distance between two points",
      ("How far apart are the points {point_a} and {point_b}?", "Distance from {point_a} to {point_b}?",
       "What's the straight-line distance between {point_a} and {point_b}?"),
      ("They are {r} apart.", "The distance is {r}."), noun="distance_between_points"),
    F("box_volume", "geometry", "calculate compute get",
      ("Volume of a rectangular box.", "Capacity of a cuboid from its three dimensions."),
      [Obj("dimensions", "Box size as {length, width, height}.", DIMS, _dims, names=("dimensions", "size", "box"))],
      lambda dimensions: round(dimensions["length"] * dimensions["width"] * dimensions["height"], 3),
      "find the volume of a box",
      ("What's the volume of a box measuring {dimensions}?", "A crate is {dimensions}. How much space is inside?",
       "Box dimensions: {dimensions}. Volume?"),
      ("The box holds {r} cubic units.", "Volume: {r}.")),
    F("trapezoid_area", "geometry", "calculate compute get",
      ("Area of a trapezoid from its two parallel sides and height.", "Computes (a + b) / 2 * h for a trapezoid."),
      [Num("parallel_a", "Length of the first parallel side.", 1, 40, names=("parallel_a", "top", "base_1"), unit=U_LEN),
       Num("parallel_b", "Length of the second parallel side.", 1, 40, names=("parallel_b", "bottom", "base_2"), unit=U_LEN),
       Num("height", "Distance between the parallel sides.", 1, 30, names=("height", "h"), unit=U_LEN)],
      lambda parallel_a, parallel_b, height: round((parallel_a + parallel_b) / 2 * height, 3), "get the area of a trapezoid",
      ("A trapezoid has parallel sides {parallel_a} and {parallel_b} and height {height}. What's its area?",
       "Area of a trapezoid: top {parallel_a}, bottom {parallel_b}, height {height}?"),
      ("The trapezoid's area is {r}.",)),
    # ------------------------------------------------------------------ algebra and number theory
    F("quadratic_roots", "algebra", "solve find compute",
      ("Real roots of a*x^2 + b*x + c = 0.", "Solves a quadratic equation and lists its real solutions."),
      [Int("a", "Coefficient of x^2 (non-zero).", -3, 3, spell=False), Int("b", "Coefficient of x.", -20, 20, spell=False),
       Int("c", "Constant term.", -50, 50, spell=False)],
      lambda a, b, c: sorted({round((-b + s * math.sqrt(b * b - 4 * a * c)) / (2 * a), 4) + 0.0 for s in (1, -1)}),
      "solve a quadratic equation", ("Solve the quadratic with a = {a}, b = {b}, c = {c}.",
                                     "Find the real roots of {a}x^2 + ({b})x + ({c}) = 0.",
                                     "Which x satisfy a quadratic whose coefficients are a={a}, b={b}, c={c}?"),
      ("The roots are {r}.", "x = {r}."), fix=_fix_quadratic),
    F("linear_solution", "algebra", "solve",
      ("Solves a*x + b = c for x.", "Finds x in a one-variable linear equation a*x + b = c."),
      [Int("a", "Coefficient of x (non-zero).", 1, 12, spell=False), Int("b", "Constant added on the left.", -30, 30, spell=False),
       Int("c", "Right-hand side.", -50, 50, spell=False)],
      lambda a, b, c: round((c - b) / a, 4), "solve a linear equation",
      ("Solve {a}*x + ({b}) = {c} for x.", "If {a} times x plus {b} equals {c}, what is x?"),
      ("x = {r}.", "The solution is x = {r}."), noun="linear_equation"),
    F("nth_root", "algebra", "calculate compute get",
      ("The n-th root of a positive number.", "Computes value ** (1/degree)."),
      [Num("value", "Positive number to take the root of.", 2, 5000, names=("value", "x", "radicand")),
       Int("degree", "Which root (2 = square root).", 2, 5, names=("degree", "n", "root")),
       Int("decimals", "Decimal places.", 0, 5, **DEC)],
      lambda value, degree, decimals: round(value ** (1 / degree), decimals), "take the root of a number",
      ("What is the root of degree {degree} of {value}{opt}?", "Take the degree-{degree} root of {value}{opt}.",
       "I need the root with index {degree} of {value}{opt}."),
      ("The root is {r}.", "Result: {r}.")),
    F("gcd", "numtheory", "compute find get", ("Greatest common divisor of a list of integers.", "Largest integer dividing every number given."),
      [Arr("numbers", "Integers to analyse.", "integer", _ints(1, 20), 2, 4, names=("numbers", "values", "integers"))],
      lambda numbers: math.gcd(*numbers), "find the greatest common divisor",
      ("What's the greatest common divisor of {numbers}?", "Find the GCD of {numbers}.", "Largest number that divides {numbers} evenly?"),
      ("The greatest common divisor is {r}.", "GCD = {r}."), fix=_fix_gcd, noun="greatest_common_divisor"),
    F("lcm", "numtheory", "compute find get", ("Least common multiple of several integers.", "Smallest positive number all inputs divide."),
      [Arr("numbers", "Integers (positive).", "integer", _ints(2, 30), 2, 4, names=("numbers", "values", "nums"))],
      lambda numbers: math.lcm(*numbers), "find the least common multiple",
      ("What's the least common multiple of {numbers}?", "LCM of {numbers}, please.", "Smallest number that {numbers} all divide into?"),
      ("The least common multiple is {r}.", "LCM = {r}."), noun="least_common_multiple"),
    F("factorial", "numtheory", "compute calculate get", ("n! for a non-negative integer n.", "Product of all integers from 1 to n."),
      [Int("n", "Non-negative integer.", 0, 15, names=("n", "number", "value"))],
      lambda n: math.factorial(n), "compute a factorial",
      ("What's {n} factorial?", "Compute the factorial of {n}.", "How much is {n}! ?"),
      ("{n}! = {r}.", "The factorial is {r}."), noun="factorial_of"),
    F("prime_check", "numtheory", "check test",
      ("Tells whether an integer is prime.", "Primality test for a positive integer."),
      [Int("n", "Integer to test.", 2, 600, names=("n", "number", "candidate"))],
      lambda n: n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1)), "check whether a number is prime",
      ("Is {n} a prime number?", "Check if {n} is prime.", "Tell me whether {n} has any divisors besides 1 and itself."),
      yesno("Yes, {n} is prime.", "No, {n} is not prime."), noun="primality"),
    F("prime_factors", "numtheory", "get find compute", ("Prime factorisation of an integer.", "Lists the prime factors with multiplicity."),
      [Int("n", "Integer greater than 1.", 12, 5000, names=("n", "number", "value"))],
      _prime_factors, "factor a number into primes",
      ("What are the prime factors of {n}?", "Break {n} down into its prime factors.", "Prime factorization of {n}?"),
      ("{n} = product of {r}.", "The prime factors are {r}."), noun="prime_factorization"),
    F("fibonacci", "numtheory", "get generate compute",
      ("First terms of the Fibonacci sequence.", "Generates Fibonacci numbers."),
      [Int("count", "How many terms to return.", 2, 18, names=("count", "terms", "length")),
       Bool("start_at_zero", "Start the sequence at 0 (otherwise at 1).", ("starting from 0", "beginning with zero"),
            ("starting from 1", "beginning with one"), names=("start_at_zero", "include_zero"), opt=(", {v}",), default=True)],
      lambda count, start_at_zero: _fib(count, start_at_zero),
      "list Fibonacci numbers",
      ("List the first {count} Fibonacci numbers{opt}.", "Give me {count} terms of the Fibonacci sequence{opt}."),
      ("Here they are: {r}.", "The sequence: {r}."), noun="fibonacci_terms"),
    F("modular_power", "numtheory", "compute calculate",
      ("Computes (base ** exponent) mod modulus.", "Fast modular exponentiation."),
      [Int("base", "Base.", 2, 99, spell=False), Int("exponent", "Exponent.", 2, 200, names=("exponent", "power", "exp"), spell=False),
       Int("modulus", "Modulus (> 1).", 2, 1000, names=("modulus", "mod", "m"), spell=False)],
      lambda base, exponent, modulus: pow(base, exponent, modulus), "compute a modular power",
      ("What is {base} to the power {exponent} modulo {modulus}?", "Compute {base}^{exponent} mod {modulus}."),
      ("The result is {r}.", "{base}^{exponent} mod {modulus} = {r}."), noun="modpow"),
    F("digit_sum", "numtheory", "compute get calculate", ("Sum of the decimal digits of a non-negative integer.", "Adds up the digits of a number."),
      [Int("n", "Non-negative integer.", 10, 9999999, names=("n", "number"))],
      lambda n: sum(int(ch) for ch in str(n)), "add up the digits of a number",
      ("What do the digits of {n} add up to?", "Sum the digits of {n}."), ("The digit sum is {r}.",)),
    F("base_conversion", "numtheory", "convert", ("Writes an integer in another base.", "Converts a decimal integer to binary, octal or hex."),
      [Int("number", "Non-negative decimal integer.", 1, 70000, names=("number", "value", "decimal")),
       Enum("target_base", "Base to write the number in.", (2, 8, 16), {2: ("binary", "base 2"), 8: ("octal", "base 8"), 16: ("hexadecimal", "hex", "base 16")},
            names=("target_base", "base", "radix"), label="target base")],
      lambda number, target_base: {2: format(number, "b"), 8: format(number, "o"), 16: format(number, "x")}[target_base],
      "convert a number to another base", ("Write {number} in {target_base}.", "What is {number} in {target_base}?",
                                           "Convert the decimal number {number} to {target_base}."),
      ("{number} in that base is {r}.", "It's {r}."), noun="number_base"),
    F("roman_numeral", "numtheory", "convert", ("Roman numeral for an integer from 1 to 3999.", "Writes a number with Roman numerals."),
      [Int("number", "Integer between 1 and 3999.", 1, 3999, names=("number", "value", "n"))],
      _roman, "write a number in Roman numerals",
      ("How do you write {number} in Roman numerals?", "Convert {number} to a Roman numeral."),
      ("{number} is {r}.", "In Roman numerals: {r}."), noun="to_roman"),
    # ------------------------------------------------------------------ statistics
    F("mean", "stats", "calculate compute get", ("Arithmetic mean of a list of numbers.", "Average value of the given numbers."),
      [Arr("values", "Numbers to average.", "number", _nums(1, 100), 3, 7, names=("values", "numbers", "data")),
       Int("decimals", "Decimal places.", 0, 3, **DEC)],
      lambda values, decimals: round(statistics.fmean(values), decimals), "average some numbers",
      ("What's the average of {values}{opt}?", "Compute the mean of these readings: {values}{opt}.",
       "Average these numbers{opt}: {values}."),
      ("The mean is {r}.", "Average: {r}."), noun="average", near=("weighted_average",)),
    F("median", "stats", "calculate compute get find", ("Median of a list of numbers.", "Middle value of the sorted data."),
      [Arr("values", "Data values.", "number", _nums(1, 500), 3, 8, names=("values", "numbers", "data", "samples"))],
      lambda values: statistics.median(values), "find the median",
      ("What's the median of {values}?", "Find the middle value of {values}."), ("The median is {r}.",), noun="median_value"),
    F("std_dev", "stats", "calculate compute get", ("Standard deviation of numeric data.", "Spread of the data around its mean."),
      [Arr("values", "Data values.", "number", _nums(1, 60), 3, 7, names=("values", "data", "observations")),
       Bool("sample", "Use the sample (n-1) formula instead of the population formula.",
            ("treating the data as a sample", "with the sample formula"), ("treating it as the whole population", "with the population formula"),
            names=("sample", "is_sample"), opt=(", {v}",), default=False)],
      lambda values, sample: round(statistics.stdev(values) if sample else statistics.pstdev(values), 4),
      "compute a standard deviation",
      ("What's the standard deviation of {values}{opt}?", "How spread out are {values}{opt}? Give me the standard deviation."),
      ("The standard deviation is {r}.",), noun="standard_deviation"),
    F("percentile", "stats", "calculate compute get", ("Percentile of a data set with linear interpolation.", "Value below which a given percent of the data falls."),
      [Arr("values", "Data values.", "integer", _ints(1, 200), 5, 9, names=("values", "data", "scores")),
       Int("percentile", "Percentile between 1 and 99.", 1, 99, names=("percentile", "q", "pct"), spell=False)],
      _percentile, "find a percentile", ("What is percentile {percentile} of {values}?", "Find percentile {percentile} for the scores {values}."),
      ("That percentile is {r}.",), noun="percentile_value"),
    F("z_score", "stats", "calculate compute get", ("Standard score of a value.", "How many standard deviations a value is from the mean."),
      [Num("value", "Observed value.", 0, 200, names=("value", "x", "observation")), Num("mean", "Population mean.", 20, 150, names=("mean", "mu", "average")),
       Num("std_dev", "Standard deviation (> 0).", 1, 30, names=("std_dev", "sigma", "sd"))],
      lambda value, mean, std_dev: round((value - mean) / std_dev, 4), "compute a z-score",
      ("What's the z-score of {value} if the mean is {mean} and the standard deviation is {std_dev}?",
       "Mean {mean}, sd {std_dev}: how many standard deviations from the mean is {value}?"),
      ("The z-score is {r}.",), noun="standard_score"),
    F("binomial_probability", "stats", "calculate compute get", ("Probability of exactly k successes in n Bernoulli trials.", "Binomial point probability P(X = k)."),
      [Int("trials", "Number of trials.", 2, 12, names=("trials", "n", "attempts"), spell=False), Int("successes", "Number of successes.", 0, 12, names=("successes", "k", "hits"), spell=False),
       Num("probability", "Success probability per trial.", 0.05, 0.95, 2, names=("probability", "p", "success_rate"))],
      lambda trials, successes, probability: round(math.comb(trials, successes) * probability ** successes * (1 - probability) ** (trials - successes), 6),
      "compute a binomial probability",
      ("If each try succeeds with probability {probability}, what's the chance of exactly {successes} successes in {trials} tries?",
       "Binomial probability: n = {trials}, k = {successes}, p = {probability}?"),
      ("The probability is {r}.",), fix=lambda v, r: v.update(successes=r.randint(0, v["trials"]), probability=round(r.uniform(0.05, 0.95), 2)),
      noun="binomial_pmf"),
    F("mode", "stats", "find get compute", ("Most frequent value in a list (smallest on ties).", "Returns the value that occurs most often."),
      [Arr("values", "Integer data.", "integer", _ints(1, 9), 5, 10, names=("values", "data", "items"))],
      lambda values: min(v for v, c in Counter(values).items() if c == max(Counter(values).values())),
      "find the most common value", ("Which number appears most often in {values}?", "What's the mode of {values}?"),
      ("The mode is {r}.",), noun="most_frequent_value"),
    F("correlation", "stats", "calculate compute get", ("Pearson correlation between two equal-length series.", "Linear correlation coefficient of x and y."),
      [Arr("x", "First series.", "number", _nums(0, 50), 4, 6, names=("x", "series_a", "xs"), bracket=True),
       Arr("y", "Second series (same length).", "number", _nums(0, 50), 4, 6, names=("y", "series_b", "ys"), bracket=True)],
      _pearson, "compute the correlation between two series",
      ("What's the Pearson correlation between {x} and {y}?", "How correlated are the series {x} and {y}?"),
      ("The correlation coefficient is {r}.",), fix=_fix_same_len("x", "y", _nums(0, 50)), noun="pearson_correlation"),
    F("weighted_average", "stats", "calculate compute get", ("Weighted mean of scores given their weights.", "Average where each value counts by its weight."),
      [Arr("scores", "Values.", "number", _nums(40, 100), 2, 5, names=("scores", "values", "grades")),
       Arr("weights", "Weight of each value (same length).", "integer", _ints(1, 5), 2, 5, names=("weights", "w", "importance"))],
      lambda scores, weights: round(sum(s * w for s, w in zip(scores, weights)) / sum(weights), 3), "take a weighted average",
      ("My grades are {scores} with weights {weights}. What's the weighted average?", "Weighted mean of {scores} using weights {weights}?"),
      ("The weighted average is {r}.",), fix=_fix_same_len("scores", "weights", _ints(1, 5)), near=("mean",), noun="weighted_mean"),
    # ------------------------------------------------------------------ finance
    F("simple_interest", "finance", "calculate compute get", ("Simple interest earned on a principal.", "Interest without compounding: P * r * t."),
      [Num("principal", "Starting amount.", 100, 50000, 0, names=("principal", "amount", "initial_amount"), unit=U_MONEY),
       Num("rate", "Annual interest rate in percent.", 0.5, 12, 2, names=("rate", "annual_rate", "interest_rate"), unit=U_PCT, label="interest rate"),
       Int("years", "Duration in years.", 2, 30, names=("years", "term_years", "duration"))],
      lambda principal, rate, years: round(principal * rate / 100 * years, 2), "work out simple interest",
      ("How much simple interest does {principal} earn at {rate} a year over {years} years?",
       "Simple interest on {principal} for {years} years at an annual rate of {rate}?"),
      ("The interest is {r}.", "You'd earn {r} in interest."), near=("compound_interest",)),
    F("compound_interest", "finance", "calculate compute get", ("Final balance with compound interest.", "Future value of a deposit with periodic compounding."),
      [Num("principal", "Initial deposit.", 100, 50000, 0, names=("principal", "deposit", "starting_balance"), unit=U_MONEY),
       Num("rate", "Annual interest rate in percent.", 0.5, 10, 2, names=("rate", "annual_rate", "apr"), unit=U_PCT, label="interest rate"),
       Int("years", "Number of years.", 2, 30, names=("years", "period_years", "time")),
       Enum("compounds_per_year", "Compounding periods per year.", (1, 2, 4, 12, 365),
            {1: ("annually", "once a year"), 2: ("semi-annually", "twice a year"), 4: ("quarterly",), 12: ("monthly",), 365: ("daily",)},
            names=("compounds_per_year", "frequency", "periods_per_year"), opt=(", compounded {v}", " with interest compounded {v}"), default=1)],
      lambda principal, rate, years, compounds_per_year: round(principal * (1 + rate / 100 / compounds_per_year) ** (compounds_per_year * years), 2),
      "compute a compound interest balance",
      ("If I deposit {principal} at {rate} for {years} years{opt}, what will the balance be?",
       "Future value of {principal} after {years} years at {rate}{opt}?"),
      ("The balance would be {r}.", "You'd end up with {r}."), near=("simple_interest", "inflation_cost")),
    F("loan_payment", "finance", "calculate compute get", ("Monthly payment on an amortising loan.", "Fixed monthly installment for a loan."),
      [Num("principal", "Loan amount.", 1000, 400000, 0, names=("principal", "loan_amount", "amount"), unit=U_MONEY),
       Num("annual_rate", "Annual interest rate in percent.", 1, 12, 2, names=("annual_rate", "rate", "interest"), unit=U_PCT),
       Int("months", "Term in months.", 12, 360, names=("months", "term_months", "n_payments"))],
      _loan, "figure out a monthly loan payment",
      ("What's the monthly payment on a {principal} loan at {annual_rate} per year over {months} months?",
       "I borrow {principal} for {months} months at {annual_rate} annual interest. Monthly installment?"),
      ("The monthly payment is {r}.", "You'd pay {r} per month."), noun="monthly_installment"),
    F("split_bill", "finance", "calculate compute split", ("Splits a bill plus tip between people.", "Per-person share of a restaurant bill with tip."),
      [Num("total", "Bill before tip.", 10, 600, 2, names=("total", "bill", "bill_amount"), unit=U_MONEY),
       Int("tip_percent", "Tip in percent.", 10, 25, names=("tip_percent", "tip", "gratuity_pct"), unit=U_PCT),
       Int("people", "Number of people.", 2, 12, names=("people", "diners", "party_size")),
       Bool("round_up", "Round each share up to a whole amount.", ("rounded up to whole dollars",), ("exact to the cent",),
            names=("round_up", "ceil_share"), opt=(", {v}",), default=False)],
      lambda total, tip_percent, people, round_up: (math.ceil if round_up else (lambda x: round(x, 2)))(total * (1 + tip_percent / 100) / people),
      "split a bill",
      ("Our bill is {total}, we tip {tip_percent} and there are {people} of us. How much each{opt}?",
       "Split {total} plus a {tip_percent} tip among {people} people{opt}."),
      ("Each person pays {r}.", "That's {r} per person."), noun="bill_share"),
    F("discount_price", "finance", "calculate compute get", ("Price after a percentage discount.", "Sale price given list price and discount."),
      [Num("price", "Original price.", 5, 2000, 2, names=("price", "original_price", "list_price"), unit=U_MONEY),
       Int("discount_percent", "Discount in percent.", 5, 80, names=("discount_percent", "discount", "percent_off"), unit=U_PCT)],
      lambda price, discount_percent: round(price * (1 - discount_percent / 100), 2), "apply a discount",
      ("Something costs {price} and is {discount_percent} off. What do I pay?", "Apply a {discount_percent} discount to {price}."),
      ("The sale price is {r}.",), noun="sale_price"),
    F("roi", "finance", "calculate compute get", ("Return on investment in percent.", "Percentage gain or loss relative to cost."),
      [Num("cost", "Amount invested.", 100, 100000, 0, names=("cost", "investment", "initial_value"), unit=U_MONEY),
       Num("final_value", "Value at the end.", 50, 150000, 0, names=("final_value", "current_value", "proceeds"), unit=U_MONEY)],
      lambda cost, final_value: round((final_value - cost) / cost * 100, 2), "compute a return on investment",
      ("I invested {cost} and it's now worth {final_value}. What's my ROI?", "Return on investment for cost {cost} and final value {final_value}?"),
      ("Your return is {r}%.",), noun="return_on_investment"),
    F("currency_exchange", "finance", "convert exchange", ("Converts money using built-in reference rates.", "Currency conversion from a fixed rate table."),
      [Num("amount", "Amount to convert.", 1, 10000, 2, names=("amount", "value", "sum")),
       Enum("from_currency", "ISO code of the source currency.", tuple(FX_PER_USD), names=("from_currency", "source", "base_currency"), label="source currency"),
       Enum("to_currency", "ISO code of the target currency.", tuple(FX_PER_USD), names=("to_currency", "target", "quote_currency"), label="target currency")],
      lambda amount, from_currency, to_currency: round(amount / FX_PER_USD[from_currency] * FX_PER_USD[to_currency], 2),
      "convert money between currencies",
      ("Convert {amount} {from_currency} to {to_currency}.", "How much is {amount} {from_currency} in {to_currency}?"),
      ("{amount} {from_currency} is about {r} {to_currency}.",), fix=_fix_distinct("from_currency", "to_currency", list(FX_PER_USD)),
      noun="money"),
    F("sales_tax", "finance", "calculate compute get", ("Sales tax on a purchase.", "Tax owed on an amount at a given rate."),
      [Num("amount", "Pre-tax amount.", 1, 3000, 2, names=("amount", "subtotal", "price"), unit=U_MONEY),
       Num("tax_rate", "Tax rate in percent.", 1, 25, 2, names=("tax_rate", "rate", "vat_percent"), unit=U_PCT),
       Bool("include_total", "Return the total including tax instead of only the tax.", ("give me the total with tax included", "include the total"),
            ("only the tax itself", "just the tax part"), names=("include_total", "with_total"), opt=(" ({v})", " - {v}"), default=False)],
      lambda amount, tax_rate, include_total: round(amount * tax_rate / 100 + (amount if include_total else 0), 2), "work out sales tax",
      ("What's the tax on {amount} at {tax_rate}{opt}?", "Sales tax for a {amount} purchase with a {tax_rate} rate{opt}?"),
      ("That comes to {r}.",), noun="tax_due"),
    F("break_even", "finance", "calculate compute find", ("Units needed to break even.", "Break-even quantity from fixed costs and unit margin."),
      [Num("fixed_costs", "Total fixed costs.", 1000, 100000, 0, names=("fixed_costs", "overhead"), unit=U_MONEY),
       Num("unit_price", "Selling price per unit.", 5, 200, 2, names=("unit_price", "price_per_unit"), unit=U_MONEY),
       Num("unit_cost", "Variable cost per unit.", 1, 150, 2, names=("unit_cost", "variable_cost"), unit=U_MONEY)],
      lambda fixed_costs, unit_price, unit_cost: math.ceil(fixed_costs / (unit_price - unit_cost)), "find a break-even point",
      ("With fixed costs of {fixed_costs}, a price of {unit_price} and a unit cost of {unit_cost}, how many units to break even?",
       "Break-even units: fixed {fixed_costs}, sell at {unit_price}, costs {unit_cost} each?"),
      ("You need to sell {r} units.",), fix=lambda v, r: v.update(unit_cost=round(v["unit_price"] * r.uniform(0.2, 0.8), 2)),
      noun="break_even_units"),
    F("inflation_cost", "finance", "calculate compute estimate", ("Future cost of something after inflation.", "Projects a price forward at a constant inflation rate."),
      [Num("amount", "Today's cost.", 10, 100000, 2, names=("amount", "current_cost", "price_today"), unit=U_MONEY),
       Num("inflation_rate", "Yearly inflation in percent.", 0.5, 9, 2, names=("inflation_rate", "inflation", "rate"), unit=U_PCT),
       Int("years", "Years ahead.", 2, 40, names=("years", "horizon"))],
      lambda amount, inflation_rate, years: round(amount * (1 + inflation_rate / 100) ** years, 2), "project a cost with inflation",
      ("With {inflation_rate} inflation, what will something costing {amount} today cost in {years} years?",
       "Project {amount} forward {years} years at {inflation_rate} yearly inflation."),
      ("It would cost about {r}.",), near=("compound_interest",), noun="future_cost"),
    # ------------------------------------------------------------------ unit conversion
    F("temperature_conversion", "units", "convert", ("Converts a temperature between Celsius, Fahrenheit and Kelvin.", "Temperature scale conversion."),
      [Num("value", "Temperature to convert.", -40, 120, names=("value", "temperature", "temp"))] + _unit_pair(("celsius", "fahrenheit", "kelvin"), "temperature"),
      _temperature, "convert a temperature", CONVERT_QS, CONVERT_SAYS, fix=_fix_distinct("from_unit", "to_unit", ["celsius", "fahrenheit", "kelvin"]),
      noun="temperature"),
    F("length_conversion", "units", "convert", ("Converts a length between metric and imperial units.", "Distance unit converter."),
      [Num("value", "Length to convert.", 0.1, 5000, names=("value", "length", "distance"))] + _unit_pair(tuple(LENGTH_M), "length"),
      lambda value, from_unit, to_unit: _convert(LENGTH_M, value, from_unit, to_unit), "convert a length", CONVERT_QS, CONVERT_SAYS,
      fix=_fix_distinct("from_unit", "to_unit", list(LENGTH_M)), noun="length"),
    F("mass_conversion", "units", "convert", ("Converts a mass between kilograms, pounds, ounces and grams.", "Weight unit converter."),
      [Num("value", "Mass to convert.", 0.1, 2000, names=("value", "mass", "weight"))] + _unit_pair(tuple(MASS_G), "mass"),
      lambda value, from_unit, to_unit: _convert(MASS_G, value, from_unit, to_unit), "convert a weight", CONVERT_QS, CONVERT_SAYS,
      fix=_fix_distinct("from_unit", "to_unit", list(MASS_G)), noun="mass"),
    F("speed_conversion", "units", "convert", ("Converts a speed between km/h, mph, m/s and knots.", "Speed unit converter."),
      [Num("value", "Speed to convert.", 1, 400, names=("value", "speed", "velocity"))] + _unit_pair(tuple(SPEED_MS), "speed"),
      lambda value, from_unit, to_unit: _convert(SPEED_MS, value, from_unit, to_unit, 3), "convert a speed", CONVERT_QS, CONVERT_SAYS,
      fix=_fix_distinct("from_unit", "to_unit", list(SPEED_MS)), noun="speed"),
    F("volume_conversion", "units", "convert", ("Converts a liquid volume between liters, milliliters, US gallons and cups.", "Volume unit converter."),
      [Num("value", "Volume to convert.", 0.1, 500, names=("value", "volume", "quantity"))] + _unit_pair(tuple(VOLUME_ML), "volume"),
      lambda value, from_unit, to_unit: _convert(VOLUME_ML, value, from_unit, to_unit), "convert a volume", CONVERT_QS, CONVERT_SAYS,
      fix=_fix_distinct("from_unit", "to_unit", list(VOLUME_ML)), noun="liquid_volume"),
    F("data_size_conversion", "units", "convert", ("Converts a data size between B, KB, MB, GB and TB.", "Storage unit converter."),
      [Num("value", "Size to convert.", 1, 5000, names=("value", "size", "amount")),
       Enum("from_unit", "Unit of the input.", tuple(DATA_EXP), names=("from_unit", "source_unit"), label="source unit"),
       Enum("to_unit", "Unit of the output.", tuple(DATA_EXP), names=("to_unit", "target_unit"), label="target unit"),
       Bool("binary", "Use 1024-based steps instead of 1000.", ("using 1024-based units", "in binary (powers of 1024)"), ("using decimal units of 1000",),
            names=("binary", "use_1024"), opt=(", {v}",), default=False)],
      lambda value, from_unit, to_unit, binary: round(value * (1024 if binary else 1000) ** (DATA_EXP[from_unit] - DATA_EXP[to_unit]), 6),
      "convert a data size", ("Convert {value} {from_unit} to {to_unit}{opt}.", "How many {to_unit} are {value} {from_unit}{opt}?"),
      ("{value} {from_unit} = {r} {to_unit}.",), fix=_fix_data_units, near=("human_readable_size",),
      noun="data_size"),
    # ------------------------------------------------------------------ physics
    F("kinetic_energy", "physics", "calculate compute get", ("Kinetic energy of a moving mass (joules).", "Computes 1/2 m v^2."),
      [Num("mass", "Mass in kilograms.", 0.1, 2000, names=("mass", "mass_kg", "m"), unit=U_KG), Num("velocity", "Speed in m/s.", 0.5, 100, names=("velocity", "speed", "v"), unit=U_MS)],
      lambda mass, velocity: round(0.5 * mass * velocity ** 2, 3), "compute kinetic energy",
      ("What's the kinetic energy of a {mass} object moving at {velocity}?", "An object of mass {mass} travels at {velocity}. Kinetic energy?"),
      ("It has {r} J of kinetic energy.",), noun="kinetic_energy_joules"),
    F("final_velocity", "physics", "calculate compute get", ("Velocity after constant acceleration.", "v = u + a*t."),
      [Num("initial_velocity", "Starting velocity in m/s.", 0, 50, names=("initial_velocity", "u", "start_speed"), unit=U_MS),
       Num("acceleration", "Acceleration in m/s^2.", -10, 15, names=("acceleration", "a", "accel")),
       Num("time", "Elapsed time in seconds.", 0.5, 60, names=("time", "t", "duration"), unit=U_SEC)],
      lambda initial_velocity, acceleration, time: round(initial_velocity + acceleration * time, 3), "find a final velocity",
      ("Starting at {initial_velocity} and accelerating at {acceleration} m/s^2 for {time}, how fast is it going?",
       "Final speed after {time} with acceleration {acceleration} m/s^2 from {initial_velocity}?"),
      ("The final velocity is {r} m/s.",), noun="velocity_after_acceleration"),
    F("ohms_law_current", "physics", "calculate compute get", ("Current through a resistor via Ohm's law.", "I = V / R in amperes."),
      [Num("voltage", "Voltage in volts.", 1, 240, names=("voltage", "volts", "v"), unit=("{} V", "{} volts")),
       Num("resistance", "Resistance in ohms.", 1, 10000, names=("resistance", "ohms", "r"), unit=("{} ohms", "{} Ω"))],
      lambda voltage, resistance: round(voltage / resistance, 5), "compute an electric current",
      ("What current flows through {resistance} when {voltage} is applied?", "Ohm's law: {voltage} across {resistance}, current?"),
      ("The current is {r} A.",), noun="electric_current"),
    F("projectile_range", "physics", "calculate compute get", ("Horizontal range of a projectile on flat ground.", "Range = v^2 sin(2θ)/g."),
      [Num("speed", "Launch speed in m/s.", 1, 80, names=("speed", "launch_speed", "v0"), unit=U_MS),
       Int("angle", "Launch angle in degrees.", 5, 85, names=("angle", "angle_deg", "theta"), unit=("{} degrees", "{}°")),
       Num("gravity", "Gravitational acceleration in m/s^2.", 1.6, 25, 2, names=("gravity", "g"), opt=(" with gravity {v} m/s^2", " where g = {v}"), default=9.81)],
      lambda speed, angle, gravity: round(speed ** 2 * math.sin(math.radians(2 * angle)) / gravity, 3), "compute the range of a projectile",
      ("How far does a projectile launched at {speed} and {angle} travel{opt}?", "Range of a throw at {angle} with speed {speed}{opt}?"),
      ("It lands {r} m away.",), noun="launch_range"),
    F("free_fall_time", "physics", "calculate compute get", ("Time for an object to fall from rest.", "t = sqrt(2h/g), no air resistance."),
      [Num("height", "Drop height in meters.", 1, 500, names=("height", "drop_height", "h"), unit=("{} m", "{} meters")),
       Num("gravity", "Gravitational acceleration in m/s^2.", 1.6, 25, 2, names=("gravity", "g"), opt=(" with g = {v} m/s^2", " under gravity of {v} m/s^2"), default=9.81)],
      lambda height, gravity: round(math.sqrt(2 * height / gravity), 3), "compute a free-fall time",
      ("How long does it take to fall {height}{opt}?", "Drop something from {height}{opt}; how many seconds until it lands?"),
      ("It takes {r} seconds.",), noun="fall_duration"),
    F("density", "physics", "calculate compute get", ("Density from mass and volume.", "Mass divided by volume."),
      [Num("mass", "Mass in kilograms.", 0.1, 500, names=("mass", "mass_kg", "weight"), unit=U_KG), Num("volume", "Volume in cubic meters.", 0.01, 20, 2, names=("volume", "vol", "volume_m3"), unit=("{} m^3", "{} cubic meters"))],
      lambda mass, volume: round(mass / volume, 4), "compute a density",
      ("What's the density of something with mass {mass} and volume {volume}?", "{mass} packed into {volume}: density?"),
      ("The density is {r} kg/m^3.",), noun="material_density"),
    F("wavelength", "physics", "calculate compute get", ("Wavelength of a wave from its frequency.", "Wave speed divided by frequency."),
      [Int("frequency", "Frequency in hertz.", 20, 20000, names=("frequency", "freq_hz", "f"), unit=("{} Hz", "{} hertz")),
       Num("wave_speed", "Propagation speed in m/s.", 300, 6000, 0, names=("wave_speed", "speed"), opt=(" at a wave speed of {v} m/s", ", assuming the wave travels at {v} m/s"), default=343)],
      lambda frequency, wave_speed: round(wave_speed / frequency, 5), "compute a wavelength",
      ("What's the wavelength of a {frequency} tone{opt}?", "Wavelength for frequency {frequency}{opt}?"),
      ("The wavelength is {r} m.",), noun="wavelength_from_frequency"),
    F("power_output", "physics", "calculate compute get", ("Average power from work done over time.", "Watts = joules / seconds."),
      [Num("work", "Work done in joules.", 10, 100000, names=("work", "energy_joules", "joules")), Num("time", "Time in seconds.", 0.5, 3600, names=("time", "seconds", "t"), unit=U_SEC)],
      lambda work, time: round(work / time, 3), "compute average power",
      ("If {work} joules of work take {time}, what's the average power?", "Power output for {work} J over {time}?"),
      ("The average power is {r} W.",), noun="average_power"),
    # ------------------------------------------------------------------ chemistry
    F("molar_mass", "chemistry", "calculate compute get", ("Molar mass of a chemical formula in g/mol.", "Sums atomic masses over a formula."),
      [Pick("formula", "Chemical formula such as H2O.", FORMULAS, names=("formula", "compound", "molecule"))],
      _molar_mass, "compute a molar mass", ("What's the molar mass of {formula}?", "How many grams per mole is {formula}?"),
      ("The molar mass of {formula} is {r} g/mol.",), noun="molar_mass_of"),
    F("ideal_gas_pressure", "chemistry", "calculate compute get", ("Pressure of an ideal gas in atmospheres.", "P = nRT / V with R = 0.082057 L·atm/(mol·K)."),
      [Num("moles", "Amount of gas in mol.", 0.1, 10, 2, names=("moles", "n", "amount_mol"), unit=("{} mol", "{} moles")),
       Num("temperature", "Temperature in kelvin.", 200, 600, names=("temperature", "temp_k", "t"), unit=("{} K", "{} kelvin")),
       Num("volume", "Volume in liters.", 0.5, 100, names=("volume", "volume_l", "v"), unit=("{} L", "{} liters"))],
      lambda moles, temperature, volume: round(moles * 0.082057 * temperature / volume, 4), "compute the pressure of a gas",
      ("What pressure do {moles} of gas exert at {temperature} in {volume}?", "Ideal gas: n = {moles}, T = {temperature}, V = {volume}. Pressure?"),
      ("The pressure is {r} atm.",), noun="gas_pressure"),
    F("dilution_volume", "chemistry", "calculate compute get", ("Final volume after diluting a solution (C1V1 = C2V2).", "Volume needed to reach a lower concentration."),
      [Num("initial_concentration", "Starting concentration (M).", 0.5, 12, 2, names=("initial_concentration", "c1", "stock_molarity")),
       Num("initial_volume", "Starting volume (mL).", 1, 500, names=("initial_volume", "v1", "stock_volume_ml")),
       Num("final_concentration", "Target concentration (M).", 0.01, 5, 2, names=("final_concentration", "c2", "target_molarity"))],
      lambda initial_concentration, initial_volume, final_concentration: round(initial_concentration * initial_volume / final_concentration, 3),
      "work out a dilution", ("I have {initial_volume} mL of a {initial_concentration} M solution. What volume gives {final_concentration} M?",
                              "Dilute {initial_volume} mL at {initial_concentration} M down to {final_concentration} M: final volume?"),
      ("Dilute to {r} mL.",), fix=lambda v, r: v.update(final_concentration=round(v["initial_concentration"] * r.uniform(0.05, 0.8), 2)),
      noun="dilution_final_volume"),
    F("element_info", "chemistry", "get lookup find", ("Looks up an element's name and atomic number by symbol.", "Periodic table lookup."),
      [Pick("symbol", "Element symbol, e.g. Fe.", list(ELEMENTS), names=("symbol", "element", "element_symbol"))],
      lambda symbol: {"name": ELEMENTS[symbol][0], "atomic_number": ELEMENTS[symbol][1]}, "look up a chemical element",
      ("Which element has the symbol {symbol}?", "Look up the element {symbol} for me."),
      ("{symbol} is {r} (atomic number {res[atomic_number]}).",), key="name", noun="element_by_symbol"),
    F("ph_value", "chemistry", "calculate compute get", ("pH from hydrogen-ion concentration.", "pH = -log10([H+])."),
      [Pick("h_concentration", "Hydrogen-ion concentration in mol/L.", [0.01, 0.001, 0.0025, 0.0004, 0.05, 0.2, 0.0063], names=("h_concentration", "hydrogen_ion", "h_plus"))],
      lambda h_concentration: round(-math.log10(h_concentration), 3), "compute a pH",
      ("What's the pH if [H+] is {h_concentration} mol/L?", "A solution has a hydrogen ion concentration of {h_concentration} M. pH?"),
      ("The pH is {r}.",), noun="ph_from_concentration"),
    # ------------------------------------------------------------------ dates and calendars
    F("days_between", "dates", "count get calculate", ("Number of days between two ISO dates.", "Day difference between dates (YYYY-MM-DD)."),
      [P("start_date", "string", "Start date (YYYY-MM-DD).", _date, names=("start_date", "from_date", "start")),
       P("end_date", "string", "End date (YYYY-MM-DD).", _date, names=("end_date", "to_date", "end")),
       Bool("inclusive", "Count both end points.", ("counting both the first and last day", "inclusive of both dates"), ("not counting the end date",),
            names=("inclusive", "include_end"), opt=(", {v}",), default=False)],
      lambda start_date, end_date, inclusive: (_d(end_date) - _d(start_date)).days + (1 if inclusive else 0), "count the days between two dates",
      ("How many days are there from {start_date} to {end_date}{opt}?", "Count the days between {start_date} and {end_date}{opt}."),
      ("That's {r} days.",), fix=_fix_two_dates("start_date", "end_date"), near=("age_on_date",), noun="days_between_dates"),
    F("shift_date", "dates", "add", ("Date a number of days after a given date.", "Adds days to an ISO date."),
      [P("date", "string", "Starting date (YYYY-MM-DD).", _date, names=("date", "start_date", "from_date")),
       Int("days", "Days to add.", 1, 500, names=("days", "offset_days", "n_days"))],
      lambda date, days: (_d(date) + dt.timedelta(days=days)).isoformat(), "add days to a date",
      ("What date is {days} days after {date}?", "Add {days} days to {date}."), ("It will be {r}.",), noun="days_to_date"),
    F("weekday_of", "dates", "get find", ("Day of the week for a date.", "Weekday name of an ISO date."),
      [P("date", "string", "Date (YYYY-MM-DD).", _date, names=("date", "day", "iso_date"))],
      lambda date: _d(date).strftime("%A"), "find the weekday of a date",
      ("What day of the week is {date}?", "Which weekday does {date} fall on?"), ("{date} is a {r}.",), noun="day_of_week"),
    F("leap_year", "dates", "check is", ("Whether a year is a leap year (Gregorian).", "Gregorian leap-year test."),
      [Int("year", "Year.", 1600, 2400, names=("year", "yr"))],
      lambda year: calendar.isleap(year), "check for a leap year",
      ("Is {year} a leap year?", "Was {year} (or will it be) a leap year?"),
      yesno("Yes, {year} is a leap year.", "No, {year} is not a leap year."), near=("days_in_month",)),
    F("timezone_convert", "dates", "convert shift", ("Converts a clock time between time zones (fixed offsets).", "Time zone conversion for an HH:MM time."),
      [P("time", "string", "Time of day as HH:MM.", lambda r: _hhmm(r.randrange(0, 24 * 60, 5)), names=("time", "clock_time", "hhmm")),
       Enum("from_zone", "Source time zone.", tuple(TZ_OFFSETS), names=("from_zone", "source_tz", "from_tz"), label="source time zone"),
       Enum("to_zone", "Target time zone.", tuple(TZ_OFFSETS), names=("to_zone", "target_tz", "to_tz"), label="target time zone")],
      lambda time, from_zone, to_zone: _hhmm(int(_mins(time) + (TZ_OFFSETS[to_zone] - TZ_OFFSETS[from_zone]) * 60) % (24 * 60)),
      "convert a time between zones", ("It's {time} {from_zone}. What time is it in {to_zone}?", "Convert {time} from {from_zone} to {to_zone}."),
      ("It's {r} in {to_zone}.",), fix=_fix_distinct("from_zone", "to_zone", list(TZ_OFFSETS)), noun="time_in_zone"),
    F("age_on_date", "dates", "calculate compute get", ("Age in whole years on a given date.", "Completed years between a birth date and a date."),
      [P("birth_date", "string", "Birth date (YYYY-MM-DD).", lambda r: _date(r, 1940, 2010), names=("birth_date", "dob", "born")),
       P("on_date", "string", "Date to compute the age on (YYYY-MM-DD).", lambda r: _date(r, 2011, 2030), names=("on_date", "as_of", "reference_date"))],
      lambda birth_date, on_date: (_d(on_date).year - _d(birth_date).year) - ((_d(on_date).month, _d(on_date).day) < (_d(birth_date).month, _d(birth_date).day)),
      "work out someone's age", ("Someone born on {birth_date}: how old are they on {on_date}?", "Age on {on_date} for a birth date of {birth_date}?"),
      ("They are {r} years old.",), near=("days_between",), noun="age_in_years"),
    F("seconds_to_clock", "dates", "format convert", ("Formats a number of seconds as H:MM:SS.", "Turns seconds into an hours:minutes:seconds string."),
      [Int("seconds", "Duration in seconds.", 1, 200000, names=("seconds", "duration_s", "total_seconds"))],
      lambda seconds: f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}", "format a duration",
      ("Write {seconds} seconds as hours:minutes:seconds.", "How long is {seconds} seconds in H:MM:SS?"), ("That's {r}.",), noun="duration_hms"),
    F("days_in_month", "calendar", "get", ("Number of days in a month of a year.", "Month length, leap years included."),
      [Int("year", "Year.", 1900, 2100, names=("year", "yr")), Int("month", "Month number 1-12.", 1, 12, names=("month", "month_number", "mon"))],
      lambda year, month: calendar.monthrange(year, month)[1], "count the days in a month",
      ("How many days does month {month} of {year} have?", "Days in month number {month}, year {year}?"), ("It has {r} days.",),
      near=("leap_year",), noun="month_length"),
    F("iso_week", "calendar", "get find", ("ISO week number of a date.", "Which ISO-8601 week a date belongs to."),
      [P("date", "string", "Date (YYYY-MM-DD).", _date, names=("date", "day"))],
      lambda date: _d(date).isocalendar()[1], "find the ISO week number",
      ("Which ISO week is {date} in?", "Week number for {date}?"), ("It's in week {r}.",), noun="week_number"),
    F("nth_weekday", "calendar", "find get", ("Date of the n-th given weekday in a month.", "E.g. the third Tuesday of a month."),
      [Int("year", "Year.", 2020, 2030, names=("year",)), Int("month", "Month 1-12.", 1, 12, names=("month", "month_number")),
       Enum("weekday", "Day of the week.", tuple(WEEKDAYS), {d: (d.capitalize(),) for d in WEEKDAYS}, names=("weekday", "day_name")),
       Int("occurrence", "Which occurrence (1-4).", 1, 4, names=("occurrence", "nth", "index"))],
      _nth_weekday, "find a weekday in a month",
      ("In month {month} of {year}, what's the date of {weekday} number {occurrence}?", "Find occurrence {occurrence} of {weekday} in {year}, month {month}."),
      ("That's {r}.",), noun="nth_weekday_of_month"),
    F("meeting_overlap", "calendar", "compute get find", ("Minutes of overlap between two time ranges on one day.", "How long two meetings overlap."),
      [P("first_start", "string", "First range start HH:MM.", lambda r: "09:00", names=("first_start", "start_a")),
       P("first_end", "string", "First range end HH:MM.", lambda r: "10:00", names=("first_end", "end_a")),
       P("second_start", "string", "Second range start HH:MM.", lambda r: "09:30", names=("second_start", "start_b")),
       P("second_end", "string", "Second range end HH:MM.", lambda r: "10:30", names=("second_end", "end_b"))],
      lambda first_start, first_end, second_start, second_end: max(0, min(_mins(first_end), _mins(second_end)) - max(_mins(first_start), _mins(second_start))),
      "compute how long two meetings overlap",
      ("One meeting runs {first_start}-{first_end} and another {second_start}-{second_end}. How many minutes overlap?",
       "Overlap in minutes between {first_start} to {first_end} and {second_start} to {second_end}?"),
      ("They overlap for {r} minutes.",), fix=_fix_meetings, noun="schedule_overlap"),
    # ------------------------------------------------------------------ text
    F("word_count", "text", "count get", ("Counts the words in a text.", "Number of whitespace-separated words."),
      [Pick("text", "Input text.", TEXTS, names=("text", "content", "passage"), unit=Q)],
      lambda text: len(text.split()), "count the words in a text", ("How many words are in {text}?", "Count the words of {text}."),
      ("It has {r} words.",), noun="words_in_text"),
    F("palindrome_check", "text", "check is", ("Whether a text reads the same backwards (ignoring case, spaces, punctuation).", "Palindrome test."),
      [Pick("text", "Text to test.", TEXTS, names=("text", "phrase", "s"), unit=Q)],
      lambda text: (t := [c.lower() for c in text if c.isalnum()]) == t[::-1], "check for a palindrome",
      ("Is {text} a palindrome?", "Does {text} read the same forwards and backwards?"),
      yesno("Yes, it's a palindrome.", "No, it's not a palindrome."), noun="palindrome"),
    F("char_count", "text", "count get", ("Counts occurrences of a character in a text.", "How often one letter appears."),
      [Pick("text", "Text to scan.", TEXTS, names=("text", "string", "haystack"), unit=Q),
       Pick("character", "Single character to count.", list("aeiou"), names=("character", "char", "letter"), unit=Q),
       Bool("case_sensitive", "Distinguish upper and lower case.", ("case-sensitively", "treating case as significant"), ("ignoring case", "case-insensitively"),
            names=("case_sensitive", "match_case"), opt=(", {v}", " ({v})"), default=False)],
      lambda text, character, case_sensitive: text.count(character) if case_sensitive else text.lower().count(character.lower()),
      "count a character in a text", ("How many times does {character} appear in {text}{opt}?", "Count the letter {character} in {text}{opt}."),
      ("It appears {r} times.",), fix=_fix_char, noun="character_occurrences"),
    F("slugify", "text", "make build create", ("Turns a title into a URL slug.", "Lowercase, strip punctuation, join words with a separator."),
      [Pick("title", "Title text.", TITLES, names=("title", "text", "heading"), unit=Q),
       Enum("separator", "Character between words.", ("-", "_"), {"-": ("hyphens", "dashes"), "_": ("underscores",)}, names=("separator", "sep", "delimiter"),
            opt=(" using {v}", ", words joined with {v}"), default="-")],
      lambda title, separator: separator.join(re.findall(r"[a-z0-9]+", title.lower())), "turn a title into a slug",
      ("Make a URL slug from {title}{opt}.", "What's the slug for the post titled {title}{opt}?"), ("The slug is {r}.",), noun="url_slug"),
    F("caesar_cipher", "text", "apply encode run", ("Caesar cipher over ASCII letters.", "Shifts letters by a fixed amount (or back when decoding)."),
      [Pick("text", "Text to transform.", ["hello world", "attack at dawn", "meet me at noon", "Secret Code", "lunch is ready"], names=("text", "message", "plaintext"), unit=Q),
       Int("shift", "Letters to shift by.", 1, 25, names=("shift", "key", "offset")),
       Bool("decode", "Shift backwards to decode instead of encoding.", ("decode it", "undo the shift"), ("encode it", "encrypt it"), names=("decode", "reverse"),
            opt=(" and {v}", " ({v})"), default=False)],
      _caesar, "apply a Caesar cipher", ("Apply a Caesar shift of {shift} to {text}{opt}.", "Caesar cipher {text} with shift {shift}{opt}."),
      ("The result is {r}.",), noun="caesar_shift"),
    F("vowel_count", "text", "count get", ("Counts vowels (a, e, i, o, u) in a text.", "Number of vowel letters."),
      [Pick("text", "Text to scan.", TEXTS, names=("text", "word", "input_text"), unit=Q)],
      lambda text: sum(c in "aeiou" for c in text.lower()), "count the vowels in a text",
      ("How many vowels does {text} contain?", "Count the vowels in {text}."), ("There are {r} vowels.",), noun="vowels_in_text"),
    F("acronym", "text", "make build get", ("Acronym from the first letter of each word.", "Builds an uppercase acronym."),
      [Pick("phrase", "Words to abbreviate.", PHRASES, names=("phrase", "words", "text"), unit=Q)],
      lambda phrase: "".join(w[0].upper() for w in phrase.split()), "make an acronym",
      ("What's the acronym for {phrase}?", "Abbreviate {phrase} to its initials."), ("The acronym is {r}.",), noun="acronym_of"),
    F("truncate_text", "text", "truncate shorten", ("Shortens text to a maximum length, appending a suffix when cut.", "Clips long text."),
      [Pick("text", "Text to shorten.", TEXTS, names=("text", "content"), unit=Q),
       Int("max_length", "Maximum length including the suffix.", 8, 30, names=("max_length", "limit", "max_chars")),
       Pick("suffix", "Appended when the text is cut.", ["...", " [more]", "~"], names=("suffix", "ellipsis", "marker"),
            unit=Q, opt=(" and end it with {v}", ", using {v} as the suffix"), default="...")],
      lambda text, max_length, suffix: text if len(text) <= max_length else text[:max(0, max_length - len(suffix))] + suffix,
      "shorten a text", ("Cut {text} down to at most {max_length} characters{opt}.", "Truncate {text} to {max_length} characters{opt}."),
      ("Here it is: {r}",), noun="text_to_length"),
    F("title_case", "text", "convert format make", ("Capitalises the first letter of every word.", "Title-cases a string."),
      [Pick("text", "Text to convert.", TEXTS, names=("text", "sentence", "input"), unit=Q)],
      lambda text: " ".join(w[:1].upper() + w[1:] for w in text.split()), "title-case a text",
      ("Capitalise every word of {text}.", "Convert {text} to title case."), ("Result: {r}",)),
    # ------------------------------------------------------------------ lists
    F("sort_numbers", "lists", "sort order", ("Sorts a list of numbers.", "Returns the numbers in sorted order."),
      [Arr("numbers", "Numbers to sort.", "number", _nums(-50, 200), 3, 7, names=("numbers", "values", "items")),
       Bool("descending", "Sort from largest to smallest.", ("in descending order", "from largest to smallest", "biggest first"),
            ("in ascending order", "from smallest to largest", "smallest first"), names=("descending", "reverse"),
            opt=(" {v}", ", {v}"), default=False, flip=("ascending", "Sort from smallest to largest when true; false sorts largest first."))],
      lambda numbers, descending: sorted(numbers, reverse=descending), "sort some numbers",
      ("Sort {numbers}{opt}.", "Put these numbers in order{opt}: {numbers}.", "Can you order {numbers}{opt}?"),
      ("Sorted: {r}.",), near=("top_k",), noun="numbers"),
    F("unique_items", "lists", "get find", ("Removes duplicates, keeping first occurrences in order.", "Distinct values of a list."),
      [Arr("items", "Values that may repeat.", "string", lambda r: r.choice(FRUITS), 3, 5, names=("items", "values", "entries"))],
      lambda items: list(dict.fromkeys(items)), "remove duplicates from a list",
      ("Remove the duplicates from {items}.", "What are the distinct entries in {items}?"), ("Unique items: {r}.",), fix=_fix_dupes, noun="distinct_values"),
    F("top_k", "lists", "get find pick", ("The k largest numbers, largest first.", "Top-k selection."),
      [Arr("numbers", "Candidate numbers.", "integer", _ints(1, 999), 4, 8, names=("numbers", "scores", "values")),
       Int("k", "How many to return.", 2, 3, names=("k", "count", "top_n"))],
      lambda numbers, k: sorted(numbers, reverse=True)[:k], "pick the largest numbers",
      ("What are the {k} biggest values in {numbers}?", "Pick the top {k} of {numbers}."), ("The top values are {r}.",), near=("sort_numbers",), noun="largest_k"),
    F("chunk_list", "lists", "split get", ("Splits a list into consecutive chunks of a given size.", "Batches a list."),
      [Arr("items", "Values to split.", "integer", _ints(0, 99), 4, 9, names=("items", "values", "data")),
       Int("size", "Chunk size.", 2, 4, names=("size", "chunk_size", "batch_size"))],
      lambda items, size: [items[i:i + size] for i in range(0, len(items), size)], "split a list into chunks",
      ("Split {items} into chunks of {size}.", "Batch {items} in groups of {size}."), ("The chunks are {r}.",), noun="list_chunks"),
    F("range_sum", "lists", "sum", ("Sum of the integers from start to end (inclusive), optionally stepping.", "Adds up an arithmetic range."),
      [Int("start", "First integer.", -20, 50, names=("start", "lower", "from_n")), Int("end", "Last integer (inclusive).", 51, 500, names=("end", "upper", "to_n")),
       Int("step", "Step between terms.", 2, 10, names=("step", "stride", "increment"), opt=(" in steps of {v}", ", counting by {v}"), default=1)],
      lambda start, end, step: sum(range(start, end + 1, step)), "sum a range of integers",
      ("Add up the integers from {start} to {end}{opt}.", "What's the sum from {start} through {end}{opt}?"), ("The sum is {r}.",), noun="integer_range"),
    F("filter_above", "lists", "filter select", ("Keeps only numbers above a threshold.", "Filters values greater than a limit."),
      [Arr("numbers", "Values to filter.", "number", _nums(0, 100), 4, 8, names=("numbers", "values", "readings")),
       Num("threshold", "Cut-off value.", 10, 90, names=("threshold", "minimum", "cutoff")),
       Bool("inclusive", "Also keep values equal to the threshold.", ("including the threshold itself", "keeping equal values"), ("strictly above it",),
            names=("inclusive", "or_equal"), opt=(", {v}",), default=False)],
      lambda numbers, threshold, inclusive: [x for x in numbers if x > threshold or (inclusive and x == threshold)],
      "filter numbers by a threshold", ("Which of {numbers} are above {threshold}{opt}?", "Filter {numbers} to the values over {threshold}{opt}."),
      ("These pass: {r}.",), noun="values_above"),
    F("list_intersection", "lists", "find get", ("Items present in both lists, in the order of the first.", "Common elements of two lists."),
      [Arr("first", "First list.", "string", lambda r: r.choice(FRUITS), 4, 4, names=("first", "list_a", "left"), bracket=True),
       Arr("second", "Second list.", "string", lambda r: r.choice(FRUITS), 4, 4, names=("second", "list_b", "right"), bracket=True)],
      lambda first, second: [x for x in first if x in second], "intersect two lists",
      ("Which items are in both {first} and {second}?", "Common elements of {first} and {second}?"), ("In both: {r}.",), fix=_fix_overlap_lists,
      noun="common_items"),
    # ------------------------------------------------------------------ geography (built-in tables)
    F("country_fact", "geo", "get lookup", ("Looks up a fact about a country from a built-in table.", "Country reference data: capital, currency, dialing code, continent."),
      [Pick("country", "Country name.", list(COUNTRIES), names=("country", "country_name", "nation")),
       Enum("field", "Which fact to return.", ("capital", "currency", "calling_code", "continent"),
            {"capital": ("the capital of", "the capital city of"), "currency": ("the currency code of", "the currency used in"),
             "calling_code": ("the international dialing code for", "the phone calling code of"), "continent": ("the continent of",)},
            names=("field", "attribute", "info"))],
      lambda country, field: COUNTRIES[country][["capital", "currency", "calling_code", "continent"].index(field)], "look up a country fact",
      ("What is {field} {country}?", "Look up {field} {country}.", "I'd like to know {field} {country}."), ("It's {r}.",), noun="country_info"),
    F("city_distance", "geo", "calculate get compute", ("Great-circle distance between two cities from a built-in coordinate table.", "Flight distance between cities."),
      [Pick("city_a", "First city.", list(CITY_COORDS), names=("city_a", "origin", "from_city")),
       Pick("city_b", "Second city.", list(CITY_COORDS), names=("city_b", "destination", "to_city")),
       Enum("unit", "Distance unit.", ("km", "miles"), {"km": ("km", "kilometers"), "miles": ("miles",)}, names=("unit", "units"), opt=(" in {v}",), default="km")],
      _haversine, "measure the distance between two cities",
      ("How far is {city_a} from {city_b}{opt}?", "Great-circle distance between {city_a} and {city_b}{opt}?"), ("It's about {r} {unit}.",),
      fix=_fix_distinct("city_a", "city_b", list(CITY_COORDS)), noun="distance_between_cities"),
    # ------------------------------------------------------------------ sports and media (built-in tables)
    F("league_points", "sports", "calculate compute get", ("League points from a win/draw/loss record.", "Table points for a team."),
      [Int("wins", "Games won.", 0, 30, names=("wins", "won", "w")), Int("draws", "Games drawn.", 0, 15, names=("draws", "ties", "d")),
       Int("losses", "Games lost.", 0, 30, names=("losses", "lost", "l")),
       Int("points_per_win", "Points for a win.", 2, 3, names=("points_per_win", "win_points"), opt=(", with {v} points per win", " (a win is worth {v})"), default=3)],
      lambda wins, draws, losses, points_per_win: wins * points_per_win + draws, "count a team's league points",
      ("A team won {wins}, drew {draws} and lost {losses}. How many points{opt}?", "Points for a record of {wins} wins, {draws} draws, {losses} losses{opt}?"),
      ("They have {r} points.",), noun="table_points"),
    F("win_percentage", "sports", "calculate compute get", ("Winning percentage, with ties counted as half a win.", "Share of games won in percent."),
      [Int("wins", "Games won.", 1, 100, names=("wins", "victories")), Int("losses", "Games lost.", 0, 100, names=("losses", "defeats")),
       Int("ties", "Games tied.", 1, 20, names=("ties", "draws"), opt=(" and {v} ties", " plus {v} draws"), default=0)],
      lambda wins, losses, ties: round((wins + ties / 2) / (wins + losses + ties) * 100, 2), "compute a winning percentage",
      ("What's the win percentage for {wins} wins and {losses} losses{opt}?", "A team went {wins}-{losses}{opt}. Winning percentage?"),
      ("The win percentage is {r}%.",), noun="winning_percentage"),
    F("olympic_host", "sports", "get lookup find", ("Host city of the Summer Olympics for a year (built-in table, 1992-2024).", "Summer Games host lookup."),
      [Pick("year", "Olympic year.", list(OLYMPIC_HOSTS), names=("year", "games_year", "edition"))],
      lambda year: OLYMPIC_HOSTS[year], "look up an Olympic host city",
      ("Which city hosted the {year} Summer Olympics?", "Where were the Summer Games held in {year}?"), ("The {year} Games were in {r}.",),
      noun="summer_games_host"),
    F("running_pace", "sports", "calculate compute get", ("Average pace per kilometer as M:SS.", "Running pace from distance and time."),
      [Num("distance_km", "Distance in kilometers.", 1, 42.2, names=("distance_km", "distance", "km"), unit=("{} km", "{} kilometers")),
       Int("minutes", "Total time in minutes.", 5, 300, names=("minutes", "time_min", "duration_minutes"), unit=("{} minutes", "{} min"))],
      lambda distance_km, minutes: f"{int(minutes * 60 / distance_km) // 60}:{int(minutes * 60 / distance_km) % 60:02d}", "compute a running pace",
      ("I ran {distance_km} in {minutes}. What was my pace per km?", "Pace for {distance_km} covered in {minutes}?"), ("Your pace was {r} per km.",),
      noun="pace_per_km"),
    F("movie_lookup", "media", "get lookup find", ("Looks up a film's director or release year in a built-in table.", "Film reference lookup."),
      [Pick("title", "Film title.", list(MOVIES), names=("title", "movie", "film")),
       Enum("field", "Which detail to return.", ("director", "year"), {"director": ("the director of", "who directed"), "year": ("the release year of", "what year saw the release of")},
            names=("field", "detail", "attribute"))],
      lambda title, field: MOVIES[title][0 if field == "director" else 1], "look up a movie",
      ("Look up {field} {title}.", "Tell me {field} the film {title}."), ("The answer is {r}.",), noun="film_info"),
    F("book_lookup", "media", "get lookup find", ("Looks up a book's author or first publication year in a built-in table.", "Book reference lookup."),
      [Pick("title", "Book title.", list(BOOKS), names=("title", "book", "book_title")),
       Enum("field", "Which detail to return.", ("author", "year"), {"author": ("the author of", "who wrote"), "year": ("the publication year of", "when they first published")},
            names=("field", "detail", "property"))],
      lambda title, field: BOOKS[title][0 if field == "author" else 1], "look up a book",
      ("Look up {field} {title}.", "Please find {field} the novel {title}."), ("The answer is {r}.",), noun="book_info"),
    F("reading_time", "media", "estimate calculate get", ("Minutes needed to read a text of a given length.", "Reading time estimate (rounded up)."),
      [Int("word_count", "Number of words.", 200, 120000, names=("word_count", "words", "length_words")),
       Int("words_per_minute", "Reading speed.", 150, 400, names=("words_per_minute", "wpm", "speed"), opt=(" at {v} words per minute", ", reading {v} wpm"), default=250)],
      lambda word_count, words_per_minute: math.ceil(word_count / words_per_minute), "estimate a reading time",
      ("How long does it take to read {word_count} words{opt}?", "Reading time for a {word_count}-word article{opt}?"), ("About {r} minutes.",),
      noun="reading_minutes"),
    # ------------------------------------------------------------------ kitchen
    F("scale_recipe", "kitchen", "scale adjust", ("Scales an ingredient quantity to a new number of servings.", "Recipe quantity scaler."),
      [Num("quantity", "Amount in the original recipe.", 0.25, 1000, 2, names=("quantity", "amount", "qty")),
       Int("original_servings", "Servings the recipe makes.", 1, 12, names=("original_servings", "serves", "from_servings")),
       Int("desired_servings", "Servings wanted.", 1, 30, names=("desired_servings", "target_servings", "to_servings"))],
      lambda quantity, original_servings, desired_servings: round(quantity * desired_servings / original_servings, 2), "scale a recipe",
      ("A recipe for {original_servings} uses {quantity} grams of flour. How much for {desired_servings} servings?",
       "Scale {quantity} from {original_servings} servings to {desired_servings}."), ("Use {r}.",), noun="recipe_quantity"),
    F("recipe_ingredients", "kitchen", "get list", ("Ingredients of a dish from a built-in recipe book.", "Recipe ingredient lookup."),
      [Pick("dish", "Dish name.", list(RECIPES), names=("dish", "recipe", "recipe_name")),
       Arr("exclude", "Ingredients to leave out.", "string", lambda r: "salt", 1, 2, names=("exclude", "without", "skip"),
           opt=(" but leave out {v}", ", without {v}"), default=[])],
      lambda dish, exclude: [i for i in RECIPES[dish] if i not in exclude], "list a recipe's ingredients",
      ("What goes into {dish}{opt}?", "List the ingredients for {dish}{opt}."), ("You need {r}.",), fix=_fix_exclude, noun="ingredients_for"),
    F("roast_time", "kitchen", "estimate calculate get", ("Roasting time in minutes from a built-in cooking guide.", "Oven time by meat, weight and doneness."),
      [Enum("meat", "Kind of meat.", tuple(ROAST), names=("meat", "protein", "cut")),
       Num("weight_kg", "Weight in kilograms.", 0.5, 6, 2, names=("weight_kg", "weight", "kg"), unit=U_KG),
       Enum("doneness", "How well done.", tuple(DONENESS), {"rare": ("rare",), "medium": ("medium",), "well_done": ("well done", "well-done")},
            names=("doneness", "cook_level"), opt=(", cooked {v}", " ({v})"), default="medium")],
      lambda meat, weight_kg, doneness: round((ROAST[meat][0] * weight_kg + ROAST[meat][1]) * DONENESS[doneness]),
      "estimate a roasting time", ("How long should I roast {weight_kg} of {meat}{opt}?", "Roasting time for a {weight_kg} {meat} roast{opt}?"),
      ("Roast it for about {r} minutes.",), noun="roasting_minutes"),
    # ------------------------------------------------------------------ weather (built-in tables)
    F("forecast_highs", "weather", "get fetch", ("Daily high temperatures for the next days from a built-in forecast table.", "Short-range forecast highs."),
      [Pick("city", "City name.", list(CITY_BASE_TEMP), names=("city", "location", "place")),
       Int("days", "Number of days (2-7).", 2, 7, names=("days", "num_days", "horizon")),
       Enum("units", "Temperature unit.", ("celsius", "fahrenheit"), {"celsius": ("in Celsius",), "fahrenheit": ("in Fahrenheit",)}, names=("units", "temp_unit"),
            opt=(" {v}",), default="celsius")],
      _forecast, "get a weather forecast", ("What are the highs in {city} for the next {days} days{opt}?", "Forecast {days} days of highs for {city}{opt}."),
      ("Forecast highs: {r}.",), noun="daily_highs"),
    F("air_quality", "weather", "get fetch check", ("Current air quality index for a city from a built-in table.", "AQI lookup with category."),
      [Pick("city", "City name.", list(CITY_AQI), names=("city", "location", "city_name"))],
      _aqi, "check the air quality", ("What's the air quality like in {city}?", "AQI for {city}?"), ("The AQI in {city} is {r} ({res[category]}).",),
      key="aqi", noun="air_quality_index"),
    F("wind_chill", "weather", "calculate compute get", ("Wind-chill temperature (°C) from air temperature and wind speed.", "Feels-like temperature in cold wind."),
      [Num("temperature_c", "Air temperature in °C (≤ 10).", -30, 10, names=("temperature_c", "air_temp", "temp_c"), unit=("{}°C", "{} degrees Celsius")),
       Num("wind_kmh", "Wind speed in km/h (> 4.8).", 5, 80, names=("wind_kmh", "wind_speed", "wind"), unit=("{} km/h",))],
      lambda temperature_c, wind_kmh: round(13.12 + 0.6215 * temperature_c - 11.37 * wind_kmh ** 0.16 + 0.3965 * temperature_c * wind_kmh ** 0.16, 1),
      "compute a wind chill", ("It's {temperature_c} with {wind_kmh} wind. What does it feel like?", "Wind chill for {temperature_c} and a {wind_kmh} wind?"),
      ("It feels like {r}°C.",), noun="feels_like_temperature"),
    # ------------------------------------------------------------------ web
    F("build_url", "web", "build make create", ("Builds a URL from host, path, scheme and optional port.", "Assembles an absolute URL."),
      [Pick("host", "Host name.", HOSTS, names=("host", "hostname", "domain")), Pick("path", "Path starting with /.", URL_PATHS, names=("path", "route", "endpoint")),
       Bool("secure", "Use https (otherwise http).", ("over HTTPS", "using https"), ("over plain HTTP", "using http"), names=("secure", "https", "use_tls"), opt=(" {v}",), default=True),
       Pick("port", "Port number.", [8080, 3000, 8443, 5000], names=("port", "port_number"), opt=(" on port {v}",), default=None)],
      lambda host, path, secure, port: f"{'https' if secure else 'http'}://{host}{'' if port is None else ':' + str(port)}{path}",
      "build a URL", ("Build the URL for host {host} and path {path}{opt}.", "What's the full address for {path} on {host}{opt}?"), ("The URL is {r}",), noun="url_for"),
    F("url_host", "web", "get parse extract", ("Splits a URL into scheme, host and path.", "URL parser."),
      [Pick("url", "Absolute URL.", URLS, names=("url", "address", "link"))],
      lambda url: (lambda p: {"scheme": p.scheme, "host": p.hostname, "path": p.path})(urllib.parse.urlsplit(url)),
      "parse a URL", ("What's the host name in {url}?", "Break down the URL {url}."), ("The host is {r} (scheme {res[scheme]}).",), key="host",
      noun="url_components"),
    F("http_status", "web", "get lookup explain", ("Reason phrase of an HTTP status code.", "Meaning of an HTTP status code."),
      [Pick("code", "HTTP status code.", list(HTTP_CODES), names=("code", "status_code", "status"))],
      lambda code: HTTP_CODES[code], "explain an HTTP status code", ("What does HTTP status {code} mean?", "My server returned {code}. What's that?"),
      ("{code} means {r}.",), noun="status_reason"),
    F("url_encode", "web", "encode escape", ("Percent-encodes text for use in a URL.", "URL-escapes a string."),
      [Pick("text", "Text to encode.", ENCODE_TEXTS, names=("text", "value", "raw"), unit=Q)],
      lambda text: urllib.parse.quote(text, safe=""), "URL-encode some text", ("URL-encode {text}.", "Percent-encode {text} for a query string."),
      ("Encoded: {r}",), noun="url_text"),
    F("query_string", "web", "build make encode", ("Builds a search query string from an object of parameters.", "Encodes q/page/per_page as a query string."),
      [Obj("params", "Query parameters {q, page, per_page}.",
           [Pick("q", "Search term.", ["red shoes", "laptop", "tea", "usb hub"]), Int("page", "Page number.", 1, 20), Int("per_page", "Results per page.", 5, 100)],
           _query, names=("params", "query", "parameters"), label="query parameters")],
      lambda params: urllib.parse.urlencode(params), "build a query string",
      ("Build a query string with {params}.", "Encode these search parameters: {params}."), ("The query string is {r}",), noun="search_query_string"),
    # ------------------------------------------------------------------ files
    F("file_extension", "files", "get extract", ("Extension of a file path, without the dot.", "File-type suffix of a path."),
      [Pick("path", "File path.", FILE_PATHS, names=("path", "file_path", "filename"))],
      lambda path: posixpath.splitext(path)[1].lstrip("."), "get a file's extension",
      ("What's the extension of {path}?", "Which file extension does {path} have?"), ("The extension is {r}.",)),
    F("join_path", "files", "join build", ("Joins path segments with '/'.", "Builds a path from parts."),
      [Arr("parts", "Path segments.", "string", lambda r: r.choice(PATH_PARTS), 2, 5, names=("parts", "segments", "components"))],
      lambda parts: posixpath.join(*parts), "join path segments", ("Join {parts} into one path.", "Build a path from the segments {parts}."),
      ("The path is {r}",), noun="path"),
    F("change_extension", "files", "change replace swap", ("Replaces a file path's extension.", "Swaps the suffix of a file name."),
      [Pick("path", "Original path.", FILE_PATHS, names=("path", "file", "source_path")),
       Pick("new_extension", "New extension without the dot.", ["md", "txt", "json", "csv", "bak", "py"], names=("new_extension", "ext", "extension"))],
      lambda path, new_extension: posixpath.splitext(path)[0] + "." + new_extension, "change a file's extension",
      ("Change the extension of {path} to {new_extension}.", "What would {path} be called as a .{new_extension} file?"), ("New path: {r}",), noun="extension"),
    F("human_readable_size", "files", "format convert", ("Formats a byte count as a human-readable size.", "Pretty-prints file sizes."),
      [Int("size_bytes", "Size in bytes.", 500, 50_000_000_000, names=("size_bytes", "bytes", "num_bytes")),
       Bool("binary", "Use 1024-based units (KiB, MiB).", ("in binary units like MiB",), ("in decimal units like MB",), names=("binary", "iec"), opt=(", {v}",), default=False)],
      _human_size, "format a file size", ("Show {size_bytes} bytes in a readable form{opt}.", "How big is a {size_bytes}-byte file{opt}?"), ("That's {r}.",),
      near=("data_size_conversion",)),
    F("base_name", "files", "get extract", ("Final component of a path.", "File name without its directories."),
      [Pick("path", "File path.", FILE_PATHS, names=("path", "file_path", "full_path"))],
      lambda path: posixpath.basename(path), "get a file name from a path", ("What's the file name in {path}?", "Strip the folders from {path}."),
      ("The file name is {r}.",), noun="basename"),
    # ------------------------------------------------------------------ inventory
    F("stock_value", "inventory", "calculate compute get", ("Total value of stock on hand.", "Quantity times unit cost."),
      [Int("quantity", "Units in stock.", 1, 5000, names=("quantity", "units", "qty")), Num("unit_cost", "Cost per unit.", 0.5, 300, 2, names=("unit_cost", "cost_each", "price"), unit=U_MONEY)],
      lambda quantity, unit_cost: round(quantity * unit_cost, 2), "value the stock",
      ("We have {quantity} units costing {unit_cost} each. What's the stock worth?", "Inventory value for {quantity} items at {unit_cost} apiece?"),
      ("The stock is worth {r}.",), noun="inventory_value"),
    F("reorder_point", "inventory", "calculate compute get", ("Stock level at which to reorder.", "Daily usage × lead time + safety stock."),
      [Int("daily_usage", "Units used per day.", 1, 200, names=("daily_usage", "demand_per_day", "usage")),
       Int("lead_time_days", "Supplier lead time in days.", 1, 30, names=("lead_time_days", "lead_time", "delivery_days")),
       Int("safety_stock", "Extra buffer units.", 5, 500, names=("safety_stock", "buffer"), opt=(" with a safety stock of {v}", " plus a buffer of {v} units"), default=0)],
      lambda daily_usage, lead_time_days, safety_stock: daily_usage * lead_time_days + safety_stock, "compute a reorder point",
      ("We use {daily_usage} units a day and delivery takes {lead_time_days} days. When should we reorder{opt}?",
       "Reorder point for usage {daily_usage}/day, lead time {lead_time_days} days{opt}?"), ("Reorder at {r} units.",), noun="reorder_level"),
    F("stock_lookup", "inventory", "get check lookup", ("Units in stock for a SKU in a (fictional) built-in warehouse table.", "Inventory lookup by SKU."),
      [Pick("sku", "Stock-keeping unit code.", list(STOCK), names=("sku", "item_code", "product_id")),
       Enum("warehouse", "Warehouse to check; all warehouses when omitted.", ("north", "south", "east"), names=("warehouse", "location", "site"),
            opt=(" in the {v} warehouse", " at the {v} site"), default=None)],
      lambda sku, warehouse: {"item": STOCK[sku][0], "quantity": STOCK[sku][1][warehouse] if warehouse else sum(STOCK[sku][1].values())},
      "check stock for an item", ("How many {sku} do we have{opt}?", "Stock level of {sku}{opt}?"), ("There are {r} units ({res[item]}).",), key="quantity",
      noun="units_on_hand"),
    F("shipping_cost", "inventory", "calculate estimate get", ("Shipping price from a built-in rate table.", "Parcel cost by weight and zone."),
      [Num("weight_kg", "Parcel weight in kg.", 0.1, 30, 2, names=("weight_kg", "weight", "mass_kg"), unit=U_KG),
       Enum("zone", "Shipping zone.", tuple(SHIP_RATES), names=("zone", "region", "destination_zone")),
       Bool("express", "Express delivery (1.5x price).", ("with express delivery", "sent express"), ("with standard delivery",), names=("express", "priority"), opt=(" {v}",), default=False)],
      lambda weight_kg, zone, express: round((SHIP_RATES[zone][0] + SHIP_RATES[zone][1] * weight_kg) * (1.5 if express else 1), 2),
      "quote a shipping cost", ("What does it cost to ship {weight_kg} {zone}{opt}?", "Shipping quote: {weight_kg}, {zone} zone{opt}."), ("Shipping costs {r}.",),
      noun="parcel_rate"),
    # ------------------------------------------------------------------ health
    F("body_mass_index", "health", "calculate compute get", ("Body mass index from weight and height.", "BMI = kg / m^2."),
      [Num("weight_kg", "Weight in kilograms.", 35, 150, names=("weight_kg", "weight", "mass"), unit=U_KG),
       Num("height_m", "Height in meters.", 1.4, 2.1, 2, names=("height_m", "height", "stature"), unit=("{} m", "{} meters"))],
      lambda weight_kg, height_m: round(weight_kg / height_m ** 2, 1), "compute a BMI",
      ("What's the BMI of someone who weighs {weight_kg} and is {height_m} tall?", "BMI for {weight_kg} at a height of {height_m}?"), ("The BMI is {r}.",),
      noun="bmi_value"),
    F("target_heart_rate", "health", "calculate compute get", ("Target heart rate at an exercise intensity.", "(220 - age) × intensity%."),
      [Int("age", "Age in years.", 18, 80, names=("age", "age_years")), Int("intensity", "Intensity in percent of max.", 50, 90, names=("intensity", "effort_pct"), unit=U_PCT)],
      lambda age, intensity: round((220 - age) * intensity / 100), "compute a target heart rate",
      ("I'm {age}. What heart rate should I aim for at {intensity} intensity?", "Target bpm for age {age} at {intensity} of max?"), ("Aim for about {r} bpm.",),
      noun="training_heart_rate"),
    F("daily_water", "health", "estimate calculate", ("Suggested daily water intake in liters.", "0.033 L per kg plus 0.35 L per 30 min of exercise."),
      [Num("weight_kg", "Body weight in kg.", 40, 130, names=("weight_kg", "weight", "body_weight"), unit=U_KG),
       Int("exercise_minutes", "Minutes of exercise.", 10, 120, names=("exercise_minutes", "workout_min"), opt=(" with {v} minutes of exercise", " plus a {v}-minute workout"), default=0)],
      lambda weight_kg, exercise_minutes: round(0.033 * weight_kg + 0.35 * exercise_minutes / 30, 2), "estimate daily water intake",
      ("How much water should a {weight_kg} person drink per day{opt}?", "Daily water target for {weight_kg}{opt}?"), ("About {r} liters a day.",),
      noun="water_intake"),
    # ------------------------------------------------------------------ travel and energy
    F("fuel_cost", "travel", "calculate estimate compute", ("Fuel cost of a trip.", "Distance × consumption × price."),
      [Num("distance_km", "Trip length in km.", 5, 2000, names=("distance_km", "distance", "km"), unit=("{} km", "{} kilometers")),
       Num("consumption", "Liters per 100 km.", 3, 15, names=("consumption", "l_per_100km", "efficiency")),
       Num("price_per_liter", "Fuel price per liter.", 0.8, 2.5, 2, names=("price_per_liter", "fuel_price"))],
      lambda distance_km, consumption, price_per_liter: round(distance_km * consumption / 100 * price_per_liter, 2), "estimate a fuel cost",
      ("A {distance_km} drive in a car using {consumption} L/100km, with fuel at {price_per_liter} per liter: cost?",
       "Fuel cost for {distance_km} at {consumption} liters per 100 km and {price_per_liter} a liter?"), ("The fuel will cost {r}.",), noun="trip_fuel_cost"),
    F("travel_time", "travel", "calculate estimate get", ("Hours needed to cover a distance at a constant speed.", "Time = distance / speed."),
      [Num("distance", "Distance in km.", 1, 3000, names=("distance", "distance_km", "km"), unit=("{} km",)),
       Num("speed", "Speed in km/h.", 5, 900, names=("speed", "speed_kmh", "velocity"), unit=("{} km/h",))],
      lambda distance, speed: round(distance / speed, 2), "estimate a travel time",
      ("How long does {distance} take at {speed}?", "Travel time in hours for {distance} at an average of {speed}?"), ("About {r} hours.",), noun="hours_to_travel"),
    F("electricity_cost", "travel", "calculate estimate compute", ("Cost of running an appliance.", "Watts × hours × days × price per kWh."),
      [Int("power_watts", "Power draw in watts.", 5, 3000, names=("power_watts", "watts", "power"), unit=("{} W", "{} watts")),
       Num("hours_per_day", "Hours used per day.", 0.5, 24, names=("hours_per_day", "daily_hours")),
       Int("days", "Number of days.", 1, 365, names=("days", "period_days")),
       Num("price_per_kwh", "Electricity price per kWh.", 0.05, 0.6, 2, names=("price_per_kwh", "tariff", "rate"))],
      lambda power_watts, hours_per_day, days, price_per_kwh: round(power_watts / 1000 * hours_per_day * days * price_per_kwh, 2),
      "estimate an electricity bill", ("Running a {power_watts} device {hours_per_day} hours a day for {days} days at {price_per_kwh} per kWh costs how much?",
                                       "Electricity cost: {power_watts}, {hours_per_day} h/day, {days} days, {price_per_kwh}/kWh?"),
      ("It costs {r}.",), noun="appliance_energy_cost"),
    # ------------------------------------------------------------------ design
    F("hex_to_rgb", "design", "convert parse", ("Converts a #RRGGBB color to an [r, g, b] list.", "Hex color to RGB components."),
      [P("hex_color", "string", "Color like #1A2B3C.", lambda r: "#%02X%02X%02X" % (r.randint(0, 255), r.randint(0, 255), r.randint(0, 255)), names=("hex_color", "hex", "color"))],
      lambda hex_color: [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], "convert a hex color to RGB",
      ("What are the RGB values of {hex_color}?", "Convert the color {hex_color} to RGB."), ("RGB: {r}.",), noun="rgb_from_hex"),
    F("rgb_to_hex", "design", "convert format", ("Converts red, green, blue (0-255) to a #RRGGBB string.", "RGB to hex color."),
      [Int(k, f"{k.capitalize()} channel 0-255.", 0, 255, names=(k, k[0], k + "_value"), spell=False) for k in ("red", "green", "blue")],
      lambda red, green, blue: "#%02X%02X%02X" % (red, green, blue), "convert an RGB color to hex",
      ("What's the hex code for red {red}, green {green}, blue {blue}?", "Convert RGB({red}, {green}, {blue}) to hex."), ("The hex code is {r}.",), noun="hex_from_rgb"),
]


from tunepilot.tools.data.assistant import FAMILIES as _ASSISTANT  # noqa: E402

FAMILIES += _ASSISTANT
BY_ID = {f.id: f for f in FAMILIES}
assert len(BY_ID) == len(FAMILIES) and len({f.noun for f in FAMILIES}) == len(FAMILIES)

# no_tool: questions answerable without any tool; "avoid" = modules whose tools must not be offered
FACTS = [
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au.", "Au", ("chemistry",)),
    ("How many continents are there?", "There are 7 continents.", "7", ("geo",)),
    ("Which planet is the largest in our solar system?", "Jupiter is the largest planet in our solar system.", "Jupiter", ("physics",)),
    ("How many legs does a spider have?", "A spider has 8 legs.", "8", ()),
    ("What language do most people speak in Brazil?", "Most Brazilians speak Portuguese.", "Portuguese", ("geo",)),
    ("Who painted the Mona Lisa?", "The Mona Lisa was painted by Leonardo da Vinci.", "Leonardo da Vinci", ("media",)),
    ("At what temperature in Celsius does water boil at sea level?", "Water boils at 100 °C at sea level.", "100", ("units", "physics", "weather")),
    ("How many minutes are in an hour?", "An hour has 60 minutes.", "60", ("dates", "calendar", "units")),
    ("Which gas do plants take in for photosynthesis?", "Plants take in carbon dioxide.", "carbon dioxide", ("chemistry",)),
    ("What does CPU stand for?", "CPU stands for central processing unit.", "central processing unit", ()),
    ("How many sides does a hexagon have?", "A hexagon has 6 sides.", "6", ("geometry",)),
    ("What is the opposite of the word 'ancient'?", "The opposite of 'ancient' is 'modern'.", "modern", ("text",)),
    ("Which ocean is the largest?", "The Pacific Ocean is the largest.", "Pacific", ("geo",)),
    ("How many players does a soccer team have on the field?", "A soccer team fields 11 players.", "11", ("sports",)),
    ("Which planet is known as the Red Planet?", "Mars is known as the Red Planet.", "Mars", ("physics",)),
    ("What is the plural of 'mouse'?", "The plural of 'mouse' is 'mice'.", "mice", ("text",)),
    ("What is the main ingredient of guacamole?", "Guacamole is made mainly from avocado.", "avocado", ("kitchen",)),
    ("How many days are in a week?", "A week has 7 days.", "7", ("dates", "calendar")),
    ("What color do you get by mixing blue and yellow paint?", "Mixing blue and yellow gives green.", "green", ("design",)),
    ("Hi there! How are you today?", "I'm doing well, thanks! How can I help you?", "help", ()),
    ("Thanks, that's all I needed.", "You're welcome! Let me know if you need anything else.", "welcome", ()),
    ("At what temperature in Fahrenheit does water freeze?", "Water freezes at 32 °F.", "32", ("units", "physics", "weather")),
    ("Who wrote the play Romeo and Juliet?", "Romeo and Juliet was written by William Shakespeare.", "Shakespeare", ("media",)),
    ("What is the tallest mountain on Earth?", "Mount Everest is the tallest mountain above sea level.", "Everest", ("geo",)),
    ("How many bits are in a byte?", "A byte has 8 bits.", "8", ("units", "files")),
    ("What does HTML stand for?", "HTML stands for HyperText Markup Language.", "HyperText Markup Language", ("web",)),
]
ARITH = [("plus", lambda a, b: a + b), ("minus", lambda a, b: a - b), ("times", lambda a, b: a * b)]
ARITH_AVOID = ("numtheory", "algebra", "stats", "finance", "lists")

# ----------------------------------------------------------------------------- sampling

PREFIXES = ("", "", "", "", "Quick question: ", "Hi! ", "Please help: ", "I need this for a report. ")
ASK_LEADS = ("Can you {task}{w}?", "Please {task}{w}.", "I need to {task}{w}.", "Help me {task}{w}.", "Could you {task} for me{w}?")
ASK_REPLIES = ("I can {task}, but I need the {label} first. What value should I use for {pname}?",
               "Sure - what is the {label}? The {fname} tool needs `{pname}`.",
               "To {task} I still need `{pname}` ({label}). Could you tell me?",
               "Which {label} should I use? Please give me a value for {pname}.")
# Near misses: the right move is to say no offered tool can do it, not to compute it "in the head"
# (a small model cannot, and would learn to invent numbers).
NO_TOOL_REPLIES = ("None of the available tools can {task}, so I can't give an exact answer.",
                   "I don't have a tool to {task}. The offered tools do something else.",
                   "Sorry, no available tool can {task}; please add one or ask something else.")


def _camel(s: str) -> str:
    head, *rest = s.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _styles(f: F, verb: str) -> list[str]:
    base = f"{verb}_{f.noun}"
    styles = [base, _camel(base), f"{f.module}.{base}", f"{f.module}.{_camel(base)}"]
    if "_" in f.noun:  # a bare noun is a fine name only when it says enough ("triangle_area", not "path")
        styles += [f.noun, f"{f.module}.{f.noun}"]
    return styles


def family_count() -> int:
    return len(FAMILIES)


def all_function_names() -> set[str]:
    return {name for f in FAMILIES for verb in f.verbs.split() for name in _styles(f, verb)}


def _fmt_res(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return json.dumps(v) if any(isinstance(x, (list, dict)) for x in v) else ", ".join(_fmt_res(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and 0 < abs(v) < 1e-4:
        return f"{v:.10f}".rstrip("0")
    return str(v)


def _join(rng: random.Random, items: list[str], bracket: bool = False) -> str:
    if len(items) == 1 and not bracket:
        return items[0]
    style = 1.0 if bracket else rng.random()
    if style < 0.5:
        return ", ".join(items[:-1]) + " and " + items[-1]
    return ", ".join(items) if style < 0.8 else "[" + ", ".join(items) + "]"


def _scalar_text(rng: random.Random, v: Any, fmt: str, spell: bool) -> str:
    s = str(v)
    if isinstance(v, int) and spell and 0 <= v <= 12 and (fmt == "{}" or fmt.startswith("{} ")) and rng.random() < 0.2:
        s = WORDS[v]
    elif isinstance(v, (int, float)) and abs(v) >= 10000 and rng.random() < 0.35:
        s = f"{v:,}"
    return fmt.format(s)


def _render(p: P, v: Any, rng: random.Random) -> str:
    """How the request states value v of parameter p."""
    if p.type == "boolean" or (p.enum and v in p.say):
        return rng.choice(p.say[v])
    if p.type == "object":
        return p.render(v, rng)
    fmt = rng.choice(p.unit)
    if p.type == "array":
        return _join(rng, [_scalar_text(rng, x, fmt, False) for x in v], p.bracket)
    return _scalar_text(rng, v, fmt, p.spell and p.type == "integer")


LABELS = {"city_a": "first city", "city_b": "second city", "leg_a": "first leg", "leg_b": "second leg",
          "parallel_a": "first parallel side", "parallel_b": "second parallel side", "first": "first list",
          "second": "second list", "x": "first series", "y": "second series", "n": "number", "k": "count",
          "size_bytes": "size in bytes", "distance_km": "distance in km", "h_concentration": "hydrogen-ion concentration",
          "weight_kg": "weight in kg", "height_m": "height in meters", "temperature_c": "temperature in °C",
          "wind_kmh": "wind speed in km/h", "sku": "SKU", "a": "coefficient a", "b": "coefficient b", "c": "constant c"}


def _label(p: P) -> str:
    return p.label or LABELS.get(p.key) or p.key.replace("_", " ")


def _ask_text(p: P, v: Any, rng: random.Random) -> str:
    """A value in an ask request: plain, since the parameter's label already says what it is."""
    if p.type in ("object", "array"):
        return _render(p, v, rng)
    return str(v)


def _prop(p: P, flipped: bool = False) -> dict:
    desc = p.flip[1] if flipped else p.desc
    if p.optional and p.default is not None:
        desc += f" Defaults to {json.dumps((not p.default) if flipped else p.default)}."
    d: dict = {"type": p.type, "description": desc}
    if p.enum:
        d["enum"] = list(p.enum)
    if p.type == "array":
        d["items"] = {"type": p.items}
    if p.type == "object":
        d["properties"] = {f.key: _prop(f) for f in p.fields}
        d["required"] = [f.key for f in p.fields]
        d["additionalProperties"] = False
    return d


def _make_tool(f: F, rng: random.Random) -> tuple[dict, dict]:
    """A schema for family f with sampled name style and parameter names. Returns (tool, naming)."""
    name = rng.choice(_styles(f, rng.choice(f.verbs.split())))
    camel_params = any(c.isupper() for c in name) and rng.random() < 0.7
    naming: dict[str, tuple[str, bool]] = {}
    for p in f.params:
        flipped = p.flip is not None and rng.random() < 0.4
        pname = p.flip[0] if flipped else rng.choice(p.names or (p.key,))
        pname = _camel(pname) if camel_params else pname
        if pname in {n for n, _ in naming.values()}:
            pname, flipped = p.key, False
        naming[p.key] = (pname, flipped)
    props = {naming[p.key][0]: _prop(p, naming[p.key][1]) for p in f.params}
    required = [naming[p.key][0] for p in f.params if not p.optional]
    tool = {"type": "function", "function": {
        "name": name, "description": rng.choice(f.descs),
        "parameters": {"type": "object", "properties": props, "required": required, "additionalProperties": False}}}
    return tool, naming


def _sample_values(f: F, rng: random.Random) -> dict:
    vals = {p.key: p.gen(rng) for p in f.params}
    if f.fix:
        f.fix(vals, rng)
    return vals


def _request(f: F, vals: dict, included: list[P], rng: random.Random, say: dict | None = None,
             prefix: bool = True) -> str:
    """The user's request stating vals; `say` replaces how some parameters are worded (key -> text:
    "tomorrow" for a date the context resolves), `prefix=False` leaves out a greeting."""
    texts = {p.key: _render(p, vals[p.key], rng) for p in f.params if not p.optional} | (say or {})
    opt = "".join(rng.choice(p.opt).format(v=_render(p, vals[p.key], rng)) for p in included if p.optional)
    q = rng.choice(f.qs)
    if "{opt}" not in q:
        q = q[:-1] + "{opt}" + q[-1] if q[-1] in ".?" else q + "{opt}"
    return (rng.choice(PREFIXES) if prefix else "") + q.format(opt=opt, **texts)


def _answer(f: F, kwargs: dict, result: Any, rng: random.Random) -> tuple[str, str]:
    keyval = result[f.key] if f.key else result
    kw = _fmt_res(keyval)
    if callable(f.says):
        return f.says(kwargs, result), kw
    texts = {p.key: (p.say[kwargs[p.key]][0] if p.enum and kwargs[p.key] in p.say else _fmt_res(kwargs[p.key])) for p in f.params}
    return rng.choice(f.says).format(r=kw, res=result, **texts), kw


def _pick_others(rng: random.Random, n: int, exclude: set[str], prefer_module: str | None = None,
                 avoid_modules: tuple = ()) -> list[F]:
    out: list[F] = []
    for _ in range(n):
        pool = [g for g in FAMILIES if g.id not in exclude and g.module not in avoid_modules and g not in out]
        same = [g for g in pool if g.module == prefer_module]
        pool = same if same and rng.random() < 0.5 else pool
        if pool:
            out.append(rng.choice(pool))
    return out


def _n_tools(rng: random.Random) -> int:
    return rng.choices([1, 2, 3, 4], weights=[40, 35, 17, 8])[0]  # mostly 1-2 tools: short prompts, CPU budget


def _tools_with(rng: random.Random, target_tool: dict | None, others: list[F]) -> list[dict]:
    tools = [_make_tool(g, rng)[0] for g in others]
    if target_tool is not None:
        tools.insert(rng.randint(0, len(tools)), target_tool)
    return tools


def _record(rng: random.Random, agent_role: str, kind: str, fid: str, tools: list, messages: list, keywords: list, steps: int) -> dict:
    return {"id": f"api-{fid}-{rng.getrandbits(32):08x}", "tools": tools, "messages": messages,
            "meta": {"agent_role": agent_role, "kind": kind, "steps": steps, "source": "template:api", "family": fid,
                     "answer_keywords": keywords}}


def _call_parts(f: F, rng: random.Random, made: tuple[dict, dict] | None = None, vals: dict | None = None,
                say: dict | None = None, prefix: bool = True):
    """Sample a full single call for f: (tool, request, args, kwargs, result). `made` reuses a
    (tool, naming) pair (several calls of one tool), `vals` fixes values, `say` rewords some."""
    tool, naming = made or _make_tool(f, rng)
    vals = vals or _sample_values(f, rng)
    included = [p for p in f.params if not p.optional or rng.random() < 0.45]
    request = _request(f, vals, included, rng, say, prefix)
    args = {}
    for p in included:
        pname, flipped = naming[p.key]
        args[pname] = (not vals[p.key]) if flipped else vals[p.key]
    kwargs = {p.key: (vals[p.key] if p in included else p.default) for p in f.params}
    return tool, request, args, kwargs, f.impl(**kwargs)


def sample_api_record(rng: random.Random, agent_role: str, kind: str = "single", family: str | None = None) -> dict:
    """One training record. kind: "single" | "ask" | "no_tool"; family: force a family id (optional)."""
    f = BY_ID[family] if family else rng.choice(FAMILIES)
    if kind == "single":
        tool, request, args, kwargs, result = _call_parts(f, rng)
        name = tool["function"]["name"]
        tools = _tools_with(rng, tool, _pick_others(rng, _n_tools(rng) - 1, {f.id}, f.module))
        answer, kw = _answer(f, kwargs, result, rng)
        call = {"id": "call_0", "type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}
        messages = [{"role": "user", "content": request},
                    {"role": "assistant", "content": "", "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": "call_0", "name": name, "content": json.dumps(result, ensure_ascii=False)},
                    {"role": "assistant", "content": answer}]
        return _record(rng, agent_role, "single", f.id, tools, messages, [kw], 1)

    if kind == "ask":
        tool, naming = _make_tool(f, rng)
        vals = _sample_values(f, rng)
        required = [p for p in f.params if not p.optional]
        missing = rng.choice(required)
        parts = [f"{_label(p)} {_ask_text(p, vals[p.key], rng)}" for p in required if p is not missing]
        w = "" if not parts else rng.choice([" with ", " using "]) + " and ".join(parts)
        request = rng.choice(PREFIXES) + rng.choice(ASK_LEADS).format(task=f.task, w=w)
        pname = naming[missing.key][0]
        reply = rng.choice(ASK_REPLIES).format(task=f.task, label=_label(missing), pname=pname,
                                               fname=tool["function"]["name"])
        tools = _tools_with(rng, tool, _pick_others(rng, _n_tools(rng) - 1, {f.id}, f.module))
        messages = [{"role": "user", "content": request}, {"role": "assistant", "content": reply}]
        return _record(rng, agent_role, "ask", f.id, tools, messages, [pname], 0)

    if kind == "no_tool":
        r = rng.random()
        if r < 0.35:  # near miss: a real task, but its tool is not offered
            _, request, _, _, _ = _call_parts(f, rng)
            answer = rng.choice(NO_TOOL_REPLIES).format(task=f.task)
            others = _pick_others(rng, _n_tools(rng), {f.id, *f.near}, f.module)
            return _record(rng, agent_role, "no_tool", f.id, _tools_with(rng, None, others),
                           [{"role": "user", "content": request}, {"role": "assistant", "content": answer}], [f.task], 0)
        if r < 0.5:  # small arithmetic
            a, b = rng.randint(2, 9), rng.randint(2, 9)  # single digits: a 135M model can add these
            word, op = rng.choice(ARITH)
            request, kw, avoid, fid = f"What is {a} {word} {b}?", str(op(a, b)), ARITH_AVOID, "arithmetic"
            answer = f"{a} {word} {b} is {kw}."
        else:
            request, answer, kw, avoid = rng.choice(FACTS)
            fid = "fact"
        others = _pick_others(rng, _n_tools(rng), set(), None, avoid)
        return _record(rng, agent_role, "no_tool", fid, _tools_with(rng, None, others),
                       [{"role": "user", "content": request}, {"role": "assistant", "content": answer}], [kw], 0)
    raise ValueError(f"unknown kind {kind!r}")
