from __future__ import annotations

from typing import Any

from anagen.accounts.roles import PERMISSIONS, Role, allowed
from anagen.core.http import ClinicRequest
from anagen.core.settings_pages import SETTINGS_PAGES, UNDER_SETTINGS_IN_MENU


def clinic_context(request: ClinicRequest) -> dict[str, Any]:
    role = getattr(request, "role", None)
    perms = {name: allowed(role, name) for name in PERMISSIONS}
    match = getattr(request, "resolver_match", None)
    return {
        # The Settings menu entry: shown where the index lists a page, current on its pages.
        "settings_in_menu": any(perms[permission] for permission, *_ in SETTINGS_PAGES),
        "settings_is_current": bool(match and match.view_name in UNDER_SETTINGS_IN_MENU),
        "active_clinic": getattr(request, "clinic", None),
        "active_role": Role(role) if role else None,
        "user_memberships": getattr(request, "memberships", []),
        "perms_here": perms,
    }
