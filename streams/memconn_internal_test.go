package streams

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestMemPipe(t *testing.T) {
	timeout := func(t *testing.T, err error) {
		t.Helper()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("got %v, want a net.Error that is a timeout", err)
		}
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, a, b net.Conn)
	}{
		{"more than the buffer arrives whole and in order", func(t *testing.T, a, b net.Conn) {
			want := make([]byte, 3*memBuffer+123)
			for i := range want {
				want[i] = byte(rand.IntN(256))
			}
			done := make(chan error, 1)
			go func() {
				_, err := a.Write(want)
				done <- err
			}()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(b, got); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("bytes read differ from bytes written")
			}
		}},
		{"writes and reads of any sizes across chunks keep the bytes in order", func(t *testing.T, a, b net.Conn) {
			var want []byte
			done := make(chan error, 1)
			chunks := make([][]byte, 200)
			for i := range chunks {
				chunks[i] = make([]byte, rand.IntN(3*memChunk))
				for j := range chunks[i] {
					chunks[i][j] = byte(rand.IntN(256))
				}
				want = append(want, chunks[i]...)
			}
			go func() {
				for _, c := range chunks {
					if _, err := a.Write(c); err != nil {
						done <- err
						return
					}
				}
				done <- a.Close()
			}()
			var got []byte
			for {
				p := make([]byte, 1+rand.IntN(2*memChunk))
				n, err := b.Read(p)
				got = append(got, p[:n]...)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, wrote %d; equal %v", len(got), len(want), bytes.Equal(got, want))
			}
		}},
		{"both directions at once", func(t *testing.T, a, b net.Conn) {
			msg := bytes.Repeat([]byte("kafka"), memBuffer) // five buffers' worth each way
			errs := make(chan error, 2)
			for _, c := range []net.Conn{a, b} {
				go func() {
					_, err := c.Write(msg)
					errs <- err
				}()
			}
			for _, c := range []net.Conn{a, b} {
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("read %v, equal %v", err, bytes.Equal(got, msg))
				}
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"a read past its deadline times out", func(t *testing.T, a, b net.Conn) {
			b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err := b.Read(make([]byte, 1))
			timeout(t, err)
			// A later deadline lets the read go on.
			b.SetReadDeadline(time.Time{})
			a.Write([]byte("x"))
			if n, err := b.Read(make([]byte, 1)); n != 1 || err != nil {
				t.Fatalf("read %d, %v after clearing the deadline", n, err)
			}
		}},
		{"a deadline set while a read waits wakes it", func(t *testing.T, a, b net.Conn) {
			errs := waitingRead(b)
			b.SetReadDeadline(time.Now())
			select {
			case err := <-errs:
				timeout(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("the waiting read did not wake")
			}
		}},
		{"a write to a full buffer times out having written what fitted", func(t *testing.T, a, b net.Conn) {
			a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
			n, err := a.Write(make([]byte, memBuffer+10))
			timeout(t, err)
			if n != memBuffer {
				t.Fatalf("wrote %d, want %d", n, memBuffer)
			}
		}},
		{"the peer reads what was written before a close, then EOF", func(t *testing.T, a, b net.Conn) {
			a.Write([]byte("last words"))
			a.Close()
			got, err := io.ReadAll(b)
			if err != nil || string(got) != "last words" {
				t.Fatalf("read %q, %v", got, err)
			}
			if _, err := a.Write([]byte("more")); err == nil {
				t.Fatal("a write on a closed connection succeeded")
			}
		}},
		{"writes to a closed peer fail, and so do reads of a closed end", func(t *testing.T, a, b net.Conn) {
			b.Close()
			if _, err := a.Write([]byte("anyone?")); err == nil {
				t.Fatal("a write to a closed peer succeeded")
			}
			if _, err := b.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("read of a closed end: %v, want an error other than EOF", err)
			}
		}},
		{"a close wakes a waiting read", func(t *testing.T, a, b net.Conn) {
			errs := waitingRead(b)
			a.Close()
			select {
			case err := <-errs:
				if !errors.Is(err, io.EOF) {
					t.Fatalf("got %v, want io.EOF", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the waiting read did not wake")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := memPipe()
			defer a.Close()
			defer b.Close()
			tc.run(t, a, b)
		})
	}
}

// waitingRead starts a read of c that waits for data, and returns where
// its error arrives.
func waitingRead(c net.Conn) <-chan error {
	errs := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errs <- err
	}()
	time.Sleep(10 * time.Millisecond)
	return errs
}

// TestEmbeddedBrokerInMemory: clients of this process reach the embedded
// broker in memory, whether security is registered for it or not; other
// processes still reach it over TCP; and once it is closed nothing
// dials it in memory.
func TestEmbeddedBrokerInMemory(t *testing.T) {
	b, err := StartEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "ls.memconn"
	if err := EnsureTopics(ctx, []string{addr}, []TopicSpec{{Name: topic, Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Transport: Transport([]string{addr}), RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("in memory")}); err != nil {
		t.Fatal(err)
	}
	if n := b.ln.dials.Load(); n == 0 {
		t.Fatal("the writer did not dial the broker in memory")
	}
	// Another process's client: a plain TCP dial, no in-memory path.
	tcp := &kafka.Dialer{Timeout: 10 * time.Second}
	c, err := tcp.DialLeader(ctx, "tcp", addr, topic, 0)
	if err != nil {
		t.Fatalf("TCP client: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	batch := c.ReadBatch(1, 1<<20)
	msg, err := batch.ReadMessage()
	batch.Close()
	c.Close()
	if err != nil || string(msg.Value) != "in memory" {
		t.Fatalf("TCP client read %q, %v", msg.Value, err)
	}
	b.Close()
	if isLocal([]string{addr}) {
		t.Fatal("a closed broker is still dialled in memory")
	}
}
