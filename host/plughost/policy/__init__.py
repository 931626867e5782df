"""The one call policy: who may call what, how often, and what the guardrails say."""
