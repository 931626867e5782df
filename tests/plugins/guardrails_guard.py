import time

from plughost import Plugin
from plughost.guardrails import CallInfo, Deny, Rewrite

plugin = Plugin(scopes={})


@plugin.before_call
async def refuse_secrets(call: CallInfo):
    text = call.arguments.get("text", "")
    if text == "secret":
        return Deny(rule="no-secrets", reason="notes may not say secret")
    if text == "audit-only":
        return Deny(rule="watch", reason="would refuse", dry_run=True)
    if text == "shout":
        return Rewrite(arguments={**call.arguments, "text": "SHOUT"})
    return None


@plugin.before_call
def sync_misbehaviour(call: CallInfo):
    if call.arguments.get("text") == "raise":
        raise RuntimeError("boom")
    if call.arguments.get("text") == "hang":
        time.sleep(5)
    return None
