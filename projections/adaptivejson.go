package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/learnstream/learnstream/domain/jsonenc"
)

// The adaptive consumer publishes a DifficultyAdjusted for every scored
// statement and a MasteryUpdated per skill of its item, and the adaptive
// read model decodes every one: encoding/json's reflection over them was
// about 2% of the server's CPU under load. They are written by hand
// (AppendJSON: json.Marshal's bytes, strings without its HTML escaping)
// and read by a scanner of that shape alone (decodeMasteryUpdated,
// decodeDifficultyAdjusted); anything else goes to json.Unmarshal, which
// decides.

// AppendJSON appends d's JSON as json.Marshal writes it (the same fields
// in the same order). A number that is NaN or infinite, or a time outside
// years 0-9999, is an error, as it is for json.Marshal.
func (d *MasteryUpdated) AppendJSON(b []byte) ([]byte, error) {
	// Member names and numbers take about 400 bytes: one allocation
	// rather than the doublings of append.
	var w jsonWriter
	w.b = append(slices.Grow(b, 448+len(d.Learner)+len(d.Skill)+len(d.Item)+len(d.Statement)), `{"learner":`...)
	w.str(d.Learner)
	w.field(`,"skill":`).str(d.Skill)
	w.field(`,"p_mastery":`).float("p_mastery", d.PMastery)
	w.field(`,"p_previous":`).float("p_previous", d.PPrevious)
	w.field(`,"item":`).str(d.Item)
	w.field(`,"statement":`).str(d.Statement)
	w.field(`,"correct":`).bool(d.Correct)
	w.field(`,"at":`).time("at", d.At)
	w.field(`,"score":`).float("score", d.Score)
	w.field(`,"ability":`).float("ability", d.Ability)
	w.field(`,"global_ability":`).float("global_ability", d.GlobalAbility)
	w.field(`,"attempts":`).int(int64(d.Attempts))
	w.field(`,"recent_success":`).float("recent_success", d.RecentSuccess)
	w.field(`,"recent_attempts":`).float("recent_attempts", d.RecentAttempts)
	w.field(`,"input_partition":`).int(int64(d.InputPartition))
	w.field(`,"input_offset":`).int(d.InputOffset)
	return append(w.b, '}'), w.err
}

// AppendJSON appends d's JSON as json.Marshal writes it (see
// MasteryUpdated.AppendJSON).
func (d *DifficultyAdjusted) AppendJSON(b []byte) ([]byte, error) {
	n := 512 + len(d.Item) + len(d.Skill) + len(d.Learner) + len(d.Statement)
	for _, s := range d.Skills {
		n += len(s) + 3
	}
	var w jsonWriter
	w.b = append(slices.Grow(b, n), `{"item":`...)
	w.str(d.Item)
	w.field(`,"skill":`).str(d.Skill)
	w.field(`,"difficulty":`).float("difficulty", d.Difficulty)
	w.field(`,"previous_difficulty":`).float("previous_difficulty", d.PreviousDifficulty)
	w.field(`,"learner":`).str(d.Learner)
	w.field(`,"ability":`).float("ability", d.Ability)
	w.field(`,"expected":`).float("expected", d.Expected)
	w.field(`,"correct":`).bool(d.Correct)
	w.field(`,"statement":`).str(d.Statement)
	w.field(`,"at":`).time("at", d.At)
	w.field(`,"skills":`)
	w.b = jsonenc.AppendStrings(w.b, d.Skills)
	w.field(`,"score":`).float("score", d.Score)
	w.field(`,"expected_elo":`).float("expected_elo", d.ExpectedElo)
	w.field(`,"expected_bkt":`).float("expected_bkt", d.ExpectedBKT)
	w.field(`,"item_attempts":`).int(int64(d.ItemAttempts))
	w.field(`,"input_partition":`).int(int64(d.InputPartition))
	w.field(`,"input_offset":`).int(d.InputOffset)
	return append(w.b, '}'), w.err
}

// jsonWriter appends JSON values, keeping the first error.
type jsonWriter struct {
	b   []byte
	err error
}

func (w *jsonWriter) field(name string) *jsonWriter {
	w.b = append(w.b, name...)
	return w
}

func (w *jsonWriter) str(s string) { w.b = jsonenc.AppendString(w.b, s) }

func (w *jsonWriter) bool(v bool) { w.b = strconv.AppendBool(w.b, v) }

func (w *jsonWriter) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jsonWriter) float(name string, f float64) {
	var ok bool
	if w.b, ok = jsonenc.AppendFloat(w.b, f); !ok && w.err == nil {
		w.err = fmt.Errorf("%s: %v is not a JSON number", name, f)
	}
}

// time appends t as time.Time's MarshalJSON does.
func (w *jsonWriter) time(name string, t time.Time) {
	b, err := t.AppendText(append(w.b, '"'))
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("%s: %w", name, err)
		}
		return
	}
	w.b = append(b, '"')
}

// decodeMasteryUpdated decodes data into d as json.Unmarshal does: data
// in the exact shape AppendJSON writes is read by scanMastery alone,
// anything else by json.Unmarshal. (Direct calls, not one generic
// function over both types: a scanner reached through a function value
// escapes to the heap with what it fills.)
func decodeMasteryUpdated(data []byte, d *MasteryUpdated) error {
	s := shapeScanner{b: data, ok: true}
	scanMastery(&s, d)
	if s.ok && len(s.b) == 0 {
		return nil
	}
	*d = MasteryUpdated{}
	return json.Unmarshal(data, d)
}

// decodeDifficultyAdjusted decodes data into d as json.Unmarshal does
// (see decodeMasteryUpdated).
func decodeDifficultyAdjusted(data []byte, d *DifficultyAdjusted) error {
	s := shapeScanner{b: data, ok: true}
	scanDifficulty(&s, d)
	if s.ok && len(s.b) == 0 {
		return nil
	}
	*d = DifficultyAdjusted{}
	return json.Unmarshal(data, d)
}

// scanMastery reads the shape MasteryUpdated.AppendJSON writes.
func scanMastery(s *shapeScanner, d *MasteryUpdated) {
	s.lit(`{"learner":`)
	d.Learner = s.str()
	s.lit(`,"skill":`)
	d.Skill = s.str()
	s.lit(`,"p_mastery":`)
	d.PMastery = s.float()
	s.lit(`,"p_previous":`)
	d.PPrevious = s.float()
	s.lit(`,"item":`)
	d.Item = s.str()
	s.lit(`,"statement":`)
	d.Statement = s.str()
	s.lit(`,"correct":`)
	d.Correct = s.bool()
	s.lit(`,"at":`)
	d.At = s.time()
	s.lit(`,"score":`)
	d.Score = s.float()
	s.lit(`,"ability":`)
	d.Ability = s.float()
	s.lit(`,"global_ability":`)
	d.GlobalAbility = s.float()
	s.lit(`,"attempts":`)
	d.Attempts = s.int()
	s.lit(`,"recent_success":`)
	d.RecentSuccess = s.float()
	s.lit(`,"recent_attempts":`)
	d.RecentAttempts = s.float()
	s.lit(`,"input_partition":`)
	d.InputPartition = s.int()
	s.lit(`,"input_offset":`)
	d.InputOffset = int64(s.int())
	s.lit("}")
}

// scanDifficulty reads the shape DifficultyAdjusted.AppendJSON writes.
func scanDifficulty(s *shapeScanner, d *DifficultyAdjusted) {
	s.lit(`{"item":`)
	d.Item = s.str()
	s.lit(`,"skill":`)
	d.Skill = s.str()
	s.lit(`,"difficulty":`)
	d.Difficulty = s.float()
	s.lit(`,"previous_difficulty":`)
	d.PreviousDifficulty = s.float()
	s.lit(`,"learner":`)
	d.Learner = s.str()
	s.lit(`,"ability":`)
	d.Ability = s.float()
	s.lit(`,"expected":`)
	d.Expected = s.float()
	s.lit(`,"correct":`)
	d.Correct = s.bool()
	s.lit(`,"statement":`)
	d.Statement = s.str()
	s.lit(`,"at":`)
	d.At = s.time()
	s.lit(`,"skills":`)
	d.Skills = s.strs()
	s.lit(`,"score":`)
	d.Score = s.float()
	s.lit(`,"expected_elo":`)
	d.ExpectedElo = s.float()
	s.lit(`,"expected_bkt":`)
	d.ExpectedBKT = s.float()
	s.lit(`,"item_attempts":`)
	d.ItemAttempts = s.int()
	s.lit(`,"input_partition":`)
	d.InputPartition = s.int()
	s.lit(`,"input_offset":`)
	d.InputOffset = int64(s.int())
	s.lit("}")
}
