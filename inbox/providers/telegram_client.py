"""A thin httpx client of the Telegram Bot API, used by the Telegram provider.

The base URL is per channel (tests aim it at a local fake). Errors are classified here,
once: Telegram answers `{"ok": false, "error_code", "description", "parameters":
{"retry_after"}}`; 429 and 5xx are worth retrying (429 after `retry_after` seconds), any
other 4xx is not (403 "bot was blocked by the user", 400 "chat not found"...).
"""

import json

import httpx
from django.utils.translation import gettext as _

from inbox.providers.base import ProviderError, SendResult
from inbox.providers.http import FILE_TIMEOUT, TIMEOUT, ProviderHttp

DEFAULT_BASE_URL = "https://api.telegram.org"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class TelegramBotClient:
    def __init__(self, channel, *, transport: httpx.BaseTransport | None = None):
        self.base_url = (channel.api_base_url or DEFAULT_BASE_URL).rstrip("/")
        self.channel = channel
        self.token = channel.credentials
        self._transport = transport

    # --- Methods ---------------------------------------------------------------------------

    def send_message(self, chat_id, text: str, reply_to_message_id=None) -> int:
        if not text:
            raise ProviderError(_("The message is empty."), permanent=True)
        if len(text) > TEXT_LIMIT:
            # Refused rather than split: a split message could half-arrive and then retry.
            raise ProviderError(_("Telegram takes at most %(limit)s characters per message.")
                                % {"limit": TEXT_LIMIT}, permanent=True)
        body = {"chat_id": chat_id, "text": text}
        if reply_to_message_id:
            body["reply_parameters"] = {"message_id": int(reply_to_message_id),
                                        "allow_sending_without_reply": True}
        return self._call("sendMessage", json=body)["message_id"]

    def send_document(self, chat_id, name: str, content: bytes, mime: str,
                      caption: str = "") -> int:
        data = {"chat_id": str(chat_id)}
        if caption:
            data["caption"] = caption[:CAPTION_LIMIT]
        files = {"document": (name, content, mime or "application/octet-stream")}
        return self._call("sendDocument", data=data, files=files,
                          timeout=FILE_TIMEOUT)["message_id"]

    def get_file(self, file_id: str) -> str:
        return self._call("getFile", json={"file_id": file_id})["file_path"]

    def download(self, file_path: str) -> bytes:
        url = f"{self.base_url}/file/bot{self.token}/{file_path.lstrip('/')}"
        response = self._request("GET", url, timeout=FILE_TIMEOUT)
        if response.status_code != 200:
            raise self._error(response)
        return response.content

    def set_webhook(self, url: str, secret_token: str) -> bool:
        return self._call("setWebhook", json={"url": url, "secret_token": secret_token})

    # --- What TelegramProvider delegates (the provider interface's names) --------------------

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "") -> SendResult:
        # Our external ids are "<chat id>:<message id>".
        reply_to = reply_to_external_id.rpartition(":")[2] if reply_to_external_id else None
        message_id = self.send_message(to, text, reply_to_message_id=reply_to or None)
        return SendResult(external_id=f"{to}:{message_id}")

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "") -> SendResult:
        message_id = self.send_document(to, name, content, mime_type, caption)
        return SendResult(external_id=f"{to}:{message_id}")

    def fetch_media(self, file_id: str) -> bytes:
        return self.download(self.get_file(file_id))

    def setup_webhook(self, url: str) -> None:
        self.set_webhook(url, self.channel.webhook_secret)

    # --- Transport and errors --------------------------------------------------------------

    def _call(self, method: str, *, timeout=TIMEOUT, **kwargs):
        response = self._request("POST", f"{self.base_url}/bot{self.token}/{method}",
                                 timeout=timeout, **kwargs)
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if response.status_code == 200 and isinstance(payload, dict) and payload.get("ok"):
            return payload.get("result")
        raise self._error(response, payload)

    def _request(self, method: str, url: str, *, timeout, **kwargs) -> httpx.Response:
        # The URL carries the bot token: ProviderHttp never echoes it.
        return ProviderHttp("Telegram", transport=self._transport).request(
            method, url, timeout=timeout, **kwargs)

    @staticmethod
    def _error(response: httpx.Response, payload=None) -> ProviderError:
        if payload is None:
            try:
                payload = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                payload = {}
        if not isinstance(payload, dict):
            payload = {}
        code = payload.get("error_code") or response.status_code
        # Telegram's own description (in English) is kept after a sentence of ours.
        description = _("Telegram refused the request: %(description)s") % {
            "description": str(payload.get("description") or f"HTTP {response.status_code}")[:400]}
        parameters = payload.get("parameters") or {}
        if code == 429:
            retry_after = parameters.get("retry_after")
            return ProviderError(description, permanent=False, code=code,
                                 retry_after=float(retry_after) if retry_after else None)
        if code >= 500 or code < 400:
            return ProviderError(description, permanent=False, code=code)
        # 403 means the client blocked the bot (or deleted their account): unreachable.
        return ProviderError(description, permanent=True, code=code,
                             client_unreachable=code == 403)
