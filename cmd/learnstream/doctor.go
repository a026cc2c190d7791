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
	"slices"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

func init() {
	commands["doctor"] = command{summary: "check a data dir: broker log segments, quarantined data, projections store, stored offsets against the log", run: runDoctor}
}

// finding is one line of the doctor's answer.
type finding struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
}

type doctorReport struct {
	DataDir  string    `json:"data_dir"`
	OK       bool      `json:"ok"`
	Findings []finding `json:"findings"`
}

func (r *doctorReport) add(check, status, format string, args ...any) {
	r.Findings = append(r.Findings, finding{Check: check, Status: status, Detail: fmt.Sprintf(format, args...)})
	if status == "fail" {
		r.OK = false
	}
}

// errProblems makes the exit code non-zero after the report is printed.
var errProblems = errors.New("problems found; docs/operations.md says how to recover from each")

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "./data", "the data dir to check (learnstream serve's --data-dir)")
	kafkaAddr := fs.String("kafka", "", "Apache Kafka bootstrap brokers, when serve runs with --kafka: stored offsets are compared with their log ends")
	asJSON := fs.Bool("json", false, "print JSON")
	masterKeyFile := fs.String("privacy-master-key-file", "", "privacy master keys (as serve's; or "+streams.EnvMasterKey+"): with --kafka the key store is opened and its state reported")
	ack := fs.Bool("ack", false, "acknowledge the quarantined broker log damage (after reading this report): /readyz stops failing on it")
	var security kafkaSecurity
	security.flags(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *kafkaAddr != "" {
		if err := errors.Join(security.validate(true)...); err != nil {
			return err
		}
		sec, err := security.externalSecurity()
		if err != nil {
			return err
		}
		if err := streams.Secure(strings.Split(*kafkaAddr, ","), sec); err != nil {
			return err
		}
	}
	rep := doctor(ctx, *dataDir, *kafkaAddr, *ack)
	doctorKeys(ctx, &rep, *dataDir, *kafkaAddr, *masterKeyFile)
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		for _, f := range rep.Findings {
			fmt.Fprintf(stdout, "%-4s  %-12s %s\n", strings.ToUpper(f.Status), f.Check, f.Detail)
		}
	}
	if !rep.OK {
		return errProblems
	}
	return nil
}

func doctor(ctx context.Context, dataDir, kafkaAddr string, ack bool) doctorReport {
	rep := doctorReport{DataDir: dataDir, OK: true}
	fi, err := os.Stat(dataDir)
	switch {
	case err != nil:
		rep.add("data dir", "fail", "%s: %v", dataDir, err)
		return rep
	case !fi.IsDir():
		rep.add("data dir", "fail", "%s is not a directory", dataDir)
		return rep
	}
	if f, err := os.CreateTemp(dataDir, ".doctor-*"); err != nil {
		rep.add("data dir", "fail", "%s is not writable: %v", dataDir, err)
	} else {
		f.Close()
		os.Remove(f.Name())
		rep.add("data dir", "ok", "%s exists and is writable", dataDir)
	}
	// What the install trusts must be readable by it alone.
	for _, name := range []string{signingKeyFile, brokerCredentialFile, pseudonymFile, streams.MasterKeyFile} {
		if fi, err := os.Stat(filepath.Join(dataDir, name)); err == nil && fi.Mode().Perm()&0o077 != 0 {
			rep.add("secrets", "fail", "%s has mode %v: others may read it (chmod 600 %s)", name, fi.Mode().Perm(), filepath.Join(dataDir, name))
		}
	}

	// The embedded broker's log.
	var ends func(topic string) (map[int]int64, bool, error)
	kafkaDir := filepath.Join(dataDir, "kafka")
	if kafkaAddr == "" {
		scan, err := streams.ScanLog(kafkaDir)
		if err != nil {
			rep.add("broker log", "fail", "%v", err)
		} else {
			for _, d := range scan.Damage {
				rep.add("broker log", "fail", "%s (the next start copies it to %s and refuses if consumers had read past it)", d, quarantineDir(dataDir))
			}
			if len(scan.Damage) == 0 {
				rep.add("broker log", "ok", "%d segment(s), %d record batches, every CRC intact", scan.Segments, scan.Batches)
			}
			ends = scanEnds(scan)
		}
	} else {
		brokers := strings.Split(kafkaAddr, ",")
		ends = func(topic string) (map[int]int64, bool, error) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			e, err := streams.EndOffsets(cctx, brokers, topic)
			if err != nil {
				rep.add("kafka", "warn", "end offsets of %s: %v", topic, err)
				return nil, false, nil
			}
			return e, true, nil
		}
	}

	// Damage found (and kept) at earlier starts.
	qroot := quarantineDir(dataDir)
	if ack {
		n, err := streams.AcknowledgeQuarantine(qroot)
		if err != nil {
			rep.add("quarantine", "fail", "acknowledge: %v", err)
		} else {
			rep.add("quarantine", "ok", "acknowledged %d report(s)", n)
		}
	}
	reports, err := streams.QuarantineReports(qroot)
	if err != nil {
		rep.add("quarantine", "fail", "%v", err)
	}
	dirs := make([]string, 0, len(reports))
	for d := range reports {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		r := reports[d]
		status, note := "fail", "not acknowledged: /readyz fails until learnstream doctor --ack"
		if r.Acknowledged {
			status, note = "warn", "acknowledged"
		}
		for _, dmg := range r.Damage {
			rep.add("quarantine", status, "found %s: %s; copy in %s (%s)", r.Found.Format(time.RFC3339), dmg, dmg.Quarantined, note)
		}
	}
	if len(reports) == 0 && err == nil {
		rep.add("quarantine", "ok", "no damaged log data kept aside")
	}

	// The projections store: every table readable and checksummed.
	storeDir := filepath.Join(dataDir, "projections")
	probs, err := projections.CheckFiles(storeDir, true)
	switch {
	case err != nil:
		rep.add("projections", "fail", "%v", err)
	case len(probs) > 0:
		for _, p := range probs {
			rep.add("projections", "fail", "%s; recover: stop learnstream, mv %s %s.damaged, start again (every projection rebuilds from the log)", p, storeDir, storeDir)
		}
		return rep
	}
	if _, err := os.Stat(filepath.Join(storeDir, "MANIFEST")); errors.Is(err, os.ErrNotExist) {
		rep.add("projections", "ok", "%s holds no projections store yet (a new data dir, or one moved aside: the next start rebuilds it from the log)", storeDir)
		return rep
	}
	store, err := projections.OpenReadOnly(storeDir)
	if err != nil {
		switch {
		case strings.Contains(err.Error(), "another process"):
			// A running server holds the store: offsets are its business
			// (learnstream projections shows them live).
			rep.add("projections", "warn", "%s is in use by a running server: tables checked, stored offsets not (learnstream projections shows them live)", storeDir)
		case strings.Contains(err.Error(), "Log truncate required"):
			// Not damage: the last run ended without closing the store
			// (kill -9, power loss); the next start replays its memtable,
			// which a read-only open cannot.
			rep.add("projections", "warn", "%s was not closed cleanly (the last run crashed or was killed): tables checked; the next start replays the rest; stored offsets not checked", storeDir)
		default:
			rep.add("projections", "fail", "%v", err)
		}
		return rep
	}
	defer store.Close()
	offs, err := store.StoredOffsets()
	if err != nil {
		rep.add("projections", "fail", "%v", err)
		return rep
	}
	rep.add("projections", "ok", "%s opens, every table checksummed; %d stored offset(s)", storeDir, len(offs))

	// Stored offsets against what the log holds.
	if ends == nil {
		return rep
	}
	losses, err := offsetsBeyondEnd(store, ends)
	if err != nil {
		rep.add("offsets", "fail", "%v", err)
		return rep
	}
	for _, l := range losses {
		rep.add("offsets", "fail", "%s; the next start refuses: restore the data dir from a backup, or start with --on-log-loss=rebuild", l)
	}
	if len(losses) == 0 {
		rep.add("offsets", "ok", "every stored offset is within the log")
	}
	return rep
}

// doctorKeys reports the privacy key store: where the master key is, how
// many records the store holds and, when it can be opened (--kafka and a
// master key), its keys by master key and any that do not unwrap.
func doctorKeys(ctx context.Context, rep *doctorReport, dataDir, kafkaAddr, masterKeyFile string) {
	keys, source, err := streams.LoadMasterKeys(masterKeyFile, os.Getenv(streams.EnvMasterKey))
	if err != nil {
		rep.add("key store", "fail", "master key: %v", err)
		return
	}
	inDataDir := filepath.Join(dataDir, streams.MasterKeyFile)
	if keys == nil {
		if k, _, err := streams.LoadMasterKeys(inDataDir, ""); err == nil {
			keys, source = k, inDataDir
			rep.add("key store", "warn", "the privacy master key is in the data dir (%s): move it out and give it with --privacy-master-key-file (docs/privacy.md \"Operator\")", inDataDir)
		}
	}
	var records int64 = -1
	if kafkaAddr == "" {
		if scan, err := streams.ScanLog(filepath.Join(dataDir, "kafka")); err == nil {
			if e, ok, _ := scanEnds(scan)(privacy.TopicKeys); ok {
				records = e[0]
			}
		}
	} else {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if e, err := streams.EndOffsets(cctx, strings.Split(kafkaAddr, ","), privacy.TopicKeys); err == nil {
			records = e[0]
		}
	}
	switch {
	case keys == nil && records > 0:
		rep.add("key store", "fail", "%s holds %d record offset(s) and no master key is given or in the data dir: serve refuses to start; give the master key that wrapped them", privacy.TopicKeys, records)
		return
	case keys == nil:
		rep.add("key store", "ok", "no key store yet and no master key: the first serve on the embedded broker generates one (with --kafka, give one)")
		return
	}
	if kafkaAddr == "" {
		rep.add("key store", "ok", "master key %s from %s; %s ends at offset %d (learnstream keys status, with serve running, counts its keys)", keys.Current().ID, source, privacy.TopicKeys, max(records, 0))
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := streams.OpenVault(cctx, streams.VaultConfig{Brokers: strings.Split(kafkaAddr, ","), Master: keys})
	if err != nil {
		rep.add("key store", "fail", "%v", err)
		return
	}
	defer v.Close()
	st := v.State()
	status := "ok"
	if st.Unreadable > 0 {
		status = "fail"
	}
	rep.add("key store", status, "%d data key(s), %d destroyed, %d unreadable, %d record(s) on the topic; current master key %s, live records per master key %v",
		st.DataKeys, st.Destroyed, st.Unreadable, st.Records, st.Current, st.Masters)
}
