"""The host's one loopback check: is a host name this machine?

Plain ``http`` and the embedded dev issuer are allowed only where nothing crosses a network,
so several places ask this same question: the dev issuer's redirect rules (RFC 8252 §7.3),
the token-exchange endpoint, the bind address, the Origin and Host checks and the test kit's
fault proxy. They ask it here so that they all agree on the answer.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 and ``::1`` (bracketed or not): the addresses RFC 8252 §7.3
    native apps listen on and only this machine can reach."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
