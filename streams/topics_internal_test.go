package streams

import (
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestUnreadyTopic(t *testing.T) {
	leader := kafka.Broker{Host: "127.0.0.1", Port: 9092, ID: 1}
	ready := kafka.Topic{Name: "a", Partitions: []kafka.Partition{{ID: 0, Leader: leader}, {ID: 1, Leader: leader}}}
	for _, tc := range []struct {
		name  string
		md    []kafka.Topic
		names []string
		want  string
	}{
		{"all served", []kafka.Topic{ready}, []string{"a"}, ""},
		{"topic not known yet", []kafka.Topic{ready}, []string{"a", "b"}, "b"},
		{"topic error", []kafka.Topic{{Name: "a", Error: kafka.UnknownTopicOrPartition}}, []string{"a"}, "a"},
		{"no partitions yet", []kafka.Topic{{Name: "a"}}, []string{"a"}, "a"},
		{"partition without leader", []kafka.Topic{{Name: "a", Partitions: []kafka.Partition{{ID: 0, Leader: leader}, {ID: 1}}}}, []string{"a"}, "a/1"},
		{"partition error", []kafka.Topic{{Name: "a", Partitions: []kafka.Partition{{ID: 0, Leader: leader, Error: errors.New("leader not available")}}}}, []string{"a"}, "a/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unreadyTopic(tc.md, tc.names); got != tc.want {
				t.Errorf("unreadyTopic = %q, want %q", got, tc.want)
			}
		})
	}
}
