package projections

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// How a learner's mastery of a skill is stored. The record is rewritten
// on every scored attempt, and its trajectory (up to TrajectoryLen points)
// was most of it: as JSON objects a full trajectory is about 4.3 KB, so a
// learner with a long history made the adaptive read model write 4–5 KB
// per statement, several times the statement itself, all of it flushed
// and compacted by the store, and the recommender read it back for every
// learner it ranks. Stored, the trajectory is packed (appendPoints): about
// 17 bytes a point, 0.9 KB when full. The points are kept exactly (times
// to the nanosecond with their zone offset, probabilities as float64).
// The whole record is packed too (values.go); records written before
// are read as they are: JSON with the trajectory as JSON objects, or
// (later) JSON with the packed trajectory in base64.

// trajectoryFormat is the first byte of a packed trajectory.
const trajectoryFormat = 1

// Flags of a packed point.
const (
	pointCorrect = 1 << iota // MasteryPoint.Correct
	pointZone                // a zone offset in seconds follows (a varint); without it, UTC
	pointText                // the time as RFC 3339 text with its zone (uvarint length, bytes): outside Unix nanoseconds' range, or zero
)

// UnmarshalJSON reads a SkillMastery with its trajectory packed in
// base64 (as records stored as JSON held it) or as JSON objects (records
// written before those, and the API's form).
func (s *SkillMastery) UnmarshalJSON(b []byte) error {
	type plain SkillMastery
	var v struct {
		plain
		Trajectory json.RawMessage `json:"trajectory"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = SkillMastery(v.plain) // its Trajectory is nil: the outer field took the member
	switch {
	case len(v.Trajectory) == 0 || string(v.Trajectory) == "null":
	case v.Trajectory[0] == '"':
		var packed string
		if err := json.Unmarshal(v.Trajectory, &packed); err != nil {
			return fmt.Errorf("trajectory: %w", err)
		}
		tr, err := unpackTrajectory(packed)
		if err != nil {
			return fmt.Errorf("trajectory: %w", err)
		}
		s.Trajectory = tr
	default:
		if err := json.Unmarshal(v.Trajectory, &s.Trajectory); err != nil {
			return fmt.Errorf("trajectory: %w", err)
		}
	}
	return nil
}

// appendPoints appends points packed: the format byte, then per point
// its flags, its time (the difference from the previous point's in
// nanoseconds, zig-zag varint) and p_mastery's float64 bits.
func appendPoints(b []byte, points []MasteryPoint) []byte {
	b = append(b, trajectoryFormat)
	var prev int64
	for _, p := range points {
		var flags byte
		if p.Correct {
			flags |= pointCorrect
		}
		nanos, ok := unixNanos(p.At)
		if !ok {
			text, _ := p.At.MarshalText() // years 0-9999: MasteryUpdated's times are RFC 3339
			b = append(b, flags|pointText)
			b = appendStr(b, text)
		} else {
			_, off := p.At.Zone()
			if off != 0 {
				flags |= pointZone
			}
			b = append(b, flags)
			if off != 0 {
				b = binary.AppendVarint(b, int64(off))
			}
			b = binary.AppendVarint(b, nanos-prev)
			prev = nanos
		}
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.PMastery))
	}
	return b
}

// unixNanos is t in Unix nanoseconds, when that represents it (the zero
// time and years before 1678 or after 2261 do not).
func unixNanos(t time.Time) (int64, bool) {
	if t.IsZero() || t.Year() < 1678 || t.Year() > 2261 {
		return 0, false
	}
	return t.UnixNano(), true
}

var errTrajectory = errors.New("damaged packed trajectory")

// unpackTrajectory reads a trajectory packed in base64, as records
// stored as JSON held it.
func unpackTrajectory(s string) ([]MasteryPoint, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTrajectory, err)
	}
	return unpackPoints(b)
}

// unpackPoints reverses appendPoints.
func unpackPoints(b []byte) ([]MasteryPoint, error) {
	if len(b) == 0 || b[0] != trajectoryFormat {
		return nil, fmt.Errorf("%w: unknown format", errTrajectory)
	}
	r := packedReader{b: b[1:], damaged: errTrajectory}
	out := make([]MasteryPoint, 0, len(r.b)/17)
	var prev int64
	for len(r.b) > 0 {
		flags := r.flags("flags", pointCorrect|pointZone|pointText)
		if r.err != nil {
			return nil, fmt.Errorf("point %d: %w", len(out), r.err)
		}
		var off int64
		if flags&pointZone != 0 {
			if off = r.varint("zone offset"); off < -24*3600 || off > 24*3600 {
				r.fail("zone offset")
			}
		}
		var at time.Time
		if flags&pointText != 0 {
			if text := r.bytes("time"); r.err == nil {
				if err := at.UnmarshalText(text); err != nil {
					return nil, fmt.Errorf("%w: point %d: time: %v", errTrajectory, len(out), err)
				}
			}
		} else {
			prev += r.varint("time")
			at = time.Unix(0, prev).UTC()
			if off != 0 {
				at = at.In(time.FixedZone("", int(off)))
			}
		}
		p := math.Float64frombits(r.uint64("p_mastery"))
		if r.err != nil {
			return nil, fmt.Errorf("point %d: %w", len(out), r.err)
		}
		out = append(out, MasteryPoint{At: at, PMastery: p, Correct: flags&pointCorrect != 0})
	}
	return out, nil
}
