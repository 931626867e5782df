"""A CRM per organisation for agents: companies, contacts, deals and activities.

Importing the tool modules registers their tools on `plugin`, the object the ``mcp_tools``
entry point names.
"""

from plughost_crm import activities, companies, contacts, deals
from plughost_crm.core import CrmSettings, plugin

__all__ = ["CrmSettings", "activities", "companies", "contacts", "deals", "plugin"]
