"""One table, four formats: CSV (full precision, for code), Markdown, LaTeX (booktabs) and HTML."""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass
from pathlib import Path

LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                 "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                 "±": r"$\pm$", "α": r"$\alpha$", "θ": r"$\theta$", "μ": r"$\mu$", "−": "--", "→": r"$\to$",
                 "≤": r"$\leq$", "×": r"$\times$"}


@dataclass
class Table:
    name: str
    caption: str
    columns: list[str]  # keys of each row, in order
    headers: list[str]  # what readers see
    rows: list[dict]  # values to show (strings) …
    raw: list[dict] | None = None  # … and, for the CSV, the full-precision values (default: rows)
    csv_columns: list[str] | None = None  # the CSV's columns when they differ (CI bounds, counts)

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{self.name}.{ext}" for ext in ("csv", "md", "tex", "html")]
        write_csv(paths[0], self.raw if self.raw is not None else self.rows, self.csv_columns or self.columns)
        paths[1].write_text(self.markdown())
        paths[2].write_text(self.latex())
        paths[3].write_text(self.html())
        return paths

    def cells(self, row: dict) -> list[str]:
        return ["" if row.get(c) is None else str(row.get(c)) for c in self.columns]

    def markdown(self) -> str:
        return self.caption + "\n\n" + markdown(self.rows, self.columns, self.headers)

    def latex(self) -> str:
        spec = "l" * min(2, len(self.columns)) + "r" * max(0, len(self.columns) - 2)
        lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(self.caption)}}}",
                 rf"\label{{tab:mubench-{self.name.replace('_', '-')}}}", rf"\begin{{tabular}}{{{spec}}}",
                 r"\toprule", " & ".join(latex_escape(h) for h in self.headers) + r" \\", r"\midrule"]
        lines += [" & ".join(latex_escape(c) for c in self.cells(row)) + r" \\" for row in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self.cells(row)) + "</tr>"
                         for row in self.rows)
        return (f'<table class="mubench" id="{html.escape(self.name)}">\n<caption>{html.escape(self.caption)}'
                f"</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n")


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def markdown(rows: list[dict], columns: list[str], headers: list[str] | None = None) -> str:
    headers = headers or columns
    cell = lambda row, c: "" if row.get(c) is None else str(row.get(c)).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def pct(value: float | None, digits: int = 2) -> str:
    return "" if value is None or value != value else f"{100 * value:.{digits}f}"
