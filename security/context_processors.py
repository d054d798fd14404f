from django.utils.functional import SimpleLazyObject

from security import roles, selectors


def role(request):
    user = getattr(request, "user", None)
    current = user.role if user is not None and user.is_authenticated else None
    console = current is not None and selectors.can_use_console(user)
    return {
        "user_role": current,
        "is_sales_head": current == roles.SALES_HEAD,
        "is_admin_role": current == roles.ADMIN,
        "is_security_console_user": console,
        # The nav's open-alerts badge; the query runs only when a page shows it.
        "open_alerts": SimpleLazyObject(lambda: selectors.open_alert_count(user))
        if console else 0,
    }
