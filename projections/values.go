package projections

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// How the adaptive and progress read models store their entries. Each
// is rewritten whenever an event changes it (a learner's skill, item and
// ability for every scored attempt, a learner's activity for every
// statement) and read back whenever the staged values' memo does not
// hold it, which under a working set larger than the memo is most of the
// time: as JSON, decoding and encoding them was about 3% of the CPU of a
// serve with every role under load (encoding/json's reflection, times
// parsed from RFC 3339 text, the packed trajectory in base64). They are
// stored packed instead: a format byte, then every field in a fixed
// order (numbers as varints or float64 bits, strings with their length,
// times as Unix nanoseconds with their zone offset). Everything is kept
// exactly, null apart from empty included. The API and exports still
// show the types' JSON, and values written before (JSON) are read as
// they are: JSON starts with '{', never with the format byte.

// valueFormat is the first byte of a packed entry.
const valueFormat = 1

var errValue = errors.New("damaged packed value")

// decodeStored reads a stored value into v: v's own stored form when it
// has one (valueDecoder), else JSON.
func decodeStored(b []byte, v any) error {
	if d, ok := v.(valueDecoder); ok {
		return d.decodeValue(b)
	}
	return json.Unmarshal(b, v)
}

// packed reports whether a stored value is packed (not JSON), and a
// reader past its format byte.
func packed(b []byte) (packedReader, bool) {
	if len(b) == 0 || b[0] != valueFormat {
		return packedReader{}, false
	}
	return packedReader{b: b[1:], damaged: errValue}, true
}

func appendF64(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func (r *packedReader) f64(field string) float64 { return math.Float64frombits(r.uint64(field)) }

func (r *packedReader) int(field string) int { return int(r.varint(field)) }

// checkYears refuses times that RFC 3339 cannot show (years outside
// 0-9999), which appendTime could not keep either: the API could not
// show them, and json.Marshal refused them when entries were JSON. Every
// time these models keep comes from an event's RFC 3339 text, so this
// only guards against a caller that made one up.
func checkYears(ts ...time.Time) error {
	for _, t := range ts {
		if y := t.Year(); y < 0 || y > 9999 {
			return fmt.Errorf("time %v: year outside 0-9999", t)
		}
	}
	return nil
}

// Tags of a packed time.
const (
	timeZero  = iota // the zero time
	timeUTC          // Unix nanoseconds (varint), UTC
	timeZoned        // Unix nanoseconds, then the zone offset in seconds (varints)
	timeText         // RFC 3339 text with its zone (str): outside Unix nanoseconds' range
)

// appendTime appends t to the nanosecond with its zone offset (the
// offset is all JSON kept of a zone, too).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		if _, off := t.Zone(); off == 0 {
			return append(b, timeZero)
		}
	}
	nanos, ok := unixNanos(t)
	if !ok {
		text, _ := t.MarshalText() // years 0-9999 (checkYears)
		return appendStr(append(b, timeText), text)
	}
	if _, off := t.Zone(); off != 0 {
		return binary.AppendVarint(binary.AppendVarint(append(b, timeZoned), nanos), int64(off))
	}
	return binary.AppendVarint(append(b, timeUTC), nanos)
}

func (r *packedReader) time(field string) time.Time {
	switch tag := r.byte(field); tag {
	case timeZero:
	case timeUTC:
		return time.Unix(0, r.varint(field)).UTC()
	case timeZoned:
		nanos, off := r.varint(field), r.varint(field)
		if off < -24*3600 || off > 24*3600 {
			r.fail(field + ": zone offset")
			return time.Time{}
		}
		return time.Unix(0, nanos).In(time.FixedZone("", int(off)))
	case timeText:
		var t time.Time
		if text := r.bytes(field); r.err == nil {
			if err := t.UnmarshalText(text); err != nil {
				r.fail(field)
			}
		}
		return t
	default:
		r.fail(fmt.Sprintf("%s: unknown tag %d", field, tag))
	}
	return time.Time{}
}

// appendFloats appends a list of float64s: its length plus one (0 for
// null), then the values.
func appendFloats(b []byte, fs []float64) []byte {
	if fs == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(fs))+1)
	for _, f := range fs {
		b = appendF64(b, f)
	}
	return b
}

func (r *packedReader) floats(field string) []float64 {
	n := r.uvarint(field)
	if r.err != nil || n == 0 {
		return nil
	}
	if n-1 > uint64(len(r.b)/8) {
		r.fail(field)
		return nil
	}
	fs := make([]float64, n-1)
	for i := range fs {
		fs[i] = r.f64(field)
	}
	return fs
}

func appendPosition(b []byte, p inputPosition) []byte {
	if !p.Set {
		return append(b, 0)
	}
	return binary.AppendVarint(binary.AppendVarint(append(b, 1), int64(p.Partition)), p.Offset)
}

func (r *packedReader) position(field string) inputPosition {
	switch r.byte(field) {
	case 0:
		return inputPosition{}
	case 1:
		return inputPosition{Partition: r.int(field), Offset: r.varint(field), Set: true}
	}
	r.fail(field)
	return inputPosition{}
}

// Flags of a packed SkillMastery.
const (
	masteryFirstCorrect = 1 << iota
	masteryMastered     // MasteredAt follows
)

// encodeValue is the stored form of s (valueEncoder): the format byte,
// the skill and p_mastery first (skillProbability reads only them), then
// the other fields in their declared order, the trajectory packed
// (appendPoints) last.
func (s *SkillMastery) encodeValue() ([]byte, error) {
	if err := checkYears(s.FirstAt, s.LastAt); err != nil {
		return nil, err
	}
	if s.MasteredAt != nil {
		if err := checkYears(*s.MasteredAt); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 128+len(s.Trajectory)*17)
	b = append(b, valueFormat)
	b = appendStr(b, s.Skill)
	b = appendF64(b, s.PMastery)
	b = appendF64(b, s.PInitial)
	b = appendF64(b, s.Ability)
	b = binary.AppendVarint(b, int64(s.Attempts))
	b = binary.AppendVarint(b, int64(s.Correct))
	b = appendTime(b, s.FirstAt)
	b = appendTime(b, s.LastAt)
	var flags byte
	if s.FirstCorrect {
		flags |= masteryFirstCorrect
	}
	if s.MasteredAt != nil {
		flags |= masteryMastered
	}
	b = append(b, flags)
	if s.MasteredAt != nil {
		b = appendTime(b, *s.MasteredAt)
	}
	b = appendF64(b, s.RecentSuccess)
	b = appendF64(b, s.RecentAttempts)
	b = appendFloats(b, s.FirstScores)
	b = appendFloats(b, s.LastScores)
	b = appendPosition(b, s.Position)
	// The trajectory's count of points, then the points to the end (the
	// count tells a value cut at a point's end). None is stored as 0 and
	// read back as none (JSON's null), as before.
	b = binary.AppendUvarint(b, uint64(len(s.Trajectory)))
	if len(s.Trajectory) > 0 {
		b = appendPoints(b, s.Trajectory)
	}
	return b, nil
}

// decodeValue reads a stored SkillMastery, packed or JSON (valueDecoder).
func (s *SkillMastery) decodeValue(v []byte) error {
	r, ok := packed(v)
	if !ok {
		return json.Unmarshal(v, s)
	}
	*s = SkillMastery{Skill: r.str("skill"), PMastery: r.f64("p_mastery"), PInitial: r.f64("p_initial"),
		Ability: r.f64("ability"), Attempts: r.int("attempts"), Correct: r.int("correct"),
		FirstAt: r.time("first_at"), LastAt: r.time("last_at")}
	flags := r.flags("flags", masteryFirstCorrect|masteryMastered)
	s.FirstCorrect = flags&masteryFirstCorrect != 0
	if flags&masteryMastered != 0 {
		at := r.time("mastered_at")
		s.MasteredAt = &at
	}
	s.RecentSuccess, s.RecentAttempts = r.f64("recent_success"), r.f64("recent_attempts")
	s.FirstScores, s.LastScores = r.floats("first_scores"), r.floats("last_scores")
	s.Position = r.position("position")
	if n := r.uvarint("trajectory"); n > 0 && r.err == nil {
		points, err := unpackPoints(r.b)
		if err == nil && uint64(len(points)) != n {
			err = fmt.Errorf("%w: %d points of %d", errTrajectory, len(points), n)
		}
		if err != nil {
			return fmt.Errorf("trajectory: %w", err)
		}
		s.Trajectory, r.b = points, nil
	}
	return r.done()
}

// skillOf reads the skill and p_mastery of a packed SkillMastery (ok false
// for one stored as JSON).
func skillOf(v []byte) (skill string, p float64, ok bool, err error) {
	r, ok := packed(v)
	if !ok {
		return "", 0, false, nil
	}
	skill, p = r.str("skill"), r.f64("p_mastery")
	return skill, p, true, r.err
}

// encodeValue is the stored form of li (valueEncoder).
func (li *LearnerItem) encodeValue() ([]byte, error) {
	if err := checkYears(li.FirstAt, li.LastAt); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+len(li.Learner)+len(li.Item))
	b = append(b, valueFormat)
	b = appendStr(b, li.Learner)
	b = appendStr(b, li.Item)
	b = binary.AppendVarint(b, int64(li.Attempts))
	b = binary.AppendVarint(b, int64(li.Correct))
	b = appendTime(b, li.FirstAt)
	b = appendTime(b, li.LastAt)
	b = append(b, boolByte(li.FirstCorrect))
	b = appendF64(b, li.LastScore)
	return appendPosition(b, li.Position), nil
}

// decodeValue reads a stored LearnerItem, packed or JSON (valueDecoder).
func (li *LearnerItem) decodeValue(v []byte) error {
	r, ok := packed(v)
	if !ok {
		return json.Unmarshal(v, li)
	}
	*li = LearnerItem{Learner: r.str("learner"), Item: r.str("item"), Attempts: r.int("attempts"),
		Correct: r.int("correct"), FirstAt: r.time("first_at"), LastAt: r.time("last_at"),
		FirstCorrect: r.flags("first_correct", 1) != 0, LastScore: r.f64("last_score"), Position: r.position("position")}
	return r.done()
}

// encodeValue is the stored form of p (valueEncoder).
func (p *itemPart) encodeValue() ([]byte, error) {
	b := append(make([]byte, 0, 32), valueFormat)
	b = appendF64(b, p.Difficulty)
	b = binary.AppendVarint(b, int64(p.Attempts))
	return appendPosition(b, p.Position), nil
}

// decodeValue reads a stored itemPart, packed or JSON (valueDecoder).
func (p *itemPart) decodeValue(v []byte) error {
	r, ok := packed(v)
	if !ok {
		return json.Unmarshal(v, p)
	}
	*p = itemPart{Difficulty: r.f64("difficulty"), Attempts: r.int("attempts"), Position: r.position("position")}
	return r.done()
}

// encodeValue is the stored form of g (valueEncoder).
func (g *learnerGlobal) encodeValue() ([]byte, error) {
	if err := checkYears(g.At); err != nil {
		return nil, err
	}
	b := append(make([]byte, 0, 40), valueFormat)
	b = appendF64(b, g.Ability)
	b = appendPosition(b, g.Position)
	return appendTime(b, g.At), nil
}

// decodeValue reads a stored learnerGlobal, packed or JSON (valueDecoder).
func (g *learnerGlobal) decodeValue(v []byte) error {
	r, ok := packed(v)
	if !ok {
		return json.Unmarshal(v, g)
	}
	*g = learnerGlobal{Ability: r.f64("ability"), Position: r.position("position"), At: r.time("at")}
	return r.done()
}

// Flags of a packed ActivityProgress.
const (
	progressCompleted = 1 << iota
	progressPassed
	progressFailed
	progressBest // BestScore follows
	progressLast // LastScore follows
)

// encodeValue is the stored form of ap (valueEncoder): the activity and
// the statements first (statementsOf reads only them).
func (ap *ActivityProgress) encodeValue() ([]byte, error) {
	if err := checkYears(ap.First, ap.Last); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+len(ap.Activity))
	b = append(b, valueFormat)
	b = appendStr(b, ap.Activity)
	b = binary.AppendVarint(b, int64(ap.Statements))
	b = binary.AppendVarint(b, int64(ap.Attempts))
	var flags byte
	if ap.Completed {
		flags |= progressCompleted
	}
	if ap.Passed {
		flags |= progressPassed
	}
	if ap.Failed {
		flags |= progressFailed
	}
	if ap.BestScore != nil {
		flags |= progressBest
	}
	if ap.LastScore != nil {
		flags |= progressLast
	}
	b = append(b, flags)
	if ap.BestScore != nil {
		b = appendF64(b, *ap.BestScore)
	}
	if ap.LastScore != nil {
		b = appendF64(b, *ap.LastScore)
	}
	b = appendF64(b, ap.TimeSpentS)
	b = appendTime(b, ap.First)
	return appendTime(b, ap.Last), nil
}

// decodeValue reads a stored ActivityProgress, packed or JSON
// (valueDecoder).
func (ap *ActivityProgress) decodeValue(v []byte) error {
	r, ok := packed(v)
	if !ok {
		return json.Unmarshal(v, ap)
	}
	*ap = ActivityProgress{Activity: r.str("activity"), Statements: r.int("statements"), Attempts: r.int("attempts")}
	flags := r.flags("flags", progressCompleted|progressPassed|progressFailed|progressBest|progressLast)
	ap.Completed, ap.Passed, ap.Failed = flags&progressCompleted != 0, flags&progressPassed != 0, flags&progressFailed != 0
	if flags&progressBest != 0 {
		best := r.f64("best_score")
		ap.BestScore = &best
	}
	if flags&progressLast != 0 {
		last := r.f64("last_score")
		ap.LastScore = &last
	}
	ap.TimeSpentS, ap.First, ap.Last = r.f64("time_spent_seconds"), r.time("first"), r.time("last")
	return r.done()
}

// progressStatements reads the statements of a packed ActivityProgress
// (ok false for one stored as JSON).
func progressStatements(v []byte) (n int, ok bool, err error) {
	r, ok := packed(v)
	if !ok {
		return 0, false, nil
	}
	r.bytes("activity")
	n = r.int("statements")
	return n, true, r.err
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
