from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from security.requests import client_ip, wants_json
from security.reveal import RevealLimitReached, point_reveal


@login_required
@require_POST
def contact_point_reveal(request, pk, point_id):
    contact = selectors.contact_get(user=request.user, pk=pk)
    json_wanted = wants_json(request)
    try:
        value = point_reveal(
            user=request.user, contact=contact, point_id=point_id,
            reason=request.POST.get("reason", ""), ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except ValidationError as e:
        error, status = " ".join(e.messages), 400
    except RevealLimitReached as e:
        error, status = _("Too many values revealed in the last hour. Try again later."), 429
        if json_wanted:
            response = JsonResponse({"error": error}, status=status)
            response["Retry-After"] = str(e.retry_after)
            return response
    else:
        if json_wanted:
            return JsonResponse({"value": value})
        return render(request, "security/revealed.html", {"contact": contact, "value": value})
    if json_wanted:
        return JsonResponse({"error": error}, status=status)
    return render(request, "security/revealed.html",
                  {"contact": contact, "error": error}, status=status)
