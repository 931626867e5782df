"""A plugin's own settings: decoded from environment strings, validated against its model.

Operators set them as ``PLUGHOST_PLUGINS__<NAMESPACE>__<SETTING>``; every problem is reported
naming that variable, so the fix is obvious from the message alone.
"""

from __future__ import annotations

import json
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from plughost.core.discovery import LoadedPlugin
from plughost.errors import SettingsError
from plughost.settings import describe_validation_error, split_names

_COLLECTIONS = (list, set, frozenset, tuple, dict)
_UNIONS = (Union, UnionType)


def decode_plugin_section(model: type[BaseModel], section: dict[str, Any]) -> dict[str, Any]:
    """Decode a plugin's settings section as environment variables deliver it: as strings.

    Scalars are left to pydantic (which reads ``"5"`` as 5 and ``"true"`` as True); a field
    holding a list, set or dict also accepts JSON or, for the sequences, ``a,b,c``.
    """
    decoded = dict(section)
    for name, value in section.items():
        field = model.model_fields.get(name)
        if field is None or not isinstance(value, str):
            continue
        annotation = field.annotation
        alternatives = get_args(annotation) if get_origin(annotation) in _UNIONS else (annotation,)
        kinds = {get_origin(alt) or alt for alt in alternatives}
        if not kinds & set(_COLLECTIONS) or str in kinds:
            continue
        decoded[name] = split_names(value) if dict not in kinds else json.loads(value)
    return decoded


def validate_plugin_settings(
    plugin: LoadedPlugin, section: dict[str, Any], prefix: str
) -> BaseModel | None:
    """Validate a plugin's settings section; errors name the environment variable to fix."""
    if plugin.settings_model is None:
        if section:
            raise SettingsError(
                f"{prefix}: plugin {plugin.namespace!r} takes no settings, got {sorted(section)}"
            )
        return None
    try:
        return plugin.settings_model.model_validate(
            decode_plugin_section(plugin.settings_model, section)
        )
    except (ValidationError, ValueError) as exc:
        if not isinstance(exc, ValidationError):
            raise SettingsError(f"{prefix}: {exc}") from None
        raise SettingsError(describe_validation_error(exc, f"{prefix}__")) from None
