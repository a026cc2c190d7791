package xapi

import (
	"errors"
	"strings"
	"testing"
)

const (
	agentBo        = `{"objectType": "Agent", "mbox": "mailto:bo@example.com"}`
	subStatement   = `{"objectType": "SubStatement", "actor": {"mbox": "mailto:bo@example.com"}, "verb": {"id": "http://example.com/verbs/planned"}, "object": {"id": "http://example.com/activities/visit"}}`
	statementRef   = `{"objectType": "StatementRef", "id": "e05aa883-acaf-40ad-bf54-02c8ce485fb0"}`
	attachmentOK   = `{"usageType": "http://adlnet.gov/expapi/attachments/signature", "display": {"en-US": "Signature"}, "contentType": "application/octet-stream", "length": 27, "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"}`
	groupAnon      = `{"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}, {"account": {"homePage": "https://lms.example.com", "name": "u-17"}}]}`
	groupIdent     = `{"objectType": "Group", "name": "Team PB", "account": {"homePage": "https://lms.example.com", "name": "team-pb"}}`
	oauthAuthority = `{"objectType": "Group", "member": [{"account": {"homePage": "https://lrs.example.com/oauth/token", "name": "consumer-x75db"}}, {"mbox": "mailto:bob@example.com"}]}`
)

func TestParseStatementAccepts(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	sub := e("object", subStatement)
	tests := []struct {
		name string
		body string
	}{
		{"base", baseStatement},
		{"no id", e("id", "-")},
		{"upper-case id", e("id", `"FD41C918-B88B-4B20-A0A5-A4C32391AAA0"`)},
		{"id of any UUID variant", e("id", `"00000000-0000-0000-0000-000000000000"`)},
		{"actor without objectType", e("actor.objectType", "-")},
		{"actor mbox_sha1sum", e("actor.mbox", "-", "actor.mbox_sha1sum", `"EBD31E95054C018B10727CCFFD2EF2EC3A016EE9"`)},
		{"actor openid", e("actor.mbox", "-", "actor.openid", `"https://openid.example.org/ana"`)},
		{"actor account", e("actor.mbox", "-", "actor.account", `{"homePage": "https://lms.example.com", "name": "1625378"}`)},
		{"actor mbox with plus and subdomain", e("actor.mbox", `"mailto:ana+xapi@mail.Example.COM"`)},
		{"actor anonymous group", e("actor", groupAnon)},
		{"actor identified group", e("actor", groupIdent)},
		{"actor identified group with members", e("actor", groupIdent, "actor.member", `[{"mbox": "mailto:a@example.com"}, {"objectType": "Agent", "openid": "https://id.example.org/b"}]`)},
		{"actor name empty string", e("actor.name", `""`)},
		{"verb without display", e("verb.display", "-")},
		{"verb display in many languages", e("verb.display", `{"en-US": "attempted", "de": "versucht", "zh-Hant": "x", "sr-Latn-RS": "x", "i-enochian": "x", "x-whatever": "x", "sl-rozaj-biske": "x", "de-CH-1901": "x", "az-Arab-x-AZE-derbend": "x", "zh-cmn-Hans-CN": "x", "hy-Latn-IT-arevela": "x", "es-419": "x"}`)},
		{"verb id urn", e("verb.id", `"urn:example:verbs:attempted"`)},
		{"verb id with unicode", e("verb.id", `"http://example.com/فعل/خواندن"`)},
		{"object without objectType", e("object.objectType", "-")},
		{"object without definition", e("object.definition", "-")},
		{"object agent", e("object", agentBo)},
		{"object anonymous group", e("object", groupAnon)},
		{"object identified group", e("object", groupIdent)},
		{"object statement ref", e("object", statementRef)},
		{"object substatement", sub},
		{"substatement with result, context and future timestamp", edit(t, sub, "object.result", `{"completion": true}`, "object.context", `{"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "revision": "2"}`, "object.timestamp", `"2999-01-01T00:00:00Z"`)},
		{"substatement with statement ref object", edit(t, sub, "object.object", statementRef)},
		{"substatement with attachments", edit(t, sub, "object.attachments", "["+attachmentOK+"]")},
		{"empty definition", e("object.definition", `{}`)},
		{"full definition", e("object.definition", `{"name": {"en": "Q1"}, "description": {"en": "What?"}, "type": "http://adlnet.gov/expapi/activities/cmi.interaction", "moreInfo": "https://example.com/q1", "extensions": {"https://example.com/ext/difficulty": 0.4}}`)},
		{"true-false interaction", e("object.definition", `{"interactionType": "true-false", "correctResponsesPattern": ["true"]}`)},
		{"choice interaction", e("object.definition", `{"interactionType": "choice", "correctResponsesPattern": ["golf[,]tetris"], "choices": [{"id": "golf", "description": {"en-US": "Golf"}}, {"id": "tetris"}]}`)},
		{"sequencing interaction", e("object.definition", `{"interactionType": "sequencing", "correctResponsesPattern": ["a[,]b"], "choices": [{"id": "a"}, {"id": "b"}]}`)},
		{"likert interaction", e("object.definition", `{"interactionType": "likert", "correctResponsesPattern": ["likert_3"], "scale": [{"id": "likert_0"}, {"id": "likert_3"}]}`)},
		{"matching interaction", e("object.definition", `{"interactionType": "matching", "correctResponsesPattern": ["ben[.]3"], "source": [{"id": "ben"}], "target": [{"id": "3"}]}`)},
		{"performance interaction", e("object.definition", `{"interactionType": "performance", "correctResponsesPattern": ["pong[.]1:[,]dg[.]:10"], "steps": [{"id": "pong"}, {"id": "dg"}]}`)},
		{"fill-in interaction", e("object.definition", `{"interactionType": "fill-in", "correctResponsesPattern": ["{case_matters=false}{lang=en}Bob"]}`)},
		{"long-fill-in interaction", e("object.definition", `{"interactionType": "long-fill-in", "correctResponsesPattern": ["{order_matters=false}a[,]b"]}`)},
		{"numeric interaction", e("object.definition", `{"interactionType": "numeric", "correctResponsesPattern": ["4[:]"]}`)},
		{"other interaction", e("object.definition", `{"interactionType": "other", "correctResponsesPattern": ["(35.937432,-86.868896)"]}`)},
		{"empty correct responses pattern", e("object.definition", `{"interactionType": "choice", "correctResponsesPattern": [], "choices": [{"id": "a"}]}`)},
		{"component ids repeat across lists", e("object.definition", `{"interactionType": "matching", "source": [{"id": "1"}], "target": [{"id": "1"}]}`)},
		{"empty result", e("result", `{}`)},
		{"full result", e("result", `{"score": {"scaled": 0.95, "raw": 95, "min": 0, "max": 100}, "success": true, "completion": true, "response": "We agreed.", "duration": "PT1H0M0S", "extensions": {"https://example.com/ext/minutes": "X:\\minutes"}}`)},
		{"scaled at -1", e("result.score.scaled", `-1.0000`)},
		{"scaled at 1", e("result.score.scaled", `1.0`)},
		{"raw equals min and max", e("result.score", `{"raw": 5, "min": 5, "max": 5}`)},
		{"raw without bounds", e("result.score", `{"raw": -1e10}`)},
		{"max only", e("result.score", `{"max": 100.6767676}`)},
		{"success false and empty response", e("result", `{"success": false, "response": ""}`)},
		{"null extension value", e("result.extensions", `{"http://example.com/null": null}`)},
		{"empty extensions", e("result.extensions", `{}`)},
		{"empty context", e("context", `{}`)},
		{"full context", e("context", `{"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "instructor": {"mbox": "mailto:t@example.com"}, "team": `+groupIdent+`, "contextActivities": {"parent": [{"id": "http://example.com/test1"}], "grouping": [{"objectType": "Activity", "id": "http://example.com/algebra"}], "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}], "other": [{"id": "http://example.com/o1"}, {"id": "http://example.com/o2"}]}, "revision": "rev_10_3_2", "platform": "Example virtual meeting software", "language": "tlh", "statement": `+statementRef+`, "extensions": {"http://example.com/profiles/meetings/contextextensions/airspeed": "600mph", "http://example.com/profiles/meetings/contextextensions/pilot": {"name": "Thomas", "id": "http://openid.com/342"}}}`)},
		{"instructor group", e("context.instructor", groupAnon)},
		{"context activity as single object", e("context.contextActivities", `{"parent": {"id": "http://example.com/test1"}}`)},
		{"context activity empty array", e("context.contextActivities", `{"parent": [], "other": {"id": "http://example.com/o"}}`)},
		{"language three-letter code", e("context.language", `"cmn"`)},
		{"language script and region", e("context.language", `"sr-Latn-RS"`)},
		{"timestamp Z", e("timestamp", `"2013-05-18T05:32:34.804Z"`)},
		{"timestamp offset", e("timestamp", `"2015-11-18T12:17:00+00:00"`)},
		{"timestamp basic offset", e("timestamp", `"2015-11-18T12:17:00.1+0530"`)},
		{"timestamp hour offset", e("timestamp", `"2015-11-18T12:17:00-05"`)},
		{"timestamp long fraction", e("timestamp", `"2015-11-18T12:17:00.123456789123Z"`)},
		{"timestamp lower-case t and z", e("timestamp", `"2015-11-18t12:17:00z"`)},
		{"stored", e("stored", `"2015-11-18T12:17:01Z"`)},
		{"authority agent", e("authority", `{"objectType": "Agent", "account": {"homePage": "https://lrs.example.com", "name": "client-1"}}`)},
		{"authority OAuth pair", e("authority", oauthAuthority)},
		{"version 1.0", e("version", `"1.0"`)},
		{"version 1.0.0", e("version", `"1.0.0"`)},
		{"version 1.0.9", e("version", `"1.0.9"`)},
		{"attachment", e("attachments", "["+attachmentOK+"]")},
		{"attachment full", e("attachments", `[{"usageType": "http://example.com/attachment-usage/test", "display": {"en-US": "A test attachment", "de": "Ein Test"}, "description": {"en-US": "desc"}, "contentType": "text/plain; charset=ascii", "length": 27, "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a", "fileUrl": "http://over.there.com/file.txt"}]`)},
		{"attachment empty file, sha512, integral float length", e("attachments", `[{"usageType": "http://example.com/u", "display": {"en": "x"}, "contentType": "text/plain", "length": 0.0, "sha2": "`+strings.Repeat("ab", 64)+`"}]`)},
		{"no attachments", e("attachments", `[]`)},
		{"voiding statement", e("verb.id", `"`+VerbVoided+`"`, "object", statementRef)},
		{"extension key urn", e("context.extensions", `{"urn:x-example:level": [1, {"a": null}]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseStatement([]byte(tc.body)); err != nil {
				t.Fatalf("rejected: %v\nbody: %s", err, tc.body)
			}
		})
	}
}

type rejectCase struct {
	name  string
	body  string
	field string
	rule  string
}

func runRejects(t *testing.T, tests []rejectCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseStatement([]byte(tc.body))
			if s != nil && err != nil {
				t.Errorf("returned a statement together with an error")
			}
			checkInvalid(t, err, tc.field, tc.rule)
		})
	}
}

func TestParseStatementRejectsBody(t *testing.T) {
	runRejects(t, []rejectCase{
		{"empty body", ``, "statement", "not valid JSON"},
		{"truncated JSON", `{"actor": `, "statement", "not valid JSON"},
		{"trailing garbage", baseStatement + `}`, "statement", "not valid JSON"},
		{"null", `null`, "statement", "must not be null"},
		{"string", `"statement"`, "statement", "must be an object, not a string"},
		{"array", `[` + baseStatement + `]`, "statement", "must be an object, not an array"},
		{"invalid UTF-8", "{\"actor\": \"\xff\"}", "statement", "UTF-8"},
	})
}

func TestParseStatementRejectsStatement(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	runRejects(t, []rejectCase{
		{"no actor", e("actor", "-"), "actor", "is required"},
		{"no verb", e("verb", "-"), "verb", "is required"},
		{"no object", e("object", "-"), "object", "is required"},
		{"unknown property", e("foo", `1`), "foo", "is not a property of a Statement"},
		{"objectType on a statement", e("objectType", `"Statement"`), "objectType", "is not a property of a Statement"},
		{"wrong case Actor", e("actor", "-", "Actor", agentBo), "Actor", `did you mean "actor"`},
		{"wrong case iD", e("iD", `"fd41c918-b88b-4b20-a0a5-a4c32391aaa1"`), "iD", `did you mean "id"`},
		{"wrong case timeStamp", e("timeStamp", `"2015-11-18T12:17:00Z"`), "timeStamp", `did you mean "timestamp"`},
		{"wrong case attachmentS", e("attachmentS", `[]`), "attachmentS", `did you mean "attachments"`},
		{"id not a UUID", e("id", `"abc"`), "id", "UUID"},
		{"id empty", e("id", `""`), "id", "UUID"},
		{"id too many digits", e("id", `"AA97B177-9383-4934-8543-0F91A7A028368"`), "id", "UUID"},
		{"id non-hex letter", e("id", `"MA97B177-9383-4934-8543-0F91A7A02836"`), "id", "UUID"},
		{"id without dashes", e("id", `"fd41c918b88b4b20a0a5a4c32391aaa0"`), "id", "UUID"},
		{"id braced", e("id", `"{fd41c918-b88b-4b20-a0a5-a4c32391aaa}"`), "id", "UUID"},
		{"id number", e("id", `12345`), "id", "must be a string, not a number"},
		{"id object", e("id", `{"key": "x"}`), "id", "must be a string, not an object"},
		{"id null", e("id", `null`), "id", "must not be null"},
		{"timestamp text", e("timestamp", `"should fail"`), "timestamp", "ISO 8601"},
		{"timestamp US date", e("timestamp", `"01/011/2015"`), "timestamp", "ISO 8601"},
		{"timestamp -00", e("timestamp", `"2008-09-15T15:53:00.601-00"`), "timestamp", "-00:00"},
		{"timestamp -0000", e("timestamp", `"2008-09-15T15:53:00.601-0000"`), "timestamp", "-00:00"},
		{"timestamp -00:00", e("timestamp", `"2008-09-15T15:53:00.601-00:00"`), "timestamp", "-00:00"},
		{"timestamp without zone", e("timestamp", `"2008-09-15T15:53:00.601"`), "timestamp", "time zone"},
		{"timestamp number", e("timestamp", `1447849020`), "timestamp", "must be a string"},
		{"stored invalid", e("stored", `"yesterday"`), "stored", "ISO 8601"},
		{"stored null", e("stored", `null`), "stored", "must not be null"},
		{"version 1.1.0", e("version", `"1.1.0"`), "version", "1.0"},
		{"version 0.9.9", e("version", `"0.9.9"`), "version", "1.0"},
		{"version text", e("version", `"should fail"`), "version", "1.0"},
		{"version 1.0.", e("version", `"1.0."`), "version", "1.0"},
		{"version number", e("version", `1.0`), "version", "must be a string, not a number"},
		{"authority with two IFIs", e("authority", `{"mbox": "mailto:a@example.com", "openid": "https://id.example.org/a"}`), "authority", "mbox and openid"},
		{"authority identified group", e("authority", groupIdent), "authority", "must be anonymous"},
		{"authority group of one", e("authority", `{"objectType": "Group", "member": [{"mbox": "mailto:bob@example.com"}]}`), "authority.member", "exactly two members"},
		{"authority group of three", e("authority", `{"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}, {"mbox": "mailto:c@example.com"}]}`), "authority.member", "exactly two members"},
		{"authority wrong case objectType", e("authority", `{"objectType": "agent", "mbox": "mailto:a@example.com"}`), "authority.objectType", `"Agent" or "Group"`},
		{"voiding an activity", e("verb.id", `"`+VerbVoided+`"`), "object.objectType", "StatementRef"},
		{"voiding an agent", e("verb.id", `"`+VerbVoided+`"`, "object", agentBo), "object.objectType", "StatementRef"},
	})
}

func TestParseStatementRejectsActor(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	runRejects(t, []rejectCase{
		{"actor null", e("actor", `null`), "actor", "must not be null"},
		{"actor string", e("actor", `"ana@example.com"`), "actor", "must be an object, not a string"},
		{"no IFI", e("actor.mbox", "-"), "actor", "has none"},
		{"two IFIs", e("actor.openid", `"https://openid.example.org/ana"`), "actor", "mbox and openid"},
		{"three IFIs", e("actor.openid", `"https://openid.example.org/ana"`, "actor.mbox_sha1sum", `"ebd31e95054c018b10727ccffd2ef2ec3a016ee9"`), "actor", "mbox and mbox_sha1sum and openid"},
		{"objectType lower case agent", e("actor.objectType", `"agent"`), "actor.objectType", `"Agent" or "Group"`},
		{"objectType lower case group", e("actor.objectType", `"group"`), "actor.objectType", `"Agent" or "Group"`},
		{"objectType Person", e("actor.objectType", `"Person"`), "actor.objectType", `"Agent" or "Group"`},
		{"objectType number", e("actor.objectType", `1`), "actor.objectType", "must be a string"},
		{"mbox without mailto", e("actor.mbox", `"ana@example.com"`), "actor.mbox", "mailto"},
		{"mbox upper-case scheme", e("actor.mbox", `"MAILTO:ana@example.com"`), "actor.mbox", "mailto"},
		{"mbox without address", e("actor.mbox", `"mailto:"`), "actor.mbox", "mailto"},
		{"mbox without domain", e("actor.mbox", `"mailto:ana@"`), "actor.mbox", "mailto"},
		{"mbox without local part", e("actor.mbox", `"mailto:@example.com"`), "actor.mbox", "mailto"},
		{"mbox with space", e("actor.mbox", `"mailto:ana lima@example.com"`), "actor.mbox", "mailto"},
		{"mbox with two addresses", e("actor.mbox", `"mailto:a@example.com,b@example.com"`), "actor.mbox", "mailto"},
		{"mbox empty", e("actor.mbox", `""`), "actor.mbox", "mailto"},
		{"mbox null", e("actor.mbox", `null`), "actor.mbox", "must not be null"},
		{"mbox_sha1sum too short", e("actor.mbox", "-", "actor.mbox_sha1sum", `"ebd31e95054c018b10727ccffd2ef2ec3a016ee"`), "actor.mbox_sha1sum", "40 hex"},
		{"mbox_sha1sum not hex", e("actor.mbox", "-", "actor.mbox_sha1sum", `"zbd31e95054c018b10727ccffd2ef2ec3a016ee9"`), "actor.mbox_sha1sum", "40 hex"},
		{"openid not a URI", e("actor.mbox", "-", "actor.openid", `"ana"`), "actor.openid", "OpenID URI"},
		{"account without homePage", e("actor.mbox", "-", "actor.account", `{"name": "1625378"}`), "actor.account.homePage", "is required"},
		{"account without name", e("actor.mbox", "-", "actor.account", `{"homePage": "https://lms.example.com"}`), "actor.account.name", "is required"},
		{"account homePage not an IRL", e("actor.mbox", "-", "actor.account", `{"homePage": "lms.example.com", "name": "1"}`), "actor.account.homePage", "IRL"},
		{"account name object", e("actor.mbox", "-", "actor.account", `{"homePage": "https://lms.example.com", "name": {"key": "should fail"}}`), "actor.account.name", "must be a string, not an object"},
		{"account name empty", e("actor.mbox", "-", "actor.account", `{"homePage": "https://lms.example.com", "name": ""}`), "actor.account.name", "must not be empty"},
		{"account extra property", e("actor.mbox", "-", "actor.account", `{"homePage": "https://lms.example.com", "name": "1", "id": 2}`), "actor.account.id", "is not a property of an account"},
		{"account wrong case", e("actor.mbox", "-", "actor.account", `{"homepage": "https://lms.example.com", "name": "1"}`), "actor.account.homepage", `did you mean "homePage"`},
		{"account string", e("actor.mbox", "-", "actor.account", `"https://lms.example.com|1"`), "actor.account", "must be an object"},
		{"name null", e("actor.name", `null`), "actor.name", "must not be null"},
		{"name number", e("actor.name", `42`), "actor.name", "must be a string"},
		{"agent with members", e("actor.member", `[]`), "actor.member", `"objectType": "Group"`},
		{"agent unknown property", e("actor.email", `"ana@example.com"`), "actor.email", "is not a property of an Agent"},
		{"group with two IFIs", e("actor", groupIdent, "actor.mbox", `"mailto:team@example.com"`), "actor", "mbox and account"},
		{"anonymous group without members", e("actor", `{"objectType": "Group", "name": "Ad hoc"}`), "actor.member", "at least one member"},
		{"anonymous group with no members", e("actor", `{"objectType": "Group", "member": []}`), "actor.member", "at least one member"},
		{"group members not an array", e("actor", `{"objectType": "Group", "member": {"mbox": "mailto:a@example.com"}}`), "actor.member", "must be an array, not an object"},
		{"group member is a group", e("actor", `{"objectType": "Group", "member": [`+groupAnon+`]}`), "actor.member[0].objectType", "Agents, not Groups"},
		{"group member without IFI", e("actor", `{"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}, {"name": "B"}]}`), "actor.member[1]", "has none"},
		{"group member with bad mbox", e("actor", `{"objectType": "Group", "member": [{"mbox": "a@example.com"}]}`), "actor.member[0].mbox", "mailto"},
		{"group member not an object", e("actor", `{"objectType": "Group", "member": ["mailto:a@example.com"]}`), "actor.member[0]", "must be an object, not a string"},
		{"group member lower-case objectType", e("actor", `{"objectType": "Group", "member": [{"objectType": "agent", "mbox": "mailto:a@example.com"}]}`), "actor.member[0].objectType", `must be "Agent"`},
		{"group unknown property", e("actor", `{"objectType": "Group", "members": [{"mbox": "mailto:a@example.com"}]}`), "actor.members", "is not a property of a Group"},
	})
}

func TestParseStatementRejectsVerb(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	runRejects(t, []rejectCase{
		{"verb string", e("verb", `"attempted"`), "verb", "must be an object"},
		{"verb empty", e("verb", `{}`), "verb.id", "is required"},
		{"verb id missing", e("verb.id", "-"), "verb.id", "is required"},
		{"verb id not an IRI", e("verb.id", `"attempted"`), "verb.id", "IRI"},
		{"verb id bad scheme", e("verb.id", `"ab=c://should.fail.com"`), "verb.id", "IRI"},
		{"verb id with space", e("verb.id", `"http://example.com/my verb"`), "verb.id", "IRI"},
		{"verb id empty authority", e("verb.id", `"http://"`), "verb.id", "IRI"},
		{"verb id bad escape", e("verb.id", `"http://example.com/%zz"`), "verb.id", "IRI"},
		{"verb id empty", e("verb.id", `""`), "verb.id", "IRI"},
		{"display string", e("verb.display", `"attempted"`), "verb.display", "must be an object, not a string"},
		{"display empty", e("verb.display", `{}`), "verb.display", "at least one entry"},
		{"display key not a tag", e("verb.display", `{"a12345": "attended"}`), `verb.display["a12345"]`, "RFC 5646"},
		{"display key with two regions", e("verb.display", `{"de-419-DE": "besucht"}`), `verb.display["de-419-DE"]`, "RFC 5646"},
		{"display key single-letter primary", e("verb.display", `{"a-DE": "x"}`), `verb.display["a-DE"]`, "RFC 5646"},
		{"display key repeated extension", e("verb.display", `{"ar-a-aaa-b-bbb-a-ccc": "x"}`), `verb.display["ar-a-aaa-b-bbb-a-ccc"]`, "RFC 5646"},
		{"display key with underscore", e("verb.display", `{"en_US": "x"}`), `verb.display["en_US"]`, "RFC 5646"},
		{"display keys differing in case", e("verb.display", `{"en-US": "a", "en-us": "b"}`), `verb.display["en-us"]`, `same language as "en-US"`},
		{"display value null", e("verb.display", `{"en-US": null}`), `verb.display["en-US"]`, "must not be null"},
		{"display value number", e("verb.display", `{"en-US": 1}`), `verb.display["en-US"]`, "must be a string"},
		{"verb unknown property", e("verb.Display", `{"en": "x"}`), "verb.Display", `did you mean "display"`},
	})
}

func TestParseStatementRejectsObject(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	def := func(d string) string { return e("object.definition", d) }
	runRejects(t, []rejectCase{
		{"object null", e("object", `null`), "object", "must not be null"},
		{"objectType lower case", e("object.objectType", `"activity"`), "object.objectType", "exact case"},
		{"objectType unknown", e("object.objectType", `"Course"`), "object.objectType", `"Activity", "Agent", "Group", "StatementRef" or "SubStatement"`},
		{"activity without id", e("object.id", "-"), "object.id", "is required"},
		{"activity id not an IRI", e("object.id", `"should error"`), "object.id", "IRI"},
		{"activity id relative", e("object.id", `"/activities/1"`), "object.id", "IRI"},
		{"activity id fragment only", e("object.id", `"#q1"`), "object.id", "IRI"},
		{"agent fields on an implicit activity", e("object", `{"mbox": "mailto:bo@example.com"}`), "object.mbox", "is not a property of an Activity"},
		{"definition string", def(`"should error"`), "object.definition", "must be an object, not a string"},
		{"definition number", def(`12345`), "object.definition", "must be an object, not a number"},
		{"definition unknown property", def(`{"title": {"en": "x"}}`), "object.definition.title", "is not a property of an Activity definition"},
		{"definition wrong case", def(`{"Name": {"en": "x"}}`), "object.definition.Name", `did you mean "name"`},
		{"name empty", def(`{"name": {}}`), "object.definition.name", "at least one entry"},
		{"name string", def(`{"name": "Algebra"}`), "object.definition.name", "must be an object"},
		{"name bad tag", def(`{"name": {"de-419-DE": "x"}}`), `object.definition.name["de-419-DE"]`, "RFC 5646"},
		{"description bad tag", def(`{"description": {"a12345": "x"}}`), `object.definition.description["a12345"]`, "RFC 5646"},
		{"description number", def(`{"description": 12345}`), "object.definition.description", "must be an object, not a number"},
		{"type not an IRI", def(`{"type": "should error"}`), "object.definition.type", "IRI"},
		{"moreInfo not an IRL", def(`{"moreInfo": "should error"}`), "object.definition.moreInfo", "IRL"},
		{"moreInfo null", def(`{"moreInfo": null}`), "object.definition.moreInfo", "must not be null"},
		{"interactionType wrong case", def(`{"interactionType": "true-faLse"}`), "object.definition.interactionType", "exact case"},
		{"interactionType Other", def(`{"interactionType": "Other"}`), "object.definition.interactionType", "exact case"},
		{"interactionType an IRI", def(`{"interactionType": "http://adlnet.gov/expapi/activities/cmi.interaction"}`), "object.definition.interactionType", "one of"},
		{"interactionType number", def(`{"interactionType": 12345}`), "object.definition.interactionType", "must be a string"},
		{"interactionType object", def(`{"interactionType": {"something": "value"}}`), "object.definition.interactionType", "must be a string"},
		{"pattern without interactionType", def(`{"correctResponsesPattern": ["a"]}`), "object.definition.correctResponsesPattern", "interactionType"},
		{"choices without interactionType", def(`{"choices": [{"id": "a"}]}`), "object.definition.choices", "interactionType"},
		{"scale without interactionType", def(`{"scale": [{"id": "a"}]}`), "object.definition.scale", "interactionType"},
		{"source without interactionType", def(`{"source": [{"id": "a"}], "target": [{"id": "b"}]}`), "object.definition.source", "interactionType"},
		{"steps without interactionType", def(`{"steps": [{"id": "a"}]}`), "object.definition.steps", "interactionType"},
		{"choices on likert", def(`{"interactionType": "likert", "choices": [{"id": "a"}]}`), "object.definition.choices", `"likert" interaction (it uses scale)`},
		{"scale on choice", def(`{"interactionType": "choice", "scale": [{"id": "a"}]}`), "object.definition.scale", `"choice" interaction (it uses choices)`},
		{"steps on matching", def(`{"interactionType": "matching", "steps": [{"id": "a"}]}`), "object.definition.steps", "source and target"},
		{"source on true-false", def(`{"interactionType": "true-false", "source": [{"id": "a"}]}`), "object.definition.source", "(it has none)"},
		{"target on performance", def(`{"interactionType": "performance", "target": [{"id": "a"}]}`), "object.definition.target", "(it uses steps)"},
		{"pattern not an array", def(`{"interactionType": "choice", "correctResponsesPattern": "a"}`), "object.definition.correctResponsesPattern", "must be an array, not a string"},
		{"pattern item number", def(`{"interactionType": "numeric", "correctResponsesPattern": ["1", 2]}`), "object.definition.correctResponsesPattern[1]", "must be a string, not a number"},
		{"pattern item null", def(`{"interactionType": "numeric", "correctResponsesPattern": [null]}`), "object.definition.correctResponsesPattern[0]", "must not be null"},
		{"choices not an array", def(`{"interactionType": "choice", "choices": {"id": "valid"}}`), "object.definition.choices", "must be an array, not an object"},
		{"component not an object", def(`{"interactionType": "choice", "choices": ["a"]}`), "object.definition.choices[0]", "must be an object, not a string"},
		{"component without id", def(`{"interactionType": "choice", "choices": [{"description": {"en": "A"}}]}`), "object.definition.choices[0].id", "is required"},
		{"component id number", def(`{"interactionType": "sequencing", "choices": [{"id": 1}]}`), "object.definition.choices[0].id", "must be a string, not a number"},
		{"component id empty", def(`{"interactionType": "likert", "scale": [{"id": ""}]}`), "object.definition.scale[0].id", "must not be empty"},
		{"component description string", def(`{"interactionType": "choice", "choices": [{"id": "a", "description": "A"}]}`), "object.definition.choices[0].description", "must be an object, not a string"},
		{"component description bad tag", def(`{"interactionType": "likert", "scale": [{"id": "a", "description": {"a12345": "A"}}]}`), `object.definition.scale[0].description["a12345"]`, "RFC 5646"},
		{"component unknown property", def(`{"interactionType": "choice", "choices": [{"id": "a", "text": "A"}]}`), "object.definition.choices[0].text", "is not a property of an interaction component"},
		{"component ids repeated", def(`{"interactionType": "choice", "choices": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}`), "object.definition.choices[2].id", `"a" is used twice`},
		{"extensions string", def(`{"extensions": "should error"}`), "object.definition.extensions", "must be an object, not a string"},
		{"extension key not an IRI", def(`{"extensions": {"id": "valid", "description": {"en-US": "valid"}}}`), `object.definition.extensions["description"]`, "IRI"},
		{"agent object without IFI", e("object", `{"objectType": "Agent", "name": "Bo"}`), "object", "has none"},
		{"agent object with members", e("object", `{"objectType": "Agent", "mbox": "mailto:bo@example.com", "member": []}`), "object.member", "Group"},
		{"group object with a group member", e("object", `{"objectType": "Group", "member": [`+groupIdent+`]}`), "object.member[0].objectType", "Agents, not Groups"},
		{"statement ref without id", e("object", `{"objectType": "StatementRef"}`), "object.id", "is required"},
		{"statement ref id not a UUID", e("object", `{"objectType": "StatementRef", "id": "AA97B177-9383-4934-8543-0F91A7A028368"}`), "object.id", "UUID"},
		{"statement ref id number", e("object", `{"objectType": "StatementRef", "id": 12345}`), "object.id", "must be a string"},
		{"statement ref with definition", e("object", `{"objectType": "StatementRef", "id": "e05aa883-acaf-40ad-bf54-02c8ce485fb0", "definition": {}}`), "object.definition", "is not a property of a StatementRef"},
	})
}

func TestParseStatementRejectsSubStatement(t *testing.T) {
	sub := edit(t, baseStatement, "object", subStatement)
	e := func(changes ...string) string { return edit(t, sub, changes...) }
	runRejects(t, []rejectCase{
		{"with id", e("object.id", `"fd41c918-b88b-4b20-a0a5-a4c32391aaa0"`), "object.id", "must not be used in a SubStatement"},
		{"with stored", e("object.stored", `"2015-11-18T12:17:00Z"`), "object.stored", "must not be used in a SubStatement"},
		{"with version", e("object.version", `"1.0.0"`), "object.version", "must not be used in a SubStatement"},
		{"with authority", e("object.authority", agentBo), "object.authority", "must not be used in a SubStatement"},
		{"nested", e("object.object", subStatement), "object.object.objectType", "must not contain another SubStatement"},
		{"without actor", e("object.actor", "-"), "object.actor", "is required"},
		{"without verb", e("object.verb", "-"), "object.verb", "is required"},
		{"without object", e("object.object", "-"), "object.object", "is required"},
		{"unknown property", e("object.foo", `true`), "object.foo", "is not a property of a SubStatement"},
		{"bad actor mbox", e("object.actor.mbox", `"bo@example.com"`), "object.actor.mbox", "mailto"},
		{"actor wrong objectType case", e("object.actor.objectType", `"agent"`), "object.actor.objectType", `"Agent" or "Group"`},
		{"bad verb display", e("object.verb.display", `{"de-419-DE": "x"}`), `object.verb.display["de-419-DE"]`, "RFC 5646"},
		{"bad activity id", e("object.object.id", `"ab=c://should.fail.com"`), "object.object.id", "IRI"},
		{"bad interaction type", e("object.object.definition", `{"interactionType": "choiCe"}`), "object.object.definition.interactionType", "exact case"},
		{"bad timestamp", e("object.timestamp", `"2008-09-15T15:53:00.601-00:00"`), "object.timestamp", "-00:00"},
		{"bad duration", e("object.result", `{"duration": "PA1H0M0S"}`), "object.result.duration", "ISO 8601 duration"},
		{"scaled out of range", e("object.result", `{"score": {"scaled": -1.00001}}`), "object.result.score.scaled", "between -1 and 1"},
		{"revision with agent object", e("object.object", agentBo, "object.context", `{"revision": "1"}`), "object.context.revision", "Activity"},
		{"platform with statement ref object", e("object.object", statementRef, "object.context", `{"platform": "web"}`), "object.context.platform", "Activity"},
		{"bad registration", e("object.context", `{"registration": "should fail"}`), "object.context.registration", "UUID"},
		{"bad context statement", e("object.context", `{"statement": {"objectType": "statementref", "id": "e05aa883-acaf-40ad-bf54-02c8ce485fb0"}}`), "object.context.statement.objectType", `"StatementRef"`},
		{"bad attachment", e("object.attachments", `[{"usageType": "x"}]`), "object.attachments[0].display", "is required"},
	})
}

func TestParseStatementRejectsResult(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	runRejects(t, []rejectCase{
		{"result string", e("result", `"passed"`), "result", "must be an object, not a string"},
		{"result unknown property", e("result.passed", `true`), "result.passed", "is not a property of a Result"},
		{"result wrong case", e("result.Success", `true`), "result.Success", `did you mean "success"`},
		{"score number", e("result.score", `12345`), "result.score", "must be an object, not a number"},
		{"score string", e("result.score", `"should fail"`), "result.score", "must be an object, not a string"},
		{"score unknown property", e("result.score", `{"percent": 50}`), "result.score.percent", "is not a property of a Score"},
		{"scaled above 1", e("result.score", `{"scaled": 1.01}`), "result.score.scaled", "between -1 and 1"},
		{"scaled below -1", e("result.score", `{"scaled": -1.00001}`), "result.score.scaled", "between -1 and 1"},
		{"scaled as string", e("result.score", `{"scaled": "0.5"}`), "result.score.scaled", "must be a number, not a string"},
		{"max as text", e("result.score", `{"max": "one hundred"}`), "result.score.max", "must be a number, not a string"},
		{"max as numeric string", e("result.score", `{"max": "100"}`), "result.score.max", "must be a number, not a string"},
		{"raw null", e("result.score", `{"raw": null}`), "result.score.raw", "must not be null"},
		{"raw too large for float64", strings.Replace(e("result.score", `{"raw": 1}`), `"raw":1`, `"raw":1e400`, 1), "result.score.raw", "64-bit float"},
		{"raw above max", e("result.score", `{"raw": 0.6767676, "max": 0.6567676}`), "result.score.raw", "greater than max"},
		{"raw below min", e("result.score", `{"raw": 0.6767676, "min": 1.4067676}`), "result.score.raw", "less than min"},
		{"min above max", e("result.score", `{"min": 0.6767676, "max": 0.6767355, "raw": 0.6767643}`), "result.score.min", "greater than max"},
		{"success as text", e("result.success", `"We regret to inform you that your effort was unsuccessful."`), "result.success", "must be a boolean, not a string"},
		{"completion as text false", e("result.completion", `"false"`), "result.completion", "must be a boolean, not a string"},
		{"completion as number", e("result.completion", `1`), "result.completion", "must be a boolean, not a number"},
		{"success null", e("result.success", `null`), "result.success", "must not be null"},
		{"response number", e("result.response", `42`), "result.response", "must be a string, not a number"},
		{"duration letters", e("result.duration", `"PA1H0M0S"`), "result.duration", "ISO 8601 duration"},
		{"duration text", e("result.duration", `"should fail"`), "result.duration", "ISO 8601 duration"},
		{"duration number", e("result.duration", `12345`), "result.duration", "must be a string, not a number"},
		{"duration object", e("result.duration", `{"key": "invalid"}`), "result.duration", "must be a string, not an object"},
		{"duration weeks with days", e("result.duration", `"P4W1D"`), "result.duration", "ISO 8601 duration"},
		{"duration alternative format", e("result.duration", `"P0003-01-29T04:35:59"`), "result.duration", "ISO 8601 duration"},
		{"duration seconds without T", e("result.duration", `"P16559.14S"`), "result.duration", "ISO 8601 duration"},
		{"duration empty", e("result.duration", `""`), "result.duration", "ISO 8601 duration"},
		{"extensions array", e("result.extensions", `[]`), "result.extensions", "must be an object, not an array"},
		{"extension key not an IRI", e("result.extensions", `{"progress": 50}`), `result.extensions["progress"]`, "IRI"},
		{"extensions null", e("result.extensions", `null`), "result.extensions", "must not be null"},
	})
}

func TestParseStatementRejectsContext(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	runRejects(t, []rejectCase{
		{"context string", e("context", `"meeting"`), "context", "must be an object"},
		{"context unknown property", e("context.session", `"abc"`), "context.session", "is not a property of a Context"},
		{"context wrong case", e("context.Registration", `"ec531277-b57b-4c15-8d91-d292c5b2b8f7"`), "context.Registration", `did you mean "registration"`},
		{"registration text", e("context.registration", `"should fail"`), "context.registration", "UUID"},
		{"registration too long", e("context.registration", `"AA97B177-9383-4934-8543-0F91A7A028368"`), "context.registration", "UUID"},
		{"registration number", e("context.registration", `12345`), "context.registration", "must be a string"},
		{"registration object", e("context.registration", `{"key": "should fail"}`), "context.registration", "must be a string, not an object"},
		{"registration null", e("context.registration", `null`), "context.registration", "must not be null"},
		{"instructor string", e("context.instructor", `"should fail"`), "context.instructor", "must be an object"},
		{"instructor unknown property", e("context.instructor", `{"key": "should fail"}`), "context.instructor.key", "is not a property of an Agent"},
		{"instructor without IFI", e("context.instructor", `{"name": "T"}`), "context.instructor", "has none"},
		{"instructor account name object", e("context.instructor", `{"account": {"homePage": "https://lms.example.com", "name": {"key": "x"}}}`), "context.instructor.account.name", "must be a string"},
		{"team is an agent", e("context.team", agentBo), "context.team.objectType", `must be "Group"`},
		{"team without objectType", e("context.team", `{"mbox": "mailto:team@example.com"}`), "context.team.objectType", "is required"},
		{"team string", e("context.team", `"should fail"`), "context.team", "must be an object"},
		{"team without members or IFI", e("context.team", `{"objectType": "Group"}`), "context.team.member", "at least one member"},
		{"contextActivities string", e("context.contextActivities", `"should fail"`), "context.contextActivities", "must be an object"},
		{"contextActivities empty", e("context.contextActivities", `{}`), "context.contextActivities", "must not be empty"},
		{"contextActivities unknown key", e("context.contextActivities", `{"tags": [{"id": "http://example.com/t"}]}`), "context.contextActivities.tags", "is not a property of contextActivities"},
		{"contextActivities wrong case", e("context.contextActivities", `{"Parent": [{"id": "http://example.com/t"}]}`), "context.contextActivities.Parent", `did you mean "parent"`},
		{"contextActivity string", e("context.contextActivities", `{"parent": "http://example.com/t"}`), "context.contextActivities.parent", "Activity object or an array"},
		{"contextActivity null", e("context.contextActivities", `{"grouping": null}`), "context.contextActivities.grouping", "must not be null"},
		{"contextActivity item string", e("context.contextActivities", `{"category": ["http://example.com/t"]}`), "context.contextActivities.category[0]", "must be an object, not a string"},
		{"contextActivity agent", e("context.contextActivities", `{"other": [{"objectType": "Agent", "mbox": "mailto:a@example.com"}]}`), "context.contextActivities.other[0].objectType", `must be "Activity"`},
		{"contextActivity without id", e("context.contextActivities", `{"parent": [{"objectType": "Activity"}]}`), "context.contextActivities.parent[0].id", "is required"},
		{"single contextActivity bad id", e("context.contextActivities", `{"parent": {"id": "should fail"}}`), "context.contextActivities.parent.id", "IRI"},
		{"contextActivity bad definition", e("context.contextActivities", `{"category": [{"id": "http://example.com/t", "definition": {"type": "x"}}]}`), "context.contextActivities.category[0].definition.type", "IRI"},
		{"revision number", e("context.revision", `12345`), "context.revision", "must be a string, not a number"},
		{"revision object", e("context.revision", `{"key": "x"}`), "context.revision", "must be a string, not an object"},
		{"platform number", e("context.platform", `12345`), "context.platform", "must be a string"},
		{"revision with agent object", e("object", agentBo, "context.revision", `"rev_10_3_2"`), "context.revision", "only be used when the statement's object is an Activity"},
		{"revision with group object", e("object", groupAnon, "context.revision", `"rev_10_3_2"`), "context.revision", "Activity"},
		{"revision with statement ref", e("object", statementRef, "context.revision", `"rev"`), "context.revision", "Activity"},
		{"revision with substatement", e("object", subStatement, "context.revision", `"rev"`), "context.revision", "Activity"},
		{"empty revision with agent object", e("object", agentBo, "context.revision", `""`), "context.revision", "Activity"},
		{"platform with agent object", e("object", agentBo, "context.platform", `"web"`), "context.platform", "Activity"},
		{"platform with substatement", e("object", subStatement, "context.platform", `"web"`), "context.platform", "Activity"},
		{"language number", e("context.language", `12345`), "context.language", "must be a string"},
		{"language object", e("context.language", `{"a12345": "should fail"}`), "context.language", "must be a string, not an object"},
		{"language empty", e("context.language", `""`), "context.language", "RFC 5646"},
		{"language with space", e("context.language", `"en US"`), "context.language", "RFC 5646"},
		{"language with leading hyphen", e("context.language", `"-en"`), "context.language", "RFC 5646"},
		{"language word that is no tag (ADL conformance)", e("context.language", `"something"`), "context.language", "RFC 5646"},
		{"substatement language word", e("object", `{"objectType": "SubStatement", "actor": {"mbox": "mailto:s@example.com"}, "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/a"}, "context": {"language": "something"}}`), "object.context.language", "RFC 5646"},
		{"statement ref lower case", e("context.statement", `{"objectType": "statementref", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}`), "context.statement.objectType", `must be "StatementRef"`},
		{"statement ref without objectType", e("context.statement", `{"id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}`), "context.statement.objectType", "is required"},
		{"statement ref bad id", e("context.statement", `{"objectType": "StatementRef", "id": "should fail"}`), "context.statement.id", "UUID"},
		{"statement ref id number", e("context.statement", `{"objectType": "StatementRef", "id": 12345}`), "context.statement.id", "must be a string"},
		{"statement ref is an activity", e("context.statement", `{"objectType": "Activity", "id": "http://example.com/a"}`), "context.statement.objectType", `must be "StatementRef"`},
		{"extension key with space", e("context.extensions", `{"http://example.com/my ext": 1}`), `context.extensions["http://example.com/my ext"]`, "IRI"},
	})
}

func TestParseStatementRejectsAttachments(t *testing.T) {
	withAttachment := func(changes ...string) string {
		return edit(t, edit(t, baseStatement, "attachments", "["+attachmentOK+"]"), changes...)
	}
	runRejects(t, []rejectCase{
		{"attachments object", edit(t, baseStatement, "attachments", attachmentOK), "attachments", "must be an array, not an object"},
		{"attachment number", edit(t, baseStatement, "attachments", `[12345]`), "attachments[0]", "must be an object, not a number"},
		{"attachment string", edit(t, baseStatement, "attachments", `["should fail"]`), "attachments[0]", "must be an object, not a string"},
		{"no usageType", withAttachment("attachments[0].usageType", "-"), "attachments[0].usageType", "is required"},
		{"no display", withAttachment("attachments[0].display", "-"), "attachments[0].display", "is required"},
		{"no contentType", withAttachment("attachments[0].contentType", "-"), "attachments[0].contentType", "is required"},
		{"no length", withAttachment("attachments[0].length", "-"), "attachments[0].length", "is required"},
		{"no sha2", withAttachment("attachments[0].sha2", "-"), "attachments[0].sha2", "is required"},
		{"usageType not an IRI", withAttachment("attachments[0].usageType", `"should fail"`), "attachments[0].usageType", "IRI"},
		{"display empty", withAttachment("attachments[0].display", `{}`), "attachments[0].display", "at least one entry"},
		{"display string", withAttachment("attachments[0].display", `"should error"`), "attachments[0].display", "must be an object"},
		{"display bad tag", withAttachment("attachments[0].display", `{"en-US": "A", "de-419-DE": "B"}`), `attachments[0].display["de-419-DE"]`, "RFC 5646"},
		{"description number", withAttachment("attachments[0].description", `12345`), "attachments[0].description", "must be an object, not a number"},
		{"description empty", withAttachment("attachments[0].description", `{}`), "attachments[0].description", "at least one entry"},
		{"contentType text", withAttachment("attachments[0].contentType", `"should fail"`), "attachments[0].contentType", "media type"},
		{"contentType without subtype", withAttachment("attachments[0].contentType", `"text"`), "attachments[0].contentType", "media type"},
		{"length string", withAttachment("attachments[0].length", `"should fail"`), "attachments[0].length", "must be a number, not a string"},
		{"length fraction", withAttachment("attachments[0].length", `27.5`), "attachments[0].length", "integer"},
		{"length negative", withAttachment("attachments[0].length", `-1`), "attachments[0].length", "must not be negative"},
		{"sha2 number", withAttachment("attachments[0].sha2", `12345`), "attachments[0].sha2", "must be a string, not a number"},
		{"sha2 not hex", withAttachment("attachments[0].sha2", `"abc"`), "attachments[0].sha2", "SHA-2"},
		{"sha2 is sha1", withAttachment("attachments[0].sha2", `"ebd31e95054c018b10727ccffd2ef2ec3a016ee9"`), "attachments[0].sha2", "SHA-2"},
		{"fileUrl not an IRL", withAttachment("attachments[0].fileUrl", `"should fail"`), "attachments[0].fileUrl", "IRL"},
		{"fileURL wrong case", withAttachment("attachments[0].fileURL", `"http://example.com/f"`), "attachments[0].fileURL", `did you mean "fileUrl"`},
	})
}

func TestParseStatements(t *testing.T) {
	bad := edit(t, baseStatement, "actor.mbox", `"ana@example.com"`)
	tests := []struct {
		name  string
		body  string
		count int
		field string
		rule  string
	}{
		{"one object", baseStatement, 1, "", ""},
		{"array of one", "[" + baseStatement + "]", 1, "", ""},
		{"array of three", "[" + baseStatement + "," + edit(t, baseStatement, "id", "-") + "," + edit(t, baseStatement, "id", `"fd41c918-b88b-4b20-a0a5-a4c32391aaa1"`) + "]", 3, "", ""},
		{"two without id", "[" + edit(t, baseStatement, "id", "-") + "," + edit(t, baseStatement, "id", "-") + "]", 2, "", ""},
		{"byte order mark", "\xef\xbb\xbf" + baseStatement, 1, "", ""},
		{"same id twice", "[" + baseStatement + "," + edit(t, baseStatement, "id", "-") + "," + baseStatement + "]", 0, "statements[2].id", "repeats the id of statements[0]"},
		{"same id in another case", "[" + baseStatement + "," + edit(t, baseStatement, "id", `"FD41C918-B88B-4B20-A0A5-A4C32391AAA0"`) + "]", 0, "statements[1].id", "unique within a batch"},
		{"empty array", `[]`, 0, "statements", "at least one statement"},
		{"error in the second", "[" + baseStatement + "," + bad + "]", 0, "statements[1].actor.mbox", "mailto"},
		{"error in a single object", bad, 0, "actor.mbox", "mailto"},
		{"array item not an object", `[` + baseStatement + `, 1]`, 0, "statements[1]", "must be an object, not a number"},
		{"array item null", `[null]`, 0, "statements[0]", "must not be null"},
		{"string", `"x"`, 0, "statements", "statement object or an array"},
		{"null", `null`, 0, "statements", "must not be null"},
		{"not JSON", `{`, 0, "statements", "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := ParseStatements([]byte(tc.body), Spec1)
			if tc.field != "" {
				if list != nil {
					t.Errorf("returned statements with an error")
				}
				checkInvalid(t, err, tc.field, tc.rule)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != tc.count {
				t.Fatalf("got %d statements, want %d", len(list), tc.count)
			}
		})
	}
}

func TestParseAgent(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		key   string
		field string
		rule  string
	}{
		{"mbox", `{"mbox": "mailto:Ana@Example.com"}`, "mbox:mailto:Ana@example.com", "", ""},
		{"objectType Agent and account", `{"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "u1"}}`, "account:https://lms.example.com|u1", "", ""},
		{"identified group", groupIdent, "account:https://lms.example.com|team-pb", "", ""},
		{"openid", `{"openid": "https://id.example.org/x"}`, "openid:https://id.example.org/x", "", ""},
		{"anonymous group", groupAnon, "", "agent", "exactly one inverse functional identifier"},
		{"no IFI", `{"name": "Ana"}`, "", "agent", "has none"},
		{"two IFIs", `{"mbox": "mailto:a@example.com", "openid": "https://id.example.org/x"}`, "", "agent", "mbox and openid"},
		{"bad mbox", `{"mbox": "a@example.com"}`, "", "agent.mbox", "mailto"},
		{"unknown property", `{"mbox": "mailto:a@example.com", "email": "a@example.com"}`, "", "agent.email", "is not a property of an Agent"},
		{"not JSON", `mailto:a@example.com`, "", "agent", "not valid JSON"},
		{"array", `[{"mbox": "mailto:a@example.com"}]`, "", "agent", "must be an object, not an array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAgent([]byte(tc.body))
			if tc.field != "" {
				checkInvalid(t, err, tc.field, tc.rule)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ActorKey(a); got != tc.key {
				t.Errorf("ActorKey = %q, want %q", got, tc.key)
			}
		})
	}
}

func TestUnmarshalJSONValidates(t *testing.T) {
	var s Statement
	if err := s.UnmarshalJSON([]byte(baseStatement)); err != nil {
		t.Fatal(err)
	}
	if s.Actor.Mbox != "mailto:ana@example.com" {
		t.Errorf("actor not decoded: %+v", s.Actor)
	}
	err := s.UnmarshalJSON([]byte(edit(t, baseStatement, "verb.id", `"x"`)))
	checkInvalid(t, err, "verb.id", "IRI")

	var a Agent
	if err := a.UnmarshalJSON([]byte(groupAnon)); err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if err := a.UnmarshalJSON([]byte(`{"mbox": "x"}`)); !errors.As(err, &ve) || ve.Field != "agent.mbox" {
		t.Errorf("Agent.UnmarshalJSON error = %v", err)
	}
}

func TestParsedValues(t *testing.T) {
	body := edit(t, baseStatement,
		"context", `{"contextActivities": {"parent": {"id": "http://example.com/course"}, "category": [{"id": "http://example.com/c1"}, {"id": "http://example.com/c2"}]}, "registration": "EC531277-B57B-4C15-8D91-D292C5B2B8F7"}`,
		"result", `{"score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10}, "success": false, "response": "", "duration": "PT4H35M59.14S", "extensions": {"https://example.com/ext/x": "X"}}`,
		"timestamp", `"2015-11-18T12:17:00.5+01:00"`,
		"object.definition", `{"interactionType": "choice", "correctResponsesPattern": [], "choices": [{"id": "a"}]}`,
	)
	// edit re-encodes JSON, so put the extension value in by hand to see
	// that it is kept as sent.
	body = strings.Replace(body, `"X"`, `{"b": 1,  "a": [1.50, null]}`, 1)
	s := mustParse(t, body)
	ca := s.Context.ContextActivities
	if len(ca.Parent) != 1 || ca.Parent[0].ID != "http://example.com/course" || len(ca.Category) != 2 || ca.Grouping != nil {
		t.Errorf("contextActivities = %+v", ca)
	}
	r := s.Result
	if *r.Score.Scaled != 0.5 || *r.Score.Raw != 5 || *r.Score.Max != 10 || *r.Score.Min != 0 {
		t.Errorf("score = %+v", r.Score)
	}
	if r.Success == nil || *r.Success || r.Completion != nil || r.Response == nil || *r.Response != "" {
		t.Errorf("result flags = %+v", r)
	}
	if got := string(r.Extensions["https://example.com/ext/x"]); got != `{"b":1,"a":[1.50,null]}` {
		t.Errorf("extension = %s, want the value as sent (compacted)", got)
	}
	if got := s.Timestamp.Format("2006-01-02T15:04:05.000Z07:00"); got != "2015-11-18T11:17:00.500Z" {
		t.Errorf("timestamp = %s", got)
	}
	d := s.Object.Activity.Definition
	if d.CorrectResponsesPattern == nil || len(d.CorrectResponsesPattern) != 0 {
		t.Errorf("empty correctResponsesPattern must stay empty, not nil: %#v", d.CorrectResponsesPattern)
	}
	if s.Object.Type() != ObjectTypeActivity {
		t.Errorf("Type = %q", s.Object.Type())
	}
}
