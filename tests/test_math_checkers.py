"""Math extraction and equivalence on tricky pairs (the checker's credibility is the product)."""
import time

import pytest

from tasks.math.equivalence import MathChecker, numeric_equal, strip_decorations
from tasks.math.extract import extract_math, last_boxed


@pytest.fixture(scope="module")
def checker():
    c = MathChecker(timeout_s=10)
    yield c
    c.close()


EQUAL = [
    ("1,000", "1000"), ("1000.0", "1000"), ("$1,000", "1000"), ("\\$18", "18"), ("18.00", "18"),
    ("-7", "-7.0"), ("0.5", "1/2"), ("\\frac{1}{2}", "0.5"), ("\\dfrac{3}{4}", "0.75"), ("\\tfrac12", "0.5"),
    ("-\\frac{3}{4}", "-0.75"), ("50\\%", "50"), ("50%", "50"), ("5 cm", "5"), ("12 apples", "12"),
    ("5 \\text{ dollars}", "5"), ("\\text{5}", "5"), ("x = 5", "5"), ("\\{1,2\\}", "\\{2,1\\}"),
    ("[0,1)", "[0,1)"), ("(-\\infty, 3]", "(-\\infty,3]"), ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}"),
    ("2\\sqrt{3}", "\\sqrt{12}"), ("\\pi/2", "\\frac{\\pi}{2}"), ("x^2+2x+1", "(x+1)^2"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"), ("10^{3}", "1000"),
    ("3, 5", "5, 3"), ("\\text{(B)}", "B"), ("007", "7"), ("1e3", "1000"),
]
UNEQUAL = [
    ("1/3", "0.333"), ("0.33", "1/3"), ("50%", "0.5"), ("0.5", "50"), ("1,5", "15"), ("10", "100"),
    ("-5", "5"), ("[0,1)", "[0,1]"), ("2\\pi", "6.28"), ("\\sqrt{2}", "1.414"), ("x^2", "2x"),
    ("3", "3.0001"), ("A", "B"), ("\\{1,2\\}", "\\{1,2,3\\}"), ("1000", "100"), ("12", "1.2"),
]


@pytest.mark.parametrize("pred,gold", EQUAL)
def test_equal_pairs(checker: MathChecker, pred: str, gold: str) -> None:
    assert checker.equal(pred, gold), (pred, gold)


@pytest.mark.parametrize("pred,gold", UNEQUAL)
def test_unequal_pairs(checker: MathChecker, pred: str, gold: str) -> None:
    assert not checker.equal(pred, gold), (pred, gold)


def test_percent_only_where_the_task_says(checker: MathChecker) -> None:
    assert not checker.equal("50%", "0.5")
    assert checker.equal("50%", "0.5", percent=True)
    assert checker.equal("0.5", "50", percent=True)
    assert not checker.equal("0.4", "50", percent=True)


def test_none_never_equal(checker: MathChecker) -> None:
    assert not checker.equal(None, "0")


def test_cache_and_batching(checker: MathChecker) -> None:
    pairs = [("\\frac{\\sqrt{8}}{2}", "\\sqrt{2}"), ("x+1", "1+x")] * 50
    assert all(checker.equal_many(pairs))
    assert ("x+1", "1+x", False) in checker.cache


def test_a_hanging_verify_is_killed_and_the_checker_recovers(monkeypatch) -> None:
    c = MathChecker(timeout_s=0.5)
    assert c.equal("x+1", "1+x")  # the worker is up (its start-up has its own allowance)
    # An enormous power makes sympy grind; the deadline kills the worker, the verdict is False.
    assert not c.equal("9^{9^{9^{9}}}", "9^{9^{9^{8}}}+1")
    assert c.timeouts >= 1
    assert c.equal("\\frac{1}{2}+x", "x+0.5")  # a fresh worker takes over
    c.close()


@pytest.mark.parametrize("pred,gold", [
    ("\\frac{1}{2006!}", "\\frac{1}{2004!}"), ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}"),
    ("\\frac{1}{3 \\cdot 2^{2006}}", "\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}"),
])
def test_tiny_exact_numbers_are_not_equal(checker: MathChecker, pred: str, gold: str) -> None:
    # math-verify's float tolerance calls these equal (huggingface/Math-Verify issue #14).
    assert not checker.equal(pred, gold)
    assert checker.equal(gold, gold.replace(" ", ""))


def test_inequality_and_interval_either_way(checker: MathChecker) -> None:
    assert checker.equal("x \\geq 5", "[5, \\infty)") and checker.equal("[5, \\infty)", "x \\ge 5")
    assert not checker.equal("x > 5", "[5, \\infty)")


def test_numeric_fast_path_is_exact() -> None:
    assert numeric_equal("1,000,000", "1e6") is True
    assert numeric_equal("0.1", "1/10") is True
    assert numeric_equal("x", "1") is None
    assert strip_decorations("$5.00$.") == ("5.00", False)
    assert strip_decorations("25\\%") == ("25", True)


@pytest.mark.parametrize("text,answer,rule", [
    ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}", "boxed"),
    ("\\boxed{\\begin{pmatrix}1\\\\2\\end{pmatrix}}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", "boxed"),
    ("first \\boxed{1} then \\boxed{2}", "2", "boxed"),
    ("\\boxed{x^{2}+\\frac{1}{y_{1}}}", "x^{2}+\\frac{1}{y_{1}}", "boxed"),
    ("\\boxed 7 is it", "7", "boxed"),
    ("\\fbox{9}", "9", "boxed"),
    ("The answer is $\\frac{3}{4}$.", "\\frac{3}{4}", "answer_is"),
    ("Thus the final answer is: 12. I hope", "12", "answer_is"),
    ("The answer is 3.5.", "3.5", "answer_is"),
    ("Answer: 42", "42", "answer_colon"),
    ("**Answer:** (C)", "(C)", "answer_colon"),
    ("work\n#### 1,234", "1,234", "hash"),
    ("I got 3 and then 5.5 apples", "5.5", "last_number"),
    ("no digits", None, "none"),
    # Issue 8's list: math-verify finds these, the old "last number" fallback did not.
    ("so $x = \\boxed{-2}$ and $x = \\boxed{1}$.", "-2, 1", "boxed"),
    ("\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}", "(2, 2), (6, 2)", "boxed"),
    ("the inequality holds exactly when $x \\geq 5$.", "x \\geq 5", "math"),
    ("the product is $\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}.$", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", "math"),
    ("Each share is 4 4/9 pounds.", "4 4/9", "last_number"),
    ("Dr. Zaius has 10,200 + 255 = 10,455 dollars.", "10,455", "last_number"),
    ("The stadium holds 1 000 more people.", "1 000", "last_number"),
    ("She spent 30% of it.", "30%", "last_number"),
    ("\\boxed{12}. Wait, I forgot one; the final answer is 15.", "15", "answer_is"),
    ("Therefore the side is $\\sqrt{2}.$", "\\sqrt{2}", "math"),
    ("The code word is AZYUK2A.", None, "none"),
    ("It costs $18 for 2 and $20 for 3, so 38 dollars.", "38", "last_number"),
    ("Final Answer: The largest $n$ is 34.", "34", "answer_is"),
    ("So answer is consistent.\n\n✅ Final Answer: **73**", "73", "answer_is"),
    ("Then $9 \\times 2 = 18$", "18", "math"),
])
def test_extraction_rules(text: str, answer: str | None, rule: str) -> None:
    got = extract_math(text)
    assert (got.answer, got.rule) == (answer, rule)


def test_unbalanced_box_falls_back_to_an_earlier_one() -> None:
    assert last_boxed("\\boxed{3} and \\boxed{4") == "3"


@pytest.mark.parametrize("text", ["\\boxed{" * 3000, "\\[ a " * 8000, "costs $5 and " * 8000, "$ " + "a \\( b " * 10000])
def test_extraction_is_linear_on_unclosed_delimiters(text: str) -> None:
    # Unclosed boxes and \[ used to be rescanned to the end from each one (seconds at 20 KB).
    t0 = time.perf_counter()
    extract_math(text)
    assert time.perf_counter() - t0 < 1.0


TOWER = "\\boxed{9^{9^{9^{9^{9}}}}}"  # sympy never finishes this against 1 (issue 19)


def _forty_latex_pairs(tag: str) -> list[tuple[str, str]]:
    # Distinct symbolic pairs (no numeric fast path, no cache hits between the two runs).
    return [(f"\\frac{{{i}}}{{{tag}}}+x", f"x+\\frac{{{i}}}{{{tag}}}") for i in range(1, 40)]


def test_a_power_tower_costs_one_timeout_not_a_batch(monkeypatch) -> None:
    """40 pairs with one tower take about as long as without it plus one timeout, and the
    tower's verdict says it timed out (was: a per-batch deadline, then one-by-one retries)."""
    import tasks.math.equivalence as eq
    from harness.contracts import Problem
    from tasks.math.base import MathTask

    timeout = 1.0
    plain, towered = MathChecker(timeout_s=timeout), MathChecker(timeout_s=timeout)
    for c in (plain, towered):
        assert c.equal("x+1", "1+x")  # workers up: start-up is not what is measured
    t0 = time.perf_counter()
    assert all(plain.equal_many(_forty_latex_pairs("y")))
    without = time.perf_counter() - t0
    pairs = _forty_latex_pairs("z")
    pairs.insert(20, (TOWER, "1"))
    t0 = time.perf_counter()
    verdicts = towered.equal_many(pairs)
    with_tower = time.perf_counter() - t0
    assert verdicts == [p[0] != TOWER for p in pairs]
    assert with_tower < without + timeout + 5.0, (with_tower, without)  # 5 s: grace + slack
    assert towered.timed_out(TOWER, "1") and not towered.timed_out(*pairs[0])
    plain.close()

    monkeypatch.setattr(eq, "_DEFAULT", towered)
    problems = [Problem("tower", "?", "1"), Problem("easy", "?", "x+\\frac{1}{z}")]
    tower_verdict, easy = MathTask().check_many([TOWER, "\\frac{1}{z}+x"], problems)
    assert not tower_verdict.correct and "timed out after 1 s" in tower_verdict.reason
    assert easy.correct and "timed out" not in easy.reason
    towered.close()
