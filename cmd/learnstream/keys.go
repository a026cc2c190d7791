package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/learnstream/learnstream/streams"
)

func init() {
	commands["keys"] = command{
		summary: "the privacy key store (keys rotate | keys status)",
		subs: map[string]command{
			"rotate": {summary: "rewrap every data key under the current master key (the first of --privacy-master-key-file), so the others can be retired", run: runKeysRotate},
			"status": {summary: "print the key store's state: data keys, destroyed keys, records per master key", run: runKeysStatus},
		},
	}
}

// keysFlags are the flags of the keys commands: where the brokers are
// (as dlq's) and the master keys.
type keysFlags struct {
	dlq           dlqFlags
	masterKeyFile string
}

func (k *keysFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&k.dlq.kafka, "kafka", "127.0.0.1:9092", "Kafka bootstrap brokers (the embedded broker listens on serve's --broker-listen)")
	fs.StringVar(&k.dlq.dataDir, "data-dir", "./data", "data directory of the embedded broker, whose SASL credential is used when no --kafka-sasl-mechanism is given")
	k.dlq.security.flags(fs, false)
	fs.StringVar(&k.masterKeyFile, "privacy-master-key-file", "", "file of privacy master keys, one id:base64 a line, the first current (or "+streams.EnvMasterKey+"; else the key generated into --data-dir)")
}

// open registers the brokers' security and opens the key store.
func (k *keysFlags) open(ctx context.Context) (*streams.Vault, error) {
	k.dlq.topic = streams.TopicStatements
	if err := k.dlq.validate(); err != nil {
		return nil, err
	}
	keys, _, err := streams.LoadMasterKeys(k.masterKeyFile, os.Getenv(streams.EnvMasterKey))
	if err != nil {
		return nil, err
	}
	if keys == nil {
		path := filepath.Join(k.dlq.dataDir, streams.MasterKeyFile)
		if keys, _, err = streams.LoadMasterKeys(path, ""); err != nil {
			return nil, errors.New("no privacy master key: give --privacy-master-key-file or " + streams.EnvMasterKey)
		}
	}
	return streams.OpenVault(ctx, streams.VaultConfig{Brokers: k.dlq.brokers(), Master: keys})
}

func runKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var k keysFlags
	fs := newFlagSet("keys rotate", stderr)
	k.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v, err := k.open(ctx)
	if err != nil {
		return err
	}
	defer v.Close()
	cur := v.State().Current
	n, err := v.Rotate(ctx, func(done, total int) {
		fmt.Fprintf(stdout, "rewrapped %d of %d record(s) under master key %s\n", done, total, cur)
	})
	if err != nil {
		return fmt.Errorf("after rewrapping %d record(s): %w", n, err)
	}
	st := v.State()
	var others []string
	for id, c := range st.Masters {
		if id != cur && c > 0 {
			others = append(others, fmt.Sprintf("%s (%d)", id, c))
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("records still under other master keys: %s; run keys rotate again", strings.Join(others, ", "))
	}
	fmt.Fprintf(stdout, "every key is wrapped by master key %s and the old wraps are compacted away: the other master keys can be retired\n", cur)
	return nil
}

func runKeysStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var k keysFlags
	var asJSON bool
	fs := newFlagSet("keys status", stderr)
	k.flags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v, err := k.open(ctx)
	if err != nil {
		return err
	}
	defer v.Close()
	st := v.State()
	if asJSON {
		return json.NewEncoder(stdout).Encode(st)
	}
	fmt.Fprintf(stdout, "topic %s: %d data key(s), %d destroyed, %d record(s) on the topic, %d unreadable; current master key %s; live records per master key %v\n",
		st.Topic, st.DataKeys, st.Destroyed, st.Records, st.Unreadable, st.Current, st.Masters)
	return nil
}
