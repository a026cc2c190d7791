package projections

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// decodeRecommendationsUpdated must answer as json.Unmarshal does, for
// what the recommender writes and for anything else.
func TestDecodeRecommendationsUpdatedAsUnmarshal(t *testing.T) {
	var inputs []string
	for _, v := range recommendationsSamples() {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(b))
	}
	// Not the shape json.Marshal writes: valid or not, Unmarshal decides.
	inputs = append(inputs,
		``, `null`, `{}`, `[]`, `{"learner":"a"}`,
		`{"learner":"a","items":[],"model_version":"m","based_on":"b","cold_start":false} `,
		` {"learner":"a","items":[],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[],"model_version":"m","based_on":"b","cold_start":false}x`,
		`{"items":[],"learner":"a","model_version":"m","based_on":"b","cold_start":false}`,
		`{"Learner":"a","items":[],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[],"model_version":"m","based_on":"b","cold_start":false,"extra":1}`,
		`{"learner":"a\u0041","items":[],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":01,"rank":1,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":1.,"rank":1,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":1e400,"rank":1,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":-0,"rank":-0,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":1,"rank":1.5,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":1,"rank":1e2,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":1,"rank":99999999999999999999,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":"1","rank":1,"reasons":null}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":1,"rank":1,"reasons":["x",]}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[,],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":[{"item":"i","score":1,"rank":1,"reasons":[]}{"item":"j","score":1,"rank":2,"reasons":[]}],"model_version":"m","based_on":"b","cold_start":false}`,
		`{"learner":"a","items":null,"model_version":"m","based_on":"b","role":"","cold_start":true}`,
		`{"learner":"a","items":[],"model_version":"m","based_on":"b","cold_start":nope}`,
		`{"learner":"a","items":[],"model_version":"m","based_on":"b","cold_start":false`,
		"{\"learner\":\"a\tb\",\"items\":[],\"model_version\":\"m\",\"based_on\":\"b\",\"cold_start\":false}",
	)
	for _, in := range inputs {
		checkDecodeAsUnmarshal(t, []byte(in))
	}
	// Every truncation of a full list.
	full := inputs[2]
	for i := range len(full) {
		checkDecodeAsUnmarshal(t, []byte(full[:i]))
	}
}

// recommendationsSamples are lists as the recommender writes them, and
// odd ones: empty, escapes, invalid UTF-8, extreme numbers, random text.
func recommendationsSamples() []RecommendationsUpdated {
	canonical := []RecommendationsUpdated{
		{},
		{Learner: "mbox:mailto:a@example.com", Items: []Recommendation{}, ModelVersion: "als-k16/p0/12", BasedOn: "e1"},
		{Learner: "ada", Items: []Recommendation{
			{Item: "https://example.com/a", Score: 0.912345, Rank: 1, Reasons: []string{"collaborative", "ready_to_learn"}},
			{Item: "https://example.com/b", Score: -1e-7, Rank: 2, Reasons: nil},
			{Item: "https://example.com/é/日本", Score: 1e21, Rank: 3, Reasons: []string{}},
			{Item: "", Score: 0, Rank: -4, Reasons: []string{""}},
		}, ModelVersion: "m", BasedOn: "b", Role: "engineer", ColdStart: true},
		// Marshal escapes these: the scanner leaves them to Unmarshal.
		{Learner: `a"b\c<d>&` + "\u2028\x01", Items: []Recommendation{{Item: "x<y", Reasons: []string{`"`}}}},
		{Learner: "bad utf-8 \xff", Items: nil, Role: ""},
		{Learner: "big", Items: []Recommendation{{Item: "i", Score: math.MaxFloat64, Rank: math.MaxInt}}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		v := RecommendationsUpdated{Learner: randText(r), ModelVersion: randText(r), BasedOn: randText(r), ColdStart: r.IntN(2) == 0}
		if r.IntN(3) > 0 {
			v.Role = randText(r)
		}
		if r.IntN(5) > 0 {
			v.Items = []Recommendation{}
			for i := range r.IntN(12) {
				v.Items = append(v.Items, Recommendation{Item: randText(r), Score: (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(30)-15)),
					Rank: i + 1, Reasons: randTexts(r, 3)})
			}
		}
		canonical = append(canonical, v)
	}
	return canonical
}

// AppendJSON writes what json.Marshal writes, but for the HTML escaping
// it leaves out, so the two read back the same; the read model's scanner
// reads it as json.Unmarshal does.
func TestRecommendationsUpdatedAppendJSON(t *testing.T) {
	for _, v := range recommendationsSamples() {
		checkAppendJSON(t, &v, v.AppendJSON, decodeRecommendationsUpdated)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		v := RecommendationsUpdated{Items: []Recommendation{{Item: "a", Score: 1}, {Item: "b", Score: bad}}}
		if _, err := v.AppendJSON(nil); err == nil || !strings.Contains(err.Error(), "items[1].score") {
			t.Fatalf("score %v: error %v, want one naming items[1].score", bad, err)
		}
	}
}

func checkDecodeAsUnmarshal(t *testing.T, in []byte) {
	t.Helper()
	checkShapedAsUnmarshal(t, in, decodeRecommendationsUpdated)
}

// randText is a short string of ASCII, multi-byte runes and, now and
// then, characters json.Marshal escapes.
func randText(r *rand.Rand) string {
	const alphabet = "abcXYZ09:/._-é日"
	var b strings.Builder
	for range r.IntN(40) {
		if r.IntN(50) == 0 {
			b.WriteString([]string{`"`, `\`, "<", "\n", "\u2028"}[r.IntN(5)])
			continue
		}
		rs := []rune(alphabet)
		b.WriteRune(rs[r.IntN(len(rs))])
	}
	return b.String()
}

// randTexts is, a third of the time each, nil, empty, or 1 to max texts
// of randText.
func randTexts(r *rand.Rand, max int) []string {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, 1+r.IntN(max))
	for i := range out {
		out[i] = randText(r)
	}
	return out
}

func FuzzDecodeRecommendationsUpdated(f *testing.F) {
	f.Add([]byte(`{"learner":"a","items":[{"item":"i","score":0.5,"rank":1,"reasons":["x"]}],"model_version":"m","based_on":"b","role":"r","cold_start":true}`))
	f.Add([]byte(`{"learner":"a","items":null,"model_version":"m","based_on":"b","cold_start":false}`))
	f.Fuzz(func(t *testing.T, in []byte) { checkDecodeAsUnmarshal(t, in) })
}

// The decoded list is the decoder's own: the input's buffer may be
// reused once the event is applied, and a caller appending to one item's
// reasons must not change the next item's, which share a slice.
func TestDecodeRecommendationsUpdatedOwnsItsList(t *testing.T) {
	in, err := json.Marshal(listOfTen())
	if err != nil {
		t.Fatal(err)
	}
	var want, got RecommendationsUpdated
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatal(err)
	}
	if err := decodeRecommendationsUpdated(in, &got); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'x'
	}
	for i := range got.Items[:len(got.Items)-1] {
		_ = append(got.Items[i].Reasons, "appended")
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the input was overwritten and reasons appended to:\n got %#v\nwant %#v", got, want)
	}
}

// listOfTen is a list of ten as the recommender publishes it.
func listOfTen() RecommendationsUpdated {
	v := RecommendationsUpdated{Learner: "mbox:mailto:learner-0042@example.com", ModelVersion: "als-k16/p3/123456", BasedOn: "5f0c2a4e-1d3b-4c8e-9a7f-2b6d8e0c1a34"}
	for i := range 10 {
		v.Items = append(v.Items, Recommendation{Item: "https://example.com/activities/course-7/module-" + string(rune('a'+i)),
			Score: 0.871234 - float64(i)/37, Rank: i + 1, Reasons: []string{"collaborative", "difficulty_fit"}})
	}
	return v
}

// A list of ten encoded by json.Marshal and by AppendJSON.
func BenchmarkEncodeRecommendationsUpdated(b *testing.B) {
	v := listOfTen()
	for _, bc := range []struct {
		name   string
		encode func(*RecommendationsUpdated) ([]byte, error)
	}{
		{"json.Marshal", func(r *RecommendationsUpdated) ([]byte, error) { return json.Marshal(r) }},
		{"AppendJSON", func(r *RecommendationsUpdated) ([]byte, error) {
			return r.AppendJSON(make([]byte, 0, 256+160*len(r.Items)))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := bc.encode(&v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A list of ten decoded by json.Unmarshal and by
// decodeRecommendationsUpdated.
func BenchmarkDecodeRecommendationsUpdated(b *testing.B) {
	v := listOfTen()
	data, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte, *RecommendationsUpdated) error
	}{
		{"json.Unmarshal", func(b []byte, r *RecommendationsUpdated) error { return json.Unmarshal(b, r) }},
		{"scanner", decodeRecommendationsUpdated},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for range b.N {
				var r RecommendationsUpdated
				if err := bc.decode(data, &r); err != nil || len(r.Items) != 10 {
					b.Fatal(err)
				}
			}
		})
	}
}
