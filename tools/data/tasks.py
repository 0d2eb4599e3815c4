"""Coding-agent task templates for the four roles, executed for real against a `Sandbox`.

Each builder takes (sandbox, rng) and returns a `Trajectory`: the user request, every tool
call with the observation the sandbox really produced, and a final answer drawn from those
observations. Builders are grouped by role; `ROLE_TASKS` is the table the generator samples.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tunepilot.tools.data.sandbox import CATALOG, Sandbox, schema


class Trajectory:
    def __init__(self, sb: Sandbox, request: str, kind: str = "single"):
        self.sb, self.kind = sb, kind
        self.messages: list[dict] = [{"role": "user", "content": request}]
        self.used: list[str] = []
        self.keywords: list[str] = []
        self.wrote = False

    def call(self, name: str, /, **args) -> str:
        i = sum(m["role"] == "tool" for m in self.messages)
        obs = self.sb.execute(name, args)
        self.messages.append({"role": "assistant", "content": "", "tool_calls": [{
            "id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]})
        self.messages.append({"role": "tool", "tool_call_id": f"call_{i}", "name": name, "content": obs})
        self.used.append(name)
        self.wrote |= name == "write_file"
        return obs

    def answer(self, text: str, *keywords: str) -> "Trajectory":
        self.messages.append({"role": "assistant", "content": text})
        self.keywords = [str(k) for k in keywords]
        if sum(m["role"] == "assistant" for m in self.messages) > 2:
            self.kind = "multi"
        return self

    def tools(self, rng: random.Random) -> list[dict]:
        names = list(dict.fromkeys(self.used))
        others = [n for n in CATALOG if n not in names]
        names += rng.sample(others, rng.randint(0, 2))  # distractors: pick the right tool, keep prompts short
        rng.shuffle(names)
        return [schema(n) for n in names]


def _pick(rng, *options):
    return rng.choice(options)


def _fn(sb: Sandbox, rng: random.Random) -> tuple[str, str]:
    name = rng.choice(sorted(sb.functions))
    return name, sb.functions[name]


# --- coder -------------------------------------------------------------------------------------
def locate_and_read(sb, rng):
    name, path = _fn(sb, rng)
    t = Trajectory(sb, _pick(rng, f"Show me the code of `{name}`.", f"Where is {name} defined? Show it to me.",
                             f"I need to look at the implementation of {name}."))
    loc = t.call("find_definition", symbol=name)
    line = int(loc.rsplit(":", 1)[1])
    t.call("read_file", path=path, start_line=line, end_line=line + 5)
    return t.answer(f"`{name}` is defined in {path} at line {line}; its first lines are shown above.", path)


def read_whole_file(sb, rng):
    _, path = _fn(sb, rng)
    t = Trajectory(sb, _pick(rng, f"Open {path}.", f"What's in {path}?", f"Print the contents of {path} please."))
    obs = t.call("read_file", path=path)
    defs = [l.split("def ", 1)[1].split("(")[0] for l in obs.splitlines() if ": def " in l]
    return t.answer(f"{path} has {len(obs.splitlines())} lines and defines {', '.join(defs)}.", *defs)


def read_range(sb, rng):
    _, path = _fn(sb, rng)
    lo = rng.randint(1, 4)
    hi = lo + rng.randint(2, 6)
    t = Trajectory(sb, _pick(rng, f"Show lines {lo} to {hi} of {path}.", f"Read {path} from line {lo} through {hi}.",
                             f"Can you print {path}, lines {lo}-{hi}?"))
    obs = t.call("read_file", path=path, start_line=lo, end_line=hi)
    return t.answer(f"Lines {lo}-{hi} of {path} are shown above ({len(obs.splitlines())} lines).", path)


def write_module(sb, rng):
    name = rng.choice(["greet", "double", "shout", "is_even", "square", "negate"])
    body = {"greet": "return 'hello ' + who", "double": "return x * 2", "shout": "return s.upper() + '!'",
            "is_even": "return n % 2 == 0", "square": "return v * v", "negate": "return -x"}[name]
    arg = {"greet": "who", "double": "x", "shout": "s", "is_even": "n", "square": "v", "negate": "x"}[name]
    path = f"{Path(next(iter(sb.functions.values()))).parent}/{rng.choice(['extra', 'small', 'misc', 'new'])}_{name}.py"
    content = f"def {name}({arg}):\n    {body}\n"
    t = Trajectory(sb, _pick(rng, f"Create {path} with a function {name}({arg}) that does: {body}.",
                             f"Write a new file {path} defining {name}({arg}), body `{body}`."))
    obs = t.call("write_file", path=path, content=content)
    return t.answer(f"Created {path} ({obs.split()[1]} bytes) with `{name}`.", path)


def complexity_one(sb, rng):
    name, path = _fn(sb, rng)
    t = Trajectory(sb, _pick(rng, f"What is the cyclomatic complexity of {name} in {path}?",
                             f"How complex is `{name}` ({path})?", f"Measure the complexity of function {name} in {path}."))
    score = json.loads(t.call("code_complexity", path=path, function=name))[name]
    return t.answer(f"`{name}` has a cyclomatic complexity of {score}.", score)


def complexity_file(sb, rng):
    _, path = _fn(sb, rng)
    t = Trajectory(sb, _pick(rng, f"Which function in {path} is the most complex?",
                             f"Rank the functions of {path} by complexity."))
    scores = json.loads(t.call("code_complexity", path=path))
    top = max(scores, key=scores.get)
    return t.answer(f"The most complex function in {path} is `{top}` (complexity {scores[top]}).", top)


def run_snippet(sb, rng):
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    code = _pick(rng, f"print({a} * {b})", f"print(sorted([{a}, {b}, {a + b}], reverse=True))",
                 f"print(divmod({a * b}, {b}))", f"print(sum(range({a})))", f"print('{a}'.zfill(5))")
    t = Trajectory(sb, _pick(rng, f"Run this Python: {code}", f"What does `{code}` print?", f"Execute {code} for me."))
    out = t.call("run_python", code=code)
    return t.answer(f"It prints {out}.", out)


def call_project_function(sb, rng):
    name, path = _fn(sb, rng)
    example = {"clamp": "7, 0, 5", "mean": "[2, 4, 9]", "is_palindrome": "'level'", "word_count": "'to be or not'",
               "fizzbuzz": "9", "slugify": "'Tune Pilot Rocks'", "factorial": "6", "chunk": "[1, 2, 3, 4, 5], 2",
               "parse_version": "'3.10.2'", "merge_dicts": "{'a': 1}, {'b': 2}", "median": "[5, 1, 4, 2]",
               "celsius_to_f": "37"}
    args = example[next(k for k in example if name.endswith(k))]
    t = Trajectory(sb, _pick(rng, f"What does {name}({args}) return in this project?",
                             f"Call {name} with {args} and tell me the result."))
    loc = t.call("find_definition", symbol=name)  # the module path comes from the project, not from guessing
    mod = loc.rsplit(":", 1)[0].removesuffix(".py").replace("/", ".")
    out = t.call("run_python", code=f"from {mod} import {name}; print({name}({args}))")
    return t.answer(f"{name}({args}) returns {out}.", out)


# --- tester ------------------------------------------------------------------------------------
def run_module_tests(sb, rng):
    _, path = _fn(sb, rng)
    test = f"tests/test_{Path(path).stem}.py"
    t = Trajectory(sb, _pick(rng, f"Run the tests in {test}.", f"Do the tests of {path} pass?", f"Execute {test}."))
    out = t.call("run_tests", path=test)
    ran = out.split("Ran ", 1)[1].split()[0]
    status = "all pass" if out.rstrip().endswith("OK") else out.strip().splitlines()[-1]
    return t.answer(f"{ran} tests ran in {test}: {status}.", ran)


def run_all_and_explain(sb, rng):
    t = Trajectory(sb, _pick(rng, "Are all the tests passing?", "Run the whole test suite and tell me what fails.",
                             "Check the test suite."))
    out = t.call("run_tests", path="tests")
    failing = sorted(sb.broken)
    if not failing:
        return t.answer(f"Yes: {out.split('Ran ', 1)[1].split()[0]} tests ran and all pass.", "pass")
    name = failing[0]
    loc = t.call("find_definition", symbol=name)
    path, line = loc.rsplit(":", 1)
    t.call("read_file", path=path, start_line=int(line), end_line=int(line) + 6)
    return t.answer(f"{len(failing)} function(s) fail their tests ({', '.join(failing)}); the first, `{name}`, "
                    f"is at {path}:{line} and its code is shown above.", name)


def run_verbose(sb, rng):
    t = Trajectory(sb, _pick(rng, "Run the test suite verbosely.", "List every test and whether it passed.",
                             "Run all tests with per-test output."))
    out = t.call("run_tests", path="tests", verbose=True)
    n_fail = sum(l.endswith(("FAIL", "ERROR")) for l in out.splitlines())
    return t.answer(f"{out.split('Ran ', 1)[1].split()[0]} tests ran; {n_fail} failed.", n_fail)


def write_and_run_test(sb, rng):
    name, path = _fn(sb, rng)
    mod = path.removesuffix(".py").replace("/", ".")
    test = f"tests/test_new_{name}.py"
    content = (f"import unittest\n\nfrom {mod} import {name}\n\n\nclass TestNew(unittest.TestCase):\n"
               f"    def test_exists(self):\n        self.assertTrue(callable({name}))\n")
    t = Trajectory(sb, _pick(rng, f"Add a smoke test for {name} in {test} and run it.",
                             f"Write {test} checking that {name} is callable, then run it."))
    t.call("write_file", path=test, content=content)
    out = t.call("run_tests", path=test)
    return t.answer(f"Wrote {test}; running it: {out.strip().splitlines()[-1]}.", test)


# --- researcher --------------------------------------------------------------------------------
def list_python(sb, rng):
    pkg = Path(next(iter(sb.functions.values()))).parent.as_posix()
    where = _pick(rng, pkg, "tests")
    t = Trajectory(sb, _pick(rng, f"List the Python files in {where}.", f"Which .py files are under {where}/?"))
    out = t.call("list_files", directory=where, pattern="*.py")
    return t.answer(f"{len(out.splitlines())} Python files: {', '.join(out.splitlines())}.", len(out.splitlines()))


def find_todo(sb, rng):
    q = _pick(rng, "TODO", "raise ValueError", "return")
    t = Trajectory(sb, _pick(rng, f"Find every place that contains '{q}'.", f"Search the code for {q}."))
    out = t.call("search_code", query=q)
    n = 0 if out == "no matches" else len(out.splitlines())
    return t.answer(f"Found {n} matches for '{q}'.", n)


def who_uses(sb, rng):
    name, _ = _fn(sb, rng)
    t = Trajectory(sb, _pick(rng, f"Which files mention {name}?", f"Find all uses of `{name}` in the tests.",
                             f"Search for {name} under tests."))
    args = {"query": name} if "files" in t.messages[0]["content"] else {"query": name, "path": "tests"}
    out = t.call("search_code", **args)
    files = sorted({l.split(":", 1)[0] for l in out.splitlines() if ":" in l})
    return t.answer(f"`{name}` appears in {', '.join(files) or 'no file'}.", *files)


def regex_search(sb, rng):
    prefix = _pick(rng, "safe_", "fast_", "get_", "compute_", "simple_")
    t = Trajectory(sb, _pick(rng, f"Use a regular expression to find functions whose names start with {prefix}.",
                             f"Regex search for definitions of {prefix}* functions."))
    out = t.call("search_code", query=f"def {prefix}\\w+", regex=True)
    n = 0 if out == "no matches" else len(out.splitlines())
    return t.answer(f"{n} function(s) start with {prefix}.", n)


def count_file_lines(sb, rng):
    _, path = _fn(sb, rng)
    t = Trajectory(sb, _pick(rng, f"How many lines does {path} have?", f"Count the lines in {path}."))
    n = t.call("count_lines", path=path)
    return t.answer(f"{path} has {n} lines.", n)


# --- coordinator -------------------------------------------------------------------------------
def diff_summary(sb, rng):
    t = Trajectory(sb, _pick(rng, "What has changed since the last commit?", "Show me a summary of uncommitted changes.",
                             "Is the working tree clean?"))
    out = t.call("git_diff", stat=True)
    return t.answer("The working tree is clean." if out == "no changes" else f"Changed: {out}", "clean" if out == "no changes" else "changed")


def note_and_diff(sb, rng):
    note = _pick(rng, "Owner: platform team.", "Status: beta.", "See CONTRIBUTING for the review process.")
    t = Trajectory(sb, _pick(rng, f"Append the line '{note}' to README.md and show me the diff.",
                             f"Add '{note}' at the end of the README, then show what changed."))
    readme = t.call("read_file", path="README.md")  # read first: the new content is the old one plus the note
    content = "\n".join(l.split(": ", 1)[1] if ": " in l else "" for l in readme.splitlines()) + f"\n{note}\n"
    t.call("write_file", path="README.md", content=content)
    t.call("git_diff", path="README.md")
    return t.answer(f"README.md now ends with '{note}'; the diff above shows the one added line.", note)


ROLE_TASKS = {
    "coder": [locate_and_read, read_whole_file, read_range, write_module, complexity_one, complexity_file,
              run_snippet, call_project_function],
    "tester": [run_module_tests, run_all_and_explain, run_verbose, write_and_run_test],
    "researcher": [list_python, find_todo, who_uses, regex_search, count_file_lines],
    "coordinator": [diff_summary, note_and_diff],
}

# Requests that lack a required argument: the right move is to ask. (request, tools, missing param)
ASK = [
    ("Read the file for me.", "read_file", "path"),
    ("Open that file and show me the top.", "read_file", "path"),
    ("Run this Python snippet.", "run_python", "code"),
    ("Where is it defined?", "find_definition", "symbol"),
    ("Search the code.", "search_code", "query"),
    ("Count the lines of the file.", "count_lines", "path"),
    ("Write the file.", "write_file", "path"),
    ("Run the tests in that file.", "run_tests", "path"),
]

# Questions no tool should answer. (question, answer)
NO_TOOL = [
    ("What does the HTTP status code 404 mean?", "404 means Not Found: the server has no resource at that URL.", "Not Found"),
    ("What is 12 times 7?", "12 times 7 is 84.", "84"),
    ("Which keyword defines a function in Python?", "Python defines functions with the `def` keyword.", "def"),
    ("What does `git status` do?", "`git status` shows changed, staged and untracked files.", "staged"),
    ("Thanks, that's all for now.", "You're welcome!", "welcome"),
    ("What does DRY stand for?", "DRY stands for Don't Repeat Yourself.", "Repeat"),
    ("What is the time complexity of binary search?", "Binary search runs in O(log n) time.", "log n"),
    ("Is Python dynamically typed?", "Yes, Python is dynamically typed.", "Yes"),
    ("What port does HTTPS use by default?", "HTTPS uses port 443 by default.", "443"),
    ("Hi! Who are you?", "Hello! I am a coding assistant; I can read, search, test and run code in this project.", "coding"),
]


def ask_record(sb: Sandbox, rng: random.Random) -> Trajectory:
    request, tool, param = rng.choice(ASK)
    t = Trajectory(sb, request, kind="ask")
    t.used = [tool]
    word = param.replace("_", " ")
    return t.answer(_pick(rng, f"Which {word} should I use? Please give me the {param}.",
                          f"I need the {param} first: which {word} do you mean?"), param)


# Write-the-function requests: the answer is code in one ```python block, no call (the coder's own
# skill, which tool-call training must not erase; HumanEval is its third-party check).
DOCS = {"clamp": "Return value limited to the range [low, high].", "mean": "Return the arithmetic mean of values; raise ValueError when empty.",
        "is_palindrome": "Return True when text reads the same backwards, ignoring case and non-alphanumerics.",
        "word_count": "Return the number of whitespace-separated words in text.",
        "fizzbuzz": "Return 'FizzBuzz', 'Fizz', 'Buzz' or the number as a string, by divisibility by 15, 3 and 5.",
        "slugify": "Return title lower-cased with its words joined by '-'.", "factorial": "Return k! for k >= 0.",
        "chunk": "Split items into lists of at most size elements.", "parse_version": "Parse '1.2.3' into a tuple of ints.",
        "merge_dicts": "Merge b into a copy of a, recursively for nested dicts.", "median": "Return the median of values.",
        "celsius_to_f": "Convert degrees Celsius to Fahrenheit."}
CODE_ASKS = ("Complete this Python function. Reply with the whole function in a ```python block.\n\n{stub}",
             "Write the body of this function:\n\n{stub}", "Implement it, please:\n\n{stub}",
             "Here is a stub; fill it in and show the full function in one code block.\n\n{stub}")


def code_record(sb: Sandbox, rng: random.Random) -> Trajectory:
    from tunepilot.tools.data.sandbox import _FUNCS, _PREFIX

    base, src, examples = rng.choice(_FUNCS)
    name = rng.choice(_PREFIX) + base + rng.choice(("", "", "_v2", "_value", "_of"))
    head, body = src.format(n=name).split("\n", 1)
    call, result = rng.choice(examples)
    doc = f'    """{DOCS[base]}\n\n    >>> {name}({call})\n    {result}\n    """\n'
    t = Trajectory(sb, rng.choice(CODE_ASKS).format(stub=f"{head}\n{doc}"), kind="code")
    return t.answer(f"```python\n{head}\n{doc}{body}```", name)


def no_tool_record(sb: Sandbox, rng: random.Random) -> Trajectory:
    question, answer, key = rng.choice(NO_TOOL)
    t = Trajectory(sb, question, kind="no_tool")
    return t.answer(answer, key)
