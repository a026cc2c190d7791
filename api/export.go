package api

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// agentDocuments lists a learner's documents (projections.Documents).
type agentDocuments interface {
	AgentDocumentKeys(ctx context.Context, tenant, agent string) ([]projections.DocumentKey, error)
}

// exportSources are the read models an export reads, found in the
// server's configuration when the routes are registered; each may be nil
// (the process does not run it) and its part of the archive says so.
type exportSources struct {
	statements StatementStore
	documents  DocumentStore
	progress   ProgressReader
	mastery    AdaptiveReader
	recs       *projections.Recommendations
	roles      interface {
		LearnerRole(tenant, learner string) (string, error)
	}
}

func (s *Server) exportSources() exportSources {
	x := s.backend()
	src := exportSources{statements: x.Statements, documents: x.Documents, progress: s.cfg.Progress}
	for _, m := range s.cfg.Modules {
		switch m := m.(type) {
		case *AdaptiveModule:
			src.mastery = m.Adaptive
		case *RecommendModule:
			src.recs = m.Recommendations
		case *CatalogModule:
			if m.Catalog != nil {
				src.roles = m.Catalog
			}
		}
	}
	return src
}

// exportPage is how many statements an export reads at a time: the
// archive is written as it is read, so memory stays bounded whatever the
// learner's history.
const exportPage = 500

// export streams a zip of everything learnstream holds of a learner
// (docs/privacy.md, Export).
func (m *PrivacyModule) export(w http.ResponseWriter, r *http.Request) {
	ctx, tenant := r.Context(), Tenant(r)
	learner := learnerKey(r.PathValue("learner"))
	src := m.sources
	// Statements of the learner as actor or named anywhere in them.
	pageSize := m.ExportPage
	if pageSize <= 0 {
		pageSize = exportPage
	}
	q := projections.StatementQuery{Agent: learner, RelatedAgents: true, Ascending: true, Limit: pageSize}
	first, err := src.statements.Query(ctx, tenant, q)
	if err != nil {
		m.log().Error("export: query statements", "err", err)
		writePlainError(w, http.StatusInternalServerError, "could not read statements")
		return
	}
	var docKeys []projections.DocumentKey
	if d, ok := src.documents.(agentDocuments); ok {
		if docKeys, err = d.AgentDocumentKeys(ctx, tenant, learner); err != nil {
			m.log().Error("export: list documents", "err", err)
			writePlainError(w, http.StatusInternalServerError, "could not read documents")
			return
		}
	}
	var progress []projections.ActivityProgress
	if src.progress != nil {
		if progress, err = src.progress.Learner(ctx, tenant, learner); err != nil {
			m.log().Error("export: progress", "err", err)
			writePlainError(w, http.StatusInternalServerError, "could not read progress")
			return
		}
	}
	// A learner of whom nothing is held, in this tenant, is unknown: the
	// same answer for another tenant's learner, so nothing is learned
	// about other tenants.
	if len(first.Statements) == 0 && len(docKeys) == 0 && len(progress) == 0 {
		writePlainError(w, http.StatusNotFound, "learner "+learner+" has no data in this tenant")
		return
	}
	p := m.Pseudonyms.Pseudonym(tenant, learner)
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "learnstream-export-" + p + ".zip"}))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// The server's write timeout bounds a whole response; an export of a
	// long history may take longer, so each write gets its own.
	out := &deadlineWriter{w: w, rc: http.NewResponseController(w)}
	ex := &exportWriter{z: zip.NewWriter(out), ctx: ctx, tenant: tenant, learner: learner, src: src, m: m}
	if err := ex.write(first, q, docKeys, progress, p); err != nil {
		// The status is sent: abort the connection so the client gets a
		// broken download, never a complete-looking partial archive.
		m.log().Error("export failed after it started; connection aborted", "err", err)
		panic(http.ErrAbortHandler)
	}
}

type exportWriter struct {
	z       *zip.Writer
	ctx     context.Context
	tenant  string
	learner string
	src     exportSources
	m       *PrivacyModule
	counts  []string // lines of the README's contents table
}

func (ex *exportWriter) file(name string) (io.Writer, error) {
	return ex.z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()})
}

func (ex *exportWriter) json(name string, v any) error {
	f, err := ex.file(name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (ex *exportWriter) note(file, what string) {
	ex.counts = append(ex.counts, fmt.Sprintf("  %-28s %s", file, what))
}

func (ex *exportWriter) write(first projections.StatementPage, q projections.StatementQuery, docKeys []projections.DocumentKey,
	progress []projections.ActivityProgress, pseudonym string) error {
	if err := ex.statements(first, q); err != nil {
		return fmt.Errorf("statements: %w", err)
	}
	if err := ex.documents(docKeys); err != nil {
		return fmt.Errorf("documents: %w", err)
	}
	if progress == nil {
		progress = []projections.ActivityProgress{}
	}
	if err := ex.json("progress.json", progress); err != nil {
		return err
	}
	ex.note("progress.json", fmt.Sprintf("progress per activity (attempts, best score, completion, time): %d activities", len(progress)))
	if err := ex.models(); err != nil {
		return err
	}
	if err := ex.privacy(pseudonym); err != nil {
		return err
	}
	if err := ex.readme(pseudonym); err != nil {
		return err
	}
	return ex.z.Close()
}

// eachStatement calls fn for every statement of the query, page by page,
// starting with first.
func (ex *exportWriter) eachStatement(first projections.StatementPage, q projections.StatementQuery, fn func(raw []byte, st *xapi.Statement) error) error {
	page := first
	for {
		for _, raw := range page.Statements {
			st, err := xapi.DecodeStored(raw)
			if err != nil {
				return fmt.Errorf("stored statement unreadable: %w", err)
			}
			if err := fn(raw, st); err != nil {
				return err
			}
		}
		if page.Next == nil {
			return nil
		}
		q.After = page.Next
		var err error
		if page, err = ex.src.statements.Query(ex.ctx, ex.tenant, q); err != nil {
			return err
		}
	}
}

// statements writes statements.json (every statement, as stored, one JSON
// array), statements.txt (one readable line each) and the attachments
// they carry. A zip is written one file at a time, so the two files are
// two passes over the statements, a page at a time: memory stays bounded
// whatever the history.
func (ex *exportWriter) statements(first projections.StatementPage, q projections.StatementQuery) error {
	js, err := ex.file("statements.json")
	if err != nil {
		return err
	}
	io.WriteString(js, "[\n")
	n := 0
	shas := map[string]string{} // sha2 -> content type
	err = ex.eachStatement(first, q, func(raw []byte, st *xapi.Statement) error {
		if n > 0 {
			io.WriteString(js, ",\n")
		}
		n++
		for _, a := range st.Attachments {
			shas[strings.ToLower(a.SHA2)] = a.ContentType
		}
		_, err := js.Write(raw)
		return err
	})
	if err != nil {
		return err
	}
	io.WriteString(js, "\n]\n")
	ex.note("statements.json", fmt.Sprintf("every xAPI statement by or about you, as stored: %d", n))
	txt, err := ex.file("statements.txt")
	if err != nil {
		return err
	}
	err = ex.eachStatement(first, q, func(_ []byte, st *xapi.Statement) error {
		_, err := io.WriteString(txt, readableStatement(st)+"\n")
		return err
	})
	if err != nil {
		return err
	}
	ex.note("statements.txt", "the same statements, one readable line each: when, who, did what, to what, with what result")
	files := 0
	for sha, ct := range shas {
		content, err := ex.src.statements.Attachment(ex.ctx, ex.tenant, sha)
		if errors.Is(err, projections.ErrNotFound) {
			continue // a fileUrl attachment: not held here
		}
		if err != nil {
			return err
		}
		f, err := ex.file("attachments/" + sha + extensionOf(ct))
		if err != nil {
			return err
		}
		f.Write(content)
		files++
	}
	if files > 0 {
		ex.note("attachments/", fmt.Sprintf("attachment payloads of those statements, named by their SHA-256: %d", files))
	}
	return nil
}

func extensionOf(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json":
		return ".json"
	case strings.HasPrefix(mt, "text/"):
		return ".txt"
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

// readableStatement is one line a person can read.
func readableStatement(st *xapi.Statement) string {
	var b strings.Builder
	if st.Timestamp != nil {
		b.WriteString(st.Timestamp.UTC().Format("2006-01-02 15:04 UTC"))
	}
	b.WriteString("  ")
	b.WriteString(agentName(st.Actor))
	b.WriteByte(' ')
	b.WriteString(display(st.Verb.Display, lastSegment(st.Verb.ID)))
	b.WriteByte(' ')
	switch o := st.Object; {
	case o.Activity != nil:
		name := ""
		if o.Activity.Definition != nil {
			name = display(o.Activity.Definition.Name, "")
		}
		if name != "" {
			b.WriteString(name + " (" + o.Activity.ID + ")")
		} else {
			b.WriteString(o.Activity.ID)
		}
	case o.Agent != nil:
		b.WriteString(agentName(*o.Agent))
	case o.StatementRef != nil:
		b.WriteString("statement " + o.StatementRef.ID)
	default:
		b.WriteString("a sub-statement")
	}
	if res := st.Result; res != nil {
		var parts []string
		if res.Score != nil && res.Score.Scaled != nil {
			parts = append(parts, fmt.Sprintf("score %.0f%%", *res.Score.Scaled*100))
		} else if res.Score != nil && res.Score.Raw != nil {
			parts = append(parts, fmt.Sprintf("score %g", *res.Score.Raw))
		}
		if res.Success != nil {
			parts = append(parts, map[bool]string{true: "passed", false: "failed"}[*res.Success])
		}
		if res.Completion != nil && *res.Completion {
			parts = append(parts, "completed")
		}
		if res.Duration != "" {
			parts = append(parts, "took "+res.Duration)
		}
		if len(parts) > 0 {
			b.WriteString(" — " + strings.Join(parts, ", "))
		}
	}
	b.WriteString("  [" + st.ID + "]")
	return b.String()
}

func agentName(a xapi.Agent) string {
	if a.Name != "" {
		return a.Name
	}
	return xapi.ActorKey(a)
}

func display(m xapi.LanguageMap, fallback string) string {
	for _, l := range []string{"en-US", "en", "en-GB", "und"} {
		if v := m[l]; v != "" {
			return v
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		return m[keys[0]]
	}
	return fallback
}

func lastSegment(iri string) string {
	if i := strings.LastIndexAny(iri, "/#"); i >= 0 && i < len(iri)-1 {
		return iri[i+1:]
	}
	return iri
}

type exportedDocument struct {
	Resource     string    `json:"resource"`
	ActivityID   string    `json:"activityId,omitempty"`
	Registration string    `json:"registration,omitempty"`
	ID           string    `json:"id"`
	ContentType  string    `json:"contentType"`
	Updated      time.Time `json:"updated"`
	File         string    `json:"file"`
}

// documents writes each State and Agent Profile document's body as stored
// under documents/, with documents/index.json saying what each is.
func (ex *exportWriter) documents(keys []projections.DocumentKey) error {
	index := []exportedDocument{}
	for i, k := range keys {
		d, err := ex.src.documents.Document(ex.ctx, ex.tenant, k)
		if errors.Is(err, projections.ErrNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return err
		}
		name := fmt.Sprintf("documents/%s-%d%s", k.Resource, i+1, extensionOf(d.ContentType))
		f, err := ex.file(name)
		if err != nil {
			return err
		}
		f.Write(d.Content)
		index = append(index, exportedDocument{Resource: k.Resource, ActivityID: k.ActivityID, Registration: k.Registration, ID: k.ID,
			ContentType: d.ContentType, Updated: d.Updated, File: name})
	}
	if err := ex.json("documents/index.json", index); err != nil {
		return err
	}
	ex.note("documents/", fmt.Sprintf("your xAPI state and agent-profile documents, bodies as stored; index.json says what each is: %d", len(index)))
	return nil
}

// models writes what the models derived: mastery and recommendations.
func (ex *exportWriter) models() error {
	if ex.src.mastery != nil {
		skills, err := ex.src.mastery.LearnerSkills(ex.ctx, ex.tenant, ex.learner)
		if err != nil {
			return fmt.Errorf("mastery: %w", err)
		}
		if skills == nil {
			skills = []projections.SkillMastery{}
		}
		if err := ex.json("mastery.json", map[string]any{"threshold": ex.src.mastery.Threshold(), "skills": skills}); err != nil {
			return err
		}
		ex.note("mastery.json", fmt.Sprintf("the mastery and ability the adaptive model estimates per skill, with their history: %d skills", len(skills)))
	} else {
		ex.note("mastery.json", "not included: this server does not run the adaptive read model")
	}
	if ex.src.roles != nil {
		role, err := ex.src.roles.LearnerRole(ex.tenant, ex.learner)
		if err != nil {
			return fmt.Errorf("role: %w", err)
		}
		if err := ex.json("role.json", map[string]string{"role": role}); err != nil {
			return err
		}
		ex.note("role.json", "the role your organisation assigned you (empty: none), which recommendations take into account")
	}
	if ex.src.recs != nil {
		lr, err := ex.src.recs.Learner(ex.ctx, ex.tenant, ex.learner)
		switch {
		case errors.Is(err, projections.ErrNotFound):
			ex.note("recommendations.json", "none: no recommendations were made for you")
		case err != nil:
			return fmt.Errorf("recommendations: %w", err)
		default:
			if err := ex.json("recommendations.json", lr); err != nil {
				return err
			}
			ex.note("recommendations.json", fmt.Sprintf("your latest recommendations and, for each, the reasons it was recommended: %d items", len(lr.Items)))
		}
	} else {
		ex.note("recommendations.json", "not included: this server does not run the recommendations read model")
	}
	return nil
}

// privacy writes the consent settings and every access record about the
// learner (paged, written as read).
func (ex *exportWriter) privacy(pseudonym string) error {
	if ex.m.Consents != nil {
		st, err := ex.m.Consents.Consent(ex.ctx, ex.tenant, ex.learner)
		if err != nil {
			return fmt.Errorf("consent: %w", err)
		}
		if err := ex.json("consent.json", st); err != nil {
			return err
		}
		ex.note("consent.json", "your consent to personalisation and analytics (both on unless you withdrew them; set: when)")
	}
	if ex.m.Access == nil {
		return nil
	}
	f, err := ex.file("access.json")
	if err != nil {
		return err
	}
	io.WriteString(f, "[\n")
	n, cursor := 0, ""
	for {
		page, err := ex.m.Access.Access(ex.ctx, ex.tenant, pseudonym, cursor, 1000)
		if err != nil {
			return fmt.Errorf("access audit: %w", err)
		}
		for _, rec := range page.Records {
			if n > 0 {
				io.WriteString(f, ",\n")
			}
			b, _ := json.Marshal(rec)
			f.Write(b)
			n++
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	io.WriteString(f, "\n]\n")
	ex.note("access.json", fmt.Sprintf("every read of your data through the API before this export: who (credential), what (route), when, answer: %d", n))
	return nil
}

func (ex *exportWriter) readme(pseudonym string) error {
	f, err := ex.file("README.txt")
	if err != nil {
		return err
	}
	fmt.Fprintf(f, `Your learning data held by learnstream
======================================

Learner:     %s
Pseudonym:   %s (how you appear in analytics and in the access audit)
Organisation (tenant): %s
Exported:    %s

This archive holds everything this learnstream keeps about you, as it
was when the export was made:

%s

The .json files are JSON (https://www.json.org), readable in any text
editor or browser. Statements follow the xAPI standard
(https://github.com/adlnet/xAPI-Spec): each says who did what (verb) to
what (object), when, and with what result. statements.txt shows the same
in plain lines.

Recommendations and mastery are computed from your statements (and
recommendations from your target role, when one is set); their reasons
say why an item was suggested. If you withdrew consent to
personalisation, your recommendations are not personal and say so.

To have this data corrected or erased, contact your organisation's data
protection officer. Erasure removes it everywhere learnstream keeps it,
including its event log (see the learnstream documentation, privacy.md).
`, ex.learner, pseudonym, ex.tenant, time.Now().UTC().Format(time.RFC3339), strings.Join(ex.counts, "\n"))
	return nil
}

// deadlineWriter gives every write a minute: a client that stops reading
// is cut off, one that keeps reading gets the whole archive.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.rc.SetWriteDeadline(time.Now().Add(time.Minute))
	return d.w.Write(p)
}
