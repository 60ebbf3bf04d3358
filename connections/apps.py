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
        self._connect_version_receivers()

    @staticmethod
    def _connect_version_receivers() -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group, Permission
        from django.contrib.sessions.models import Session
        from django.core.signals import request_finished, request_started
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from connections import signin_cache, versions

        request_started.connect(versions.request_started, dispatch_uid="connections.versions")
        request_finished.connect(versions.request_finished, dispatch_uid="connections.versions")
        user_model = get_user_model()
        # Whatever decides who is signed in and what they may do changes the
        # sign-in token in the same transaction (see connections.signin_cache).
        for model in (Session, user_model, Group, Permission):
            post_save.connect(
                signin_cache.sign_in_changed, sender=model, dispatch_uid=f"signin.save.{model}"
            )
        for model in (user_model, Group, Permission):
            post_delete.connect(
                signin_cache.sign_in_changed, sender=model, dispatch_uid=f"signin.delete.{model}"
            )
        post_delete.connect(
            signin_cache.session_deleted, sender=Session, dispatch_uid="signin.delete.session"
        )
        for through in (
            user_model.groups.through,
            user_model.user_permissions.through,
            Group.permissions.through,
        ):
            m2m_changed.connect(
                signin_cache.links_changed, sender=through, dispatch_uid=f"signin.links.{through}"
            )
