package streams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/mf"
	"github.com/learnstream/learnstream/projections"
)

// A learner's target role in the recommender (docs/recommendations.md,
// "Career goals"): the role is read from the learner.role.set events on
// the statements topic, which come in order with the learner's statements
// and are kept in the partition model's side state (checkpointed with its
// offsets); a learner without such an event has the catalog's role.

// isRoleSet reports whether e is a learner.role.set event, rejecting an
// unknown major version of it.
func isRoleSet(e event.Event) (bool, error) {
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return false, nil // not ours to judge: learn's own check rejects it
	}
	want, wantMajor, _ := event.SplitType(projections.TypeLearnerRoleSet)
	if name != want {
		return false, nil
	}
	if major != wantMajor {
		return false, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	return true, nil
}

// decodeRoleSet decodes a learner.role.set event's data strictly.
func decodeRoleSet(data []byte) (projections.LearnerRole, error) {
	var lr projections.LearnerRole
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&lr); err != nil {
		return lr, fmt.Errorf("data: %w", err)
	}
	if lr.Learner == "" {
		return lr, errors.New("data: field learner: required")
	}
	return lr, nil
}

// roleSet applies a learner.role.set: the learner's role becomes the
// event's, and their list is ranked again (and published again, even with
// the same items: the reasons change). It changes nothing when it returns
// an error.
func (r *Recommender) roleSet(e event.Event, pos Position, ps *partModel[*tenantModel]) (rankRequest, error) {
	lr, err := decodeRoleSet(e.Data)
	if err != nil {
		return rankRequest{}, event.Reject(err)
	}
	g, err := r.graphs.get(r.cfg.Catalog, e.Tenant)
	if err != nil {
		return rankRequest{}, event.Transient(err)
	}
	tm := r.models.tenant(ps, e.Tenant)
	if tm.aux.Roles == nil {
		tm.aux.Roles = map[string]string{}
	}
	tm.aux.Roles[lr.Learner] = lr.Role
	delete(tm.aux.Top, lr.Learner)
	// The role is the learner's data too: retention forgets it with
	// them, also for a learner with no statement yet.
	if tm.aux.Seen == nil {
		tm.aux.Seen = map[string]int64{}
	}
	tm.aux.Seen[lr.Learner] = max(tm.aux.Seen[lr.Learner], e.Time.Unix())
	return rankRequest{tenant: e.Tenant, learner: lr.Learner, role: lr.Role, partition: pos.Partition, g: g, tm: tm, e: e}, nil
}

// roleOf is the learner's role: the latest learner.role.set of theirs
// this model applied, else the catalog's (a role assigned before the
// API wrote such events, or whose event no longer opens after retention).
func (tm *tenantModel) roleOf(learner, catalog string) string {
	if role, ok := tm.aux.Roles[learner]; ok {
		return role
	}
	return catalog
}

// roleGap is the learner's gap to their role in g, or nil when they have
// no role or the catalog does not define it (any more). mastery gives the
// learner's mastery by skill id, asked for only when there is a gap to
// measure (a ranking holds it by skill number).
func roleGap(g *graph.Graph, role string, mastery func() map[string]float64, threshold float64, log *slog.Logger) *mf.RoleGap {
	if role == "" {
		return nil
	}
	def, ok := g.Role(role)
	if !ok {
		return nil
	}
	levels := make([]mf.RoleLevel, len(def.Requires))
	for i, q := range def.Requires {
		levels[i] = mf.RoleLevel{Skill: q.Skill, Level: q.Level}
	}
	gap, err := mf.NewRoleGap(g, role, levels, mastery(), threshold)
	if err != nil {
		// The catalog validated the role; rank without it rather than
		// fail an applied event.
		log.Error("recommender: role gap", "role", role, "err", err)
		return nil
	}
	return gap
}
