"""Bounded argument types: input a database or a log cannot take is refused before the tool runs.

A tool's arguments come from whoever holds a token. An id beyond what an INTEGER column holds,
a NUL character PostgreSQL refuses to store, or a megabyte where a title belongs would each
reach the database and fail there as an internal error. Annotate arguments with these types
instead and FastMCP refuses such input as ``invalid_input``, naming the field, before the
plugin's function is called; the limits also appear in the tool's input schema, so agents see
them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

#: The largest value a 32-bit signed INTEGER column holds (PostgreSQL ``integer``).
MAX_INT32 = 2**31 - 1


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    return value


RowId = Annotated[int, Field(ge=1, le=MAX_INT32)]
"""A row id, version or count: a positive whole number an INTEGER column holds on every
database (1 to 2,147,483,647). Not ``Id``: plugins have ids of their own (string keys)."""


class BoundedText:
    """``BoundedText[200]``: a string of at most 200 characters, without NUL characters.

    Use it for every free-text argument (titles, names, queries, notes); the maximum is part of
    the input schema agents see. ``BoundedText[200]`` is ``Annotated[str, ...]``, so the tool's
    function receives a plain ``str``. Not ``Text``: that is SQLAlchemy's column type, which
    the same module usually imports.
    """

    def __class_getitem__(cls, max_length: int) -> Any:
        if not isinstance(max_length, int) or max_length < 1:
            raise TypeError(
                "BoundedText[...] takes the maximum length, a positive int: BoundedText[200]"
            )
        return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_no_nul)]
