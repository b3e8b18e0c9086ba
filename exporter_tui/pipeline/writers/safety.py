"""Formula-injection guard for spreadsheet-bound text (CSV and Excel).

A text cell starting with `=`, `+`, `-`, `@`, tab or carriage return could be run as a
formula when the file is opened in a spreadsheet; such cells get a leading apostrophe
(OWASP's advice). Only text is guarded: numbers (a negative number stays a number),
timestamps and booleans are never touched. JSON and PDF keep text as it is.
"""

from __future__ import annotations

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """The text with a leading `'` when a spreadsheet could read it as a formula."""
    return "'" + text if text.startswith(_TRIGGERS) else text
