package privacy

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/learnstream/learnstream/domain/event"
)

// Every consumer that reacts to an erasure or a retention decodes its
// event with these, so a malformed one is rejected the same way
// everywhere: to the DLQ, naming the field, never stopping a consumer.

// DecodeLearnerErased reads the data of a LearnerErased event, rejecting
// (to the DLQ, never stopping a consumer) one that names no erasure or no
// pseudonym.
func DecodeLearnerErased(e event.Event) (LearnerErased, error) {
	var le LearnerErased
	if err := json.Unmarshal(e.Data, &le); err != nil {
		return le, event.Reject(fmt.Errorf("data: %w", err))
	}
	switch {
	case le.Erasure == "":
		return le, event.Reject(errors.New("data.erasure: is required"))
	case !IsPseudonym(le.Pseudonym):
		return le, event.Reject(fmt.Errorf("data.pseudonym: %q is not a pseudonym (p and 32 hex digits)", le.Pseudonym))
	case e.Tenant == "":
		return le, event.Reject(errors.New("tenant: is required"))
	}
	return le, nil
}

// DecodeRetentionApplied reads the data of a RetentionApplied event.
func DecodeRetentionApplied(e event.Event) (RetentionApplied, error) {
	var ra RetentionApplied
	if err := json.Unmarshal(e.Data, &ra); err != nil {
		return ra, event.Reject(fmt.Errorf("data: %w", err))
	}
	switch {
	case ra.Before.IsZero():
		return ra, event.Reject(errors.New("data.before: is required"))
	case ra.Tenant == "" && e.Tenant == "":
		return ra, event.Reject(errors.New("data.tenant: is required"))
	case ra.Tenant != "" && e.Tenant != "" && ra.Tenant != e.Tenant:
		return ra, event.Reject(fmt.Errorf("data.tenant: %q is not the event's tenant %q", ra.Tenant, e.Tenant))
	}
	if ra.Tenant == "" {
		ra.Tenant = e.Tenant
	}
	return ra, nil
}
