package api

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/content"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
)

// PackagesModule imports SCORM and cmi5 packages (POST /v1/packages): the
// files go to the package store, the course becomes catalog events. It also
// serves the packages' files to browsers under /content/.
type PackagesModule struct {
	Store   *projections.PackageStore
	Catalog *CatalogModule
	// IRIBase prefixes the activity IRIs of SCORM packages; it must stay
	// the same across restarts for re-imports to keep learners' records.
	IRIBase string
	Logger  *slog.Logger
}

// publicRouter is implemented by the server's router: routes without
// credentials, for what browsers load by URL (package files, the player).
type publicRouter interface {
	HandlePublic(pattern string, h http.HandlerFunc)
}

// HandlePublic serves pattern without authentication.
func (r router) HandlePublic(pattern string, h http.HandlerFunc) { r.s.handle(pattern, h) }

// Register adds the package routes.
func (m *PackagesModule) Register(r Router) {
	r.Handle("POST /v1/packages", m.importPackage, "all", projections.ScopePackages)
	r.Handle("GET /v1/packages", m.list, "all", "all/read", projections.ScopePackages)
	r.Handle("GET /v1/packages/{id}", m.get, "all", "all/read", projections.ScopePackages)
	if p, ok := r.(publicRouter); ok {
		p.HandlePublic("GET /content/{id}/{import}/{path...}", m.serveFile)
	}
}

func (m *PackagesModule) log() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

// packageURL is where a package import's files are served.
func packageURL(info projections.PackageInfo) string {
	return "/content/" + info.ID + "/" + info.Import + "/"
}

// errSkillsTooLarge marks a "skills" form part over content.MaxMetaFileBytes,
// the bound of the mapping file inside a package too.
var errSkillsTooLarge = fmt.Errorf("multipart part skills: larger than %d bytes", content.MaxMetaFileBytes)

// upload finds the archive in the request: the body itself, or the "file"
// part of a multipart form (with an optional "skills" part, the skill
// mapping, read whole up to content.MaxMetaFileBytes). The archive
// streams; it is never buffered whole.
func upload(r *http.Request) (body io.Reader, skills []byte, err error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return r.Body, nil, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, fmt.Errorf("multipart body: %w", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil, errors.New(`multipart body: no part named "file"`)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("multipart body: %w", err)
		}
		switch part.FormName() {
		case "skills":
			if skills, err = io.ReadAll(io.LimitReader(part, content.MaxMetaFileBytes+1)); err != nil {
				return nil, nil, fmt.Errorf("multipart part skills: %w", err)
			}
			if len(skills) > content.MaxMetaFileBytes {
				return nil, nil, errSkillsTooLarge
			}
		case "file":
			// The file part is read last: what follows it is not read.
			return part, skills, nil
		}
	}
}

func (m *PackagesModule) importPackage(w http.ResponseWriter, r *http.Request) {
	tenant := Tenant(r)
	body, skillsData, err := upload(r)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errSkillsTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: err.Error(), Field: "skills",
			Rule: fmt.Sprintf("at most %d bytes", content.MaxMetaFileBytes)})
		return
	case errors.As(err, &mbe):
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "package: " + err.Error(), Field: "package",
			Rule: fmt.Sprintf("at most %d bytes", m.Store.MaxUploadBytes)})
		return
	case err != nil:
		WriteFieldError(w, "body", err.Error())
		return
	}
	st, err := m.Store.Stage(body)
	if err != nil {
		switch {
		case errors.Is(err, projections.ErrPackageTooLarge) || errors.As(err, &mbe):
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "package: " + err.Error(), Field: "package",
				Rule: fmt.Sprintf("at most %d bytes", m.Store.MaxUploadBytes)})
		case errors.Is(err, content.ErrUnsafe):
			WriteFieldError(w, "package", err.Error())
		default:
			m.log().Error("stage package", "err", err)
			writeError(w, http.StatusInternalServerError, "could not store the upload")
		}
		return
	}
	installed := false
	defer func() {
		if !installed {
			st.Discard()
		}
	}()
	opts := content.Options{IRIBase: m.IRIBase}
	if skillsData != nil {
		if opts.Skills, err = content.ParseSkillMap(skillsData); err != nil {
			WriteFieldError(w, "skills", err.Error())
			return
		}
	}
	var course *content.Course
	if st.Bare {
		var data []byte
		if data, err = content.ReadMetaFile(os.DirFS(st.Files), content.CMI5File); err == nil {
			course, err = content.ParseCMI5(data, opts)
		}
	} else {
		course, err = content.Read(os.DirFS(st.Files), opts)
	}
	if err != nil {
		packageError(w, err)
		return
	}
	now := time.Now()
	info := projections.PackageInfo{ID: projections.PackageID(tenant, course.IRI), Tenant: tenant,
		Import: projections.NewImportID(now), ImportedAt: now.UTC(), Files: st.Count, Bytes: st.Bytes, Course: course}
	var undo func() error
	rep, err := m.Catalog.ImportBatch(r.Context(), tenant, course.Batch(), func() error {
		var err error
		undo, err = m.Store.Install(st, info)
		return err
	})
	if undo != nil {
		installed = true
	}
	if err != nil {
		if undo != nil {
			if uerr := undo(); uerr != nil {
				m.log().Error("undo package install", "package", info.ID, "err", uerr)
			}
		}
		var ie *graph.ImportError
		switch {
		case errors.As(err, &ie):
			graphError(w, err)
		case errors.Is(err, ErrCatalogUnavailable):
			writeError(w, http.StatusServiceUnavailable, err.Error())
		default:
			m.log().Error("import package", "err", err)
			writeError(w, http.StatusInternalServerError, "could not import the package")
		}
		return
	}
	m.log().Info("package imported", "package", info.ID, "type", course.Type, "course", course.IRI, "files", st.Count)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": info.ID, "import": info.Import, "type": course.Type, "course": course.IRI, "title": course.Title,
		"units": len(course.Units()), "files": st.Count, "bytes": st.Bytes, "url": packageURL(info),
		"catalog": map[string]int{"skills": rep.Skills, "prerequisites": rep.Prerequisites, "activities": rep.Activities},
	})
}

// packageError answers a package that cannot be read: 400 listing every
// problem with file, line and element.
func packageError(w http.ResponseWriter, err error) {
	var probs content.Problems
	var one *content.Problem
	switch {
	case errors.As(err, &probs):
	case errors.As(err, &one):
		probs = content.Problems{one}
	default:
		WriteFieldError(w, "package", err.Error())
		return
	}
	list := make([]map[string]any, len(probs))
	for i, p := range probs {
		list[i] = map[string]any{"file": p.File, "line": p.Line, "element": p.Element, "message": p.Msg}
	}
	rule := "a SCORM 1.2, SCORM 2004 or cmi5 package"
	msg := fmt.Sprintf("package rejected, nothing imported: %s", err.Error())
	body := map[string]any{"error": msg, "field": "package", "rule": rule, "problems": list}
	if errors.Is(err, content.ErrUnsupported) {
		body["unsupported"] = true
	}
	writeJSON(w, http.StatusBadRequest, body)
}

func (m *PackagesModule) list(w http.ResponseWriter, r *http.Request) {
	infos, err := m.Store.List(Tenant(r))
	if err != nil {
		m.log().Error("list packages", "err", err)
		writeError(w, http.StatusInternalServerError, "could not list packages")
		return
	}
	out := make([]map[string]any, 0, len(infos))
	for _, i := range infos {
		out = append(out, map[string]any{"id": i.ID, "import": i.Import, "type": i.Course.Type, "course": i.Course.IRI,
			"title": i.Course.Title, "importedAt": i.ImportedAt, "url": packageURL(i)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"packages": out})
}

func (m *PackagesModule) get(w http.ResponseWriter, r *http.Request) {
	info, err := m.Store.Get(Tenant(r), r.PathValue("id"))
	if errors.Is(err, projections.ErrNoPackage) {
		writeError(w, http.StatusNotFound, "no package "+r.PathValue("id"))
		return
	}
	if err != nil {
		m.log().Error("read package", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the package")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": info.ID, "import": info.Import, "importedAt": info.ImportedAt,
		"files": info.Files, "bytes": info.Bytes, "url": packageURL(info), "course": info.Course})
}

// serveFile serves a package's files. They are public by URL (the package
// id is a hash of tenant and course): an iframe cannot send credentials.
func (m *PackagesModule) serveFile(w http.ResponseWriter, r *http.Request) {
	fsys, err := m.Store.Files(r.PathValue("id"), r.PathValue("import"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	name := r.PathValue("path")
	if name == "" || !fs.ValidPath(name) || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	f, err := fsys.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	rs, seekable := f.(io.ReadSeeker)
	if err != nil || st.IsDir() || !seekable {
		// No directory listings: a package's files are served by name.
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, st.ModTime(), rs)
}
