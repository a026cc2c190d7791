package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/learnstream/learnstream/projections"
)

func TestLossesBeyondEnd(t *testing.T) {
	ends := func(topic string) (map[int]int64, bool, error) {
		switch topic {
		case "ls.a":
			return map[int]int64{2: 5, 10: 5, 11: 9}, true, nil
		case "ls.b":
			return map[int]int64{0: 3}, true, nil
		case "ls.broken":
			return nil, false, errors.New("unreachable")
		}
		return nil, false, nil
	}
	for _, tc := range []struct {
		name string
		offs []projections.StoredOffset
		want []string // topic/partition/projection, in order
		err  bool
	}{
		{name: "within the log", offs: []projections.StoredOffset{
			{Projection: "p", Topic: "ls.a", Partition: 2, Next: 5},
			{Projection: "p", Topic: "ls.a", Partition: 11, Next: 1},
		}},
		{name: "ordered by topic, then partition as a number, then projection", offs: []projections.StoredOffset{
			{Projection: "q", Topic: "ls.b", Partition: 0, Next: 4},
			{Projection: "p", Topic: "ls.a", Partition: 10, Next: 6},
			{Projection: "z", Topic: "ls.a", Partition: 2, Next: 6},
			{Projection: "a", Topic: "ls.a", Partition: 2, Next: 7},
		}, want: []string{"ls.a/2/a", "ls.a/2/z", "ls.a/10/p", "ls.b/0/q"}},
		{name: "a topic the ends do not know is skipped", offs: []projections.StoredOffset{
			{Projection: "p", Topic: "ls.unknown", Partition: 0, Next: 100},
		}},
		{name: "an error reading the ends is returned", offs: []projections.StoredOffset{
			{Projection: "p", Topic: "ls.broken", Partition: 0, Next: 1},
		}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lossesBeyondEnd(tc.offs, ends)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			var names []string
			for _, l := range got {
				names = append(names, fmt.Sprintf("%s/%d/%s", l.Topic, l.Partition, l.Projection))
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.want) {
				t.Errorf("losses %v, want %v", names, tc.want)
			}
		})
	}
}
