"""Serializers every app's API shares."""

from rest_framework import serializers


class UserRefSerializer(serializers.Serializer):
    """A colleague as other objects name them: their id and name."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="__str__", read_only=True)
