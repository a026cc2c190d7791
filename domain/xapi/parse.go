package xapi

import (
	"encoding/json"
	"strings"
	"time"
)

// ParseStatement parses and fully validates one statement as stored: it
// must follow the rules of xAPI 1.0.3 or of xAPI 2.0 (see SpecAny). Errors
// are *ValidationError whose Field is relative to the statement
// ("actor.mbox").
func ParseStatement(data []byte) (*Statement, error) {
	return ParseStatementAs(data, SpecAny)
}

// ParseStatementAs parses and validates one statement under the rules of
// spec, the version a request named.
func ParseStatementAs(data []byte, spec Spec) (*Statement, error) {
	raw, err := readJSON(data, "statement")
	if err != nil {
		return nil, err
	}
	return parseStatement(raw, "", spec)
}

// ParseStatements parses the body of a POST to the statements resource: one
// statement object or a non-empty array of them. Errors in an array name the
// item ("statements[2].actor.mbox"); the whole batch is rejected on the
// first error, since the LRS must not store part of a request. The rules
// are those of spec, the version the request named.
func ParseStatements(data []byte, spec Spec) ([]*Statement, error) {
	raw, err := readJSON(data, "statements")
	if err != nil {
		return nil, err
	}
	switch kindOf(raw) {
	case kindObject:
		s, err := parseStatement(raw, "", spec)
		if err != nil {
			return nil, err
		}
		return []*Statement{s}, nil
	case kindArray:
		items, err := decodeArray(raw, pathAt("statements"))
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, invalid("statements", "must contain at least one statement")
		}
		out := make([]*Statement, 0, len(items))
		seen := make(map[string]int, len(items))
		for i, item := range items {
			path := joinIndex("statements", i)
			if err := expectKind(item, pathAt(path), kindObject); err != nil {
				return nil, err
			}
			s, err := parseStatement(item, path, spec)
			if err != nil {
				return nil, err
			}
			// Communication 2.1.2: a batch that uses one id twice is
			// rejected, since the LRS could not store both.
			if s.ID != "" {
				id := strings.ToLower(s.ID)
				if first, dup := seen[id]; dup {
					return nil, invalid(joinKey(path, "id"), "repeats the id of statements[%d]: ids must be unique within a batch", first)
				}
				seen[id] = i
			}
			out = append(out, s)
		}
		return out, nil
	case kindNull:
		return nil, invalid("statements", "must not be null")
	default:
		return nil, invalid("statements", "must be a statement object or an array of statements")
	}
}

// ParseAgent parses the "agent" query parameter of the statements and
// document resources: an Agent, or an identified Group, with exactly one
// inverse functional identifier. Errors name "agent" or a path below it.
func ParseAgent(data []byte) (Agent, error) {
	raw, err := readJSON(data, "agent")
	if err != nil {
		return Agent{}, err
	}
	a, err := parseActor(raw, "agent")
	if err != nil {
		return Agent{}, err
	}
	if !a.IsIdentified() {
		return Agent{}, invalid("agent", "must identify an Agent or a Group by exactly one inverse functional identifier (mbox, mbox_sha1sum, openid or account)")
	}
	return a, nil
}

// UnmarshalJSON parses and validates like ParseStatement, so a Statement
// embedded in another document (an event, a stored record) decodes safely.
func (s *Statement) UnmarshalJSON(data []byte) error {
	p, err := ParseStatement(data)
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

// UnmarshalJSON parses and validates an Agent or Group.
func (a *Agent) UnmarshalJSON(data []byte) error {
	raw, err := readJSON(data, "agent")
	if err != nil {
		return err
	}
	p, err := parseActor(raw, "agent")
	if err != nil {
		return err
	}
	*a = p
	return nil
}

var statementKeys = []string{"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"}

func parseStatement(raw json.RawMessage, path string, spec Spec) (*Statement, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	if err := f.only("a Statement", statementKeys...); err != nil {
		return nil, err
	}
	s := &Statement{}
	if raw, p, ok := f.get("id"); ok {
		if s.ID, err = decodeUUID(raw, p); err != nil {
			return nil, err
		}
	}
	c, err := parseCore(f, false, spec)
	if err != nil {
		return nil, err
	}
	s.Actor, s.Verb, s.Object, s.Result, s.Context, s.Timestamp, s.Attachments =
		c.actor, c.verb, c.object, c.result, c.context, c.timestamp, c.attachments

	if raw, p, ok := f.get("stored"); ok {
		if s.Stored, err = decodeTimestamp(raw, p); err != nil {
			return nil, err
		}
	}
	if raw, p, ok := f.get("authority"); ok {
		a, err := parseAuthority(raw, p.String())
		if err != nil {
			return nil, err
		}
		s.Authority = &a
	}
	if raw, p, ok := f.get("version"); ok {
		v, err := decodeString(raw, p)
		if err != nil {
			return nil, err
		}
		if !spec.acceptsVersion(v) {
			return nil, invalid(p.String(), spec.versionRule())
		}
		s.Version = v
	}
	if s.Verb.ID == VerbVoided && s.Object.StatementRef == nil {
		return nil, invalid(joinKey(joinKey(path, "object"), "objectType"),
			`must be "StatementRef" in a voiding statement (verb `+VerbVoided+`)`)
	}
	return s, nil
}

// core holds what statements and SubStatements have in common.
type core struct {
	actor       Agent
	verb        Verb
	object      Object
	result      *Result
	context     *Context
	timestamp   *time.Time
	attachments []Attachment
}

func parseCore(f fields, sub bool, spec Spec) (core, error) {
	var c core
	var err error
	for _, key := range []string{"actor", "verb", "object"} {
		if !f.has(key) {
			return c, invalid(joinKey(f.path, key), "is required")
		}
	}
	raw, p, _ := f.get("actor")
	if c.actor, err = parseActor(raw, p.String()); err != nil {
		return c, err
	}
	raw, p, _ = f.get("verb")
	if c.verb, err = parseVerb(raw, p.String()); err != nil {
		return c, err
	}
	raw, p, _ = f.get("object")
	if c.object, err = parseObject(raw, p.String(), sub, spec); err != nil {
		return c, err
	}
	if raw, p, ok := f.get("result"); ok {
		if c.result, err = parseResult(raw, p.String()); err != nil {
			return c, err
		}
	}
	if raw, p, ok := f.get("context"); ok {
		if c.context, err = parseContext(raw, p.String(), c.object.Activity != nil, spec); err != nil {
			return c, err
		}
	}
	if raw, p, ok := f.get("timestamp"); ok {
		if c.timestamp, err = decodeTimestamp(raw, p); err != nil {
			return c, err
		}
	}
	if raw, p, ok := f.get("attachments"); ok {
		if c.attachments, err = parseAttachments(raw, p.String()); err != nil {
			return c, err
		}
	}
	return c, nil
}

var subStatementKeys = []string{"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}

func parseSubStatement(f fields, spec Spec) (*SubStatement, error) {
	for _, key := range []string{"id", "stored", "version", "authority"} {
		if f.has(key) {
			return nil, invalid(joinKey(f.path, key), "must not be used in a SubStatement: only the containing statement has an "+key)
		}
	}
	if err := f.only("a SubStatement", subStatementKeys...); err != nil {
		return nil, err
	}
	c, err := parseCore(f, true, spec)
	if err != nil {
		return nil, err
	}
	return &SubStatement{
		Actor: c.actor, Verb: c.verb, Object: c.object, Result: c.result,
		Context: c.context, Timestamp: c.timestamp, Attachments: c.attachments,
	}, nil
}

func decodeUUID(raw json.RawMessage, field at) (string, error) {
	s, err := decodeString(raw, field)
	if err != nil {
		return "", err
	}
	if !IsUUID(s) {
		return "", invalid(field.String(), "must be a UUID in standard string form (8-4-4-4-12 hex digits)")
	}
	return s, nil
}

func decodeIRI(raw json.RawMessage, field at) (string, error) {
	s, err := decodeString(raw, field)
	if err != nil {
		return "", err
	}
	if !IsIRI(s) {
		return "", invalid(field.String(), "must be an absolute IRI with a scheme, like \"https://example.com/path\" (no spaces)")
	}
	return s, nil
}

func decodeIRL(raw json.RawMessage, field at) (string, error) {
	s, err := decodeString(raw, field)
	if err != nil {
		return "", err
	}
	if !IsIRL(s) {
		return "", invalid(field.String(), "must be an absolute IRL with a scheme, like \"https://example.com/page\" (no spaces)")
	}
	return s, nil
}

func decodeTimestamp(raw json.RawMessage, field at) (*time.Time, error) {
	s, err := decodeString(raw, field)
	if err != nil {
		return nil, err
	}
	t, rule := parseTimestamp(s)
	if rule != "" {
		return nil, invalid(field.String(), rule)
	}
	return &t, nil
}

// --- agents and groups ---

var ifiKeys = []string{"mbox", "mbox_sha1sum", "openid", "account"}

// parseActor parses a value that may be an Agent or a Group.
func parseActor(raw json.RawMessage, path string) (Agent, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return Agent{}, err
	}
	ot := ""
	if raw, p, ok := f.get("objectType"); ok {
		if ot, err = decodeString(raw, p); err != nil {
			return Agent{}, err
		}
	}
	switch ot {
	case "", ObjectTypeAgent:
		return parseAgentFields(f, ot)
	case ObjectTypeGroup:
		return parseGroupFields(f)
	}
	return Agent{}, invalid(joinKey(path, "objectType"), `must be "Agent" or "Group" (exact case)`)
}

func parseAgentFields(f fields, ot string) (Agent, error) {
	if f.has("member") {
		return Agent{}, invalid(joinKey(f.path, "member"), `is not a property of an Agent (a Group must say "objectType": "Group")`)
	}
	if err := f.only("an Agent", "objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"); err != nil {
		return Agent{}, err
	}
	a := Agent{ObjectType: ot}
	if err := parseNameAndIFIs(f, &a); err != nil {
		return Agent{}, err
	}
	switch n := ifiCount(a); {
	case n == 0:
		return Agent{}, invalid(fieldName(f.path), "an Agent must have exactly one inverse functional identifier (mbox, mbox_sha1sum, openid or account); it has none")
	case n > 1:
		return Agent{}, invalid(fieldName(f.path), "an Agent must have exactly one inverse functional identifier; it has "+presentIFIs(f))
	}
	return a, nil
}

func parseGroupFields(f fields) (Agent, error) {
	if err := f.only("a Group", "objectType", "name", "member", "mbox", "mbox_sha1sum", "openid", "account"); err != nil {
		return Agent{}, err
	}
	g := Agent{ObjectType: ObjectTypeGroup}
	if err := parseNameAndIFIs(f, &g); err != nil {
		return Agent{}, err
	}
	if ifiCount(g) > 1 {
		return Agent{}, invalid(fieldName(f.path), "an identified Group must have exactly one inverse functional identifier; it has "+presentIFIs(f))
	}
	raw, p, ok := f.get("member")
	if ok {
		items, err := decodeArray(raw, p)
		if err != nil {
			return Agent{}, err
		}
		g.Member = make([]Agent, 0, len(items))
		for i, item := range items {
			m, err := parseMember(item, p.index(i).String())
			if err != nil {
				return Agent{}, err
			}
			g.Member = append(g.Member, m)
		}
	}
	if ifiCount(g) == 0 && len(g.Member) == 0 {
		return Agent{}, invalid(p.String(), "an anonymous Group (one without mbox, mbox_sha1sum, openid or account) must list at least one member")
	}
	return g, nil
}

func parseMember(raw json.RawMessage, path string) (Agent, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return Agent{}, err
	}
	ot := ""
	if raw, p, ok := f.get("objectType"); ok {
		if ot, err = decodeString(raw, p); err != nil {
			return Agent{}, err
		}
		switch ot {
		case ObjectTypeAgent:
		case ObjectTypeGroup:
			return Agent{}, invalid(p.String(), "the members of a Group must be Agents, not Groups")
		default:
			return Agent{}, invalid(p.String(), `must be "Agent" (exact case)`)
		}
	}
	return parseAgentFields(f, ot)
}

func parseNameAndIFIs(f fields, a *Agent) error {
	var err error
	if raw, p, ok := f.get("name"); ok {
		if a.Name, err = decodeString(raw, p); err != nil {
			return err
		}
	}
	if raw, p, ok := f.get("mbox"); ok {
		if a.Mbox, err = decodeString(raw, p); err != nil {
			return err
		}
		if !isMbox(a.Mbox) {
			return invalid(p.String(), `must be a mailto IRI: "mailto:" followed by one email address`)
		}
	}
	if raw, p, ok := f.get("mbox_sha1sum"); ok {
		if a.MboxSHA1Sum, err = decodeString(raw, p); err != nil {
			return err
		}
		if !isSHA1Hex(a.MboxSHA1Sum) {
			return invalid(p.String(), "must be the SHA-1 of a mailto IRI as 40 hex digits")
		}
	}
	if raw, p, ok := f.get("openid"); ok {
		if a.OpenID, err = decodeString(raw, p); err != nil {
			return err
		}
		if !IsIRI(a.OpenID) {
			return invalid(p.String(), "must be an OpenID URI, like \"https://openid.example.org/alice\"")
		}
	}
	if raw, p, ok := f.get("account"); ok {
		acc, err := parseAccount(raw, p.String())
		if err != nil {
			return err
		}
		a.Account = &acc
	}
	return nil
}

func presentIFIs(f fields) string {
	var names []string
	for _, k := range ifiKeys {
		if f.has(k) {
			names = append(names, k)
		}
	}
	return strings.Join(names, " and ")
}

func parseAccount(raw json.RawMessage, path string) (Account, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return Account{}, err
	}
	if err := f.only("an account", "homePage", "name"); err != nil {
		return Account{}, err
	}
	var acc Account
	raw, p, ok := f.get("homePage")
	if !ok {
		return Account{}, invalid(p.String(), "is required")
	}
	if acc.HomePage, err = decodeIRL(raw, p); err != nil {
		return Account{}, err
	}
	raw, p, ok = f.get("name")
	if !ok {
		return Account{}, invalid(p.String(), "is required")
	}
	if acc.Name, err = decodeString(raw, p); err != nil {
		return Account{}, err
	}
	if acc.Name == "" {
		return Account{}, invalid(p.String(), "must not be empty: it is the login that identifies the agent")
	}
	return acc, nil
}

// parseAuthority accepts an Agent, or the two-member anonymous Group that
// stands for an OAuth consumer acting for a user.
func parseAuthority(raw json.RawMessage, path string) (Agent, error) {
	a, err := parseActor(raw, path)
	if err != nil {
		return Agent{}, err
	}
	if !a.IsGroup() {
		return a, nil
	}
	if a.IsIdentified() {
		return Agent{}, invalid(path, "an authority Group must be anonymous: it is the pair of an OAuth consumer and a user, not an identified Group")
	}
	if len(a.Member) != 2 {
		return Agent{}, invalid(joinKey(path, "member"), "an authority Group must have exactly two members (the OAuth consumer and the user)")
	}
	return a, nil
}

// --- verb, object, activity ---

func parseVerb(raw json.RawMessage, path string) (Verb, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return Verb{}, err
	}
	if err := f.only("a Verb", "id", "display"); err != nil {
		return Verb{}, err
	}
	var v Verb
	raw, p, ok := f.get("id")
	if !ok {
		return Verb{}, invalid(p.String(), "is required")
	}
	if v.ID, err = decodeIRI(raw, p); err != nil {
		return Verb{}, err
	}
	if raw, p, ok := f.get("display"); ok {
		if v.Display, err = parseLanguageMap(raw, p.String()); err != nil {
			return Verb{}, err
		}
	}
	return v, nil
}

func parseObject(raw json.RawMessage, path string, inSub bool, spec Spec) (Object, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return Object{}, err
	}
	ot := ""
	if raw, p, ok := f.get("objectType"); ok {
		if ot, err = decodeString(raw, p); err != nil {
			return Object{}, err
		}
	}
	switch ot {
	case "", ObjectTypeActivity:
		a, err := parseActivityFields(f, ot)
		if err != nil {
			return Object{}, err
		}
		return Object{Activity: &a}, nil
	case ObjectTypeAgent:
		a, err := parseAgentFields(f, ot)
		if err != nil {
			return Object{}, err
		}
		return Object{Agent: &a}, nil
	case ObjectTypeGroup:
		g, err := parseGroupFields(f)
		if err != nil {
			return Object{}, err
		}
		return Object{Agent: &g}, nil
	case ObjectTypeStatementRef:
		r, err := parseStatementRefFields(f)
		if err != nil {
			return Object{}, err
		}
		return Object{StatementRef: &r}, nil
	case ObjectTypeSubStatement:
		if inSub {
			return Object{}, invalid(joinKey(path, "objectType"), "a SubStatement must not contain another SubStatement")
		}
		s, err := parseSubStatement(f, spec)
		if err != nil {
			return Object{}, err
		}
		return Object{SubStatement: s}, nil
	}
	return Object{}, invalid(joinKey(path, "objectType"),
		`must be "Activity", "Agent", "Group", "StatementRef" or "SubStatement" (exact case)`)
}

func parseActivity(raw json.RawMessage, path string) (Activity, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return Activity{}, err
	}
	ot := ""
	if raw, p, ok := f.get("objectType"); ok {
		if ot, err = decodeString(raw, p); err != nil {
			return Activity{}, err
		}
		if ot != ObjectTypeActivity {
			return Activity{}, invalid(p.String(), `must be "Activity" (exact case)`)
		}
	}
	return parseActivityFields(f, ot)
}

func parseActivityFields(f fields, ot string) (Activity, error) {
	if err := f.only(`an Activity (an object without "objectType" is an Activity)`, "objectType", "id", "definition"); err != nil {
		return Activity{}, err
	}
	a := Activity{ObjectType: ot}
	raw, p, ok := f.get("id")
	if !ok {
		return Activity{}, invalid(p.String(), "is required")
	}
	var err error
	if a.ID, err = decodeIRI(raw, p); err != nil {
		return Activity{}, err
	}
	if raw, p, ok := f.get("definition"); ok {
		d, err := parseDefinition(raw, p.String())
		if err != nil {
			return Activity{}, err
		}
		a.Definition = &d
	}
	return a, nil
}

func parseStatementRefFields(f fields) (StatementRef, error) {
	if err := f.only("a StatementRef", "objectType", "id"); err != nil {
		return StatementRef{}, err
	}
	raw, p, ok := f.get("id")
	if !ok {
		return StatementRef{}, invalid(p.String(), "is required")
	}
	id, err := decodeUUID(raw, p)
	return StatementRef{ID: id}, err
}

func parseStatementRef(raw json.RawMessage, path string) (StatementRef, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return StatementRef{}, err
	}
	raw, p, ok := f.get("objectType")
	if !ok {
		return StatementRef{}, invalid(p.String(), `is required: a statement reference says "objectType": "StatementRef"`)
	}
	ot, err := decodeString(raw, p)
	if err != nil {
		return StatementRef{}, err
	}
	if ot != ObjectTypeStatementRef {
		return StatementRef{}, invalid(p.String(), `must be "StatementRef" (exact case)`)
	}
	return parseStatementRefFields(f)
}

func parseDefinition(raw json.RawMessage, path string) (ActivityDefinition, error) {
	var d ActivityDefinition
	f, err := decodeObject(raw, path)
	if err != nil {
		return d, err
	}
	if err := f.only("an Activity definition", "name", "description", "type", "moreInfo", "interactionType",
		"correctResponsesPattern", "choices", "scale", "source", "target", "steps", "extensions"); err != nil {
		return d, err
	}
	if raw, p, ok := f.get("name"); ok {
		if d.Name, err = parseLanguageMap(raw, p.String()); err != nil {
			return d, err
		}
	}
	if raw, p, ok := f.get("description"); ok {
		if d.Description, err = parseLanguageMap(raw, p.String()); err != nil {
			return d, err
		}
	}
	if raw, p, ok := f.get("type"); ok {
		if d.Type, err = decodeIRI(raw, p); err != nil {
			return d, err
		}
	}
	if raw, p, ok := f.get("moreInfo"); ok {
		if d.MoreInfo, err = decodeIRL(raw, p); err != nil {
			return d, err
		}
	}
	if raw, p, ok := f.get("interactionType"); ok {
		if d.InteractionType, err = decodeString(raw, p); err != nil {
			return d, err
		}
	}
	if raw, p, ok := f.get("correctResponsesPattern"); ok {
		items, err := decodeArray(raw, p)
		if err != nil {
			return d, err
		}
		d.CorrectResponsesPattern = make([]string, 0, len(items))
		for i, item := range items {
			s, err := decodeString(item, p.index(i))
			if err != nil {
				return d, err
			}
			d.CorrectResponsesPattern = append(d.CorrectResponsesPattern, s)
		}
	}
	for i, dst := range [...]*[]InteractionComponent{&d.Choices, &d.Scale, &d.Source, &d.Target, &d.Steps} {
		if raw, p, ok := f.get(componentListKeys[i]); ok {
			if *dst, err = parseComponents(raw, p.String()); err != nil {
				return d, err
			}
		}
	}
	if raw, p, ok := f.get("extensions"); ok {
		if d.Extensions, err = parseExtensions(raw, p.String()); err != nil {
			return d, err
		}
	}
	// The rules between properties are those every definition obeys.
	return d, d.validate(path)
}

func parseComponents(raw json.RawMessage, path string) ([]InteractionComponent, error) {
	items, err := decodeArray(raw, pathAt(path))
	if err != nil {
		return nil, err
	}
	out := make([]InteractionComponent, 0, len(items))
	for i, item := range items {
		ip := joinIndex(path, i)
		f, err := decodeObject(item, ip)
		if err != nil {
			return nil, err
		}
		if err := f.only("an interaction component", "id", "description"); err != nil {
			return nil, err
		}
		var c InteractionComponent
		raw, p, ok := f.get("id")
		if !ok {
			return nil, invalid(p.String(), "is required")
		}
		if c.ID, err = decodeString(raw, p); err != nil {
			return nil, err
		}
		if raw, p, ok := f.get("description"); ok {
			if c.Description, err = parseLanguageMap(raw, p.String()); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// --- result ---

func parseResult(raw json.RawMessage, path string) (*Result, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	if err := f.only("a Result", "score", "success", "completion", "response", "duration", "extensions"); err != nil {
		return nil, err
	}
	r := &Result{}
	if raw, p, ok := f.get("score"); ok {
		if r.Score, err = parseScore(raw, p.String()); err != nil {
			return nil, err
		}
	}
	if raw, p, ok := f.get("success"); ok {
		b, err := decodeBool(raw, p)
		if err != nil {
			return nil, err
		}
		r.Success = &b
	}
	if raw, p, ok := f.get("completion"); ok {
		b, err := decodeBool(raw, p)
		if err != nil {
			return nil, err
		}
		r.Completion = &b
	}
	if raw, p, ok := f.get("response"); ok {
		s, err := decodeString(raw, p)
		if err != nil {
			return nil, err
		}
		r.Response = &s
	}
	if raw, p, ok := f.get("duration"); ok {
		if r.Duration, err = decodeString(raw, p); err != nil {
			return nil, err
		}
		if _, ok := parseDuration(r.Duration); !ok {
			return nil, invalid(p.String(), durationRule)
		}
	}
	if raw, p, ok := f.get("extensions"); ok {
		if r.Extensions, err = parseExtensions(raw, p.String()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func parseScore(raw json.RawMessage, path string) (*Score, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	if err := f.only("a Score", "scaled", "raw", "min", "max"); err != nil {
		return nil, err
	}
	s := &Score{}
	for _, n := range []struct {
		key string
		dst **float64
	}{{"scaled", &s.Scaled}, {"raw", &s.Raw}, {"min", &s.Min}, {"max", &s.Max}} {
		if raw, p, ok := f.get(n.key); ok {
			v, err := decodeNumber(raw, p)
			if err != nil {
				return nil, err
			}
			*n.dst = &v
		}
	}
	if s.Scaled != nil && (*s.Scaled < -1 || *s.Scaled > 1) {
		return nil, invalid(joinKey(path, "scaled"), "must be between -1 and 1 inclusive")
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		return nil, invalid(joinKey(path, "min"), "must not be greater than max")
	}
	if s.Raw != nil && s.Min != nil && *s.Raw < *s.Min {
		return nil, invalid(joinKey(path, "raw"), "must not be less than min")
	}
	if s.Raw != nil && s.Max != nil && *s.Raw > *s.Max {
		return nil, invalid(joinKey(path, "raw"), "must not be greater than max")
	}
	return s, nil
}

// --- context ---

// contextKeys are the properties of a Context: those of xAPI 1.0.3 and
// the two xAPI 2.0 added (refused earlier for 1.0.3 requests).
var contextKeys = []string{"registration", "instructor", "team", "contextActivities",
	"revision", "platform", "language", "statement", "extensions", "contextAgents", "contextGroups"}

func parseContext(raw json.RawMessage, path string, objectIsActivity bool, spec Spec) (*Context, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	if spec == Spec1 {
		for _, k := range []string{"contextAgents", "contextGroups"} {
			if f.has(k) {
				return nil, invalid(joinKey(path, k), "is an xAPI 2.0 property; send the request with X-Experience-API-Version: 2.0.0 to use it")
			}
		}
	}
	if err := f.only("a Context", contextKeys...); err != nil {
		return nil, err
	}
	c := &Context{}
	if raw, p, ok := f.get("registration"); ok {
		if c.Registration, err = decodeUUID(raw, p); err != nil {
			return nil, err
		}
	}
	if raw, p, ok := f.get("instructor"); ok {
		a, err := parseActor(raw, p.String())
		if err != nil {
			return nil, err
		}
		c.Instructor = &a
	}
	if raw, p, ok := f.get("team"); ok {
		if err := requireGroup(raw, p.String()); err != nil {
			return nil, err
		}
		g, err := parseActor(raw, p.String())
		if err != nil {
			return nil, err
		}
		c.Team = &g
	}
	if raw, p, ok := f.get("contextActivities"); ok {
		if c.ContextActivities, err = parseContextActivities(raw, p.String()); err != nil {
			return nil, err
		}
	}
	if raw, p, ok := f.get("contextAgents"); ok {
		if c.ContextAgents, err = parseContextAgents(raw, p.String()); err != nil {
			return nil, err
		}
	}
	if raw, p, ok := f.get("contextGroups"); ok {
		if c.ContextGroups, err = parseContextGroups(raw, p.String()); err != nil {
			return nil, err
		}
	}
	for _, key := range []string{"revision", "platform"} {
		raw, p, ok := f.get(key)
		if !ok {
			continue
		}
		s, err := decodeString(raw, p)
		if err != nil {
			return nil, err
		}
		if !objectIsActivity {
			return nil, invalid(p.String(), "may only be used when the statement's object is an Activity")
		}
		if key == "revision" {
			c.Revision = s
		} else {
			c.Platform = s
		}
	}
	if raw, p, ok := f.get("language"); ok {
		if c.Language, err = decodeString(raw, p); err != nil {
			return nil, err
		}
		if !IsLanguageTag(c.Language) {
			return nil, invalid(p.String(), "is not an RFC 5646 language tag, like \"en\" or \"en-US\"")
		}
	}
	if raw, p, ok := f.get("statement"); ok {
		r, err := parseStatementRef(raw, p.String())
		if err != nil {
			return nil, err
		}
		c.Statement = &r
	}
	if raw, p, ok := f.get("extensions"); ok {
		if c.Extensions, err = parseExtensions(raw, p.String()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// requireGroup checks up front that a team is a Group, so that an Agent
// there gets that rule rather than a complaint about its properties.
func requireGroup(raw json.RawMessage, path string) error {
	f, err := decodeObject(raw, path)
	if err != nil {
		return err
	}
	rawOT, p, ok := f.get("objectType")
	if !ok {
		return invalid(p.String(), `is required: a team is a Group ("objectType": "Group")`)
	}
	ot, err := decodeString(rawOT, p)
	if err != nil {
		return err
	}
	if ot != ObjectTypeGroup {
		return invalid(p.String(), `must be "Group": a team is a Group`)
	}
	return nil
}

func parseContextActivities(raw json.RawMessage, path string) (*ContextActivities, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	if err := f.only("contextActivities", "parent", "grouping", "category", "other"); err != nil {
		return nil, err
	}
	if f.len() == 0 {
		return nil, invalid(path, "must not be empty: use parent, grouping, category or other")
	}
	ca := &ContextActivities{}
	for _, k := range []struct {
		key string
		dst *[]Activity
	}{{"parent", &ca.Parent}, {"grouping", &ca.Grouping}, {"category", &ca.Category}, {"other", &ca.Other}} {
		raw, p, ok := f.get(k.key)
		if !ok {
			continue
		}
		switch kindOf(raw) {
		case kindObject:
			// A single activity is allowed for 0.95 compatibility; the LRS
			// stores and returns it as an array of one.
			a, err := parseActivity(raw, p.String())
			if err != nil {
				return nil, err
			}
			*k.dst = []Activity{a}
		case kindArray:
			items, err := decodeArray(raw, p)
			if err != nil {
				return nil, err
			}
			list := make([]Activity, 0, len(items))
			for i, item := range items {
				a, err := parseActivity(item, p.index(i).String())
				if err != nil {
					return nil, err
				}
				list = append(list, a)
			}
			*k.dst = list
		case kindNull:
			return nil, invalid(p.String(), "must not be null")
		default:
			return nil, invalid(p.String(), "must be an Activity object or an array of Activity objects")
		}
	}
	return ca, nil
}

// parseContextAgents parses context.contextAgents (xAPI 2.0, Data
// 2.4.6.3): an array of contextAgent objects, each naming one Agent (not a
// Group) and, optionally, the types of the part it played.
func parseContextAgents(raw json.RawMessage, path string) ([]ContextAgent, error) {
	items, err := decodeArray(raw, pathAt(path))
	if err != nil {
		return nil, err
	}
	out := make([]ContextAgent, 0, len(items))
	for i, item := range items {
		p := joinIndex(path, i)
		f, err := decodeObject(item, p)
		if err != nil {
			return nil, err
		}
		if err := f.only("a contextAgent", "objectType", "agent", "relevantTypes"); err != nil {
			return nil, err
		}
		if err := requireObjectType(f, "contextAgent"); err != nil {
			return nil, err
		}
		rawAgent, ap, ok := f.get("agent")
		if !ok {
			return nil, invalid(ap.String(), "is required: a contextAgent names one Agent")
		}
		af, err := decodeObject(rawAgent, ap.String())
		if err != nil {
			return nil, err
		}
		ot := ""
		if rawOT, otp, ok := af.get("objectType"); ok {
			if ot, err = decodeString(rawOT, otp); err != nil {
				return nil, err
			}
			if ot != ObjectTypeAgent {
				return nil, invalid(otp.String(), `must be "Agent": a contextAgent names one Agent (use contextGroups for Groups)`)
			}
		}
		a, err := parseAgentFields(af, ot)
		if err != nil {
			return nil, err
		}
		ca := ContextAgent{Agent: a}
		if ca.RelevantTypes, err = parseRelevantTypes(f); err != nil {
			return nil, err
		}
		out = append(out, ca)
	}
	return out, nil
}

// parseContextGroups parses context.contextGroups (xAPI 2.0, Data
// 2.4.6.4): an array of contextGroup objects, each naming one Group,
// identified or anonymous.
func parseContextGroups(raw json.RawMessage, path string) ([]ContextGroup, error) {
	items, err := decodeArray(raw, pathAt(path))
	if err != nil {
		return nil, err
	}
	out := make([]ContextGroup, 0, len(items))
	for i, item := range items {
		p := joinIndex(path, i)
		f, err := decodeObject(item, p)
		if err != nil {
			return nil, err
		}
		if err := f.only("a contextGroup", "objectType", "group", "relevantTypes"); err != nil {
			return nil, err
		}
		if err := requireObjectType(f, "contextGroup"); err != nil {
			return nil, err
		}
		rawGroup, gp, ok := f.get("group")
		if !ok {
			return nil, invalid(gp.String(), "is required: a contextGroup names one Group")
		}
		if err := requireGroup(rawGroup, gp.String()); err != nil {
			return nil, err
		}
		g, err := parseActor(rawGroup, gp.String())
		if err != nil {
			return nil, err
		}
		cg := ContextGroup{Group: g}
		if cg.RelevantTypes, err = parseRelevantTypes(f); err != nil {
			return nil, err
		}
		out = append(out, cg)
	}
	return out, nil
}

// requireObjectType checks the mandatory objectType of an object whose
// kind the specification fixes.
func requireObjectType(f fields, want string) error {
	raw, p, ok := f.get("objectType")
	if !ok {
		return invalid(p.String(), "is required and must be %q", want)
	}
	ot, err := decodeString(raw, p)
	if err != nil {
		return err
	}
	if ot != want {
		return invalid(p.String(), "must be %q (exact case)", want)
	}
	return nil
}

// parseRelevantTypes parses the optional relevantTypes of a contextAgent
// or contextGroup: when present, a non-empty array of IRIs.
func parseRelevantTypes(f fields) ([]string, error) {
	raw, p, ok := f.get("relevantTypes")
	if !ok {
		return nil, nil
	}
	items, err := decodeArray(raw, p)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, invalid(p.String(), "must list at least one type IRI when present")
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		t, err := decodeIRI(item, p.index(i))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// --- attachments ---

func parseAttachments(raw json.RawMessage, path string) ([]Attachment, error) {
	items, err := decodeArray(raw, pathAt(path))
	if err != nil {
		return nil, err
	}
	out := make([]Attachment, 0, len(items))
	for i, item := range items {
		a, err := parseAttachment(item, joinIndex(path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAttachment(raw json.RawMessage, path string) (Attachment, error) {
	var a Attachment
	f, err := decodeObject(raw, path)
	if err != nil {
		return a, err
	}
	if err := f.only("an Attachment", "usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"); err != nil {
		return a, err
	}
	for _, key := range []string{"usageType", "display", "contentType", "length", "sha2"} {
		if !f.has(key) {
			return a, invalid(joinKey(path, key), "is required")
		}
	}
	raw, p, _ := f.get("usageType")
	if a.UsageType, err = decodeIRI(raw, p); err != nil {
		return a, err
	}
	raw, p, _ = f.get("display")
	if a.Display, err = parseLanguageMap(raw, p.String()); err != nil {
		return a, err
	}
	if raw, p, ok := f.get("description"); ok {
		if a.Description, err = parseLanguageMap(raw, p.String()); err != nil {
			return a, err
		}
	}
	raw, p, _ = f.get("contentType")
	if a.ContentType, err = decodeString(raw, p); err != nil {
		return a, err
	}
	if !isMediaType(a.ContentType) {
		return a, invalid(p.String(), "must be an Internet media type, like \"application/pdf\"")
	}
	raw, p, _ = f.get("length")
	if a.Length, err = decodeInteger(raw, p); err != nil {
		return a, err
	}
	if a.Length < 0 {
		return a, invalid(p.String(), "must not be negative")
	}
	raw, p, _ = f.get("sha2")
	if a.SHA2, err = decodeString(raw, p); err != nil {
		return a, err
	}
	if !isSHA2Hex(a.SHA2) {
		return a, invalid(p.String(), "must be the hex SHA-2 digest of the attachment (64 hex digits for SHA-256)")
	}
	if raw, p, ok := f.get("fileUrl"); ok {
		if a.FileURL, err = decodeIRL(raw, p); err != nil {
			return a, err
		}
	}
	return a, nil
}

// --- language maps and extensions ---

func parseLanguageMap(raw json.RawMessage, path string) (LanguageMap, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	if f.len() == 0 {
		return nil, invalid(path, "must have at least one entry (a language map maps language tags to text)")
	}
	members := f.sorted()
	lm := make(LanguageMap, len(members))
	for _, m := range members {
		k := string(m.key)
		if lm[k], err = decodeString(m.val, mapKeyAt(path, k)); err != nil {
			return nil, err
		}
	}
	return lm, checkLanguageMap(lm, path)
}

func parseExtensions(raw json.RawMessage, path string) (Extensions, error) {
	f, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	ext := make(Extensions, f.len())
	for _, m := range f.sorted() {
		k := string(m.key)
		if !IsIRI(k) {
			return nil, invalid(joinMapKey(path, k), "is not an IRI: extension keys must be IRIs, like \"https://example.com/extensions/level\"")
		}
		// Any JSON value is allowed here, null included: the LRS must not
		// reject a statement for what its extensions contain.
		ext[k] = compactJSON(m.val)
	}
	return ext, nil
}
