package streams

import (
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// kafka-go's LZ4 codec writes frames of 4 MB blocks, lz4's default: each
// writer takes 4 MB buffers for its block, and every reader of such a
// frame one more for the block it decodes, from pools the garbage
// collector empties. Under load the server allocated and zeroed about
// 15 MB a second of them, 3% of the bytes it allocated, for produce
// requests of a few hundred KB. Frames of 64 KB blocks (the smallest the
// frame format has) take 64 KB buffers on both sides. LZ4's matches
// reach back 64 KB at most, so the blocks compress about as well apart
// (docs/benchmarks.md, "Twenty-ninth pass").
//
// kafka-go finds a batch's codec in its global table by the batch's
// compression code, so installing the codec there covers every writer
// and reader of the process; readers take frames of any block size.
func init() { compress.Codecs[compress.Lz4] = lz4Codec{} }

// lz4BlockSize is the block size of the frames lz4Codec writes.
const lz4BlockSize = lz4.Block64Kb

// lz4Writers pools writers between produce requests: a writer keeps its
// options across Reset.
var lz4Writers = sync.Pool{New: func() any {
	w := lz4.NewWriter(nil)
	// Only a block size lz4 does not know fails, and this one is its.
	if err := w.Apply(lz4.BlockSizeOption(lz4BlockSize)); err != nil {
		panic(err)
	}
	return w
}}

// lz4Codec is kafka-go's LZ4 codec (code 3) writing 64 KB blocks.
type lz4Codec struct{}

func (lz4Codec) Code() int8   { return int8(compress.Lz4) }
func (lz4Codec) Name() string { return "lz4" }

// NewReader decodes with kafka-go's own LZ4 reader, which sizes its
// buffers from each frame's descriptor.
func (lz4Codec) NewReader(r io.Reader) io.ReadCloser { return compress.Lz4Codec.NewReader(r) }

func (lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z := lz4Writers.Get().(*lz4.Writer)
	z.Reset(w)
	return &lz4Writer{Writer: z}
}

type lz4Writer struct{ *lz4.Writer }

// Close ends the frame and returns the writer to the pool; a second Close
// does nothing.
func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	lz4Writers.Put(z)
	return err
}
