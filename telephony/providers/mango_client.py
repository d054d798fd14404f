"""A thin httpx client of the Mango Office VPBX API, used by the Mango provider.

Every request is a form POST of `vpbx_api_key`, `sign` and `json`, where
`sign = sha256_hex(vpbx_api_key + json + vpbx_api_salt)` over the exact json string sent.
The base URL is per account (tests aim it at a local fake, tests/telephony/fake_mango.py).

Errors are classified here, once: 429 (about 10 requests a second per account), 5xx and a
network failure may pass (429 after `Retry-After`), any other 4xx will not. Mango answers a
command with `{"result": <code>}`: 1xxx is success, 5xxx a failure on its side (retried),
anything else a refusal (permanent).

A recording is downloaded through a one-time link the API answers with (302): it is followed
once and never stored, logged or put in an error message.
"""

import hashlib
import json
import logging
from urllib.parse import urljoin

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from telephony.providers.base import ProviderError

DEFAULT_BASE_URL = "https://app.mango-office.ru/vpbx/"
# httpx logs every request's URL at INFO, httpcore the response headers (a redirect's
# Location) at DEBUG: a recording's one-time link is a credential.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
# A call recording of a few hours in mp3 stays well under this.
DEFAULT_MAX_RECORDING_BYTES = 100 * 1024 * 1024
RETRY_AFTER_MAX = 3600.0


def max_recording_bytes() -> int:
    return getattr(settings, "TELEPHONY_MAX_RECORDING_BYTES", DEFAULT_MAX_RECORDING_BYTES)


def encode(payload: dict) -> str:
    """The `json` field: compact, as Mango's own examples send it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def sign(api_key: str, json_text: str, api_salt: str) -> str:
    return hashlib.sha256(f"{api_key}{json_text}{api_salt}".encode()).hexdigest()


def signed_form(api_key: str, api_salt: str, payload: dict) -> dict:
    text = encode(payload)
    return {"vpbx_api_key": api_key, "sign": sign(api_key, text, api_salt), "json": text}


def normalize_mime(mime: str) -> str:
    mime = (mime or "").split(";")[0].strip().lower()
    # Mango says audio/mp3, which browsers know as audio/mpeg.
    return "audio/mpeg" if mime in ("audio/mp3", "audio/mpeg3", "audio/x-mp3", "") else mime


class TooLarge(Exception):
    pass


class MangoClient:
    def __init__(self, account, *, transport: httpx.BaseTransport | None = None):
        self.account = account
        base = account.api_base_url or DEFAULT_BASE_URL
        self.base_url = base if base.endswith("/") else base + "/"
        self._transport = transport

    # --- What MangoProvider delegates (the provider interface's names) ----------------------

    def start_callback(self, *, command_id: str, extension: str, to_number: str,
                       line_number: str = "") -> None:
        """Ask the PBX to ring `extension`, then dial `to_number` from `line_number` (a
        corporate line; the PBX's default when empty). The outcome comes later, to
        result/callback."""
        payload = {"command_id": str(command_id), "from": {"extension": str(extension)},
                   "to_number": to_number}
        if line_number:
            payload["line_number"] = line_number
        response = self._post("commands/callback", payload)
        self._check_result(response)

    def fetch_recording(self, recording_id: str) -> tuple[bytes, str]:
        """The recording's bytes and MIME type, through the one-time link."""
        response = self._post("queries/recording/post",
                              {"recording_id": recording_id, "action": "download"})
        if response.status_code == 200 and _is_audio(response):
            # Served directly rather than through a link: accepted as well.
            return self._capped(response.content), normalize_mime(
                response.headers.get("Content-Type", ""))
        if response.status_code not in (301, 302, 303, 307, 308):
            raise self._error(response)
        location = response.headers.get("Location")
        if not location:
            raise ProviderError(_("Mango answered a redirect without a link."), permanent=False)
        # Resolved against the API's URL, followed once, never kept.
        return self._download(urljoin(str(response.request.url), location))

    # --- Transport and errors --------------------------------------------------------------

    def _post(self, method: str, payload: dict) -> httpx.Response:
        form = signed_form(self.account.api_key, self.account.api_salt, payload)
        try:
            with httpx.Client(timeout=TIMEOUT, transport=self._transport,
                              follow_redirects=False) as client:
                response = client.post(self.base_url + method, data=form)
        except httpx.TimeoutException as exc:
            raise ProviderError(_("Mango did not answer in time (%(error)s).")
                                % {"error": type(exc).__name__}, permanent=False) from None
        except httpx.HTTPError as exc:
            raise ProviderError(_("Could not reach Mango (%(error)s).")
                                % {"error": type(exc).__name__}, permanent=False) from None
        if response.status_code == 429 or response.status_code >= 400:
            raise self._error(response)
        return response

    def _download(self, url: str) -> tuple[bytes, str]:
        limit = max_recording_bytes()
        try:
            with httpx.Client(timeout=DOWNLOAD_TIMEOUT, transport=self._transport,
                              follow_redirects=False) as client:
                with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        response.read()
                        error = self._error(response)
                        # A used or expired link: the next try asks for a fresh one.
                        if response.status_code in (403, 404, 410):
                            error = ProviderError(
                                _("The recording's download link was refused (HTTP %(status)s).")
                                % {"status": response.status_code}, permanent=False)
                        raise error
                    declared = int(response.headers.get("Content-Length") or 0)
                    if declared > limit:
                        raise TooLarge
                    chunks, size = [], 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise TooLarge
                        chunks.append(chunk)
                    mime = normalize_mime(response.headers.get("Content-Type", ""))
        except TooLarge:
            raise ProviderError(_("The recording is larger than %(limit)s bytes.")
                                % {"limit": limit}, permanent=True) from None
        except httpx.TimeoutException as exc:
            # Never echo the URL: the one-time link is a credential.
            raise ProviderError(_("The recording's download timed out (%(error)s).")
                                % {"error": type(exc).__name__}, permanent=False) from None
        except httpx.HTTPError as exc:
            raise ProviderError(_("Could not download the recording (%(error)s).")
                                % {"error": type(exc).__name__}, permanent=False) from None
        return b"".join(chunks), mime

    @staticmethod
    def _capped(data: bytes) -> bytes:
        limit = max_recording_bytes()
        if len(data) > limit:
            raise ProviderError(_("The recording is larger than %(limit)s bytes.")
                                % {"limit": limit}, permanent=True)
        return data

    @staticmethod
    def _check_result(response: httpx.Response) -> None:
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        code = payload.get("result") if isinstance(payload, dict) else None
        try:
            code = int(code) if code is not None else None
        except (TypeError, ValueError):
            code = None
        if code is None or 1000 <= code < 2000:
            return
        raise ProviderError(_("Mango refused the command (result %(code)s).") % {"code": code},
                            permanent=not 5000 <= code < 6000, code=code)

    @staticmethod
    def _error(response: httpx.Response) -> ProviderError:
        status = response.status_code
        if status == 429:
            return ProviderError(_("Mango: too many requests (HTTP 429)."), permanent=False,
                                 retry_after=_retry_after(response), code=status)
        if status >= 500 or status < 400:
            return ProviderError(_("Mango answered HTTP %(status)s.") % {"status": status},
                                 permanent=False, code=status)
        detail = ""
        try:
            payload = response.json()
            if isinstance(payload, dict) and payload.get("result") is not None:
                detail = _(", result %(result)s") % {"result": str(payload["result"])[:20]}
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        return ProviderError(_("Mango refused the request (HTTP %(status)s%(detail)s).")
                             % {"status": status, "detail": detail},
                             permanent=True, code=status)


def _is_audio(response: httpx.Response) -> bool:
    return response.headers.get("Content-Type", "").lower().startswith("audio/")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date, or nothing: our own backoff decides
    return min(max(seconds, 0.0), RETRY_AFTER_MAX) or None
