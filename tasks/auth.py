"""Django's model backend, with a user's permissions read with the user: no query of their own."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat


def _permission_names(user_ref) -> QuerySet:
    """Return "app_label.codename" of every permission the user has, directly or by group."""
    return (
        Permission.objects.filter(Q(user=user_ref) | Q(group__user=user_ref))
        .annotate(perm_name=Concat(F("content_type__app_label"), Value("."), F("codename")))
        .values_list("perm_name", flat=True)
        .distinct()
    )


class OneQueryModelBackend(ModelBackend):
    """ModelBackend that loads a user and their permissions in one query.

    Every table and poll request of a plain user asks tasks/permissions.py whether
    they may see everyone's tasks. On PostgreSQL the request's user lookup brings the
    permissions along (an ARRAY subquery), so that costs no query; elsewhere it is one
    small query per request, cached on the user object as Django does.
    """

    def get_user(self, user_id):
        users = get_user_model()._default_manager.filter(pk=user_id)
        if connection.vendor == "postgresql":
            from django.contrib.postgres.expressions import ArraySubquery

            users = users.annotate(
                _permission_names=ArraySubquery(_permission_names(OuterRef("pk")))
            )
        user = users.first()
        if user is None or not self.user_can_authenticate(user):
            return None
        if hasattr(user, "_permission_names") and not user.is_superuser:
            user._perm_cache = set(user._permission_names)
        return user

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                names = Permission.objects.annotate(
                    perm_name=Concat(F("content_type__app_label"), Value("."), F("codename"))
                ).values_list("perm_name", flat=True)
            else:
                names = _permission_names(user_obj)
            user_obj._perm_cache = set(names)
        return user_obj._perm_cache
