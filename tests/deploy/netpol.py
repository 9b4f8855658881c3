"""A small NetworkPolicy evaluator: would the policies in one namespace let a connection through?

Follows the API's semantics for the parts the manifests use: a pod selected by no policy of a
direction is open in that direction; otherwise some selecting policy must allow the peer and port.
Peers are pods (labels, namespace) or plain IP addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    labels: dict[str, str]
    namespace: str
    ports: dict[str, int] = field(default_factory=dict)  # named container ports


@dataclass(frozen=True)
class Address:
    ip: str


Peer = Pod | Address


def _matches(selector: Doc | None, labels: dict[str, str]) -> bool:
    wanted = (selector or {}).get("matchLabels", {})
    return wanted.items() <= labels.items()


def _peer_allowed(peers: list[Doc] | None, peer: Peer, policy_ns: str) -> bool:
    if not peers:  # an absent `from`/`to` means every peer
        return True
    return any(_one_peer(p, peer, policy_ns) for p in peers)


def _one_peer(rule: Doc, peer: Peer, policy_ns: str) -> bool:
    if "ipBlock" in rule:
        return isinstance(peer, Address) and ipaddress.ip_address(peer.ip) in ipaddress.ip_network(
            rule["ipBlock"]["cidr"]
        )
    if not isinstance(peer, Pod):
        return False
    if "namespaceSelector" in rule:
        ns_ok = _matches(rule["namespaceSelector"], {"kubernetes.io/metadata.name": peer.namespace})
    else:
        ns_ok = peer.namespace == policy_ns
    return ns_ok and _matches(rule.get("podSelector"), peer.labels)


def _port_allowed(ports: list[Doc] | None, port: int, target: Pod | None) -> bool:
    if not ports:
        return True
    named = target.ports if target else {}
    return any(p.get("port") in (port, *[n for n, v in named.items() if v == port]) for p in ports)


def _allows(
    policies: list[Doc], direction: str, subject: Pod, peer: Peer, port: int, target: Pod | None
) -> bool:
    key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", subject.namespace) == subject.namespace
        and _matches(p["spec"]["podSelector"], subject.labels)
        and direction in p["spec"]["policyTypes"]
    ]
    if not selecting:
        return True
    return any(
        _peer_allowed(rule.get(peer_key), peer, subject.namespace)
        and _port_allowed(rule.get("ports"), port, target)
        for p in selecting
        for rule in p["spec"].get(key, [])
    )


def connection_allowed(policies: list[Doc], source: Peer, dest: Peer, port: int) -> bool:
    """Egress from the source (if it is a pod here) and ingress to the destination both allow it."""
    egress = (
        _allows(policies, "Egress", source, dest, port, dest if isinstance(dest, Pod) else None)
        if isinstance(source, Pod)
        else True
    )
    ingress = (
        _allows(policies, "Ingress", dest, source, port, dest) if isinstance(dest, Pod) else True
    )
    return egress and ingress


def egress_allowed(policies: list[Doc], source: Pod, dest: Peer, port: int) -> bool:
    """The source's side only: for peers whose ingress others govern (Strimzi's own policies)."""
    return _allows(policies, "Egress", source, dest, port, dest if isinstance(dest, Pod) else None)
