package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// vaultMetrics is the key store whose counts the metrics show: the
// process's (the last opened).
var vaultMetrics atomic.Pointer[Vault]

func init() {
	counter := func(name, help string, f func(VaultMetrics) int64) {
		promauto.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			if v := vaultMetrics.Load(); v != nil {
				return float64(f(v.Metrics()))
			}
			return 0
		})
	}
	counter("learnstream_privacy_keys_created_total", "Data keys this process created in the key store.", func(m VaultMetrics) int64 { return m.Created })
	counter("learnstream_privacy_keys_destroyed_total", "Data keys this process destroyed (erasure, retention).", func(m VaultMetrics) int64 { return m.Destroyed })
	counter("learnstream_privacy_key_writes_total", "Writes of created data keys to the key store; each carries every creation waiting.", func(m VaultMetrics) int64 { return m.KeyWrites })
	counter("learnstream_privacy_keys_rewrapped_total", "Key store records this process rewrapped under the current master key.", func(m VaultMetrics) int64 { return m.Rewrapped })
	counter("learnstream_privacy_key_store_compactions_total", "Compactions of the key store this process ran.", func(m VaultMetrics) int64 { return m.Compactions })
	promauto.NewGaugeFunc(prometheus.GaugeOpts{Name: "learnstream_privacy_key_store_lag",
		Help: "Records of the key store topic this process has not read yet."}, func() float64 {
		v := vaultMetrics.Load()
		if v == nil {
			return 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		lag, err := v.Lag(ctx)
		if err != nil {
			return -1
		}
		return float64(lag)
	})
}

var (
	erasedSkipped = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_privacy_erased_events_skipped_total",
		Help: "Events consumers stepped past because their learner's data key is destroyed (erased, or out of retention), by topic.",
	}, []string{"topic"})
	unopenable = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_privacy_unopenable_events_total",
		Help: "Sealed events that did not open (altered, moved or malformed): sent to the DLQ like a bad signature, by topic.",
	}, []string{"topic"})
)

// keysRegistry maps a broker address to the key store of its cluster,
// like registry does for Security: every publisher and subscriber built
// for those brokers seals and opens with it.
var keysRegistry struct {
	sync.RWMutex
	m map[string]privacy.Keys
}

// UseKeys registers keys (the cluster's Vault) for the cluster reached
// through brokers: from then on EventPublisher seals every personal event
// before signing it, and every subscriber opens sealed events after
// checking their signature. Nil unregisters (privacy off: tools, tests).
func UseKeys(brokers []string, keys privacy.Keys) {
	keysRegistry.Lock()
	defer keysRegistry.Unlock()
	if keysRegistry.m == nil {
		keysRegistry.m = map[string]privacy.Keys{}
	}
	for _, b := range brokers {
		if keys == nil {
			delete(keysRegistry.m, b)
		} else {
			keysRegistry.m[b] = keys
		}
	}
}

// KeysFor returns the key store registered for the cluster of brokers, or
// nil.
func KeysFor(brokers []string) privacy.Keys {
	keysRegistry.RLock()
	defer keysRegistry.RUnlock()
	for _, b := range brokers {
		if k := keysRegistry.m[b]; k != nil {
			return k
		}
	}
	return nil
}

// sealEvents seals the personal events of evs with keys, in place.
func sealEvents(ctx context.Context, keys privacy.Keys, evs []event.Event) error {
	if p, ok := keys.(privacy.KeyPreparer); ok && len(evs) > 1 {
		reqs := make([]privacy.KeyRequest, 0, len(evs))
		for _, e := range evs {
			if r, ok := privacy.OwnerKey(e); ok {
				reqs = append(reqs, r)
			}
		}
		if err := p.Prepare(ctx, reqs); err != nil {
			return fmt.Errorf("seal %d events: data keys: %w", len(evs), err)
		}
	}
	for i, e := range evs {
		if !privacy.Personal(e.Type) {
			continue
		}
		s, err := privacy.SealEvent(ctx, e, keys)
		if err != nil {
			return fmt.Errorf("seal event %s (%s): %w", e.ID, e.Type, err)
		}
		evs[i] = s
	}
	return nil
}

// openEvent opens a received sealed event. A sealed value that does not
// open is the event's fault (an event.FieldError: the DLQ); a key store
// that cannot answer is not, and is retried.
func openEvent(ctx context.Context, keys privacy.Keys, topic string, e event.Event) (event.Event, error) {
	o, err := privacy.OpenEvent(ctx, e, keys)
	if err == nil {
		return o, nil
	}
	var fe *event.FieldError
	if errors.As(err, &fe) {
		unopenable.WithLabelValues(topic).Inc()
		return event.Event{}, err
	}
	return event.Event{}, event.Transient(fmt.Errorf("open sealed event %s: %w", e.ID, err))
}

// SkipErased counts an event a consumer stepped past because its learner
// is erased; consumers outside this package call it for the metric.
func SkipErased(topic string) { erasedSkipped.WithLabelValues(topic).Inc() }
