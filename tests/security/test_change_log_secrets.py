"""No encrypted field reaches the change log: a model registered with auditlog keeps every
EncryptedTextField (tokens, secrets, phone numbers) out of its entries. A field added to a
registered model without its exclusion fails here, as the channel's handshake secret would
have."""

from auditlog.registry import auditlog

from core.fields import EncryptedTextField


def test_every_encrypted_field_of_a_logged_model_is_excluded():
    leaks = []
    for model in auditlog.get_models():
        options = auditlog._registry[model]
        excluded = set(options.get("exclude_fields") or [])
        included = set(options.get("include_fields") or [])
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedTextField):
                continue
            logged = field.name in included if included else field.name not in excluded
            if logged:
                leaks.append(f"{model._meta.label}.{field.name}")
    assert leaks == []
