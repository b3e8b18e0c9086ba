"""Which listen addresses only this machine can reach: the servers without authentication
(the HTTP API without [api.keys], the web view always) listen on nothing else."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
