package streams

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The embedded broker and the roles of the same process talk over
// in-memory connections instead of loopback TCP. Every produce and every
// fetch crosses the connection twice, and through the kernel's TCP stack
// each crossing is a system call on both ends and a wake-up through the
// network poller: the system calls alone were 5.6% of the server's CPU
// under single POSTs and 2.9% under batches (docs/benchmarks.md,
// "Thirtieth pass"). The broker still listens on its TCP address for
// every other client (other processes, Kafka tools); only dials from this
// process to that address take the in-memory path, which speaks the same
// Kafka protocol, SASL included.

// memBuffer bounds what one direction of an in-memory connection holds
// unread, as a socket's buffer does: a writer waits once its reader is
// this far behind.
const memBuffer = 1 << 20

// local maps the address of an embedded broker of this process to its
// listener.
var local struct {
	sync.RWMutex
	m map[string]*memListener
}

// registerLocal makes dials to addr from this process reach ln in memory.
func registerLocal(addr string, ln *memListener) {
	local.Lock()
	defer local.Unlock()
	if local.m == nil {
		local.m = map[string]*memListener{}
	}
	local.m[addr] = ln
}

// unregisterLocal undoes registerLocal, if ln is still the one registered.
func unregisterLocal(addr string, ln *memListener) {
	local.Lock()
	defer local.Unlock()
	if local.m[addr] == ln {
		delete(local.m, addr)
	}
}

// isLocal reports whether any of brokers is an embedded broker of this
// process.
func isLocal(brokers []string) bool {
	local.RLock()
	defer local.RUnlock()
	for _, b := range brokers {
		if local.m[b] != nil {
			return true
		}
	}
	return false
}

// dialBroker dials a broker: in memory when it is an embedded broker of
// this process, else over the network.
func dialBroker(ctx context.Context, network, addr string) (net.Conn, error) {
	local.RLock()
	ln := local.m[addr]
	local.RUnlock()
	if ln != nil {
		return ln.dial(ctx)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// memListener accepts the connections of its network listener and the
// in-memory ones dialled to it.
type memListener struct {
	net.Listener
	conns     chan net.Conn
	accepted  chan acceptResult
	closed    chan struct{}
	closeOnce sync.Once
	dials     atomic.Int64 // in-memory connections made
}

type acceptResult struct {
	c   net.Conn
	err error
}

// newMemListener wraps ln. A goroutine accepts from ln until it fails,
// which closing the listener makes it do.
func newMemListener(ln net.Listener) *memListener {
	l := &memListener{Listener: ln, conns: make(chan net.Conn), accepted: make(chan acceptResult),
		closed: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			select {
			case l.accepted <- acceptResult{c, err}:
			case <-l.closed:
				if c != nil {
					c.Close()
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return l
}

// Accept returns the next connection, from the network or from memory.
func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case r := <-l.accepted:
		return r.c, r.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close closes the network listener and refuses further in-memory dials.
func (l *memListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// dial hands the listener one end of a new in-memory connection and
// returns the other.
func (l *memListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := memPipe()
	select {
	case l.conns <- server:
		l.dials.Add(1)
		return client, nil
	case <-l.closed:
		return nil, &net.OpError{Op: "dial", Net: "memory", Err: syscall.ECONNREFUSED}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// memPipe returns the two ends of an in-memory connection, each with a
// buffer of memBuffer bytes per direction.
func memPipe() (net.Conn, net.Conn) {
	a, b := newMemHalf(), newMemHalf()
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	return &memConn{in: a, out: b, addr: addr}, &memConn{in: b, out: a, addr: addr}
}

// memChunk is the unit the bytes in flight are held in. Chunks go back to
// a pool shared by every connection once read, so a connection holds
// memory only for what is unread, not for the largest backlog it ever had
// (up to memBuffer each way, on each of a server's connections).
const memChunk = 64 << 10

var memChunks = sync.Pool{New: func() any { return new([memChunk]byte) }}

// memHalf is one direction of an in-memory connection.
type memHalf struct {
	mu     sync.Mutex
	chunks []*[memChunk]byte // unread: chunks[0][off:] up to the last one's [:end]
	off    int
	end    int
	eof    bool // the writing end closed: reads drain, then io.EOF
	gone   bool // the reading end closed: writes fail
	// The reading end's deadline, and the writing end's.
	readDL, writeDL time.Time
	// changed is closed, and replaced, when anything above changes and
	// someone waits on it.
	changed chan struct{}
	waited  bool
}

func newMemHalf() *memHalf { return &memHalf{changed: make(chan struct{})} }

// signal wakes the waiters. Called with mu held.
func (h *memHalf) signal() {
	if h.waited {
		close(h.changed)
		h.changed, h.waited = make(chan struct{}), false
	}
}

// wait releases mu until something changes or the deadline passes, and
// takes it again. Called with mu held.
func (h *memHalf) wait(deadline time.Time) {
	ch := h.changed
	h.waited = true
	h.mu.Unlock()
	defer h.mu.Lock()
	if deadline.IsZero() {
		<-ch
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// unread is the number of bytes written and not yet read. Called with mu
// held.
func (h *memHalf) unread() int {
	if len(h.chunks) == 0 {
		return 0
	}
	return (len(h.chunks)-1)*memChunk - h.off + h.end
}

// release returns every chunk to the pool. Called with mu held.
func (h *memHalf) release() {
	for _, c := range h.chunks {
		memChunks.Put(c)
	}
	h.chunks, h.off, h.end = nil, 0, 0
}

func (h *memHalf) read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		switch {
		case h.gone:
			return 0, net.ErrClosed
		case len(p) == 0:
			return 0, nil
		case len(h.chunks) > 0:
			n := 0
			for n < len(p) && len(h.chunks) > 0 {
				last := memChunk
				if len(h.chunks) == 1 {
					last = h.end
				}
				k := copy(p[n:], h.chunks[0][h.off:last])
				n, h.off = n+k, h.off+k
				if h.off == last {
					memChunks.Put(h.chunks[0])
					h.chunks[0] = nil
					h.chunks, h.off = h.chunks[1:], 0
				}
			}
			h.signal()
			return n, nil
		case h.eof:
			return 0, io.EOF
		case !h.readDL.IsZero() && !time.Now().Before(h.readDL):
			return 0, os.ErrDeadlineExceeded
		}
		h.wait(h.readDL)
	}
}

func (h *memHalf) write(b []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for {
		switch {
		case h.eof:
			return n, net.ErrClosed
		case h.gone:
			// As TCP says it, so that clients retry as they would.
			return n, syscall.EPIPE
		case n == len(b):
			return n, nil
		case !h.writeDL.IsZero() && !time.Now().Before(h.writeDL):
			return n, os.ErrDeadlineExceeded
		}
		if room := memBuffer - h.unread(); room > 0 {
			for k := min(room, len(b)-n); k > 0; {
				if len(h.chunks) == 0 || h.end == memChunk {
					h.chunks, h.end = append(h.chunks, memChunks.Get().(*[memChunk]byte)), 0
				}
				c := copy(h.chunks[len(h.chunks)-1][h.end:], b[n:n+k])
				h.end, n, k = h.end+c, n+c, k-c
			}
			h.signal()
			continue
		}
		h.wait(h.writeDL)
	}
}

// memConn is one end of an in-memory connection.
type memConn struct {
	in, out *memHalf
	addr    net.Addr
	once    sync.Once
}

func (c *memConn) Read(p []byte) (int, error) {
	n, err := c.in.read(p)
	return wrapMemErr("read", n, err)
}

func (c *memConn) Write(b []byte) (int, error) {
	n, err := c.out.write(b)
	return wrapMemErr("write", n, err)
}

// wrapMemErr reports failures as *net.OpError, as a TCP connection does
// (callers test for net.Error timeouts); io.EOF stays as it is.
func wrapMemErr(op string, n int, err error) (int, error) {
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	return n, &net.OpError{Op: op, Net: "memory", Err: err}
}

// Close ends both directions: the peer reads what was written, then
// io.EOF, and its writes fail.
func (c *memConn) Close() error {
	c.once.Do(func() {
		c.out.mu.Lock()
		c.out.eof = true
		c.out.signal()
		c.out.mu.Unlock()
		c.in.mu.Lock()
		c.in.gone = true
		c.in.release()
		c.in.signal()
		c.in.mu.Unlock()
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.addr }
func (c *memConn) RemoteAddr() net.Addr { return c.addr }

func (c *memConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.in.setDeadline(&c.in.readDL, t)
	return nil
}

func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.out.setDeadline(&c.out.writeDL, t)
	return nil
}

// setDeadline sets one of h's deadlines and wakes its waiters, which
// wait again until the new one.
func (h *memHalf) setDeadline(dl *time.Time, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*dl = t
	h.signal()
}
