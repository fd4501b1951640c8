from django.contrib.auth.backends import ModelBackend


class HostBackend(ModelBackend):
    """The host's own backend, so a test can tell it is the one Django used."""
