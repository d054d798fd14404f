"""The inbox in the REST API v1: conversations and their messages (mounted by crm/api/urls.py
next to the CRM's resources)."""
