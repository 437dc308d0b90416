"""Getting CRM data in: file imports (CSV/XLSX exports) and API syncs (Salesforce, HubSpot).

Every path ends in the same place: a canonical pandas frame per object, validated as a whole
(all or nothing), diffed against what is stored (change history), and written with bulk
statements in one transaction, with a `sync_runs` row recording what happened.
"""
