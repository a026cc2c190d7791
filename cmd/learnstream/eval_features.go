package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/learnstream/learnstream/domain/mf"
)

// loadItemFeatures reads --item-features:
//
//	FILE         lines "item feature [feature...]" (tabs, commas or spaces; '#' starts a comment; an item may span lines)
//	kg:FILE      knowledge-graph triples "head relation tail" (MOOCCube's kg_final.txt): item head gets "r<relation>:<tail>"
//	oulad:DIR    OULAD assessments.csv: an assessment item (module-presentation-id) gets module:, presentation:,
//	             module_presentation: and assessment_type:; a course presentation item (module-presentation)
//	             the first two (a semester feature, B or J, shared by half the items, lowered recall on registrations)
//	column:NAME  the --data file's column NAME gives its row's item the feature "NAME:<value>" (ASSISTments skill_id)
//
// It returns the features by item, announcement times where the source has
// them (OULAD: the presentation's start, in the stream's days) and a
// description of the source.
func loadItemFeatures(spec, data string) (map[string][]string, map[string]float64, string, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || !slices.Contains([]string{"kg", "oulad", "column"}, kind) {
		kind, arg = "file", spec
	}
	out := map[string][]string{}
	var times map[string]float64
	add := func(item, f string) {
		if item != "" && f != "" && !slices.Contains(out[item], f) {
			out[item] = append(out[item], f)
		}
	}
	var err error
	switch kind {
	case "file":
		err = readLines(arg, func(line int, fields []string) error {
			if len(fields) < 2 {
				return fmt.Errorf("line %d: want an item and at least one feature", line)
			}
			for _, f := range fields[1:] {
				add(fields[0], f)
			}
			return nil
		})
	case "kg":
		err = readLines(arg, func(line int, fields []string) error {
			if len(fields) != 3 {
				return fmt.Errorf("line %d: want 3 fields (head relation tail), got %d", line, len(fields))
			}
			add(fields[0], "r"+fields[1]+":"+fields[2])
			return nil
		})
	case "oulad":
		times = map[string]float64{}
		err = ouladFeatures(arg, add, times)
	case "column":
		err = columnFeatures(data, arg, add)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("--item-features %s: %w", spec, err)
	}
	if len(out) == 0 {
		return nil, nil, "", fmt.Errorf("--item-features %s: no item has a feature", spec)
	}
	n := 0
	for _, fs := range out {
		n += len(fs)
	}
	return out, times, fmt.Sprintf("%s: %d items, %.1f features per item", kind, len(out), float64(n)/float64(len(out))), nil
}

// readLines calls fn with the fields of every non-blank, non-comment line.
func readLines(path string, fn func(line int, fields []string) error) error {
	r, err := openMaybeGzip(path)
	if err != nil {
		return err
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	line := 0
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.FieldsFunc(text, func(r rune) bool { return r == '\t' || r == ',' || r == ' ' || r == '\r' })
		if len(fields) == 0 {
			continue
		}
		if err := fn(line, fields); err != nil {
			return err
		}
	}
	return sc.Err()
}

func ouladFeatures(dir string, add func(item, f string), times map[string]float64) error {
	p, err := findTable(dir, "assessments")
	if err != nil {
		return err
	}
	r, err := openMaybeGzip(p)
	if err != nil {
		return err
	}
	defer r.Close()
	t, err := newCSVTable("assessments.csv", r, "code_module", "code_presentation", "id_assessment", "assessment_type")
	if err != nil {
		return err
	}
	for {
		ok, err := t.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		mod, pres, id, typ := t.get("code_module"), t.get("code_presentation"), t.get("id_assessment"), t.get("assessment_type")
		if len(pres) != 5 {
			return t.errf("code_presentation", "%q is not a presentation code like 2013J", pres)
		}
		course := mod + "-" + pres
		start, ok := presentationStart(pres)
		if !ok {
			return t.errf("code_presentation", "%q is not a presentation code like 2013J", pres)
		}
		// An assessment is published with its presentation; a presentation
		// itself is open for registration long before it starts, so it has
		// no time: the catalog lists it from the beginning.
		times[course+"-"+id] = start
		for _, item := range []string{course + "-" + id, course} {
			add(item, "module:"+mod)
			add(item, "presentation:"+pres)
		}
		add(course+"-"+id, "module_presentation:"+course)
		add(course+"-"+id, "assessment_type:"+typ)
	}
}

// columnFeatures reads a delimited file with a header (tabs or commas)
// and gives each row's item the feature column:value.
func columnFeatures(data, column string, add func(item, f string)) error {
	if data == "" {
		return fmt.Errorf("column: needs --data")
	}
	if st, err := os.Stat(data); err != nil {
		return err
	} else if st.IsDir() {
		return fmt.Errorf("column: --data %s is a directory", filepath.Base(data))
	}
	itemCol, featCol := -1, -1
	return readLines(data, func(line int, fields []string) error {
		if itemCol < 0 {
			for i, h := range fields {
				h = strings.ToLower(strings.Trim(h, "\"\ufeff"))
				if itemCol < 0 && slices.Contains([]string{"item", "item_id", "itemid", "course", "course_id", "activity", "activity_id", "object", "id_assessment"}, h) {
					itemCol = i
				}
				if h == strings.ToLower(column) {
					featCol = i
				}
			}
			switch {
			case itemCol < 0:
				return fmt.Errorf("line %d: header names no item column (item, item_id, course, activity...)", line)
			case featCol < 0:
				return fmt.Errorf("line %d: header has no column %s", line, column)
			}
			return nil
		}
		if len(fields) <= max(itemCol, featCol) {
			return fmt.Errorf("line %d: %d fields, want at least %d", line, len(fields), max(itemCol, featCol)+1)
		}
		add(fields[itemCol], column+":"+fields[featCol])
		return nil
	})
}

// neverUsed measures, through EvalOptions.Hook, the scored events whose
// item nobody had used before in the stream (an item the catalog announced
// but nobody used yet: only content can rank it).
type neverUsed struct {
	prior         map[string]bool
	scored, model int
}

func (s *neverUsed) hook(ev mf.Event, scored bool, mr, _ int) {
	if scored && !s.prior[ev.Item] {
		s.scored++
		if mr >= 0 {
			s.model++
		}
	}
	s.prior[ev.Item] = true
}

func (s *neverUsed) recall() float64 {
	if s.scored == 0 {
		return 0
	}
	return float64(s.model) / float64(s.scored)
}

// contentOptions are the flags of the content-based hybrid.
type contentOptions struct {
	features, announce string
	cfg                mf.ContentConfig
}

func contentFlags(fs *flag.FlagSet) *contentOptions {
	o := &contentOptions{cfg: mf.DefaultContentConfig()}
	fs.StringVar(&o.features, "item-features", "", "item features for the content-based hybrid: FILE (item feature...), kg:FILE (MOOCCube kg_final triples), oulad:DIR (assessments.csv), column:NAME (a column of --data, e.g. skill_id); replays with and without content (--json-detail: with content only, in the usual form)")
	fs.StringVar(&o.announce, "announce", "catalog", "when the hybrid learns an item's features: catalog (before the first event, or at the item's time when the source has one: an OULAD presentation's start), all (every item before the first event) or stream (after the item's first event)")
	fs.Float64Var(&o.cfg.Weight, "content-weight", o.cfg.Weight, "weight of the content similarity against the model's score")
	fs.Float64Var(&o.cfg.Shrink, "content-shrink", o.cfg.Shrink, "interactions at which an item's model and content scores weigh the same")
	fs.Float64Var(&o.cfg.Recency, "content-recency", o.cfg.Recency, "weight ratio of each older item in the learner's feature profile, (0, 1]")
	fs.IntVar(&o.cfg.Profile, "content-profile", o.cfg.Profile, "most recent items in the learner's feature profile")
	return o
}

// eval checks the flags and loads the features: the hybrid's options
// and a description of the features' source.
//
// Only the items of the stream keep their features: the catalog is one of
// the stream's kind of items (OULAD's features name both assessments and
// course presentations, and a registrations stream must not be offered
// assessments).
func (o *contentOptions) eval(data string, events []mf.Event) (*mf.ContentEval, string, error) {
	if !slices.Contains([]string{"catalog", "all", "stream"}, o.announce) {
		return nil, "", fmt.Errorf("--announce %q: want catalog, all or stream", o.announce)
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, "", err
	}
	feats, times, source, err := loadItemFeatures(o.features, data)
	if err != nil {
		return nil, "", err
	}
	inStream := make(map[string]bool, len(feats))
	for _, ev := range events {
		inStream[ev.Item] = true
	}
	for item := range feats {
		if !inStream[item] {
			delete(feats, item)
		}
	}
	if len(feats) == 0 {
		return nil, "", fmt.Errorf("--item-features %s: no item of the stream has a feature", o.features)
	}
	ce := &mf.ContentEval{Config: o.cfg, Features: feats, AtStart: o.announce != "stream"}
	if o.announce == "catalog" {
		ce.Times = times
	}
	return ce, source, nil
}

// runContentEval replays the stream twice, with the model alone and with
// the hybrid, and reports both with the new-items split.
func runContentEval(ctx context.Context, stdout io.Writer, events []mf.Event, data string, n int, cfg mf.Config, blend *mf.BlendConfig, o *contentOptions, windows int, asJSON bool) error {
	ce, source, err := o.eval(data, events)
	if err != nil {
		return err
	}
	feats := ce.Features
	covered := 0
	for _, ev := range events {
		if len(feats[ev.Item]) > 0 {
			covered++
		}
	}
	type run struct {
		name  string
		res   mf.EvalResult
		never *neverUsed
	}
	var runs []run
	for _, withContent := range []bool{false, true} {
		never := &neverUsed{prior: map[string]bool{}}
		opts := mf.EvalOptions{N: n, Model: cfg, Hook: never.hook, Windows: windows, Blend: blend}
		name := "online MF"
		if blend != nil {
			name = "MF + sequence"
		}
		if withContent {
			name += " + content"
			opts.Content = ce
		}
		res, err := mf.Prequential(ctx, events, opts)
		if err != nil {
			return err
		}
		runs = append(runs, run{name, res, never})
	}
	if asJSON {
		out := map[string]any{"data": data, "item_features": o.features, "blend": blend, "features": source, "announce": o.announce,
			"content_config": o.cfg, "events": len(events), "events_with_features": covered, "n": n}
		for i, key := range []string{"mf", "hybrid"} {
			r := runs[i]
			out[key] = map[string]any{"recall": r.res.Model.Recall, "ndcg": r.res.Model.NDCG, "scored": r.res.Scored,
				"unrankable_item": r.res.NewItem, "events_per_second": math.Round(r.res.EventsPerSecond),
				"new_items": r.res.NewItems, "never_used": map[string]any{"scored": r.never.scored, "hits": r.never.model, "recall": r.never.recall()},
				"by_history": r.res.ByHistory}
		}
		out["baseline"] = map[string]any{"recall": runs[0].res.Baseline.Recall, "ndcg": runs[0].res.Baseline.NDCG}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "data        %s, %d events (%d with features)\n", data, len(events), covered)
	fmt.Fprintf(stdout, "features    %s (%s); announced: %s\n", o.features, source, o.announce)
	fmt.Fprintf(stdout, "content     weight=%g shrink=%g recency=%g profile=%d\n", o.cfg.Weight, o.cfg.Shrink, o.cfg.Recency, o.cfg.Profile)
	fmt.Fprintf(stdout, "%-28s %10s %10s %16s %12s\n", "", fmt.Sprintf("recall@%d", n), fmt.Sprintf("NDCG@%d", n), "rank+learn ev/s", "unrankable")
	for _, r := range runs {
		fmt.Fprintf(stdout, "%-28s %10.4f %10.4f %16.0f %12d\n", r.name, r.res.Model.Recall, r.res.Model.NDCG, r.res.EventsPerSecond, r.res.NewItem)
	}
	fmt.Fprintf(stdout, "%-28s %10.4f %10.4f\n", "popularity", runs[0].res.Baseline.Recall, runs[0].res.Baseline.NDCG)
	for _, r := range runs {
		ni := r.res.NewItems
		fmt.Fprintf(stdout, "%-28s new items (< %d prior interactions): %d scored, recall@%d %.4f NDCG@%d %.4f (popularity %.4f / %.4f); never used before: %d scored, recall %.4f\n",
			r.name, mf.NewItemInteractions, ni.Scored, n, ni.Model.Recall, n, ni.Model.NDCG, ni.Baseline.Recall, ni.Baseline.NDCG, r.never.scored, r.never.recall())
	}
	return nil
}
