"""URLs of the HTML UI. These paths are stable: people bookmark and share them."""

from django.contrib.auth import views as auth_views
from django.urls import path

from crm import views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("deals/", views.deal_list, name="deal_list"),
    path("deals/board/", views.deal_board, name="deal_board"),
    path("deals/new/", views.deal_create, name="deal_create"),
    path("deals/<int:pk>/", views.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/edit/", views.deal_edit, name="deal_edit"),
    path("deals/<int:pk>/move/", views.deal_move, name="deal_move"),
    path("deals/<int:pk>/status/", views.deal_status, name="deal_status"),
    path("deals/<int:pk>/notes/", views.deal_note_add, name="deal_note_add"),
    path("deals/<int:pk>/tasks/", views.deal_task_add, name="deal_task_add"),
    path("deals/<int:pk>/timeline/", views.deal_timeline, name="deal_timeline"),
    path(
        "deals/<int:pk>/timeline/<int:entry_id>/",
        views.deal_timeline_entry,
        name="deal_timeline_entry",
    ),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task_complete"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/notes/", views.contact_note_add, name="contact_note_add"),
    path("companies/", views.company_list, name="company_list"),
    path("companies/new/", views.company_create, name="company_create"),
    path("companies/<int:pk>/", views.company_detail, name="company_detail"),
    path("companies/<int:pk>/edit/", views.company_edit, name="company_edit"),
]
