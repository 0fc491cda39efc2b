package api

// AuditAction is exported for the external tests.
var AuditAction = auditAction
