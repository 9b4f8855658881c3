"""Who may do what, applied at the edge: token principal -> domain principal -> can_write/can_read.

Deny by default: an unknown feeder or role maps to a principal that domain.can_write refuses.
"""

from __future__ import annotations

from services.registry.domain import (
    Action,
    Feeder,
    Principal,
    Resource,
    Role,
    can_read,
    can_write,
)
from shared.auth import AuthPrincipal
from shared.ids import mask_resident_id
from shared.problems import Problem


def domain_principal(p: AuthPrincipal) -> Principal:
    feeder = Feeder(p.feeder) if p.feeder in Feeder.__members__.values() else None
    return Principal(role=Role(p.role), client_id=p.client_id, institution_id=p.institution_id,
                     feeder=feeder, districts=p.districts)


def ensure_write(p: AuthPrincipal, action: Action, resource: Resource, *, field: str | None = None) -> None:
    """403 naming the resource when the caller may not write it (domain.can_write decides)."""
    if not can_write(domain_principal(p), action, resource):
        raise Problem(403, "Forbidden", f"{p.role} client may not {action} this {resource.kind}",
                      field=field)


def may_write(p: AuthPrincipal, action: Action, resource: Resource) -> bool:
    return can_write(domain_principal(p), action, resource)


def ensure_read(p: AuthPrincipal, resource: Resource) -> None:
    if not can_read(domain_principal(p), resource):
        raise Problem(403, "Forbidden", f"{p.role} client may not read this {resource.kind}")


def shown_id(p: AuthPrincipal | None, resident_id: str) -> str:
    """The full ID only for a caller whose token carries the ID-viewing grant (PIPL)."""
    return resident_id if p is not None and p.may_see_ids else mask_resident_id(resident_id)
