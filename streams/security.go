package streams

import (
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// SASL mechanisms the Kafka clients speak.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Security is how this process talks to one Kafka cluster and what it
// trusts there.
type Security struct {
	// Mechanism is the SASL mechanism (SASLPlain, SASLScramSHA256,
	// SASLScramSHA512); empty connects without SASL.
	Mechanism      string
	User, Password string
	// TLS, when set, encrypts every connection (and checks the brokers'
	// certificates as it says).
	TLS *tls.Config
	// SigningKey signs every event this process produces (EventPublisher)
	// and is what its consumers check every event against: one that is
	// unsigned or signed with another key goes to the DLQ, never to a
	// read model. Nil turns both off (tools and tests only).
	SigningKey []byte
	// UnsignedBelow accepts unsigned records below these offsets (topic ->
	// partition -> offset): what the log held before this install first
	// signed its events. Offsets, unlike timestamps, cannot be forged.
	UnsignedBelow map[string]map[int]int64
}

// conn is a registered cluster's security with the clients' settings
// built once.
type conn struct {
	sec       Security
	dialer    *kafka.Dialer
	transport *kafka.Transport
}

// registry maps a broker address to its cluster's security. Every client
// in this package is built from a broker list, so settings registered once
// at start (Secure) reach all of them without threading them through each
// call.
var registry struct {
	sync.RWMutex
	m map[string]*conn
}

// Secure registers sec for the cluster reached through brokers: every
// client this package builds for any of those addresses authenticates,
// encrypts, signs and verifies as sec says.
func Secure(brokers []string, sec Security) error {
	if len(brokers) == 0 {
		return errors.New("security: no brokers")
	}
	c, err := newConn(sec)
	if err != nil {
		return err
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.m == nil {
		registry.m = map[string]*conn{}
	}
	for _, b := range brokers {
		registry.m[b] = c
	}
	return nil
}

func newConn(sec Security) (*conn, error) {
	var mech sasl.Mechanism
	switch sec.Mechanism {
	case "":
		if sec.User != "" {
			return nil, errors.New("security: a SASL user needs a mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
		}
	case SASLPlain:
		mech = plain.Mechanism{Username: sec.User, Password: sec.Password}
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if sec.Mechanism == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, sec.User, sec.Password)
		if err != nil {
			return nil, fmt.Errorf("security: SASL %s: %w", sec.Mechanism, err)
		}
		mech = m
	default:
		return nil, fmt.Errorf("security: SASL mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", sec.Mechanism)
	}
	if mech != nil && (sec.User == "" || sec.Password == "") {
		return nil, fmt.Errorf("security: SASL %s needs a user and a password", sec.Mechanism)
	}
	if sec.SigningKey != nil && len(sec.SigningKey) < event.MinKeyBytes {
		return nil, fmt.Errorf("security: the signing key must be at least %d bytes, got %d", event.MinKeyBytes, len(sec.SigningKey))
	}
	return &conn{
		sec: Security{Mechanism: sec.Mechanism, User: sec.User, Password: sec.Password, TLS: sec.TLS,
			SigningKey: slices.Clone(sec.SigningKey), UnsignedBelow: sec.UnsignedBelow},
		dialer:    &kafka.Dialer{Timeout: 10 * time.Second, DialFunc: dialBroker, SASLMechanism: mech, TLS: sec.TLS},
		transport: &kafka.Transport{DialTimeout: 10 * time.Second, Dial: dialBroker, SASL: mech, TLS: sec.TLS},
	}, nil
}

// lookup returns the registered settings of the cluster of brokers, or
// nil.
func lookup(brokers []string) *conn {
	registry.RLock()
	defer registry.RUnlock()
	for _, b := range brokers {
		if c := registry.m[b]; c != nil {
			return c
		}
	}
	return nil
}

// Dialer returns the dialer for readers and consumer groups of the
// cluster of brokers (kafka-go's default when nothing is registered).
func Dialer(brokers []string) *kafka.Dialer {
	if c := lookup(brokers); c != nil {
		return c.dialer
	}
	if isLocal(brokers) {
		return localDialer
	}
	return kafka.DefaultDialer
}

// Transport returns the transport for writers and admin clients of the
// cluster of brokers (kafka-go's default when nothing is registered).
func Transport(brokers []string) kafka.RoundTripper {
	if c := lookup(brokers); c != nil {
		return c.transport
	}
	if isLocal(brokers) {
		return localTransport
	}
	return kafka.DefaultTransport
}

// The clients of an embedded broker of this process that no security is
// registered for: kafka-go's defaults, dialling in memory.
var (
	localDialer    = &kafka.Dialer{Timeout: 10 * time.Second, DialFunc: dialBroker}
	localTransport = &kafka.Transport{DialTimeout: 10 * time.Second, Dial: dialBroker}
)

// signingKey is the key events are signed and checked with on the
// cluster of brokers; nil when none is registered.
func signingKey(brokers []string) []byte {
	if c := lookup(brokers); c != nil {
		return c.sec.SigningKey
	}
	return nil
}

// verifier checks records' signatures on one cluster, and opens sealed
// events with its key store. The subscribers of a cluster share one, so
// that they share what they decode (receivedCache).
type verifier struct {
	conn  *conn
	key   []byte // nil: signatures are not checked
	below map[string]map[int]int64
	keys  privacy.Keys // nil: sealed events stay sealed
}

// verifiers are the verifiers handed out, newest last: a few clusters at
// most in a process (tests make more, hence the bound).
var verifiers struct {
	sync.Mutex
	list []*verifier
}

const maxVerifiers = 16

// verifierFor is the verifier of the cluster of brokers; nil checks and
// opens nothing. It is the same one as long as the cluster's settings
// and key store stay registered.
func verifierFor(brokers []string) *verifier {
	c := lookup(brokers)
	keys := KeysFor(brokers)
	if (c == nil || c.sec.SigningKey == nil) && keys == nil {
		return nil
	}
	// Key stores are pointers in practice; one that cannot be compared
	// gets a verifier of its own.
	shared := keys == nil || reflect.TypeOf(keys).Comparable()
	if shared {
		verifiers.Lock()
		defer verifiers.Unlock()
		for _, v := range verifiers.list {
			if v.conn == c && v.keys == keys {
				return v
			}
		}
	}
	v := &verifier{conn: c, keys: keys}
	if c != nil && c.sec.SigningKey != nil {
		v.key, v.below = c.sec.SigningKey, c.sec.UnsignedBelow
	}
	if shared {
		if len(verifiers.list) == maxVerifiers {
			verifiers.list = slices.Delete(verifiers.list, 0, 1)
		}
		verifiers.list = append(verifiers.list, v)
	}
	return v
}

// check verifies the signature of e, km's decoded event; an unsigned
// record older than signing is accepted.
func (v *verifier) check(km kafka.Message, e event.Event) *event.FieldError {
	if v.key == nil {
		return nil
	}
	var fe *event.FieldError
	if !errors.As(event.Verify(e, v.key), &fe) {
		return nil
	}
	if km.Offset < v.below[km.Topic][km.Partition] && !hasHeader(km, event.HeaderSignature) {
		return nil
	}
	return fe
}

func hasHeader(km kafka.Message, name string) bool {
	for _, h := range km.Headers {
		if h.Key == name {
			return true
		}
	}
	return false
}

// newClient is an admin client for the cluster of brokers.
func newClient(brokers []string, timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: timeout, Transport: Transport(brokers)}
}

// SecurityTransport returns a transport with sec's SASL and TLS settings
// without registering them (for tools that talk to a cluster once).
func SecurityTransport(sec Security) (kafka.RoundTripper, error) {
	c, err := newConn(sec)
	if err != nil {
		return nil, err
	}
	return c.transport, nil
}
