"""Telephony's pages: the call recording and click-to-call in the deal card (calls.py), the
incoming call's pop-up (screen_pop.py)."""
