package streams

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// statementText is n bytes of statement-like text: compressible, not constant.
func statementText(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"actor":{"mbox":"mailto:learner%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/activities/%d"},"result":{"score":{"scaled":%.3f}}}`,
			r.IntN(1000), r.IntN(200), r.Float64())
	}
	return b.Bytes()[:n]
}

func TestLZ4Codec(t *testing.T) {
	codec := compress.Lz4.Codec()
	if codec.Code() != 3 || codec.Name() != "lz4" {
		t.Fatalf("codec for LZ4 = %d %q", codec.Code(), codec.Name())
	}
	for _, n := range []int{0, 1, 1000, 64 << 10, 300 << 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			in := statementText(n)
			var frame bytes.Buffer
			w := codec.NewWriter(&frame)
			if _, err := w.Write(in); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			// The frame's descriptor: magic (4 bytes), FLG, then BD, whose
			// bits 4 to 6 give the block size: 4 is 64 KB, 7 is 4 MB.
			b := frame.Bytes()
			if len(b) < 6 || !bytes.Equal(b[:4], []byte{0x04, 0x22, 0x4d, 0x18}) {
				t.Fatalf("not an LZ4 frame: % x", b[:min(len(b), 8)])
			}
			if got := b[5] >> 4 & 7; got != 4 {
				t.Errorf("block size index %d, want 4 (64 KB)", got)
			}
			if n > 1000 && frame.Len() > n/2 {
				t.Errorf("%d bytes compressed to %d", n, frame.Len())
			}
			r := codec.NewReader(&frame)
			out, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			if !bytes.Equal(out, in) {
				t.Fatalf("round trip of %d bytes gave %d different bytes", len(in), len(out))
			}
		})
	}
}

// Frames of other block sizes (kafka-go's own writer, other clients)
// still decode.
func TestLZ4CodecReadsLargeBlocks(t *testing.T) {
	in := statementText(5 << 20)
	var frame bytes.Buffer
	w := lz4.NewWriter(&frame)
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block4Mb)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := compress.Lz4.Codec().NewReader(&frame)
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatal("a frame of 4 MB blocks did not decode to its input")
	}
}
