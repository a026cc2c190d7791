package content

import (
	"slices"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/graph"
)

// A course structure in the shape of the cmi5 specification's example:
// course metadata, objectives, a block with two AUs and an AU at the top.
const cmi5Course = `<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
  <course id="https://example.com/courses/safety">
    <title><langstring lang="en-US">Workplace Safety</langstring><langstring lang="de">Arbeitssicherheit</langstring></title>
    <description><langstring lang="en-US">Hazards and how to avoid them.</langstring></description>
  </course>
  <objectives>
    <objective id="https://example.com/objectives/hazards">
      <title><langstring lang="en-US">Recognise hazards</langstring></title>
      <description><langstring lang="en-US">Name the hazards of a site.</langstring></description>
    </objective>
  </objectives>
  <block id="https://example.com/courses/safety/block1">
    <title><langstring lang="en-US">Module 1</langstring></title>
    <description><langstring lang="en-US">Basics</langstring></description>
    <objectives><objective idref="https://example.com/objectives/hazards"/></objectives>
    <au id="https://example.com/courses/safety/au1" moveOn="Completed" launchMethod="OwnWindow">
      <title><langstring lang="en-US">Introduction</langstring></title>
      <description><langstring lang="en-US">Intro</langstring></description>
      <url>au1/index.html</url>
      <launchParameters>{"level":1}</launchParameters>
    </au>
    <au id="https://example.com/courses/safety/au2" moveOn="Passed" masteryScore="0.75">
      <title><langstring lang="en-US">Hazard quiz</langstring></title>
      <description><langstring lang="en-US">Quiz</langstring></description>
      <objectives><objective idref="https://example.com/objectives/hazards"/></objectives>
      <url>au2/quiz.html?x=1</url>
    </au>
  </block>
  <au id="https://example.com/courses/safety/remote" moveOn="CompletedOrPassed">
    <title><langstring lang="en-US">Remote AU</langstring></title>
    <description><langstring lang="en-US">Hosted elsewhere</langstring></description>
    <url>https://content.example.org/au3/</url>
  </au>
</courseStructure>
`

func TestParseCMI5(t *testing.T) {
	c, err := ParseCMI5([]byte(cmi5Course), Options{IRIBase: base, Exists: files("au1/index.html", "au2/quiz.html")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != CMI5 || c.IRI != "https://example.com/courses/safety" || c.Title != "Workplace Safety" {
		t.Fatalf("course = %+v", c)
	}
	units := c.Units()
	if len(units) != 3 {
		t.Fatalf("units = %d", len(units))
	}
	au1, au2, remote := units[0], units[1], units[2]
	if au1.MoveOn != "Completed" || au1.LaunchMethod != "OwnWindow" || au1.LaunchData != `{"level":1}` || au1.Launch != "au1/index.html" {
		t.Errorf("au1 = %+v", au1)
	}
	if au2.MoveOn != "Passed" || au2.MasteryScore == nil || *au2.MasteryScore != 0.75 || !slices.Equal(au2.Teaches, []string{"https://example.com/objectives/hazards"}) {
		t.Errorf("au2 = %+v", au2)
	}
	if remote.Launch != "https://content.example.org/au3/" || remote.LaunchMethod != "AnyWindow" {
		t.Errorf("remote = %+v", remote)
	}
	g := graph.New()
	if _, err := g.Apply(c.Batch(), graph.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := g.AssessorsOf("https://example.com/objectives/hazards"); !slices.Equal(got, []string{"https://example.com/courses/safety/au2"}) {
		t.Errorf("assessors = %v", got)
	}
	if s, _ := g.Skill("https://example.com/objectives/hazards"); s.Name != "Recognise hazards" {
		t.Errorf("skill = %+v", s)
	}
	if a, _ := g.Activity("https://example.com/courses/safety/au1"); a.Parent != "https://example.com/courses/safety/block1" {
		t.Errorf("au1 activity = %+v", a)
	}
}

func TestCMI5Rejects(t *testing.T) {
	for _, tc := range []struct {
		name, xml string
		bare      bool
		want      string
	}{
		{name: "bare cmi5.xml with a relative URL", xml: cmi5Course, bare: true,
			want: `cmi5.xml:20: <url>: au "https://example.com/courses/safety/au1": "au1/index.html" is relative, but a cmi5.xml without a package needs absolute AU URLs`},
		{name: "bad moveOn", xml: strings.Replace(cmi5Course, `moveOn="Passed"`, `moveOn="Mastered"`, 1), want: `moveOn "Mastered" is not one of`},
		{name: "mastery out of range", xml: strings.Replace(cmi5Course, `masteryScore="0.75"`, `masteryScore="75"`, 1), want: "masteryScore \"75\" is not a decimal between 0 and 1"},
		{name: "relative id", xml: strings.Replace(cmi5Course, `id="https://example.com/courses/safety/au1"`, `id="au1"`, 1), want: `id "au1" is not an absolute IRI`},
		{name: "duplicate id", xml: strings.Replace(cmi5Course, `safety/au2"`, `safety/au1"`, 1), want: "is used by another element (line 17)"},
		{name: "unknown objective", xml: strings.Replace(cmi5Course, `<objective idref="https://example.com/objectives/hazards"/></objectives>
      <url>`, `<objective idref="https://example.com/objectives/nope"/></objectives>
      <url>`, 1), want: `idref "https://example.com/objectives/nope" names no course objective`},
		{name: "missing url", xml: strings.Replace(cmi5Course, "<url>au2/quiz.html?x=1</url>", "", 1), want: "element <url> is required"},
		{name: "unterminated", xml: cmi5Course[:400], want: "malformed XML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{IRIBase: base, Exists: files("au1/index.html", "au2/quiz.html")}
			if tc.bare {
				opts.Exists = nil
			}
			_, err := ParseCMI5([]byte(tc.xml), opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
