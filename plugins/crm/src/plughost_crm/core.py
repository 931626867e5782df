"""The plugin object and its settings, shared by every tool module."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, StringConstraints, model_validator

from plughost import Plugin

StageName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


StageList = list[StageName]


class CrmSettings(BaseModel):
    """Operator settings (``PLUGHOST_PLUGINS__CRM__<NAME>``).

    The pipeline is configuration, not code, because every sales team names its stages
    differently; deals are only ever moved into a stage listed here.
    """

    stages: StageList = Field(
        default=["lead", "qualified", "proposal", "negotiation", "won", "lost"],
        min_length=1,
        description="The deal pipeline, in order; new deals start in the first stage.",
    )
    closed_stages: StageList = Field(
        default=["won", "lost"],
        description="Stages that end a deal; every other stage counts as open.",
    )
    page_size: int = Field(20, ge=1, le=100, description="Rows per page when searching.")
    latest_activities: int = Field(
        10, ge=1, le=100, description="How many recent activities a contact's details include."
    )

    @model_validator(mode="after")
    def _consistent_pipeline(self) -> Self:
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages must not repeat a stage")
        stray = [s for s in self.closed_stages if s not in self.stages]
        if stray:
            raise ValueError(f"closed_stages {stray} are not in stages {self.stages}")
        return self

    def is_open(self, stage: str) -> bool:
        """Open means not closed, so a stage dropped from the settings still counts as open."""
        return stage not in self.closed_stages


plugin = Plugin(
    scopes={
        "crm:read": "Look up your organisation's contacts, companies, deals and activities.",
        "crm:write": "Create, change and archive contacts, companies and deals; log activities.",
        "crm:delete": "Delete contacts and companies for good, with their activities.",
    },
    baseline_scopes=["crm:read"],
    settings=CrmSettings,
    migrations="plughost_crm.migrations",
)
