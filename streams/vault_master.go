package streams

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyBytes is the size of a master key: AES-256.
const MasterKeyBytes = 32

// EnvMasterKey names the environment variable that may hold the master
// key (base64, or id:base64) instead of a file.
const EnvMasterKey = "LEARNSTREAM_PRIVACY_MASTER_KEY"

// MasterKeyFile is the file name of a master key generated into an
// embedded broker's data dir (see GenerateMasterKeyFile).
const MasterKeyFile = "privacy-master.key"

// MasterKey is one key-encryption key of the key store.
type MasterKey struct {
	// ID names the key in every record it wraps, so that a record can say
	// which key it needs and keys can be rotated.
	ID   string
	aead cipher.AEAD
}

// MasterKeys are the master keys a process knows; the first is current:
// new records are wrapped with it, the others only unwrap.
type MasterKeys []MasterKey

// Current is the key new records are wrapped with.
func (m MasterKeys) Current() MasterKey { return m[0] }

// find returns the key named id.
func (m MasterKeys) find(id string) (MasterKey, bool) {
	for _, k := range m {
		if k.ID == id {
			return k, true
		}
	}
	return MasterKey{}, false
}

// IDs lists the keys' ids, current first.
func (m MasterKeys) IDs() []string {
	ids := make([]string, len(m))
	for i, k := range m {
		ids[i] = k.ID
	}
	return ids
}

// newMasterKey checks a key's size and id and prepares its cipher.
func newMasterKey(id string, key []byte) (MasterKey, error) {
	if len(key) != MasterKeyBytes {
		return MasterKey{}, fmt.Errorf("master key %q: must be %d bytes, got %d", id, MasterKeyBytes, len(key))
	}
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return MasterKey{}, fmt.Errorf("master key id %q: must be 1-64 characters of letters, digits, '-', '_' and '.'", id)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key %q: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key %q: %w", id, err)
	}
	return MasterKey{ID: id, aead: aead}, nil
}

// fingerprintID names a key given without an id: stable for the key, so
// the same key given later with its id spelled out still opens its
// records.
func fingerprintID(key []byte) string {
	sum := sha256.Sum256(key)
	return "k" + hex.EncodeToString(sum[:4])
}

// parseMasterKeyLine parses "id:base64" or a bare "base64".
func parseMasterKeyLine(line string) (MasterKey, error) {
	id, b64, hasID := strings.Cut(line, ":")
	if !hasID {
		b64 = id
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(strings.TrimSpace(b64))
	}
	if err != nil {
		return MasterKey{}, fmt.Errorf("the key is not base64: %w", err)
	}
	if !hasID {
		id = fingerprintID(key)
	}
	return newMasterKey(strings.TrimSpace(id), key)
}

// ParseMasterKeys parses a master key file: one key a line, "id:base64"
// (32 bytes), the first current; blank lines and lines starting with '#'
// are skipped. Errors name the line.
func ParseMasterKeys(text string) (MasterKeys, error) {
	var keys MasterKeys
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseMasterKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if _, dup := keys.find(k.ID); dup {
			return nil, fmt.Errorf("line %d: master key id %q is listed twice", i+1, k.ID)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no master key in it (want lines id:base64 of 32 bytes)")
	}
	return keys, nil
}

// LoadMasterKeys loads the master keys from file, or else from the
// environment value env (base64, or id:base64). ok=false when neither is
// given; a file or value that is there but wrong is an error naming the
// problem.
func LoadMasterKeys(file, env string) (keys MasterKeys, source string, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("privacy master key file: %w", err)
		}
		keys, err := ParseMasterKeys(string(b))
		if err != nil {
			return nil, "", fmt.Errorf("privacy master key file %s: %w", file, err)
		}
		return keys, file, nil
	}
	if env = strings.TrimSpace(env); env != "" {
		k, err := parseMasterKeyLine(env)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		return MasterKeys{k}, EnvMasterKey, nil
	}
	return nil, "", nil
}

// GenerateMasterKeyFile writes a new random master key to path (mode
// 0600), refusing to replace an existing file, and returns it.
func GenerateMasterKeyFile(path string) (MasterKeys, error) {
	key := make([]byte, MasterKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	id := "m" + fingerprintID(key)[1:]
	line := id + ":" + base64.StdEncoding.EncodeToString(key) + "\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("generate master key: %s exists already; not replaced", path)
		}
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	k, err := newMasterKey(id, key)
	if err != nil {
		return nil, err
	}
	return MasterKeys{k}, nil
}

// wrap seals plain under the current master key; ad binds it to its
// record key.
func (m MasterKeys) wrap(recordKey string, plain []byte) wrapped {
	k := m.Current()
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	ct := k.aead.Seal(nonce, nonce, plain, wrapAD(recordKey, k.ID))
	return wrapped{Master: k.ID, Sealed: ct}
}

// unwrap opens w, which must have been wrapped for recordKey.
func (m MasterKeys) unwrap(recordKey string, w wrapped) ([]byte, error) {
	k, ok := m.find(w.Master)
	if !ok {
		return nil, fmt.Errorf("wrapped by master key %q, which is not given (known: %s)", w.Master, strings.Join(m.IDs(), ", "))
	}
	n := k.aead.NonceSize()
	if len(w.Sealed) < n+k.aead.Overhead() {
		return nil, errors.New("the wrapped key is truncated")
	}
	plain, err := k.aead.Open(nil, w.Sealed[:n], w.Sealed[n:], wrapAD(recordKey, k.ID))
	if err != nil {
		return nil, fmt.Errorf("does not open under master key %q (corrupt, or moved from another record)", w.Master)
	}
	return plain, nil
}

func wrapAD(recordKey, masterID string) []byte {
	return []byte("learnstream.keys.v1\x00" + recordKey + "\x00" + masterID)
}

// wrapped is a key store record's value.
type wrapped struct {
	Master string `json:"master"`
	Sealed []byte `json:"sealed"`
}
