from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Okendo connections"

    def ready(self) -> None:
        # Importing registers the system checks for the encryption keys.
        from connections import checks  # noqa: F401
