package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/streams"
)

// privacyConfig is how a process gets at the key store (docs/privacy.md
// "Keys" and "Operator").
type privacyConfig struct {
	mode          string
	masterKeyFile string
}

func (p *privacyConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.mode, "privacy", "on", "on: seal the personal data of every event under per-learner keys (docs/privacy.md); off: write it in clear, for tools and tests only")
	fs.StringVar(&p.masterKeyFile, "privacy-master-key-file", "", "file of privacy master keys, one id:base64(32 bytes) a line, the first current "+
		"(or the key itself in "+streams.EnvMasterKey+"); the embedded broker generates one into --data-dir when there is no key store yet")
}

func (p *privacyConfig) validate() error {
	if p.mode != "on" && p.mode != "off" {
		return fmt.Errorf("--privacy: must be on or off, got %q", p.mode)
	}
	return nil
}

// preflight checks the master key before anything touches Kafka: a key
// given but wrong, or no key with an external broker, refuses the start
// at once.
func (p *privacyConfig) preflight(embedded bool) error {
	if p.mode == "off" {
		return nil
	}
	keys, _, err := streams.LoadMasterKeys(p.masterKeyFile, os.Getenv(streams.EnvMasterKey))
	if err != nil {
		return err
	}
	if keys == nil && !embedded {
		return errNoMasterKey
	}
	return nil
}

var errNoMasterKey = fmt.Errorf("no privacy master key: give --privacy-master-key-file or %s (docs/privacy.md \"Operator\"); "+
	"learnstream never writes personal data in clear instead (--privacy=off is for tools and tests)", streams.EnvMasterKey)

// masterKeys finds the master keys: the flag's file, the environment, or,
// for the embedded broker, the key generated into the data dir (made now
// when the key store is still empty). A key store with records and no key
// to open them refuses the start: nothing is ever written in clear
// instead.
func (p *privacyConfig) masterKeys(ctx context.Context, log *slog.Logger, dataDir string, embedded bool, brokers []string) (streams.MasterKeys, error) {
	keys, source, err := streams.LoadMasterKeys(p.masterKeyFile, os.Getenv(streams.EnvMasterKey))
	if err != nil {
		return nil, err
	}
	if keys != nil {
		log.Info("privacy master key loaded", "source", source, "current", keys.Current().ID, "keys", len(keys))
		return keys, nil
	}
	if !embedded {
		return nil, errNoMasterKey
	}
	path := filepath.Join(dataDir, streams.MasterKeyFile)
	if keys, _, err = streams.LoadMasterKeys(path, ""); err == nil {
		log.Warn("the privacy master key is in the data dir, next to what it protects: move it out and give it with --privacy-master-key-file "+
			"(docs/privacy.md \"Operator\")", "file", path)
		return keys, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ends, err := streams.EndOffsets(ctx, brokers, privacy.TopicKeys)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	if ends[0] > 0 {
		return nil, fmt.Errorf("no privacy master key, and the key store in %s holds keys: give the master key that wrapped them "+
			"with --privacy-master-key-file or %s (docs/privacy.md \"Operator\"); not started, nothing written", dataDir, streams.EnvMasterKey)
	}
	if keys, err = streams.GenerateMasterKeyFile(path); err != nil {
		return nil, err
	}
	log.Warn("generated a privacy master key into the data dir: move it out of the data dir, keep a copy apart from the data's backups, "+
		"and give it with --privacy-master-key-file; without it the data cannot be read (docs/privacy.md \"Operator\")", "file", path)
	return keys, nil
}

// openKeyStore opens the key store and registers it for the cluster, so
// every publisher and subscriber of this process seals and opens with it.
// With --privacy=off it says so loudly and returns nil.
func (p *privacyConfig) openKeyStore(ctx context.Context, log *slog.Logger, dataDir string, embedded bool, brokers []string, compact bool) (*streams.Vault, error) {
	if p.mode == "off" {
		log.Warn("PRIVACY IS OFF (--privacy=off): personal data of events is written to the log in clear and cannot be erased; for tools and tests only")
		return nil, nil
	}
	keys, err := p.masterKeys(ctx, log, dataDir, embedded, brokers)
	if err != nil {
		return nil, err
	}
	v, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: brokers, Master: keys, Compact: compact, Logger: log})
	if err != nil {
		return nil, err
	}
	streams.UseKeys(brokers, v)
	st := v.State()
	log.Info("key store open", "topic", st.Topic, "data_keys", st.DataKeys, "destroyed", st.Destroyed, "master", st.Current)
	return v, nil
}
