"""How settings are named outside Python: the ``PLUGHOST_`` variables, their lists, the file.

Every settings model reads its lists the same way and every validation failure is told in the
variable an operator would set, so the rules live here once, below the models that use them
(plugins' own settings sections use `split_names` and `describe_validation_error` too).
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError
from pydantic_settings import NoDecode

ENV_PREFIX = "PLUGHOST_"
#: The variable naming a TOML settings file; its keys are the variables' without the prefix.
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"


def split_names(value: Any) -> Any:
    """Accept ``todo,crm`` as well as a JSON list for lists set from the environment."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


#: A list of names an operator may write comma-separated (``todo,crm``) or as a JSON list.
NameList = Annotated[list[str], NoDecode, BeforeValidator(split_names)]


def config_file() -> str | None:
    """The settings file ``PLUGHOST_CONFIG`` names, as written, if it names one."""
    return os.environ.get(CONFIG_ENV) or None


def describe_validation_error(exc: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the environment variable an operator would set."""
    lines = []
    for err in exc.errors():
        path = "__".join(str(part) for part in err["loc"]).upper()
        lines.append(f"{prefix}{path}: {err['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)
