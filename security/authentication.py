"""API authentication: DRF's token scheme, with revoked tokens recognised and logged."""

from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed

from security import accounts
from security.requests import client_ip


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`. A key of a user who was cut off matches no token (it was
    deleted) and is refused as any unknown key is (401); its digest tells us whose it was, so
    the attempt is logged (security.accounts.log_refused_credential)."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            key = self._key(request)
            if key:
                accounts.token_refused(key, surface="api", ip=client_ip(request),
                                       path=request.path)
            raise

    @staticmethod
    def _key(request) -> str | None:
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"token":
            return None
        try:
            return parts[1].decode()
        except UnicodeError:
            return None
