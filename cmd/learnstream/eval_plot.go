package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// runEvalPlot draws the prequential curves of a bench/recommend run (one
// JSON object per model with a "curve", as `eval recommend --json-detail`
// and peers.py write them) as an SVG line chart: one series per model,
// axes with ticks, a legend and optional vertical marks (e.g. the start of
// each course presentation). It is plain SVG written here, so the figures
// in the docs are made by the project's own tooling.
func runEvalPlot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		results = fs.String("results", "", "JSON lines, one object per model with \"model\" and \"curve\" (bench/recommend results) (required)")
		out     = fs.String("out", "", "SVG file to write, - for stdout (required)")
		metric  = fs.String("metric", "recall", "what to draw: recall or ndcg")
		title   = fs.String("title", "", "chart title (default: the metric per window)")
		xLabel  = fs.String("x-label", "", "label of the x axis (default: time or event, by the curve)")
		marks   = fs.String("marks", "", "vertical marks X:LABEL,... on the x axis (e.g. the start day of each presentation)")
		models  = fs.String("models", "", "comma-separated models to draw (default: every model with a curve)")
		smooth  = fs.Int("smooth", 1, "windows per point: each point pools the scored events of this many windows (1: as measured)")
		minimum = fs.Int("min-scored", 30, "a point with fewer scored events is left out (the line breaks): its recall is noise")
		width   = fs.Int("width", 960, "width in pixels")
		height  = fs.Int("height", 540, "height in pixels")
	)
	if err := parseFlagsAs(fs, "[flags]", false, args); err != nil {
		return err
	}
	if *results == "" {
		return usageError(fs, "--results is required")
	}
	if *out == "" {
		return usageError(fs, "--out is required")
	}
	if *metric != "recall" && *metric != "ndcg" {
		return fmt.Errorf("--metric %q: want recall or ndcg", *metric)
	}
	if *width < 200 || *width > 10000 || *height < 150 || *height > 10000 {
		return fmt.Errorf("--width %d --height %d: want 200..10000 x 150..10000", *width, *height)
	}
	if *minimum < 1 {
		return fmt.Errorf("--min-scored %d: want >= 1", *minimum)
	}
	if *smooth < 1 {
		return fmt.Errorf("--smooth %d: want >= 1", *smooth)
	}
	ms, err := parseMarks(*marks)
	if err != nil {
		return err
	}
	f, err := os.Open(*results)
	if err != nil {
		return err
	}
	series, by, err := readCurves(f, *metric, *models, *smooth, *minimum)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *results, err)
	}
	if *xLabel == "" {
		*xLabel = map[string]string{"time": "time", "events": "event"}[by]
	}
	if *title == "" {
		*title = map[string]string{"recall": "recall@10", "ndcg": "NDCG@10"}[*metric] + " per window"
	}
	var b bytes.Buffer
	writeLineChart(&b, chart{Title: *title, XLabel: *xLabel, YLabel: map[string]string{"recall": "recall@10", "ndcg": "NDCG@10"}[*metric],
		Width: float64(*width), Height: float64(*height), Series: series, Marks: ms})
	if *out == "-" {
		_, err = stdout.Write(b.Bytes())
		return err
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d series, %d points each at most\n", *out, len(series), maxPoints(series))
	return nil
}

type chartPoint struct {
	X, Y float64
	Gap  bool // too few scored events in the window: the line breaks here
}

type chartSeries struct {
	Name   string
	Points []chartPoint
}

type chartMark struct {
	X     float64
	Label string
}

type chart struct {
	Title, XLabel, YLabel string
	Width, Height         float64
	Series                []chartSeries
	Marks                 []chartMark
}

func maxPoints(series []chartSeries) int {
	n := 0
	for _, s := range series {
		n = max(n, len(s.Points))
	}
	return n
}

func parseMarks(s string) ([]chartMark, error) {
	var ms []chartMark
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		x, label, ok := strings.Cut(strings.TrimSpace(part), ":")
		v, err := strconv.ParseFloat(x, 64)
		if !ok || err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--marks %q: want X:LABEL with a number X", part)
		}
		ms = append(ms, chartMark{X: v, Label: label})
	}
	return ms, nil
}

// readCurves reads the results lines. Lines that are not JSON objects
// (blank, comments) are skipped; objects without a curve too (a model run
// before curves existed), but at least one must have one, and all curves
// must be cut the same way.
func readCurves(r io.Reader, metric, only string, smooth, minScored int) ([]chartSeries, string, error) {
	want := map[string]bool{}
	for _, m := range strings.Split(only, ",") {
		if m = strings.TrimSpace(m); m != "" {
			want[m] = true
		}
	}
	type metrics struct {
		Hits   int     `json:"hits"`
		Recall float64 `json:"recall_at_n"`
		NDCG   float64 `json:"ndcg_at_n"`
	}
	var (
		series []chartSeries
		by     string
		nwin   int
		line   int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] != '{' {
			continue
		}
		var row struct {
			Model string `json:"model"`
			Curve *struct {
				By     string `json:"by"`
				Points []struct {
					Start  float64 `json:"start"`
					End    float64 `json:"end"`
					Scored int     `json:"scored"`
					Model  metrics `json:"model"`
				} `json:"points"`
			} `json:"curve"`
		}
		if err := json.Unmarshal(text, &row); err != nil {
			return nil, "", fmt.Errorf("line %d: %v", line, err)
		}
		if row.Curve == nil || (len(want) > 0 && !want[row.Model]) {
			continue
		}
		if row.Model == "" {
			return nil, "", fmt.Errorf("line %d, field model: empty", line)
		}
		if row.Curve.By != "time" && row.Curve.By != "events" {
			return nil, "", fmt.Errorf("line %d, field curve.by: %q is not time or events", line, row.Curve.By)
		}
		if by == "" {
			by, nwin = row.Curve.By, len(row.Curve.Points)
		} else if row.Curve.By != by || len(row.Curve.Points) != nwin {
			return nil, "", fmt.Errorf("line %d (%s): curve of %d windows by %s, the first was %d by %s: not the same run", line, row.Model, len(row.Curve.Points), row.Curve.By, nwin, by)
		}
		s := chartSeries{Name: row.Model}
		pts := row.Curve.Points
		for k := 0; k < len(pts); k += smooth {
			end := min(k+smooth, len(pts))
			var scored int
			var sum float64
			for _, p := range pts[k:end] {
				scored += p.Scored
				v := p.Model.Recall
				if metric == "ndcg" {
					v = p.Model.NDCG
				}
				sum += v * float64(p.Scored)
			}
			x := (pts[k].Start + pts[end-1].End) / 2
			if scored < minScored {
				s.Points = append(s.Points, chartPoint{X: x, Gap: true})
				continue
			}
			s.Points = append(s.Points, chartPoint{X: x, Y: sum / float64(scored)})
		}
		series = append(series, s)
	}
	if err := sc.Err(); err != nil {
		return nil, "", err
	}
	if len(series) == 0 {
		return nil, "", errors.New("no model with a curve (want the JSON lines of bench/recommend or eval recommend --json-detail)")
	}
	return series, by, nil
}

// palette: distinguishable colours (Okabe-Ito, safe for colour blindness,
// without its pale yellow, which vanishes on white; then greys).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999", "#555555"}

// niceStep returns a step of 1, 2 or 5 times a power of ten that cuts span
// into about n intervals.
func niceStep(span float64, n int) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v, step float64) string {
	digits := 0
	if step < 1 {
		digits = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeLineChart writes the chart as a standalone SVG document.
func writeLineChart(w *bytes.Buffer, c chart) {
	const left, right, top, bottom = 70.0, 200.0, 50.0, 60.0
	pw, ph := c.Width-left-right, c.Height-top-bottom
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymax := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
			if !p.Gap {
				ymax = math.Max(ymax, p.Y)
			}
		}
	}
	for _, m := range c.Marks {
		xmin, xmax = math.Min(xmin, m.X), math.Max(xmax, m.X)
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 0, 1
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	if ymax <= 0 {
		ymax = 1
	}
	xstep := niceStep(xmax-xmin, 8)
	xlo, xhi := math.Floor(xmin/xstep)*xstep, math.Ceil(xmax/xstep)*xstep
	ystep := niceStep(ymax, 5)
	yhi := math.Ceil(ymax/ystep-1e-9) * ystep
	px := func(x float64) float64 { return left + (x-xlo)/(xhi-xlo)*pw }
	py := func(y float64) float64 { return top + ph - y/yhi*ph }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="12">`+"\n",
		f(c.Width), f(c.Height), f(c.Width), f(c.Height))
	fmt.Fprintf(w, `<title>%s</title>`+"\n", esc(c.Title))
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text class="title" x="%s" y="28" text-anchor="middle" font-size="16">%s</text>`+"\n", f(left+pw/2), esc(c.Title))
	// Grid and ticks.
	fmt.Fprintf(w, `<g class="axis y">`+"\n")
	for y := 0.0; y <= yhi+ystep/2; y += ystep {
		fmt.Fprintf(w, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/><text x="%s" y="%s" text-anchor="end">%s</text>`+"\n",
			f(left), f(py(y)), f(left+pw), f(py(y)), f(left-6), f(py(y)+4), fmtTick(y, ystep))
	}
	fmt.Fprintf(w, `<text class="label" transform="translate(18 %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", f(top+ph/2), esc(c.YLabel))
	fmt.Fprintf(w, "</g>\n")
	fmt.Fprintf(w, `<g class="axis x">`+"\n")
	for x := xlo; x <= xhi+xstep/2; x += xstep {
		fmt.Fprintf(w, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/><text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n",
			f(px(x)), f(top+ph), f(px(x)), f(top+ph+5), f(px(x)), f(top+ph+19), fmtTick(x, xstep))
	}
	fmt.Fprintf(w, `<text class="label" x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f(left+pw/2), f(c.Height-18), esc(c.XLabel))
	fmt.Fprintf(w, "</g>\n")
	fmt.Fprintf(w, `<path class="frame" d="M%s %sV%sH%s" fill="none" stroke="#333"/>`+"\n", f(left), f(top), f(top+ph), f(left+pw))
	// Marks.
	for _, m := range c.Marks {
		fmt.Fprintf(w, `<g class="mark"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#888" stroke-dasharray="4 3"/><text x="%s" y="%s" fill="#555" text-anchor="middle">%s</text></g>`+"\n",
			f(px(m.X)), f(top), f(px(m.X)), f(top+ph), f(px(m.X)), f(top-5), esc(m.Label))
	}
	// Series: a polyline per run of windows with scored events; ours
	// (learnstream*) drawn last and thicker, so the peers do not hide them.
	order := make([]int, 0, len(c.Series))
	for _, ours := range []bool{false, true} {
		for k, s := range c.Series {
			if strings.HasPrefix(s.Name, "learnstream") == ours {
				order = append(order, k)
			}
		}
	}
	for _, k := range order {
		s := c.Series[k]
		color := palette[k%len(palette)]
		width := "1.5"
		if strings.HasPrefix(s.Name, "learnstream") {
			width = "2.5"
		}
		fmt.Fprintf(w, `<g class="series" data-model="%s" fill="none" stroke="%s" stroke-width="%s">`+"\n", esc(s.Name), color, width)
		var run []string
		flush := func() {
			if len(run) > 0 {
				fmt.Fprintf(w, `<polyline points="%s"/>`+"\n", strings.Join(run, " "))
			}
			run = run[:0]
		}
		for _, p := range s.Points {
			if p.Gap {
				flush()
				continue
			}
			run = append(run, f(px(p.X))+","+f(py(p.Y)))
		}
		flush()
		fmt.Fprintf(w, "</g>\n")
	}
	// Legend.
	lx := left + pw + 20
	fmt.Fprintf(w, `<g class="legend">`+"\n")
	for k, s := range c.Series {
		y := top + 10 + float64(k)*20
		fmt.Fprintf(w, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/><text x="%s" y="%s">%s</text>`+"\n",
			f(lx), f(y), f(lx+24), f(y), palette[k%len(palette)], f(lx+30), f(y+4), esc(s.Name))
	}
	fmt.Fprintf(w, "</g>\n</svg>\n")
}
