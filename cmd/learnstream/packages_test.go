package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeZip writes a zip of name to content pairs into dir.
func writeZip(t testing.TB, dir, name string, files ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(f)
	for i := 0; i+1 < len(files); i += 2 {
		e, err := w.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(e, files[i+1])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// postPackage posts the file at path to POST /v1/packages as the test
// credential and answers the status and body.
func (p *proc) postPackage(t testing.TB, path string) (int, []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, _ := http.NewRequest("POST", p.url+"/v1/packages", f)
	req.SetBasicAuth(testKey, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/packages: %v\n%s", err, p.logs)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// importPackage imports the package at path and answers its id.
func (p *proc) importPackage(t testing.TB, path string) string {
	t.Helper()
	code, b := p.postPackage(t, path)
	var pkg struct{ ID string }
	if code != http.StatusCreated || json.Unmarshal(b, &pkg) != nil || pkg.ID == "" {
		t.Fatalf("import %s: %d %s", path, code, b)
	}
	return pkg.ID
}

const testSCORM12Manifest = `<?xml version="1.0"?>
<manifest identifier="org.example.fractions" version="1"
    xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2" xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="org"><organization identifier="org"><title>Fractions</title>
    <item identifier="intro" identifierref="r1"><title>Introduction</title></item>
    <item identifier="quiz" identifierref="r2"><title>Quiz</title>
      <adlcp:prerequisites type="aicc_script">intro</adlcp:prerequisites><adlcp:masteryscore>70</adlcp:masteryscore></item>
  </organization></organizations>
  <resources>
    <resource identifier="r1" type="webcontent" adlcp:scormtype="sco" href="intro.html"/>
    <resource identifier="r2" type="webcontent" adlcp:scormtype="sco" href="quiz/index.html"/>
  </resources>
</manifest>`

func TestPackageImportStoresServesAndPublishesCatalog(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	args := append([]string{"--data-dir", data, "--content-iri-base", "https://lrs.example.com/"}, isolate()...)
	p := startServe(t, credEnv(), args...)

	good := writeZip(t, dir, "fractions.zip", "imsmanifest.xml", testSCORM12Manifest,
		"intro.html", "<html><body>intro</body></html>", "quiz/index.html", "<html><body>quiz</body></html>")
	out, stderr, err := cli(t, "packages", "import", good, "--server", p.url)
	if err != nil {
		t.Fatalf("packages import: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `imported scorm12 package "Fractions"`) {
		t.Errorf("output: %s", out)
	}

	code, _, body := p.do(t, "GET", "/v1/packages", "")
	var list struct {
		Packages []struct{ ID, Import, Course, URL string }
	}
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Packages) != 1 {
		t.Fatalf("GET /v1/packages: %d %s", code, body)
	}
	pkg := list.Packages[0]
	if pkg.Course != "https://lrs.example.com/scorm/org.example.fractions" {
		t.Errorf("course IRI = %q", pkg.Course)
	}
	// The catalog has the course, its units, and the prerequisite edge.
	code, _, body = p.do(t, "GET", "/v1/activities/"+urlPathEscape("https://lrs.example.com/scorm/org.example.fractions/quiz"), "")
	if code != http.StatusOK || !strings.Contains(string(body), `"type":"assessment"`) || !strings.Contains(string(body), `"title":"Quiz"`) {
		t.Errorf("quiz activity: %d %s", code, body)
	}
	code, _, body = p.do(t, "GET", "/v1/prerequisites", "")
	if code != http.StatusOK || !strings.Contains(string(body), "org.example.fractions/intro") {
		t.Errorf("prerequisites: %d %s", code, body)
	}
	// Files are served without credentials, under learnstream's own path.
	resp, err := http.Get(p.url + pkg.URL + "quiz/index.html")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "quiz") {
		t.Errorf("served file: %d %s", resp.StatusCode, b)
	}
	if resp, _ := http.Get(p.url + pkg.URL + "quiz/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("directory listing: %d, want 404", resp.StatusCode)
	}

	_, _, before := p.do(t, "GET", "/v1/catalog", "")
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"dot-dot", []string{"imsmanifest.xml", testSCORM12Manifest, "../evil.html", "x"}, "leaves the package"},
		{"absolute", []string{"imsmanifest.xml", testSCORM12Manifest, "/tmp/evil.html", "x"}, "absolute path"},
		{"malformed manifest", []string{"imsmanifest.xml", strings.Replace(testSCORM12Manifest, "</organization>", "", 1),
			"intro.html", "x", "quiz/index.html", "x"}, "imsmanifest.xml:"},
		{"missing launch file", []string{"imsmanifest.xml", strings.ReplaceAll(testSCORM12Manifest, "org.example.fractions", "org.example.other"), "intro.html", "x"},
			`names no file in the package`},
		{"unsupported", []string{"course.xml", "<course/>"}, "neither cmi5.xml (cmi5) nor imsmanifest.xml (SCORM)"},
		{"a file where a folder is needed", []string{"imsmanifest.xml", testSCORM12Manifest, "intro.html", "x", "quiz", "x", "quiz/index.html", "x"},
			`\"quiz\" is a file, and \"quiz/index.html\" needs a folder of that name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zipPath := writeZip(t, dir, tc.name+".zip", tc.files...)
			code, b := p.postPackage(t, zipPath)
			if code != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
				t.Errorf("%d %s, want 400 with %q", code, b, tc.want)
			}
		})
	}
	// Nothing of the failed imports was stored or published.
	if _, _, after := p.do(t, "GET", "/v1/catalog", ""); string(after) != string(before) {
		t.Errorf("catalog changed by failed imports: %s -> %s", before, after)
	}
	if ents, _ := os.ReadDir(filepath.Join(data, "packages", "staging")); len(ents) != 0 {
		t.Errorf("staging keeps %d entries after failed imports", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(data, "packages")); len(ents) != 2 { // staging and the one package
		t.Errorf("package store holds %d entries, want staging and one package", len(ents))
	}

	// Durable: after a restart the package is listed and served.
	p.stop(t)
	p = startServe(t, credEnv(), args...)
	defer p.stop(t)
	resp, err = http.Get(p.url + pkg.URL + "intro.html")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after restart: %v %v", resp, err)
	}
	resp.Body.Close()
}

func urlPathEscape(s string) string {
	return strings.NewReplacer("/", "%2F", ":", "%3A").Replace(s)
}

func TestPackageLimitsAreFlags(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, credEnv(), append([]string{"--data-dir", filepath.Join(dir, "data"),
		"--max-package-bytes", "4096", "--max-package-files", "3"}, isolate()...)...)
	defer p.stop(t)
	post := func(path string) (int, string) {
		code, b := p.postPackage(t, path)
		return code, string(b)
	}
	// A credential with only the packages scope may import, and nothing else.
	if _, stderr, err := cli(t, "credentials", "create", "--server", p.url, "--scopes", "packages",
		"--key-id", "importer", "--new-secret", "importer-secret-1"); err != nil {
		t.Fatalf("credentials create --scopes packages: %v %s", err, stderr)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{{"GET", "/v1/packages", http.StatusOK}, {"GET", "/v1/skills", http.StatusForbidden}, {"POST", "/v1/registrations", http.StatusForbidden}} {
		req, _ := http.NewRequest(c.method, p.url+c.path, strings.NewReader("{}"))
		req.SetBasicAuth("importer", "importer-secret-1")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != c.want {
			t.Errorf("packages scope, %s %s: %v %v, want %d", c.method, c.path, resp, err, c.want)
		}
	}
	many := writeZip(t, dir, "many.zip", "imsmanifest.xml", testSCORM12Manifest, "intro.html", "x", "quiz/index.html", "x", "extra.txt", "x")
	if code, body := post(many); code != http.StatusBadRequest || !strings.Contains(body, "4 files, more than the limit of 3") {
		t.Errorf("too many files: %d %s", code, body)
	}
	big := writeZip(t, dir, "big.zip", "imsmanifest.xml", testSCORM12Manifest, "intro.html", strings.Repeat("<p>incompressible? no, but large</p>", 10),
		"quiz/index.html", randomText(8000))
	if code, body := post(big); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "at most 4096 bytes") {
		t.Errorf("too large: %d %s", code, body)
	}
}

// randomText is text that does not compress much.
func randomText(n int) string {
	var b strings.Builder
	x := uint32(2463534242)
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteByte(byte('a' + x%26))
	}
	return b.String()
}

// The multipart form's skills part: bounded like the mapping file inside a
// package, and it wins over that file.
func TestPackageSkillsPart(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, credEnv(), append([]string{"--data-dir", filepath.Join(dir, "data"), "--content-iri-base", "https://lrs.example.com/"}, isolate()...)...)
	defer p.stop(t)
	authorMap := `{"skills":{"author.skill":"Author's"},"units":{"quiz":{"assesses":["author.skill"]}}}`
	withMap := writeZip(t, dir, "with-map.zip", "imsmanifest.xml", testSCORM12Manifest, "intro.html", "x", "quiz/index.html", "x",
		"learnstream-skills.json", authorMap)
	companyMap := `{"skills":{"company.skill":"Company's"},"units":{"quiz":{"assesses":["company.skill"]}}}`
	post := func(zipPath string, skills []byte) (int, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if skills != nil {
			w, _ := mw.CreateFormFile("skills", "skills.json")
			w.Write(skills)
		}
		w, _ := mw.CreateFormFile("file", "course.zip")
		data, err := os.ReadFile(zipPath)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		mw.Close()
		req, _ := http.NewRequest("POST", p.url+"/v1/packages", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.SetBasicAuth(testKey, testSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	quizSkills := func() string {
		_, _, b := p.do(t, "GET", "/v1/activities/"+urlPathEscape("https://lrs.example.com/scorm/org.example.fractions/quiz"), "")
		var a struct{ Assesses []string }
		json.Unmarshal(b, &a)
		return strings.Join(a.Assesses, ",")
	}
	const limit = 32 << 20
	for _, tc := range []struct {
		name   string
		skills []byte
		code   int
		want   string // in the answer
		quiz   string // skills the quiz assesses afterwards ("" = unchanged)
	}{
		{name: "over the limit", skills: append([]byte(`{"skills":{"x":"`), bytes.Repeat([]byte("y"), limit)...), code: http.StatusRequestEntityTooLarge,
			want: fmt.Sprintf(`"field":"skills","rule":"at most %d bytes"`, limit)},
		{name: "not a mapping", skills: []byte(`{"unit":{}}`), code: http.StatusBadRequest, want: `"field":"skills"`},
		{name: "package's own mapping", code: http.StatusCreated, quiz: "author.skill"},
		{name: "request's mapping wins", skills: []byte(companyMap), code: http.StatusCreated, quiz: "company.skill"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := quizSkills()
			code, body := post(withMap, tc.skills)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %.300s, want %d with %s", code, body, tc.code, tc.want)
			}
			want := tc.quiz
			if want == "" {
				want = before
			}
			eventually(t, p, "quiz assessing "+want, func() bool { return quizSkills() == want })
		})
	}
}
