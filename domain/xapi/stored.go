package xapi

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// DecodeStored decodes a statement as the LRS stored it: canonical JSON
// that ParseStatement accepted before it was stored. It checks only what a
// reader of stored statements relies on (an identified actor, a verb id, an
// object) and none of the Data chapter's other rules, which ParseStatement
// applied on the way in. Stream consumers read every stored statement, and
// full validation was most of their time per event.
//
// For any statement s that ParseStatement accepts, DecodeStored of its
// canonical JSON yields the same Statement as ParseStatement does.
//
// Stored statements are decoded by walking the JSON directly (see
// storedFast below); JSON that walk does not expect, which the LRS never
// stores, goes through encoding/json as it always did, so the result and
// any error are the same for every input.
func DecodeStored(data []byte) (*Statement, error) {
	blk := new(storedBlock)
	in := &blk.in
	if !decodeStoredFast(data, blk) {
		blk = new(storedBlock)
		in = &blk.in
		if err := json.Unmarshal(data, in); err != nil {
			return nil, fmt.Errorf("stored statement: %w", err)
		}
	}
	if a := Agent(in.Actor); !a.IsIdentified() && !(a.IsGroup() && len(a.Member) > 0) {
		return nil, invalid("actor", "must be an identified Agent or a Group")
	}
	if in.Verb.ID == "" {
		return nil, invalid("verb.id", "is required")
	}
	obj, err := in.Object.object("object", &blk.activity)
	if err != nil {
		return nil, err
	}
	s := &blk.out
	*s = Statement{
		ID: in.ID, Actor: Agent(in.Actor), Verb: in.Verb, Object: obj, Result: in.Result, Context: in.Context,
		Timestamp: in.Timestamp, Stored: in.Stored, Version: in.Version, Attachments: in.Attachments,
	}
	if in.Authority != nil {
		s.Authority = (*Agent)(in.Authority)
	}
	return s, nil
}

// storedBlock holds a decoded statement and the parts that almost every
// statement has, so that decoding one allocates them together rather than
// one by one. They live exactly as long as the statement does.
type storedBlock struct {
	in       storedStatement
	out      Statement
	activity Activity // the object, when it is an Activity
	result   Result
	context  Context
	ca       ContextActivities
	times    [2]time.Time // timestamp and stored
	bools    [2]bool      // result.success and result.completion
	response string       // result.response
}

// plainAgent decodes an Agent without its validating UnmarshalJSON.
type plainAgent Agent

type storedStatement struct {
	ID          string       `json:"id"`
	Actor       plainAgent   `json:"actor"`
	Verb        Verb         `json:"verb"`
	Object      storedObject `json:"object"`
	Result      *Result      `json:"result"`
	Context     *Context     `json:"context"`
	Timestamp   *time.Time   `json:"timestamp"`
	Stored      *time.Time   `json:"stored"`
	Authority   *plainAgent  `json:"authority"`
	Version     string       `json:"version"`
	Attachments []Attachment `json:"attachments"`
}

// storedObject holds the properties of every kind of object; objectType
// says which are meant.
type storedObject struct {
	plainAgent
	ID          string              `json:"id"`
	Definition  *ActivityDefinition `json:"definition"`
	Actor       *plainAgent         `json:"actor"`
	Verb        *Verb               `json:"verb"`
	Object      *storedObject       `json:"object"`
	Result      *Result             `json:"result"`
	Context     *Context            `json:"context"`
	Timestamp   *time.Time          `json:"timestamp"`
	Attachments []Attachment        `json:"attachments"`
}

// object returns the object o describes. An Activity goes into act when it
// is not nil.
func (o *storedObject) object(path string, act *Activity) (Object, error) {
	switch o.ObjectType {
	case "", ObjectTypeActivity:
		if o.ID == "" {
			return Object{}, invalid(path+".id", "is required")
		}
		if act == nil {
			act = new(Activity)
		}
		*act = Activity{ObjectType: o.ObjectType, ID: o.ID, Definition: o.Definition}
		return Object{Activity: act}, nil
	case ObjectTypeAgent, ObjectTypeGroup:
		a := Agent(o.plainAgent)
		return Object{Agent: &a}, nil
	case ObjectTypeStatementRef:
		if o.ID == "" {
			return Object{}, invalid(path+".id", "is required")
		}
		return Object{StatementRef: &StatementRef{ID: o.ID}}, nil
	case ObjectTypeSubStatement:
		if o.Actor == nil || o.Verb == nil || o.Object == nil {
			return Object{}, invalid(path, "a SubStatement needs actor, verb and object")
		}
		inner, err := o.Object.object(path+".object", nil)
		if err != nil {
			return Object{}, err
		}
		return Object{SubStatement: &SubStatement{Actor: Agent(*o.Actor), Verb: *o.Verb, Object: inner,
			Result: o.Result, Context: o.Context, Timestamp: o.Timestamp, Attachments: o.Attachments}}, nil
	}
	return Object{}, invalid(path+".objectType", "unknown objectType %q", o.ObjectType)
}

// StoredActorKey is the ActorKey of a stored statement's actor ("" when it
// has none). The LRS stores the actor right after the id (appendStatement's
// order), so this walks that one value and nothing after it: an access
// audit notes the learner of every statement a query returns, and reading
// the actor with encoding/json added two fifths to the cost of a page of
// them (decoding whole statements, more). JSON the walk does not expect
// there is decoded whole, by DecodeStored, so the key is the same for
// every input.
func StoredActorKey(data []byte) string {
	if key, ok := storedActorFast(data); ok {
		return key
	}
	s, err := DecodeStored(data)
	if err != nil {
		return ""
	}
	return s.LearnerKey()
}

// storedActorFast is StoredActorKey's walk of the actor alone; it reports
// false for anything but {"id":"<uuid>","actor":{…} with the actor as the
// LRS writes it.
func storedActorFast(data []byte) (string, bool) {
	const head, tail = `{"id":"`, `","actor":`
	n := len(head) + 36
	if len(data) <= n+len(tail) || string(data[:len(head)]) != head || string(data[n:n+len(tail)]) != tail {
		return "", false
	}
	start := n + len(tail)
	actor := data[start:valueEnd(data, start)]
	var a plainAgent
	w := walker{b: actor}
	if !utf8.Valid(actor) || !validJSON(actor) || !w.agent(&a) || w.i != len(actor) {
		return "", false
	}
	return ActorKey(Agent(a)), true
}
