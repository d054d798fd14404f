"""The inbox in the REST API v1: conversations and their messages (mounted under /api/v1/
by config/api_urls.py, next to the CRM's resources)."""
