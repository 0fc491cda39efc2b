// Package auth owns admin-console authentication: password hashing, sessions, personal API tokens, login throttling and role checks.
package auth
