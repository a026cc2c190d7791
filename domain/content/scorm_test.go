package content

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/learnstream/learnstream/domain/graph"
)

const base = "https://lrs.example.com/content/"

// A SCORM 1.2 manifest in the shape of the content packaging examples of
// the SCORM 1.2 specification: one organization, an aggregation holding
// SCOs, an asset, mastery score, time limit, launch data and an aicc_script
// prerequisite.
const scorm12Manifest = `<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="com.example.golf" version="1.1"
    xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
    xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <metadata>
    <schema>ADL SCORM</schema>
    <schemaversion>1.2</schemaversion>
  </metadata>
  <organizations default="golf_org">
    <organization identifier="golf_org">
      <title>Golf Explained</title>
      <item identifier="playing" isvisible="true">
        <title>Playing the Game</title>
        <item identifier="rules" identifierref="res_rules" parameters="?page=1">
          <title>Rules of Golf</title>
          <adlcp:maxtimeallowed>00:30:00</adlcp:maxtimeallowed>
          <adlcp:datafromlms>mode=review</adlcp:datafromlms>
        </item>
        <item identifier="scoring" identifierref="res_scoring">
          <title>Scoring</title>
          <adlcp:prerequisites type="aicc_script">rules</adlcp:prerequisites>
        </item>
      </item>
      <item identifier="quiz" identifierref="res_quiz">
        <title>Golf Quiz</title>
        <adlcp:prerequisites type="aicc_script">rules &amp; (scoring | ~glossary)</adlcp:prerequisites>
        <adlcp:masteryscore>80</adlcp:masteryscore>
      </item>
      <item identifier="glossary" identifierref="res_glossary">
        <title>Glossary</title>
      </item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="res_rules" type="webcontent" adlcp:scormtype="sco" href="rules/index.html?lang=en">
      <file href="rules/index.html"/>
    </resource>
    <resource identifier="res_scoring" type="webcontent" adlcp:scormtype="sco" href="scoring.html">
      <file href="scoring.html"/>
      <dependency identifierref="common"/>
    </resource>
    <resource identifier="res_quiz" type="webcontent" adlcp:scormtype="sco" href="quiz/quiz.html"/>
    <resource identifier="res_glossary" type="webcontent" adlcp:scormtype="asset" href="glossary.pdf"/>
    <resource identifier="common" type="webcontent" adlcp:scormtype="asset">
      <file href="shared/api.js"/>
    </resource>
  </resources>
</manifest>
`

// A SCORM 2004 4th edition manifest in the shape of the specification's
// sequencing examples: a global objective written by the pretest's primary
// objective and read by the lesson, whose precondition rule disables it
// until that objective is satisfied; LOM typical learning time and a
// competency classification.
const scorm2004Manifest = `<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="MANIFEST-PHOTO" version="2"
    xmlns="http://www.imsglobal.org/xsd/imscp_v1p1"
    xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_v1p3"
    xmlns:adlseq="http://www.adlnet.org/xsd/adlseq_v1p3"
    xmlns:imsss="http://www.imsglobal.org/xsd/imsss"
    xmlns:lom="http://ltsc.ieee.org/xsd/LOM">
  <metadata>
    <schema>ADL SCORM</schema>
    <schemaversion>2004 4th Edition</schemaversion>
  </metadata>
  <organizations default="ORG">
    <organization identifier="ORG" adlseq:objectivesGlobalToSystem="false">
      <title>Photography Basics</title>
      <item identifier="PRETEST" identifierref="RES-PRE">
        <title>Pretest</title>
        <metadata>
          <lom:lom>
            <lom:educational><lom:typicalLearningTime><lom:duration>PT10M</lom:duration></lom:typicalLearningTime></lom:educational>
            <lom:classification>
              <lom:purpose><lom:source>LOMv1.0</lom:source><lom:value>competency</lom:value></lom:purpose>
              <lom:taxonPath>
                <lom:taxon><lom:id>exposure</lom:id><lom:entry><lom:string language="en">Exposure</lom:string></lom:entry></lom:taxon>
              </lom:taxonPath>
            </lom:classification>
          </lom:lom>
        </metadata>
        <imsss:sequencing>
          <imsss:objectives>
            <imsss:primaryObjective objectiveID="PRE-OBJ" satisfiedByMeasure="true">
              <imsss:minNormalizedMeasure>0.7</imsss:minNormalizedMeasure>
              <imsss:mapInfo targetObjectiveID="g-exposure" readSatisfiedStatus="false" writeSatisfiedStatus="true"/>
            </imsss:primaryObjective>
          </imsss:objectives>
        </imsss:sequencing>
      </item>
      <item identifier="LESSON" identifierref="RES-LESSON" parameters="chapter=2">
        <title>Lesson: Aperture</title>
        <adlcp:dataFromLMS>start=intro</adlcp:dataFromLMS>
        <imsss:sequencing>
          <imsss:sequencingRules>
            <imsss:preConditionRule>
              <imsss:ruleConditions conditionCombination="any">
                <imsss:ruleCondition referencedObjective="GATE" operator="not" condition="satisfied"/>
              </imsss:ruleConditions>
              <imsss:ruleAction action="disabled"/>
            </imsss:preConditionRule>
          </imsss:sequencingRules>
          <imsss:limitConditions attemptAbsoluteDurationLimit="PT45M"/>
          <imsss:objectives>
            <imsss:primaryObjective objectiveID="LESSON-OBJ"/>
            <imsss:objective objectiveID="GATE">
              <imsss:mapInfo targetObjectiveID="g-exposure" readSatisfiedStatus="true"/>
            </imsss:objective>
          </imsss:objectives>
        </imsss:sequencing>
      </item>
    </organization>
  </organizations>
  <resources xml:base="content/">
    <resource identifier="RES-PRE" type="webcontent" adlcp:scormType="sco" href="pretest.html"/>
    <resource identifier="RES-LESSON" type="webcontent" adlcp:scormType="sco" xml:base="lesson/" href="index.html"/>
  </resources>
</manifest>
`

func files(names ...string) func(string) bool {
	return func(n string) bool { return slices.Contains(names, n) }
}

func TestParseSCORM12(t *testing.T) {
	c, err := ParseSCORM([]byte(scorm12Manifest), Options{IRIBase: base,
		Exists: files("rules/index.html", "scoring.html", "quiz/quiz.html", "glossary.pdf")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != SCORM12 || c.Identifier != "com.example.golf" || c.Title != "Golf Explained" || c.Version != "1.1" {
		t.Fatalf("course = %+v", c)
	}
	if c.IRI != base+"scorm/com.example.golf" {
		t.Errorf("course IRI = %q", c.IRI)
	}
	var got []string
	c.Root.Walk(func(p, n *Node) {
		parent := ""
		if p != nil {
			parent = p.Identifier
		}
		got = append(got, string(n.Kind)+":"+n.Identifier+"<"+parent)
	})
	want := []string{"course:com.example.golf<", "module:playing<com.example.golf", "sco:rules<playing", "sco:scoring<playing",
		"sco:quiz<com.example.golf", "sco:glossary<com.example.golf"}
	if !slices.Equal(got, want) {
		t.Errorf("tree = %v, want %v", got, want)
	}
	rules := c.Find("rules")
	if rules.Launch != "rules/index.html?lang=en&page=1" || rules.Duration != 30*time.Minute || rules.LaunchData != "mode=review" {
		t.Errorf("rules = %+v", rules)
	}
	if rules.IRI != base+"scorm/com.example.golf/rules" {
		t.Errorf("rules IRI = %q", rules.IRI)
	}
	quiz := c.Find("quiz")
	if quiz.MasteryScore == nil || *quiz.MasteryScore != 0.8 {
		t.Errorf("quiz mastery = %v", quiz.MasteryScore)
	}
	// ~glossary is a negation: not a prerequisite.
	if !slices.Equal(quiz.Prerequisites, []string{"rules", "scoring"}) {
		t.Errorf("quiz prerequisites = %v", quiz.Prerequisites)
	}
	if g := c.Find("glossary"); !g.Asset || g.Launch != "glossary.pdf" {
		t.Errorf("glossary = %+v", g)
	}
}

func TestParseSCORM2004(t *testing.T) {
	c, err := ParseSCORM([]byte(scorm2004Manifest), Options{IRIBase: base,
		Exists: files("content/pretest.html", "content/lesson/index.html")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != SCORM2004_4 || c.Title != "Photography Basics" {
		t.Fatalf("course = %+v", c)
	}
	pre, lesson := c.Find("PRETEST"), c.Find("LESSON")
	if pre.MasteryScore == nil || *pre.MasteryScore != 0.7 || pre.Duration != 10*time.Minute || pre.Launch != "content/pretest.html" {
		t.Errorf("pretest = %+v", pre)
	}
	if !slices.Equal(pre.Teaches, []string{"exposure"}) || c.Skills["exposure"] != "Exposure" {
		t.Errorf("pretest skills = %v, course skills %v", pre.Teaches, c.Skills)
	}
	if lesson.Launch != "content/lesson/index.html?chapter=2" || lesson.Duration != 45*time.Minute || lesson.LaunchData != "start=intro" {
		t.Errorf("lesson = %+v", lesson)
	}
	if !slices.Equal(lesson.Prerequisites, []string{"PRETEST"}) {
		t.Errorf("lesson prerequisites = %v, want the pretest (its precondition rule reads the objective the pretest writes)", lesson.Prerequisites)
	}
	if lesson.MasteryScore != nil {
		t.Errorf("lesson has no satisfiedByMeasure, got mastery %v", *lesson.MasteryScore)
	}

	// The 3rd edition is told by its schemaversion.
	third := strings.Replace(scorm2004Manifest, "2004 4th Edition", "2004 3rd Edition", 1)
	c3, err := ParseSCORM([]byte(third), Options{IRIBase: base})
	if err != nil || c3.Type != SCORM2004_3 {
		t.Errorf("3rd edition: %v %v", c3, err)
	}
}

func TestBatchBuildsCatalog(t *testing.T) {
	c, err := ParseSCORM([]byte(scorm12Manifest), Options{IRIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New()
	rep, err := g.Apply(c.Batch(), graph.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Activities != 6 {
		t.Errorf("activities = %d, want 6", rep.Activities)
	}
	quiz, ok := g.Activity(base + "scorm/com.example.golf/quiz")
	if !ok || quiz.Type != graph.TypeAssessment || quiz.Title != "Golf Quiz" || quiz.Parent != c.IRI {
		t.Fatalf("quiz = %+v", quiz)
	}
	rules, _ := g.Activity(base + "scorm/com.example.golf/rules")
	if rules.Type != graph.TypeItem || rules.Duration != 30*time.Minute || rules.Parent != base+"scorm/com.example.golf/playing" {
		t.Errorf("rules = %+v", rules)
	}
	// Prerequisites: rules -> scoring, rules -> quiz, scoring -> quiz, as
	// edges between the units' own skills.
	pre := g.Prerequisites(quiz.Assesses[0])
	if !slices.Equal(pre, []string{rules.Teaches[0], base + "scorm/com.example.golf/scoring"}) {
		t.Errorf("quiz prerequisites = %v", pre)
	}

	// A new version of the package keeps the IRIs: re-importing it into the
	// same graph changes titles, not identities.
	v2 := strings.Replace(strings.Replace(scorm12Manifest, `version="1.1"`, `version="2.0"`, 1), "Golf Quiz", "Golf Quiz (revised)", 1)
	c2, err := ParseSCORM([]byte(v2), Options{IRIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Apply(c2.Batch(), graph.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, edges := g.Counts(); edges != 3 {
		t.Errorf("edges after re-import = %d, want 3", edges)
	}
	if a, _ := g.Activity(quiz.ID); a.Title != "Golf Quiz (revised)" {
		t.Errorf("re-imported quiz = %+v", a)
	}
	if n := len(g.Activities()); n != 6 {
		t.Errorf("activities after re-import = %d, want 6", n)
	}
}

func TestSkillMap(t *testing.T) {
	m, err := ParseSkillMap([]byte(`{"skills":{"putting":"Putting"},"units":{"quiz":{"assesses":["putting"]},"rules":{"teaches":["etiquette"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseSCORM([]byte(scorm12Manifest), Options{IRIBase: base, Skills: m})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New()
	if _, err := g.Apply(c.Batch(), graph.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := g.AssessorsOf("putting"); !slices.Equal(got, []string{base + "scorm/com.example.golf/quiz"}) {
		t.Errorf("assessors of putting = %v", got)
	}
	if _, err := ParseSkillMap([]byte(`{"unit":{}}`)); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("typo in mapping: %v", err)
	}
	bad, _ := ParseSkillMap([]byte(`{"units":{"nope":{"teaches":["x"]}}}`))
	if _, err := ParseSCORM([]byte(scorm12Manifest), Options{IRIBase: base, Skills: bad}); err == nil || !strings.Contains(err.Error(), "units.nope") {
		t.Errorf("mapping of an unknown unit: %v", err)
	}
}

func TestSCORMRejects(t *testing.T) {
	for _, tc := range []struct {
		name, manifest string
		exists         func(string) bool
		want           []string // substrings of the error
		unsupported    bool
	}{
		{name: "malformed XML names the line", manifest: "<manifest identifier=\"m\">\n<organizations>\n<organization>\n</manifest>",
			want: []string{"imsmanifest.xml:4", "malformed XML"}},
		{name: "unsupported version", manifest: `<manifest identifier="m"><metadata><schemaversion>1.1</schemaversion></metadata></manifest>`,
			unsupported: true, want: []string{"neither SCORM 1.2 nor SCORM 2004"}},
		{name: "wrong root", manifest: `<package/>`, want: []string{"<package>", "root element must be <manifest>"}},
		{name: "missing title names element and line",
			manifest: strings.Replace(scorm12Manifest, "<title>Scoring</title>", "", 1), want: []string{"imsmanifest.xml:20: <item>: item \"scoring\": element <title> is required"}},
		{name: "unknown identifierref", manifest: strings.Replace(scorm12Manifest, `identifierref="res_quiz"`, `identifierref="res_nope"`, 1),
			want: []string{`identifierref "res_nope" names no <resource>`}},
		{name: "prerequisite naming no item", manifest: strings.Replace(scorm12Manifest, ">rules</adlcp:prerequisites>", ">rulez</adlcp:prerequisites>", 1),
			want: []string{"<adlcp:prerequisites>", `"rulez" names no item`}},
		{name: "mastery score out of range", manifest: strings.Replace(scorm12Manifest, ">80<", ">180<", 1),
			want: []string{"<adlcp:masteryscore>", "not a score between 0 and 100"}},
		{name: "missing launch file", manifest: scorm12Manifest, exists: files("scoring.html"),
			want: []string{`href "rules/index.html" names no file in the package`}},
		{name: "href leaving the package", manifest: strings.Replace(scorm12Manifest, `href="scoring.html"`, `href="../../etc/passwd"`, 1),
			want: []string{"leaves the package"}},
		{name: "duplicate item identifier", manifest: strings.Replace(scorm12Manifest, `identifier="glossary"`, `identifier="quiz"`, 1),
			want: []string{`identifier "quiz" is used by another item`}},
		{name: "2004 rule on an objective nobody writes", manifest: strings.Replace(scorm2004Manifest, `writeSatisfiedStatus="true"`, `writeSatisfiedStatus="false"`, 1),
			want: []string{"<imsss:ruleCondition>", `no item writes the satisfaction of global objective "g-exposure"`}},
		{name: "no organization", manifest: `<manifest identifier="m"><metadata><schemaversion>1.2</schemaversion></metadata><organizations/><resources/></manifest>`,
			want: []string{"at least one <organization> is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseSCORM([]byte(tc.manifest), Options{IRIBase: base, Exists: tc.exists})
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupported {
				t.Errorf("unsupported = %v, want %v (%v)", !tc.unsupported, tc.unsupported, err)
			}
			if !tc.unsupported && !errors.Is(err, ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", err)
			}
		})
	}
}

func TestScriptIdentifiers(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   []string
		bad    bool
	}{
		{script: "A", want: []string{"A"}},
		{script: "A & B | C", want: []string{"A", "B", "C"}},
		{script: "~A & B", want: []string{"B"}},
		{script: "2*{A,B,C}", want: []string{"A", "B", "C"}},
		{script: `A = "passed" & B<>"failed"`, want: []string{"A", "B"}},
		{script: "(A & B", bad: true},
		{script: "A)", bad: true},
	} {
		got, err := scriptIdentifiers(tc.script)
		if (err != nil) != tc.bad || !tc.bad && !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v %v, want %v (bad %v)", tc.script, got, err, tc.want, tc.bad)
		}
	}
}

func TestReadDetectsType(t *testing.T) {
	fsys := fstest.MapFS{
		"imsmanifest.xml":      {Data: []byte(scorm2004Manifest)},
		"content/pretest.html": {Data: []byte("x")}, "content/lesson/index.html": {Data: []byte("x")},
	}
	c, err := Read(fsys, Options{IRIBase: base})
	if err != nil || c.Type != SCORM2004_4 {
		t.Fatalf("%v %v", c, err)
	}
	delete(fsys, "content/pretest.html")
	if _, err := Read(fsys, Options{IRIBase: base}); err == nil || !strings.Contains(err.Error(), "content/pretest.html") {
		t.Errorf("missing file: %v", err)
	}
	_, err = Read(fstest.MapFS{"course.xml": {Data: []byte("<x/>")}}, Options{IRIBase: base})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("no manifest: %v", err)
	}
	// A metadata file is read whole: one over the bound is refused before
	// it is held in memory, naming the file.
	huge := make([]byte, MaxMetaFileBytes+1)
	for _, name := range []string{ManifestFile, CMI5File, SkillsFile} {
		_, err = Read(fstest.MapFS{name: {Data: huge}}, Options{IRIBase: base})
		var p *Problem
		if !errors.As(err, &p) || p.File != name || !strings.Contains(p.Msg, "larger than") {
			t.Errorf("%s over %d bytes: %v", name, MaxMetaFileBytes, err)
		}
	}
}

// The mapping uploaded with the import replaces the package's own
// learnstream-skills.json, which is then not even read.
func TestSkillMapOfTheRequestWins(t *testing.T) {
	inPackage := `{"skills":{"author.skill":"Author's"},"units":{"quiz":{"assesses":["author.skill"]}}}`
	request, err := ParseSkillMap([]byte(`{"skills":{"company.skill":"Company's"},"units":{"quiz":{"assesses":["company.skill"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	files := func(mapping string) fstest.MapFS {
		fsys := fstest.MapFS{"imsmanifest.xml": {Data: []byte(scorm12Manifest)}}
		for _, f := range scorm12Files {
			fsys[f] = &fstest.MapFile{Data: []byte("x")}
		}
		if mapping != "" {
			fsys[SkillsFile] = &fstest.MapFile{Data: []byte(mapping)}
		}
		return fsys
	}
	for _, tc := range []struct {
		name      string
		inPackage string
		request   *SkillMap
		want      string // the skill assessing the quiz; "" = an error
		wantErr   string
	}{
		{name: "package only", inPackage: inPackage, want: "author.skill"},
		{name: "request only", request: request, want: "company.skill"},
		{name: "request over package", inPackage: inPackage, request: request, want: "company.skill"},
		{name: "a broken package mapping is not read under a request's", inPackage: `{"unit":{}}`, request: request, want: "company.skill"},
		{name: "a broken package mapping alone is refused", inPackage: `{"unit":{}}`, wantErr: "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Read(files(tc.inPackage), Options{IRIBase: base, Skills: tc.request})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := graph.New()
			if _, err := g.Apply(c.Batch(), graph.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			a, _ := g.Activity(base + "scorm/com.example.golf/quiz")
			if !slices.Equal(a.Assesses, []string{tc.want}) {
				t.Errorf("quiz assesses %v, want [%s]", a.Assesses, tc.want)
			}
		})
	}
}

// scorm12Files are the files scorm12Manifest's resources name.
var scorm12Files = []string{"rules/index.html", "scoring.html", "quiz/quiz.html", "glossary.pdf", "shared/api.js"}
