"""Where the audit trail goes (``PLUGHOST_AUDIT__<FIELD>``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class AuditSettings(BaseModel):
    """Where audit records go (``PLUGHOST_AUDIT__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    sink: Literal["stdout", "file", "off"] = Field(
        "stdout", description="JSON lines to stdout, to `file`, or nowhere."
    )
    file: Path | None = Field(None, description="The JSON-lines file when sink is 'file'.")
    database: bool = Field(
        False, description="Also keep records in the database (table plughost_audit)."
    )
    include_arguments: bool = Field(
        False, description="Record argument values, not only their names. Mind what tools receive."
    )
    durable: bool | None = Field(
        None,
        description="Hold each response until its audit record is committed (group commit): "
        "no acknowledged call is ever without a record, at the cost of latency. Unset: on "
        "whenever records also go to the database.",
    )

    @model_validator(mode="after")
    def _file_needs_path(self) -> AuditSettings:
        if self.sink == "file" and self.file is None:
            raise ValueError("sink 'file' needs PLUGHOST_AUDIT__FILE")
        return self

    @property
    def holds_responses(self) -> bool:
        """Whether responses wait for their records: as set, else whenever the database keeps
        them (a trail operators query for every acknowledged call must not miss the last
        moments before a crash)."""
        return self.database if self.durable is None else self.durable
