package main

import (
	"path/filepath"

	"github.com/learnstream/learnstream/streams"
)

// The retention role (docs/privacy.md, Retention): every --retention-every
// it reads each tenant's retention period (the retention read model of
// learnstream.privacy.v1), destroys the tenant's data keys of the months
// wholly before now-period and publishes RetentionApplied on every topic
// with learner events. Its progress per tenant is kept in
// <data-dir>/retention.state.json, so a restart resumes; running it on
// several instances is harmless (the same keys, the same event ids).
func init() { roleStarters = append(roleStarters, startRetention) }

func startRetention(rt *runtime, roles map[string]bool) error {
	if !roles["retention"] {
		return nil
	}
	settings, _, err := retentionProjection(rt)
	if err != nil {
		return err
	}
	consents, _, err := consentProjection(rt)
	if err != nil {
		return err
	}
	r, err := streams.NewRetention(streams.RetentionConfig{Keys: rt.monthKeys, Settings: settings, Consents: consents,
		Publisher: streams.EventPublisher{Publisher: rt.pub}, StateFile: filepath.Join(rt.cfg.dataDir, "retention.state.json"),
		Every: rt.cfg.retentionEvery, Source: rt.source(), Logger: rt.log})
	if err != nil {
		return err
	}
	rt.goRun(r.Run)
	return nil
}
