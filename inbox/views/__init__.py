"""The inbox's pages: the conversations and the deal card's conversation panel, file
downloads, campaigns, and the website chat's public endpoints (widget.py)."""
