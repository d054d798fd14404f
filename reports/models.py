from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DigestSent(models.Model):
    """A head's weekly digest of a team went out for this week (the Monday it was sent on, in
    the team's time zone): sent once, whatever the number of workers and beats."""

    team = models.ForeignKey("security.Team", on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("weekly digest sent")
        verbose_name_plural = _("weekly digests sent")
        constraints = [models.UniqueConstraint(fields=["team", "week"],
                                               name="digest_once_a_week")]

    def __str__(self):
        return f"{self.team_id} {self.week}"
