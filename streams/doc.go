// Package streams is learnstream's Kafka layer: an embedded Kafka-protocol
// broker for single-machine use, topic administration, and a kafka-go
// transport behind watermill's message.Publisher and message.Subscriber.
//
// The same kafka-go code path talks to the embedded broker and to Apache
// Kafka, so what is tested against one holds for the other.
package streams
