package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// Files in --data-dir that hold what the install trusts. Both are created
// once, mode 0600, and never logged.
const (
	// signingKeyFile holds the key (hex) the install signs its events with.
	signingKeyFile = "signing.key"
	// unsignedBelowFile records the log end offsets at the moment the
	// signing key was generated: records below them predate signing.
	unsignedBelowFile = "signing.unsigned-below.json"
	// brokerCredentialFile holds the embedded broker's SASL credential, for
	// this process and for tools (kcat, kafka-console-consumer).
	brokerCredentialFile = "kafka.credentials"
	// brokerUser is the embedded broker's only user.
	brokerUser = "learnstream"
)

// kafkaSecurity are the flags of how learnstream authenticates to Apache
// Kafka and what it trusts there.
type kafkaSecurity struct {
	saslMechanism, saslUser, saslPassword string
	tls                                   bool
	tlsCA, tlsCert, tlsKey                string
	signingKey, signingKeyFile            string
}

func (k *kafkaSecurity) flags(fs *flag.FlagSet, signing bool) {
	fs.StringVar(&k.saslMechanism, "kafka-sasl-mechanism", "", "SASL mechanism for --kafka: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	fs.StringVar(&k.saslUser, "kafka-sasl-user", "", "SASL user for --kafka")
	fs.StringVar(&k.saslPassword, "kafka-sasl-password", "", "SASL password for --kafka (prefer LEARNSTREAM_KAFKA_SASL_PASSWORD)")
	fs.BoolVar(&k.tls, "kafka-tls", false, "connect to --kafka over TLS")
	fs.StringVar(&k.tlsCA, "kafka-tls-ca", "", "PEM file of the CA that signed the brokers' certificates (default: the system's)")
	fs.StringVar(&k.tlsCert, "kafka-tls-cert", "", "PEM client certificate for --kafka (mutual TLS), with --kafka-tls-key")
	fs.StringVar(&k.tlsKey, "kafka-tls-key", "", "PEM private key of --kafka-tls-cert")
	if signing {
		fs.StringVar(&k.signingKey, "signing-key", "", "hex key (at least 32 bytes) that signs and checks every event; the same for every instance (prefer LEARNSTREAM_SIGNING_KEY; default with the embedded broker: generated in --data-dir)")
		fs.StringVar(&k.signingKeyFile, "signing-key-file", "", "file holding the hex signing key, instead of --signing-key")
	}
}

func (k *kafkaSecurity) validate(external bool) []error {
	var errs []error
	switch k.saslMechanism {
	case "", streams.SASLPlain, streams.SASLScramSHA256, streams.SASLScramSHA512:
	default:
		errs = append(errs, fmt.Errorf("--kafka-sasl-mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.saslMechanism))
	}
	if k.saslMechanism != "" && (k.saslUser == "" || k.saslPassword == "") {
		errs = append(errs, errors.New("--kafka-sasl-user and --kafka-sasl-password (or LEARNSTREAM_KAFKA_SASL_PASSWORD): required with --kafka-sasl-mechanism"))
	}
	if k.saslMechanism == "" && k.saslUser != "" {
		errs = append(errs, errors.New("--kafka-sasl-mechanism: required with --kafka-sasl-user"))
	}
	if (k.tlsCert == "") != (k.tlsKey == "") {
		errs = append(errs, errors.New("--kafka-tls-cert and --kafka-tls-key: give both or neither"))
	}
	if !external && (k.saslMechanism != "" || k.tls) {
		errs = append(errs, errors.New("--kafka-sasl-*, --kafka-tls: only with --kafka; the embedded broker's credential is generated in --data-dir"))
	}
	if k.signingKey != "" && k.signingKeyFile != "" {
		errs = append(errs, errors.New("--signing-key and --signing-key-file: give one"))
	}
	if k.signingKey != "" {
		if _, err := parseSigningKey(k.signingKey); err != nil {
			errs = append(errs, fmt.Errorf("--signing-key: %w", err))
		}
	}
	return errs
}

func parseSigningKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("must be hex (generate one with: openssl rand -hex 32)")
	}
	if len(b) < event.MinKeyBytes {
		return nil, fmt.Errorf("must be at least %d bytes (%d hex characters), got %d", event.MinKeyBytes, 2*event.MinKeyBytes, len(b))
	}
	return b, nil
}

// tlsConfig builds the TLS settings of the flags; nil without --kafka-tls.
func (k *kafkaSecurity) tlsConfig() (*tls.Config, error) {
	if !k.tls {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if k.tlsCA != "" {
		pem, err := os.ReadFile(k.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kafka-tls-ca: %s holds no PEM certificate", k.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if k.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(k.tlsCert, k.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-cert/--kafka-tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// externalSecurity is the connection part of Security for --kafka.
func (k *kafkaSecurity) externalSecurity() (streams.Security, error) {
	t, err := k.tlsConfig()
	if err != nil {
		return streams.Security{}, err
	}
	return streams.Security{Mechanism: k.saslMechanism, User: k.saslUser, Password: k.saslPassword, TLS: t}, nil
}

// signingKeyOf returns the configured signing key. With the embedded
// broker and no key given, the key lives in dataDir; the first time,
// beforeCreate runs before it is generated (to record what the log held
// unsigned, so a crash in between cannot lose that).
func (k *kafkaSecurity) signingKeyOf(dataDir string, embedded bool, beforeCreate func() error) (key []byte, err error) {
	switch {
	case k.signingKey != "":
		return parseSigningKey(k.signingKey)
	case k.signingKeyFile != "":
		b, err := os.ReadFile(k.signingKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--signing-key-file: %w", err)
		}
		key, err = parseSigningKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("--signing-key-file %s: %w", k.signingKeyFile, err)
		}
		return key, nil
	case !embedded:
		// Instances that each generated their own key would send each
		// other's events to the DLQ.
		return nil, errors.New("--kafka: every instance needs the same signing key: set LEARNSTREAM_SIGNING_KEY " +
			"(generate one with: openssl rand -hex 32) or --signing-key-file")
	}
	path := filepath.Join(dataDir, signingKeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && beforeCreate != nil {
		if err := beforeCreate(); err != nil {
			return nil, err
		}
	}
	if _, err := secretFile(path, func() string { return hexRandom(event.MinKeyBytes) + "\n" }); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err = parseSigningKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// secretFile creates path with make()'s content, mode 0600, unless it
// exists; created reports which. The file appears whole or not at all.
func secretFile(path string, make func() string) (created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	return projections.CreateFileOnce(path, []byte(make()), 0o600)
}

// brokerCredential returns the embedded broker's SASL password from
// dataDir, generating it the first time.
func brokerCredential(dataDir string) (password, path string, err error) {
	path = filepath.Join(dataDir, brokerCredentialFile)
	if _, err := secretFile(path, func() string {
		return fmt.Sprintf("mechanism=%s\nuser=%s\npassword=%s\n", streams.SASLScramSHA256, brokerUser, hexRandom(24))
	}); err != nil {
		return "", "", fmt.Errorf("embedded broker credential: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "password="); ok {
			password = v
		}
	}
	if password == "" {
		return "", "", fmt.Errorf("%s: no password= line (delete the file to generate a new credential)", path)
	}
	return password, path, sc.Err()
}

func hexRandom(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// unsignedBelow reads the offsets below which records predate signing.
func unsignedBelow(dataDir string) (map[string]map[int]int64, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, unsignedBelowFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string]map[int]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", unsignedBelowFile, err)
	}
	return m, nil
}

// recordUnsignedBelow writes the end offsets of topics now: the log an
// earlier release wrote without signatures stays readable.
func recordUnsignedBelow(ctx context.Context, dataDir string, brokers []string, topics []streams.TopicSpec) (map[string]map[int]int64, error) {
	m := map[string]map[int]int64{}
	for _, t := range topics {
		ends, err := streams.EndOffsets(ctx, brokers, t.Name)
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			continue // nothing was written to it
		}
		if err != nil {
			return nil, err
		}
		for p, end := range ends {
			if end > 0 {
				if m[t.Name] == nil {
					m[t.Name] = map[int]int64{}
				}
				m[t.Name][p] = end
			}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, unsignedBelowFile), b, 0o600); err != nil {
		return nil, err
	}
	return m, nil
}
