from celery import shared_task

from crm.sharing import shares_delete_expired


@shared_task(name="crm.delete_expired_deal_shares")
def delete_expired_deal_shares() -> int:
    """Expired shares already grant nothing; delete them and tell the colleagues' sockets."""
    return shares_delete_expired()
