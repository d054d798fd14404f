"""The download of a message's file from the deal card.

Who may: whoever may see the deal (crm.selectors.deal_get; everyone else gets 404), and only
a file of that deal's conversations. What they get: the decrypted bytes as a download that a
browser will not run: Content-Disposition attachment, the stored MIME type only for images,
audio, video and PDF (application/octet-stream otherwise), nosniff, a sandboxing CSP, and no
caching anywhere. A single byte range is served (206) so audio and video can be sought.

A file not fetched from the messenger yet, or that could not be, answers 404 (there is no
file at this address) with a page that says which of the two and why.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from crm import selectors as crm_selectors
from inbox import attachments, selectors
from security import files
from security.audit import access_log
from security.audit.access_log import Action, Surface

CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self'; media-src 'self'; "
                           "style-src 'unsafe-inline'; sandbox")


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
    access_log.read(attachment, action=Action.DOWNLOAD, surface=Surface.FILE,
                    contact_id=deal.contact_id, detail={"deal": deal.pk})
    etag = f'"{attachment.sha256}"' if attachment.sha256 else ""
    content_type = attachments.safe_content_type(attachment.mime_type)
    response, _served = files.ranged_response(request, data, content_type=content_type,
                                              etag=etag)
    return _headers(response, attachment, etag)
