package bulwark

import "unicode/utf8"

// Settings are the operator-editable, instance-wide settings kept in the
// database (as opposed to start-up configuration, which lives in flags,
// environment and the config file).
type Settings struct {
	OrganizationName   string `json:"organization_name"`
	AuditRetentionDays int    `json:"audit_retention_days"` // 0 keeps audit records forever
	// RequestRetentionDays bounds the gateway's request log; 0 keeps it forever.
	RequestRetentionDays int `json:"request_retention_days"`
	// EventRetentionDays bounds stored events and their finished or
	// dead-lettered deliveries (never a pending one); 0 keeps them forever.
	EventRetentionDays int `json:"event_retention_days"`
	// AlertRetentionDays bounds resolved and false-positive alerts (open
	// alerts are kept); 0 keeps them forever.
	AlertRetentionDays int `json:"alert_retention_days"`
	SessionIdleMinutes int `json:"session_idle_minutes"` // a session unused this long ends
	LoginMaxFailures   int `json:"login_max_failures"`   // failures before an account locks
	LoginLockoutMins   int `json:"login_lockout_minutes"`
}

// DefaultSettings are used for every key not stored yet.
func DefaultSettings() Settings {
	return Settings{
		OrganizationName:     "",
		AuditRetentionDays:   365,
		RequestRetentionDays: 90,
		EventRetentionDays:   90,
		AlertRetentionDays:   365,
		SessionIdleMinutes:   60,
		LoginMaxFailures:     5,
		LoginLockoutMins:     15,
	}
}

// Validate checks every setting's range.
func (s *Settings) Validate() error {
	var fe []FieldError
	if utf8.RuneCountInString(s.OrganizationName) > 128 || hasControl(s.OrganizationName) {
		fe = append(fe, FieldError{"organization_name", "must be at most 128 characters on one line"})
	}
	if s.AuditRetentionDays < 0 || s.AuditRetentionDays > 3650 {
		fe = append(fe, FieldError{"audit_retention_days", "must be between 0 (keep forever) and 3650"})
	}
	if s.RequestRetentionDays < 0 || s.RequestRetentionDays > 3650 {
		fe = append(fe, FieldError{"request_retention_days", "must be between 0 (keep forever) and 3650"})
	}
	if s.EventRetentionDays < 0 || s.EventRetentionDays > 3650 {
		fe = append(fe, FieldError{"event_retention_days", "must be between 0 (keep forever) and 3650"})
	}
	if s.AlertRetentionDays < 0 || s.AlertRetentionDays > 3650 {
		fe = append(fe, FieldError{"alert_retention_days", "must be between 0 (keep forever) and 3650"})
	}
	if s.SessionIdleMinutes < 5 || s.SessionIdleMinutes > 10080 {
		fe = append(fe, FieldError{"session_idle_minutes", "must be between 5 and 10080 (one week)"})
	}
	if s.LoginMaxFailures < 3 || s.LoginMaxFailures > 100 {
		fe = append(fe, FieldError{"login_max_failures", "must be between 3 and 100"})
	}
	if s.LoginLockoutMins < 1 || s.LoginLockoutMins > 1440 {
		fe = append(fe, FieldError{"login_lockout_minutes", "must be between 1 and 1440"})
	}
	return ValidationError(fe)
}
