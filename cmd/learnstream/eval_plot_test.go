package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// curveLine is one results line as bench/recommend writes it.
func curveLine(t *testing.T, model, by string, recall []float64, scored []int) string {
	t.Helper()
	type m struct {
		Hits   int     `json:"hits"`
		Recall float64 `json:"recall_at_n"`
		NDCG   float64 `json:"ndcg_at_n"`
	}
	type point struct {
		Start  float64 `json:"start"`
		End    float64 `json:"end"`
		Scored int     `json:"scored"`
		Model  m       `json:"model"`
	}
	var pts []point
	for k, r := range recall {
		pts = append(pts, point{Start: float64(10 * k), End: float64(10 * (k + 1)), Scored: scored[k],
			Model: m{Hits: int(r * float64(scored[k])), Recall: r, NDCG: r / 2}})
	}
	b, err := json.Marshal(map[string]any{"model": model, "recall_at_10": 0.5, "curve": map[string]any{"by": by, "points": pts}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// svgSummary parses an SVG document (failing the test if it is not
// well-formed XML) and returns the series by model with their polylines,
// and every text.
func svgSummary(t *testing.T, doc []byte) (series map[string]int, texts []string) {
	t.Helper()
	series = map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(doc))
	var model string
	var inText, root bool
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch {
			case e.Name.Local == "svg":
				root = e.Name.Space == "http://www.w3.org/2000/svg"
			case e.Name.Local == "g" && attr["class"] == "series":
				model = attr["data-model"]
				series[model] += 0
			case e.Name.Local == "polyline" && model != "":
				series[model]++
			case e.Name.Local == "text":
				inText = true
			}
		case xml.EndElement:
			if e.Name.Local == "g" {
				model = ""
			}
			if e.Name.Local == "text" {
				inText = false
			}
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		}
	}
	if !root {
		t.Fatal("root is not an SVG element")
	}
	return series, texts
}

func TestEvalPlot(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results.jsonl")
	lines := []string{
		curveLine(t, "learnstream-als", "time", []float64{0.9, 0.95, 0.97, 0.4, 0.96}, []int{100, 100, 100, 100, 100}),
		// A window without enough scored events breaks the line in two.
		curveLine(t, "river-funk", "time", []float64{0.2, 0.3, 0, 0.5, 0.6}, []int{100, 100, 3, 100, 100}),
		`{"model":"old-run-without-curve","recall_at_10":0.1}`,
		curveLine(t, "popularity <&>", "time", []float64{0.1, 0.1, 0.1, 0.1, 0.1}, []int{100, 100, 100, 100, 100}),
	}
	if err := os.WriteFile(results, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "curve.svg")
	var stdout, stderr bytes.Buffer
	args := []string{"eval", "plot", "--results", results, "--out", out, "--title", "OULAD learner -> assessment",
		"--x-label", "day", "--marks", "0:2013B,30:2013J"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	series, texts := svgSummary(t, doc)
	want := map[string]int{"learnstream-als": 1, "river-funk": 2, "popularity <&>": 1}
	if fmt.Sprint(series) != fmt.Sprint(want) {
		t.Errorf("series (model: polylines) %v, want %v", series, want)
	}
	all := strings.Join(texts, "|")
	for _, w := range []string{"OULAD learner -> assessment", "|day|", "|recall@10|", "|2013B|", "|2013J|",
		"|learnstream-als|", "|river-funk|", "|popularity <&>|", "|0.0|", "|1.0|"} {
		if !strings.Contains("|"+all+"|", w) {
			t.Errorf("texts lack %q: %s", w, all)
		}
	}
	// The dip of the fourth window is drawn: the series' points differ in y.
	if !strings.Contains(stdout.String(), "3 series") {
		t.Errorf("stdout %q", stdout.String())
	}

	// NDCG, one model, to stdout, pooled two windows a point.
	stdout.Reset()
	args = []string{"eval", "plot", "--results", results, "--out", "-", "--metric", "ndcg", "--models", "river-funk", "--smooth", "2"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	series, texts = svgSummary(t, stdout.Bytes())
	if len(series) != 1 || series["river-funk"] != 1 || !strings.Contains(strings.Join(texts, "|"), "NDCG@10 per window") {
		t.Errorf("series %v texts %v", series, texts)
	}
}

func TestEvalPlotErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.jsonl", curveLine(t, "a", "events", []float64{0.5}, []int{40}))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", "x.svg"}, "--results is required"},
		{[]string{"--results", good}, "--out is required"},
		{[]string{"--results", good, "--out", "-", "--metric", "auc"}, `--metric "auc": want recall or ndcg`},
		{[]string{"--results", good, "--out", "-", "--marks", "day1:x"}, `--marks "day1:x": want X:LABEL`},
		{[]string{"--results", write("none.jsonl", `{"model":"a"}`), "--out", "-"}, "no model with a curve"},
		{[]string{"--results", write("bad.jsonl", "", `{"model":`), "--out", "-"}, "bad.jsonl: line 2:"},
		{[]string{"--results", write("mixed.jsonl", curveLine(t, "a", "events", []float64{0.5}, []int{40}),
			curveLine(t, "b", "time", []float64{0.5}, []int{40})), "--out", "-"}, "line 2 (b): curve of 1 windows by time, the first was 1 by events: not the same run"},
		{[]string{"--results", write("by.jsonl", curveLine(t, "a", "days", []float64{0.5}, []int{40})), "--out", "-"}, `line 1, field curve.by: "days" is not time or events`},
	} {
		var stdout, stderr bytes.Buffer
		run(context.Background(), append([]string{"eval", "plot"}, tc.args...), &stdout, &stderr)
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q, want %q", tc.args, stderr.String(), tc.want)
		}
	}
}
