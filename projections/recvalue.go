package projections

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// How a learner's recommendations are stored. The read model rewrites a
// learner's list on every RecommendationsUpdated, the largest write of
// the derived topics' read models: as JSON a list of ten items is about
// 1.3 KB, most of it member names and item IRIs that share a prefix. The
// stored value is packed instead (packRecommendations): the event id
// first, so that a write reads only it to tell a re-published event; the
// item IRIs front-coded; each distinct reason once, referred to by index;
// the ranks left out when they are 1..n. Everything is kept exactly
// (scores as float64, the time to the nanosecond with its zone offset,
// null apart from empty). The API still shows LearnerRecommendations'
// JSON, and values written before (JSON) are read as they are.

// recFormat is the first byte of a packed list. JSON values start with
// '{', so the two cannot be confused.
const recFormat = 1

// Flags of a packed list.
const (
	recColdStart = 1 << iota // RecommendationsUpdated.ColdStart
	recRanked                // each item's rank follows its score (varint); without it, ranks are 1..n
	recZone                  // a zone offset in seconds follows the time (varint); without it, UTC
	recTimeText              // the time as RFC 3339 text (str): outside Unix nanoseconds' range, or zero
	recItemsNull             // items was null (not an empty list)
)

var errRecValue = errors.New("damaged packed recommendations")

// encodeValue is the stored form of the staged list (valueEncoder).
func (s *learnerRecState) encodeValue() ([]byte, error) {
	b := packRecommendations(s.pending)
	s.pending = nil
	return b, nil
}

// packRecommendations is lr's stored form: the format byte, the event
// id, the flags, the time, learner, model version, based-on and role,
// the distinct reasons, then per item its IRI (the length it shares with
// the previous item's, then the rest), its score's float64 bits, its
// rank when the flags say so, and its reasons' indexes (their count is
// uvarint n+1, 0 for null). Strings are a uvarint length and the bytes.
func packRecommendations(lr *LearnerRecommendations) []byte {
	b := make([]byte, 0, 128+len(lr.Items)*24)
	b = append(b, recFormat)
	b = appendStr(b, lr.EventID)
	var flags byte
	if lr.ColdStart {
		flags |= recColdStart
	}
	if lr.Items == nil {
		flags |= recItemsNull
	}
	for i, it := range lr.Items {
		if it.Rank != i+1 {
			flags |= recRanked
			break
		}
	}
	nanos, ok := unixNanos(lr.Time)
	_, off := lr.Time.Zone()
	switch {
	case !ok:
		flags |= recTimeText
	case off != 0:
		flags |= recZone
	}
	b = append(b, flags)
	switch {
	case !ok:
		text, _ := lr.Time.MarshalText() // years 0-9999: events' times are RFC 3339
		b = appendStr(b, text)
	default:
		b = binary.AppendVarint(b, nanos)
		if off != 0 {
			b = binary.AppendVarint(b, int64(off))
		}
	}
	for _, s := range []string{lr.Learner, lr.ModelVersion, lr.BasedOn, lr.Role} {
		b = appendStr(b, s)
	}
	// A list has a few distinct reasons: a slice searched is cheaper
	// than a map.
	var reasons []string
	for _, it := range lr.Items {
		for _, r := range it.Reasons {
			if !slices.Contains(reasons, r) {
				reasons = append(reasons, r)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(reasons)))
	for _, r := range reasons {
		b = appendStr(b, r)
	}
	b = binary.AppendUvarint(b, uint64(len(lr.Items)))
	prev := ""
	for _, it := range lr.Items {
		shared := sharedPrefix(prev, it.Item)
		b = binary.AppendUvarint(b, uint64(shared))
		b = appendStr(b, it.Item[shared:])
		prev = it.Item
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(it.Score))
		if flags&recRanked != 0 {
			b = binary.AppendVarint(b, int64(it.Rank))
		}
		if it.Reasons == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(it.Reasons))+1)
		for _, r := range it.Reasons {
			b = binary.AppendUvarint(b, uint64(slices.Index(reasons, r)))
		}
	}
	return b
}

// decodeValue reads a stored list, packed or JSON (valueDecoder).
func (lr *LearnerRecommendations) decodeValue(v []byte) error {
	if len(v) == 0 || v[0] != recFormat {
		return json.Unmarshal(v, lr)
	}
	return unpackRecommendations(v, lr)
}

// recEventID returns the event id of a stored list, reading a packed one
// no further.
func recEventID(v []byte) (string, error) {
	if len(v) == 0 || v[0] != recFormat {
		var old struct {
			EventID string `json:"event_id"`
		}
		err := json.Unmarshal(v, &old)
		return old.EventID, err
	}
	r := packedReader{b: v[1:], damaged: errRecValue}
	id := r.str("event_id")
	return id, r.err
}

// unpackRecommendations reverses packRecommendations.
func unpackRecommendations(v []byte, lr *LearnerRecommendations) error {
	r := packedReader{b: v[1:], damaged: errRecValue}
	*lr = LearnerRecommendations{EventID: r.str("event_id")}
	flags := r.flags("flags", recColdStart|recRanked|recZone|recTimeText|recItemsNull)
	if r.err != nil {
		return r.err
	}
	lr.ColdStart = flags&recColdStart != 0
	if flags&recTimeText != 0 {
		if text := r.str("time"); r.err == nil {
			if err := lr.Time.UnmarshalText([]byte(text)); err != nil {
				return fmt.Errorf("%w: time: %v", errRecValue, err)
			}
		}
	} else {
		nanos := r.varint("time")
		lr.Time = time.Unix(0, nanos).UTC()
		if flags&recZone != 0 {
			off := r.varint("time zone")
			if r.err == nil && (off < -24*3600 || off > 24*3600) {
				return fmt.Errorf("%w: time zone: offset %d s", errRecValue, off)
			}
			lr.Time = lr.Time.In(time.FixedZone("", int(off)))
		}
	}
	lr.Learner = r.str("learner")
	lr.ModelVersion = r.str("model_version")
	lr.BasedOn = r.str("based_on")
	lr.Role = r.str("role")
	reasons := make([]string, r.count("reasons", 1))
	for i := range reasons {
		reasons[i] = r.str("reasons")
	}
	n := r.count("items", 11)
	if r.err != nil {
		return r.err
	}
	if flags&recItemsNull == 0 {
		lr.Items = make([]Recommendation, 0, n)
	}
	prev := ""
	for i := range n {
		it := Recommendation{Rank: i + 1}
		shared := r.uvarint("items")
		rest := r.str("items")
		if r.err != nil {
			return fmt.Errorf("item %d: %w", i, r.err)
		}
		if shared > uint64(len(prev)) {
			return fmt.Errorf("%w: item %d: shares %d bytes of a %d-byte IRI", errRecValue, i, shared, len(prev))
		}
		it.Item = prev[:shared] + rest
		prev = it.Item
		it.Score = math.Float64frombits(r.uint64("score"))
		if flags&recRanked != 0 {
			it.Rank = int(r.varint("rank"))
		}
		if m := r.uvarint("reasons"); m > 0 {
			if m-1 > uint64(len(r.b)) {
				return fmt.Errorf("%w: item %d: %d reasons in %d bytes", errRecValue, i, m-1, len(r.b))
			}
			it.Reasons = make([]string, m-1)
			for j := range it.Reasons {
				k := r.uvarint("reasons")
				if r.err == nil && k >= uint64(len(reasons)) {
					return fmt.Errorf("%w: item %d: reason %d of %d", errRecValue, i, k, len(reasons))
				}
				if r.err == nil {
					it.Reasons[j] = reasons[k]
				}
			}
		}
		if r.err != nil {
			return fmt.Errorf("item %d: %w", i, r.err)
		}
		lr.Items = append(lr.Items, it)
	}
	return r.done()
}

// sharedPrefix is the length of the longest common prefix of a and b.
func sharedPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
