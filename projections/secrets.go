package projections

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// prefixSecret keys secrets that releases before the signing key generated
// for themselves and kept here (s\x00<name>). Nothing writes them any more:
// state that is not derivable from the log does not belong in a store that
// an operator may delete and rebuild. LegacySecret lets the process move
// them out.
const prefixSecret = 's'

func secretKey(name string) []byte { return append([]byte{prefixSecret, 0}, name...) }

// LegacySecret returns the secret an earlier release stored under name, if
// any.
func (s *Store) LegacySecret(name string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(secretKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("projections: secret %s: %w", name, err)
	}
	return out, out != nil, nil
}
