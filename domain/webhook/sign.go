package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Headers of a Standard Webhooks delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretKey returns the key bytes of a whsec_ secret.
func secretKey(secret string) ([]byte, error) {
	if !strings.HasPrefix(secret, SecretPrefix) {
		return nil, fmt.Errorf("a secret starts with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("after %q a secret is standard base64: %v", SecretPrefix, err)
	}
	if len(key) < minSecretKeySize || len(key) > maxSecretKeySize {
		return nil, fmt.Errorf("a secret holds %d to %d bytes, got %d", minSecretKeySize, maxSecretKeySize, len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature header for a delivery: "v1," and the
// base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under each secret, space
// separated (several during a rotation's overlap).
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	var sigs []string
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)))
	}
	if len(sigs) == 0 {
		return "", errors.New("no signing secret")
	}
	return strings.Join(sigs, " "), nil
}

func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ErrSignature is returned by Verify for a delivery no secret signed.
var ErrSignature = errors.New("webhook signature does not verify")

// Verify checks a delivery's headers and body against secret: one of the
// signatures must be the HMAC of id, timestamp and body, and the
// timestamp within tolerance of now (replay protection).
func Verify(secret, id, timestamp, signature string, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %q is not Unix seconds", HeaderTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s: %s from now, beyond the tolerance of %s", HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(signature) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// Backoff is the wait before retry number attempt (1 for the first retry):
// exponential from base, capped at max, with full jitter in its upper half
// so that many failing deliveries do not retry in step.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(base) * math.Pow(2, float64(attempt-1))
	if d > float64(max) || math.IsInf(d, 0) {
		d = float64(max)
	}
	return time.Duration(d/2 + rand.Float64()*d/2)
}
