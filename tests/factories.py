"""Builders for test data. They go through the services, as the product does."""

import itertools

from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from crm import services
from crm.models import Stage
from security.models import Team, User

_seq = itertools.count(1)


def make_user(username: str, role: str, team: Team | None = None, **fields) -> User:
    user = User.objects.create_user(
        username=username, password="pw", team=team, first_name=username.title(), **fields
    )
    user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # fresh instance: no stale cached role


def make_contact(owner: User, *, name: str | None = None, phones=(), emails=(), **fields):
    return services.contact_create(
        by=owner, name=name or f"Клиент {next(_seq)}", phones=list(phones),
        emails=list(emails), **fields,
    )


def make_deal(owner: User, *, title: str | None = None, contact=None, **fields):
    return services.deal_create(
        by=owner, title=title or f"Сделка {next(_seq)}", contact=contact, **fields
    )


def stage(position: int) -> Stage:
    return Stage.objects.filter(pipeline__is_default=True).order_by("position")[position]


def client_for(user) -> Client:
    """A browser of `user`'s, logged in."""
    client = Client()
    client.force_login(user)
    return client


def api_for(user) -> APIClient:
    """An API client of `user`'s, authenticated."""
    client = APIClient()
    client.force_authenticate(user)
    return client
