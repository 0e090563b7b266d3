"""Tables in the report's style, for every section: numbers right-aligned, every header and cell escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["html_table", "text_table"]


def html_table(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> Markup:
    """A table in the report's style (numbers right-aligned); every header and cell is escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(v)}</td>' if i else f"<td>{escape(v)}</td>" for i, v in enumerate(row)
        )
        + "</tr>\n"
        for row in cells
    )
    return Markup(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>")


def text_table(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """The same table as plain text for the terminal: first column left-aligned, the others right-aligned."""
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = (v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in cells)])
