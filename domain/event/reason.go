package event

import "regexp"

// A dead letter's reason is read by operators who may see no learner data
// (docs/privacy.md): it names the field and the rule, never a value.
// Error messages quote the offending value (%q) and a few name a learner
// key; RedactReason removes both, whatever consumer wrote the message.
var (
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// Learner keys (xapi.ActorKey forms), IRIs of people and e-mail
	// addresses, up to the next space or separator.
	identity = regexp.MustCompile(`(?:mbox_sha1sum|mbox|openid|account|group|mailto):[^\s,;)\]]+|[^\s"'<>(),;:]+@[^\s"'<>(),;:]+`)
)

// Redacted stands for a value removed from a reason.
const Redacted = "…"

// RedactReason returns reason without the values it quotes or the
// identities it names.
func RedactReason(reason string) string {
	reason = quoted.ReplaceAllString(reason, `"`+Redacted+`"`)
	return identity.ReplaceAllString(reason, Redacted)
}
