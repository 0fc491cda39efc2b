package api

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// GroupBudget is a group's position in its current budget period.
type GroupBudget struct {
	BudgetUSD    float64   `json:"budget_usd"`
	SpentUSD     float64   `json:"spent_usd" doc:"Recorded spend in the period"`
	ReservedUSD  float64   `json:"reserved_usd" doc:"Estimated cost of requests in flight"`
	RemainingUSD float64   `json:"remaining_usd" doc:"Budget minus spend, at least 0"`
	Utilization  float64   `json:"utilization" doc:"Spend divided by budget (1 = used up; may exceed 1)"`
	PeriodStart  time.Time `json:"period_start" doc:"Start of the period: the first of the month, or the last manual reset"`
	ResetsAt     time.Time `json:"resets_at" doc:"When the next period starts"`
}

// Group is a team of gateway clients.
type Group struct {
	ID                int64        `json:"id"`
	Name              string       `json:"name"`
	Description       string       `json:"description"`
	Proxies           []string     `json:"proxies" doc:"Proxies the group may use; \"*\" allows all"`
	RequestsPerMinute int          `json:"requests_per_minute" doc:"0: unlimited"`
	TokensPerMinute   int          `json:"tokens_per_minute" doc:"0: unlimited"`
	BudgetUSD         float64      `json:"budget_usd" doc:"Monthly budget; 0: none"`
	BudgetWarnPercent int          `json:"budget_warn_percent"`
	BudgetAction      string       `json:"budget_action" enum:"block,warn"`
	BudgetResetAt     *time.Time   `json:"budget_reset_at,omitempty" doc:"Last manual budget reset"`
	ActiveKeys        int          `json:"active_keys" doc:"Keys that are neither revoked nor expired"`
	CreatedAt         time.Time    `json:"created_at"`
	UpdatedAt         time.Time    `json:"updated_at" doc:"Version of the group; send it back with PUT to refuse overwriting someone else's change"`
	UpdatedBy         string       `json:"updated_by,omitempty"`
	Budget            *GroupBudget `json:"budget,omitempty" doc:"Budget status; absent when the group has no budget"`
}

// GroupSettings are the settable fields of a group.
type GroupSettings struct {
	Name              string   `json:"name" maxLength:"63" doc:"Unique name: lower-case letters, digits and inner hyphens"`
	Description       string   `json:"description,omitempty" maxLength:"1024"`
	Proxies           []string `json:"proxies,omitempty" maxItems:"256" doc:"Proxy names the group may use; \"*\" allows all; empty: none"`
	RequestsPerMinute int      `json:"requests_per_minute,omitempty" minimum:"0" doc:"Requests per minute for the whole group; 0: unlimited"`
	TokensPerMinute   int      `json:"tokens_per_minute,omitempty" minimum:"0" doc:"Tokens per minute for the whole group; 0: unlimited"`
	BudgetUSD         float64  `json:"budget_usd,omitempty" minimum:"0" maximum:"1000000000" doc:"Monthly budget in USD; 0: none"`
	BudgetWarnPercent *int     `json:"budget_warn_percent,omitempty" minimum:"0" maximum:"100" doc:"Warn once spend crosses this share of the budget (default 80 on create; kept when omitted on update; 0: no warning)"`
	BudgetAction      string   `json:"budget_action,omitempty" enum:"block,warn" doc:"What a spent budget does: block (HTTP 402) or warn (default block on create; kept when omitted on update)"`
}

type groupCreateInput struct {
	Body GroupSettings
}

type groupUpdateInput struct {
	ID   int64 `path:"id" minimum:"1"`
	Body struct {
		GroupSettings
		UpdatedAt *time.Time `json:"updated_at,omitempty" doc:"updated_at from GET; the update is refused with 409 when the group changed since"`
	}
}

type groupIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Group id"`
}

type groupListOutput struct {
	Body struct {
		Items []Group `json:"items"`
		Total int     `json:"total"`
	}
}

type groupOutput struct {
	Body Group
}

// GatewayKey is a client's key for the proxies of its group, as the API
// shows it: never the secret or its hash.
type GatewayKey struct {
	ID                int64      `json:"id"`
	GroupID           int64      `json:"group_id"`
	Name              string     `json:"name"`
	Prefix            string     `json:"prefix" doc:"First characters of the key, to tell keys apart"`
	User              string     `json:"user,omitempty"`
	UserEmail         string     `json:"user_email,omitempty"`
	RequestsPerMinute int        `json:"requests_per_minute"`
	TokensPerMinute   int        `json:"tokens_per_minute"`
	ExpiresAt         *time.Time `json:"expires_at,omitempty"`
	RevokedAt         *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt        *time.Time `json:"last_used_at,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
	CreatedBy         string     `json:"created_by,omitempty"`
	Active            bool       `json:"active"`
}

type gatewayKeyListOutput struct {
	Body struct {
		Items []GatewayKey `json:"items"`
		Total int          `json:"total"`
	}
}

type gatewayKeyCreateInput struct {
	ID   int64 `path:"id" minimum:"1" doc:"Group id"`
	Body struct {
		Name              string     `json:"name" minLength:"1" maxLength:"100" doc:"What or whom the key is for"`
		User              string     `json:"user,omitempty" maxLength:"128" doc:"Person or service behind the key (usage records, system prompt variable User)"`
		UserEmail         string     `json:"user_email,omitempty" maxLength:"254"`
		RequestsPerMinute int        `json:"requests_per_minute,omitempty" minimum:"0" doc:"0: only the group's limit applies"`
		TokensPerMinute   int        `json:"tokens_per_minute,omitempty" minimum:"0" doc:"0: only the group's limit applies"`
		ExpiresAt         *time.Time `json:"expires_at,omitempty" doc:"When the key stops working (RFC 3339); omitted: never"`
	}
}

type gatewayKeyCreatedOutput struct {
	Body struct {
		Key        string     `json:"key" doc:"The secret key (bgk_…), shown only in this response; clients send it as Authorization: Bearer <key>, x-api-key or api-key"`
		GatewayKey GatewayKey `json:"gateway_key"`
	}
}

type gatewayKeyIDInput struct {
	ID    int64 `path:"id" minimum:"1" doc:"Group id"`
	KeyID int64 `path:"key_id" minimum:"1" doc:"Key id"`
}

func toGatewayKey(k *bulwark.GatewayKey, now time.Time) GatewayKey {
	return GatewayKey{ID: k.ID, GroupID: k.GroupID, Name: k.Name, Prefix: k.Prefix, User: k.User, UserEmail: k.UserEmail,
		RequestsPerMinute: k.RequestsPerMinute, TokensPerMinute: k.TokensPerMinute, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		LastUsedAt: k.LastUsedAt, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, Active: k.Active(now)}
}

// groupBudget returns the group's budget position, or nil when it has no budget.
func (s *Server) groupBudget(ctx context.Context, st bulwark.GatewayStore, g *bulwark.Group) (*GroupBudget, error) {
	if g.BudgetUSD <= 0 {
		return nil, nil
	}
	now := s.now()
	var pos GatewayBudget
	if s.o.Gateway != nil {
		var err error
		if pos, err = s.o.Gateway.BudgetStatus(ctx, g); err != nil {
			return nil, err
		}
	} else {
		// No gateway here: the recorded spend of the current UTC month.
		t := now.UTC()
		pos.Period = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		if g.BudgetResetAt != nil && g.BudgetResetAt.After(pos.Period) && !g.BudgetResetAt.After(now) {
			pos.Period = g.BudgetResetAt.UTC()
		}
		spent, err := st.GroupSpend(ctx, g.ID, pos.Period)
		if err != nil {
			return nil, err
		}
		pos.Spent = spent
	}
	if pos.ResetsAt.IsZero() {
		t := now.UTC()
		pos.ResetsAt = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &GroupBudget{
		BudgetUSD: g.BudgetUSD, SpentUSD: pos.Spent, ReservedUSD: pos.Reserved,
		RemainingUSD: math.Max(0, g.BudgetUSD-pos.Spent), Utilization: pos.Spent / g.BudgetUSD,
		PeriodStart: pos.Period, ResetsAt: pos.ResetsAt,
	}, nil
}

func (s *Server) toGroup(ctx context.Context, st bulwark.GatewayStore, g *bulwark.Group, activeKeys int) (Group, error) {
	out := Group{
		ID: g.ID, Name: g.Name, Description: g.Description, Proxies: nonNil(g.Proxies), RequestsPerMinute: g.RequestsPerMinute,
		TokensPerMinute: g.TokensPerMinute, BudgetUSD: g.BudgetUSD, BudgetWarnPercent: g.BudgetWarnPercent,
		BudgetAction: string(g.BudgetAction), BudgetResetAt: g.BudgetResetAt, ActiveKeys: activeKeys,
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, UpdatedBy: g.UpdatedBy,
	}
	var err error
	out.Budget, err = s.groupBudget(ctx, st, g)
	return out, err
}

// groupDetail reads the group's keys and budget and returns it.
func (s *Server) groupDetail(ctx context.Context, st bulwark.GatewayStore, g *bulwark.Group) (*groupOutput, error) {
	keys, err := st.ListGatewayKeys(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	active := 0
	for _, k := range keys {
		if k.Active(now) {
			active++
		}
	}
	out, err := s.toGroup(ctx, st, g, active)
	if err != nil {
		return nil, err
	}
	return &groupOutput{Body: out}, nil
}

// getGroup reads a group, with a not-found message naming the id.
func getGroup(ctx context.Context, st bulwark.GatewayStore, id int64) (*bulwark.Group, error) {
	g, err := st.GetGroup(ctx, id)
	if bulwark.IsNotFound(err) {
		return nil, bulwark.Errorf(bulwark.CodeNotFound, "no group with id %d", id)
	}
	return g, err
}

// checkGroup validates g and checks that the proxies it names exist.
func checkGroup(ctx context.Context, st bulwark.GatewayStore, g *bulwark.Group) error {
	fe, err := fieldErrors(g.Validate())
	if err != nil {
		return err
	}
	known, err := proxyNames(ctx, st)
	if err != nil {
		return err
	}
	fe = append(fe, checkNames("proxies", "proxy", g.Proxies, known, true)...)
	return bulwark.ValidationError(fe)
}

func groupAuditDetails(g *bulwark.Group) map[string]any {
	return map[string]any{
		"name": g.Name, "proxies": nonNil(g.Proxies), "requests_per_minute": g.RequestsPerMinute, "tokens_per_minute": g.TokensPerMinute,
		"budget_usd": g.BudgetUSD, "budget_warn_percent": g.BudgetWarnPercent, "budget_action": g.BudgetAction,
	}
}

func (s *Server) groupRoutes() {
	tags := []string{"Groups"}

	register(s, huma.Operation{
		OperationID: "groups.list", Method: http.MethodGet, Path: "/groups", Tags: tags, Summary: "List groups",
		Description: "Every client group, ordered by name, with its number of active keys and its budget status.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*groupListOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		list, err := st.ListGroups(ctx)
		if err != nil {
			return nil, err
		}
		keys, err := st.ListGatewayKeys(ctx, 0)
		if err != nil {
			return nil, err
		}
		now := s.now()
		active := map[int64]int{}
		for _, k := range keys {
			if k.Active(now) {
				active[k.GroupID]++
			}
		}
		out := &groupListOutput{}
		out.Body.Items = make([]Group, 0, len(list))
		for _, g := range list {
			item, err := s.toGroup(ctx, st, g, active[g.ID])
			if err != nil {
				return nil, err
			}
			out.Body.Items = append(out.Body.Items, item)
		}
		out.Body.Total = len(list)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "groups.get", Method: http.MethodGet, Path: "/groups/{id}", Tags: tags, Summary: "Show a group",
		Description: "The group with its budget status: budget, spend, reservations in flight, remaining, utilization, period start and next reset.",
		Errors:      []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *groupIDInput) (*groupOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		g, err := getGroup(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		return s.groupDetail(ctx, st, g)
	})

	register(s, huma.Operation{
		OperationID: "groups.create", Method: http.MethodPost, Path: "/groups", Tags: tags, Summary: "Create a group",
		Description:   "The proxies it names must exist. Audited as group.create.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *groupCreateInput) (*groupOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		g := &bulwark.Group{BudgetWarnPercent: 80, BudgetAction: bulwark.BudgetBlock, UpdatedBy: pr.User.Username}
		groupFromFields(g, &in.Body)
		if err := checkGroup(ctx, st, g); err != nil {
			return nil, err
		}
		if err := st.CreateGroup(ctx, g); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "group.create", "group", idString(g.ID), bulwark.ResultSuccess, groupAuditDetails(g))
		s.keysChanged(g.ID)
		return s.groupDetail(ctx, st, g)
	})

	register(s, huma.Operation{
		OperationID: "groups.update", Method: http.MethodPut, Path: "/groups/{id}", Tags: tags, Summary: "Replace a group",
		Description: "Replaces every field; budget_warn_percent and budget_action keep their stored values when omitted. " +
			"Send updated_at from GET to refuse the update (409) when someone changed the group meanwhile. " +
			"System prompts name groups by name: renaming a group detaches them. Audited as group.update.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *groupUpdateInput) (*groupOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		old, err := getGroup(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		if in.Body.UpdatedAt != nil && !in.Body.UpdatedAt.Equal(old.UpdatedAt) {
			return nil, staleVersion("group", old.Name, old.UpdatedBy)
		}
		g := *old
		g.UpdatedBy = pr.User.Username
		groupFromFields(&g, &in.Body.GroupSettings)
		if err := checkGroup(ctx, st, &g); err != nil {
			return nil, err
		}
		if err := st.UpdateGroup(ctx, &g, old.UpdatedAt); err != nil {
			return nil, err
		}
		details := groupAuditDetails(&g)
		details["changed"] = changedFields(
			same("name", old.Name, g.Name), same("description", old.Description, g.Description), sameList("proxies", old.Proxies, g.Proxies),
			same("requests_per_minute", old.RequestsPerMinute, g.RequestsPerMinute), same("tokens_per_minute", old.TokensPerMinute, g.TokensPerMinute),
			same("budget_usd", old.BudgetUSD, g.BudgetUSD), same("budget_warn_percent", old.BudgetWarnPercent, g.BudgetWarnPercent),
			same("budget_action", old.BudgetAction, g.BudgetAction),
		)
		s.audit(ctx, pr.User.Username, pr.User.ID, "group.update", "group", idString(g.ID), bulwark.ResultSuccess, details)
		s.keysChanged(g.ID)
		return s.groupDetail(ctx, st, &g)
	})

	register(s, huma.Operation{
		OperationID: "groups.delete", Method: http.MethodDelete, Path: "/groups/{id}", Tags: tags, Summary: "Delete a group",
		Description:   "Deletes the group and its keys (they stop working at once); its request records stay. Audited as group.delete.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *groupIDInput) (*struct{}, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		g, err := getGroup(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		if err := st.DeleteGroup(ctx, g.ID); err != nil {
			if bulwark.IsNotFound(err) {
				return nil, bulwark.Errorf(bulwark.CodeNotFound, "no group with id %d", in.ID)
			}
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "group.delete", "group", idString(g.ID), bulwark.ResultSuccess, map[string]any{"name": g.Name})
		s.keysChanged(g.ID)
		return nil, nil
	})

	register(s, huma.Operation{
		OperationID: "groups.budget_reset", Method: http.MethodPost, Path: "/groups/{id}/budget/reset", Tags: tags, Summary: "Reset a group's budget",
		Description: "Starts a new budget period now: spend recorded before no longer counts until the month ends. Audited as group.budget_reset.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *groupIDInput) (*groupOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		old, err := getGroup(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		before, err := s.groupBudget(ctx, st, old)
		if err != nil {
			return nil, err
		}
		g := *old
		at := s.now().UTC()
		g.BudgetResetAt, g.UpdatedBy = &at, pr.User.Username
		if err := st.UpdateGroup(ctx, &g, old.UpdatedAt); err != nil {
			return nil, err
		}
		details := map[string]any{"name": g.Name, "reset_at": at.Format(time.RFC3339Nano), "budget_usd": g.BudgetUSD}
		if before != nil {
			details["previous_spent_usd"] = before.SpentUSD
			details["previous_period_start"] = before.PeriodStart.UTC().Format(time.RFC3339Nano)
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "group.budget_reset", "group", idString(g.ID), bulwark.ResultSuccess, details)
		s.keysChanged(g.ID)
		return s.groupDetail(ctx, st, &g)
	})
}

func groupFromFields(g *bulwark.Group, f *GroupSettings) {
	g.Name, g.Description, g.Proxies = f.Name, f.Description, nonNil(f.Proxies)
	g.RequestsPerMinute, g.TokensPerMinute, g.BudgetUSD = f.RequestsPerMinute, f.TokensPerMinute, f.BudgetUSD
	if f.BudgetWarnPercent != nil {
		g.BudgetWarnPercent = *f.BudgetWarnPercent
	}
	if f.BudgetAction != "" {
		g.BudgetAction = bulwark.BudgetAction(f.BudgetAction)
	}
}

func (s *Server) gatewayKeyRoutes() {
	tags := []string{"Gateway keys"}

	register(s, huma.Operation{
		OperationID: "gateway_keys.list", Method: http.MethodGet, Path: "/groups/{id}/keys", Tags: tags, Summary: "List a group's keys",
		Description: "Newest first; revoked and expired keys included (active false). Never the secret.",
		Errors:      []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *groupIDInput) (*gatewayKeyListOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		if _, err := getGroup(ctx, st, in.ID); err != nil {
			return nil, err
		}
		keys, err := st.ListGatewayKeys(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		now := s.now()
		out := &gatewayKeyListOutput{}
		out.Body.Items = make([]GatewayKey, 0, len(keys))
		for _, k := range keys {
			out.Body.Items = append(out.Body.Items, toGatewayKey(k, now))
		}
		out.Body.Total = len(keys)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "gateway_keys.create", Method: http.MethodPost, Path: "/groups/{id}/keys", Tags: tags, Summary: "Create a gateway key",
		Description: "Issues a key for the group's proxies. The key is shown once in this response; only its SHA-256 and its first characters are stored. " +
			"Audited as gateway_key.create.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *gatewayKeyCreateInput) (*gatewayKeyCreatedOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		g, err := getGroup(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		b := &in.Body
		now := s.now()
		k := &bulwark.GatewayKey{GroupID: g.ID, Name: b.Name, User: b.User, UserEmail: b.UserEmail,
			RequestsPerMinute: b.RequestsPerMinute, TokensPerMinute: b.TokensPerMinute, ExpiresAt: b.ExpiresAt, CreatedBy: pr.User.Username}
		if err := k.Validate(now); err != nil {
			return nil, err
		}
		secret, err := auth.NewToken(auth.GatewayKeyPrefix)
		if err != nil {
			return nil, err
		}
		k.Hash, k.Prefix = auth.TokenHash(secret), auth.TokenDisplayPrefix(secret)
		if err := st.CreateGatewayKey(ctx, k); err != nil {
			return nil, err
		}
		details := map[string]any{"group_id": g.ID, "group": g.Name, "name": k.Name, "prefix": k.Prefix, "user": k.User}
		if k.ExpiresAt != nil {
			details["expires_at"] = k.ExpiresAt.UTC().Format(time.RFC3339)
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "gateway_key.create", "gateway_key", idString(k.ID), bulwark.ResultSuccess, details)
		s.keysChanged(g.ID)
		out := &gatewayKeyCreatedOutput{}
		out.Body.Key, out.Body.GatewayKey = secret, toGatewayKey(k, now)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "gateway_keys.revoke", Method: http.MethodDelete, Path: "/groups/{id}/keys/{key_id}", Tags: tags, Summary: "Revoke a gateway key",
		Description:   "The key stops working at once. Revoking twice is harmless. Audited as gateway_key.revoke.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *gatewayKeyIDInput) (*struct{}, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		g, err := getGroup(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		keys, err := st.ListGatewayKeys(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		var k *bulwark.GatewayKey
		for _, x := range keys {
			if x.ID == in.KeyID {
				k = x
			}
		}
		if k == nil {
			return nil, bulwark.Errorf(bulwark.CodeNotFound, "group %q has no key with id %d", g.Name, in.KeyID)
		}
		if k.RevokedAt != nil {
			return nil, nil
		}
		if err := st.RevokeGatewayKey(ctx, k.ID, s.now()); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "gateway_key.revoke", "gateway_key", idString(k.ID), bulwark.ResultSuccess,
			map[string]any{"group_id": g.ID, "group": g.Name, "name": k.Name, "prefix": k.Prefix})
		s.keysChanged(g.ID)
		return nil, nil
	})
}
