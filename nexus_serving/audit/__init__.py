"""The decision audit log: every new decision durable before it is answered.

``log`` (the writer: group commit, spool forwarding), ``record`` (what a decision hands it),
``sinks`` (SQLite or PostgreSQL), ``spool`` (local durable files while the store is down).
"""

from nexus_serving.audit.log import AuditLog, open_audit_log
from nexus_serving.audit.record import AuditRecord, AuditUnavailableError, AuditWriteError, to_row

__all__ = ["AuditLog", "AuditRecord", "AuditUnavailableError", "AuditWriteError", "open_audit_log", "to_row"]
