// Package webhook is the pure part of learnstream's outgoing integrations:
// subscriptions and their filters, what an event looks like to a filter,
// the Standard Webhooks signature, the retry schedule and the address rules
// that keep deliveries away from the install's own network. It does no IO.
package webhook

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/event/schema"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/xapi"
)

// Subscription kinds.
const (
	// KindWebhook posts each matching event, signed, to URL.
	KindWebhook = "webhook"
	// KindXAPIForward posts matching stored statements, in batches, to the
	// xAPI LRS whose statements endpoint's base is URL.
	KindXAPIForward = "xapi-forward"
)

// Limits of a subscription.
const (
	MaxURLLength     = 2048
	MaxFilterValues  = 100
	MaxDescription   = 500
	MaxValueLength   = 2048
	DefaultOverlap   = 24 * time.Hour
	MaxOverlap       = 7 * 24 * time.Hour
	SecretPrefix     = "whsec_"
	secretKeyBytes   = 32
	minSecretKeySize = 24
	maxSecretKeySize = 64
)

// Filter selects the events a subscription receives. Each non-empty list
// must match (an event matches a list when its value is one of the list's);
// empty lists match everything.
type Filter struct {
	Types []string `json:"types,omitempty"`
	// Learners are the learners' privacy pseudonyms once stored
	// (Pseudonymize), never their keys, so that a subscription keeps
	// nothing that names an erased learner. Without pseudonyms (privacy
	// off) they are learner keys.
	Learners   []string `json:"learners,omitempty"`
	Activities []string `json:"activities,omitempty"`
	Verbs      []string `json:"verbs,omitempty"`
}

// Secret is one signing secret of a subscription; a rotated-out secret
// keeps signing until Expires.
type Secret struct {
	Value   string     `json:"value"`
	Expires *time.Time `json:"expires,omitempty"`
}

// Subscription is a registered receiver of events.
type Subscription struct {
	ID          string    `json:"id"`
	Tenant      string    `json:"tenant"`
	Kind        string    `json:"kind"`
	URL         string    `json:"url"`
	Description string    `json:"description,omitempty"`
	Filter      Filter    `json:"filter"`
	Paused      bool      `json:"paused"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	// Secrets sign webhook deliveries, the current one first.
	Secrets []Secret `json:"secrets,omitempty"`
	// Username and Password are the Basic credentials of an xapi-forward
	// target LRS.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// ReplayID names the latest replay asked for (empty: none): every
	// delivery instance re-delivers the matching events since ReplaySince
	// once per ReplayID.
	ReplayID    string    `json:"replay_id,omitempty"`
	ReplaySince time.Time `json:"replay_since,omitzero"`
}

// FieldError names the field of a subscription at fault and the rule it
// broke.
type FieldError struct{ Field, Rule string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// deliverable are the topics whose events a subscription may receive: the
// ones integrators consume, without the internal ones.
var deliverable = []string{"learnstream.statements.v1", "learnstream.recommendations.v1", "learnstream.adaptive.v1", "learnstream.catalog.v1"}

// Topics are the topics the delivery role reads.
func Topics() []string { return slices.Clone(deliverable) }

// Types returns the event types a webhook may subscribe to, sorted.
func Types() []string {
	var out []string
	for _, e := range schema.Events {
		if slices.Contains(deliverable, e.Topic) && e.Type != "learnstream.xapi.attachment.stored.v1" {
			out = append(out, e.Type)
		}
	}
	slices.Sort(out)
	return out
}

// TopicsFor returns the topics a filter needs read.
func TopicsFor(f Filter) []string {
	if len(f.Types) == 0 {
		return Topics()
	}
	var out []string
	for _, t := range f.Types {
		if e, ok := schema.Lookup(t); ok && !slices.Contains(out, e.Topic) {
			out = append(out, e.Topic)
		}
	}
	return out
}

// Validate checks s as a client sent it (ID, tenant and times are the
// server's). allowHTTP permits http:// URLs (development only).
func (s *Subscription) Validate(allowHTTP bool) error {
	switch s.Kind {
	case "":
		s.Kind = KindWebhook
	case KindWebhook, KindXAPIForward:
	default:
		return &FieldError{"kind", fmt.Sprintf("%q is not %s or %s", s.Kind, KindWebhook, KindXAPIForward)}
	}
	if _, err := CheckURL(s.URL, allowHTTP); err != nil {
		return err
	}
	if len(s.Description) > MaxDescription {
		return &FieldError{"description", fmt.Sprintf("at most %d bytes", MaxDescription)}
	}
	if err := s.Filter.validate(s.Kind); err != nil {
		return err
	}
	switch s.Kind {
	case KindXAPIForward:
		if s.Username == "" || s.Password == "" {
			return &FieldError{"auth", "an xapi-forward subscription needs the target LRS's username and password"}
		}
		if strings.Contains(s.Username, ":") {
			return &FieldError{"auth.username", "must not contain ':' (HTTP Basic)"}
		}
	case KindWebhook:
		if s.Username != "" || s.Password != "" {
			return &FieldError{"auth", "only xapi-forward subscriptions send credentials; webhooks are signed instead"}
		}
	}
	for i, sec := range s.Secrets {
		if _, err := secretKey(sec.Value); err != nil {
			return &FieldError{fmt.Sprintf("secrets[%d]", i), err.Error()}
		}
	}
	return nil
}

func (f Filter) validate(kind string) error {
	lists := []struct {
		name string
		vals []string
	}{{"filter.types", f.Types}, {"filter.learners", f.Learners}, {"filter.activities", f.Activities}, {"filter.verbs", f.Verbs}}
	for _, l := range lists {
		if len(l.vals) > MaxFilterValues {
			return &FieldError{l.name, fmt.Sprintf("at most %d values", MaxFilterValues)}
		}
		for i, v := range l.vals {
			if v == "" || len(v) > MaxValueLength {
				return &FieldError{fmt.Sprintf("%s[%d]", l.name, i), fmt.Sprintf("must be 1-%d bytes", MaxValueLength)}
			}
		}
	}
	types := Types()
	for i, t := range f.Types {
		if !slices.Contains(types, t) {
			return &FieldError{fmt.Sprintf("filter.types[%d]", i), fmt.Sprintf("%q is not an event type a webhook can receive (one of %s)", t, strings.Join(types, ", "))}
		}
		if kind == KindXAPIForward && t != event.TypeStatementStored {
			return &FieldError{fmt.Sprintf("filter.types[%d]", i), "an xapi-forward subscription forwards statements only (" + event.TypeStatementStored + ")"}
		}
	}
	for i, v := range f.Verbs {
		if u, err := url.Parse(v); err != nil || u.Scheme == "" {
			return &FieldError{fmt.Sprintf("filter.verbs[%d]", i), fmt.Sprintf("%q is not an IRI", v)}
		}
	}
	for i, a := range f.Activities {
		if u, err := url.Parse(a); err != nil || u.Scheme == "" {
			return &FieldError{fmt.Sprintf("filter.activities[%d]", i), fmt.Sprintf("%q is not an IRI", a)}
		}
	}
	for i, l := range f.Learners {
		f.Learners[i] = NormalizeLearner(l)
	}
	return nil
}

// Pseudonymize replaces every learner of the filter that is not a
// pseudonym yet by the tenant's pseudonym of its learner key, dropping
// duplicates (an e-mail and its mbox key are one learner), and reports
// whether anything changed. Values already pseudonyms stay as they are:
// what GET answered can be sent back.
func (f *Filter) Pseudonymize(tenant string, ps privacy.Pseudonyms) bool {
	changed := false
	out := f.Learners[:0:0]
	for _, v := range f.Learners {
		if !privacy.IsPseudonym(v) {
			v = ps.Pseudonym(tenant, NormalizeLearner(v))
			changed = true
		}
		if slices.Contains(out, v) {
			changed = true
			continue
		}
		out = append(out, v)
	}
	if changed {
		f.Learners = out
	}
	return changed
}

// ClearLearners reports whether the filter holds a learner that is not a
// pseudonym: one stored before learner filters were pseudonymised, or
// with privacy off.
func (f Filter) ClearLearners() bool {
	for _, v := range f.Learners {
		if !privacy.IsPseudonym(v) {
			return true
		}
	}
	return false
}

// NormalizeLearner turns a learner filter value into a learner key: a key
// as events carry it, or an e-mail address or mailto IRI.
func NormalizeLearner(v string) string {
	switch {
	case strings.HasPrefix(v, "mailto:"):
		return xapi.ActorKey(xapi.Agent{Mbox: v})
	case strings.Contains(v, "@") && !strings.Contains(v, ":"):
		return xapi.ActorKey(xapi.Agent{Mbox: "mailto:" + v})
	}
	return v
}

// CheckURL checks a receiver URL's form: https (http only when allowed),
// a host, no credentials in it, no fragment, and a literal address that
// is public. Names are resolved and checked by the caller (IO).
func CheckURL(raw string, allowHTTP bool) (*url.URL, error) {
	if raw == "" {
		return nil, &FieldError{"url", "must not be empty"}
	}
	if len(raw) > MaxURLLength {
		return nil, &FieldError{"url", fmt.Sprintf("at most %d bytes", MaxURLLength)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &FieldError{"url", "is not a URL: " + err.Error()}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return nil, &FieldError{"url", "must be https (http only when the server runs with --webhooks-allow-http, for development)"}
	default:
		return nil, &FieldError{"url", fmt.Sprintf("scheme %q: must be https", u.Scheme)}
	}
	if u.Hostname() == "" {
		return nil, &FieldError{"url", "must name a host"}
	}
	if u.User != nil {
		return nil, &FieldError{"url", "must not carry credentials (user:password@)"}
	}
	if u.Fragment != "" {
		return nil, &FieldError{"url", "must not have a fragment"}
	}
	return u, nil
}

// NewSecret returns a new random signing secret, whsec_ and 32 random
// bytes in base64.
func NewSecret() string {
	b := make([]byte, secretKeyBytes)
	rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// NewID returns a new subscription id.
func NewID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "wh_" + hex.EncodeToString(b)
}

// MessageID is the webhook-id of the delivery of event eventID to
// subscription sub: the same on every redelivery and every replay, so a
// receiver deduplicates by it.
func MessageID(sub, eventID string) string {
	sum := sha256.Sum256([]byte(sub + "\x00" + eventID))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// Item is what a filter sees of an event.
type Item struct {
	Type     string
	Tenant   string
	Learner  string
	Activity string
	Verb     string
	// Pseudonym is the learner's privacy pseudonym, which a stored learner
	// filter holds; the caller sets it (Describe cannot: it has no
	// pseudonym secret) when a subscription filters on learners.
	Pseudonym string
}

// Describe extracts what filters match on from an event's data: the
// learner, the activity (a statement's object, a decision's item) and the
// verb. Data that does not decode leaves the fields empty.
func Describe(e event.Event) Item {
	it := Item{Type: e.Type, Tenant: e.Tenant}
	if e.Type == event.TypeStatementStored {
		var st struct {
			Actor  xapi.Agent          `json:"actor"`
			Verb   struct{ ID string } `json:"verb"`
			Object struct {
				ID         string `json:"id"`
				ObjectType string `json:"objectType"`
			} `json:"object"`
		}
		if json.Unmarshal(e.Data, &st) == nil {
			it.Learner = xapi.ActorKey(st.Actor)
			it.Verb = st.Verb.ID
			if st.Object.ObjectType == "" || st.Object.ObjectType == "Activity" {
				it.Activity = st.Object.ID
			}
		}
		return it
	}
	var d struct {
		Learner  string `json:"learner"`
		Item     string `json:"item"`
		Activity string `json:"activity"`
		ID       string `json:"id"`
	}
	if json.Unmarshal(e.Data, &d) == nil {
		it.Learner = d.Learner
		it.Activity = d.Item
		if it.Activity == "" {
			it.Activity = d.Activity
		}
	}
	return it
}

// Since is the time from which the subscription receives events: its
// creation, cut to the millisecond. Events carry stored times cut to the
// millisecond, so an event stored just after the subscription was made,
// in the same millisecond, carries a time before the creation's; whole
// milliseconds keep it.
func (s *Subscription) Since() time.Time { return s.Created.Truncate(time.Millisecond) }

// Matches reports whether the subscription receives it. A paused
// subscription still matches: its deliveries wait.
func (s *Subscription) Matches(it Item) bool {
	if it.Tenant != s.Tenant {
		return false
	}
	f := s.Filter
	types := f.Types
	if s.Kind == KindXAPIForward && len(types) == 0 {
		types = []string{event.TypeStatementStored}
	}
	if len(types) > 0 && !slices.Contains(types, it.Type) {
		return false
	}
	if len(types) == 0 && !slices.Contains(Types(), it.Type) {
		return false
	}
	if len(f.Learners) > 0 && !f.hasLearner(it) {
		return false
	}
	if len(f.Activities) > 0 && !slices.Contains(f.Activities, it.Activity) {
		return false
	}
	if len(f.Verbs) > 0 && !slices.Contains(f.Verbs, it.Verb) {
		return false
	}
	return true
}

// hasLearner reports whether the item's learner is one of the filter's:
// by pseudonym, or by learner key for a filter kept without pseudonyms
// (privacy off).
func (f Filter) hasLearner(it Item) bool {
	for _, v := range f.Learners {
		if v != "" && (v == it.Pseudonym || v == it.Learner) {
			return true
		}
	}
	return false
}

// SigningSecrets are the secrets that sign a delivery at now: the current
// one and those rotated out whose overlap has not ended.
func (s *Subscription) SigningSecrets(now time.Time) []string {
	var out []string
	for i, sec := range s.Secrets {
		if i == 0 || sec.Expires == nil || now.Before(*sec.Expires) {
			out = append(out, sec.Value)
		}
	}
	return out
}

// Rotate makes secret the current secret; the current one keeps signing
// for overlap, and secrets whose overlap ended are dropped.
func (s *Subscription) Rotate(secret string, overlap time.Duration, now time.Time) {
	keep := []Secret{{Value: secret}}
	for i, sec := range s.Secrets {
		switch {
		case i == 0 && overlap > 0:
			exp := now.Add(overlap).UTC()
			keep = append(keep, Secret{Value: sec.Value, Expires: &exp})
		case i > 0 && sec.Expires != nil && now.Before(*sec.Expires):
			keep = append(keep, sec)
		}
	}
	s.Secrets = keep
}
