package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
)

// Store is the Badger database every projection of one process shares.
type Store struct {
	db *badger.DB
}

// Open opens (or creates) the store in dir.
func Open(dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger}).
		// Small tables keep the footprint of a laptop install modest; the
		// read models are far smaller than the event log.
		WithMemTableSize(32 << 20).
		WithNumVersionsToKeep(1)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open projections store in %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Close flushes and closes the store.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the database to projections in this package's subpackages and
// to admin tools.
func (s *Store) DB() *badger.DB { return s.db }

// Key prefixes. Every tenant-scoped key has the tenant right after its
// prefix, so no scan of one tenant's keys can reach another's.
const (
	prefixOffset    = 'o'
	prefixStatement = 's'
)

func offsetKey(projection, topic string, partition int) []byte {
	k := make([]byte, 0, 2+len(projection)+1+len(topic)+1+4)
	k = append(k, prefixOffset, 0)
	k = append(k, projection...)
	k = append(k, 0)
	k = append(k, topic...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

// nextOffset reads a projection's next offset for a partition inside txn.
func nextOffset(txn *badger.Txn, projection, topic string, partition int) (int64, bool, error) {
	item, err := txn.Get(offsetKey(projection, topic, partition))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var off int64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("offset value of %d bytes", len(v))
		}
		off = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	return off, true, err
}

func setNextOffset(txn *badger.Txn, projection, topic string, partition int, next int64) error {
	return txn.Set(offsetKey(projection, topic, partition), binary.BigEndian.AppendUint64(nil, uint64(next)))
}

// Offsets is the stored input position of one projection. It implements
// the subscriber's offset store.
type Offsets struct {
	store *Store
	name  string
}

// NextOffset returns where the projection resumes in a partition.
func (o Offsets) NextOffset(_ context.Context, topic string, partition int) (int64, bool, error) {
	var off int64
	var ok bool
	err := o.store.db.View(func(txn *badger.Txn) error {
		var err error
		off, ok, err = nextOffset(txn, o.name, topic, partition)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("projection %s: offset of %s/%d: %w", o.name, topic, partition, err)
	}
	return off, ok, nil
}

// apply runs fn in one transaction with the offset check and update: an
// event at or before the stored offset was applied already and is skipped.
// fn returning an error aborts everything, offset included.
func (s *Store) apply(projection, topic string, partition int, offset int64, fn func(txn *badger.Txn) error) (applied bool, err error) {
	err = s.db.Update(func(txn *badger.Txn) error {
		next, ok, err := nextOffset(txn, projection, topic, partition)
		if err != nil {
			return err
		}
		if ok && offset < next {
			return nil
		}
		if fn != nil {
			if err := fn(txn); err != nil {
				return err
			}
		}
		applied = true
		return setNextOffset(txn, projection, topic, partition, offset+1)
	})
	return applied, err
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf("badger: "+f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf("badger: "+f, a...)) }
func (b badgerLogger) Infof(string, ...any)        {}
func (b badgerLogger) Debugf(string, ...any)       {}
