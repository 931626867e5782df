"""The scopes the host itself declares, beside the plugins' own.

They are advertised in ``scopes_supported`` and grantable on the consent page like any
plugin's, under the reserved ``plughost`` namespace, but no tool requires them: holding one
grants no tool, and they are never part of the baseline a 401 challenge asks for.
"""

from __future__ import annotations

#: Reading the operator console at ``/console``.
ADMIN_SCOPE = "plughost:admin"
HOST_NAMESPACE = "plughost"

HOST_SCOPES: dict[str, str] = {
    ADMIN_SCOPE: "Read the operator console: plugins, health and traffic of this server "
    "(never tokens, secrets or argument values)",
}
