"""The consents' pages: a contact's consents (contact.py), the privacy center's public pages
(public.py), subject requests (requests.py) and sending privacy links (staff.py)."""
