package projections

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// prefixSecret keys secrets the process generates for itself and must keep
// across restarts (s\x00<name>). They live outside every projection space,
// so a replay never drops them.
const prefixSecret = 's'

func secretKey(name string) []byte { return append([]byte{prefixSecret, 0}, name...) }

// Secret returns the secret stored under name, generating and storing n
// random bytes the first time. Concurrent first calls agree on one value:
// the read and the write are one transaction, and a conflicting one is
// retried.
func (s *Store) Secret(name string, n int) ([]byte, error) {
	if name == "" || n <= 0 {
		return nil, errors.New("projections: secret needs a name and a length")
	}
	for {
		var out []byte
		created := false
		err := s.db.Update(func(txn *badger.Txn) error {
			item, err := txn.Get(secretKey(name))
			switch {
			case err == nil:
				out, err = item.ValueCopy(nil)
				return err
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			out = make([]byte, n)
			rand.Read(out)
			created = true
			return txn.Set(secretKey(name), out)
		})
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err == nil && created {
			// Whatever the secret derives (pseudonyms) may be stored
			// elsewhere at once: it must not be lost to a power cut.
			err = s.db.Sync()
		}
		if err != nil {
			return nil, fmt.Errorf("projections: secret %s: %w", name, err)
		}
		return out, nil
	}
}
