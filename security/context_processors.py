from security import roles


def role(request):
    user = getattr(request, "user", None)
    current = user.role if user is not None and user.is_authenticated else None
    return {
        "user_role": current,
        "is_sales_head": current == roles.SALES_HEAD,
        "is_admin_role": current == roles.ADMIN,
    }
