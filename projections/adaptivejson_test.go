package projections

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// adaptiveSamples are events as the adaptive consumer writes them, and
// odd ones: zero, escapes, invalid UTF-8, extreme numbers, zoned times,
// random text.
func adaptiveSamples() ([]MasteryUpdated, []DifficultyAdjusted) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC)
	ms := []MasteryUpdated{
		{},
		{Learner: "p000042", Skill: "sql", PMastery: 0.912345, PPrevious: 0.8, Item: "https://example.com/activities/7", Statement: "5f0c2a4e-1d3b-4c8e-9a7f-2b6d8e0c1a34",
			Correct: true, At: at, Score: 1, Ability: -0.25, GlobalAbility: 1e-7, Attempts: 12, RecentSuccess: 0.7, RecentAttempts: 4.5, InputPartition: 3, InputOffset: 1 << 40},
		{Learner: `a"b\c<d>&` + "\u2028\x01", Skill: "bad utf-8 \xff", At: at.In(time.FixedZone("", -9*3600-1800)), PMastery: 1e21, Attempts: math.MinInt, InputOffset: math.MaxInt64},
	}
	ds := []DifficultyAdjusted{
		{},
		{Item: "https://example.com/é/日本", Skill: "sql", Difficulty: -1.5, PreviousDifficulty: 0.25, Learner: "p1", Ability: 0.1, Expected: 0.6, Correct: true,
			Statement: "s", At: at, Skills: []string{"sql", "joins"}, Score: 0.5, ExpectedElo: 0.55, ExpectedBKT: 0.65, ItemAttempts: 99, InputPartition: 1, InputOffset: 7},
		{Item: "x<y", Skills: []string{}, At: at.In(time.FixedZone("", 3600))},
		{Item: "i", Skills: []string{"", `"`}, Difficulty: -math.MaxFloat64},
	}
	r := rand.New(rand.NewPCG(3, 4))
	num := func() float64 { return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(30)-15)) }
	when := func() time.Time {
		t := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
		if r.IntN(2) == 0 {
			t = t.In(time.FixedZone("", (r.IntN(49)-24)*1800))
		}
		return t
	}
	for range 200 {
		ms = append(ms, MasteryUpdated{Learner: randText(r), Skill: randText(r), PMastery: num(), PPrevious: num(), Item: randText(r), Statement: randText(r),
			Correct: r.IntN(2) == 0, At: when(), Score: num(), Ability: num(), GlobalAbility: num(), Attempts: r.IntN(1000) - 10,
			RecentSuccess: num(), RecentAttempts: num(), InputPartition: r.IntN(64), InputOffset: r.Int64()})
		d := DifficultyAdjusted{Item: randText(r), Skill: randText(r), Difficulty: num(), PreviousDifficulty: num(), Learner: randText(r), Ability: num(),
			Expected: num(), Correct: r.IntN(2) == 0, Statement: randText(r), At: when(), Score: num(), ExpectedElo: num(), ExpectedBKT: num(),
			ItemAttempts: r.IntN(1 << 20), InputPartition: r.IntN(64), InputOffset: r.Int64N(1 << 50), Skills: randTexts(r, 4)}
		ds = append(ds, d)
	}
	return ms, ds
}

// AppendJSON writes what json.Marshal writes, but for the HTML escaping
// it leaves out, so the two read back the same; the read model decodes it
// as json.Unmarshal does.
func TestAdaptiveAppendJSON(t *testing.T) {
	ms, ds := adaptiveSamples()
	for _, v := range ms {
		checkAppendJSON(t, &v, v.AppendJSON, decodeMasteryUpdated)
	}
	for _, v := range ds {
		checkAppendJSON(t, &v, v.AppendJSON, decodeDifficultyAdjusted)
	}
	// What json.Marshal refuses is refused, naming the field.
	for _, tc := range []struct {
		name   string
		encode func([]byte) ([]byte, error)
	}{
		{"p_mastery", (&MasteryUpdated{PMastery: math.NaN()}).AppendJSON},
		{"recent_attempts", (&MasteryUpdated{RecentAttempts: math.Inf(1)}).AppendJSON},
		{"at", (&MasteryUpdated{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).AppendJSON},
		{"expected_bkt", (&DifficultyAdjusted{ExpectedBKT: math.Inf(-1)}).AppendJSON},
		{"at", (&DifficultyAdjusted{At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}).AppendJSON},
	} {
		if _, err := tc.encode(nil); err == nil || !strings.HasPrefix(err.Error(), tc.name+":") {
			t.Errorf("%s: error %v, want one naming it", tc.name, err)
		}
	}
}

// checkAppendJSON checks an AppendJSON against json.Marshal (the same
// bytes unless json.Marshal escaped something, and the same value read
// back either way) and the matching decoder against json.Unmarshal.
func checkAppendJSON[T any](t *testing.T, v *T, appendJSON func([]byte) ([]byte, error), decode func([]byte, *T) error) {
	t.Helper()
	got, err := appendJSON([]byte("x"))
	if err != nil {
		t.Fatalf("%+v: %v", *v, err)
	}
	got = got[1:]
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.ContainsAny(string(want), `\`) && string(got) != string(want) {
		t.Fatalf("AppendJSON wrote\n%s\njson.Marshal\n%s", got, want)
	}
	var fromGot, fromWant T
	if err := json.Unmarshal(got, &fromGot); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if err := json.Unmarshal(want, &fromWant); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromGot, fromWant) {
		t.Fatalf("%s reads back as\n%#v\nwhat json.Marshal wrote as\n%#v", got, fromGot, fromWant)
	}
	checkShapedAsUnmarshal(t, got, decode)
}

// The decoders answer as json.Unmarshal does, for what the adaptive
// consumer writes and for anything else.
func TestDecodeAdaptiveAsUnmarshal(t *testing.T) {
	full := `{"learner":"p1","skill":"s","p_mastery":0.5,"p_previous":0.4,"item":"i","statement":"st","correct":true,"at":"2026-12-07T09:30:00.5+01:00",` +
		`"score":1,"ability":-0.25,"global_ability":0,"attempts":3,"recent_success":0.5,"recent_attempts":2,"input_partition":1,"input_offset":9}`
	inputs := []string{full,
		``, `null`, `{}`, `[]`, `{"learner":"a"}`, full + ` `, ` ` + full, full + `x`,
		strings.Replace(full, `"learner"`, `"Learner"`, 1),
		strings.Replace(full, `"p1"`, `"p\u0031"`, 1),
		strings.Replace(full, `"at":"2026-12-07T09:30:00.5+01:00"`, `"at":null`, 1),
		strings.Replace(full, `2026-12-07T09:30:00.5+01:00`, `2026-12-07 09:30:00`, 1),
		strings.Replace(full, `2026-12-07T09:30:00.5+01:00`, `2026-12-07T09:30:00.5+24:00`, 1),
		strings.Replace(full, `"attempts":3`, `"attempts":3.0`, 1),
		strings.Replace(full, `"attempts":3`, `"attempts":1e2`, 1),
		strings.Replace(full, `"attempts":3`, `"attempts":99999999999999999999`, 1),
		strings.Replace(full, `"input_offset":9`, `"input_offset":-0`, 1),
		strings.Replace(full, `"score":1`, `"score":01`, 1),
		strings.Replace(full, `"score":1`, `"score":1e400`, 1),
		strings.Replace(full, `"correct":true`, `"correct":1`, 1),
		strings.Replace(full, `"input_offset":9}`, `"input_offset":9,"extra":1}`, 1),
	}
	for _, in := range inputs {
		checkShapedAsUnmarshal(t, []byte(in), decodeMasteryUpdated)
	}
	for i := range len(full) {
		checkShapedAsUnmarshal(t, []byte(full[:i]), decodeMasteryUpdated)
	}
	d := `{"item":"i","skill":"","difficulty":0.1,"previous_difficulty":0,"learner":"p","ability":0,"expected":0.5,"correct":false,"statement":"s",` +
		`"at":"2026-12-07T09:30:00Z","skills":["a","b"],"score":0,"expected_elo":0.5,"expected_bkt":0.5,"item_attempts":1,"input_partition":0,"input_offset":0}`
	for _, in := range []string{d, strings.Replace(d, `["a","b"]`, `null`, 1), strings.Replace(d, `["a","b"]`, `[]`, 1),
		strings.Replace(d, `["a","b"]`, `["a",]`, 1), strings.Replace(d, `["a","b"]`, `["a" "b"]`, 1), strings.Replace(d, `["a","b"]`, `[1]`, 1)} {
		checkShapedAsUnmarshal(t, []byte(in), decodeDifficultyAdjusted)
	}
	for i := range len(d) {
		checkShapedAsUnmarshal(t, []byte(d[:i]), decodeDifficultyAdjusted)
	}
}

// checkShapedAsUnmarshal checks that decode answers as json.Unmarshal
// does: the same error or none, and the same value.
func checkShapedAsUnmarshal[T any](t *testing.T, in []byte, decode func([]byte, *T) error) {
	t.Helper()
	var want, got T
	wantErr := json.Unmarshal(in, &want)
	gotErr := decode(in, &got)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, json.Unmarshal's %v", in, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", in, got, want)
	}
}

func FuzzDecodeMasteryUpdated(f *testing.F) {
	ms, _ := adaptiveSamples()
	for _, v := range ms[:3] {
		b, _ := v.AppendJSON(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkShapedAsUnmarshal(t, in, decodeMasteryUpdated) })
}
