"""URLs of the HTML UI. These paths are stable: people bookmark and share them."""

from django.contrib.auth import views as auth_views
from django.urls import path

from crm.views import companies, contacts, deals, mentions, reveal, sharing, tasks

urlpatterns = [
    path("", deals.home, name="home"),
    path(
        "login/",
        deals.LoginView.as_view(),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("deals/", deals.deal_list, name="deal_list"),
    path("deals/board/", deals.deal_board, name="deal_board"),
    path("deals/new/", deals.deal_create, name="deal_create"),
    path("deals/<int:pk>/", deals.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/edit/", deals.deal_edit, name="deal_edit"),
    path("deals/<int:pk>/move/", deals.deal_move, name="deal_move"),
    path("deals/<int:pk>/status/", deals.deal_status, name="deal_status"),
    path("deals/<int:pk>/notes/", deals.deal_note_add, name="deal_note_add"),
    path("deals/<int:pk>/tasks/", deals.deal_task_add, name="deal_task_add"),
    path("deals/<int:pk>/timeline/", deals.deal_timeline, name="deal_timeline"),
    path("deals/<int:pk>/mentions/", mentions.deal_mention_candidates,
         name="deal_mention_candidates"),
    path(
        "deals/<int:pk>/timeline/<int:entry_id>/",
        deals.deal_timeline_entry,
        name="deal_timeline_entry",
    ),
    path("deals/<int:pk>/shares/", sharing.deal_shares, name="deal_shares"),
    path("deals/<int:pk>/shares/<int:user_id>/revoke/", sharing.deal_share_revoke,
         name="deal_share_revoke"),
    path("tasks/", tasks.task_list, name="task_list"),
    path("tasks/team/", tasks.team_task_list, name="team_task_list"),
    path("tasks/<int:pk>/complete/", tasks.task_complete, name="task_complete"),
    path("mentions/", mentions.mention_list, name="mention_list"),
    path("contacts/", contacts.contact_list, name="contact_list"),
    path("contacts/new/", contacts.contact_create, name="contact_create"),
    path("contacts/<int:pk>/", contacts.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", contacts.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/notes/", contacts.contact_note_add, name="contact_note_add"),
    path("contacts/<int:pk>/merge/<int:other>/", contacts.contact_merge, name="contact_merge"),
    path("contacts/<int:pk>/merges/<int:merge_id>/undo/", contacts.contact_merge_undo,
         name="contact_merge_undo"),
    # A masked phone or e-mail shown in full, with a reason (security.reveal: logged, capped).
    path("contacts/<int:pk>/points/<int:point_id>/reveal/", reveal.contact_point_reveal,
         name="contact_point_reveal"),
    path("companies/", companies.company_list, name="company_list"),
    path("companies/new/", companies.company_create, name="company_create"),
    path("companies/<int:pk>/", companies.company_detail, name="company_detail"),
    path("companies/<int:pk>/edit/", companies.company_edit, name="company_edit"),
]
