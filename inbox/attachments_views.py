"""The download of a message's file from the deal card.

Who may: whoever may see the deal (crm.selectors.deal_get; everyone else gets 404), and only
a file of that deal's conversations. What they get: the decrypted bytes as a download that a
browser will not run: Content-Disposition attachment, the stored MIME type only for images,
audio, video and PDF (application/octet-stream otherwise), nosniff, a sandboxing CSP, and no
caching anywhere. A single byte range is served (206) so audio and video can be sought.

A file not fetched from the messenger yet, or that could not be, answers 404 (there is no
file at this address) with a page that says which of the two and why.
"""

import re

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from crm import selectors as crm_selectors
from inbox import attachments, selectors

CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self'; media-src 'self'; "
                           "style-src 'unsafe-inline'; sandbox")
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def _byte_range(request, size: int, etag: str) -> tuple[int, int] | None | bool:
    """(first, last) of a satisfiable single range; None to answer the whole file (no
    Range, several ranges, a malformed one, or an If-Range that no longer matches); False
    when the range starts past the end (416)."""
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range and if_range.strip() != etag:
        return None
    match = _RANGE.match(header)
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:  # the last N bytes
        suffix = int(match[2])
        if suffix == 0:
            return False
        return max(size - suffix, 0), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if first >= size:
        return False
    if last < first:
        return None
    return first, min(last, size - 1)


def _headers(response: HttpResponse, attachment, etag: str) -> HttpResponse:
    response["Content-Disposition"] = content_disposition_header(
        True, attachments.safe_name(attachment.name, default=attachment.kind or "file"))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "private, no-store"
    response["Accept-Ranges"] = "bytes"
    if etag:
        response["ETag"] = etag
    return response


@login_required
@require_safe
def attachment_download(request, pk, attachment_id):
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    attachment = selectors.deal_attachment_get(deal=deal, pk=attachment_id)
    try:
        data = attachments.open_decrypted(attachment)
    except attachments.AttachmentUnavailable:
        return render(request, "inbox/attachment_unavailable.html",
                      {"deal": deal, "attachment": attachment}, status=404)
    etag = f'"{attachment.sha256}"' if attachment.sha256 else ""
    content_type = attachments.safe_content_type(attachment.mime_type)
    wanted = _byte_range(request, len(data), etag)
    if wanted is False:
        response = HttpResponse(status=416, content_type=content_type)
        response["Content-Range"] = f"bytes */{len(data)}"
    elif wanted is None:
        response = HttpResponse(data, content_type=content_type)
    else:
        first, last = wanted
        response = HttpResponse(data[first:last + 1], content_type=content_type, status=206)
        response["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    return _headers(response, attachment, etag)
