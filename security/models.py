from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from security import roles


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    head = models.ForeignKey(
        "security.User",
        verbose_name=_("head"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="headed_teams",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A member of staff. The role is the user's group (see security.roles)."""

    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    phone_extension = models.CharField(_("PBX extension"), max_length=20, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]

    def __str__(self):
        return self.get_full_name() or self.username

    @cached_property
    def role(self) -> str | None:
        """The user's role; superusers act as admins. One role per user by design."""
        if self.is_superuser:
            return roles.ADMIN
        names = {g.name for g in self.groups.all()}
        for role in roles.ROLES[::-1]:  # the most privileged wins if several were set by hand
            if role in names:
                return role
        return None

    @property
    def role_label(self) -> str:
        return roles.ROLE_LABELS.get(self.role, _("No role"))

    @cached_property
    def headed_team_ids(self) -> list[int]:
        return list(self.headed_teams.values_list("id", flat=True))
