"""Small helpers shared by the HTML views for reading submitted forms."""

from __future__ import annotations

from quart import request
from werkzeug.datastructures import MultiDict


async def submitted_form() -> MultiDict[str, str]:
    """The request's form fields (the CSRF check already parsed them)."""
    form: MultiDict[str, str] = await request.form
    return form


def field(form: MultiDict[str, str], name: str) -> str:
    """A text field's value, or ``""`` when absent."""
    return form.get(name, "")
