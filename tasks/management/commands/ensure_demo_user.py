from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tasks.demo import demo_credentials


class Command(BaseCommand):
    help = "Create the demo account (if missing) and print how to log in."

    def handle(self, *args, **options) -> None:
        username, password = demo_credentials()
        User = get_user_model()
        user, created = User.objects.get_or_create(**{User.USERNAME_FIELD: username})
        if created:
            user.is_staff = True
            user.is_superuser = True
            user.set_password(password)
            user.save()
            self.stdout.write(f"Created the demo account: {username} / {password}")
        else:
            self.stdout.write(f"Log in as {username} (password {password}, unless you changed it)")
