package main

import (
	"context"

	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// The dead-letter topics' answer to an erasure (docs/privacy.md, "What each
// consumer removes"): an api process follows the privacy topic and, for
// each LearnerErased, counts the learner's records in every DLQ. Sealed
// under the destroyed keys they are purged by the erasure itself; the dlq
// tools say "erased" and never replay them.
func init() { roleStarters = append(roleStarters, startDeadLetters) }

func startDeadLetters(rt *runtime, roles map[string]bool) error {
	if !roles["api"] {
		return nil
	}
	p, err := projections.NewDeadLetters(rt.store, func(ctx context.Context, tenant, pseudonym string) (int64, error) {
		return streams.CountDeadLetters(ctx, rt.brokers, tenant, pseudonym)
	})
	if err != nil {
		return err
	}
	if _, err := rt.project(p, streams.TopicPrivacy, "", nil); err != nil {
		return err
	}
	// On the privacy topic, it is not counted among the learner topics'
	// consumers: an erasure waits for its answer all the same.
	rt.expectErasureAnswer(projections.DeadLettersName)
	return nil
}
