package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// The privacy read models and endpoints the api role serves
// (docs/privacy.md):
//
//   - the access audit: every read of learner data through the API is
//     queued (streams.AccessAuditor) and published in batches on
//     learnstream.audit.v1; the access-audit projection (every partition)
//     serves GET /v1/learners/{id}/access;
//   - consent: the consent projection reads the ConsentSet events of
//     learnstream.statements.v1 for GET/PUT /v1/learners/{id}/consent;
//   - retention settings: the retention projection reads
//     learnstream.privacy.v1 for GET/PUT /v1/admin/retention.
func init() { roleStarters = append(roleStarters, startPrivacy) }

// pseudonymsOf returns the install's pseudonyms. The pseudonym secret is
// derived from the signing key, which every process of the install has.
func pseudonymsOf(rt *runtime) (privacy.Pseudonyms, error) {
	if rt.pseudonyms != nil {
		return rt.pseudonyms, nil
	}
	if len(rt.signingKey) == 0 {
		return nil, errors.New("privacy: no signing key to derive the pseudonym secret from")
	}
	h := hmac.New(sha256.New, rt.signingKey)
	h.Write([]byte("learnstream privacy pseudonyms v1"))
	rt.pseudonyms = privacy.Secret(h.Sum(nil))
	return rt.pseudonyms, nil
}

func startPrivacy(rt *runtime, roles map[string]bool) error {
	if !roles["api"] {
		return nil
	}
	names, err := pseudonymsOf(rt)
	if err != nil {
		return err
	}
	access, err := projections.NewAccessAudit(rt.store)
	if err != nil {
		return err
	}
	if _, err := rt.project(access.Projection, streams.TopicAudit, "", access.Count); err != nil {
		return err
	}
	consents, consentWaiters, err := consentProjection(rt)
	if err != nil {
		return err
	}
	retention, retentionWaiters, err := retentionProjection(rt)
	if err != nil {
		return err
	}

	pub := streams.EventPublisher{Publisher: rt.pub}
	auditor := streams.NewAccessAuditor(streams.AccessAuditConfig{Publisher: pub, Source: rt.source(), Logger: rt.log})
	// The auditor outlives the HTTP server (consumers' context), so the
	// records of the last reads are published during shutdown.
	rt.goRun(auditor.Run)
	mod := &api.PrivacyModule{Access: access, Consents: consents, Retention: retention, Pseudonyms: names, Publisher: pub,
		StatementsTopic: streams.TopicStatements, PrivacyTopic: streams.TopicPrivacy,
		ConsentWaiters: consentWaiters, RetentionWaiters: retentionWaiters, Timeout: rt.cfg.consistencyTimeout, Export: true, Logger: rt.log}
	rt.apiConfig = append(rt.apiConfig, func(c *api.Config) {
		mod.Source = c.Source
		c.Audit, c.Pseudonyms = auditor, names
		c.Modules = append(c.Modules, mod)
	})
	return nil
}

// retentionProjection returns the process's one retention read model
// (every partition of learnstream.privacy.v1), starting it on first use:
// the api role serves it, the retention role reads it.
func retentionProjection(rt *runtime) (*projections.Retention, *projections.Waiters, error) {
	if rt.retention != nil {
		return rt.retention, rt.retentionWaiters, nil
	}
	waiters := projections.NewWaiters()
	retention, err := projections.NewRetention(rt.store, waiters)
	if err != nil {
		return nil, nil, err
	}
	if _, err := rt.project(retention.Projection, streams.TopicPrivacy, "", retention.Count); err != nil {
		return nil, nil, err
	}
	rt.retention, rt.retentionWaiters = retention, waiters
	return retention, waiters, nil
}

// consentProjection returns the process's one consent read model (every
// partition of learnstream.statements.v1), starting it on first use: the
// api role serves it, the retention role keeps consents alive with it.
func consentProjection(rt *runtime) (*projections.Consents, *projections.Waiters, error) {
	if rt.consents != nil {
		return rt.consents, rt.consentWaiters, nil
	}
	names, err := pseudonymsOf(rt)
	if err != nil {
		return nil, nil, err
	}
	waiters := projections.NewWaiters()
	consents, err := projections.NewConsents(rt.store, names, waiters)
	if err != nil {
		return nil, nil, err
	}
	if _, err := rt.project(consents.Projection, streams.TopicStatements, "", consents.Count); err != nil {
		return nil, nil, err
	}
	rt.consents, rt.consentWaiters = consents, waiters
	return consents, waiters, nil
}
