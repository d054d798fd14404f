"""A client mail's HTML, shown in the deal card inside a sandboxed frame.

The HTML was sanitized when the mail was stored (inbox/providers/mail/html.py); here it is
served under a policy of its own that allows no script at all, no forms, no plugins, and
images from this origin only (a mail's inline images are its attachments): remote images load
only when the manager asks (`?images=1`), and tracking pixels were dropped at storage. The
frame's `sandbox` attribute and this response's `sandbox` directive both keep it from
touching the page around it. Who may: whoever may see the deal (404 for everyone else).
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_safe

from crm import selectors as crm_selectors
from inbox import selectors
from inbox.providers.mail import html as mail_markup
from security.audit import access_log
from security.audit.access_log import Action, Surface

_POLICY = ("default-src 'none'; img-src 'self' data:{remote}; style-src 'nonce-{nonce}'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
           "sandbox allow-popups allow-popups-to-escape-sandbox")
_PAGE = ('<!doctype html><html><head><meta charset="utf-8"><base target="_blank">'
         '<style nonce="{nonce}">body{{font:14px/1.45 system-ui,sans-serif;color:#1f2933;'
         'margin:8px;overflow-wrap:anywhere}}img{{max-width:100%;height:auto}}'
         'table{{max-width:100%}}</style><title>{title}</title></head><body>{body}</body></html>')


@login_required
@require_safe
@xframe_options_sameorigin
def mail_html(request, pk, message_id):
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    message = selectors.deal_message_get(deal=deal, pk=message_id)
    details = getattr(message, "mail", None)  # a missing one is an AttributeError too
    if details is None or not details.html:
        raise Http404
    images = request.GET.get("images") == "1"
    attachments = {a.provider_file_id: a.pk for a in message.attachments.all()}
    cid_urls = {cid: reverse("attachment_download", args=[deal.pk, attachments[part]])
                for cid, part in details.inline.items() if part in attachments}
    body = mail_markup.render(details.html, images=images, cid_urls=cid_urls)
    access_log.read(message, action=Action.VIEW, surface=Surface.HTML,
                    contact_id=deal.contact_id, detail={"deal": deal.pk, "mail": True})
    nonce = request.csp_nonce  # our own <style> only: the mail's styles were never kept
    response = HttpResponse(_PAGE.format(title=escape(details.subject), body=body,
                                         nonce=nonce))
    response["Content-Security-Policy"] = _POLICY.format(remote=" https:" if images else "",
                                                         nonce=nonce)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
