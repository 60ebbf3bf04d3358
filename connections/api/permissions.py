"""API permissions: Django's model permissions on connections, as the app's pages use them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView

# Per action of ConnectionViewSet: the permissions needed, any one of each inner tuple.
# Testing a saved connection records its status and history, so it needs change;
# testing typed values is part of creating or editing, so add or change will do.
ACTION_PERMISSIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "list": (("view_connection",),),
    "retrieve": (("view_connection",),),
    "events": (("view_connection",),),
    "create": (("add_connection",),),
    "update": (("change_connection",),),
    "partial_update": (("change_connection",),),
    "destroy": (("delete_connection",),),
    "test": (("change_connection",),),
    "test_values": (("add_connection", "change_connection"),),
}


class ConnectionPermissions(DjangoModelPermissions):
    """Require a signed-in user with the model permission the view's action needs.

    Views without an ``action`` (none yet) fall back to DRF's method map, with
    ``view_connection`` for reads.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        action: Any = getattr(view, "action", None)
        if action in ACTION_PERMISSIONS:
            return all(
                any(user.has_perm(f"connections.{codename}") for codename in alternatives)
                for alternatives in ACTION_PERMISSIONS[action]
            )
        return super().has_permission(request, view)
