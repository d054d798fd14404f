"""Imported first by the bench scripts that measure Django itself (once the project is on
sys.path): settings as production runs them (DEBUG off), the test client's host allowed, the
embedded files in a throwaway folder; then django.setup()."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CRM_VAR_DIR", "/tmp/crm-bench-var")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("DEBUG", "0")  # measure what production runs

django.setup()
