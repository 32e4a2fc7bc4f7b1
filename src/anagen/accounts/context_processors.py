from __future__ import annotations

from typing import Any

from anagen.accounts.roles import PERMISSIONS, Role, allowed
from anagen.core.http import ClinicRequest


def clinic_context(request: ClinicRequest) -> dict[str, Any]:
    role = getattr(request, "role", None)
    perms = {name: allowed(role, name) for name in PERMISSIONS}
    return {
        "active_clinic": getattr(request, "clinic", None),
        "active_role": Role(role) if role else None,
        "user_memberships": getattr(request, "memberships", []),
        "perms_here": perms,
    }
