"""One documented operation of the OpenAPI document (``operations.py`` lists them,
``openapi.py`` renders them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """One documented operation. ``aliases`` are other spellings of the same path (served,
    and documented as such); ``error`` names the error body's schema in components."""

    method: str
    path: str
    summary: str
    tag: str
    body: str | None = None
    ok: int = 200
    errors: tuple[int, ...] = (401, 404, 422)
    security: str | None = "bearer"
    query: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = ()
    error: str = "Error"
    body_media: str = "application/json"
    ok_media: str | None = None
    ok_schema: str | None = None  # the success body's schema (components), if it has one
    also: tuple[tuple[int, str], ...] = ()  # other success answers: (status, schema)
