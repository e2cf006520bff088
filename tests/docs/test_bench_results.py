"""Benchmark figures have one home, bench/results.md: `make bench` rewrites its generated part and
keeps the hand-kept section of figures measured outside it."""

import re
from pathlib import Path

from bench import run

ROOT = Path(__file__).resolve().parents[2]


def test_a_rewrite_keeps_the_hand_kept_section():
    previous = f"# old generated part\n\n| a | 1 |\n\n{run.MANUAL_HEADING}\n\n| probe | 2 ms |\n"
    assert run.manual_section(previous) == f"{run.MANUAL_HEADING}\n\n| probe | 2 ms |\n"
    assert run.manual_section("# no hand-kept section\n") == ""


def test_results_hold_the_hand_kept_section():
    assert run.MANUAL_HEADING in (ROOT / "bench" / "results.md").read_text(encoding="utf-8")


# A measured figure: a number followed by a rate or latency unit. Benchmark modules print such
# figures at run time (f-strings); a docstring or comment quoting one would go stale.
FIGURE = re.compile(r"\d[\d,.]*\s?(k|M)?\s?(events/s|records/s|rows/s|msg/s|req/s|questionnaires/s|ms\b|µs\b)")


def _docstrings_and_comments(source: str) -> list[str]:
    import ast
    import io
    import tokenize

    texts = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            texts.append(ast.get_docstring(node) or "")
    return texts


def test_no_docstring_or_comment_quotes_a_benchmark_figure():
    quoted = []
    for folder in ("services", "bench", "contracts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "tests" in path.parts:
                continue
            for text in _docstrings_and_comments(path.read_text(encoding="utf-8")):
                quoted += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in FIGURE.finditer(text)
                           if not text[:m.start()].endswith("every ")]  # a polling interval, not a figure
    assert not quoted, f"move these figures to bench/results.md and cite it: {quoted}"
