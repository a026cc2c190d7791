package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/mf"
)

// runEvalRecommend replays an interaction stream prequentially through the
// online recommender and the popularity baseline (see docs/recommendations.md).
func runEvalRecommend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval recommend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := mf.DefaultConfig()
	defBlend := mf.DefaultBlendConfig()
	var (
		data      = fs.String("data", "", "interaction stream: CSV/TSV (learner,item[,timestamp][,weight][,label]), headerless 'user item [label]', NDJSON xAPI statements, or the OULAD directory (.gz read transparently) (required)")
		asJSON    = fs.Bool("json", false, "print one JSON object: recall_at_10, ndcg_at_10, baseline{...}, events, events_per_second, by_history{...}, new_items{...}")
		detail    = fs.Bool("json-detail", false, "print one JSON object with every figure of the run (for scripts)")
		n         = fs.Int("n", 10, "length of the ranked list")
		k         = fs.Int("k", def.K, "latent factors")
		algo      = fs.String("algo", string(def.Algorithm), "update rule: als or isgd")
		lr        = fs.Float64("lr", def.LearnRate, "SGD learning rate")
		reg       = fs.Float64("reg", def.Reg, "L2 regularisation of learner vectors (als: ridge of the solve)")
		itemReg   = fs.Float64("item-reg", def.ItemReg, "weight decay of item SGD steps (als)")
		bias      = fs.Bool("bias", def.Bias, "learn a per-item bias (als)")
		neg       = fs.Int("neg", def.Negatives, "sampled negatives per event")
		negSample = fs.String("neg-sampling", map[bool]string{true: "uniform", false: "popularity"}[def.UniformNegatives], "how negatives are drawn: uniform (among known items) or popularity (from recent events)")
		negWeight = fs.Float64("neg-weight", def.NegWeight, "confidence of a sampled negative")
		alpha0    = fs.Float64("alpha0", def.Alpha0, "weight of unobserved items in the learner solve (als)")
		popExp    = fs.Float64("pop-exp", def.PopExponent, "popularity exponent of the unobserved-item weights (als)")
		cg        = fs.Int("cg", def.CGSteps, "conjugate-gradient steps per learner solve (als)")
		cgBudget  = fs.Int("cg-budget", def.CGBudget, "cap on CG steps x history length per learner solve, at least one step (als; 0: no cap)")
		exact     = fs.Bool("exact", false, "solve the learner system exactly (Cholesky) instead of by CG (als)")
		history   = fs.Int("history", def.History, "items remembered per learner")
		gramEvery = fs.Int("gram-every", def.GramEvery, "events between Gram refreshes (0: max(256, items))")
		initStd   = fs.Float64("init-std", def.InitStd, "standard deviation of new factors")
		seed      = fs.Uint64("seed", def.Seed, "random seed")
		oulad     = fs.String("oulad", "assessments", "OULAD stream when --data is the OULAD directory: assessments (learner -> assessment submitted) or registrations (learner -> course presentation)")
		maxEvents = fs.Int("max-events", 0, "stop after this many events (0: all)")
		itemCol   = fs.String("item-column", "", "header column of --data that holds the item (default: the item/item_id/course... aliases); e.g. skill_id for ASSISTments learner -> skill")
		windows   = fs.Int("windows", mf.DefaultWindows, "windows of the prequential curve (--json-detail: curve)")
		blend     = fs.Bool("blend", true, "rank learners with history as the recommender does: MF blended with item-to-item sequence rules (false: MF alone)")
		seqWeight = fs.Float64("seq-weight", defBlend.Weight, "weight of the sequence score against the MF score in the blend")
		seqWindow = fs.Int("seq-window", defBlend.Sequence.Window, "previous items a new item is linked from (sequence rules)")
		seqWith   = fs.Float64("seq-with", defBlend.Sequence.With, "weight of backward (co-occurrence) links relative to transitions")
		seqRecent = fs.Int("seq-recent", defBlend.Sequence.Recent, "last items of the learner that score candidates (sequence rules)")
		seqDecay  = fs.Float64("seq-decay", defBlend.Sequence.Decay, "weight of each older recent item relative to the next (sequence rules)")
		seqFanout = fs.Int("seq-fanout", defBlend.Sequence.Fanout, "links kept per item (sequence rules)")
		seqPool   = fs.Int("seq-pool", defBlend.Pool, "MF candidates blended with the sequence candidates")
		recency   = fs.Float64("recency", defBlend.Recency, "weight of the learner's recent items' mean vector added to their vector when ranking (blend)")
		export    = fs.String("export", "", "write the stream as CSV learner,item,timestamp,weight in evaluation order to this file and exit (for the peer benchmarks)")
		content   = contentFlags(fs)
	)
	if err := parseFlagsAs(fs, "[flags]", false, args); err != nil {
		return err
	}
	if *data == "" {
		return usageError(fs, "--data is required")
	}
	if *n < 1 || *n > 1000 {
		return fmt.Errorf("--n %d: want 1..1000", *n)
	}
	if *windows < 1 || *windows > 10000 {
		return fmt.Errorf("--windows %d: want 1..10000", *windows)
	}
	if *negSample != "uniform" && *negSample != "popularity" {
		return fmt.Errorf("--neg-sampling %q: want uniform or popularity", *negSample)
	}
	cfg := mf.Config{K: *k, Algorithm: mf.Algorithm(*algo), LearnRate: *lr, Reg: *reg, ItemReg: *itemReg, Bias: *bias,
		Negatives: *neg, UniformNegatives: *negSample == "uniform",
		NegWeight: *negWeight, Alpha0: *alpha0, PopExponent: *popExp, CGSteps: *cg, CGBudget: *cgBudget, Exact: *exact,
		History: *history, GramEvery: *gramEvery, SampleWindow: def.SampleWindow, InitStd: *initStd, Seed: *seed}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var blendCfg *mf.BlendConfig
	if *blend {
		blendCfg = &mf.BlendConfig{Weight: *seqWeight, Pool: *seqPool, Recency: *recency, Sequence: mf.SequenceConfig{
			Window: *seqWindow, With: *seqWith, Recent: *seqRecent, Decay: *seqDecay,
			Fanout: *seqFanout, Smooth: defBlend.Sequence.Smooth}}
		if err := blendCfg.Validate(); err != nil {
			return err
		}
	}

	start := time.Now()
	events, source, err := loadRecommendEvents(*data, *oulad, *itemCol, *maxEvents)
	if err != nil {
		return err
	}
	if *maxEvents > 0 && len(events) > *maxEvents {
		events = events[:*maxEvents]
	}
	if len(events) == 0 {
		return fmt.Errorf("%s: no events", *data)
	}
	loadSecs := time.Since(start).Seconds()
	if *export != "" {
		return exportEvents(*export, events)
	}
	var contentEval *mf.ContentEval
	if content.features != "" {
		if !*detail {
			return runContentEval(ctx, stdout, events, *data, *n, cfg, blendCfg, content, *windows, *asJSON)
		}
		// One replay with content, in the form of every other run (for
		// bench/recommend).
		if contentEval, _, err = content.eval(*data, events); err != nil {
			return err
		}
	}
	res, err := mf.Prequential(ctx, events, mf.EvalOptions{N: *n, Model: cfg, Windows: *windows, Blend: blendCfg, Content: contentEval})
	if err != nil {
		return err
	}
	if *detail {
		out := map[string]any{
			"data": *data, "source": source, "n": *n, "config": cfg, "blend": blendCfg,
			"events": res.Events, "scored": res.Scored, "cold_start": res.ColdStart, "unseen_item": res.NewItem,
			"learners": res.Users, "items": res.Items,
			"recall": res.Model.Recall, "ndcg": res.Model.NDCG,
			"baseline":          map[string]float64{"recall": res.Baseline.Recall, "ndcg": res.Baseline.NDCG, "events_per_second": math.Round(res.BaselineEventsPerSecond)},
			"cold_start_recall": res.ColdModel.Recall, "cold_start_baseline_recall": res.ColdBaseline.Recall,
			"events_per_second": math.Round(res.EventsPerSecond), "update_events_per_second": math.Round(res.UpdatesPerSecond),
			"wall_seconds": res.WallSeconds,
			"by_history":   res.ByHistory, "new_items": res.NewItems, "curve": res.Curve,
		}
		if contentEval != nil {
			out["content"] = map[string]any{"item_features": content.features, "announce": content.announce, "config": contentEval.Config}
		}
		b, err := marshalJSON(out)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if *asJSON {
		// Keys carry the list length: recall_at_10, ndcg_at_10 by default.
		rk, nk := fmt.Sprintf("recall_at_%d", *n), fmt.Sprintf("ndcg_at_%d", *n)
		var b strings.Builder
		hist, err := marshalJSON(res.ByHistory)
		if err != nil {
			return err
		}
		newItems, err := marshalJSON(res.NewItems)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, `{%q:%s,%q:%s,"baseline":{%q:%s,%q:%s},"events":%d,"events_per_second":%s,"by_history":%s,"new_items":%s}`,
			rk, jnum(res.Model.Recall), nk, jnum(res.Model.NDCG),
			rk, jnum(res.Baseline.Recall), nk, jnum(res.Baseline.NDCG),
			res.Events, jnum(math.Round(res.EventsPerSecond)), hist, newItems)
		if !json.Valid([]byte(b.String())) {
			return errors.New("internal error: invalid JSON output")
		}
		fmt.Fprintln(stdout, b.String())
		return nil
	}
	fmt.Fprintf(stdout, "data        %s (%s)\n", *data, source)
	fmt.Fprintf(stdout, "events      %d (scored %d: cold-start learner %d, unseen item %d), %d learners, %d items, read in %.2fs\n",
		res.Events, res.Scored, res.ColdStart, res.NewItem, res.Users, res.Items, loadSecs)
	fmt.Fprintf(stdout, "model       %s k=%d lr=%g reg=%g item-reg=%g bias=%v neg=%d (%s, weight %g) alpha0=%g pop-exp=%g cg=%d exact=%v seed=%d\n",
		cfg.Algorithm, cfg.K, cfg.LearnRate, cfg.Reg, cfg.ItemReg, cfg.Bias, cfg.Negatives, *negSample, cfg.NegWeight,
		cfg.Alpha0, cfg.PopExponent, cfg.CGSteps, cfg.Exact, cfg.Seed)
	label := "online MF"
	if blendCfg != nil {
		sc := blendCfg.Sequence
		fmt.Fprintf(stdout, "blend       MF + %g x sequence rules (window %d, with %g, recent %d, decay %g, fanout %d), pool %d\n",
			blendCfg.Weight, sc.Window, sc.With, sc.Recent, sc.Decay, sc.Fanout, blendCfg.Pool)
		label = "MF+sequence"
	}
	fmt.Fprintf(stdout, "%-12s %10s %10s %16s %16s\n", "", fmt.Sprintf("recall@%d", *n), fmt.Sprintf("NDCG@%d", *n), "rank+learn ev/s", "learn-only ev/s")
	fmt.Fprintf(stdout, "%-12s %10.4f %10.4f %16.0f %16.0f\n", label, res.Model.Recall, res.Model.NDCG, res.EventsPerSecond, res.UpdatesPerSecond)
	fmt.Fprintf(stdout, "%-12s %10.4f %10.4f %16.0f %16s\n", "popularity", res.Baseline.Recall, res.Baseline.NDCG, res.BaselineEventsPerSecond, "")
	if res.ColdStart > 0 && res.ColdStart < res.Scored {
		warm := float64(res.Scored - res.ColdStart)
		fmt.Fprintf(stdout, "recall@%d by learner: cold start (no history) model %.4f, popularity %.4f; with history model %.4f, popularity %.4f\n", *n,
			res.ColdModel.Recall, res.ColdBaseline.Recall,
			float64(res.Model.Hits-res.ColdModel.Hits)/warm, float64(res.Baseline.Hits-res.ColdBaseline.Hits)/warm)
	}
	printSplits(stdout, *n, res)
	fmt.Fprintf(stdout, "wall        %.2fs\n", res.WallSeconds)
	return nil
}

// printSplits prints the scored events by the learner's prior events and
// the new-item split, model against popularity.
func printSplits(w io.Writer, n int, res mf.EvalResult) {
	fmt.Fprintf(w, "by history (learner's prior events; new items: < %d prior interactions)\n", mf.NewItemInteractions)
	fmt.Fprintf(w, "  %-10s %8s %7s %12s %12s %12s %12s\n", "history", "scored", "share",
		fmt.Sprintf("recall@%d", n), "popularity", fmt.Sprintf("NDCG@%d", n), "popularity")
	row := func(name string, sp mf.Split) {
		share := 0.0
		if res.Scored > 0 {
			share = float64(sp.Scored) / float64(res.Scored)
		}
		fmt.Fprintf(w, "  %-10s %8d %6.1f%% %12.4f %12.4f %12.4f %12.4f\n", name, sp.Scored, 100*share,
			sp.Model.Recall, sp.Baseline.Recall, sp.Model.NDCG, sp.Baseline.NDCG)
	}
	for b, sp := range res.ByHistory {
		row(mf.HistoryBuckets[b], sp)
	}
	row("new items", res.NewItems)
	fmt.Fprintf(w, "curve       %d windows by %s (--json-detail: curve)\n", len(res.Curve.Points), res.Curve.By)
}

// marshalJSON is json.Marshal without HTML escaping, so the bucket ">100"
// reads as itself.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func jnum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// openMaybeGzip opens a file, decompressing it when it is gzipped (by magic
// bytes, whatever its name).
func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return readCloser{z, f}, nil
	}
	return readCloser{br, f}, nil
}

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// loadRecommendEvents reads --data: an event file, or the OULAD directory.
func loadRecommendEvents(path, ouladStream, itemColumn string, maxEvents int) ([]mf.Event, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	if st.IsDir() {
		if itemColumn != "" {
			return nil, "", fmt.Errorf("--item-column %q: applies to an event file, not the OULAD directory (use --oulad)", itemColumn)
		}
		switch ouladStream {
		case "assessments":
			evs, err := ouladFromDir(path, "assessments", "studentAssessment", ouladAssessmentEvents)
			return evs, "OULAD learner -> assessment, by submission day", err
		case "registrations":
			evs, err := ouladFromDir(path, "courses", "studentRegistration", ouladRegistrationEvents)
			return evs, "OULAD learner -> course presentation, by registration day", err
		}
		return nil, "", fmt.Errorf("--oulad %q: want assessments or registrations", ouladStream)
	}
	r, err := openMaybeGzip(path)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	evs, err := mf.ReadEvents(r, mf.ReadOptions{MaxEvents: maxEvents, ItemColumn: itemColumn})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	source := "file order, stably sorted by time when present; label-0 rows skipped"
	if itemColumn != "" {
		source = "item = column " + itemColumn + "; " + source
	}
	return evs, source, nil
}

func findTable(dir, name string) (string, error) {
	for _, ext := range []string{".csv.gz", ".csv"} {
		p := filepath.Join(dir, name+ext)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no %s.csv or %s.csv.gz (is it the OULAD directory?)", dir, name, name)
}

func ouladFromDir(dir, meta, facts string, build func(meta, facts io.Reader) ([]mf.Event, error)) ([]mf.Event, error) {
	mp, err := findTable(dir, meta)
	if err != nil {
		return nil, err
	}
	fp, err := findTable(dir, facts)
	if err != nil {
		return nil, err
	}
	mr, err := openMaybeGzip(mp)
	if err != nil {
		return nil, err
	}
	defer mr.Close()
	fr, err := openMaybeGzip(fp)
	if err != nil {
		return nil, err
	}
	defer fr.Close()
	return build(mr, fr)
}

// csvTable reads a CSV with a header and gives fields by column name, with
// errors naming the table, line and column.
type csvTable struct {
	name string
	r    *csv.Reader
	col  map[string]int
	rec  []string
	line int
}

func newCSVTable(name string, r io.Reader, need ...string) (*csvTable, error) {
	t := &csvTable{name: name, r: csv.NewReader(r), col: map[string]int{}}
	t.r.ReuseRecord = true
	h, err := t.r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s line 1: header: %w", name, err)
	}
	for i, c := range h {
		t.col[strings.TrimPrefix(strings.TrimSpace(c), "\ufeff")] = i
	}
	for _, c := range need {
		if _, ok := t.col[c]; !ok {
			return nil, fmt.Errorf("%s line 1: header has no column %s", name, c)
		}
	}
	return t, nil
}

func (t *csvTable) next() (bool, error) {
	rec, err := t.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return false, fmt.Errorf("%s line %d: %v", t.name, pe.Line, pe.Err)
		}
		return false, fmt.Errorf("%s: %w", t.name, err)
	}
	t.rec = rec
	t.line, _ = t.r.FieldPos(0)
	return true, nil
}

func (t *csvTable) get(c string) string { return strings.TrimSpace(t.rec[t.col[c]]) }

func (t *csvTable) errf(c, format string, args ...any) error {
	return fmt.Errorf("%s line %d, column %s: %s", t.name, t.line, c, fmt.Sprintf(format, args...))
}

func (t *csvTable) int(c string) (int, error) {
	v := t.get(c)
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, t.errf(c, "%q is not an integer", v)
	}
	return n, nil
}

// presentationStart returns the first day of an OULAD presentation
// ("2013J": October 2013, "2014B": February 2014) in days since 2013-01-01.
func presentationStart(code string) (float64, bool) {
	if len(code) != 5 {
		return 0, false
	}
	year, err := strconv.Atoi(code[:4])
	if err != nil || year < 2000 || year > 2100 {
		return 0, false
	}
	var month time.Month
	switch code[4] {
	case 'B':
		month = time.February
	case 'J':
		month = time.October
	default:
		return 0, false
	}
	d := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC))
	return d.Hours() / 24, true
}

// ouladAssessmentEvents builds the stream learner -> assessment from OULAD's
// assessments and studentAssessment tables: one event per submission
// (banked results, carried over from an earlier presentation, are
// skipped), at presentation start + date_submitted days, ties in file
// order. The item is module-presentation-assessment; the confidence is the
// default weight of passed (score >= 40), failed (score < 40) or completed
// (no score).
func ouladAssessmentEvents(assessments, submissions io.Reader) ([]mf.Event, error) {
	at, err := newCSVTable("assessments.csv", assessments, "code_module", "code_presentation", "id_assessment")
	if err != nil {
		return nil, err
	}
	type info struct {
		item  string
		start float64
	}
	byID := map[string]info{}
	for {
		ok, err := at.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		pres := at.get("code_presentation")
		start, ok := presentationStart(pres)
		if !ok {
			return nil, at.errf("code_presentation", "%q is not a presentation code like 2013J", pres)
		}
		id := at.get("id_assessment")
		if id == "" {
			return nil, at.errf("id_assessment", "empty")
		}
		byID[id] = info{item: at.get("code_module") + "-" + pres + "-" + id, start: start}
	}
	w := mf.DefaultWeights()
	st, err := newCSVTable("studentAssessment.csv", submissions, "id_student", "id_assessment", "date_submitted", "is_banked", "score")
	if err != nil {
		return nil, err
	}
	var evs []mf.Event
	for {
		ok, err := st.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		banked := st.get("is_banked")
		if banked != "0" && banked != "1" {
			return nil, st.errf("is_banked", "%q is not 0 or 1", banked)
		}
		if banked == "1" {
			continue
		}
		a, ok := byID[st.get("id_assessment")]
		if !ok {
			return nil, st.errf("id_assessment", "unknown assessment %q", st.get("id_assessment"))
		}
		day, err := st.int("date_submitted")
		if err != nil {
			return nil, err
		}
		learner := st.get("id_student")
		if learner == "" {
			return nil, st.errf("id_student", "empty")
		}
		verb := mf.VerbCompleted
		if s := st.get("score"); s != "" && s != "?" {
			score, err := strconv.ParseFloat(s, 64)
			if err != nil || score < 0 || score > 100 {
				return nil, st.errf("score", "%q is not a number in 0..100", s)
			}
			verb = mf.VerbFailed
			if score >= 40 {
				verb = mf.VerbPassed
			}
		}
		evs = append(evs, mf.Event{User: learner, Item: a.item, Time: a.start + float64(day),
			Weight: w.Confidence(verb, nil), Line: st.line})
	}
	slices.SortStableFunc(evs, func(a, b mf.Event) int { return cmpFloat(a.Time, b.Time) })
	return evs, nil
}

// ouladRegistrationEvents builds the stream learner -> course presentation
// from OULAD's courses and studentRegistration tables: one event per
// registration at presentation start + date_registration days (rows without
// a registration date are skipped), ties in file order, with the default
// weight of registered.
func ouladRegistrationEvents(courses, registrations io.Reader) ([]mf.Event, error) {
	ct, err := newCSVTable("courses.csv", courses, "code_module", "code_presentation")
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for {
		ok, err := ct.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		known[ct.get("code_module")+"-"+ct.get("code_presentation")] = true
	}
	rt, err := newCSVTable("studentRegistration.csv", registrations, "code_module", "code_presentation", "id_student", "date_registration")
	if err != nil {
		return nil, err
	}
	weight := mf.DefaultWeights().Confidence(mf.VerbRegistered, nil)
	var evs []mf.Event
	for {
		ok, err := rt.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		pres := rt.get("code_presentation")
		item := rt.get("code_module") + "-" + pres
		if !known[item] {
			return nil, rt.errf("code_presentation", "unknown course presentation %q", item)
		}
		start, ok := presentationStart(pres)
		if !ok {
			return nil, rt.errf("code_presentation", "%q is not a presentation code like 2013J", pres)
		}
		if d := rt.get("date_registration"); d == "" || d == "?" {
			continue
		}
		day, err := rt.int("date_registration")
		if err != nil {
			return nil, err
		}
		learner := rt.get("id_student")
		if learner == "" {
			return nil, rt.errf("id_student", "empty")
		}
		evs = append(evs, mf.Event{User: learner, Item: item, Time: start + float64(day), Weight: weight, Line: rt.line})
	}
	slices.SortStableFunc(evs, func(a, b mf.Event) int { return cmpFloat(a.Time, b.Time) })
	return evs, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// exportEvents writes the stream as CSV (learner,item,timestamp,weight) in
// evaluation order, for the peer benchmarks.
func exportEvents(path string, evs []mf.Event) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"learner", "item", "timestamp", "weight"})
	for _, e := range evs {
		w.Write([]string{e.User, e.Item, strconv.FormatFloat(e.Time, 'f', -1, 64), strconv.FormatFloat(e.Weight, 'f', -1, 64)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
