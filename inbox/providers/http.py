"""The HTTP half every messenger client shares: one httpx request with short timeouts, a
network failure turned into a retryable ProviderError that never echoes the URL (some carry
a token), a JSON answer read without trusting it, and a download that stops at a size limit
instead of filling the worker's memory.
"""

import json
import logging
from contextlib import contextmanager

import httpx
from django.utils.translation import gettext as _

from inbox.providers.base import ProviderError

# httpx logs every request's URL at INFO, and some providers' URLs carry the token.
logging.getLogger("httpx").setLevel(logging.WARNING)
# Short: a worker waiting on a hung API holds up every other send.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
FILE_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class ProviderHttp:
    def __init__(self, name: str, *, transport: httpx.BaseTransport | None = None):
        self.name = name  # "WhatsApp", for the messages the manager reads
        self._transport = transport

    @contextmanager
    def _reaching(self):
        """A network failure as a retryable ProviderError (the URL, which may carry a token,
        never in it)."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ProviderError(_("%(provider)s did not answer in time (%(error)s).") % {
                "provider": self.name, "error": type(exc).__name__}, permanent=False) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(_("Could not reach %(provider)s (%(error)s).") % {
                "provider": self.name, "error": type(exc).__name__}, permanent=False) from exc

    def request(self, method: str, url: str, *, timeout=TIMEOUT, **kwargs) -> httpx.Response:
        with self._reaching(), httpx.Client(timeout=timeout,
                                            transport=self._transport) as client:
            return client.request(method, url, **kwargs)

    def download(self, url: str, *, max_bytes: int | None, **kwargs) -> bytes:
        """The body of a GET, refused (permanently) past `max_bytes` without reading on."""
        max_bytes = max_bytes if max_bytes is not None else float("inf")
        too_large = ProviderError(_("The file is larger than the limit and was not "
                                    "downloaded."), permanent=True)
        with self._reaching(), \
                httpx.Client(timeout=FILE_TIMEOUT, transport=self._transport) as client, \
                client.stream("GET", url, **kwargs) as response:
            if response.status_code != 200:
                response.read()
                raise self.refused(response)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                chunks.append(chunk)
            return b"".join(chunks)

    def refused(self, response: httpx.Response, detail: str = "", **kwargs) -> ProviderError:
        """The provider's refusal in a sentence of ours; 429 and 5xx are worth retrying,
        unless the caller says otherwise."""
        status = response.status_code
        kwargs.setdefault("permanent", not (status == 429 or status >= 500))
        kwargs.setdefault("code", status)
        return ProviderError(_("%(provider)s refused the request: %(detail)s") % {
            "provider": self.name, "detail": (detail or f"HTTP {status}")[:400]}, **kwargs)


def json_of(response: httpx.Response) -> dict:
    """The answer's JSON object, or {} when it is not one."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}

