package bulwark

import (
	"context"
	"encoding/json"
	"time"
)

// StoredPolicy is a custom policy document as kept by the store. Built-in
// policies are embedded in the binary and never stored.
type StoredPolicy struct {
	ID          int64
	Name        string // unique
	Version     string // the document's semantic version
	Description string
	// Document is the policy JSON, stored and returned byte for byte.
	Document  json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string
}

// PolicyStore keeps custom policies by name. CreatePolicy returns a
// CodeConflict error for a name in use; lookups return ErrNotFound.
type PolicyStore interface {
	CreatePolicy(ctx context.Context, p *StoredPolicy) error // sets ID, CreatedAt, UpdatedAt
	GetPolicy(ctx context.Context, name string) (*StoredPolicy, error)
	ListPolicies(ctx context.Context) ([]*StoredPolicy, error) // ordered by name
	// UpdatePolicy replaces version, description, document and updated_by of
	// the policy named p.Name, and sets p.UpdatedAt. It is optimistic: when
	// the stored UpdatedAt is no longer ifUpdatedAt (someone else changed
	// it meanwhile) it returns a CodeConflict error and changes nothing.
	UpdatePolicy(ctx context.Context, p *StoredPolicy, ifUpdatedAt time.Time) error
	DeletePolicy(ctx context.Context, name string) error
}
