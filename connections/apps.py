from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Okendo connections"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        # Importing registers the system checks for the encryption keys.
        from connections import checks  # noqa: F401
        from connections.sqlite import install_unicode_lower

        connection_created.connect(install_unicode_lower, dispatch_uid="connections.unicode_lower")
