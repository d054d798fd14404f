from django.urls import path

from reports import views

urlpatterns = [
    path("team/", views.team_page, name="team_page"),
    path("team/records/", views.team_records, name="team_records"),
    path("team/live/", views.team_live, name="team_live"),
    path("team/funnel/", views.team_funnel, name="team_funnel"),
]
