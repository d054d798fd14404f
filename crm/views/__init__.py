"""The HTML UI: thin views that parse a form, call a selector or a service, and render.

Client data is read only through `crm.selectors` (an object the user may not see is a 404)
and written only through `crm.services`. State changes are POST-only. Forms posted by
`static/js/live.js` ask for JSON (`Accept: application/json`) and get the rendered timeline
entry back, so the deal card updates without a reload; without JavaScript the same views
answer with a redirect.
"""
