"""Who read and changed what, and what looks wrong: the hash-chained access log and change log
(access_log, change_log, audit_chain), the anomaly rules and their sliding windows (rules,
windows), the alerts they raise (alerts), incidents with their evidence and containment
(incidents, evidence, containment)."""
