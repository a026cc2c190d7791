package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// postMultipart posts a statement with one attachment (multipart/mixed).
func (p *proc) postMultipart(t *testing.T, statement, content string) {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	sha := hex.EncodeToString(sum[:])
	st := strings.Replace(statement, `"verb"`, fmt.Sprintf(`"attachments":[{"usageType":"http://id.tincanapi.com/attachment/supporting_media",`+
		`"display":{"en-US":"notes"},"contentType":"text/plain","length":%d,"sha2":%q}],"verb"`, len(content), sha), 1)
	var body bytes.Buffer
	const boundary = "erasetestboundary"
	fmt.Fprintf(&body, "--%s\r\nContent-Type: application/json\r\n\r\n%s\r\n", boundary, st)
	fmt.Fprintf(&body, "--%s\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: %s\r\n\r\n%s\r\n--%s--\r\n", boundary, sha, content, boundary)
	req, _ := http.NewRequest("POST", p.url+"/xapi/statements", &body)
	req.SetBasicAuth(testKey, testSecret)
	req.Header.Set("X-Experience-API-Version", "1.0.3")
	req.Header.Set("Content-Type", "multipart/mixed; boundary="+boundary)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST multipart: %d %s", resp.StatusCode, b)
	}
}

// needles are the forms a value could take on disk: as is, JSON-escaped,
// base64 (standard and URL alphabets, with and without padding).
func needles(values ...string) map[string][]byte {
	out := map[string][]byte{}
	for _, v := range values {
		out[v] = []byte(v)
		j, _ := json.Marshal(v)
		out[v+" (JSON)"] = bytes.Trim(j, `"`)
		for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding,
			"base64 raw": base64.RawStdEncoding, "base64url raw": base64.RawURLEncoding} {
			// A value inside a longer base64 text starts at any of three
			// alignments; the middle of each encoding is what is always
			// there.
			for shift := range 3 {
				s := enc.EncodeToString(append(bytes.Repeat([]byte{0}, shift), v...))
				lead := (shift*4 + 2) / 3
				if len(s) > lead+8 {
					out[fmt.Sprintf("%s (%s, shift %d)", v, name, shift)] = []byte(strings.TrimRight(s[lead+1:len(s)-3], "="))
				}
			}
		}
	}
	return out
}

// scanDir reports every file under dir holding one of the needles.
func scanDir(t *testing.T, dir string, ns map[string][]byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a running store compacted it away meanwhile
		}
		if err != nil {
			return err
		}
		for name, n := range ns {
			if bytes.Contains(b, n) {
				rel, _ := filepath.Rel(dir, path)
				hits = append(hits, rel+": "+name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(hits)
	return hits
}

// The proof of erasure (docs/privacy.md): statements, documents and
// attachments of three learners go through serve with its roles, and a
// webhook subscription filters on two of them; one of
// them, who also appears only as instructor and group member in others'
// statements, is erased; after the broker's compaction and the store's
// purge, no file under the data dir (projections store, embedded broker
// log, key store) holds the learner's identifiers or name in any form,
// the others are intact, and the projections agree with a replay.
func TestErasureLeavesNoTrace(t *testing.T) {
	kafkatest.Each(t, erasureLeavesNoTrace)
}

// envKafkaLogDir names the real broker's log directory (.ci/kafka.sh
// prints it), whose files the test scans too.
const envKafkaLogDir = "LEARNSTREAM_KAFKA_LOG_DIR"

func erasureLeavesNoTrace(t *testing.T, c kafkatest.Cluster) {
	dir := t.TempDir()
	args := append(append([]string{"--data-dir", dir, "--roles", "api,projector,recommender,adaptive", "--purge-every", "1s",
		"--broker-compact-every", "1s"}, kafkaArgs(c)...), isolate()...)
	p := startServe(t, credEnv(), args...)
	const (
		annMbox = "mailto:ann.erasable@example.com"
		annName = "Ann <Erasable> Ünique"
		annAcct = "ann-erasable-7"
	)
	annSHA := fmt.Sprintf("%x", sha1.Sum([]byte(annMbox)))
	ann := fmt.Sprintf(`{"mbox":%q,"name":%q}`, annMbox, annName)
	bob := `{"mbox":"mailto:bob.stays@example.com","name":"Bob Stays"}`
	cy := `{"account":{"homePage":"https://hr.example.com","name":"cy-stays-3"},"name":"Cy Stays"}`
	annOther := fmt.Sprintf(`{"account":{"homePage":"https://hr.example.com","name":%q}}`, annAcct)
	stmt := func(actor, verb, object, extra string) string {
		return fmt.Sprintf(`{"actor":%s,"verb":{"id":"http://adlnet.gov/expapi/verbs/%s"},"object":%s%s}`, actor, verb, object, extra)
	}
	course := func(i int) string { return fmt.Sprintf(`{"id":"https://example.com/courses/c%d"}`, i) }
	var posts []string
	for i := range 4 {
		posts = append(posts,
			stmt(ann, "completed", course(i), fmt.Sprintf(`,"result":{"response":"ann's private answer %d","score":{"scaled":0.%d}}`, i, 5+i)),
			stmt(bob, "completed", course(i), `,"result":{"score":{"scaled":0.7}}`),
			stmt(cy, "attempted", course(i), ""))
	}
	posts = append(posts,
		stmt(bob, "completed", course(9), `,"context":{"instructor":`+ann+`}`),
		stmt(`{"objectType":"Group","name":"Pair","member":[`+ann+`,`+cy+`]}`, "completed", course(8), ""),
		stmt(cy, "mentored", `{"objectType":"Agent",`+ann[1:], ""),
		stmt(annOther, "completed", course(7), ""))
	for _, s := range posts {
		if code, _, b := p.do(t, "POST", "/xapi/statements", s); code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", s, code, b)
		}
	}
	p.postMultipart(t, stmt(ann, "attached", course(1), ""), "ann's attachment: "+annName)
	p.postMultipart(t, stmt(bob, "attached", course(1), ""), "bob's attachment stays")
	for who, agent := range map[string]string{"ann": ann, "bob": bob} {
		state := "/xapi/activities/state?activityId=" + url.QueryEscape("https://example.com/courses/c1") + "&agent=" + url.QueryEscape(agent) + "&stateId=bookmark"
		if code, _, b := p.do(t, "PUT", state, `{"owner":"`+who+`","page":3}`); code != http.StatusNoContent {
			t.Fatalf("PUT state: %d %s", code, b)
		}
		profile := "/xapi/agents/profile?agent=" + url.QueryEscape(agent) + "&profileId=prefs"
		if code, _, b := p.do(t, "POST", profile, `{"note":"`+who+` profile"}`); code != http.StatusNoContent {
			t.Fatalf("PUT profile: %d %s", code, b)
		}
	}
	// A webhook subscription filtering on Ann (and Bob): its learners are
	// kept as pseudonyms, so it holds nothing of Ann to erase.
	hook := fmt.Sprintf(`{"url":"https://93.184.216.34/hooks","filter":{"learners":[%q,"bob.stays@example.com"]}}`, annMbox)
	code, _, b := p.do(t, "POST", "/v1/webhooks", hook)
	var made struct{ Filter struct{ Learners []string } }
	if err := json.Unmarshal(b, &made); code != http.StatusCreated || err != nil || len(made.Filter.Learners) != 2 {
		t.Fatalf("POST /v1/webhooks: %d %s", code, b)
	}
	for _, l := range made.Filter.Learners {
		if !privacy.IsPseudonym(l) {
			t.Errorf("the subscription's learner filter holds %q, not a pseudonym", l)
		}
	}
	if _, _, b := p.do(t, "GET", "/v1/webhooks", ""); strings.Contains(string(b), "erasable") || !strings.Contains(string(b), made.Filter.Learners[0]) {
		t.Errorf("GET /v1/webhooks shows the learner filter other than as pseudonyms: %s", b)
	}
	p.settled(t, 60*time.Second)
	tenant := args[slices.Index(args, "--tenant")+1]
	annKey, bobKey := "mbox:"+annMbox, "mbox:mailto:bob.stays@example.com"
	ca := startChAnalytics(t, p, c, tenant)
	var annPseudo, bobPseudo string
	if ca != nil {
		annPseudo, bobPseudo = ca.vault.Pseudonym(tenant, annKey), ca.vault.Pseudonym(tenant, bobKey)
		ca.waitRows(t, tenant, annPseudo)
		ca.waitRows(t, tenant, bobPseudo)
	}
	// Before: the needles are there to be found (else the scan shows
	// nothing).
	ns := needles(annMbox, "ann.erasable@example.com", annName, "Ann <Erasable>", annSHA, "ann's private answer", "ann's attachment")
	// (The store's files may hold them compressed by now; what it serves
	// shows them in the forms the scan looks for.)
	_, _, annStatements := p.do(t, "GET", "/xapi/statements?related_agents=true&agent="+url.QueryEscape(fmt.Sprintf(`{"mbox":%q}`, annMbox)), "")
	for _, n := range []string{annMbox + " (JSON)", annName + " (JSON)", "ann's private answer (JSON)"} {
		if !bytes.Contains(annStatements, ns[n]) {
			t.Fatalf("Ann's statements before the erasure do not show %s: the scan would prove nothing\n%s", n, annStatements)
		}
	}
	t.Logf("before the erasure, %d files of the projections store show Ann in clear", len(scanDir(t, filepath.Join(dir, "projections"), ns)))

	// Bad requests change nothing: an unknown learner, a DPO of another
	// tenant (who learns nothing of this one), a credential without the
	// privacy scope.
	other, mine := kafkatest.Unique("other-tenant"), kafkatest.Unique("reader")
	for _, c := range []struct{ key, tenant, scopes string }{{other, other, `["privacy"]`}, {mine, tenant, `["all"]`}} {
		body := fmt.Sprintf(`{"key":%q,"secret":"secret-of-%s","tenant":%q,"scopes":%s}`, c.key, c.key, c.tenant, c.scopes)
		if code, _, b := p.do(t, "POST", "/v1/admin/credentials", body); code != http.StatusCreated {
			t.Fatalf("create credential: %d %s", code, b)
		}
	}
	for _, c := range []struct {
		name, key, learner string
		want               int
	}{
		{"unknown learner", testKey, "nobody@example.com", 404},
		{"another tenant's DPO", other, annMbox, 404},
		{"no privacy scope", mine, annMbox, 403},
	} {
		secret := testSecret
		if c.key != testKey {
			secret = "secret-of-" + c.key
		}
		if got := p.as(t, c.key, secret, "DELETE", "/v1/learners/"+url.PathEscape(c.learner), ""); got != c.want {
			t.Errorf("%s: DELETE answered %d, want %d", c.name, got, c.want)
		}
	}
	code, _, b = p.do(t, "DELETE", "/v1/learners/"+url.PathEscape(annMbox)+"?wait=50s", "")
	if code != http.StatusOK {
		t.Fatalf("DELETE: %d %s\n%s", code, b, p.logs)
	}
	var r projections.Receipt
	if err := json.Unmarshal(b, &r); err != nil || !r.Complete() {
		t.Fatalf("receipt: %s (%v)", b, err)
	}
	t.Logf("receipt: %s", b)
	if code, _, b := p.do(t, "POST", "/v1/admin/purge", ""); code != http.StatusOK {
		t.Fatalf("purge: %d %s", code, b)
	}
	// The purges and the final key destruction are recorded in the
	// receipt.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, b := p.do(t, "GET", "/v1/erasures/"+r.ID, "")
		var now projections.Receipt
		json.Unmarshal(b, &now)
		if len(now.Purges) > 0 && now.FinalKeysDestroyedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no purge or final key destruction in the receipt: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var chHits []string
	if ca != nil {
		removed := ca.waitAnswer(t, r.ID)
		t.Logf("analytics removed %v", removed)
		if removed["statements"] == 0 {
			t.Errorf("the analytics sink removed no statement rows: %v", removed)
		}
		// In ClickHouse the learner is their pseudonym.
		chNeedles := needles(annPseudo)
		maps.Copy(chNeedles, ns)
		chHits = ca.scan(t, chNeedles)
		ca.stop()
		if n := ca.count(t, `SELECT toUInt64(count()) AS n FROM statements WHERE tenant = {t:String} AND actor_pseudo = {p:String}`,
			map[string]string{"t": tenant, "p": bobPseudo}); n == 0 {
			t.Error("bob's ClickHouse rows are gone")
		}
	}
	time.Sleep(2 * time.Second) // a broker compaction round
	bobQuery := "/xapi/statements?limit=100&agent=" + url.QueryEscape(bob)
	_, _, before := p.do(t, "GET", bobQuery+"&related_agents=true", "")
	_, _, allBefore := p.do(t, "GET", "/xapi/statements?limit=500", "")
	p.stop(t)

	// Every file, as bytes (the write-ahead files, the broker's segments,
	// the key store), then what compression hides: every version of
	// every key the projections store still has, deleted or not, and
	// every record of every topic, decompressed.
	hits := append(chHits, scanDir(t, dir, ns)...)
	if c.Embedded == nil {
		if logDir := os.Getenv(envKafkaLogDir); logDir != "" {
			hits = append(hits, scanDir(t, logDir, ns)...)
		} else {
			t.Logf("%s is not set: the real broker's files are not scanned, only its records", envKafkaLogDir)
		}
	}
	hits = append(hits, scanStore(t, filepath.Join(dir, "projections"), ns)...)

	// Restart: the others are intact, and a replay of the statements and
	// documents projections agrees with them.
	p = startServe(t, credEnv(), args...)
	defer p.stop(t)
	hits = append(hits, scanLog(t, p, ns)...)
	for _, h := range hits {
		t.Errorf("after the erasure: %s", h)
	}
	p.settled(t, 60*time.Second)
	_, _, after := p.do(t, "GET", bobQuery+"&related_agents=true", "")
	if !bytes.Equal(before, after) || !strings.Contains(string(after), "Bob Stays") || strings.Count(string(after), `"verb"`) < 6 {
		t.Errorf("bob's statements changed across the restart or are missing:\n%s\n%s", before, after)
	}
	if code, _, b := p.do(t, "GET", "/xapi/agents/profile?agent="+url.QueryEscape(bob)+"&profileId=prefs", ""); code != http.StatusOK || !strings.Contains(string(b), "bob profile") {
		t.Errorf("bob's profile: %d %s", code, b)
	}
	for _, name := range []string{projections.StatementsName, projections.DocumentsName} {
		if code, _, b := p.do(t, "POST", "/v1/admin/projections/"+name+"/replay", ""); code != http.StatusAccepted {
			t.Fatalf("replay %s: %d %s", name, code, b)
		}
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		st := p.status(t)
		done := st[projections.StatementsName].Replay != nil && st[projections.StatementsName].Replay.State == "done" &&
			st[projections.DocumentsName].Replay != nil && st[projections.DocumentsName].Replay.State == "done"
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replays not done: statements %+v, documents %+v", st[projections.StatementsName].Replay, st[projections.DocumentsName].Replay)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, _, allAfter := p.do(t, "GET", "/xapi/statements?limit=500", "")
	if !sameStatements(t, allBefore, allAfter) {
		t.Errorf("the statements after a replay differ from the erased live projection:\nlive   %s\nreplay %s", allBefore, allAfter)
	}
}

// scanStore reports every version of every key of the projections store
// in dir (the server stopped) whose key or value holds a needle.
func scanStore(t *testing.T, dir string, ns map[string][]byte) []string {
	t.Helper()
	s, err := projections.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var hits []string
	versions := 0
	err = s.DB().View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.AllVersions = true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			versions++
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			for name, n := range ns {
				if bytes.Contains(item.Key(), n) || bytes.Contains(v, n) {
					hits = append(hits, fmt.Sprintf("store key %q (version %d, deleted %v): %s", item.Key(), item.Version(), item.IsDeletedOrExpired(), name))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("projections store: %d key versions scanned", versions)
	return hits
}

// scanLog reports every record of every topic of p's broker whose key,
// value or headers hold a needle.
func scanLog(t *testing.T, p *proc, ns map[string][]byte) []string {
	t.Helper()
	p.secureKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(p.kafka), Transport: streams.Transport([]string{p.kafka})}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var hits []string
	records := 0
	for _, tp := range meta.Topics {
		ends, err := streams.EndOffsets(ctx, []string{p.kafka}, tp.Name)
		if err != nil {
			t.Fatal(err)
		}
		for part, end := range ends {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{p.kafka}, Dialer: streams.Dialer([]string{p.kafka}), Topic: tp.Name,
				Partition: part, MaxWait: 100 * time.Millisecond, MaxBytes: 64 << 20})
			r.SetOffset(kafka.FirstOffset)
			for end > 0 {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("read %s/%d: %v", tp.Name, part, err)
				}
				records++
				parts := [][]byte{m.Key, m.Value}
				for _, h := range m.Headers {
					parts = append(parts, h.Value)
				}
				for name, n := range ns {
					for _, b := range parts {
						if bytes.Contains(b, n) {
							hits = append(hits, fmt.Sprintf("log %s/%d@%d: %s", tp.Name, part, m.Offset, name))
							break
						}
					}
				}
				if m.Offset+1 >= end {
					break
				}
			}
			r.Close()
		}
	}
	t.Logf("event log: %d records of %d topics scanned", records, len(meta.Topics))
	return hits
}

// sameStatements compares two StatementResults, ignoring "more".
func sameStatements(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y struct{ Statements []json.RawMessage }
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	if len(x.Statements) != len(y.Statements) {
		return false
	}
	for i := range x.Statements {
		var u, v any
		json.Unmarshal(x.Statements[i], &u)
		json.Unmarshal(y.Statements[i], &v)
		ub, _ := json.Marshal(u)
		vb, _ := json.Marshal(v)
		if !bytes.Equal(ub, vb) {
			return false
		}
	}
	return true
}

// TestWebhookLearnerFiltersUpgradeToPseudonyms: a subscription made with
// --privacy=off keeps its learner filter as learner keys; once the install
// runs with privacy, the filter is converted (answered as pseudonyms) and
// published again, and after the store's purge no file of the projections
// store holds the learner's e-mail. (The record written without privacy
// stays in the log like every other: the embedded broker keeps the
// webhooks topic uncompacted; docs/privacy.md.)
func TestWebhookLearnerFiltersUpgradeToPseudonyms(t *testing.T) {
	dir := t.TempDir()
	base := append([]string{"--data-dir", dir, "--roles", "api", "--purge-every", "1s"}, isolate()...)
	const email = "dora.upgrade@example.com"
	p := startServe(t, credEnv(), append([]string{"--privacy", "off"}, base...)...)
	code, _, b := p.do(t, "POST", "/v1/webhooks", `{"url":"https://93.184.216.34/hooks","filter":{"learners":["`+email+`"]}}`)
	var made struct {
		ID     string
		Filter struct{ Learners []string }
	}
	if err := json.Unmarshal(b, &made); code != http.StatusCreated || err != nil || len(made.Filter.Learners) != 1 || made.Filter.Learners[0] != "mbox:mailto:"+email {
		t.Fatalf("with privacy off: POST /v1/webhooks: %d %s, want the learner key kept", code, b)
	}
	p.stop(t)

	p = startServe(t, credEnv(), base...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, _, b = p.do(t, "GET", "/v1/webhooks/"+made.ID, "")
		var got struct{ Filter struct{ Learners []string } }
		json.Unmarshal(b, &got)
		if len(got.Filter.Learners) == 1 && privacy.IsPseudonym(got.Filter.Learners[0]) && !strings.Contains(string(b), email) {
			// Published again, pseudonymised.
			if hits := scanLog(t, p, needles(got.Filter.Learners[0])); len(hits) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("with privacy on: the subscription %s was not converted and published again\n%s", b, p.logs)
		}
		time.Sleep(time.Second)
	}
	if code, _, b := p.do(t, "POST", "/v1/admin/purge", ""); code != http.StatusOK {
		t.Fatalf("purge: %d %s", code, b)
	}
	p.stop(t)
	ns := needles(email)
	for _, h := range append(scanDir(t, filepath.Join(dir, "projections"), ns), scanStore(t, filepath.Join(dir, "projections"), ns)...) {
		t.Errorf("after the upgrade: %s", h)
	}
}
