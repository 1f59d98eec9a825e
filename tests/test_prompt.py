"""The paper's prompt and scoring, against hand-written responses."""

import pytest

from mubench.prompt import build_prompt, official_correct, parse_answer

OPTIONS = ["neutrophil", "basophil", "eosinophil", "lymphocyte", "monocyte", "platelet", "erythroblast",
           "immature granulocyte"]


def test_prompt_is_the_papers_text_exactly():
    assert build_prompt("Which cell is this?", ["a", "b", "c"]) == (
        "Answer with a single letter, no extra details.\nQuestion:Which cell is this?\nA) a\nB) b\nC) c")
    with pytest.raises(ValueError, match="at most 8"):
        build_prompt("q", [str(i) for i in range(9)])


@pytest.mark.parametrize("response,gold,expected", [
    ("B", 1, True),                         # first character is the gold letter
    ("B) basophil", 1, True),               # lettered gold is a substring
    ("The answer is B) basophil.", 1, True),
    ("The answer is B.", 1, False),         # the paper's check does not parse this
    ("b", 1, False),                        # case-sensitive
    ("b) basophil", 1, False),
    ("basophil", 1, False),                 # option text alone is not enough
    (" B", 1, False),                       # leading space: first character is " "
    ("Basophil", 1, True),                  # … but "B" as first character counts, whatever follows
    ("A", 1, False),
    ("H", 7, True),                         # eighth option: letter H works (the original crashed)
    ("H) immature granulocyte", 7, True),
    ("", 0, False),
])
def test_official_check_reproduces_the_paper(response, gold, expected):
    assert official_correct(response, OPTIONS, gold) is expected


@pytest.mark.parametrize("response,expected", [
    ("B", 1), ("(B)", 1), ("B)", 1), ("B.", 1), ("B) basophil", 1), ("Answer: B", 1),
    ("The answer is (H).", 7), ("It is a basophil.", 1), ("eosinophil", 2),
    ("neutrophil or basophil", None), ("I cannot tell", None), ("Z", None), ("", None),
])
def test_parser(response, expected):
    assert parse_answer(response, OPTIONS) == expected


def test_parser_rejects_letters_beyond_the_options():
    assert parse_answer("D", ["yes", "no", "maybe"]) is None
    assert parse_answer("C", ["yes", "no", "maybe"]) == 2


def test_parser_prefers_the_longest_option_named():
    assert parse_answer("cell biology", ["cell", "cell biology", "pathology"]) == 1
