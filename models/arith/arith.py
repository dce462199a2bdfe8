"""The `arith` task family, a draw-for-draw mirror of `src/tasks/arith.ts` (spec: README.md here).

Also the text formats the embedded model is trained on: the solution trace (reasoning inside
`<think>…</think>`, then a short conclusion) and pacore's `default` synthesis template, byte for
byte as `defaultTemplate` in `strategies/synthesis-template.ts` renders it.
"""

from __future__ import annotations

import re

LEVELS = {
    1: dict(terms=2, digits=2, mul_p=0.3, mul_digits=1, paren_p=0.0, group_mul_p=0.0),
    2: dict(terms=3, digits=2, mul_p=0.3, mul_digits=2, paren_p=0.5, group_mul_p=0.3),
    3: dict(terms=3, digits=3, mul_p=0.3, mul_digits=2, paren_p=0.5, group_mul_p=0.3),
    4: dict(terms=4, digits=3, mul_p=0.3, mul_digits=2, paren_p=0.5, group_mul_p=0.3),
    5: dict(terms=5, digits=3, mul_p=0.35, mul_digits=2, paren_p=0.6, group_mul_p=0.3),
    6: dict(terms=6, digits=3, mul_p=0.35, mul_digits=2, paren_p=0.6, group_mul_p=0.3),
}
DEFAULT_DIFFICULTY = 5
M32 = 0xFFFFFFFF


def imul(a: int, b: int) -> int:
    return (a * b) & M32


def hash_seed(*parts) -> int:
    """`hashSeed` of src/core/random.ts (parts joined by U+001F, UTF-16 code units)."""
    text = "\u001f".join(str(p) for p in parts)
    h = 0x811C9DC5
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = imul(h, 0x01000193)
    h ^= h >> 16
    h = imul(h, 0x85EBCA6B)
    h ^= h >> 13
    h = imul(h, 0xC2B2AE35)
    h ^= h >> 16
    return h


def create_random(seed: int):
    """mulberry32, as `createRandom` of src/core/random.ts."""
    state = [seed & M32]

    def random() -> float:
        state[0] = (state[0] + 0x6D2B79F5) & M32
        t = state[0]
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296

    return random


def fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte
        h = imul(h, 0x01000193)
    return h


def is_held_out(expression: str) -> bool:
    return fnv1a32(expression) % 10 == 0


# Trees: ("num", value) | ("group", inner) | ("bin", op, left, right)


def draw_number(random, digits: int) -> int:
    length = 1 + int(random() * digits)
    low = 1 if length == 1 else 10 ** (length - 1)
    high = 10**length - 1
    return low + int(random() * (high - low + 1))


def draw_digit(random) -> int:
    return 2 + int(random() * 8)


def chain(items, ops):
    node = items[0]
    for i in range(1, len(items)):
        node = ("bin", ops[i - 1], node, items[i])
    return node


def draw_expression(random, level: dict):
    n = level["terms"]
    items = []
    for _ in range(n):
        if random() < level["mul_p"]:
            left = draw_number(random, level["mul_digits"])
            right = draw_digit(random)
            items.append(("bin", "*", ("num", left), ("num", right)))
        else:
            items.append(("num", draw_number(random, level["digits"])))
    ops = ["+" if random() < 0.5 else "-" for _ in range(1, n)]
    if n >= 3 and random() < level["paren_p"]:
        start = int(random() * (n - 1))
        longest = min(3, n - start, n - 1)
        length = 2 + int(random() * (longest - 1))
        group = ("group", chain(items[start : start + length], ops[start : start + length - 1]))
        if random() < level["group_mul_p"]:
            group = ("bin", "*", group, ("num", draw_digit(random)))
        items[start : start + length] = [group]
        del ops[start : start + length - 1]
    return chain(items, ops)


def render(node) -> str:
    if node[0] == "num":
        return str(node[1])
    if node[0] == "group":
        return "(" + render(node[1]) + ")"
    return render(node[2]) + node[1] + render(node[3])


def apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def step_left(a: int, op: str, b: int) -> str:
    """A step's left-hand side; a negative right operand in parentheses (`10-(-9)`)."""
    return f"{a}{op}{f'({b})' if b < 0 else b}"


def evaluate(node, steps: list[str], alter=None) -> int:
    """The value of `node`, appending its steps in post-order. `alter(left, a, op, b, value)`,
    if given, returns the result written instead (simulated slips); it carries into later steps."""
    if node[0] == "num":
        return node[1]
    if node[0] == "group":
        return evaluate(node[1], steps, alter)
    a = evaluate(node[2], steps, alter)
    b = evaluate(node[3], steps, alter)
    op = node[1]
    value = apply(a, op, b)
    left = step_left(a, op, b)
    if alter is not None:
        value = alter(left, a, op, b, value)
    steps.append(f"{left}={value}")
    return value


def parse(expression: str):
    at = 0

    def primary():
        nonlocal at
        if expression[at] == "(":
            at += 1
            inner = total()
            assert expression[at] == ")"
            at += 1
            return ("group", inner)
        m = re.match(r"\d+", expression[at:])
        assert m, expression
        at += len(m.group(0))
        return ("num", int(m.group(0)))

    def product():
        nonlocal at
        node = primary()
        while at < len(expression) and expression[at] == "*":
            at += 1
            node = ("bin", "*", node, primary())
        return node

    def total():
        nonlocal at
        node = product()
        while at < len(expression) and expression[at] in "+-":
            op = expression[at]
            at += 1
            node = ("bin", op, node, product())
        return node

    node = total()
    assert at == len(expression), expression
    return node


def steps_of(expression: str) -> tuple[list[str], int]:
    steps: list[str] = []
    value = evaluate(parse(expression), steps)
    return steps, value


def generate(seed: int, count: int, split: str = "heldout", difficulty: int = DEFAULT_DIFFICULTY):
    """Mirror of `generateArith`: a list of {id, expression, prompt, answer, difficulty, split}."""
    level = LEVELS[difficulty]
    problems = []
    seen = set()
    i = 0
    while len(problems) < count:
        random = create_random(hash_seed("arith", seed, difficulty, i))
        expression = render(draw_expression(random, level))
        held = is_held_out(expression)
        i += 1
        if (split == "heldout" and not held) or (split == "train" and held) or expression in seen:
            continue
        seen.add(expression)
        problems.append(
            {
                "id": f"arith-L{difficulty}-s{seed}-{i - 1}",
                "expression": expression,
                "prompt": f"What is {expression}?",
                "answer": str(steps_of(expression)[1]),
                "difficulty": difficulty,
                "split": "heldout" if held else "train",
            }
        )
    return problems


# ----------------------------------------------------------------------------- text formats


def conclusion(value) -> str:
    return f"The answer is {value}."


def worked_conclusion(steps: list[str], value) -> str:
    """The step lines, then the answer: what a worked answer writes after `</think>`."""
    return "\n".join(steps) + "\n" + conclusion(value)


def solution(expression: str) -> str:
    """Stage 1's assistant turn: reasoning, then the short conclusion (also the tokenizer's corpus)."""
    steps, value = steps_of(expression)
    return "<think>\n" + "\n".join(steps) + "\n</think>\n" + conclusion(value)


def worked_solution(expression: str) -> str:
    """The assistant turn of pacore-tiny: reasoning, then a worked conclusion that restates the
    steps before the answer, the way a reasoning model writes its solution after thinking. The
    conclusion is what compaction keeps, so a synthesis prompt shows each reference's steps."""
    steps, value = steps_of(expression)
    worked = "\n".join(steps)
    return "<think>\n" + worked + "\n</think>\n" + worked_conclusion(steps, value)


def column_line(left: str) -> str:
    """A step worked digit by digit (`column_check` without its `Check` word), after the step's
    left-hand side as the expression has it, so that the operands are copied in their natural
    order before they are reordered: `87-581: -(581-87): 11-7-0=4 18-8-1=9 5-0-1=4`;
    `83*7: 3*7+0=21 8*7+2=58` when nothing is reordered."""
    line, _ = column_check(left)
    canon, _, columns = line[len("Check ") :].partition(": ")
    return f"{left}: {columns}" if canon == left else f"{left}: {canon}: {columns}"


def column_solution(expression: str, check_lines: bool = False) -> str:
    """pacore-tiny's answer to a problem: each step worked in columns (`column_line`) and then
    written whole, inside `<think>…</think>`; then the short conclusion, which is all that
    compaction keeps. Working in one-digit facts makes a slip rare and random rather than a
    habit of the step (so that voting and synthesis have something to aggregate).

    `check_lines`: the first form the model learned (stage 3a), `column_check`'s line as it is;
    it reorders the operands before copying them, and misread them far more often."""
    steps, value = steps_of(expression)
    think = []
    for step in steps:
        left = step.rpartition("=")[0]
        think += [column_check(left)[0] if check_lines else column_line(left), step]
    return "<think>\n" + "\n".join(think) + "\n</think>\n" + conclusion(value)


def residue_lines(expression: str) -> list[str]:
    """The check a stage-8 synthesizer works before it picks an answer: the expression's last
    digit (its value mod 10), one line per step in the solver's order. A problem number is
    written whole (so the line points at the term it read), an earlier step by its residue:
    `(47*8+129)-36*3` gives `47*8=6`, `6+129=5`, `36*3=8`, `5-8=7`. Every line is a one-digit
    fact, the kind the column solver seldom gets wrong, and its slips are not the solver's."""
    lines: list[str] = []

    def walk(node) -> tuple[int, str]:
        if node[0] == "num":
            return node[1] % 10, str(node[1])
        if node[0] == "group":
            return walk(node[1])
        (a, a_text), (b, b_text) = walk(node[2]), walk(node[3])
        r = apply(a, node[1], b) % 10
        lines.append(f"{a_text}{node[1]}{b_text}={r}")
        return r, str(r)

    walk(parse(expression))
    return lines


def residue_solution(expression: str, value) -> str:
    """The stage-8 synthesis answer (models/arith/README.md, item 13): the residue check inside
    `<think>`, then the answer it takes, the most frequent reference answer whose last digit is
    the check's (the target is the correct one, which always passes). A negative answer's
    residue is taken mod 10 too: -23 ends the check with 7."""
    return "<think>\n" + "\n".join(residue_lines(expression)) + "\n</think>\n" + conclusion(value)


def listed_solution(expression: str, messages: list[str], value) -> str:
    """The stage-9 synthesis answer (models/arith/README.md, item 13): the residue check, then for
    each reference in the prompt's order a copy of it as the prompt has it, its answer's last
    digit mod 10 beside the check's, and where the two agree `ok` and the answer once more:

        Reference 2:
        The answer is 397. 7 7 ok 397
        Reference 3:
        The answer is -328. 2 7

    then the answer: the most frequent of the `ok` answers (the target is the correct one, which
    is among them). Every decision sits next to what it needs: the copy follows the prompt's own
    `Reference i:` line, the mark compares two adjacent digits, and the pick reads the numbers
    after `ok`. A reference that is not a short conclusion (a cut-off solution) is not copied."""
    lines = residue_lines(expression)
    digit = lines[-1].rpartition("=")[2]
    for i, m in enumerate(messages, 1):
        a = extract(m)
        if a is None or m != "\n" + conclusion(a):
            lines.append(f"Reference {i}:")
            continue
        residue = str(int(a) % 10)
        lines.append(f"Reference {i}:{m} {residue} {digit}" + (f" ok {a}" if residue == digit else ""))
    return "<think>\n" + "\n".join(lines) + "\n</think>\n" + conclusion(value)


# The stage-11 solver's message when its own check fails (models/arith/README.md, item 14): no
# number in it, so that answer extraction finds none and a vote or a synthesis passes over it.
ABSTAIN = "The check failed: no answer."


def check_tail(expression: str, answer) -> str:
    """What a stage-11 solver writes after its last step line, whose result is `answer`: the
    problem's last digit worked from one-digit facts (`residue_lines`, under `Check:`), then the
    answer, its last digit mod 10 and the check's, `ok` where they agree; then the conclusion,
    or ABSTAIN where they do not. The check reads the problem's numbers, not the steps above,
    so a slip there does not pass unseen unless it keeps the last digit."""
    lines = residue_lines(expression)
    digit = lines[-1].rpartition("=")[2]
    residue = str(int(answer) % 10)
    verdict = "ok" if residue == digit else "no"
    after = conclusion(answer) if verdict == "ok" else ABSTAIN
    return "Check:\n" + "\n".join(lines) + f"\n{answer}: {residue} {digit} {verdict}\n</think>\n" + after


def self_checked_solution(expression: str) -> str:
    """The stage-11 solver's answer: `column_solution`'s steps, then its own check (`check_tail`)."""
    text = column_solution(expression)
    _, value = steps_of(expression)
    return text[: text.rfind("</think>")] + check_tail(expression, value)


def think_steps(text: str) -> list[str]:
    """The step lines (`a op b=c`) inside `<think>`, without column or check lines."""
    start, end = text.find("<think>"), text.find("</think>")
    if start < 0 or end < 0:
        return []
    lines = text[start + 7 : end].strip().split("\n")
    return [line for line in lines if STEP_RE.match(line.rpartition("=")[0])]


def consistent_chain(expression: str, lines: list[str]) -> bool:
    """Whether step lines (`think_steps`) are the expression's steps as the answer's own results
    make them: each left-hand side has the problem's numbers and the results the answer wrote
    for the earlier steps (a misread operand breaks this; a wrong result alone does not), and
    there is one line per step."""
    results = iter(lines)
    consistent = True

    def walk(node) -> int:
        nonlocal consistent
        if node[0] == "num":
            return node[1]
        if node[0] == "group":
            return walk(node[1])
        a, b = walk(node[2]), walk(node[3])
        left, _, value = next(results, "=").rpartition("=")
        consistent &= left == step_left(a, node[1], b) and NUMBER_RE.fullmatch(value) is not None
        return int(value) if consistent else 0

    walk(parse(expression))
    return consistent and next(results, None) is None


def vote_solution(value) -> str:
    """pacore-tiny's synthesis answer: it reads the references' answers and states the one it
    takes, with nothing to work out inside `<think>` (models/arith/README.md says why)."""
    return "<think>\n</think>\n" + conclusion(value)


def compact(text: str) -> str:
    """pacore's compaction: everything after the last `</think>`, else the whole text."""
    end = text.rfind("</think>")
    return text if end < 0 else text[end + len("</think>") :]


def default_template(problem: str, messages: list[str]) -> str:
    """`defaultTemplate` of strategies/synthesis-template.ts, byte for byte."""
    references = "\n\n".join(f"Reference {i + 1}:\n{m}" for i, m in enumerate(messages))
    return (
        f"Original Problem:\n{problem}\n\n"
        f"Below are {len(messages)} reference responses to this problem from independent attempts. "
        "Any of them may be wrong, including the majority.\n\n"
        f"{references}\n\n"
        "Check the references against each other and against the problem, then solve it yourself and state the final answer.\n\n"
        f"The problem again:\n{problem}"
    )


ANSWER_RE = re.compile(r"answer is\s*(-?\d+)")
NUMBER_RE = re.compile(r"-?\d+")


def extract(text: str):
    """The final integer after the reasoning (the answer phrase, else the last number)."""
    body = compact(text)
    m = ANSWER_RE.findall(body)
    if m:
        return m[-1]
    m = NUMBER_RE.findall(body)
    return m[-1] if m else None


# ----------------------------------------------------------------------------- checked synthesis


STEP_RE = re.compile(r"^(-?\d+)([+*-])\(?(-?\d+)\)?$")


def parse_step(left: str) -> tuple[int, str, int]:
    """`a op b` of a step's left-hand side (`51-48`, `-12+35`, `10-(-9)`, `(-7)*3` never occurs)."""
    m = STEP_RE.match(left)
    assert m, left
    return int(m.group(1)), m.group(2), int(m.group(3))


def magnitude_form(a: int, op: str, b: int) -> tuple[int, str, int, bool]:
    """`a op b` as `±(x o y)` on magnitudes, x ≥ y when o is `-`: `48-51` → (51, "-", 48, True)."""
    if op == "*":
        return abs(a), "*", b, a < 0
    y_signed = b if op == "+" else -b
    if a >= 0 and y_signed >= 0:
        return a, "+", y_signed, False
    if a <= 0 and y_signed <= 0:
        return -a, "+", -y_signed, True
    x, y = max(abs(a), abs(y_signed)), min(abs(a), abs(y_signed))
    return x, "-", y, x != y and (a < 0 if abs(a) > abs(y_signed) else y_signed < 0)


def columns_of(left: str) -> tuple[str, list[str], list[int], int]:
    """A step worked digit by digit from the right: the magnitude form it is worked in (`48-51`
    is `-(51-48)`, `-12+35` is `35-12`, `10-(-9)` is `10+9`), its columns, each a one-digit fact
    (`6+9+0=15` carries 1; `11-8-0=3` borrowed 10, so the next column subtracts 1; `4*8+5=37`),
    each column's value, and the step's value. The result is the last column's value followed by
    the ones digits of the others, last to first, without leading zeros."""
    x, o, y, negative = magnitude_form(*parse_step(left))
    xs = [int(d) for d in reversed(str(x))]
    ys = [int(d) for d in reversed(str(y))]
    columns, values = [], []
    carry = 0
    if o == "*":
        for d in xs:
            s = d * y + carry
            columns.append(f"{d}*{y}+{carry}={s}")
            values.append(s)
            carry = s // 10
    else:
        for i in range(max(len(xs), len(ys))):
            dx = xs[i] if i < len(xs) else 0
            dy = ys[i] if i < len(ys) else 0
            if o == "+":
                s = dx + dy + carry
                columns.append(f"{dx}+{dy}+{carry}={s}")
                carry = s // 10
            else:
                s = dx - dy - carry
                if s < 0:
                    s += 10
                    columns.append(f"1{dx}-{dy}-{carry}={s}")
                    carry = 1
                else:
                    columns.append(f"{dx}-{dy}-{carry}={s}")
                    carry = 0
            values.append(s)
    digits = str(values[-1]) + "".join(str(v % 10) for v in reversed(values[:-1]))
    magnitude = int(digits)
    value = -magnitude if negative and magnitude else magnitude
    canon = f"{x}{o}{y}"
    if negative:
        canon = f"-({canon})"
    return canon, columns, values, value


def column_check(left: str) -> tuple[str, int]:
    """A careful recomputation of one step (`columns_of`) as one line, and its value:

        Check 51-48: 11-8-0=3 5-4-1=0        -> 3
        Check -(47*8): 7*8+0=56 4*8+5=37     -> -376
    """
    canon, columns, _, value = columns_of(left)
    return f"Check {canon}: " + " ".join(columns), value


def step_results(message: str) -> dict[str, str]:
    """Left-hand side → result of each step line in a compacted message (its worked conclusion)."""
    results = {}
    for line in message.split("\n"):
        left, eq, value = line.strip().rpartition("=")
        if eq and STEP_RE.match(left) and NUMBER_RE.fullmatch(value):
            results.setdefault(left, value)
    return results


def agreed(left: str, references: list[dict[str, str]]) -> str | None:
    """The result the references (their `step_results`) agree on for this step, or None if it is
    disputed: at least two of them wrote the step, at least three quarters of those the same
    result, and they are at least 40% of all references (a step few reached is no consensus)."""
    found = [r[left] for r in references if left in r]
    if not found:
        return None
    top = max(set(found), key=found.count)
    count = found.count(top)
    if count >= 2 and count >= 0.75 * len(found) and count >= 0.4 * len(references):
        return top
    return None


def checked_solution(expression: str, messages: list[str]) -> tuple[str, int]:
    """The synthesis target of pacore-tiny: the gold steps, each copied where the references
    agree on it and recomputed column by column (`column_check`) where they do not (or agree on
    a wrong result); then the worked conclusion. Returns the text and the number of checks."""
    steps, value = steps_of(expression)
    references = [step_results(m) for m in messages]
    think = []
    checks = 0
    for step in steps:
        left, _, result = step.rpartition("=")
        if agreed(left, references) != result:
            line, checked = column_check(left)
            assert str(checked) == result, (step, line, checked)
            think.append(line)
            checks += 1
        think.append(step)
    return "<think>\n" + "\n".join(think) + "\n</think>\n" + worked_conclusion(steps, value), checks
