"""Django's model backend, with a user's permissions read along with the user."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection, models
from django.db.models import F, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat

# Every "app_label.codename" the user holds, directly or through a group. Plain SQL:
# the ORM spelling (an OR across two many-to-many joins) cost ~2 ms to compile and
# plan on each request, more than the rest of a poll.
PERMISSION_NAMES = """ARRAY(
    SELECT ct.app_label || '.' || p.codename
    FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id
    WHERE p.id IN (
        SELECT up.permission_id FROM auth_user_user_permissions up
        WHERE up.user_id = auth_user.id
        UNION
        SELECT gp.permission_id FROM auth_group_permissions gp
        JOIN auth_user_groups ug ON ug.group_id = gp.group_id
        WHERE ug.user_id = auth_user.id
    )
)"""


class OneQueryModelBackend(ModelBackend):
    """ModelBackend that loads a user and their permissions in one query.

    Every table and poll request of a plain user asks tasks/permissions.py whether
    they may see everyone's tasks. On PostgreSQL (with Django's own user model) the
    request's user lookup brings the permissions along, so that costs no query of its
    own; elsewhere it is one query per request, cached on the user as Django does.
    """

    def get_user(self, user_id):
        User = get_user_model()
        users = User._default_manager.filter(pk=user_id)
        folded = connection.vendor == "postgresql" and User._meta.db_table == "auth_user"
        if folded:
            from django.contrib.postgres.fields import ArrayField

            names = RawSQL(PERMISSION_NAMES, (), output_field=ArrayField(models.TextField()))
            users = users.annotate(_permission_names=names)
        user = users.first()
        if user is None or not self.user_can_authenticate(user):
            return None
        if folded and not user.is_superuser:
            user._perm_cache = set(user._permission_names)
        return user

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            perms = Permission.objects.all()
            if not user_obj.is_superuser:
                perms = perms.filter(Q(user=user_obj) | Q(group__user=user_obj))
            names = perms.annotate(
                perm_name=Concat(F("content_type__app_label"), Value("."), F("codename"))
            ).values_list("perm_name", flat=True)
            user_obj._perm_cache = set(names.distinct())
        return user_obj._perm_cache
